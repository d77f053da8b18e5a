//! Shared helpers for the integration tests: each test gets its own state
//! root and bundle in a temporary directory, removed when the test ends,
//! whether it passed or not.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
pub fn runsc_bin() -> &'static str {
    env!("CARGO_BIN_EXE_runsc")
}

/// A test's private world: `--root`, a scratch directory, a log file.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub log: PathBuf,
}

impl Env {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("runsc-test-")
            .tempdir()
            .expect("create test directory");
        let root = dir.path().join("root");
        let log = dir.path().join("runsc.log");
        Self { dir, root, log }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `runsc --root <root> --log <log> --log-format json ARGS`.
    pub fn runsc(&self, args: &[&str]) -> Output {
        Command::new(runsc_bin())
            .arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&self.log)
            .arg("--log-format=json")
            .args(args)
            .output()
            .expect("spawn runsc")
    }

    /// Builds a busybox bundle running `cmd` under the scratch directory.
    pub fn bundle(&self, name: &str, cmd: &[&str]) -> PathBuf {
        let dir = self.path().join(name);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/mkrootfs");
        let out = Command::new(script)
            .arg(&dir)
            .args(cmd)
            .output()
            .expect("run tools/mkrootfs");
        assert!(
            out.status.success(),
            "mkrootfs failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    }

    /// The JSON lines of the log file.
    pub fn log_lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log line {l:?}: {e}")))
            .collect()
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a failed run: exit 1, one line on stderr containing `needle`.
pub fn assert_fails_with(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    assert!(err.contains(needle), "expected {needle:?} in stderr: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
}
