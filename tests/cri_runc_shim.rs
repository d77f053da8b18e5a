//! A pod through containerd's CRI plugin with containerd's own runc shim
//! running our binary as its `BinaryName`, as people plug in a runtime
//! that speaks runc's command line. That shim learns that a container
//! ended only when the pid the runtime reported exits (it reaps it as a
//! subreaper): each container of the pod, the later ones too, reports its
//! own holder (sandbox/src/holder.rs), which exits with that container.

mod common;
mod shim_support;

use serde_json::{json, Value};

use common::Env;
use shim_support::{cgroups_left, container, pod_config, status, Containerd};

const HANDLER: &str = "runc-runsc";

#[test]
fn a_pods_containers_exit_and_stop_under_containerds_runc_shim() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let ctd = Containerd::start(&env, true);
    ctd.import_images(&env, "k8s.io");
    let config = pod_config(&env, "p1");
    let reply = ctd.cri_ok(
        "RunPodSandbox",
        json!({"config": config, "runtimeHandler": HANDLER}),
    );
    let pod = reply["podSandboxId"]
        .as_str()
        .expect("podSandboxId")
        .to_string();
    // The pod runs in one sandbox of ours: the later containers join it.
    let c1 = container(&ctd, &pod, &config, "c1", &["sleep", "1000"]);
    assert_eq!(status(&ctd, &c1)["state"], "CONTAINER_RUNNING");
    let meta: Value = serde_json::from_str(
        // runc's shim gives the runtime `--root` Root/<namespace>.
        &std::fs::read_to_string(env.root.join("k8s.io").join(&c1).join("meta.json"))
            .expect("c1's meta.json"),
    )
    .expect("meta json");
    assert_eq!(
        meta["sandbox_id"],
        pod.as_str(),
        "c1 joined the pod's sandbox"
    );

    // A later container's own exit reaches containerd, with its status.
    let c2 = container(&ctd, &pod, &config, "c2", &["sh", "-c", "exit 3"]);
    ctd.eventually(30, "c2 exited", || {
        status(&ctd, &c2)["state"] == "CONTAINER_EXITED"
    });
    assert_eq!(status(&ctd, &c2)["exitCode"], 3);
    assert_eq!(status(&ctd, &c1)["state"], "CONTAINER_RUNNING");

    // A running later container stops, and the pod with it.
    ctd.cri_ok("StopContainer", json!({"containerId": c1, "timeout": 2}));
    assert_eq!(status(&ctd, &c1)["state"], "CONTAINER_EXITED");
    ctd.cri_ok("StopPodSandbox", json!({"podSandboxId": pod}));
    ctd.cri_ok("RemovePodSandbox", json!({"podSandboxId": pod}));
    ctd.eventually(10, "the pod's shim gone", || ctd.shims().is_empty());
    assert_eq!(
        cgroups_left("k8s.io", &[pod, c1, c2]),
        Vec::<std::path::PathBuf>::new()
    );
    // runc's shim made the namespace's root; no container is left in it.
    let ns_root = env.root.join("k8s.io");
    let left: Vec<_> = std::fs::read_dir(&ns_root)
        .expect("the k8s.io root")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "state left: {left:?}");
    std::fs::remove_dir(&ns_root).expect("remove the k8s.io root");
    ctd.assert_clean(&env);
}
