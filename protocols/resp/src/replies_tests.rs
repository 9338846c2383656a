//! Replies and errors as Redis 7.2 gives them, at the edges a side-by-side run with a real
//! redis-server found different: subcommand arities of the container commands, HELLO's option
//! errors, a refused EXEC, LPOP's count, the order of EXPIRE's errors, ZINTERSTORE's message,
//! and OBJECT ENCODING's names by size.
use super::tests::run;
use super::*;

fn error(e: &Engine, s: &mut Session, args: &[&str]) -> String {
    match run(e, s, args) {
        Reply::Error(m) => m,
        other => panic!("{args:?}: {other:?}"),
    }
}

#[test]
fn container_commands_check_their_subcommands_as_redis_does() {
    let e = tests::engine_on(&orbit_env::SimFs::new(), 1 << 20);
    let mut s = e.connect("test".into()).unwrap();
    for (args, want) in [
        (
            &["CLIENT", "SETNAME"][..],
            "ERR wrong number of arguments for 'client|setname' command",
        ),
        (
            &["client", "getname", "x"],
            "ERR wrong number of arguments for 'client|getname' command",
        ),
        (
            &["CLIENT", "ID", "x"],
            "ERR wrong number of arguments for 'client|id' command",
        ),
        (&["CLIENT", "NO-EVICT", "maybe"], "ERR syntax error"),
        (&["CLIENT", "REPLY", "foo"], "ERR syntax error"),
        (&["CLIENT", "LIST", "foo"], "ERR syntax error"),
        (
            &["CONFIG", "GET"],
            "ERR wrong number of arguments for 'config|get' command",
        ),
        (
            &["CONFIG", "SET", "maxmemory"],
            "ERR wrong number of arguments for 'config|set' command",
        ),
        (
            &["CONFIG", "SET", "maxmemory", "1", "x"],
            "ERR syntax error",
        ),
        (
            &["CONFIG", "foo"],
            "ERR unknown subcommand 'foo'. Try CONFIG HELP.",
        ),
        (
            &["COMMAND", "COUNT", "x"],
            "ERR wrong number of arguments for 'command|count' command",
        ),
        (
            &["OBJECT", "ENCODING"],
            "ERR wrong number of arguments for 'object|encoding' command",
        ),
        (
            &["OBJECT", "HELP", "x"],
            "ERR wrong number of arguments for 'object|help' command",
        ),
        (
            &["OBJECT", "FOO", "nokey"],
            "ERR unknown subcommand 'FOO'. Try OBJECT HELP.",
        ),
        (
            &["PUBSUB", "NUMPAT", "x"],
            "ERR wrong number of arguments for 'pubsub|numpat' command",
        ),
        (
            &["PUBSUB", "CHANNELS", "a", "b"],
            "ERR unknown subcommand or wrong number of arguments for 'channels'. Try PUBSUB HELP.",
        ),
        (
            &["HELLO", "3", "AUTH", "a"],
            "ERR Syntax error in HELLO option 'AUTH'",
        ),
        (
            &["HELLO", "3", "foo"],
            "ERR Syntax error in HELLO option 'foo'",
        ),
    ] {
        assert_eq!(error(&e, &mut s, args), want, "{args:?}");
    }
    assert_eq!(run(&e, &mut s, &["CLIENT", "NO-EVICT", "on"]), Reply::OK);
    assert_eq!(run(&e, &mut s, &["CLIENT", "REPLY", "ON"]), Reply::OK);
    for help in [
        &["OBJECT", "HELP"][..],
        &["CLIENT", "HELP"],
        &["CONFIG", "HELP"],
        &["PUBSUB", "HELP"],
    ] {
        assert!(
            matches!(run(&e, &mut s, help), Reply::Array(lines) if lines.len() > 4),
            "{help:?}"
        );
    }
}

#[test]
fn a_refused_exec_discards_the_transaction() {
    let e = tests::engine_on(&orbit_env::SimFs::new(), 1 << 20);
    let mut s = e.connect("test".into()).unwrap();
    let abort =
        "EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command";
    assert_eq!(error(&e, &mut s, &["EXEC", "x"]), abort);
    run(&e, &mut s, &["MULTI"]);
    run(&e, &mut s, &["SET", "k", "v"]);
    assert_eq!(error(&e, &mut s, &["EXEC", "x"]), abort);
    assert_eq!(error(&e, &mut s, &["EXEC"]), "ERR EXEC without MULTI");
    assert_eq!(run(&e, &mut s, &["EXISTS", "k"]), Reply::Int(0));
}

#[test]
fn argument_errors_come_in_redis_order_and_words() {
    let e = tests::engine_on(&orbit_env::SimFs::new(), 1 << 20);
    let mut s = e.connect("test".into()).unwrap();
    run(&e, &mut s, &["RPUSH", "l", "a", "b"]);
    run(&e, &mut s, &["SET", "s", "v"]);
    for (args, want) in [
        (
            &["LPOP", "l", "abc"][..],
            "ERR value is out of range, must be positive",
        ),
        (
            &["LPOP", "l", "-1"],
            "ERR value is out of range, must be positive",
        ),
        (
            &["RPOP", "l", "1", "2"],
            "ERR wrong number of arguments for 'rpop' command",
        ),
        (
            &["PEXPIRE", "s", "abc", "foo"],
            "ERR Unsupported option foo",
        ),
        (
            &["EXPIRE", "s", "abc", "NX", "XX"],
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ),
        (
            &["EXPIRE", "s", "abc"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["ZINTERSTORE", "d", "0", "z"],
            "ERR at least 1 input key is needed for 'zinterstore' command",
        ),
        (
            &["ZUNIONSTORE", "d", "0", "z"],
            "ERR at least 1 input key is needed for 'zunionstore' command",
        ),
    ] {
        assert_eq!(error(&e, &mut s, args), want, "{args:?}");
    }
    assert_eq!(
        run(&e, &mut s, &["LLEN", "l"]),
        Reply::Int(2),
        "nothing popped"
    );
}

#[test]
fn object_encoding_names_the_representation_redis_would_use() {
    let e = tests::engine_on(&orbit_env::SimFs::new(), 1 << 20);
    let mut s = e.connect("test".into()).unwrap();
    let long = "x".repeat(65);
    let mut many: Vec<String> = (0..129).map(|i| format!("m{i}")).collect();
    run(&e, &mut s, &["SET", "int", "123"]);
    run(&e, &mut s, &["SET", "short", "abc"]);
    run(&e, &mut s, &["SET", "long", &long]);
    run(&e, &mut s, &["SADD", "ints", "1", "2", "3"]);
    run(&e, &mut s, &["SADD", "words", "a", "b"]);
    run(&e, &mut s, &["SADD", "wide", "a", &long]);
    run(&e, &mut s, &["HSET", "h", "f", "v"]);
    run(&e, &mut s, &["HSET", "hwide", "f", &long]);
    run(&e, &mut s, &["ZADD", "z", "1", "a"]);
    run(&e, &mut s, &["ZADD", "zwide", "1", &long]);
    run(&e, &mut s, &["RPUSH", "l", "a", "b"]);
    many.insert(0, "SADD".into());
    many.insert(1, "big".into());
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    run(&e, &mut s, &many);
    let big_list: Vec<String> = std::iter::once("RPUSH".to_string())
        .chain(std::iter::once("biglist".to_string()))
        .chain((0..200).map(|_| "y".repeat(60)))
        .collect();
    let big_list: Vec<&str> = big_list.iter().map(String::as_str).collect();
    run(&e, &mut s, &big_list);
    for (key, want) in [
        ("int", "int"),
        ("short", "embstr"),
        ("long", "raw"),
        ("ints", "intset"),
        ("words", "listpack"),
        ("wide", "hashtable"),
        ("big", "hashtable"),
        ("h", "listpack"),
        ("hwide", "hashtable"),
        ("z", "listpack"),
        ("zwide", "skiplist"),
        ("l", "listpack"),
        ("biglist", "quicklist"),
    ] {
        assert_eq!(
            run(&e, &mut s, &["OBJECT", "ENCODING", key]),
            Reply::bulk(want),
            "{key}"
        );
    }
    assert_eq!(
        run(&e, &mut s, &["OBJECT", "ENCODING", "nokey"]),
        Reply::Nil
    );
}

#[test]
fn zrandmember_picks_like_hrandfield() {
    let e = tests::engine_on(&orbit_env::SimFs::new(), 1 << 20);
    let mut s = e.connect("test".into()).unwrap();
    run(&e, &mut s, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    run(&e, &mut s, &["SET", "s", "v"]);
    let member = run(&e, &mut s, &["ZRANDMEMBER", "z"]);
    assert!(
        ["a", "b", "c"].iter().any(|m| member == Reply::bulk(m)),
        "{member:?}"
    );
    let Reply::Array(all) = run(&e, &mut s, &["ZRANDMEMBER", "z", "5"]) else {
        panic!()
    };
    let mut names: Vec<_> = all.iter().map(|r| format!("{r:?}")).collect();
    names.sort();
    names.dedup();
    assert_eq!(
        (all.len(), names.len()),
        (3, 3),
        "distinct, at most the set"
    );
    let Reply::Array(repeats) = run(&e, &mut s, &["ZRANDMEMBER", "z", "-7"]) else {
        panic!()
    };
    assert_eq!(repeats.len(), 7);
    // RESP2: member, score, member, score.
    let Reply::Array(flat) = run(&e, &mut s, &["ZRANDMEMBER", "z", "2", "WITHSCORES"]) else {
        panic!()
    };
    assert!(matches!(
        flat.as_slice(),
        [
            Reply::Bulk(_),
            Reply::Double(_),
            Reply::Bulk(_),
            Reply::Double(_)
        ]
    ));
    assert_eq!(run(&e, &mut s, &["ZRANDMEMBER", "nokey"]), Reply::Nil);
    assert_eq!(
        run(&e, &mut s, &["ZRANDMEMBER", "nokey", "3"]),
        Reply::Array(vec![])
    );
    assert!(error(&e, &mut s, &["ZRANDMEMBER", "s"]).starts_with("WRONGTYPE"));
    assert_eq!(
        error(&e, &mut s, &["ZRANDMEMBER", "z", "1", "foo"]),
        "ERR syntax error"
    );
}

/// Found side by side with redis-server: UNWATCH inside MULTI is queued (it dropped the
/// watch at once, and EXEC then overwrote a key another client changed), and extra
/// arguments to the pops are a syntax error (they popped).
#[test]
fn unwatch_is_queued_and_pops_refuse_extra_arguments() {
    let e = tests::engine_on(&orbit_env::SimFs::new(), 1 << 20);
    let mut s = e.connect("a".into()).unwrap();
    let mut other = e.connect("b".into()).unwrap();
    run(&e, &mut s, &["SET", "k", "1"]);
    run(&e, &mut s, &["WATCH", "k"]);
    run(&e, &mut other, &["SET", "k", "2"]);
    run(&e, &mut s, &["MULTI"]);
    assert_eq!(run(&e, &mut s, &["UNWATCH"]), Reply::Simple("QUEUED"));
    run(&e, &mut s, &["SET", "k", "3"]);
    assert_eq!(run(&e, &mut s, &["EXEC"]), Reply::NilArray);
    assert_eq!(run(&e, &mut s, &["GET", "k"]), Reply::bulk("2"));
    // Outside MULTI it answers at once.
    assert_eq!(run(&e, &mut s, &["UNWATCH"]), Reply::OK);
    run(&e, &mut s, &["SADD", "st", "a", "b"]);
    run(&e, &mut s, &["ZADD", "z", "1", "a", "2", "b"]);
    run(&e, &mut s, &["HSET", "h", "f", "v"]);
    for args in [
        &["SPOP", "st", "1", "junk"][..],
        &["SRANDMEMBER", "st", "1", "junk"],
        &["ZPOPMIN", "z", "1", "junk"],
        &["ZPOPMAX", "z", "1", "junk"],
        &["HRANDFIELD", "h", "1", "WITHVALUES", "junk"],
        &["ZRANDMEMBER", "z", "1", "WITHSCORES", "junk"],
        &["ZREVRANGE", "z", "0", "1", "WITHSCORES", "FOO"],
    ] {
        assert_eq!(error(&e, &mut s, args), "ERR syntax error", "{args:?}");
    }
    assert_eq!(
        error(&e, &mut s, &["SPOP", "st", "abc"]),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(
        run(&e, &mut s, &["SCARD", "st"]),
        Reply::Int(2),
        "nothing popped"
    );
    assert_eq!(
        run(&e, &mut s, &["ZCARD", "z"]),
        Reply::Int(2),
        "nothing popped"
    );
}

/// Scores as Redis keeps them: a weighted or aggregated NaN is 0, -0 is 0 (one score, in
/// member order), and a score out of a double's range is refused, not made infinite.
#[test]
fn scores_are_kept_as_redis_keeps_them() {
    let e = tests::engine_on(&orbit_env::SimFs::new(), 1 << 20);
    let mut s = e.connect("test".into()).unwrap();
    run(&e, &mut s, &["ZADD", "z", "0", "a", "inf", "b"]);
    run(&e, &mut s, &["ZADD", "m", "-inf", "b"]);
    run(
        &e,
        &mut s,
        &["ZUNIONSTORE", "u", "2", "z", "m", "WEIGHTS", "inf", "1"],
    );
    // a: inf * 0 = NaN -> 0; b: inf + -inf = NaN -> 0.
    assert_eq!(run(&e, &mut s, &["ZSCORE", "u", "a"]), Reply::Double(0.0));
    assert_eq!(run(&e, &mut s, &["ZSCORE", "u", "b"]), Reply::Double(0.0));
    run(&e, &mut s, &["ZADD", "zero", "-0", "b", "0", "a"]);
    assert_eq!(
        run(&e, &mut s, &["ZRANGE", "zero", "0", "-1"]),
        Reply::Array(vec![Reply::bulk("a"), Reply::bulk("b")])
    );
    assert!(matches!(
        run(&e, &mut s, &["ZSCORE", "zero", "b"]),
        Reply::Double(d) if d == 0.0 && d.is_sign_positive()
    ));
    // -0 then another score for the same member in one command: one member, one entry in
    // the score index (the -0 one was left behind, a phantom in ZRANGE).
    run(&e, &mut s, &["ZADD", "twice", "-0", "m", "1", "m"]);
    assert_eq!(run(&e, &mut s, &["ZCARD", "twice"]), Reply::Int(1));
    assert_eq!(
        run(&e, &mut s, &["ZRANGE", "twice", "0", "-1", "WITHSCORES"]),
        Reply::Array(vec![Reply::bulk("m"), Reply::Double(1.0)])
    );
    for bad in ["1e400", "-1e400", "1e-400"] {
        assert_eq!(
            error(&e, &mut s, &["ZADD", "z", bad, "c"]),
            "ERR value is not a valid float",
            "{bad}"
        );
    }
    // Range bounds are read as strtod reads them: out of range is infinity or zero.
    assert_eq!(
        run(&e, &mut s, &["ZCOUNT", "z", "-1e400", "1e400"]),
        Reply::Int(2)
    );
    assert_eq!(run(&e, &mut s, &["ZADD", "z", "0x10", "c"]), Reply::Int(1));
    assert_eq!(
        error(&e, &mut s, &["ZADD", "z", "0x+1", "d"]),
        "ERR value is not a valid float"
    );
    assert_eq!(run(&e, &mut s, &["ZSCORE", "z", "c"]), Reply::Double(16.0));
}

#[test]
fn auth_without_a_password_and_pubsub_numsub_answer_as_redis() {
    let e = tests::engine_on(&orbit_env::SimFs::new(), 1 << 20);
    let mut s = e.connect("test".into()).unwrap();
    assert_eq!(run(&e, &mut s, &["AUTH", "default", "x"]), Reply::OK);
    assert!(error(&e, &mut s, &["AUTH", "someone", "x"]).starts_with("WRONGPASS"));
    assert!(error(&e, &mut s, &["AUTH", "x"]).contains("without any password configured"));
    s.protocol = 3;
    assert_eq!(
        run(&e, &mut s, &["PUBSUB", "NUMSUB", "a"]),
        Reply::Array(vec![Reply::bulk("a"), Reply::Int(0)])
    );
}

/// SET and GETEX take the same expiry option twice (the last counts), as Redis does, and
/// still refuse two different ones.
#[test]
fn a_repeated_expiry_option_counts_once() {
    let e = tests::engine_on(&orbit_env::SimFs::new(), 1 << 20);
    let mut s = e.connect("test".into()).unwrap();
    assert_eq!(
        run(&e, &mut s, &["SET", "k", "v", "EX", "10", "ex", "20"]),
        Reply::OK
    );
    assert!(matches!(
        run(&e, &mut s, &["TTL", "k"]),
        Reply::Int(19 | 20)
    ));
    assert_eq!(
        error(&e, &mut s, &["SET", "k", "v", "EX", "10", "PX", "20"]),
        "ERR syntax error"
    );
    assert_eq!(
        run(&e, &mut s, &["GETEX", "k", "PERSIST", "persist"]),
        Reply::bulk("v")
    );
    assert_eq!(run(&e, &mut s, &["TTL", "k"]), Reply::Int(-1));
    assert_eq!(
        run(&e, &mut s, &["GETEX", "k", "EX", "10", "EX", "30"]),
        Reply::bulk("v")
    );
    assert!(matches!(
        run(&e, &mut s, &["TTL", "k"]),
        Reply::Int(29 | 30)
    ));
    assert_eq!(
        error(&e, &mut s, &["GETEX", "k", "EX", "10", "PERSIST"]),
        "ERR syntax error"
    );
}

/// A watched key that expires between WATCH and EXEC aborts the transaction, as in Redis,
/// though no command wrote it; one without a TTL does not.
#[test]
fn a_watched_key_expiring_before_exec_aborts_it() {
    let e = tests::engine_on(&orbit_env::SimFs::new(), 1 << 20);
    let mut s = e.connect("test".into()).unwrap();
    // A second to live: WATCH must come before the key expires, however slow the machine.
    run(&e, &mut s, &["SET", "t", "1", "PX", "1000"]);
    run(&e, &mut s, &["SET", "p", "1"]);
    run(&e, &mut s, &["WATCH", "t", "p"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    run(&e, &mut s, &["MULTI"]);
    run(&e, &mut s, &["GET", "t"]);
    assert_eq!(run(&e, &mut s, &["EXEC"]), Reply::NilArray);
    run(&e, &mut s, &["WATCH", "p"]);
    run(&e, &mut s, &["MULTI"]);
    run(&e, &mut s, &["GET", "p"]);
    assert_eq!(
        run(&e, &mut s, &["EXEC"]),
        Reply::Array(vec![Reply::bulk("1")])
    );
}
