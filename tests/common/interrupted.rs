//! Cleanup when a test run is killed (SIGTERM or SIGINT: a CI job's
//! timeout, a ^C). Reapers and other guards clean up after a pass or a
//! failure, but not then: a killed run left its containers' cgroups and
//! mounts, and the daemons it started. So every `Env`'s state root and
//! every `Daemon`'s pid is listed while it lives, and the first such
//! signal wakes one thread that deletes each listed root's containers
//! (`runsc delete --force`), runs the cleanups guards listed
//! ([`watch_task`]: what a guard's `Drop` does that the rest does not,
//! such as a containerd's shims and nested roots), stops the daemons and
//! exits the process.

use std::os::fd::{AsRawFd, IntoRawFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

type Cleanup = Arc<dyn Fn() + Send + Sync>;

/// What a killed run must still clean up.
struct Live {
    roots: Vec<PathBuf>,
    pids: Vec<i32>,
    tasks: Vec<(u64, Cleanup)>,
}

static LIVE: Mutex<Live> = Mutex::new(Live {
    roots: Vec::new(),
    pids: Vec::new(),
    tasks: Vec::new(),
});
static NEXT_TASK: AtomicU64 = AtomicU64::new(0);
static INSTALL: Once = Once::new();
/// The write end of the pipe the signal handler wakes the cleaner by.
static WAKE: AtomicI32 = AtomicI32::new(-1);
/// The exit status of a run ended by SIGTERM (128 + 15), as the shell has it.
const KILLED: i32 = 143;
/// How long the cleanup may take before the process exits anyway.
const BOUND: Duration = Duration::from_secs(30);

fn live() -> MutexGuard<'static, Live> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Lists `root` for cleanup if the run is killed.
pub fn watch_root(root: &Path) {
    install();
    live().roots.push(root.to_path_buf());
}

pub fn unwatch_root(root: &Path) {
    live().roots.retain(|r| r != root);
}

/// Lists daemon `pid` to be stopped if the run is killed.
pub fn watch_pid(pid: i32) {
    install();
    live().pids.push(pid);
}

pub fn unwatch_pid(pid: i32) {
    live().pids.retain(|p| *p != pid);
}

/// A cleanup listed by [`watch_task`], unlisted when this is dropped (with
/// the guard that holds it, whose `Drop` does the same work).
pub struct Task(u64);

/// Lists `cleanup` to run if the run is killed, after the roots'
/// containers are deleted and before the daemons are stopped.
pub fn watch_task(cleanup: impl Fn() + Send + Sync + 'static) -> Task {
    install();
    let key = NEXT_TASK.fetch_add(1, Ordering::Relaxed);
    live().tasks.push((key, Arc::new(cleanup)));
    Task(key)
}

impl Drop for Task {
    fn drop(&mut self) {
        live().tasks.retain(|(k, _)| *k != self.0);
    }
}

extern "C" fn wake(_: nix::libc::c_int) {
    let fd = WAKE.load(Ordering::Relaxed);
    let byte = 0u8;
    // SAFETY: write(2) is async-signal-safe, and `fd` is the pipe's write
    // end, open for the life of the process; one byte from a live local.
    unsafe { nix::libc::write(fd, std::ptr::addr_of!(byte).cast(), 1) };
}

fn install() {
    INSTALL.call_once(|| {
        let Ok((read, write)) = nix::unistd::pipe() else {
            return;
        };
        WAKE.store(write.into_raw_fd(), Ordering::Relaxed);
        std::thread::spawn(move || {
            let mut byte = [0u8; 1];
            while nix::unistd::read(read.as_raw_fd(), &mut byte) == Err(nix::errno::Errno::EINTR) {}
            // A cleanup that hangs must not keep the killed run alive.
            std::thread::spawn(|| {
                std::thread::sleep(BOUND);
                std::process::exit(KILLED);
            });
            clean_up();
            std::process::exit(KILLED);
        });
        let action = SigAction::new(
            SigHandler::Handler(wake),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        for sig in [Signal::SIGTERM, Signal::SIGINT] {
            // SAFETY: the handler only writes to a pipe, which is
            // async-signal-safe; it replaces the default action, which
            // would end the process without any cleanup.
            let _ = unsafe { signal::sigaction(sig, &action) };
        }
    });
}

fn clean_up() {
    let (roots, pids, tasks) = {
        let live = live();
        let tasks: Vec<Cleanup> = live.tasks.iter().map(|(_, t)| t.clone()).collect();
        (live.roots.clone(), live.pids.clone(), tasks)
    };
    eprintln!(
        "killed: deleting the containers of {} test roots, {} more cleanups, stopping {} daemons",
        roots.len(),
        tasks.len(),
        pids.len()
    );
    for root in &roots {
        for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let Some(id) = name.to_str() else { continue };
            // Temporary entries (`~create.*`, `~delete.*`) and the id
            // index are no containers.
            if id.starts_with('~') || id.starts_with('.') || !entry.path().is_dir() {
                continue;
            }
            let _ = Command::new(super::runsc_bin())
                .arg("--root")
                .arg(root)
                .args(["delete", "--force", id])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
    for task in tasks {
        task();
    }
    for &pid in &pids {
        let _ = signal::kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    // The daemons are our children: reaped, they are gone.
    let mut left = pids;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !left.is_empty() && Instant::now() < deadline {
        left.retain(|&p| {
            matches!(
                waitpid(Pid::from_raw(p), Some(WaitPidFlag::WNOHANG)),
                Ok(WaitStatus::StillAlive)
            )
        });
        std::thread::sleep(Duration::from_millis(50));
    }
    for &pid in &left {
        let _ = signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}
