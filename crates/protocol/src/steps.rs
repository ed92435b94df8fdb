//! What a WebSocket connection says and waits for beyond the push stream:
//! the steps it runs when it opens (send a subscribe message, expect its
//! acknowledgement), the messages it sends on a period (application
//! heartbeats), and its replies to messages that match a pattern
//! (application-level pings). Templates are expanded by the caller.

use std::time::Duration;

/// A message a connection waits for.
#[derive(Clone, Debug)]
pub enum Pattern {
    /// The JSON value at `pointer` equals `value`.
    Equals {
        /// A JSON pointer (`/type`).
        pointer: String,
        /// The value it must hold.
        value: serde_json::Value,
    },
    /// The message contains this text.
    Contains(String),
    /// The message matches this regular expression.
    Regex(regex::Regex),
}

impl Pattern {
    /// Whether `message` matches.
    pub fn matches(&self, message: &str) -> bool {
        match self {
            Pattern::Equals { pointer, value } => {
                serde_json::from_str::<serde_json::Value>(message)
                    .ok()
                    .and_then(|doc| doc.pointer(pointer).map(|v| v == value))
                    .unwrap_or(false)
            }
            Pattern::Contains(text) => {
                memchr::memmem::find(message.as_bytes(), text.as_bytes()).is_some()
            }
            Pattern::Regex(re) => re.is_match(message),
        }
    }

    /// The pattern as a scenario writes it, for errors.
    pub fn describe(&self) -> String {
        match self {
            Pattern::Equals { pointer, value } => format!("{pointer} == {value}"),
            Pattern::Contains(text) => format!("contains {text:?}"),
            Pattern::Regex(re) => format!("regex {:?}", re.as_str()),
        }
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.describe() == other.describe()
    }
}

impl Eq for Pattern {}

/// A message to send: a template, as text or binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Send {
    /// The template (`{conn}`, `{shard}`, `{rand}`, `${ENV}`).
    pub template: String,
    /// A binary message (the template's bytes) rather than text.
    pub binary: bool,
}

/// One step when the connection opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send a message.
    Send(Send),
    /// Wait for a message matching `pattern`, at most `timeout`.
    Expect {
        /// What it must match.
        pattern: Pattern,
        /// How long to wait.
        timeout: Duration,
        /// A value of the matched message kept for later templates.
        capture: Option<Capture>,
    },
    /// Wait.
    Sleep(Think),
    /// Close the connection with this code and reason: a flow's
    /// connection ends there (as a user who logs out).
    Close {
        /// The close code (1000, or an application's 3000–4999).
        code: u16,
        /// The reason, at most 123 bytes.
        reason: String,
    },
}

/// A value taken from the message an `expect` step matched into a
/// template variable (`{name}`) for the steps after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capture {
    /// A JSON pointer into the message (`/session`).
    pub pointer: String,
    /// The variable's name.
    pub name: String,
}

impl Capture {
    /// The value at the pointer in `message`: a string as it is, any
    /// other JSON value as its JSON text; `None` when the message is not
    /// JSON or holds nothing there.
    pub fn take(&self, message: &str) -> Option<String> {
        let doc: serde_json::Value = serde_json::from_str(message).ok()?;
        match doc.pointer(&self.pointer)? {
            serde_json::Value::String(s) => Some(s.clone()),
            v => Some(v.to_string()),
        }
    }
}

/// How long a `sleep` step waits: a fixed time, or one drawn from a
/// distribution (think time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Think {
    /// Always this long.
    Fixed(Duration),
    /// Uniformly between the two.
    Uniform(Duration, Duration),
    /// Exponentially distributed with this mean.
    Exponential(Duration),
    /// Normally distributed (a draw below 0 waits 0).
    Normal {
        /// The mean.
        mean: Duration,
        /// The standard deviation.
        stddev: Duration,
    },
}

impl Think {
    /// The wait for two independent uniform draws `u1`, `u2` in [0, 1).
    pub fn sample(&self, u1: f64, u2: f64) -> Duration {
        match *self {
            Think::Fixed(d) => d,
            Think::Uniform(lo, hi) => lo + (hi - lo).mul_f64(u1),
            // Inverse transform: 1 − u1 is in (0, 1].
            Think::Exponential(mean) => mean.mul_f64(-(1.0 - u1).ln()),
            Think::Normal { mean, stddev } => {
                // Box–Muller.
                let z = (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                let s = mean.as_secs_f64() + stddev.as_secs_f64() * z;
                Duration::from_secs_f64(s.max(0.0))
            }
        }
    }
}

/// A message sent every `every` while the connection is open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Periodic {
    /// The period.
    pub every: Duration,
    /// What to send.
    pub send: Send,
}

/// An answer to every message matching `when`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyRule {
    /// What triggers it.
    pub when: Pattern,
    /// What to send back.
    pub send: Send,
}

/// A WebSocket connection's script.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Script {
    /// On open, in order; the connection is subscribed after the last.
    pub on_open: Vec<Step>,
    /// Sent on a period.
    pub periodic: Vec<Periodic>,
    /// Answers to matching messages.
    pub replies: Vec<ReplyRule>,
}

impl Script {
    /// Whether there is nothing to do beyond the push stream.
    pub fn is_empty(&self) -> bool {
        self.on_open.is_empty() && self.periodic.is_empty() && self.replies.is_empty()
    }

    /// The reply to `message`: the first rule it matches.
    pub fn reply_to(&self, message: &str) -> Option<&Send> {
        self.replies
            .iter()
            .find(|r| r.when.matches(message))
            .map(|r| &r.send)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_by_pointer_text_or_regex() {
        let equals = Pattern::Equals {
            pointer: "/type".into(),
            value: serde_json::json!("subscribed"),
        };
        assert!(equals.matches(r#"{"type":"subscribed","channel":"a"}"#));
        assert!(!equals.matches(r#"{"type":"welcome"}"#));
        assert!(!equals.matches(r#"{"kind":"subscribed"}"#));
        assert!(!equals.matches("subscribed"), "not JSON");
        let number = Pattern::Equals {
            pointer: "/ok".into(),
            value: serde_json::json!(1),
        };
        assert!(number.matches(r#"{"ok":1}"#) && !number.matches(r#"{"ok":"1"}"#));
        assert!(Pattern::Contains("ack".into()).matches("an ack here"));
        assert!(!Pattern::Contains("ack".into()).matches("nothing"));
        let re = Pattern::Regex(regex::Regex::new(r"^\d+ ok$").unwrap());
        assert!(re.matches("42 ok") && !re.matches("x42 ok"));
        assert_eq!(equals.describe(), r#"/type == "subscribed""#);
    }

    #[test]
    fn a_capture_takes_a_string_as_it_is_and_other_values_as_json() {
        let k = |p: &str| Capture {
            pointer: p.into(),
            name: "x".into(),
        };
        let m = r#"{"session":"s-1","n":7,"o":{"a":[1,2]}}"#;
        assert_eq!(k("/session").take(m).as_deref(), Some("s-1"));
        assert_eq!(k("/n").take(m).as_deref(), Some("7"));
        assert_eq!(k("/o/a").take(m).as_deref(), Some("[1,2]"));
        assert_eq!(k("/none").take(m), None);
        assert_eq!(k("/session").take("not json"), None);
    }

    #[test]
    fn think_times_follow_their_distribution() {
        let ms = Duration::from_millis;
        assert_eq!(Think::Fixed(ms(500)).sample(0.9, 0.1), ms(500));
        let u = Think::Uniform(ms(100), ms(300));
        assert_eq!((u.sample(0.0, 0.0), u.sample(0.5, 0.0)), (ms(100), ms(200)));
        // Means over a grid of draws.
        let n = 10_000;
        let mean = |t: Think| {
            let total: f64 = (0..n)
                .map(|i| {
                    let u1 = (i as f64 + 0.5) / n as f64;
                    let u2 = ((i * 7919) % n) as f64 / n as f64;
                    t.sample(u1, u2).as_secs_f64()
                })
                .sum();
            total / n as f64
        };
        assert!((mean(Think::Exponential(ms(2000))) - 2.0).abs() < 0.01);
        let normal = Think::Normal {
            mean: ms(2000),
            stddev: ms(100),
        };
        assert!((mean(normal) - 2.0).abs() < 0.01);
        let wide = Think::Normal {
            mean: ms(10),
            stddev: ms(1000),
        };
        assert!((0..100).all(|i| wide.sample(f64::from(i) / 100.0, 0.0) >= Duration::ZERO));
    }

    #[test]
    fn the_first_matching_rule_answers() {
        let send = |t: &str| Send {
            template: t.into(),
            binary: false,
        };
        let script = Script {
            replies: vec![
                ReplyRule {
                    when: Pattern::Contains("ping".into()),
                    send: send("pong"),
                },
                ReplyRule {
                    when: Pattern::Contains("p".into()),
                    send: send("p?"),
                },
            ],
            ..Script::default()
        };
        assert!(!script.is_empty());
        assert_eq!(script.reply_to("a ping").unwrap().template, "pong");
        assert_eq!(script.reply_to("up").unwrap().template, "p?");
        assert!(script.reply_to("none").is_none());
    }
}
