//! One spare read buffer per thread. A reader whose read finds nothing
//! gives its buffer here rather than to the allocator, and the next
//! reader on the thread whose socket becomes readable takes it: between
//! two messages a connection holds no buffer, and the wait costs neither
//! a free nor an allocation with its zeroing (the buffer taken is most
//! likely still in cache, the last one a read on this thread used).
//! Bounded: one buffer per thread, of at most [`SPARE_MAX`] bytes.
//!
//! A spare's bytes are stale (another connection's input); a reader
//! decodes only the bytes its own read filled in.

use std::cell::Cell;

/// The largest buffer kept (the initial read buffer is 512 bytes by
/// default; a buffer grown for a burst goes back to the allocator).
const SPARE_MAX: usize = 4096;

thread_local! {
    static SPARE: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// A buffer of `len` bytes: this thread's spare when it has one, else a
/// new one (zeroed).
#[inline]
pub(super) fn take(len: usize) -> Vec<u8> {
    // During the thread's teardown the slot may be gone: a new buffer.
    let mut buf = SPARE.try_with(Cell::take).unwrap_or_default();
    if buf.len() != len {
        buf.resize(len, 0);
    }
    buf
}

/// Keeps `buf` as this thread's spare (freeing the one it held, if any),
/// or frees it when it is larger than a spare may be.
#[inline]
pub(super) fn give(buf: Vec<u8>) {
    if buf.capacity() > SPARE_MAX {
        return;
    }
    // During the thread's teardown the slot may be gone: `buf` is freed.
    let _ = SPARE.try_with(|s| drop(s.replace(buf)));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slot's buffer, left empty.
    fn held() -> Vec<u8> {
        SPARE.with(Cell::take)
    }

    #[test]
    fn the_spare_is_taken_at_the_length_asked() {
        let a = vec![1u8; 512];
        let at = a.as_ptr();
        give(a);
        let b = take(512);
        assert_eq!(b.as_ptr(), at, "the spare is reused");
        assert_eq!(b.len(), 512);
        assert!(held().is_empty(), "taken, the slot is empty");
        let c = take(100);
        assert_eq!(c.len(), 100);
        assert!(c.iter().all(|&x| x == 0), "a new buffer is zeroed");
        give(b);
        assert_eq!(take(64).len(), 64, "a spare is cut to the length asked");
    }

    #[test]
    fn one_spare_of_bounded_size_per_thread() {
        // Empty, whatever ran on this thread before.
        drop(held());
        give(vec![0; SPARE_MAX + 1]);
        assert_eq!(held().capacity(), 0, "a large buffer is not kept");
        let (a, b) = (vec![0u8; 512], vec![0u8; 512]);
        let b_at = b.as_ptr();
        give(a);
        give(b);
        let kept = held();
        assert_eq!(kept.as_ptr(), b_at, "the last one given is kept");
        assert!(held().is_empty(), "and only it");
        let other = std::thread::spawn(|| held().capacity()).join().unwrap();
        assert_eq!(other, 0, "another thread's slot is its own");
    }
}
