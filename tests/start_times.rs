//! Start times: every counter and histogram series promhttp writes carries when
//! it started, as `_created` in OpenMetrics (read by our parser and Python's) and
//! as `created_timestamp` in protobuf, the same in both.

mod common;
mod proto;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use promhttp::collect::Families;
use promhttp::family::{MetricFamily, MetricType};
use promhttp::{DurationHistogram, Format, HttpMethod, HttpMetrics, MetricsEndpoint, Registry};

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A series: its family and its labels without `le`, sorted.
type SeriesKey = (String, Vec<(String, String)>);

/// Every counter and histogram series, and its `_created` value if it has one.
fn starts(families: &[MetricFamily]) -> BTreeMap<SeriesKey, Option<f64>> {
    let mut out = BTreeMap::new();
    for f in families {
        if !matches!(f.metric_type, MetricType::Counter | MetricType::Histogram) {
            continue;
        }
        for s in &f.samples {
            let mut labels: Vec<_> = s
                .labels
                .iter()
                .filter(|(k, _)| k != "le")
                .cloned()
                .collect();
            labels.sort();
            let slot = out.entry((f.name.clone(), labels)).or_insert(None);
            if s.name.ends_with("_created") {
                *slot = Some(s.value);
            }
        }
    }
    out
}

fn registry(created_samples: bool) -> (Registry, f64, f64) {
    let before = now();
    let registry = Registry::new();
    let metrics = HttpMetrics::builder()
        .registry(&registry)
        .max_series(3)
        .created_samples(created_samples)
        .build()
        .unwrap();
    let users = metrics.route(Some("/users/{id}"));
    for status in [200, 404, 500, 503] {
        // The fourth status is past the limit: the overflow series.
        drop(users.start(HttpMethod::Get).unwrap().with_status(status));
    }
    let latency = DurationHistogram::new([0.1, 1.0]).unwrap();
    registry
        .register_family("job_seconds", "Job time.", latency.clone())
        .unwrap();
    latency.observe(Duration::from_millis(300));
    registry
        .collector("queue")
        .family(MetricFamily::counter("queue_jobs", "Jobs."))
        .inline()
        .register(|out: &mut Families| {
            out.family("queue_jobs")?
                .add_counter([("queue", "mail")], 3.0, Some(1_700_000_000.5));
            Ok(())
        })
        .unwrap();
    // The endpoint's own counters, registered when it is made.
    drop(MetricsEndpoint::new(&registry));
    (registry, before, now())
}

#[test]
fn every_counter_and_histogram_series_has_its_start_in_both_formats() {
    let (registry, before, after) = registry(true);
    let openmetrics = registry.encode(Format::OpenMetrics).unwrap();
    // Python's parser reads the same (the conformance tier).
    common::parse_openmetrics(&openmetrics);
    let from_text = starts(&promhttp::parse::parse_openmetrics(&openmetrics).unwrap());
    let mut protobuf = Vec::new();
    registry.encode_to(Format::Protobuf, &mut protobuf).unwrap();
    let from_protobuf = starts(&proto::as_families(&proto::decode(&protobuf)));

    let families: Vec<&str> = from_text.keys().map(|(f, _)| f.as_str()).collect();
    for family in [
        "http_server_requests",
        "http_server_request_duration_seconds",
        "promhttp_series_overflow",
        "job_seconds",
        "queue_jobs",
        "promhttp_collector_errors",
        "promhttp_metric_handler_errors",
        "promhttp_metric_handler_requests",
    ] {
        assert!(families.contains(&family), "{family} missing: {families:?}");
    }
    assert_eq!(
        from_text.keys().collect::<Vec<_>>(),
        from_protobuf.keys().collect::<Vec<_>>()
    );
    for ((key, text), protobuf) in from_text.iter().zip(from_protobuf.values()) {
        let (Some(text), Some(protobuf)) = (text, protobuf) else {
            panic!("{key:?}: no start time ({text:?} in OpenMetrics, {protobuf:?} in protobuf)");
        };
        // Protobuf keeps whole nanoseconds.
        assert!(
            (text - protobuf).abs() < 1e-6,
            "{key:?}: {text} and {protobuf}"
        );
        if key.0 == "queue_jobs" {
            assert_eq!(*text, 1_700_000_000.5);
        } else {
            let ms = (before * 1000.0).floor() / 1000.0;
            assert!(ms <= *text && *text <= after, "{key:?}: {text}");
        }
    }
}

#[test]
fn by_default_protobuf_alone_has_the_start_of_the_http_series() {
    let (registry, _, _) = registry(false);
    let openmetrics = registry.encode(Format::OpenMetrics).unwrap();
    common::parse_openmetrics(&openmetrics);
    let from_text = starts(&promhttp::parse::parse_openmetrics(&openmetrics).unwrap());
    let mut protobuf = Vec::new();
    registry.encode_to(Format::Protobuf, &mut protobuf).unwrap();
    let from_protobuf = starts(&proto::as_families(&proto::decode(&protobuf)));
    for ((family, labels), start) in &from_text {
        let http = family.starts_with("http_server_") || family == "promhttp_series_overflow";
        assert_eq!(start.is_none(), http, "{family}{labels:?}");
        let in_protobuf = from_protobuf[&(family.clone(), labels.clone())];
        assert!(in_protobuf.is_some(), "{family}{labels:?}");
    }
}
