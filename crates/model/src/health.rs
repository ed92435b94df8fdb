//! The harness's own health: whether a phase's figures describe the
//! target or the load generator. Every phase carries a verdict from its
//! measured scheduling lag and CPU use.

use serde::{Deserialize, Serialize};

use crate::metric::fmt_ns;

/// How far a phase's figures can be trusted as the target's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The harness kept up.
    #[default]
    Ok,
    /// The harness may have added to the latencies: read them with care.
    Suspect,
    /// The harness was the bottleneck: the latencies are largely its own.
    Saturated,
}

impl Verdict {
    /// As printed.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Suspect => "suspect",
            Verdict::Saturated => "saturated",
        }
    }
}

/// Harness lag p99 over this share of the main latency's p50: suspect.
pub const LAG_SUSPECT: f64 = 0.10;
/// Harness lag p99 over this share of the main latency's p50: saturated.
pub const LAG_SATURATED: f64 = 0.50;
/// Load generator CPU over this share of its cores: suspect.
pub const CPU_SUSPECT: f64 = 0.80;
/// Load generator CPU over this share of its cores: saturated.
pub const CPU_SATURATED: f64 = 0.95;
/// Steal over this share of the watched cores' time: suspect.
pub const STEAL_SUSPECT: f64 = 0.05;

/// What a phase's verdict was judged on, and the verdict.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// The verdict.
    pub verdict: Verdict,
    /// Why, one line per rule that fired (empty when ok).
    pub reasons: Vec<String>,
    /// The load generator's scheduling lag, p99 over the window, ns.
    pub harness_lag_p99_ns: Option<u64>,
    /// The main latency's p50 the lag is compared with, ns.
    pub main_p50_ns: Option<u64>,
    /// Load generator CPU time in the window / (window × its cores).
    pub client_cpu_share: f64,
    /// Server CPU time in the window / (window × the load generator's
    /// cores): the builtin server, or a `--server-pid` one that may run on
    /// those cores (none when it is pinned elsewhere).
    pub server_cpu_share: Option<f64>,
    /// The cores the load generator may use.
    pub cores: usize,
    /// The share of the window's time on the cores of the load generator
    /// and the target (when its process is known) that the hypervisor
    /// gave to others while they wanted to run: CPU steal, from
    /// `/proc/stat`; 0 on bare metal, none when it could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steal_share: Option<f64>,
}

/// What a phase's health is judged on besides its latencies.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cpu {
    /// Load generator CPU time in the window / (window × its cores).
    pub client_share: f64,
    /// See [`Health::server_cpu_share`].
    pub server_share: Option<f64>,
    /// See [`Health::steal_share`].
    pub steal_share: Option<f64>,
    /// The cores the load generator may use.
    pub cores: usize,
}

impl Health {
    /// Judges a phase: `suspect` when the harness lag p99 is above
    /// [`LAG_SUSPECT`] of the main latency's p50 or the load generator's
    /// CPU above [`CPU_SUSPECT`] of its cores (or, with a builtin target,
    /// target and load generator together above [`CPU_SATURATED`] of
    /// them, or CPU steal above [`STEAL_SUSPECT`] of the cores' time);
    /// `saturated` above [`LAG_SATURATED`] or [`CPU_SATURATED`].
    pub fn judge(harness_lag_p99_ns: Option<u64>, main_p50_ns: Option<u64>, cpu: Cpu) -> Health {
        let Cpu {
            client_share: client_cpu_share,
            server_share: server_cpu_share,
            steal_share,
            cores,
        } = cpu;
        let mut verdict = Verdict::Ok;
        let mut reasons = Vec::new();
        let mut flag = |v: Verdict, why: String| {
            verdict = verdict.max(v);
            reasons.push(why);
        };
        match (harness_lag_p99_ns, main_p50_ns) {
            (Some(lag), Some(p50)) if p50 > 0 => {
                let share = lag as f64 / p50 as f64;
                let why = |limit: f64| {
                    format!(
                        "harness lag p99 {} is {:.0}% of the main latency's p50 {} (over {:.0}%)",
                        fmt_ns(lag as f64),
                        share * 100.0,
                        fmt_ns(p50 as f64),
                        limit * 100.0
                    )
                };
                if share > LAG_SATURATED {
                    flag(Verdict::Saturated, why(LAG_SATURATED));
                } else if share > LAG_SUSPECT {
                    flag(Verdict::Suspect, why(LAG_SUSPECT));
                }
            }
            (None, _) => flag(
                Verdict::Suspect,
                "the harness lag was not measured".to_owned(),
            ),
            _ => {}
        }
        let cpu = |share: f64, limit: f64| {
            format!(
                "the load generator used {:.0}% of its {cores} cores (over {:.0}%)",
                share * 100.0,
                limit * 100.0
            )
        };
        if client_cpu_share > CPU_SATURATED {
            flag(Verdict::Saturated, cpu(client_cpu_share, CPU_SATURATED));
        } else if client_cpu_share > CPU_SUSPECT {
            flag(Verdict::Suspect, cpu(client_cpu_share, CPU_SUSPECT));
        }
        if let Some(server) = server_cpu_share
            && server + client_cpu_share > CPU_SATURATED
        {
            flag(
                Verdict::Suspect,
                format!(
                    "target and load generator together used {:.0}% of the {cores} cores they share",
                    (server + client_cpu_share) * 100.0
                ),
            );
        }
        if let Some(steal) = steal_share.filter(|&s| s > STEAL_SUSPECT) {
            flag(
                Verdict::Suspect,
                format!(
                    "the hypervisor took {:.0}% of the cores' time (CPU steal, over {:.0}%): the figures include its pauses",
                    steal * 100.0,
                    STEAL_SUSPECT * 100.0
                ),
            );
        }
        Health {
            verdict,
            reasons,
            harness_lag_p99_ns,
            main_p50_ns,
            client_cpu_share,
            server_cpu_share,
            cores,
            steal_share,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(client_share: f64, server_share: Option<f64>) -> Cpu {
        Cpu {
            client_share,
            server_share,
            steal_share: None,
            cores: 2,
        }
    }

    #[test]
    fn lag_and_cpu_decide_the_verdict() {
        let ok = Health::judge(Some(50_000), Some(2_000_000), cpu(0.3, Some(0.2)));
        assert_eq!((ok.verdict, ok.reasons.len()), (Verdict::Ok, 0));
        let lag = Health::judge(Some(300_000), Some(2_000_000), cpu(0.3, None));
        assert_eq!(lag.verdict, Verdict::Suspect);
        assert!(lag.reasons[0].contains("15%"), "{:?}", lag.reasons);
        let frozen = Health::judge(Some(300_000_000), Some(2_000_000), cpu(0.1, None));
        assert_eq!(frozen.verdict, Verdict::Saturated);
        assert_eq!(
            Health::judge(Some(1), Some(2_000_000), cpu(0.9, None)).verdict,
            Verdict::Suspect
        );
        assert_eq!(
            Health::judge(Some(1), Some(2_000_000), cpu(0.99, None)).verdict,
            Verdict::Saturated
        );
        let shared = Health::judge(Some(1), Some(2_000_000), cpu(0.5, Some(0.6)));
        assert_eq!(shared.verdict, Verdict::Suspect);
        assert!(shared.reasons[0].contains("share"), "{:?}", shared.reasons);
        assert_eq!(
            Health::judge(None, Some(1), cpu(0.1, None)).verdict,
            Verdict::Suspect
        );
    }

    #[test]
    fn cpu_steal_over_its_limit_makes_a_phase_suspect() {
        let stolen = |share| {
            Health::judge(
                Some(1),
                Some(2_000_000),
                Cpu {
                    steal_share: Some(share),
                    ..cpu(0.3, None)
                },
            )
        };
        let ok = stolen(0.02);
        assert_eq!((ok.verdict, ok.reasons.len()), (Verdict::Ok, 0));
        assert_eq!(ok.steal_share, Some(0.02));
        let bad = stolen(0.4);
        assert_eq!(bad.verdict, Verdict::Suspect);
        assert!(bad.reasons[0].contains("took 40%"), "{:?}", bad.reasons);
    }
}
