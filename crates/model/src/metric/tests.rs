//! The vocabulary's own checks: unique names, units, one entry per metric.

use super::*;

#[test]
fn names_are_unique_and_values_carry_units() {
    for (i, a) in ALL.iter().enumerate() {
        assert!(ALL[i + 1..].iter().all(|b| b.name != a.name), "{}", a.name);
    }
    let p99 = find("push_latency").unwrap();
    assert_eq!(p99.format(14_442_495.0), "14.44 ms");
    assert_eq!(find("harness_lag").unwrap().format(812.0), "812 ns");
    assert_eq!(find("client_cpu_share").unwrap().format(0.873), "87%");
    assert_eq!(closest("push_latncy"), Some("push_latency"));
    assert_eq!(main_latency_of("echo"), Metric::EchoRtt);
}

#[test]
fn each_metric_is_its_own_entry_and_latencies_come_first() {
    assert_eq!(Metric::ALL.len(), ALL.len());
    for (i, m) in Metric::ALL.into_iter().enumerate() {
        assert_eq!(m as usize, i);
        assert_eq!(m.def().metric, m);
        assert_eq!(Metric::named(m.name()), Some(m));
        assert_eq!(
            m.kind() == Kind::Latency,
            i < Metric::LATENCIES,
            "{}",
            m.name()
        );
    }
}

#[test]
fn flow_timers_are_named_and_read_back() {
    use super::{flow_timer, flow_timer_of};
    assert_eq!(flow_timer("say", true), "flow.say");
    assert_eq!(flow_timer("say", false), "flow.say_uncorrected");
    assert_eq!(flow_timer_of("flow.say"), Some(("say", true)));
    assert_eq!(flow_timer_of("flow.say_uncorrected"), Some(("say", false)));
    assert_eq!(flow_timer_of("flow_time"), None);
}
