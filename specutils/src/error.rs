//! The one way to put context on an OS error: what we were doing, naming
//! the input, with the kernel's answer as the source.

/// An OS error and what failed: "mount proc on /proc: permission denied".
#[derive(Debug, thiserror::Error)]
#[error("{what}: {}", errno_text(source))]
pub struct OsError {
    pub what: String,
    #[source]
    pub source: std::io::Error,
}

impl OsError {
    /// The same error with more of the path that led to it.
    pub fn context(self, more: impl std::fmt::Display) -> Self {
        Self {
            what: format!("{} ({more})", self.what),
            source: self.source,
        }
    }
}

/// Adds context to an OS error: `.map_err(os("mount proc on /proc"))`.
/// Module errors take it with `#[from]`, so `?` rolls it up.
pub fn os<E: Into<std::io::Error>>(what: impl Into<String>) -> impl FnOnce(E) -> OsError {
    let what = what.into();
    move |e| OsError {
        what,
        source: e.into(),
    }
}

/// The kernel's answer as runc words it: lowercase, with no errno number
/// ("permission denied"). Docker reads a failed start's message for those
/// words to choose its exit code (126 for "permission denied", 127 for
/// "no such file or directory"), and a capital letter hides them.
pub fn errno_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    match e.raw_os_error() {
        // The C library's words (std's Display), as Go's table has them.
        Some(code) => text
            .strip_suffix(&format!(" (os error {code})"))
            .unwrap_or(&text)
            .to_lowercase(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_action_and_keeps_the_os_error() {
        let e = os("open /x")(rustix::io::Errno::NOENT);
        assert_eq!(e.source.raw_os_error(), Some(libc::ENOENT));
        assert!(e.to_string().starts_with("open /x: "), "{e}");
        assert_eq!(e.to_string(), "open /x: no such file or directory");
        let again = std::io::Error::from_raw_os_error(libc::EAGAIN);
        assert_eq!(errno_text(&again), "resource temporarily unavailable");
        let e = e.context("mount point /y");
        assert!(
            e.to_string().starts_with("open /x (mount point /y): "),
            "{e}"
        );
    }
}
