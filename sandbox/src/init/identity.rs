//! Who the container's process is: rlimits, user and groups, umask and the
//! five capability sets, and which file it execs.

use std::collections::HashSet;
use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::str::FromStr;

use caps::{CapSet, Capability as Cap, CapsHashSet};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{Capability, PosixRlimit, Process};

use specutils::error::os;

use super::InitError;

/// Right after the uid map is written, the process is still "nobody" in
/// its new user namespace until it sets its ids to 0 there.
pub fn become_root_in_user_ns() -> Result<(), InitError> {
    nix::unistd::setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
        .map_err(os("setresgid 0 in user namespace"))?;
    Ok(
        nix::unistd::setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
            .map_err(os("setresuid 0 in user namespace"))?,
    )
}

pub fn apply_rlimits(process: &Process) -> Result<(), InitError> {
    set_rlimits(process.rlimits().as_deref().unwrap_or(&[]))
}

/// Sets each of `rlimits`, soft and hard together.
pub fn set_rlimits(rlimits: &[PosixRlimit]) -> Result<(), InitError> {
    for r in rlimits {
        let name = serde_json::to_value(r.typ())
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let resource = rlimit_resource(&name)
            .ok_or_else(|| InitError::Invalid(format!("unknown rlimit {name:?}")))?;
        let limit = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        // SAFETY: `limit` is a valid rlimit that the kernel only reads.
        if unsafe { libc::setrlimit(resource, &limit) } != 0 {
            return Err(os(format!("set {name}"))(std::io::Error::last_os_error()).into());
        }
    }
    Ok(())
}

/// setrlimit's resource argument: an enum type in glibc, an int in musl.
#[cfg(target_env = "gnu")]
pub(crate) type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
pub(crate) type Resource = libc::c_int;

pub(crate) fn rlimit_resource(name: &str) -> Option<Resource> {
    Some(match name {
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        _ => return None,
    })
}

pub(crate) fn to_caps(set: Option<&HashSet<Capability>>) -> Result<CapsHashSet, InitError> {
    let mut out = CapsHashSet::new();
    for c in set.into_iter().flatten() {
        let name = c.to_string();
        let name = if name.starts_with("CAP_") {
            name
        } else {
            format!("CAP_{}", name.to_uppercase())
        };
        let cap = Cap::from_str(&name)
            .map_err(|_| InitError::Invalid(format!("unknown capability {name:?}")))?;
        out.insert(cap);
    }
    Ok(out)
}

/// Takes the spec's user, groups, umask and capabilities. Bounding-set
/// drops need CAP_SETPCAP, so they happen while still privileged; the
/// other sets survive the uid change through KEEPCAPS.
pub fn apply(process: &Process) -> Result<(), InitError> {
    let caps_spec = process.capabilities().as_ref();
    let bounding = to_caps(caps_spec.and_then(|c| c.bounding().as_ref()))?;
    let effective = to_caps(caps_spec.and_then(|c| c.effective().as_ref()))?;
    let permitted = to_caps(caps_spec.and_then(|c| c.permitted().as_ref()))?;
    let inheritable = to_caps(caps_spec.and_then(|c| c.inheritable().as_ref()))?;
    let ambient = to_caps(caps_spec.and_then(|c| c.ambient().as_ref()))?;

    for cap in caps::all() {
        if !bounding.contains(&cap) {
            // Capabilities this kernel does not know cannot be dropped.
            match caps::drop(None, CapSet::Bounding, cap) {
                Ok(()) => {}
                Err(_)
                    if !caps::runtime::procfs_all_supported(None)
                        .map(|s| s.contains(&cap))
                        .unwrap_or(true) => {}
                Err(e) => {
                    return Err(InitError::Invalid(format!(
                        "drop {cap} from the bounding set: {e}"
                    )))
                }
            }
        }
    }

    let user = process.user();
    let uid = Uid::from_raw(user.uid());
    let gid = Gid::from_raw(user.gid());
    nix::sys::prctl::set_keepcaps(true).map_err(os("keep capabilities"))?;
    let groups: Vec<Gid> = user
        .additional_gids()
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .map(|g| Gid::from_raw(*g))
        .collect();
    // Asked only when setgroups fails: reading /proc cost every process
    // a path walk and six syscalls for the rare user namespace that denies.
    match nix::unistd::setgroups(&groups) {
        Err(nix::errno::Errno::EPERM) if setgroups_denied() => {}
        other => other.map_err(os("set additional groups"))?,
    }
    nix::unistd::setresgid(gid, gid, gid).map_err(os(format!("set gid {gid}")))?;
    nix::unistd::setresuid(uid, uid, uid).map_err(os(format!("set uid {uid}")))?;
    nix::sys::prctl::set_keepcaps(false).map_err(os("reset keepcaps"))?;
    // Not the caller's umask: 0022 unless the spec says, as runc does.
    let mask = user.umask().unwrap_or(0o022);
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));

    // One capset: the kernel checks the new effective set against the new
    // permitted one and that against the old, which three calls (effective
    // first, permitted last) checked one at a time.
    let mask = |set: &CapsHashSet| {
        rustix::thread::CapabilitySet::from_bits_retain(
            set.iter().fold(0, |bits, cap| bits | cap.bitmask()),
        )
    };
    let sets = rustix::thread::CapabilitySets {
        effective: mask(&effective),
        permitted: mask(&permitted),
        inheritable: mask(&inheritable),
    };
    rustix::thread::set_capabilities(None, sets)
        .map_err(|e| InitError::Invalid(format!("set capabilities: {e}")))?;
    caps::clear(None, CapSet::Ambient)
        .map_err(|e| InitError::Invalid(format!("clear ambient capabilities: {e}")))?;
    // As runc: an ambient capability the kernel refuses (one not also
    // inheritable, as in `runc spec --rootless`) is a warning, not a
    // failure.
    for cap in ambient {
        if let Err(e) = caps::raise(None, CapSet::Ambient, cap) {
            tracing::warn!("cannot raise ambient capability {cap}: {e}");
        }
    }
    Ok(())
}

/// In a user namespace whose setgroups file says "deny", setgroups fails.
fn setgroups_denied() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny")
}

/// The file to exec: args[0] as a path, or found in the spec's PATH.
pub fn find_executable(process: &Process) -> Result<CString, InitError> {
    let (candidates, search) = exec_candidates(process)?;
    let found = candidates
        .into_iter()
        .find(|c| !search || is_executable(Path::new(std::ffi::OsStr::from_bytes(c.as_bytes()))));
    found.ok_or_else(|| not_in_path(process))
}

/// The files that may be the one to exec, in turn, and whether they are
/// a search of PATH (else args[0] names the file itself, the only one).
pub fn exec_candidates(process: &Process) -> Result<(Vec<CString>, bool), InitError> {
    let arg0 = arg0(process)?;
    if arg0.contains('/') {
        let exe = specutils::sys::cstring(arg0).map_err(os("executable path"))?;
        return Ok((vec![exe], false));
    }
    let path = process
        .env()
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    // A name with a NUL byte cannot exist: it is not found.
    let candidates = path
        .split(':')
        .filter(|d| !d.is_empty())
        .filter_map(|dir| CString::new(Path::new(dir).join(arg0).as_os_str().as_bytes()).ok())
        .collect();
    Ok((candidates, true))
}

fn arg0(process: &Process) -> Result<&str, InitError> {
    process
        .args()
        .as_deref()
        .and_then(|a| a.first())
        .map(String::as_str)
        .ok_or_else(|| InitError::Invalid("process.args is empty".into()))
}

/// No file of PATH is args[0].
pub fn not_in_path(process: &Process) -> InitError {
    let arg0 = arg0(process).unwrap_or_default();
    InitError::Invalid(format!(
        "exec: {arg0:?}: executable file not found in $PATH"
    ))
}

/// The file to exec, looked up and checked before create returns, as
/// runc does. A relative path (or PATH entry) names a file under the
/// process's cwd, which is entered later: those wait for the checks
/// before execve.
pub fn check_executable_early(process: &Process) -> Result<(), InitError> {
    let (candidates, _) = exec_candidates(process)?;
    if candidates.iter().any(|c| !c.as_bytes().starts_with(b"/")) {
        return Ok(());
    }
    check_executable(process, &find_executable(process)?)
}

/// What runc checks of the file to exec once it has the process's
/// identity, and fails the start on: it exists, is not a directory, has
/// an execute bit, and may be executed here (a noexec mount says no).
/// What execve refuses after that (a wrong format, a missing interpreter)
/// is the container's exit, as under runc (`init::run`).
pub fn check_executable(process: &Process, exe: &CStr) -> Result<(), InitError> {
    use specutils::error::errno_text;
    use std::os::unix::fs::PermissionsExt;
    let arg0 = arg0(process)?;
    let path = Path::new(std::ffi::OsStr::from_bytes(exe.to_bytes()));
    let meta = std::fs::metadata(path).map_err(|e| {
        InitError::Invalid(format!(
            "exec: {arg0:?}: stat {}: {}",
            path.display(),
            errno_text(&e)
        ))
    })?;
    if meta.is_dir() || meta.permissions().mode() & 0o111 == 0 {
        return Err(InitError::Invalid(format!(
            "exec: {arg0:?}: permission denied"
        )));
    }
    nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).map_err(|e| {
        InitError::Invalid(format!(
            "exec {}: {}",
            path.display(),
            errno_text(&e.into())
        ))
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `HOME=...` for a process whose environment has none, as runc sets it:
/// the user's home in the image's /etc/passwd, or `/`. Must run inside the
/// container's root. The image is untrusted: only a regular file is read,
/// and only its first MiB.
pub fn missing_home(process: &Process) -> Option<String> {
    missing_home_by(process, |uid| passwd_home(Path::new("/etc/passwd"), uid))
}

/// [`missing_home`] for a process outside the container, whose root
/// directory it holds as `root`: symlinks resolve inside it, as in the
/// container.
pub fn missing_home_in(process: &Process, root: std::os::fd::BorrowedFd<'_>) -> Option<String> {
    missing_home_by(process, |uid| {
        let fd = rustix::fs::openat2(
            root,
            "etc/passwd",
            rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::NONBLOCK
                | rustix::fs::OFlags::NOCTTY
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
            rustix::fs::ResolveFlags::IN_ROOT,
        )
        .ok()?;
        home_in(std::fs::File::from(fd), uid)
    })
}

fn missing_home_by(process: &Process, home: impl FnOnce(u32) -> Option<String>) -> Option<String> {
    let env = process.env().as_deref().unwrap_or(&[]);
    if env.iter().any(|e| e.starts_with("HOME=")) {
        return None;
    }
    let home = home(process.user().uid()).unwrap_or_else(|| "/".to_string());
    Some(format!("HOME={home}"))
}

fn passwd_home(path: &Path, uid: u32) -> Option<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .ok()?;
    home_in(file, uid)
}

/// The home of `uid` in the passwd file `file`.
fn home_in(file: std::fs::File, uid: u32) -> Option<String> {
    use std::io::Read;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    file.take(1 << 20).read_to_string(&mut text).ok()?;
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields[..] {
            [_, _, id, _, _, home, ..] if id.parse() == Ok(uid) && !home.is_empty() => {
                Some(home.to_string())
            }
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_comes_from_passwd_or_is_root() {
        let dir = tempfile::tempdir().unwrap();
        let passwd = dir.path().join("passwd");
        std::fs::write(
            &passwd,
            "root:x:0:0:root:/root:/bin/sh\nbroken line\nuser:x:1000:1000::/home/user:/bin/sh\n",
        )
        .unwrap();
        assert_eq!(passwd_home(&passwd, 0).as_deref(), Some("/root"));
        assert_eq!(passwd_home(&passwd, 1000).as_deref(), Some("/home/user"));
        assert_eq!(passwd_home(&passwd, 5), None);
        // Not a regular file: never read (a FIFO would block).
        assert_eq!(passwd_home(dir.path(), 0), None);
    }
}
