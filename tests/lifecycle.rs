//! Real containers through create/start/kill/wait/delete/run, on a busybox
//! bundle, as a user or containerd would drive them.

mod common;

use std::time::Duration;

use common::{assert_fails_with, edit_config, stderr, stdout, wait_for_status, Env, Reaper};

fn set_args(bundle: &std::path::Path, args: &[&str]) {
    edit_config(bundle, |c| c["process"]["args"] = serde_json::json!(args));
}

#[test]
fn run_echo_prints_and_exits_zero() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["echo", "hello from the sandbox"]);
    let id = env.id("echo");
    let out = env.runsc(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello from the sandbox\n");
    env.assert_clean(&[&id]);
}

#[test]
fn run_exits_with_the_container_status() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sh", "-c", "exit 7"]);
    let id = env.id("seven");
    let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    set_args(&bundle, &["sh", "-c", "sleep 100 & kill -9 $!; wait $!"]);
    let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    env.assert_clean(&[&id]);
}

#[test]
fn create_start_kill_wait_delete() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let id = env.id("life");
    let _reaper = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    let pid_file = env.path().join("pid");
    env.ok(&[
        "create",
        "-b",
        bundle.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);

    let state = env.state(&id);
    assert_eq!(state["status"], "created");
    let pid: i64 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(state["pid"], pid);
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "sandbox pid {pid} is alive"
    );
    assert_eq!(
        state["bundle"],
        bundle.canonicalize().unwrap().to_str().unwrap()
    );

    env.ok(&["start", &id]);
    assert_eq!(env.state(&id)["status"], "running");
    // Starting twice is an error, and leaves the container running.
    assert_fails_with(&env.runsc(&["start", &id]), "running");
    assert_eq!(env.state(&id)["status"], "running");

    let waiter = env
        .cmd(&["wait", &id])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    env.ok(&["kill", &id, "KILL"]);
    let waited = waiter.wait_with_output().unwrap();
    assert_eq!(waited.status.code(), Some(137));
    let w: serde_json::Value = serde_json::from_slice(&waited.stdout).expect("wait json");
    assert_eq!(w, serde_json::json!({"id": id, "exitStatus": 137}));

    wait_for_status(&env, &id, "stopped");
    // The sandbox is gone, but the status it recorded still answers.
    let again = env.runsc(&["wait", &id]);
    assert_eq!(again.status.code(), Some(137), "{}", stderr(&again));
    assert_eq!(
        stdout(&again).trim(),
        format!("{{\"exitStatus\":137,\"id\":\"{id}\"}}")
    );
    assert_fails_with(&env.runsc(&["kill", &id, "KILL"]), "not running");
    env.ok(&["delete", &id]);
    assert_fails_with(&env.runsc(&["state", &id]), "does not exist");
    // delete is idempotent under --force, as runc's is.
    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&id]);
}

#[test]
fn delete_refuses_a_running_container_unless_forced() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let id = env.id("busy");
    let _reaper = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "--detach", "-b", bundle.to_str().unwrap(), &id]);
    assert_eq!(env.state(&id)["status"], "running");
    assert_fails_with(&env.runsc(&["delete", &id]), "not stopped");
    assert_eq!(env.state(&id)["status"], "running");
    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&id]);
}

#[test]
fn abbreviated_and_ambiguous_ids_end_to_end() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let a = format!("abc1{}", env.id(""));
    let b = format!("abc2{}", env.id(""));
    let _reaper = Reaper {
        env: &env,
        ids: vec![a.clone(), b.clone()],
    };
    for id in [&a, &b] {
        env.ok(&["create", "-b", bundle.to_str().unwrap(), id]);
    }
    assert_fails_with(&env.runsc(&["start", "abc"]), "ambiguous");
    env.ok(&["start", "abc1"]);
    assert_eq!(env.state(&a)["status"], "running");
    assert_eq!(env.state(&b)["status"], "created");
    env.ok(&["kill", "abc1", "9"]);
    wait_for_status(&env, &a, "stopped");
    env.ok(&["delete", "abc1"]);
    env.ok(&["delete", "abc2"]);
    env.assert_clean(&[&a, &b]);
}

#[test]
fn failed_create_leaves_nothing_and_says_why() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["true"]);
    let id = env.id("bad");
    // A bind mount whose source does not exist: the gofer's cause reaches us.
    edit_config(&bundle, |c| {
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": "/data", "type": "bind", "source": "/nonexistent/source", "options": ["rbind"]
        }));
    });
    let out = env.runsc(&["create", "-b", bundle.to_str().unwrap(), &id]);
    assert_fails_with(&out, "/nonexistent/source");
    env.assert_clean(&[&id]);

    // An executable missing from the image fails the create, as runc's.
    let bundle = env.bundle("b2", &["/no/such/binary"]);
    let out = env.runsc(&["create", "-b", bundle.to_str().unwrap(), &id]);
    assert_fails_with(
        &out,
        "exec: \"/no/such/binary\": stat /no/such/binary: no such file or directory",
    );
    env.assert_clean(&[&id]);
    set_args(&bundle, &["nosuchcommand"]);
    let out = env.runsc(&["create", "-b", bundle.to_str().unwrap(), &id]);
    assert_fails_with(&out, "executable file not found in $PATH");
    env.assert_clean(&[&id]);
    set_args(&bundle, &["/etc"]);
    let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &id]);
    assert_fails_with(&out, "exec: \"/etc\": permission denied");
    env.assert_clean(&[&id]);
    // A relative path is the cwd's, which the early check cannot see yet.
    edit_config(&bundle, |c| {
        c["process"]["args"] = serde_json::json!(["./true"]);
        c["process"]["cwd"] = serde_json::json!("/bin");
    });
    env.ok(&["run", "-b", bundle.to_str().unwrap(), &id]);
    env.assert_clean(&[&id]);
}

/// A file that passes runc's checks but that execve refuses (another
/// architecture's binary, a missing interpreter) is, as under runc, the
/// container's exit 1 with the reason on its stderr, not a failed start.
#[test]
fn an_executable_execve_refuses_is_the_container_s_exit() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["/bad"]);
    let bad = bundle.join("rootfs/bad");
    std::fs::write(&bad, "not a program\n").unwrap();
    std::fs::set_permissions(&bad, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let id = env.id("bad");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["create", "-b", bundle.to_str().unwrap(), &id]);
    env.ok(&["start", &id]);
    wait_for_status(&env, &id, "stopped");
    env.ok(&["delete", &id]);

    let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stderr(&out), "exec /bad: exec format error\n");
    let root = env.path().join("runc-root");
    let runc = std::process::Command::new("runc")
        .arg("--root")
        .arg(&root)
        .args(["run", "-b", bundle.to_str().unwrap(), &id])
        .output()
        .expect("runc");
    let _ = std::process::Command::new("runc")
        .arg("--root")
        .arg(&root)
        .args(["delete", "-f", &id])
        .output();
    assert_eq!(
        (runc.status.code(), stderr(&runc)),
        (out.status.code(), stderr(&out)),
        "runc (left) against runsc-rs (right)"
    );
    env.assert_clean(&[&id]);
}

/// A hook that appends "<name> <status>" to `log`.
fn logging_hook(name: &str, log: &std::path::Path) -> serde_json::Value {
    // Logs the stage, the state's status and its ociVersion.
    let script = format!(
        "s=$(cat); st=${{s#*\\\"status\\\":\\\"}}; v=${{s#*\\\"ociVersion\\\":\\\"}}; \
         echo \"{name} ${{st%%\\\"*}} ${{v%%\\\"*}}\" >> {}",
        log.display()
    );
    serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", script]})
}

#[test]
fn hooks_run_in_oci_order() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["true"]);
    let id = env.id("hooks");
    let _reaper = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    // The same path on the host and in the container, so hooks on either
    // side of the pivot write to one file.
    let dir = env.path().join("hooklog");
    std::fs::create_dir(&dir).unwrap();
    let log = dir.join("log");
    edit_config(&bundle, |c| {
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": dir, "type": "bind", "source": dir, "options": ["rbind"]
        }));
        let mut hooks = serde_json::Map::new();
        for stage in [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop",
        ] {
            hooks.insert(stage.into(), serde_json::json!([logging_hook(stage, &log)]));
        }
        c["hooks"] = serde_json::Value::Object(hooks);
    });
    env.ok(&["create", "-b", bundle.to_str().unwrap(), &id]);
    env.ok(&["start", &id]);
    wait_for_status(&env, &id, "stopped");
    env.ok(&["delete", &id]);
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        text,
        "prestart creating 1.2.0\ncreateRuntime creating 1.2.0\ncreateContainer creating 1.2.0\n\
         startContainer created 1.2.0\npoststart running 1.2.0\npoststop stopped 1.2.0\n"
    );
    env.assert_clean(&[&id]);
}

#[test]
fn failing_hooks() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["true"]);
    let id = env.id("badhook");
    let _reaper = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    let fail =
        serde_json::json!([{"path": "/bin/sh", "args": ["sh", "-c", "echo no way >&2; exit 3"]}]);
    edit_config(&bundle, |c| {
        c["hooks"] = serde_json::json!({"createRuntime": fail})
    });
    let out = env.runsc(&["create", "-b", bundle.to_str().unwrap(), &id]);
    assert_fails_with(&out, "createRuntime hook /bin/sh exited");
    assert!(stderr(&out).contains("no way"));
    env.assert_clean(&[&id]);

    // A failing poststart hook is logged; the container runs on.
    edit_config(&bundle, |c| {
        c["hooks"] = serde_json::json!({"poststart": fail});
        c["process"]["args"] = serde_json::json!(["echo", "still ran"]);
    });
    let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "still ran\n");
    let logged = std::fs::read_to_string(&env.log).unwrap();
    assert!(logged.contains("poststart hook"), "{logged}");
    env.assert_clean(&[&id]);
}

#[test]
fn state_roots_longer_than_a_socket_address_work() {
    if common::skip_without_root() {
        return;
    }
    let mut env = Env::new();
    env.root = env.path().join("r".repeat(100)).join("s".repeat(100));
    let bundle = env.bundle("b", &["echo", "long"]);
    let id = env.id("long");
    let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "long\n");
    env.assert_clean(&[&id]);
}

#[test]
fn kill_all_reaches_every_process() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sh", "-c", "sleep 1000 & sleep 1000 & wait"]);
    let id = env.id("killall");
    let _reaper = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), &id]);
    // The shell is its namespace's init and ignores SIGTERM; its children
    // do not, and once they are gone its `wait` returns.
    env.ok(&["kill", &id, "TERM"]);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(env.state(&id)["status"], "running");
    env.ok(&["kill", "--all", &id, "TERM"]);
    wait_for_status(&env, &id, "stopped");
    // `wait` without operands returns 0 once every child is gone.
    let out = env.runsc(&["wait", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    env.ok(&["delete", &id]);
    env.assert_clean(&[&id]);
}

#[test]
fn run_gives_a_terminal_spec_our_own_terminal() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sh"]);
    edit_config(&bundle, |c| {
        c["process"]["terminal"] = serde_json::json!(true)
    });
    let id = env.id("ourtty");
    // script(1) gives runsc a terminal; the shell reads what we type there.
    let line = format!(
        "{} --root {} run -b {} {id}",
        common::runsc_bin(),
        env.root.display(),
        bundle.display()
    );
    common::assert_shell_on_a_terminal(&line);
    // Without a terminal of ours to lend, --detach needs a console socket.
    let out = env.runsc(&["run", "-d", "-b", bundle.to_str().unwrap(), &id]);
    assert_fails_with(&out, "--console-socket");
    env.assert_clean(&[&id]);
}

#[test]
fn a_foreground_run_passes_signals_to_the_container() {
    if common::skip_without_root() {
        return;
    }
    use std::io::{BufRead, BufReader};
    let env = Env::new();
    let bundle = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "trap 'echo got USR1' USR1; trap 'echo got TERM; exit 7' TERM; \
             echo ready; while :; do sleep 0.1; done",
        ],
    );
    let id = env.id("fwd");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    let mut run = env
        .cmd(&["run", "-b", bundle.to_str().unwrap(), &id])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("runsc run");
    // Were a signal to kill `run` instead, the container would hold the
    // pipe open and the reads below would block: end it after a while.
    let mut delete = env.cmd(&["delete", "--force", &id]);
    let _watchdog = common::Watchdog::new(Duration::from_secs(20), move || {
        let _ = delete.output();
    });
    let mut lines = BufReader::new(run.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let pid = nix::unistd::Pid::from_raw(run.id() as i32);
    // As runc: signals to `run` reach the container, and `run` stays to
    // report how it ended.
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGUSR1).unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "got USR1");
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "got TERM");
    assert_eq!(run.wait().unwrap().code(), Some(7));
    env.assert_clean(&[&id]);
}

#[test]
fn runc_create_flags_keyring_pivot_and_keep() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["/bin/keyring"]);
    common::install_program(&bundle, "keyring");
    let b = bundle.to_str().unwrap();
    let own = env.id("keys");
    let kept = env.id("keep");
    let refused = env.id("refused");
    let _r = Reaper {
        env: &env,
        ids: vec![own.clone(), kept.clone(), refused.clone()],
    };
    // The baseline filter refuses keyrings to the workload, unless the
    // spec gives them back.
    let out = env.runsc(&["run", "-b", b, &refused]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim_end(), "keyctl: Operation not permitted");
    common::edit_config(&bundle, |c| {
        c["annotations"] = serde_json::json!({"dev.runsc-rs.allow/keyring": "true"});
    });
    // A session keyring of its own, as runc gives, named after the id...
    let out = env.runsc(&["run", "-b", b, &own]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).trim_end().ends_with(&format!(";_ses.{own}")),
        "{}",
        stdout(&out)
    );
    // ...or the caller's with --no-new-keyring. --keep leaves the stopped
    // container for a later delete; --no-pivot is accepted.
    let out = env.runsc(&[
        "run",
        "--no-new-keyring",
        "--no-pivot",
        "--keep",
        "-b",
        b,
        &kept,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stdout(&out).contains("_ses.keep"), "{}", stdout(&out));
    assert_eq!(env.state(&kept)["status"], "stopped");
    env.ok(&["delete", &kept]);
    env.assert_clean(&[&own, &kept, &refused]);
}
