//! `checkpoint`: a CRIU dump of a running or paused container's process
//! tree, beside a `runsc-checkpoint.json` that lets `restore` rebuild it.
//!
//! The frontend runs CRIU itself, as runc does: the dump seizes the init's
//! tree with ptrace from outside, needs nothing from the sandbox, and must
//! not run under the sandbox's seccomp allow-list, which CRIU's parasite
//! code and netlink dumps would exceed.

use std::collections::HashSet;
use std::os::fd::AsFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sandbox::cgroup::Cgroup;
use sandbox::checkpoint::{dump_command, DumpOptions, ImageInfo, INFO_NAME};
use sandbox::criu::Criu;

use super::files::SPEC_NAME;
use super::{ContainerStore, LifecycleError, Status};
use specutils::error::os;

#[derive(Debug, Clone)]
pub struct CheckpointOptions {
    pub image: PathBuf,
    /// Where CRIU's log goes; the image directory if None.
    pub work: Option<PathBuf>,
    pub dump: DumpOptions,
}

pub fn checkpoint(
    store: &ContainerStore,
    id: &str,
    opts: CheckpointOptions,
) -> Result<(), LifecycleError> {
    let criu = Criu::find()?;
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
    let spec_path = dir.join(SPEC_NAME);
    let spec = specutils::spec::parse_spec(
        &std::fs::read(&spec_path).map_err(os(format!("read {}", spec_path.display())))?,
        &spec_path,
    )?;
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
    // A running container is frozen for the whole checkpoint: the check
    // below then sees one consistent set of processes (none exits between
    // `cgroup.procs` and its parent's lookup, none is exec'd in after the
    // check), and CRIU dumps that same set. Every way out but a dump
    // that killed the tree thaws it again.
    let mut frozen = FrozenForDump::new(&cgroup, status == Status::Running)?;
    let strays = processes_outside_tree(&cgroup.pids()?, init.pid, c);
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
    let mut info = ImageInfo::new(id, &criu, spec, &c.bundle, init.pid)?;
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
        return frozen.thaw();
    }
    // CRIU has killed the tree. The frozen cgroup holds the kill (and the
    // sandbox, which must see the init exit) until thawed, paused or not.
    frozen.release();
    cgroup.thaw()?;
    if let Some(pidfd) = c.sandbox.and_then(|s| s.pidfd()) {
        specutils::proc::wait_exit(pidfd.as_fd(), Duration::from_secs(10));
    }
    locked.container.status = status.transition(Status::Stopped)?;
    locked.save()?;
    Ok(())
}

/// A cgroup that `checkpoint` froze, thawed when dropped unless released.
struct FrozenForDump<'a> {
    cgroup: Option<&'a Cgroup>,
}

impl<'a> FrozenForDump<'a> {
    /// Freezes `cgroup` if `freeze` (a paused one already is).
    fn new(cgroup: &'a Cgroup, freeze: bool) -> Result<Self, LifecycleError> {
        if !freeze {
            return Ok(Self { cgroup: None });
        }
        cgroup.freeze()?;
        Ok(Self {
            cgroup: Some(cgroup),
        })
    }

    fn thaw(mut self) -> Result<(), LifecycleError> {
        match self.cgroup.take() {
            Some(c) => Ok(c.thaw()?),
            None => Ok(()),
        }
    }

    fn release(&mut self) {
        self.cgroup = None;
    }
}

impl Drop for FrozenForDump<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.cgroup.take() {
            if let Err(e) = c.thaw() {
                tracing::error!("checkpoint: thaw {}: {e}", c.path().display());
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
fn processes_outside_tree(pids: &[i32], init: i32, c: &super::Container) -> Vec<i32> {
    let tree: HashSet<i32> = specutils::proc::descendants(&[init], pids)
        .into_iter()
        .collect();
    let ours: Vec<i32> = [c.sandbox, c.gofer]
        .iter()
        .flatten()
        .map(|p| p.pid)
        .collect();
    pids.iter()
        .copied()
        .filter(|p| !tree.contains(p) && !ours.contains(p))
        .collect()
}
