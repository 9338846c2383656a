//! End-to-end backup and point-in-time restore: a workload writes Redis keys and time series
//! through RESP and SQL tables through the PostgreSQL protocol (DML, multi-statement
//! transactions, DDL after the backup) while recording (time, LSN, state); a base backup is
//! taken mid-workload by `orbit backup`; then
//! `orbit restore` to recorded times, to an LSN and to the latest, each served by a new
//! `orbit serve` and compared exactly with the recorded state. Incremental chains of three
//! backups, and damaged files (a flipped byte in a table, a truncated or missing archived
//! segment), each detected by `orbit backup verify` and refused by `orbit restore`, naming
//! the file. A busy server holds backups to `--backup-busy-rate`; an idle one does not.

#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{metric, pg, Server, ORBIT};
use redis::{cmd, Connection};

/// Runs `orbit ARGS`: success, stdout, stderr.
fn orbit(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(ORBIT)
        .args(args)
        .env("NO_COLOR", "1")
        .env("ORBIT_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(args: &[&str]) -> String {
    let (success, out, err) = orbit(args);
    assert!(success, "orbit {args:?} failed:\n{out}\n{err}");
    out
}

fn fails(args: &[&str]) -> String {
    let (success, out, err) = orbit(args);
    assert!(!success, "orbit {args:?} should have failed:\n{out}\n{err}");
    err
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// RFC 3339 with milliseconds, UTC, of a Unix time in ms.
fn rfc3339(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap();
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Every key and its value, in a canonical text form.
fn dump_redis(c: &mut Connection) -> BTreeMap<String, String> {
    let mut keys: Vec<String> = cmd("KEYS").arg("*").query(c).unwrap();
    keys.sort();
    let mut out = BTreeMap::new();
    for k in keys {
        let kind: String = cmd("TYPE").arg(&k).query(c).unwrap();
        let v = match kind.as_str() {
            "string" => cmd("GET").arg(&k).query::<String>(c).unwrap(),
            "hash" => {
                let m: BTreeMap<String, String> = cmd("HGETALL").arg(&k).query(c).unwrap();
                format!("{m:?}")
            }
            "list" => format!(
                "{:?}",
                cmd("LRANGE")
                    .arg(&k)
                    .arg(0)
                    .arg(-1)
                    .query::<Vec<String>>(c)
                    .unwrap()
            ),
            "set" => {
                let mut m: Vec<String> = cmd("SMEMBERS").arg(&k).query(c).unwrap();
                m.sort();
                format!("{m:?}")
            }
            "zset" => format!(
                "{:?}",
                cmd("ZRANGE")
                    .arg(&k)
                    .arg(0)
                    .arg(-1)
                    .arg("WITHSCORES")
                    .query::<Vec<String>>(c)
                    .unwrap()
            ),
            "TSDB-TYPE" => format!(
                "{:?}",
                cmd("TS.RANGE")
                    .arg(&k)
                    .arg("-")
                    .arg("+")
                    .query::<Vec<(i64, f64)>>(c)
                    .unwrap()
            ),
            other => panic!("unexpected type {other}"),
        };
        out.insert(format!("{kind}:{k}"), v);
    }
    out
}

/// A blocking PostgreSQL session (tokio-postgres on a runtime of its own).
struct Sql {
    rt: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

impl Sql {
    fn connect(server: &Server) -> Sql {
        let rt = pg::rt();
        let client = rt.block_on(pg::connect(server));
        Sql { rt, client }
    }

    /// Runs `sql` (one statement or several) and returns the text rows.
    fn run(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        self.rt.block_on(pg::simple(&self.client, sql))
    }

    /// Every row of every table of `public`, in a canonical text form.
    fn dump(&self) -> BTreeMap<String, String> {
        let tables = self.run(
            "SELECT table_name FROM information_schema.tables \
             WHERE table_schema = 'public' ORDER BY table_name",
        );
        let mut out = BTreeMap::new();
        for t in tables {
            let name = t[0].clone().unwrap();
            let rows = self.run(&format!("SELECT * FROM {name} ORDER BY 1"));
            out.insert(format!("table:{name}"), format!("{rows:?}"));
        }
        out
    }
}

/// The workload's two sessions: RESP and SQL.
struct Clients {
    redis: Connection,
    sql: Sql,
}

impl Clients {
    fn connect(server: &Server) -> Clients {
        Clients {
            redis: server.client(),
            sql: Sql::connect(server),
        }
    }

    /// The workload's first tables.
    fn create_tables(&self) {
        self.sql.run(
            "CREATE TABLE acct (id int PRIMARY KEY, owner text NOT NULL, \
               balance numeric(12,2) NOT NULL DEFAULT 0, touched int DEFAULT 0); \
             CREATE TABLE transfers (id bigserial PRIMARY KEY, \
               src int, dst int, amount numeric(12,2), at timestamptz); \
             CREATE INDEX transfers_src ON transfers (src)",
        );
    }
}

/// The whole state, Redis keys and SQL tables.
fn dump(c: &mut Clients) -> BTreeMap<String, String> {
    let mut out = dump_redis(&mut c.redis);
    out.extend(c.sql.dump());
    out
}

/// Asserts two dumps are equal, naming only the keys that differ.
fn assert_same(got: &BTreeMap<String, String>, want: &BTreeMap<String, String>, what: &str) {
    let keys: std::collections::BTreeSet<&String> = got.keys().chain(want.keys()).collect();
    let diff: Vec<String> = keys
        .into_iter()
        .filter(|k| got.get(*k) != want.get(*k))
        .map(|k| format!("{k}: got {:?}, want {:?}", got.get(k), want.get(k)))
        .collect();
    assert!(
        diff.is_empty(),
        "{what}: {} keys differ:\n{}",
        diff.len(),
        diff.join("\n")
    );
}

/// One step of a deterministic mixed workload: a Redis command, and every fourth step a SQL
/// statement or transaction; at fixed steps, DDL (a table created, altered, dropped).
fn step(c: &mut Clients, i: u64) {
    step_redis(&mut c.redis, i);
    if i % 4 == 0 {
        step_sql(&c.sql, i / 4);
    }
}

fn step_sql(sql: &Sql, i: u64) {
    let r = i.wrapping_mul(2862933555777941757).wrapping_add(3037000493) >> 35;
    let (a, b) = (r % 25, (r / 25) % 25);
    let stmt = match i {
        45 => "CREATE TABLE late (k text PRIMARY KEY, v int, at date); \
               CREATE INDEX late_v ON late (v)"
            .to_string(),
        70 => "ALTER TABLE late ADD COLUMN note varchar(20)".to_string(),
        85 => "CREATE TABLE scratch (x int); INSERT INTO scratch VALUES (1), (2)".to_string(),
        95 => "DROP TABLE scratch".to_string(),
        _ if i > 45 && i % 3 == 0 => format!(
            "INSERT INTO late (k, v, at) VALUES ('k{a}', {i}, DATE '2026-01-01' + {b}) \
             ON CONFLICT (k) DO UPDATE SET v = late.v + EXCLUDED.v"
        ),
        _ => match i % 5 {
            0 | 1 => format!(
                "INSERT INTO acct (id, owner, balance) VALUES ({a}, 'o{i}', {i}.5) \
                 ON CONFLICT (id) DO UPDATE SET owner = EXCLUDED.owner, \
                 balance = acct.balance + EXCLUDED.balance"
            ),
            2 => format!(
                "UPDATE acct SET balance = balance - 1.25, touched = touched + 1 \
                 WHERE id % 7 = {}",
                a % 7
            ),
            3 => format!("DELETE FROM acct WHERE id = {b}"),
            // A transfer: three statements that commit together or not at all.
            _ => format!(
                "BEGIN; \
                 UPDATE acct SET balance = balance - 5 WHERE id = {a}; \
                 UPDATE acct SET balance = balance + 5 WHERE id = {b}; \
                 INSERT INTO transfers (src, dst, amount, at) \
                   VALUES ({a}, {b}, 5, TIMESTAMPTZ '2026-12-03 10:00:00+00' + interval '{i} seconds'); \
                 COMMIT"
            ),
        },
    };
    sql.run(&stmt);
}

fn step_redis(c: &mut Connection, i: u64) {
    let r = i
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        >> 33;
    let key = r % 40;
    let _: redis::Value = match i % 8 {
        0 => cmd("SET")
            .arg(format!("s{key}"))
            .arg(format!("v{i}"))
            .query(c),
        1 => cmd("INCRBY").arg(format!("n{}", key % 5)).arg(i).query(c),
        2 => cmd("HSET")
            .arg(format!("h{}", key % 6))
            .arg(format!("f{}", r % 9))
            .arg(i)
            .query(c),
        3 => cmd("RPUSH").arg(format!("l{}", key % 4)).arg(i).query(c),
        4 => cmd("SADD")
            .arg(format!("t{}", key % 4))
            .arg(r % 30)
            .query(c),
        5 => cmd("ZADD")
            .arg(format!("z{}", key % 3))
            .arg(i)
            .arg(format!("m{}", r % 20))
            .query(c),
        6 => cmd("DEL").arg(format!("s{}", (key + 1) % 40)).query(c),
        // Time series: samples in order, and now and then one out of order.
        _ => cmd("TS.ADD")
            .arg(format!("ts{}", key % 3))
            .arg(if r % 5 == 0 {
                (i as i64 * 10 - 75).max(0)
            } else {
                i as i64 * 10
            })
            .arg(r % 100)
            .arg("ON_DUPLICATE")
            .arg("LAST")
            .query(c),
    }
    .unwrap();
}

/// A point of the workload: its time (after the write was acknowledged, before the next
/// began), the end of the WAL then, and the state.
#[derive(Clone)]
struct Point {
    time_ms: i64,
    lsn: u64,
    state: BTreeMap<String, String>,
}

fn record(server: &Server, c: &mut Clients) -> Point {
    std::thread::sleep(Duration::from_millis(3));
    let point = Point {
        time_ms: now_ms(),
        lsn: metric(server.http_port, "orbit_wal_written_lsn"),
        state: dump(c),
    };
    std::thread::sleep(Duration::from_millis(3));
    point
}

fn wait_archived(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while metric(server.http_port, "orbit_wal_archive_lag_bytes") > 0 {
        assert!(Instant::now() < deadline, "the archive never caught up");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Serves `dir` and dumps it.
fn served_state(dir: &Path) -> BTreeMap<String, String> {
    let server = Server::start(dir, &[]);
    let state = dump(&mut Clients::connect(&server));
    let (clean, log) = server.stop();
    assert!(clean, "{log}");
    state
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("backup.json")).unwrap()).unwrap()
}

#[test]
fn point_in_time_restores_match_the_recorded_states() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, arch, full) = (
        tmp.path().join("data"),
        tmp.path().join("archive"),
        tmp.path().join("full"),
    );
    let server = Server::start(
        &data,
        &[
            "--wal-archive",
            p(&arch),
            "--archive-timeout",
            "200ms",
            "--wal-segment-size",
            "65536",
        ],
    );
    let mut c = Clients::connect(&server);
    c.create_tables();
    for i in 0..150 {
        step(&mut c, i);
    }
    // The base backup runs while the workload goes on.
    let http = format!("127.0.0.1:{}", server.http_port);
    let backup = {
        let (http, full) = (http.clone(), full.clone());
        std::thread::spawn(move || ok(&["backup", "--server", &http, "--out", p(&full)]))
    };
    let mut points = Vec::new();
    let mut i = 150;
    while !backup.is_finished() || points.len() < 3 {
        for _ in 0..20 {
            step(&mut c, i);
            i += 1;
        }
        points.push(record(&server, &mut c));
    }
    let said = backup.join().unwrap();
    assert!(said.contains("(full) written to"), "{said}");
    for _ in 0..10 {
        for _ in 0..25 {
            step(&mut c, i);
            i += 1;
        }
        points.push(record(&server, &mut c));
    }
    let last = points.last().unwrap().clone();
    // One more write, so the archive shows that nothing else came before the last point.
    step(&mut c, i);
    wait_archived(&server);
    let m = manifest(&full);
    let (stop_ms, stop_lsn) = (
        m["stop_unix_ms"].as_i64().unwrap(),
        m["stop_lsn"].as_u64().unwrap(),
    );
    let after: Vec<&Point> = points
        .iter()
        .filter(|p| p.time_ms >= stop_ms && p.lsn >= stop_lsn)
        .collect();
    assert!(after.len() >= 10, "{} points after the backup", after.len());

    ok(&["backup", "verify", p(&full), "--wal-archive", p(&arch)]);
    let mut n = 0;
    let mut restore = |target: &[&str]| -> PathBuf {
        n += 1;
        let dir = tmp.path().join(format!("restored-{n}"));
        let mut args = vec![
            "restore",
            "--from",
            p(&full),
            "--wal-archive",
            p(&arch),
            "--data-dir",
            p(&dir),
        ];
        args.extend_from_slice(target);
        let out = ok(&args);
        assert!(out.contains("new timeline"), "{out}");
        dir
    };
    // Several recorded times, one of them while a table created after the backup existed
    // (it is dropped before the end).
    let has = |p: &Point, table: &str| p.state.contains_key(&format!("table:{table}"));
    let with_scratch = *after
        .iter()
        .find(|p| has(p, "scratch"))
        .expect("a point while `scratch` existed");
    assert!(!has(after[0], "scratch") && !has(&last, "scratch") && has(&last, "late"));
    for point in [
        after[0],
        with_scratch,
        after[after.len() / 2],
        *after.last().unwrap(),
    ] {
        let dir = restore(&["--to-time", &rfc3339(point.time_ms)]);
        let what = format!("restore to {}", rfc3339(point.time_ms));
        assert_same(&served_state(&dir), &point.state, &what);
    }
    // An LSN: everything before the WAL's end at that point.
    let point = after[after.len() / 3];
    let dir = restore(&["--to-lsn", &point.lsn.to_string(), "--exclusive"]);
    let what = format!("restore to lsn {}", point.lsn);
    assert_same(&served_state(&dir), &point.state, &what);
    // The latest: everything, including the write after the last point.
    let live = dump(&mut c);
    assert_ne!(live, last.state);
    let dir = restore(&["--latest"]);
    let restored = Server::start(&dir, &[]);
    let mut r = Clients::connect(&restored);
    assert_same(&dump(&mut r), &live, "restore to the latest");
    // The restored sequence continues after every id handed out before.
    let max = |s: &Sql| {
        s.run("SELECT max(id) FROM transfers")[0][0]
            .clone()
            .unwrap()
    };
    let before: i64 = max(&r.sql).parse().unwrap();
    r.sql
        .run("INSERT INTO transfers (src, dst, amount) VALUES (1, 2, 3)");
    assert!(max(&r.sql).parse::<i64>().unwrap() > before);
    let (clean, log) = restored.stop();
    assert!(clean, "{log}");

    // Refusals, each before anything is written.
    let x = tmp.path().join("x");
    let (too_early, too_late) = (rfc3339(stop_ms - 60_000), rfc3339(now_ms() + 3_600_000));
    let (max_lsn, last_time) = (u64::MAX.to_string(), rfc3339(last.time_ms));
    let base = ["restore", "--from", p(&full), "--data-dir", p(&x)];
    for (archive, target, why) in [
        (
            true,
            ["--to-time", too_early.as_str()],
            "before the end of the backup",
        ),
        (
            true,
            ["--to-time", too_late.as_str()],
            "after the end of the archive",
        ),
        (
            true,
            ["--to-lsn", max_lsn.as_str()],
            "after the end of the archive",
        ),
        (
            false,
            ["--to-time", last_time.as_str()],
            "give --wal-archive",
        ),
    ] {
        let mut args = base.to_vec();
        if archive {
            args.extend(["--wal-archive", p(&arch)]);
        }
        args.extend(target);
        let err = fails(&args);
        assert!(err.contains(why), "{target:?}: {err}");
    }
    assert!(!tmp.path().join("x").exists());
    let err = fails(&[
        "restore",
        "--from",
        p(&full),
        "--data-dir",
        p(&data),
        "--latest",
    ]);
    assert!(err.contains("is not empty"), "{err}");
    let (clean, log) = server.stop();
    assert!(clean, "{log}");
}

/// Writes `keys` keys of `size` bytes from `from`.
fn fill(c: &mut Connection, from: u64, keys: u64, size: usize) {
    for k in from..from + keys {
        let _: () = cmd("SET")
            .arg(format!("key{k:06}"))
            .arg(vec![b'a' + (k % 26) as u8; size])
            .query(c)
            .unwrap();
    }
}

#[test]
fn incremental_chains_and_damaged_files() {
    let tmp = tempfile::tempdir().unwrap();
    let t = |n: &str| tmp.path().join(n);
    let (data, arch) = (t("data"), t("archive"));
    let server = Server::start(
        &data,
        &["--wal-archive", p(&arch), "--archive-timeout", "100ms"],
    );
    let http = format!("127.0.0.1:{}", server.http_port);
    let mut c = server.client();
    fill(&mut c, 0, 2000, 200);
    ok(&["backup", "--server", &http, "--out", p(&t("full"))]);
    // 5% churn, then another 5%.
    fill(&mut c, 0, 100, 201);
    ok(&[
        "backup",
        "--server",
        &http,
        "--out",
        p(&t("inc1")),
        "--incremental-from",
        p(&t("full")),
    ]);
    fill(&mut c, 100, 100, 202);
    let want = dump_redis(&mut c);
    ok(&[
        "backup",
        "--server",
        &http,
        "--out",
        p(&t("inc2")),
        "--incremental-from",
        p(&t("inc1")),
    ]);
    // Two archived segments after the last backup.
    fill(&mut c, 5000, 10, 10);
    wait_archived(&server);
    std::thread::sleep(Duration::from_millis(300));
    fill(&mut c, 6000, 10, 10);
    wait_archived(&server);
    let (clean, log) = server.stop();
    assert!(clean, "{log}");

    let (full, inc1, inc2) = (
        manifest(&t("full")),
        manifest(&t("inc1")),
        manifest(&t("inc2")),
    );
    for (m, parent) in [(&inc1, "../full"), (&inc2, "../inc1")] {
        assert_eq!(m["kind"], "incremental");
        assert_eq!(m["parent"], parent);
        let (stored, total) = (
            m["stored_bytes"].as_u64().unwrap(),
            m["total_bytes"].as_u64().unwrap(),
        );
        assert!(
            stored < total / 2,
            "an incremental stored {stored} of {total} bytes"
        );
    }
    // inc2 references tables stored in `full` directly, not through inc1.
    let files = inc2["files"].as_array().unwrap();
    assert!(
        files.iter().any(|f| f["stored_in"] == "../full"),
        "{files:?}"
    );
    assert_eq!(full["kind"], "full");
    for b in ["full", "inc1", "inc2"] {
        ok(&["backup", "verify", p(&t(b)), "--wal-archive", p(&arch)]);
    }
    let listing = ok(&["backup", "list", p(tmp.path())]);
    assert_eq!(listing.lines().count(), 4, "{listing}");

    // The newest incremental alone restores the state it was taken at.
    ok(&[
        "restore",
        "--from",
        p(&t("inc2")),
        "--data-dir",
        p(&t("r-inc2")),
        "--latest",
    ]);
    assert_same(&served_state(&t("r-inc2")), &want, "restore of inc2");

    // A flipped byte in a table the chain shares.
    let shared = files.iter().find(|f| f["stored_in"] == "../full").unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string();
    let victim = t("full").join(&shared);
    let mut bytes = std::fs::read(&victim).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&victim, &bytes).unwrap();
    let err = fails(&["backup", "verify", p(&t("inc2"))]);
    assert!(err.contains(&shared) && err.contains("corrupt"), "{err}");
    let err = fails(&[
        "restore",
        "--from",
        p(&t("inc2")),
        "--data-dir",
        p(&t("r-bad")),
        "--latest",
    ]);
    assert!(err.contains(&shared), "{err}");
    assert!(!t("r-bad").exists());
    bytes[middle] ^= 0x40;
    std::fs::write(&victim, &bytes).unwrap();

    // A truncated archived segment, then a missing one.
    let mut segments: Vec<PathBuf> = std::fs::read_dir(&arch)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segments.sort();
    let stop = inc2["stop_lsn"].as_u64().unwrap();
    let after: Vec<&PathBuf> = segments
        .iter()
        .filter(|s| {
            let name = s.file_name().unwrap().to_string_lossy().into_owned();
            u64::from_str_radix(&name[34..50], 16).unwrap() > stop
        })
        .collect();
    assert!(
        after.len() >= 2,
        "archived segments after the backup: {segments:?}"
    );
    let victim = after[0].clone();
    let name = victim.file_name().unwrap().to_string_lossy().into_owned();
    let original = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &original[..original.len() - 7]).unwrap();
    let err = fails(&["backup", "verify", p(&t("inc2")), "--wal-archive", p(&arch)]);
    assert!(err.contains(&name), "{err}");
    let err = fails(&[
        "restore",
        "--from",
        p(&t("inc2")),
        "--wal-archive",
        p(&arch),
        "--data-dir",
        p(&t("r-bad")),
        "--latest",
    ]);
    assert!(err.contains(&name), "{err}");
    std::fs::remove_file(&victim).unwrap();
    let next = after[1].file_name().unwrap().to_string_lossy().into_owned();
    for args in [
        vec!["backup", "verify", p(&t("inc2")), "--wal-archive", p(&arch)],
        vec![
            "restore",
            "--from",
            p(&t("inc2")),
            "--wal-archive",
            p(&arch),
            "--data-dir",
            p(&t("r-bad")),
            "--latest",
        ],
    ] {
        let err = fails(&args);
        assert!(err.contains("gap") && err.contains(&next), "{err}");
    }
    assert!(!t("r-bad").exists());
}

#[test]
fn the_archive_keeps_every_acknowledged_write_across_kill_and_shutdown() {
    let tmp = tempfile::tempdir().unwrap();
    let t = |n: &str| tmp.path().join(n);
    let (data, arch) = (t("data"), t("archive"));
    // The default archive timeout (60 s) never fires here: only kill -9 recovery and the
    // clean shutdown bring the last writes to the archive.
    let flags = ["--wal-archive", p(&arch)];
    let server = Server::start(&data, &flags);
    let http = format!("127.0.0.1:{}", server.http_port);
    ok(&["backup", "--server", &http, "--out", p(&t("full"))]);
    let mut c = server.client();
    fill(&mut c, 0, 200, 50);
    server.kill9();
    let server = Server::start(&data, &flags);
    let mut c = server.client();
    fill(&mut c, 200, 50, 50);
    let want = dump_redis(&mut c);
    assert_eq!(want.len(), 250);
    let (clean, log) = server.stop();
    assert!(clean, "{log}");
    ok(&[
        "restore",
        "--from",
        p(&t("full")),
        "--wal-archive",
        p(&arch),
        "--data-dir",
        p(&t("r")),
        "--latest",
    ]);
    assert_same(&served_state(&t("r")), &want, "restore after kill -9");
}

#[test]
fn a_busy_server_holds_backups_to_the_busy_rate() {
    let tmp = tempfile::tempdir().unwrap();
    let t = |n: &str| tmp.path().join(n);
    let server = Server::start(&t("data"), &["--backup-busy-rate", "1M"]);
    let http = format!("127.0.0.1:{}", server.http_port);
    // 3 MB that no compression shrinks.
    let mut c = server.client();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for k in 0..100 {
        let value: Vec<u8> = (0..30_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let _: () = cmd("SET")
            .arg(format!("r{k}"))
            .arg(value)
            .query(&mut c)
            .unwrap();
    }
    // A writer keeps the WAL growing well past the busy rate (1 MB/s) while the first backup
    // runs: 64 KiB a write, so even a disk whose fsyncs take 10 ms (each SET waits for one)
    // sees about 5 MB/s.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (mut c, stop) = (server.client(), std::sync::Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut k = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _: () = cmd("SET")
                    .arg(k % 50)
                    .arg(vec![7u8; 64 << 10])
                    .query(&mut c)
                    .unwrap();
                k += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    ok(&["backup", "--server", &http, "--out", p(&t("busy"))]);
    let busy = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    let stored = manifest(&t("busy"))["stored_bytes"].as_u64().unwrap();
    assert!(stored > 3_000_000, "{stored} bytes");
    // 3 MB at 1 MB/s (less what goes out before the server first sees the load).
    assert!(
        busy >= Duration::from_millis(1500),
        "a busy backup took {busy:?}"
    );
    // Idle (past the second the server stays busy after the last write): full speed.
    std::thread::sleep(Duration::from_millis(1500));
    let started = Instant::now();
    ok(&["backup", "--server", &http, "--out", p(&t("idle"))]);
    let idle = started.elapsed();
    assert!(
        idle < busy,
        "an idle backup took {idle:?}, a busy one {busy:?}"
    );
    let (clean, log) = server.stop();
    assert!(clean, "{log}");
}
