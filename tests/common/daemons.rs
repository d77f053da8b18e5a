//! Daemons the tests start from Debian's packages (dockerd, and containerd
//! driven by `ctr`; a CRI containerd lives with the tests that drive it),
//! stopped by pid.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{stderr, stdout, Env};

/// A daemon we started; SIGTERM, then SIGKILL, when dropped (or when the
/// run is killed: `super::interrupted`).
pub struct Daemon {
    pub child: Child,
}

impl Daemon {
    pub fn new(child: Child) -> Self {
        super::interrupted::watch_pid(child.id() as i32);
        Self { child }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        super::interrupted::unwatch_pid(self.child.id() as i32);
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
        let mut daemon = Daemon::new(child);
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

/// A private containerd (CRI disabled), driven by `ctr`, stopped by pid.
pub struct Containerd {
    _daemon: Daemon,
    pub address: PathBuf,
    dir: PathBuf,
    /// A namespace of its own: containerd's runc shim keeps its state in
    /// `/run/containerd/runc/<namespace>` whatever the daemon's root, so
    /// fixed ids in the default one collided between concurrent runs.
    pub namespace: String,
}

impl Drop for Containerd {
    fn drop(&mut self) {
        super::unmount_under(&self.dir);
        remove_empty_cgroup(&self.namespace);
        // The runc shim's state directory of our namespace, once empty.
        let _ = std::fs::remove_dir(Path::new("/run/containerd/runc").join(&self.namespace));
    }
}

impl Containerd {
    pub fn start(env: &Env) -> Self {
        let dir = env.path().join("containerd");
        std::fs::create_dir_all(&dir).unwrap();
        let address = dir.join("containerd.sock");
        let config = format!(
            "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{a}\"\n[ttrpc]\n  address = \"{d}/ttrpc.sock\"\n",
            d = dir.display(),
            a = address.display()
        );
        std::fs::write(dir.join("config.toml"), config).unwrap();
        let log = dir.join("log");
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let child = Command::new("containerd")
            // Checkpoints pass through temporary directories that
            // containerd does not always remove; keep them in ours.
            .env("TMPDIR", &tmp)
            .arg("--config")
            .arg(dir.join("config.toml"))
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.join("err")).unwrap())
            .spawn()
            .expect("containerd (apt-get install containerd)");
        let mut daemon = Daemon::new(child);
        wait_for_socket(&address, &mut daemon, &dir.join("err"));
        Self {
            _daemon: daemon,
            address,
            dir,
            namespace: env.id("ns"),
        }
    }

    pub fn ctr(&self, args: &[&str]) -> Output {
        run(Command::new("ctr")
            .env("TMPDIR", self.dir.join("tmp"))
            .arg("--address")
            .arg(&self.address)
            .arg("--namespace")
            .arg(&self.namespace)
            .args(args))
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.ctr(args);
        assert!(out.status.success(), "ctr {args:?}: {}", stderr(&out));
        stdout(&out)
    }

    /// Imports a busybox image as `runsc-test/busybox:1`.
    pub fn import_busybox(&self, env: &Env) {
        let bundle = env.bundle("image", &["sh"]);
        let tar = env.path().join("image.tar");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/mkimage");
        let out = run(Command::new(script)
            .arg(bundle.join("rootfs"))
            .arg("runsc-test/busybox:1")
            .arg(&tar));
        assert!(out.status.success(), "{}", stderr(&out));
        self.ok(&["image", "import", tar.to_str().unwrap()]);
    }

    /// Waits until `task ls` shows the (only) task stopped.
    pub fn wait_stopped(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.ok(&["task", "ls"]).contains("STOPPED") {
            assert!(Instant::now() < deadline, "task never stopped");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
