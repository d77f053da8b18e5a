//! What `exec` leaves in `--log`: containerd's shim explains a failure with
//! the last error line there, so an exec that worked must leave none.

mod common;

use common::{Env, Reaper};

#[test]
fn a_working_exec_logs_no_error() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let id = env.id("log");
    let reaper = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "--detach", "-b", bundle.to_str().unwrap(), &id]);
    // Into the container's own pid namespace: the sandbox switches its
    // children's pid namespace for the fork and back.
    let out = env.ok(&["exec", &id, "sh", "-c", "echo $$"]);
    let pid: u32 = out.trim().parse().expect("the exec'd shell's pid");
    assert!(pid > 1, "pid {pid}: not a process beside the init");
    env.ok(&["exec", "--detach", &id, "true"]);
    let errors: Vec<_> = env
        .log_lines()
        .into_iter()
        .filter(|l| l["level"] == "error")
        .collect();
    assert!(errors.is_empty(), "error lines in --log: {errors:?}");
    drop(reaper);
    env.assert_clean(&[&id]);
}
