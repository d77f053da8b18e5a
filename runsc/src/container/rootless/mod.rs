//! Rootless containers: `runsc` run by an unprivileged user, with the user
//! namespace the spec asks for (`runsc spec --rootless` maps only the
//! caller's own uid and gid, as runc's does).
//!
//! What needs host root is skipped or done inside the user namespace:
//! - the cgroup is used only where the user may make it (a delegated
//!   subtree named by cgroupsPath, or the default path made writable by an
//!   administrator); elsewhere the container runs without one, with one
//!   warning, as runc does, unless the spec asks for resource limits or names
//!   a cgroupsPath, which then fails, as runc's does;
//! - `create` (and `run`, `do`, `restore`) first moves itself into a new
//!   user namespace where the caller's uid and gid are root, as gVisor's
//!   `--rootless` does ([`enter_user_namespace`]); the gofer and the sandbox
//!   it starts make their mount, pid, net, ipc and uts namespaces there, owned
//!   by the user, with no privilege on the host; the spec's own user
//!   namespace is made inside that one, its host ids read through it
//!   ([`prepare_spec`]).
//!
//! A root run never takes these paths.

mod cgroup;
mod userns;

pub(super) use cgroup::create_cgroup;
pub use userns::{enter_user_namespace, entered_user_namespace, prepare_spec};

/// The state root when `--root` is not given: `/run/runsc` for root;
/// `$XDG_RUNTIME_DIR/runsc` for anyone else, and for root of a user
/// namespace whose `$USER` is not root (rootless Podman), where runc uses
/// `$XDG_RUNTIME_DIR/runc` (`/run/runsc` still when it is unset).
pub fn default_state_root() -> std::path::PathBuf {
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty());
    // Root of a user namespace that a user made (rootless Podman runs its
    // runtime so) cannot write /run either; runc's rule tells it by $USER.
    let user_not_root = std::env::var_os("USER").is_none_or(|u| u != "root");
    let rootless =
        !rustix::process::geteuid().is_root() || (in_a_user_namespace() && user_not_root);
    match xdg {
        Some(dir) if rootless => std::path::Path::new(&dir).join("runsc"),
        _ => "/run/runsc".into(),
    }
}

/// Whether this run is rootless: asked for (`--rootless`), run by a user
/// who is not root (who is root now, in the user namespace it made), or by
/// root of a user namespace other than the host's, as rootless Podman and
/// rootlesskit run a runtime (runc's `--rootless=auto` says so too).
pub fn is_rootless(requested: bool) -> bool {
    requested
        || entered_user_namespace()
        || !rustix::process::geteuid().is_root()
        || in_a_user_namespace()
}

/// Whether our user namespace is not the host's: the initial one maps
/// every id to itself. Read once a process: the one change, entering a
/// namespace of our own, is what [`entered_user_namespace`] tells.
fn in_a_user_namespace() -> bool {
    static IN_ONE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *IN_ONE.get_or_init(|| {
        std::fs::read_to_string("/proc/self/uid_map").is_ok_and(|map| {
            let fields: Vec<&str> = map.split_whitespace().collect();
            fields != ["0", "0", "4294967295"]
        })
    })
}
