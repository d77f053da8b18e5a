//! `kill` and `wait`: signals to a container's processes, and its exit.

use sandbox::control::{ControlError, ErrorKind, Pending, Wait};

use crate::api::Sandbox;

use super::{ContainerStore, LifecycleError, Status};

/// Sends `signal` to the container's init, or to all its processes.
pub fn kill(
    store: &ContainerStore,
    id: &str,
    signal: i32,
    all: bool,
) -> Result<(), LifecycleError> {
    let c = store.load(id)?;
    let status = c.live_status();
    if !status.has_sandbox() {
        return Err(LifecycleError::NotRunning {
            id: id.to_string(),
            status,
        });
    }
    match Sandbox::of(store, &c.sandbox_id).signal(id, signal, all) {
        Ok(()) => Ok(()),
        Err(ControlError::Remote(e)) if e.kind == ErrorKind::NoSuchProcess => {
            Err(LifecycleError::NotRunning {
                id: id.to_string(),
                status: Status::Stopped,
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// Blocks until the container's init exits; returns its status (128 + the
/// signal number for a signal). A container that has already exited gives
/// the status its sandbox recorded.
pub fn wait(store: &ContainerStore, id: &str) -> Result<i32, LifecycleError> {
    let waiting = wait_request(store, id)?;
    wait_reply(store, id, waiting)
}

/// Asks the container's sandbox to answer when the init exits; the
/// connection turns readable then. None when the sandbox is gone, and the
/// recorded status is all there is.
pub fn wait_request(
    store: &ContainerStore,
    id: &str,
) -> Result<Option<Pending<Wait>>, LifecycleError> {
    let c = store.load(id)?;
    if !c.sandbox.is_some_and(|s| s.is_alive()) {
        return Ok(None);
    }
    match Sandbox::of(store, &c.sandbox_id).wait(id) {
        Ok(pending) => Ok(Some(pending)),
        // The sandbox may have exited between the check and the call.
        Err(ControlError::Connect { .. } | ControlError::Channel(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The status [`wait_request`] asked for.
pub fn wait_reply(
    store: &ContainerStore,
    id: &str,
    waiting: Option<Pending<Wait>>,
) -> Result<i32, LifecycleError> {
    // A live sandbox knows the status even of a container that has just
    // exited; the file is for when it is gone.
    if let Some(pending) = waiting {
        match pending.receive() {
            Ok(exit) => return Ok(exit.status),
            Err(ControlError::Connect { .. } | ControlError::Channel(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // Each container's sandbox writes its status in the container's own
    // directory (a pod's later container's too, not the pod's).
    super::files::recorded_exit_status(&store.dir(id)).ok_or_else(|| {
        LifecycleError::Invalid(format!(
            "container {id} is stopped and its exit status is unknown (its sandbox was killed)"
        ))
    })
}
