//! Thresholds, k6 style: `"push_latency.p99 < 5ms"`, `"errors == 0"`,
//! `"websocket.delivered_ratio >= 1.0"`.
//!
//! Grammar: `[GROUP.][TRANSPORT.][STAGE.]METRIC[.STAT] OP NUMBER[UNIT]`. Latency
//! metrics take a statistic (`p50`, `p90`, `p99`, `p99.9`, `min`, `mean`,
//! `max`) and a time unit (`ns`, `us`, `ms`, `s`); counts and ratios take
//! a bare number. Without a transport, the check applies to every phase;
//! with a stage (`stage2.push_latency.p99 < 20ms`, stages counted from 1),
//! to the phase's main latency in that stage of a stage profile. A flow's
//! timer is `flow.NAME` (`flow.say.p99 < 50ms`, `flow.say_uncorrected…`). With a
//! group (`writers.echo_rtt.p99 < 20ms`), to that group of a mixed
//! population; without, to every group whose workload produces the metric.

use std::fmt;

use crate::metric::{self, Kind, Metric};
use crate::workload::Transport;

/// A statistic of a latency histogram.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stat {
    /// A percentile, 0–100.
    Percentile(f64),
    /// The smallest value.
    Min,
    /// The mean.
    Mean,
    /// The largest value.
    Max,
}

impl fmt::Display for Stat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stat::Percentile(p) => write!(f, "p{p}"),
            Stat::Min => f.write_str("min"),
            Stat::Mean => f.write_str("mean"),
            Stat::Max => f.write_str("max"),
        }
    }
}

/// What a threshold measures: a metric of the vocabulary, with a
/// statistic when it is a latency.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Measure {
    /// A statistic of a latency histogram, in nanoseconds.
    Latency {
        /// A [`Kind::Latency`] metric.
        metric: Metric,
        /// Which statistic.
        stat: Stat,
    },
    /// Any other metric.
    Scalar(Metric),
}

impl Measure {
    /// The metric measured.
    pub fn metric(&self) -> Metric {
        match *self {
            Measure::Latency { metric, .. } | Measure::Scalar(metric) => metric,
        }
    }

    /// The metric's name in the vocabulary.
    pub fn name(&self) -> &'static str {
        self.metric().name()
    }

    /// Its entry in the vocabulary.
    pub fn def(&self) -> &'static metric::Def {
        self.metric().def()
    }

    /// `v` with its unit (`14.44 ms`, `0.9950`).
    pub fn format_value(&self, v: f64) -> String {
        self.def().format(v)
    }
}

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl Op {
    /// Whether `left OP right` holds.
    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Op::Lt => left < right,
            Op::Le => left <= right,
            Op::Gt => left > right,
            Op::Ge => left >= right,
            Op::Eq => left == right,
            Op::Ne => left != right,
        }
    }
}

/// A parsed threshold.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// As written.
    pub text: String,
    /// The group of a mixed population it applies to; `None`: every
    /// group that produces the metric.
    pub group: Option<String>,
    /// The phase it applies to; `None`: every phase.
    pub transport: Option<Transport>,
    /// The stage of a stage profile it applies to, from 1; `None`: the
    /// whole window.
    pub stage: Option<usize>,
    /// A flow timer (`flow.say.p99 < 50ms`): the name its values are
    /// reported under (`flow.say`, `flow.say_uncorrected`), read instead
    /// of `metric` (then `flow_time` or its uncorrected twin).
    pub timer: Option<String>,
    /// What is measured.
    pub metric: Measure,
    /// The comparison.
    pub op: Op,
    /// The bound: nanoseconds for latencies, the number otherwise.
    pub value: f64,
}

/// Why a threshold does not parse: where in the string, and a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThresholdError {
    /// Byte offset in the threshold text.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
    /// How to write it.
    pub hint: Option<String>,
}

fn err(offset: usize, message: impl Into<String>, hint: Option<String>) -> ThresholdError {
    ThresholdError {
        offset,
        message: message.into(),
        hint,
    }
}

impl Threshold {
    /// Parses one threshold.
    pub fn parse(text: &str) -> Result<Threshold, ThresholdError> {
        let ops = ["<=", ">=", "==", "!=", "<", ">"];
        let (at, op_text) = ops
            .iter()
            .filter_map(|op| text.find(op).map(|i| (i, *op)))
            .min_by_key(|&(i, op)| (i, std::cmp::Reverse(op.len())))
            .ok_or_else(|| {
                err(
                    0,
                    "no comparison",
                    Some("write METRIC OP VALUE, e.g. \"push_latency.p99 < 5ms\"".into()),
                )
            })?;
        let op = match op_text {
            "<=" => Op::Le,
            ">=" => Op::Ge,
            "==" => Op::Eq,
            "!=" => Op::Ne,
            "<" => Op::Lt,
            _ => Op::Gt,
        };
        let left = text[..at].trim();
        let left_at = text.len() - text.trim_start().len();
        let right_at = at + op_text.len();
        let right = text[right_at..].trim();
        let right_at = right_at + (text[right_at..].len() - text[right_at..].trim_start().len());

        let mut parts: Vec<&str> = left.split('.').collect();
        let group = group_prefix(&parts).map(str::to_owned);
        if group.is_some() {
            parts.remove(0);
        }
        let transport = Transport::ALL.into_iter().find(|t| t.name() == parts[0]);
        if transport.is_some() {
            parts.remove(0);
        }
        let stage = parts
            .first()
            .and_then(|p| p.strip_prefix("stage"))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .map(|n| n.parse::<usize>().ok().filter(|&n| n > 0))
            .map(|n| {
                n.ok_or_else(|| {
                    err(
                        left_at,
                        "stages are counted from 1",
                        Some("stage1 is the first [load] stage".into()),
                    )
                })
            })
            .transpose()?;
        if stage.is_some() {
            parts.remove(0);
        }
        let timer = match parts.as_slice() {
            ["flow", name, _, ..] => {
                let (_, corrected) =
                    metric::flow_timer_of(&format!("flow.{name}")).unwrap_or((name, true));
                let key = format!("flow.{name}");
                parts.splice(
                    0..2,
                    [if corrected {
                        Metric::FlowTime.name()
                    } else {
                        Metric::FlowTimeUncorrected.name()
                    }],
                );
                Some(key)
            }
            _ => None,
        };
        let metric_name = parts.first().copied().unwrap_or_default();
        // `p99.9` splits in two.
        let stat_text = parts[1.min(parts.len())..].join(".");
        let metric = match metric::find(metric_name) {
            Some(d) if d.kind == Kind::Latency => {
                let stat = parse_stat(&stat_text).ok_or_else(|| {
                    err(
                        left_at,
                        format!("{metric_name} needs a statistic, not {stat_text:?}"),
                        Some(format!(
                            "e.g. {metric_name}.p99, .p50, .p95, .p99.9, .p99.99, .mean, .max"
                        )),
                    )
                })?;
                Measure::Latency {
                    metric: d.metric,
                    stat,
                }
            }
            Some(d) => {
                if !stat_text.is_empty() {
                    return Err(err(
                        left_at,
                        format!("{metric_name} has no statistics"),
                        None,
                    ));
                }
                Measure::Scalar(d.metric)
            }
            None => {
                return Err(err(
                    left_at,
                    format!("unknown metric {metric_name:?}"),
                    Some(match metric::closest(metric_name) {
                        Some(m) => format!("did you mean {m}?"),
                        None => {
                            let all: Vec<&str> = metric::ALL.iter().map(|d| d.name).collect();
                            format!("metrics: {}", all.join(", "))
                        }
                    }),
                ));
            }
        };

        let number_end = right
            .find(|ch: char| !(ch.is_ascii_digit() || matches!(ch, '.' | '-' | '+' | 'e' | 'E')))
            .unwrap_or(right.len());
        let (number, unit) = right.split_at(number_end);
        let number: f64 = number
            .parse()
            .map_err(|_| err(right_at, format!("{right:?} is not a number"), None))?;
        let value = match (&metric, unit.trim()) {
            (Measure::Latency { .. }, unit) => {
                let scale = match unit {
                    "ns" => 1.0,
                    "us" | "µs" => 1e3,
                    "ms" => 1e6,
                    "s" => 1e9,
                    _ => {
                        return Err(err(
                            right_at + number_end,
                            format!("a latency needs a time unit, not {unit:?}"),
                            Some("ns, us, ms or s, e.g. 5ms".into()),
                        ));
                    }
                };
                number * scale
            }
            (Measure::Scalar(_), "") => number,
            (Measure::Scalar(m), unit) => {
                return Err(err(
                    right_at + number_end,
                    format!("{} takes a bare number, not {unit:?}", m.name()),
                    None,
                ));
            }
        };
        Ok(Threshold {
            text: text.to_owned(),
            group,
            transport,
            stage,
            timer,
            metric,
            op,
            value,
        })
    }
}

/// The first part when it names a group: not a transport, stage or
/// metric, and followed by one.
fn group_prefix<'a>(parts: &[&'a str]) -> Option<&'a str> {
    let known = |p: &str| {
        p == "flow"
            || metric::find(p).is_some()
            || Transport::ALL.iter().any(|t| t.name() == p)
            || p.strip_prefix("stage")
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
    };
    match parts {
        [first, next, ..] if !known(first) && known(next) => Some(first),
        _ => None,
    }
}

fn parse_stat(s: &str) -> Option<Stat> {
    match s {
        "min" => Some(Stat::Min),
        "mean" | "avg" => Some(Stat::Mean),
        "max" => Some(Stat::Max),
        "p999" => Some(Stat::Percentile(99.9)),
        _ => {
            let p: f64 = s.strip_prefix('p')?.parse().ok()?;
            (0.0..=100.0).contains(&p).then_some(Stat::Percentile(p))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_latencies_scalars_and_transports() {
        let t = Threshold::parse("push_latency.p99 < 5ms").unwrap();
        assert_eq!(
            (t.transport, &t.metric, t.op, t.value),
            (
                None,
                &Measure::Latency {
                    metric: Metric::PushLatency,
                    stat: Stat::Percentile(99.0)
                },
                Op::Lt,
                5e6
            )
        );
        let t = Threshold::parse("websocket.echo_rtt.p99.9 <= 250us").unwrap();
        assert_eq!(t.transport, Some(Transport::Websocket));
        assert!(
            matches!(t.metric, Measure::Latency { stat: Stat::Percentile(p), .. } if p == 99.9)
        );
        assert_eq!(t.value, 250e3);
        let t = Threshold::parse("errors == 0").unwrap();
        assert_eq!(
            (t.metric, t.op, t.value),
            (Measure::Scalar(Metric::Errors), Op::Eq, 0.0)
        );
        let t = Threshold::parse("long-poll.delivered_ratio >= 1.0").unwrap();
        assert_eq!(
            (t.transport, t.op, t.value),
            (Some(Transport::LongPoll), Op::Ge, 1.0)
        );
        assert_eq!(t.stage, None);
        let t = Threshold::parse("sse.stage12.push_latency.p99 < 20ms").unwrap();
        assert_eq!((t.transport, t.stage), (Some(Transport::Sse), Some(12)));
        assert_eq!(t.metric.metric(), Metric::PushLatency);
        let t = Threshold::parse("stage2.echo_rtt.max < 1s").unwrap();
        assert_eq!((t.transport, t.stage, t.value), (None, Some(2), 1e9));
        let e = Threshold::parse("stage0.push_latency.p99 < 1s").unwrap_err();
        assert!(e.message.contains("from 1"), "{e:?}");
        // Not a stage: a group's name (the scenario knows whether it has one).
        let t = Threshold::parse("stagetwo.push_latency.p99 < 1s").unwrap();
        assert_eq!(t.group.as_deref(), Some("stagetwo"));
    }

    #[test]
    fn a_flow_timer_reads_its_own_histogram() {
        let t = Threshold::parse("flow.say.p99 < 50ms").unwrap();
        assert_eq!(t.timer.as_deref(), Some("flow.say"));
        assert_eq!(t.metric.metric(), Metric::FlowTime);
        let t = Threshold::parse("chatters.flow.say_uncorrected.p99.9 < 1s").unwrap();
        assert_eq!(
            (t.group.as_deref(), t.timer.as_deref()),
            (Some("chatters"), Some("flow.say_uncorrected"))
        );
        assert_eq!(t.metric.metric(), Metric::FlowTimeUncorrected);
        assert!(
            matches!(t.metric, Measure::Latency { stat: Stat::Percentile(p), .. } if p == 99.9)
        );
        assert_eq!(Threshold::parse("flow_time.p99 < 1s").unwrap().timer, None);
        let e = Threshold::parse("flow.say < 1s").unwrap_err();
        assert!(e.message.contains("unknown metric"), "{e:?}");
    }

    #[test]
    fn a_group_prefix_comes_first() {
        let t = Threshold::parse("writers.echo_rtt.p99 < 20ms").unwrap();
        assert_eq!((t.group.as_deref(), t.transport), (Some("writers"), None));
        assert_eq!(t.metric.metric(), Metric::EchoRtt);
        let t = Threshold::parse("readers.sse.stage1.push_latency.p50 < 1s").unwrap();
        assert_eq!(
            (t.group.as_deref(), t.transport, t.stage),
            (Some("readers"), Some(Transport::Sse), Some(1))
        );
        let t = Threshold::parse("errors == 0").unwrap();
        assert_eq!(t.group, None);
        // A misspelt metric is still one, not a group.
        let e = Threshold::parse("push_latncy.p99 < 5ms").unwrap_err();
        assert!(e.message.contains("unknown metric"), "{e:?}");
    }

    #[test]
    fn errors_say_where_and_hint() {
        let e = Threshold::parse("push_latncy.p99 < 5ms").unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean push_latency?"));
        let e = Threshold::parse("push_latency.p99 < 5").unwrap_err();
        assert!(e.message.contains("time unit"), "{e:?}");
        assert_eq!(e.offset, "push_latency.p99 < 5".len());
        let e = Threshold::parse("errors").unwrap_err();
        assert!(e.message.contains("no comparison"));
        let e = Threshold::parse("push_latency < 5ms").unwrap_err();
        assert!(e.message.contains("statistic"), "{e:?}");
        let e = Threshold::parse("errors.p99 == 0").unwrap_err();
        assert!(e.message.contains("no statistics"), "{e:?}");
        let e = Threshold::parse("errors == zero").unwrap_err();
        assert!(e.message.contains("not a number"), "{e:?}");
    }

    #[test]
    fn ops_compare() {
        assert!(Op::Lt.holds(1.0, 2.0) && !Op::Lt.holds(2.0, 2.0));
        assert!(Op::Le.holds(2.0, 2.0) && Op::Ge.holds(2.0, 2.0));
        assert!(Op::Ne.holds(1.0, 2.0) && Op::Eq.holds(0.0, 0.0));
    }
}
