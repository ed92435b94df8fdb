//! SIMD within a register: `u64` words in safe code, for every target.
//!
//! Also home of the small-payload paths shared by the dispatched entry points
//! and the SIMD kernels: payloads up to 32 bytes are masked with a few
//! overlapping word loads. All loads happen before any store, so bytes covered
//! by two words are written twice with the same value.

use super::{Kernels, rotate};

pub(crate) const KERNELS: Kernels = Kernels::portable(mask, copy);

/// The key word repeated over 8 bytes.
#[inline(always)]
fn wide(key: u32) -> u64 {
    u64::from(key) | (u64::from(key) << 32)
}

#[inline(always)]
fn load4(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

#[inline(always)]
fn store4(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

#[inline(always)]
fn load8(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

#[inline(always)]
fn store8(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Masks `$src` into `$dst` for lengths 0..=32. The two may name the same
/// slice: every arm loads all its words before it stores any.
macro_rules! small {
    ($src:ident, $dst:ident, $key:expr) => {{
        let len = $src.len();
        let key: u32 = $key;
        match len {
            0 => {}
            1..=3 => {
                let k = key.to_le_bytes();
                for i in 0..len {
                    $dst[i] = $src[i] ^ k[i];
                }
            }
            4..=8 => {
                let a = load4($src, 0);
                let b = load4($src, len - 4);
                store4($dst, 0, a ^ key);
                store4($dst, len - 4, b ^ rotate(key, len - 4));
            }
            9..=16 => {
                let a = load8($src, 0);
                let b = load8($src, len - 8);
                store8($dst, 0, a ^ wide(key));
                store8($dst, len - 8, b ^ wide(rotate(key, len - 8)));
            }
            _ => {
                debug_assert!(len <= 32);
                let a = load8($src, 0);
                let b = load8($src, 8);
                let c = load8($src, len - 16);
                let d = load8($src, len - 8);
                let k = wide(key);
                let kt = wide(rotate(key, len - 16));
                store8($dst, 0, a ^ k);
                store8($dst, 8, b ^ k);
                store8($dst, len - 16, c ^ kt);
                store8($dst, len - 8, d ^ kt);
            }
        }
    }};
}

/// Masks `buf` in place; `buf.len()` must be at most 32.
#[inline(always)]
#[allow(clippy::assign_op_pattern)] // the macro serves both copy and in-place
pub(crate) fn mask_small(buf: &mut [u8], key: u32) {
    small!(buf, buf, key);
}

/// Writes `src ^ key` into `dst`; both at most 32 bytes, same length.
#[inline(always)]
pub(crate) fn copy_small(src: &[u8], dst: &mut [u8], key: u32) {
    small!(src, dst, key);
}

fn mask(buf: &mut [u8], key: u32) {
    if buf.len() <= 32 {
        return mask_small(buf, key);
    }
    let k = wide(key);
    let mut chunks = buf.chunks_exact_mut(32);
    for c in &mut chunks {
        for w in 0..4 {
            store8(c, w * 8, load8(c, w * 8) ^ k);
        }
    }
    mask_words(chunks.into_remainder(), key);
}

/// Masks `buf` (under 64 bytes) in place with words that partition it
/// exactly: one block per set bit of the length, widest first, so no two
/// stores overlap and a later load of any part of `buf` can be forwarded
/// from one store. Used for the ends of the SIMD kernels' bodies and for
/// remainders. Straight-line code: no loop to set up for a few bytes.
#[inline(always)]
pub(crate) fn mask_words(buf: &mut [u8], key: u32) {
    debug_assert!(buf.len() < 64);
    let k = wide(key);
    let mut rest = buf;
    // Each block splits off exactly its width after checking the length,
    // so the compiler sees every access in bounds.
    if rest.len() >= 32 {
        let (block, tail) = rest.split_at_mut(32);
        for w in block.chunks_exact_mut(8) {
            store8(w, 0, load8(w, 0) ^ k);
        }
        rest = tail;
    }
    if rest.len() >= 16 {
        let (block, tail) = rest.split_at_mut(16);
        store8(block, 0, load8(block, 0) ^ k);
        store8(block, 8, load8(block, 8) ^ k);
        rest = tail;
    }
    if rest.len() >= 8 {
        let (block, tail) = rest.split_at_mut(8);
        store8(block, 0, load8(block, 0) ^ k);
        rest = tail;
    }
    if rest.len() >= 4 {
        let (block, tail) = rest.split_at_mut(4);
        store4(block, 0, load4(block, 0) ^ key);
        rest = tail;
    }
    // Every block so far was a multiple of 4 bytes: the key starts over.
    let kb = key.to_le_bytes();
    match rest {
        [] => {}
        [a] => *a ^= kb[0],
        [a, b] => {
            *a ^= kb[0];
            *b ^= kb[1];
        }
        [a, b, c, ..] => {
            *a ^= kb[0];
            *b ^= kb[1];
            *c ^= kb[2];
        }
    }
}

fn copy(src: &[u8], dst: &mut [u8], key: u32) {
    if src.len() <= 32 {
        return copy_small(src, dst, key);
    }
    let k = wide(key);
    let mut s = src.chunks_exact(32);
    let mut d = dst.chunks_exact_mut(32);
    for (dc, sc) in (&mut d).zip(&mut s) {
        for w in 0..4 {
            store8(dc, w * 8, load8(sc, w * 8) ^ k);
        }
    }
    let (src, dst) = (s.remainder(), d.into_remainder());
    let mut s = src.chunks_exact(8);
    let mut d = dst.chunks_exact_mut(8);
    for (dw, sw) in (&mut d).zip(&mut s) {
        store8(dw, 0, load8(sw, 0) ^ k);
    }
    let k = key.to_le_bytes();
    for (i, (db, sb)) in d.into_remainder().iter_mut().zip(s.remainder()).enumerate() {
        *db = *sb ^ k[i % 4];
    }
}
