//! What a failed exec'd child reported, in the words the user read when
//! the child wrote them itself (`init::exec_process`, `init::identity`).

use std::os::fd::OwnedFd;

use nix::sched::CloneFlags;
use oci_spec::runtime::Process;

use super::child::{AttrOp, PtyOp, Report, Step};
use super::plan::Plan;
use crate::init::identity;

/// What the words name.
pub(super) struct Context<'a> {
    pub process: &'a Process,
    pub joins: &'a [(CloneFlags, OwnedFd)],
    pub plan: &'a Plan<'a>,
    /// The container's, for a process that names none.
    pub rlimits: &'a [oci_spec::runtime::PosixRlimit],
    pub seccomp: Option<&'a crate::seccomp::Filter>,
}

impl Context<'_> {
    pub fn describe(&self, step: Step, errno: i32, report: &Report) -> String {
        let raw = std::io::Error::from_raw_os_error(errno);
        let e = specutils::error::errno_text(&raw);
        // The caps crate's words, which the init's own failures carry.
        let caps = |what: &str| format!("caps error: {what} failure: {raw}");
        let cwd = self.process.cwd().display();
        match step {
            Step::Signals => format!("reset signals: {e}"),
            Step::Cgroup => format!("join the container's cgroup: {e}"),
            Step::OomScoreAdj => {
                let adj = self.plan.oom_score_adj.as_deref().unwrap_or_default();
                format!("set oom_score_adj to {}: {e}", String::from_utf8_lossy(adj))
            }
            Step::Join(n) => match self.joins.get(n) {
                Some((flag, _)) => format!("join namespace {flag:?}: {e}"),
                None => format!("join namespace: {e}"),
            },
            Step::Setsid => format!("setsid: {e}"),
            Step::Pty(op) => {
                let what = match op {
                    PtyOp::Open => "open /dev/ptmx".to_string(),
                    PtyOp::Unlock => "unlock pty".to_string(),
                    PtyOp::Name => "pty name".to_string(),
                    PtyOp::OpenPeer => format!("open /dev/pts/{}", report.pty),
                    PtyOp::Size => "set terminal size".to_string(),
                    PtyOp::Send => "send pty master to console socket".to_string(),
                    PtyOp::Ctty => "make the pty the controlling terminal".to_string(),
                    PtyOp::Dup => "pty as stdio".to_string(),
                };
                format!("{what}: {e}")
            }
            Step::Stdio => format!("install stdio: {e}"),
            Step::Rlimit(n) => {
                let own = self.process.rlimits().as_deref().filter(|r| !r.is_empty());
                let name = own
                    .unwrap_or(self.rlimits)
                    .get(n)
                    .map(super::plan::rlimit_name)
                    .unwrap_or_else(|| "rlimit".to_string());
                format!("set {name}: {e}")
            }
            Step::NotFound => identity::not_in_path(self.process).to_string(),
            Step::CloseOnExec => format!("mark descriptors close-on-exec: {e}"),
            Step::Attr { selinux, op } => self.attr(selinux, op, report, e),
            Step::Chdir => format!("chdir to cwd {cwd}: {e}"),
            Step::CwdOutside => format!("cwd {cwd} is outside the container's root"),
            Step::Getcwd => format!("getcwd after chdir to {cwd}: {e}"),
            Step::Baseline => format!("load baseline seccomp filter: {e}"),
            Step::Seccomp => {
                let flags = self.seccomp.map_or(0, |f| f.load_flags());
                format!("seccomp: load seccomp filter (flags {flags:#x}): {e}")
            }
            Step::Bounding(cap) => {
                let name = caps::all()
                    .into_iter()
                    .find(|c| u32::from(c.index()) == cap)
                    .map_or_else(|| cap.to_string(), |c| c.to_string());
                format!(
                    "drop {name} from the bounding set: {}",
                    caps("PR_CAPBSET_DROP")
                )
            }
            Step::KeepCaps => format!("keep capabilities: {e}"),
            Step::Groups => format!("set additional groups: {e}"),
            Step::Gid => format!("set gid {}: {e}", self.plan.gid),
            Step::Uid => format!("set uid {}: {e}", self.plan.uid),
            Step::ResetKeepCaps => format!("reset keepcaps: {e}"),
            Step::Caps => format!("set capabilities: {}", caps("capset")),
            Step::AmbientClear => format!(
                "clear ambient capabilities: {}",
                caps("PR_CAP_AMBIENT_CLEAR_ALL")
            ),
            Step::NoNewPrivs => format!("set no_new_privs: {e}"),
            Step::Stat(n) => format!("exec: {:?}: stat {}: {e}", self.arg0(), self.exe(n)),
            Step::NotExecutable(_) => format!("exec: {:?}: permission denied", self.arg0()),
            Step::Access(n) => format!("exec {}: {e}", self.exe(n)),
            Step::Exec(n) => match self.plan.exe.get(n) {
                Some(exe) => format!("exec {exe:?}: {e}"),
                None => format!("exec: {e}"),
            },
        }
    }

    fn arg0(&self) -> &str {
        self.process
            .args()
            .as_deref()
            .and_then(|a| a.first())
            .map_or("", String::as_str)
    }

    fn exe(&self, n: usize) -> String {
        self.plan
            .exe
            .get(n)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// As `init::lsm` words it: the action, then the file and the errno.
    fn attr(&self, selinux: bool, op: AttrOp, report: &Report, e: String) -> String {
        let (action, attr) = if selinux {
            let label = self.process.selinux_label().clone().unwrap_or_default();
            (
                format!("set SELinux process label {label:?}"),
                self.plan.selinux.as_ref(),
            )
        } else {
            let profile = self.process.apparmor_profile().clone().unwrap_or_default();
            (
                format!("apply AppArmor profile {profile:?}"),
                self.plan.apparmor.as_ref(),
            )
        };
        let path = attr
            .map(|a| match (&a.fallback, report.attr_fallback) {
                (Some(f), true) => f,
                _ => &a.path,
            })
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        match op {
            AttrOp::Open => format!("{action}: open {path}: {e}"),
            AttrOp::NotProc => format!("{action}: {path} is not on procfs"),
            AttrOp::Write => format!("{action}: write {path}: {e}"),
        }
    }
}

/// The ambient capabilities the kernel refused: a warning, as runc's.
pub(super) fn warn_ambient(report: &Report) {
    if report.ambient_refused == 0 {
        return;
    }
    let e = std::io::Error::from_raw_os_error(report.ambient_errno);
    for cap in caps::all() {
        if report.ambient_refused & (1 << cap.index()) != 0 {
            tracing::warn!(
                "cannot raise ambient capability {cap}: caps error: PR_CAP_AMBIENT_RAISE failure: {e}"
            );
        }
    }
}
