//! Several containers in one sandbox, as containerd's CRI plugin makes
//! them: a root (sandbox) container and subcontainers that name it in
//! their annotations.

mod common;

use std::time::{Duration, Instant};

use common::{edit_config, init_pid, ns_of, stderr, stdout, Env, Reaper};
use serde_json::json;

#[test]
fn a_pod_of_three_containers() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let pod = env.id("pod");
    let server = env.id("server");
    let client = env.id("client");
    let _r = Reaper {
        env: &env,
        ids: vec![pod.clone(), server.clone(), client.clone()],
    };
    let pod_bundle = env.bundle("pod", &["sleep", "1000"]);
    env.ok(&["run", "-d", "-b", pod_bundle.to_str().unwrap(), &pod]);

    let server_bundle = env.sub_bundle(
        "server",
        &pod,
        &[
            "sh",
            "-c",
            "echo pong | nc -l -p 7777 127.0.0.1; sleep 1000",
        ],
    );
    let client_bundle = env.sub_bundle("client", &pod, &["sleep", "1000"]);
    let pid_file = env.path().join("server.pid");
    env.ok(&[
        "create",
        "-b",
        server_bundle.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &server,
    ]);
    assert_eq!(env.state(&server)["status"], "created");
    env.ok(&["start", &server]);
    env.ok(&["run", "-d", "-b", client_bundle.to_str().unwrap(), &client]);

    // state and the pid file of a subcontainer name its own holder
    // (tests/holder.rs), neither the sandbox nor the pod's.
    let sandbox_pid = common::sandbox_pid(&env, &pod);
    let reported: Vec<i64> = [&pod, &server, &client]
        .iter()
        .map(|id| env.state(id)["pid"].as_i64().expect("state.pid"))
        .collect();
    assert!(
        !reported.contains(&sandbox_pid)
            && reported[0] != reported[1]
            && reported[1] != reported[2]
            && reported[0] != reported[2],
        "sandbox {sandbox_pid}, reported {reported:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        reported[1].to_string()
    );
    let listed = env.ok(&["list", "-q"]);
    for id in [&pod, &server, &client] {
        assert!(listed.lines().any(|l| l == id.as_str()), "{listed}");
    }

    // One network namespace, three mount namespaces.
    let inits = [
        init_pid(&env, &pod),
        init_pid(&env, &server),
        init_pid(&env, &client),
    ];
    let net: Vec<String> = inits.iter().map(|p| ns_of(*p, "net")).collect();
    let mnt: Vec<String> = inits.iter().map(|p| ns_of(*p, "mnt")).collect();
    assert!(net.iter().all(|n| n == &net[0]), "{net:?}");
    assert!(
        mnt[0] != mnt[1] && mnt[1] != mnt[2] && mnt[0] != mnt[2],
        "{mnt:?}"
    );

    // The client reaches the server over the pod's loopback.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = env.runsc(&["exec", &client, "sh", "-c", "echo ping | nc 127.0.0.1 7777"]);
        if stdout(&out).contains("pong") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no answer from the server: {}",
            stderr(&out)
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Killing one container leaves the others running.
    env.ok(&["kill", &server, "KILL"]);
    common::wait_for_status(&env, &server, "stopped");
    let out = env.runsc(&["wait", &server]);
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    assert_eq!(env.state(&pod)["status"], "running");
    assert_eq!(env.state(&client)["status"], "running");
    env.ok(&["delete", &server]);
    assert_eq!(env.state(&client)["status"], "running");
    // An exec'd process joins its subcontainer's cgroup, not the pod's.
    let cgroups = env.ok(&["exec", &client, "cat", "/proc/self/cgroup"]);
    assert!(
        cgroups
            .lines()
            .all(|l| l.ends_with(&format!("/runsc/{client}"))),
        "{cgroups}"
    );

    // Deleting the root takes the whole pod with it.
    env.ok(&["delete", "--force", &pod]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !env.leftover_processes().is_empty() {
        assert!(
            Instant::now() < deadline,
            "processes left: {:?}",
            env.leftover_processes()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    env.assert_clean(&[&pod, &server, &client]);
}

#[test]
fn subcontainer_of_a_missing_sandbox_fails_cleanly() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let id = env.id("orphan");
    let bundle = env.sub_bundle("b", "nosuchpod", &["true"]);
    let out = env.runsc(&["create", "-b", bundle.to_str().unwrap(), &id]);
    common::assert_fails_with(&out, "nosuchpod");
    env.assert_clean(&[&id]);
}

/// `wait` of a pod's later container once the pod's sandbox has exited
/// gives that container's own recorded status, not the pod's.
#[test]
fn a_later_containers_status_outlives_its_sandbox() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let pod = env.id("waitpod");
    let sub = env.id("waitsub");
    let _r = Reaper {
        env: &env,
        ids: vec![sub.clone(), pod.clone()],
    };
    let pod_bundle = env.bundle("pod", &["sleep", "1000"]);
    env.ok(&["run", "-d", "-b", pod_bundle.to_str().unwrap(), &pod]);
    let sub_bundle = env.sub_bundle("sub", &pod, &["sh", "-c", "exit 3"]);
    let out = env.runsc(&["run", "-b", sub_bundle.to_str().unwrap(), "--detach", &sub]);
    assert!(out.status.success(), "{}", stderr(&out));
    common::wait_for(
        "the later container to exit",
        Duration::from_secs(10),
        || env.state(&sub)["status"] == "stopped",
    );
    // The pod's init ends with 137, and its sandbox with it.
    env.ok(&["kill", &pod, "KILL"]);
    common::wait_for("the pod's sandbox to exit", Duration::from_secs(10), || {
        env.state(&pod)["status"] == "stopped"
    });
    let out = env.runsc(&["wait", &sub]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    env.ok(&["delete", "--force", &sub]);
    env.ok(&["delete", "--force", &pod]);
    env.assert_clean(&[&sub, &pod]);
}

#[test]
fn later_containers_and_execs_may_use_sysv_ipc() {
    if common::skip_without_root() {
        return;
    }
    // Both are forked by a sandbox that already runs under its own seccomp
    // filter; PostgreSQL-style IPC must still work in them, as under runc.
    let env = Env::new();
    let pod = env.id("ipcpod");
    let sub = env.id("ipcsub");
    let _r = Reaper {
        env: &env,
        ids: vec![sub.clone(), pod.clone()],
    };
    let pod_bundle = env.bundle("pod", &["sleep", "1000"]);
    common::install_program(&pod_bundle, "ipc");
    env.ok(&["run", "-d", "-b", pod_bundle.to_str().unwrap(), &pod]);
    let sub_bundle = env.sub_bundle("sub", &pod, &["/bin/ipc"]);
    common::install_program(&sub_bundle, "ipc");
    let b = sub_bundle.to_str().unwrap();
    for args in [&["exec", &pod, "/bin/ipc"][..], &["run", "-b", b, &sub][..]] {
        let out = env.runsc(args);
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {text}");
        assert_eq!(text, "ipc failures: 0\n", "{args:?}");
    }
    env.ok(&["delete", "--force", &pod]);
    env.assert_clean(&[&sub, &pod]);
}

#[test]
fn a_later_container_sees_its_own_cgroup() {
    if common::skip_without_root() {
        return;
    }
    // Forked in the sandbox's cgroup, a subcontainer's init moves to its
    // own; its cgroup namespace and /sys/fs/cgroup must be rooted there,
    // so that it reads its own memory limit, not the pod's.
    let env = Env::new();
    let pod = env.id("cgpod");
    let subs = [env.id("cgns"), env.id("nocgns")];
    let _r = Reaper {
        env: &env,
        ids: vec![subs[0].clone(), subs[1].clone(), pod.clone()],
    };
    let cgroup_mount = json!({
        "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
        "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]
    });
    let pod_bundle = env.bundle("pod", &["sleep", "1000"]);
    edit_config(&pod_bundle, |c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 67108864});
    });
    env.ok(&["run", "-d", "-b", pod_bundle.to_str().unwrap(), &pod]);
    let script = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max \
                  2>/dev/null; grep -c '::/$' /proc/self/cgroup || true";
    for (sub, own_ns) in [(&subs[0], true), (&subs[1], false)] {
        let bundle = env.sub_bundle(sub, &pod, &["sh", "-c", script]);
        edit_config(&bundle, |c| {
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .push(cgroup_mount.clone());
            c["linux"]["resources"]["memory"] = json!({"limit": 50331648});
            if own_ns {
                let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
                ns.push(json!({"type": "cgroup"}));
            }
        });
        let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), sub]);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
        // Its own limit; and in its own namespace its cgroup is the root.
        let root_line = if own_ns { "1" } else { "0" };
        assert_eq!(text, format!("50331648\n{root_line}\n"), "own ns: {own_ns}");
    }
    env.ok(&["delete", "--force", &pod]);
    env.assert_clean(&[&subs[0], &subs[1], &pod]);
}

#[test]
fn an_oom_kill_in_a_later_container_spares_its_pod() {
    if common::skip_without_root() {
        return;
    }
    // The later container fills a tmpfs past its memory limit: its own
    // processes stay small, so the OOM killer picks the largest task in
    // its cgroup, which may be its holder. A holder that shared the
    // sandbox's memory took the sandbox, and so every container of the
    // pod, down with it.
    let env = Env::new();
    let pod = env.id("oompod");
    let calm = env.id("oomcalm");
    let hog = env.id("oomhog");
    let _r = Reaper {
        env: &env,
        ids: vec![hog.clone(), calm.clone(), pod.clone()],
    };
    let pod_bundle = env.bundle("pod", &["sleep", "1000"]);
    env.ok(&["run", "-d", "-b", pod_bundle.to_str().unwrap(), &pod]);
    let calm_bundle = env.sub_bundle("calm", &pod, &["sleep", "1000"]);
    env.ok(&["run", "-d", "-b", calm_bundle.to_str().unwrap(), &calm]);
    let fill = "head -c 100000000 /dev/zero > /fill/zeros; sleep 1000";
    let hog_bundle = env.sub_bundle("hog", &pod, &["sh", "-c", fill]);
    edit_config(&hog_bundle, |c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 33554432, "swap": 33554432});
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/fill", "type": "tmpfs", "source": "tmpfs",
            "options": ["size=200m"]
        }));
    });
    let sandbox = common::sandbox_pid(&env, &pod);
    let oom_kills = || oom_kills_in(&format!("runsc/{hog}"));
    env.ok(&["run", "-d", "-b", hog_bundle.to_str().unwrap(), &hog]);
    // The kernel counts a kill where the victim's memory belongs: the
    // pod's cgroup, for a holder on the sandbox's memory.
    let sandbox_alive = || {
        std::fs::read_to_string(format!("/proc/{sandbox}/stat")).is_ok_and(|s| {
            s.rsplit_once(") ")
                .is_some_and(|(_, r)| !r.starts_with('Z'))
        })
    };
    common::wait_for("an OOM kill in the hog", Duration::from_secs(20), || {
        oom_kills() > 0 || !sandbox_alive()
    });
    // Give the kernel's kills time to land.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        sandbox_alive(),
        "the sandbox {sandbox} died with the hog's OOM kill"
    );
    for id in [&pod, &calm] {
        assert_eq!(env.state(id)["status"], "running", "{id}");
    }
    assert_eq!(env.ok(&["exec", &calm, "echo", "alive"]), "alive\n");
    env.ok(&["delete", "--force", &hog]);
    env.ok(&["delete", "--force", &calm]);
    env.ok(&["delete", "--force", &pod]);
    env.assert_clean(&[&hog, &calm, &pod]);
}

#[test]
fn a_later_container_joins_the_pods_pid_namespace_cleanly() {
    if common::skip_without_root() {
        return;
    }
    // As containerd's CRI shares a pod's pid namespace: by the path of the
    // pod's init. The sandbox enters it for the one fork and returns; the
    // forked child must not try to return too (it logged an error for
    // every such container).
    let env = Env::new();
    let pod = env.id("pidpod");
    let sub = env.id("pidsub");
    let _r = Reaper {
        env: &env,
        ids: vec![sub.clone(), pod.clone()],
    };
    let pod_bundle = env.bundle("pod", &["sleep", "1000"]);
    env.ok(&["run", "-d", "-b", pod_bundle.to_str().unwrap(), &pod]);
    let pod_ns = format!("/proc/{}/ns/pid", init_pid(&env, &pod));
    let sub_bundle = env.sub_bundle("sub", &pod, &["sleep", "999"]);
    edit_config(&sub_bundle, |c| {
        for ns in c["linux"]["namespaces"].as_array_mut().unwrap() {
            if ns["type"] == "pid" {
                ns["path"] = json!(pod_ns);
            }
        }
    });
    env.ok(&["run", "-d", "-b", sub_bundle.to_str().unwrap(), &sub]);
    let ps = env.ok(&["exec", &sub, "ps", "-o", "args"]);
    assert!(
        ps.contains("sleep 1000") && ps.contains("sleep 999"),
        "{ps}"
    );
    let errors: Vec<_> = env
        .log_lines()
        .into_iter()
        .filter(|l| l["level"] == "error")
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    env.ok(&["delete", "--force", &sub]);
    env.ok(&["delete", "--force", &pod]);
    env.assert_clean(&[&sub, &pod]);
}

/// The OOM kills counted in cgroup `rel`: `oom_kill` of v1's
/// memory.oom_control or cgroup2's memory.events, wherever it has memory.
fn oom_kills_in(rel: &str) -> u64 {
    common::cgroup_dirs(rel)
        .iter()
        .flat_map(|d| ["memory.oom_control", "memory.events"].map(|f| d.join(f)))
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|t| {
            t.lines()
                .filter_map(|l| l.strip_prefix("oom_kill ")?.trim().parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}
