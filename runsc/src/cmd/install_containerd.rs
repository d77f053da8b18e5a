//! `runsc install --containerd`: our shim as a CRI runtime in containerd's
//! config.toml, the rest of the file kept as it was (comments, order,
//! other runtimes); `uninstall --containerd` takes it out again.
//!
//! containerd 1.6 and 1.7 read config version 2 (the CRI plugin is
//! `io.containerd.grpc.v1.cri`) and, without a `version` key, version 1
//! (plugin `cri`). Version 3 is containerd 2.x, whose task API (v3) our
//! shim does not speak: refused.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use toml_edit::{value, DocumentMut, Item, Table};

const RUNTIME_TYPE: &str = "io.containerd.runsc.v1";
const SHIM: &str = "containerd-shim-runsc-v1";
pub const DEFAULT_CONFIG: &str = "/etc/containerd/config.toml";

/// What goes into the runtime's table.
pub struct Runtime<'a> {
    /// The CRI handler, as a RuntimeClass names it.
    pub name: &'a str,
    /// The shim binary, when containerd is to find it there rather than
    /// on its PATH.
    pub shim: Option<PathBuf>,
    /// The shim's options file (root, debug log, systemd cgroups).
    pub config_path: Option<&'a Path>,
}

/// The shim beside this runsc, if it is there.
pub fn shim_beside(runsc: &Path) -> Option<PathBuf> {
    Some(runsc.with_file_name(SHIM)).filter(|p| p.is_file())
}

/// Reads `path`; a missing file is a new version 2 configuration, a file
/// that is not TOML is an error and stays untouched.
fn read(path: &Path) -> Result<DocumentMut> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "version = 2\n".into(),
        Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
    };
    text.parse()
        .with_context(|| format!("parse {} as TOML", path.display()))
}

/// The CRI plugin's key for the file's config version.
fn cri_plugin(doc: &DocumentMut, path: &Path) -> Result<&'static str> {
    let version = match doc.get("version") {
        None => 1,
        Some(v) => v
            .as_integer()
            .ok_or_else(|| anyhow!("{}: version is not an integer", path.display()))?,
    };
    match version {
        1 => Ok("cri"),
        2 => Ok("io.containerd.grpc.v1.cri"),
        v => bail!(
            "{}: config version {v} is containerd 2.x, whose task API our shim does not \
             speak (containerd 1.6 and 1.7 read version 2)",
            path.display()
        ),
    }
}

/// The table at `keys` under `table`, made (implicit: no header of its
/// own) where missing.
fn table_at<'a>(mut table: &'a mut Table, keys: &[&str], path: &Path) -> Result<&'a mut Table> {
    for (i, key) in keys.iter().enumerate() {
        let item = table.entry(key).or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        table = item.as_table_mut().ok_or_else(|| {
            anyhow!(
                "{}: {} is not a table",
                path.display(),
                keys[..=i].join(".")
            )
        })?;
    }
    Ok(table)
}

fn runtimes_keys(plugin: &str) -> [&str; 4] {
    ["plugins", plugin, "containerd", "runtimes"]
}

fn write(path: &Path, doc: &DocumentMut) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o7777);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    specutils::fs::write_atomic(path, doc.to_string().as_bytes(), mode)
        .with_context(|| format!("write {}", path.display()))
}

/// Adds `runtime` to the config at `path` (or replaces ours of that name).
pub fn install(path: &Path, runtime: &Runtime<'_>) -> Result<()> {
    let mut doc = read(path)?;
    let plugin = cri_plugin(&doc, path)?;
    let runtimes = table_at(doc.as_table_mut(), &runtimes_keys(plugin), path)?;
    let mut entry = Table::new();
    entry.insert("runtime_type", value(RUNTIME_TYPE));
    if let Some(shim) = &runtime.shim {
        entry.insert("runtime_path", value(shim.display().to_string()));
    }
    if let Some(config) = runtime.config_path {
        let mut options = Table::new();
        options.insert("TypeUrl", value(format!("{RUNTIME_TYPE}.options")));
        options.insert("ConfigPath", value(config.display().to_string()));
        entry.insert("options", Item::Table(options));
    }
    // In place of an earlier entry of that name, where it stood.
    runtimes.insert(runtime.name, Item::Table(entry));
    write(path, &doc)
}

/// Removes runtime `name` from the config at `path`; whether it was there.
/// The file is not written when it was not.
pub fn uninstall(path: &Path, name: &str) -> Result<bool> {
    let mut doc = read(path)?;
    let plugin = cri_plugin(&doc, path)?;
    let mut table = doc.as_table_mut();
    for key in runtimes_keys(plugin) {
        match table.get_mut(key).and_then(Item::as_table_mut) {
            Some(t) => table = t,
            None => return Ok(false),
        }
    }
    if table.remove(name).is_none() {
        return Ok(false);
    }
    write(path, &doc)?;
    Ok(true)
}

/// The Kubernetes object that sends pods to handler `name`.
pub fn runtime_class(name: &str) -> String {
    format!("apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: {name}\nhandler: {name}\n")
}
