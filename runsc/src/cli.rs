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
    disable_help_subcommand = true,
    // Go's also takes a flag given twice, the last one counting; Podman
    // sends `checkpoint --leave-running ... --leave-running`. Repeatable
    // flags (`--env`, `--cap`) still collect every value.
    args_override_self = true
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
    /// CRIU binary for checkpoint and restore: a path, or a name looked up
    /// in PATH [default: criu]
    #[arg(long, global = true)]
    pub criu: Option<PathBuf>,
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

// Deferred: each subcommand's flags are built only when it is the one
// invoked (or help lists them), not all 24 on every command: building them
// was most of the frontend's own time in a short command like `exec`.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
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
    /// `--preserve-fds` of create and run: 0 for every other command.
    pub fn preserve_fds(&self) -> u32 {
        match self {
            Command::Create(a) => a.preserve_fds,
            Command::Run(a) => a.create.preserve_fds,
            _ => 0,
        }
    }

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

/// Parses our command line: the flags with Go-style spellings made
/// clap's ([`go_style_args`]), then clap's parse. Returns the arguments as
/// rewritten too.
///
/// A command line that names a subcommand is parsed against a definition
/// holding that subcommand alone ([`with_only`]): clap copies each global
/// flag into every subcommand it holds, and with all 24 that was most of
/// a short command's own time (about 390 KB of heap, 90 page faults, for
/// an `exec`). Without one (`--help`, `--version`, a misspelt
/// subcommand), the whole of [`Cli`] answers, as clap renders it.
pub fn parse(args: Vec<std::ffi::OsString>) -> (Result<Cli, clap::Error>, Vec<std::ffi::OsString>) {
    use clap::{CommandFactory, FromArgMatches};
    let shells = Command::augment_subcommands(clap::Command::new("runsc"));
    let (args, named) = go_style_args(&root_flags(), &shells, args);
    let mut root = match named.as_deref().and_then(|n| shells.find_subcommand(n)) {
        Some(sub) => with_only(sub.clone()),
        None => Cli::command(),
    };
    let parsed = root
        .try_get_matches_from_mut(&args)
        .and_then(|mut m| Cli::from_arg_matches_mut(&mut m).map_err(|e| e.format(&mut root)));
    (parsed, args)
}

/// [`Cli`]'s definition without its subcommands: the attributes on `Cli`
/// and the global flags (a test checks that the two agree).
fn root_flags() -> clap::Command {
    use clap::Args;
    GlobalFlags::augment_args(
        clap::Command::new("runsc")
            .version(env!("CARGO_PKG_VERSION"))
            .about("runsc-rs: a sandboxed OCI container runtime")
            .disable_help_subcommand(true)
            .args_override_self(true),
    )
}

/// [`Cli`]'s definition with subcommand `sub` (one of [`Command`]'s) alone.
fn with_only(sub: clap::Command) -> clap::Command {
    root_flags()
        .subcommand(sub)
        .subcommand_required(true)
        .arg_required_else_help(true)
}

/// Rewrites Go-style single-dash long flags (`-no-subreaper`), which Go's
/// flag package accepts and containerd sends to runc, as `--no-subreaper`.
/// Only tokens naming a long flag of the command are touched, and only
/// before the subcommand's first positional argument (the id), after which
/// come the container's own arguments. `root` holds the global flags,
/// `shells` the subcommands (flags deferred). Also returns the subcommand
/// named, if any.
pub fn go_style_args(
    root: &clap::Command,
    shells: &clap::Command,
    args: Vec<std::ffi::OsString>,
) -> (Vec<std::ffi::OsString>, Option<String>) {
    // The subcommand's flags are deferred (see `Command`): a copy of the
    // one named is built here to read them.
    let mut current: Option<clap::Command> = None;
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
        let flags = || {
            current
                .iter()
                .flat_map(|c| c.get_arguments())
                .chain(root.get_arguments())
        };
        let Some(long) = long else {
            if let Some(short) = text.strip_prefix('-').filter(|s| !s.is_empty()) {
                // Short flags, possibly clustered; the last may take a value.
                let last = short.chars().last();
                skip_value = short.chars().count() == 1
                    && flags()
                        .find(|a| a.get_short() == last)
                        .is_some_and(|a| a.get_action().takes_values());
                out.push(arg);
                continue;
            }
            if current.is_some() {
                done = true;
            } else if let Some(sub) = shells.find_subcommand(text) {
                let mut sub = sub.clone();
                sub.build();
                current = Some(sub);
            }
            out.push(arg);
            continue;
        };
        let name = long.split('=').next().unwrap_or(long);
        let flag = flags().find(|a| a.get_long() == Some(name));
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
    let named = current.map(|c| c.get_name().to_string());
    (out, named)
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }

    /// `parse` (one subcommand defined) and clap's parse over the whole
    /// definition agree: on what they parse, and on each error's kind and
    /// text (help included).
    #[test]
    fn one_subcommand_parses_as_the_whole() {
        use clap::Parser;
        let lines = [
            "runsc --root /r exec -d --pid-file /p c1 sh -c x",
            "runsc exec --root /r --cwd / -e A=1 c1 true",
            "runsc -root /r restore -no-subreaper --detach -d c2",
            "runsc --debug --log-format=json run -b x c1",
            "runsc create --bundle /b --pid-file /p c1",
            "runsc delete --force c1",
            "runsc --baseline-seccomp=off state c1",
            "runsc list --format json",
            "runsc kill --all c1 KILL",
            "runsc --root /a --root /b checkpoint --leave-running --image-path /i --leave-running c1",
            "runsc exec -e A=1 -e B=2 --cap CAP_KILL --cap CAP_CHOWN c1 true",
            "runsc exec --help",
            "runsc exec --bogus c1",
            "runsc exec",
            "runsc --version",
            "runsc --help",
            "runsc bogus",
            "runsc",
        ];
        let show = |r: Result<super::Cli, clap::Error>| match r {
            Ok(cli) => format!("{cli:?}"),
            Err(e) => format!("{:?}: {}", e.kind(), e.render()),
        };
        for line in lines {
            let args = line.split(' ').map(Into::into).collect();
            let (ours, rewritten) = super::parse(args);
            let whole = super::Cli::try_parse_from(&rewritten);
            assert_eq!(show(ours), show(whole), "{line:?}");
        }
    }

    /// A flag given twice counts once, the last value winning, as with Go's
    /// flag package (Podman repeats `--leave-running`); repeatable ones
    /// keep every value.
    #[test]
    fn repeated_flags_take_the_last_and_lists_keep_all() {
        let line = "runsc --root /a --debug --root /b exec --cwd /x --cwd /y -e A=1 -e B=2 c1 true";
        let (cli, _) = super::parse(line.split(' ').map(Into::into).collect());
        let cli = cli.expect("parses");
        assert_eq!(cli.global.root, std::path::PathBuf::from("/b"));
        let text = format!("{:?}", cli.command);
        assert!(text.contains("\"/y\""), "{text}");
        assert!(!text.contains("\"/x\""), "{text}");
        assert!(text.contains("\"A=1\", \"B=2\""), "{text}");
    }

    /// Every subcommand, defined alone, shows the help it has in the whole.
    #[test]
    fn one_subcommand_helps_as_the_whole() {
        use clap::{CommandFactory, Subcommand};
        let mut whole = super::Cli::command();
        whole.build();
        let shells = super::Command::augment_subcommands(clap::Command::new("runsc"));
        for shell in shells.get_subcommands() {
            let name = shell.get_name();
            let mut one = super::with_only(shell.clone());
            one.build();
            let help = |c: &mut clap::Command| {
                let sub = c.find_subcommand_mut(name).expect("subcommand");
                format!("{}\n{}", sub.render_long_help(), sub.render_usage())
            };
            assert_eq!(help(&mut one), help(&mut whole), "{name}");
        }
    }

    fn rewrite(args: &[&str]) -> Vec<String> {
        use clap::Subcommand;
        let args = args.iter().map(std::ffi::OsString::from).collect();
        let shells = super::Command::augment_subcommands(clap::Command::new("runsc"));
        super::go_style_args(&super::root_flags(), &shells, args)
            .0
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
