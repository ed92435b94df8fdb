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
    },
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
