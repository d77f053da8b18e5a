//! The frontend's test-only crash points (RUNSC_TEST_CRASH_AT).

use std::process::Output;

use super::stderr;

/// Asserts that runsc died by SIGKILL, as RUNSC_TEST_CRASH_AT=`point` makes
/// it.
pub fn assert_crashed(point: &str, out: &Output) {
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(9),
        "{point}: not killed there: {:?} {}",
        out.status,
        stderr(out)
    );
}
