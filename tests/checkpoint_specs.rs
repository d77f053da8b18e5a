//! checkpoint and restore (twice) of containers whose specs are as `runc
//! spec` (also with a user namespace), Docker and containerd write them (a
//! `cgroup` mount above all), a failed checkpoint that must leave the
//! container running, and checkpoints of a container that forks without
//! pause.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{edit_config, status_of, stderr, wait_for, Env, Reaper};
use serde_json::{json, Value};

/// A counter in /dev/shm (a tmpfs of the container, so that read-only
/// roots count too), ten a second.
const COUNTER: &str = "i=0; while true; do i=$((i+1)); echo $i > /dev/shm/n; sleep 0.1; done";

/// A busybox bundle whose config.json is `spec`, with the args, env and
/// user of tools/mkrootfs's and the rootfs `rootfs`.
fn bundle_with_spec(env: &Env, name: &str, mut spec: Value, cmd: &[&str]) -> PathBuf {
    let bundle = env.bundle(name, cmd);
    let ours: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    spec["process"]["terminal"] = json!(false);
    spec["process"]["args"] = ours["process"]["args"].clone();
    spec["process"]["env"] = ours["process"]["env"].clone();
    spec["root"]["path"] = json!("rootfs");
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec_pretty(&spec).unwrap(),
    )
    .unwrap();
    bundle
}

/// The kernel filesystems containerd's default spec (and Docker's)
/// mounts, with `cgroup_options` on /sys/fs/cgroup.
fn default_mounts(cgroup_options: &[&str]) -> Value {
    json!([
        { "destination": "/proc", "type": "proc", "source": "proc",
          "options": ["nosuid", "noexec", "nodev"] },
        { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
          "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
        { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
          "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
        { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
          "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
        { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
          "options": ["nosuid", "noexec", "nodev"] },
        { "destination": "/sys", "type": "sysfs", "source": "sysfs",
          "options": ["nosuid", "noexec", "nodev", "ro"] },
        { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
          "options": cgroup_options }
    ])
}

/// As containerd's `oci.WithDefaultSpec` writes it: no cgroup namespace,
/// a read-only `cgroup` mount.
fn containerd_spec(runc: &Value) -> Value {
    let mut spec = runc.clone();
    spec["root"]["readonly"] = json!(false);
    spec["mounts"] = default_mounts(&["nosuid", "noexec", "nodev", "relatime", "ro"]);
    spec["linux"]["namespaces"] = json!([
        { "type": "pid" }, { "type": "ipc" }, { "type": "uts" },
        { "type": "mount" }, { "type": "network" }
    ]);
    spec
}

/// As Docker writes it on a host with v1 cgroups (cgroupns=host): its
/// cgroup mount, and /etc/hosts, /etc/hostname and /etc/resolv.conf bound
/// from files of its own.
fn docker_spec(env: &Env, runc: &Value) -> Value {
    let mut spec = containerd_spec(runc);
    let mut mounts = default_mounts(&["ro", "nosuid", "noexec", "nodev"]);
    let files = env.path().join("docker-files");
    std::fs::create_dir(&files).unwrap();
    for (name, text) in [
        ("hosts", "127.0.0.1 localhost\n"),
        ("hostname", "docker\n"),
        ("resolv.conf", "nameserver 127.0.0.1\n"),
    ] {
        let source = files.join(name);
        std::fs::write(&source, text).unwrap();
        mounts.as_array_mut().unwrap().push(json!({
            "destination": format!("/etc/{name}"),
            "type": "bind",
            "source": source,
            "options": ["rbind", "rprivate"]
        }));
    }
    spec["mounts"] = mounts;
    spec
}

/// The counter's value, read from the host through the init's root: not
/// through `exec`, which a container left frozen would hang.
fn count(env: &Env, id: &str) -> u64 {
    // The sandbox's children, from meta.json: `state` reports the holder.
    let meta = std::fs::read(env.root.join(id).join("meta.json")).unwrap_or_default();
    let meta: serde_json::Value = serde_json::from_slice(&meta).unwrap_or_default();
    let sandbox = meta["sandbox"]["pid"].as_i64().unwrap_or(0);
    let children = std::fs::read_to_string(format!("/proc/{sandbox}/task/{sandbox}/children"))
        .unwrap_or_default();
    children
        .split_whitespace()
        .find_map(|init| counter_at(&format!("/proc/{init}/root/dev/shm/n")))
        .unwrap_or(0)
}

/// The number in the counter file at `path`. The shell's `echo $i > n`
/// truncates before it writes, so a read can land in between and see an
/// empty file: read again then, rather than take it for 0.
fn counter_at(path: &str) -> Option<u64> {
    for _ in 0..100 {
        let text = std::fs::read_to_string(path).ok()?;
        if let Ok(n) = text.trim().parse() {
            return Some(n);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

/// `run --detach` with output on /dev/null, which a restore's can stand
/// in for.
fn run_detached(env: &Env, bundle: &Path, id: &str) {
    let run = ["run", "--detach", "-b", bundle.to_str().unwrap(), id];
    assert!(common::run_quietly(env, &run), "run {id} failed");
}

/// What a container sees of its cgroups: the names under /sys/fs/cgroup,
/// whether its init (pid 1) is listed in a `cgroup.procs` there, which it
/// is only in a cgroup of its own, and its init's /proc/1/cgroup and an
/// exec'd process's /proc/self/cgroup with the container's id written
/// `<id>` (in a cgroup namespace of its own, every path is `/`).
fn cgroup_view(env: &Env, id: &str) -> (String, bool, String, String) {
    let names = env.ok(&["exec", id, "ls", "/sys/fs/cgroup"]);
    let procs = env.ok(&[
        "exec",
        id,
        "sh",
        "-c",
        "cat /sys/fs/cgroup/*/cgroup.procs /sys/fs/cgroup/cgroup.procs 2>/dev/null; true",
    ]);
    let paths = env.ok(&["exec", id, "cat", "/proc/1/cgroup"]);
    let own = env.ok(&["exec", id, "cat", "/proc/self/cgroup"]);
    (
        names,
        procs.lines().any(|l| l.trim() == "1"),
        paths.replace(id, "<id>"),
        own.replace(id, "<id>"),
    )
}

/// Runs `bundle`, checkpoints it and restores it under a new id, twice:
/// a restored container must checkpoint as a started one does.
fn checkpoint_and_restore(env: &Env, name: &str, bundle: &Path) {
    let ids = generations(env, name);
    let _r = Reaper {
        env,
        ids: ids.clone(),
    };
    run_detached(env, bundle, &ids[0]);
    wait_for("the counter", Duration::from_secs(10), || {
        count(env, &ids[0]) >= 5
    });
    let view = cgroup_view(env, &ids[0]);
    assert!(
        view.1,
        "{name}: the init is not in its own cgroup: {view:?}"
    );
    // `runc spec` asks for a cgroup namespace: a restore must keep it,
    // with a user namespace too.
    let cgroup_ns = name.starts_with("runc");
    if cgroup_ns {
        assert_root_cgroups(name, &view);
    }

    for (n, pair) in ids.windows(2).enumerate() {
        let (id, restored) = (&pair[0], &pair[1]);
        let image = env.path().join(format!("{name}-image-{n}"));
        let at = count(env, id);
        env.ok(&["checkpoint", "--image-path", image.to_str().unwrap(), id]);
        assert_eq!(status_of(env, id), "stopped");
        env.ok(&["delete", id]);

        // Under a new id: a new cgroup, which the restored mounts must show.
        let restore = [
            "restore",
            "--detach",
            "--image-path",
            image.to_str().unwrap(),
            "-b",
            bundle.to_str().unwrap(),
            restored,
        ];
        assert!(
            common::run_quietly(env, &restore),
            "{name}: restore {n} failed; log: {:?}",
            std::fs::read_to_string(image.join("restore.log"))
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("Error"))
                .collect::<Vec<_>>()
        );
        assert_eq!(status_of(env, restored), "running");
        let now = count(env, restored);
        assert!(
            now >= at,
            "{name}: the counter went back from {at} to {now}"
        );
        wait_for("the restored counter", Duration::from_secs(10), || {
            count(env, restored) >= now + 3
        });
        let after = cgroup_view(env, restored);
        if cgroup_ns {
            assert_root_cgroups(&format!("{name} restored {n}"), &after);
        }
        assert_eq!(after, view, "{name}: cgroups differ after restore {n}");
    }
    env.ok(&["delete", "--force", &ids[2]]);
}

/// The ids of `name`'s container: started, restored, restored again.
fn generations(env: &Env, name: &str) -> Vec<String> {
    ["", "-restored", "-again"]
        .iter()
        .map(|s| env.id(&format!("{name}{s}")))
        .collect()
}

/// Every cgroup path the init and an exec'd process see is `/`.
fn assert_root_cgroups(name: &str, view: &(String, bool, String, String)) {
    for paths in [&view.2, &view.3] {
        assert!(
            !paths.is_empty() && paths.lines().all(|l| l.ends_with(":/")),
            "{name}: no cgroup namespace: {view:?}"
        );
    }
}

/// `runc spec` with a user namespace, as tests/checkpoint_postgres.rs
/// uses: CRIU makes the user namespace, the restoring sandbox the cgroup
/// namespace, which `exec` must still join.
fn userns_spec(runc: &Value) -> Value {
    let mut spec = runc.clone();
    common::add_identity_user_ns(&mut spec);
    spec
}

#[test]
fn specs_of_runc_docker_and_containerd_checkpoint_and_restore() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let runc = common::default_spec(&env, &env.path().join("spec"));
    let cmd = ["sh", "-c", COUNTER];
    let styles = [
        ("runc", runc.clone()),
        ("runc-userns", userns_spec(&runc)),
        ("containerd", containerd_spec(&runc)),
        ("docker", docker_spec(&env, &runc)),
    ];
    let mut ids = Vec::new();
    for (name, spec) in styles {
        let bundle = bundle_with_spec(&env, name, spec, &cmd);
        checkpoint_and_restore(&env, name, &bundle);
        ids.extend(generations(&env, name));
    }
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    env.assert_clean(&ids);
}

#[test]
fn a_failed_checkpoint_leaves_the_container_running() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let runc = common::default_spec(&env, &env.path().join("spec"));
    let bundle = bundle_with_spec(&env, "b", containerd_spec(&runc), &["sh", "-c", COUNTER]);
    let id = env.id("c");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    run_detached(&env, &bundle, &id);
    wait_for("the counter", Duration::from_secs(10), || {
        count(&env, &id) >= 3
    });

    // CRIU fails halfway, with the tasks seized and the cgroup frozen:
    // the pages image it must write is a directory.
    let image = env.path().join("image");
    std::fs::create_dir(&image).unwrap();
    for n in 1..=16 {
        std::fs::create_dir(image.join(format!("pages-{n}.img"))).unwrap();
    }
    let out = env.runsc(&["checkpoint", "--image-path", image.to_str().unwrap(), &id]);
    assert!(!out.status.success(), "checkpoint into a bad image passed");
    assert!(
        stderr(&out).contains("pages-1.img"),
        "not CRIU's failure: {}",
        stderr(&out)
    );
    assert!(
        !image.join("runsc-checkpoint.json").exists(),
        "a failed image passes for one"
    );

    assert_eq!(status_of(&env, &id), "running");
    let at = count(&env, &id);
    wait_for(
        "the counter after the failure",
        Duration::from_secs(5),
        || count(&env, &id) >= at + 3,
    );
    // And it can still be checkpointed.
    let good = env.path().join("good");
    env.ok(&["checkpoint", "--image-path", good.to_str().unwrap(), &id]);
    assert_eq!(status_of(&env, &id), "stopped");
    env.ok(&["delete", &id]);
    env.assert_clean(&[&id]);
}

#[test]
fn checkpoints_of_a_container_that_forks_all_the_time_succeed() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    // Short-lived processes without pause: `cgroup.procs` always names
    // some that are gone a moment later.
    let bundle = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "i=0; while true; do /bin/true; i=$((i+1)); echo $i > /dev/shm/n; done",
        ],
    );
    edit_config(&bundle, |c| c["root"]["readonly"] = json!(false));
    let id = env.id("c");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    run_detached(&env, &bundle, &id);
    wait_for("the loop", Duration::from_secs(10), || {
        count(&env, &id) >= 50
    });
    for n in 0..10 {
        let image = env.path().join(format!("image-{n}"));
        let out = env.runsc(&[
            "checkpoint",
            "--leave-running",
            "--image-path",
            image.to_str().unwrap(),
            &id,
        ]);
        assert!(
            out.status.success(),
            "checkpoint {n} failed: {}",
            stderr(&out)
        );
        assert_eq!(status_of(&env, &id), "running");
    }
    // Still running, and not left frozen.
    let at = count(&env, &id);
    wait_for(
        "the loop after the checkpoints",
        Duration::from_secs(5),
        || count(&env, &id) >= at + 50,
    );
    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&id]);
}
