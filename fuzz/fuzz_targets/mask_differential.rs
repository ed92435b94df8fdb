//! Every backend available here against the scalar reference, in place and
//! copying, at the offset and key phase the input chooses; bytes around the
//! slice must stay untouched.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wsbench_codec::mask::{self, Backend, Masker};

fuzz_target!(|data: &[u8]| {
    let [k0, k1, k2, k3, phase, offset, payload @ ..] = data else {
        return;
    };
    let key = [*k0, *k1, *k2, *k3];
    let phase = usize::from(*phase);
    let offset = usize::from(*offset % 64);
    let scalar = Masker::new(Backend::Scalar).expect("always available");
    let mut expected = payload.to_vec();
    scalar.mask(&mut expected, key, phase);

    let mut region = vec![0xa5u8; offset + payload.len() + 64];
    for backend in Backend::available() {
        let m = Masker::new(backend).expect("listed as available");
        region.fill(0xa5);
        region[offset..offset + payload.len()].copy_from_slice(payload);
        m.mask(&mut region[offset..offset + payload.len()], key, phase);
        assert_eq!(
            &region[offset..offset + payload.len()],
            &expected[..],
            "{backend} in place"
        );
        assert!(
            region[..offset]
                .iter()
                .chain(&region[offset + payload.len()..])
                .all(|&b| b == 0xa5)
        );

        region.fill(0xa5);
        m.copy_mask(
            payload,
            &mut region[offset..offset + payload.len()],
            key,
            phase,
        );
        assert_eq!(
            &region[offset..offset + payload.len()],
            &expected[..],
            "{backend} copy"
        );
        assert!(
            region[..offset]
                .iter()
                .chain(&region[offset + payload.len()..])
                .all(|&b| b == 0xa5)
        );
    }
    let mut dispatched = payload.to_vec();
    mask::mask(&mut dispatched, key, phase);
    assert_eq!(dispatched, expected, "dispatched");
});
