//! Shared helpers for the integration tests: each test gets its own state
//! root and bundle in a temporary directory, removed when the test ends,
//! whether it passed or not.
#![allow(dead_code)]

pub mod counter;
mod crash;
pub mod daemons;
mod fails;
mod fds;
pub mod interrupted;
mod privilege;
pub mod profiles;
mod reaper;
pub mod script;
pub mod systemd;
pub mod unprivileged;
mod wait;
mod watchdog;

// Each test binary uses some of these.
#[allow(unused_imports)]
pub use crash::assert_crashed;
#[allow(unused_imports)]
pub use fails::{assert_exec_fails_with, assert_fails_with};
#[allow(unused_imports)]
pub use fds::pass_fd;
#[allow(unused_imports)]
pub use privilege::{in_subreaper_process, skip_without_root};
#[allow(unused_imports)]
pub use reaper::{running, Reaper};
#[allow(unused_imports)]
pub use wait::{status_of, wait_for, wait_for_status};
#[allow(unused_imports)]
pub use watchdog::Watchdog;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test: cargo's, or `RUNSC_TEST_BIN` where a runner
/// copied the binaries aside (tools/vmtest runs them while the tree is
/// rebuilt).
pub fn runsc_bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("RUNSC_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_runsc").to_string())
    })
}

/// A test's private world: `--root`, a scratch directory, a log file.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub log: PathBuf,
}

impl Env {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("runsc-test-")
            .tempdir()
            .expect("create test directory");
        // RUNSC_TEST_KEEP=1 keeps the directory's logs for a failure hunt;
        // containers and daemons are cleaned up as always.
        let mut dir = dir;
        if std::env::var_os("RUNSC_TEST_KEEP").is_some() {
            dir.disable_cleanup(true);
        }
        let root = dir.path().join("root");
        let log = dir.path().join("runsc.log");
        interrupted::watch_root(&root);
        Self { dir, root, log }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A container id unique to this test run, so that parallel tests never
    /// share a cgroup (`/runsc/<id>`).
    pub fn id(&self, name: &str) -> String {
        let tag = self
            .dir
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("x")
            .trim_start_matches("runsc-test-")
            .to_string();
        format!("{name}-{tag}")
    }

    /// `runsc ... ARGS` with stdin closed.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(runsc_bin());
        c.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&self.log)
            .arg("--log-format=json")
            .args(args)
            .stdin(std::process::Stdio::null());
        c
    }

    /// Asserts success and returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.runsc(args);
        assert!(
            out.status.success(),
            "runsc {args:?} failed ({:?}): {}",
            out.status,
            stderr(&out)
        );
        stdout(&out)
    }

    /// The OCI state of `id`.
    pub fn state(&self, id: &str) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["state", id])).expect("state json")
    }

    /// Host pids of processes whose command line mentions this test's
    /// directory: the sandboxes and gofers it started.
    pub fn leftover_processes(&self) -> Vec<i32> {
        processes_naming(self.path())
    }

    /// Mount points in our mount namespace under this test's directory.
    pub fn leftover_mounts(&self) -> Vec<String> {
        let needle = self.path().to_string_lossy().into_owned();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&needle))
            .map(str::to_string)
            .collect()
    }

    /// Asserts that nothing of this test's containers is left: processes,
    /// mounts, store entries, and the cgroups of `ids`.
    pub fn assert_clean(&self, ids: &[&str]) {
        assert_eq!(
            self.leftover_processes(),
            Vec::<i32>::new(),
            "processes left"
        );
        assert_eq!(self.leftover_mounts(), Vec::<String>::new(), "mounts left");
        let entries: Vec<_> = std::fs::read_dir(&self.root)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(entries.is_empty(), "store entries left: {entries:?}");
        for id in ids {
            for cg in cgroup_dirs(&format!("runsc/{id}")) {
                assert!(!cg.exists(), "cgroup left: {}", cg.display());
            }
        }
    }

    /// `runsc --root <root> --log <log> --log-format json ARGS`, with stdin
    /// closed. Output goes through files, not pipes: a sandbox that
    /// `create` leaves behind keeps the command's stdout and stderr open.
    pub fn runsc(&self, args: &[&str]) -> Output {
        self.output(self.cmd(args))
    }

    /// `runsc ARGS` told (RUNSC_TEST_CRASH_AT, a fault-injection build) to
    /// SIGKILL itself at `point`; asserts that it did.
    pub fn crash_at(&self, point: &str, args: &[&str]) {
        let mut cmd = self.cmd(args);
        cmd.env("RUNSC_TEST_CRASH_AT", point);
        assert_crashed(point, &self.output(cmd));
    }

    /// Runs `cmd` with stdout and stderr through files (see `runsc`).
    pub fn output(&self, mut cmd: Command) -> Output {
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let out_path = self.path().join(format!("out.{n}"));
        let err_path = self.path().join(format!("err.{n}"));
        let status = cmd
            .stdout(std::fs::File::create(&out_path).expect("stdout file"))
            .stderr(std::fs::File::create(&err_path).expect("stderr file"))
            .status()
            .expect("spawn runsc");
        Output {
            status,
            stdout: std::fs::read(&out_path).unwrap_or_default(),
            stderr: std::fs::read(&err_path).unwrap_or_default(),
        }
    }

    /// A busybox bundle of `cmd` as a subcontainer of pod `pod`, annotated
    /// as containerd's CRI plugin annotates one.
    pub fn sub_bundle(&self, name: &str, pod: &str, cmd: &[&str]) -> PathBuf {
        let bundle = self.bundle(name, cmd);
        edit_config(&bundle, |c| {
            c["annotations"] = serde_json::json!({
                "io.kubernetes.cri.container-type": "container",
                "io.kubernetes.cri.sandbox-id": pod,
            });
        });
        bundle
    }

    /// Builds a busybox bundle running `cmd` under the scratch directory.
    pub fn bundle(&self, name: &str, cmd: &[&str]) -> PathBuf {
        let dir = self.path().join(name);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/mkrootfs");
        let out = Command::new(script)
            .arg(&dir)
            .args(cmd)
            .output()
            .expect("run tools/mkrootfs");
        assert!(
            out.status.success(),
            "mkrootfs failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    }

    /// The JSON lines of the log file.
    pub fn log_lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log line {l:?}: {e}")))
            .collect()
    }
}

/// `/proc/<pid>/ns/<ns>`'s link, naming the namespace.
pub fn ns_of(pid: i64, ns: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// The pid of container `id`'s sandbox, from its meta.json: `state`
/// reports the holder's (sandbox/src/holder.rs).
pub fn sandbox_pid(env: &Env, id: &str) -> i64 {
    let meta = std::fs::read(env.root.join(id).join("meta.json")).expect("read meta.json");
    let meta: serde_json::Value = serde_json::from_slice(&meta).expect("meta.json");
    meta["sandbox"]["pid"]
        .as_i64()
        .expect("the sandbox's pid in meta.json")
}

/// A container's init: `state` names the holder, so take the first
/// process `ps` reports.
pub fn init_pid(env: &Env, id: &str) -> i64 {
    let pids: Vec<i64> = serde_json::from_str(&env.ok(&["ps", "-f", "json", id])).unwrap();
    *pids.iter().min().expect("a process")
}

/// Where cgroup `rel` would live in every mounted hierarchy.
pub fn cgroup_dirs(rel: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for line in std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
    {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        if matches!(fields.get(sep + 1), Some(&"cgroup") | Some(&"cgroup2")) {
            dirs.push(Path::new(fields[4]).join(rel));
        }
    }
    dirs
}

/// The mount point of the v1 hierarchy that holds `controller`, if any.
pub fn v1_hierarchy(controller: &str) -> Option<PathBuf> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    table.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        let mut after = after.split(' ');
        let holds = after.next()? == "cgroup" && after.nth(1)?.split(',').any(|o| o == controller);
        holds.then(|| before.split(' ').nth(4).map(PathBuf::from))?
    })
}

/// Edits a bundle's config.json in place.
pub fn edit_config(bundle: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = bundle.join("config.json");
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read config")).expect("parse config");
    edit(&mut v);
    std::fs::write(&path, serde_json::to_vec_pretty(&v).expect("encode config"))
        .expect("write config");
}

/// Gives a spec a user namespace of its own, root mapped to host uid and
/// gid 100000 (65536 ids).
pub fn add_user_namespace(c: &mut serde_json::Value) {
    c["linux"]["namespaces"]
        .as_array_mut()
        .expect("linux.namespaces")
        .push(serde_json::json!({"type": "user"}));
    let map = serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    c["linux"]["uidMappings"] = map.clone();
    c["linux"]["gidMappings"] = map;
}

impl Drop for Env {
    fn drop(&mut self) {
        interrupted::unwatch_root(&self.root);
    }
}

/// Receives the pty master that the container sends to the console socket.
pub fn receive_master(listener: &std::os::unix::net::UnixListener) -> std::os::fd::OwnedFd {
    let (conn, _) = listener.accept().expect("console connection");
    let mut buf = [0u8; 256];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = nix::sys::socket::recvmsg::<()>(
        std::os::fd::AsRawFd::as_raw_fd(&conn),
        &mut iov,
        Some(&mut cmsg),
        nix::sys::socket::MsgFlags::empty(),
    )
    .expect("recvmsg");
    for c in msg.cmsgs().expect("cmsgs") {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the kernel just gave us this descriptor.
            return unsafe { std::os::fd::FromRawFd::from_raw_fd(fds[0]) };
        }
    }
    panic!("no descriptor on the console socket");
}

/// Asserts that `out`, of the command `what`, succeeded; its stdout.
pub fn succeeded(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}",
        out.status,
        stderr(&out)
    );
    stdout(&out)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `field` of /proc/<pid>/status, e.g. "Seccomp"; empty if the process
/// or field is not there.
pub fn proc_status(pid: i32, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{field}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default()
}

/// Runs shell command `line` on a terminal of script(1)'s, typing `input`
/// there; returns what the terminal showed and the command's status.
pub fn on_a_terminal(line: &str, input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new("script")
        .args(["-qec", line, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script(1)");
    child
        .stdin
        .take()
        .expect("script's stdin")
        .write_all(input)
        .expect("type into script(1)");
    child.wait_with_output().expect("wait for script(1)")
}

/// Runs `line` on script(1)'s terminal, types a shell session into it,
/// and asserts the shell had that terminal and exited as told.
pub fn assert_shell_on_a_terminal(line: &str) {
    let out = on_a_terminal(line, b"tty; echo answer-$((6*7)); exit 3\n");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains("/dev/pts/0") && text.contains("answer-42"),
        "{text}"
    );
}

/// Builds tests/programs/<name>.c statically into the bundle's /bin.
pub fn install_program(bundle: &Path, name: &str) {
    install_program_as(bundle, name, name, &[]);
}

/// The same, as /bin/<target>, with more gcc flags (`-m32`: i386 ABI).
pub fn install_program_as(bundle: &Path, name: &str, target: &str, flags: &[&str]) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../tests/programs/{name}.c"));
    let out = Command::new("gcc")
        .args(flags)
        .args(["-static", "-O2", "-o"])
        .arg(bundle.join("rootfs/bin").join(target))
        .arg(&src)
        .arg("-lrt")
        .output()
        .expect("run gcc");
    assert!(
        out.status.success(),
        "gcc {name}.c: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// What `runsc spec` (runc's `runc spec`) writes into the new directory
/// `dir`, asserted to have a `cgroup` mount, as runc's has.
pub fn default_spec(env: &Env, dir: &Path) -> serde_json::Value {
    std::fs::create_dir(dir).expect("create spec directory");
    let out = env
        .cmd(&["spec", "--bundle", dir.to_str().expect("utf-8 path")])
        .output()
        .expect("run runsc spec");
    assert!(out.status.success(), "runsc spec: {}", stderr(&out));
    let spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).expect("read spec"))
            .expect("parse spec");
    let mounts = spec["mounts"].as_array().expect("mounts");
    assert!(
        mounts.iter().any(|m| m["type"] == "cgroup"),
        "runsc spec has no cgroup mount: {mounts:?}"
    );
    spec
}

/// Adds to `spec` a user namespace mapping every id (below 65536) to
/// itself, which root owns and in which it holds every capability.
pub fn add_identity_user_ns(spec: &mut serde_json::Value) {
    spec["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces")
        .push(serde_json::json!({ "type": "user" }));
    let identity = serde_json::json!([{ "containerID": 0, "hostID": 0, "size": 65536 }]);
    spec["linux"]["uidMappings"] = identity.clone();
    spec["linux"]["gidMappings"] = identity;
}

/// `runsc ARGS` with stdio on /dev/null: a detached container's output
/// then is /dev/null, which any restore's can stand in for (CRIU checks).
pub fn run_quietly(env: &Env, args: &[&str]) -> bool {
    env.cmd(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("spawn runsc")
        .success()
}

/// Unmounts whatever a daemon left under `dir` (it should have left nothing).
pub fn unmount_under(dir: &Path) {
    let needle = dir.to_string_lossy().into_owned();
    let mut points: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
        .filter(|p| p.starts_with(&needle))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = nix::mount::umount2(p.as_str(), nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Rewrites the store entry at `dir` as an older runsc-rs left it: the
/// spec in spec.json and the lock file empty.
pub fn as_older_entry(dir: &Path) {
    let lock = dir.join("meta.lock");
    let spec = std::fs::read(&lock).expect("read meta.lock");
    assert!(!spec.is_empty(), "{} holds no spec", lock.display());
    std::fs::write(dir.join("spec.json"), spec).expect("write spec.json");
    std::fs::write(&lock, "").expect("empty meta.lock");
}

/// Makes `cmd` run with umask `mask`, as a caller with that umask would.
pub fn with_umask(cmd: &mut Command, mask: libc::mode_t) {
    // SAFETY: umask(2) is async-signal-safe.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(cmd, move || {
            libc::umask(mask);
            Ok(())
        });
    }
}

/// Pids of the processes whose command line names `path`.
pub fn processes_naming(path: &Path) -> Vec<i32> {
    let needle = path.to_string_lossy().into_owned();
    processes_whose_cmdline(|c| c.contains(&needle))
}

/// Pids of the processes whose command line (arguments joined by spaces)
/// `matches`.
pub fn processes_whose_cmdline(matches: impl Fn(&str) -> bool) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if matches(&String::from_utf8_lossy(&cmdline).replace('\0', " ")) {
            out.push(pid);
        }
    }
    out
}
