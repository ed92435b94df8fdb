//! 512-bit AVX-512F kernels; copies under 64 bytes and remainders under 64
//! bytes go to the AVX2 kernels, in-place buffers over `LARGE_MIN` to the
//! SSE2 kernel.
//! Compiled in on every x86-64 build, selected only where the CPU has
//! AVX-512F (and AVX2, which every such CPU has).

use core::arch::x86_64::{
    __m512i, _mm512_load_si512, _mm512_loadu_si512, _mm512_set1_epi32, _mm512_store_si512,
    _mm512_storeu_si512, _mm512_xor_si512,
};

pub(crate) fn is_available() -> bool {
    std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx2")
}

vector_kernels! {
    feature: "avx512f,avx2",
    width: 64,
    splat: |k| _mm512_set1_epi32(k as i32),
    xor: |a, b| _mm512_xor_si512(a, b),
    loadu: |p| _mm512_loadu_si512(p.cast::<__m512i>()),
    storeu: |p, v| _mm512_storeu_si512(p.cast::<__m512i>(), v),
    load: |p| _mm512_load_si512(p.cast::<__m512i>()),
    store: |p, v| _mm512_store_si512(p.cast::<__m512i>(), v),
    rest: super::avx2::mask_rest,
    small_copy: super::avx2::copy_impl,
    large: super::sse2::mask_impl => above LARGE_MIN,
}

/// In-place masking of buffers longer than this runs on 128-bit vectors.
/// Past the L1 data cache the loop waits on the L2 cache, and there narrower
/// loads and stores keep it busier than 512-bit ones. On a Xeon with 48 KiB
/// of L1 (`mask_pairs 3 40960 53248 57344 65536 1048576`, built with each
/// hand-over in turn, 2026-12-05), the 512-bit body masked 40 KiB at 186
/// GiB/s, 52 KiB at 92 and 56 KiB at 61, where the 128-bit body reached 78,
/// 60 and 59; at 64 KiB and 1 MiB the 128-bit body ran level with
/// `fastwebsockets`' 128-bit loop (57 and 56 GiB/s) and the 512-bit one 2 %
/// behind it; the 256-bit body, the previous choice (above 32 KiB), reached
/// 139 at 40 KiB and 56 at 64 KiB.
pub(crate) const LARGE_MIN: usize = 56 * 1024;

/// The in-place floor (see `mask::in_place_floor`): whole 64-byte vectors
/// from the start, each loaded, xored and stored, nothing else. `false`
/// without AVX-512F.
pub(crate) fn floor(buf: &mut [u8], key: u32) -> bool {
    if !is_available() {
        return false;
    }
    // SAFETY: AVX-512F was detected just above.
    unsafe { floor_impl(buf, key) };
    true
}

#[target_feature(enable = "avx512f")]
fn floor_impl(buf: &mut [u8], key: u32) {
    let k = _mm512_set1_epi32(key as i32);
    for v in buf.chunks_exact_mut(64) {
        let p = v.as_mut_ptr().cast::<__m512i>();
        // SAFETY: `v` is 64 bytes long: one vector, unaligned access.
        unsafe { _mm512_storeu_si512(p, _mm512_xor_si512(_mm512_loadu_si512(p), k)) };
    }
}
