//! Starting and stopping the real `orbit` binary for end-to-end tests.
#![allow(dead_code)] // each test file uses a different part

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

pub mod cluster;
pub mod pg;

pub const ORBIT: &str = env!("CARGO_BIN_EXE_orbit");

/// A loopback port nobody listens on (the OS picks it).
pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// `N` distinct free ports: each probe's listener is held until all are taken (one after
/// another, a released port can come back at once: a server was given one port for RESP and
/// PostgreSQL, and a client hung).
pub fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<std::net::TcpListener> = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

/// A running `orbit serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    /// The address the listeners bind (`127.0.0.1`, or a network namespace's).
    pub host: String,
    pub port: u16,
    /// The monitoring endpoint's port.
    pub http_port: u16,
    /// The PostgreSQL listener's port.
    pub pg_port: u16,
    pub data_dir: PathBuf,
    log: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Starts a server on `data_dir` with `extra` flags and waits until it accepts connections.
    /// Ports come from [`free_port`], which another test may take between our probe and the
    /// server's bind: a start that fails with "address in use" is tried again on new ports.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
        Server::start_at(None, "127.0.0.1", data_dir, extra)
    }

    /// [`Server::start`] inside network namespace `netns` (`ip netns exec`), listening on
    /// `host`.
    pub fn start_at(netns: Option<&str>, host: &str, data_dir: &Path, extra: &[&str]) -> Server {
        let mut attempt = 0;
        loop {
            match Server::try_start(netns, host, data_dir, extra) {
                Ok(server) => return server,
                Err(log) if attempt < 5 && log.contains("in use") => attempt += 1,
                Err(log) => panic!("server never became ready:\n{log}"),
            }
        }
    }

    fn try_start(
        netns: Option<&str>,
        host: &str,
        data_dir: &Path,
        extra: &[&str],
    ) -> Result<Server, String> {
        let [port, http_port, pg_port] = free_ports::<3>();
        let mut command = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, ORBIT]);
                c
            }
            None => Command::new(ORBIT),
        };
        // Two workers unless the test names its own count.
        let threads = if extra.contains(&"--threads") {
            &[][..]
        } else {
            &["--threads", "2"][..]
        };
        let mut child = command
            .arg("serve")
            .args(threads)
            .arg("--resp-addr")
            .arg(format!("{host}:{port}"))
            .arg("--pg-addr")
            .arg(format!("{host}:{pg_port}"))
            .arg("--http-addr")
            .arg(format!("{host}:{http_port}"))
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .env("ORBIT_LOG", "info")
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let sink = Arc::clone(&log);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("ready to accept connections") {
                    let _ = tx.send(());
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        if rx.recv_timeout(Duration::from_secs(120)).is_err() {
            let _ = child.kill();
            let _ = child.wait();
            let _ = reader.join();
            let log = log.lock().unwrap().clone();
            return Err(log);
        }
        Ok(Server {
            child,
            host: host.to_string(),
            port,
            http_port,
            pg_port,
            data_dir: data_dir.to_path_buf(),
            log,
            reader: Some(reader),
        })
    }

    pub fn url(&self) -> String {
        format!("redis://{}:{}/", self.host, self.port)
    }

    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The log once it holds `needle` (stderr is read by another thread, so a line the
    /// server just wrote may not be in [`Server::log`] yet), or as it is after 30 s.
    pub fn log_with(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let log = self.log();
            if log.contains(needle) || std::time::Instant::now() >= deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM; returns whether it exited successfully, and its whole log.
    pub fn stop(mut self) -> (bool, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let ok = self.child.wait().map(|s| s.success()).unwrap_or(false);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        (ok, self.log())
    }

    /// Waits (at most 30 s) for the server to exit by itself (after SHUTDOWN); returns
    /// whether it exited successfully, and its whole log.
    pub fn wait_exit(mut self) -> (bool, String) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let ok = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status.success();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not exit"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        (ok, self.log())
    }

    /// SIGKILL: no shutdown at all.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` on the monitoring endpoint: status line and body.
pub fn http_get(port: u16, path: &str) -> (String, String) {
    http_get_at("127.0.0.1", port, path)
}

/// [`http_get`] on `host`.
pub fn http_get_at(host: &str, port: u16, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect((host, port)).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
        .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// A gauge or counter from `/metrics`.
pub fn metric(http_port: u16, name: &str) -> u64 {
    let (_, body) = http_get(http_port, "/metrics");
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in:\n{body}"))
}

/// A server on a fresh temporary data directory.
pub fn start() -> (tempfile::TempDir, Server) {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &[]);
    (tmp, server)
}

/// `blocked_clients` of `INFO clients`.
pub fn blocked_clients(c: &mut redis::Connection) -> usize {
    let info: String = redis::cmd("INFO").arg("clients").query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Waits (at most 30 s) until `blocked_clients` is `n`.
pub fn await_blocked_clients(c: &mut redis::Connection, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while blocked_clients(c) != n {
        assert!(
            std::time::Instant::now() < deadline,
            "blocked_clients never reached {n}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The error message of a failed command.
pub fn err<T: std::fmt::Debug>(r: redis::RedisResult<T>) -> String {
    let e = r.unwrap_err();
    format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or(""))
        .trim()
        .to_string()
}

/// Asserts that a driver program's run printed exactly `expected_file` (what it printed
/// against PostgreSQL 15), exited successfully and wrote nothing on stderr.
pub fn assert_driver_output(what: &str, out: &std::process::Output, expected_file: &Path) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let expected = std::fs::read_to_string(expected_file).unwrap();
    assert!(
        out.status.success() && stdout == expected && out.stderr.is_empty(),
        "{what} run differs from PostgreSQL's.\n--- expected\n{expected}--- got\n{stdout}--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether `program args` runs and succeeds here (a client tool a test drives).
pub fn program_runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}
