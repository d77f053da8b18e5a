//! Loading a bundle's config.json and rejecting what no container can run.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

/// The spec file's name inside a bundle.
pub const CONFIG_NAME: &str = "config.json";

/// The runtime-spec version we implement, which the state document and
/// every hook's state report (not the bundle's, as runc does).
pub const OCI_VERSION: &str = "1.2.0";

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("read {path}: {}", crate::error::errno_text(.source))]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parse {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: {what}")]
    Invalid { path: PathBuf, what: String },
    #[error("rootfs {path}: {}", crate::error::errno_text(.source))]
    Rootfs {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("rootfs {path}: not a directory")]
    RootfsNotDir { path: PathBuf },
}

/// Reads and validates `<bundle>/config.json`. Every error names the file.
pub fn load_spec(bundle: &Path) -> Result<Spec, SpecError> {
    let path = bundle.join(CONFIG_NAME);
    let data = std::fs::read(&path).map_err(|source| SpecError::Read {
        path: path.clone(),
        source,
    })?;
    let spec = parse_spec(&data, &path)?;
    let rootfs = rootfs_path(bundle, &spec);
    let meta = std::fs::metadata(&rootfs).map_err(|source| SpecError::Rootfs {
        path: rootfs.clone(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(SpecError::RootfsNotDir { path: rootfs });
    }
    Ok(spec)
}

/// Parses spec JSON and checks the fields every container needs; `path`
/// only names the source in errors.
pub fn parse_spec(data: &[u8], path: &Path) -> Result<Spec, SpecError> {
    let spec: Spec = serde_json::from_slice(data).map_err(|source| SpecError::Parse {
        path: path.to_path_buf(),
        source,
    })?;
    let invalid = |what: &str| SpecError::Invalid {
        path: path.to_path_buf(),
        what: what.to_string(),
    };
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| invalid("root.path is missing"))?;
    if root.path().as_os_str().is_empty() {
        return Err(invalid("root.path is empty"));
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| invalid("process is missing"))?;
    match process.args() {
        Some(args) if !args.is_empty() && !args[0].is_empty() => {}
        _ => return Err(invalid("process.args is missing or empty")),
    }
    if !process.cwd().is_absolute() {
        return Err(invalid("process.cwd must be an absolute path"));
    }
    Ok(spec)
}

/// The rootfs directory: `root.path`, relative to the bundle unless
/// absolute.
pub fn rootfs_path(bundle: &Path, spec: &Spec) -> PathBuf {
    match spec.root() {
        Some(root) => bundle.join(root.path()),
        None => bundle.join("rootfs"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Spec, SpecError> {
        parse_spec(s.as_bytes(), Path::new("b/config.json"))
    }

    #[test]
    fn names_the_file_on_bad_json() {
        let err = parse("{\"ociVersion\": ").unwrap_err().to_string();
        assert!(err.starts_with("parse b/config.json:"), "{err}");
        let err = parse("{\"ociVersion\": 3}").unwrap_err().to_string();
        assert!(err.contains("b/config.json"), "{err}");
    }

    #[test]
    fn requires_root_and_args() {
        let err = parse(r#"{"ociVersion":"1.0.2","process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("root.path"), "{err}");
        let err = parse(r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"cwd":"/","args":[],"user":{"uid":0,"gid":0}}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("process.args"), "{err}");
        parse(r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}}}"#)
            .expect("minimal spec");
    }
}
