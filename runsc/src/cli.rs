//! Command-line flags, in runc's and gVisor's spellings.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::cmd;

#[derive(Debug, Parser)]
#[command(
    name = "runsc",
    version,
    about = "runsc-rs: a sandboxed OCI container runtime",
    // Go's flag package, which runc and gVisor use, accepts `--flag=value`
    // and `--flag value`; clap does too. Bool flags also take `=true`.
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalFlags,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, clap::Args)]
pub struct GlobalFlags {
    /// Directory holding container state [default: /run/runsc, or
    /// $XDG_RUNTIME_DIR/runsc when not root]
    #[arg(long, global = true, default_value_os_t = runsc::container::rootless::default_state_root(),
          hide_default_value = true)]
    pub root: PathBuf,
    /// Log file (default: stderr for warnings only)
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format
    #[arg(long = "log-format", global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log at debug level
    #[arg(long, global = true, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true")]
    pub debug: bool,
    /// cgroupsPath is systemd's slice:prefix:name (placed where systemd would
    /// put it; no unit is registered)
    #[arg(long = "systemd-cgroup", global = true, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true")]
    pub systemd_cgroup: bool,
    /// Debug log: a file, or a directory ending in '/' for one file per command
    #[arg(long = "debug-log", global = true)]
    pub debug_log: Option<String>,
    /// Platform that runs the container's processes
    #[arg(long, global = true, value_enum, default_value_t = Platform::Native)]
    pub platform: Platform,
    /// Container network
    #[arg(long, global = true, value_enum, default_value_t = Network::Sandbox)]
    pub network: Network,
    /// Run without root (rootless); `spec` writes a rootless spec
    #[arg(long, global = true, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true")]
    pub rootless: bool,
    /// The baseline seccomp filter on every container process (off: none;
    /// logged). Per container, annotations dev.runsc-rs.allow/<family>=true
    #[arg(long = "baseline-seccomp", global = true, value_enum, require_equals = true,
          default_value_t = Switch::On)]
    pub baseline_seccomp: Switch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Platform {
    /// Application processes run on the host kernel, confined in depth
    Native,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Network {
    /// The network namespace the spec asks for
    Sandbox,
    /// The host's network namespace
    Host,
    /// A new network namespace with only loopback
    None,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a default config.json into the bundle
    Spec(cmd::spec::Args),
    /// List containers
    List(cmd::list::Args),
    /// Print the OCI state of a container
    State(cmd::state::Args),
    /// Print the OCI features this runtime supports
    Features(cmd::features::Args),
    /// Create a container; its process waits for start
    Create(cmd::create::Args),
    /// Start a created container's process
    Start(cmd::start::Args),
    /// Create, start and wait for a container, then delete it
    Run(cmd::run::RunArgs),
    /// Send a signal to a container's init, or to all its processes
    Kill(cmd::kill::Args),
    /// Wait for a container's init to exit and print its status
    Wait(cmd::wait::Args),
    /// Delete a container and everything it holds
    Delete(cmd::delete::Args),
    /// Run a new process in a running container
    Exec(cmd::exec::Args),
    /// Run a command in a sandbox over the host's root (or --root-fs)
    Do(cmd::do_cmd::Args),
    /// Register runsc as a runtime in Docker's daemon.json (or our shim in
    /// containerd's config.toml, with --containerd)
    Install(cmd::install::Args),
    /// Remove runsc's runtime entry from Docker's daemon.json (or
    /// containerd's config.toml, with --containerd)
    Uninstall(cmd::install::Args),
    /// List a container's processes
    Ps(cmd::ps::Args),
    /// Freeze every process of a container
    Pause(cmd::pause::Args),
    /// Thaw a paused container
    Resume(cmd::pause::Args),
    /// Resource statistics and OOM notices
    Events(cmd::events::Args),
    /// Change a running container's resource limits
    Update(cmd::update::Args),
    /// Save a running or paused container to an image directory (CRIU)
    Checkpoint(cmd::checkpoint::Args),
    /// Run a container restored from a checkpoint
    Restore(cmd::restore::RestoreArgs),
    #[command(hide = true)]
    ExecWait(cmd::exec_wait::Args),
    #[command(hide = true)]
    Boot(cmd::boot::Args),
    #[command(hide = true)]
    Gofer(cmd::gofer::Args),
}

impl Command {
    /// The subcommand's name, for per-command debug log files.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Spec(_) => "spec",
            Command::List(_) => "list",
            Command::State(_) => "state",
            Command::Features(_) => "features",
            Command::Create(_) => "create",
            Command::Start(_) => "start",
            Command::Run(_) => "run",
            Command::Kill(_) => "kill",
            Command::Wait(_) => "wait",
            Command::Delete(_) => "delete",
            Command::Exec(_) => "exec",
            Command::Do(_) => "do",
            Command::Install(_) => "install",
            Command::Uninstall(_) => "uninstall",
            Command::ExecWait(_) => "exec-wait",
            Command::Ps(_) => "ps",
            Command::Pause(_) => "pause",
            Command::Resume(_) => "resume",
            Command::Checkpoint(_) => "checkpoint",
            Command::Restore(_) => "restore",
            Command::Events(_) => "events",
            Command::Update(_) => "update",
            Command::Boot(_) => "boot",
            Command::Gofer(_) => "gofer",
        }
    }
}

/// Rewrites Go-style single-dash long flags (`-no-subreaper`), which Go's
/// flag package accepts and containerd sends to runc, as `--no-subreaper`.
/// Only tokens naming a long flag of the command are touched, and only
/// before the subcommand's first positional argument (the id), after which
/// come the container's own arguments.
pub fn go_style_args(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    use clap::CommandFactory;
    let root = Cli::command();
    let mut current = &root;
    let mut in_subcommand = false;
    let mut out = Vec::with_capacity(args.len());
    let mut iter = args.into_iter();
    if let Some(program) = iter.next() {
        out.push(program);
    }
    let mut skip_value = false;
    let mut done = false;
    for arg in iter {
        if done || skip_value {
            skip_value = false;
            out.push(arg);
            continue;
        }
        let Some(text) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if text == "--" {
            done = true;
            out.push(arg);
            continue;
        }
        let long = match text.strip_prefix("--") {
            Some(l) => Some(l),
            None => text
                .strip_prefix('-')
                .filter(|l| l.len() > 1 && !l.starts_with('-')),
        };
        let Some(long) = long else {
            if let Some(short) = text.strip_prefix('-').filter(|s| !s.is_empty()) {
                // Short flags, possibly clustered; the last may take a value.
                let last = short.chars().last();
                skip_value = short.chars().count() == 1
                    && current
                        .get_arguments()
                        .chain(root.get_arguments())
                        .find(|a| a.get_short() == last)
                        .is_some_and(|a| a.get_action().takes_values());
                out.push(arg);
                continue;
            }
            if in_subcommand {
                done = true;
            } else if let Some(sub) = current.find_subcommand(text) {
                current = sub;
                in_subcommand = true;
            }
            out.push(arg);
            continue;
        };
        let name = long.split('=').next().unwrap_or(long);
        let flag = current
            .get_arguments()
            .chain(root.get_arguments())
            .find(|a| a.get_long() == Some(name));
        match flag {
            Some(a) => {
                skip_value = !long.contains('=')
                    && a.get_action().takes_values()
                    && !a.is_require_equals_set();
                out.push(format!("--{long}").into());
            }
            None => out.push(arg),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }

    fn rewrite(args: &[&str]) -> Vec<String> {
        let args = args.iter().map(std::ffi::OsString::from).collect();
        super::go_style_args(args)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn single_dash_long_flags_become_double() {
        assert_eq!(
            rewrite(&[
                "runsc",
                "-root",
                "/r",
                "restore",
                "-no-subreaper",
                "--detach",
                "-d",
                "c1"
            ]),
            [
                "runsc",
                "--root",
                "/r",
                "restore",
                "--no-subreaper",
                "--detach",
                "-d",
                "c1"
            ]
        );
        // A value that looks like a flag stays, as does everything from
        // the container id on.
        assert_eq!(
            rewrite(&["runsc", "--log", "-debug", "exec", "c1", "sh", "-debug"]),
            ["runsc", "--log", "-debug", "exec", "c1", "sh", "-debug"]
        );
        assert_eq!(
            rewrite(&["runsc", "-debug", "run", "-b", "x", "-bundle", "y", "c1", "-root"]),
            ["runsc", "--debug", "run", "-b", "x", "--bundle", "y", "c1", "-root"]
        );
    }
}
