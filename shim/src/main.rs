//! containerd-shim-runsc-v1: containerd's shim v2 task API over the runsc
//! frontend, in process; one shim per pod.

mod frontend;
mod oom;
mod options;
mod process;
mod rootfs;
mod service;
mod shim;
mod stats;
mod stdio;
mod task;

fn main() {
    containerd_shim::run::<shim::Shim>("io.containerd.runsc.v1", None);
}
