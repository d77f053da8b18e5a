//! `runsc install` and `runsc uninstall`: register runsc as a runtime in
//! Docker's daemon.json, keeping every other key, and take it out again.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Docker's daemon configuration
    #[arg(long = "config-file", default_value = "/etc/docker/daemon.json")]
    pub config_file: PathBuf,
    /// Runtime name to register
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

pub fn install(_g: &GlobalFlags, a: Args) -> Result<u8> {
    let mut config = read_config(&a.config_file)?;
    let exe = runsc::container::spawn::self_exe().context("find our own executable")?;
    let mut entry = json!({ "path": exe });
    if !a.runtime_args.is_empty() {
        entry["runtimeArgs"] = json!(a.runtime_args);
    }
    let runtimes = config.entry("runtimes").or_insert_with(|| json!({}));
    let Some(runtimes) = runtimes.as_object_mut() else {
        bail!("{}: \"runtimes\" is not an object", a.config_file.display());
    };
    runtimes.insert(a.runtime.clone(), entry);
    write_config(&a.config_file, &config)?;
    println!(
        "runtime {:?} added to {}; restart dockerd to use it",
        a.runtime,
        a.config_file.display()
    );
    Ok(0)
}

pub fn uninstall(_g: &GlobalFlags, a: Args) -> Result<u8> {
    let mut config = read_config(&a.config_file)?;
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
        write_config(&a.config_file, &config)?;
    }
    Ok(0)
}
