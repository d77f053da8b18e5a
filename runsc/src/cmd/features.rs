//! `runsc features`: the OCI features document. It lists only what this
//! build really does, so it grows as the runtime does.

use anyhow::Result;
use serde_json::json;

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_g: &GlobalFlags, _args: Args) -> Result<u8> {
    println!("{}", serde_json::to_string_pretty(&features())?);
    Ok(0)
}

pub fn features() -> serde_json::Value {
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": runsc::container::state::OCI_VERSION,
        "hooks": [],
        "mountOptions": [],
        "linux": {
            "namespaces": [],
            "capabilities": [],
            "cgroup": { "v1": false, "v2": false, "systemd": false, "systemdUser": false },
            "seccomp": { "enabled": false },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false },
            "intelRdt": { "enabled": false },
        },
        "annotations": {
            "dev.runsc-rs.platform": "native",
        },
    })
}
