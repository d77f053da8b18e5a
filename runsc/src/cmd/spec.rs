//! `runsc spec`: writes a default config.json, as `runc spec` does.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use oci_spec::runtime::Spec;

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Bundle directory to write config.json into
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
}

/// The default spec: a shell on a terminal in a busybox-like rootfs, with
/// the usual mounts, masked paths and a small capability set.
pub fn default_spec(rootless: bool) -> Spec {
    let mut spec = if rootless {
        Spec::rootless(
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        )
    } else {
        Spec::default()
    };
    spec.set_version("1.0.2-dev".to_string());
    spec.set_hostname(Some("runsc".to_string()));
    if let Some(p) = spec.process_mut() {
        p.set_terminal(Some(true));
    }
    spec
}

pub fn run(g: &GlobalFlags, args: Args) -> Result<u8> {
    let path = args.bundle.join(specutils::spec::CONFIG_NAME);
    let data =
        serde_json::to_vec_pretty(&default_spec(g.rootless)).context("encode default spec")?;
    let mut f = match OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            bail!("{}: file exists, remove it first", path.display())
        }
        Err(e) => return Err(e).with_context(|| format!("create {}", path.display())),
    };
    f.write_all(&data)
        .and_then(|()| f.write_all(b"\n"))
        .with_context(|| format!("write {}", path.display()))?;
    Ok(0)
}
