//! What the integration tests need of the process running them: root,
//! and for some, being a child subreaper without affecting other tests.

use std::io::Write;
use std::process::Command;
use std::sync::Once;

/// True where the tests cannot run, after saying so in one line per test
/// binary: they need root. Each test starts with
/// `if common::skip_without_root() { return; }`.
pub fn skip_without_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return false;
    }
    static SAID: Once = Once::new();
    SAID.call_once(|| {
        // Straight to fd 2: the harness captures eprintln! of passing tests.
        let _ = writeln!(
            std::io::stderr(),
            "skipped: the integration tests need root (euid {})",
            nix::unistd::geteuid()
        );
    });
    true
}

/// Set in the process `in_subreaper_process` starts.
const SUBREAPER_CHILD: &str = "RUNSC_TEST_SUBREAPER";

/// Runs the calling test `name` once more in a test process of its own,
/// made a child subreaper there, as a shim is: orphaned sandboxes and
/// exec'd processes become its children. The attribute is per process, so
/// set in the shared one it would take the orphans of every test running
/// alongside. Returns true in that process, where the test goes on, and
/// false in the caller's once the test passed there.
pub fn in_subreaper_process(name: &str) -> bool {
    if std::env::var_os(SUBREAPER_CHILD).is_some() {
        nix::sys::prctl::set_child_subreaper(true).expect("become a child subreaper");
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = Command::new(&exe)
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(SUBREAPER_CHILD, "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {} {name}: {e}", exe.display()));
    let text = super::stdout(&out);
    assert!(
        out.status.success() && text.contains("1 passed"),
        "{name} in a process of its own ({:?}):\n{text}\n{}",
        out.status,
        super::stderr(&out)
    );
    false
}
