//! Signals sent to a foreground `runsc exec` while the sandbox is still
//! starting the process: they must reach the process, never kill the
//! frontend and leave the process running unsupervised.

mod common;

use std::collections::HashSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Env, Reaper};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The children of every thread of `pid`.
fn children(pid: i32) -> HashSet<i32> {
    let mut out = HashSet::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let list = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        out.extend(
            list.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    out
}

fn exec_pids(env: &Env, id: &str) -> Vec<i32> {
    serde_json::from_str(&env.ok(&["ps", "--format", "json", id])).expect("ps json")
}

#[test]
fn sigterm_while_the_exec_starts_reaches_the_process() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let id = env.id("sig");
    let _reaper = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "--detach", "-b", bundle.to_str().unwrap(), &id]);
    let sandbox = common::sandbox_pid(&env, &id) as i32;
    let init_only = exec_pids(&env, &id);
    assert_eq!(init_only.len(), 1, "{init_only:?}");
    let before = children(sandbox);

    for round in 0..20 {
        // A file, not a pipe: a process left behind would hold a pipe open.
        let err_path = env.path().join(format!("exec-err.{round}"));
        let mut frontend = env
            .cmd(&["exec", &id, "sleep", "1000"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err_path).expect("stderr file"))
            .spawn()
            .expect("spawn runsc exec");
        // The sandbox forks the process when the request arrives and
        // answers only once it has exec'd: a new child of the sandbox means
        // the frontend is waiting for that answer, the window where a
        // signal used to kill it.
        let deadline = Instant::now() + Duration::from_secs(10);
        let forked = loop {
            if let Some(&pid) = children(sandbox).difference(&before).next() {
                break pid;
            }
            assert!(Instant::now() < deadline, "round {round}: no exec'd child");
            std::hint::spin_loop();
        };
        kill(Pid::from_raw(frontend.id() as i32), Signal::SIGTERM).expect("signal runsc exec");
        let status = frontend.wait().expect("wait runsc exec");
        // As runc: the frontend exits with the process's status, and the
        // process died of the SIGTERM it was passed.
        assert_eq!(
            status.code(),
            Some(143),
            "round {round}: runsc exec ended with {status:?} (child {forked}): {}",
            std::fs::read_to_string(&err_path).unwrap_or_default()
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        while exec_pids(&env, &id) != init_only {
            assert!(
                Instant::now() < deadline,
                "round {round}: exec'd process left running: {:?}",
                exec_pids(&env, &id)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
