//! The kernel template shared by every SIMD backend.
//!
//! [`vector_kernels!`] expands, inside a backend module, to the in-place and
//! copying kernels for one vector width, plus the safe `kernels()` accessor
//! that hands them out only after the backend's `is_available()` check.
//!
//! Shape of both kernels, for a vector of `W` bytes:
//! - `len < W`: delegate to the next narrower backend (`small`).
//! - `W <= len <= 2W`: two unaligned vectors, at `0` and `len - W`. They may
//!   overlap; both are loaded before either is stored, so overlapping bytes
//!   receive the same value twice.
//! - in place, `2W < len <= 256`: unaligned vectors from the start, the
//!   remainder in non-overlapping words;
//! - `len > 2W` otherwise: the body runs on vectors aligned for the destination
//!   (4× unrolled). The unaligned ends before and after it are one unaligned
//!   vector each, overlapping the body. In place, both ends are loaded before
//!   any store, so the overlapping bytes get the same value twice; the head
//!   is stored first, right with the first body vector, long before the
//!   buffer is read again, so a later read does not wait on store-to-load
//!   forwarding (words at the ends would cost a store per word). The
//!   copying kernel never reads its destination and stores the ends as two
//!   unaligned vectors, loaded from the source up front.

/// See the module docs. Parameters:
/// - `feature`: the `target_feature` string the kernels are compiled for;
/// - `width`: vector width in bytes (a power of two);
/// - `splat`, `xor`, `loadu`, `storeu`, `load`, `store`: the vector operations,
///   written as closures over a key word, two vectors, or a pointer;
/// - `small` / `small_copy`: kernels for `len < width`, each callable from a
///   function compiled with `feature`.
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
        small: $small:path,
        small_copy: $small_copy:path $(,)?
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
            if len < W {
                return $small(buf, key);
            }
            let splat = |$sk: u32| $splat;
            let xor = |$xa, $xb| $xor;
            let p = buf.as_mut_ptr();
            let k = splat(key);
            let kt = splat(rotate(key, len - W));
            if len <= 2 * W {
                // SAFETY: `W <= len`, so `[0, W)` and `[len - W, len)` lie
                // inside `buf`; both loads precede both stores.
                unsafe {
                    let a = {
                        let $lup = p as *const u8;
                        $loadu
                    };
                    let b = {
                        let $lup = p.add(len - W) as *const u8;
                        $loadu
                    };
                    {
                        let ($sup, $suv) = (p, xor(a, k));
                        $storeu
                    };
                    {
                        let ($sup, $suv) = (p.add(len - W), xor(b, kt));
                        $storeu
                    };
                }
                return;
            }
            if len <= UNALIGNED_MAX {
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
                if end != len {
                    $crate::mask::swar::mask_words(&mut buf[end..], rotate(key, end));
                }
                return;
            }
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
