//! containerd-shim-runsc-v1 with runsc's systemd cgroup driver, as a host
//! whose containerd sets `SystemdCgroup = true` runs it: pure cgroup v2
//! with systemd as init (tools/vmtest's guest; skipped elsewhere). The
//! container lands in the scope unit its cgroupsPath names, stats and
//! exec work through the shim, and delete takes the unit and its cgroup
//! away.

mod common;
mod shim_support;

use common::systemd::{load_state, pure_v2_with_systemd, scope_dir, unit_properties};
use common::{stderr, stdout, Env};
use shim_support::Containerd;

#[test]
fn ctr_container_in_a_systemd_scope() {
    if !pure_v2_with_systemd("ctr_container_in_a_systemd_scope") {
        return;
    }
    let env = Env::new();
    let ctd = Containerd::start(&env, false);
    ctd.import_images(&env, "default");
    ctd.use_systemd_cgroup();
    let id = env.id("sd");
    let unit = format!("runsc-shim-{id}.scope");
    let cgroup = format!("system.slice:runsc-shim:{id}");
    ctd.run_detached_with(&["--cgroup", &cgroup], &id, &["sleep", "1000"]);

    let props = unit_properties(&unit, &["ActiveState"]);
    assert_eq!(props.trim(), "ActiveState=active", "{unit}");
    let procs = std::fs::read_to_string(scope_dir(&unit).join("cgroup.procs")).unwrap_or_default();
    assert!(!procs.trim().is_empty(), "nothing in {unit}'s cgroup");
    let metrics = ctd.ok("default", &["task", "metrics", &id]);
    assert!(metrics.contains("memory.usage"), "{metrics}");
    let out = ctd.exec_sh(&id, "e1", "echo exec works; exit 2");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(stdout(&out), "exec works\n");

    ctd.kill_and_delete(&id);
    ctd.eventually(10, "the scope unit gone", || {
        load_state(&unit) == "LoadState=not-found"
    });
    assert!(!scope_dir(&unit).exists(), "{unit}'s cgroup left");
    ctd.eventually(10, "shim gone", || ctd.shims().is_empty());
    ctd.assert_clean(&env);
}
