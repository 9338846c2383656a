//! The admin endpoint's backup routes, on `--http-addr` beside `/metrics`:
//!
//! | request | answer |
//! |---|---|
//! | `POST /backup` | takes a base backup into `DATA/backup-staging/LABEL` (hard links, the WAL it needs); JSON: label, LSNs, times, every file with size and crc32c |
//! | `GET /backup/LABEL/NAME` | the file `NAME` (`000012.sst`, `wal/….walz`) of that backup |
//! | `DELETE /backup/LABEL` | removes the staging copy |
//!
//! Requests are answered on a blocking thread (they read and checksum whole files). Staging
//! copies left by a crash or a vanished client are removed when the server starts. crc32c of
//! tables is computed once per table (tables are immutable and their numbers never reused).
//! Files go out in slices admitted by one [`Pacer`]: held to `--backup-busy-rate` while the
//! server is busy writing, at full speed otherwise.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use orbit_lsm::Db;
use serde_json::json;

use super::pace::{Pacer, SLICE};
use super::{file_crc, now_ms, safe_name};

/// The nice value of the threads answering backup requests.
pub const NICE: i32 = 10;

/// Where staging copies live, inside the data directory.
pub const STAGING: &str = "backup-staging";

/// The backup routes' state.
pub struct Backups {
    db: Arc<Db>,
    staging: PathBuf,
    /// Table file name → (size, crc32c).
    crcs: Mutex<HashMap<String, (u64, u32)>>,
    next: AtomicU64,
    pacer: Pacer,
}

impl Backups {
    /// Routes for `db` in `data_dir`, sending at most `busy_rate` bytes a second while the
    /// server is busy writing (`None`: never held back); removes stale staging copies.
    pub fn new(db: Arc<Db>, data_dir: &Path, busy_rate: Option<u64>) -> anyhow::Result<Backups> {
        let staging = data_dir.join(STAGING);
        if staging.exists() {
            std::fs::remove_dir_all(&staging)
                .with_context(|| format!("cannot remove stale {}", staging.display()))?;
        }
        let wal = Arc::clone(&db);
        Ok(Backups {
            pacer: Pacer::new(busy_rate, Box::new(move || wal.wal_written_lsn())),
            db,
            staging,
            crcs: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
        })
    }

    /// Whether `path` is one of these routes.
    pub fn owns(path: &str) -> bool {
        path == "/backup" || path.starts_with("/backup/")
    }

    /// Answers one request (blocking) and closes the connection.
    pub fn answer(&self, mut stream: TcpStream, method: &str, path: &str) {
        let result = match (method, path.strip_prefix("/backup").unwrap_or_default()) {
            ("POST", "" | "/") => self.start().map(|body| Reply::Json(body.to_string())),
            ("GET", rest) => self.file(rest).map(Reply::File),
            ("DELETE", rest) => self.remove(rest).map(|()| Reply::Json("{}".into())),
            _ => Err(anyhow::anyhow!(
                "405 use POST /backup, GET or DELETE /backup/LABEL"
            )),
        };
        let outcome = match result {
            Ok(Reply::Json(body)) => {
                respond(&mut stream, "200 OK", "application/json", body.as_bytes())
            }
            Ok(Reply::File(path)) => send_file(&mut stream, &path, &self.pacer),
            Err(e) => {
                let text = format!("{e:#}\n");
                let status = match text.get(..3) {
                    Some("404") => "404 Not Found",
                    Some("405") => "405 Method Not Allowed",
                    _ => "500 Internal Server Error",
                };
                tracing::warn!(%method, %path, error = %text.trim(), "admin request failed");
                respond(&mut stream, status, "text/plain", text.as_bytes())
            }
        };
        if let Err(e) = outcome {
            tracing::debug!(error = %e, "admin client went away");
        }
    }

    fn start(&self) -> anyhow::Result<serde_json::Value> {
        let start_unix_ms = now_ms();
        let label = format!(
            "{start_unix_ms}-{}",
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        let dir = self.staging.join(&label);
        let info = match self.db.backup(&dir) {
            Ok(info) => info,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e).context("the backup failed");
            }
        };
        let stop_unix_ms = now_ms();
        let mut files = Vec::new();
        for name in list_files(&dir)? {
            let path = dir.join(&name);
            let (size, crc) = if name.ends_with(".sst") {
                self.table_crc(&name, &path)?
            } else {
                file_crc(&path)?
            };
            files.push(json!({"name": name, "size": size, "crc32c": crc}));
        }
        tracing::info!(%label, files = files.len(), start_lsn = info.start_lsn,
            stop_lsn = info.stop_lsn, "backup staged for download");
        Ok(json!({
            "label": label,
            "log_id": format!("{:016x}", info.log_id),
            "start_lsn": info.start_lsn,
            "stop_lsn": info.stop_lsn,
            "start_unix_ms": start_unix_ms,
            "stop_unix_ms": stop_unix_ms,
            "last_seq": info.checkpoint.last_seq,
            "files": files,
        }))
    }

    fn table_crc(&self, name: &str, path: &Path) -> anyhow::Result<(u64, u32)> {
        let cached = self
            .crcs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .copied();
        if let Some(c) = cached {
            return Ok(c);
        }
        let c = file_crc(path)?;
        self.crcs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), c);
        Ok(c)
    }

    /// `/LABEL/NAME` → the staged file.
    fn file(&self, rest: &str) -> anyhow::Result<PathBuf> {
        let (label, name) = rest
            .strip_prefix('/')
            .and_then(|r| r.split_once('/'))
            .ok_or_else(|| anyhow::anyhow!("404 no such backup file"))?;
        let path = self.label_dir(label)?.join(name);
        if !safe_name(name) || !path.is_file() {
            anyhow::bail!("404 backup {label} has no file {name}");
        }
        Ok(path)
    }

    fn remove(&self, rest: &str) -> anyhow::Result<()> {
        let dir = self.label_dir(rest.trim_start_matches('/'))?;
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))
    }

    fn label_dir(&self, label: &str) -> anyhow::Result<PathBuf> {
        let dir = self.staging.join(label);
        let valid = !label.is_empty() && label.bytes().all(|b| b.is_ascii_digit() || b == b'-');
        if !valid || !dir.is_dir() {
            anyhow::bail!("404 no backup {label} is staged");
        }
        Ok(dir)
    }
}

enum Reply {
    Json(String),
    File(PathBuf),
}

/// Every file of a staged backup: top-level names and `wal/` names, sorted.
fn list_files(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for (prefix, d) in [("", dir.to_path_buf()), ("wal/", dir.join("wal"))] {
        for entry in
            std::fs::read_dir(&d).with_context(|| format!("cannot list {}", d.display()))?
        {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                out.push(format!("{prefix}{}", entry.file_name().to_string_lossy()));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn respond(stream: &mut TcpStream, status: &str, kind: &str, body: &[u8]) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    stream.flush()
}

/// Sends `path` in slices the pacer admits (each slice goes out by sendfile).
fn send_file(stream: &mut TcpStream, path: &Path, pacer: &Pacer) -> std::io::Result<()> {
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n"
    )?;
    let mut sent = 0;
    while sent < len {
        let slice = SLICE.min(len - sent);
        pacer.admit(slice);
        let copied = std::io::copy(&mut (&file).take(slice), stream)?;
        if copied != slice {
            return Err(std::io::Error::other("file changed while being sent"));
        }
        sent += copied;
    }
    stream.flush()
}
