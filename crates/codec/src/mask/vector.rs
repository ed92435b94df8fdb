//! The kernel template shared by every SIMD backend.
//!
//! [`vector_kernels!`] expands, inside a backend module, to the in-place and
//! copying kernels for one vector width, plus the safe `kernels()` accessor
//! that hands them out only after the backend's `is_available()` check.
//!
//! Shape of the in-place kernel, for a vector of `W` bytes:
//! - `len <= 256`: unaligned vectors from the start, then the remainder
//!   (under `W` bytes) in narrower pieces that partition it exactly: one
//!   vector of each narrower backend whose width is a set bit of the
//!   remainder, then `u64` / `u32` words and bytes (`mask_rest`, `rest`).
//!   No two stores overlap, so masking the same bytes again (a benchmark
//!   loop; a payload unmasked then re-masked for an echo) loads exactly what
//!   one earlier store wrote and the CPU forwards it. Overlapping vectors at
//!   both ends would halve the speed of such a loop at 125 bytes: a load
//!   spanning two stores waits for both to reach the cache. AVX-512 masked
//!   (`k`) tails are worse still: a masked store is not forwarded at all.
//! - `len > 256`: the body runs on vectors aligned for the destination
//!   (4× unrolled). The unaligned ends before and after it are one unaligned
//!   vector each, overlapping the body. Both ends are loaded before any
//!   store, so the overlapping bytes get the same value twice; the head
//!   is stored first, right with the first body vector, long before the
//!   buffer is read again, so a later read does not wait on store-to-load
//!   forwarding (words at the ends would cost a store per word).
//! - a backend may hand payloads above a size (`large`) to another kernel:
//!   AVX-512 hands buffers past the L1 cache to the 128-bit body.
//!
//! Shape of the copying kernel:
//! - `len < W`: delegate to the next narrower backend (`small_copy`).
//! - otherwise two unaligned vectors at `0` and `len - W`, loaded from the
//!   source up front (they may overlap: the destination is never read), and
//!   for `len > 2W` an aligned body between them (4× unrolled).

/// See the module docs. Parameters:
/// - `feature`: the `target_feature` string the kernels are compiled for;
/// - `width`: vector width in bytes (a power of two);
/// - `splat`, `xor`, `loadu`, `storeu`, `load`, `store`: the vector operations,
///   written as closures over a key word, two vectors, or a pointer;
/// - `rest`: masks in place a buffer shorter than `width` with stores that
///   never overlap (the next narrower backend's `mask_rest`, or
///   `swar::mask_words`); `small_copy`: the copying kernel for
///   `len < width`; each callable from a function compiled with `feature`;
/// - `large` (optional): an in-place kernel for buffers longer than
///   `large_min` bytes.
macro_rules! vector_kernels {
    (
        feature: $feature:literal,
        width: $width:literal,
        splat: |$sk:ident| $splat:expr,
        xor: |$xa:ident, $xb:ident| $xor:expr,
        loadu: |$lup:ident| $loadu:expr,
        storeu: |$sup:ident, $suv:ident| $storeu:expr,
        load: |$lap:ident| $load:expr,
        store: |$sap:ident, $sav:ident| $store:expr,
        rest: $rest:path,
        small_copy: $small_copy:path
        $(, large: $large:path => above $large_min:expr)? $(,)?
    ) => {
        use $crate::mask::{Kernels, rotate};

        const W: usize = $width;
        /// Up to this length, in-place masking uses unaligned vectors from
        /// the start: a few cache-line splits cost less than the scalar
        /// ends of an aligned body. Above it, the body is aligned.
        const UNALIGNED_MAX: usize = 256;

        /// The kernels of this backend, when the CPU supports it.
        pub(crate) fn kernels() -> Option<Kernels> {
            // SAFETY: `is_available()` has just confirmed the target feature
            // the two kernels are compiled for; both are sound for any
            // slices (the copy kernel asserts equal lengths).
            is_available().then(|| unsafe { Kernels::detected(mask_impl, copy_impl) })
        }

        /// Masks `buf` in place.
        #[target_feature(enable = $feature)]
        pub(crate) fn mask_impl(buf: &mut [u8], key: u32) {
            let len = buf.len();
            $(
                if len > $large_min {
                    return $large(buf, key);
                }
            )?
            if len > UNALIGNED_MAX {
                return mask_aligned(buf, key);
            }
            let splat = |$sk: u32| $splat;
            let xor = |$xa, $xb| $xor;
            let k = splat(key);
            let p = buf.as_mut_ptr();
            let end = len & !(W - 1);
            // SAFETY: every vector `[i, i + W)` with `i + W <= end <= len`
            // is inside `buf`; they do not overlap.
            unsafe {
                let mut i = 0;
                while i < end {
                    let v = {
                        let $lup = p.add(i) as *const u8;
                        $loadu
                    };
                    {
                        let ($sup, $suv) = (p.add(i), xor(v, k));
                        $storeu
                    };
                    i += W;
                }
            }
            // `end` is a multiple of `W`, hence of 4: the key phase is unchanged.
            $rest(&mut buf[end..], key);
        }

        /// Masks `buf`, shorter than `2 * W`, with stores that never overlap:
        /// one vector when `buf` holds `W` bytes, the rest by the narrower
        /// pieces of `rest`. Masking the same bytes again then loads exactly
        /// what one earlier store wrote, which the CPU forwards from that
        /// store; a load spanning two overlapping stores waits for both to
        /// reach the cache.
        #[allow(dead_code)] // unused for the widest backend of an architecture
        #[target_feature(enable = $feature)]
        #[inline]
        pub(crate) fn mask_rest(buf: &mut [u8], key: u32) {
            debug_assert!(buf.len() < 2 * W);
            if buf.len() < W {
                return $rest(buf, key);
            }
            let splat = |$sk: u32| $splat;
            let xor = |$xa, $xb| $xor;
            let (head, tail) = buf.split_at_mut(W);
            let p = head.as_mut_ptr();
            // SAFETY: `head` is exactly `W` bytes long.
            unsafe {
                let v = {
                    let $lup = p as *const u8;
                    $loadu
                };
                let ($sup, $suv) = (p, xor(v, splat(key)));
                $storeu
            };
            // `W` is a multiple of 4: the key phase is unchanged.
            $rest(tail, key);
        }

        /// Masks `buf`, longer than `UNALIGNED_MAX`, with a body of vectors
        /// aligned for the stores and one unaligned vector at each end.
        #[target_feature(enable = $feature)]
        fn mask_aligned(buf: &mut [u8], key: u32) {
            let len = buf.len();
            let splat = |$sk: u32| $splat;
            let xor = |$xa, $xb| $xor;
            let p = buf.as_mut_ptr();
            let k = splat(key);
            let kt = splat(rotate(key, len - W));
            let start = (W - p.addr() % W) % W;
            let end = start + ((len - start) & !(W - 1));
            let kb = splat(rotate(key, start));
            // SAFETY: the ends `[0, W)` and `[len - W, len)` are inside `buf`
            // as `len > UNALIGNED_MAX >= 2W`. The body runs over
            // `[start, end)`, where `start < W` makes `p + start` W-aligned
            // and `end <= len`, so each aligned vector `[i, i + W)` with
            // `i + W <= end` is inside `buf`; `len - start > W` puts the first
            // one, `[start, start + W)`, inside it too. Every vector that
            // overlaps another is loaded before either is stored.
            unsafe {
                let tail = {
                    let $lup = p.add(len - W) as *const u8;
                    $loadu
                };
                let mut i = start;
                if start != 0 {
                    let head = {
                        let $lup = p as *const u8;
                        $loadu
                    };
                    let first = {
                        let $lap = p.add(start) as *const u8;
                        $load
                    };
                    {
                        let ($sup, $suv) = (p, xor(head, k));
                        $storeu
                    };
                    {
                        let ($sap, $sav) = (p.add(start), xor(first, kb));
                        $store
                    };
                    i += W;
                }
                while i + 4 * W <= end {
                    let v0 = {
                        let $lap = p.add(i) as *const u8;
                        $load
                    };
                    let v1 = {
                        let $lap = p.add(i + W) as *const u8;
                        $load
                    };
                    let v2 = {
                        let $lap = p.add(i + 2 * W) as *const u8;
                        $load
                    };
                    let v3 = {
                        let $lap = p.add(i + 3 * W) as *const u8;
                        $load
                    };
                    {
                        let ($sap, $sav) = (p.add(i), xor(v0, kb));
                        $store
                    };
                    {
                        let ($sap, $sav) = (p.add(i + W), xor(v1, kb));
                        $store
                    };
                    {
                        let ($sap, $sav) = (p.add(i + 2 * W), xor(v2, kb));
                        $store
                    };
                    {
                        let ($sap, $sav) = (p.add(i + 3 * W), xor(v3, kb));
                        $store
                    };
                    i += 4 * W;
                }
                while i < end {
                    let v = {
                        let $lap = p.add(i) as *const u8;
                        $load
                    };
                    {
                        let ($sap, $sav) = (p.add(i), xor(v, kb));
                        $store
                    };
                    i += W;
                }
                if end != len {
                    let ($sup, $suv) = (p.add(len - W), xor(tail, kt));
                    $storeu
                }
            }
        }

        /// Writes `src ^ key` into `dst`.
        ///
        /// # Panics
        /// If `src` and `dst` differ in length.
        #[target_feature(enable = $feature)]
        pub(crate) fn copy_impl(src: &[u8], dst: &mut [u8], key: u32) {
            let len = src.len();
            assert_eq!(len, dst.len(), "copy kernel: lengths differ");
            if len < W {
                return $small_copy(src, dst, key);
            }
            let splat = |$sk: u32| $splat;
            let xor = |$xa, $xb| $xor;
            let s = src.as_ptr();
            let d = dst.as_mut_ptr();
            let k = splat(key);
            let kt = splat(rotate(key, len - W));
            // SAFETY: `W <= len` and both slices are `len` bytes long (asserted
            // above), so the vectors at `0` and `len - W` lie
            // inside both.
            unsafe {
                let a = {
                    let $lup = s;
                    $loadu
                };
                let b = {
                    let $lup = s.add(len - W);
                    $loadu
                };
                {
                    let ($sup, $suv) = (d, xor(a, k));
                    $storeu
                };
                {
                    let ($sup, $suv) = (d.add(len - W), xor(b, kt));
                    $storeu
                };
            }
            if len <= 2 * W {
                return;
            }
            let start = (W - d.addr() % W) % W;
            let end = start + ((len - start) & !(W - 1));
            let kb = splat(rotate(key, start));
            let mut i = start;
            // SAFETY: `start < W` makes `d + start` W-aligned for the aligned
            // stores; every vector `[i, i + W)` with `i + W <= end <= len` is
            // inside both slices (equal lengths, asserted above).
            unsafe {
                while i + 4 * W <= end {
                    let v0 = {
                        let $lup = s.add(i);
                        $loadu
                    };
                    let v1 = {
                        let $lup = s.add(i + W);
                        $loadu
                    };
                    let v2 = {
                        let $lup = s.add(i + 2 * W);
                        $loadu
                    };
                    let v3 = {
                        let $lup = s.add(i + 3 * W);
                        $loadu
                    };
                    {
                        let ($sap, $sav) = (d.add(i), xor(v0, kb));
                        $store
                    };
                    {
                        let ($sap, $sav) = (d.add(i + W), xor(v1, kb));
                        $store
                    };
                    {
                        let ($sap, $sav) = (d.add(i + 2 * W), xor(v2, kb));
                        $store
                    };
                    {
                        let ($sap, $sav) = (d.add(i + 3 * W), xor(v3, kb));
                        $store
                    };
                    i += 4 * W;
                }
                while i < end {
                    let v = {
                        let $lup = s.add(i);
                        $loadu
                    };
                    {
                        let ($sap, $sav) = (d.add(i), xor(v, kb));
                        $store
                    };
                    i += W;
                }
            }
        }
    };
}
