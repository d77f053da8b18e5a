//! Namespaces named by path in the spec, as runc joins them.

mod common;

use std::path::{Path, PathBuf};

use common::{assert_fails_with, edit_config, init_pid, ns_of, stdout, Env, Reaper};
use serde_json::json;

/// Container A: its own user namespace (mapped to 100000), cgroup
/// namespace and hostname, running until killed.
fn start_a(env: &Env, id: &str) -> i64 {
    let bundle = env.bundle("a", &["sleep", "1000"]);
    edit_config(&bundle, |c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.push(json!({"type": "user"}));
        ns.push(json!({"type": "cgroup"}));
        let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["uidMappings"] = map.clone();
        c["linux"]["gidMappings"] = map;
        c["hostname"] = json!("host-a");
    });
    env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), id]);
    init_pid(env, id)
}

/// A bundle whose spec joins `joined` (spec type, /proc name) of `pid` and
/// makes the rest of the usual namespaces.
fn joining_bundle(
    env: &Env,
    name: &str,
    pid: i64,
    joined: &[(&str, &str)],
    cmd: &[&str],
) -> PathBuf {
    let bundle = env.bundle(name, cmd);
    edit_config(&bundle, |c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| !joined.iter().any(|(t, _)| n["type"] == *t));
        for (typ, proc_name) in joined {
            ns.push(json!({"type": typ, "path": format!("/proc/{pid}/ns/{proc_name}")}));
        }
        if joined.iter().any(|(t, _)| *t == "uts") {
            // Setting one would rename A.
            c.as_object_mut().unwrap().remove("hostname");
        }
    });
    bundle
}

const SHOW: &str = "for n in user net ipc uts cgroup pid; do readlink /proc/self/ns/$n; done; \
                    hostname; cat /proc/self/uid_map";

#[test]
fn joins_the_namespaces_of_another_container_by_path() {
    let env = Env::new();
    let a = env.id("a");
    let b = env.id("b");
    let _r = Reaper {
        env: &env,
        ids: vec![a.clone(), b.clone()],
    };
    let a_pid = start_a(&env, &a);

    // User first, then the rest; B's own pid and mount namespaces are made
    // after, owned by A's user namespace (else proc and sysfs would not
    // mount).
    let others = [
        ("user", "user"),
        ("network", "net"),
        ("ipc", "ipc"),
        ("uts", "uts"),
        ("cgroup", "cgroup"),
    ];
    for (name, joined) in [
        ("b", others.to_vec()),
        ("b-pid", [&others[..], &[("pid", "pid")]].concat()),
    ] {
        let bundle = joining_bundle(&env, name, a_pid, &joined, &["sh", "-c", SHOW]);
        let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &b]);
        assert!(out.status.success(), "{name}: {}", common::stderr(&out));
        let text = stdout(&out);
        let lines: Vec<&str> = text.lines().collect();
        for (i, n) in ["user", "net", "ipc", "uts", "cgroup"].iter().enumerate() {
            assert_eq!(lines[i], ns_of(a_pid, n), "{name}: {n} namespace");
        }
        let same_pid_ns = lines[5] == ns_of(a_pid, "pid");
        assert_eq!(same_pid_ns, name == "b-pid", "{name}: pid namespace");
        assert_eq!(lines[6], "host-a", "{name}: hostname");
        let map: Vec<&str> = lines[7].split_whitespace().collect();
        assert_eq!(map, ["0", "100000", "65536"], "{name}: uid map");
    }
    env.ok(&["delete", "--force", &a]);
    env.assert_clean(&[&a, &b]);
}

#[test]
fn bad_namespace_specs_fail_clearly_and_leave_nothing() {
    let env = Env::new();
    let b = env.id("b");
    let _r = Reaper {
        env: &env,
        ids: vec![b.clone()],
    };
    let not_a_ns = env.path().join("not-a-namespace");
    std::fs::write(&not_a_ns, "").unwrap();
    // What to set the namespace of a type to (None: drop it), and the error.
    let cases: [(&str, Option<&Path>, &str); 4] = [
        (
            "network",
            Some(&not_a_ns),
            "join net namespace: Invalid argument",
        ),
        (
            "ipc",
            Some(Path::new("/proc/0/ns/ipc")),
            "open namespace /proc/0/ns/ipc: No such file or directory",
        ),
        (
            "mount",
            Some(Path::new("/proc/1/ns/mnt")),
            "joining mount namespace /proc/1/ns/mnt is not supported",
        ),
        ("mount", None, "has no mount namespace"),
    ];
    for (i, (typ, path, needle)) in cases.into_iter().enumerate() {
        let bundle = env.bundle(&format!("b{i}"), &["true"]);
        edit_config(&bundle, |c| set_ns(c, typ, path));
        let out = env.runsc(&["create", "-b", bundle.to_str().unwrap(), &b]);
        assert_fails_with(&out, needle);
        env.assert_clean(&[&b]);
    }
}

/// Replaces the spec's namespace of `typ` with one at `path`, or drops it.
fn set_ns(c: &mut serde_json::Value, typ: &str, path: Option<&Path>) {
    let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
    ns.retain(|n| n["type"] != typ);
    if let Some(p) = path {
        ns.push(json!({"type": typ, "path": p}));
    }
}
