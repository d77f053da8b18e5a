//! Which namespaces a container's init is forked into, and which it
//! joins: opened here, in the sandbox, while the paths mean what the
//! caller meant.

use std::os::fd::{AsFd, OwnedFd};

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::SpawnError;

/// Namespaces to create, and namespaces to join with their descriptors.
pub type Namespaces = (CloneFlags, Vec<(CloneFlags, OwnedFd)>);

/// The clone flag of each namespace type.
fn clone_flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// Opens a namespace file to join later.
pub(super) fn open_ns(path: &std::path::Path) -> Result<OwnedFd, SpawnError> {
    rustix::fs::open(
        path,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| SpawnError::Namespace {
        path: path.display().to_string(),
        source: e.into(),
    })
}

/// Opens a namespace the spec names by path. Docker's `container:` modes,
/// Podman's and containerd's shared namespaces name
/// `/proc/<reported pid>/ns/<type>`, and ours is a holder's
/// (`holder.rs`). It lives in its container's namespaces but two: its pid
/// namespace is the host's, its user namespace the runtime's. For those
/// the container's is opened: the pid namespace of the holder's children
/// (it took its init's), and the user namespace owning its mount
/// namespace (its init's, made in the container's user namespace). Each
/// is the literal one or a descendant of it, so a wrong match could only
/// narrow what the container gets; any other path is opened as it is.
fn open_spec_ns(flag: CloneFlags, path: &std::path::Path) -> Result<OwnedFd, SpawnError> {
    match holder_ns(flag, path) {
        Some(fd) => Ok(fd),
        None => open_ns(path),
    }
}

/// The container's pid or user namespace when `path` is
/// `/proc/<pid>/ns/pid` or `/proc/<pid>/ns/user` of a holder. Read
/// through one `/proc/<pid>` descriptor, which stops resolving once that
/// task exits: a reused pid cannot answer for it.
fn holder_ns(flag: CloneFlags, path: &std::path::Path) -> Option<OwnedFd> {
    use rustix::fs::{openat, Mode, OFlags};
    let (suffix, instead) = match flag {
        CloneFlags::CLONE_NEWPID => ("/ns/pid", "ns/pid_for_children"),
        CloneFlags::CLONE_NEWUSER => ("/ns/user", "ns/mnt"),
        _ => return None,
    };
    let pid = path
        .to_str()?
        .strip_prefix("/proc/")?
        .strip_suffix(suffix)?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ro = OFlags::RDONLY | OFlags::CLOEXEC;
    let dir = rustix::fs::open(
        format!("/proc/{pid}"),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let comm = openat(&dir, "comm", ro, Mode::empty()).ok()?;
    let mut name = [0u8; 16];
    let n = rustix::io::read(&comm, &mut name).ok()?;
    if &name[..n] != b"runsc-holder\n" {
        return None;
    }
    let ns = openat(&dir, instead, ro, Mode::empty()).ok()?;
    match flag {
        CloneFlags::CLONE_NEWUSER => specutils::sys::owning_user_ns(ns.as_fd()).ok(),
        _ => Some(ns),
    }
}

/// The namespaces the spec asks for: those to create, and those to join.
pub fn plan_namespaces(spec: &Spec) -> Result<Namespaces, SpawnError> {
    // The frontend checked it; the rootfs must never be built in ours.
    specutils::namespaces::check_mount_namespace(spec)?;
    let mut new = CloneFlags::empty();
    let mut join = Vec::new();
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    for ns in namespaces.into_iter().flatten() {
        let flag = clone_flag(ns.typ());
        match ns.path() {
            None => new |= flag,
            Some(p) if p.as_os_str().is_empty() => new |= flag,
            Some(p) => join.push((flag, open_spec_ns(flag, p)?)),
        }
    }
    Ok((new, join))
}

/// The namespaces of a subcontainer: the pod's network, ipc and uts (and
/// user) namespaces always (inherited from the sandbox, which lives in
/// the first three, else joined); the pod's pid and cgroup namespaces where the
/// spec names one by path (such paths point at the pod's namespaces);
/// fresh ones otherwise; and always a mount namespace of its own.
pub fn pod_namespaces(spec: &Spec, pod_init: i32) -> Result<Namespaces, SpawnError> {
    let open = |ns: &str| open_ns(std::path::Path::new(&format!("/proc/{pod_init}/ns/{ns}")));
    let differs = |ns: &str| {
        std::fs::read_link(format!("/proc/{pod_init}/ns/{ns}")).ok()
            != std::fs::read_link(format!("/proc/self/ns/{ns}")).ok()
    };
    let mut new = CloneFlags::CLONE_NEWNS;
    let mut join = Vec::new();
    if differs("user") {
        join.push((CloneFlags::CLONE_NEWUSER, open("user")?));
    }
    for (ns, flag) in [
        ("net", CloneFlags::CLONE_NEWNET),
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("uts", CloneFlags::CLONE_NEWUTS),
    ] {
        if differs(ns) {
            join.push((flag, open(ns)?));
        }
    }
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    for n in namespaces.into_iter().flatten() {
        let shared = n.path().as_ref().is_some_and(|p| !p.as_os_str().is_empty());
        let (name, flag) = match n.typ() {
            LinuxNamespaceType::Pid => ("pid", CloneFlags::CLONE_NEWPID),
            LinuxNamespaceType::Cgroup => ("cgroup", CloneFlags::CLONE_NEWCGROUP),
            _ => continue,
        };
        if shared {
            join.push((flag, open(name)?));
        } else {
            new |= flag;
        }
    }
    Ok((new, join))
}
