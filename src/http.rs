//! The monitoring endpoint (`--http-addr`): `GET /metrics` in Prometheus's text format and
//! `GET /health`. A deliberately small HTTP/1.1 responder (one request per connection, request
//! head at most 8 KiB): it serves scrapers and probes, nothing else.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use orbit_resp::Engine;

use crate::backup::server::Backups;
use crate::cluster::Cluster;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const MAX_HEAD: usize = 8 << 10;

/// Serves until the task is dropped.
pub async fn serve(
    listener: TcpListener,
    engine: Arc<Engine>,
    sql: Arc<orbit_exec::SqlEngine>,
    backups: Arc<Backups>,
    cluster: Option<Arc<Cluster>>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let (engine, sql, backups, cluster) = (
            Arc::clone(&engine),
            Arc::clone(&sql),
            Arc::clone(&backups),
            cluster.clone(),
        );
        tokio::spawn(async move {
            // Adding a node waits until it has caught up: untimed.
            let _ = answer(stream, &engine, &sql, backups, cluster.as_deref()).await;
        });
    }
}

async fn answer(
    mut stream: TcpStream,
    engine: &Engine,
    sql: &orbit_exec::SqlEngine,
    backups: Arc<Backups>,
    cluster: Option<&Cluster>,
) -> std::io::Result<()> {
    match tokio::time::timeout(Duration::from_secs(10), read_head(&mut stream)).await {
        Ok(Ok(head)) => respond(stream, head, engine, sql, backups, cluster).await,
        _ => Ok(()),
    }
}

async fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    Ok(head)
}

async fn respond(
    stream: TcpStream,
    head: Vec<u8>,
    engine: &Engine,
    sql: &orbit_exec::SqlEngine,
    backups: Arc<Backups>,
    cluster: Option<&Cluster>,
) -> std::io::Result<()> {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let path_text = String::from_utf8_lossy(path).into_owned();
    if Backups::owns(&path_text) {
        // Backups read and checksum whole files: answered on a blocking thread, untimed.
        let method = String::from_utf8_lossy(method).into_owned();
        let std_stream = stream.into_std()?;
        std_stream.set_nonblocking(false)?;
        let spawned = std::thread::Builder::new()
            .name("orbit-backup".into())
            .spawn(move || {
                // A thread of its own, at a lower priority: copying yields to serving.
                crate::backup::set_thread_nice(crate::backup::server::NICE);
                backups.answer(std_stream, &method, &path_text)
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start a thread for an admin request");
        }
        return Ok(());
    }
    if path_text == "/cluster"
        || path_text.starts_with("/cluster/")
        || path_text.starts_with("/cluster?")
    {
        let method = String::from_utf8_lossy(method).into_owned();
        let (code, body) = crate::cluster::answer(cluster, &method, &path_text).await;
        let status = match code {
            200 => "200 OK",
            400 => "400 Bad Request",
            404 => "404 Not Found",
            409 => "409 Conflict",
            _ => "500 Internal Server Error",
        };
        let kind = if code == 200 {
            "application/json"
        } else {
            "text/plain"
        };
        return write_response(stream, status, kind, &body).await;
    }
    let (status, kind, body) = match (method, path) {
        (b"GET", b"/metrics") => {
            let mut out = metrics(engine);
            vector_metrics(&sql.vector_stats(), &mut out);
            if let Some(c) = cluster {
                crate::cluster::metrics(&c.status(), &mut out);
            }
            ("200 OK", "text/plain; version=0.0.4", out)
        }
        (b"GET", b"/health") => match engine.store().db().stats().wal.poisoned {
            false => (
                "200 OK",
                "text/plain",
                match cluster.map(Cluster::status) {
                    // Probes read the first line; the rest says where the node stands.
                    Some(s) => format!(
                        "ok\nrole {} term {} leader {}\n",
                        s.role,
                        s.term,
                        s.leader.map_or("none".to_string(), |l| l.to_string())
                    ),
                    None => "ok\n".to_string(),
                },
            ),
            true => (
                "503 Service Unavailable",
                "text/plain",
                "storage failed\n".to_string(),
            ),
        },
        (b"GET", _) => ("404 Not Found", "text/plain", "not found\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_string(),
        ),
    };
    write_response(stream, status, kind, &body).await
}

async fn write_response(
    mut stream: TcpStream,
    status: &str,
    kind: &str,
    body: &str,
) -> std::io::Result<()> {
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// The vector indexes' node counts (`orbit_exec::AnnStats`), appended to `out`.
fn vector_metrics(s: &orbit_exec::AnnStats, out: &mut String) {
    let _ = write!(
        out,
        "# HELP orbit_vector_index_nodes Nodes of the open HNSW indexes: live, and vacant slots (reclaimed, reused by later inserts).\n\
         # TYPE orbit_vector_index_nodes gauge\n\
         orbit_vector_index_nodes{{state=\"live\"}} {}\n\
         orbit_vector_index_nodes{{state=\"vacant\"}} {}\n\
         # HELP orbit_vector_nodes_reclaimed_total HNSW nodes of deleted or updated rows removed by the background reclaimer.\n\
         # TYPE orbit_vector_nodes_reclaimed_total counter\n\
         orbit_vector_nodes_reclaimed_total {}\n\
         # HELP orbit_vector_reclaim_rounds_total Rounds of the vector index reclaimer completed.\n\
         # TYPE orbit_vector_reclaim_rounds_total counter\n\
         orbit_vector_reclaim_rounds_total {}\n",
        s.live, s.vacant, s.reclaimed, s.rounds
    );
}

/// Prometheus text exposition of the server's counters.
pub fn metrics(engine: &Engine) -> String {
    let db = engine.store().db().stats();
    let s = engine.stats();
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: String| {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        );
    };
    metric(
        "orbit_commands_total",
        "counter",
        "Commands processed.",
        s.commands.to_string(),
    );
    metric(
        "orbit_command_seconds_total",
        "counter",
        "Time spent running commands (excluding waits for durability).",
        format!("{:.6}", s.command_nanos as f64 / 1e9),
    );
    metric(
        "orbit_resp_runs_handed_total",
        "counter",
        "Runs of commands on one key handed to the worker holding the key's lock, which ran them with its own.",
        s.runs_handed.to_string(),
    );
    metric(
        "orbit_connections_total",
        "counter",
        "Connections accepted.",
        s.connections.to_string(),
    );
    metric(
        "orbit_connected_clients",
        "gauge",
        "Connected clients.",
        s.clients.to_string(),
    );
    metric(
        "orbit_wal_records_total",
        "counter",
        "WAL records written.",
        db.wal.records.to_string(),
    );
    metric(
        "orbit_wal_bytes_total",
        "counter",
        "WAL payload bytes written.",
        db.wal.bytes.to_string(),
    );
    metric(
        "orbit_wal_syncs_total",
        "counter",
        "WAL fdatasyncs (group commits).",
        db.wal.syncs.to_string(),
    );
    metric(
        "orbit_wal_groups_total",
        "counter",
        "WAL write groups.",
        db.wal.groups.to_string(),
    );
    metric(
        "orbit_wal_durable_lsn",
        "gauge",
        "WAL position known durable.",
        db.wal.durable_lsn.to_string(),
    );
    metric(
        "orbit_wal_written_lsn",
        "gauge",
        "End of the WAL as written.",
        db.wal.written_lsn.to_string(),
    );
    if let Some(a) = engine.store().db().archive_status() {
        let lag = db.wal.written_lsn.saturating_sub(a.archived_lsn);
        for (name, kind, help, value) in [
            (
                "orbit_wal_archived_lsn",
                "gauge",
                "Every WAL record before this LSN is archived.",
                a.archived_lsn,
            ),
            (
                "orbit_wal_archive_lag_bytes",
                "gauge",
                "WAL bytes written but not yet archived.",
                lag,
            ),
            (
                "orbit_wal_archive_pending_segments",
                "gauge",
                "Closed WAL segments waiting for the archive.",
                a.pending_segments as u64,
            ),
            (
                "orbit_wal_archived_segments_total",
                "counter",
                "WAL segments archived since start.",
                a.archived_segments,
            ),
            (
                "orbit_wal_archive_failures_total",
                "counter",
                "Failed attempts to archive a segment (each is retried).",
                a.failures,
            ),
        ] {
            metric(name, kind, help, value.to_string());
        }
    }
    metric(
        "orbit_visible_seq",
        "gauge",
        "Last sequence number visible to readers.",
        db.visible_seq.to_string(),
    );
    metric(
        "orbit_flush_bytes_total",
        "counter",
        "Bytes written by memtable flushes.",
        db.flush_bytes.to_string(),
    );
    metric(
        "orbit_compactions_total",
        "counter",
        "Compactions run (rewrites).",
        db.compactions.to_string(),
    );
    metric(
        "orbit_trivial_moves_total",
        "counter",
        "Tables moved down without rewriting.",
        db.trivial_moves.to_string(),
    );
    metric(
        "orbit_compaction_write_bytes_total",
        "counter",
        "Bytes written by compactions.",
        db.compaction_write_bytes.to_string(),
    );
    metric(
        "orbit_delayed_writes_total",
        "counter",
        "Writes paced while compaction was behind.",
        db.delayed_writes.to_string(),
    );
    metric(
        "orbit_pending_flushes",
        "gauge",
        "Immutable memtables waiting for flush.",
        db.pending_flushes.to_string(),
    );
    metric(
        "orbit_block_cache_hits_total",
        "counter",
        "Block cache hits.",
        db.cache.hits.to_string(),
    );
    metric(
        "orbit_block_cache_misses_total",
        "counter",
        "Block cache misses.",
        db.cache.misses.to_string(),
    );
    metric(
        "orbit_block_cache_bytes",
        "gauge",
        "Bytes held by the block cache.",
        db.cache.used_bytes.to_string(),
    );
    let _ = writeln!(
        out,
        "# HELP orbit_command_latency_seconds Command latency, execution to reply written (durability waits included).\n# TYPE orbit_command_latency_seconds histogram"
    );
    for (i, count) in s.latency_buckets.iter().enumerate() {
        match orbit_resp::LATENCY_BUCKETS_US.get(i) {
            Some(us) => {
                let le = *us as f64 / 1e6;
                let _ = writeln!(
                    out,
                    "orbit_command_latency_seconds_bucket{{le=\"{le}\"}} {count}"
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "orbit_command_latency_seconds_bucket{{le=\"+Inf\"}} {count}"
                );
                let _ = writeln!(out, "orbit_command_latency_seconds_count {count}");
            }
        }
    }
    let _ = writeln!(
        out,
        "orbit_command_latency_seconds_sum {:.6}",
        s.latency_sum_us as f64 / 1e6
    );
    let _ = writeln!(
        out,
        "# HELP orbit_tables Tables per level.\n# TYPE orbit_tables gauge"
    );
    for (level, n) in db.tables_per_level.iter().enumerate() {
        let _ = writeln!(out, "orbit_tables{{level=\"{level}\"}} {n}");
    }
    out
}
