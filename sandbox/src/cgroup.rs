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

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use libcgroups::common::{
    create_cgroup_manager, get_all_pids, get_cgroup_setup, AnyCgroupManager, AnyManagerError,
    CgroupConfig, CgroupManager, CgroupSetup, ControllerOpt, CreateCgroupSetupError, FreezerState,
    GetCgroupSetupError, WrappedIoError,
};
use libcgroups::stats::{
    parse_single_value, pid_stats, supported_page_sizes, CpuStats, CpuUsage, HugeTlbStats,
    MemoryData, MemoryStats,
};
use libcgroups::v1::util::{
    list_subsystem_mount_points, list_supported_mount_points, V1MountPointError,
};
use libcgroups::v1::ControllerType as V1Controller;
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
/// How long [`Cgroup::remove`] waits for SIGKILLed processes to go.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors name the cgroup by its path relative to the hierarchy roots.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("invalid cgroup path {0}: {1}")]
    InvalidPath(PathBuf, &'static str),
    #[error("detect cgroup setup for cgroup {0}: {1}")]
    Setup(PathBuf, #[source] GetCgroupSetupError),
    #[error("list cgroup hierarchies for cgroup {0}: {1}")]
    Hierarchies(PathBuf, #[source] V1MountPointError),
    #[error("open cgroup {0}: {1}")]
    Open(PathBuf, #[source] CreateCgroupSetupError),
    #[error("create cgroup {0}: mkdir {1}: {2}")]
    CreateDir(PathBuf, PathBuf, #[source] io::Error),
    #[error("cgroup {0}: {1}: {2}")]
    File(PathBuf, PathBuf, #[source] io::Error),
    #[error("read cgroup {0}: {1}")]
    Read(PathBuf, #[source] WrappedIoError),
    #[error("set resources of cgroup {0}: {1}")]
    Apply(PathBuf, #[source] AnyManagerError),
    #[error("add process {1} to cgroup {0}: {2}")]
    AddProcess(PathBuf, i32, #[source] AnyManagerError),
    #[error("freeze cgroup {0}: {1}")]
    Freeze(PathBuf, #[source] AnyManagerError),
    #[error("thaw cgroup {0}: {1}")]
    Thaw(PathBuf, #[source] AnyManagerError),
    #[error("send {2} to process {1} of cgroup {0}: {3}")]
    Signal(PathBuf, i32, Signal, #[source] Errno),
    #[error("cgroup {0} still holds processes {1:?} after SIGKILL")]
    Busy(PathBuf, Vec<i32>),
    #[error("remove cgroup {0}: rmdir {1}: {2}")]
    Remove(PathBuf, PathBuf, #[source] io::Error),
}

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

/// Moves the calling single-threaded process into the cgroups whose v1
/// `tasks` files are given (see [`Cgroup::join_handles`]).
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
        let mut created = Vec::new();
        let parent_lock = cgroup
            .in_default_parent()
            .then(|| crate::cgroup_parent::lock(false));
        let made = cgroup.make_dirs(&mut created);
        drop(parent_lock);
        let result = made.and_then(|()| resources.map_or(Ok(()), |r| cgroup.update(r)));
        if let Err(err) = result {
            // Deepest first: a parent made here can only go once its child has.
            for dir in created.iter().rev() {
                if let Err(e) = fs::remove_dir(dir) {
                    tracing::warn!("cannot undo creation of cgroup {}: {e}", dir.display());
                }
            }
            return Err(err);
        }
        Ok(cgroup)
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

        let hierarchy = |root: PathBuf, kind| Hierarchy {
            dir: root.join(&relative),
            root,
            kind,
        };
        let mut hierarchies: Vec<Hierarchy> = Vec::new();
        let mut unified_hugetlb = None;
        if let CgroupSetup::Unified = setup {
            hierarchies.push(hierarchy(CGROUP_ROOT.into(), Kind::V2));
        } else {
            let mount_err = |e| CgroupError::Hierarchies(path.clone(), e);
            let supported = list_supported_mount_points().map_err(mount_err)?;
            let cpuset = supported.get(&V1Controller::CpuSet);
            for root in list_subsystem_mount_points().map_err(mount_err)? {
                if hierarchies.iter().any(|h| h.root == root) {
                    continue;
                }
                let kind = if Some(&root) == cpuset {
                    Kind::V1Cpuset
                } else {
                    Kind::V1
                };
                hierarchies.push(hierarchy(root, kind));
            }
            if let CgroupSetup::Hybrid = setup {
                let root = PathBuf::from(HYBRID_UNIFIED_ROOT);
                let unified_has_hugetlb = get_available_controllers(&root)
                    .is_ok_and(|c| c.contains(&V2Controller::HugeTlb));
                if unified_has_hugetlb && !supported.contains_key(&V1Controller::HugeTlb) {
                    let unified = V2Manager::new(root.clone(), path.clone())
                        .map_err(|e| CgroupError::Open(path.clone(), e.into()))?;
                    unified_hugetlb = Some((unified, root.join(&relative)));
                }
                hierarchies.push(hierarchy(root, Kind::V2));
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
        let mut handles = JoinHandles::default();
        for h in &self.hierarchies {
            let dir = rustix::fs::open(
                &h.dir,
                rustix::fs::OFlags::RDONLY
                    | rustix::fs::OFlags::DIRECTORY
                    | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .map_err(|e| CgroupError::File(self.path.clone(), h.dir.clone(), e.into()))?;
            let v2 = rustix::fs::fstatfs(&dir)
                .map(|st| st.f_type == libc::CGROUP2_SUPER_MAGIC)
                .unwrap_or(false);
            if v2 {
                handles.unified = Some(dir);
            } else {
                let tasks = h.dir.join("tasks");
                let fd = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&tasks)
                    .map_err(|e| CgroupError::File(self.path.clone(), tasks.clone(), e))?;
                handles.v1_tasks.push(fd.into());
            }
        }
        Ok(handles)
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

    /// Usage and limits: cpu, memory, pids, blkio, hugetlb.
    ///
    /// libcgroups returns nothing at all when one file it expects is missing
    /// (`memory.memsw.*` on v1 without swap accounting, `nr_periods` in a v2
    /// `cpu.stat` without the cpu controller). Then this reports what the
    /// files present tell: pids, memory usage and limit, cpu time.
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        let mut stats = self.manager()?.stats().unwrap_or_else(|e| {
            tracing::debug!("cgroup {}: partial stats: {e}", self.path.display());
            self.basic_stats()
        });
        if let Some((_, dir)) = &self.unified_hugetlb {
            stats.hugetlb = self.v2_hugetlb_stats(dir)?;
        }
        Ok(stats)
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

    /// SIGKILLs every process left in the cgroup, waits at most
    /// [`REMOVE_TIMEOUT`] for them to go, and removes the cgroup, nested
    /// cgroups included, from every hierarchy. Removing a cgroup that does not
    /// exist succeeds.
    pub fn remove(&self) -> Result<(), CgroupError> {
        if !self.exists() {
            return Ok(());
        }
        // The usual case after a container ended: nothing left, so no
        // freeze, kill and thaw round (~3 ms in 11 hierarchies).
        if !self.pids()?.is_empty() {
            // Frozen, nothing in the cgroup can fork a child the kill loop
            // misses.
            let frozen = self.freeze();
            if let Err(e) = self.kill_all(Signal::SIGKILL) {
                tracing::warn!("{e}");
            }
            // A SIGKILLed task in a frozen v1 cgroup dies only once thawed.
            // Thaw even if freezing failed: the container may have been
            // paused.
            if let (Err(e), Ok(())) = (self.thaw(), frozen) {
                tracing::warn!("{e}");
            }
        }

        let deadline = Instant::now() + REMOVE_TIMEOUT;
        let mut delay = Duration::from_millis(2);
        loop {
            let pids = self.pids()?;
            let expired = Instant::now() >= deadline;
            if pids.is_empty() {
                match self.remove_dirs() {
                    Ok(()) => {
                        if self.in_default_parent() {
                            let parents = self.hierarchies.iter().filter_map(|h| h.dir.parent());
                            crate::cgroup_parent::remove_if_empty(parents);
                        }
                        return Ok(());
                    }
                    Err(e) if expired => return Err(e),
                    // The kernel may still be tearing down the last exit.
                    Err(_) => {}
                }
            } else if expired {
                return Err(CgroupError::Busy(self.path.clone(), pids));
            } else if let Err(e) = self.kill_all(Signal::SIGKILL) {
                tracing::debug!("{e}");
            }
            thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(100));
        }
    }

    /// Makes this cgroup's directories, recording in `created` those that did
    /// not exist, parents before children.
    fn make_dirs(&self, created: &mut Vec<PathBuf>) -> Result<(), CgroupError> {
        let relative = self.path.strip_prefix("/").unwrap_or(&self.path);
        for h in &self.hierarchies {
            let controllers = match h.kind {
                Kind::V2 => self.read(&h.root.join("cgroup.controllers"))?,
                Kind::V1 | Kind::V1Cpuset => String::new(),
            };
            let mut current = h.root.clone();
            for component in relative.components() {
                // Every v2 ancestor must hand the controllers down, or the
                // leaf has no limit files; never the leaf itself, which would
                // then be refused processes ("no internal processes").
                for controller in controllers.split_whitespace() {
                    let file = current.join("cgroup.subtree_control");
                    if let Err(e) = fs::write(&file, format!("+{controller}")) {
                        tracing::debug!("cannot enable {controller} in {}: {e}", file.display());
                    }
                }
                let parent = current.clone();
                current.push(component);
                match fs::create_dir(&current) {
                    Ok(()) => created.push(current.clone()),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(CgroupError::CreateDir(self.path.clone(), current, e)),
                }
                if h.kind == Kind::V1Cpuset {
                    for name in ["cpuset.cpus", "cpuset.mems"] {
                        if self.read(&current.join(name))?.trim().is_empty() {
                            let inherited = self.read(&parent.join(name))?;
                            self.write(&current.join(name), inherited.trim())?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn remove_dirs(&self) -> Result<(), CgroupError> {
        for h in &self.hierarchies {
            self.remove_tree(&h.dir)?;
        }
        Ok(())
    }

    /// rmdir `dir` after its nested cgroups. The control files inside need no
    /// removal: the kernel drops them with the directory.
    fn remove_tree(&self, dir: &Path) -> Result<(), CgroupError> {
        let remove_err = |e| CgroupError::Remove(self.path.clone(), dir.to_path_buf(), e);
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(remove_err(e)),
        };
        for entry in entries {
            let entry = entry.map_err(remove_err)?;
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                self.remove_tree(&entry.path())?;
            }
        }
        match fs::remove_dir(dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(remove_err(e)),
            _ => Ok(()),
        }
    }

    /// What the control files present tell, whichever hierarchy holds them.
    fn basic_stats(&self) -> Stats {
        let value = |names: &[&str]| {
            let mut files = self
                .hierarchies
                .iter()
                .flat_map(|h| names.iter().map(|n| h.dir.join(n)));
            files
                .find_map(|file| parse_single_value(&file).ok())
                .unwrap_or_default()
        };
        let v2_cpu_usec = self.hierarchies.iter().find_map(|h| {
            let stat = fs::read_to_string(h.dir.join("cpu.stat")).ok()?;
            stat.lines()
                .find_map(|l| l.strip_prefix("usage_usec ")?.trim().parse::<u64>().ok())
        });
        let memory = MemoryData {
            usage: value(&["memory.usage_in_bytes", "memory.current"]),
            max_usage: value(&["memory.max_usage_in_bytes", "memory.peak"]),
            limit: value(&["memory.limit_in_bytes", "memory.max"]),
            fail_count: value(&["memory.failcnt"]),
        };
        let usage_total = match v2_cpu_usec {
            Some(usec) => usec.saturating_mul(1000),
            None => value(&["cpuacct.usage"]),
        };
        Stats {
            pids: (self.hierarchies.iter())
                .find_map(|h| pid_stats(&h.dir).ok())
                .unwrap_or_default(),
            memory: MemoryStats {
                memory,
                ..Default::default()
            },
            cpu: CpuStats {
                usage: CpuUsage {
                    usage_total,
                    ..Default::default()
                },
                ..Default::default()
            },
            hugetlb: (self.hierarchies.iter())
                .filter(|h| h.kind == Kind::V2)
                .find_map(|h| self.v2_hugetlb_stats(&h.dir).ok())
                .unwrap_or_default(),
            ..Default::default()
        }
    }

    /// hugetlb usage in the v2 directory `dir`, as libcgroups' v2 manager
    /// reports it (cgroup v2 keeps no peak usage).
    fn v2_hugetlb_stats(&self, dir: &Path) -> Result<HashMap<String, HugeTlbStats>, CgroupError> {
        let sizes = supported_page_sizes().map_err(|e| {
            self.file_err(Path::new("/sys/kernel/mm/hugepages"), io::Error::other(e))
        })?;
        let mut stats = HashMap::new();
        for size in sizes {
            let current = dir.join(format!("hugetlb.{size}.current"));
            let usage = parse_single_value(&current)
                .map_err(|e| CgroupError::Read(self.path.clone(), e))?;
            let events = self.read(&dir.join(format!("hugetlb.{size}.events")))?;
            let fail_count = (events.lines())
                .find_map(|l| l.strip_prefix("max ")?.trim().parse().ok())
                .unwrap_or(0);
            let entry = HugeTlbStats {
                usage,
                fail_count,
                ..Default::default()
            };
            stats.insert(size, entry);
        }
        Ok(stats)
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

/// The cgroup path, absolute and normalised. `..` is refused because it would
/// leave the cgroup filesystem, and the root because removing it would kill
/// every process on the host.
/// The cgroupfs path of a systemd-style `cgroupsPath`, `slice:prefix:name`
/// (what containerd and kubelet send with runc's `--systemd-cgroup`): the
/// directory systemd would give unit `<prefix>-<name>.scope` in that
/// slice, whose dashes nest (`a-b.slice` is `a.slice/a-b.slice`). A name
/// ending in `.slice` is a slice of its own. An empty slice is
/// `system.slice`; no path at all is `system.slice:runsc:<id>`. No unit is
/// registered with systemd: only the place is the same.
pub fn systemd_path(given: Option<&str>, id: &str) -> Result<PathBuf, CgroupError> {
    let raw = given.filter(|p| !p.is_empty());
    let invalid = |reason| CgroupError::InvalidPath(PathBuf::from(raw.unwrap_or_default()), reason);
    let (slice, prefix, name) = match raw.map(|r| r.split(':').collect::<Vec<_>>()) {
        None => ("", "runsc", id),
        Some(parts) => match parts[..] {
            [slice, prefix, name] => (slice, prefix, name),
            _ => {
                return Err(invalid(
                    "with --systemd-cgroup it must be slice:prefix:name",
                ))
            }
        },
    };
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
    };
    let mut path = expand_slice(slice).ok_or_else(|| invalid("the slice is not a valid name"))?;
    if name.is_empty() || name.contains('/') || prefix.contains('/') {
        return Err(invalid("the unit name is not a valid name"));
    }
    if name.ends_with(".slice") {
        path.push(name);
    } else if prefix.is_empty() {
        path.push(format!("{name}.scope"));
    } else {
        path.push(format!("{prefix}-{name}.scope"));
    }
    resolve_path(Some(&path), id)
}

/// `a-b-c.slice` as the directories systemd nests it in:
/// `/a.slice/a-b.slice/a-b-c.slice`; `-.slice` is the root.
fn expand_slice(slice: &str) -> Option<PathBuf> {
    let mut path = PathBuf::from("/");
    if slice == "-.slice" {
        return Some(path);
    }
    let stem = slice.strip_suffix(".slice")?;
    if stem.is_empty()
        || stem.contains('/')
        || stem.starts_with('-')
        || stem.ends_with('-')
        || stem.contains("--")
    {
        return None;
    }
    let mut prefix = String::new();
    for part in stem.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        path.push(format!("{prefix}.slice"));
    }
    Some(path)
}

fn resolve_path(path: Option<&Path>, id: &str) -> Result<PathBuf, CgroupError> {
    let given = path.filter(|p| !p.as_os_str().is_empty());
    let raw = given.map_or_else(|| Path::new(DEFAULT_PARENT).join(id), Path::to_path_buf);
    let invalid = |reason| CgroupError::InvalidPath(raw.clone(), reason);
    let id_is_one_name = matches!(
        Path::new(id).components().collect::<Vec<_>>()[..],
        [Component::Normal(_)]
    );
    if given.is_none() && !id_is_one_name {
        // Otherwise removing one container's cgroup could take others along.
        return Err(invalid("the container id must be one path component"));
    }
    let mut resolved = PathBuf::from("/");
    for component in raw.components() {
        match component {
            Component::Normal(name) => resolved.push(name),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return Err(invalid("\"..\" in it")),
        }
    }
    if resolved == Path::new("/") {
        return Err(invalid("the root cgroup holds the whole host"));
    }
    Ok(resolved)
}

#[cfg(test)]
mod path_tests {
    use super::*;

    fn ok(given: Option<&str>) -> String {
        systemd_path(given, "c1")
            .map(|p| p.display().to_string())
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn systemd_paths_land_where_systemd_puts_them() {
        assert_eq!(
            ok(Some("kubepods-besteffort-pod12.slice:cri-containerd:abc")),
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-containerd-abc.scope"
        );
        assert_eq!(
            ok(Some("system.slice:docker:abc")),
            "/system.slice/docker-abc.scope"
        );
        assert_eq!(ok(Some(":runsc:abc")), "/system.slice/runsc-abc.scope");
        assert_eq!(ok(Some("machine.slice::abc")), "/machine.slice/abc.scope");
        assert_eq!(ok(Some("-.slice:x:abc")), "/x-abc.scope");
        assert_eq!(ok(Some("a.slice:x:a-b.slice")), "/a.slice/a-b.slice");
        assert_eq!(ok(None), "/system.slice/runsc-c1.scope");
        assert_eq!(ok(Some("")), "/system.slice/runsc-c1.scope");
    }

    #[test]
    fn bad_systemd_paths_are_refused() {
        for bad in [
            "/runsc/c1",
            "a:b",
            "a:b:c:d",
            "a.slice:x:",
            "noslice:x:abc",
            "-a.slice:x:abc",
            "a--b.slice:x:abc",
            "a-.slice:x:abc",
            "../x.slice:x:abc",
            "a.slice:x:../../etc",
            "a.slice:../x:abc",
        ] {
            assert!(
                ok(Some(bad)).starts_with("error: invalid cgroup path"),
                "{bad}: {}",
                ok(Some(bad))
            );
        }
    }
}
