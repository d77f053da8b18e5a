//! Restoring a checkpointed container in a new sandbox: the sandbox runs
//! `criu restore`, whose restored init becomes the sandbox's own child
//! (`--restore-sibling`), so exit status, wait, kill and exec work as for
//! an init the sandbox forked.

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;

use specutils::error::{os, OsError};

use crate::checkpoint::{RestorePlan, RESTORE_STDIO_FD};
use crate::criu::{self, Criu, CriuError};
use crate::criu_cgroups::CgroupDirError;

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Os(#[from] OsError),
    #[error(transparent)]
    Criu(#[from] CriuError),
    #[error(transparent)]
    Cgroups(#[from] CgroupDirError),
    #[error("{path}: not a pid: {text:?}")]
    NotAPid {
        path: std::path::PathBuf,
        text: String,
    },
    #[error("restored init {pid}: {}", specutils::error::errno_text(.source))]
    Parent { pid: i32, source: std::io::Error },
    #[error("restored init {pid} has parent {parent}, not the sandbox")]
    NotOurs { pid: i32, parent: i32 },
    #[error("restored init pid {0} is not valid")]
    BadPid(i32),
    #[error("restore: {0}")]
    MountPoint(#[from] crate::init::InitError),
}

/// A restored init, already running.
pub struct Restored {
    pub pid: i32,
    pub pidfd: OwnedFd,
}

/// Runs CRIU to restore `plan`'s image. The container's stdio is the
/// sandbox's own (the restore command's), handed to CRIU as inherited
/// descriptors; CRIU itself prints to /dev/null.
pub fn restore(plan: &RestorePlan) -> Result<Restored, RestoreError> {
    let criu = Criu::find(plan.criu.as_deref())?;
    let mut stdio = Vec::with_capacity(3);
    for fd in 0..3 {
        // SAFETY: 0, 1 and 2 stay open for the sandbox's life (the frontend
        // gives it stdio), and the borrow ends with the clone.
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        stdio.push(
            borrowed
                .try_clone_to_owned()
                .map_err(os(format!("duplicate stdio {fd}")))?,
        );
    }
    // The container's stdio goes where `--inherit-fd` says, from
    // RESTORE_STDIO_FD on (dup2 clears close-on-exec there, as CRIU needs).
    let moves: Vec<(RawFd, RawFd)> = stdio
        .iter()
        .zip(RESTORE_STDIO_FD..)
        .map(|(f, to)| (f.as_raw_fd(), to))
        .collect();
    let mut parked: Vec<RawFd> = vec![-1; moves.len()];
    let park_base = RESTORE_STDIO_FD + moves.len() as RawFd;
    make_mount_points(plan)?;
    let mut cmd = criu.command("restore");
    cmd.args(&plan.args);
    let dirs = crate::criu_cgroups::own_dirs(&plan.cgroups)?;
    for (c, dir) in plan.cgroups.iter().zip(dirs) {
        cmd.arg("--external")
            .arg(format!("mnt[{}]:{}", c.cookie, dir.display()));
    }
    // CRIU's children, the restored tasks, inherit its cgroup namespace;
    // made in the sandbox's cgroups (the new container's), it shows them
    // as the root, as the container's first start did.
    let cgroup_ns = plan.cgroup_namespace;
    // SAFETY: the closure runs in the forked child before exec, where the
    // numbers from RESTORE_STDIO_FD on are ours to fill; place_fds only
    // calls fcntl, dup2 and close, and unshare is one syscall (all
    // async-signal-safe); `moves` and `parked` were allocated before the
    // fork.
    unsafe {
        cmd.pre_exec(move || {
            specutils::sys::place_fds(&moves, &mut parked, park_base)?;
            if cgroup_ns {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)?;
            }
            Ok(())
        });
    }
    tracing::debug!("restore: {cmd:?}");
    let status = cmd
        .status()
        .map_err(os(format!("run {}", criu.path.display())))?;
    drop(stdio);
    if !status.success() {
        return Err(criu::failure("restore", status.to_string(), &plan.log).into());
    }
    let text = std::fs::read_to_string(&plan.pid_file)
        .map_err(os(format!("read {}", plan.pid_file.display())))?;
    let _ = std::fs::remove_file(&plan.pid_file);
    let pid: i32 = text.trim().parse().map_err(|_| RestoreError::NotAPid {
        path: plan.pid_file.clone(),
        text: text.clone(),
    })?;
    let parent =
        specutils::proc::parent(pid).map_err(|source| RestoreError::Parent { pid, source })?;
    if parent != std::process::id() as i32 {
        return Err(RestoreError::NotOurs { pid, parent });
    }
    let pid_t = rustix::process::Pid::from_raw(pid).ok_or(RestoreError::BadPid(pid))?;
    let pidfd = rustix::process::pidfd_open(pid_t, rustix::process::PidfdFlags::empty())
        .map_err(os(format!("pidfd_open {pid}")))?;
    Ok(Restored { pid, pidfd })
}

/// Makes the bind mounts' destinations that the rootfs lacks, as `create`
/// does: a restore into another container's rootfs (Podman's `restore
/// --import`) has none of the files that runtime made there, and CRIU
/// fails on the first ("Can't stat mountpoint").
fn make_mount_points(plan: &RestorePlan) -> Result<(), RestoreError> {
    if plan.mount_points.is_empty() {
        return Ok(());
    }
    let root = rustix::fs::open(
        &plan.rootfs,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(os(format!("open rootfs {}", plan.rootfs.display())))?;
    for (destination, dir) in &plan.mount_points {
        crate::init::in_root::ensure_target(root.as_fd(), Path::new(destination), *dir)?;
    }
    Ok(())
}
