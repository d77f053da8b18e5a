//! The one way to put context on an OS error: what we were doing, naming
//! the input, with the kernel's answer as the source.

/// An OS error and what failed: "mount proc on /proc: permission denied".
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_action_and_keeps_the_os_error() {
        let e = os("open /x")(rustix::io::Errno::NOENT);
        assert_eq!(e.source.raw_os_error(), Some(libc::ENOENT));
        assert!(e.to_string().starts_with("open /x: "), "{e}");
        let e = e.context("mount point /y");
        assert!(
            e.to_string().starts_with("open /x (mount point /y): "),
            "{e}"
        );
    }
}
