//! The pid we report is the holder's (sandbox/src/holder.rs): a process in
//! the container's mount, network, uts, ipc namespaces and cgroup, which
//! exits with the container's status, as the init that runc reports does,
//! and which can do nothing but wait.

mod common;

use std::process::Command;

use common::{init_pid, ns_of, Env, Reaper};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

/// `run -d` of `cmd`; the container's id and the pid its pid file holds.
fn detached(env: &Env, name: &str, cmd: &[&str]) -> (String, i32) {
    let bundle = env.bundle(name, cmd);
    let id = env.id(name);
    let pid_file = env.path().join(format!("{name}.pid"));
    env.ok(&[
        "run",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "-b",
        bundle.to_str().unwrap(),
        &id,
    ]);
    let pid = std::fs::read_to_string(&pid_file)
        .expect("read pid file")
        .trim()
        .parse()
        .expect("a pid in the pid file");
    (id, pid)
}

/// Reaps `pid`, which must be our child, and returns its status as a
/// shim reports it: the exit code, or 128 + the signal that killed it
/// (`delete --force` SIGKILLs the holder, as runc's SIGKILLs its init).
fn exit_code_of(pid: i32) -> i32 {
    match waitpid(Pid::from_raw(pid), None).expect("wait for the reported pid") {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, signal, _) => 128 + signal as i32,
        other => panic!("reported pid {pid} ended as {other:?}"),
    }
}

/// The holder runs strict mode's three calls as a filter stacked on the
/// sandbox's (strict mode refuses a process that already has one).
fn assert_one_filter_over(holder: i32, sandbox: i32) {
    let filters = |p: i32| -> u32 {
        status_field(p, "Seccomp_filters:")
            .parse()
            .expect("Seccomp_filters")
    };
    assert_eq!(status_field(holder, "Seccomp:"), "2", "filter mode");
    assert_eq!(filters(holder), filters(sandbox) + 1, "one filter more");
}

fn status_field(pid: i32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

#[test]
fn the_reported_pid_exits_with_the_containers_status() {
    if common::skip_without_root() {
        return;
    }
    // The caller that reaps it is a subreaper, as a shim or conmon is.
    if !common::in_subreaper_process("the_reported_pid_exits_with_the_containers_status") {
        return;
    }
    let env = Env::new();
    // It exits 7 once the test has looked (a file in its rootfs says go).
    let wait_then_7 = "while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 7";
    let (a, pid) = detached(&env, "a", &["sh", "-c", wait_then_7]);
    let _r = Reaper {
        env: &env,
        ids: vec![a.clone()],
    };
    assert_eq!(env.state(&a)["pid"].as_i64(), Some(i64::from(pid)));
    std::fs::write(env.path().join("a/rootfs/tmp/go"), b"").expect("write go");
    assert_eq!(exit_code_of(pid), 7);
    env.ok(&["delete", &a]);

    // Killed by a signal: 128 + the signal, as the shim expects.
    let (b, pid) = detached(&env, "b", &["sleep", "1000"]);
    env.ok(&["kill", &b, "KILL"]);
    assert_eq!(exit_code_of(pid), 137);
    env.ok(&["delete", &b]);

    // A sandbox that dies without a word still ends its holder.
    let (c, pid) = detached(&env, "c", &["sleep", "1000"]);
    let sandbox = env.state(&c)["pid"].as_i64().expect("state.pid");
    assert_eq!(sandbox, i64::from(pid));
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(env.root.join(&c).join("meta.json")).expect("meta.json"),
    )
    .expect("meta json");
    let sandbox = meta["sandbox"]["pid"].as_i64().expect("sandbox pid");
    assert_ne!(sandbox, i64::from(pid));
    nix::sys::signal::kill(Pid::from_raw(sandbox as i32), nix::sys::signal::SIGKILL)
        .expect("kill the sandbox");
    assert_eq!(exit_code_of(pid), 137);
    env.ok(&["delete", "--force", &c]);
    env.assert_clean(&[&a, &b, &c]);
}

#[test]
fn the_reported_pid_lives_in_the_container_and_can_do_nothing() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let (id, pid) = detached(&env, "a", &["sleep", "1000"]);
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    let init = init_pid(&env, &id);
    let pid64 = i64::from(pid);
    for ns in ["mnt", "net", "uts", "ipc", "cgroup"] {
        assert_eq!(ns_of(pid64, ns), ns_of(init, ns), "{ns} namespace");
    }
    assert_ne!(ns_of(pid64, "mnt"), ns_of(std::process::id().into(), "mnt"));
    let cgroup = |p: i64| std::fs::read_to_string(format!("/proc/{p}/cgroup")).expect("cgroup");
    assert_eq!(cgroup(pid64), cgroup(init), "same cgroup as the init");

    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).expect("comm");
    assert_eq!(comm.trim(), "runsc-holder");
    // Its root is the container's: it entered after the init's pivot.
    let root = |p: i64| {
        let m = std::fs::metadata(format!("/proc/{p}/root/")).expect("root");
        (
            std::os::unix::fs::MetadataExt::dev(&m),
            std::os::unix::fs::MetadataExt::ino(&m),
        )
    };
    assert_eq!(root(pid64), root(init), "the holder's root is the init's");
    // No capability, one descriptor, and strict mode's three calls as a
    // filter stacked on the sandbox's.
    for caps in ["CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"] {
        assert_eq!(status_field(pid, caps), "0000000000000000", "{caps}");
    }
    assert_one_filter_over(pid, common::sandbox_pid(&env, &id) as i32);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).expect("fd dir");
    assert_eq!(fds.count(), 1, "descriptors of the holder");
    // Signals do not end it: the container goes on.
    nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::SIGTERM).expect("SIGTERM");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        status_field(pid, "State:").chars().next(),
        Some('S'),
        "holder after SIGTERM"
    );
    assert_eq!(env.state(&id)["status"], "running");
    assert_eq!(env.state(&id)["pid"].as_i64(), Some(pid64));

    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&id]);
}

#[test]
fn a_pods_later_container_reports_a_holder_of_its_own() {
    if common::skip_without_root() {
        return;
    }
    if !common::in_subreaper_process("a_pods_later_container_reports_a_holder_of_its_own") {
        return;
    }
    let env = Env::new();
    let (pod, pod_pid) = detached(&env, "pod", &["sleep", "1000"]);
    let sub = env.id("sub");
    let _r = Reaper {
        env: &env,
        ids: vec![pod.clone(), sub.clone()],
    };
    let wait_then_5 = "while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 5";
    let bundle = env.sub_bundle("sub", &pod, &["sh", "-c", wait_then_5]);
    std::fs::write(bundle.join("rootfs/sub-marker"), b"").expect("write marker");
    let pid_file = env.path().join("sub.pid");
    env.ok(&[
        "run",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "-b",
        bundle.to_str().unwrap(),
        &sub,
    ]);
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("read pid file")
        .trim()
        .parse()
        .expect("a pid in the pid file");
    let pid64 = i64::from(pid);
    assert_eq!(env.state(&sub)["pid"].as_i64(), Some(pid64));
    assert_ne!(pid, pod_pid, "the pod's holder");
    assert_ne!(pid64, common::sandbox_pid(&env, &pod), "the sandbox");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).expect("comm");
    assert_eq!(comm.trim(), "runsc-holder");

    // The later container's mount namespace and cgroup, the pod's others.
    let init = init_pid(&env, &sub);
    for ns in ["mnt", "net", "uts", "ipc", "cgroup"] {
        assert_eq!(ns_of(pid64, ns), ns_of(init, ns), "{ns} namespace");
    }
    assert_ne!(ns_of(pid64, "mnt"), ns_of(pod_pid.into(), "mnt"));
    let cgroup = |p: i64| std::fs::read_to_string(format!("/proc/{p}/cgroup")).expect("cgroup");
    assert_eq!(cgroup(pid64), cgroup(init), "same cgroup as its init");
    assert_ne!(cgroup(pid64), cgroup(pod_pid.into()), "the pod's cgroup");
    let out = Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-m", "--", "ls", "/"])
        .output()
        .expect("run nsenter");
    assert!(
        common::stdout(&out).lines().any(|l| l == "sub-marker"),
        "nsenter -m: {}",
        common::stderr(&out)
    );
    // No capability, one descriptor, and strict mode's three calls as a
    // filter stacked on the sandbox's (strict mode refuses a process that
    // already has one).
    for caps in ["CapPrm:", "CapEff:", "CapBnd:"] {
        assert_eq!(status_field(pid, caps), "0000000000000000", "{caps}");
    }
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).expect("fd dir");
    assert_eq!(fds.count(), 1, "descriptors of the holder");
    assert_one_filter_over(pid, common::sandbox_pid(&env, &pod) as i32);

    // It exits with its container's status; the pod goes on.
    std::fs::write(bundle.join("rootfs/tmp/go"), b"").expect("write go");
    assert_eq!(exit_code_of(pid), 5);
    assert_eq!(env.state(&pod)["status"], "running");
    env.ok(&["delete", &sub]);
    env.ok(&["delete", "--force", &pod]);
    assert_eq!(exit_code_of(pod_pid), 137);
    env.assert_clean(&[&pod, &sub]);
}

#[test]
fn nsenter_into_the_reported_pids_mount_namespace_sees_the_container() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let (id, pid) = detached(&env, "a", &["sleep", "1000"]);
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    // The container's files and, through its /proc, its processes only:
    // what `nsenter -t <runc's pid> -m` shows under runc.
    let out = Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-m", "--", "sh", "-c"])
        .arg("cat /proc/1/cmdline | tr '\\0' ' '; echo; ls /proc | grep -c '^[0-9]'; ls /")
        .output()
        .expect("run nsenter");
    assert!(out.status.success(), "nsenter: {}", common::stderr(&out));
    let text = common::stdout(&out);
    let mut lines = text.lines();
    assert_eq!(lines.next().map(str::trim), Some("sleep 1000"), "{text}");
    assert_eq!(lines.next(), Some("1"), "one process: {text}");
    assert!(lines.any(|l| l == "bin"), "the container's root: {text}");

    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&id]);
}

#[test]
fn a_pods_later_containers_leave_nothing_in_the_sandbox() {
    if common::skip_without_root() {
        return;
    }
    // Each later container's holder runs on a stack in the sandbox's
    // memory (its own mapping and a guard page), and the sandbox holds the
    // container's descriptors (its cgroup's files among them). Once the
    // container is deleted, stopped or not, both must go, or a pod whose
    // containers restart grows by them at every restart.
    let env = Env::new();
    let (pod, _) = detached(&env, "pod", &["sleep", "1000"]);
    let ids: Vec<String> = (0..12).map(|i| env.id(&format!("s{i}"))).collect();
    let mut reaped = vec![pod.clone()];
    reaped.extend(ids.iter().cloned());
    let _r = Reaper {
        env: &env,
        ids: reaped,
    };
    let sandbox = common::sandbox_pid(&env, &pod);
    let guards = || {
        let maps = std::fs::read_to_string(format!("/proc/{sandbox}/maps")).expect("maps");
        maps.lines().filter(|l| l.contains(" ---p ")).count()
    };
    let fds = || {
        std::fs::read_dir(format!("/proc/{sandbox}/fd"))
            .expect("fd dir")
            .count()
    };
    let ends = env.sub_bundle("ends", &pod, &["true"]);
    let sleeps = env.sub_bundle("sleeps", &pod, &["sleep", "1000"]);
    // A container that ends by itself, and one deleted while it runs (its
    // holder is then told to exit by its pipe closing).
    let one_of_each = |pair: &[String]| {
        env.ok(&["run", "-b", ends.to_str().unwrap(), &pair[0]]);
        env.ok(&["run", "-d", "-b", sleeps.to_str().unwrap(), &pair[1]]);
        env.ok(&["delete", "--force", &pair[1]]);
    };
    one_of_each(&ids[0..2]);
    let before = (guards(), fds());
    for pair in ids[2..].chunks(2) {
        one_of_each(pair);
    }
    // A holder still exiting when its container went is freed when the
    // sandbox next idles (250 ms).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while guards() != before.0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(guards(), before.0, "guard pages mapped in the sandbox");
    assert_eq!(fds(), before.1, "descriptors open in the sandbox");
    env.ok(&["delete", "--force", &pod]);
    let mut all = vec![pod.as_str()];
    all.extend(ids.iter().map(String::as_str));
    env.assert_clean(&all);
}
