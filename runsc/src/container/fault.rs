//! Test-only fault injection: with `RUNSC_TEST_CRASH_AT=<point>` in its
//! environment, the frontend SIGKILLs itself on reaching that point, so
//! that tests can check what a crash there leaves and that `delete
//! --force` still cleans it all up. Our own children never inherit it.
//! Only in builds with the `fault-injection` feature (the tests' builds).

/// The environment variable that names the crash point.
pub const CRASH_AT: &str = "RUNSC_TEST_CRASH_AT";

/// Dies by SIGKILL here if asked to.
#[cfg(feature = "fault-injection")]
pub fn crash_point(point: &str) {
    if std::env::var_os(CRASH_AT).is_some_and(|v| v == point) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}

/// Does nothing: release builds carry no crash points.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn crash_point(_point: &str) {}
