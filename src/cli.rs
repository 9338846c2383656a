//! Command-line interface. Every flag can also come from an `ORBIT_*` environment variable.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use orbit_wal::{Backend, SyncMode};

/// Orbit: a storage-engine-centric database.
#[derive(Debug, Parser)]
#[command(name = "orbit", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the data directory, recover it, and serve until SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Take an online base backup of a running server, or verify or list backups.
    Backup(BackupArgs),
    /// Restore a backup (and the WAL archive) into a new data directory.
    Restore(RestoreArgs),
    /// Storage micro-benchmarks (db_bench style).
    Bench(BenchArgs),
    /// Print on-disk files in human form.
    Inspect(InspectArgs),
    /// Look at or change the membership of a running Raft cluster.
    Cluster(ClusterCmdArgs),
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(subcommand)]
    pub target: InspectTarget,
}

#[derive(Debug, Subcommand)]
pub enum InspectTarget {
    /// A WAL segment file, or every segment of a WAL directory (e.g. ./orbit-data/wal).
    Wal {
        /// Segment file or directory.
        path: PathBuf,
        /// List every frame, not just a summary per segment.
        #[arg(long)]
        frames: bool,
    },
}

/// Storage options shared by `serve` and `bench`.
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// When a write is acknowledged: `sync` (after fdatasync), `periodic` (fdatasync every
    /// --sync-interval-ms), `none`.
    #[arg(long, env = "ORBIT_SYNC", default_value = "sync", value_parser = parse_sync_kind)]
    pub sync: SyncKind,
    /// Interval of the periodic fdatasync, in milliseconds.
    #[arg(long, env = "ORBIT_SYNC_INTERVAL_MS", default_value_t = 1000)]
    pub sync_interval_ms: u64,
    /// WAL I/O backend: `auto` (the fastest measured: today `std` in `sync` mode, `mmap`
    /// otherwise), `uring` (io_uring), `std` (pwritev + fdatasync) or `mmap` (unsynced groups
    /// copied into a shared mapping of the segment; `sync` mode as `std`).
    #[arg(long, env = "ORBIT_WAL_BACKEND", default_value = "auto")]
    pub wal_backend: Backend,
    /// Size of each WAL segment file, in bytes.
    #[arg(long, env = "ORBIT_WAL_SEGMENT_SIZE", default_value_t = orbit_wal::DEFAULT_SEGMENT_SIZE)]
    pub wal_segment_size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncKind {
    Sync,
    Periodic,
    None,
}

fn parse_sync_kind(s: &str) -> Result<SyncKind, String> {
    match s {
        "sync" => Ok(SyncKind::Sync),
        "periodic" => Ok(SyncKind::Periodic),
        "none" => Ok(SyncKind::None),
        other => Err(format!(
            "unknown sync mode \"{other}\" (expected sync, periodic or none)"
        )),
    }
}

/// How PostgreSQL clients authenticate (`--pg-auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgAuthMethod {
    Trust,
    ScramSha256,
}

fn parse_pg_auth(s: &str) -> Result<PgAuthMethod, String> {
    match s.to_ascii_lowercase().as_str() {
        "trust" => Ok(PgAuthMethod::Trust),
        "scram-sha-256" => Ok(PgAuthMethod::ScramSha256),
        _ => Err(format!(
            "unknown authentication method \"{s}\" (expected trust or scram-sha-256)"
        )),
    }
}

fn parse_isolation(s: &str) -> Result<orbit_txn::Isolation, String> {
    orbit_txn::Isolation::from_sql(&s.replace(['-', '_'], " ")).ok_or_else(|| {
        format!("unknown isolation \"{s}\" (read-committed, repeatable-read, serializable)")
    })
}

impl SyncKind {
    /// The WAL's mode for this kind; `interval_ms` applies to `periodic`.
    pub fn mode(self, interval_ms: u64) -> SyncMode {
        match self {
            SyncKind::Sync => SyncMode::Sync,
            SyncKind::Periodic => {
                SyncMode::Periodic(std::time::Duration::from_millis(interval_ms.max(1)))
            }
            SyncKind::None => SyncMode::None,
        }
    }
}

impl StorageArgs {
    pub fn sync_mode(&self) -> SyncMode {
        self.sync.mode(self.sync_interval_ms)
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Data directory (created if missing).
    #[arg(long, env = "ORBIT_DATA_DIR", default_value = "./orbit-data")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Address of the Redis protocol listener.
    #[arg(long, env = "ORBIT_RESP_ADDR", default_value = "127.0.0.1:6379")]
    pub resp_addr: String,
    /// Address of the PostgreSQL protocol listener; empty: none.
    #[arg(long, env = "ORBIT_PG_ADDR", default_value = "127.0.0.1:5432")]
    pub pg_addr: String,
    /// Password of the PostgreSQL superuser `postgres`; setting one (or --pg-user) turns on
    /// SCRAM-SHA-256 authentication.
    #[arg(long, env = "ORBIT_PG_PASSWORD", hide_env_values = true)]
    pub pg_password: Option<String>,
    /// A further PostgreSQL user, as NAME:PASSWORD (or NAME:SCRAM-SHA-256$... verifier);
    /// repeatable. In ORBIT_PG_USERS one per line; in the config file `pg-users = [...]`.
    #[arg(
        long = "pg-user",
        value_name = "NAME:PASSWORD",
        env = "ORBIT_PG_USERS",
        value_delimiter = '\n',
        hide_env_values = true
    )]
    pub pg_users: Vec<String>,
    /// PostgreSQL client authentication: `trust` or `scram-sha-256` (default: scram-sha-256
    /// when a password is configured, else trust).
    #[arg(long, env = "ORBIT_PG_AUTH", value_parser = parse_pg_auth)]
    pub pg_auth: Option<PgAuthMethod>,
    /// PEM certificate chain for TLS on the PostgreSQL listener (with --tls-key).
    #[arg(long, env = "ORBIT_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "ORBIT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// A TOML file of settings (keys are these flags' names); flags and `ORBIT_*` variables
    /// override it.
    #[arg(long, env = "ORBIT_CONFIG")]
    pub config: Option<std::path::PathBuf>,
    /// Address of the monitoring endpoint (`/metrics`, `/health`); empty: none.
    #[arg(long, env = "ORBIT_HTTP_ADDR", default_value = "127.0.0.1:9187")]
    pub http_addr: String,
    /// Worker threads serving connections (0: one per core).
    #[arg(long, env = "ORBIT_THREADS", default_value_t = 0)]
    pub threads: usize,
    /// Password clients must give with AUTH (Redis's `requirepass`); empty: none.
    #[arg(long, env = "ORBIT_REQUIREPASS")]
    pub requirepass: Option<String>,
    /// Most client connections at once.
    #[arg(long, env = "ORBIT_MAXCLIENTS", default_value_t = 10_000)]
    pub maxclients: usize,
    /// Close connections idle this many seconds (0: never).
    #[arg(long, env = "ORBIT_TIMEOUT", default_value_t = 0)]
    pub timeout: u64,
    /// Copy every closed WAL segment into this directory (zstd-compressed, checksummed) for
    /// point-in-time restore.
    #[arg(long, env = "ORBIT_WAL_ARCHIVE")]
    pub wal_archive: Option<PathBuf>,
    /// With --wal-archive: close and archive the active segment at least this often when it
    /// holds records (`500ms`, `1s`, `5m`).
    #[arg(long, env = "ORBIT_ARCHIVE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub archive_timeout: std::time::Duration,
    /// While the server is busy writing, send backups (`orbit backup`) at most this many
    /// bytes a second in all (`32M`, `1G`; `0`: no limit); an idle server sends at full speed.
    #[arg(long, env = "ORBIT_BACKUP_BUSY_RATE", default_value = "32M", value_parser = parse_rate_or_zero)]
    pub backup_busy_rate: u64,
    /// Memory all running SQL queries may hold for intermediate results (rows scanned,
    /// joined, grouped or sorted) before a query fails with SQLSTATE 53200 instead of
    /// exhausting the machine: a percentage of physical memory (`50%`) or a size (`8G`,
    /// `512M`).
    #[arg(long, env = "ORBIT_QUERY_MEMORY", default_value = "50%", value_parser = parse_memory)]
    pub query_memory: MemoryLimit,
    /// Block cache of the storage engine (uncompressed table blocks, shared by every
    /// reader): a percentage of physical memory (`25%`) or a size (`256M`, `2G`). It fills
    /// only as blocks are read.
    #[arg(long, env = "ORBIT_CACHE_SIZE", default_value = "25%", value_parser = parse_memory)]
    pub cache_size: MemoryLimit,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Replication: a node of a Raft cluster (`docs/replication.md`). Without `--node-id` the
/// server runs alone, committing to its own WAL.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// This node's id in the cluster (a positive integer, unique among --peers).
    #[arg(long, env = "ORBIT_NODE_ID", requires = "raft_addr")]
    pub node_id: Option<u64>,
    /// Address this node's Raft listener binds (other nodes reach it at its --peers entry).
    #[arg(long, env = "ORBIT_RAFT_ADDR", requires = "node_id")]
    pub raft_addr: Option<String>,
    /// Every voting member, this node included: `1=host:port,2=host:port,3=host:port`
    /// (Raft addresses). A node whose Raft log is empty starts the cluster with them.
    #[arg(long, env = "ORBIT_PEERS", requires = "node_id", value_parser = parse_peers)]
    pub peers: Option<Peers>,
    /// Join an existing cluster instead of starting one: wait to be added with
    /// `orbit cluster add` (no --peers needed).
    #[arg(
        long,
        env = "ORBIT_JOIN",
        requires = "node_id",
        conflicts_with = "peers"
    )]
    pub join: bool,
    /// On a follower, send writes (and reads not opted into follower reads) to the leader
    /// and relay its replies, instead of refusing them: Redis commands one by one, and
    /// PostgreSQL sessions whole (`docs/replication.md`).
    #[arg(long, env = "ORBIT_FORWARD_WRITES", requires = "node_id")]
    pub forward_writes: bool,
    /// A follower serves follower reads (`READONLY`, `orbit.read_from = 'follower'`) only
    /// while it heard from its leader within this many milliseconds; past that, it refuses
    /// them (SQLSTATE 55000) rather than serve older data.
    #[arg(long, env = "ORBIT_MAX_STALENESS_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..))]
    pub max_staleness_ms: u64,
    /// Raft log entries between snapshots of the state machine. A follower further behind
    /// than the log keeps (about this many entries) is sent a snapshot, streamed from a file
    /// in `<data-dir>/raft-snapshots`, instead of the entries.
    #[arg(long, env = "ORBIT_RAFT_SNAPSHOT_EVERY", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub raft_snapshot_every: u64,
}

/// `orbit cluster`: look at and change a running cluster through a node's admin endpoint.
#[derive(Debug, Args)]
pub struct ClusterCmdArgs {
    /// The admin (--http-addr) endpoint of a node; changes must go to the leader's.
    #[arg(long, global = true, default_value = "127.0.0.1:9187")]
    pub server: String,
    #[command(subcommand)]
    pub action: ClusterAction,
}

#[derive(Debug, Subcommand)]
pub enum ClusterAction {
    /// Print the node's view of the cluster: role, term, leader, members, log positions and
    /// (on the leader) each member's lag.
    Status,
    /// Add a node (started with `orbit serve --node-id N --raft-addr ... --join`): it
    /// catches up as a learner, then becomes a voter.
    Add {
        /// The new node's id.
        #[arg(long)]
        id: u64,
        /// The new node's Raft address.
        #[arg(long)]
        raft_addr: String,
    },
    /// Remove a node from the cluster.
    Remove {
        /// The node's id.
        #[arg(long)]
        id: u64,
    },
}

/// `--peers`: node ids and their Raft addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peers(pub std::collections::BTreeMap<u64, String>);

fn parse_peers(s: &str) -> Result<Peers, String> {
    let mut map = std::collections::BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, addr) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}` is not ID=HOST:PORT"))?;
        let id: u64 = id
            .trim()
            .parse()
            .map_err(|_| format!("`{id}` is not a node id (a positive integer)"))?;
        if id == 0 {
            return Err("node ids start at 1".into());
        }
        let addr = addr.trim();
        if addr
            .rsplit_once(':')
            .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
        {
            return Err(format!("`{addr}` is not HOST:PORT"));
        }
        if map.insert(id, addr.to_string()).is_some() {
            return Err(format!("node {id} is listed twice"));
        }
    }
    if map.is_empty() {
        return Err("no peers given".into());
    }
    Ok(Peers(map))
}

/// A memory size, absolute or as a share of physical memory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MemoryLimit {
    Bytes(u64),
    Percent(f64),
}

impl MemoryLimit {
    /// The limit in bytes on a machine with `physical` bytes of memory.
    pub fn bytes(self, physical: u64) -> u64 {
        match self {
            MemoryLimit::Bytes(b) => b,
            MemoryLimit::Percent(p) => (physical as f64 * p / 100.0) as u64,
        }
    }
}

/// `50%` (of physical memory), or a size like [`parse_rate`]'s (`512M`, `8G`).
fn parse_memory(s: &str) -> Result<MemoryLimit, String> {
    if let Some(p) = s.trim().strip_suffix('%') {
        return match p.trim().parse::<f64>() {
            Ok(p) if p > 0.0 && p <= 100.0 => Ok(MemoryLimit::Percent(p)),
            _ => Err(format!("\"{s}\" is not a percentage between 0 and 100")),
        };
    }
    parse_rate(s)
        .map(MemoryLimit::Bytes)
        .map_err(|_| format!("\"{s}\" is not a size like 512M or 8G, or a percentage like 50%"))
}

/// `500K`, `200M`, `1G` (binary multiples) or plain bytes, per second.
fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim().trim_end_matches("/s").trim_end_matches(['B', 'b']);
    let (num, mult) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&t[..t.len() - 1], 1 << 20),
        Some('G' | 'g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("\"{s}\" is not a rate like 500K, 200M or 1G"))
}

/// [`parse_rate`], or `0` for no limit.
fn parse_rate_or_zero(s: &str) -> Result<u64, String> {
    match s.trim() {
        "0" => Ok(0),
        _ => parse_rate(s).map_err(|e| format!("{e} (or 0 for no limit)")),
    }
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be positive".into()),
        Err(e) => Err(format!(
            "\"{s}\" is not a duration like 500ms, 1s or 5m: {e}"
        )),
    }
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub action: Option<BackupAction>,
    /// The running server's admin endpoint (its --http-addr).
    #[arg(long, default_value = "127.0.0.1:9187")]
    pub server: String,
    /// The new backup's directory (must not exist or be empty).
    #[arg(long, required = true)]
    pub out: Option<PathBuf>,
    /// Store only the files this backup (and its parents) lack.
    #[arg(long)]
    pub incremental_from: Option<PathBuf>,
    /// Copy at most this many bytes per second (`200M`, `1G`; default: no limit).
    #[arg(long, value_parser = parse_rate)]
    pub max_rate: Option<u64>,
    /// Nice value of the backup while it copies (0 normal .. 19 lowest): the server's own
    /// backup threads run at 10, so a backup yields the CPU to serving.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(i32).range(0..=19))]
    pub nice: i32,
}

#[derive(Debug, Subcommand)]
pub enum BackupAction {
    /// Check every file, the parent chain and the WAL of a backup (and the archive after it).
    Verify {
        dir: PathBuf,
        /// Also check the archived WAL from the backup's end.
        #[arg(long)]
        wal_archive: Option<PathBuf>,
    },
    /// List a backup, or the backups in a directory.
    List { dir: PathBuf },
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true)))]
pub struct RestoreArgs {
    /// The backup to restore.
    #[arg(long)]
    pub from: PathBuf,
    /// The WAL archive to replay past the backup's end.
    #[arg(long)]
    pub wal_archive: Option<PathBuf>,
    /// The new data directory (must not exist or be empty).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Stop at this time (RFC 3339, e.g. 2026-12-02T10:30:00Z).
    #[arg(long, group = "target", value_parser = crate::backup::parse_rfc3339)]
    pub to_time: Option<i64>,
    /// Stop at the record starting at this LSN.
    #[arg(long, group = "target")]
    pub to_lsn: Option<u64>,
    /// Replay everything the backup and the archive hold.
    #[arg(long, group = "target")]
    pub latest: bool,
    /// Stop just before the target instead of just after it.
    #[arg(long)]
    pub exclusive: bool,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Comma-separated workloads, run in order on one database: `wal`, or db_bench's
    /// `fillseq`, `fillrandom`, `overwrite`, `readrandom`, `readmissing`, `seekrandom`,
    /// `readwhilewriting`, `mix` (90% reads, 10% writes); or the transaction layer's `txn`,
    /// `txnput` (single-key fast path) and `lsmput` (its anchor: the same writes to the LSM).
    pub workloads: String,
    /// Storage engine for the db_bench workloads (`orbit`; comparison engines are a build
    /// feature still to come).
    #[arg(long, default_value = "orbit")]
    pub engine: String,
    /// Operations per workload (keys in the key space).
    #[arg(long, default_value_t = 1_000_000)]
    pub num: u64,
    /// Key size in bytes (keys are zero-padded decimal numbers).
    #[arg(long, default_value_t = 16)]
    pub key_size: usize,
    /// Value size in bytes (half compressible, like db_bench's default).
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Threads per workload (readwhilewriting: reader threads, plus one writer).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Puts per write batch.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Directory for the benchmark's files (a fresh subdirectory is used and removed).
    #[arg(long, env = "ORBIT_BENCH_DIR", default_value = "./orbit-bench")]
    pub data_dir: PathBuf,
    /// Concurrent writers; a comma-separated list runs each in turn.
    #[arg(long, default_value = "1", value_delimiter = ',')]
    pub writers: Vec<usize>,
    /// How writers run: `threads` (an OS thread each, blocking) or `tasks` (async tasks over
    /// one single-threaded runtime per core, as the server runs connections); a list runs each.
    #[arg(long, default_value = "threads", value_delimiter = ',', value_parser = parse_writer_mode)]
    pub mode: Vec<WriterMode>,
    /// Payload bytes per record.
    #[arg(long, default_value_t = 100)]
    pub record_size: usize,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// WAL backends to measure (`uring`, `std`, `mmap`, `auto`); a comma-separated list runs
    /// each.
    #[arg(long, default_value = "auto", value_delimiter = ',')]
    pub backend: Vec<Backend>,
    /// Print one JSON object per result line instead of text.
    #[arg(long)]
    pub json: bool,
    /// Keep the storage benchmark's database (printing its directory) instead of deleting
    /// it: e.g. to serve or back up a database of a known size.
    #[arg(long)]
    pub keep: bool,
    /// `ts`: the RESP server to load (Orbit, or a RedisTimeSeries for comparison).
    #[arg(long, default_value = "127.0.0.1:6379")]
    pub server: String,
    /// `ts`: series to create and fill.
    #[arg(long, default_value_t = 1000)]
    pub series: u64,
    /// `ts`: samples per series (one a second), plus one series `ts:big` with `--big` samples.
    #[arg(long, default_value_t = 1000)]
    pub samples: u64,
    /// `ts`: samples of the series `ts:big` that TS.RANGE aggregates (0: none).
    #[arg(long, default_value_t = 1_000_000)]
    pub big: u64,
    /// `ts`: commands in flight per connection.
    #[arg(long, default_value_t = 16)]
    pub pipeline: usize,
    /// Durability of each write: `sync` (after fdatasync; the default), `periodic` or `none`.
    #[arg(long, default_value = "sync", value_parser = parse_sync_kind)]
    pub sync: SyncKind,
    /// Block cache size in bytes for the db_bench workloads.
    #[arg(long, default_value_t = 256 << 20)]
    pub cache_bytes: usize,
    /// Keys the txn workloads pick from.
    #[arg(long, default_value_t = 100_000)]
    pub keys: u64,
    /// Keys read and rewritten per transaction (txn workload).
    #[arg(long, default_value_t = 4)]
    pub ops_per_txn: usize,
    /// Isolation level of the txn workload: `read-committed`, `repeatable-read`,
    /// `serializable`.
    #[arg(long, default_value = "serializable", value_parser = parse_isolation)]
    pub isolation: orbit_txn::Isolation,
    /// Segment size for the wal workload, in bytes.
    #[arg(long, default_value_t = orbit_wal::DEFAULT_SEGMENT_SIZE)]
    pub wal_segment_size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriterMode {
    Threads,
    Tasks,
}

impl WriterMode {
    pub fn name(self) -> &'static str {
        match self {
            WriterMode::Threads => "threads",
            WriterMode::Tasks => "tasks",
        }
    }
}

fn parse_writer_mode(s: &str) -> Result<WriterMode, String> {
    match s {
        "threads" => Ok(WriterMode::Threads),
        "tasks" => Ok(WriterMode::Tasks),
        other => Err(format!(
            "unknown writer mode \"{other}\" (expected threads or tasks)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_durations_parse_or_explain() {
        assert_eq!(parse_rate("100M"), Ok(100 << 20));
        assert_eq!(parse_rate("1G/s"), Ok(1 << 30));
        assert_eq!(parse_rate("512k"), Ok(512 << 10));
        assert_eq!(parse_rate("4096"), Ok(4096));
        assert_eq!(parse_rate_or_zero("0"), Ok(0));
        assert_eq!(parse_rate_or_zero("64M"), Ok(64 << 20));
        assert!(parse_rate("0").is_err() && parse_rate_or_zero("-1").is_err());
        for bad in ["", "0", "fast", "-5M", "99999999999999999999G"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_duration("500ms"),
            Ok(std::time::Duration::from_millis(500))
        );
        assert_eq!(
            parse_duration("5m"),
            Ok(std::time::Duration::from_secs(300))
        );
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").unwrap_err().contains("like 500ms"));
    }

    #[test]
    fn postgres_security_flags_parse() {
        let cli = Cli::try_parse_from([
            "orbit",
            "serve",
            "--pg-user",
            "alice:a:b",
            "--pg-user",
            "bob:x",
            "--pg-auth",
            "SCRAM-SHA-256",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(args.pg_users, ["alice:a:b", "bob:x"]);
        assert_eq!(args.pg_auth, Some(PgAuthMethod::ScramSha256));
        assert_eq!(args.tls_key, Some(PathBuf::from("k.pem")));
        assert_eq!(parse_pg_auth("trust"), Ok(PgAuthMethod::Trust));
        assert!(parse_pg_auth("md5")
            .unwrap_err()
            .contains("trust or scram-sha-256"));
        let alone = Cli::try_parse_from(["orbit", "serve", "--tls-key", "k.pem"]);
        assert!(alone.unwrap_err().to_string().contains("--tls-cert"));
    }
}
