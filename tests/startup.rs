//! What every runsc process pays to start: the libraries it loads.

mod common;

use common::{Env, Reaper};

/// runsc is a static executable (musl, .cargo/config.toml): no runsc
/// process has a dynamic loader map libraries (libc.so.6, libgcc_s.so.1,
/// libseccomp.so.2), nor runs glibc's start-up, which probes the CPU.
#[test]
fn runsc_processes_load_no_shared_library() {
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
    // The gofer ended with `create`; the holder is the sandbox's clone.
    for process in ["sandbox", "holder"] {
        let pid = meta[process]["pid"].as_i64().expect("pid in meta.json");
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("read maps");
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("read exe link");
        let exe = exe.to_string_lossy();
        assert!(maps.contains(&*exe), "{process}: {exe} not in its maps");
        let libraries: Vec<&str> = maps
            .lines()
            .filter(|l| l.ends_with(".so") || l.contains(".so."))
            .collect();
        assert!(
            libraries.is_empty(),
            "{process} maps shared libraries:\n{}",
            libraries.join("\n")
        );
    }
    drop(reaper);
    env.assert_clean(&[&id]);
}
