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
    /// Directory holding container state
    #[arg(long, global = true, default_value = "/run/runsc")]
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
    /// Manage cgroups through systemd (accepted for runc compatibility)
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
    /// Register runsc as a runtime in Docker's daemon.json
    Install(cmd::install::Args),
    /// Remove runsc's runtime entry from Docker's daemon.json
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
            Command::Events(_) => "events",
            Command::Update(_) => "update",
            Command::Boot(_) => "boot",
            Command::Gofer(_) => "gofer",
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
