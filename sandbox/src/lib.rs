//! `runsc boot`: the sandbox process. It holds a pod's namespaces, launches
//! and reaps container processes, and serves the control socket. The
//! frontend uses this crate as the client of that protocol.

pub mod baseline;
pub mod boot;
pub mod capabilities;
pub mod cgroup;
mod cgroup_parent;
pub mod checkpoint;
pub mod control;
pub mod criu;
pub mod criu_cgroups;
pub mod criu_devices;
pub mod criu_stdio;
pub mod exec;
pub mod init;
pub mod launch;
pub mod restore;
pub mod seccomp;
pub mod self_filter;
pub mod server;
pub mod setup;
