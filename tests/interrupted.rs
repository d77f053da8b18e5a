//! A test run killed midway (SIGTERM, as a CI job's timeout sends) still
//! deletes its containers (tests/common/interrupted.rs): a killed run
//! used to leave their cgroups behind. So does one that ran a containerd,
//! whose shims and containers its guard ends.

mod common;
mod shim_support;

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

/// Not a test of its own: the containerd run that the test below kills.
#[test]
#[ignore = "run, and killed, by a_killed_test_run_stops_its_containerd_and_shims"]
fn holds_a_containerd_until_killed() {
    let env = Env::new();
    let ctd = shim_support::Containerd::start(&env, false);
    ctd.import_images(&env, "default");
    let id = env.id("held-ctd");
    ctd.run_detached(&id, &["sleep", "1000"]);
    println!("held {} {id}", env.path().display());
    std::thread::sleep(Duration::from_secs(60));
}

/// The killed run and what it made, whatever this test's outcome.
struct Held {
    child: Child,
    root: Option<PathBuf>,
    id: String,
    /// The killed run's scratch directory, when `root` is not in it.
    dir: Option<PathBuf>,
}

impl Held {
    /// `helper`, an ignored test of this binary, started; with the words
    /// of the line it prints once it holds what it made.
    fn start(helper: &str) -> (Self, Vec<String>) {
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", helper, "--nocapture"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut held = Held {
            child,
            root: None,
            id: String::new(),
            dir: None,
        };
        let stdout = held.child.stdout.take().unwrap();
        let line = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.starts_with("held "))
            .expect("what the held run made");
        let words = line.split_whitespace().skip(1).map(String::from).collect();
        (held, words)
    }

    /// SIGTERM, as a CI job's timeout sends; the run must exit as killed.
    fn kill(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let status = self.child.wait().unwrap();
        assert_eq!(status.code(), Some(143), "the killed run's exit");
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.dir {
            for pid in common::processes_naming(dir) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            common::unmount_under(dir);
            let _ = std::fs::remove_dir_all(dir);
        }
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
    let (mut held, words) = Held::start("holds_a_container_until_killed");
    let root = PathBuf::from(&words[0]);
    held.id = words[1].clone();
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
    held.kill();

    assert!(!root.join(&id).exists(), "store entry of {id}");
    let left: Vec<_> = cgroup_dirs(&cgroup)
        .into_iter()
        .filter(|d| d.exists())
        .collect();
    assert!(left.is_empty(), "cgroups left: {left:?}");
    // Killed by the delete; its reaper (PID 1, as `run -d` left it) may
    // take a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(sandbox as i32) {
        assert!(Instant::now() < deadline, "sandbox {sandbox} lives on");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_killed_test_run_stops_its_containerd_and_shims() {
    if common::skip_without_root() {
        return;
    }
    let (mut held, words) = Held::start("holds_a_containerd_until_killed");
    let dir = PathBuf::from(&words[0]);
    held.dir = Some(dir.clone());
    let id = words[1].clone();
    // containerd, the shim and the sandbox all name the test's directory.
    let running = common::processes_naming(&dir);
    assert!(running.len() >= 3, "containerd, shim, sandbox: {running:?}");
    assert!(!shim_support::cgroups_left("default", std::slice::from_ref(&id)).is_empty());
    held.kill();

    let left = shim_support::cgroups_left("default", std::slice::from_ref(&id));
    assert!(left.is_empty(), "cgroups left: {left:?}");
    // Orphans are reaped by PID 1, which may take a moment.
    common::wait_for(
        "containerd, the shim and the sandbox to end",
        Duration::from_secs(10),
        || !running.iter().any(|&p| alive(p)),
    );
}

/// Whether `pid` runs (a zombie has ended).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| !r.trim_start().starts_with('Z'))
    })
}
