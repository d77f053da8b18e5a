//! The container's init, from the moment the sandbox forks it into the new
//! namespaces until it execs the container's process.
//!
//! It builds the root filesystem from the donated mounts, pivots into it,
//! applies the spec's process settings, reports Ready to the sandbox and
//! blocks; on Start it takes its final identity, confines itself, and execs.
//! Every failure is sent to the sandbox as one line and the process exits.

pub(crate) mod cgroup_mount;
pub(crate) mod console;
mod devices;
pub(crate) mod identity;
pub(crate) mod in_root;
pub(crate) mod inherited_fds;
mod lsm;
mod namespaces;
mod rootfs;

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde::{Deserialize, Serialize};
use specutils::channel::{Channel, ChannelError};
use specutils::hooks::{run_hooks, HookError, HookState};

use specutils::error::{os, OsError};

use crate::options::LaunchOptions;
use crate::seccomp::{Filter, Program};

/// Messages from the sandbox to the init.
#[derive(Debug, Serialize, Deserialize)]
pub enum InitCmd {
    /// The uid and gid maps of the new user namespace are written.
    IdMapped,
    /// Go on with the setup; createRuntime hooks have run. `state` is what
    /// the init's own hooks read.
    Proceed { state: HookState },
    /// Exec the container's process.
    Start,
}

/// Messages from the init to the sandbox. Once the exec succeeds the
/// channel closes (it is close-on-exec), which the sandbox reads as
/// "started".
#[derive(Debug, Serialize, Deserialize)]
pub enum InitMsg {
    /// The new user namespace exists: write its id maps.
    UserNamespaced,
    /// The init proper was forked into its pid namespace; its pidfd rides
    /// on this frame, and the process that sent it exits.
    Forked,
    /// Every namespace is created or joined; nothing is mounted yet.
    Namespaced,
    Ready,
    Failed {
        message: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Os(#[from] OsError),
    #[error("{0}")]
    Invalid(String),
    #[error("sandbox channel: {0}")]
    Channel(#[from] ChannelError),
    #[error("seccomp: {0}")]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error(transparent)]
    Hook(#[from] HookError),
    /// execve refused a file that passed `identity::check_executable`.
    #[error("exec {exe}: {}", specutils::error::errno_text(.source))]
    Exec { exe: String, source: std::io::Error },
}

/// Everything the init needs, prepared by the sandbox before the fork so
/// that the child only acts.
pub struct InitPlan {
    pub id: String,
    pub spec: Spec,
    /// Where the rootfs is attached inside the init's mount namespace
    /// before the pivot: an empty directory in the sandbox's state dir.
    pub mount_point: PathBuf,
    pub rootfs: OwnedFd,
    /// Donated bind mounts, keyed by their index in `spec.mounts`.
    pub binds: Vec<(usize, OwnedFd)>,
    /// Namespaces to join, opened before the fork.
    pub join: Vec<(CloneFlags, OwnedFd)>,
    /// Namespaces the init makes itself, once it has joined `join`; those
    /// the sandbox's fork did not make.
    pub unshare: CloneFlags,
    pub new_user_ns: bool,
    pub new_net_ns: bool,
    pub seccomp: Option<Filter>,
    /// The baseline filter under the spec's (`crate::baseline`).
    pub baseline: Option<Program>,
    /// A connection to the spec's seccomp `listenerPath`, made by the
    /// sandbox before the fork (the path is the host's).
    pub seccomp_listener: Option<OwnedFd>,
    /// The connected console socket, when the spec asks for a terminal.
    pub console: Option<OwnedFd>,
    /// stdin, stdout and stderr; empty to keep the sandbox's.
    pub stdio: Vec<OwnedFd>,
    /// `tasks` of the container's cgroup, one per v1 hierarchy, to join
    /// first (cgroup2's it was born in); empty to stay in the sandbox's.
    pub cgroup_procs: Vec<OwnedFd>,
    /// Make the new cgroup namespace after joining `cgroup_procs`, so that
    /// it is rooted at the container's own cgroup.
    pub late_cgroup_ns: bool,
    pub options: LaunchOptions,
}

/// Runs in the forked child; never returns.
pub fn run(plan: InitPlan, channel: Channel) -> ! {
    let err = match reset_signals().and_then(|()| setup_and_exec(plan, &channel)) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    if let InitError::Exec { .. } = err {
        // As under runc, the start has happened: the container exits 1
        // and says why on its own stderr (an image of another
        // architecture, an interpreter the image lacks).
        use std::io::Write;
        let _ = std::io::stderr().write_all(format!("{err}\n").as_bytes());
        // SAFETY: as below.
        unsafe { libc::_exit(1) }
    }
    let _ = channel.send(
        &InitMsg::Failed {
            message: err.to_string(),
        },
        &[],
    );
    // SAFETY: _exit is always safe; it skips destructors that belong to
    // the sandbox's copy of the address space.
    unsafe { libc::_exit(1) }
}

pub(crate) enum Never {}

/// The sandbox blocks SIGCHLD and Rust ignores SIGPIPE; both would leak
/// into the container through execve. The init also dies with the sandbox.
pub(crate) fn reset_signals() -> Result<(), InitError> {
    use nix::sys::signal::{signal, SigHandler, SigSet, Signal};
    SigSet::all()
        .thread_unblock()
        .map_err(os("unblock signals"))?;
    // SAFETY: SIG_DFL installs no Rust handler.
    unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) }.map_err(os("reset SIGPIPE"))?;
    Ok(nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(os("set parent death signal"))?)
}

fn setup_and_exec(mut plan: InitPlan, channel: &Channel) -> Result<Never, InitError> {
    join_cgroup(&plan.cgroup_procs)?;
    if !plan.stdio.is_empty() {
        install_stdio(std::mem::take(&mut plan.stdio))?;
    }
    namespaces::enter(&mut plan, channel)?;
    channel.send(&InitMsg::Namespaced, &[])?;
    let mut state = match channel.recv::<InitCmd>() {
        Ok((InitCmd::Proceed { state }, _)) => state,
        Ok((cmd, _)) => {
            return Err(InitError::Invalid(format!(
                "sandbox sent {cmd:?}, expected Proceed"
            )))
        }
        Err(ChannelError::Closed) => {
            // SAFETY: _exit is always safe; the sandbox is gone.
            unsafe { libc::_exit(1) }
        }
        Err(e) => return Err(e.into()),
    };
    let process = plan
        .spec
        .process()
        .as_ref()
        .ok_or_else(|| InitError::Invalid("spec has no process".into()))?;
    let hooks = plan.spec.hooks().clone().unwrap_or_default();

    rootfs::build(&plan, || {
        // createContainer hooks: in the container's namespaces, before the
        // pivot, so their paths resolve as the runtime sees them.
        run_hooks(
            "createContainer",
            hooks.create_container().as_deref().unwrap_or(&[]),
            &state,
        )?;
        Ok(())
    })?;
    // Before /proc/sys is made read-only.
    apply_sysctls(&plan.spec)?;
    rootfs::protect_paths(&plan.spec)?;
    set_uts(&plan.spec)?;
    identity::apply_rlimits(process)?;
    // oom_score_adj was set by the sandbox (spawn::drive).
    if !plan.options.no_new_keyring {
        join_own_keyring(&plan.id);
    }
    nix::unistd::setsid().map_err(os("setsid"))?;
    if process.terminal().unwrap_or(false) {
        let console = plan.console.as_ref().ok_or_else(|| {
            InitError::Invalid("terminal requested without a console socket".into())
        })?;
        console::setup(console.as_fd(), process.console_size().as_ref())?;
    }
    drop(plan.console.take());
    // As runc, which looks the file up before create returns: a missing
    // or unrunnable one fails the create, not the start. Checked again
    // with the process's identity before execve.
    identity::check_executable_early(process)?;

    channel.send(&InitMsg::Ready, &[])?;
    expect(channel, "Start", |c| matches!(c, InitCmd::Start))?;
    state.status = oci_spec::runtime::ContainerState::Created;
    run_hooks(
        "startContainer",
        hooks.start_container().as_deref().unwrap_or(&[]),
        &state,
    )?;

    let notify = plan
        .seccomp_listener
        .as_ref()
        .map(|l| (l, listener_metadata(&plan.spec)));
    let filters = Filters {
        baseline: plan.baseline.as_ref(),
        spec: plan.seccomp.as_ref(),
    };
    // --preserve-fds: inherited from the sandbox at 3.. (close-on-exec
    // there, as all it was handed).
    let preserved = plan.options.preserve_fds;
    inherited_fds::keep_across_exec(3, preserved)?;
    exec_process(process, filters, notify, &state, preserved)
}

/// The seccomp filters a container process execs under, stacked.
#[derive(Clone, Copy)]
pub(crate) struct Filters<'a> {
    pub baseline: Option<&'a Program>,
    pub spec: Option<&'a Filter>,
}

/// The last steps of every container process, the init's and exec's: take
/// the spec's identity, confine, and exec. `preserved` descriptors above
/// stdio (3..3+preserved) stay open.
pub(crate) fn exec_process(
    process: &oci_spec::runtime::Process,
    filters: Filters<'_>,
    notify: Option<(&OwnedFd, String)>,
    state: &HookState,
    preserved: u32,
) -> Result<Never, InitError> {
    let seccomp = filters.spec;
    let exe = identity::find_executable(process)?;
    let args = cstrings(process.args().as_deref().unwrap_or(&[]))?;
    let mut env = process.env().clone().unwrap_or_default();
    env.extend(identity::missing_home(process));
    let env = cstrings(&env)?;
    let nnp = process.no_new_privileges().unwrap_or(false);
    // Only flags change, and whatever opens later is close-on-exec, so
    // this goes first: no filter of the container's can refuse it.
    inherited_fds::close_on_exec_from(3 + preserved)?;
    lsm::label_exec(process)?;
    let cwd = process.cwd();
    let entered = enter_cwd(cwd, CwdAttempt::Early)?;
    // The baseline goes first, while CAP_SYS_ADMIN is still held whatever
    // the spec says of no_new_privs; the kernel runs both filters and
    // takes the stricter answer, so the order changes nothing else.
    if let Some(baseline) = filters.baseline {
        crate::baseline::load(baseline).map_err(os("load baseline seccomp filter"))?;
    }
    // Without no_new_privs, only a privileged process may load a filter, so
    // it goes in before the identity change; with it, as late as possible.
    if !nnp {
        load_seccomp(seccomp, notify.as_ref(), state)?;
    }
    identity::apply(process)?;
    if nnp {
        nix::sys::prctl::set_no_new_privs().map_err(os("set no_new_privs"))?;
    }
    if !entered {
        enter_cwd(cwd, CwdAttempt::AsUser)?;
    }
    identity::check_executable(process, &exe)?;
    if nnp {
        load_seccomp(seccomp, notify.as_ref(), state)?;
    }
    let Err(e) = nix::unistd::execve(&exe, &args, &env);
    Err(InitError::Exec {
        exe: exe.to_string_lossy().into_owned(),
        source: e.into(),
    })
}

/// A session keyring of the container's own, as runc gives it, so that it
/// does not share the runtime's (containerd's, a user's). A kernel without
/// keyrings, or a seccomp filter that refuses keyctl (the sandbox's does,
/// for a pod's later containers, which then cannot reach any keyring),
/// leaves the inherited one in place.
fn join_own_keyring(id: &str) {
    let Ok(name) = std::ffi::CString::new(format!("_ses.{id}")) else {
        return;
    };
    if let Err(e) = specutils::sys::join_session_keyring(&name) {
        tracing::debug!("container {id}: no session keyring of its own: {e}");
    }
}

#[derive(PartialEq)]
enum CwdAttempt {
    /// With the runtime's rights, before the container's filter and
    /// identity: as runc, which enters a cwd there when it can.
    Early,
    /// As the container's user: a cwd that only it may enter.
    AsUser,
}

/// Changes into the process's cwd and checks where that is. Returns false
/// when an early attempt lacked the rights, to be tried again as the user.
fn enter_cwd(cwd: &Path, attempt: CwdAttempt) -> Result<bool, InitError> {
    use nix::errno::Errno;
    match nix::unistd::chdir(cwd) {
        Ok(()) => check_cwd_inside_root(cwd).map(|()| true),
        Err(Errno::EACCES | Errno::EPERM) if attempt == CwdAttempt::Early => Ok(false),
        Err(e) => Err(os(format!("chdir to cwd {}", cwd.display()))(e).into()),
    }
}

/// The CVE-2024-21626 class: a cwd such as /proc/self/fd/<n>, through a
/// descriptor of ours still open until execve, could name a directory
/// outside the container's root. The kernel then reports the cwd as
/// unreachable (getcwd fails, or its answer does not start with '/').
fn check_cwd_inside_root(cwd: &std::path::Path) -> Result<(), InitError> {
    let outside = || {
        InitError::Invalid(format!(
            "cwd {} is outside the container's root",
            cwd.display()
        ))
    };
    match nix::unistd::getcwd() {
        Ok(path) if path.is_absolute() => Ok(()),
        Ok(_) | Err(nix::errno::Errno::ENOENT) => Err(outside()),
        Err(e) => Err(os(format!("getcwd after chdir to {}", cwd.display()))(e).into()),
    }
}

fn listener_metadata(spec: &Spec) -> String {
    spec.linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .and_then(|s| s.listener_metadata().clone())
        .unwrap_or_default()
}

/// Moves this process into the cgroup whose `cgroup.procs` files are
/// given, one per hierarchy.
pub(crate) fn join_cgroup(procs: &[OwnedFd]) -> Result<(), InitError> {
    crate::cgroup::join_self(procs).map_err(os("join the container's cgroup"))?;
    Ok(())
}

/// Puts `fds` at 0, 1, 2, ... (the first three are stdio; more are
/// preserved descriptors).
pub(crate) fn install_stdio(fds: Vec<OwnedFd>) -> Result<u32, InitError> {
    use std::os::fd::{FromRawFd, IntoRawFd, RawFd};
    let n = fds.len() as RawFd;
    let sources: Vec<RawFd> = fds.into_iter().map(IntoRawFd::into_raw_fd).collect();
    let moves: Vec<(RawFd, RawFd)> = sources.iter().copied().zip(0..).collect();
    let mut parked = vec![-1; moves.len()];
    // SAFETY: 0..n are this process's stdio and preserved slots, which the
    // container's process gets in their place.
    unsafe { specutils::sys::place_fds(&moves, &mut parked, 100 + n) }
        .map_err(os("install stdio"))?;
    // A source below n was a target too, and is replaced; the rest are
    // still ours.
    for fd in sources.into_iter().filter(|&fd| fd >= n) {
        // SAFETY: taken from an OwnedFd above and not closed since.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
    }
    Ok((n as u32).saturating_sub(3))
}

/// Loads the container's filter; with SCMP_ACT_NOTIFY rules, hands the
/// notify descriptor to the listener as the OCI runtime spec describes.
fn load_seccomp(
    filter: Option<&Filter>,
    notify: Option<&(&OwnedFd, String)>,
    state: &HookState,
) -> Result<(), InitError> {
    let Some(filter) = filter else {
        return Ok(());
    };
    let fd = filter.load()?;
    let (Some(fd), Some((listener, metadata))) = (fd, notify) else {
        return Ok(());
    };
    let message = serde_json::json!({
        "ociVersion": state.oci_version,
        "fds": ["seccompFd"],
        "pid": state.pid,
        "metadata": metadata,
        "state": state,
    })
    .to_string();
    let iov = [std::io::IoSlice::new(message.as_bytes())];
    specutils::scm_rights::send_with_fds(listener.as_fd(), &iov, &[fd.as_fd()])
        .map_err(os("send seccomp notify descriptor to listenerPath"))?;
    Ok(())
}

fn expect(channel: &Channel, what: &str, ok: impl Fn(&InitCmd) -> bool) -> Result<(), InitError> {
    match channel.recv::<InitCmd>() {
        Ok((cmd, _)) if ok(&cmd) => Ok(()),
        Ok((cmd, _)) => Err(InitError::Invalid(format!(
            "sandbox sent {cmd:?}, expected {what}"
        ))),
        Err(ChannelError::Closed) => {
            // The sandbox is gone; nobody is left to tell.
            // SAFETY: _exit is always safe.
            unsafe { libc::_exit(1) }
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn has_namespace(spec: &Spec, typ: LinuxNamespaceType) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == typ))
}

fn set_uts(spec: &Spec) -> Result<(), InitError> {
    let own_uts = has_namespace(spec, LinuxNamespaceType::Uts);
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        if !own_uts {
            return Err(InitError::Invalid(
                "hostname needs a uts namespace in the spec".into(),
            ));
        }
        nix::unistd::sethostname(h).map_err(os(format!("set hostname {h:?}")))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        if !own_uts {
            return Err(InitError::Invalid(
                "domainname needs a uts namespace in the spec".into(),
            ));
        }
        let c = specutils::sys::cstring(d).map_err(os("domainname"))?;
        // SAFETY: `c` is a valid C string and its length is passed.
        let rc = unsafe { libc::setdomainname(c.as_ptr(), d.len()) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            return Err(os(format!("set domainname {d:?}"))(e).into());
        }
    }
    Ok(())
}

fn apply_sysctls(spec: &Spec) -> Result<(), InitError> {
    let Some(sysctls) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    for (key, value) in sysctls {
        let valid = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
            && !key.split(['.', '/']).any(|p| p.is_empty() || p == "..");
        if !valid {
            return Err(InitError::Invalid(format!("invalid sysctl name {key:?}")));
        }
        let path = Path::new("/proc/sys").join(key.replace('.', "/"));
        std::fs::write(&path, value).map_err(os(format!("set sysctl {key}={value}")))?;
    }
    Ok(())
}

pub(crate) fn cstrings(items: &[String]) -> Result<Vec<CString>, InitError> {
    items
        .iter()
        .map(|s| Ok(specutils::sys::cstring(s).map_err(os("process argument"))?))
        .collect()
}
