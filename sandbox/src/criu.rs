//! Running the `criu` binary for checkpoint and restore.
//!
//! We drive CRIU's command line rather than its RPC (`criu swrk` through
//! the rust-criu crate): every option we need has a flag, we need none of
//! the RPC's notification callbacks (the sandbox becomes the restored
//! init's parent through `--restore-sibling`, and CRIU recreates all of the
//! container's namespaces itself), and CRIU's own log file is the error
//! report users and bug reports already know.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The oldest CRIU that works here: 3.x fails on these kernels' vDSO.
pub const MIN_MAJOR: u32 = 4;

#[derive(Debug, thiserror::Error)]
pub enum CriuError {
    #[error("{0} not found in PATH: checkpoint and restore need CRIU {MIN_MAJOR}.0 or newer (tools/install-criu installs it)")]
    Missing(String),
    #[error("run {binary}: {source}")]
    Spawn {
        binary: String,
        source: std::io::Error,
    },
    #[error("criu {found} is too old: checkpoint and restore need CRIU {MIN_MAJOR}.0 or newer (tools/install-criu installs it)")]
    TooOld { found: String },
    #[error("criu --version printed no version: {0:?}")]
    NoVersion(String),
    #[error("criu {action} failed ({status}){detail}; log: {log}")]
    Failed {
        action: String,
        status: String,
        detail: String,
        log: String,
    },
}

/// A CRIU binary of a usable version.
#[derive(Debug, Clone)]
pub struct Criu {
    pub path: PathBuf,
    pub version: String,
}

impl Criu {
    /// Finds CRIU and checks its version: `binary` as runc's `--criu`
    /// takes it (a path, or a name looked up in PATH), else `criu` in PATH.
    pub fn find(binary: Option<&Path>) -> Result<Self, CriuError> {
        let name = binary.unwrap_or(Path::new("criu"));
        let path = if name.as_os_str().as_encoded_bytes().contains(&b'/') {
            name.to_path_buf()
        } else {
            find_in_path(name).ok_or_else(|| CriuError::Missing(name.display().to_string()))?
        };
        let out = Command::new(&path)
            .arg("--version")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(|source| CriuError::Spawn {
                binary: path.display().to_string(),
                source,
            })?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let version = parse_version(&text).ok_or_else(|| CriuError::NoVersion(text.clone()))?;
        let major = version
            .split('.')
            .next()
            .and_then(|m| m.parse::<u32>().ok())
            .ok_or_else(|| CriuError::NoVersion(text.clone()))?;
        if major < MIN_MAJOR {
            return Err(CriuError::TooOld { found: version });
        }
        Ok(Self { path, version })
    }

    /// A command for `criu <action>` with stdio on /dev/null: CRIU and the
    /// tools it runs (`ip`, `iptables-restore`) print to stderr, which
    /// would otherwise land in the container's output.
    pub fn command(&self, action: &str) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.arg(action)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }

    /// Runs a command made by [`Criu::command`] that logs to `log`; on
    /// failure the error carries the log's last error lines.
    pub fn run(&self, action: &str, mut cmd: Command, log: &Path) -> Result<(), CriuError> {
        tracing::debug!("criu {action}: {cmd:?}");
        let status = cmd.status().map_err(|source| CriuError::Spawn {
            binary: self.path.display().to_string(),
            source,
        })?;
        if status.success() {
            return Ok(());
        }
        Err(failure(action, status.to_string(), log))
    }
}

/// The error for a failed `criu <action>`, with the cause from its log.
pub fn failure(action: &str, status: String, log: &Path) -> CriuError {
    CriuError::Failed {
        action: action.to_string(),
        status,
        detail: log_errors(log)
            .map(|e| format!(": {e}"))
            .unwrap_or_default(),
        log: log.display().to_string(),
    }
}

/// The first few "Error" lines of a CRIU log (the cause comes first; the
/// rest is unwinding), joined, without CRIU's timestamps and source
/// locations. Errors that say nothing about the cause are skipped: raising
/// its own RLIMIT_NOFILE without CAP_SYS_RESOURCE, the summary line, and
/// its cgroup helper's complaint when the restore is torn down.
pub fn log_errors(log: &Path) -> Option<String> {
    let mut text = String::new();
    std::fs::File::open(log)
        .ok()?
        .take(8 << 20)
        .read_to_string(&mut text)
        .ok()?;
    let errors: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            let at = l.find("Error (")?;
            let rest = &l[at..];
            let msg = rest.find("): ").map(|i| &rest[i + 3..]).unwrap_or(rest);
            Some(msg.trim())
        })
        .filter(|m| {
            !m.starts_with("rlimit:") && !m.ends_with("FAILED.") && !m.starts_with("cg: cgroupd:")
        })
        .take(3)
        .collect();
    (!errors.is_empty()).then(|| errors.join("; "))
}

fn parse_version(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("Version:"))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn find_in_path(name: impl AsRef<OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name.as_ref()))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_lines() {
        assert_eq!(parse_version("Version: 4.1.1\n").as_deref(), Some("4.1.1"));
        assert_eq!(
            parse_version("Version: 3.17.1\nGitID: v3.17\n").as_deref(),
            Some("3.17.1")
        );
        assert_eq!(parse_version("criu: oops\n"), None);
    }

    #[test]
    fn errors_from_log() {
        let dir = std::env::temp_dir().join(format!("runsc-criu-log-{}", std::process::id()));
        std::fs::write(
            &dir,
            "(00.0) Error (criu/util.c:1533): rlimit: Can't setup RLIMIT_NOFILE for self\n\
             (00.1) Warn  (criu/x.c:1): something\n\
             (00.2) Error (criu/files-reg.c:1790): Can't lookup mount=24 for fd=0 path=/dev/null\n\
             (00.3) Error (criu/cr-dump.c:2111): Dumping FAILED.\n",
        )
        .unwrap();
        let errors = log_errors(&dir);
        let _ = std::fs::remove_file(&dir);
        assert_eq!(
            errors.as_deref(),
            Some("Can't lookup mount=24 for fd=0 path=/dev/null")
        );
    }
}
