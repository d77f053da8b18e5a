//! The baseline seccomp filter, probed from inside real containers: every
//! refused family answers with the filter's errno in a root container's
//! init with no profile and under Docker's default profile, in a process
//! exec'd into it (as another user too) and in a pod's later container,
//! where runc lets the same calls reach the kernel. CAP_SYS_ADMIN, the
//! per-family annotations and the global flag give interfaces back.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::profiles::{docker_19_03_profile, mkrootfs_caps, runc_report};
use common::{edit_config, install_program, stderr, stdout, Env, Reaper};
use serde_json::json;

/// What tests/programs/baseline_probe.c prints under the baseline with no
/// profile, and whether runc (no profile, the same capabilities) lets the
/// call reach the kernel, which then answers otherwise. The kernel here
/// has no AF_ALG, TIPC, RDS or AF_KEY, and refuses them as we do.
const REFUSED: &[(&str, &str, bool)] = &[
    ("io_uring_setup", "EPERM", true),
    ("io_uring_enter", "EPERM", true),
    ("io_uring_register", "EPERM", true),
    ("bpf", "EPERM", true),
    ("perf_event_open", "EPERM", true),
    ("userfaultfd", "EPERM", true),
    ("keyctl", "EPERM", true),
    ("add_key", "EPERM", true),
    ("request_key", "EPERM", true),
    ("init_module", "EPERM", true),
    ("finit_module", "EPERM", true),
    ("delete_module", "EPERM", true),
    ("kexec_load", "EPERM", true),
    ("kexec_file_load", "EPERM", true),
    ("open_by_handle_at", "EPERM", true),
    ("lookup_dcookie", "EPERM", true),
    ("clone3", "ENOSYS", true),
    ("unshare_newuser", "EPERM", true),
    ("clone_newuser", "EPERM", true),
    ("af_alg", "EAFNOSUPPORT", false),
    ("af_vsock", "EAFNOSUPPORT", true),
    ("af_tipc", "EAFNOSUPPORT", false),
    ("af_rds", "EAFNOSUPPORT", false),
    ("af_key", "EAFNOSUPPORT", false),
    ("af_47", "EAFNOSUPPORT", false),
    ("socketpair_af_tipc", "EAFNOSUPPORT", false),
    ("af_vsock_high", "EAFNOSUPPORT", true),
    ("newer_syscall", "ENOSYS", false),
];

/// Calls workloads make, which the baseline leaves alone.
const KEPT: &[(&str, &str)] = &[
    ("af_unix", "fd"),
    ("af_inet", "fd"),
    ("af_inet6", "fd"),
    ("af_netlink", "fd"),
    ("unshare_none", "0"),
];

type Report = BTreeMap<String, String>;

fn parse(out: &str) -> Report {
    let lines = out.lines().filter_map(|l| l.split_once('='));
    lines.map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn probe_bundle(env: &Env, name: &str) -> PathBuf {
    let bundle = env.bundle(name, &["/bin/baseline_probe"]);
    install_program(&bundle, "baseline_probe");
    bundle
}

/// `runsc run` of the bundle (with global `flags`), and runc's report.
fn ours_and_runc(env: &Env, name: &str, bundle: &Path, flags: &[&str]) -> (Report, Report) {
    let id = env.id(name);
    let _r = Reaper {
        env,
        ids: vec![id.clone()],
    };
    let args = [flags, &["run", "-b", bundle.to_str().unwrap(), &id]].concat();
    let out = env.runsc(&args);
    assert!(out.status.success(), "{name}: {}", stderr(&out));
    env.assert_clean(&[&id]);
    let runc = runc_report(env, bundle, &env.id(&format!("runc-{name}"))).expect("runc run");
    (parse(&stdout(&out)), parse(&runc))
}

/// Every refused family answers as the baseline does, every kept call
/// works.
fn assert_refused(what: &str, report: &Report, except: &[&str]) {
    for (name, errno, _) in REFUSED.iter().filter(|(n, ..)| !except.contains(n)) {
        assert_eq!(
            report.get(*name).map(String::as_str),
            Some(*errno),
            "{what}: {name}"
        );
    }
    for (name, value) in KEPT {
        assert_eq!(
            report.get(*name).map(String::as_str),
            Some(*value),
            "{what}: {name}"
        );
    }
}

#[test]
fn a_root_container_without_a_profile_is_refused_what_runc_reaches() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = probe_bundle(&env, "noprofile");
    for nnp in [true, false] {
        edit_config(&bundle, |c| c["process"]["noNewPrivileges"] = json!(nnp));
        let (ours, runc) = ours_and_runc(&env, &format!("nnp-{nnp}"), &bundle, &[]);
        assert_refused(&format!("nnp {nnp}"), &ours, &[]);
        for (name, errno, reached) in REFUSED.iter().filter(|(.., r)| *r) {
            assert_ne!(runc[*name], *errno, "runc: {name} should reach the kernel");
            assert!(*reached);
        }
        for (name, value) in KEPT {
            assert_eq!(runc[*name], *value, "runc: {name}");
        }
    }
}

#[test]
fn a_32_bit_program_is_refused_the_same_but_through_socketcall() {
    if common::skip_without_root() {
        return;
    }
    // The i386 ABI reaches the same kernel code under other numbers. Its
    // libc opens sockets through socketcall(2), whose arguments lie in
    // memory: the socket families are refused only on the direct calls.
    let env = Env::new();
    let bundle = env.bundle("i386", &["/bin/baseline_probe32"]);
    common::install_program_as(&bundle, "baseline_probe", "baseline_probe32", &["-m32"]);
    let (ours, runc) = ours_and_runc(&env, "i386", &bundle, &[]);
    let socketcall = ["af_vsock", "kexec_file_load"];
    assert_refused("i386", &ours, &socketcall);
    assert_eq!(
        ours["af_vsock"], "fd",
        "socketcall is out of the filter's reach"
    );
    assert!(!ours.contains_key("kexec_file_load"), "i386 has none");
    for (name, errno, _) in REFUSED
        .iter()
        .filter(|(n, _, r)| *r && !socketcall.contains(n))
    {
        assert_ne!(runc[*name], *errno, "runc: {name} should reach the kernel");
    }
}

#[test]
fn under_dockers_profile_the_baseline_adds_the_socket_families() {
    if common::skip_without_root() {
        return;
    }
    // Docker's profile refuses most families itself (EPERM; ENOSYS for
    // syscalls newer than it, io_uring and clone3 among them): there the
    // answers are runc's, and the baseline adds the socket families.
    let env = Env::new();
    let bundle = probe_bundle(&env, "docker");
    let profile = docker_19_03_profile(&mkrootfs_caps(&env));
    edit_config(&bundle, |c| c["linux"]["seccomp"] = profile);
    let (ours, runc) = ours_and_runc(&env, "docker", &bundle, &[]);
    for (name, value) in &runc {
        match name.as_str() {
            "af_vsock" | "af_vsock_high" => {
                assert_ne!(value, "EAFNOSUPPORT", "runc: {name}");
                assert_eq!(ours[name], "EAFNOSUPPORT", "{name}");
            }
            _ => assert_eq!(ours[name], *value, "{name}: runsc and runc differ"),
        }
    }
    for name in ["io_uring_setup", "clone3"] {
        assert_eq!(ours[name], "ENOSYS", "{name}");
    }
    assert_eq!(ours["bpf"], "EPERM");
}

#[test]
fn exec_and_a_pods_later_container_are_refused_too() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let pod = env.id("pod");
    let sub = env.id("sub");
    let _r = Reaper {
        env: &env,
        ids: vec![sub.clone(), pod.clone()],
    };
    let pod_bundle = probe_bundle(&env, "pod");
    edit_config(&pod_bundle, |c| {
        c["process"]["args"] = json!(["sleep", "1000"])
    });
    env.ok(&["run", "-d", "-b", pod_bundle.to_str().unwrap(), &pod]);
    for user in ["0:0", "1000:1000"] {
        let out = env.ok(&["exec", "--user", user, &pod, "/bin/baseline_probe"]);
        assert_refused(&format!("exec as {user}"), &parse(&out), &[]);
    }
    let sub_bundle = probe_bundle(&env, "sub");
    edit_config(&sub_bundle, |c| {
        c["annotations"] = json!({
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.sandbox-id": pod,
        });
    });
    let out = env.runsc(&["run", "-b", sub_bundle.to_str().unwrap(), &sub]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_refused("later container", &parse(&stdout(&out)), &[]);
    env.ok(&["delete", "--force", &pod]);
    env.assert_clean(&[&sub, &pod]);
}

#[test]
fn cap_sys_admin_gives_user_namespaces_back() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = probe_bundle(&env, "sysadmin");
    edit_config(&bundle, |c| {
        for set in ["bounding", "effective", "permitted"] {
            let caps = c["process"]["capabilities"][set]
                .as_array_mut()
                .expect("caps");
            caps.push(json!("CAP_SYS_ADMIN"));
        }
    });
    let (ours, runc) = ours_and_runc(&env, "sysadmin", &bundle, &[]);
    let userns = ["unshare_newuser", "clone_newuser", "clone3"];
    assert_refused("CAP_SYS_ADMIN", &ours, &userns);
    for name in userns {
        assert_eq!(ours[name], runc[name], "{name}");
    }
    assert_eq!(ours["unshare_newuser"], "0");
}

#[test]
fn annotations_give_one_family_back_and_are_logged() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = probe_bundle(&env, "optout");
    let given = ["io_uring", "userfaultfd", "keyring", "af_vsock", "userns"];
    edit_config(&bundle, |c| {
        let map: serde_json::Map<String, serde_json::Value> = given
            .iter()
            .map(|f| (format!("dev.runsc-rs.allow/{f}"), json!("true")))
            .collect();
        c["annotations"] = json!(map);
    });
    let (ours, runc) = ours_and_runc(&env, "optout", &bundle, &[]);
    let back = [
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        "userfaultfd",
        "keyctl",
        "add_key",
        "request_key",
        "af_vsock",
        "af_vsock_high",
        "unshare_newuser",
        "clone_newuser",
        "clone3",
    ];
    assert_refused("opt-out", &ours, &back);
    for name in back {
        assert_eq!(ours[name], runc[name], "{name}");
    }
    // Processes exec'd into it run under the sandbox's own filter too,
    // which gives the root container's families back as well.
    edit_config(&bundle, |c| c["process"]["args"] = json!(["sleep", "1000"]));
    let id = env.id("optout-exec");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), &id]);
    let exec = parse(&env.ok(&["exec", &id, "/bin/baseline_probe"]));
    assert_refused("opt-out exec", &exec, &back);
    for name in back {
        assert_eq!(exec[name], runc[name], "exec: {name}");
    }
    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&id]);
    let log = std::fs::read_to_string(&env.log).unwrap_or_default();
    for family in given {
        let line = format!("baseline seccomp allows {family} (dev.runsc-rs.allow/{family}=true)");
        assert!(log.contains(&line), "{line} not logged:\n{log}");
    }

    // A family that does not exist is an error, not a silent no-op.
    edit_config(&bundle, |c| {
        c["annotations"] = json!({"dev.runsc-rs.allow/io-uring": "true"})
    });
    let id = env.id("typo");
    let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &id]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("dev.runsc-rs.allow/io-uring: no such baseline seccomp family"),
        "{err}"
    );
    let _ = env.runsc(&["delete", "--force", &id]);
    env.assert_clean(&[&id]);
}

#[test]
fn the_global_flag_turns_the_baseline_off_and_is_logged() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = probe_bundle(&env, "off");
    let (ours, runc) = ours_and_runc(&env, "off", &bundle, &["--baseline-seccomp=off"]);
    assert_eq!(ours, runc);
    let log = std::fs::read_to_string(&env.log).unwrap_or_default();
    assert!(
        log.contains("baseline seccomp filter off (--baseline-seccomp=off)"),
        "{log}"
    );
}

/// What tools/attack-surface/seccomp_surface reports for the init of a
/// container with no profile: under us exactly the refused families' calls
/// (those named by number; clone and socket are refused by argument only).
/// The README's attack-surface table (tools/attack-surface/measure, which
/// also runs runc and crun) rests on it.
#[test]
fn the_attack_surface_tool_sees_the_baseline_in_the_init() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let tool = env.path().join("seccomp_surface");
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/attack-surface/seccomp_surface.c");
    let gcc = std::process::Command::new("gcc")
        .args(["-O2", "-o"])
        .arg(&tool)
        .arg(&src)
        .arg("-lseccomp")
        .output()
        .expect("run gcc");
    assert!(
        gcc.status.success(),
        "{}",
        String::from_utf8_lossy(&gcc.stderr)
    );
    let bundle = env.bundle("surface", &["sleep", "1000"]);
    let id = env.id("surface");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), &id]);
    let pid = common::init_pid(&env, &id).to_string();
    let out = env.output({
        let mut c = std::process::Command::new(&tool);
        c.arg(&pid);
        c
    });
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let mut refused: Vec<&str> = report["refused"]
        .as_array()
        .expect("refused")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    refused.sort_unstable();
    let mut expected = vec![
        "_sysctl",
        "add_key",
        "bpf",
        "clone3",
        "create_module",
        "delete_module",
        "finit_module",
        "get_kernel_syms",
        "init_module",
        "io_uring_enter",
        "io_uring_register",
        "io_uring_setup",
        "kexec_file_load",
        "kexec_load",
        "keyctl",
        "lookup_dcookie",
        "nfsservctl",
        "open_by_handle_at",
        "perf_event_open",
        "query_module",
        "request_key",
        "sysfs",
        "uselib",
        "userfaultfd",
        "ustat",
    ];
    expected.sort_unstable();
    assert_eq!(refused, expected);
    assert_eq!(report["filters"], 1);
    let counted = report["counted"].as_u64().expect("counted");
    assert_eq!(
        report["reached"].as_u64(),
        Some(counted - expected.len() as u64)
    );
    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&id]);
}
