//! The file an exec'd child is to exec, as runc treats it: checked
//! before execve (what fails there fails the exec), and a refusal by
//! execve itself told on the process's stderr as its exit 1. Runs in the
//! vfork'd child (`super::child`): nothing here may allocate.

use std::ffi::CStr;

use rustix::fs::Access;

use super::child::{at, fd, Done, Step};

/// runc's checks of the file to exec, with the process's identity, as
/// `init::identity::check_executable` makes them: what fails here fails
/// the exec; what execve refuses after them is the process's exit.
pub(super) fn check(path: &CStr, n: usize) -> Done {
    let st = rustix::fs::stat(path).map_err(at(Step::Stat(n)))?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir() || st.st_mode & 0o111 == 0 {
        return Err((Step::NotExecutable(n), libc::EACCES));
    }
    rustix::fs::access(path, Access::EXEC_OK).map_err(at(Step::Access(n)))
}

/// Writes "exec <path>: <reason>" to stderr, the reason in runc's words.
pub(super) fn say(path: &CStr, errno: i32) {
    let line = line(path, errno);
    let _ = rustix::io::write(fd(2), line.bytes());
}

/// "exec <path>: <reason>\n", the reason strerror's, lowercased as Go
/// prints it, on the stack.
fn line(path: &CStr, errno: i32) -> Line {
    let mut line = Line {
        buf: [0; 1024],
        len: 0,
    };
    line.put(b"exec ");
    line.put(path.to_bytes());
    line.put(b": ");
    // SAFETY: strerror returns a pointer into the C library's static,
    // NUL-terminated table of messages; musl's takes no lock.
    let reason = unsafe { CStr::from_ptr(libc::strerror(errno)) };
    for &b in reason.to_bytes() {
        line.put(&[b.to_ascii_lowercase()]);
    }
    line.put(b"\n");
    line
}

/// A message on the stack, cut at its capacity.
struct Line {
    buf: [u8; 1024],
    len: usize,
}

impl Line {
    fn put(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_is_runc_s() {
        let l = line(c"/bad", libc::ENOEXEC);
        assert_eq!(l.bytes(), b"exec /bad: exec format error\n");
        let l = line(c"/x", libc::ENOENT);
        assert_eq!(l.bytes(), b"exec /x: no such file or directory\n");
    }

    #[test]
    fn a_long_path_is_cut_not_overrun() {
        let path = std::ffi::CString::new(vec![b'a'; 2000]).unwrap();
        let l = line(&path, libc::ENOEXEC);
        assert_eq!(l.bytes().len(), 1024);
        assert!(l.bytes().starts_with(b"exec aaa"));
    }
}
