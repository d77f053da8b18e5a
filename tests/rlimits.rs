//! The spec's rlimits, every type, soft and hard, as `/proc/<pid>/limits`
//! shows them: in a container's init, in processes exec'd into it, and in a
//! pod's later container.

mod common;

use std::collections::HashMap;

use common::{edit_config, stderr, Env, Reaper};
use serde_json::{json, Value};

/// Each type, its line in /proc/<pid>/limits, and the soft and hard
/// values asked for (hard is lowered to ours where ours is lower: root
/// here lacks CAP_SYS_RESOURCE and cannot raise a hard limit).
const TYPES: [(&str, &str, u64, u64); 16] = [
    ("RLIMIT_CPU", "Max cpu time", 1000, u64::MAX),
    ("RLIMIT_FSIZE", "Max file size", 1 << 30, 1 << 31),
    ("RLIMIT_DATA", "Max data size", 1 << 31, 1 << 32),
    ("RLIMIT_STACK", "Max stack size", 4 << 20, 16 << 20),
    ("RLIMIT_CORE", "Max core file size", 1 << 20, 1 << 21),
    ("RLIMIT_RSS", "Max resident set", 1 << 30, 1 << 31),
    ("RLIMIT_NPROC", "Max processes", 1000, 2000),
    ("RLIMIT_NOFILE", "Max open files", 1000, 3000),
    ("RLIMIT_MEMLOCK", "Max locked memory", 1 << 20, 2 << 20),
    ("RLIMIT_AS", "Max address space", 1 << 33, 1 << 34),
    ("RLIMIT_LOCKS", "Max file locks", 100, 200),
    ("RLIMIT_SIGPENDING", "Max pending signals", 1000, 2000),
    ("RLIMIT_MSGQUEUE", "Max msgqueue size", 100_000, 200_000),
    ("RLIMIT_NICE", "Max nice priority", 1, 2),
    ("RLIMIT_RTPRIO", "Max realtime priority", 1, 2),
    (
        "RLIMIT_RTTIME",
        "Max realtime timeout",
        1_000_000,
        2_000_000,
    ),
];

/// `/proc/<pid>/limits` as label -> (soft, hard), `unlimited` as u64::MAX.
fn parse_limits(text: &str) -> HashMap<String, (u64, u64)> {
    let value = |s: &str| match s.trim() {
        "unlimited" => u64::MAX,
        n => n
            .parse()
            .unwrap_or_else(|_| panic!("limit {n:?} in {text}")),
    };
    // The kernel prints "%-25s %-20s %-20s %-10s".
    text.lines()
        .skip(1)
        .filter(|l| l.len() >= 67)
        .map(|l| {
            (
                l[..25].trim().to_string(),
                (value(&l[26..46]), value(&l[47..67])),
            )
        })
        .collect()
}

/// The spec's rlimits for this host: TYPES with hard limits capped at ours,
/// and the values /proc/<pid>/limits must show, label -> (soft, hard).
fn wanted() -> (Value, HashMap<String, (u64, u64)>) {
    let ours = parse_limits(&std::fs::read_to_string("/proc/self/limits").unwrap());
    let mut spec = Vec::new();
    let mut shown = HashMap::new();
    for (typ, label, soft, hard) in TYPES {
        let hard = hard.min(ours[label].1);
        let soft = soft.min(hard);
        spec.push(json!({"type": typ, "soft": soft, "hard": hard}));
        shown.insert(label.to_string(), (soft, hard));
    }
    (Value::Array(spec), shown)
}

fn assert_shown(what: &str, text: &str, want: &HashMap<String, (u64, u64)>) {
    let got = parse_limits(text);
    for (label, values) in want {
        assert_eq!(got.get(label), Some(values), "{what}: {label}:\n{text}");
    }
}

fn pids(env: &Env, id: &str) -> Vec<i32> {
    let mut pids: Vec<i32> = serde_json::from_str(&env.ok(&["ps", "-f", "json", id])).unwrap();
    pids.sort();
    pids
}

/// The limits of `id`'s init, then those that `exec` and `exec --process`
/// (with and without rlimits of its own) show.
fn check_container(env: &Env, id: &str, want: &HashMap<String, (u64, u64)>) {
    let init = pids(env, id)[0];
    let text = std::fs::read_to_string(format!("/proc/{init}/limits")).unwrap();
    assert_shown(&format!("init of {id}"), &text, want);

    let out = env.runsc(&["exec", id, "cat", "/proc/self/limits"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_shown(
        &format!("exec in {id}"),
        &String::from_utf8_lossy(&out.stdout),
        want,
    );

    // As runc: a process.json without rlimits gets the container's.
    let process = env.path().join(format!("{id}-process.json"));
    let mut p =
        json!({"args": ["cat", "/proc/self/limits"], "cwd": "/", "user": {"uid": 0, "gid": 0}});
    std::fs::write(&process, p.to_string()).unwrap();
    let out = env.runsc(&["exec", "--process", process.to_str().unwrap(), id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_shown(
        &format!("exec --process without rlimits in {id}"),
        &String::from_utf8_lossy(&out.stdout),
        want,
    );

    // Its own rlimits, where it has some, and only those.
    p["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456}]);
    std::fs::write(&process, p.to_string()).unwrap();
    let out = env.runsc(&["exec", "--process", process.to_str().unwrap(), id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut own = HashMap::new();
    own.insert("Max open files".to_string(), (123, 456));
    assert_shown(
        &format!("exec --process with rlimits in {id}"),
        &String::from_utf8_lossy(&out.stdout),
        &own,
    );
}

#[test]
fn every_rlimit_of_the_spec_is_what_proc_shows() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let (rlimits, want) = wanted();
    let id = env.id("rl");
    let pod_id = env.id("pod");
    let sub_id = env.id("sub");
    let _reaper = Reaper {
        env: &env,
        ids: vec![sub_id.clone(), pod_id.clone(), id.clone()],
    };

    let bundle = env.bundle("b", &["sleep", "1000"]);
    edit_config(&bundle, |c| c["process"]["rlimits"] = rlimits.clone());
    env.ok(&["run", "--detach", "-b", bundle.to_str().unwrap(), &id]);
    check_container(&env, &id, &want);

    // A pod whose sandbox has no rlimits, and a later container that does.
    let pod = env.bundle("pod", &["sleep", "1000"]);
    env.ok(&["run", "--detach", "-b", pod.to_str().unwrap(), &pod_id]);
    let sub = env.bundle("sub", &["sleep", "1000"]);
    edit_config(&sub, |c| {
        c["process"]["rlimits"] = rlimits.clone();
        c["annotations"] = json!({
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.sandbox-id": pod_id,
        });
    });
    env.ok(&["run", "--detach", "-b", sub.to_str().unwrap(), &sub_id]);
    check_container(&env, &sub_id, &want);
}
