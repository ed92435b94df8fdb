//! 128-bit NEON kernels. NEON loads and stores have no alignment variants,
//! so the aligned body uses the same instructions (aligned addresses still
//! avoid split cache-line accesses).

use core::arch::aarch64::{vdupq_n_u32, veorq_u8, vld1q_u8, vreinterpretq_u8_u32, vst1q_u8};

pub(crate) fn is_available() -> bool {
    std::arch::is_aarch64_feature_detected!("neon")
}

vector_kernels! {
    feature: "neon",
    width: 16,
    splat: |k| vreinterpretq_u8_u32(vdupq_n_u32(k)),
    xor: |a, b| veorq_u8(a, b),
    loadu: |p| vld1q_u8(p),
    storeu: |p, v| vst1q_u8(p, v),
    load: |p| vld1q_u8(p),
    store: |p, v| vst1q_u8(p, v),
    rest: crate::mask::swar::mask_words,
    small_copy: crate::mask::swar::copy_small,
}
