//! A pod's sandbox container keeps the names of its later containers
//! (`<root>/<pod>/members/`), so that deleting it does not read every
//! container's metadata under --root. The list is never trusted alone: a
//! pod without one (made before it was kept) still takes its containers,
//! and a name left behind never takes another pod's container. The list
//! is made by the pod's first member.

mod common;

use common::{Env, Reaper};

#[test]
fn a_pod_without_a_member_list_still_takes_its_containers() {
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
    let pod_bundle = env.bundle("pod", &["sleep", "1000"]);
    env.ok(&["run", "-d", "-b", pod_bundle.to_str().unwrap(), &pod]);
    let members = env.root.join(&pod).join("members");
    // The list is made by the first member's create.
    assert!(!members.exists(), "a pod without members made a list");
    let sub_bundle = env.sub_bundle("sub", &pod, &["sleep", "1000"]);
    env.ok(&["run", "-d", "-b", sub_bundle.to_str().unwrap(), &sub]);
    assert!(members.join(&sub).exists(), "{sub} is not in the list");
    // As a pod made by an older runsc-rs without a list looks: its spec in
    // spec.json, its lock file empty.
    std::fs::remove_dir_all(&members).unwrap();
    common::as_older_entry(&env.root.join(&pod));

    env.ok(&["delete", "--force", &pod]);
    env.assert_clean(&[&pod, &sub]);
}

#[test]
fn a_name_left_in_a_list_spares_another_pods_container() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let a = env.id("poda");
    let b = env.id("podb");
    let sub = env.id("sub");
    let _r = Reaper {
        env: &env,
        ids: vec![a.clone(), b.clone(), sub.clone()],
    };
    for pod in [&a, &b] {
        let bundle = env.bundle(pod, &["sleep", "1000"]);
        env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), pod]);
    }
    let sub_bundle = env.sub_bundle("sub", &b, &["sleep", "1000"]);
    env.ok(&["run", "-d", "-b", sub_bundle.to_str().unwrap(), &sub]);
    // What a crash between a member's delete and its name's removal, and
    // then the id's reuse in pod b, leave: a's list names b's container.
    let a_members = env.root.join(&a).join("members");
    std::fs::create_dir_all(&a_members).unwrap();
    std::fs::write(a_members.join(&sub), "").unwrap();

    env.ok(&["delete", "--force", &a]);
    assert_eq!(env.state(&sub)["status"], "running");
    assert_eq!(env.state(&b)["status"], "running");
    // A member's delete drops its name.
    env.ok(&["delete", "--force", &sub]);
    assert!(!env.root.join(&b).join("members").join(&sub).exists());
    env.ok(&["delete", "--force", &b]);
    env.assert_clean(&[&a, &b, &sub]);
}
