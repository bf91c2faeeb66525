//! Every exporter building block of the core, exposed together and read back by
//! our parser and, where installed, the reference parsers (Python
//! `prometheus_client` for both formats, `promtool`).

mod common;

use std::time::{Duration, UNIX_EPOCH};

use promhttp::collect::Families;
use promhttp::family::{Exemplar, MetricFamily, MetricType};
use promhttp::source::{Info, MirroredCounter, StateSet, SyncedGaugeFamily};
use promhttp::{Format, Registry};

fn registry_with_every_kind() -> Registry {
    let registry = Registry::new();
    let health = StateSet::new(["healthy", "degraded", "down"]);
    registry
        .register_family(
            "backend_health",
            "Health \"now\".\nSecond line.",
            health.clone(),
        )
        .unwrap();
    health.set("degraded").unwrap();
    let build = Info::new([("version", "1.2.3"), ("commit", "a\"b\\c")]).unwrap();
    registry
        .register_family("backend_build", "Build information.", build)
        .unwrap();
    let jobs = MirroredCounter::new();
    registry
        .register_family("backend_jobs", "Jobs run.", jobs.clone())
        .unwrap();
    let launched = UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
    jobs.set(42.0, Some(launched)).unwrap();
    let pods = SyncedGaugeFamily::new(["pod", "namespace"]).unwrap();
    registry
        .register_family("pod_ready", "Readiness per pod.", pods.clone())
        .unwrap();
    pods.replace([(["web-1", "shop"], 1.0), (["web-2", "shop"], 0.0)])
        .unwrap();
    pods.replace([(["web-2", "shop"], 1.0), (["pg-0", "db"], 1.0)])
        .unwrap();
    registry
        .collector("queue")
        .family(
            MetricFamily::new("queue_wait_seconds", MetricType::Histogram, "Wait.")
                .with_unit("seconds"),
        )
        .family(MetricFamily::gauge("queue_depth", "Depth."))
        .register(|out: &mut Families| {
            let mut wait = out.family("queue_wait_seconds")?;
            wait.add_histogram(
                [("queue", "mail")],
                &[(0.1, 2), (1.0, 5)],
                3.25,
                6,
                Some(1.7e9),
            );
            wait.samples_mut()[1].exemplar = Some(Exemplar {
                labels: vec![("trace_id".into(), "abc123".into())],
                value: 0.5,
                timestamp: Some(1.7e9),
            });
            out.family("queue_depth")?
                .add_gauge([("queue", "mail")], f64::NAN)
                .add_gauge([("queue", "sms")], -2.5e-7);
            Ok(())
        })
        .unwrap();
    registry
}

#[test]
fn every_kind_reads_back_exactly_in_openmetrics() {
    let registry = registry_with_every_kind();
    let om = registry.encode(Format::OpenMetrics).unwrap();
    let m = common::parse_openmetrics(&om);

    let kind = |name: &str| {
        m.family(name)
            .unwrap_or_else(|| panic!("{name}\n{om}"))
            .kind
            .clone()
    };
    assert_eq!(kind("backend_health"), "stateset");
    assert_eq!(kind("backend_build"), "info");
    assert_eq!(kind("backend_jobs"), "counter");
    assert_eq!(kind("pod_ready"), "gauge");
    assert_eq!(kind("queue_wait_seconds"), "histogram");
    assert_eq!(
        m.family("backend_health").unwrap().help,
        "Health \"now\".\nSecond line."
    );

    for (state, v) in [("healthy", 0.0), ("degraded", 1.0), ("down", 0.0)] {
        assert_eq!(m.value("backend_health", &[("backend_health", state)]), v);
    }
    assert_eq!(
        m.value(
            "backend_build_info",
            &[("version", "1.2.3"), ("commit", "a\"b\\c")]
        ),
        1.0
    );
    assert_eq!(m.value("backend_jobs_total", &[]), 42.0);
    assert_eq!(m.value("backend_jobs_created", &[]), 1_700_000_000.25);
    // web-1 left the source and left the exposition.
    assert_eq!(m.samples("pod_ready").count(), 2);
    assert_eq!(
        m.value("pod_ready", &[("pod", "web-2"), ("namespace", "shop")]),
        1.0
    );
    assert_eq!(
        m.value("pod_ready", &[("pod", "pg-0"), ("namespace", "db")]),
        1.0
    );
    assert_eq!(
        m.value(
            "queue_wait_seconds_bucket",
            &[("queue", "mail"), ("le", "1.0")]
        ),
        5.0
    );
    assert_eq!(
        m.value(
            "queue_wait_seconds_bucket",
            &[("queue", "mail"), ("le", "+Inf")]
        ),
        6.0
    );
    assert_eq!(
        m.value("queue_wait_seconds_sum", &[("queue", "mail")]),
        3.25
    );
    assert!(m.value("queue_depth", &[("queue", "mail")]).is_nan());
    assert_eq!(m.value("queue_depth", &[("queue", "sms")]), -2.5e-7);
    assert_eq!(
        m.value("promhttp_collector_errors_total", &[("collector", "queue")]),
        0.0
    );
    // Sources are not collectors that can fail: they have no series there.
    assert_eq!(m.samples("promhttp_collector_errors_total").count(), 1);
}

#[test]
fn every_kind_passes_the_text_parser_and_promtool() {
    let registry = registry_with_every_kind();
    let text = registry.encode(Format::Text).unwrap();
    let m = common::parse_text(&text);
    // State sets and info become gauges; `_created` is OpenMetrics only.
    assert_eq!(m.family("backend_health").unwrap().kind, "gauge");
    assert_eq!(
        m.value("backend_health", &[("backend_health", "degraded")]),
        1.0
    );
    assert_eq!(m.family("backend_build_info").unwrap().kind, "gauge");
    assert_eq!(m.samples("backend_jobs_created").count(), 0);
    assert_eq!(m.value("backend_jobs_total", &[]), 42.0);
    if let Some((ok, report)) = common::promtool_check_metrics(&text) {
        assert!(ok, "promtool:\n{report}\n{text}");
    }
}
