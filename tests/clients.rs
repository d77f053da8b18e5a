//! runsc under the real clients: a private containerd driven by `ctr`, a
//! private dockerd driven by `docker`, and `runsc do` (`runsc install`'s
//! file edits are tests/cli.rs).
//! The daemons come from Debian's packages and are stopped by pid.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::daemons::{remove_empty_cgroup, run, Containerd, Dockerd};
use common::{runsc_bin, stderr, stdout, Env};

/// `systemctl show UNIT -p PROPERTY`, as `Key=value`.
fn unit_property(unit: &str, property: &str) -> String {
    let out = run(Command::new("systemctl").args(["show", unit, "-p", property]));
    stdout(&out).trim().to_owned()
}

#[test]
fn containerd_runs_containers_through_runsc() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let ctd = Containerd::start(&env);
    ctd.import_busybox(&env);
    let image = "runsc-test/busybox:1";
    let runtime = runsc_bin();

    // Output of a process that exits right after printing went missing
    // once here (exit 0, empty stdout) in a loaded CI run and never in ten
    // runs alone: containerd's IO path is known for such races with
    // short-lived processes (e.g. concourse/concourse#6775). So the first
    // attempt may come back empty; a second empty one is a failure.
    let echo = |name: &str| {
        ctd.ctr(&[
            "run",
            "--rm",
            "--runc-binary",
            runtime,
            image,
            name,
            "echo",
            "hello from containerd",
        ])
    };
    let mut out = echo("echo1");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    if stdout(&out).is_empty() {
        out = echo("echo2");
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    assert_eq!(stdout(&out), "hello from containerd\n");
    let out = ctd.ctr(&[
        "run",
        "--rm",
        "--runc-binary",
        runtime,
        image,
        "exit7",
        "sh",
        "-c",
        "exit 7",
    ]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));

    ctd.ok(&[
        "run",
        "-d",
        "--runc-binary",
        runtime,
        image,
        "bg",
        "sleep",
        "1000",
    ]);
    let tasks = ctd.ok(&["task", "ls"]);
    assert!(
        tasks
            .lines()
            .any(|l| l.starts_with("bg ") && l.contains("RUNNING")),
        "{tasks}"
    );
    let out = ctd.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        "bg",
        "sh",
        "-c",
        "echo exec works; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "exec works\n");
    let ps = ctd.ok(&["task", "ps", "bg"]);
    assert_eq!(ps.lines().count(), 2, "{ps}");
    ctd.ok(&["task", "pause", "bg"]);
    assert!(ctd.ok(&["task", "ls"]).contains("PAUSED"));
    ctd.ok(&["task", "resume", "bg"]);
    assert!(ctd.ok(&["task", "ls"]).contains("RUNNING"));
    ctd.ok(&["task", "kill", "-s", "SIGKILL", "bg"]);
    ctd.wait_stopped();
    ctd.ok(&["task", "delete", "bg"]);
    ctd.ok(&["container", "delete", "bg"]);

    // A terminal: ctr gets the pty master through the console socket.
    let out = run(Command::new("script").args([
        "-qec",
        &format!(
            "ctr --address {} --namespace {} run -t --rm --runc-binary {runtime} {image} tty1 sh -c 'tty; exit 5'",
            ctd.address.display(),
            ctd.namespace
        ),
        "/dev/null",
    ]));
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("/dev/pts/0"), "{}", stdout(&out));

    // The systemd cgroup driver's slice:prefix:name, with --systemd-cgroup
    // on every runsc command the shim runs.
    let slice = format!("rs{}.slice", env.id("s").trim_start_matches("s-"));
    let out = ctd.ctr(&[
        "run",
        "--rm",
        "--runc-binary",
        runtime,
        "--runc-systemd-cgroup",
        "--cgroup",
        &format!("{slice}:ctr:sd1"),
        image,
        "sd1",
        "cat",
        "/proc/self/cgroup",
    ]);
    remove_empty_cgroup(&slice);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let place = format!(":/{slice}/ctr-sd1.scope");
    assert!(
        stdout(&out).lines().any(|l| l.ends_with(&place)),
        "{}",
        stdout(&out)
    );

    // A command that cannot run says why (at create, as runc), in
    // containerd's error, from our --log.
    let out = ctd.ctr(&[
        "run",
        "--rm",
        "--runc-binary",
        runtime,
        image,
        "bad",
        "/no/such/binary",
    ]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("/no/such/binary"), "{}", stderr(&out));
    let _ = ctd.ctr(&["container", "delete", "bad"]);
}

#[test]
fn containerd_checkpoints_and_restores_through_runsc() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let ctd = Containerd::start(&env);
    ctd.import_busybox(&env);
    let runtime = runsc_bin();
    ctd.ok(&[
        "run",
        "-d",
        "--runc-binary",
        runtime,
        "runsc-test/busybox:1",
        "cr",
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo $i >> /tmp/log; sleep 0.05; done",
    ]);
    let log = |ctd: &Containerd| -> Vec<u64> {
        let out = ctd.ctr(&["task", "exec", "--exec-id", "log", "cr", "cat", "/tmp/log"]);
        // Only complete lines: the counter may be halfway through the last.
        let mut text = stdout(&out);
        text.truncate(text.rfind('\n').map_or(0, |i| i + 1));
        text.lines().filter_map(|l| l.trim().parse().ok()).collect()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while log(&ctd).len() < 5 {
        assert!(Instant::now() < deadline, "the counter never counted");
        std::thread::sleep(Duration::from_millis(50));
    }

    // containerd pauses, runs `runsc checkpoint --leave-running` with its
    // own image and work paths, resumes, and keeps the image as content.
    ctd.ok(&[
        "container",
        "checkpoint",
        "--task",
        "--image",
        "cr",
        "checkpoint/cr:1",
    ]);
    assert!(ctd.ok(&["task", "ls"]).contains("RUNNING"));
    ctd.ok(&["task", "kill", "-s", "SIGKILL", "cr"]);
    ctd.wait_stopped();
    ctd.ok(&["task", "delete", "cr"]);
    ctd.ok(&["container", "delete", "cr"]);

    // `runsc restore --detach ... -no-subreaper` (containerd's spelling) in
    // a fresh snapshot: /tmp/log starts again, but the counter does not.
    ctd.ok(&["container", "restore", "--live", "cr", "checkpoint/cr:1"]);
    assert!(ctd.ok(&["task", "ls"]).contains("RUNNING"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while log(&ctd).len() < 3 {
        assert!(
            Instant::now() < deadline,
            "the restored counter never counted"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let values = log(&ctd);
    assert!(values[0] > 5, "the counter restarted: {values:?}");
    for pair in values.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "{values:?}");
    }
    ctd.ok(&["task", "kill", "-s", "SIGKILL", "cr"]);
    ctd.wait_stopped();
    ctd.ok(&["task", "delete", "cr"]);
    ctd.ok(&["container", "delete", "cr"]);
}

#[test]
fn docker_runs_containers_through_runsc() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    // `runsc install` writes the daemon configuration dockerd reads.
    let d = Dockerd::with_runsc(&env);
    let bundle = env.bundle("image", &["sh"]);
    d.import(&env, &bundle.join("rootfs"), "runsc-test/busybox:1");
    let image = "runsc-test/busybox:1";
    let common = ["--runtime", "runsc-test", "--network", "none"];

    let out = d.docker(
        &[
            &["run", "--rm"][..],
            &common,
            &[image, "sh", "-c", "echo hello from docker; exit 6"],
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello from docker\n");

    // The options a hardened deployment uses, each seen from inside.
    let data = env.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("f"), "host data\n").unwrap();
    let volume = format!("{}:/data:ro", data.display());
    let out = d.docker(
        &[
            &[
                "run",
                "--rm",
                "--read-only",
                "--tmpfs",
                "/run",
                "--user",
                "1000:1000",
            ][..],
            &["--cap-drop", "ALL", "--security-opt", "no-new-privileges"],
            &[
                "--pids-limit",
                "50",
                "--memory",
                "64m",
                "--ulimit",
                "nofile=512:512",
            ],
            &["--hostname", "hardy", "-v", &volume],
            &common,
            &[
                image,
                "sh",
                "-c",
                "id -u; hostname; ulimit -n; cat /data/f; (touch /x) 2>&1; \
                 touch /run/x && echo run-ok; grep -E 'NoNewPrivs|CapEff' /proc/self/status; \
                 cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max \
                 /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null; true",
            ],
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "1000\nhardy\n512\nhost data\ntouch: /x: Read-only file system\nrun-ok\n\
         CapEff:\t0000000000000000\nNoNewPrivs:\t1\n67108864\n50\n"
    );

    d.ok(&[
        &["run", "-d", "--name", "bg"][..],
        &common,
        &[image, "sleep", "1000"],
    ]
    .concat());
    assert_eq!(
        d.ok(&["exec", "bg", "sh", "-c", "echo exec works"]),
        "exec works\n"
    );
    let top = d.ok(&["top", "bg"]);
    assert!(top.contains("sleep 1000"), "{top}");
    d.ok(&["pause", "bg"]);
    assert!(d.ok(&["ps", "--format", "{{.Status}}"]).contains("Paused"));
    d.ok(&["unpause", "bg"]);
    // On pure cgroup v2 with systemd as init dockerd's default driver is
    // systemd's: the container is a scope unit of ours; stats and update
    // go through its cgroup; the unit goes with the container.
    let systemd = Path::new("/run/systemd/system").is_dir()
        && Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let scope = systemd.then(|| {
        let driver = d.ok(&["info", "-f", "{{.CgroupDriver}}"]);
        assert_eq!(driver.trim(), "systemd");
        let full = d.ok(&["inspect", "-f", "{{.Id}}", "bg"]);
        let unit = format!("docker-{}.scope", full.trim());
        assert_eq!(unit_property(&unit, "ActiveState"), "ActiveState=active");
        d.ok(&["update", "--memory", "64m", "--memory-swap", "128m", "bg"]);
        let max = format!("/sys/fs/cgroup/system.slice/{unit}/memory.max");
        let max = std::fs::read_to_string(&max).unwrap_or_else(|e| panic!("{max}: {e}"));
        assert_eq!(max.trim(), "67108864");
        assert_eq!(unit_property(&unit, "MemoryMax"), "MemoryMax=67108864");
        let stats = d.ok(&["stats", "--no-stream", "--format", "{{.MemUsage}}", "bg"]);
        assert!(stats.contains("/ 64MiB"), "{stats}");
        unit
    });
    // `sleep` as pid 1 ignores SIGTERM, so stop escalates to SIGKILL.
    d.ok(&["stop", "-t", "1", "bg"]);
    let status = d.ok(&["inspect", "-f", "{{.State.ExitCode}}", "bg"]);
    assert_eq!(status.trim(), "137");
    d.ok(&["rm", "bg"]);
    if let Some(unit) = scope {
        assert_eq!(unit_property(&unit, "LoadState"), "LoadState=not-found");
    }

    // docker run -it: the pty comes through the shim's console socket.
    let line = format!(
        "docker -H {} run -it --rm --runtime runsc-test --network none {image} sh -c 'tty; exit 4'",
        d.host
    );
    let out = run(Command::new("script").args(["-qec", &line, "/dev/null"]));
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("/dev/pts/0"), "{}", stdout(&out));
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
}

#[test]
fn do_runs_a_command_over_the_host_root() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let root = env.root.to_str().unwrap().to_string();
    let runsc = |args: &[&str]| {
        run(Command::new(runsc_bin())
            .arg("--root")
            .arg(&root)
            .args(args)
            .current_dir("/"))
    };
    let out = runsc(&["do", "--", "cat", "/etc/os-release"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        std::fs::read_to_string("/etc/os-release").unwrap()
    );

    let marker = format!("/etc/runsc-do-{}", std::process::id());
    let script = format!("echo kept > {marker} && cat {marker}; id -u; pwd; exit 3");
    let out = runsc(&["do", "--env", "X=1", "--", "sh", "-c", &script]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "kept\n0\n/\n");
    assert!(!Path::new(&marker).exists(), "a write leaked to the host");

    // Network none: loopback only.
    let out = runsc(&[
        "do",
        "--",
        "sh",
        "-c",
        "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '",
    ]);
    assert_eq!(stdout(&out), "lo\n");

    let bundle = env.bundle("b", &["true"]);
    let out = runsc(&[
        "do",
        "--root-fs",
        bundle.join("rootfs").to_str().unwrap(),
        "--",
        "cat",
        "/etc/hostname",
    ]);
    assert_eq!(stdout(&out), "runsc\n", "{}", stderr(&out));

    // ^C (SIGINT) to `do` reaches the command, and `do` still cleans up.
    let mut child = Command::new(runsc_bin())
        .arg("--root")
        .arg(&root)
        .args(["do", "--", "sh", "-c"])
        .arg("trap 'echo got INT; exit 5' INT; echo ready; while :; do sleep 0.1; done")
        .current_dir("/")
        .stdout(Stdio::piped())
        .spawn()
        .expect("runsc do");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    // Were SIGINT to kill `do` instead, its container would hold the pipe
    // open and the reads below would block: remove it after a while.
    let watchdog_root = root.clone();
    let _watchdog = common::Watchdog::new(Duration::from_secs(20), move || {
        let listed = run(Command::new(runsc_bin()).args(["--root", &watchdog_root, "list", "-q"]));
        for id in stdout(&listed).lines() {
            let _ =
                run(Command::new(runsc_bin()).args(["--root", &watchdog_root, "delete", "-f", id]));
        }
    });
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "got INT");
    assert_eq!(child.wait().unwrap().code(), Some(5));
    env.assert_clean(&[]);
}

#[test]
fn docker_seccomp_unconfined_keeps_the_baseline() {
    if common::skip_without_root() {
        return;
    }
    // Only the global flag (here a runtime registered with it) or an
    // annotation gives interfaces back; Docker's unconfined does not.
    // (Debian 12's dockerd, API 1.41, cannot pass annotations.)
    let env = Env::new();
    let config = env.path().join("daemon.json");
    std::fs::write(&config, "{\"log-level\": \"warn\"}").unwrap();
    for (runtime, args) in [
        ("runsc-test", &[][..]),
        ("runsc-off", &["--", "--baseline-seccomp=off"][..]),
    ] {
        let install = [
            &["install", "--config-file", config.to_str().unwrap()][..],
            &["--runtime", runtime],
            args,
        ]
        .concat();
        let out = run(Command::new(runsc_bin()).args(install));
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let d = Dockerd::start(&env, &config);
    let bundle = env.bundle("image", &["sh"]);
    common::install_program(&bundle, "baseline_probe");
    let tar = env.path().join("rootfs.tar");
    let rootfs = bundle.join("rootfs");
    let packed = run(Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg("."));
    assert!(packed.status.success());
    let image = "runsc-test/probe:1";
    d.ok(&["import", tar.to_str().unwrap(), image]);
    let probe = |runtime: &str, extra: &[&str]| -> Vec<String> {
        let args = [
            &["run", "--rm", "--network", "none", "--runtime", runtime][..],
            extra,
            &[image, "/bin/baseline_probe"],
        ]
        .concat();
        let out = d.ok(&args);
        ["io_uring_setup", "unshare_newuser", "af_vsock"]
            .iter()
            .map(|name| {
                let line = out.lines().find(|l| l.starts_with(&format!("{name}=")));
                line.unwrap_or_default().to_string()
            })
            .collect()
    };
    let unconfined = ["--security-opt", "seccomp=unconfined"];
    let refused = [
        "io_uring_setup=EPERM",
        "unshare_newuser=EPERM",
        "af_vsock=EAFNOSUPPORT",
    ];
    assert_eq!(probe("runsc-test", &unconfined), refused);
    assert_eq!(probe("runsc-test", &[]), refused);
    let reached = ["io_uring_setup=EFAULT", "unshare_newuser=0", "af_vsock=fd"];
    assert_eq!(probe("runc", &unconfined), reached);
    assert_eq!(probe("runsc-off", &unconfined), reached);
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
}
