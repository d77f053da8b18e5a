//! Giving back the main thread's stack pages that setup used.
//!
//! Setup runs deep call chains (spec parsing, mounts, namespaces) that
//! dirty tens of KiB of the main thread's stack; an idle sandbox then
//! waits in a shallow frame for the container's life, and every page
//! below that frame stays charged to it as anonymous memory. Those pages
//! hold nothing live: below the stack pointer is free by the ABI, and a
//! later deeper call faults in fresh zero pages.

/// Pages kept below this function's frame: room for the calls it makes
/// (the /proc read is done before the frame's address is taken; madvise
/// is one libc call) with a wide margin.
const MARGIN_PAGES: usize = 1;

/// Drops the pages of the main thread's `[stack]` mapping that lie below
/// the caller's frame. Best effort: does nothing off the main thread (its
/// stack is not `[stack]`) or without /proc.
#[inline(never)]
pub fn drop_idle_stack() {
    if !on_main_thread() {
        return;
    }
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    let Some((start, _end)) = stack_range(&maps) else {
        return;
    };
    let page = page_size();
    let marker = 0u8;
    let sp = std::hint::black_box(std::ptr::addr_of!(marker)) as usize;
    let keep_from = (sp & !(page - 1)).saturating_sub(MARGIN_PAGES * page);
    if keep_from <= start {
        return;
    }
    // SAFETY: [start, keep_from) is the part of our own main thread's stack
    // mapping at least MARGIN_PAGES below this frame, which does not
    // return before the call ends: no frame lives there, so nothing reads
    // what the pages held, and touching them again faults in zero pages.
    unsafe {
        libc::madvise(
            start as *mut libc::c_void,
            keep_from - start,
            libc::MADV_DONTNEED,
        );
    }
}

/// The `[stack]` mapping's range in /proc/self/maps text.
fn stack_range(maps: &str) -> Option<(usize, usize)> {
    let line = maps.lines().find(|l| l.ends_with(" [stack]"))?;
    let (start, end) = line.split_whitespace().next()?.split_once('-')?;
    Some((
        usize::from_str_radix(start, 16).ok()?,
        usize::from_str_radix(end, 16).ok()?,
    ))
}

fn on_main_thread() -> bool {
    // The syscall, not musl's gettid(), which returns the thread id it
    // cached at start: in a process forked by raw clone3 (the sandbox's
    // gofer) that is still the parent's.
    // SAFETY: gettid and getpid take no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as libc::pid_t == libc::getpid() }
}

fn page_size() -> usize {
    // SAFETY: sysconf reads a constant of the running system.
    match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as usize,
        _ => 4096,
    }
}

#[cfg(test)]
mod tests {
    use super::stack_range;

    #[test]
    fn finds_the_main_stack_only() {
        let maps = "\
55d0-55e0 r--p 00000000 08:01 42 /usr/bin/runsc
7f00-7f10 rw-p 00000000 00:00 0
7ffd0000-7ffd2000 rw-p 00000000 00:00 0 [stack]
7ffd3000-7ffd4000 r-xp 00000000 00:00 0 [vdso]
";
        assert_eq!(stack_range(maps), Some((0x7ffd0000, 0x7ffd2000)));
        assert_eq!(stack_range("7f00-7f10 rw-p 0 00:00 0 [heap]\n"), None);
    }
}
