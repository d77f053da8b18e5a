//! The metadata kept in `<root>/<id>/meta.json`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use specutils::proc::is_same_process_alive;

use super::Status;

/// A host process named so that pid reuse cannot fool us: the pid and the
/// start time it had when we recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRef {
    pub pid: i32,
    pub start_time: u64,
}

impl ProcessRef {
    /// Records a live process; fails when it is already gone.
    pub fn of(pid: i32) -> std::io::Result<Self> {
        Ok(Self {
            pid,
            start_time: specutils::proc::start_time(pid)?,
        })
    }

    pub fn is_alive(&self) -> bool {
        is_same_process_alive(self.pid, self.start_time)
    }

    /// A pidfd for this process, if it is still the one recorded. Checked
    /// after opening, so a pid reused later cannot be reached through it.
    pub fn pidfd(&self) -> Option<std::os::fd::OwnedFd> {
        let pid = rustix::process::Pid::from_raw(self.pid)?;
        let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()?;
        self.is_alive().then_some(pidfd)
    }
}

/// One container's metadata, as the frontend stores it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    pub bundle: PathBuf,
    /// The rootfs as resolved at create, so `state` and `list` need not
    /// read the spec again.
    pub rootfs: PathBuf,
    pub status: Status,
    /// RFC 3339 with nanoseconds, as runc prints it.
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The sandbox this container runs in; equal to `id` for a root container.
    pub sandbox_id: String,
    #[serde(default)]
    pub sandbox: Option<ProcessRef>,
    #[serde(default)]
    pub gofer: Option<ProcessRef>,
    #[serde(default)]
    pub init: Option<ProcessRef>,
    /// The container's holder (sandbox/src/holder.rs): the pid we report.
    /// None when it could not start, or from an older sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<ProcessRef>,
    /// The spec's `linux.cgroupsPath` (None: the default `/runsc/<id>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_path: Option<PathBuf>,
    /// A rootless container that runs without a cgroup: the user could not
    /// make one (see `rootless.rs`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_cgroup: bool,
    /// The transient scope unit systemd keeps the cgroup as, with
    /// `--systemd-cgroup` on a host systemd runs; stopped on delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd_unit: Option<String>,
    /// The spec's hooks, kept for start (poststart) and delete (poststop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<oci_spec::runtime::Hooks>,
}

impl Container {
    pub fn new(id: &str, bundle: PathBuf, rootfs: PathBuf, sandbox_id: &str) -> Self {
        Self {
            id: id.to_string(),
            bundle,
            rootfs,
            status: Status::Creating,
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            owner: String::new(),
            annotations: BTreeMap::new(),
            sandbox_id: sandbox_id.to_string(),
            sandbox: None,
            gofer: None,
            init: None,
            holder: None,
            cgroup_path: None,
            no_cgroup: false,
            systemd_unit: None,
            hooks: None,
        }
    }

    /// The status once dead processes are taken into account: a container
    /// whose sandbox is gone, or a running one whose init has exited, is
    /// stopped whatever the file says.
    /// Only a status with a sandbox is checked: `list` of thousands of
    /// stopped containers reads no /proc files.
    pub fn live_status(&self) -> Status {
        if !self.status.has_sandbox() {
            return self.status;
        }
        let sandbox_gone = self.sandbox.is_none_or(|s| !s.is_alive());
        if sandbox_gone || self.init.is_some_and(|i| !i.is_alive()) {
            Status::Stopped
        } else {
            self.status
        }
    }

    /// The container's cgroup (which need not exist any more); an error for
    /// a rootless container that has none.
    pub fn cgroup(&self) -> Result<sandbox::cgroup::Cgroup, sandbox::cgroup::CgroupError> {
        if self.no_cgroup {
            return Err(sandbox::cgroup::CgroupError::NotDelegated(self.id.clone()));
        }
        sandbox::cgroup::Cgroup::open(self.cgroup_path.as_deref(), &self.id)
    }

    /// The pid `state` reports: the holder's, which lives in the
    /// container's namespaces, else the sandbox's; 0 once stopped.
    pub fn reported_pid(&self, status: Status) -> i32 {
        match (status, self.holder.or(self.sandbox)) {
            (Status::Stopped, _) | (_, None) => 0,
            (_, Some(p)) => p.pid,
        }
    }
}
