//! Streaming UTF-8 validation for text messages that arrive in pieces.
//!
//! A piece may end inside a multi-byte character. The validator keeps those
//! (at most three) bytes and completes them with the start of the next piece.
//! It fails on the first piece that contains bytes no valid UTF-8 text could
//! continue from, including a trailing sequence that is already impossible
//! (`F4 90`, say), rather than waiting for the end of the message: the
//! "fail fast" behaviour Autobahn's 6.4.x cases call strict.
//!
//! Complete runs are checked with simdutf8's SIMD validator.

/// Invalid UTF-8 found in a text payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid UTF-8")]
pub struct InvalidUtf8;

/// Validates a text payload fed in pieces. See the module docs.
#[derive(Debug, Clone, Default)]
pub struct Utf8Validator {
    /// Bytes of an incomplete character at the end of the last piece.
    partial: [u8; 4],
    partial_len: u8,
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub const fn new() -> Utf8Validator {
        Utf8Validator {
            partial: [0; 4],
            partial_len: 0,
        }
    }

    /// Forgets any incomplete character, ready for a new message.
    pub fn reset(&mut self) {
        self.partial_len = 0;
    }

    /// Whether the pieces so far end inside a character.
    pub fn is_incomplete(&self) -> bool {
        self.partial_len != 0
    }

    /// Validates the next piece of the message.
    pub fn feed(&mut self, mut piece: &[u8]) -> Result<(), InvalidUtf8> {
        if self.partial_len != 0 {
            piece = self.complete_partial(piece)?;
            if self.partial_len != 0 {
                // `piece` was used up and the character is still incomplete.
                return Ok(());
            }
        }
        let split = incomplete_tail_start(piece);
        simdutf8::basic::from_utf8(&piece[..split]).map_err(|_| InvalidUtf8)?;
        let tail = &piece[split..];
        if !tail.is_empty() {
            check_prefix(tail)?;
            self.partial[..tail.len()].copy_from_slice(tail);
            self.partial_len = tail.len() as u8;
        }
        Ok(())
    }

    /// Ends the message: an error if it stops inside a character. Resets the
    /// validator either way.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let incomplete = self.is_incomplete();
        self.reset();
        if incomplete { Err(InvalidUtf8) } else { Ok(()) }
    }

    /// Validates a whole message in one call (no state involved).
    pub fn validate_complete(text: &[u8]) -> Result<&str, InvalidUtf8> {
        simdutf8::basic::from_utf8(text).map_err(|_| InvalidUtf8)
    }

    /// Adds bytes from `piece` to the pending character and checks it.
    /// Returns the rest of `piece`.
    fn complete_partial<'p>(&mut self, piece: &'p [u8]) -> Result<&'p [u8], InvalidUtf8> {
        let have = usize::from(self.partial_len);
        let need = sequence_len(self.partial[0]).saturating_sub(have);
        let take = need.min(piece.len());
        self.partial[have..have + take].copy_from_slice(&piece[..take]);
        let now = have + take;
        match std::str::from_utf8(&self.partial[..now]) {
            Ok(_) => self.partial_len = 0,
            // Still a valid prefix: only possible when `piece` ran out.
            Err(e) if e.error_len().is_none() => self.partial_len = now as u8,
            Err(_) => return Err(InvalidUtf8),
        }
        Ok(&piece[take..])
    }
}

/// Length of the sequence a lead byte starts (1 for bytes that cannot lead a
/// multi-byte sequence; validation rejects those where they matter).
fn sequence_len(lead: u8) -> usize {
    match lead {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    }
}

/// Index where a multi-byte character that the piece does not finish
/// begins, or `piece.len()` when the piece ends on a character boundary (or
/// ends in bytes that the full validator will reject anyway).
fn incomplete_tail_start(piece: &[u8]) -> usize {
    let len = piece.len();
    for back in 1..=len.min(3) {
        let b = piece[len - back];
        if b & 0xc0 == 0x80 {
            continue; // continuation byte: keep looking for the lead
        }
        return if b >= 0xc0 && sequence_len(b) > back {
            len - back
        } else {
            len
        };
    }
    len
}

/// Checks that `tail` (1–3 bytes) can begin a valid character.
fn check_prefix(tail: &[u8]) -> Result<(), InvalidUtf8> {
    match std::str::from_utf8(tail) {
        Err(e) if e.valid_up_to() == 0 && e.error_len().is_none() => Ok(()),
        _ => Err(InvalidUtf8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn feed_all(pieces: &[&[u8]]) -> Result<(), (usize, InvalidUtf8)> {
        let mut v = Utf8Validator::new();
        for (i, p) in pieces.iter().enumerate() {
            v.feed(p).map_err(|e| (i, e))?;
        }
        v.finish().map_err(|e| (pieces.len(), e))
    }

    #[test]
    fn accepts_text_split_inside_characters() {
        let text = "κόσμε 𝄞 ascii €".as_bytes();
        for a in 0..=text.len() {
            for b in a..=text.len() {
                assert_eq!(
                    feed_all(&[&text[..a], &text[a..b], &text[b..]]),
                    Ok(()),
                    "{a} {b}"
                );
            }
        }
    }

    #[test]
    fn fails_on_the_first_invalid_piece_not_at_the_end() {
        // Autobahn 6.4.1: κόσμε, then F4 90 80 80 (above U+10FFFF), then more.
        let first = "κόσμε".as_bytes();
        let bad = [0xf4, 0x90, 0x80, 0x80];
        assert_eq!(feed_all(&[first, &bad, b"edited"]), Err((1, InvalidUtf8)));
        // 6.4.2: the bad sequence split after F4: F4 alone is a valid prefix,
        // so the failure comes with the 90 that follows.
        assert_eq!(
            feed_all(&[first, &bad[..1], &bad[1..]]),
            Err((2, InvalidUtf8))
        );
        // A piece ending in F4 90 already cannot be completed: fail on it.
        assert_eq!(
            feed_all(&[first, &bad[..2], &bad[2..]]),
            Err((1, InvalidUtf8))
        );
    }

    #[test]
    fn rejects_truncated_text_at_the_end() {
        assert_eq!(feed_all(&[b"abc\xe2\x82"]), Err((1, InvalidUtf8)));
        assert_eq!(feed_all(&[b"abc\xe2", b"\x82"]), Err((2, InvalidUtf8)));
    }

    #[test]
    fn rejects_impossible_bytes_and_overlongs_immediately() {
        for bad in [
            &b"\xff"[..],
            b"\xc0",
            b"\xc1\xbf",
            b"\xe0\x80",
            b"\xed\xa0",
            b"\xf5",
            b"\x80",
        ] {
            let mut v = Utf8Validator::new();
            assert_eq!(v.feed(bad), Err(InvalidUtf8), "{bad:x?}");
        }
    }

    #[test]
    fn reset_forgets_a_pending_character() {
        let mut v = Utf8Validator::new();
        v.feed(b"\xe2\x82").unwrap();
        assert!(v.is_incomplete());
        v.reset();
        v.feed(b"plain").unwrap();
        v.finish().unwrap();
    }

    proptest! {
        /// Splitting anywhere fails on exactly the first piece after which
        /// the bytes so far cannot begin any valid text (or at `finish` when
        /// the text is only truncated), as judged by std on the prefixes.
        #[test]
        fn fails_on_the_first_piece_that_makes_the_prefix_invalid(
            bytes in proptest::collection::vec(
                prop_oneof![any::<u8>(), Just(0xe2u8), Just(0x82), Just(0xac), Just(0xf0), Just(0x9f)],
                0..64,
            ),
            cuts in proptest::collection::vec(0usize..64, 0..6),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut pieces = Vec::new();
            let mut last = 0;
            for c in cuts {
                pieces.push(&bytes[last..c]);
                last = c;
            }
            pieces.push(&bytes[last..]);
            let mut expected = Ok(());
            let mut end = 0;
            for (i, p) in pieces.iter().enumerate() {
                end += p.len();
                if let Err(e) = std::str::from_utf8(&bytes[..end])
                    && e.error_len().is_some()
                {
                    expected = Err((i, InvalidUtf8));
                    break;
                }
            }
            if expected.is_ok() && std::str::from_utf8(&bytes).is_err() {
                expected = Err((pieces.len(), InvalidUtf8));
            }
            prop_assert_eq!(feed_all(&pieces), expected);
        }

        /// Valid text split anywhere is always accepted.
        #[test]
        fn valid_text_split_anywhere_is_accepted(s in "\\PC{0,40}", cut in 0usize..200) {
            let b = s.as_bytes();
            let c = cut.min(b.len());
            prop_assert_eq!(feed_all(&[&b[..c], &b[c..]]), Ok(()));
        }
    }
}
