//! containerd-shim-runsc-v1: containerd's shim v2 task API over the runsc
//! frontend, in process; one shim per pod.

mod frontend;
mod log_binary;
mod malloc;
mod oom;
mod options;
mod process;
mod publish;
mod reap;
mod rootfs;
mod service;
mod shim;
mod stats;
mod stdio;
mod task;

fn main() {
    malloc::one_arena();
    // No reaper of the crate's, nor a subreaper: see reap.rs.
    let config = containerd_shim::Config {
        no_reaper: true,
        no_sub_reaper: true,
        ..Default::default()
    };
    containerd_shim::run::<shim::Shim>("io.containerd.runsc.v1", Some(config));
}
