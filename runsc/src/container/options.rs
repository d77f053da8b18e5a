//! What `create` (and `run`, `restore`) is asked for, and what it gives
//! back.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use super::spawn::Child;
use super::Container;

/// How the container's network namespace is chosen (`--network`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    Sandbox,
    Host,
    None,
}

#[derive(Debug)]
pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub network: NetworkMode,
    /// `--systemd-cgroup`: cgroupsPath is `slice:prefix:name`.
    pub systemd_cgroup: bool,
    /// `--rootless` (rootless is also on whenever we are not root).
    pub rootless: bool,
    /// `--no-new-keyring`.
    pub launch: sandbox::options::LaunchOptions,
    /// Global flags (logging) the gofer and sandbox are started with.
    pub child_flags: Vec<String>,
    /// Restore the container from a checkpoint instead of creating it.
    pub restore: Option<RestoreRequest>,
    /// The init's stdin, stdout and stderr (without a terminal); ours when
    /// None, as for the CLI. The shim passes its pipes here.
    pub stdio: Option<[OwnedFd; 3]>,
    /// The bundle's spec, when the caller has already read it with
    /// `specutils::load_spec` (`run`, for its terminal); read when None.
    pub spec: Option<oci_spec::runtime::Spec>,
    /// Start the container as soon as it is created, as `run` does: one
    /// metadata write instead of two. Not done for a pod's later
    /// container, or a rootless one without a cgroup (the status in
    /// [`Created::container`] tells), nor for a restore, which runs.
    pub start: bool,
}

impl CreateOptions {
    /// Container `id` from the bundle at `bundle`, with runc's defaults:
    /// the sandbox's own network, cgroupfs paths, no pid file or console.
    pub fn new(id: &str, bundle: PathBuf) -> Self {
        Self {
            id: id.to_string(),
            bundle,
            pid_file: None,
            console_socket: None,
            network: NetworkMode::Sandbox,
            systemd_cgroup: false,
            rootless: false,
            launch: sandbox::options::LaunchOptions::default(),
            child_flags: Vec::new(),
            restore: None,
            stdio: None,
            spec: None,
            start: false,
        }
    }
}

/// Where `restore` finds the checkpoint, and what it asks of CRIU.
#[derive(Debug)]
pub struct RestoreRequest {
    pub image: PathBuf,
    pub work: Option<PathBuf>,
    pub options: sandbox::checkpoint::RestoreOptions,
    /// The CRIU binary, a path or a name in PATH (None: `criu`).
    pub criu: Option<PathBuf>,
}

/// A created container; `sandbox` is our child until we exit.
#[derive(Debug)]
pub struct Created {
    pub container: Container,
    /// The new sandbox; None for a subcontainer, which joined one.
    pub sandbox: Option<Child>,
}
