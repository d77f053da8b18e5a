//! The CLI as a user or containerd calls it: exit codes, stderr, --log.

mod common;

use common::{assert_fails_with, stdout, Env};
use runsc::container::{Container, ContainerStore, ProcessRef, Status};

fn add(env: &Env, id: &str) {
    let store = ContainerStore::open(&env.root).expect("open store");
    let bundle = env.path().join("bundle");
    store
        .create(&Container::new(
            id,
            bundle.clone(),
            bundle.join("rootfs"),
            id,
        ))
        .expect("create metadata");
}

#[test]
fn state_of_missing_id_fails_with_json_log() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let out = env.runsc(&["state", "nope"]);
    assert_fails_with(&out, "container does not exist");
    let lines = env.log_lines();
    let last = lines.last().expect("a log line");
    assert_eq!(last["level"], "error");
    assert!(
        last["msg"].as_str().unwrap().contains("does not exist"),
        "{last}"
    );
    assert!(last["time"].is_string());
}

#[test]
fn state_by_abbreviated_ambiguous_and_exact_id() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    for id in ["alpha1", "alpha2", "beta"] {
        add(&env, id);
    }
    let out = env.runsc(&["state", "be"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let state: serde_json::Value = serde_json::from_slice(&out.stdout).expect("state json");
    assert_eq!(state["id"], "beta");
    assert_eq!(state["ociVersion"], "1.2.0");
    assert_eq!(state["status"], "creating");
    assert_eq!(state["pid"], 0);
    assert!(state["bundle"].as_str().unwrap().ends_with("/bundle"));

    let out = env.runsc(&["state", "alpha"]);
    assert_fails_with(&out, "ambiguous");
    assert!(common::stderr(&out).contains("alpha1, alpha2"));

    let out = env.runsc(&["state", "alpha2"]);
    assert!(out.status.success());
}

/// Marks `id` created, with `sandbox` recorded as its sandbox process.
fn set_created(env: &Env, id: &str, sandbox: ProcessRef) {
    let store = ContainerStore::open(&env.root).unwrap();
    let mut locked = store.lock(id).unwrap();
    locked.container.status = Status::Created;
    locked.container.sandbox = Some(sandbox);
    locked.save().unwrap();
}

fn state_of(env: &Env, id: &str) -> serde_json::Value {
    let out = env.runsc(&["state", id]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    serde_json::from_slice(&out.stdout).expect("state json")
}

#[test]
fn liveness_follows_the_sandbox_process_and_its_start_time() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    add(&env, "live");
    add(&env, "reused");
    add(&env, "dead");
    let me = ProcessRef::of(std::process::id() as i32).unwrap();
    set_created(&env, "live", me);
    // Same pid, other start time: a reused pid is not our sandbox.
    set_created(
        &env,
        "reused",
        ProcessRef {
            pid: me.pid,
            start_time: me.start_time + 1,
        },
    );
    let mut exited = std::process::Command::new("true").spawn().unwrap();
    let gone = ProcessRef::of(exited.id() as i32).unwrap();
    exited.wait().unwrap();
    set_created(&env, "dead", gone);

    let live = state_of(&env, "live");
    assert_eq!(live["status"], "created");
    assert_eq!(live["pid"], me.pid);
    for id in ["reused", "dead"] {
        let s = state_of(&env, id);
        assert_eq!(s["status"], "stopped", "{id}");
        assert_eq!(s["pid"], 0, "{id}");
    }
}

#[test]
fn bad_ids_are_rejected() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    add(&env, "x");
    let long = "a".repeat(1025);
    for id in ["../x", "a/b", "", long.as_str()] {
        let out = env.runsc(&["state", id]);
        assert_fails_with(&out, "container id");
    }
}

#[test]
fn corrupt_meta_is_a_clear_error() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    add(&env, "broken");
    let meta = env.root.join("broken/meta.json");
    for content in ["", "{\"id\":"] {
        std::fs::write(&meta, content).unwrap();
        let out = env.runsc(&["state", "broken"]);
        assert_fails_with(&out, &meta.display().to_string());
    }
    // list skips it with a warning rather than failing as a whole.
    add(&env, "fine");
    let out = env.runsc(&["list", "-q"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "broken\nfine\n");
}

#[test]
fn list_formats() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let out = env.runsc(&["list"]);
    assert!(out.status.success());
    assert_eq!(
        stdout(&out).trim(),
        "ID   PID   STATUS   BUNDLE   CREATED   OWNER"
    );
    add(&env, "c2");
    add(&env, "c1");
    let out = env.runsc(&["list", "--format", "json"]);
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json list");
    let ids: Vec<_> = list.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["c1", "c2"]);
    let out = env.runsc(&["list"]);
    let table = stdout(&out);
    let rows: Vec<_> = table.lines().collect();
    assert_eq!(rows.len(), 3, "{table}");
    assert!(
        rows[1].starts_with("c1 ") && rows[1].contains(" creating "),
        "{table}"
    );
}

/// `cli ARGS` (runsc or runc) with its stdout a pipe nobody reads.
fn with_reader_gone(env: &Env, cli: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = if cli == "runc" {
        let mut c = std::process::Command::new("runc");
        c.arg("--root").arg(env.path().join("runc-root")).args(args);
        c
    } else {
        env.cmd(args)
    };
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    cmd.stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("spawn")
}

#[test]
fn a_gone_reader_ends_list_silently_as_runc() {
    if common::skip_without_root() {
        return;
    }
    use std::os::unix::process::ExitStatusExt;
    let env = Env::new();
    add(&env, "c1");
    for cli in ["runsc", "runc"] {
        for args in [&["list"][..], &["list", "--format", "json"]] {
            let out = with_reader_gone(&env, cli, args);
            let err = String::from_utf8_lossy(&out.stderr);
            // As `runc list | head -1` ends: killed by SIGPIPE, nothing said.
            assert_eq!(out.status.signal(), Some(13), "{cli} {args:?}: {err}");
            assert_eq!(err, "", "{cli} {args:?}");
        }
    }
}

#[test]
fn a_failed_exec_exits_255_as_runc() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    common::assert_exec_fails_with(&env.runsc(&["exec", "nosuch", "true"]), "does not exist");
    let runc = std::process::Command::new("runc")
        .arg("--root")
        .arg(env.path().join("runc-root"))
        .args(["exec", "nosuch", "true"])
        .output()
        .expect("run runc");
    assert_eq!(runc.status.code(), Some(255), "runc");
    // Other commands keep 1.
    assert_fails_with(&env.runsc(&["kill", "nosuch"]), "does not exist");
}

#[test]
fn spec_writes_a_valid_spec_once() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.path().join("b");
    std::fs::create_dir(&bundle).unwrap();
    let out = env.runsc(&["spec", "--bundle", bundle.to_str().unwrap()]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let data = std::fs::read(bundle.join("config.json")).unwrap();
    let spec: oci_spec::runtime::Spec = serde_json::from_slice(&data).expect("spec parses");
    let process = spec.process().as_ref().expect("process");
    assert_eq!(process.args().as_ref().unwrap(), &["sh".to_string()]);
    assert_eq!(process.terminal(), Some(true));
    assert_eq!(
        spec.root().as_ref().unwrap().path().to_str(),
        Some("rootfs")
    );

    let out = env.runsc(&["spec", "--bundle", bundle.to_str().unwrap()]);
    assert_fails_with(&out, "exists");
    assert_eq!(std::fs::read(bundle.join("config.json")).unwrap(), data);

    let rootless = env.path().join("r");
    std::fs::create_dir(&rootless).unwrap();
    let out = env.runsc(&["spec", "--rootless", "-b", rootless.to_str().unwrap()]);
    assert!(out.status.success());
    let spec: oci_spec::runtime::Spec =
        serde_json::from_slice(&std::fs::read(rootless.join("config.json")).unwrap()).unwrap();
    let ns = spec
        .linux()
        .as_ref()
        .unwrap()
        .namespaces()
        .as_ref()
        .unwrap();
    assert!(ns
        .iter()
        .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::User));
}

#[test]
fn features_is_json_and_flags_take_both_forms() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let out = env.runsc(&["--debug=true", "--platform=native", "features"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let f: serde_json::Value = serde_json::from_slice(&out.stdout).expect("features json");
    assert_eq!(f["ociVersionMin"], "1.0.0");
    assert_eq!(f["hooks"].as_array().unwrap().len(), 6);
    assert_eq!(f["linux"]["seccomp"]["enabled"], true);
    assert!(f["linux"]["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "CAP_SYS_ADMIN"));
    assert!(f["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n == "user"));
    let out = env.runsc(&["--platform", "ptrace", "features"]);
    assert_fails_with(&out, "ptrace");
    assert_fails_with(
        &env.runsc(&["state", "--no-such-flag", "x"]),
        "--no-such-flag",
    );
    assert_fails_with(&env.runsc(&["no-such-command"]), "no-such-command");
}

#[test]
fn debug_log_directory_gets_one_file_per_command() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let dir = env.path().join("dbg/");
    let flag = format!("--debug-log={}/", dir.display());
    env.runsc(&[&flag, "state", "missing"]);
    env.runsc(&[&flag, "list"]);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("debug log dir")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().any(|n| n.ends_with(".state")), "{names:?}");
    let state_log =
        std::fs::read_to_string(dir.join(names.iter().find(|n| n.ends_with(".state")).unwrap()))
            .unwrap();
    assert!(state_log.contains("level=error"), "{state_log}");
}

#[test]
fn mkrootfs_builds_a_loadable_bundle() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("bundle", &["echo", "hello world"]);
    assert!(bundle.join("rootfs/bin/sh").symlink_metadata().is_ok());
    let spec = specutils::load_spec(&bundle).expect("bundle spec loads");
    assert_eq!(
        spec.process().as_ref().unwrap().args().as_ref().unwrap(),
        &["echo".to_string(), "hello world".to_string()]
    );
}

#[test]
fn install_keeps_other_keys_and_refuses_bad_json() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let config = env.path().join("daemon.json");
    std::fs::write(
        &config,
        "{\"log-level\": \"warn\", \"runtimes\": {\"other\": {\"path\": \"/x\"}}}",
    )
    .unwrap();
    for _ in 0..2 {
        let out = common::daemons::run(std::process::Command::new(common::runsc_bin()).args([
            "install",
            "--config-file",
            config.to_str().unwrap(),
            "--",
            "--debug",
        ]));
        assert!(out.status.success(), "{}", common::stderr(&out));
    }
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    assert_eq!(v["log-level"], "warn");
    assert_eq!(v["runtimes"]["other"]["path"], "/x");
    assert_eq!(v["runtimes"]["runsc"]["path"], common::runsc_bin());
    assert_eq!(
        v["runtimes"]["runsc"]["runtimeArgs"],
        serde_json::json!(["--debug"])
    );
    let out = common::daemons::run(std::process::Command::new(common::runsc_bin()).args([
        "uninstall",
        "--config-file",
        config.to_str().unwrap(),
    ]));
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    assert!(v["runtimes"].get("runsc").is_none(), "{v}");
    assert_eq!(v["runtimes"]["other"]["path"], "/x");

    std::fs::write(&config, "{not json").unwrap();
    let out = common::daemons::run(std::process::Command::new(common::runsc_bin()).args([
        "install",
        "--config-file",
        config.to_str().unwrap(),
    ]));
    common::assert_fails_with(&out, "daemon.json");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "{not json");
}
