//! Containers as the frontend sees them: metadata kept in the store,
//! status, the OCI state that `state` and `list` print, and the lifecycle
//! operations, one file each.
//!
//! How containerd stops a container through its runc shim, which shapes
//! what these operations accept: `kill <id> SIGTERM`, then after a grace
//! period `kill <id> SIGKILL` (or `kill --all` when the container shares a
//! pid namespace), then it reaps the sandbox pid it read from the pid file,
//! then `delete <id>`; `delete --force` is its fallback when a step failed.

pub mod checkpoint;
pub mod child_fds;
pub mod create;
pub mod create_sub;
pub mod delete;
mod error;
pub mod events;
pub mod exec;
pub mod fault;
pub mod files;
mod freezer;
mod gofer;
pub mod id_index;
pub mod kill;
mod labels;
mod members;
mod meta;
pub mod options;
pub mod pause;
pub mod pid_file;
mod prepare;
pub mod processes;
mod register;
mod restoring;
pub mod rootless;
mod scope;
pub mod signals;
pub mod spawn;
pub mod start;
pub mod state;
pub mod status;
pub mod store;
pub mod store_reader;
pub mod terminal;
pub mod update;

pub use error::LifecycleError;
pub use meta::{Container, MetaView, ProcessRef};
pub use status::{Status, StatusError};
pub use store::{ContainerStore, LockedContainer, StoreError};

/// The state hooks read on stdin, for `c` in `status` with init `pid`.
pub fn hook_state(
    c: &Container,
    status: oci_spec::runtime::ContainerState,
    pid: i32,
) -> specutils::hooks::HookState {
    specutils::hooks::HookState {
        oci_version: state::OCI_VERSION.to_string(),
        id: c.id.clone(),
        status,
        pid,
        bundle: c.bundle.clone(),
        annotations: c.annotations.clone(),
    }
}
