//! An ordinary user for the rootless tests: created once (and kept, for
//! the next run), given a directory of its own under a test's scratch
//! directory, and run commands as with `setpriv`, with no capabilities
//! and XDG_RUNTIME_DIR in that directory, as a login session would give.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::Env;

/// The user the rootless tests run as.
pub const USER: &str = "runsc-rootless";

/// A user and its private directory under an [`Env`]; dropping it kills
/// whatever still runs as that user, pass or fail.
pub struct Unprivileged {
    pub uid: u32,
    pub gid: u32,
    /// Owned by the user, mode 0700.
    pub home: PathBuf,
    /// Its XDG_RUNTIME_DIR, owned by it, mode 0700.
    pub xdg: PathBuf,
    /// The same cleanup as `Drop`'s, should the test run be killed.
    _interrupted: super::interrupted::Task,
}

impl Unprivileged {
    /// The test user (created if missing) and its directory in `env`.
    pub fn new(env: &Env) -> Self {
        let (uid, gid) = ids().unwrap_or_else(|| {
            let out = Command::new("useradd")
                .args([
                    "--user-group",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                ])
                .arg(USER)
                .output()
                .expect("run useradd");
            // Another test binary may have made it meanwhile.
            ids().unwrap_or_else(|| panic!("useradd {USER}: {}", super::stderr(&out)))
        });
        // Others may pass through the scratch directory, not read it.
        std::fs::set_permissions(env.path(), std::fs::Permissions::from_mode(0o711))
            .expect("open the scratch directory for passing through");
        let home = env.path().join("user");
        let xdg = home.join("xdg");
        std::fs::create_dir_all(&xdg).expect("create the user's directories");
        for dir in [&home, &xdg] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .expect("chmod the user's directory");
            std::os::unix::fs::chown(dir, Some(uid), Some(gid))
                .expect("chown the user's directory");
        }
        // A killed run deletes the user's containers (a delegated cgroup
        // of theirs with them), then kills what still runs as the user.
        super::interrupted::watch_root(&xdg.join("runsc"));
        let interrupted = super::interrupted::watch_task(move || kill_processes_of(uid));
        Self {
            uid,
            gid,
            home,
            xdg,
            _interrupted: interrupted,
        }
    }

    /// `program ARGS` as the user, in `dir`, stdin closed, with a clean
    /// environment but for PATH, HOME and XDG_RUNTIME_DIR.
    pub fn cmd(&self, dir: &Path, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new("setpriv");
        c.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .args(["--clear-groups", "--inh-caps=-all", "--"])
            .args(["env", "-i"])
            .arg("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .arg(format!("HOME={}", self.home.display()))
            .arg(format!("XDG_RUNTIME_DIR={}", self.xdg.display()))
            .arg(program)
            .args(args)
            .current_dir(dir)
            .stdin(std::process::Stdio::null());
        c
    }

    /// Gives the user `path` and everything under it.
    pub fn chown_all(&self, path: &Path) {
        let out = Command::new("chown")
            .args(["-R", &format!("{}:{}", self.uid, self.gid)])
            .arg(path)
            .output()
            .expect("run chown");
        assert!(out.status.success(), "chown: {}", super::stderr(&out));
    }

    /// Pids of the processes running as the user (real uid).
    pub fn processes(&self) -> Vec<i32> {
        processes_of(self.uid)
    }
}

impl Drop for Unprivileged {
    fn drop(&mut self) {
        kill_processes_of(self.uid);
        super::interrupted::unwatch_root(&self.xdg.join("runsc"));
    }
}

fn processes_of(user: u32) -> Vec<i32> {
    let user = user.to_string();
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let uid = super::proc_status(pid, "Uid");
        if uid.split_whitespace().next() == Some(user.as_str()) {
            pids.push(pid);
        }
    }
    pids
}

fn kill_processes_of(user: u32) {
    for pid in processes_of(user) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// The test user's uid and gid, if it exists.
fn ids() -> Option<(u32, u32)> {
    let user = nix::unistd::User::from_name(USER).ok()??;
    Some((user.uid.as_raw(), user.gid.as_raw()))
}
