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
    disable_transparent_huge_pages();
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

/// Turns transparent huge pages off for this process, as Redis does at startup (`disable-thp`).
///
/// mimalloc asks for huge pages on the memory it maps (`MADV_HUGEPAGE`), so each fresh 2 MiB
/// region is faulted in and zeroed whole: a write-heavy server then spent a quarter of its
/// CPU in the kernel's `clear_page_erms` (a Raft leader under `SET -P 16`), and turning THP
/// off took 40% off a cluster's CPU per SET (BENCHMARKS.md, "Transparent huge pages"). The
/// setting covers every thread and mapping of the process, whatever mode
/// `/sys/kernel/mm/transparent_hugepage/enabled` is in. A kernel without the call changes
/// nothing and is not an error.
fn disable_transparent_huge_pages() {
    let _ = rustix::thread::disable_transparent_huge_pages(true);
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
