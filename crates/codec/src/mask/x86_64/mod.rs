//! x86-64 SIMD masking backends. SSE2 is part of the x86-64 baseline;
//! AVX2 and AVX-512F are detected at run time.

pub(crate) mod avx2;
pub(crate) mod avx512;
pub(crate) mod sse2;
