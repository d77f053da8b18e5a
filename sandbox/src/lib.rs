//! `runsc boot`: the sandbox process. It holds a pod's namespaces, launches
//! and reaps container processes, and serves the control socket. The
//! frontend uses this crate as the client of that protocol.
//!
//! Each container process is forked by the sandbox: `spawn` is the parent
//! side of that fork (it prepares the plan, forks, and drives the child),
//! `init` the child side (it builds the container and execs). `exec` does
//! the same for a process started in a running container.

pub mod baseline;
pub mod boot;
pub mod capabilities;
pub mod cgroup;
pub mod checkpoint;
pub mod control;
pub mod criu;
pub mod criu_cgroups;
pub mod criu_devices;
pub mod criu_fds;
pub mod criu_stdio;
pub mod exec;
pub mod holder;
pub mod init;
pub mod options;
pub mod pod_namespaces;
pub mod restore;
pub mod seccomp;
pub mod self_filter;
pub mod server;
pub mod spawn;
