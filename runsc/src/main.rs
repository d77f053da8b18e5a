//! `runsc`: the frontend binary. Parses flags, sets up logging, and runs one
//! subcommand; every failure becomes one line on stderr (and an error entry
//! in `--log`) and exit status 1, or 255 for `exec` as with runc.

mod cli;
mod cmd;
mod logging;

use std::process::ExitCode;

use nix::sys::signal::{SigHandler, Signal};

/// musl's malloc maps and unmaps each block of 4 KiB and more on its own;
/// the cache keeps a few for reuse until the sandbox idles
/// (specutils/src/span_cache.rs).
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: specutils::span_cache::SpanCache = specutils::span_cache::SpanCache;

fn main() -> ExitCode {
    let (parsed, args) = cli::parse(std::env::args_os().collect());
    let cli = match parsed {
        Ok(cli) => cli,
        // --help and --version print as clap renders them; a bad flag or
        // argument is one line, like every other error.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::from(0);
        }
        Err(e) => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            let first = first.trim_start_matches("error: ");
            logging::log_unparsed(&args, first);
            eprintln!("runsc: {first}");
            return ExitCode::from(1);
        }
    };
    let command = cli.command.name();
    if matches!(
        command,
        "list" | "state" | "ps" | "events" | "features" | "wait"
    ) {
        die_on_broken_pipe();
    }
    // Before this process opens anything of its own (a log, a signalfd)
    // at a number the caller left closed, which the container would get.
    if let Err(e) = runsc::container::exec::our_fds(3, cli.command.preserve_fds()) {
        eprintln!("runsc: --preserve-fds: {e}");
        return ExitCode::from(1);
    }
    // Before anything starts a thread: unshare refuses a user namespace to
    // a threaded process.
    if let Err(e) = enter_rootless_namespace(&cli) {
        eprintln!("runsc: {e}");
        return ExitCode::from(1);
    }
    // The sandbox's and gofer's stderr belong to the container.
    let daemon = matches!(command, "boot" | "gofer");
    let logs = logging::init(&cli.global, command);
    let logs_ok = match &logs {
        Ok(()) => true,
        Err(e) => {
            eprintln!("runsc: {e:#}");
            false
        }
    };
    match cmd::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let line = one_line(&e);
            if logs_ok {
                tracing::error!("{line}");
            }
            if !daemon {
                eprintln!("runsc: {line}");
            }
            // runc's exec fails with 255, leaving 0 to 254 to the process,
            // whose status `exec` returns; scripts tell the two apart so.
            ExitCode::from(if command == "exec" { 255 } else { 1 })
        }
    }
}

/// Commands that only print die of SIGPIPE when their reader goes, as
/// runc's do (`runc list | head -1`), instead of failing with EPIPE.
fn die_on_broken_pipe() {
    // SAFETY: restores the default disposition, before any thread starts;
    // no handler of ours is installed or replaced.
    if let Err(e) = unsafe { nix::sys::signal::signal(Signal::SIGPIPE, SigHandler::SigDfl) } {
        eprintln!("runsc: restore SIGPIPE: {e}");
    }
}

/// A command that starts a sandbox, run by a user who is not root, runs in
/// a user namespace of its own where that user is root (see
/// `runsc::container::rootless`); later commands need none.
fn enter_rootless_namespace(cli: &cli::Cli) -> Result<(), specutils::error::OsError> {
    let starts_sandbox = matches!(cli.command.name(), "create" | "run" | "do" | "restore");
    if !starts_sandbox || rustix::process::geteuid().is_root() {
        return Ok(());
    }
    // We are root there now, but still rootless: no cgroup unless
    // delegated (rootless::is_rootless knows).
    runsc::container::rootless::enter_user_namespace()
}

/// The error and its causes on one line, skipping a cause whose text the
/// message before it already carries (our errors often embed their source).
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line.replace('\n', " ")
}
