//! Payload masking (RFC 6455 §5.3) with runtime-selected SIMD backends.
//!
//! Masking XORs every payload byte `i` with `key[i % 4]`. The same operation
//! masks and unmasks. Every entry point takes a *key phase*: the offset into
//! the 4-byte key at which `buf[0]` sits, so a payload that arrives in pieces
//! can be unmasked piece by piece (`phase` = bytes of this frame's payload
//! already processed; only `phase % 4` matters).
//!
//! Backends live one per module: [`Backend::Scalar`] is the byte-loop
//! reference, [`Backend::Swar`] works on `u64` words in safe code, and the
//! `x86_64` / `aarch64` modules hold the SIMD kernels. The best available
//! backend is detected once and cached ([`selected`]); [`Masker::new`] lets
//! tests and benchmarks force any backend that the CPU supports.
//!
//! Dispatch is size-aware: payloads of at most [`SMALL_LEN`] bytes are masked
//! inline with overlapping word loads (no indirect call, no alignment work);
//! larger ones go to the selected kernel, which aligns its stores once the
//! payload is large enough for that to pay. [`mask`] keeps the selected
//! in-place kernel as a bare function pointer, so a call costs one load and
//! one indirect call on top of the kernel.

use std::fmt;
use std::sync::OnceLock;

use kernels::KernelSlot;
pub(crate) use kernels::Kernels;

#[allow(unsafe_code)]
mod kernels;
#[forbid(unsafe_code)]
mod scalar;
#[forbid(unsafe_code)]
pub(crate) mod swar;

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[allow(unsafe_code)]
#[macro_use]
mod vector;

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86_64;

#[cfg(target_arch = "aarch64")]
#[allow(unsafe_code)]
mod aarch64;

/// Payloads up to this many bytes are masked inline by the dispatched entry
/// points, without calling through the selected kernel.
pub const SMALL_LEN: usize = 16;

/// A masking implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// Byte-at-a-time loop: the reference every other backend is tested against.
    Scalar,
    /// SIMD-within-a-register on `u64` words, safe code, every target.
    Swar,
    /// 128-bit SSE2 (x86-64 baseline).
    Sse2,
    /// 256-bit AVX2.
    Avx2,
    /// 512-bit AVX-512F; compiled in on x86-64, selected only where the CPU has it.
    Avx512,
    /// 128-bit NEON (aarch64).
    Neon,
}

impl Backend {
    /// Every backend, in order of preference from worst to best.
    pub const ALL: [Backend; 6] = [
        Backend::Scalar,
        Backend::Swar,
        Backend::Sse2,
        Backend::Avx2,
        Backend::Avx512,
        Backend::Neon,
    ];

    /// Short lower-case name (`"avx2"`), as used in reports and bench ids.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Scalar => "scalar",
            Backend::Swar => "swar",
            Backend::Sse2 => "sse2",
            Backend::Avx2 => "avx2",
            Backend::Avx512 => "avx512",
            Backend::Neon => "neon",
        }
    }

    /// Parses a name produced by [`Backend::name`].
    pub fn from_name(name: &str) -> Option<Backend> {
        Backend::ALL.into_iter().find(|b| b.name() == name)
    }

    /// Whether this backend is compiled in and the running CPU supports it.
    pub fn is_available(self) -> bool {
        self.kernels().is_some()
    }

    /// The backends usable on this machine, worst to best.
    pub fn available() -> Vec<Backend> {
        Backend::ALL
            .into_iter()
            .filter(|b| b.is_available())
            .collect()
    }

    /// The best backend usable on this machine (detected anew on every call;
    /// [`selected`] caches it).
    pub fn detect() -> Backend {
        Backend::ALL
            .into_iter()
            .rev()
            .find(|b| b.is_available())
            .unwrap_or(Backend::Swar)
    }

    fn kernels(self) -> Option<Kernels> {
        match self {
            Backend::Scalar => Some(scalar::KERNELS),
            Backend::Swar => Some(swar::KERNELS),
            #[cfg(target_arch = "x86_64")]
            Backend::Sse2 => x86_64::sse2::kernels(),
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2 => x86_64::avx2::kernels(),
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512 => x86_64::avx512::kernels(),
            #[cfg(target_arch = "aarch64")]
            Backend::Neon => aarch64::neon::kernels(),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A backend checked to be usable on this CPU, ready to call.
#[derive(Clone, Copy)]
pub struct Masker {
    backend: Backend,
    kernels: Kernels,
}

impl fmt::Debug for Masker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Masker")
            .field("backend", &self.backend)
            .finish()
    }
}

impl Masker {
    /// The masker for `backend`, or `None` when the CPU lacks it or it is not
    /// compiled for this architecture.
    pub fn new(backend: Backend) -> Option<Masker> {
        backend.kernels().map(|kernels| Masker { backend, kernels })
    }

    /// Which backend this masker runs.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Masks (or unmasks) `buf` in place; `buf[0]` sits at `phase` in the key.
    #[inline]
    pub fn mask(&self, buf: &mut [u8], key: [u8; 4], phase: usize) {
        self.kernels.mask(buf, key_word(key, phase));
    }

    /// Writes `src` masked with `key` into `dst`, in one pass.
    ///
    /// # Panics
    /// If `src` and `dst` differ in length.
    #[inline]
    pub fn copy_mask(&self, src: &[u8], dst: &mut [u8], key: [u8; 4], phase: usize) {
        assert_eq!(
            src.len(),
            dst.len(),
            "copy_mask: source and destination lengths differ"
        );
        self.kernels.copy(src, dst, key_word(key, phase));
    }
}

static SELECTED: OnceLock<Masker> = OnceLock::new();
/// The selected backend's in-place kernel, as [`mask`] calls it.
static SELECTED_MASK: KernelSlot = KernelSlot::empty();

/// The masker the dispatched entry points use: the best backend this CPU
/// supports, detected on first use and cached for the life of the process.
#[inline]
pub fn selected() -> &'static Masker {
    SELECTED
        .get_or_init(|| Masker::new(Backend::detect()).expect("the detected backend is available"))
}

/// Masks (or unmasks) `buf` in place with the selected backend; `buf[0]` sits
/// at `phase` in the key.
#[inline]
pub fn mask(buf: &mut [u8], key: [u8; 4], phase: usize) {
    let key = key_word(key, phase);
    if buf.len() <= SMALL_LEN {
        swar::mask_small(buf, key);
    } else {
        SELECTED_MASK.mask(buf, key, || selected().kernels);
    }
}

/// Writes `src` masked with `key` into `dst` with the selected backend: a
/// copy and an unmask in one pass, for moving a payload out of a read buffer.
///
/// # Panics
/// If `src` and `dst` differ in length.
#[inline]
pub fn copy_mask(src: &[u8], dst: &mut [u8], key: [u8; 4], phase: usize) {
    assert_eq!(
        src.len(),
        dst.len(),
        "copy_mask: source and destination lengths differ"
    );
    let key = key_word(key, phase);
    if src.len() <= SMALL_LEN {
        swar::copy_small(src, dst, key);
    } else {
        selected().kernels.copy(src, dst, key);
    }
}

/// The floor of in-place masking, for benchmarks: XORs each whole 64-byte
/// vector of `buf` from its start with `key` (phase 0), one AVX-512 load,
/// xor and store apiece, with none of a kernel's work around them (no
/// dispatch, no alignment, no ends). Bytes after the last whole vector are
/// left as they are, so this is not a masking function. On a 64-byte
/// aligned buffer in the L1 cache whose length is a multiple of 64 it
/// shows how fast an in-place kernel can be expected to get (past L1,
/// narrower vectors do better). `false` (nothing done) without AVX-512F.
#[doc(hidden)]
pub fn in_place_floor(buf: &mut [u8], key: [u8; 4]) -> bool {
    #[cfg(target_arch = "x86_64")]
    return x86_64::avx512::floor(buf, u32::from_le_bytes(key));
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (buf, key);
        false
    }
}

/// The key as a little-endian `u32` whose byte `i` is `key[(phase + i) % 4]`.
#[inline]
pub(crate) fn key_word(key: [u8; 4], phase: usize) -> u32 {
    rotate(u32::from_le_bytes(key), phase)
}

/// Advances a key word by `offset` bytes of payload.
#[inline(always)]
pub(crate) fn rotate(key: u32, offset: usize) -> u32 {
    key.rotate_right(8 * (offset as u32 & 3))
}

#[cfg(test)]
mod tests;
