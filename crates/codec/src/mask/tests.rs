//! Every backend against the scalar reference: all lengths 0..=321 × buffer
//! offsets 0..=63 × key phases 0..=3, in place and copying, with guard bytes
//! around the slice; lengths around the larger size classes (AVX-512 hands
//! buffers over 56 KiB to the 128-bit kernel); then random lengths up to
//! 1 MiB.

use super::*;
use proptest::prelude::*;

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
/// Guard bytes around the slice under test, to catch stray writes.
const GUARD: usize = 64;
const GUARD_BYTE: u8 = 0xa5;

/// Payload lengths to test. Natively: every length 0..=321, so the aligned
/// bodies (above 256 bytes) meet every head and tail length up to the widest
/// vector (64 bytes) at the 64 offsets. Under Miri
/// (~1000× slower): every length to 17, then each size-class boundary of
/// each vector width W (W - 1, W, W + 1, 2W - 1, 2W, 2W + 1), a length
/// that runs the 4×-unrolled body and its remainder loop, and the switch
/// from unaligned to aligned bodies (256, 257).
fn lengths() -> Vec<usize> {
    if cfg!(miri) {
        let mut v: Vec<usize> = (0..=17).collect();
        for w in [16, 32, 64] {
            v.extend([w - 1, w, w + 1, 2 * w - 1, 2 * w, 2 * w + 1, 6 * w + 3]);
        }
        // Where in-place kernels switch from unaligned to aligned bodies.
        v.extend([256, 257]);
        v.sort_unstable();
        v.dedup();
        v
    } else {
        (0..=321).collect()
    }
}

/// Buffer offsets from a 64-byte boundary: all of 0..=63 natively; under
/// Miri, aligned, one past, and one that leaves a long alignment prologue.
fn offsets() -> Vec<usize> {
    if cfg!(miri) {
        vec![0, 1, 33]
    } else {
        (0..=63).collect()
    }
}

/// Key phases: all four natively; under Miri the two extremes (the phase
/// arithmetic is shared by every backend and covered natively).
fn phases() -> Vec<usize> {
    if cfg!(miri) {
        vec![0, 3]
    } else {
        (0..4).collect()
    }
}

fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31).wrapping_add(seed.wrapping_mul(7)) % 251) as u8)
        .collect()
}

fn reference(data: &[u8], key: [u8; 4], phase: usize) -> Vec<u8> {
    data.iter()
        .enumerate()
        .map(|(i, b)| b ^ key[(phase + i) % 4])
        .collect()
}

/// A guard-filled byte region whose index 0 is 64-byte aligned, so that a
/// slice at index `GUARD + offset` is exactly `offset` bytes past alignment.
struct Region {
    bytes: Vec<u8>,
    base: usize,
}

impl Region {
    fn new(len: usize) -> Region {
        let bytes = vec![GUARD_BYTE; 64 + GUARD + 64 + len + GUARD];
        let base = (64 - bytes.as_ptr().addr() % 64) % 64;
        Region { bytes, base }
    }

    fn slice(&mut self, offset: usize, len: usize) -> &mut [u8] {
        let start = self.base + GUARD + offset;
        &mut self.bytes[start..start + len]
    }

    fn guards_intact(&self, offset: usize, len: usize) -> bool {
        let start = self.base + GUARD + offset;
        self.bytes[..start].iter().all(|&b| b == GUARD_BYTE)
            && self.bytes[start + len..].iter().all(|&b| b == GUARD_BYTE)
    }
}

fn check_in_place(m: &Masker, len: usize, offset: usize, phase: usize) {
    let data = pattern(len, offset + phase);
    let expected = reference(&data, KEY, phase);
    let mut region = Region::new(len);
    region.slice(offset, len).copy_from_slice(&data);
    m.mask(region.slice(offset, len), KEY, phase);
    let name = m.backend();
    assert_eq!(
        region.slice(offset, len),
        &expected[..],
        "{name} mask: len {len} offset {offset} phase {phase}"
    );
    assert!(
        region.guards_intact(offset, len),
        "{name} mask wrote outside the slice: len {len} offset {offset} phase {phase}"
    );
}

fn check_copy(m: &Masker, len: usize, offset: usize, phase: usize) {
    // The source sits at a different misalignment than the destination.
    let src_backing = pattern(len + 64, offset);
    let src = &src_backing[(offset * 7 + 3) % 64..][..len];
    let expected = reference(src, KEY, phase);
    let mut region = Region::new(len);
    m.copy_mask(src, region.slice(offset, len), KEY, phase);
    let name = m.backend();
    assert_eq!(
        region.slice(offset, len),
        &expected[..],
        "{name} copy_mask: len {len} offset {offset} phase {phase}"
    );
    assert!(
        region.guards_intact(offset, len),
        "{name} copy_mask wrote outside the slice: len {len} offset {offset} phase {phase}"
    );
}

fn exhaustive(backend: Backend) {
    let Some(m) = Masker::new(backend) else {
        eprintln!("skipping {backend}: not available on this CPU");
        return;
    };
    for len in lengths() {
        for &offset in &offsets() {
            for &phase in &phases() {
                check_in_place(&m, len, offset, phase);
                check_copy(&m, len, offset, phase);
            }
        }
    }
}

/// The benchmarks' in-place floor (AVX-512 only): under Miri, run by the
/// AVX-512 configuration of scripts/miri.sh (its `mask::tests::avx` filter).
mod avx512_floor {
    use super::*;

    #[test]
    fn masks_whole_vectors_and_nothing_else() {
        let original: Vec<u8> = (0..200u32).map(|i| (i * 7) as u8).collect();
        let mut buf = original.clone();
        if !in_place_floor(&mut buf, KEY) {
            eprintln!("skipping the floor: no AVX-512F on this CPU");
            return;
        }
        let mut expected = original.clone();
        let scalar = Masker::new(Backend::Scalar).expect("scalar");
        scalar.mask(&mut expected[..192], KEY, 0);
        assert_eq!(buf, expected);
    }
}

/// Where the AVX-512 in-place kernel hands over to 128-bit vectors.
const HANDOVER: usize = 56 * 1024;
#[cfg(target_arch = "x86_64")]
const _: () = assert!(super::x86_64::avx512::LARGE_MIN == HANDOVER);

/// Lengths around the size classes above 321 bytes: a power of two and its
/// neighbours, the AVX-512 in-place kernel's handover, and one each side of
/// 64 KiB and 1 MiB.
const LARGE_LENGTHS: [usize; 11] = [
    1023,
    1024,
    1025,
    HANDOVER - 1,
    HANDOVER,
    HANDOVER + 1,
    HANDOVER + 63,
    64 * 1024 - 3,
    64 * 1024 + 37,
    (1 << 20) - 1,
    (1 << 20) + 5,
];

fn large(backend: Backend) {
    let Some(m) = Masker::new(backend) else {
        eprintln!("skipping {backend}: not available on this CPU");
        return;
    };
    for len in LARGE_LENGTHS {
        for offset in [0, 1, 31, 32, 63] {
            for phase in 0..4 {
                check_in_place(&m, len, offset, phase);
                check_copy(&m, len, offset, phase);
            }
        }
    }
}

macro_rules! backend_suite {
    ($($name:ident => $backend:expr),* $(,)?) => {$(
        mod $name {
            use super::*;

            #[test]
            fn equals_scalar_for_every_length_offset_and_phase() {
                exhaustive($backend);
            }

            #[test]
            // Megabyte buffers take hours under Miri.
            #[cfg(not(miri))]
            fn equals_scalar_around_the_large_size_classes() {
                large($backend);
            }

            #[cfg(not(miri))]
            proptest! {
                #![proptest_config(ProptestConfig::with_cases(48))]
                #[test]
                fn equals_scalar_on_random_payloads(
                    len in 0usize..=(1 << 20),
                    offset in 0usize..64,
                    phase in 0usize..4,
                    key in any::<[u8; 4]>(),
                    seed in any::<usize>(),
                ) {
                    let Some(m) = Masker::new($backend) else { return Ok(()) };
                    let data = pattern(len, seed);
                    let expected = reference(&data, key, phase);
                    let mut region = Region::new(len);
                    region.slice(offset, len).copy_from_slice(&data);
                    m.mask(region.slice(offset, len), key, phase);
                    prop_assert!(region.slice(offset, len) == &expected[..]);
                    prop_assert!(region.guards_intact(offset, len));
                    let mut out = vec![0u8; len];
                    m.copy_mask(&data, &mut out, key, phase);
                    prop_assert!(out == expected);
                }
            }
        }
    )*};
}

backend_suite! {
    scalar => Backend::Scalar,
    swar => Backend::Swar,
    sse2 => Backend::Sse2,
    avx2 => Backend::Avx2,
    avx512 => Backend::Avx512,
    neon => Backend::Neon,
}

#[test]
fn dispatched_entry_points_equal_scalar() {
    // `mask` and `copy_mask` inline payloads up to SMALL_LEN and hand larger
    // ones to the selected backend (`mask` through its cached kernel slot):
    // cover both sides of that boundary, and the large size classes.
    let large = if cfg!(miri) {
        &[][..]
    } else {
        &LARGE_LENGTHS[..]
    };
    for len in lengths().into_iter().chain(large.iter().copied()) {
        for &phase in &phases() {
            let data = pattern(len, phase);
            let expected = reference(&data, KEY, phase);
            let mut buf = data.clone();
            mask(&mut buf, KEY, phase);
            assert_eq!(buf, expected, "mask len {len} phase {phase}");
            let mut out = vec![0; len];
            copy_mask(&data, &mut out, KEY, phase);
            assert_eq!(out, expected, "copy_mask len {len} phase {phase}");
        }
    }
}

#[test]
fn unmasking_in_pieces_with_the_phase_equals_unmasking_whole() {
    let data = pattern(1000, 9);
    let expected = reference(&data, KEY, 0);
    for piece in [1, 3, 7, 16, 33, 100, 999] {
        let mut buf = data.clone();
        let mut done = 0;
        while done < buf.len() {
            let end = (done + piece).min(buf.len());
            mask(&mut buf[done..end], KEY, done);
            done = end;
        }
        assert_eq!(buf, expected, "pieces of {piece}");
    }
}

#[test]
fn detection_picks_an_available_backend_and_caches_it() {
    let best = Backend::detect();
    assert!(best.is_available());
    assert_eq!(selected().backend(), best);
    assert!(std::ptr::eq(selected(), selected()));
    assert!(Backend::Scalar.is_available() && Backend::Swar.is_available());
    #[cfg(target_arch = "x86_64")]
    assert!(!Backend::Neon.is_available());
    #[cfg(target_arch = "aarch64")]
    assert!(!Backend::Avx2.is_available());
}

#[test]
fn backend_names_round_trip() {
    for b in Backend::ALL {
        assert_eq!(Backend::from_name(b.name()), Some(b));
    }
    assert_eq!(Backend::from_name("mmx"), None);
}

#[test]
#[should_panic(expected = "lengths differ")]
fn copy_mask_rejects_mismatched_lengths() {
    let mut dst = [0u8; 3];
    copy_mask(&[1, 2], &mut dst, KEY, 0);
}
