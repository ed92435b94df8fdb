//! 128-bit SSE2 kernels.

use core::arch::x86_64::{
    __m128i, _mm_load_si128, _mm_loadu_si128, _mm_set1_epi32, _mm_store_si128, _mm_storeu_si128,
    _mm_xor_si128,
};

/// SSE2 is part of the x86-64 baseline, but ask anyway: the answer is cached.
pub(crate) fn is_available() -> bool {
    std::is_x86_feature_detected!("sse2")
}

vector_kernels! {
    feature: "sse2",
    width: 16,
    splat: |k| _mm_set1_epi32(k as i32),
    xor: |a, b| _mm_xor_si128(a, b),
    loadu: |p| _mm_loadu_si128(p.cast::<__m128i>()),
    storeu: |p, v| _mm_storeu_si128(p.cast::<__m128i>(), v),
    load: |p| _mm_load_si128(p.cast::<__m128i>()),
    store: |p, v| _mm_store_si128(p.cast::<__m128i>(), v),
    rest: crate::mask::swar::mask_words,
    small_copy: crate::mask::swar::copy_small,
}
