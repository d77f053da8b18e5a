//! Reaping the sandboxes and gofers the frontend starts, which are our
//! children, and nothing else.
//!
//! The containerd-shim crate's own reaper waits for any child, and so
//! takes the exit status of the programs the frontend runs and waits for
//! itself (CRIU, hooks): those then fail with ECHILD. So the shim turns it
//! off and waits for each of its long-lived children by pid, on a thread
//! that blocks until that child exits.

/// Reaps child `pid` once it exits.
pub fn adopt(pid: i32) {
    std::thread::spawn(move || {
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    });
}
