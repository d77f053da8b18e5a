//! Confinement seen from outside: what the sandbox, holder and container
//! can reach (descriptors, the runsc binary, mounts, capabilities), each
//! checked against a real container.

mod common;

use std::os::unix::fs::OpenOptionsExt;

use common::{
    assert_exec_fails_with, assert_fails_with, edit_config, proc_status, stderr, stdout, Env,
    Reaper,
};
use serde_json::json;

/// The CVE-2019-5736 move: hold /proc/<pid>/exe of a runsc process, wait
/// for it to end, then reopen the binary for writing. The sandbox runs
/// runsc through a read-only bind mount, so that fails. (The gofer it
/// forks has the same executable, and ends with `create`.)
#[test]
fn the_runsc_binary_cannot_be_reopened_for_writing_through_the_sandbox() {
    if common::skip_without_root() {
        return;
    }
    use std::os::fd::AsRawFd;
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let id = env.id("exe");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), &id]);
    let sandbox = common::sandbox_pid(&env, &id);
    let held: Vec<std::fs::File> = [sandbox]
        .iter()
        .map(|pid| {
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_PATH)
                .open(format!("/proc/{pid}/exe"))
                .unwrap()
        })
        .collect();
    env.ok(&["delete", "--force", &id]);
    for f in &held {
        // The kernel refuses a file some process is executing (ETXTBSY)
        // before it looks at the mount; other tests' runsc processes run
        // the same binary, so wait for a moment none does.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let refused = loop {
            let again = std::fs::OpenOptions::new()
                .write(true)
                .open(format!("/proc/self/fd/{}", f.as_raw_fd()));
            match again {
                Ok(_) => panic!("runsc's binary opened for writing through a sandbox's exe"),
                Err(e)
                    if e.raw_os_error() == Some(libc::ETXTBSY)
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => break e,
            }
        };
        assert_eq!(refused.raw_os_error(), Some(libc::EROFS), "{refused}");
    }
    // The read-only mount stayed in the sandbox's namespace.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(common::runsc_bin()), "{mounts}");
    env.assert_clean(&[&id]);
}

/// What each of `pid`'s descriptors points at, as /proc shows it.
fn fd_targets(pid: i32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .map(|e| {
            std::fs::read_link(e.path())
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// The sandbox and holder keep only their channels and their own files,
/// whatever their caller let them inherit.
#[test]
fn the_sandbox_and_holder_hold_no_stray_descriptors() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let id = env.id("stray");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    let stray_path = env.path().join("stray-file");
    let stray = std::fs::File::create(&stray_path).unwrap();
    let mut cmd = env.cmd(&["run", "-d", "-b", bundle.to_str().unwrap(), &id]);
    // Inherited as fd 9, as a careless caller's would be.
    common::pass_fd(&mut cmd, &stray, 9);
    let out = env.output(cmd);
    assert!(out.status.success(), "{}", stderr(&out));
    let state_dir = env.root.join(&id);
    let sandbox = common::sandbox_pid(&env, &id) as i32;
    // The pipe the holder (the pid `state` reports) waits on: its only
    // descriptor, whose other end the sandbox keeps.
    let holder = env.state(&id)["pid"].as_i64().unwrap();
    let holders = fd_targets(holder as i32);
    assert!(
        matches!(&holders[..], [p] if p.starts_with("pipe:[")),
        "{holders:?}"
    );
    for pid in [sandbox] {
        for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .flatten()
        {
            let target = std::fs::read_link(entry.path()).unwrap_or_default();
            let text = target.to_string_lossy();
            let allowed = text == "/dev/null"
                || text.starts_with("socket:[")
                || text.starts_with("anon_inode:")
                // The sandbox's own: the runtime's and the pod's namespaces.
                || (pid == sandbox && ["net:[", "uts:[", "ipc:["].iter().any(|n| text.starts_with(n)))
                || (pid == sandbox && text == holders[0])
                || target.starts_with(&state_dir)
                || target == env.log;
            assert!(
                allowed,
                "process {pid} holds fd {:?} -> {text}",
                entry.file_name()
            );
        }
    }
    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&id]);
}

#[test]
fn no_host_descriptor_reaches_the_container() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let id = env.id("fds");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), &id]);
    let init_fds = env.ok(&["exec", &id, "ls", "/proc/1/fd"]);
    assert_eq!(
        init_fds.split_whitespace().collect::<Vec<_>>(),
        ["0", "1", "2"],
        "init: {init_fds}"
    );
    // ls's own directory descriptor is the 4th.
    let exec_fds = env.ok(&["exec", &id, "ls", "/proc/self/fd"]);
    assert_eq!(
        exec_fds.split_whitespace().collect::<Vec<_>>(),
        ["0", "1", "2", "3"],
        "exec: {exec_fds}"
    );
    let cwd = env.ok(&["exec", &id, "readlink", "/proc/1/cwd"]);
    assert_eq!(cwd.trim(), "/");

    // CVE-2024-21626: a cwd through a descriptor to a host directory (here
    // one the caller preserved on purpose) must not leave the root.
    for n in 3..=24 {
        let cwd = format!("/proc/self/fd/{n}");
        let out = env.runsc(&["exec", "--cwd", &cwd, &id, "pwd"]);
        assert!(
            !out.status.success(),
            "exec with cwd {cwd}: {}",
            stdout(&out)
        );
    }
    let host_dir = std::fs::File::open(env.path()).unwrap();
    let mut cmd = env.cmd(&[
        "exec",
        "--preserve-fds",
        "1",
        "--cwd",
        "/proc/self/fd/3",
        &id,
        "pwd",
    ]);
    common::pass_fd(&mut cmd, &host_dir, 3);
    let out = env.output(cmd);
    assert_exec_fails_with(&out, "outside the container's root");
}

#[test]
fn a_symlinked_mount_destination_stays_inside_the_rootfs() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle(
        "b",
        &["sh", "-c", "ls /inside-target; cat /inside-target/marker"],
    );
    let source = env.path().join("source");
    let outside = env.path().join("outside");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(source.join("marker"), "mounted\n").unwrap();
    let rootfs = bundle.join("rootfs");
    // Absolute and ../-laden links that point outside the rootfs if
    // resolved on the host.
    std::os::unix::fs::symlink(&outside, rootfs.join("abs")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../inside-target", rootfs.join("rel")).unwrap();
    edit_config(&bundle, |c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"destination": "/abs/x", "type": "bind", "source": source, "options": ["rbind", "ro"]}));
        mounts.push(json!({"destination": "/rel", "type": "bind", "source": source, "options": ["rbind", "ro"]}));
    });
    let id = env.id("symlink");
    let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("mounted"), "{}", stdout(&out));
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "something was made outside the rootfs"
    );
    // The links were followed inside the rootfs.
    assert!(rootfs
        .join(outside.strip_prefix("/").unwrap())
        .join("x")
        .exists());
    env.assert_clean(&[&id]);
}

#[test]
fn read_only_mounts_cannot_be_made_writable_without_cap_sys_admin() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let source = env.path().join("source");
    std::fs::create_dir(&source).unwrap();
    let bundle = env.bundle("b", &["sh", "-c", "mount -o remount,rw /ro 2>&1; mount -o remount,rw,bind /ro 2>&1; touch /ro/x 2>&1; echo done"]);
    edit_config(&bundle, |c| {
        c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/ro", "type": "bind", "source": source, "options": ["rbind", "ro"]}));
    });
    let id = env.id("remount");
    let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Read-only file system"),
        "{}",
        stdout(&out)
    );
    assert_eq!(std::fs::read_dir(&source).unwrap().count(), 0);
    env.assert_clean(&[&id]);
}

/// CAP_CHOWN 0, DAC_OVERRIDE 1, DAC_READ_SEARCH 2, KILL 5, SETGID 6,
/// SETUID 7, SETPCAP 8, SYS_CHROOT 18, SYS_PTRACE 19, SYS_ADMIN 21,
/// SYS_RESOURCE 24, MKNOD 27: what a serving sandbox still uses itself.
const SANDBOX_NEEDS: [u32; 12] = [0, 1, 2, 5, 6, 7, 8, 18, 19, 21, 24, 27];
const CAP_SYS_TIME: u32 = 25;

/// A capability mask, as /proc/<pid>/status prints it, of these bits.
fn cap_mask(bits: &[u32]) -> String {
    format!("{:016x}", bits.iter().fold(0u64, |m, b| m | (1 << b)))
}

#[test]
fn the_sandbox_keeps_only_what_it_uses_and_its_container_is_granted() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    // A container that runs as another user with one capability no
    // sandbox needs: exec, kill and ps must still work from a sandbox that
    // has given up everything else.
    edit_config(&bundle, |c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        let only = json!(["CAP_SYS_TIME"]);
        c["process"]["capabilities"] = json!({
            "bounding": only, "effective": only, "permitted": only,
        });
    });
    let id = env.id("caps");
    let sub = env.id("capsub");
    let _r = Reaper {
        env: &env,
        ids: vec![sub.clone(), id.clone()],
    };
    env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), &id]);
    let sandbox = common::sandbox_pid(&env, &id) as i32;
    let mut bits = SANDBOX_NEEDS.to_vec();
    bits.push(CAP_SYS_TIME);
    // What we run with bounds it (this harness lacks CAP_SYS_RESOURCE).
    let ours = u64::from_str_radix(&proc_status(std::process::id() as i32, "CapBnd"), 16).unwrap();
    let expected = format!(
        "{:016x}",
        u64::from_str_radix(&cap_mask(&bits), 16).unwrap() & ours
    );
    for set in ["CapBnd", "CapPrm", "CapEff"] {
        assert_eq!(proc_status(sandbox, set), expected, "sandbox {set}");
    }
    assert_eq!(proc_status(sandbox, "CapAmb"), cap_mask(&[]));

    let out = env.runsc(&[
        "exec",
        &id,
        "sh",
        "-c",
        "id -u; grep CapBnd /proc/self/status",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("1000\nCapBnd:\t{}\n", cap_mask(&[CAP_SYS_TIME]))
    );
    // A capability the sandbox keeps may be added; one it gave up may not,
    // and the refusal forks nothing.
    let out = env.runsc(&["exec", "--cap", "CAP_SYS_ADMIN", &id, "true"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = env.runsc(&["exec", "--cap", "CAP_SYS_MODULE", &id, "true"]);
    assert_exec_fails_with(&out, "capability CAP_SYS_MODULE is not held by sandbox");
    let pids: Vec<i64> = serde_json::from_str(&env.ok(&["ps", "-f", "json", &id])).unwrap();
    assert_eq!(pids.len(), 1, "processes after a refused exec: {pids:?}");

    // A subcontainer set up by this sandbox: mounts, devices, a user.
    let sub_bundle = env.bundle(
        "sub",
        &["sh", "-c", "id -u; ls /dev/null; cat /proc/mounts"],
    );
    edit_config(&sub_bundle, |c| {
        c["annotations"] = json!({
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.sandbox-id": &id,
        });
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["capabilities"] = json!({});
    });
    let out = env.runsc(&["run", "-b", sub_bundle.to_str().unwrap(), &sub]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("1000\n/dev/null\n"), "{text}");
    assert!(text.contains(" /dev/shm "), "{text}");

    env.ok(&["kill", &id, "KILL"]);
    let out = env.runsc(&["wait", &id]);
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    env.ok(&["delete", &id]);
    env.assert_clean(&[&id, &sub]);
}

#[test]
fn a_pod_sandbox_keeps_what_later_containers_may_be_granted() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let pod_bundle = env.bundle("pod", &["sleep", "1000"]);
    edit_config(&pod_bundle, |c| {
        c["annotations"] = json!({"io.kubernetes.cri.container-type": "sandbox"});
    });
    let lone_bundle = env.bundle("lone", &["sleep", "1000"]);
    let pod = env.id("pod");
    let lone = env.id("lone");
    let joins_pod = env.id("sub1");
    let joins_lone = env.id("sub2");
    let _r = Reaper {
        env: &env,
        ids: vec![
            joins_pod.clone(),
            joins_lone.clone(),
            pod.clone(),
            lone.clone(),
        ],
    };
    env.ok(&["run", "-d", "-b", pod_bundle.to_str().unwrap(), &pod]);
    env.ok(&["run", "-d", "-b", lone_bundle.to_str().unwrap(), &lone]);
    let sandbox = common::sandbox_pid(&env, &pod) as i32;
    let ours = proc_status(std::process::id() as i32, "CapBnd");
    assert_eq!(proc_status(sandbox, "CapPrm"), ours, "pod sandbox");

    // A container asking for CAP_SYS_MODULE joins the pod's sandbox, but
    // not the one of a lone container that never had it.
    let sub = |name: &str, sandbox_id: &str| {
        let bundle = env.bundle(name, &["sleep", "1000"]);
        edit_config(&bundle, |c| {
            c["annotations"] = json!({
                "io.kubernetes.cri.container-type": "container",
                "io.kubernetes.cri.sandbox-id": sandbox_id,
            });
            c["process"]["capabilities"]["bounding"] = json!(["CAP_SYS_MODULE"]);
        });
        bundle
    };
    let bundle = sub("sub1", &pod);
    env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), &joins_pod]);
    let bundle = sub("sub2", &lone);
    let out = env.runsc(&["create", "-b", bundle.to_str().unwrap(), &joins_lone]);
    assert_fails_with(&out, "capability CAP_SYS_MODULE is not held by sandbox");
    assert!(env.runsc(&["state", &joins_lone]).status.code() == Some(1));

    for id in [&joins_pod, &pod, &lone] {
        env.ok(&["delete", "--force", id]);
    }
    env.assert_clean(&[&joins_pod, &joins_lone, &pod, &lone]);
}
