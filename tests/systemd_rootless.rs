//! Rootless with `--systemd-cgroup`, on the host most rootless users have:
//! pure cgroup v2 with systemd, whose user manager (user@UID.service, here
//! started by lingering) hands the user a delegated subtree. The container's
//! scope is the user manager's unit, asked for on the user's bus, and its
//! cgroup is the user's: limits, pause and delete work as for root. Also
//! rootless Podman with its default cgroup manager there, systemd. Runs in
//! the guest of tools/vmtest; elsewhere it says in one line that it skipped.

mod common;
mod podman_support;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::Duration;

use common::systemd::pure_v2_with_systemd;
use common::unprivileged::{Unprivileged, USER};
use common::{
    assert_fails_with, edit_config, runsc_bin, stderr, stdout, succeeded as ok, wait_for, Env,
};
use podman_support::ULIMITS;

/// The tests share one user and its manager.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The test user with a running user manager and user bus, as a login or
/// `loginctl enable-linger` gives; stopped again, pass or fail.
struct Lingering {
    uid: u32,
}

impl Lingering {
    fn start(user: &Unprivileged) -> Self {
        let out = Command::new("loginctl")
            .args(["enable-linger", USER])
            .output()
            .expect("run loginctl");
        assert!(out.status.success(), "enable-linger: {}", stderr(&out));
        let lingering = Lingering { uid: user.uid };
        let bus = lingering.runtime_dir().join("bus");
        wait_for("the user manager's bus", Duration::from_secs(120), || {
            bus.exists()
        });
        lingering
    }

    fn runtime_dir(&self) -> PathBuf {
        PathBuf::from(format!("/run/user/{}", self.uid))
    }

    fn bus_env(&self) -> String {
        format!(
            "DBUS_SESSION_BUS_ADDRESS=unix:path={}/bus",
            self.runtime_dir().display()
        )
    }

    /// The user manager's cgroup, under which its units live.
    fn manager_cgroup(&self) -> PathBuf {
        let uid = self.uid;
        PathBuf::from(format!(
            "/sys/fs/cgroup/user.slice/user-{uid}.slice/user@{uid}.service"
        ))
    }

    /// `systemctl --user is-active UNIT` as the user, against its manager.
    fn is_active(&self, user: &Unprivileged, unit: &str) -> String {
        let runtime = format!("XDG_RUNTIME_DIR={}", self.runtime_dir().display());
        let out = user
            .cmd(
                &user.home,
                "env",
                &[&runtime, "systemctl", "--user", "is-active", unit],
            )
            .output()
            .expect("run systemctl --user");
        stdout(&out).trim().to_owned()
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        let _ = Command::new("loginctl")
            .args(["disable-linger", USER])
            .output();
        let unit = format!("user@{}.service", self.uid);
        let _ = Command::new("systemctl").args(["stop", &unit]).output();
    }
}

/// `runsc ARGS` as the user, in `dir`, with its bus named.
fn runsc(env: &Env, user: &Unprivileged, lingering: &Lingering, args: &[&str]) -> Output {
    let bus = lingering.bus_env();
    let mut full = vec![bus.as_str(), runsc_bin()];
    full.extend(args);
    env.output(user.cmd(&user.home, "env", &full))
}

/// The cgroup `pid` is in, as /proc/PID/cgroup names it.
fn cgroup_of(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_default()
        .trim()
        .trim_start_matches("0::")
        .to_owned()
}

/// A `runsc spec --rootless` bundle owned by the user, running `cmd`, with
/// a pids limit that only a delegated cgroup can hold.
fn rootless_bundle(env: &Env, user: &Unprivileged, lingering: &Lingering, cmd: &[&str]) -> PathBuf {
    let bundle = env.bundle("b", cmd);
    std::fs::remove_file(bundle.join("config.json")).expect("remove mkrootfs's spec");
    user.chown_all(&bundle);
    let b = bundle.to_str().expect("utf-8 path");
    let out = runsc(env, user, lingering, &["spec", "--rootless", "--bundle", b]);
    ok(out, "runsc spec --rootless");
    edit_config(&bundle, |c| {
        c["process"]["terminal"] = false.into();
        c["process"]["args"] = serde_json::json!(cmd);
        c["linux"]["resources"] = serde_json::json!({"pids": {"limit": 77}});
    });
    bundle
}

#[test]
fn rootless_systemd_cgroup_is_a_scope_of_the_users_manager() {
    if common::skip_without_root() {
        return;
    }
    if !pure_v2_with_systemd("rootless_systemd_cgroup_is_a_scope_of_the_users_manager") {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new();
    let user = Unprivileged::new(&env);
    let lingering = Lingering::start(&user);
    let bundle = rootless_bundle(&env, &user, &lingering, &["sleep", "1000"]);
    let b = bundle.to_str().expect("utf-8 path");
    let id = env.id("rsd");
    let unit = format!("runsc-{id}.scope");
    let scope = lingering.manager_cgroup().join("user.slice").join(&unit);
    let sd = |args: &[&str]| runsc(&env, &user, &lingering, args);

    // A user bus that does not answer: one line, and nothing made.
    let nowhere = env.path().join("no-bus.sock");
    let nobus = format!("DBUS_SESSION_BUS_ADDRESS=unix:path={}", nowhere.display());
    let out = env.output(user.cmd(
        &user.home,
        "env",
        &[
            &nobus,
            runsc_bin(),
            "--systemd-cgroup",
            "run",
            "--detach",
            "-b",
            b,
            &id,
        ],
    ));
    assert_fails_with(&out, "systemd user manager of uid");
    assert!(!scope.exists(), "scope cgroup made without a bus");
    assert_fails_with(&sd(&["state", &id]), "does not exist");

    ok(
        sd(&["--systemd-cgroup", "run", "--detach", "-b", b, &id]),
        "rootless run --systemd-cgroup",
    );
    assert_eq!(lingering.is_active(&user, &unit), "active");
    assert!(scope.is_dir(), "no scope at {}", scope.display());
    let state: serde_json::Value =
        serde_json::from_str(&ok(sd(&["state", &id]), "state")).expect("state json");
    let pid = state["pid"].as_i64().expect("state pid") as i32;
    let want = scope
        .strip_prefix("/sys/fs/cgroup")
        .expect("under the cgroup root")
        .to_string_lossy()
        .into_owned();
    assert_eq!(format!("/{want}"), cgroup_of(pid), "reported pid's cgroup");
    // Every process of ours (sandbox, holder, the container's sleep)
    // is in the scope; the user's manager and bus are elsewhere.
    let procs = std::fs::read_to_string(scope.join("cgroup.procs")).expect("read cgroup.procs");
    let in_scope: Vec<i32> = procs.lines().filter_map(|l| l.parse().ok()).collect();
    for p in user.processes() {
        let exe = std::fs::read_link(format!("/proc/{p}/exe")).unwrap_or_default();
        let ours =
            exe.to_string_lossy().contains("runsc") || common::proc_status(p, "Name") == "sleep";
        assert_eq!(ours, in_scope.contains(&p), "pid {p} ({})", exe.display());
    }
    // The gofer ended with create: no fourth process.
    assert_eq!(in_scope.len(), 3, "scope holds {in_scope:?}");
    let max = std::fs::read_to_string(scope.join("pids.max")).expect("read pids.max");
    assert_eq!(max.trim(), "77", "the spec's pids limit");

    let seen = ok(sd(&["exec", &id, "id", "-u"]), "exec");
    assert_eq!(seen.trim(), "0");
    let ps = ok(sd(&["ps", &id]), "ps");
    assert!(ps.contains("sleep"), "{ps}");
    ok(sd(&["pause", &id]), "pause");
    let frozen = std::fs::read_to_string(scope.join("cgroup.events")).unwrap_or_default();
    assert!(frozen.contains("frozen 1"), "{frozen}");
    ok(sd(&["resume", &id]), "resume");
    ok(sd(&["kill", &id, "KILL"]), "kill");
    wait_for("the container to stop", Duration::from_secs(30), || {
        stdout(&sd(&["state", &id])).contains("\"stopped\"")
    });
    ok(sd(&["delete", &id]), "delete");
    assert!(!scope.exists(), "scope cgroup left");
    let left = lingering.is_active(&user, &unit);
    assert!(left == "inactive" || left == "unknown", "unit is {left}");
    let entries: Vec<_> = std::fs::read_dir(user.xdg.join("runsc"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(entries.is_empty(), "state left: {entries:?}");
}

/// Rootless Podman as it runs on such a host: its default cgroup manager
/// is systemd, so it passes `--systemd-cgroup` and `user.slice:libpod:ID`.
#[test]
fn rootless_podman_with_systemd_cgroups_runs_execs_tops_and_removes() {
    if common::skip_without_root() {
        return;
    }
    if !pure_v2_with_systemd("rootless_podman_with_systemd_cgroups_runs_execs_tops_and_removes") {
        return;
    }
    if !podman_support::installed(true) {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new();
    let user = Unprivileged::new(&env);
    let lingering = Lingering::start(&user);
    let image = "localhost/runsc-busybox:rootless";
    let archive = podman_support::busybox_archive(&env, image, &user.home.join("image.tar"));
    user.chown_all(&archive);
    let storage = user.home.join("storage");
    let runroot = user.xdg.join("containers");
    let bus = lingering.bus_env();
    let podman = |args: &[&str]| -> Output {
        let mut full = vec![
            bus.as_str(),
            "podman",
            "--root",
            storage.to_str().expect("utf-8 path"),
            "--runroot",
            runroot.to_str().expect("utf-8 path"),
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "systemd",
            "--events-backend",
            "file",
            "--runtime",
            runsc_bin(),
        ];
        full.extend(args);
        env.output(user.cmd(&user.home, "env", &full))
    };
    let run_ok = |args: &[&str]| podman_support::expect_ok(podman(args), args);
    let cleanup = Cleanup(&podman);
    run_ok(&["load", "-i", archive.to_str().expect("utf-8 path")]);

    let mut run = vec!["run", "-d", "--network", "none"];
    run.extend(ULIMITS);
    run.extend([image, "sleep", "1000"]);
    let id = run_ok(&run).trim().to_string();
    let pid: i32 = run_ok(&["inspect", "-f", "{{.State.Pid}}", &id])
        .trim()
        .parse()
        .expect("pid");
    let scope = format!("libpod-{id}.scope");
    assert!(
        cgroup_of(pid).ends_with(&format!("/user@{}.service/user.slice/{scope}", user.uid)),
        "container pid {pid} is in {}",
        cgroup_of(pid)
    );
    assert_eq!(lingering.is_active(&user, &scope), "active");
    let seen = run_ok(&["exec", &id, "id", "-u"]);
    assert_eq!(seen.trim(), "0");
    let top = run_ok(&["top", &id, "-eo", "pid,comm"]);
    podman_support::assert_top_lists_the_container(&top);
    run_ok(&["stop", "--time", "1", &id]);
    run_ok(&["rm", &id]);
    let left = lingering.is_active(&user, &scope);
    assert!(left == "inactive" || left == "unknown", "unit is {left}");
    assert!(!lingering
        .manager_cgroup()
        .join("user.slice")
        .join(&scope)
        .exists());
    drop(cleanup);
}

/// Removes every Podman container of the test, pass or fail, before the
/// user's processes are killed.
struct Cleanup<'a, F: Fn(&[&str]) -> Output>(&'a F);

impl<F: Fn(&[&str]) -> Output> Drop for Cleanup<'_, F> {
    fn drop(&mut self) {
        let _ = (self.0)(&["rm", "--all", "--force", "--time", "0"]);
    }
}
