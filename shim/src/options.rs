//! The shim's runtime options: a TOML file named by the runtime's
//! `ConfigPath` option, kept in the bundle so that `delete` after a killed
//! shim finds the same state root.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where a container's options are kept, in its bundle.
const KEPT: &str = "runsc-options.json";

/// What containerd's ConfigPath file may say; every key is optional.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct RuntimeOptions {
    /// The runsc state root (`--root`).
    #[serde(default = "default_root")]
    pub root: PathBuf,
    /// The runsc binary the sandboxes and gofers run; by default the one
    /// beside the shim, else `runsc` on PATH.
    #[serde(default)]
    pub binary: Option<PathBuf>,
    /// `--debug-log`: a file, or a directory ending in '/'.
    #[serde(default)]
    pub debug_log: Option<String>,
    /// `--debug`.
    #[serde(default)]
    pub debug: bool,
    /// `--systemd-cgroup`: cgroupsPath is `slice:prefix:name`.
    #[serde(default)]
    pub systemd_cgroup: bool,
    /// `--criu`: the CRIU binary for checkpoint and restore, a path or a
    /// name in PATH (what `CriuPath` is to runc's shim).
    #[serde(default)]
    pub criu: Option<PathBuf>,
}

fn default_root() -> PathBuf {
    PathBuf::from("/run/containerd/runsc")
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            root: default_root(),
            binary: None,
            debug_log: None,
            debug: false,
            systemd_cgroup: false,
            criu: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    #[error("runtime options file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("runtime options file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("runtime options {type_url}: {message}")]
    Decode { type_url: String, message: String },
    #[error("kept options {path}: {source}")]
    Kept {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("kept options {path}: {source}")]
    KeptJson {
        path: PathBuf,
        source: serde_json::Error,
    },
}

impl RuntimeOptions {
    /// Reads the TOML file at `path`.
    pub fn from_file(path: &Path) -> Result<Self, OptionsError> {
        let text = std::fs::read_to_string(path).map_err(|source| OptionsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| OptionsError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The options of a CreateTask request: containerd's CRI plugin and
    /// `ctr --runtime-config-path` send `runtimeoptions.v1.Options`, whose
    /// field 2 is ConfigPath; no options, or no path, means the defaults.
    pub fn from_any(type_url: &str, value: &[u8]) -> Result<Self, OptionsError> {
        if value.is_empty() {
            return Ok(Self::default());
        }
        match config_path(value) {
            Ok(Some(path)) if !path.is_empty() => Self::from_file(Path::new(&path)),
            Ok(_) => Ok(Self::default()),
            Err(message) => Err(OptionsError::Decode {
                type_url: type_url.to_string(),
                message,
            }),
        }
    }

    /// Keeps the options in `bundle` for a later `delete`.
    pub fn keep(&self, bundle: &Path) -> Result<(), OptionsError> {
        let path = bundle.join(KEPT);
        let data = serde_json::to_vec(self).map_err(|source| OptionsError::KeptJson {
            path: path.clone(),
            source,
        })?;
        std::fs::write(&path, data).map_err(|source| OptionsError::Kept { path, source })
    }

    /// The options kept in `bundle`, or the defaults when none were kept.
    pub fn kept(bundle: &Path) -> Result<Self, OptionsError> {
        let path = bundle.join(KEPT);
        match std::fs::read(&path) {
            Ok(data) => serde_json::from_slice(&data)
                .map_err(|source| OptionsError::KeptJson { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(OptionsError::Kept { path, source }),
        }
    }

    /// The global flags runsc's children are started with.
    pub fn child_flags(&self) -> Vec<String> {
        let mut flags = vec![format!("--root={}", self.root.display())];
        if self.debug {
            flags.push("--debug".into());
        }
        if let Some(d) = &self.debug_log {
            flags.push(format!("--debug-log={d}"));
        }
        flags
    }

    /// The runsc binary the sandboxes run.
    pub fn runsc_binary(&self) -> Option<PathBuf> {
        if let Some(b) = &self.binary {
            return Some(b.clone());
        }
        let beside = std::env::current_exe().ok()?.with_file_name("runsc");
        if beside.is_file() {
            return Some(beside);
        }
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("runsc"))
                .find(|p| p.is_file())
        })
    }
}

/// A protobuf field's value, as far as the shim reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// The fields of a protobuf message, read by hand: the options types
/// containerd sends are not among the generated protos.
fn fields(mut buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, String> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let (key, rest) = varint(buf)?;
        buf = rest;
        let (number, wire) = (key >> 3, key & 7);
        let value = match wire {
            0 => {
                let (v, rest) = varint(buf)?;
                buf = rest;
                Field::Varint(v)
            }
            1 => {
                buf = buf.get(8..).ok_or("truncated fixed64")?;
                Field::Fixed
            }
            5 => {
                buf = buf.get(4..).ok_or("truncated fixed32")?;
                Field::Fixed
            }
            2 => {
                let (len, rest) = varint(buf)?;
                let len = usize::try_from(len).map_err(|_| "length too large")?;
                let bytes = rest.get(..len).ok_or("truncated field")?;
                buf = &rest[len..];
                Field::Bytes(bytes)
            }
            w => return Err(format!("unexpected wire type {w}")),
        };
        out.push((number, value));
    }
    Ok(out)
}

/// Field 2 (ConfigPath, a string) of `runtimeoptions.v1.Options`.
fn config_path(buf: &[u8]) -> Result<Option<String>, String> {
    for (number, value) in fields(buf)? {
        if let (2, Field::Bytes(bytes)) = (number, value) {
            let s = std::str::from_utf8(bytes).map_err(|_| "ConfigPath is not UTF-8")?;
            return Ok(Some(s.to_string()));
        }
    }
    Ok(None)
}

/// Field 1 (exit: stop the container once checkpointed) of runc's
/// `CheckpointOptions`, which `ctr` sends for a checkpoint.
pub fn checkpoint_exits(buf: &[u8]) -> Result<bool, String> {
    Ok(fields(buf)?
        .into_iter()
        .any(|(n, v)| n == 1 && matches!(v, Field::Varint(x) if x != 0)))
}

fn varint(buf: &[u8]) -> Result<(u64, &[u8]), String> {
    let mut v = 0u64;
    for (i, b) in buf.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((v, &buf[i + 1..]));
        }
    }
    Err("bad varint".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_path_is_field_two() {
        // TypeUrl "t" (field 1), ConfigPath "/x.toml" (field 2).
        let mut msg = vec![0x0a, 1, b't', 0x12, 7];
        msg.extend_from_slice(b"/x.toml");
        assert_eq!(config_path(&msg).unwrap().as_deref(), Some("/x.toml"));
        assert_eq!(config_path(&[0x0a, 1, b't']).unwrap(), None);
        assert!(config_path(&[0x12, 9, b'a']).is_err());
        assert!(checkpoint_exits(&[0x08, 1]).unwrap());
        assert!(!checkpoint_exits(&[0x08, 0, 0x12, 1, b'x']).unwrap());
    }

    #[test]
    fn toml_keys() {
        let o: RuntimeOptions =
            toml::from_str("root = \"/r\"\nsystemd_cgroup = true\ndebug_log = \"/l/\"").unwrap();
        assert_eq!(o.root, PathBuf::from("/r"));
        assert!(o.systemd_cgroup);
        assert!(toml::from_str::<RuntimeOptions>("rooot = 1").is_err());
    }
}
