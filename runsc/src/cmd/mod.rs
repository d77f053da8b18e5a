//! One module per subcommand. Each parses its own flags and calls the
//! library; the lifecycle logic lives in `runsc::container`.

pub mod boot;
pub mod checkpoint;
pub mod create;
pub mod delete;
pub mod do_cmd;
pub mod events;
pub mod exec;
pub mod exec_wait;
pub mod features;
pub mod gofer;
pub mod install;
pub mod install_containerd;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod restore;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;
pub mod wait;

use anyhow::Result;
use runsc::container::ContainerStore;

use crate::cli::{Cli, Command, GlobalFlags};

/// Runs the parsed command; the result is the process exit status.
pub fn run(cli: Cli) -> Result<u8> {
    let g = &cli.global;
    match cli.command {
        Command::Spec(a) => spec::run(g, a),
        Command::List(a) => list::run(g, a),
        Command::State(a) => state::run(g, a),
        Command::Features(a) => features::run(g, a),
        Command::Create(a) => create::run(g, a),
        Command::Start(a) => start::run(g, a),
        Command::Run(a) => run::run(g, a),
        Command::Kill(a) => kill::run(g, a),
        Command::Wait(a) => wait::run(g, a),
        Command::Delete(a) => delete::run(g, a),
        Command::Exec(a) => exec::run(g, a),
        Command::Do(a) => do_cmd::run(g, a),
        Command::Install(a) => install::install(g, a),
        Command::Uninstall(a) => install::uninstall(g, a),
        Command::Ps(a) => ps::run(g, a),
        Command::Pause(a) => pause::pause(g, a),
        Command::Resume(a) => pause::resume(g, a),
        Command::Events(a) => events::run(g, a),
        Command::Update(a) => update::run(g, a),
        Command::Checkpoint(a) => checkpoint::run(g, a),
        Command::Restore(a) => restore::run(g, a),
        Command::ExecWait(a) => exec_wait::run(g, a),
        Command::Boot(a) => boot::run(g, a),
        Command::Gofer(a) => gofer::run(g, a),
    }
}

/// The global flags our own children are started with: the same state
/// root and logs.
pub fn child_flags(g: &GlobalFlags) -> Vec<String> {
    let mut flags = vec![format!("--root={}", g.root.display())];
    if let Some(log) = &g.log {
        flags.push(format!("--log={}", log.display()));
    }
    let format = match g.log_format {
        crate::cli::LogFormat::Text => "text",
        crate::cli::LogFormat::Json => "json",
    };
    flags.push(format!("--log-format={format}"));
    if g.debug {
        flags.push("--debug".into());
    }
    if let Some(d) = &g.debug_log {
        flags.push(format!("--debug-log={d}"));
    }
    flags
}

pub fn network_mode(g: &GlobalFlags) -> runsc::container::options::NetworkMode {
    use runsc::container::options::NetworkMode;
    match g.network {
        crate::cli::Network::Sandbox => NetworkMode::Sandbox,
        crate::cli::Network::Host => NetworkMode::Host,
        crate::cli::Network::None => NetworkMode::None,
    }
}

/// Moves this (still single-threaded) process into the container's cgroup
/// through the v1 `tasks` descriptors our parent passed; done before
/// anything else, so nothing we fork is left outside.
pub fn join_cgroup(tasks: Vec<std::os::fd::OwnedFd>) -> Result<()> {
    sandbox::cgroup::join_self(&tasks)
        .map_err(|e| anyhow::anyhow!("join the container's cgroup: {e}"))
}

/// Reads the spec our parent parsed and passed as a memfd. The gofer and
/// the sandbox share the descriptor's file offset, so it is read with
/// pread from offset 0 and the offset is never moved.
pub fn read_spec_fd(fd: std::os::fd::OwnedFd) -> Result<oci_spec::runtime::Spec> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::from(fd);
    let len = f.metadata()?.len() as usize;
    let mut data = vec![0u8; len];
    f.read_exact_at(&mut data, 0)?;
    Ok(specutils::spec::parse_spec(
        &data,
        std::path::Path::new("spec descriptor"),
    )?)
}

/// Opens the store named by `--root`.
pub fn store(g: &GlobalFlags) -> Result<ContainerStore> {
    Ok(ContainerStore::open(&g.root)?)
}
