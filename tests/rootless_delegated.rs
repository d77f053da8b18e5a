//! Rootless on a cgroup v2 subtree that an administrator delegated to the
//! user by hand, without systemd (cgroup-v2.rst, "Delegation"): the
//! subtree's directory and its `cgroup.procs`, `cgroup.threads` and
//! `cgroup.subtree_control` belong to the user, and the user's processes
//! already run inside it. A `runsc spec --rootless` bundle whose
//! cgroupsPath lies in that subtree then gets its cgroup, its limits and
//! pause, as runc's does. Needs pure cgroup v2 (the guest of tools/vmtest);
//! elsewhere it says in one line that it skipped.

mod common;

use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::unprivileged::Unprivileged;
use common::{edit_config, runsc_bin, succeeded as ok, wait_for, Env};

/// The delegated subtree, removed (after the user's processes are gone)
/// pass or fail.
struct Delegated {
    dir: PathBuf,
}

impl Delegated {
    fn new(name: &str, user: &Unprivileged) -> Self {
        let dir = Path::new("/sys/fs/cgroup").join(name);
        std::fs::create_dir(&dir).expect("make the delegated cgroup");
        let me = Delegated { dir };
        let session = me.dir.join("session");
        std::fs::create_dir(&session).expect("make the user's session cgroup");
        let give = |p: &Path| {
            chown(p, Some(user.uid), Some(user.gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()))
        };
        for file in [
            "",
            "cgroup.procs",
            "cgroup.threads",
            "cgroup.subtree_control",
        ] {
            give(&me.dir.join(file));
        }
        for file in ["", "cgroup.procs", "cgroup.threads"] {
            give(&session.join(file));
        }
        me
    }

    /// `cmd` started inside the subtree, where the user's processes run.
    fn inside(&self, cmd: Command) -> Command {
        let procs = self.dir.join("session/cgroup.procs");
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!("echo $$ > {} && exec \"$@\"", procs.display()))
            .arg("sh")
            .arg(cmd.get_program())
            .args(cmd.get_args())
            .stdin(std::process::Stdio::null());
        if let Some(dir) = cmd.get_current_dir() {
            c.current_dir(dir);
        }
        c
    }
}

impl Drop for Delegated {
    fn drop(&mut self) {
        // Children first; a cgroup whose last process is still exiting is
        // busy for a moment.
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default();
        dirs.push(self.dir.clone());
        for dir in dirs {
            for _ in 0..100 {
                if std::fs::remove_dir(&dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

#[test]
fn a_rootless_container_gets_its_cgroup_in_a_delegated_subtree() {
    if common::skip_without_root() {
        return;
    }
    if !Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        eprintln!(
            "a_rootless_container_gets_its_cgroup_in_a_delegated_subtree: skipped: needs pure \
             cgroup v2 (tools/vmtest runs it)"
        );
        return;
    }
    let env = Env::new();
    let id = env.id("deleg");
    let delegated_name = format!("runsc-test-{id}");
    // Declared first, so dropped last: after the user's processes.
    let tree: Delegated;
    let user = Unprivileged::new(&env);
    tree = Delegated::new(&delegated_name, &user);
    let controllers =
        std::fs::read_to_string("/sys/fs/cgroup/cgroup.subtree_control").unwrap_or_default();
    if !controllers.split_whitespace().any(|c| c == "pids") {
        eprintln!("skipped: the root cgroup hands down no pids controller");
        return;
    }

    let bundle = env.bundle("b", &["sleep", "1000"]);
    std::fs::remove_file(bundle.join("config.json")).expect("remove mkrootfs's spec");
    user.chown_all(&bundle);
    let runsc =
        |args: &[&str]| -> Output { env.output(tree.inside(user.cmd(&bundle, runsc_bin(), args))) };
    ok(runsc(&["spec", "--rootless"]), "runsc spec --rootless");
    let path = format!("/{delegated_name}/c1");
    edit_config(&bundle, |c| {
        c["process"]["terminal"] = false.into();
        c["process"]["args"] = serde_json::json!(["sleep", "1000"]);
        c["linux"]["cgroupsPath"] = path.clone().into();
        c["linux"]["resources"] = serde_json::json!({"pids": {"limit": 55}});
    });
    // The user enables the controller for its own children.
    std::fs::write(tree.dir.join("cgroup.subtree_control"), "+pids")
        .expect("enable pids in the delegated subtree");

    ok(
        runsc(&["run", "--detach", &id]),
        "rootless run in a delegated subtree",
    );
    let cgroup = tree.dir.join("c1");
    let state: serde_json::Value =
        serde_json::from_str(&ok(runsc(&["state", &id]), "state")).expect("state json");
    let pid = state["pid"].as_i64().expect("state pid");
    let seen = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("its cgroup");
    assert_eq!(
        seen.trim(),
        format!("0::{path}"),
        "the reported pid's cgroup"
    );
    let max = std::fs::read_to_string(cgroup.join("pids.max")).expect("read pids.max");
    assert_eq!(max.trim(), "55", "the spec's pids limit");
    assert_eq!(ok(runsc(&["exec", &id, "id", "-u"]), "exec").trim(), "0");

    ok(runsc(&["pause", &id]), "pause");
    let events = std::fs::read_to_string(cgroup.join("cgroup.events")).unwrap_or_default();
    assert!(events.contains("frozen 1"), "{events}");
    ok(runsc(&["resume", &id]), "resume");
    ok(runsc(&["delete", "--force", &id]), "delete --force");
    wait_for(
        "the container's cgroup to go",
        Duration::from_secs(10),
        || !cgroup.exists(),
    );
    let entries: Vec<_> = std::fs::read_dir(user.xdg.join("runsc"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(entries.is_empty(), "state left: {entries:?}");
}
