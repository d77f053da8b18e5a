//! What a container's store entry holds (docs/decisions.md, "Store"): the
//! spec in its lock file, no directory for the rootfs's mount point nor,
//! until a pod gets a member, for its member list. Entries an older
//! runsc-rs made (spec.json beside an empty lock file) still serve.

mod common;

use common::{Env, Reaper};

/// A detached `sleep` named `name` whose spec sets FROM_SPEC=`value`.
fn run_with_env(env: &Env, name: &str, value: &str) -> (String, std::path::PathBuf) {
    let id = env.id(name);
    let bundle = env.bundle(name, &["sleep", "1000"]);
    set_from_spec(&bundle, value);
    env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), &id]);
    (id, bundle)
}

fn set_from_spec(bundle: &std::path::Path, value: &str) {
    common::edit_config(bundle, |c| {
        c["process"]["env"] = serde_json::json!(["PATH=/bin", format!("FROM_SPEC={value}")]);
    });
}

#[test]
fn an_entry_holds_its_spec_in_the_lock_file_and_nothing_more() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let (id, bundle) = run_with_env(&env, "layout", "kept");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    let dir = env.root.join(&id);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["control.sock", "meta.json", "meta.lock"],
        "entry {}",
        dir.display()
    );
    let kept: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("meta.lock")).unwrap()).unwrap();
    assert_eq!(kept["process"]["env"][1], "FROM_SPEC=kept");

    // exec takes the process's environment from the kept spec, not the
    // bundle, which may have changed.
    set_from_spec(&bundle, "bundle");
    let out = env.ok(&["exec", &id, "sh", "-c", "echo $FROM_SPEC"]);
    assert_eq!(out.trim(), "kept");

    // The sandbox appends the exit status to the lock file, after the
    // spec, which still reads whole; no file is added for it.
    env.ok(&["kill", &id, "KILL"]);
    let waited = env.runsc(&["wait", &id]);
    assert_eq!(
        waited.status.code(),
        Some(137),
        "{}",
        common::stderr(&waited)
    );
    let sandbox = common::sandbox_pid(&env, &id);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{sandbox}")).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "sandbox {sandbox} lives on"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let lock = std::fs::read(dir.join("meta.lock")).unwrap();
    let spec_end = lock.iter().position(|&b| b == b'\n').expect("exit record");
    assert_eq!(&lock[spec_end..], b"\n137\n");
    let kept: serde_json::Value = serde_json::from_slice(&lock[..spec_end]).unwrap();
    assert_eq!(kept["process"]["env"][1], "FROM_SPEC=kept");
    let again = env.runsc(&["wait", &id]);
    assert_eq!(again.status.code(), Some(137), "{}", common::stderr(&again));
    let names = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(names, 3, "entry {}", dir.display());

    env.ok(&["delete", &id]);
    env.assert_clean(&[&id]);
}

#[test]
fn an_older_entry_with_spec_json_still_serves_exec() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let (id, _) = run_with_env(&env, "older", "older");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    common::as_older_entry(&env.root.join(&id));
    let out = env.ok(&["exec", &id, "sh", "-c", "echo $FROM_SPEC"]);
    assert_eq!(out.trim(), "older");

    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&id]);
}
