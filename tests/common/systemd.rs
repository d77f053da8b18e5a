//! For the tests of the systemd cgroup driver, which run where systemd is
//! init on pure cgroup v2 (the guest of tools/vmtest) and skip elsewhere.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{edit_config, Env};

/// Whether this host is pure cgroup v2 with systemd as init; says why a
/// test skips when it is not.
pub fn pure_v2_with_systemd(test: &str) -> bool {
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let systemd = Path::new("/run/systemd/system").is_dir();
    if !(v2 && systemd) {
        eprintln!("{test}: skipped: needs pure cgroup v2 with systemd (tools/vmtest runs it)");
    }
    v2 && systemd
}

/// `systemctl show UNIT -p PROPS...` as `Key=value` lines.
pub fn unit_properties(unit: &str, props: &[&str]) -> String {
    let mut cmd = Command::new("systemctl");
    cmd.args(["show", unit]);
    for p in props {
        cmd.args(["-p", p]);
    }
    let out = cmd.output().expect("run systemctl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `LoadState=...` of `unit`: `LoadState=not-found` once it is gone.
pub fn load_state(unit: &str) -> String {
    unit_properties(unit, &["LoadState"]).trim().to_owned()
}

/// A bundle whose cgroupsPath is `system.slice:runsc-test:<id>`, that is
/// unit `runsc-test-<id>.scope`.
pub fn scoped_bundle(env: &Env, id: &str, cmd: &[&str]) -> (PathBuf, String) {
    let bundle = env.bundle(id, cmd);
    edit_config(&bundle, |c| {
        c["linux"]["cgroupsPath"] = serde_json::json!(format!("system.slice:runsc-test:{id}"));
    });
    (bundle, format!("runsc-test-{id}.scope"))
}

/// The cgroup directory of scope `unit` in system.slice.
pub fn scope_dir(unit: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup/system.slice").join(unit)
}
