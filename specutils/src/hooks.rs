//! Running OCI hooks: each gets the container's state as JSON on stdin,
//! its own argv and environment, and an optional timeout.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use oci_spec::runtime::{ContainerState, Hook};
use serde::{Deserialize, Serialize};

/// The state document a hook reads on stdin.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HookState {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    /// Serialised as the lowercase word the runtime spec uses ("creating").
    pub status: ContainerState,
    pub pid: i32,
    pub bundle: PathBuf,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{stage} hook {path}: {}", crate::error::errno_text(.source))]
    Spawn {
        stage: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{stage} hook {path} exited with {status}{}", stderr_suffix(.stderr))]
    Failed {
        stage: &'static str,
        path: PathBuf,
        status: String,
        stderr: String,
    },
    #[error("{stage} hook {path} timed out after {seconds}s")]
    Timeout {
        stage: &'static str,
        path: PathBuf,
        seconds: i64,
    },
}

fn stderr_suffix(stderr: &str) -> String {
    let line = stderr.trim().lines().last().unwrap_or("");
    if line.is_empty() {
        String::new()
    } else {
        format!(": {line}")
    }
}

/// Runs `hooks` in order; the first failure stops the rest.
pub fn run_hooks(stage: &'static str, hooks: &[Hook], state: &HookState) -> Result<(), HookError> {
    // Plain data with string keys always encodes.
    let input = serde_json::to_vec(state).unwrap_or_default();
    for hook in hooks {
        run_hook(stage, hook, &input)?;
    }
    Ok(())
}

fn run_hook(stage: &'static str, hook: &Hook, input: &[u8]) -> Result<(), HookError> {
    let path = hook.path().clone();
    let spawn_err = |source| HookError::Spawn {
        stage,
        path: path.clone(),
        source,
    };
    let mut cmd = Command::new(&path);
    let args = hook.args().as_deref().unwrap_or(&[]);
    if let Some((arg0, rest)) = args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    // A hook starts with no signal blocked, whatever its runner blocks (the
    // sandbox blocks SIGCHLD; a foreground `run` blocks what it forwards).
    // SAFETY: the child only empties its signal mask, which is
    // async-signal-safe, before execve.
    unsafe {
        cmd.pre_exec(crate::sys::clear_signal_mask);
    }
    cmd.env_clear();
    for kv in hook.env().as_deref().unwrap_or(&[]) {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its state may close stdin early.
        let _ = stdin.write_all(input);
    }
    let timeout = hook.timeout().filter(|t| *t > 0);
    if let Some(seconds) = timeout {
        if !wait_exit(child.id() as i32, Duration::from_secs(seconds as u64)) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(HookError::Timeout {
                stage,
                path,
                seconds,
            });
        }
    }
    let out = child.wait_with_output().map_err(spawn_err)?;
    if !out.status.success() {
        return Err(HookError::Failed {
            stage,
            path,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(())
}

/// Whether child `pid` exits within `limit` (it is not reaped here).
fn wait_exit(pid: i32, limit: Duration) -> bool {
    let Some(pid) = rustix::process::Pid::from_raw(pid) else {
        return true;
    };
    let Ok(fd) = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) else {
        return true;
    };
    crate::proc::wait_exit(std::os::fd::AsFd::as_fd(&fd), limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::HookBuilder;

    fn state() -> HookState {
        HookState {
            oci_version: "1.2.0".into(),
            id: "c".into(),
            status: ContainerState::Creating,
            pid: 42,
            bundle: "/b".into(),
            annotations: Default::default(),
        }
    }

    fn hook(script: &str, timeout: Option<i64>) -> Hook {
        let mut b = HookBuilder::default()
            .path("/bin/sh")
            .args(vec!["sh".to_string(), "-c".to_string(), script.to_string()])
            .env(vec!["X=1".to_string()]);
        if let Some(t) = timeout {
            b = b.timeout(t);
        }
        b.build().expect("hook")
    }

    #[test]
    fn state_on_stdin_env_and_failure() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = format!(
            "cat > {} && echo \"$X\" >> {}",
            out.display(),
            out.display()
        );
        run_hooks("prestart", &[hook(&script, None)], &state()).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        let json = text.strip_suffix("1\n").expect("the hook saw X=1");
        let v: serde_json::Value = serde_json::from_str(json).expect("state on stdin");
        assert_eq!(v["pid"], 42);
        assert_eq!(v["status"], "creating");

        let err = run_hooks(
            "poststart",
            &[hook("echo boom >&2; exit 3", None)],
            &state(),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("poststart hook /bin/sh exited") && msg.ends_with("boom"),
            "{msg}"
        );
    }

    #[test]
    fn the_state_json_hooks_read_uses_the_spec_words() {
        let mut st = state();
        st.annotations.insert("a".into(), "b".into());
        for (status, word) in [
            (ContainerState::Creating, "creating"),
            (ContainerState::Created, "created"),
            (ContainerState::Running, "running"),
            (ContainerState::Stopped, "stopped"),
        ] {
            st.status = status;
            let json = serde_json::to_string(&st).expect("encode");
            assert_eq!(
                json,
                format!(
                    r#"{{"ociVersion":"1.2.0","id":"c","status":"{word}","pid":42,"bundle":"/b","annotations":{{"a":"b"}}}}"#
                )
            );
            let back: HookState = serde_json::from_str(&json).expect("decode");
            assert_eq!(back.status, status);
        }
    }

    #[test]
    fn timeout_kills_the_hook() {
        let err = run_hooks("createRuntime", &[hook("sleep 30", Some(1))], &state()).unwrap_err();
        assert!(
            matches!(err, HookError::Timeout { seconds: 1, .. }),
            "{err}"
        );
    }
}
