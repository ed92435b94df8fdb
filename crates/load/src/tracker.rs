//! One subscriber's view of the push stream: which sequence numbers it got
//! in the measured window, once, twice, or late.

/// What a delivery was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// First time, in order.
    New,
    /// First time, after a later message.
    Late,
    /// Seen before.
    Duplicate,
}

/// Sequence numbers one connection received (a bitmap from its first).
#[derive(Clone, Debug, Default)]
pub struct SeqTracker {
    base: Option<u64>,
    bits: Vec<u64>,
    highest: u64,
    /// Distinct sequence numbers received at or after the base.
    pub distinct: u64,
    /// Sequence numbers below the base (arrived after the first one).
    pub before_base: u64,
}

impl SeqTracker {
    /// Notes `seq`.
    pub fn on_message(&mut self, seq: u64) -> Delivery {
        let base = *self.base.get_or_insert(seq);
        if seq < base {
            self.before_base += 1;
            return Delivery::Late;
        }
        let i = usize::try_from(seq - base).unwrap_or(usize::MAX);
        let (word, bit) = (i / 64, i % 64);
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        if self.bits[word] & (1 << bit) != 0 {
            return Delivery::Duplicate;
        }
        self.bits[word] |= 1 << bit;
        self.distinct += 1;
        if seq < self.highest {
            Delivery::Late
        } else {
            self.highest = seq;
            Delivery::New
        }
    }

    /// The first sequence number received.
    pub fn first(&self) -> Option<u64> {
        self.base
    }

    /// Distinct sequence numbers received in `from..=to`.
    pub fn received_in(&self, from: u64, to: u64) -> u64 {
        let Some(base) = self.base else { return 0 };
        if to < base || to < from {
            return 0;
        }
        let lo = from.max(base) - base;
        let hi = to - base;
        (lo..=hi)
            .filter(|&i| {
                let i = usize::try_from(i).unwrap_or(usize::MAX);
                self.bits
                    .get(i / 64)
                    .is_some_and(|w| w & (1 << (i % 64)) != 0)
            })
            .count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_new_late_and_duplicate_apart() {
        let mut t = SeqTracker::default();
        assert_eq!(t.on_message(10), Delivery::New);
        assert_eq!(t.on_message(12), Delivery::New);
        assert_eq!(t.on_message(11), Delivery::Late);
        assert_eq!(t.on_message(12), Delivery::Duplicate);
        assert_eq!(t.on_message(9), Delivery::Late);
        assert_eq!(t.on_message(200), Delivery::New);
        assert_eq!(t.distinct, 4);
        assert_eq!(t.received_in(10, 200), 4);
        assert_eq!(t.received_in(11, 12), 2);
        assert_eq!(t.received_in(13, 199), 0);
        assert_eq!(t.received_in(0, 5), 0);
    }
}
