//! containerd-shim-runsc-v1 under `ctr`: a lone container gets a shim of
//! its own, exec, pause and stats through it, and containerd's cleanup
//! after a killed shim leaves nothing behind. Also the runc shim's path:
//! a kill of a stopped container says runc's words.

mod common;
mod shim_support;

use common::{assert_fails_with, stdout, Env};
use shim_support::{cgroups_left, Containerd, BUSYBOX, RUNTIME};

#[test]
fn lone_container_with_exec_through_ctr() {
    let env = Env::new();
    let ctd = Containerd::start(&env, false);
    ctd.import_images(&env, "default");
    let options = ctd.options.to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let mut all = vec![
            "run",
            "--runtime",
            RUNTIME,
            "--runtime-config-path",
            &options,
        ];
        all.extend_from_slice(args);
        ctd.ctr("default", &all)
    };

    // An options file the shim cannot read: the error says which.
    let out = ctd.ctr(
        "default",
        &[
            "run",
            "--rm",
            "--runtime",
            RUNTIME,
            "--runtime-config-path",
            "/nonexistent.toml",
            BUSYBOX,
            "bad",
            "true",
        ],
    );
    assert_fails_with(&out, "runtime options file /nonexistent.toml");
    let _ = ctd.ctr("default", &["container", "delete", "bad"]);

    // A file:// log URI: output appended to that file.
    let logged = env.path().join("logged");
    let uri = format!("file://{}", logged.display());
    let out = run(&[
        "--rm",
        "--log-uri",
        &uri,
        BUSYBOX,
        "logged",
        "sh",
        "-c",
        "echo to the file",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&logged).unwrap_or_default(),
        "to the file\n"
    );

    // Output and exit status of a short-lived container.
    let out = run(&["--rm", BUSYBOX, "echo1", "sh", "-c", "echo hello; exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", common::stderr(&out));
    assert_eq!(stdout(&out), "hello\n");
    assert!(ctd.shims().is_empty(), "the shim outlived its container");

    // containerd's event stream, to see the exits the shim publishes.
    let events_file = env.path().join("events");
    let mut events = std::process::Command::new("ctr")
        .arg("--address")
        .arg(&ctd.address)
        .arg("events")
        .stdout(std::fs::File::create(&events_file).unwrap())
        .spawn()
        .expect("ctr events");
    let exits = || {
        std::fs::read_to_string(&events_file)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("/tasks/exit"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    // A terminal: the shim copies between the pty master and ctr.
    let tty = |line: &str| {
        std::process::Command::new("script")
            .args(["-qec", &format!(
                "ctr --address {} run -t --rm --runtime {RUNTIME} --runtime-config-path {options} {BUSYBOX} {line}",
                ctd.address.display()
            ), "/dev/null"])
            .output()
            .expect("script (apt-get install bsdutils)")
    };
    let out = tty("tty1 sh -c 'tty; exit 5'");
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}{}",
        stdout(&out),
        common::stderr(&out)
    );
    assert!(stdout(&out).contains("/dev/pts/0"), "{}", stdout(&out));

    let out = run(&["-d", BUSYBOX, "bg", "sleep", "1000"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(ctd.shims().len(), 1, "one shim for the lone container");
    let tasks = ctd.ok("default", &["task", "ls"]);
    assert!(
        tasks
            .lines()
            .any(|l| l.starts_with("bg ") && l.contains("RUNNING")),
        "{tasks}"
    );

    // An exec's output and status reach ctr through the same shim.
    let out = ctd.exec_sh("bg", "e1", "echo exec works; exit 3");
    assert_eq!(out.status.code(), Some(3), "{}", common::stderr(&out));
    assert_eq!(stdout(&out), "exec works\n");
    let out = std::process::Command::new("script")
        .args([
            "-qec",
            &format!(
                "ctr --address {} task exec -t --exec-id e2 bg sh -c 'tty; exit 6'",
                ctd.address.display()
            ),
            "/dev/null",
        ])
        .output()
        .expect("script");
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}{}",
        stdout(&out),
        common::stderr(&out)
    );
    assert!(stdout(&out).contains("/dev/pts/"), "{}", stdout(&out));
    let ps = ctd.ok("default", &["task", "ps", "bg"]);
    assert_eq!(ps.lines().count(), 2, "{ps}");

    ctd.ok("default", &["task", "pause", "bg"]);
    assert!(ctd.ok("default", &["task", "ls"]).contains("PAUSED"));
    ctd.ok("default", &["task", "resume", "bg"]);
    assert!(ctd.ok("default", &["task", "ls"]).contains("RUNNING"));
    let metrics = ctd.ok("default", &["task", "metrics", "bg"]);
    assert!(
        metrics.contains("memory.usage_in_bytes") || metrics.contains("memory.usage"),
        "{metrics}"
    );

    // The exit reaches containerd as it happens: the task shows STOPPED
    // with the signal's status.
    ctd.ok("default", &["task", "kill", "-s", "SIGKILL", "bg"]);
    ctd.eventually(10, "bg stopped", || {
        ctd.ok("default", &["task", "ls"]).contains("STOPPED")
    });
    // Each exit once, with its status.
    let seen = |id: &str, status: u32| {
        let (id, status) = (
            format!(r#""id":"{id}""#),
            format!(r#""exit_status":{status}"#),
        );
        move |l: &String| l.contains(&id) && l.contains(&status)
    };
    ctd.eventually(10, "exit events", || exits().iter().any(seen("bg", 137)));
    let _ = events.kill();
    let _ = events.wait();
    let exits = exits();
    for (id, status) in [("e1", 3), ("e2", 6), ("bg", 137)] {
        let n = exits.iter().filter(|l| seen(id, status)(l)).count();
        assert_eq!(n, 1, "{id} exit {status}: {exits:?}");
    }
    ctd.ok("default", &["task", "delete", "bg"]);
    ctd.ok("default", &["container", "delete", "bg"]);
    ctd.eventually(10, "shim gone", || ctd.shims().is_empty());
    assert!(cgroups_left("default", &["bg".into()]).is_empty());
    ctd.assert_clean(&env);
}

#[test]
fn killed_shim_leaves_nothing_behind() {
    let env = Env::new();
    let ctd = Containerd::start(&env, false);
    ctd.import_images(&env, "default");
    let id = env.id("k");
    ctd.run_detached(&id, &["sleep", "1000"]);
    let shims = ctd.shims();
    assert_eq!(shims.len(), 1);
    assert!(!ctd.leftover_processes(&env).is_empty());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shims[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // containerd runs `containerd-shim-runsc-v1 delete` for the dead shim.
    ctd.eventually(15, "the sandbox cleaned up", || {
        ctd.leftover_processes(&env).is_empty()
            && std::fs::read_dir(&env.root).is_ok_and(|mut d| d.next().is_none())
    });
    assert!(cgroups_left("default", std::slice::from_ref(&id)).is_empty());
    let _ = ctd.ctr("default", &["container", "delete", &id]);
    ctd.assert_clean(&env);
}

#[test]
fn kill_of_stopped_container_says_container_not_running() {
    let env = Env::new();
    let bundle = env.bundle("b", &["true"]);
    let id = env.id("stopped");
    let _reaper = common::Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "--detach", "--bundle", bundle.to_str().unwrap(), &id]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while env.state(&id)["status"] != "stopped" {
        assert!(std::time::Instant::now() < deadline, "never stopped");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // containerd's runc shim takes these words to mean "already gone".
    let out = env.runsc(&["kill", &id, "KILL"]);
    assert_fails_with(&out, "container not running");
}

#[test]
fn checkpoint_and_restore_through_ctr() {
    let env = Env::new();
    let ctd = Containerd::start(&env, false);
    ctd.import_images(&env, "default");
    let counter = "i=0; while true; do i=$((i+1)); echo $i >> /tmp/log; sleep 0.05; done";
    ctd.run_detached("cr", &["sh", "-c", counter]);
    let log = || -> Vec<u64> {
        let out = ctd.ctr(
            "default",
            &["task", "exec", "--exec-id", "log", "cr", "cat", "/tmp/log"],
        );
        // Only complete lines: the counter may be halfway through the last.
        let mut text = stdout(&out);
        text.truncate(text.rfind('\n').map_or(0, |i| i + 1));
        text.lines().filter_map(|l| l.trim().parse().ok()).collect()
    };
    ctd.eventually(10, "the counter counted", || log().len() >= 5);

    // containerd pauses the task, has the shim checkpoint it into a
    // directory of its own, resumes it, and keeps the image as content.
    ctd.ok(
        "default",
        &[
            "container",
            "checkpoint",
            "--task",
            "--image",
            "cr",
            "checkpoint/cr:1",
        ],
    );
    assert!(ctd.ok("default", &["task", "ls"]).contains("RUNNING"));
    ctd.kill_and_delete("cr");

    // Restored in a fresh snapshot: /tmp/log starts again, the counter
    // goes on from where it was.
    ctd.ok(
        "default",
        &["container", "restore", "--live", "cr", "checkpoint/cr:1"],
    );
    assert!(ctd.ok("default", &["task", "ls"]).contains("RUNNING"));
    ctd.eventually(10, "the restored counter counted", || log().len() >= 3);
    let values = log();
    assert!(values[0] > 5, "the counter restarted: {values:?}");
    for pair in values.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "{values:?}");
    }
    ctd.kill_and_delete("cr");
    ctd.eventually(10, "shim gone", || ctd.shims().is_empty());
    ctd.assert_clean(&env);
}
