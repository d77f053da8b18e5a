//! The systemd cgroup driver where systemd is init but does not answer on
//! the system bus (D-Bus down, or a broken bus address): `--systemd-cgroup`
//! fails in one line, before anything is made, and leaves nothing. Runs in
//! the guest of tools/vmtest; elsewhere it says in one line that it skipped.

mod common;

use common::systemd::{load_state, pure_v2_with_systemd, scope_dir, scoped_bundle};
use common::{assert_fails_with, Env, Reaper};

#[test]
fn systemd_cgroup_without_an_answer_on_the_bus_fails_and_leaves_nothing() {
    if common::skip_without_root() {
        return;
    }
    if !pure_v2_with_systemd("systemd_cgroup_without_an_answer_on_the_bus_fails_and_leaves_nothing")
    {
        return;
    }
    let env = Env::new();
    let id = env.id("nobus");
    let _reaper = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    let (bundle, unit) = scoped_bundle(&env, &id, &["sleep", "1000"]);
    // zbus, as libdbus, takes the system bus from here: a socket no one
    // listens on stands for a bus that is down.
    let nobody = env.path().join("no-bus.sock");
    let b = bundle.to_str().unwrap();
    for args in [&["create", "-b", b][..], &["run", "--detach", "-b", b][..]] {
        let command = args[0];
        let mut cmd = env.cmd(&[&["--systemd-cgroup"][..], args, &[&id]].concat());
        cmd.env(
            "DBUS_SYSTEM_BUS_ADDRESS",
            format!("unix:path={}", nobody.display()),
        );
        let out = env.output(cmd);
        assert_fails_with(&out, "systemd does not answer on the system bus");
        assert_eq!(load_state(&unit), "LoadState=not-found", "{command}");
        assert!(!scope_dir(&unit).exists(), "{command}: scope cgroup left");
        assert_fails_with(&env.runsc(&["state", &id]), "does not exist");
        env.assert_clean(&[&id]);
    }
}
