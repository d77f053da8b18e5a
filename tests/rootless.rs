//! Rootless: an ordinary user runs a busybox bundle from `runsc spec
//! --rootless`, as with runc, on this hybrid-cgroup host where no cgroup is
//! delegated to it: the container runs without one, the sandbox and gofer
//! run as that user, and state lives in its $XDG_RUNTIME_DIR/runsc.
//! runc is run on the same bundle alongside.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Mutex;
use std::time::Duration;

use common::unprivileged::Unprivileged;
use common::{
    assert_fails_with, edit_config, runsc_bin, stderr, stdout, succeeded as ok, wait_for, Env,
};

/// The tests share one user, and each kills all its processes at the end.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

struct World {
    env: Env,
    user: Unprivileged,
    bundle: PathBuf,
}

impl World {
    /// A bundle owned by the user, its config.json written by `runsc spec
    /// --rootless` run as that user, running `cmd`.
    fn new(cmd: &[&str]) -> Self {
        let env = Env::new();
        let user = Unprivileged::new(&env);
        let bundle = env.bundle("b", cmd);
        std::fs::remove_file(bundle.join("config.json")).expect("remove mkrootfs's spec");
        user.chown_all(&bundle);
        let world = World { env, user, bundle };
        let out = world.runsc(&["spec", "--rootless"]);
        assert!(
            out.status.success(),
            "runsc spec --rootless: {}",
            stderr(&out)
        );
        edit_config(&world.bundle, |c| {
            c["process"]["terminal"] = false.into();
            c["process"]["args"] = serde_json::json!(cmd);
        });
        world
    }

    /// `runsc ARGS` as the user, in the bundle, with no --root.
    fn runsc(&self, args: &[&str]) -> Output {
        self.env
            .output(self.user.cmd(&self.bundle, runsc_bin(), args))
    }

    fn runc(&self, args: &[&str]) -> Output {
        self.env.output(self.user.cmd(&self.bundle, "runc", args))
    }

    fn state_root(&self) -> PathBuf {
        self.user.xdg.join("runsc")
    }

    /// Nothing of the user's is left: no process, no state, no cgroup.
    fn assert_clean(&self, id: &str) {
        wait_for(
            "the user's processes to end",
            Duration::from_secs(10),
            || self.user.processes().is_empty(),
        );
        for root in [self.state_root(), self.user.xdg.join("runc")] {
            let entries: Vec<_> = std::fs::read_dir(&root)
                .map(|d| d.flatten().map(|e| e.file_name()).collect())
                .unwrap_or_default();
            assert!(
                entries.is_empty(),
                "state left in {}: {entries:?}",
                root.display()
            );
        }
        for cg in common::cgroup_dirs(&format!("runsc/{id}")) {
            assert!(!cg.exists(), "cgroup left: {}", cg.display());
        }
    }
}

#[test]
fn run_exits_with_the_process_status_as_runc_does() {
    if common::skip_without_root() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let w = World::new(&["sh", "-c", "echo hello from $(id -u); exit 3"]);
    let id = w.env.id("rl-run");

    let ours = w.runsc(&["run", &id]);
    assert_eq!(ours.status.code(), Some(3), "stderr: {}", stderr(&ours));
    assert_eq!(stdout(&ours), "hello from 0\n");
    // One warning, as cgroups are not delegated here.
    let warning = stderr(&ours);
    assert!(
        warning.contains("rootless: cgroups are not delegated") && warning.lines().count() == 1,
        "{warning}"
    );
    let runc = w.runc(&["run", &id]);
    assert_eq!(runc.status.code(), Some(3), "runc: {}", stderr(&runc));
    assert_eq!(stdout(&runc), stdout(&ours));
    // The default state root is the user's $XDG_RUNTIME_DIR/runsc.
    assert!(w.state_root().is_dir(), "no {}", w.state_root().display());
    w.assert_clean(&id);
}

#[test]
fn a_detached_container_takes_exec_ps_kill_and_delete_as_runc_does() {
    if common::skip_without_root() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let w = World::new(&["sleep", "1000"]);
    let id = w.env.id("rl-detached");

    ok(w.runsc(&["run", "-d", &id]), "runsc run -d");
    let state: serde_json::Value =
        serde_json::from_str(&ok(w.runsc(&["state", &id]), "state")).expect("state json");
    assert_eq!(state["status"], "running");
    // The sandbox runs as the user, in a user namespace of its own.
    let sandbox = state["pid"].as_i64().expect("pid") as i32;
    assert_runs_as_user(&w.user, sandbox);
    let map = std::fs::read_to_string(format!("/proc/{sandbox}/uid_map")).expect("uid_map");
    let map: Vec<&str> = map.split_whitespace().collect();
    assert_eq!(
        map,
        ["0", &w.user.uid.to_string(), "1"],
        "sandbox's uid_map"
    );

    let exec = ok(
        w.runsc(&["exec", &id, "sh", "-c", "id -u; hostname"]),
        "exec",
    );
    assert_eq!(exec, "0\nrunsc\n");
    let pids: Vec<i32> =
        serde_json::from_str(&ok(w.runsc(&["ps", "-f", "json", &id]), "ps")).expect("ps json");
    let sleep = pids.iter().copied().find(|p| cmdline(*p) == "sleep 1000");
    let sleep = sleep.unwrap_or_else(|| panic!("no sleep among {pids:?}"));
    assert_runs_as_user(&w.user, sleep);

    // No freezer without a delegated cgroup; runc cannot pause either.
    assert_fails_with(&w.runsc(&["pause", &id]), "has no cgroup");
    ok(w.runsc(&["kill", &id, "KILL"]), "kill");
    wait_for("the container to stop", Duration::from_secs(10), || {
        w.runsc(&["state", &id]).status.success()
            && stdout(&w.runsc(&["state", &id])).contains("\"stopped\"")
    });
    ok(w.runsc(&["delete", &id]), "delete");
    assert_fails_with(&w.runsc(&["state", &id]), "does not exist");
    w.assert_clean(&id);

    // runc, on the same bundle.
    ok(w.runc(&["run", "-d", &id]), "runc run -d");
    let runc_exec = ok(
        w.runc(&["exec", &id, "sh", "-c", "id -u; hostname"]),
        "runc exec",
    );
    assert_eq!(runc_exec, exec);
    assert!(!w.runc(&["pause", &id]).status.success(), "runc paused");
    ok(w.runc(&["kill", &id, "KILL"]), "runc kill");
    wait_for("runc's container to stop", Duration::from_secs(10), || {
        stdout(&w.runc(&["state", &id])).contains("\"stopped\"")
    });
    ok(w.runc(&["delete", &id]), "runc delete");
    w.assert_clean(&id);
}

#[test]
fn delete_force_of_a_running_container_ends_all_its_processes() {
    if common::skip_without_root() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let w = World::new(&["sleep", "1000"]);
    let id = w.env.id("rl-force");
    ok(w.runsc(&["run", "-d", &id]), "runsc run -d");
    ok(w.runsc(&["exec", "-d", &id, "sleep", "999"]), "exec -d");
    let pids: Vec<i32> =
        serde_json::from_str(&ok(w.runsc(&["ps", "-f", "json", &id]), "ps")).expect("ps json");
    assert_eq!(pids.len(), 2, "{pids:?}");
    // No cgroup to empty: delete itself must end them, not leave them to
    // die later.
    ok(w.runsc(&["delete", "--force", &id]), "delete --force");
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(") ").map(|(_, rest)| &rest[..1]);
        assert!(
            matches!(state, None | Some("Z")),
            "process {pid} still runs: {stat}"
        );
    }
    w.assert_clean(&id);
}

/// The frontend SIGKILLed (the fault-injection hook) once the sandbox
/// runs but before `create` has saved the container as created. Without a
/// cgroup only pids in meta.json lead `delete` to the sandbox, so they must
/// be there from the moment it exists.
#[test]
fn a_frontend_killed_midway_leaves_nothing_delete_force_cannot_clean() {
    if common::skip_without_root() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let w = World::new(&["sleep", "1000"]);
    let cases: &[(&str, &[&str])] = &[
        ("create:spawned", &["create"]),
        ("create:created", &["create"]),
        ("create:created", &["run", "-d"]),
        ("start:released", &["run", "-d"]),
    ];
    for (n, (point, command)) in cases.iter().enumerate() {
        let id = w.env.id(&format!("rl-crash{n}"));
        // The user's environment is cleared: `env` sets the hook again.
        let crash = format!("RUNSC_TEST_CRASH_AT={point}");
        let mut args = vec![crash.as_str(), runsc_bin()];
        args.extend_from_slice(command);
        args.push(&id);
        common::assert_crashed(point, &w.env.output(w.user.cmd(&w.bundle, "env", &args)));
        ok(w.runsc(&["state", &id]), "state");
        ok(w.runsc(&["delete", "--force", &id]), "delete --force");
        w.assert_clean(&id);
    }
}

#[test]
fn limits_without_a_delegated_cgroup_fail_as_runc_does() {
    if common::skip_without_root() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let w = World::new(&["true"]);
    edit_config(&w.bundle, |c| {
        c["linux"]["resources"] = serde_json::json!({"pids": {"limit": 10}});
    });
    let id = w.env.id("rl-limits");
    assert_fails_with(
        &w.runsc(&["run", &id]),
        "rootless: linux.resources sets limits, but cgroups are not delegated",
    );
    let runc = w.runc(&["run", &id]);
    assert!(!runc.status.success(), "runc ran it: {}", stdout(&runc));
    // runc leaves nothing either: remove what it may have.
    let _ = w.runc(&["delete", "--force", &id]);
    w.assert_clean(&id);
}

fn assert_runs_as_user(user: &Unprivileged, pid: i32) {
    let uids = common::proc_status(pid, "Uid");
    let want = user.uid.to_string();
    assert!(
        !uids.is_empty() && uids.split_whitespace().all(|u| u == want),
        "process {pid} runs as uids {uids:?}, not {want}"
    );
}

fn cmdline(pid: i32) -> String {
    let raw = std::fs::read(Path::new("/proc").join(pid.to_string()).join("cmdline"));
    String::from_utf8_lossy(&raw.unwrap_or_default())
        .trim_end_matches('\0')
        .replace('\0', " ")
}

#[test]
fn a_spec_without_a_user_namespace_is_refused_as_runc_refuses_it() {
    if common::skip_without_root() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let w = World::new(&["true"]);
    edit_config(&w.bundle, |c| {
        let ns = c["linux"]["namespaces"].as_array_mut().expect("namespaces");
        ns.retain(|n| n["type"] != "user");
    });
    let id = w.env.id("rl-nouserns");
    assert_fails_with(
        &w.runsc(&["run", &id]),
        "rootless: the spec needs a user namespace",
    );
    let runc = w.runc(&["run", &id]);
    assert!(
        stderr(&runc).contains("rootless container requires user namespaces"),
        "runc: {}",
        stderr(&runc)
    );
    w.assert_clean(&id);
}

#[test]
fn root_of_a_user_namespace_is_rootless_too_as_under_podman() {
    if common::skip_without_root() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let w = World::new(&["sh", "-c", "echo hello from $(id -u); exit 5"]);
    // Rootless Podman and rootlesskit run the runtime as root of their user
    // namespace, with specs whose host ids are that namespace's.
    edit_config(&w.bundle, |c| {
        for key in ["uidMappings", "gidMappings"] {
            c["linux"][key][0]["hostID"] = 0.into();
        }
    });
    let id = w.env.id("rl-userns");
    // No --root, as Podman gives none: root of a user namespace cannot
    // write /run, so the state goes to $XDG_RUNTIME_DIR, as runc's does.
    let in_userns = |runtime: &str| {
        let args = ["-Urm", runtime, "run", &id];
        w.env.output(w.user.cmd(&w.bundle, "unshare", &args))
    };
    let ours = in_userns(runsc_bin());
    assert_eq!(ours.status.code(), Some(5), "stderr: {}", stderr(&ours));
    assert_eq!(stdout(&ours), "hello from 0\n");
    let runc = in_userns("runc");
    assert_eq!(runc.status.code(), Some(5), "runc: {}", stderr(&runc));
    assert_eq!(stdout(&runc), stdout(&ours));
    w.assert_clean(&id);
}
