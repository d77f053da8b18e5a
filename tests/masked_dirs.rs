//! Masked directories: each is covered by an empty read-only tmpfs, and
//! all of a container's are one tmpfs (one superblock), since every
//! filesystem instance adds to the kernel's cost of each new container on
//! the host (BENCHMARKS.md, "Flat cost: steady state").

mod common;

use common::{edit_config, stderr, stdout, Env};
use serde_json::json;

#[test]
fn masked_directories_share_one_read_only_tmpfs() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["true"]);
    for d in ["a", "b"] {
        std::fs::create_dir_all(bundle.join("rootfs/mnt").join(d)).unwrap();
        std::fs::write(bundle.join("rootfs/mnt").join(d).join("secret"), "x").unwrap();
    }
    let script = r#"
        for d in /mnt/a /mnt/b /sys/firmware; do
            echo "$d dev=$(stat -c %d $d) entries=$(ls -A $d | wc -l) mount=$(grep " $d " /proc/mounts | cut -d' ' -f3,4 | cut -d, -f1)"
            touch $d/new 2>/dev/null && echo "$d writable"
        done
        echo "dev=$(stat -c %d /dev)"
    "#;
    edit_config(&bundle, |c| {
        c["linux"]["maskedPaths"] = json!(["/mnt/a", "/sys/firmware", "/mnt/b"]);
        c["process"]["args"] = json!(["sh", "-c", script]);
    });
    let id = env.id("masked");
    let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &id]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    env.assert_clean(&[&id]);
    let field = |line: &str, key: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .map(str::to_string)
    };
    let masked: Vec<&str> = text.lines().filter(|l| l.starts_with('/')).collect();
    assert_eq!(masked.len(), 3, "{text}");
    for line in &masked {
        assert!(line.ends_with("entries=0 mount=tmpfs ro"), "{text}");
    }
    assert!(!text.contains("writable"), "{text}");
    let devs: Vec<_> = masked.iter().map(|l| field(l, "dev=")).collect();
    assert!(
        devs.iter().all(|d| d.is_some() && *d == devs[0]),
        "one tmpfs for all: {text}"
    );
    let dev = text
        .lines()
        .find(|l| l.starts_with("dev="))
        .and_then(|l| field(l, "dev="));
    assert!(dev.is_some(), "{text}");
    assert_ne!(dev, devs[0], "the masks are not /dev's tmpfs: {text}");
}
