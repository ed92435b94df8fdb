//! 512-bit AVX-512F kernels; payloads under 64 bytes go to the AVX2 kernels.
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
    small: super::avx2::mask_impl,
    small_copy: super::avx2::copy_impl,
}
