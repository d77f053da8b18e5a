//! `runsc gofer`: the only process that resolves host paths. For each mount
//! of a container (the rootfs first, then each bind mount in spec order) it
//! makes a detached copy of the host tree, applies the spec's flags, and
//! donates the mount's descriptor to the sandbox over that mount's channel.

pub mod donation;
pub mod serve;

pub use donation::{Donation, GoferError};
