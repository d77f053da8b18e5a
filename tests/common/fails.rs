//! A command that fails as ours should: its exit status, and one line on
//! stderr that says why.

use std::process::Output;

use super::stderr;

/// Asserts a failed command: exit 1, one line on stderr containing `needle`.
pub fn assert_fails_with(o: &Output, needle: &str) {
    assert_fails_with_status(o, 1, needle);
}

/// The same for `exec`, which exits 255 when it fails, as runc's does:
/// the process's own exit status takes the rest.
pub fn assert_exec_fails_with(o: &Output, needle: &str) {
    assert_fails_with_status(o, 255, needle);
}

fn assert_fails_with_status(o: &Output, status: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(status), "stderr: {err}");
    assert!(err.contains(needle), "expected {needle:?} in stderr: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
}
