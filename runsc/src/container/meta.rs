//! The metadata kept in `<root>/<id>/meta.json`.

use std::borrow::Cow;
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
    /// What `state` prints as the owner: empty, as runc's does.
    pub owner: String,
    /// The effective uid that made the entry, whose name `list` prints as
    /// the owner, as runc's names its state directory's owner. None in
    /// entries written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_uid: Option<u32>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The sandbox this container runs in; equal to `id` for a root container.
    pub sandbox_id: String,
    #[serde(default)]
    pub sandbox: Option<ProcessRef>,
    /// A gofer that outlives `create`: only in entries written before the
    /// gofer ended with it (docs/decisions.md), for `delete` to end it.
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
    /// CRIU's names for the stdio the container was given, by number
    /// (`sandbox::criu_fds::given_stdio`): a checkpoint finds it by them
    /// wherever the tree holds it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stdio: Vec<Option<String>>,
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
            owner_uid: Some(rustix::process::geteuid().as_raw()),
            annotations: BTreeMap::new(),
            sandbox_id: sandbox_id.to_string(),
            sandbox: None,
            gofer: None,
            init: None,
            holder: None,
            cgroup_path: None,
            no_cgroup: false,
            systemd_unit: None,
            stdio: Vec::new(),
            hooks: None,
        }
    }

    /// The status once dead processes are taken into account: see
    /// [`live_status`].
    pub fn live_status(&self) -> Status {
        live_status(self.status, self.sandbox, self.init)
    }

    /// The container's cgroup (which need not exist any more); an error for
    /// a rootless container that has none.
    pub fn cgroup(&self) -> Result<sandbox::cgroup::Cgroup, sandbox::cgroup::CgroupError> {
        if self.no_cgroup {
            return Err(sandbox::cgroup::CgroupError::NotDelegated(self.id.clone()));
        }
        sandbox::cgroup::Cgroup::open(self.cgroup_path.as_deref(), &self.id)
    }

    /// The pid `state` reports: see [`reported_pid`].
    pub fn reported_pid(&self, status: Status) -> i32 {
        reported_pid(status, self.holder, self.sandbox)
    }
}

/// The fields of meta.json a container's state is made of, borrowed from
/// the file's bytes where they need no unescaping: `list` reads thousands,
/// and an owned [`Container`] costs a dozen allocations each. The rest
/// (hooks, cgroup, gofer) is skipped unparsed.
#[derive(Debug, Deserialize)]
pub struct MetaView<'a> {
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    /// Paths are stored as strings: serde refuses to write a path that is
    /// not UTF-8.
    #[serde(borrow)]
    pub bundle: Cow<'a, str>,
    #[serde(borrow)]
    pub rootfs: Cow<'a, str>,
    pub status: Status,
    #[serde(borrow)]
    pub created: Cow<'a, str>,
    #[serde(borrow)]
    pub owner: Cow<'a, str>,
    #[serde(default)]
    pub owner_uid: Option<u32>,
    #[serde(default, borrow)]
    pub annotations: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    /// Required, as [`Container`] requires it, so that both refuse the same
    /// files.
    #[serde(rename = "sandbox_id")]
    _sandbox_id: serde::de::IgnoredAny,
    #[serde(default)]
    pub sandbox: Option<ProcessRef>,
    #[serde(default)]
    pub init: Option<ProcessRef>,
    #[serde(default)]
    pub holder: Option<ProcessRef>,
}

impl MetaView<'_> {
    pub fn live_status(&self) -> Status {
        live_status(self.status, self.sandbox, self.init)
    }

    pub fn reported_pid(&self, status: Status) -> i32 {
        reported_pid(status, self.holder, self.sandbox)
    }
}

/// A recorded status once dead processes are taken into account: a
/// container whose sandbox is gone, or a running one whose init has exited,
/// is stopped whatever the file says.
/// Only a status with a sandbox is checked: `list` of thousands of
/// stopped containers reads no /proc files.
fn live_status(status: Status, sandbox: Option<ProcessRef>, init: Option<ProcessRef>) -> Status {
    if !status.has_sandbox() {
        return status;
    }
    let sandbox_gone = sandbox.is_none_or(|s| !s.is_alive());
    if sandbox_gone || init.is_some_and(|i| !i.is_alive()) {
        Status::Stopped
    } else {
        status
    }
}

/// The pid `state` reports: the holder's, which lives in the container's
/// namespaces, else the sandbox's; 0 once stopped.
fn reported_pid(status: Status, holder: Option<ProcessRef>, sandbox: Option<ProcessRef>) -> i32 {
    match (status, holder.or(sandbox)) {
        (Status::Stopped, _) | (_, None) => 0,
        (_, Some(p)) => p.pid,
    }
}
