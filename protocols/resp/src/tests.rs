//! Engine tests on the simulated disk: expiry (the sweep, and collections recreated after
//! expiry) and a property test running every command with arbitrary arguments.
use super::*;

fn engine() -> Engine {
    engine_on(&orbit_env::SimFs::new(), 1 << 20)
}

/// An engine over the database at `/db` of `fs` (created if missing).
pub(crate) fn engine_on(fs: &orbit_env::SimFs, memtable_bytes: usize) -> Engine {
    let opts = orbit_lsm::DbOptions {
        memtable_bytes,
        cache_bytes: 1 << 20,
        wal: orbit_wal::WalOptions {
            segment_size: orbit_wal::MIN_SEGMENT_SIZE * 4,
            ..orbit_wal::WalOptions::default()
        },
        ..orbit_lsm::DbOptions::default()
    };
    let db = orbit_lsm::Db::open(fs.shared(), "/db", opts).unwrap();
    let txn = orbit_txn::TxnDb::new(Arc::new(db));
    Engine::new(Store::open(txn, None).unwrap(), Config::default())
}

pub(crate) fn run(e: &Engine, s: &mut Session, args: &[&str]) -> Reply {
    let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
    let (reply, pending) = e.execute(s, &args);
    for p in pending {
        p.wait().unwrap();
    }
    reply
}

/// The replies of a run `Engine::execute_run` ran here (none is ever handed on: one thread).
pub(crate) fn ran(r: Option<Ran>) -> Vec<(Reply, Vec<Pending>)> {
    match r {
        Some(Ran::Answers(a)) => a,
        Some(Ran::Handed(_)) => panic!("handed to another worker"),
        None => panic!("not a run"),
    }
}

use proptest::prelude::*;

fn word() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"k".to_vec()),
        Just(b"k2".to_vec()),
        Just(b"0".to_vec()),
        Just(b"-1".to_vec()),
        Just(b"1.5".to_vec()),
        Just(b"inf".to_vec()),
        Just(b"-inf".to_vec()),
        Just(b"(1".to_vec()),
        Just(b"[a".to_vec()),
        Just(b"+".to_vec()),
        Just(b"-".to_vec()),
        Just(b"99999999999999999999".to_vec()),
        Just(b"-9223372036854775808".to_vec()),
        Just(b"LIMIT".to_vec()),
        Just(b"WITHSCORES".to_vec()),
        Just(b"BYSCORE".to_vec()),
        Just(b"REV".to_vec()),
        Just(b"NX".to_vec()),
        Just(b"EX".to_vec()),
        Just(b"LEFT".to_vec()),
        Just(b"MATCH".to_vec()),
        Just(b"COUNT".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..6),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any command of the table with any arguments gets a reply, never a panic, and the
    /// engine keeps answering afterwards.
    #[test]
    fn every_command_survives_any_arguments(
        script in proptest::collection::vec(
            (0..commands::COMMANDS.len(), proptest::collection::vec(word(), 0..7)),
            1..12,
        )
    ) {
        let e = engine();
        let mut s = e.connect("fuzz".into()).unwrap();
        for (i, args) in script {
            let cmd = &commands::COMMANDS[i];
            if matches!(cmd.name, "debug" | "shutdown" | "blpop" | "brpop" | "blmove" | "bzpopmin" | "bzpopmax" | "subscribe" | "psubscribe") {
                continue; // they sleep, stop the server, or block the connection
            }
            let mut full = vec![cmd.name.as_bytes().to_vec()];
            full.extend(args);
            let (reply, pending) = e.execute(&mut s, &full);
            for p in pending {
                p.wait().unwrap();
            }
            let mut out = Vec::new();
            reply.encode(s.protocol, &mut out);
            prop_assert!(!out.is_empty() || matches!(reply, Reply::Many(_)));
        }
        s.multi = None;
        let (pong, _) = e.execute(&mut s, &[b"PING".to_vec()]);
        prop_assert_eq!(pong, Reply::Simple("PONG"));
    }
}

#[test]
fn a_collection_recreated_after_expiry_starts_empty_without_a_sweep() {
    let e = engine();
    let mut s = e.connect("test".into()).unwrap();
    for (kind, add, list) in [
        ("hash", ["HSET", "k", "old", "1"], vec!["HKEYS", "k"]),
        ("set", ["SADD", "k", "old", "x"], vec!["SMEMBERS", "k"]),
        (
            "zset",
            ["ZADD", "k", "1", "old"],
            vec!["ZRANGE", "k", "0", "-1"],
        ),
        (
            "list",
            ["RPUSH", "k", "old", "x"],
            vec!["LRANGE", "k", "0", "-1"],
        ),
    ] {
        run(&e, &mut s, &add);
        run(&e, &mut s, &["PEXPIRE", "k", "1"]);
        std::thread::sleep(std::time::Duration::from_millis(5));
        let fresh: Vec<&str> = match kind {
            "hash" => vec!["HSET", "k", "new", "1"],
            "set" => vec!["SADD", "k", "new"],
            "zset" => vec!["ZADD", "k", "2", "new"],
            _ => vec!["RPUSH", "k", "new"],
        };
        run(&e, &mut s, &fresh);
        match run(&e, &mut s, &list) {
            Reply::Array(items) | Reply::Set(items) => {
                assert_eq!(items, vec![Reply::bulk("new")], "{kind}")
            }
            other => panic!("{kind}: {other:?}"),
        }
        run(&e, &mut s, &["DEL", "k"]);
    }
}

#[test]
fn the_expiry_sweep_deletes_expired_keys_and_their_members() {
    let e = engine();
    let mut s = e.connect("test".into()).unwrap();
    run(&e, &mut s, &["HSET", "h", "f", "v"]);
    run(&e, &mut s, &["PEXPIRE", "h", "1"]);
    run(&e, &mut s, &["SET", "keep", "v"]);
    std::thread::sleep(std::time::Duration::from_millis(5));
    let mut deleted = 0;
    for _ in 0..store::DATABASES {
        deleted += e.expire_sweep(100).unwrap();
    }
    assert_eq!(deleted, 1);
    assert_eq!(e.store().meta_raw(0, b"h").unwrap(), None);
    assert_eq!(
        e.store().member(0, b"h", b"f").unwrap(),
        None,
        "members go too"
    );
    assert!(e.store().meta_raw(0, b"keep").unwrap().is_some());
}

/// A read overlapped by a snapshot install (a follower's: `TxnDb::read_intact`) answers an
/// error instead of what it read, in or out of MULTI; writes and other reads run.
#[test]
fn a_read_overlapped_by_a_snapshot_install_answers_an_error() {
    let db = orbit_lsm::Db::open(
        orbit_env::SimFs::new().shared(),
        "/db",
        orbit_lsm::DbOptions::default(),
    )
    .unwrap();
    let db = Arc::new(db);
    let log = orbit_txn::testing::ReplacingLog::new(Arc::clone(&db));
    let txn = orbit_txn::TxnDb::with_log(db, Arc::clone(&log) as Arc<dyn orbit_txn::CommitLog>);
    let e = Engine::new(Store::open(txn, None).unwrap(), Config::default());
    let mut s = e.connect("test".into()).unwrap();
    run(&e, &mut s, &["SET", "k", "v"]);

    let installing = |r: Reply| match r {
        Reply::Error(m) if m.contains("installing a snapshot") => {}
        other => panic!("not refused: {other:?}"),
    };
    // An install completes while each command runs.
    log.churn(true);
    installing(run(&e, &mut s, &["GET", "k"]));
    let gets: Vec<Vec<Vec<u8>>> = ["k", "k2", "k"]
        .iter()
        .map(|k| vec![b"GET".to_vec(), k.as_bytes().to_vec()])
        .collect();
    let answers = ran(e.execute_run(&mut s, &gets));
    assert_eq!(answers.len(), 3);
    answers.into_iter().for_each(|(r, _)| installing(r));
    assert_eq!(run(&e, &mut s, &["SET", "k2", "v2"]), Reply::Simple("OK"));
    assert_eq!(run(&e, &mut s, &["MULTI"]), Reply::Simple("OK"));
    assert_eq!(run(&e, &mut s, &["GET", "k"]), Reply::Simple("QUEUED"));
    installing(run(&e, &mut s, &["EXEC"]));
    // One under way when the read begins.
    log.churn(false);
    log.set(1);
    installing(run(&e, &mut s, &["MGET", "k", "k2"]));
    // Done: reads answer again.
    log.set(2);
    assert_eq!(run(&e, &mut s, &["GET", "k2"]), Reply::bulk("v2"));
}

/// What a connection reads of `keys` (type, value or error, TTL, and a collection's
/// contents), for comparing two engines.
fn state_of(e: &Engine, s: &mut Session, keys: &[&str]) -> Vec<Reply> {
    let mut out = Vec::new();
    for k in keys {
        for cmd in [
            &["TYPE", k][..],
            &["GET", k],
            &["TTL", k],
            &["HGETALL", k],
            &["LRANGE", k, "0", "-1"],
            &["SMEMBERS", k],
            &["ZRANGE", k, "0", "-1", "WITHSCORES"],
        ] {
            let mut reply = run(e, s, cmd);
            if let Reply::Array(items) | Reply::Set(items) = &mut reply {
                if cmd[0] != "LRANGE" && cmd[0] != "ZRANGE" {
                    items.sort_by_key(|r| format!("{r:?}"));
                }
            }
            out.push(reply);
        }
    }
    out
}

/// A run's commands: (command, key index, two small numbers for its arguments).
fn run_script() -> impl Strategy<Value = Vec<(usize, usize, u8, u8)>> {
    (0usize..10).prop_flat_map(|kind| {
        proptest::collection::vec((Just(kind), 0usize..6, 0u8..4, 0u8..4), 2..10)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// A run written as one batch (`Engine::execute_run`) answers and leaves what running its
    /// commands one by one does: SETs over strings, a key with a TTL, a hash, a list (their
    /// members cleared: the hash, deleted and recreated afterwards, has only its new field);
    /// INCR-family additions on repeated keys, non-integers, other types and overflow;
    /// pushes, pops, SADDs, HSETs and ZADDs to one key, existing, new or of another type,
    /// with repeated members and fields, and pops past a list's end; GETs of strings,
    /// missing keys and other types.
    #[test]
    fn a_run_answers_and_ends_as_its_commands_one_by_one(script in run_script()) {
        let keys = ["a", "h", "l", "s", "big", "fresh", "z"];
        let setup: [&[&str]; 7] = [
            &["ZADD", "z", "1", "m0", "2", "m1"],
            &["SET", "a", "old"],
            &["HSET", "h", "f", "v", "g", "w"],
            &["RPUSH", "l", "x", "y"],
            &["SADD", "s", "m0", "z"],
            &["SET", "big", "9223372036854775806", "EX", "100"],
            &["EXPIRE", "h", "100"],
        ];
        let cmd_of = |&(kind, k, x, y): &(usize, usize, u8, u8)| -> Vec<Vec<u8>> {
            let key = keys[k];
            let (x, y) = (x.to_string(), y.to_string());
            let words: Vec<String> = match kind {
                0 => vec!["SET".into(), key.into(), x],
                1 => match y.as_str() {
                    "0" => vec!["INCR".into(), key.into()],
                    "1" => vec!["DECR".into(), key.into()],
                    "2" => vec!["INCRBY".into(), key.into(), x],
                    _ => vec!["DECRBY".into(), key.into(), x],
                },
                // One key per run for the collection kinds: the first command's.
                2 => vec!["LPUSH".into(), "l".into(), x, y],
                3 => vec!["RPUSH".into(), keys[k % 3].into(), x],
                4 => vec!["SADD".into(), "s".into(), format!("m{x}"), format!("m{y}")],
                5 => vec!["HSET".into(), "h".into(), format!("f{x}"), y],
                6 => vec!["SADD".into(), "a".into(), x],
                7 => vec!["ZADD".into(), "z".into(), x, format!("m{y}")],
                8 => vec![if y.as_str() < "2" { "LPOP" } else { "RPOP" }.into(), keys[k % 3 + 1].into()],
                _ => vec!["GET".into(), key.into()],
            };
            words.into_iter().map(String::into_bytes).collect()
        };
        let mut cmds: Vec<Vec<Vec<u8>>> = script.iter().map(cmd_of).collect();
        // One command and one key for a run of pushes or pops: the first's.
        if script.first().is_some_and(|c| c.0 == 3 || c.0 == 8) {
            let (name, key) = (cmds[0][0].clone(), cmds[0][1].clone());
            for c in &mut cmds {
                c[0] = name.clone();
                c[1] = key.clone();
            }
        }
        let (batched, single) = (engine(), engine());
        let mut sb = batched.connect("b".into()).unwrap();
        let mut ss = single.connect("s".into()).unwrap();
        for cmd in setup {
            run(&batched, &mut sb, cmd);
            run(&single, &mut ss, cmd);
        }
        let answers = ran(batched.execute_run(&mut sb, &cmds));
        let mut got = Vec::new();
        for (reply, pending) in answers {
            got.push(reply);
            for p in pending {
                p.wait().unwrap();
            }
        }
        let mut want = Vec::new();
        for cmd in &cmds {
            let (reply, pending) = single.execute(&mut ss, cmd);
            want.push(reply);
            for p in pending {
                p.wait().unwrap();
            }
        }
        prop_assert_eq!(got, want);
        // A hash recreated where a SET replaced one must not find its old fields.
        for e in [(&batched, &mut sb), (&single, &mut ss)] {
            run(e.0, e.1, &["DEL", "h"]);
            run(e.0, e.1, &["HSET", "h", "n", "1"]);
        }
        prop_assert_eq!(state_of(&batched, &mut sb, &keys), state_of(&single, &mut ss, &keys));
    }
}

/// A run is not written as one where one by one could answer otherwise: inside MULTI (each
/// SET is queued), or with a single SET.
#[test]
fn sets_in_multi_or_alone_are_not_a_run() {
    let e = engine();
    let mut s = e.connect("test".into()).unwrap();
    let set = |k: &str| vec![b"SET".to_vec(), k.as_bytes().to_vec(), b"v".to_vec()];
    assert!(e.execute_run(&mut s, &[set("a")]).is_none());
    assert!(e
        .execute_run(&mut s, &[set("a"), vec![b"GET".to_vec(), b"a".to_vec()]])
        .is_none());
    // Pushes to two keys are two runs, not one.
    let push = |k: &str| vec![b"LPUSH".to_vec(), k.as_bytes().to_vec(), b"v".to_vec()];
    assert!(e.execute_run(&mut s, &[push("a"), push("b")]).is_none());
    assert!(e.execute_run(&mut s, &[push("a"), push("a")]).is_some());
    // A key too long to be sure the engine takes it fails alone, not with a run.
    let long = "k".repeat(5000);
    assert!(e.execute_run(&mut s, &[set("a"), set(&long)]).is_none());
    assert!(e.execute_run(&mut s, &[set(&long), set("a")]).is_none());
    run(&e, &mut s, &["MULTI"]);
    assert!(e.execute_run(&mut s, &[set("a"), set("b")]).is_none());
    assert_eq!(run(&e, &mut s, &["SET", "a", "1"]), Reply::Simple("QUEUED"));
}

/// A command of a run that failed on its own (an INCR of a hash) wrote nothing: a WATCH of
/// its key holds, while one of a key the run wrote fails.
#[test]
fn a_run_announces_only_the_keys_it_wrote() {
    let e = engine();
    let (mut writer, mut a, mut h) = (
        e.connect("w".into()).unwrap(),
        e.connect("a".into()).unwrap(),
        e.connect("h".into()).unwrap(),
    );
    run(&e, &mut writer, &["HSET", "h", "f", "v"]);
    run(&e, &mut a, &["WATCH", "a"]);
    run(&e, &mut h, &["WATCH", "h"]);
    let incr = |k: &str| vec![b"INCR".to_vec(), k.as_bytes().to_vec()];
    let answers = ran(e.execute_run(&mut writer, &[incr("a"), incr("h")]));
    assert_eq!(answers[0].0, Reply::Int(1));
    assert!(matches!(&answers[1].0, Reply::Error(m) if m.starts_with("WRONGTYPE")));
    for (_, pending) in answers {
        for p in pending {
            p.wait().unwrap();
        }
    }
    for (s, key, holds) in [(&mut a, "a", false), (&mut h, "h", true)] {
        run(&e, s, &["MULTI"]);
        run(&e, s, &["GET", key]);
        let exec = run(&e, s, &["EXEC"]);
        assert_eq!(exec != Reply::NilArray, holds, "{key}: {exec:?}");
    }
}

/// A value written over an expired collection drops the collection's members (every string
/// writer, COPY and RENAME onto it, the *STORE commands, moves and a new collection): a
/// collection created at the key later has only its own.
#[test]
fn a_write_over_an_expired_collection_drops_its_members() {
    let e = engine();
    let mut s = e.connect("test".into()).unwrap();
    run(&e, &mut s, &["SADD", "src", "m"]);
    run(&e, &mut s, &["RPUSH", "list", "a"]);
    let writes: [&[&str]; 22] = [
        &["SET", "h", "s"],
        &["SET", "h", "s", "EX", "100"],
        &["SET", "h", "s", "GET"],
        &["SETNX", "h", "s"],
        &["SETEX", "h", "100", "s"],
        &["MSET", "h", "s", "other", "t"],
        &["MSETNX", "h", "s", "new", "t"],
        &["GETSET", "h", "s"],
        &["APPEND", "h", "s"],
        &["SETRANGE", "h", "2", "s"],
        &["INCR", "h"],
        &["INCRBYFLOAT", "h", "1.5"],
        &["COPY", "src", "h"],
        &["RENAME", "src", "h"],
        &["SUNIONSTORE", "h", "src"],
        &["SINTERSTORE", "h", "src"],
        &["SDIFFSTORE", "h", "src"],
        &["ZUNIONSTORE", "h", "1", "src"],
        &["ZINTERSTORE", "h", "1", "src"],
        &["SMOVE", "src", "h", "m"],
        &["LMOVE", "list", "h", "LEFT", "LEFT"],
        &["ZADD", "h", "1", "m"],
    ];
    for write in writes {
        run(&e, &mut s, &["HSET", "h", "f", "v"]);
        run(&e, &mut s, &["PEXPIRE", "h", "1"]);
        std::thread::sleep(std::time::Duration::from_millis(5));
        let reply = run(&e, &mut s, write);
        assert!(!matches!(reply, Reply::Error(_)), "{write:?}: {reply:?}");
        run(&e, &mut s, &["DEL", "h", "other", "new"]);
        run(&e, &mut s, &["HSET", "h", "g", "w"]);
        assert_eq!(
            run(&e, &mut s, &["HGETALL", "h"]),
            Reply::Map(vec![(Reply::bulk("g"), Reply::bulk("w"))]),
            "{write:?} left the expired hash's field"
        );
        run(&e, &mut s, &["DEL", "h"]);
        run(&e, &mut s, &["SADD", "src", "m"]);
        run(&e, &mut s, &["RPUSH", "list", "a"]);
    }
}

/// A plain SET reads nothing where its database holds no collection members
/// (`crate::members`), and a string written over a collection still drops its members: for
/// a collection written since the server started, one found at open (in the log or in a
/// table), and per database.
#[test]
fn strings_over_collections_drop_members_whether_or_not_the_set_reads() {
    let over = |e: &Engine, s: &mut Session, write: &[&str]| {
        run(e, s, write);
        run(e, s, &["DEL", "h"]);
        run(e, s, &["HSET", "h", "g", "w"]);
        let all = run(e, s, &["HGETALL", "h"]);
        assert_eq!(
            all,
            Reply::Map(vec![(Reply::bulk("g"), Reply::bulk("w"))]),
            "{write:?} left the old hash's field"
        );
        run(e, s, &["HSET", "h", "f", "v"]);
    };
    let fs = orbit_env::SimFs::new();
    let e = engine_on(&fs, 1 << 20);
    let mut s = e.connect("test".into()).unwrap();
    let held = |e: &Engine| {
        (0..16)
            .filter(|&d| e.store.may_hold_members(d))
            .collect::<Vec<u8>>()
    };
    run(&e, &mut s, &["SET", "a", "1"]);
    run(&e, &mut s, &["MSET", "b", "2", "c", "3"]);
    assert_eq!(held(&e), Vec::<u8>::new());
    run(&e, &mut s, &["SELECT", "3"]);
    run(&e, &mut s, &["HSET", "h", "f", "v"]);
    assert_eq!(held(&e), vec![3]);
    for write in [
        &["SET", "h", "s"][..],
        &["SET", "h", "s", "PX", "100000"],
        &["SETEX", "h", "100", "s"],
        &["MSET", "h", "s", "x", "y"],
    ] {
        over(&e, &mut s, write);
    }
    drop(s);
    drop(e);
    // Found at open: in the log, then in a table.
    for flushed in [false, true] {
        let e = engine_on(&fs, 1 << 20);
        assert_eq!(held(&e), vec![3], "flushed: {flushed}");
        let mut s = e.connect("test".into()).unwrap();
        run(&e, &mut s, &["SELECT", "3"]);
        over(&e, &mut s, &["SET", "h", "s"]);
        if !flushed {
            e.store.db().flush().unwrap();
        }
    }
}

/// ZREMRANGEBYRANK removes by rank as Redis does (negative ranks from the end, out of range
/// clamped, an emptied set deleted).
#[test]
fn zremrangebyrank_removes_by_rank() {
    let e = engine();
    let mut s = e.connect("test".into()).unwrap();
    run(
        &e,
        &mut s,
        &[
            "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e",
        ],
    );
    let mut rem = |a: &str, b: &str| run(&e, &mut s, &["ZREMRANGEBYRANK", "z", a, b]);
    assert_eq!(rem("0", "1"), Reply::Int(2));
    assert_eq!(rem("-1", "-1"), Reply::Int(1));
    assert_eq!(rem("5", "10"), Reply::Int(0));
    assert_eq!(rem("1", "0"), Reply::Int(0));
    assert_eq!(rem("-100", "0"), Reply::Int(1));
    assert_eq!(
        run(&e, &mut s, &["ZRANGE", "z", "0", "-1"]),
        Reply::Array(vec![Reply::bulk("d")])
    );
    assert_eq!(
        run(&e, &mut s, &["ZREMRANGEBYRANK", "z", "0", "-1"]),
        Reply::Int(1)
    );
    assert_eq!(run(&e, &mut s, &["EXISTS", "z"]), Reply::Int(0));
    assert_eq!(
        run(&e, &mut s, &["ZREMRANGEBYRANK", "z", "0", "-1"]),
        Reply::Int(0)
    );
}

/// COPY ... DB n holds the destination's lock in its own database: a writer of that key
/// there waits for the copy (here the test holds it, and the copy waits).
#[test]
fn copy_to_another_database_locks_the_destination_there() {
    let e = Arc::new(engine());
    let mut s = e.connect("test".into()).unwrap();
    run(&e, &mut s, &["HSET", "src", "f", "v"]);
    let held = e.store().lock(1, &[b"dst"]);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let copier = {
        let (e, done) = (Arc::clone(&e), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut s = e.connect("copier".into()).unwrap();
            let reply = run(&e, &mut s, &["COPY", "src", "dst", "DB", "1"]);
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            reply
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(
        !done.load(std::sync::atomic::Ordering::SeqCst),
        "the copy ran past the destination's lock"
    );
    drop(held);
    assert_eq!(copier.join().unwrap(), Reply::Int(1));
    run(&e, &mut s, &["SELECT", "1"]);
    assert_eq!(run(&e, &mut s, &["HGET", "dst", "f"]), Reply::bulk("v"));
}

/// COPY ... DB n touches the destination in database n: a WATCH of it there fails the
/// watcher's EXEC.
#[test]
fn copy_to_another_database_fails_a_watch_there() {
    let e = engine();
    let (mut c, mut w) = (
        e.connect("c".into()).unwrap(),
        e.connect("w".into()).unwrap(),
    );
    run(&e, &mut c, &["SET", "src", "v"]);
    run(&e, &mut w, &["SELECT", "1"]);
    run(&e, &mut w, &["WATCH", "dst"]);
    run(&e, &mut w, &["MULTI"]);
    assert_eq!(
        run(&e, &mut w, &["SET", "dst", "mine"]),
        Reply::Simple("QUEUED")
    );
    assert_eq!(
        run(&e, &mut c, &["COPY", "src", "dst", "DB", "1"]),
        Reply::Int(1)
    );
    assert_eq!(run(&e, &mut w, &["EXEC"]), Reply::NilArray);
    assert_eq!(run(&e, &mut w, &["GET", "dst"]), Reply::bulk("v"));
    // The last DB option is the one COPY writes to.
    run(&e, &mut w, &["SELECT", "2"]);
    run(&e, &mut w, &["WATCH", "dst"]);
    run(&e, &mut w, &["MULTI"]);
    run(&e, &mut w, &["SET", "dst", "mine"]);
    let copy = ["COPY", "src", "dst", "DB", "1", "DB", "2", "REPLACE"];
    assert_eq!(run(&e, &mut c, &copy), Reply::Int(1));
    assert_eq!(run(&e, &mut w, &["EXEC"]), Reply::NilArray);
}

/// Key commands' edges as Redis 7 answers them: FLUSHDB with a stray argument flushes
/// nothing, SCAN's TYPE matches any case (TSDB-TYPE too), EXPIRETIME rounds to the nearest
/// second, and KEYS names no key (its pattern is not one).
#[test]
fn key_commands_match_redis_at_the_edges() {
    let e = engine();
    let mut s = e.connect("test".into()).unwrap();
    run(&e, &mut s, &["SET", "k", "v"]);
    run(&e, &mut s, &["TS.CREATE", "ts"]);
    assert!(matches!(
        run(&e, &mut s, &["FLUSHDB", "ASYNC", "junk"]),
        Reply::Error(m) if m.contains("syntax")
    ));
    assert!(matches!(
        run(&e, &mut s, &["FLUSHALL", "SYNC", "x"]),
        Reply::Error(_)
    ));
    assert_eq!(run(&e, &mut s, &["EXISTS", "k"]), Reply::Int(1));
    for t in ["TSDB-TYPE", "tsdb-type"] {
        assert_eq!(
            run(&e, &mut s, &["SCAN", "0", "TYPE", t]),
            Reply::Array(vec![
                Reply::bulk("0"),
                Reply::Array(vec![Reply::bulk("ts")])
            ])
        );
    }
    run(&e, &mut s, &["PEXPIREAT", "k", "1999999999999"]);
    assert_eq!(
        run(&e, &mut s, &["EXPIRETIME", "k"]),
        Reply::Int(2_000_000_000)
    );
    assert_eq!(
        run(&e, &mut s, &["PEXPIRETIME", "k"]),
        Reply::Int(1_999_999_999_999)
    );
    assert_eq!(commands::key_spec("keys"), (0, 0, 0));
    assert!(commands::keys_of("keys", &[b"KEYS".to_vec(), b"*".to_vec()]).is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Pushes and pops of any count at either end, with flushes between (the list then lies
    /// in tables too), against a deque: a pop of 8 or more reads the list's end with one
    /// iterator (`lists::scan_end`), fewer point by point.
    #[test]
    fn pops_take_what_a_deque_gives(ops in prop::collection::vec((0u8..5, 1usize..20), 1..40)) {
        let e = engine();
        let mut s = e.connect("t".into()).unwrap();
        let mut model = std::collections::VecDeque::new();
        let mut next = 0;
        for (op, n) in ops {
            let count = n.to_string();
            match op {
                0 | 1 => {
                    let values: Vec<String> = (next..next + n).map(|v| v.to_string()).collect();
                    next += n;
                    let mut args = vec![if op == 0 { "LPUSH" } else { "RPUSH" }, "l"];
                    args.extend(values.iter().map(String::as_str));
                    run(&e, &mut s, &args);
                    for v in values {
                        if op == 0 { model.push_front(v) } else { model.push_back(v) }
                    }
                }
                2 | 3 => {
                    let got = run(&e, &mut s, &[if op == 2 { "LPOP" } else { "RPOP" }, "l", &count]);
                    let mut want = Vec::new();
                    while want.len() < n {
                        let Some(v) = (if op == 2 { model.pop_front() } else { model.pop_back() }) else {
                            break;
                        };
                        want.push(Reply::Bulk(v.into_bytes()));
                    }
                    if want.is_empty() {
                        prop_assert_eq!(got, Reply::NilArray);
                    } else {
                        prop_assert_eq!(got, Reply::Array(want));
                    }
                }
                _ => e.store.db().flush().unwrap(),
            }
        }
        let all: Vec<Reply> = model.into_iter().map(|v| Reply::Bulk(v.into_bytes())).collect();
        prop_assert_eq!(run(&e, &mut s, &["LRANGE", "l", "0", "-1"]), Reply::Array(all));
    }
}
