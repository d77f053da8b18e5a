//! The lifecycle's error: every failure of create, start, kill, wait and
//! delete, with the input it concerns.

use super::{StatusError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Spec(#[from] specutils::SpecError),
    #[error(transparent)]
    Status(#[from] StatusError),
    #[error(transparent)]
    Cgroup(#[from] sandbox::cgroup::CgroupError),
    #[error(transparent)]
    Control(#[from] sandbox::control::ControlError),
    #[error(transparent)]
    Hook(#[from] specutils::hooks::HookError),
    #[error(transparent)]
    Criu(#[from] sandbox::criu::CriuError),
    #[error(transparent)]
    Checkpoint(#[from] sandbox::checkpoint::CheckpointError),
    #[error(transparent)]
    Systemd(#[from] crate::systemd::SystemdError),
    #[error(transparent)]
    Os(#[from] specutils::error::OsError),
    #[error("{0}")]
    Invalid(String),
    /// The sandbox's own account of why it failed.
    #[error("{0}")]
    Sandbox(String),
    /// runc's words come first: containerd's runc shim takes "container not
    /// running" from a kill to mean the process is already gone.
    #[error("container not running: container {id} is {status}")]
    NotRunning { id: String, status: super::Status },
}
