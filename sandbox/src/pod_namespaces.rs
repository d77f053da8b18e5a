//! The sandbox lives in its pod's network, uts and ipc namespaces, as
//! gVisor's sandbox does, so that a tool that enters the pid we report
//! (`nsenter -t <pid> -n -u -i`, `ip netns identify`) lands in the
//! container's. It joins them once the root container's init has made
//! or joined them, so the spec's order, their owning user namespace and
//! a network namespace given by path (CNI) stay as they were; a pod's
//! later containers then inherit them at the fork.
//!
//! The runtime's own namespaces are kept, so that the hooks the sandbox
//! runs for a pod's later containers still run where the runtime is.

use std::os::fd::{AsFd, OwnedFd};

use nix::sched::CloneFlags;

/// The namespaces the sandbox moves into, with their names in /proc.
const SHARED: [(&str, CloneFlags); 3] = [
    ("net", CloneFlags::CLONE_NEWNET),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("ipc", CloneFlags::CLONE_NEWIPC),
];

/// One namespace the sandbox moved into: the runtime's and the pod's.
struct Moved {
    flag: CloneFlags,
    runtime: OwnedFd,
    pod: OwnedFd,
}

/// Where the sandbox came from, to step back there for hooks.
#[derive(Default)]
pub struct PodNamespaces {
    moved: Vec<Moved>,
}

fn open(path: &str) -> std::io::Result<OwnedFd> {
    rustix::fs::open(
        path,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(std::io::Error::from)
}

fn same(a: &str, b: &str) -> bool {
    std::fs::read_link(a).ok() == std::fs::read_link(b).ok()
}

impl PodNamespaces {
    /// Moves the sandbox into `init`'s network, uts and ipc namespaces
    /// where they differ from its own. One the kernel refuses (a sandbox
    /// without CAP_SYS_ADMIN) is logged and left: the container is not
    /// less isolated for it, only harder to enter.
    pub fn join(init: i32) -> Self {
        let mut moved = Vec::new();
        for (name, flag) in SHARED {
            let theirs = format!("/proc/{init}/ns/{name}");
            let ours = format!("/proc/self/ns/{name}");
            if same(&theirs, &ours) {
                continue;
            }
            let joined = open(&ours).and_then(|runtime| {
                let pod = open(&theirs)?;
                nix::sched::setns(pod.as_fd(), flag)?;
                Ok(Moved { flag, runtime, pod })
            });
            match joined {
                Ok(m) => moved.push(m),
                Err(e) => tracing::warn!("sandbox: join the pod's {name} namespace: {e}"),
            }
        }
        Self { moved }
    }

    /// Runs `f` back in the runtime's namespaces, then returns to the
    /// pod's. A failure to return is logged; later containers still get
    /// the pod's, since `spawn::pod_namespaces` joins those of the root
    /// init that differ from the sandbox's.
    pub fn in_runtime<T>(&self, f: impl FnOnce() -> T) -> T {
        for m in &self.moved {
            if let Err(e) = nix::sched::setns(m.runtime.as_fd(), m.flag) {
                tracing::error!("sandbox: back to the runtime's {:?}: {e}", m.flag);
            }
        }
        let out = f();
        for m in &self.moved {
            if let Err(e) = nix::sched::setns(m.pod.as_fd(), m.flag) {
                tracing::error!("sandbox: back to the pod's {:?}: {e}", m.flag);
            }
        }
        out
    }
}
