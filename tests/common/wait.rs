//! Waiting for a condition seen from outside, with a deadline, instead of
//! sleeping for a guessed while: a slow host (the emulated guest of
//! tools/vmtest) only takes longer.

use std::time::{Duration, Instant};

use super::Env;

/// Polls `done` until it holds; fails the test after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The OCI status `state` reports for `id` ("" if it has none).
pub fn status_of(env: &Env, id: &str) -> String {
    env.state(id)["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Waits until `state` reports `want` for `id`.
pub fn wait_for_status(env: &Env, id: &str, want: &str) {
    wait_for(
        &format!("{id} to be {want}"),
        Duration::from_secs(10),
        || status_of(env, id) == want,
    );
}
