//! The oom_score_adj of an exec'd process: its container's, as runc gives
//! it, not the sandbox's (which it would inherit, and which is the
//! caller's: containerd's shim, about -998 on a Kubernetes node).

mod common;

use std::path::Path;
use std::process::Command;

use common::{edit_config, stderr, Env, Reaper};
use serde_json::json;

const SHOW: [&str; 2] = ["cat", "/proc/self/oom_score_adj"];

/// A process.json for `exec --process` that names an oom_score_adj of its
/// own, which runc does not read.
fn process_file(env: &Env, bundle: &Path) -> String {
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    let mut process = config["process"].clone();
    process["args"] = json!(SHOW);
    process["oomScoreAdj"] = json!(500);
    let path = env.path().join("process.json");
    std::fs::write(&path, process.to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

/// What `exec` of SHOW prints, plain and with `--process`, under the
/// runtime `cmd` makes.
fn execs(cmd: impl Fn(&[&str]) -> std::process::Output, id: &str, process: &str) -> [String; 2] {
    [
        cmd(&[&["exec", id][..], &SHOW[..]].concat()),
        cmd(&["exec", "--process", process, id]),
    ]
    .map(|out| {
        assert!(out.status.success(), "exec: {}", stderr(&out));
        common::stdout(&out).trim().to_string()
    })
}

#[test]
fn an_exec_gets_its_containers_oom_score_adj_as_under_runc() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    edit_config(&bundle, |c| c["process"]["oomScoreAdj"] = json!(300));
    let process = process_file(&env, &bundle);
    let b = bundle.to_str().unwrap();

    let runc_root = env.path().join("runc");
    let runc = |args: &[&str]| {
        let mut cmd = Command::new("runc");
        cmd.arg("--root").arg(&runc_root).args(args);
        env.output(cmd)
    };
    let rid = env.id("runc");
    let out = runc(&["run", "-d", "-b", b, &rid]);
    assert!(out.status.success(), "runc run: {}", stderr(&out));
    let under_runc = execs(runc, &rid, &process);
    let out = runc(&["delete", "--force", &rid]);
    assert!(out.status.success(), "runc delete: {}", stderr(&out));
    assert_eq!(under_runc, ["300", "300"], "runc's answer changed");

    let pod = env.id("pod");
    let sub = env.id("sub");
    let _r = Reaper {
        env: &env,
        ids: vec![sub.clone(), pod.clone()],
    };
    env.ok(&["run", "-d", "-b", b, &pod]);
    assert_eq!(execs(|a| env.runsc(a), &pod, &process), under_runc);

    // A pod's later container: its own spec's value.
    let sub_bundle = env.sub_bundle("sub", &pod, &["sleep", "1000"]);
    edit_config(&sub_bundle, |c| c["process"]["oomScoreAdj"] = json!(700));
    env.ok(&["run", "-d", "-b", sub_bundle.to_str().unwrap(), &sub]);
    let out = env.runsc(&[&["exec", &sub][..], &SHOW[..]].concat());
    assert_eq!(common::stdout(&out).trim(), "700", "{}", stderr(&out));

    env.ok(&["delete", "--force", &sub]);
    env.ok(&["delete", "--force", &pod]);
    env.assert_clean(&[&pod, &sub]);
}
