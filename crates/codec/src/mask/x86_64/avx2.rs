//! 256-bit AVX2 kernels; payloads under 32 bytes go to the SSE2 kernels.

use core::arch::x86_64::{
    __m256i, _mm256_load_si256, _mm256_loadu_si256, _mm256_set1_epi32, _mm256_store_si256,
    _mm256_storeu_si256, _mm256_xor_si256,
};

pub(crate) fn is_available() -> bool {
    std::is_x86_feature_detected!("avx2")
}

vector_kernels! {
    feature: "avx2",
    width: 32,
    splat: |k| _mm256_set1_epi32(k as i32),
    xor: |a, b| _mm256_xor_si256(a, b),
    loadu: |p| _mm256_loadu_si256(p.cast::<__m256i>()),
    storeu: |p, v| _mm256_storeu_si256(p.cast::<__m256i>(), v),
    load: |p| _mm256_load_si256(p.cast::<__m256i>()),
    store: |p, v| _mm256_store_si256(p.cast::<__m256i>(), v),
    rest: super::sse2::mask_rest,
    small_copy: super::sse2::copy_impl,
}
