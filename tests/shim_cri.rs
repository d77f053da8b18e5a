//! Pods through containerd's CRI plugin with containerd-shim-runsc-v1: a
//! host-network pod of three containers in one sandbox and one shim,
//! ExecSync's exit codes, a container's exit while the pod runs, and a
//! pod stopped and removed leaving nothing behind.
//!
//! The CRI client is tools/cri-client (PyPI's CRI stubs; tools/install-deps).

mod common;
mod shim_support;

use serde_json::{json, Value};

use common::Env;
use shim_support::{cgroups_left, container, pod_config, status, Containerd, BUSYBOX};

/// A host-network pod under our runtime handler; its id.
fn run_pod(ctd: &Containerd, config: &Value) -> String {
    let reply = ctd.cri_ok(
        "RunPodSandbox",
        json!({"config": config, "runtimeHandler": "runsc"}),
    );
    reply["podSandboxId"]
        .as_str()
        .expect("podSandboxId")
        .to_string()
}

#[test]
fn pod_of_three_containers_through_cri() {
    let env = Env::new();
    let ctd = Containerd::start(&env, true);
    ctd.import_images(&env, "k8s.io");
    let config = pod_config(&env, "p1");
    let pod = run_pod(&ctd, &config);
    let c1 = container(&ctd, &pod, &config, "c1", &["sleep", "1000"]);
    let c2 = container(&ctd, &pod, &config, "c2", &["sleep", "1000"]);
    for id in [&c1, &c2] {
        assert_eq!(status(&ctd, id)["state"], "CONTAINER_RUNNING");
    }
    // One shim and one sandbox for the whole pod.
    assert_eq!(ctd.shims().len(), 1, "one shim per pod");
    let sandboxes: Vec<_> = std::fs::read_dir(&env.root)
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("meta.json")).ok())
        .filter_map(|m| serde_json::from_str::<Value>(&m).ok())
        .map(|m| m["sandbox_id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(sandboxes.len(), 3, "{sandboxes:?}");
    assert!(sandboxes.iter().all(|s| *s == pod), "{sandboxes:?}");

    // ExecSync: output and exit codes.
    let reply = ctd.cri_ok(
        "ExecSync",
        json!({"containerId": c1, "cmd": ["sh", "-c", "echo out; exit 4"], "timeout": 60}),
    );
    assert_eq!(reply["stdout"], "out\n");
    assert_eq!(reply["exitCode"], 4);
    let reply = ctd.cri_ok(
        "ExecSync",
        json!({"containerId": c2, "cmd": ["true"], "timeout": 60}),
    );
    assert_eq!(
        reply.get("exitCode").and_then(Value::as_i64).unwrap_or(0),
        0
    );

    // A container exiting 3 while the pod runs: containerd learns of it.
    let c3 = container(&ctd, &pod, &config, "c3", &["sh", "-c", "echo bye; exit 3"]);
    ctd.eventually(15, "c3 exited", || {
        status(&ctd, &c3)["state"] == "CONTAINER_EXITED"
    });
    let s = status(&ctd, &c3);
    assert_eq!(s["exitCode"], 3, "{s}");
    let log = std::fs::read_to_string(env.path().join("pod-logs/p1/c3.log")).unwrap();
    assert!(log.contains("stdout F bye"), "{log}");
    assert_eq!(status(&ctd, &c1)["state"], "CONTAINER_RUNNING");

    let stats = ctd.cri_ok("ContainerStats", json!({"containerId": c1}));
    assert!(
        stats["stats"]["memory"]["workingSetBytes"]["value"]
            .as_str()
            .is_some_and(|v| v != "0"),
        "{stats}"
    );

    // One pid namespace for the pod: c1 sees c2's and the pause's
    // processes.
    let reply = ctd.cri_ok(
        "ExecSync",
        json!({"containerId": c1, "cmd": ["ps", "-o", "args"], "timeout": 60}),
    );
    let ps = reply["stdout"].as_str().unwrap_or_default();
    assert!(ps.contains("sleep 2147483647"), "{ps}");
    assert_eq!(ps.matches("sleep 1000").count(), 2, "{ps}");

    // A container stopped, removed and made again (attempt 1).
    ctd.cri_ok("StopContainer", json!({"containerId": c2, "timeout": 5}));
    assert_eq!(status(&ctd, &c2)["state"], "CONTAINER_EXITED");
    ctd.cri_ok("RemoveContainer", json!({"containerId": c2}));
    let first_c2 = c2;
    // Its gofer, the shim's child, was reaped, not left a zombie.
    ctd.eventually(10, "no zombies", || ctd.zombies().is_empty());
    let reply = ctd.cri_ok(
        "CreateContainer",
        json!({
            "podSandboxId": pod,
            "config": {
                "metadata": {"name": "c2", "attempt": 1},
                "image": {"image": BUSYBOX},
                "command": ["sleep", "1000"],
                "logPath": "c2-1.log",
            },
            "sandboxConfig": config,
        }),
    );
    let c2 = reply["containerId"]
        .as_str()
        .expect("containerId")
        .to_string();
    ctd.cri_ok("StartContainer", json!({"containerId": c2}));
    let s = status(&ctd, &c2);
    assert_eq!(s["state"], "CONTAINER_RUNNING", "{s}");
    assert_eq!(s["metadata"]["attempt"], 1, "{s}");

    // ReopenContainerLog: the log file is made again after a rotation.
    let log = env.path().join("pod-logs/p1/c1.log");
    std::fs::rename(&log, log.with_extension("old")).unwrap();
    ctd.cri_ok("ReopenContainerLog", json!({"containerId": c1}));
    assert!(log.exists());

    // UpdateContainerResources reaches the container's cgroup.
    ctd.cri_ok(
        "UpdateContainerResources",
        json!({"containerId": c1, "linux": {"memoryLimitInBytes": 67108864}}),
    );
    let limits: Vec<String> = common::cgroup_dirs(&format!("k8s.io/{c1}"))
        .iter()
        .flat_map(|d| ["memory.limit_in_bytes", "memory.max"].map(|f| d.join(f)))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect();
    assert!(limits.iter().any(|l| l.trim() == "67108864"), "{limits:?}");

    // An OOM kill: containerd hears of it, and CRI gives the reason.
    let hog = ctd.cri_ok(
        "CreateContainer",
        json!({
            "podSandboxId": pod,
            "config": {
                "metadata": {"name": "hog"},
                "image": {"image": BUSYBOX},
                "command": ["sh", "-c", "a=$(head -c 200000000 /dev/zero | tr '\\0' x); echo survived"],
                "linux": {"resources": {"memoryLimitInBytes": 33554432}},
                "logPath": "hog.log",
            },
            "sandboxConfig": config,
        }),
    )["containerId"]
        .as_str()
        .expect("containerId")
        .to_string();
    ctd.cri_ok("StartContainer", json!({"containerId": hog}));
    ctd.eventually(30, "hog exited", || {
        status(&ctd, &hog)["state"] == "CONTAINER_EXITED"
    });
    let s = status(&ctd, &hog);
    assert_eq!(s["reason"], "OOMKilled", "{s}");
    assert_eq!(s["exitCode"], 137, "{s}");

    // A command that cannot run fails StartContainer, as runc's create
    // does; a file execve refuses (an image of another architecture) is
    // the container's exit 1, with the reason in its log. The pod goes on.
    let bad = env.path().join("bad");
    std::fs::write(&bad, "not a program\n").unwrap();
    std::fs::set_permissions(&bad, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let create = |name: &str, cmd: &str| {
        let reply = ctd.cri_ok(
            "CreateContainer",
            json!({
                "podSandboxId": pod,
                "config": {
                    "metadata": {"name": name},
                    "image": {"image": BUSYBOX},
                    "command": [cmd],
                    "mounts": [{"containerPath": "/bad", "hostPath": bad, "readonly": true}],
                    "logPath": format!("{name}.log"),
                },
                "sandboxConfig": config,
            }),
        );
        reply["containerId"]
            .as_str()
            .expect("containerId")
            .to_string()
    };
    let denied = create("denied", "/etc/passwd");
    let err = ctd
        .cri("StartContainer", json!({"containerId": denied}))
        .expect_err("StartContainer of /etc/passwd");
    assert!(
        err.contains("exec: \"/etc/passwd\": permission denied"),
        "{err}"
    );
    let s = status(&ctd, &denied);
    assert_eq!(s["reason"], "StartError", "{s}");
    let wrong = create("wrong", "/bad");
    ctd.cri_ok("StartContainer", json!({"containerId": wrong}));
    ctd.eventually(15, "wrong exited", || {
        status(&ctd, &wrong)["state"] == "CONTAINER_EXITED"
    });
    let s = status(&ctd, &wrong);
    assert_eq!(s["exitCode"], 1, "{s}");
    let log = std::fs::read_to_string(env.path().join("pod-logs/p1/wrong.log")).unwrap();
    assert!(
        log.contains("stderr F exec /bad: exec format error"),
        "{log}"
    );
    assert_eq!(status(&ctd, &c1)["state"], "CONTAINER_RUNNING");

    // Stop and remove the pod: nothing is left.
    ctd.cri_ok("StopPodSandbox", json!({"podSandboxId": pod}));
    for id in [&c1, &c2] {
        assert_eq!(status(&ctd, id)["state"], "CONTAINER_EXITED");
    }
    ctd.cri_ok("RemovePodSandbox", json!({"podSandboxId": pod}));
    ctd.eventually(10, "the pod's shim gone", || ctd.shims().is_empty());
    let ids = [pod.clone(), c1, first_c2, c2, c3, hog, denied, wrong];
    assert_eq!(
        cgroups_left("k8s.io", &ids),
        Vec::<std::path::PathBuf>::new()
    );
    ctd.assert_clean(&env);
}

#[test]
fn pod_survives_containerd_restart() {
    let env = Env::new();
    let mut ctd = Containerd::start(&env, true);
    ctd.import_images(&env, "k8s.io");
    let config = pod_config(&env, "p2");
    let pod = run_pod(&ctd, &config);
    let c1 = container(&ctd, &pod, &config, "c1", &["sleep", "1000"]);
    // Exits 2 once told to, by a file an exec makes.
    let waiter = [
        "sh",
        "-c",
        "while [ ! -e /tmp/go ]; do sleep 0.1; done; exit 2",
    ];
    let c2 = container(&ctd, &pod, &config, "c2", &waiter);
    let shims = ctd.shims();
    assert_eq!(shims.len(), 1);

    ctd.restart();
    // CRI answers once it has recovered its containers.
    ctd.eventually(30, "CRI serving again", || {
        ctd.cri("ContainerStatus", json!({"containerId": c1}))
            .is_ok()
    });
    // The containers kept running, under the same shim.
    assert_eq!(ctd.shims(), shims);
    for id in [&c1, &c2] {
        assert_eq!(status(&ctd, id)["state"], "CONTAINER_RUNNING");
    }
    // Exec still works, and an exit after the restart reaches containerd.
    let reply = ctd.cri_ok(
        "ExecSync",
        json!({"containerId": c2, "cmd": ["touch", "/tmp/go"], "timeout": 60}),
    );
    assert_eq!(
        reply.get("exitCode").and_then(Value::as_i64).unwrap_or(0),
        0
    );
    ctd.eventually(15, "c2 exited", || {
        status(&ctd, &c2)["state"] == "CONTAINER_EXITED"
    });
    assert_eq!(status(&ctd, &c2)["exitCode"], 2);

    // Stop still works.
    ctd.cri_ok("StopContainer", json!({"containerId": c1, "timeout": 5}));
    assert_eq!(status(&ctd, &c1)["state"], "CONTAINER_EXITED");
    ctd.cri_ok("StopPodSandbox", json!({"podSandboxId": pod}));
    ctd.cri_ok("RemovePodSandbox", json!({"podSandboxId": pod}));
    ctd.eventually(10, "the pod's shim gone", || ctd.shims().is_empty());
    assert_eq!(
        cgroups_left("k8s.io", &[pod, c1, c2]),
        Vec::<std::path::PathBuf>::new()
    );
    ctd.assert_clean(&env);
}

#[test]
fn twenty_pods_at_once() {
    let env = Env::new();
    let ctd = Containerd::start(&env, true);
    ctd.import_images(&env, "k8s.io");
    let ids: Vec<Vec<String>> = std::thread::scope(|s| {
        let pods: Vec<_> = (0..20)
            .map(|n| {
                let (env, ctd) = (&env, &ctd);
                s.spawn(move || {
                    let config = pod_config(env, &format!("many{n}"));
                    let pod = run_pod(ctd, &config);
                    let c = container(ctd, &pod, &config, "c", &["sleep", "1000"]);
                    let reply = ctd.cri_ok(
                        "ExecSync",
                        json!({"containerId": c, "cmd": ["echo", n.to_string()], "timeout": 60}),
                    );
                    assert_eq!(reply["stdout"], format!("{n}\n"));
                    ctd.cri_ok("StopPodSandbox", json!({"podSandboxId": pod}));
                    ctd.cri_ok("RemovePodSandbox", json!({"podSandboxId": pod}));
                    vec![pod, c]
                })
            })
            .collect();
        pods.into_iter()
            .map(|p| p.join().expect("pod thread"))
            .collect()
    });
    ctd.eventually(20, "every shim gone", || ctd.shims().is_empty());
    let ids: Vec<String> = ids.into_iter().flatten().collect();
    assert_eq!(
        cgroups_left("k8s.io", &ids),
        Vec::<std::path::PathBuf>::new()
    );
    ctd.assert_clean(&env);
}
