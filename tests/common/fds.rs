//! Handing a descriptor to runsc at a number of the caller's choosing, as
//! containerd's shim does with --preserve-fds, or a careless caller with a
//! descriptor left open.

use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes `fd` the child's descriptor `target`, inherited across exec.
/// `fd` must stay open until `cmd` has been spawned.
pub fn pass_fd(cmd: &mut Command, fd: &impl AsRawFd, target: RawFd) {
    let raw = fd.as_raw_fd();
    // SAFETY: only dup2 and fcntl, both async-signal-safe, in the child
    // between fork and exec, on a descriptor it inherited; the fcntl clears
    // close-on-exec where `raw` already was `target` (dup2 does not then).
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, target) < 0 || libc::fcntl(target, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
