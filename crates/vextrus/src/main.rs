//! `vextrus`: the whole platform in one binary.

mod cli;
mod commands;
mod logging;

use std::process::ExitCode;

use clap::Parser;

/// Threads for blocking work (object storage file reads, DNS): plenty for the cores a server
/// has, and a bound on what a burst of tarball downloads can make resident.
const BLOCKING_THREADS: usize = 32;

fn main() -> ExitCode {
    tune_allocator();
    let cli = cli::Cli::parse();
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().enable_all().max_blocking_threads(BLOCKING_THREADS).build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("error: cannot start the async runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// glibc's malloc keeps what a long-running server frees: each thread that allocates gets an
/// arena (up to eight per core) that others do not reuse, and after a large block (a publish's
/// tarball, a big packument) is freed it raises its mmap threshold so the next ones stay on the
/// heap for good. Two arenas and a fixed 128 KiB threshold keep the resident size close to what
/// is in use — half of it under the registry benchmark, at the same throughput
/// (`bench/results/registry.md`). glibc reads these settings only from the environment at start,
/// so the process re-executes itself once with them; anything already set is left alone.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt as _;
        const THRESHOLD: &str = "MALLOC_MMAP_THRESHOLD_";
        if std::env::var_os(THRESHOLD).is_some() {
            return; // set by the operator, or by the first execution
        }
        let Ok(exe) = std::env::current_exe() else { return };
        let arenas = std::env::var_os("MALLOC_ARENA_MAX").unwrap_or_else(|| "2".into());
        let error = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("MALLOC_ARENA_MAX", arenas)
            .env(THRESHOLD, "131072")
            .exec();
        // Only reached when the exec failed: run untuned.
        eprintln!("warning: cannot re-execute with the allocator settings ({error}); continuing without them");
    }
}
