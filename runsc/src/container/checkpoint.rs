//! `checkpoint`: a CRIU dump of a running or paused container's process
//! tree, beside a `runsc-checkpoint.json` that lets `restore` rebuild it.
//!
//! The sandbox freezes the container and holds it frozen for the dump (it
//! refuses exec, pause and resume meanwhile, and thaws it if this frontend
//! dies mid-dump). The frontend runs CRIU itself, as runc does: the dump
//! seizes the init's tree with ptrace from outside and must not run under
//! the sandbox's seccomp allow-list, which CRIU's parasite code and netlink
//! dumps would exceed.

use std::collections::HashSet;
use std::os::fd::AsFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sandbox::checkpoint::{dump_command, DumpOptions, ImageInfo, INFO_NAME};
use sandbox::control;
use sandbox::criu::Criu;

use super::files::read_spec;
use super::freezer::FreezerFiles;
use super::{ContainerStore, LifecycleError, Status};
use crate::api::Sandbox;
use specutils::error::os;

#[derive(Debug, Clone)]
pub struct CheckpointOptions {
    pub image: PathBuf,
    /// Where CRIU's log goes; the image directory if None.
    pub work: Option<PathBuf>,
    pub dump: DumpOptions,
    /// The CRIU binary, a path or a name in PATH (None: `criu`).
    pub criu: Option<PathBuf>,
}

pub fn checkpoint(
    store: &ContainerStore,
    id: &str,
    opts: CheckpointOptions,
) -> Result<(), LifecycleError> {
    let criu = Criu::find(opts.criu.as_deref())?;
    let mut locked = store.lock(id)?;
    let c = &locked.container;
    if c.sandbox_id != c.id {
        return Err(LifecycleError::Invalid(format!(
            "cannot checkpoint container {id}: it is a subcontainer of pod {}; checkpoint of pods is not supported",
            c.sandbox_id
        )));
    }
    let status = c.live_status();
    if !matches!(status, Status::Running | Status::Paused) {
        return Err(LifecycleError::NotRunning {
            id: id.to_string(),
            status,
        });
    }
    let others: Vec<String> = store
        .ids()?
        .into_iter()
        .filter(|other| other != id)
        .filter(|other| store.read_meta(other).is_ok_and(|m| m.sandbox_id == id))
        .collect();
    if !others.is_empty() {
        return Err(LifecycleError::Invalid(format!(
            "cannot checkpoint container {id}: its pod also runs {}; checkpoint of pods is not supported",
            others.join(", ")
        )));
    }
    let dir = store.dir(id);
    let (data, spec_path) =
        read_spec(&dir).map_err(os(format!("read the spec of {}", dir.display())))?;
    let spec = specutils::spec::parse_spec(&data, &spec_path)?;
    if spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false)
    {
        return Err(LifecycleError::Invalid(format!(
            "cannot checkpoint container {id}: checkpoint of a container with a terminal is not supported"
        )));
    }
    let init = c
        .init
        .ok_or_else(|| LifecycleError::Invalid(format!("container {id} has no init process")))?;
    let cgroup = c.cgroup()?;
    // The container is frozen for the whole checkpoint: the check below
    // then sees one consistent set of processes (none exits between
    // `cgroup.procs` and its parent's lookup, none is exec'd in after the
    // check), and CRIU dumps that same set. The sandbox holds the freeze
    // while `hold` lives, and puts it back as it was when it is dropped.
    let files = FreezerFiles::open(&cgroup, c.sandbox_id == c.id)?;
    let (held, hold) = Sandbox::of(store, &c.sandbox_id)
        .hold_for_checkpoint(id, files.kind, files.fds())
        .map_err(|e| {
            files.remove_park();
            LifecycleError::Sandbox(format!("checkpoint container {id}: {e}"))
        })?;
    let hold = Hold {
        hold: Some(hold),
        files: &files,
        paused: status == Status::Paused,
    };
    super::fault::crash_point("checkpoint:held");
    let pids = cgroup.pids()?;
    let tree = specutils::proc::descendants(&[init.pid], &pids);
    let mut strays = processes_outside_tree(&pids, &tree, c);
    // Both views: the cgroup's also catches what exec'd processes forked,
    // the sandbox's names them even once they have left the cgroup.
    let unseen: Vec<i32> = held
        .execs
        .iter()
        .copied()
        .filter(|p| !strays.contains(p))
        .collect();
    strays.extend(unseen);
    if !strays.is_empty() {
        return Err(LifecycleError::Invalid(format!(
            "cannot checkpoint container {id}: processes {strays:?} (exec'd into it) are not \
             descendants of its init, and CRIU would lose them; end them first"
        )));
    }

    let image = make_dir(&opts.image)?;
    let work = match &opts.work {
        Some(w) => make_dir(w)?,
        None => image.clone(),
    };
    let mut info = ImageInfo::new(id, &criu, spec, &c.bundle, &tree, &c.stdio)?;
    info.write(&image)?;
    let mut dump = opts.dump.clone();
    // CRIU takes the frozen tasks as they are and leaves them frozen.
    dump.freeze_cgroup = cgroup.freezer_dir().map(Path::to_path_buf);
    let (cmd, log) = dump_command(&criu, &info, init.pid, &c.rootfs, &image, &work, &dump);
    let action = if dump.pre_dump { "pre-dump" } else { "dump" };
    if let Err(e) = criu.run(action, cmd, &log) {
        // CRIU lets the tasks run on after a failed dump; the directory
        // must not pass for an image.
        let _ = std::fs::remove_file(image.join(INFO_NAME));
        return Err(e.into());
    }
    if let Err(e) = info.record_files(&image).and_then(|()| info.write(&image)) {
        // The image is whole; restore just cannot check its sizes.
        tracing::warn!("checkpoint {id}: record image file sizes: {e}");
    }
    if dump.pre_dump || dump.leave_running {
        return hold.end(false);
    }
    // CRIU has killed the tree. The frozen cgroup holds the kill (and the
    // sandbox, which must see the init exit) until thawed, paused or not.
    let sandbox = c.sandbox;
    if let Err(e) = hold.end(true) {
        // The sandbox may exit as soon as the kill lands.
        tracing::debug!("checkpoint {id}: end hold: {e}");
    }
    if let Some(pidfd) = sandbox.and_then(|s| s.pidfd()) {
        specutils::proc::wait_exit(pidfd.as_fd(), Duration::from_secs(10));
    }
    locked.container.status = status.transition(Status::Stopped)?;
    locked.save()?;
    Ok(())
}

/// A checkpoint's hold on the sandbox's freeze. Dropped without `end`,
/// the connection closes and the sandbox puts the freezer back.
struct Hold<'a> {
    hold: Option<control::Held>,
    files: &'a FreezerFiles,
    /// Paused before: the sandbox stays parked out of the cgroup after.
    paused: bool,
}

impl Hold<'_> {
    /// Ends the hold: `killed` thaws even a paused container, so that the
    /// dump's kill lands.
    fn end(mut self, killed: bool) -> Result<(), LifecycleError> {
        let Some(hold) = self.hold.take() else {
            return Ok(());
        };
        hold.end(control::HoldEnd { killed })
            .map_err(|e| LifecycleError::Sandbox(format!("end checkpoint hold: {e}")))?;
        if killed || !self.paused {
            self.files.remove_park();
        }
        Ok(())
    }
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        if let Some(hold) = self.hold.take() {
            if let Err(e) = hold.end(control::HoldEnd { killed: false }) {
                tracing::error!("checkpoint: end hold: {e}");
            }
            if !self.paused {
                self.files.remove_park();
            }
        }
    }
}

/// Creates `path` (mode 0700, as runc does) if missing; returns it whole.
fn make_dir(path: &Path) -> Result<PathBuf, LifecycleError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(os(format!("create directory {}", path.display())))?;
    Ok(std::fs::canonicalize(path).map_err(os(format!("directory {}", path.display())))?)
}

/// Pids of the container's cgroup that are neither the sandbox, the gofer,
/// nor in the init's tree: processes exec'd into the container.
fn processes_outside_tree(pids: &[i32], tree: &[i32], c: &super::Container) -> Vec<i32> {
    let tree: HashSet<i32> = tree.iter().copied().collect();
    let ours: Vec<i32> = [c.sandbox, c.gofer, c.holder]
        .iter()
        .flatten()
        .map(|p| p.pid)
        .collect();
    pids.iter()
        .copied()
        .filter(|p| !tree.contains(p) && !ours.contains(p))
        .collect()
}
