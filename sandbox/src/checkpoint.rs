//! Checkpoint images: what runsc keeps beside CRIU's files, and the CRIU
//! command lines for a dump and for a restore.
//!
//! An image directory holds CRIU's images and `runsc-checkpoint.json`
//! ([`ImageInfo`]): the spec the container ran with, its bind mounts under
//! the names CRIU's image knows them by, and its stdio as CRIU names it
//! (`criu_stdio.rs`) wherever the processes of its tree hold it
//! (`criu_fds.rs`). Its cgroup mounts and binds of host device nodes are
//! external too (`criu_cgroups.rs`, `criu_devices.rs`). The container's
//! other mounts (proc, sysfs, tmpfs with their contents, devpts, mqueue)
//! and all its namespaces are in CRIU's images.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde::{Deserialize, Serialize};
use specutils::error::{os, OsError};

use crate::criu::Criu;
use crate::criu_cgroups::CgroupBind;
use crate::criu_devices::DeviceBind;
use crate::criu_fds::TreeFdsError;
pub use crate::criu_stdio::Stdio;
use crate::criu_stdio::StdioError;

/// The file of ours in an image directory.
pub const INFO_NAME: &str = "runsc-checkpoint.json";
/// Bumped when [`ImageInfo`] changes incompatibly.
pub const FORMAT_VERSION: u32 = 1;
pub const DUMP_LOG: &str = "dump.log";
pub const PRE_DUMP_LOG: &str = "pre-dump.log";
pub const RESTORE_LOG: &str = "restore.log";
/// Where a restoring sandbox finds the container's stdio: fd 0, 1 and 2
/// of the restore command, placed here in CRIU's descriptor table.
pub const RESTORE_STDIO_FD: i32 = 100;

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Os(#[from] OsError),
    #[error("{0} is not a runsc checkpoint image (no {INFO_NAME})")]
    NotAnImage(PathBuf),
    #[error("{path}: {source}")]
    BadInfo {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: image format {found} is not {FORMAT_VERSION}, the one this runsc reads")]
    Version { path: PathBuf, found: u32 },
    #[error("the checkpoint has a bind mount at {0}, which the bundle's config.json lacks")]
    MissingMount(String),
    #[error(transparent)]
    Stdio(#[from] StdioError),
    #[error(transparent)]
    TreeFds(#[from] TreeFdsError),
    #[error("no process to checkpoint")]
    NoTree,
    #[error("image {image} is damaged: {file} {problem}")]
    Damaged {
        image: PathBuf,
        file: String,
        problem: String,
    },
}

/// A bind mount of the container: CRIU's image calls it `cookie`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExternalMount {
    pub cookie: String,
    pub destination: String,
    pub source: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageInfo {
    pub version: u32,
    /// The checkpointed container's id.
    pub id: String,
    pub criu_version: String,
    pub spec: Spec,
    pub mounts: Vec<ExternalMount>,
    /// The container's cgroup mounts, external to CRIU's image too.
    #[serde(default)]
    pub cgroups: Vec<CgroupBind>,
    /// Binds of host device nodes (masked files, devices in a user
    /// namespace), external as well.
    #[serde(default)]
    pub devices: Vec<DeviceBind>,
    /// The container's stdio as the tree held it, one entry per CRIU
    /// name; `fd` is the stdio (0-2) the restore hands back for it.
    pub stdio: Vec<Stdio>,
    /// CRIU's image files and their sizes once the dump finished. CRIU
    /// does not notice a truncated pages image on restore (its restorer
    /// spins), so restore checks these first.
    #[serde(default)]
    pub files: BTreeMap<String, u64>,
}

/// Checks that `stdio` can stand in for the stdio `info`
/// recorded (see [`crate::criu_stdio::check_stdio`]).
pub fn check_stdio(
    info: &ImageInfo,
    stdio: [std::os::fd::BorrowedFd<'_>; 3],
) -> Result<(), CheckpointError> {
    Ok(crate::criu_stdio::check_stdio(&info.stdio, stdio)?)
}

impl ImageInfo {
    /// Reads the frozen container: `tree` is its init's tree (the init
    /// first), `given` its stdio as [`crate::criu_fds::given_stdio`] named it.
    pub fn new(
        id: &str,
        criu: &Criu,
        spec: Spec,
        bundle: &Path,
        tree: &[i32],
        given: &[Option<String>],
    ) -> Result<Self, CheckpointError> {
        let init_pid = *tree.first().ok_or(CheckpointError::NoTree)?;
        let mounts = specutils::mounts::donated_mounts(&spec)
            .into_iter()
            .enumerate()
            .map(|(n, (_, m))| ExternalMount {
                cookie: format!("runsc-mount-{n}"),
                destination: m.destination().display().to_string(),
                source: specutils::mounts::bind_source(bundle, m).unwrap_or_default(),
            })
            .collect();
        let cgroups = crate::criu_cgroups::cgroup_binds(init_pid)
            .map_err(os(format!("read the mounts of process {init_pid}")))?;
        let devices = crate::criu_devices::device_binds(init_pid)
            .map_err(os(format!("read the mounts of process {init_pid}")))?;
        let stdio = crate::criu_fds::tree_stdio(init_pid, tree, given)?;
        Ok(Self {
            version: FORMAT_VERSION,
            id: id.to_string(),
            criu_version: criu.version.clone(),
            spec,
            mounts,
            cgroups,
            devices,
            stdio,
            files: BTreeMap::new(),
        })
    }

    /// Records the sizes of CRIU's image files in `image`.
    pub fn record_files(&mut self, image: &Path) -> Result<(), CheckpointError> {
        self.files = image_files(image)?;
        Ok(())
    }

    /// Checks that CRIU's image files are there with the sizes recorded.
    pub fn verify_files(&self, image: &Path) -> Result<(), CheckpointError> {
        let found = image_files(image)?;
        for (name, size) in &self.files {
            let problem = match found.get(name) {
                None => "is missing".to_string(),
                Some(s) if s != size => format!("has {s} bytes, the checkpoint wrote {size}"),
                Some(_) => continue,
            };
            return Err(CheckpointError::Damaged {
                image: image.to_path_buf(),
                file: name.clone(),
                problem,
            });
        }
        Ok(())
    }

    /// Writes the file whole or not at all.
    pub fn write(&self, image: &Path) -> Result<(), CheckpointError> {
        let path = image.join(INFO_NAME);
        let data =
            serde_json::to_vec_pretty(self).map_err(os(format!("encode {}", path.display())))?;
        specutils::fs::write_atomic(&path, &data, 0o666)
            .map_err(os(format!("write {}", path.display())))?;
        Ok(())
    }

    pub fn read(image: &Path) -> Result<Self, CheckpointError> {
        std::fs::metadata(image).map_err(os(format!("image directory {}", image.display())))?;
        let path = image.join(INFO_NAME);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CheckpointError::NotAnImage(image.to_path_buf()))
            }
            Err(e) => return Err(os(format!("read {}", path.display()))(e).into()),
        };
        #[derive(Deserialize)]
        struct Versioned {
            version: u32,
        }
        let v: Versioned =
            serde_json::from_slice(&data).map_err(|source| CheckpointError::BadInfo {
                path: path.clone(),
                source,
            })?;
        if v.version != FORMAT_VERSION {
            return Err(CheckpointError::Version {
                path,
                found: v.version,
            });
        }
        serde_json::from_slice(&data).map_err(|source| CheckpointError::BadInfo { path, source })
    }
}

/// CRIU's files in an image directory (`*.img`), with their sizes.
fn image_files(image: &Path) -> Result<BTreeMap<String, u64>, CheckpointError> {
    let mut files = BTreeMap::new();
    let entries =
        std::fs::read_dir(image).map_err(os(format!("image directory {}", image.display())))?;
    for entry in entries {
        let entry = entry.map_err(os(format!("image directory {}", image.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".img") {
            continue;
        }
        let meta = entry
            .metadata()
            .map_err(os(format!("{}", entry.path().display())))?;
        if meta.is_file() {
            files.insert(name, meta.len());
        }
    }
    Ok(files)
}

/// What `checkpoint` asks of CRIU beyond the defaults; containerd passes
/// these as runc's flags.
#[derive(Debug, Clone, Default)]
pub struct DumpOptions {
    pub leave_running: bool,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub pre_dump: bool,
    pub parent_path: Option<PathBuf>,
    pub manage_cgroups_mode: Option<String>,
    /// The container's freezer, frozen before the dump (or paused), so
    /// CRIU takes its frozen tasks as they are.
    pub freeze_cgroup: Option<PathBuf>,
}

/// The `criu dump` (or `pre-dump`) command for the tree under `init_pid`,
/// and the log it writes.
pub fn dump_command(
    criu: &Criu,
    info: &ImageInfo,
    init_pid: i32,
    rootfs: &Path,
    image: &Path,
    work: &Path,
    opts: &DumpOptions,
) -> (Command, PathBuf) {
    let (action, log) = if opts.pre_dump {
        ("pre-dump", PRE_DUMP_LOG)
    } else {
        ("dump", DUMP_LOG)
    };
    let mut cmd = criu.command(action);
    cmd.arg("--tree")
        .arg(init_pid.to_string())
        .arg("--images-dir")
        .arg(image)
        .arg("--work-dir")
        .arg(work)
        .arg("--log-file")
        .arg(log)
        .arg("-v4")
        .arg("--root")
        .arg(rootfs);
    for m in &info.mounts {
        cmd.arg("--external")
            .arg(format!("mnt[{}]:{}", m.destination, m.cookie));
    }
    for c in &info.cgroups {
        cmd.arg("--external")
            .arg(format!("mnt[{}]:{}", c.destination, c.cookie));
    }
    for d in &info.devices {
        cmd.arg("--external")
            .arg(format!("mnt[{}]:{}", d.destination, d.cookie()));
    }
    let mut externals: Vec<&str> = info
        .stdio
        .iter()
        .filter_map(|s| s.external.as_deref())
        .collect();
    externals.sort_unstable();
    externals.dedup();
    for e in externals {
        cmd.arg("--external").arg(e);
    }
    if opts.pre_dump || opts.parent_path.is_some() {
        cmd.arg("--track-mem");
    }
    if let Some(parent) = &opts.parent_path {
        cmd.arg("--prev-images-dir").arg(parent);
    }
    if opts.leave_running && !opts.pre_dump {
        cmd.arg("--leave-running");
    }
    flag(&mut cmd, opts.tcp_established, "--tcp-established");
    flag(&mut cmd, opts.ext_unix_sk, "--ext-unix-sk");
    flag(&mut cmd, opts.shell_job, "--shell-job");
    flag(&mut cmd, opts.file_locks, "--file-locks");
    // The mode is an optional argument: it must be joined with `=`.
    cmd.arg(format!(
        "--manage-cgroups={}",
        opts.manage_cgroups_mode.as_deref().unwrap_or("ignore")
    ));
    if let Some(freezer) = &opts.freeze_cgroup {
        cmd.arg("--freeze-cgroup").arg(freezer);
    }
    (cmd, work.join(log))
}

/// Whether the sandbox should make the restored container's cgroup
/// namespace: `spec` asks for a new one (no path to join). With a user
/// namespace too, which CRIU makes later, the sandbox's user namespace
/// owns the cgroup namespace; `exec` therefore joins it before the
/// container's user namespace (see `exec::joins`).
fn new_cgroup_namespace(spec: &Spec) -> bool {
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    namespaces.is_some_and(|ns| {
        ns.iter()
            .any(|n| n.typ() == LinuxNamespaceType::Cgroup && n.path().is_none())
    })
}

fn flag(cmd: &mut Command, on: bool, name: &str) {
    if on {
        cmd.arg(name);
    }
}

/// What a restoring sandbox runs: `criu restore` arguments (without the
/// binary and action), and the files it reads afterwards.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestorePlan {
    pub args: Vec<String>,
    /// Where CRIU writes the restored init's pid.
    pub pid_file: PathBuf,
    pub log: PathBuf,
    /// Cgroup mounts the sandbox fills with its own (the new container's)
    /// cgroup directories, which only it knows for sure.
    #[serde(default)]
    pub cgroups: Vec<CgroupBind>,
    /// The spec asks for a cgroup namespace of the container's own. CRIU
    /// makes one only when it manages cgroups, so CRIU is started in one
    /// the sandbox makes, rooted at the new container's cgroups.
    #[serde(default)]
    pub cgroup_namespace: bool,
    /// The CRIU binary the frontend was given (`--criu`); None: `criu` in
    /// PATH.
    #[serde(default)]
    pub criu: Option<PathBuf>,
    /// The rootfs CRIU restores into, and the bind mounts' destinations in
    /// it, each with whether its source is a directory: made where missing
    /// before CRIU runs, which mounts onto them but makes none.
    #[serde(default)]
    pub rootfs: PathBuf,
    #[serde(default)]
    pub mount_points: Vec<(String, bool)>,
}

/// Options of `restore` that reach CRIU.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
}

/// Plans a restore of `info`'s image into the bundle's rootfs, with the
/// bind mounts' sources taken from the bundle's spec (by destination), as
/// runc does: the bundle may live elsewhere than the checkpointed one.
#[allow(clippy::too_many_arguments)]
pub fn restore_plan(
    info: &ImageInfo,
    spec: &Spec,
    bundle: &Path,
    rootfs: &Path,
    image: &Path,
    work: &Path,
    pid_file: &Path,
    opts: &RestoreOptions,
) -> Result<RestorePlan, CheckpointError> {
    let mut args: Vec<String> = vec![
        "--images-dir".into(),
        image.display().to_string(),
        "--work-dir".into(),
        work.display().to_string(),
        "--log-file".into(),
        RESTORE_LOG.into(),
        "-v4".into(),
        "--root".into(),
        rootfs.display().to_string(),
        "--restore-detached".into(),
        // The restored init becomes the sandbox's child, not CRIU's, so
        // the sandbox reaps it and its parent-death signal follows the
        // sandbox, as for an init the sandbox forked.
        "--restore-sibling".into(),
        "--pidfile".into(),
        pid_file.display().to_string(),
        // The sandbox was born in the new container's cgroup; CRIU's
        // children, the restored tasks, stay there.
        "--manage-cgroups=ignore".into(),
    ];
    let binds = specutils::mounts::donated_mounts(spec);
    let mut mount_points = Vec::with_capacity(info.mounts.len());
    for m in &info.mounts {
        let source = binds
            .iter()
            .find(|(_, b)| b.destination().display().to_string() == m.destination)
            .and_then(|(_, b)| specutils::mounts::bind_source(bundle, b))
            .ok_or_else(|| CheckpointError::MissingMount(m.destination.clone()))?;
        args.push("--external".into());
        args.push(format!("mnt[{}]:{}", m.cookie, source.display()));
        mount_points.push((m.destination.clone(), source.is_dir()));
    }
    let mut devices: Vec<(String, String)> = info
        .devices
        .iter()
        .map(|d| (d.cookie(), d.host_path()))
        .collect();
    devices.sort();
    devices.dedup();
    for (cookie, node) in devices {
        args.push("--external".into());
        args.push(format!("mnt[{cookie}]:{node}"));
    }
    for s in &info.stdio {
        args.push("--inherit-fd".into());
        args.push(format!("fd[{}]:{}", RESTORE_STDIO_FD + s.fd, s.criu_id));
    }
    for (on, name) in [
        (opts.tcp_established, "--tcp-established"),
        (opts.ext_unix_sk, "--ext-unix-sk"),
        (opts.shell_job, "--shell-job"),
        (opts.file_locks, "--file-locks"),
    ] {
        if on {
            args.push(name.into());
        }
    }
    Ok(RestorePlan {
        args,
        pid_file: pid_file.to_path_buf(),
        log: work.join(RESTORE_LOG),
        cgroups: info.cgroups.clone(),
        cgroup_namespace: new_cgroup_namespace(spec),
        criu: None,
        rootfs: rootfs.to_path_buf(),
        mount_points,
    })
}
