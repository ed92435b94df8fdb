//! The publisher's marker: what every published message carries in its
//! payload so a subscriber can tell which message it is, when it was due
//! and when it was sent: `~wsb.<run>.<phase>.<j>.<lag>~`, with the run id
//! in hex, the phase index, the message's number `j` on the phase's
//! schedule and the publish lag (actual − intended send) in ns. Only ASCII
//! letters, digits, `.`, `-` and `~`: it survives JSON string escaping and
//! any relay that passes text through.

use std::fmt::Write as _;
use std::sync::LazyLock;

use crate::payload::PayloadKind;

const START: &str = "~wsb.";

/// One message's marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Marker {
    /// The run (random per run; shards of one run share it).
    pub run: u32,
    /// The phase (its index in the run).
    pub phase: u32,
    /// The message's number on the phase's schedule.
    pub j: i64,
    /// Actual − intended send time, ns.
    pub lag_ns: u64,
}

impl Marker {
    fn write(&self, out: &mut String) {
        let _ = write!(
            out,
            "{START}{:08x}.{}.{}.{}~",
            self.run, self.phase, self.j, self.lag_ns
        );
    }

    /// The marker in `payload`, if it holds one.
    pub fn find(payload: &str) -> Option<Marker> {
        // A SIMD substring search (memchr's memmem), its searcher built
        // once: every message received goes through it.
        static FINDER: LazyLock<memchr::memmem::Finder<'static>> =
            LazyLock::new(|| memchr::memmem::Finder::new(START));
        let at = FINDER.find(payload.as_bytes())? + START.len();
        let rest = &payload[at..];
        let body = &rest[..memchr::memchr(b'~', rest.as_bytes())?];
        // The fields between dots (memchr: splitting on a `char` compares
        // each candidate through a library call).
        let mut from = 0;
        let mut f = memchr::memchr_iter(b'.', body.as_bytes())
            .chain([body.len()])
            .map(|to| {
                let field = &body[from..to];
                from = to + 1;
                field
            });
        let m = Marker {
            run: u32::from_str_radix(f.next()?, 16).ok()?,
            phase: f.next()?.parse().ok()?,
            j: f.next()?.parse().ok()?,
            lag_ns: f.next()?.parse().ok()?,
        };
        f.next().is_none().then_some(m)
    }

    /// The body to publish: the marker padded to about `size` bytes, as
    /// text (`~wsb.…~xxx…`) or as a JSON document (`{"m":"~wsb.…~",
    /// "pad":"xxx…"}`).
    pub fn body(&self, kind: PayloadKind, size: usize) -> String {
        let mut out = String::with_capacity(size.max(48));
        match kind {
            PayloadKind::Json => {
                out.push_str("{\"m\":\"");
                self.write(&mut out);
                out.push_str("\",\"pad\":\"");
                let fill = size.saturating_sub(out.len() + 2);
                out.extend(std::iter::repeat_n('x', fill));
                out.push_str("\"}");
            }
            _ => {
                self.write(&mut out);
                let fill = size.saturating_sub(out.len());
                out.extend(std::iter::repeat_n('x', fill));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_through_bodies_and_json_escaping() {
        let m = Marker {
            run: 0xdead_beef,
            phase: 3,
            j: -17,
            lag_ns: 123_456,
        };
        for kind in [PayloadKind::Text, PayloadKind::Json] {
            let body = m.body(kind, 96);
            assert_eq!(body.len(), 96, "{body}");
            assert_eq!(Marker::find(&body), Some(m), "{body}");
            // Relayed inside another JSON document, escaped.
            let relayed = serde_json::to_string(&serde_json::json!({ "data": body })).unwrap();
            assert_eq!(Marker::find(&relayed), Some(m), "{relayed}");
        }
        let json = m.body(PayloadKind::Json, 64);
        assert!(simd_json::to_borrowed_value(&mut json.clone().into_bytes()).is_ok());
        // After other text, multi-byte characters included.
        let text = m.body(PayloadKind::Text, 48);
        assert_eq!(Marker::find(&format!("\u{e9}t\u{e9} {text}")), Some(m));
        // Short sizes still carry the whole marker.
        assert_eq!(Marker::find(&m.body(PayloadKind::Text, 4)), Some(m));
        for bad in [
            "",
            "xxxx",
            "~wsb.12.1.2~",
            "~wsb.zz.1.2.3~",
            "~wsb.1.1.2.3",
            "~wsb.1.1.2.3.4~",
            "~wsb.1..2.3~",
            "~wsb.1.1.2.3.~",
        ] {
            assert_eq!(Marker::find(bad), None, "{bad}");
        }
    }
}
