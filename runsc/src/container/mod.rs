//! Containers as the frontend sees them: metadata kept in the store, status,
//! and the OCI state that `state` and `list` print.

mod meta;
pub mod state;
pub mod status;
pub mod store;

pub use meta::{Container, ProcessRef};
pub use status::{Status, StatusError};
pub use store::{ContainerStore, LockedContainer, StoreError};
