//! How a subscriber finds which published message arrived, and when it
//! was sent: by the publisher's marker in the payload (the default), or
//! by two JSON values the message carries (`json`): the publisher's
//! sequence number, relayed, and a send time, relayed or stamped by the
//! server, in a unit and on a clock the scenario names.

use serde::Deserialize;

use crate::clock::{monotonic_ns, realtime_ns};

/// The clock a JSON time is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Clock {
    /// CLOCK_MONOTONIC of this host.
    Monotonic,
    /// The Unix epoch (CLOCK_REALTIME).
    Unix,
}

/// The unit of a JSON time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    /// Nanoseconds.
    Ns,
    /// Microseconds.
    Us,
    /// Milliseconds.
    Ms,
}

impl Unit {
    /// Nanoseconds per unit.
    pub fn ns(self) -> u64 {
        match self {
            Unit::Ns => 1,
            Unit::Us => 1_000,
            Unit::Ms => 1_000_000,
        }
    }
}

/// Where a JSON message holds its sequence number and send time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonStamps {
    /// JSON pointer to the publisher's sequence number (`{seq}`).
    pub seq: String,
    /// JSON pointer to the send time.
    pub time: String,
    /// Its unit.
    pub unit: Unit,
    /// Its clock.
    pub clock: Clock,
}

/// How subscribers find published messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Correlation {
    /// The publisher's marker, searched for in each message.
    #[default]
    Marker,
    /// Two JSON values of each message.
    Json(JsonStamps),
}

impl JsonStamps {
    /// The sequence number and send time (CLOCK_MONOTONIC ns) `message`
    /// holds, parsed with simd-json; `None` when it holds no such pair.
    pub fn read(&self, message: &[u8]) -> Option<(i64, u64)> {
        use simd_json::prelude::*;
        let mut bytes = message.to_vec();
        let doc = simd_json::to_borrowed_value(&mut bytes).ok()?;
        let at = |pointer: &str| {
            pointer
                .split('/')
                .skip(1)
                .map(|t| t.replace("~1", "/").replace("~0", "~"))
                .try_fold(&doc, |v, token| match v {
                    simd_json::BorrowedValue::Object(o) => o.get(token.as_str()),
                    simd_json::BorrowedValue::Array(a) => a.get(token.parse::<usize>().ok()?),
                    _ => None,
                })
        };
        let seq = at(&self.seq)?.as_i64()?;
        let time = at(&self.time)?;
        let value = time
            .as_u64()
            .or_else(|| time.as_f64().map(|f| f.max(0.0) as u64))?;
        Some((seq, self.to_monotonic(value)))
    }

    /// A time in this unit and clock, as CLOCK_MONOTONIC ns.
    pub fn to_monotonic(&self, value: u64) -> u64 {
        let ns = value.saturating_mul(self.unit.ns());
        match self.clock {
            Clock::Monotonic => ns,
            Clock::Unix => ns.saturating_sub(realtime_ns().saturating_sub(monotonic_ns())),
        }
    }

    /// CLOCK_MONOTONIC `ns` in this unit and clock (what `{time}` in a
    /// publish body is).
    pub fn from_monotonic(&self, ns: u64) -> u64 {
        let ns = match self.clock {
            Clock::Monotonic => ns,
            Clock::Unix => ns + realtime_ns().saturating_sub(monotonic_ns()),
        };
        ns / self.unit.ns()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamps(clock: Clock, unit: Unit) -> JsonStamps {
        JsonStamps {
            seq: "/data/n".into(),
            time: "/sent_at".into(),
            unit,
            clock,
        }
    }

    #[test]
    fn sequence_and_time_are_read_at_their_pointers() {
        let s = stamps(Clock::Monotonic, Unit::Us);
        let msg = br#"{"type":"event","id":9,"sent_at":1500,"data":{"n":-3}}"#;
        assert_eq!(s.read(msg), Some((-3, 1_500_000)));
        assert_eq!(s.read(br#"{"sent_at":1,"data":{}}"#), None);
        assert_eq!(s.read(br#"{"sent_at":"x","data":{"n":1}}"#), None);
        assert_eq!(s.read(b"not json"), None);
        let arr = JsonStamps {
            seq: "/a/1".into(),
            time: "/t~1x".into(),
            ..s
        };
        assert_eq!(arr.read(br#"{"a":[5,7],"t/x":2}"#), Some((7, 2_000)));
    }

    #[test]
    fn unix_times_come_back_on_the_monotonic_clock() {
        let s = stamps(Clock::Unix, Unit::Ms);
        let now = monotonic_ns();
        let unix_ms = s.from_monotonic(now);
        assert!(
            unix_ms > 1_700_000_000_000,
            "{unix_ms} is a Unix time in ms"
        );
        let back = s.to_monotonic(unix_ms);
        // Truncated to the millisecond, and the two clocks read apart.
        assert!(now.abs_diff(back) < 2_000_000, "{now} vs {back}");
        let m = stamps(Clock::Monotonic, Unit::Ns);
        assert_eq!(m.to_monotonic(m.from_monotonic(now)), now);
    }
}
