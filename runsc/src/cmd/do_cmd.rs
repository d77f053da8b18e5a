//! `runsc [--network none|host] do [--root-fs DIR] [--cwd DIR] [--env K=V]
//! -- CMD...`: runs CMD in a sandbox without a bundle.
//!
//! The root is the host's root, or `--root-fs`, as the read-only lower
//! layer of an overlay whose upper layer is a tmpfs, so writes vanish when
//! CMD exits. The overlay is mounted in a mount namespace of this command's
//! own, which the gofer inherits and which disappears with it. CMD runs
//! with the caller's uid, gid, environment and working directory.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::mount::{mount, MsFlags};
use runsc::api::Container;
use runsc::container::options::{CreateOptions, NetworkMode};
use serde_json::json;

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to use as the root instead of the host's /
    #[arg(long = "root-fs")]
    pub root_fs: Option<PathBuf>,
    /// Working directory (default: the caller's; / with --root-fs)
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Extra environment variable KEY=VALUE (repeatable)
    #[arg(long)]
    pub env: Vec<String>,
    /// Command and arguments
    #[arg(required = true, last = true)]
    pub command: Vec<String>,
}

pub fn run(g: &GlobalFlags, a: Args) -> Result<u8> {
    let lower = match &a.root_fs {
        Some(dir) => {
            std::fs::canonicalize(dir).with_context(|| format!("--root-fs {}", dir.display()))?
        }
        None => PathBuf::from("/"),
    };
    if !lower.is_dir() {
        bail!("--root-fs {}: not a directory", lower.display());
    }
    let store = super::store(g)?;
    let id = format!("do-{}", std::process::id());
    let bundle = store.root().join(format!("~{id}.bundle"));
    std::fs::create_dir_all(&bundle).with_context(|| format!("create {}", bundle.display()))?;
    let result = run_in(&store, g, &a, &id, &bundle, &lower);
    // The mounts live in our own namespace; they go before their
    // directories can.
    for dir in ["rootfs", "scratch"] {
        let _ = nix::mount::umount2(&bundle.join(dir), nix::mount::MntFlags::MNT_DETACH);
    }
    let _ = std::fs::remove_dir_all(&bundle);
    result
}

fn run_in(
    store: &runsc::container::ContainerStore,
    g: &GlobalFlags,
    a: &Args,
    id: &str,
    bundle: &Path,
    lower: &Path,
) -> Result<u8> {
    // Our own mount namespace: the overlay exists only for us and our
    // children, and goes away with them.
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).context("unshare mount namespace")?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context("make / private")?;
    let scratch = bundle.join("scratch");
    let rootfs = bundle.join("rootfs");
    std::fs::create_dir_all(&scratch)?;
    std::fs::create_dir_all(&rootfs)?;
    mount(
        Some("tmpfs"),
        &scratch,
        Some("tmpfs"),
        MsFlags::empty(),
        Some("mode=0755"),
    )
    .context("mount tmpfs for the overlay's upper layer")?;
    for d in ["upper", "work"] {
        std::fs::create_dir(scratch.join(d))?;
    }
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        scratch.join("upper").display(),
        scratch.join("work").display()
    );
    mount(
        Some("overlay"),
        &rootfs,
        Some("overlay"),
        MsFlags::empty(),
        Some(options.as_str()),
    )
    .with_context(|| format!("mount overlay of {}", lower.display()))?;

    // The caller's directory exists in the host's root, not necessarily in
    // another root.
    let cwd = match (&a.cwd, &a.root_fs) {
        (Some(c), _) => c.clone(),
        (None, Some(_)) => PathBuf::from("/"),
        (None, None) => std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
    };
    let mut env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
    for kv in &a.env {
        let key = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
        env.retain(|e| !e.starts_with(&format!("{key}=")));
        env.push(kv.clone());
    }
    let spec = do_spec(&a.command, env, &cwd);
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec_pretty(&spec)?,
    )?;

    let options = CreateOptions {
        id: id.to_string(),
        bundle: bundle.to_path_buf(),
        pid_file: None,
        console_socket: None,
        // The global --network: `host` shares the host's; anything else
        // is a namespace with loopback only.
        network: match g.network {
            crate::cli::Network::Host => NetworkMode::Host,
            _ => NetworkMode::None,
        },
        systemd_cgroup: g.systemd_cgroup,
        rootless: g.rootless,
        launch: sandbox::options::LaunchOptions {
            no_baseline_seccomp: g.baseline_seccomp == crate::cli::Switch::Off,
            ..Default::default()
        },
        child_flags: super::child_flags(g),
        restore: None,
        stdio: None,
        spec: None,
        start: true,
    };
    // As `run`: signals to `do` (a terminal's ^C) reach the command, and
    // `do` stays to clean up.
    let signals = runsc::container::signals::Forwarder::new()?;
    let (container, created) = Container::create(store, options)?;
    let result = (|| -> Result<i32> {
        if created.container.status == runsc::container::Status::Created {
            container.start()?;
        }
        let sandbox = created.sandbox.as_ref().context("sandbox")?;
        signals.wait_for(std::os::fd::AsFd::as_fd(&sandbox.pidfd), |signal| {
            runsc::container::signals::forward_to_container(store, id, signal)
        });
        Ok(
            match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(sandbox.pid), None)? {
                nix::sys::wait::WaitStatus::Exited(_, c) => c,
                nix::sys::wait::WaitStatus::Signaled(_, s, _) => 128 + s as i32,
                other => bail!("sandbox of {id}: {other:?}"),
            },
        )
    })();
    let deleted = container.delete(true);
    let code = result?;
    deleted?;
    Ok(code.clamp(0, 255) as u8)
}

/// The spec of a `do` container: the caller's identity, environment and
/// working directory, fresh kernel filesystems, a read-only /sys.
fn do_spec(args: &[String], env: Vec<String>, cwd: &Path) -> serde_json::Value {
    let uid = nix::unistd::getuid().as_raw();
    let gid = nix::unistd::getgid().as_raw();
    let caps = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ];
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": uid, "gid": gid},
            "args": args,
            "env": env,
            "cwd": cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": true,
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "runsc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]},
        ],
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"],
        },
    })
}
