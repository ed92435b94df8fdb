//! Push delivery accounting. The load generator is the publisher: it
//! numbers the messages of a phase `j = …, -1, 0, 1, …` on its schedule
//! (`j = 0` is the first message intended in the measured window) and
//! keeps a [`PublishRecord`] of each send. Every process with subscribers
//! keeps a [`Ledger`]: for each window message, how many of its
//! connections owed it and how many of those received it. [`account`]
//! turns ledgers and records into `published`, `publish_failed`, `owed` and
//! `lost`, the same way for one process, worker processes and shards.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// For each window message, how many connections owed it and how many of
/// those received it, run-length encoded: `[messages, owed, got]` says
/// that many consecutive messages were each owed to `owed` connections,
/// `got` of which received it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// Messages in the window (`j = 0 … window − 1`).
    pub window: u64,
    /// The runs, in `j` order; they cover the window exactly.
    pub runs: Vec<[u64; 3]>,
}

impl Ledger {
    /// The ledger of per-message `owed` and `got` counts (equal lengths:
    /// the window).
    pub fn new(owed: &[u64], got: &[u64]) -> Ledger {
        let mut runs: Vec<[u64; 3]> = Vec::new();
        for (&o, &g) in owed.iter().zip(got) {
            match runs.last_mut() {
                Some(r) if r[1] == o && r[2] == g => r[0] += 1,
                _ => runs.push([1, o, g]),
            }
        }
        Ledger {
            window: owed.len() as u64,
            runs,
        }
    }

    /// `(owed, got)` of each window message, in `j` order.
    pub fn per_message(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.runs
            .iter()
            .flat_map(|&[n, o, g]| std::iter::repeat_n((o, g), usize::try_from(n).unwrap_or(0)))
    }

    /// Two ledgers of the same window added message by message (the
    /// connections of two processes).
    pub fn add(&self, other: &Ledger) -> Result<Ledger, String> {
        if self.window != other.window {
            return Err(format!(
                "ledgers of different windows ({} and {} messages)",
                self.window, other.window
            ));
        }
        let (o, g): (Vec<u64>, Vec<u64>) = self
            .per_message()
            .zip(other.per_message())
            .map(|((o1, g1), (o2, g2))| (o1 + o2, g1 + g2))
            .unzip();
        Ok(Ledger::new(&o, &g))
    }

    /// Writes the ledger as JSON.
    pub fn write(&self, path: &Path) -> io::Result<()> {
        let text = serde_json::to_string(self).map_err(io::Error::other)?;
        fs::write(path, text + "\n")
    }

    /// Reads a ledger written by [`Ledger::write`], checking that its runs
    /// cover its window.
    pub fn read(path: &Path) -> io::Result<Ledger> {
        let text = fs::read_to_string(path)?;
        let l: Ledger = serde_json::from_str(&text).map_err(|e| invalid(path, e))?;
        let covered: u64 = l.runs.iter().map(|r| r[0]).sum();
        if covered != l.window || l.runs.iter().any(|r| r[2] > r[1]) {
            return Err(invalid(path, "runs do not cover the window, or got > owed"));
        }
        Ok(l)
    }
}

fn invalid(path: &Path, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
}

/// What became of one publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The target accepted it.
    Ok,
    /// The request failed (error, refusal or timeout).
    Failed,
    /// It was due but never sent (the phase ended first).
    Unsent,
}

impl Outcome {
    fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Unsent => "unsent",
        }
    }
}

/// One message the publisher was due to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishEntry {
    /// Its number on the schedule (0: the first in the window).
    pub j: i64,
    /// The sequence number the target assigned, when it said.
    pub seq: Option<u64>,
    /// When it was due, publisher's CLOCK_MONOTONIC ns.
    pub intended_ns: u64,
    /// When the request was handed to the HTTP client.
    pub sent_ns: Option<u64>,
    /// When the answer (or the failure) came.
    pub done_ns: Option<u64>,
    /// What became of it.
    pub outcome: Outcome,
    /// The error kind of a failure (`http-503`, `timeout`, …).
    pub error: Option<String>,
}

/// One publisher's record of a phase: every message it was due to send,
/// with the times and the outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublishRecord {
    /// This publisher sends the messages `j` with `j mod publishers ==
    /// index`.
    pub index: u64,
    /// Publishers of the phase (shards publish a share each).
    pub publishers: u64,
    /// Messages in the window.
    pub window: u64,
    /// Publishing stopped before the window's end (the phase ended
    /// early): messages after this one were never due, and count as
    /// neither published nor failed.
    pub due_until: Option<i64>,
    /// The messages, in `j` order.
    pub entries: Vec<PublishEntry>,
}

const CSV_HEADER: &str = "j,seq,intended_ns,sent_ns,done_ns,outcome,error";

impl PublishRecord {
    /// Writes the record as CSV, with a comment line naming the share.
    pub fn write(&self, path: &Path) -> io::Result<()> {
        let cut = self
            .due_until
            .map(|d| format!(", due until {d}"))
            .unwrap_or_default();
        let mut out = format!(
            "# wsbench publish record: publisher {} of {}, window {} messages{cut}\n{CSV_HEADER}\n",
            self.index, self.publishers, self.window
        );
        let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
        for e in &self.entries {
            let error: String = e
                .error
                .as_deref()
                .unwrap_or("")
                .chars()
                .filter(|c| !matches!(c, ',' | '\n' | '\r' | '"'))
                .collect();
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{error}",
                e.j,
                opt(e.seq),
                e.intended_ns,
                opt(e.sent_ns),
                opt(e.done_ns),
                e.outcome.name()
            );
        }
        fs::write(path, out)
    }

    /// Reads a record written by [`PublishRecord::write`].
    pub fn read(path: &Path) -> io::Result<PublishRecord> {
        let text = fs::read_to_string(path)?;
        let mut lines = text.lines();
        let head = lines.next().unwrap_or_default();
        let words: Vec<&str> = head.split_whitespace().collect();
        let share = match words.as_slice() {
            [
                "#",
                "wsbench",
                "publish",
                "record:",
                "publisher",
                i,
                "of",
                n,
                "window",
                w,
                ..,
            ] => {
                let num = |s: &str| s.trim_end_matches(',').parse::<u64>().ok();
                (num(i), num(n), num(w))
            }
            _ => (None, None, None),
        };
        let (Some(index), Some(publishers), Some(window)) = share else {
            return Err(invalid(path, "not a wsbench publish record"));
        };
        let window: u64 = window;
        let due_until = head
            .split_once(", due until ")
            .and_then(|(_, d)| d.trim().parse().ok());
        if lines.next() != Some(CSV_HEADER) {
            return Err(invalid(path, "unexpected CSV header"));
        }
        let mut entries = Vec::new();
        for (n, line) in lines.enumerate() {
            let bad = || invalid(path, format!("line {}: {line:?}", n + 3));
            let f: Vec<&str> = line.split(',').collect();
            if f.len() != 7 {
                return Err(bad());
            }
            let opt = |s: &str| -> Result<Option<u64>, io::Error> {
                if s.is_empty() {
                    Ok(None)
                } else {
                    s.parse().map(Some).map_err(|_| bad())
                }
            };
            entries.push(PublishEntry {
                j: f[0].parse().map_err(|_| bad())?,
                seq: opt(f[1])?,
                intended_ns: f[2].parse().map_err(|_| bad())?,
                sent_ns: opt(f[3])?,
                done_ns: opt(f[4])?,
                outcome: match f[5] {
                    "ok" => Outcome::Ok,
                    "failed" => Outcome::Failed,
                    "unsent" => Outcome::Unsent,
                    _ => return Err(bad()),
                },
                error: (!f[6].is_empty()).then(|| f[6].to_owned()),
            });
        }
        Ok(PublishRecord {
            index,
            publishers,
            window,
            due_until,
            entries,
        })
    }
}

/// A phase's delivery counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Window messages the target accepted.
    pub published: u64,
    /// Window messages whose publish failed or that were never sent: owed
    /// by nobody, reported.
    pub publish_failed: u64,
    /// Sum over connections of the published window messages each owed.
    pub owed: u64,
    /// Owed messages not received.
    pub lost: u64,
}

/// Accounts `ledger` against the publishers' `records`: a window message
/// counts as published when its publisher's record says the target
/// accepted it; then every connection that owed it and did not get it lost
/// it. A message no record accounts for (a missing publisher) failed.
pub fn account(ledger: &Ledger, records: &[PublishRecord]) -> Result<Delivery, String> {
    account_with(ledger, records, false)
}

/// [`account`] restricted to the shares `records` cover: the messages of a
/// publisher without a record are left out, neither published nor failed
/// (a shard's own summary, before `wsbench merge` brings every share).
pub fn account_recorded(ledger: &Ledger, records: &[PublishRecord]) -> Result<Delivery, String> {
    account_with(ledger, records, true)
}

fn account_with(
    ledger: &Ledger,
    records: &[PublishRecord],
    recorded_only: bool,
) -> Result<Delivery, String> {
    let publishers = records.first().map_or(1, |r| r.publishers.max(1));
    let mut outcome: Vec<Vec<Option<Outcome>>> =
        vec![Vec::new(); usize::try_from(publishers).unwrap_or(1)];
    let mut due_until: Vec<Option<i64>> = vec![None; outcome.len()];
    for r in records {
        if r.publishers != publishers || r.index >= publishers {
            return Err(format!(
                "publish records of different splits (publisher {} of {} next to {publishers})",
                r.index, r.publishers
            ));
        }
        if r.window != ledger.window {
            return Err(format!(
                "a publish record of a {}-message window for a {}-message ledger",
                r.window, ledger.window
            ));
        }
        let slot = &mut outcome[r.index as usize];
        if !slot.is_empty() {
            return Err(format!("two publish records of publisher {}", r.index));
        }
        *slot = vec![None; usize::try_from(ledger.window).unwrap_or(0)];
        due_until[r.index as usize] = r.due_until;
        for e in &r.entries {
            if let Ok(j) = usize::try_from(e.j)
                && let Some(s) = slot.get_mut(j)
            {
                *s = Some(e.outcome);
            }
        }
    }
    let mut d = Delivery::default();
    for (j, (owed, got)) in ledger.per_message().enumerate() {
        let share = &outcome[j % outcome.len()];
        if recorded_only && share.is_empty() {
            continue;
        }
        // Never due: the phase ended before.
        if due_until[j % outcome.len()].is_some_and(|d| j as i64 > d) {
            continue;
        }
        if share.get(j).copied().flatten() == Some(Outcome::Ok) {
            d.published += 1;
            d.owed += owed;
            d.lost += owed - got.min(owed);
        } else {
            d.publish_failed += 1;
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(j: i64, outcome: Outcome) -> PublishEntry {
        PublishEntry {
            j,
            seq: Some((j + 10) as u64),
            intended_ns: (1_000 + j) as u64,
            sent_ns: Some((1_001 + j) as u64),
            done_ns: (outcome != Outcome::Unsent).then_some(2_000),
            outcome,
            error: (outcome == Outcome::Failed).then(|| "http-503".to_owned()),
        }
    }

    #[test]
    fn ledgers_run_length_encode_and_add() {
        let a = Ledger::new(&[3, 3, 3, 2], &[3, 3, 1, 2]);
        assert_eq!(a.runs, vec![[2, 3, 3], [1, 3, 1], [1, 2, 2]]);
        let b = Ledger::new(&[1, 1, 1, 1], &[1, 0, 1, 1]);
        let sum = a.add(&b).unwrap();
        let per: Vec<(u64, u64)> = sum.per_message().collect();
        assert_eq!(per, [(4, 4), (4, 3), (4, 2), (3, 3)]);
        assert!(a.add(&Ledger::new(&[1], &[1])).is_err());
    }

    #[test]
    fn failed_publishes_are_owed_by_nobody_and_lost_is_owed_minus_got() {
        // 4 window messages, 2 connections each owing all; message 1
        // failed, message 3 reached one connection only.
        let ledger = Ledger::new(&[2, 2, 2, 2], &[2, 0, 2, 1]);
        let mut rec = PublishRecord {
            index: 0,
            publishers: 1,
            window: 4,
            due_until: None,
            entries: (-2..4).map(|j| entry(j, Outcome::Ok)).collect(),
        };
        rec.entries[3] = entry(1, Outcome::Failed);
        let d = account(&ledger, std::slice::from_ref(&rec)).unwrap();
        assert_eq!(
            d,
            Delivery {
                published: 3,
                publish_failed: 1,
                owed: 6,
                lost: 1
            }
        );
        // With no record at all, nothing counts as published.
        let none = account(&ledger, &[]).unwrap();
        assert_eq!((none.published, none.publish_failed), (0, 4));
        // A phase stopped after message 1 was due: 2 and 3 count neither
        // way.
        rec.due_until = Some(1);
        let d = account(&ledger, std::slice::from_ref(&rec)).unwrap();
        assert_eq!((d.published, d.publish_failed, d.owed), (1, 1, 2));
    }

    #[test]
    fn shards_records_cover_their_shares() {
        let ledger = Ledger::new(&[1; 4], &[1; 4]);
        let share = |index: u64, outcome| PublishRecord {
            index,
            publishers: 2,
            window: 4,
            due_until: None,
            entries: (0..4)
                .filter(|j| j % 2 == index as i64)
                .map(|j| entry(j, outcome))
                .collect(),
        };
        let d = account(&ledger, &[share(0, Outcome::Ok), share(1, Outcome::Ok)]).unwrap();
        assert_eq!((d.published, d.owed, d.lost), (4, 4, 0));
        // Shard 1's record missing: its messages count as failed, or are
        // left out of a shard's own account.
        let d = account(&ledger, &[share(0, Outcome::Ok)]).unwrap();
        assert_eq!((d.published, d.publish_failed), (2, 2));
        let d = account_recorded(&ledger, &[share(0, Outcome::Ok)]).unwrap();
        assert_eq!((d.published, d.publish_failed, d.owed), (2, 0, 2));
        assert!(account(&ledger, &[share(0, Outcome::Ok), share(0, Outcome::Ok)]).is_err());
    }

    #[test]
    fn records_and_ledgers_round_trip_through_files() {
        let dir = std::env::temp_dir().join(format!("wsbench-delivery-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let rec = PublishRecord {
            index: 1,
            publishers: 3,
            window: 7,
            due_until: Some(5),
            entries: vec![
                entry(-3, Outcome::Ok),
                entry(1, Outcome::Failed),
                entry(4, Outcome::Unsent),
            ],
        };
        rec.write(&dir.join("p.csv")).unwrap();
        assert_eq!(PublishRecord::read(&dir.join("p.csv")).unwrap(), rec);
        let l = Ledger::new(&[5, 5, 4], &[5, 4, 4]);
        l.write(&dir.join("l.json")).unwrap();
        assert_eq!(Ledger::read(&dir.join("l.json")).unwrap(), l);
        fs::write(dir.join("bad.json"), r#"{"window":3,"runs":[[2,1,1]]}"#).unwrap();
        assert!(Ledger::read(&dir.join("bad.json")).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
