//! `delete` and the shared parent cgroup `/runsc`: while other containers
//! run, the parent holds their cgroups and must stay, and finding that out
//! must not take the exclusive parent lock, which waits for every `create`
//! walking down (and stalls the next ones), nor try an rmdir per hierarchy
//! (sandbox/src/cgroup/parent.rs; BENCHMARKS.md, "CPU per run").

mod common;

use std::fs::File;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use common::{Env, Reaper};

const PARENT_LOCK: &str = "/run/runsc-cgroup-parent.lock";

#[test]
fn delete_beside_a_running_container_needs_no_exclusive_parent_lock() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let (stays, goes) = (env.id("stays"), env.id("goes"));
    let _reaper = Reaper {
        env: &env,
        ids: vec![stays.clone(), goes.clone()],
    };
    let b = bundle.to_str().expect("bundle path");
    env.ok(&["run", "--detach", "-b", b, &stays]);
    env.ok(&["run", "--detach", "-b", b, &goes]);
    // Held shared, as by a `create` walking down to its cgroup: a delete
    // that asked for the exclusive lock would wait until it is dropped.
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(PARENT_LOCK)
        .expect("parent lock");
    rustix::fs::flock(lock.as_fd(), rustix::fs::FlockOperation::LockShared).expect("flock");
    let mut delete = env
        .cmd(&["delete", "--force", &goes])
        .spawn()
        .expect("delete");
    let started = Instant::now();
    let finished = loop {
        if let Some(status) = delete.try_wait().expect("wait for delete") {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(10) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(lock);
    let status = match finished {
        Some(status) => status,
        None => {
            let _ = delete.wait();
            panic!("delete waited for the parent lock with another container running");
        }
    };
    assert!(status.success(), "delete --force {goes}: {status}");
    for dir in common::cgroup_dirs(&format!("runsc/{goes}")) {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    // The parent holds the other container's cgroup, in every hierarchy.
    for dir in common::cgroup_dirs(&format!("runsc/{stays}")) {
        assert!(dir.is_dir(), "{} is gone", dir.display());
    }
    env.ok(&["delete", "--force", &stays]);
    env.assert_clean(&[&stays, &goes]);
}
