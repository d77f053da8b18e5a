//! Unmapping our own code while a sandbox idles.
//!
//! Setup runs megabytes of runsc's code (and the kernel maps 16 pages
//! around each fault), which then stay mapped for the container's life:
//! PSS charges them to the idle process, and mapped pages are the last the
//! kernel reclaims under memory pressure. Dropping the page table entries
//! of the executable's mappings that hold nothing but file pages gives
//! them back to the page cache, shared and reclaimable; the next request
//! faults back, from the page cache, the little it runs.

/// Drops this process's entries for every mapping of its executable that
/// is not writable and holds no anonymous (copied-on-write) page: code and
/// read-only data, never `.data`, `.bss` or the relocated RELRO pages,
/// whose contents the file does not have. Best effort: a process without
/// /proc keeps its mappings.
pub fn drop_idle_code() {
    let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
        return;
    };
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    for (start, end) in file_only_ranges(&smaps, &exe.to_string_lossy()) {
        // SAFETY: [start, end) is one whole private mapping of our
        // executable that cannot be written and has no anonymous page:
        // every page in it is the file's, so dropping the entries only
        // makes the next access fault the same page back in.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
}

/// The ranges of `path`'s mappings in `smaps` that are read-only and have
/// `Anonymous: 0 kB`.
fn file_only_ranges(smaps: &str, path: &str) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let Some(anon) = line.strip_prefix("Anonymous:") {
            let none = anon.trim() == "0 kB";
            if let (Some(range), true) = (current.take(), none) {
                ranges.push(range);
            }
            continue;
        }
        // A mapping's header: range, perms, offset, dev, inode[, path].
        let Some((start, end)) = fields.first().and_then(|r| r.split_once('-')) else {
            continue;
        };
        let (Ok(start), Ok(end)) = (
            usize::from_str_radix(start, 16),
            usize::from_str_radix(end, 16),
        ) else {
            continue;
        };
        let read_only = fields
            .get(1)
            .is_some_and(|p| p.len() == 4 && &p[1..2] == "-");
        let private = fields.get(1).is_some_and(|p| p.ends_with('p'));
        current = (read_only && private && fields.get(5) == Some(&path) && fields.len() == 6)
            .then_some((start, end));
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::file_only_ranges;

    #[test]
    fn only_read_only_file_pages_of_the_executable_qualify() {
        let smaps = "\
1000-2000 r--p 00000000 08:01 42 /usr/bin/runsc
Rss: 4 kB
Anonymous: 0 kB
2000-5000 r-xp 00001000 08:01 42 /usr/bin/runsc
Anonymous: 0 kB
5000-6000 r--p 00004000 08:01 42 /usr/bin/runsc
Anonymous: 4 kB
6000-7000 rw-p 00005000 08:01 42 /usr/bin/runsc
Anonymous: 0 kB
7000-8000 r-xp 00000000 08:01 43 /usr/lib/libc.so.6
Anonymous: 0 kB
8000-9000 r-xs 00000000 08:01 42 /usr/bin/runsc
Anonymous: 0 kB
9000-a000 rw-p 00000000 00:00 0 [heap]
Anonymous: 4 kB
";
        assert_eq!(
            file_only_ranges(smaps, "/usr/bin/runsc"),
            vec![(0x1000, 0x2000), (0x2000, 0x5000)]
        );
    }
}
