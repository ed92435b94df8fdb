//! The harness floor: before the first phase, a short loopback echo
//! inside this process (an echo task and one client over 127.0.0.1, open
//! model at 200 messages a second, timed from the intended send like the
//! echo workload; the period is well above the timer's granularity, so the
//! timer's own lateness is not counted), with the harness lag meanwhile.
//! No target can be measured below it on this machine; it is written
//! beside the results.

use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::net::TcpListener;
use wsbench_model::metric::Metric;
use wsbench_model::results::{Floor, LatencyStats, files, latency_histogram};
use wsbench_protocol::clock::monotonic_ns;
use wsbench_transport::{ClientOptions, Data, Event, ServerOptions, accept, connect};

use crate::plan::instant_at;
use crate::probe::LagProbe;
use crate::recorder::Recorder;

/// How long the floor is measured.
pub(crate) const FLOOR_TIME: Duration = Duration::from_secs(1);
/// Echoes per second.
const RATE: u64 = 200;

/// Measures the floor for `duration`: the summary and the round-trip
/// histogram (for [`files::FLOOR_HISTOGRAM`]).
pub(crate) async fn measure(duration: Duration) -> Result<(Floor, Histogram<u64>), String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("floor: cannot listen on 127.0.0.1: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.ok()?;
        let _ = tcp.set_nodelay(true);
        let mut ws = accept(tcp, &ServerOptions::default()).await.ok()?.socket;
        while let Some(Event::Message(m)) = ws.next_event().await {
            let sent = match m {
                Data::Text(t) => ws.send_text(&t).await,
                Data::Binary(b) => ws.send_binary(&b).await,
            };
            sent.ok()?;
        }
        Some(())
    });
    let mut ws = connect(&format!("ws://{addr}/"), &ClientOptions::default())
        .await
        .map_err(|e| format!("floor: cannot connect to the loopback echo: {e}"))?
        .socket;
    let rec = Arc::new(Recorder::new(Metric::EchoRtt));
    rec.set_measuring(true);
    let probe = LagProbe::start(Arc::clone(&rec));
    let payload = "x".repeat(64);
    let period = 1_000_000_000 / RATE;
    let start = monotonic_ns();
    let end = start + u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX / 4);
    let (mut due, mut last_back) = (start, start);
    while due < end {
        tokio::time::sleep_until(instant_at(due)).await;
        let intended = if last_back > due { due } else { monotonic_ns() };
        ws.send_text(&payload)
            .await
            .map_err(|e| format!("floor: {e}"))?;
        match ws.next_event().await {
            Some(Event::Message(_)) => {}
            other => return Err(format!("floor: the loopback echo ended: {other:?}")),
        }
        last_back = ws.last_read_ns();
        rec.record(Metric::EchoRtt, last_back.saturating_sub(intended), false);
        due += period;
    }
    drop(probe);
    let _ = ws.close(1000, "").await;
    server.abort();
    let h = rec.histograms();
    let rtt = h
        .get(&Metric::EchoRtt)
        .cloned()
        .unwrap_or_else(latency_histogram);
    let lag = h.get(&Metric::HarnessLag).filter(|h| !h.is_empty());
    Ok((
        Floor {
            duration_s: duration.as_secs_f64(),
            echo_rtt: LatencyStats::of(&rtt, files::FLOOR_HISTOGRAM),
            harness_lag_p99_ns: lag.map(|h| h.value_at_quantile(0.99)),
        },
        rtt,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_floor_is_a_loopback_echo_with_its_lag() {
        let (floor, h) = measure(Duration::from_millis(300)).await.unwrap();
        assert!(h.len() >= 55, "{} echoes in 300 ms at 200/s", h.len());
        assert_eq!(floor.echo_rtt.count, h.len());
        assert!(floor.echo_rtt.p50 > 0 && floor.echo_rtt.p50 < 50_000_000);
        assert!(floor.harness_lag_p99_ns.is_some());
    }
}
