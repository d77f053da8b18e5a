//! The runsc frontend as a library: the container store and lifecycle that
//! the `runsc` binary's subcommands drive.

pub mod api;
pub mod container;
pub mod systemd;
