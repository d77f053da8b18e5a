//! Helpers shared by the frontend, the sandbox and the gofer: loading and
//! validating OCI specs, container ids, process facts from /proc, and the
//! cleanup guard that undoes partial work on error paths.

pub mod annotations;
pub mod channel;
pub mod cleanup;
pub mod error;
pub mod fs;
pub mod hooks;
pub mod id;
pub mod idle_code;
pub mod idle_stack;
pub mod mounts;
pub mod namespaces;
pub mod proc;
pub mod scm_rights;
pub mod signal;
pub mod span_cache;
pub mod spec;
pub mod sys;
pub mod vfork;

pub use cleanup::Cleanup;
pub use error::{os, OsError};
pub use id::{validate_id, IdError};
pub use spec::{load_spec, SpecError};
