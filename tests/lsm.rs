//! AppArmor profiles and SELinux labels. On a host whose kernel enforces
//! AppArmor (Debian's and Ubuntu's stock kernels; `tools/vmlane-lsm` boots
//! one), the container's init, its exec'd processes and a pod's later
//! containers run under the spec's profile, and the profile is enforced.
//! On a host without it, a profile is refused, as runc refuses it on the
//! same bundle; likewise SELinux labels without SELinux.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{assert_exec_fails_with, assert_fails_with, edit_config, stderr, stdout, Env, Reaper};
use serde_json::json;

fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.starts_with('Y'))
}

/// As runc decides it: selinuxfs mounted and a policy loaded.
fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
        && std::fs::read_to_string("/proc/self/attr/current")
            .is_ok_and(|l| l.trim_end_matches(['\n', '\0']) != "kernel")
}

/// What the container reads: its own confinement (a line), then a file
/// its profile denies.
const SHOW: &str = "cat /proc/self/attr/current; cat /secret 2>&1; true";

/// A bundle running `cmd` whose rootfs holds /secret.
fn bundle_with_secret(env: &Env, name: &str, cmd: &[&str]) -> PathBuf {
    let bundle = env.bundle(name, cmd);
    std::fs::write(bundle.join("rootfs/secret"), "the secret\n").unwrap();
    bundle
}

/// An AppArmor profile loaded for the test's length: everything allowed
/// (signals and ptrace too, so the sandbox can stop and inspect the
/// process) but /secret.
struct Profile {
    name: String,
    file: PathBuf,
}

impl Profile {
    fn load(env: &Env, tag: &str) -> Self {
        let name = env.id(&format!("runsc-test-{tag}"));
        let file = env.path().join(format!("{name}.aa"));
        std::fs::write(
            &file,
            format!(
                "profile {name} flags=(attach_disconnected,mediate_deleted) {{\n  \
                 file,\n  capability,\n  network,\n  signal,\n  ptrace,\n  unix,\n  \
                 mount,\n  umount,\n  deny /secret rw,\n}}\n"
            ),
        )
        .unwrap();
        let out = Command::new("apparmor_parser")
            .arg("-r")
            .arg(&file)
            .output()
            .expect("run apparmor_parser (apt-get install apparmor)");
        assert!(out.status.success(), "apparmor_parser: {}", stderr(&out));
        Self { name, file }
    }

    fn enforced(&self) -> String {
        format!("{} (enforce)", self.name)
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        let _ = Command::new("apparmor_parser")
            .arg("-R")
            .arg(&self.file)
            .output();
    }
}

/// `runc run` of `bundle` under a state root of the test's own.
fn runc_run(env: &Env, bundle: &Path, id: &str) -> Output {
    let mut cmd = Command::new("runc");
    cmd.arg("--root")
        .arg(env.path().join("runc"))
        .args(["run", "-b"])
        .arg(bundle)
        .arg(id);
    env.output(cmd)
}

fn init_pid(env: &Env, id: &str) -> i64 {
    let pids: Vec<i64> = serde_json::from_str(&env.ok(&["ps", "-f", "json", id])).unwrap();
    *pids.iter().min().expect("a process")
}

#[test]
fn a_container_runs_under_its_apparmor_profile() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = bundle_with_secret(&env, "b", &["sh", "-c", SHOW]);
    let id = env.id("aa");
    if !apparmor_enabled() {
        edit_config(&bundle, |c| {
            c["process"]["apparmorProfile"] = json!("docker-default")
        });
        let runc = runc_run(&env, &bundle, &id);
        assert!(!runc.status.success(), "runc ran it: {}", stdout(&runc));
        assert!(stderr(&runc).contains("apparmor"), "{}", stderr(&runc));
        let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &id]);
        assert_fails_with(
            &out,
            "process.apparmorProfile \"docker-default\": AppArmor is not enabled on this host",
        );
        env.assert_clean(&[&id]);
        return;
    }
    // Unconfined, the secret is readable: the profile is what denies it.
    let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "unconfined\nthe secret\n");

    let profile = Profile::load(&env, "run");
    edit_config(&bundle, |c| {
        c["process"]["apparmorProfile"] = json!(profile.name)
    });
    let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let seen = stdout(&out);
    let mut lines = seen.lines();
    assert_eq!(lines.next(), Some(profile.enforced().as_str()), "{seen}");
    assert_eq!(
        lines.next(),
        Some("cat: can't open '/secret': Permission denied"),
        "{seen}"
    );

    // A profile the kernel does not know fails create, as under runc.
    edit_config(&bundle, |c| {
        c["process"]["apparmorProfile"] = json!("runsc-test-no-such-profile")
    });
    let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &id]);
    assert_fails_with(
        &out,
        "apply AppArmor profile \"runsc-test-no-such-profile\"",
    );
    env.assert_clean(&[&id]);
}

#[test]
fn exec_runs_under_the_containers_profile_or_its_own() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = bundle_with_secret(&env, "b", &["sleep", "1000"]);
    let id = env.id("aaexec");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    let process = env.path().join("process.json");
    if !apparmor_enabled() {
        env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), &id]);
        let out = env.runsc(&["exec", "--apparmor", "docker-default", &id, "true"]);
        assert_exec_fails_with(&out, "AppArmor is not enabled on this host");
        std::fs::write(
            &process,
            json!({"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0},
                   "apparmorProfile": "docker-default"})
            .to_string(),
        )
        .unwrap();
        let out = env.runsc(&["exec", "--process", process.to_str().unwrap(), &id]);
        assert_exec_fails_with(&out, "AppArmor is not enabled on this host");
        env.ok(&["exec", &id, "true"]);
        env.ok(&["delete", "--force", &id]);
        env.assert_clean(&[&id]);
        return;
    }
    let profile = Profile::load(&env, "exec");
    let other = Profile::load(&env, "other");
    edit_config(&bundle, |c| {
        c["process"]["apparmorProfile"] = json!(profile.name)
    });
    env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), &id]);
    let pid = init_pid(&env, &id);
    let current = std::fs::read_to_string(format!("/proc/{pid}/attr/current")).unwrap();
    assert_eq!(current.trim_end_matches(['\n', '\0']), profile.enforced());

    // Without a profile of its own, the container's.
    let seen = env.ok(&["exec", &id, "sh", "-c", SHOW]);
    assert_eq!(
        seen,
        format!(
            "{}\ncat: can't open '/secret': Permission denied\n",
            profile.enforced()
        )
    );
    // Its own, by flag or in process.json, as runc takes them.
    let seen = env.ok(&[
        "exec",
        "--apparmor",
        &other.name,
        &id,
        "cat",
        "/proc/self/attr/current",
    ]);
    assert_eq!(seen, format!("{}\n", other.enforced()));
    std::fs::write(
        &process,
        json!({"args": ["cat", "/proc/self/attr/current"], "cwd": "/",
               "user": {"uid": 0, "gid": 0}, "apparmorProfile": other.name})
        .to_string(),
    )
    .unwrap();
    let seen = env.ok(&["exec", "--process", process.to_str().unwrap(), &id]);
    assert_eq!(seen, format!("{}\n", other.enforced()));
    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&id]);
}

#[test]
fn a_pods_later_container_runs_under_its_profile() {
    if common::skip_without_root() {
        return;
    }
    if !apparmor_enabled() {
        eprintln!("skipped: needs a kernel with AppArmor (tools/vmlane-lsm)");
        return;
    }
    let env = Env::new();
    let pod = env.id("aapod");
    let sub = env.id("aasub");
    let _r = Reaper {
        env: &env,
        ids: vec![sub.clone(), pod.clone()],
    };
    let profile = Profile::load(&env, "sub");
    let pod_bundle = env.bundle("pod", &["sleep", "1000"]);
    env.ok(&["run", "-d", "-b", pod_bundle.to_str().unwrap(), &pod]);
    let sub_bundle = bundle_with_secret(&env, "sub", &["sh", "-c", SHOW]);
    edit_config(&sub_bundle, |c| {
        c["process"]["apparmorProfile"] = json!(profile.name);
        c["annotations"] = json!({
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.sandbox-id": pod,
        });
    });
    let out = env.runsc(&["run", "-b", sub_bundle.to_str().unwrap(), &sub]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "{}\ncat: can't open '/secret': Permission denied\n",
            profile.enforced()
        )
    );
    env.ok(&["delete", "--force", &pod]);
    env.assert_clean(&[&pod, &sub]);
}

#[test]
fn selinux_labels_without_selinux_are_refused_as_runc_refuses() {
    if common::skip_without_root() {
        return;
    }
    if selinux_enabled() {
        eprintln!("skipped: this host has SELinux");
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["true"]);
    let id = env.id("selinux");
    let label = "system_u:system_r:container_t:s0:c1,c2";
    edit_config(&bundle, |c| c["process"]["selinuxLabel"] = json!(label));
    let runc = runc_run(&env, &bundle, &id);
    assert!(!runc.status.success(), "runc ran it: {}", stdout(&runc));
    let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &id]);
    assert_fails_with(
        &out,
        &format!("process.selinuxLabel {label:?}: SELinux is not enabled on this host"),
    );

    let mount_label = "system_u:object_r:container_file_t:s0:c1,c2";
    edit_config(&bundle, |c| {
        c["process"]["selinuxLabel"] = json!("");
        c["linux"]["mountLabel"] = json!(mount_label);
    });
    let runc = runc_run(&env, &bundle, &id);
    assert!(!runc.status.success(), "runc ran it: {}", stdout(&runc));
    let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &id]);
    assert_fails_with(
        &out,
        &format!("linux.mountLabel {mount_label:?}: SELinux is not enabled on this host"),
    );
    env.assert_clean(&[&id]);
}
