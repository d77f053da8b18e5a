//! glibc's malloc, tuned for a shim that lives as long as its pod and
//! mostly waits. glibc gives each new thread that contends an arena of its
//! own, up to eight per core, and the containerd-shim crate's ttrpc server
//! alone runs some six threads per containerd connection; each arena keeps
//! its own touched pages and freed chunks. A shim's requests are few and
//! serial enough that one arena costs nothing in speed.
//!
//! musl's malloc (the release build's, docs/decisions.md "musl, static")
//! has one heap for all threads and gives freed spans back by itself: there
//! both calls are nothing to do.

/// Makes every thread allocate from the main arena. Call it first in
/// main, before any thread exists.
pub fn one_arena() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets a malloc parameter; glibc takes its own
    // lock for it, and no other thread runs yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Hands the heap's free pages back to the kernel, after a request that
/// allocated much and freed it (a container's create).
pub fn trim() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free memory under malloc's own
    // lock; it touches no allocation of ours.
    unsafe {
        libc::malloc_trim(0);
    }
}
