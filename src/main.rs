//! The `orbit` binary: parses the command line and hands off to a subcommand.

mod backup;
mod balance;
mod bench;
mod cli;
mod cluster;
mod config;
mod http;
mod inspect;
mod pg_setup;
mod serve;

use clap::Parser;

/// mimalloc: the server and the benchmarks allocate small buffers on every operation, where
/// it measures faster than glibc's allocator (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    transparent_huge_pages();
    let args: Vec<String> = std::env::args().collect();
    if let Some(path) = config::path_from_args(&args) {
        if let Err(e) = config::apply(std::path::Path::new(&path)) {
            eprintln!("orbit: error: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    }
    let cli = cli::Cli::parse();
    init_logging();
    let result = match cli.command {
        cli::Command::Serve(args) => serve::run(args),
        cli::Command::Backup(args) => run_backup(args),
        cli::Command::Restore(args) => backup::restore::run(&backup::restore::Request {
            from: args.from,
            wal_archive: args.wal_archive,
            data_dir: args.data_dir,
            target: match (args.to_time, args.to_lsn) {
                (Some(t), _) => backup::restore::Target::Time(t),
                (None, Some(n)) => backup::restore::Target::Lsn(n),
                (None, None) => backup::restore::Target::Latest,
            },
            exclusive: args.exclusive,
        }),
        cli::Command::Bench(args) => bench::run(args),
        cli::Command::Inspect(args) => inspect::run(args),
        cli::Command::Cluster(args) => cluster::command(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // A reader that went away (`orbit inspect ... | head`) ends the output, not an error.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            // The one place the whole error chain is printed.
            eprintln!("orbit: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Keeps transparent huge pages off the allocator's memory, as Redis does (`disable-thp`).
///
/// With them, each fresh 2 MiB of heap is faulted in and zeroed whole: a Raft leader under
/// `SET -P 16` spent a quarter of its CPU in the kernel's `clear_page_erms`, and without them
/// a three-node cluster's CPU per SET fell by 40% (BENCHMARKS.md, "Transparent huge pages").
/// In the kernel's `madvise` mode only memory asked for gets huge pages: mimalloc is built not
/// to ask (its `no_thp` feature), and the vector index's arenas still ask (`orbit-index`). In
/// `always` mode every mapping would get them, so they are turned off for the whole process.
/// A kernel without the setting changes nothing and is not an error.
fn transparent_huge_pages() {
    let mode = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled");
    if mode.is_ok_and(|m| m.contains("[always]")) {
        let _ = rustix::thread::disable_transparent_huge_pages(true);
    }
}

fn run_backup(args: cli::BackupArgs) -> anyhow::Result<()> {
    match (args.action, args.out) {
        (Some(cli::BackupAction::Verify { dir, wal_archive }), _) => {
            let m = backup::check::verify(&dir, false)?;
            match wal_archive {
                Some(arch) => backup::check::verify_archive(&m, &arch),
                None => Ok(()),
            }
        }
        (Some(cli::BackupAction::List { dir }), _) => backup::check::list(&dir),
        (None, Some(out)) => backup::take::run(&backup::take::Options {
            server: &args.server,
            out: &out,
            parent: args.incremental_from.as_deref(),
            max_rate: args.max_rate,
            nice: args.nice,
        }),
        (None, None) => anyhow::bail!("orbit backup needs --out DIR (or verify / list)"),
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ORBIT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
