//! Container cgroups, built on `libcgroups`.
//!
//! A [`Cgroup`] is one container's cgroup: the same path (`/runsc/<id>`
//! unless the spec's `cgroupsPath` says otherwise) in every mounted hierarchy.
//! On v2 that is one directory, driven by libcgroups' v2 manager. On v1 it is
//! one directory per v1 hierarchy, named ones such as `name=systemd` included
//! (as runc does, so that no hierarchy keeps counting the container in the
//! runtime's cgroup), driven by libcgroups' v1 manager. Hybrid is v1 plus a
//! directory in the cgroup2 mount at `/sys/fs/cgroup/unified`.
//!
//! # Where libcgroups 0.7 falls short, and what this module does instead
//!
//! - Hybrid: libcgroups drives only the v1 controllers. A controller the
//!   kernel attached to the unified hierarchy instead (hugetlb on our hosts)
//!   is out of reach, and hugepage limits fail with "cgroup hugetlb is
//!   required". When v1 lacks hugetlb and the unified hierarchy has it, a
//!   second, v2 manager rooted there applies them; hugetlb stats come from
//!   there too.
//! - Neither manager creates a cgroup before a process joins: v1 `apply`
//!   writes into directories that do not exist yet, and the v2 manager enables
//!   controllers in the parents only when `add_task` makes the leaf.
//!   [`Cgroup::create`] makes the directories itself, enabling the available
//!   controllers in every v2 ancestor and copying `cpuset.cpus`/`mems` into
//!   new v1 cpuset directories, which the kernel leaves empty and then refuses
//!   tasks for (ENOSPC), even tasks that write `cgroup.procs` themselves.
//! - The v1 `get_all_pids` reads only the devices hierarchy, and fails
//!   without one; [`Cgroup::pids`] reads every hierarchy.
//! - `stats` fails as a whole when one file it expects is missing; see
//!   [`Cgroup::stats`].
//! - `remove` SIGKILLs only the leaf's direct members, fails on nested cgroups
//!   (a container may make some in its cgroup namespace), gives up after about
//!   100 ms, and never thaws, yet a SIGKILLed task in a frozen v1 cgroup lives
//!   on until thawed. [`Cgroup::remove`] does its own teardown.
//!
//! Kernel memory limits are dropped with a warning, as runc does: the kernel
//! deprecated them and, since 6.1, ignores writes to them.
//!
//! Relative `cgroupsPath`s start at the hierarchy roots, as in libcgroups.
//! runc starts them at its own cgroup in each hierarchy, which one libcgroups
//! manager cannot express, and which would make a later command running in
//! another cgroup open a different cgroup than `create` made.
//!
//! Device rules apply on v1. On v2 they would need an eBPF program
//! (libcgroups' `cgroupsv2_devices` feature, off here); the container then
//! sees only the device nodes the sandbox creates.

mod dirs;
mod error;
mod mounts;
mod parent;
mod path;
mod realtime;
mod stats;
mod systemd;
mod teardown;
mod writer;

pub use error::CgroupError;
pub use systemd::systemd_path;

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use path::resolve_path;

use libcgroups::common::{
    create_cgroup_manager, get_all_pids, get_cgroup_setup, AnyCgroupManager, CgroupConfig,
    CgroupManager, CgroupSetup, ControllerOpt, FreezerState,
};
use libcgroups::v2::controller_type::ControllerType as V2Controller;
use libcgroups::v2::manager::Manager as V2Manager;
use libcgroups::v2::util::get_available_controllers;
use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

pub use libcgroups::stats::Stats;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// libcgroups recognises a hybrid setup only by a cgroup2 mount exactly here.
const HYBRID_UNIFIED_ROOT: &str = "/sys/fs/cgroup/unified";
const DEFAULT_PARENT: &str = "/runsc";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    V1,
    V1Cpuset,
    V2,
}

/// This cgroup's directory in one hierarchy.
#[derive(Debug)]
struct Hierarchy {
    root: PathBuf,
    dir: PathBuf,
    kind: Kind,
    /// v1: the controllers attached to this hierarchy; empty on cgroup2.
    controllers: Vec<String>,
}

/// One container's cgroup. Dropping it leaves the cgroup in place; see
/// [`Cgroup::remove`].
pub struct Cgroup {
    path: PathBuf,
    hierarchies: Vec<Hierarchy>,
    /// Made on first use: libcgroups reads the mount table once per
    /// controller to build it (~1.5 ms here), and removing a cgroup with
    /// nothing left in it does not need it.
    manager: std::cell::OnceCell<AnyCgroupManager>,
    config: CgroupConfig,
    /// Hybrid only: this cgroup in the unified hierarchy, and its manager,
    /// when hugetlb is there and not in v1.
    unified_hugetlb: Option<(V2Manager, PathBuf)>,
}

impl fmt::Debug for Cgroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cgroup")
            .field("path", &self.path)
            .field("hierarchies", &self.hierarchies)
            .finish_non_exhaustive()
    }
}

/// See [`Cgroup::join_handles`].
#[derive(Debug, Default)]
pub struct JoinHandles {
    /// The cgroup's directory in the cgroup2 hierarchy, if one is mounted.
    pub unified: Option<std::os::fd::OwnedFd>,
    /// `tasks` of the cgroup in each v1 hierarchy.
    pub v1_tasks: Vec<std::os::fd::OwnedFd>,
}

/// Moves the calling single-threaded process into the cgroups whose
/// `tasks` or `cgroup.procs` files are given, one per hierarchy (see
/// [`Cgroup::join_handles`]): "0" names the writer.
pub fn join_self(tasks: &[std::os::fd::OwnedFd]) -> io::Result<()> {
    for fd in tasks {
        rustix::io::write(fd, b"0")?;
    }
    Ok(())
}

impl Cgroup {
    /// Creates the cgroup `path` (`/runsc/<id>` when `None`) in every
    /// hierarchy and applies `resources`. On failure, the directories made
    /// here are removed again. An existing cgroup is reused.
    pub fn create(
        path: Option<&Path>,
        id: &str,
        resources: Option<&LinuxResources>,
    ) -> Result<Self, CgroupError> {
        let cgroup = Self::open(path, id)?;
        cgroup.make(|_| true, resources)?;
        Ok(cgroup)
    }

    /// The first step of a create in two: the cgroup's directory in the
    /// cgroup2 hierarchy alone, where a process can be born
    /// (`CLONE_INTO_CGROUP`) while [`Cgroup::finish`] makes the rest.
    pub fn create_unified(path: Option<&Path>, id: &str) -> Result<Self, CgroupError> {
        let cgroup = Self::open(path, id)?;
        cgroup.make(|kind| kind == Kind::V2, None)?;
        Ok(cgroup)
    }

    /// The second step: the directories in the v1 hierarchies, and
    /// `resources` applied. On failure it removes the directories it made,
    /// not those of [`Cgroup::create_unified`].
    pub fn finish(&self, resources: Option<&LinuxResources>) -> Result<(), CgroupError> {
        self.make(|kind| kind != Kind::V2, resources)
    }

    /// Opens the cgroup `path` (`/runsc/<id>` when `None`) for a command that
    /// did not create it. The cgroup need not exist; see [`Cgroup::exists`].
    pub fn open(path: Option<&Path>, id: &str) -> Result<Self, CgroupError> {
        let path = resolve_path(path, id)?;
        let relative = path.strip_prefix("/").unwrap_or(&path).to_path_buf();
        let setup = get_cgroup_setup().map_err(|e| CgroupError::Setup(path.clone(), e))?;
        let config = CgroupConfig {
            cgroup_path: path.clone(),
            systemd_cgroup: false,
            container_name: id.to_owned(),
        };

        let hierarchy = |root: PathBuf, kind, controllers| Hierarchy {
            dir: root.join(&relative),
            root,
            kind,
            controllers,
        };
        let mut hierarchies: Vec<Hierarchy> = Vec::new();
        let mut unified_hugetlb = None;
        if let CgroupSetup::Unified = setup {
            hierarchies.push(hierarchy(CGROUP_ROOT.into(), Kind::V2, Vec::new()));
        } else {
            let mounts =
                mounts::v1_mounts().map_err(|e| CgroupError::Hierarchies(path.clone(), e))?;
            let v1_has = |name: &str| {
                mounts
                    .iter()
                    .any(|m| m.controllers.iter().any(|c| c == name))
            };
            let v1_has_hugetlb = v1_has("hugetlb");
            for mount in mounts {
                let kind = if mount.controllers.iter().any(|c| c == "cpuset") {
                    Kind::V1Cpuset
                } else {
                    Kind::V1
                };
                hierarchies.push(hierarchy(mount.root, kind, mount.controllers));
            }
            if let CgroupSetup::Hybrid = setup {
                let root = PathBuf::from(HYBRID_UNIFIED_ROOT);
                let unified_has_hugetlb = get_available_controllers(&root)
                    .is_ok_and(|c| c.contains(&V2Controller::HugeTlb));
                if unified_has_hugetlb && !v1_has_hugetlb {
                    let unified = V2Manager::new(root.clone(), path.clone())
                        .map_err(|e| CgroupError::Open(path.clone(), e.into()))?;
                    unified_hugetlb = Some((unified, root.join(&relative)));
                }
                hierarchies.push(hierarchy(root, Kind::V2, Vec::new()));
            }
        }
        Ok(Cgroup {
            path,
            hierarchies,
            manager: std::cell::OnceCell::new(),
            config,
            unified_hugetlb,
        })
    }

    fn manager(&self) -> Result<&AnyCgroupManager, CgroupError> {
        if let Some(m) = self.manager.get() {
            return Ok(m);
        }
        let made = create_cgroup_manager(self.config.clone())
            .map_err(|e| CgroupError::Open(self.path.clone(), e))?;
        Ok(self.manager.get_or_init(|| made))
    }

    /// Whether the cgroup is in `/runsc`, which we make and remove.
    fn in_default_parent(&self) -> bool {
        self.path.parent() == Some(Path::new(DEFAULT_PARENT))
    }

    /// The cgroup's path from the hierarchy roots, e.g. `/runsc/<id>`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cgroup's directory in each hierarchy.
    pub fn dirs(&self) -> Vec<&Path> {
        self.hierarchies.iter().map(|h| h.dir.as_path()).collect()
    }

    /// The directory whose freezer `freeze` uses: the v1 freezer
    /// hierarchy's where there is one, else the cgroup2 one.
    pub fn freezer_dir(&self) -> Option<&Path> {
        let v1 = self
            .hierarchies
            .iter()
            .find(|h| h.kind != Kind::V2 && h.root.file_name().is_some_and(|n| n == "freezer"));
        v1.or_else(|| self.hierarchies.iter().find(|h| h.kind == Kind::V2))
            .map(|h| h.dir.as_path())
    }

    /// Whether the cgroup's directory exists in any hierarchy.
    pub fn exists(&self) -> bool {
        self.hierarchies.iter().any(|h| h.dir.exists())
    }

    /// Descriptors through which a new process joins this cgroup without
    /// a migration that waits for an RCU grace period (10-20 ms each time):
    /// the cgroup2 directory, for clone3's CLONE_INTO_CGROUP, and each v1
    /// hierarchy's `tasks` file, to which a single-threaded process writes
    /// "0" to move itself (the kernel skips the global threadgroup lock for
    /// that case only).
    pub fn join_handles(&self) -> Result<JoinHandles, CgroupError> {
        Ok(JoinHandles {
            unified: self.unified_dir()?,
            v1_tasks: self.v1_tasks()?,
        })
    }

    /// The cgroup's directory in the cgroup2 hierarchy, if one is mounted:
    /// see [`Cgroup::join_handles`].
    pub fn unified_dir(&self) -> Result<Option<std::os::fd::OwnedFd>, CgroupError> {
        let Some(h) = self.hierarchies.iter().find(|h| h.kind == Kind::V2) else {
            return Ok(None);
        };
        let dir = rustix::fs::open(
            &h.dir,
            rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| CgroupError::File(self.path.clone(), h.dir.clone(), e.into()))?;
        Ok(Some(dir))
    }

    /// `tasks` of the cgroup in each v1 hierarchy, opened for writing: see
    /// [`Cgroup::join_handles`].
    pub fn v1_tasks(&self) -> Result<Vec<std::os::fd::OwnedFd>, CgroupError> {
        let v1 = self.hierarchies.iter().filter(|h| h.kind != Kind::V2);
        v1.map(|h| {
            let tasks = h.dir.join("tasks");
            std::fs::OpenOptions::new()
                .write(true)
                .open(&tasks)
                .map(Into::into)
                .map_err(|e| CgroupError::File(self.path.clone(), tasks, e))
        })
        .collect()
    }

    /// Moves process `pid`, all its threads, into the cgroup.
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        self.manager()?
            .add_task(Pid::from_raw(pid))
            .map_err(|e| CgroupError::AddProcess(self.path.clone(), pid, e))?;
        // libcgroups joins only the hierarchies of the controllers it knows;
        // writing again where it already did is harmless.
        for h in &self.hierarchies {
            self.write(&h.dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// All processes in the cgroup and its descendants, in every hierarchy.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let mut pids = BTreeSet::new();
        for h in &self.hierarchies {
            match get_all_pids(&h.dir) {
                Ok(found) => pids.extend(found.into_iter().map(Pid::as_raw)),
                // The cgroup, or a nested one, went away while being walked.
                Err(e) if e.inner().kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(CgroupError::Read(self.path.clone(), e)),
            }
        }
        Ok(pids.into_iter().collect())
    }

    /// Stops every process in the cgroup (pause).
    pub fn freeze(&self) -> Result<(), CgroupError> {
        self.manager()?
            .freeze(FreezerState::Frozen)
            .map_err(|e| CgroupError::Freeze(self.path.clone(), e))
    }

    /// Lets the processes of a frozen cgroup run again (resume).
    pub fn thaw(&self) -> Result<(), CgroupError> {
        self.manager()?
            .freeze(FreezerState::Thawed)
            .map_err(|e| CgroupError::Thaw(self.path.clone(), e))
    }

    /// Applies `resources`; limits they leave out stay as they are.
    pub fn update(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        if self.apply_direct(resources)? {
            return Ok(());
        }
        let _realtime = self.make_room_for_realtime(resources)?;
        let mut resources = resources.clone();
        if let Some(memory) = resources.memory_mut() {
            if memory.kernel().is_some() {
                tracing::warn!(
                    "cgroup {}: kernel memory limit ignored",
                    self.path.display()
                );
                memory.set_kernel(None);
            }
        }
        if let Some(cpu) = resources.cpu_mut() {
            // Zero means "leave it" in what Docker's update sends (runc reads
            // it so); cpu.max refuses a period of 0.
            if cpu.period() == Some(0) {
                cpu.set_period(None);
            }
            if cpu.quota() == Some(0) {
                cpu.set_quota(None);
            }
        }
        if let Some((unified, _)) = &self.unified_hugetlb {
            if let Some(limits) = resources.hugepage_limits().clone() {
                let mut hugetlb = LinuxResources::default();
                hugetlb.set_hugepage_limits(Some(limits));
                unified
                    .apply(&controller_opt(&hugetlb))
                    .map_err(|e| CgroupError::Apply(self.path.clone(), e.into()))?;
                resources.set_hugepage_limits(None);
            }
        }
        self.manager()?
            .apply(&controller_opt(&resources))
            .map_err(|e| CgroupError::Apply(self.path.clone(), e))
    }

    /// Sends `signal` to every process in the cgroup. Processes forked while
    /// this runs may escape it; [`Cgroup::remove`] freezes first for that.
    pub fn kill_all(&self, signal: Signal) -> Result<(), CgroupError> {
        let own = std::process::id();
        for pid in self.pids()? {
            // Never signal ourselves, even if a caller put us in the cgroup.
            if u32::try_from(pid).is_ok_and(|p| p == own) {
                continue;
            }
            match kill(Pid::from_raw(pid), signal) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(e) => return Err(CgroupError::Signal(self.path.clone(), pid, signal, e)),
            }
        }
        Ok(())
    }

    fn read(&self, file: &Path) -> Result<String, CgroupError> {
        fs::read_to_string(file).map_err(|e| self.file_err(file, e))
    }

    fn write(&self, file: &Path, value: &str) -> Result<(), CgroupError> {
        fs::write(file, value).map_err(|e| self.file_err(file, e))
    }

    fn file_err(&self, file: &Path, e: io::Error) -> CgroupError {
        CgroupError::File(self.path.clone(), file.to_path_buf(), e)
    }
}

fn controller_opt(resources: &LinuxResources) -> ControllerOpt<'_> {
    ControllerOpt {
        resources,
        disable_oom_killer: (resources.memory().and_then(|m| m.disable_oom_killer()))
            .unwrap_or(false),
        oom_score_adj: None,
        freezer_state: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_chmod_names_chmod_and_counts_as_permission_denied() {
        let e = CgroupError::Chmod(
            PathBuf::from("/runsc/c1"),
            PathBuf::from("/sys/fs/cgroup/pids/runsc"),
            io::Error::from_raw_os_error(libc::EPERM),
        );
        let text = e.to_string();
        assert!(
            text.starts_with("create cgroup /runsc/c1: chmod 0755 /sys/fs/cgroup/pids/runsc: "),
            "{text}"
        );
        assert!(text.contains("not permitted"), "{text}");
        assert!(e.is_permission_denied());
        let other = CgroupError::Chmod(
            PathBuf::from("/runsc/c1"),
            PathBuf::from("/sys/fs/cgroup/pids/runsc"),
            io::Error::from_raw_os_error(libc::EIO),
        );
        assert!(!other.is_permission_denied());
    }
}
