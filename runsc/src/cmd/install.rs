//! `runsc install` and `runsc uninstall`: register runsc as a runtime in
//! Docker's daemon.json, keeping every other key, and take it out again;
//! with `--containerd`, our shim in containerd's config.toml
//! (install_containerd.rs).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};

use super::install_containerd as containerd;
use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Docker's daemon configuration, or containerd's with --containerd
    /// [default: /etc/docker/daemon.json, /etc/containerd/config.toml]
    #[arg(long = "config-file")]
    pub config_file: Option<PathBuf>,
    /// containerd's config (version 2 TOML) instead of Docker's: our shim,
    /// containerd-shim-runsc-v1, as a CRI runtime
    #[arg(long)]
    pub containerd: bool,
    /// With --containerd: the shim's options file (TOML: root, debug_log,
    /// systemd_cgroup), as the runtime's ConfigPath
    #[arg(long, requires = "containerd")]
    pub runtime_config_path: Option<PathBuf>,
    /// Runtime name to register (the CRI handler with --containerd)
    #[arg(long, default_value = "runsc")]
    pub runtime: String,
    /// Extra runsc flags Docker passes on every call (after --)
    #[arg(last = true)]
    pub runtime_args: Vec<String>,
}

/// Reads daemon.json; a missing file is an empty configuration, a file
/// that is not a JSON object is an error and stays untouched.
fn read_config(path: &Path) -> Result<Map<String, Value>> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
    };
    if data.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(&data).with_context(|| format!("parse {}", path.display()))? {
        Value::Object(m) => Ok(m),
        _ => bail!("{}: not a JSON object", path.display()),
    }
}

fn write_config(path: &Path, config: &Map<String, Value>) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let mut data = serde_json::to_vec_pretty(config)?;
    data.push(b'\n');
    specutils::fs::write_atomic(path, &data, 0o666)
        .with_context(|| format!("write {}", path.display()))
}

impl Args {
    fn config_file(&self) -> PathBuf {
        let default = if self.containerd {
            containerd::DEFAULT_CONFIG
        } else {
            "/etc/docker/daemon.json"
        };
        self.config_file.clone().unwrap_or_else(|| default.into())
    }
}

pub fn install(_g: &GlobalFlags, a: Args) -> Result<u8> {
    let config_file = a.config_file();
    let exe = runsc::container::spawn::self_exe().context("find our own executable")?;
    if a.containerd {
        return install_containerd(&a, &config_file, exe);
    }
    let mut config = read_config(&config_file)?;
    let mut entry = json!({ "path": exe });
    if !a.runtime_args.is_empty() {
        entry["runtimeArgs"] = json!(a.runtime_args);
    }
    let runtimes = config.entry("runtimes").or_insert_with(|| json!({}));
    let Some(runtimes) = runtimes.as_object_mut() else {
        bail!("{}: \"runtimes\" is not an object", config_file.display());
    };
    runtimes.insert(a.runtime.clone(), entry);
    write_config(&config_file, &config)?;
    println!(
        "runtime {:?} added to {}; restart dockerd to use it",
        a.runtime,
        config_file.display()
    );
    Ok(0)
}

fn install_containerd(a: &Args, config_file: &Path, exe: &Path) -> Result<u8> {
    if !a.runtime_args.is_empty() {
        bail!(
            "runtime flags after -- are for Docker; containerd's shim reads its options \
             from the file --runtime-config-path names"
        );
    }
    let shim = containerd::shim_beside(exe);
    let runtime = containerd::Runtime {
        name: &a.runtime,
        shim: shim.clone(),
        config_path: a.runtime_config_path.as_deref(),
    };
    containerd::install(config_file, &runtime)?;
    println!(
        "runtime {:?} (io.containerd.runsc.v1) added to {}; restart containerd to use it",
        a.runtime,
        config_file.display()
    );
    if shim.is_none() {
        println!("containerd-shim-runsc-v1 is not beside runsc: put it on containerd's PATH");
    }
    println!(
        "For Kubernetes, a RuntimeClass:\n---\n{}",
        containerd::runtime_class(&a.runtime)
    );
    Ok(0)
}

pub fn uninstall(_g: &GlobalFlags, a: Args) -> Result<u8> {
    let config_file = a.config_file();
    if a.containerd {
        containerd::uninstall(&config_file, &a.runtime)?;
        return Ok(0);
    }
    let mut config = read_config(&config_file)?;
    let removed = config
        .get_mut("runtimes")
        .and_then(Value::as_object_mut)
        .and_then(|r| r.remove(&a.runtime))
        .is_some();
    if removed {
        if config
            .get("runtimes")
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
        {
            config.remove("runtimes");
        }
        write_config(&config_file, &config)?;
    }
    Ok(0)
}
