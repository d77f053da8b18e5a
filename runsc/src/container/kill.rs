//! `kill` and `wait`: signals to a container's processes, and its exit.

use sandbox::control::{ControlClient, ControlError, ErrorKind, ExitStatus, Request};

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
    let client = ControlClient::connect(&store.dir(&c.sandbox_id))?;
    let request = Request::Signal {
        id: id.to_string(),
        signal,
        all,
    };
    match client.call::<serde_json::Value>(request, &[]) {
        Ok(_) => Ok(()),
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
/// signal number for a signal).
pub fn wait(store: &ContainerStore, id: &str) -> Result<i32, LifecycleError> {
    let c = store.load(id)?;
    let status = c.live_status();
    if !status.has_sandbox() {
        return Err(LifecycleError::NotRunning {
            id: id.to_string(),
            status,
        });
    }
    let client = ControlClient::connect(&store.dir(&c.sandbox_id))?;
    let exit: ExitStatus = client.call(Request::Wait { id: id.to_string() }, &[])?;
    Ok(exit.status)
}
