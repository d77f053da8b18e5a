//! `delete` removes cgroups nested in a container's, as a container that
//! manages its own (systemd, a container runtime inside) leaves them: in
//! every hierarchy, empty or holding the container's processes.

mod common;

use std::path::Path;

use common::{Env, Reaper};

/// Makes `nested/deeper` in each of the container's cgroup directories;
/// a v1 cpuset directory gets its parent's CPUs and memory nodes, without
/// which it takes no tasks.
fn make_nested(id: &str) -> Vec<std::path::PathBuf> {
    let mut made = Vec::new();
    for dir in common::cgroup_dirs(&format!("runsc/{id}")) {
        assert!(dir.exists(), "no cgroup {}", dir.display());
        let deeper = dir.join("nested/deeper");
        std::fs::create_dir_all(&deeper).unwrap_or_else(|e| panic!("{}: {e}", deeper.display()));
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let mut from = dir.clone();
            for to in [dir.join("nested"), deeper.clone()] {
                if let Ok(v) = std::fs::read_to_string(from.join(file)) {
                    if std::fs::read_to_string(to.join(file)).is_ok_and(|t| t.trim().is_empty()) {
                        std::fs::write(to.join(file), v.trim()).expect("copy cpuset");
                    }
                }
                from = to;
            }
        }
        made.push(deeper);
    }
    made
}

/// Moves `pid` into `dir` (cgroup2's `cgroup.procs`, v1's `tasks`).
fn move_into(dir: &Path, pid: i64) {
    let file = match dir.join("cgroup.procs").exists() {
        true => dir.join("cgroup.procs"),
        false => dir.join("tasks"),
    };
    std::fs::write(&file, pid.to_string()).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
}

#[test]
fn delete_removes_nested_cgroups_empty_or_occupied() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let stopped = env.id("stopped");
    let occupied = env.id("occupied");
    let reaper = Reaper {
        env: &env,
        ids: vec![stopped.clone(), occupied.clone()],
    };
    // Empty nested cgroups under a container that has exited: `delete`.
    let bundle = env.bundle("b", &["sleep", "1000"]);
    env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), &stopped]);
    let nested = make_nested(&stopped);
    env.ok(&["kill", &stopped, "KILL"]);
    common::wait_for_status(&env, &stopped, "stopped");
    env.ok(&["delete", &stopped]);
    for dir in &nested {
        assert!(!dir.exists(), "left: {}", dir.display());
    }

    // The init moved into a nested cgroup in every hierarchy, running:
    // `delete --force`.
    env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), &occupied]);
    let nested = make_nested(&occupied);
    let init = common::init_pid(&env, &occupied);
    for dir in &nested {
        move_into(dir, init);
    }
    env.ok(&["delete", "--force", &occupied]);
    for dir in &nested {
        assert!(!dir.exists(), "left: {}", dir.display());
    }
    drop(reaper);
    env.assert_clean(&[&stopped, &occupied]);
}
