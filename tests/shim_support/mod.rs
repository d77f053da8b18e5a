//! A private containerd 1.6 for the shim tests: its own root, state and
//! sockets under the test's directory, our shim on its PATH as runtime
//! `io.containerd.runsc.v1` (CRI handler `runsc`), and runsc state in the
//! test's own root. CRI handler `runc` is runc through containerd's runc
//! shim, its state in the test's directory too, to compare with; CRI
//! handler `runc-runsc` is our binary through containerd's runc shim, as
//! its `BinaryName`, with state in the test's root. Dropping it stops
//! containerd by its pid and removes whatever a failed test left: shims,
//! sandboxes, mounts, cgroups.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::common::{self, runsc_bin, stderr, stdout, Env};

mod cleanup;
use cleanup::{clear, shims_of};

pub const RUNTIME: &str = "io.containerd.runsc.v1";
pub const BUSYBOX: &str = "docker.io/runsc-test/busybox:1";
pub const PAUSE: &str = "docker.io/runsc-test/pause:1";
/// containerd's runc shim, CRI handler `runc`.
pub const RUNC_SHIM: &str = "containerd-shim-runc-v2";

/// The shim binary, built beside the runsc under test (cargo builds an
/// integration test's own package's binaries only); where a runner copied
/// the binaries aside (`RUNSC_TEST_BIN`, tools/vmtest's guest has no
/// cargo), the copy beside that runsc. SHIM_TEST_BIN names a shim already
/// built instead (tools/bench).
pub fn shim_bin() -> PathBuf {
    if let Some(shim) = std::env::var_os("SHIM_TEST_BIN") {
        return PathBuf::from(shim);
    }
    let runsc = Path::new(runsc_bin());
    let shim = runsc.with_file_name("containerd-shim-runsc-v1");
    if std::env::var_os("RUNSC_TEST_BIN").is_some() && shim.is_file() {
        return shim;
    }
    let profile_dir = runsc.parent().expect("target profile directory");
    let mut build = Command::new(option_env!("CARGO").unwrap_or("cargo"));
    build.args(["build", "--quiet", "--locked", "-p", "shim"]);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    // target/<triple>/<profile> when built for a named target (the musl
    // default of .cargo/config.toml): build the shim for the same one.
    let mut target_dir = profile_dir.parent();
    if let Some(triple) = target_dir
        .and_then(|d| d.file_name())
        .and_then(|n| n.to_str())
        .filter(|n| n.contains("-linux-"))
    {
        build.args(["--target", triple]);
        target_dir = target_dir.and_then(Path::parent);
    }
    if let Some(target) = target_dir {
        build.arg("--target-dir").arg(target);
    }
    let out = build
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("run cargo build -p shim");
    assert!(out.status.success(), "build shim: {}", stderr(&out));
    assert!(shim.is_file(), "{} missing", shim.display());
    shim
}

/// The python that has PyPI's CRI stubs (tools/install-deps).
fn cri_python() -> String {
    std::env::var("CRI_PYTHON").unwrap_or_else(|_| "/opt/runsc-rs/cri-venv/bin/python3".into())
}

pub struct Containerd {
    child: Child,
    pub dir: PathBuf,
    pub address: PathBuf,
    pub options: PathBuf,
    runsc_root: PathBuf,
    /// The same cleanup as `Drop`'s, should the test run be killed.
    _interrupted: common::interrupted::Task,
}

/// CRIU in PATH, or its name where it is not installed.
fn criu_path() -> PathBuf {
    let paths = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&paths)
        .map(|d| d.join("criu"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("criu"))
}

impl Containerd {
    /// Starts containerd, with its CRI plugin when `cri`.
    pub fn start(env: &Env, cri: bool) -> Self {
        let shim = shim_bin();
        let dir = env.path().join("containerd");
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        std::os::unix::fs::symlink(&shim, bin.join("containerd-shim-runsc-v1")).unwrap();
        let options = dir.join("runsc.toml");
        std::fs::write(
            &options,
            format!(
                "root = \"{}\"\nbinary = \"{}\"\ndebug_log = \"{}/\"\n",
                env.root.display(),
                runsc_bin(),
                dir.join("runsc-logs").display()
            ),
        )
        .unwrap();
        let address = dir.join("containerd.sock");
        let mut config = format!(
            "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n\
             [grpc]\n  address = \"{a}\"\n[ttrpc]\n  address = \"{d}/ttrpc.sock\"\n",
            d = dir.display(),
            a = address.display()
        );
        if cri {
            // This host's root lacks CAP_SYS_RESOURCE: the pod's
            // oom_score_adj of -998 would be refused.
            config += &format!(
                "[plugins.\"io.containerd.grpc.v1.cri\"]\n  restrict_oom_score_adj = true\n  \
                 sandbox_image = \"{PAUSE}\"\n  stream_server_port = \"0\"\n\
                 [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  \
                 default_runtime_name = \"runsc\"\n\
                 [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runsc]\n  \
                 runtime_type = \"{RUNTIME}\"\n\
                 [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runsc.options]\n  \
                 TypeUrl = \"io.containerd.runsc.v1.options\"\n  ConfigPath = \"{}\"\n\
                 [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n  \
                 runtime_type = \"io.containerd.runc.v2\"\n\
                 [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n  \
                 Root = \"{}\"\n\
                 [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc-runsc]\n  \
                 runtime_type = \"io.containerd.runc.v2\"\n\
                 [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc-runsc.options]\n  \
                 BinaryName = \"{}\"\n  Root = \"{}\"\n  CriuPath = \"{}\"\n",
                options.display(),
                dir.join("runc-root").display(),
                runsc_bin(),
                env.root.display(),
                // runc's shim then passes `--criu` before every command.
                criu_path().display()
            );
        } else {
            config += "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n";
        }
        std::fs::write(dir.join("config.toml"), config).unwrap();
        let interrupted = {
            let (dir, address, root) = (dir.clone(), address.clone(), env.root.clone());
            common::interrupted::watch_task(move || clear(&dir, &address, &root))
        };
        let mut me = Self {
            child: spawn(&dir),
            dir,
            address,
            options,
            runsc_root: env.root.clone(),
            _interrupted: interrupted,
        };
        me.wait_listening();
        me
    }

    /// Has the shim run later containers with runsc's systemd cgroup
    /// driver (cgroupsPath `slice:prefix:name`), as `SystemdCgroup = true`
    /// has runc's shim do.
    pub fn use_systemd_cgroup(&self) {
        let mut options = std::fs::read_to_string(&self.options).unwrap();
        options += "systemd_cgroup = true\n";
        std::fs::write(&self.options, options).unwrap();
    }

    /// Stops containerd (its shims keep running) and starts it again on
    /// the same state.
    pub fn restart(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.address);
        self.child = spawn(&self.dir);
        self.wait_listening();
    }

    fn stop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline && !matches!(self.child.try_wait(), Ok(Some(_))) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        common::interrupted::unwatch_pid(pid.as_raw());
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.address.exists() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "containerd exited ({status}): {}",
                    std::fs::read_to_string(self.dir.join("err")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "containerd never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn ctr(&self, namespace: &str, args: &[&str]) -> Output {
        Command::new("ctr")
            .env("TMPDIR", self.dir.join("tmp"))
            .arg("--address")
            .arg(&self.address)
            .args(["--namespace", namespace])
            .args(args)
            .output()
            .expect("run ctr")
    }

    pub fn ok(&self, namespace: &str, args: &[&str]) -> String {
        let out = self.ctr(namespace, args);
        assert!(out.status.success(), "ctr {args:?}: {}", stderr(&out));
        stdout(&out)
    }

    /// `ctr run -d` of busybox `cmd` as `id` under our runtime, in the
    /// default namespace.
    pub fn run_detached(&self, id: &str, cmd: &[&str]) {
        self.run_detached_with(&[], id, cmd);
    }

    /// [`run_detached`](Self::run_detached) with more of `ctr run`'s
    /// `flags`.
    pub fn run_detached_with(&self, flags: &[&str], id: &str, cmd: &[&str]) {
        let options = self.options.to_str().expect("options path").to_string();
        let mut args = vec![
            "run",
            "-d",
            "--runtime",
            RUNTIME,
            "--runtime-config-path",
            &options,
        ];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[BUSYBOX, id]);
        args.extend_from_slice(cmd);
        self.ok("default", &args);
    }

    /// `ctr task exec` of `sh -c script` as `exec_id` in task `id` of the
    /// default namespace.
    pub fn exec_sh(&self, id: &str, exec_id: &str, script: &str) -> Output {
        let args = ["task", "exec", "--exec-id", exec_id, id, "sh", "-c", script];
        self.ctr("default", &args)
    }

    /// SIGKILLs task `id` of the default namespace and deletes it and its
    /// container once containerd sees it stopped.
    pub fn kill_and_delete(&self, id: &str) {
        self.ok("default", &["task", "kill", "-s", "SIGKILL", id]);
        self.eventually(10, "task stopped", || {
            self.ok("default", &["task", "ls"]).contains("STOPPED")
        });
        self.ok("default", &["task", "delete", id]);
        self.ok("default", &["container", "delete", id]);
    }

    /// Imports busybox (command sh) and a pause image (a command that
    /// keeps running) into `namespace`.
    pub fn import_images(&self, env: &Env, namespace: &str) {
        let bundle = env.bundle("image", &["sh"]);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/mkimage");
        for (name, cmd) in [(BUSYBOX, "sh"), (PAUSE, "sleep 2147483647")] {
            let tar = env.path().join("image.tar");
            let out = Command::new(&script)
                .arg(bundle.join("rootfs"))
                .arg(name)
                .arg(&tar)
                .args(cmd.split(' '))
                .output()
                .expect("run tools/mkimage");
            assert!(out.status.success(), "{}", stderr(&out));
            self.ok(namespace, &["image", "import", tar.to_str().unwrap()]);
        }
    }

    /// One CRI RuntimeService call; the reply, or the error's text.
    pub fn cri(
        &self,
        method: &str,
        request: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        self.cri_call(method, request, false)
            .map(|(reply, _)| reply)
    }

    /// One CRI call and how long containerd took to answer it (python's
    /// start aside).
    pub fn cri_timed(&self, method: &str, request: serde_json::Value) -> (serde_json::Value, f64) {
        let (reply, ms) = self
            .cri_call(method, request, true)
            .unwrap_or_else(|e| panic!("{method}: {e}\ncontainerd's errors:\n{}", self.errors()));
        (reply, ms.expect("cri-client --time prints time_ms"))
    }

    fn cri_call(
        &self,
        method: &str,
        request: serde_json::Value,
        timed: bool,
    ) -> Result<(serde_json::Value, Option<f64>), String> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/cri-client");
        let mut cmd = Command::new(cri_python());
        cmd.arg(script);
        if timed {
            cmd.arg("--time");
        }
        let out = cmd
            .arg(&self.address)
            .arg(method)
            .arg(request.to_string())
            .output()
            .expect("run tools/cri-client (tools/install-deps makes its python)");
        if !out.status.success() {
            return Err(stderr(&out));
        }
        let ms = stderr(&out)
            .lines()
            .find_map(|l| l.strip_prefix("time_ms ")?.trim().parse().ok());
        let reply = serde_json::from_str(&stdout(&out)).expect("cri-client prints JSON");
        Ok((reply, ms))
    }

    pub fn cri_ok(&self, method: &str, request: serde_json::Value) -> serde_json::Value {
        self.cri(method, request)
            .unwrap_or_else(|e| panic!("{method}: {e}\ncontainerd's errors:\n{}", self.errors()))
    }

    /// containerd's error lines, for a failure's message.
    pub fn errors(&self) -> String {
        std::fs::read_to_string(self.dir.join("err"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("level=error") || l.contains("level=fatal") || l.contains("cri"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The test's processes but containerd.
    pub fn leftover_processes(&self, env: &Env) -> Vec<i32> {
        let me = self.child.id() as i32;
        env.leftover_processes()
            .into_iter()
            .filter(|p| *p != me)
            .collect()
    }

    /// Asserts that nothing of the test's containers is left while
    /// containerd still runs: processes (containerd aside), mounts, runsc
    /// state, shims.
    pub fn assert_clean(&self, env: &Env) {
        assert_eq!(
            self.leftover_processes(env),
            Vec::<i32>::new(),
            "processes left"
        );
        assert_eq!(self.shims(), Vec::<i32>::new(), "shims left");
        assert_eq!(env.leftover_mounts(), Vec::<String>::new(), "mounts left");
        let entries: Vec<_> = std::fs::read_dir(&env.root)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(entries.is_empty(), "runsc state left: {entries:?}");
    }

    /// Pids of our shims: their command lines name our containerd.
    pub fn shims(&self) -> Vec<i32> {
        self.shims_of("containerd-shim-runsc-v1")
    }

    /// Pids of the shims `binary` that serve our containerd.
    pub fn shims_of(&self, binary: &str) -> Vec<i32> {
        shims_of(&self.address, binary)
    }

    /// Exited children of our shims that nobody reaped.
    pub fn zombies(&self) -> Vec<i32> {
        let shims = self.shims();
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // After the command name in parentheses: state, then ppid.
            let mut rest = stat
                .rsplit_once(')')
                .map_or("", |(_, r)| r)
                .split_whitespace();
            let (state, ppid) = (rest.next(), rest.next().and_then(|p| p.parse().ok()));
            if state == Some("Z") && ppid.is_some_and(|p| shims.contains(&p)) {
                out.push(pid);
            }
        }
        out
    }

    /// Waits up to `secs` for `done`.
    pub fn eventually(&self, secs: u64, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !done() {
            assert!(Instant::now() < deadline, "never: {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A CRI pod config `name`: host network (no CNI), one pid namespace for
/// the pod, logs under the test's directory.
pub fn pod_config(env: &Env, name: &str) -> serde_json::Value {
    serde_json::json!({
        "metadata": {"name": name, "uid": env.id(name), "namespace": "default"},
        "logDirectory": env.path().join("pod-logs").join(name),
        "linux": {"securityContext": {"namespaceOptions": {"network": "NODE", "pid": "POD"}}},
    })
}

/// CreateContainer of `cmd` as `name` in `pod`, then StartContainer; its id.
pub fn container(ctd: &Containerd, pod: &str, config: &Value, name: &str, cmd: &[&str]) -> String {
    let reply = ctd.cri_ok(
        "CreateContainer",
        json!({
            "podSandboxId": pod,
            "config": {
                "metadata": {"name": name},
                "image": {"image": BUSYBOX},
                "command": cmd,
                "logPath": format!("{name}.log"),
            },
            "sandboxConfig": config,
        }),
    );
    let id = reply["containerId"]
        .as_str()
        .expect("containerId")
        .to_string();
    ctd.cri_ok("StartContainer", json!({"containerId": id}));
    id
}

/// ContainerStatus of `id`.
pub fn status(ctd: &Containerd, id: &str) -> Value {
    ctd.cri_ok("ContainerStatus", json!({"containerId": id}))["status"].clone()
}

/// The leaf cgroups of `ids` under `parent` in every hierarchy, that
/// exist.
pub fn cgroups_left(parent: &str, ids: &[String]) -> Vec<PathBuf> {
    ids.iter()
        .flat_map(|id| common::cgroup_dirs(&format!("{parent}/{id}")))
        .filter(|d| d.exists())
        .collect()
}

/// containerd on the config in `dir`, our shim first on its PATH.
fn spawn(dir: &Path) -> Child {
    let path = format!(
        "{}:{}",
        dir.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let log = |name: &str| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(name))
            .unwrap()
    };
    Command::new("containerd")
        .env("PATH", path)
        .env("TMPDIR", dir.join("tmp"))
        .arg("--config")
        .arg(dir.join("config.toml"))
        .stdout(log("log"))
        .stderr(log("err"))
        .spawn()
        .inspect(|child| common::interrupted::watch_pid(child.id() as i32))
        .expect("containerd (apt-get install containerd)")
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.stop();
        clear(&self.dir, &self.address, &self.runsc_root);
    }
}
