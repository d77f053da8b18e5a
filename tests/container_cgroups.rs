//! A container's cgroups (limits enforced, systemd's paths, the cgroup
//! mounts it sees, checked from inside a real busybox container) and the
//! runtime's processes beside its init: the sandbox confined, and no
//! gofer left once `create` returns.

mod common;

use common::script::run_script;
use common::{cgroup_dirs, edit_config, proc_status, stderr, stdout, Env, Reaper};
use serde_json::json;

#[test]
fn pids_limit_stops_a_fork_bomb() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["true"]);
    edit_config(&bundle, |c| {
        c["linux"]["resources"]["pids"] = json!({"limit": 8})
    });
    // busybox sh gives up on the first failed fork, so the bomb runs in a
    // child shell; only builtins follow it, since a fork would fail.
    let script = "sh -c 'for i in $(seq 1 30); do sleep 5 & done'; echo inner=$?; set -- /proc/[0-9]*; echo running=$#";
    edit_config(&bundle, |c| {
        c["process"]["args"] = json!(["sh", "-c", script])
    });
    let id = env.id("pids");
    let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("can't fork"), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("inner=2"), "{text}");
    let running: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("running="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {text}"));
    // The sandbox and the gofer count against the limit too.
    assert!(
        (1..=6).contains(&running),
        "pids.max not enforced: {running} processes"
    );
    env.assert_clean(&[&id]);
}

#[test]
fn memory_limit_oom_kills() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["true"]);
    edit_config(&bundle, |c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 33554432, "swap": 33554432});
        c["process"]["args"] = json!(["dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"]);
    });
    let id = env.id("oom");
    let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    env.assert_clean(&[&id]);
}

#[test]
fn systemd_cgroup_paths_are_placed_as_systemd_would() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let id = env.id("sd");
    // A slice of this test's own, nested as a kubelet pod slice is.
    let stem = format!("rs{}", id.trim_start_matches("sd-"));
    let top = format!("{stem}.slice");
    let pod = format!("{stem}-pod1.slice");
    struct RemoveSlices(String);
    impl Drop for RemoveSlices {
        fn drop(&mut self) {
            for dir in cgroup_dirs(&self.0) {
                for sub in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                    let _ = std::fs::remove_dir(sub.path());
                }
                let _ = std::fs::remove_dir(&dir);
            }
        }
    }
    let _slices = RemoveSlices(top.clone());
    let _reaper = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    let bundle = env.bundle("b", &["sleep", "1000"]);
    edit_config(&bundle, |c| {
        c["linux"]["cgroupsPath"] = json!(format!("{pod}:cri-containerd:{id}"));
        c["linux"]["resources"]["memory"] = json!({"limit": 67108864});
    });
    let b = bundle.to_str().unwrap();
    env.ok(&["--systemd-cgroup", "run", "-d", "-b", b, &id]);
    let rel = format!("{top}/{pod}/cri-containerd-{id}.scope");
    let memory = cgroup_dirs(&rel)
        .into_iter()
        .find(|d| d.join("memory.limit_in_bytes").exists() || d.join("memory.max").exists())
        .expect("the container's memory cgroup");
    let limit = std::fs::read_to_string(memory.join("memory.limit_in_bytes"))
        .or_else(|_| std::fs::read_to_string(memory.join("memory.max")))
        .unwrap();
    assert_eq!(limit.trim(), "67108864");
    let pids: Vec<i64> = serde_json::from_str(&env.ok(&["ps", "-f", "json", &id])).unwrap();
    let init = pids.iter().min().unwrap();
    let cgroups = std::fs::read_to_string(format!("/proc/{init}/cgroup")).unwrap();
    let place = format!(":/{rel}");
    assert!(cgroups.lines().any(|l| l.ends_with(&place)), "{cgroups}");
    // Later commands find it from the metadata, with or without the flag.
    // Sizes as runc's flags take them: 128m is 134217728.
    env.ok(&["update", "--memory", "128m", &id]);
    let limit = std::fs::read_to_string(memory.join("memory.limit_in_bytes"))
        .or_else(|_| std::fs::read_to_string(memory.join("memory.max")))
        .unwrap();
    assert_eq!(limit.trim(), "134217728");
    env.ok(&["delete", "--force", &id]);
    for dir in cgroup_dirs(&rel) {
        assert!(!dir.exists(), "cgroup left: {}", dir.display());
    }
    env.assert_clean(&[&id]);

    // Not slice:prefix:name: refused before anything is made.
    let other = env.id("sdbad");
    let bad = env.bundle("bad", &["true"]);
    edit_config(&bad, |c| c["linux"]["cgroupsPath"] = json!("/plain/path"));
    let out = env.runsc(&[
        "--systemd-cgroup",
        "run",
        "-b",
        bad.to_str().unwrap(),
        &other,
    ]);
    common::assert_fails_with(&out, "must be slice:prefix:name");
    env.assert_clean(&[&other]);
}

#[test]
fn cgroup_mounts_show_the_hosts_v1_hierarchies_as_runc_does() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let v1_host = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.contains(" - cgroup "));
    let bundle = env.bundle("b", &["true"]);
    edit_config(&bundle, |c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]
        }));
        c["linux"]["resources"]["memory"] = json!({"limit": 50331648});
    });
    let script =
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null; \
                  grep ' /sys/fs/cgroup' /proc/self/mountinfo; (echo x > /sys/fs/cgroup/x) 2>&1; true";
    // In a cgroup namespace (fresh mounts) and without one (binds of the
    // container's own directories): the limit is what the container reads.
    for with_ns in [true, false] {
        edit_config(&bundle, |c| {
            let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
            ns.retain(|n| n["type"] != "cgroup");
            if with_ns {
                ns.push(json!({"type": "cgroup"}));
            }
        });
        let name = if with_ns { "cgns" } else { "nocgns" };
        let (status, out) = run_script(&env, &bundle, name, script);
        assert_eq!(status, 0, "{out}");
        assert!(out.starts_with("50331648\n"), "{out}");
        assert!(out.contains("Read-only file system"), "{out}");
        let mounts: Vec<&str> = out
            .lines()
            .filter(|l| l.contains(" /sys/fs/cgroup") && l.contains(" - "))
            .collect();
        for m in &mounts {
            let fields: Vec<&str> = m.split(' ').collect();
            assert!(fields[5].split(',').any(|o| o == "ro"), "{m}");
            if m.contains(" - tmpfs ") {
                continue;
            }
            // Never the host's whole tree: a fresh mount shows the
            // namespace's root; a bind, the container's own directory.
            if with_ns {
                assert_eq!(fields[3], "/", "{m}");
            } else {
                assert!(fields[3].starts_with(&format!("/runsc/{name}-")), "{m}");
            }
        }
        if v1_host {
            assert!(
                mounts.iter().any(|m| m.contains(" /sys/fs/cgroup/memory ")),
                "{out}"
            );
            assert!(mounts.iter().any(|m| m.contains(" - tmpfs ")), "{out}");
        }
    }
}

/// Processes of this test's root that are gofers, zombies included: the
/// root container's, which the sandbox forks and names `runsc-gofer`, and
/// a later container's, `runsc gofer`.
fn gofers_of(env: &Env) -> Vec<i32> {
    let ours = env.leftover_processes();
    let all = std::fs::read_dir("/proc").into_iter().flatten().flatten();
    all.filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            // A zombie's command line reads empty: its name and parent tell.
            let forked =
                comm.trim() == "runsc-gofer" && (ours.contains(pid) || forked_by_ours(*pid, &ours));
            forked || (ours.contains(pid) && cmdline.contains(" gofer --fds"))
        })
        .collect()
}

/// Whether `pid`'s parent is one of `ours` (a zombie keeps its parent).
fn forked_by_ours(pid: i32, ours: &[i32]) -> bool {
    proc_status(pid, "PPid")
        .parse::<i32>()
        .is_ok_and(|ppid| ours.contains(&ppid))
}

/// The sandbox confines itself; the gofer only donates the mounts and
/// ends with `create`, for the root container (forked by the sandbox) and
/// for a pod's later one (`runsc gofer`), whose containers then run on
/// (docs/decisions.md, "The gofer ends with create").
#[test]
fn the_sandbox_confines_itself_and_no_gofer_outlives_create() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let id = env.id("confined");
    let sub = env.id("later");
    let _reaper = Reaper {
        env: &env,
        ids: vec![sub.clone(), id.clone()],
    };
    env.ok(&["run", "--detach", "-b", bundle.to_str().unwrap(), &id]);
    let sandbox = common::sandbox_pid(&env, &id) as i32;
    assert_eq!(proc_status(sandbox, "Seccomp"), "2", "sandbox filter");
    assert_eq!(
        gofers_of(&env),
        Vec::<i32>::new(),
        "the root's gofer lives on"
    );
    // The later container has a bind mount, so its gofer donates two.
    let data = env.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("f"), "from the host").unwrap();
    let sub_bundle = env.sub_bundle("later", &id, &["sleep", "1000"]);
    common::edit_config(&sub_bundle, |c| {
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": "/data", "type": "bind",
            "source": data.to_str().unwrap(), "options": ["rbind", "ro"]
        }));
    });
    env.ok(&["create", "-b", sub_bundle.to_str().unwrap(), &sub]);
    assert_eq!(gofers_of(&env), Vec::<i32>::new(), "a later gofer lives on");
    env.ok(&["start", &sub]);
    let out = env.ok(&["exec", &sub, "cat", "/data/f"]);
    assert_eq!(out, "from the host");
    for c in [&sub, &id] {
        let meta = std::fs::read(env.root.join(c).join("meta.json")).expect("read meta.json");
        let meta: serde_json::Value = serde_json::from_slice(&meta).expect("meta.json");
        assert!(meta["gofer"].is_null(), "{c} records a gofer: {meta}");
        assert_eq!(env.state(c)["status"], "running");
    }
    env.ok(&["delete", "--force", &sub]);
    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&sub, &id]);
}
