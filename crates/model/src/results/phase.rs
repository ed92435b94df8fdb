//! What a phase's figures follow from: rates from its counters, push
//! delivery from the accounting, the harness verdict from its histograms,
//! and the value of a threshold's metric.

use std::path::Path;

use super::{LatencyStats, PhaseSummary, read_histogram};
use crate::health::{Cpu, Health};
use crate::metric::Metric;
use crate::threshold::{Measure, Stat};

impl LatencyStats {
    /// Statistic `stat` of these values (`None`: there were none); a
    /// percentile the summary does not keep is read from the histogram
    /// file in `dir` (the results folder).
    pub fn stat(&self, stat: Stat, dir: Option<&Path>) -> Option<f64> {
        let s = Some(self).filter(|s| s.count > 0)?;
        Some(match stat {
            Stat::Min => s.min as f64,
            Stat::Mean => s.mean,
            Stat::Max => s.max as f64,
            Stat::Percentile(p) => match p {
                50.0 => s.p50 as f64,
                90.0 => s.p90 as f64,
                99.0 => s.p99 as f64,
                99.9 => s.p999 as f64,
                99.99 => s.p9999 as f64,
                100.0 => s.max as f64,
                p => {
                    let h = read_histogram(&dir?.join(&s.file)).ok()?;
                    h.value_at_quantile(p / 100.0) as f64
                }
            },
        })
    }
}

impl PhaseSummary {
    /// The phase's name: its group's in a mixed population, else its
    /// transport's. Its files are named after it.
    pub fn name(&self) -> &str {
        self.group.as_deref().unwrap_or(&self.transport)
    }

    /// How tables show the phase: `websocket`, or `readers (websocket)`.
    pub fn label(&self) -> String {
        match &self.group {
            Some(g) => format!("{g} ({})", self.transport),
            None => self.transport.clone(),
        }
    }

    /// Whether threshold `t` is checked on this phase as far as groups go:
    /// one naming a group on that group only; one naming none on every
    /// phase, except a group whose workload cannot produce the metric.
    pub fn checked_by(&self, t: &crate::threshold::Threshold) -> bool {
        match (&t.group, &self.group) {
            (Some(want), Some(g)) => want == g,
            (Some(_), None) => false,
            (None, None) => true,
            (None, Some(_)) => crate::workload::WorkloadKind::ALL
                .into_iter()
                .find(|k| k.name() == self.workload)
                .is_none_or(|workload| {
                    let shape = crate::workload::RunShape {
                        workload,
                        payload: crate::workload::PayloadKind::Json,
                        builtin: false,
                        reconnect: true,
                    };
                    t.metric.def().produced_by(shape).is_ok()
                }),
        }
    }

    /// Sets the rates and ratios from the counters: `msg_rate`,
    /// `bytes_per_msg` and `requests_per_msg` over the messages received in
    /// the window; `delivered_ratio` from owed and lost (push) or delivered
    /// and published (echo, throughput).
    pub fn derive_rates(&mut self) {
        let c = &self.counters;
        let received = c.received as f64;
        let per_received = |v: f64| if c.received > 0 { v / received } else { 0.0 };
        self.msg_rate = if self.measured_s > 0.0 {
            received / self.measured_s
        } else {
            0.0
        };
        self.bytes_per_msg = per_received((c.bytes_sent + c.bytes_received) as f64);
        self.requests_per_msg = per_received(c.http_requests as f64);
        self.delivered_ratio = if self.workload == "push" {
            if c.owed > 0 {
                (c.owed - c.lost.min(c.owed)) as f64 / c.owed as f64
            } else {
                0.0
            }
        } else if c.published > 0 {
            c.delivered as f64 / c.published as f64
        } else {
            0.0
        };
    }

    /// Sets the push delivery counts accounted against the publishers'
    /// records, and the rates that follow from them.
    pub fn apply_delivery(&mut self, d: crate::delivery::Delivery) {
        let c = &mut self.counters;
        c.published = d.published;
        c.publish_failed = d.publish_failed;
        c.owed = d.owed;
        c.lost = d.lost;
        self.derive_rates();
    }

    /// Judges the harness's health from this phase's `harness_lag` and
    /// main latency histograms and its CPU time (see [`Health::judge`]).
    pub fn judge_health(
        &mut self,
        server_cpu_share: Option<f64>,
        steal_share: Option<f64>,
        cores: usize,
    ) {
        let stat = |m: Metric, f: fn(&LatencyStats) -> u64| {
            self.latency.get(m.name()).filter(|s| s.count > 0).map(f)
        };
        let main = crate::metric::main_latency_of(&self.workload);
        let cores = cores.max(1);
        let client = if self.measured_s > 0.0 {
            self.client_cpu_s / (self.measured_s * cores as f64)
        } else {
            0.0
        };
        self.health = Some(Health::judge(
            stat(Metric::HarnessLag, |s| s.p99),
            stat(main, |s| s.p50),
            Cpu {
                client_share: client,
                server_share: server_cpu_share,
                steal_share,
                cores,
            },
        ));
    }

    /// The total number of errors.
    pub fn errors(&self) -> u64 {
        self.counters.errors.values().sum()
    }

    /// The value a threshold metric has in this phase, if it has one. A
    /// percentile the summary does not keep is read from the histogram
    /// file in `dir` (the results folder).
    pub fn metric(&self, measure: &Measure, dir: Option<&Path>) -> Option<f64> {
        let c = &self.counters;
        let metric = match *measure {
            Measure::Latency { metric, stat } => {
                let s = self.latency.get(metric.name())?;
                return s.stat(stat, dir);
            }
            Measure::Scalar(metric) => metric,
        };
        Some(match metric {
            Metric::Errors => self.errors() as f64,
            Metric::ConnectionsFailed => c.connections_failed as f64,
            Metric::ConnectionsOpened => c.connections_opened as f64,
            Metric::Reconnects => c.reconnects as f64,
            Metric::LostInGaps => c.lost_in_gaps as f64,
            Metric::Published => c.published as f64,
            Metric::PublishFailed => c.publish_failed as f64,
            Metric::Delivered => c.delivered as f64,
            Metric::Owed => c.owed as f64,
            Metric::Lost => c.lost as f64,
            Metric::Duplicated => c.duplicated as f64,
            Metric::OutOfOrder => c.out_of_order as f64,
            Metric::Unknown => c.unknown as f64,
            Metric::Other => c.other as f64,
            Metric::PayloadMismatches => c.payload_mismatches as f64,
            Metric::DeliveredRatio => self.delivered_ratio,
            Metric::MsgRate => self.msg_rate,
            Metric::BytesPerMsg => self.bytes_per_msg,
            Metric::RequestsPerMsg => self.requests_per_msg,
            Metric::ServerCpuUsPerMsg => self.server_cpu_us_per_msg?,
            Metric::ClientCpuShare => self.health.as_ref()?.client_cpu_share,
            Metric::ServerCpuShare => self.health.as_ref()?.server_cpu_share?,
            Metric::StealShare => self.health.as_ref()?.steal_share?,
            // Latencies are read with a statistic, above.
            Metric::PushLatency
            | Metric::PushLatencyUncorrected
            | Metric::PublishLag
            | Metric::EchoRtt
            | Metric::EchoRttUncorrected
            | Metric::ThroughputRtt
            | Metric::RpcRtt
            | Metric::RpcRttUncorrected
            | Metric::FlowTime
            | Metric::FlowTimeUncorrected
            | Metric::ConnectTime
            | Metric::HandshakeTime
            | Metric::JsonParse
            | Metric::HarnessLag
            | Metric::ReconnectTime => return None,
        })
    }
}
