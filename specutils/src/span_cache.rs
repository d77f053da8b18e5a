//! A global allocator over the system's malloc that keeps a few freed
//! blocks of 129 bytes to 256 KiB for reuse, until the process is about to
//! idle.
//!
//! musl's malloc gives blocks of 1 KiB and more a mapping of their own (one
//! block, or a group of a few) and unmaps it when they are freed, so a
//! growing buffer (a Vec doubling from 4 to 32 KiB while a spec or metadata
//! is read or written) costs an mmap, a munmap with its TLB flush, and a
//! page fault per page touched, at every step and again for the next
//! buffer. Blocks of 129 to 512 bytes fare the same: while few are in use,
//! musl puts them in groups of a few slots that fill more than half a
//! page, maps a page for each group and unmaps it when its last block is
//! freed. Kept freed blocks keep their group mapped (BENCHMARKS.md, "CPU
//! per run" and "Small blocks kept").
//! Blocks in that range are rounded up to a power of two and, when freed,
//! kept on a short list per size; [`release`] hands them all back, which
//! the sandbox does before it idles (see
//! `sys::release_free_memory`), so an idle process keeps none.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering};

/// The smallest kept size, 256 bytes (blocks of 129 bytes and more):
/// keeping 128-byte blocks too saved no further mapping in a `run`.
const MIN_SHIFT: u32 = 8;
const MAX_SHIFT: u32 = 18;
const CLASSES: usize = (MAX_SHIFT - MIN_SHIFT + 1) as usize;
/// Blocks kept per size: enough for the few buffers alive at once.
const KEEP: usize = 4;
/// What malloc aligns every block to; larger alignments go straight to it.
const MALLOC_ALIGN: usize = 16;

/// The allocator; install it with `#[global_allocator]`.
pub struct SpanCache;

struct Lists {
    /// Freed blocks of each size, each block's first word the next one.
    heads: [*mut u8; CLASSES],
    counts: [usize; CLASSES],
}

struct Shared {
    busy: AtomicBool,
    lists: UnsafeCell<Lists>,
}

// SAFETY: `lists` is only touched while `busy` is held (see `locked`).
unsafe impl Sync for Shared {}

static SHARED: Shared = Shared {
    busy: AtomicBool::new(false),
    lists: UnsafeCell::new(Lists {
        heads: [std::ptr::null_mut(); CLASSES],
        counts: [0; CLASSES],
    }),
};

/// Runs `f` on the lists under a spin lock: it is held for a few loads and
/// stores, never across a call into malloc.
fn locked<R>(f: impl FnOnce(&mut Lists) -> R) -> R {
    while SHARED
        .busy
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        std::hint::spin_loop();
    }
    // SAFETY: we hold `busy`, so no one else has the lists.
    let r = f(unsafe { &mut *SHARED.lists.get() });
    SHARED.busy.store(false, Ordering::Release);
    r
}

/// The size class of `layout`, if it is one we keep.
fn class(layout: Layout) -> Option<usize> {
    let size = layout.size();
    if size <= 1 << (MIN_SHIFT - 1) || size > 1 << MAX_SHIFT || layout.align() > MALLOC_ALIGN {
        return None;
    }
    Some((size.next_power_of_two().trailing_zeros() - MIN_SHIFT) as usize)
}

fn class_layout(class: usize) -> Layout {
    // A power of two up to 256 KiB with malloc's alignment is always valid.
    Layout::from_size_align(1 << (class as u32 + MIN_SHIFT), MALLOC_ALIGN)
        .unwrap_or(Layout::new::<u8>())
}

fn pop(class: usize) -> *mut u8 {
    locked(|l| {
        let head = l.heads[class];
        if !head.is_null() {
            // SAFETY: a kept block starts with the next one's address.
            l.heads[class] = unsafe { *(head as *mut *mut u8) };
            l.counts[class] -= 1;
        }
        head
    })
}

/// Keeps `block` of `class`; false if that list is full.
fn push(class: usize, block: *mut u8) -> bool {
    locked(|l| {
        if l.counts[class] >= KEEP {
            return false;
        }
        // SAFETY: the block is ours (freed by its owner), at least 256 bytes
        // and 16-byte aligned: its first word can hold the link.
        unsafe { *(block as *mut *mut u8) = l.heads[class] };
        l.heads[class] = block;
        l.counts[class] += 1;
        true
    })
}

/// Hands every kept block back to malloc.
pub fn release() {
    for class in 0..CLASSES {
        loop {
            let block = pop(class);
            if block.is_null() {
                break;
            }
            // SAFETY: kept blocks came from System with this layout.
            unsafe { System.dealloc(block, class_layout(class)) };
        }
    }
}

// SAFETY: every block of a kept size is allocated by System with its
// class's layout and handed back with it; other layouts pass through.
unsafe impl GlobalAlloc for SpanCache {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match class(layout) {
            Some(c) => {
                let block = pop(c);
                if block.is_null() {
                    System.alloc(class_layout(c))
                } else {
                    block
                }
            }
            None => System.alloc(layout),
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match class(layout) {
            Some(c) => {
                let block = pop(c);
                if block.is_null() {
                    return System.alloc_zeroed(class_layout(c));
                }
                std::ptr::write_bytes(block, 0, layout.size());
                block
            }
            None => System.alloc_zeroed(layout),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match class(layout) {
            Some(c) => {
                if !push(c, ptr) {
                    System.dealloc(ptr, class_layout(c));
                }
            }
            None => System.dealloc(ptr, layout),
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        match (class(layout), class(new_layout)) {
            (Some(a), Some(b)) if a == b => ptr,
            (None, None) => System.realloc(ptr, layout, new_size),
            _ => {
                let new = self.alloc(new_layout);
                if !new.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                new
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_map_to_power_of_two_classes() {
        let l = |size| Layout::from_size_align(size, 8).expect("layout");
        assert_eq!(class(l(128)), None);
        assert_eq!(class(l(129)), Some(0));
        assert_eq!(class(l(256)), Some(0));
        assert_eq!(class(l(257)), Some(1));
        assert_eq!(class(l(1024)), Some(2));
        assert_eq!(class(l(256 * 1024)), Some(CLASSES - 1));
        assert_eq!(class(l(256 * 1024 + 1)), None);
        let aligned = Layout::from_size_align(8192, 64).expect("layout");
        assert_eq!(class(aligned), None);
    }

    #[test]
    fn a_freed_block_is_reused_then_released() {
        let a = SpanCache;
        let layout = Layout::from_size_align(5000, 8).expect("layout");
        // SAFETY: blocks allocated here are written within their layout
        // and freed with it.
        unsafe {
            let p = a.alloc(layout);
            assert!(!p.is_null());
            p.write_bytes(0xab, layout.size());
            a.dealloc(p, layout);
            // Same class (8 KiB): the same block comes back, zeroed when
            // asked.
            let q = a.alloc_zeroed(Layout::from_size_align(7000, 8).expect("layout"));
            assert_eq!(q, p);
            assert!((0..7000).all(|i| *q.add(i) == 0));
            // Growing within the class keeps the block; past it moves it.
            let r = a.realloc(q, Layout::from_size_align(7000, 8).expect("l"), 8192);
            assert_eq!(r, q);
            r.write_bytes(7, 8192);
            let s = a.realloc(r, Layout::from_size_align(8192, 8).expect("l"), 9000);
            assert!((0..8192).all(|i| *s.add(i) == 7));
            a.dealloc(s, Layout::from_size_align(9000, 8).expect("layout"));
            // A small block, whose group musl would unmap, is kept as well.
            let small = Layout::from_size_align(300, 8).expect("layout");
            let kept = class(small).expect("300 bytes are kept");
            let b = a.alloc(small);
            assert!(!b.is_null());
            a.dealloc(b, small);
            assert_eq!(locked(|l| l.counts[kept]), 1);
            assert_eq!(a.alloc(small), b);
            a.dealloc(b, small);
            release();
        }
        assert!(locked(|l| l.counts.iter().all(|&n| n == 0)));
    }
}
