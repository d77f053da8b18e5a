//! Daemons the tests start from Debian's packages (dockerd; containerd in
//! the files that drive it), stopped by pid.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{stderr, stdout, Env};

/// A daemon we started; SIGTERM, then SIGKILL, when dropped.
pub struct Daemon {
    pub child: Child,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn wait_for_socket(path: &Path, daemon: &mut Daemon, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        if let Ok(Some(status)) = daemon.child.try_wait() {
            panic!(
                "daemon exited ({status}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "daemon socket {} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs a client with stdin closed; its output.
pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("spawn client")
}

/// The parent cgroup a daemon's default cgroupsPath made (`/<namespace>/<id>`,
/// `/docker/<id>`), once empty; a non-empty one stays.
pub fn remove_empty_cgroup(name: &str) {
    for dir in super::cgroup_dirs(name) {
        let _ = std::fs::remove_dir(dir);
    }
}

/// A private dockerd: its own data root, exec root and socket.
pub struct Dockerd {
    _daemon: Daemon,
    pub host: String,
    pub dir: PathBuf,
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        super::unmount_under(&self.dir);
        remove_empty_cgroup("docker");
    }
}

impl Dockerd {
    pub fn start(env: &Env, config: &Path) -> Self {
        let dir = env.path().join("docker");
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("docker.sock");
        let err = dir.join("err");
        let child = Command::new("dockerd")
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none"])
            .arg("--config-file")
            .arg(config)
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .expect("dockerd (apt-get install docker.io)");
        let mut daemon = Daemon { child };
        wait_for_socket(&sock, &mut daemon, &err);
        let host = format!("unix://{}", sock.display());
        let d = Self {
            _daemon: daemon,
            host,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !d.docker(&["info"]).status.success() {
            assert!(Instant::now() < deadline, "dockerd never answered");
            std::thread::sleep(Duration::from_millis(100));
        }
        d
    }

    /// A dockerd whose daemon.json `runsc install` wrote, with us as
    /// runtime `runsc-test` beside its runc.
    pub fn with_runsc(env: &Env) -> Self {
        Self::with_runsc_and(env, serde_json::json!({}))
    }

    /// As [`Dockerd::with_runsc`], with `settings` added to daemon.json.
    pub fn with_runsc_and(env: &Env, settings: serde_json::Value) -> Self {
        let config = env.path().join("daemon.json");
        let mut json = serde_json::json!({"log-level": "warn"});
        json.as_object_mut()
            .unwrap()
            .extend(settings.as_object().cloned().unwrap_or_default());
        std::fs::write(&config, json.to_string()).unwrap();
        let out = run(Command::new(super::runsc_bin()).args([
            "install",
            "--config-file",
            config.to_str().unwrap(),
            "--runtime",
            "runsc-test",
        ]));
        assert!(out.status.success(), "runsc install: {}", stderr(&out));
        Self::start(env, &config)
    }

    /// Imports the directory `rootfs` as image `name`.
    pub fn import(&self, env: &Env, rootfs: &Path, name: &str) {
        let tar = env.path().join("import.tar");
        let out = run(Command::new("tar")
            .arg("-C")
            .arg(rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg("."));
        assert!(
            out.status.success(),
            "tar {}: {}",
            rootfs.display(),
            stderr(&out)
        );
        self.ok(&["import", tar.to_str().unwrap(), name]);
        let _ = std::fs::remove_file(tar);
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        run(Command::new("docker").arg("-H").arg(&self.host).args(args))
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(out.status.success(), "docker {args:?}: {}", stderr(&out));
        stdout(&out)
    }
}
