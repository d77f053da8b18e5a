//! The control messages: one struct per request, gathered in [`Request`]
//! (frontend to sandbox) and answered with a [`Reply`] (sandbox to
//! frontend). [`ControlRequest`] ties each request to its reply type and
//! its descriptors, so neither side picks them by hand.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::slots::{Descriptors, NoFds, Packer, SlotError, Stdio, Unpacker};

/// A request to the sandbox, with the type of its answer and of the
/// descriptors it carries (`F` borrowed when sent, owned when received).
pub trait ControlRequest: Into<Request> {
    type Reply: Into<Reply> + TryFrom<Reply, Error = Reply>;
    type Fds<F>: Descriptors<F>;
}

/// Releases a container's init, blocked before execve.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Start {
    pub id: String,
}

/// Sets up a subcontainer's init in this sandbox, blocked before execve.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CreateSub {
    pub id: String,
    pub spec: Box<oci_spec::runtime::Spec>,
    pub bundle: PathBuf,
    pub mount_point: PathBuf,
    #[serde(default)]
    pub options: crate::options::LaunchOptions,
}

/// The descriptors of [`CreateSub`].
pub struct CreateSubFds<F> {
    pub stdio: Stdio<F>,
    /// Where the sandbox appends the init's exit status.
    pub exit_file: F,
    /// `tasks` of the container's own cgroup, one per v1 hierarchy, which
    /// its init and exec'd processes write themselves into.
    pub cgroup_procs: Vec<F>,
    /// Its cgroup2 directory, if cgroup2 is mounted: they are born in it.
    pub cgroup2: Option<F>,
    /// The gofer's channels: the root filesystem's, then one per donated
    /// mount.
    pub mounts: Vec<F>,
}

impl<F> Descriptors<F> for CreateSubFds<F> {
    fn pack(self, into: &mut Packer<F>) {
        self.stdio.pack(into);
        into.one("exit_file", self.exit_file);
        into.many("cgroup_procs", self.cgroup_procs);
        into.many("cgroup2", self.cgroup2.into_iter().collect());
        into.many("mounts", self.mounts);
    }

    fn unpack(from: &mut Unpacker<F>) -> Result<Self, SlotError> {
        Ok(Self {
            stdio: Stdio::unpack(from)?,
            exit_file: from.one("exit_file")?,
            cgroup_procs: from.many("cgroup_procs")?,
            // Optional: a frontend from before the slot passes cgroup2's
            // `cgroup.procs` among the others.
            cgroup2: match from.peek() {
                Some("cgroup2") => from.many("cgroup2")?.into_iter().next(),
                _ => None,
            },
            mounts: from.many("mounts")?,
        })
    }
}

/// Kills a subcontainer and forgets it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Destroy {
    pub id: String,
}

/// Blocks until the container's init exits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Wait {
    pub id: String,
}

/// Signals the container's init, or every process of it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Signal {
    pub id: String,
    pub signal: i32,
    pub all: bool,
}

/// Starts a process in a running container.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Exec {
    pub id: String,
    pub process: Box<oci_spec::runtime::Process>,
}

/// Blocks until an exec'd process exits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WaitPid {
    pub pid: i32,
}

/// Signals an exec'd process.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SignalProcess {
    pub pid: i32,
    pub signal: i32,
}

/// The host pids of a container's processes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Processes {
    pub id: String,
}

/// Which freezer a container's cgroup has.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FreezerKind {
    /// cgroup v1's freezer hierarchy: `freezer.state`.
    V1,
    /// cgroup2: `cgroup.freeze`, and `cgroup.events` to see it done.
    V2,
}

/// Freezes a container's processes (pause).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Pause {
    pub id: String,
    pub freezer: FreezerKind,
}

/// Thaws what [`Pause`] froze (resume).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Resume {
    pub id: String,
    pub freezer: FreezerKind,
}

/// Freezes a container for a checkpoint and holds it frozen while the
/// caller keeps the connection open: the sandbox refuses exec, pause and
/// resume of it meanwhile, and puts the freezer back as it was when the
/// caller ends the hold (see [`HoldEnd`]) or goes away.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Checkpoint {
    pub id: String,
    pub freezer: FreezerKind,
}

/// The reply to [`Checkpoint`]: the container is frozen, and these are
/// the processes exec'd into it that still run (CRIU dumps only the
/// init's tree, so the caller must not lose them silently).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CheckpointHeld {
    pub execs: Vec<i32>,
}

/// Sent on a held [`Checkpoint`] connection to end the hold; answered
/// with `Done` once the freezer is set.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct HoldEnd {
    /// The dump killed the container's processes: thaw, so that the kill
    /// lands, even if the container was paused before.
    pub killed: bool,
}

/// The descriptors of [`Pause`], [`Resume`] and [`Checkpoint`]: the container cgroup's
/// freezer files, and, when the sandbox lives in that cgroup (a pod's first
/// container), where it waits out the pause and where it returns.
pub struct FreezerFds<F> {
    /// `freezer.state` (v1) or `cgroup.freeze` (v2), read-write.
    pub state: F,
    /// `cgroup.events` (v2 only).
    pub events: Vec<F>,
    /// `cgroup.procs` of a sibling cgroup in the freezer's hierarchy.
    pub park: Vec<F>,
    /// `cgroup.procs` of the container's cgroup in that hierarchy.
    pub home: Vec<F>,
}

impl<F> Descriptors<F> for FreezerFds<F> {
    fn pack(self, into: &mut Packer<F>) {
        into.one("state", self.state);
        into.many("events", self.events);
        into.many("park", self.park);
        into.many("home", self.home);
    }

    fn unpack(from: &mut Unpacker<F>) -> Result<Self, SlotError> {
        Ok(Self {
            state: from.one("state")?,
            events: from.many("events")?,
            park: from.many("park")?,
            home: from.many("home")?,
        })
    }
}

/// Every request, as it travels.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "method", content = "params")]
pub enum Request {
    Start(Start),
    CreateSub(CreateSub),
    Destroy(Destroy),
    Wait(Wait),
    Signal(Signal),
    Exec(Exec),
    WaitPid(WaitPid),
    SignalProcess(SignalProcess),
    Processes(Processes),
    Pause(Pause),
    Resume(Resume),
    Checkpoint(Checkpoint),
}

/// The reply to `CreateSub`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct SubCreated {
    pub init_pid: i32,
    /// The pid to report for it (`crate::holder`), if its holder started.
    #[serde(default)]
    pub holder: Option<i32>,
}

/// The reply to `Exec`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExecStarted {
    pub pid: i32,
}

/// Exit status of a wait: the code, or 128 + the signal number.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExitStatus {
    pub status: i32,
}

/// The host pids of a container's processes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pids(pub Vec<i32>);

/// Every successful answer, as it travels (failures are a
/// [`super::RemoteError`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "reply", content = "value", rename_all = "snake_case")]
pub enum Reply {
    Done,
    SubCreated(SubCreated),
    ExecStarted(ExecStarted),
    Exited(ExitStatus),
    Pids(Pids),
    CheckpointHeld(CheckpointHeld),
}

impl From<()> for Reply {
    fn from((): ()) -> Self {
        Reply::Done
    }
}

impl TryFrom<Reply> for () {
    type Error = Reply;
    fn try_from(r: Reply) -> Result<Self, Reply> {
        match r {
            Reply::Done => Ok(()),
            other => Err(other),
        }
    }
}

/// Ties a reply struct to its [`Reply`] variant, both ways.
macro_rules! reply_variant {
    ($($ty:ident),*) => {$(
        impl From<$ty> for Reply {
            fn from(v: $ty) -> Self {
                Reply::$ty(v)
            }
        }
        impl TryFrom<Reply> for $ty {
            type Error = Reply;
            fn try_from(r: Reply) -> Result<Self, Reply> {
                match r {
                    Reply::$ty(v) => Ok(v),
                    other => Err(other),
                }
            }
        }
    )*};
}
reply_variant!(SubCreated, ExecStarted, Pids, CheckpointHeld);

impl From<ExitStatus> for Reply {
    fn from(v: ExitStatus) -> Self {
        Reply::Exited(v)
    }
}

impl TryFrom<Reply> for ExitStatus {
    type Error = Reply;
    fn try_from(r: Reply) -> Result<Self, Reply> {
        match r {
            Reply::Exited(v) => Ok(v),
            other => Err(other),
        }
    }
}

/// Declares each request's reply and descriptors, and its `Request` variant.
macro_rules! requests {
    ($($req:ident => $reply:ty, $fds:ty;)*) => {$(
        impl ControlRequest for $req {
            type Reply = $reply;
            type Fds<F> = $fds;
        }
        impl From<$req> for Request {
            fn from(r: $req) -> Self {
                Request::$req(r)
            }
        }
    )*};
}
requests! {
    Start => (), NoFds;
    CreateSub => SubCreated, CreateSubFds<F>;
    Destroy => (), NoFds;
    Wait => ExitStatus, NoFds;
    Signal => (), NoFds;
    Exec => ExecStarted, Stdio<F>;
    WaitPid => ExitStatus, NoFds;
    SignalProcess => (), NoFds;
    Processes => Pids, NoFds;
    Pause => (), FreezerFds<F>;
    Resume => (), FreezerFds<F>;
    Checkpoint => CheckpointHeld, FreezerFds<F>;
}
