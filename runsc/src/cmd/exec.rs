//! `runsc exec <id> CMD...` and `runsc exec --process process.json <id>`.

use std::collections::HashSet;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{Capability, Process};
use runsc::api::Container;
use runsc::container::exec::ExecOptions;

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
#[command(trailing_var_arg = true)]
pub struct Args {
    /// A process.json to run instead of CMD
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Allocate a pseudo-terminal (without --console-socket, on our own
    /// terminal)
    #[arg(short, long)]
    pub tty: bool,
    /// Unix socket that receives the pty master
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Return once the process runs
    #[arg(short, long)]
    pub detach: bool,
    /// With --detach: write the pid of a process that exits with the exec'd
    /// process's status
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Working directory in the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Environment variable KEY=VALUE (repeatable)
    #[arg(short, long)]
    pub env: Vec<String>,
    /// User as uid[:gid]
    #[arg(short, long)]
    pub user: Option<String>,
    /// Additional group id (repeatable)
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// Capability to add (repeatable)
    #[arg(short, long)]
    pub cap: Vec<String>,
    /// Set no_new_privs
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Pass descriptors 3..3+N to the process
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// SELinux label of the process (without --process)
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// AppArmor profile of the process (without --process)
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Container id (any unique prefix)
    pub id: String,
    /// Command and arguments
    pub command: Vec<String>,
}

pub fn run(g: &GlobalFlags, a: Args) -> Result<u8> {
    let store = super::store(g)?;
    let id = store.find(&a.id)?;
    let process = match &a.process {
        Some(path) => {
            let data = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
            serde_json::from_slice::<Process>(&data)
                .with_context(|| format!("parse {}", path.display()))?
        }
        None => {
            let dir = store.dir(&id);
            let (data, spec_path) = runsc::container::files::read_spec(&dir)
                .with_context(|| format!("read the spec of {}", dir.display()))?;
            let spec: ProcessOfSpec = serde_json::from_slice(&data)
                .with_context(|| format!("parse {}", spec_path.display()))?;
            build_process(spec.process.unwrap_or_default(), &a)?
        }
    };
    if process.args().as_ref().is_none_or(|v| v.is_empty()) {
        bail!("exec: no command given");
    }
    let status = Container::open(&store, &id).exec(ExecOptions {
        process,
        detach: a.detach,
        pid_file: a.pid_file,
        console_socket: a.console_socket,
        preserve_fds: a.preserve_fds,
        child_flags: super::child_flags(g),
    })?;
    Ok(status.clamp(0, 255) as u8)
}

/// The one part of the container's kept spec that `exec` uses: serde
/// skips the rest (mounts, the seccomp profile's syscall lists, ...)
/// instead of building it.
#[derive(serde::Deserialize)]
struct ProcessOfSpec {
    process: Option<Process>,
}

/// The container's own process settings with the flags applied, as runc
/// builds an exec process.
fn build_process(mut p: Process, a: &Args) -> Result<Process> {
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &a.env {
        let key = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
        env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    let mut user = p.user().clone();
    if let Some(spec) = &a.user {
        let (uid, gid) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec.as_str(), None),
        };
        user.set_uid(
            uid.parse()
                .with_context(|| format!("invalid --user {spec:?}"))?,
        );
        if let Some(g) = gid {
            user.set_gid(
                g.parse()
                    .with_context(|| format!("invalid --user {spec:?}"))?,
            );
        }
    }
    if !a.additional_gids.is_empty() {
        user.set_additional_gids(Some(a.additional_gids.clone()));
    }
    p.set_user(user);
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        let mut added = HashSet::new();
        for name in &a.cap {
            let upper = name.to_ascii_uppercase();
            let full = if upper.starts_with("CAP_") {
                upper
            } else {
                format!("CAP_{upper}")
            };
            let cap: Capability = serde_json::from_value(serde_json::Value::String(full))
                .map_err(|_| anyhow::anyhow!("unknown capability {name:?}"))?;
            added.insert(cap);
        }
        let with = |set: &Option<HashSet<Capability>>| {
            let mut s = set.clone().unwrap_or_default();
            s.extend(added.iter().copied());
            Some(s)
        };
        caps.set_bounding(with(caps.bounding()));
        caps.set_effective(with(caps.effective()));
        caps.set_permitted(with(caps.permitted()));
        caps.set_inheritable(with(caps.inheritable()));
        caps.set_ambient(with(caps.ambient()));
        p.set_capabilities(Some(caps));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(profile) = a.apparmor.as_ref().filter(|v| !v.is_empty()) {
        p.set_apparmor_profile(Some(profile.clone()));
    }
    if let Some(label) = a.process_label.as_ref().filter(|v| !v.is_empty()) {
        p.set_selinux_label(Some(label.clone()));
    }
    Ok(p)
}
