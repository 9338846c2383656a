//! Test support shared by the crates' tests, compiled only with the `testing` feature (which the
//! crates enable as a dev-dependency, so release builds carry none of it): proptest case
//! counts, replayable seeds, and the harness that SIGKILLs a child process at a random moment.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Cases per property: `PROPTEST_CASES` when set (for long runs), else `default`.
pub fn proptest_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The seed of a randomized test: `ORBIT_SEED` when set, else a random one. Printed, so a
/// failing run can be replayed.
pub fn seed(test: &str) -> u64 {
    let seed = std::env::var("ORBIT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("{test}: ORBIT_SEED={seed}");
    seed
}

/// Runs the current test binary's ignored test `child_test` as a child process with `envs`,
/// waits until it prints a line ending in `ready` (recovery of a long log may take a while: a
/// child killed during it would test nothing), lets it run for `run_for`, kills it with
/// SIGKILL, and returns the `ack A B` lines it printed as `(A, B)` pairs.
pub fn kill_child_after_ready(
    child_test: &str,
    envs: &[(&str, String)],
    run_for: Duration,
) -> Result<Vec<(u64, u64)>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("no test binary: {e}"))?;
    let mut child = Command::new(exe)
        .args([
            "--exact",
            child_test,
            "--include-ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the child: {e}"))?;
    let stdout = child.stdout.take().ok_or("the child has no stdout")?;
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        let mut acks = Vec::new();
        let mut ready = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.ends_with("ready") {
                ready = true;
                let _ = started_tx.send(());
            }
            let parts: Vec<&str> = line.split_whitespace().collect();
            if let ["ack", a, b] = parts[..] {
                if let (Ok(a), Ok(b)) = (a.parse(), b.parse()) {
                    acks.push((a, b));
                }
            }
        }
        (ready, acks)
    });
    let _ = started_rx.recv_timeout(Duration::from_secs(120));
    std::thread::sleep(run_for);
    child
        .kill()
        .map_err(|e| format!("cannot kill the child: {e}"))?; // SIGKILL
    child
        .wait()
        .map_err(|e| format!("cannot reap the child: {e}"))?;
    let (ready, acks) = reader
        .join()
        .map_err(|_| "the reader thread panicked".to_string())?;
    if !ready {
        return Err("the child never reported ready".into());
    }
    Ok(acks)
}
