//! A test run killed midway (SIGTERM, as a CI job's timeout sends) still
//! deletes its containers (tests/common/interrupted.rs): a killed run
//! used to leave their cgroups behind.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{cgroup_dirs, Env, Reaper};

/// Not a test of its own: the run that the test below kills.
#[test]
#[ignore = "run, and killed, by a_killed_test_run_deletes_its_containers"]
fn holds_a_container_until_killed() {
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let id = env.id("held");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), &id]);
    println!("held {} {id}", env.root.display());
    // Bounded, should the killer itself die.
    std::thread::sleep(Duration::from_secs(60));
}

/// The killed run and what it made, whatever this test's outcome.
struct Held {
    child: Child,
    root: Option<PathBuf>,
    id: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(root) = &self.root {
            let _ = Command::new(common::runsc_bin())
                .arg("--root")
                .arg(root)
                .args(["delete", "--force", &self.id])
                .output();
            // The killed run's scratch directory, which its own guard
            // could not remove.
            if let Some(dir) = root.parent() {
                common::unmount_under(dir);
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

#[test]
fn a_killed_test_run_deletes_its_containers() {
    if common::skip_without_root() {
        return;
    }
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "holds_a_container_until_killed",
            "--nocapture",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut held = Held {
        child,
        root: None,
        id: String::new(),
    };
    let stdout = held.child.stdout.take().unwrap();
    let line = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.starts_with("held "))
        .expect("the held container's root and id");
    let mut words = line.split_whitespace().skip(1);
    let root = PathBuf::from(words.next().unwrap());
    held.id = words.next().unwrap().to_string();
    held.root = Some(root.clone());
    let id = held.id.clone();

    let sandbox = {
        let meta = std::fs::read(root.join(&id).join("meta.json")).unwrap();
        let meta: serde_json::Value = serde_json::from_slice(&meta).unwrap();
        meta["sandbox"]["pid"].as_i64().unwrap()
    };
    let cgroup = format!("runsc/{id}");
    assert!(
        cgroup_dirs(&cgroup).iter().any(|d| d.exists()),
        "the held container's cgroup"
    );
    let pid = nix::unistd::Pid::from_raw(held.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = held.child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "the killed run's exit");

    assert!(!root.join(&id).exists(), "store entry of {id}");
    let left: Vec<_> = cgroup_dirs(&cgroup)
        .into_iter()
        .filter(|d| d.exists())
        .collect();
    assert!(left.is_empty(), "cgroups left: {left:?}");
    // Killed by the delete; its reaper (PID 1, as `run -d` left it) may
    // take a moment.
    let gone = || {
        std::fs::read_to_string(format!("/proc/{sandbox}/stat")).map_or(true, |s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gone() {
        assert!(Instant::now() < deadline, "sandbox {sandbox} lives on");
        std::thread::sleep(Duration::from_millis(20));
    }
}
