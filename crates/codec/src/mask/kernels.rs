//! The kernel table of a backend and the one place that calls through it.
//!
//! SIMD kernels are `#[target_feature]` functions: calling one is sound only
//! on a CPU with that feature. A [`Kernels`] value holds them as `unsafe fn`
//! pointers so the dispatched call is a single indirect call, and it can be
//! built only two ways: from safe functions ([`Kernels::portable`]), or by a
//! backend module after its runtime feature check ([`Kernels::detected`]).
//! That makes calling through it safe.
//!
//! [`KernelSlot`] caches one such in-place kernel for the dispatched entry
//! point as a bare function pointer: a call through it is one load and one
//! indirect call.

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

/// The kernels of one backend. Both take the key as a little-endian word
/// already rotated to the phase of the first byte (see `key_word`).
#[derive(Clone, Copy)]
pub(crate) struct Kernels {
    /// XOR a buffer in place.
    mask: unsafe fn(&mut [u8], u32),
    /// Write `src ^ key` into `dst`; panics if the lengths differ.
    copy: unsafe fn(&[u8], &mut [u8], u32),
}

impl Kernels {
    /// Kernels that are safe to call anywhere.
    pub(crate) const fn portable(
        mask: fn(&mut [u8], u32),
        copy: fn(&[u8], &mut [u8], u32),
    ) -> Kernels {
        Kernels { mask, copy }
    }

    /// Kernels compiled for a CPU feature.
    ///
    /// # Safety
    /// The running CPU must have every feature the two functions are
    /// compiled for, and they must be sound for any slices they are given
    /// (the copy kernel checks that the lengths match).
    pub(crate) const unsafe fn detected(
        mask: unsafe fn(&mut [u8], u32),
        copy: unsafe fn(&[u8], &mut [u8], u32),
    ) -> Kernels {
        Kernels { mask, copy }
    }

    /// Masks `buf` in place.
    #[inline(always)]
    pub(crate) fn mask(&self, buf: &mut [u8], key: u32) {
        // SAFETY: a `Kernels` holds either safe functions or kernels whose
        // CPU features were detected before `detected` was called (its
        // contract); both are sound for any slice.
        unsafe { (self.mask)(buf, key) }
    }

    /// Writes `src ^ key` into `dst`.
    #[inline(always)]
    pub(crate) fn copy(&self, src: &[u8], dst: &mut [u8], key: u32) {
        // SAFETY: as for `mask`; the copy kernels assert equal lengths.
        unsafe { (self.copy)(src, dst, key) }
    }
}

/// An in-place kernel taken from a [`Kernels`] value, cached for the
/// dispatched entry point. Empty until the first call, which asks for the
/// kernels and keeps their `mask`. Unlike a `OnceLock`, a call needs no
/// check that initialisation finished besides the null test of the pointer
/// it loads anyway: in a loop over short payloads that is a tenth of the time.
pub(crate) struct KernelSlot(AtomicPtr<()>);

impl KernelSlot {
    pub(crate) const fn empty() -> KernelSlot {
        KernelSlot(AtomicPtr::new(ptr::null_mut()))
    }

    /// Masks `buf` in place with the cached kernel, caching the `mask`
    /// kernel of `select()` first if the slot is empty.
    #[inline(always)]
    pub(crate) fn mask(&self, buf: &mut [u8], key: u32, select: fn() -> Kernels) {
        let f = self.0.load(Ordering::Relaxed);
        if f.is_null() {
            return self.fill(buf, key, select);
        }
        // SAFETY: the only non-null value ever stored is a `mask` pointer
        // of a `Kernels` value (`fill`), turned back into its own type;
        // calling it is sound for the reason given in `Kernels::mask`.
        unsafe {
            let f = std::mem::transmute::<*mut (), unsafe fn(&mut [u8], u32)>(f);
            f(buf, key)
        }
    }

    #[cold]
    #[inline(never)]
    fn fill(&self, buf: &mut [u8], key: u32, select: fn() -> Kernels) {
        let kernels = select();
        self.0.store(kernels.mask as *mut (), Ordering::Relaxed);
        kernels.mask(buf, key);
    }
}
