//! Everything an exec'd process's child does, prepared by the sandbox
//! before the vfork: the child shares the sandbox's memory, so it finds
//! every string, number and descriptor made here and only makes syscalls
//! (`super::child`).

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::OnceLock;

use nix::sched::CloneFlags;
use oci_spec::runtime::{PosixRlimit, Process};
use rustix::thread::{CapabilitySet, LinkNameSpaceType};

use crate::init::{self, identity, InitError};
use crate::seccomp::Program;

/// The child's work, in its order.
pub(super) struct Plan<'a> {
    /// `tasks` of the container, one per v1 hierarchy (it is born in the
    /// cgroup2 one).
    pub cgroup_procs: Vec<RawFd>,
    /// What to write to /proc/self/oom_score_adj, as host root before the
    /// joins: in a user namespace, lowering it is refused.
    pub oom_score_adj: Option<Vec<u8>>,
    pub joins: Vec<(LinkNameSpaceType, RawFd)>,
    pub stdio: Stdio,
    pub rlimits: Vec<(identity::Resource, libc::rlimit)>,
    /// Candidates for the executable, tried in turn: args[0] alone when it
    /// names a path, else args[0] in each directory of PATH.
    pub exe: Vec<CString>,
    pub search: bool,
    pub argv: Vec<*const libc::c_char>,
    pub envp: Vec<*const libc::c_char>,
    /// The descriptors from here on are closed at exec.
    pub close_from: u32,
    pub apparmor: Option<Attr>,
    pub selinux: Option<Attr>,
    pub cwd: CString,
    pub baseline: Option<&'a Program>,
    pub seccomp: Option<(&'a Program, libc::c_ulong)>,
    pub nnp: bool,
    /// Capability numbers to drop from the bounding set.
    pub bounding_drop: Vec<u32>,
    /// The highest capability this kernel knows: a drop above it fails
    /// and is no error.
    pub last_cap: u32,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<rustix::process::Gid>,
    pub umask: u32,
    pub effective: CapabilitySet,
    pub inheritable: CapabilitySet,
    pub permitted: CapabilitySet,
    pub ambient: Vec<u32>,
    // The storage the pointers above point into.
    _strings: Vec<CString>,
}

pub(super) enum Stdio {
    /// A pty made in the container, its master sent to this socket.
    Terminal {
        console: RawFd,
        size: Option<rustix::termios::Winsize>,
    },
    /// Descriptors moved to 0, 1, 2, ...; `parked` is the child's
    /// scratch space for `place_fds`.
    Streams {
        moves: Vec<(RawFd, RawFd)>,
        parked: Vec<RawFd>,
    },
}

/// An LSM attribute of /proc/thread-self written for the next execve.
pub(super) struct Attr {
    /// The file, and the one to write when the first is missing.
    pub path: CString,
    pub fallback: Option<CString>,
    pub value: Vec<u8>,
}

/// Where the container's process gets what it names, prepared here.
pub(super) struct Inputs<'a> {
    pub process: &'a Process,
    /// Its container's rlimits, for a process that names none.
    pub rlimits: &'a [PosixRlimit],
    /// Its container's oom_score_adj.
    pub oom_score_adj: Option<i32>,
    pub cgroup_procs: &'a [OwnedFd],
    pub joins: &'a [(CloneFlags, OwnedFd)],
    pub fds: &'a [OwnedFd],
    pub baseline: Option<&'a Program>,
    pub seccomp: Option<&'a crate::seccomp::Filter>,
}

impl<'a> Plan<'a> {
    /// Checks and prepares everything; what would fail here fails with the
    /// same text as it did in the child. HOME is looked up under `root`,
    /// the container's root directory.
    pub fn new(i: Inputs<'a>, root: BorrowedFd<'_>) -> Result<Self, InitError> {
        let process = i.process;
        let stdio = stdio(process, i.fds)?;
        let own = process.rlimits().as_deref().filter(|r| !r.is_empty());
        let rlimits = own
            .unwrap_or(i.rlimits)
            .iter()
            .map(rlimit)
            .collect::<Result<_, _>>()?;
        let (exe, search) = identity::exec_candidates(process)?;
        let mut strings = init::cstrings(process.args().as_deref().unwrap_or(&[]))?;
        let argc = strings.len();
        let mut env = process.env().clone().unwrap_or_default();
        env.extend(identity::missing_home_in(process, root));
        strings.extend(init::cstrings(&env)?);
        let pointers = |s: &[CString]| {
            let mut v: Vec<*const libc::c_char> = s.iter().map(|c| c.as_ptr()).collect();
            v.push(std::ptr::null());
            v
        };
        let argv = pointers(&strings[..argc]);
        let envp = pointers(&strings[argc..]);
        let caps = process.capabilities().as_ref();
        let set = |s: Option<&std::collections::HashSet<oci_spec::runtime::Capability>>| {
            identity::to_caps(s).map(|c| {
                CapabilitySet::from_bits_retain(c.iter().fold(0, |m, c| m | 1u64 << c.index()))
            })
        };
        let bounding = set(caps.and_then(|c| c.bounding().as_ref()))?;
        let user = process.user();
        Ok(Plan {
            cgroup_procs: i.cgroup_procs.iter().map(AsRawFd::as_raw_fd).collect(),
            oom_score_adj: i.oom_score_adj.map(|a| a.to_string().into_bytes()),
            joins: i
                .joins
                .iter()
                .map(|(flag, fd)| (link_type(*flag), fd.as_raw_fd()))
                .collect(),
            close_from: 3 + match &stdio {
                Stdio::Terminal { .. } => 0,
                Stdio::Streams { moves, .. } => (moves.len() as u32).saturating_sub(3),
            },
            stdio,
            rlimits,
            exe,
            search,
            argv,
            envp,
            apparmor: apparmor(process),
            selinux: selinux(process),
            cwd: cstring(process.cwd().as_os_str().as_encoded_bytes(), "cwd")?,
            baseline: i.baseline,
            seccomp: i.seccomp.map(|f| (f.program(), f.load_flags())),
            nnp: process.no_new_privileges().unwrap_or(false),
            bounding_drop: caps::all()
                .into_iter()
                .map(|c| u32::from(c.index()))
                .filter(|&c| !bounding.contains(CapabilitySet::from_bits_retain(1 << c)))
                .collect(),
            last_cap: last_cap(),
            uid: user.uid(),
            gid: user.gid(),
            groups: user
                .additional_gids()
                .as_deref()
                .unwrap_or(&[])
                .iter()
                .map(|&g| rustix::process::Gid::from_raw(g))
                .collect(),
            umask: user.umask().unwrap_or(0o022),
            effective: set(caps.and_then(|c| c.effective().as_ref()))?,
            inheritable: set(caps.and_then(|c| c.inheritable().as_ref()))?,
            permitted: set(caps.and_then(|c| c.permitted().as_ref()))?,
            ambient: identity::to_caps(caps.and_then(|c| c.ambient().as_ref()))?
                .iter()
                .map(|c| u32::from(c.index()))
                .collect(),
            _strings: strings,
        })
    }
}

fn stdio(process: &Process, fds: &[OwnedFd]) -> Result<Stdio, InitError> {
    if process.terminal().unwrap_or(false) {
        let console = fds.first().ok_or_else(|| {
            InitError::Invalid("terminal requested without a console socket".into())
        })?;
        let size = process
            .console_size()
            .as_ref()
            .map(|s| rustix::termios::Winsize {
                ws_row: s.height() as u16,
                ws_col: s.width() as u16,
                ws_xpixel: 0,
                ws_ypixel: 0,
            });
        return Ok(Stdio::Terminal {
            console: console.as_raw_fd(),
            size,
        });
    }
    if fds.len() < 3 {
        return Err(InitError::Invalid(format!(
            "exec got {} stdio descriptors, not 3",
            fds.len()
        )));
    }
    Ok(Stdio::Streams {
        moves: fds.iter().map(AsRawFd::as_raw_fd).zip(0..).collect(),
        parked: vec![-1; fds.len()],
    })
}

/// The kernel's resource number and limits of `r`.
fn rlimit(r: &PosixRlimit) -> Result<(identity::Resource, libc::rlimit), InitError> {
    let name = rlimit_name(r);
    let resource = identity::rlimit_resource(&name)
        .ok_or_else(|| InitError::Invalid(format!("unknown rlimit {name:?}")))?;
    let limit = libc::rlimit {
        rlim_cur: r.soft(),
        rlim_max: r.hard(),
    };
    Ok((resource, limit))
}

/// "RLIMIT_NOFILE", as the spec spells it.
pub(super) fn rlimit_name(r: &PosixRlimit) -> String {
    serde_json::to_value(r.typ())
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn link_type(flag: CloneFlags) -> LinkNameSpaceType {
    match flag {
        CloneFlags::CLONE_NEWUSER => LinkNameSpaceType::User,
        CloneFlags::CLONE_NEWIPC => LinkNameSpaceType::InterProcessCommunication,
        CloneFlags::CLONE_NEWUTS => LinkNameSpaceType::HostNameAndNISDomainName,
        CloneFlags::CLONE_NEWNET => LinkNameSpaceType::Network,
        CloneFlags::CLONE_NEWCGROUP => LinkNameSpaceType::ControlGroup,
        _ => LinkNameSpaceType::Mount,
    }
}

fn cstring(bytes: &[u8], what: &str) -> Result<CString, InitError> {
    CString::new(bytes).map_err(|_| InitError::Invalid(format!("{what} contains a NUL byte")))
}

/// Where this thread's LSM attributes live: the container's own /proc,
/// which the child sees once it joined the mount namespace.
const ATTR: &str = "/proc/thread-self/attr/";

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

/// AppArmor's own attribute directory (kernels since 5.8), else the
/// shared `attr/exec`, as `init::lsm` picks.
fn apparmor(process: &Process) -> Option<Attr> {
    let profile = non_empty(process.apparmor_profile())?;
    Some(Attr {
        path: CString::new(format!("{ATTR}apparmor/exec")).ok()?,
        fallback: CString::new(format!("{ATTR}exec")).ok(),
        value: format!("exec {profile}").into_bytes(),
    })
}

fn selinux(process: &Process) -> Option<Attr> {
    let label = non_empty(process.selinux_label())?;
    Some(Attr {
        path: CString::new(format!("{ATTR}exec")).ok()?,
        fallback: None,
        value: label.as_bytes().to_vec(),
    })
}

/// The kernel's highest capability number, read once.
fn last_cap() -> u32 {
    static LAST: OnceLock<u32> = OnceLock::new();
    *LAST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(63)
    })
}
