//! aarch64 SIMD masking backends.

pub(crate) mod neon;
