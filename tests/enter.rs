//! The pid we report (`state.pid`, `--pid-file`) is one that tools can
//! enter: `nsenter -t <pid> -n -u -i` lands in the container's network,
//! uts and ipc namespaces, as it does under runc.

mod common;

use std::path::Path;
use std::process::Command;

use common::{edit_config, init_pid, ns_of, stderr, stdout, Env, Reaper};
use serde_json::json;

/// What a tool sees after `nsenter -t <pid> -n -u -i`: the hostname, the
/// network interfaces, and the three namespaces it is in.
#[derive(Debug, PartialEq)]
struct Entered {
    hostname: String,
    interfaces: Vec<String>,
    net: String,
    uts: String,
    ipc: String,
}

const SHOW: &str = "hostname; readlink /proc/self/ns/net /proc/self/ns/uts /proc/self/ns/ipc; \
    tail -n +3 /proc/net/dev | cut -d: -f1";

/// Enters `pid`'s net, uts and ipc namespaces with the host's nsenter and
/// runs the host's tools there (the mount namespace stays ours, so
/// /proc/net shows the entered network namespace's interfaces).
fn enter(pid: i64) -> Entered {
    let out = Command::new("nsenter")
        .args([
            "-t",
            &pid.to_string(),
            "-n",
            "-u",
            "-i",
            "--",
            "sh",
            "-c",
            SHOW,
        ])
        .output()
        .expect("run nsenter");
    assert!(out.status.success(), "nsenter -t {pid}: {}", stderr(&out));
    let text = stdout(&out);
    let mut lines = text.lines().map(|l| l.trim().to_string());
    let mut next = || lines.next().unwrap_or_default();
    let (hostname, net, uts, ipc) = (next(), next(), next(), next());
    let mut interfaces: Vec<String> = lines.collect();
    interfaces.sort();
    Entered {
        hostname,
        interfaces,
        net,
        uts,
        ipc,
    }
}

/// The namespaces of `pid` itself.
fn namespaces_of(pid: i64) -> (String, String, String) {
    (ns_of(pid, "net"), ns_of(pid, "uts"), ns_of(pid, "ipc"))
}

fn sleeper(env: &Env, name: &str) -> std::path::PathBuf {
    let bundle = env.bundle(name, &["sleep", "1000"]);
    edit_config(&bundle, |c| c["hostname"] = json!("entered"));
    bundle
}

/// runc's view of the same bundle: what `nsenter` shows for the pid it
/// reports.
fn under_runc(env: &Env, bundle: &Path) -> Entered {
    let root = env.path().join("runc");
    let id = env.id("runc");
    let runc = |args: &[&str]| {
        let mut cmd = Command::new("runc");
        cmd.arg("--root").arg(&root).args(args);
        env.output(cmd)
    };
    let bundle = bundle.to_str().expect("utf-8 bundle");
    let out = runc(&["run", "-d", "-b", bundle, &id]);
    assert!(out.status.success(), "runc run: {}", stderr(&out));
    let state = runc(&["state", &id]);
    let state: serde_json::Value = serde_json::from_slice(&state.stdout).expect("runc state");
    let seen = enter(state["pid"].as_i64().expect("runc's pid"));
    let out = runc(&["delete", "--force", &id]);
    assert!(out.status.success(), "runc delete: {}", stderr(&out));
    seen
}

#[test]
fn nsenter_on_the_reported_pid_lands_in_the_containers_namespaces() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = sleeper(&env, "b");
    let runc = under_runc(&env, &bundle);

    let id = env.id("c");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    let pid_file = env.path().join("c.pid");
    env.ok(&[
        "run",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "-b",
        bundle.to_str().unwrap(),
        &id,
    ]);
    let reported = env.state(&id)["pid"].as_i64().expect("state.pid");
    let written: i64 = std::fs::read_to_string(&pid_file)
        .expect("read pid file")
        .trim()
        .parse()
        .expect("a pid in the pid file");
    assert_eq!(reported, written);

    let ours = enter(reported);
    assert_eq!(ours.hostname, "entered");
    assert_eq!(ours.interfaces, vec!["lo".to_string()]);
    let init = init_pid(&env, &id);
    assert_eq!(
        (ours.net.clone(), ours.uts.clone(), ours.ipc.clone()),
        namespaces_of(init)
    );
    assert_ne!(ours.net, ns_of(std::process::id() as i64, "net"));
    // runc on the same bundle shows the same.
    assert_eq!(
        (ours.hostname, ours.interfaces),
        (runc.hostname, runc.interfaces)
    );

    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&id]);
}

/// A pod's root container running, and the id its later container gets;
/// both are deleted when the reaper goes.
fn running_pod(env: &Env) -> (String, String, Reaper<'_>) {
    let pod = env.id("pod");
    let sub = env.id("sub");
    let reaper = Reaper {
        env,
        ids: vec![sub.clone(), pod.clone()],
    };
    let bundle = sleeper(env, "pod");
    env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), &pod]);
    (pod, sub, reaper)
}

#[test]
fn a_pods_later_container_is_entered_through_the_same_pid() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let (pod, sub, _r) = running_pod(&env);
    // As CRI makes it: no hostname of its own in the pod's uts namespace.
    let sub_bundle = env.sub_bundle("sub", &pod, &["sleep", "1000"]);
    edit_config(&sub_bundle, |c| {
        c.as_object_mut().map(|o| o.remove("hostname"));
    });
    env.ok(&["run", "-d", "-b", sub_bundle.to_str().unwrap(), &sub]);

    let reported = env.state(&sub)["pid"].as_i64().expect("state.pid");
    let seen = enter(reported);
    assert_eq!(seen.hostname, "entered");
    assert_eq!(seen.interfaces, vec!["lo".to_string()]);
    assert_eq!(
        (seen.net, seen.uts, seen.ipc),
        namespaces_of(init_pid(&env, &sub))
    );

    env.ok(&["delete", "--force", &pod]);
    env.assert_clean(&[&pod, &sub]);
}

/// CNI's way: the runtime is given a network namespace by path, with an
/// interface of its own; the reported pid leads there.
#[test]
fn a_network_namespace_given_by_path_is_the_one_entered() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let netns = format!("runsc-enter-{}", std::process::id());
    let ip = |args: &[&str]| {
        let out = Command::new("ip").args(args).output().expect("run ip");
        assert!(out.status.success(), "ip {args:?}: {}", stderr(&out));
    };
    ip(&["netns", "add", &netns]);
    struct DelNetns(String);
    impl Drop for DelNetns {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
        }
    }
    let _netns = DelNetns(netns.clone());
    // What CNI's bridge plugin leaves there: one end of a veth pair.
    ip(&[
        "-n", &netns, "link", "add", "pod0", "type", "veth", "peer", "name", "pod1",
    ]);

    let bundle = sleeper(&env, "b");
    let path = format!("/run/netns/{netns}");
    edit_config(&bundle, |c| {
        for ns in c["linux"]["namespaces"].as_array_mut().unwrap() {
            if ns["type"] == "network" {
                ns["path"] = json!(path);
            }
        }
    });
    let id = env.id("cni");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), &id]);
    let seen = enter(env.state(&id)["pid"].as_i64().expect("state.pid"));
    assert_eq!(seen.interfaces, ["lo", "pod0", "pod1"]);
    // `ip netns` binds the namespace's file there: the same inode.
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).expect("netns file"));
    assert_eq!(seen.net, format!("net:[{inode}]"));
    assert_eq!(seen.hostname, "entered");

    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&id]);
}

/// With a user namespace, the container's network namespace belongs to
/// it; the reported pid still leads there.
#[test]
fn a_container_with_a_user_namespace_is_entered_too() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = sleeper(&env, "b");
    edit_config(&bundle, common::add_user_namespace);
    let id = env.id("userns");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), &id]);
    let seen = enter(env.state(&id)["pid"].as_i64().expect("state.pid"));
    assert_eq!(seen.hostname, "entered");
    assert_eq!(seen.interfaces, vec!["lo".to_string()]);
    assert_eq!(
        (seen.net, seen.uts, seen.ipc),
        namespaces_of(init_pid(&env, &id))
    );
    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&id]);
}

/// A pod's later container's prestart hook, run by the sandbox, still runs
/// in the runtime's (the host's) namespaces, not in the pod's.
#[test]
fn a_later_containers_prestart_hook_runs_in_the_hosts_namespaces() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let (pod, sub, _r) = running_pod(&env);
    let seen = env.path().join("hook.out");
    let sub_bundle = env.sub_bundle("sub", &pod, &["sleep", "1000"]);
    edit_config(&sub_bundle, |c| {
        c["hooks"] = json!({"prestart": [{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!(
                "{{ hostname; readlink /proc/self/ns/net /proc/self/ns/uts /proc/self/ns/ipc; }} > {}",
                seen.display()
            )],
        }]});
    });
    env.ok(&["run", "-d", "-b", sub_bundle.to_str().unwrap(), &sub]);
    let text = std::fs::read_to_string(&seen).expect("the hook's output");
    let lines: Vec<&str> = text.lines().collect();
    let me = std::process::id() as i64;
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    assert_eq!(lines[0], host_name.trim());
    assert_eq!(
        (
            lines[1].to_string(),
            lines[2].to_string(),
            lines[3].to_string()
        ),
        namespaces_of(me)
    );
    env.ok(&["delete", "--force", &pod]);
    env.assert_clean(&[&pod, &sub]);
}
