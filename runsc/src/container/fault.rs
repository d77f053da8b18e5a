//! Test-only fault injection: with `RUNSC_TEST_CRASH_AT=<point>` in its
//! environment, the frontend SIGKILLs itself on reaching that point, so
//! that tests can check what a crash there leaves and that `delete
//! --force` still cleans it all up. Our own children never inherit it.

/// The environment variable that names the crash point.
pub const CRASH_AT: &str = "RUNSC_TEST_CRASH_AT";

/// Dies by SIGKILL here if asked to.
pub fn crash_point(point: &str) {
    if std::env::var_os(CRASH_AT).is_some_and(|v| v == point) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}
