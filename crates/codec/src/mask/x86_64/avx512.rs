//! 512-bit AVX-512F kernels; copies under 64 bytes, remainders under 64
//! bytes and in-place buffers over `LARGE_MIN` go to the AVX2 kernels.
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
    large: super::avx2::mask_impl => above LARGE_MIN,
}

/// In-place masking of buffers longer than this runs on 256-bit vectors.
/// Past the L1 data cache the loop waits on the L2 cache, and there 256-bit
/// loads and stores keep it busier than 512-bit ones. On a Xeon with 48 KiB
/// of L1, the 256-bit body masked 1 MiB at 42-43 GiB/s where the 512-bit
/// one reached 37-41, level at 64 KiB; at 16 KiB the 512-bit body was ahead,
/// 158 GiB/s against 107.
const LARGE_MIN: usize = 32 * 1024;
