//! What every runsc process pays to start: the libraries it loads.

mod common;

use common::{Env, Reaper};

/// libgcc's unwinder is linked in (runsc/build.rs): no runsc process loads
/// libgcc_s.so.1, whose constructor probes the CPU at every start.
#[test]
fn runsc_processes_load_no_libgcc_s() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let id = env.id("lib");
    let reaper = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "--detach", "-b", bundle.to_str().unwrap(), &id]);
    let meta = std::fs::read(env.root.join(&id).join("meta.json")).expect("read meta.json");
    let meta: serde_json::Value = serde_json::from_slice(&meta).expect("meta.json");
    for process in ["sandbox", "gofer"] {
        let pid = meta[process]["pid"].as_i64().expect("pid in meta.json");
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("read maps");
        assert!(maps.contains("libc.so"), "{process}: no libc in its maps");
        assert!(
            !maps.contains("libgcc_s"),
            "{process} maps libgcc_s:\n{maps}"
        );
    }
    drop(reaper);
    env.assert_clean(&[&id]);
}
