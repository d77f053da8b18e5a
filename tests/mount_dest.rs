//! Where a mount lands when its destination is not a clean path: runc
//! cleans it lexically (`/tmp/../mnt/b` is `/mnt/b`), and so must we.

mod common;

use std::path::Path;
use std::process::Command;

use common::{edit_config, stderr, stdout, Env};
use serde_json::json;

/// Where the marker file of the bind mount is seen inside the container,
/// and whether anything was made at the uncleaned path.
const SCRIPT: &str = "cat /mnt/b/marker 2>/dev/null || echo no-marker-at-mnt-b; \
                      test -e /tmp/mnt && echo made-tmp-mnt; \
                      awk '$5 ~ /mnt/ {print \"mountpoint=\" $5}' /proc/self/mountinfo";

fn bundle_with_dotdot_bind(env: &Env, name: &str, source: &Path) -> std::path::PathBuf {
    let bundle = env.bundle(name, &["true"]);
    edit_config(&bundle, |c| {
        c["process"]["args"] = json!(["sh", "-c", SCRIPT]);
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/tmp/../mnt/b", "type": "bind",
            "source": source, "options": ["rbind", "ro"]
        }));
    });
    bundle
}

#[test]
fn a_dotdot_destination_lands_where_runc_puts_it() {
    let env = Env::new();
    let source = env.path().join("src");
    std::fs::create_dir(&source).expect("mkdir source");
    std::fs::write(source.join("marker"), "marker-here\n").expect("write marker");

    let ours = bundle_with_dotdot_bind(&env, "ours", &source);
    let id = env.id("dotdot");
    let out = env.runsc(&["run", "-b", ours.to_str().unwrap(), &id]);
    assert!(out.status.success(), "runsc run: {}", stderr(&out));
    let got = stdout(&out);
    env.assert_clean(&[&id]);

    let theirs = bundle_with_dotdot_bind(&env, "theirs", &source);
    let mut runc = Command::new("runc");
    runc.arg("--root")
        .arg(env.path().join("runc"))
        .args(["run", "-b"])
        .arg(&theirs)
        .arg(env.id("dotdot-runc"));
    let reference = env.output(runc);
    assert!(
        reference.status.success(),
        "runc run: {}",
        stderr(&reference)
    );

    assert_eq!(got, stdout(&reference), "runsc and runc differ");
    assert_eq!(got, "marker-here\nmountpoint=/mnt/b\n");
}
