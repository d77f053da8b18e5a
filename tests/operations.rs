//! exec, ps, pause/resume, events and update on real running containers.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{
    assert_exec_fails_with, assert_fails_with, cgroup_dirs, edit_config, running, stderr, stdout,
    Env, Reaper,
};
use serde_json::json;

#[test]
fn exec_runs_in_the_container_with_flags() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let (id, _r) = running(&env, "b", &["sleep", "1000"]);
    let out = env.runsc(&[
        "exec",
        &id,
        "sh",
        "-c",
        "echo pid=$$ host=$(hostname); exit 9",
    ]);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    let text = stdout(&out);
    // A fresh process of the container's pid namespace, not pid 1.
    assert!(
        text.starts_with("pid=") && !text.starts_with("pid=1 "),
        "{text}"
    );
    assert!(text.contains("host=runsc"), "{text}");

    let out = env.runsc(&[
        "exec",
        "--env",
        "FOO=bar",
        "--cwd",
        "/tmp",
        "--user",
        "1000:1000",
        "--additional-gids",
        "7",
        &id,
        "sh",
        "-c",
        "echo $FOO $(pwd) $(id -u) $(id -G); grep NoNewPrivs /proc/self/status",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("bar /tmp 1000 1000 7\n"),
        "{}",
        stdout(&out)
    );

    // The container's namespaces: same mount, net and pid namespaces as its init.
    let out = env.runsc(&[
        "exec",
        &id,
        "sh",
        "-c",
        "for n in mnt net pid; do readlink /proc/1/ns/$n; readlink /proc/self/ns/$n; done",
    ]);
    let links: Vec<String> = stdout(&out).lines().map(String::from).collect();
    assert_eq!(links.len(), 6, "{links:?}");
    for pair in links.chunks(2) {
        assert_eq!(pair[0], pair[1]);
    }

    // --cap adds to the container's capabilities; --no-new-privs sets it.
    let out = env.runsc(&[
        "exec",
        "--cap",
        "CAP_SYS_ADMIN",
        "--no-new-privs",
        &id,
        "grep",
        "-E",
        "CapEff|NoNewPrivs",
        "/proc/self/status",
    ]);
    let text = stdout(&out);
    let eff = text
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(str::trim)
        .unwrap_or("");
    let mask = u64::from_str_radix(eff, 16).unwrap_or(0);
    assert!(mask & (1 << 21) != 0, "no CAP_SYS_ADMIN in {text}");
    assert!(text.contains("NoNewPrivs:\t1"), "{text}");
    let out = env.runsc(&["exec", &id, "grep", "CapEff", "/proc/self/status"]);
    let eff = stdout(&out)
        .trim()
        .trim_start_matches("CapEff:")
        .trim()
        .to_string();
    assert_eq!(
        u64::from_str_radix(&eff, 16).unwrap() & (1 << 21),
        0,
        "exec without --cap got CAP_SYS_ADMIN"
    );

    assert_exec_fails_with(
        &env.runsc(&["exec", &id, "nosuchcmd"]),
        "executable file not found in $PATH",
    );

    let process = env.path().join("process.json");
    std::fs::write(
        &process,
        json!({
            "args": ["sh", "-c", "echo from-json $X"], "env": ["X=1", "PATH=/bin"], "cwd": "/",
            "user": {"uid": 0, "gid": 0}
        })
        .to_string(),
    )
    .unwrap();
    let out = env.runsc(&["exec", "--process", process.to_str().unwrap(), &id]);
    assert_eq!(stdout(&out), "from-json 1\n", "{}", stderr(&out));
}

#[test]
fn exec_preserves_fds_and_forwards_signals() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let (id, _r) = running(&env, "b", &["sleep", "1000"]);
    let (reader, writer) = std::io::pipe().unwrap();
    let mut cmd = env.cmd(&[
        "exec",
        "--preserve-fds",
        "1",
        &id,
        "sh",
        "-c",
        "echo through-fd3 >&3",
    ]);
    common::pass_fd(&mut cmd, &writer, 3);
    let status = cmd.status().unwrap();
    drop(writer);
    assert!(status.success());
    let mut got = String::new();
    BufReader::new(reader).read_to_string(&mut got).unwrap();
    assert_eq!(got, "through-fd3\n");

    let pids = |env: &Env| -> usize {
        serde_json::from_str::<Vec<i64>>(&env.ok(&["ps", "-f", "json", &id])).map_or(0, |p| p.len())
    };
    let before = pids(&env);
    let mut child = env
        .cmd(&["exec", &id, "sleep", "1000"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Signalled once its process runs: a fixed delay is too short in an
    // emulated guest (tools/vmtest), where the frontend starts ~25x slower.
    let deadline = Instant::now() + Duration::from_secs(30);
    while pids(&env) <= before {
        assert!(Instant::now() < deadline, "exec'd process never appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143));
}

#[test]
fn detached_exec_pid_file_mirrors_the_exit_status() {
    if common::skip_without_root() {
        return;
    }
    // Orphans become ours, as they become the shim's.
    if !common::in_subreaper_process("detached_exec_pid_file_mirrors_the_exit_status") {
        return;
    }
    let env = Env::new();
    let (id, _r) = running(&env, "b", &["sleep", "1000"]);
    let pid_file = env.path().join("exec.pid");
    env.ok(&[
        "exec",
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
        "sh",
        "-c",
        "sleep 0.3; exit 42",
    ]);
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None).unwrap();
    assert_eq!(
        status,
        nix::sys::wait::WaitStatus::Exited(nix::unistd::Pid::from_raw(pid), 42)
    );
}

#[test]
fn ps_lists_host_pids() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let (id, _r) = running(&env, "b", &["sh", "-c", "sleep 1000 & wait"]);
    std::thread::sleep(Duration::from_millis(200));
    let out = env.ok(&["ps", "--format", "json", &id]);
    let pids: Vec<i32> = serde_json::from_str(&out).expect("json pids");
    assert_eq!(pids.len(), 2, "{pids:?}");
    for pid in &pids {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
        assert!(comm.trim() == "sh" || comm.trim() == "sleep", "{comm}");
    }
    let table = env.ok(&["ps", &id]);
    let rows: Vec<&str> = table.lines().collect();
    assert!(
        rows[0].contains("PID") && rows[0].contains("CMD"),
        "{table}"
    );
    assert_eq!(rows.len(), 3, "{table}");
    assert!(rows.iter().any(|r| r.contains("sleep 1000")), "{table}");
}

#[test]
fn pause_freezes_and_resume_thaws() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let shared = env.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let bundle = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "i=0; while true; do i=$((i+1)); echo $i > /shared/count; sleep 0.05; done",
        ],
    );
    edit_config(&bundle, |c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/shared", "type": "bind", "source": shared, "options": ["rbind"]
        }));
    });
    let id = env.id("counter");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), &id]);
    // `echo > file` truncates before it writes: a read can land between
    // the two and see nothing, so read again until there is a number
    // (while running; a pause can freeze the shell between the two).
    let raw = || std::fs::read_to_string(shared.join("count")).unwrap_or_default();
    let count = || -> u64 {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let text = std::fs::read_to_string(shared.join("count")).unwrap_or_default();
            if let Ok(n) = text.trim().parse() {
                return n;
            }
            assert!(Instant::now() < deadline, "no count in {text:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    std::thread::sleep(Duration::from_millis(300));
    let before = count();
    env.ok(&["pause", &id]);
    assert_eq!(env.state(&id)["status"], "paused");
    let frozen = raw();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(raw(), frozen, "the counter moved while paused");
    assert_exec_fails_with(&env.runsc(&["exec", &id, "true"]), "paused");
    assert_fails_with(&env.runsc(&["pause", &id]), "paused");
    let pids: Vec<i32> = serde_json::from_str(&env.ok(&["ps", "-f", "json", &id])).unwrap();
    assert!(!pids.is_empty());
    env.ok(&["resume", &id]);
    assert_eq!(env.state(&id)["status"], "running");
    let deadline = Instant::now() + Duration::from_secs(10);
    while count() <= before + 2 {
        assert!(
            Instant::now() < deadline,
            "the counter did not go on: {} after {before}",
            count()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A paused container can still be killed and deleted.
    env.ok(&["pause", &id]);
    env.ok(&["kill", &id, "KILL"]);
    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&id]);
}

fn pids_current(id: &str) -> u64 {
    cgroup_dirs(&format!("runsc/{id}"))
        .into_iter()
        .find_map(|d| std::fs::read_to_string(d.join("pids.current")).ok())
        .and_then(|s| s.trim().parse().ok())
        .expect("pids.current")
}

#[test]
fn update_lowers_pids_max_and_forks_fail() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let (id, _r) = running(&env, "b", &["sleep", "1000"]);
    env.ok(&["exec", &id, "true"]);
    let current = pids_current(&id);
    env.ok(&["update", "--pids-limit", &current.to_string(), &id]);
    let out = env.runsc(&["exec", &id, "true"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(
        stderr(&out).contains("resource temporarily unavailable"),
        "{}",
        stderr(&out)
    );
    // containerd's form: LinuxResources on stdin.
    let mut child = env
        .cmd(&["update", "--resources", "-", &id])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"pids": {"limit": 100}}"#)
        .unwrap();
    assert!(child.wait().unwrap().success());
    env.ok(&["exec", &id, "true"]);
}

#[test]
fn events_stats_and_oom() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sh", "-c", "while true; do dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; sleep 0.2; done"]);
    edit_config(&bundle, |c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 33554432, "swap": 33554432})
    });
    let id = env.id("events");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), &id]);
    let one: serde_json::Value =
        serde_json::from_str(&env.ok(&["events", "--stats", &id])).unwrap();
    assert_eq!(one["type"], "stats");
    assert_eq!(one["id"], id);
    assert!(
        one["data"]["pids"]["current"].as_u64().unwrap() >= 1,
        "{one}"
    );
    assert_eq!(one["data"]["memory"]["usage"]["limit"], 33554432, "{one}");
    assert!(
        one["data"]["cpu"]["usage"]["total"].as_u64().unwrap() > 0,
        "{one}"
    );

    let mut stream = env
        .cmd(&["events", "--interval", "100ms", &id])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(stream.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut saw_oom = false;
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        if v["type"] == "oom" {
            saw_oom = true;
            break;
        }
        assert!(Instant::now() < deadline, "no oom event");
    }
    let _ = stream.kill();
    let _ = stream.wait();
    assert!(saw_oom);
}
