//! End-to-end tests of the `orbit` binary: `serve` starts, accepts connections and shuts down
//! cleanly on SIGTERM, bad flags are refused with a clear message, and `bench --json` emits the
//! promised fields.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

mod common;

use common::ORBIT;

/// Starts `orbit serve`, waits until it accepts connections, sends SIGTERM, and returns its
/// log.
fn serve_once(data_dir: &std::path::Path) -> String {
    let (ok, log) = common::Server::start(data_dir, &[]).stop();
    assert!(ok, "serve did not exit cleanly:\n{log}");
    log
}

#[test]
fn serve_recovers_and_stops_cleanly_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let first = serve_once(&data);
    assert!(first.contains("stopped cleanly"), "{first}");
    assert!(
        data.join("wal").is_dir(),
        "the data directory must hold the wal"
    );
    // A second start finds the log the first one left: two batches written by the SQL
    // engine at the first start (its object-id counter, and the catalog's mark that its
    // reverse foreign-key entries are complete). A start on existing data writes nothing:
    // a third start finds the same two.
    let second = serve_once(&data);
    assert!(second.contains("replayed_batches=2"), "{second}");
    assert!(second.contains("stopped cleanly"), "{second}");
    let third = serve_once(&data);
    assert!(third.contains("replayed_batches=2"), "{third}");
}

#[test]
fn bad_flags_are_refused_with_a_clear_message() {
    let out = Command::new(ORBIT)
        .args(["serve", "--sync", "sometimes"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown sync mode \"sometimes\""), "{err}");

    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(ORBIT)
        .args(["bench", "nosuchworkload", "--data-dir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown workload \"nosuchworkload\""));

    // One port for two protocols: both listeners would bind it (SO_REUSEPORT) and split the
    // connections; refused.
    let port = common::free_port();
    let out = Command::new(ORBIT)
        .args(["serve", "--http-addr", ""])
        .args(["--resp-addr", &format!("127.0.0.1:{port}")])
        .args(["--pg-addr", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(tmp.path().join("same-port"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("each protocol needs its own port"), "{err}");
}

#[test]
fn environment_variables_set_flags() {
    let out = Command::new(ORBIT)
        .args(["serve"])
        .env("ORBIT_SYNC", "never")
        .output()
        .unwrap();
    assert!(!out.status.success(), "ORBIT_SYNC must be read");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown sync mode \"never\""));
}

#[test]
fn bench_wal_prints_json_results() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(ORBIT)
        .args([
            "bench",
            "wal",
            "--writers",
            "1,4",
            "--seconds",
            "0.3",
            "--backend",
            "std",
            "--json",
            "--data-dir",
        ])
        .arg(tmp.path())
        .env("ORBIT_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for (line, writers) in lines.iter().zip([1, 4]) {
        assert_eq!(line["workload"], "wal");
        assert_eq!(line["writers"], writers);
        for field in [
            "ops_per_sec",
            "mb_per_sec",
            "p50_us",
            "p99_us",
            "p999_us",
            "avg_group_size",
        ] {
            assert!(
                line[field].as_f64().is_some_and(|v| v > 0.0),
                "{field} missing or zero in {line}"
            );
        }
    }
    // The benchmark cleans up after itself.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn inspect_wal_describes_the_committed_fixtures() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("wal/tests/fixtures/v1");
    let out = Command::new(ORBIT)
        .args(["inspect", "wal"])
        .arg(fixtures.join("healthy"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.matches("log 0000000000000b17").count(), 3, "{text}");
    let records: usize = text
        .lines()
        .filter(|l| l.contains(" data records"))
        .filter_map(|l| {
            l.split(" data records")
                .next()?
                .rsplit(' ')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .sum();
    assert_eq!(records, 300, "{text}");
    assert!(
        !text.contains("non-zero bytes follow"),
        "a healthy log has no damage: {text}"
    );

    let out = Command::new(ORBIT)
        .args(["inspect", "wal"])
        .arg(fixtures.join("corrupt"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("non-zero bytes follow"),
        "the flipped bit must show: {text}"
    );

    let out = Command::new(ORBIT)
        .args(["inspect", "wal", "/nonexistent/wal"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("orbit: error:"));
}

#[test]
fn a_config_file_sets_flags_and_flags_override_it() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("orbit.toml");
    std::fs::write(&file, "requirepass = \"from-file\"\nmaxclients = 50\n").unwrap();
    let server = common::Server::start(
        &tmp.path().join("data"),
        &["--config", file.to_str().unwrap()],
    );
    let mut c = redis::Client::open(format!("redis://:from-file@127.0.0.1:{}/", server.port))
        .unwrap()
        .get_connection()
        .unwrap();
    let max: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .query(&mut c)
        .unwrap();
    assert_eq!(max, vec!["maxclients", "50"]);
    drop(server);
    // An unknown key is refused with its name.
    std::fs::write(&file, "colour = \"blue\"\n").unwrap();
    let out = Command::new(ORBIT)
        .args(["serve", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown setting \"colour\""), "{err}");
}

#[test]
fn a_second_server_on_the_same_data_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let first = common::Server::start(&data, &[]);
    let out = Command::new(ORBIT)
        .args([
            "serve",
            "--resp-addr",
            "127.0.0.1:0",
            "--pg-addr",
            "",
            "--http-addr",
            "",
        ])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is in use by another process"), "{err}");
    // The first one never noticed.
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query(&mut first.client())
        .unwrap();
    let (ok, log) = first.stop();
    assert!(ok, "{log}");
}

/// The server's heap gets no transparent huge pages (as Redis keeps them off): with them,
/// mimalloc's fresh mappings were faulted in 2 MiB at a time and zeroed whole, a quarter of a
/// busy server's CPU. After 20,000 writes no anonymous memory of the process is a huge page,
/// whatever mode the kernel's THP is in.
#[test]
fn the_server_heap_gets_no_transparent_huge_pages() {
    let (_tmp, server) = common::start();
    let mut c = server.client();
    for round in 0..20 {
        let mut pipe = redis::pipe();
        for i in 0..1000 {
            pipe.set(format!("key:{round}:{i}"), vec![b'v'; 200])
                .ignore();
        }
        let () = pipe.query(&mut c).unwrap();
    }
    let rollup = std::fs::read_to_string(format!("/proc/{}/smaps_rollup", server.child.id()));
    let huge = rollup
        .unwrap()
        .lines()
        .find(|l| l.starts_with("AnonHugePages:"))
        .map(|l| l.split_whitespace().nth(1).unwrap().to_string());
    assert_eq!(huge.as_deref(), Some("0"), "AnonHugePages kB");
    server.stop();
}
