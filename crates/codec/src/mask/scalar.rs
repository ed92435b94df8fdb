//! The reference backend: one byte at a time, written for obviousness.
//! Every other backend is tested for equality with this one.

use super::Kernels;

pub(crate) const KERNELS: Kernels = Kernels::portable(mask, copy);

fn mask(buf: &mut [u8], key: u32) {
    let key = key.to_le_bytes();
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

fn copy(src: &[u8], dst: &mut [u8], key: u32) {
    let key = key.to_le_bytes();
    for (i, (d, s)) in dst.iter_mut().zip(src).enumerate() {
        *d = *s ^ key[i % 4];
    }
}
