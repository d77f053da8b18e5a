//! runc's create flags that shape how a container is set up, from the
//! command line to the sandbox (over the boot and control channels) and on
//! to each init.

/// How an init sets up its container, from runc's create flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LaunchOptions {
    /// `--no-new-keyring`: keep the runtime's session keyring.
    pub no_new_keyring: bool,
    /// `--baseline-seccomp=off`: no baseline filter (the global flag).
    #[serde(default)]
    pub no_baseline_seccomp: bool,
    /// `--preserve-fds N`: the caller's descriptors 3..3+N, which a root
    /// container's init inherits at the same numbers.
    #[serde(default)]
    pub preserve_fds: u32,
}
