//! Namespaces named by path in the spec, and the propagation of bind
//! mounts, each as runc gives them on the same bundle.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_fails_with, edit_config, init_pid, ns_of, stdout, Env, Reaper};
use serde_json::json;

/// Container A: its own user namespace (mapped to 100000), cgroup
/// namespace and hostname, running until killed.
fn start_a(env: &Env, id: &str) -> i64 {
    let bundle = env.bundle("a", &["sleep", "1000"]);
    edit_config(&bundle, |c| {
        common::add_user_namespace(c);
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.push(json!({"type": "cgroup"}));
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
    if common::skip_without_root() {
        return;
    }
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

/// Docker's `container:` modes (with `userns-remap`, its user namespace
/// too), Podman's and containerd's shared namespaces name
/// `/proc/<A's reported pid>/ns/<type>`. Ours is A's holder, which lives in
/// the host's pid namespace and the runtime's user namespace: B must get
/// A's, not those.
#[test]
fn joins_the_namespaces_of_the_pid_we_report() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let a = env.id("a");
    let b = env.id("b");
    let _r = Reaper {
        env: &env,
        ids: vec![a.clone(), b.clone()],
    };
    let a_init = start_a(&env, &a);
    let reported = env.state(&a)["pid"].as_i64().expect("state.pid");
    assert_ne!(reported, a_init, "the reported pid is the holder's");

    let joined = [
        ("user", "user"),
        ("network", "net"),
        ("ipc", "ipc"),
        ("uts", "uts"),
        ("cgroup", "cgroup"),
        ("pid", "pid"),
    ];
    let show = format!("{SHOW}; tr '\\0' ' ' < /proc/1/cmdline; echo; ls /proc | grep -c '^[0-9]'");
    let bundle = joining_bundle(&env, "b", reported, &joined, &["sh", "-c", &show]);
    let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &b]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    for (i, n) in ["user", "net", "ipc", "uts", "cgroup", "pid"]
        .iter()
        .enumerate()
    {
        assert_eq!(lines[i], ns_of(a_init, n), "{n} namespace: {text}");
    }
    assert_eq!(lines[6], "host-a", "hostname: {text}");
    let map: Vec<&str> = lines[7].split_whitespace().collect();
    assert_eq!(map, ["0", "100000", "65536"], "uid map: {text}");
    assert_eq!(lines[8].trim(), "sleep 1000", "B's pid 1: {text}");
    // A's sleep; B's sh, ls and grep.
    assert_eq!(lines[9], "4", "processes B sees: {text}");
    env.ok(&["delete", "--force", &a]);
    env.assert_clean(&[&a, &b]);
}

#[test]
fn a_pods_later_container_joins_the_pods_user_namespace() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let pod = env.id("pod");
    let sub = env.id("sub");
    let _r = Reaper {
        env: &env,
        ids: vec![pod.clone(), sub.clone()],
    };
    let pod_pid = start_a(&env, &pod);
    let bundle = env.bundle("sub", &["sh", "-c", SHOW]);
    edit_config(&bundle, |c| {
        c["annotations"] = json!({
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.sandbox-id": pod,
        });
        common::add_user_namespace(c);
    });
    // Its mount and pid namespaces are made inside the pod's user
    // namespace, so it can mount proc and sysfs.
    let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &sub]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], ns_of(pod_pid, "user"));
    assert_eq!(lines[1], ns_of(pod_pid, "net"));
    assert_ne!(lines[5], ns_of(pod_pid, "pid"));
    env.ok(&["delete", "--force", &pod]);
    env.assert_clean(&[&pod, &sub]);
}

#[test]
fn bad_namespace_specs_fail_clearly_and_leave_nothing() {
    if common::skip_without_root() {
        return;
    }
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
            "join net namespace: invalid argument",
        ),
        (
            "ipc",
            Some(Path::new("/proc/0/ns/ipc")),
            "open namespace /proc/0/ns/ipc: no such file or directory",
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

/// A shared tmpfs with a shared tmpfs below it, unmounted when dropped.
struct SharedSource {
    dir: PathBuf,
}

impl SharedSource {
    fn new(dir: PathBuf) -> Self {
        std::fs::create_dir_all(&dir).unwrap();
        let source = Self { dir };
        let sub = source.dir.join("sub");
        sh(&format!(
            "mount -t tmpfs srcfs {0} && mount --make-shared {0} && mkdir {1} && \
             mount -t tmpfs subfs {1} && mount --make-shared {1}",
            source.dir.display(),
            sub.display()
        ));
        source
    }
}

impl Drop for SharedSource {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-R").arg(&self.dir).status();
    }
}

fn sh(line: &str) {
    let st = Command::new("sh").args(["-c", line]).status().unwrap();
    assert!(st.success(), "{line}");
}

/// The peer group a mount point of ours is shared in (`shared:N`).
fn peer_group(mount_point: &Path) -> String {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = info
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(mount_point.to_str().unwrap()))
        .expect("mount point");
    line.split(' ')
        .find_map(|f| f.strip_prefix("shared:"))
        .expect("a shared mount")
        .to_string()
}

#[test]
fn bind_mount_propagation_follows_the_options_in_spec_order() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let id = env.id("prop");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    let source = SharedSource::new(env.path().join("src"));
    let src_group = peer_group(&source.dir);
    let sub_group = peer_group(&source.dir.join("sub"));

    // What runc 1.1.5 shows for each, on this bundle: `slave` keeps the
    // host's mount as master, `shared` adds a peer group of the
    // container's own, each option in turn, the `r` forms over submounts.
    let cases: [(&str, &[&str], &str, Option<&str>); 9] = [
        (
            "/m1",
            &["rbind", "rshared"],
            "shared master:src",
            Some("shared master:sub"),
        ),
        (
            "/m2",
            &["rbind", "rslave"],
            "master:src",
            Some("master:sub"),
        ),
        ("/m3", &["bind", "shared"], "shared master:src", None),
        ("/m4", &["bind", "slave"], "master:src", None),
        (
            "/m5",
            &["rbind", "rshared", "rslave"],
            "master:src",
            Some("master:sub"),
        ),
        (
            "/m6",
            &["rbind", "private", "shared"],
            "shared",
            Some("master:sub"),
        ),
        (
            "/m7",
            &["bind", "slave", "shared"],
            "shared master:src",
            None,
        ),
        ("/m8", &["rbind", "rprivate", "rslave"], "", Some("")),
        ("/m9", &["bind", "shared", "unbindable"], "unbindable", None),
    ];
    let bundle = env.bundle("prop", &["cat", "/proc/self/mountinfo"]);
    edit_config(&bundle, |c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        for (dest, options, _, _) in &cases {
            mounts.push(json!({
                "destination": dest, "type": "bind",
                "source": source.dir, "options": options,
            }));
        }
    });
    // runc's default rootfsPropagation, then the same named: the root's
    // must not override the binds' own.
    for root in [None, Some("rslave")] {
        if let Some(p) = root {
            edit_config(&bundle, |c| c["linux"]["rootfsPropagation"] = json!(p));
        }
        let out = env.ok(&["run", "-b", bundle.to_str().unwrap(), &id]);
        let shape = |mount_point: &str| mount_shape(&out, mount_point, &src_group, &sub_group);
        for (dest, options, top, sub) in cases {
            assert_eq!(shape(dest), top, "{dest} {options:?} root {root:?}");
            match sub {
                Some(s) => assert_eq!(
                    shape(&format!("{dest}/sub")),
                    s,
                    "{dest}/sub {options:?} root {root:?}"
                ),
                None => assert!(
                    !out.contains(&format!(" {dest}/sub ")),
                    "{dest} {options:?} is not recursive"
                ),
            }
        }
    }
    drop(source);
    env.assert_clean(&[&id]);
}

/// The optional fields of `mount_point`'s line in `mountinfo`, with peer
/// groups named: any `shared`, and a master that is our source or its
/// submount.
fn mount_shape(mountinfo: &str, mount_point: &str, src_group: &str, sub_group: &str) -> String {
    let line = mountinfo
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(mount_point))
        .unwrap_or_else(|| panic!("{mount_point} not in mountinfo:\n{mountinfo}"));
    let fields: Vec<&str> = line.split(' ').collect();
    let end = fields.iter().position(|f| *f == "-").unwrap();
    fields[6..end]
        .iter()
        .map(|f| match f.split_once(':') {
            Some(("shared", _)) => "shared".to_string(),
            Some(("master", g)) if g == src_group => "master:src".to_string(),
            Some(("master", g)) if g == sub_group => "master:sub".to_string(),
            _ => f.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}
