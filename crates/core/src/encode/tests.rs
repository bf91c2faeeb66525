//! The text dialects, exactly; the protobuf dialect is decoded and checked in
//! `tests/encode.rs` with messages derived from client_model's schema.

use super::*;
use crate::family::Exemplar;

fn every_type(out: &mut Encoder) {
    let trace = Exemplar {
        labels: vec![("trace_id".into(), "4bf9".into())],
        value: 0.3,
        timestamp: Some(1_700_000_000.5),
    };
    out.family(&Descriptor::new(
        "jobs",
        MetricType::Counter,
        "Jobs \"done\"\nso far \\o/",
    ));
    out.counter(&[("q", "a\"b\\c\nd")], 3.0, Some(1.5), Some(&trace));
    out.counter(&(), 0.0, None, None);
    out.family(&Descriptor::new("temp_celsius", MetricType::Gauge, "").unit("celsius"));
    out.gauge(&[("room", "a")], -3.5);
    out.gauge(&[("room", "b")], f64::NAN);
    let fast = Exemplar {
        value: 0.2,
        ..trace.clone()
    };
    out.family(&Descriptor::new("wait_seconds", MetricType::Histogram, "Waits.").unit("seconds"));
    out.histogram(
        &[("pool", "x")],
        [
            Bucket::new(0.25, 1).with_exemplar(&fast),
            Bucket::new(1.0, 4),
        ],
        5,
        Some(2.5),
        Some(10.0),
    );
    out.histogram(&(), [], 0, None, None);
    out.family(&Descriptor::new(
        "queue_depth",
        MetricType::GaugeHistogram,
        "",
    ));
    out.gauge_histogram(&(), [Bucket::new(-1.0, 1)], 3, Some(-4.0));
    out.family(&Descriptor::new("rpc_seconds", MetricType::Summary, ""));
    out.summary(&(), [(0.5, 0.25), (0.99, 1e-7)], Some(10), Some(4.5), None);
    out.family(&Descriptor::new("build", MetricType::Info, "Build."));
    out.info(&[("version", "1.2")]);
    out.family(&Descriptor::new("mode", MetricType::StateSet, ""));
    out.stateset(&[("node", "n1")], [("on", true), ("off", false)]);
    out.family(&Descriptor::new(
        "mystery",
        MetricType::Unknown,
        "Who knows.",
    ));
    out.unknown(&(), 42.0);
    // A point of another type than its family's is not written.
    out.gauge(&(), 1.0);
    // Nor an exemplar outside its bucket or too long.
    out.family(&Descriptor::new("late_seconds", MetricType::Histogram, ""));
    let long = Exemplar {
        labels: vec![("trace_id".into(), "f".repeat(121))],
        ..fast.clone()
    };
    out.histogram(
        &(),
        [Bucket::new(0.1, 0).with_exemplar(&trace)],
        1,
        Some(0.3),
        None,
    );
    out.family(&Descriptor::new("long", MetricType::Counter, ""));
    out.counter(&(), 1.0, None, Some(&long));
}

fn written(dialect: Dialect) -> String {
    let mut out = Encoder::new(dialect);
    every_type(&mut out);
    String::from_utf8(out.finish()).unwrap()
}

#[test]
fn openmetrics_writes_every_type_in_canonical_order() {
    assert_eq!(
        written(Dialect::OpenMetrics),
        concat!(
            "# HELP jobs Jobs \\\"done\\\"\\nso far \\\\o/\n",
            "# TYPE jobs counter\n",
            "jobs_total{q=\"a\\\"b\\\\c\\nd\"} 3 # {trace_id=\"4bf9\"} 0.3 1700000000.5\n",
            "jobs_created{q=\"a\\\"b\\\\c\\nd\"} 1.5\n",
            "jobs_total 0\n",
            "# TYPE temp_celsius gauge\n",
            "# UNIT temp_celsius celsius\n",
            "temp_celsius{room=\"a\"} -3.5\n",
            "temp_celsius{room=\"b\"} NaN\n",
            "# HELP wait_seconds Waits.\n",
            "# TYPE wait_seconds histogram\n",
            "# UNIT wait_seconds seconds\n",
            "wait_seconds_bucket{pool=\"x\",le=\"0.25\"} 1 # {trace_id=\"4bf9\"} 0.2 1700000000.5\n",
            "wait_seconds_bucket{pool=\"x\",le=\"1.0\"} 4\n",
            "wait_seconds_bucket{pool=\"x\",le=\"+Inf\"} 5\n",
            "wait_seconds_sum{pool=\"x\"} 2.5\n",
            "wait_seconds_count{pool=\"x\"} 5\n",
            "wait_seconds_created{pool=\"x\"} 10\n",
            "wait_seconds_bucket{le=\"+Inf\"} 0\n",
            "# TYPE queue_depth gaugehistogram\n",
            "queue_depth_bucket{le=\"-1.0\"} 1\n",
            "queue_depth_bucket{le=\"+Inf\"} 3\n",
            "queue_depth_gsum -4\n",
            "queue_depth_gcount 3\n",
            "# TYPE rpc_seconds summary\n",
            "rpc_seconds{quantile=\"0.5\"} 0.25\n",
            "rpc_seconds{quantile=\"0.99\"} 1e-7\n",
            "rpc_seconds_sum 4.5\n",
            "rpc_seconds_count 10\n",
            "# HELP build Build.\n",
            "# TYPE build info\n",
            "build_info{version=\"1.2\"} 1\n",
            "# TYPE mode stateset\n",
            "mode{node=\"n1\",mode=\"on\"} 1\n",
            "mode{node=\"n1\",mode=\"off\"} 0\n",
            "# HELP mystery Who knows.\n",
            "# TYPE mystery unknown\n",
            "mystery 42\n",
            "# TYPE late_seconds histogram\n",
            "late_seconds_bucket{le=\"0.1\"} 0\n",
            "late_seconds_bucket{le=\"+Inf\"} 1\n",
            "late_seconds_sum 0.3\n",
            "late_seconds_count 1\n",
            "# TYPE long counter\n",
            "long_total 1\n",
            "# EOF\n",
        )
    );
}

#[test]
fn text_004_writes_what_that_format_has() {
    assert_eq!(
        written(Dialect::Text),
        concat!(
            "# HELP jobs_total Jobs \"done\"\\nso far \\\\o/\n",
            "# TYPE jobs_total counter\n",
            "jobs_total{q=\"a\\\"b\\\\c\\nd\"} 3\n",
            "jobs_total 0\n",
            "# TYPE temp_celsius gauge\n",
            "temp_celsius{room=\"a\"} -3.5\n",
            "temp_celsius{room=\"b\"} NaN\n",
            "# HELP wait_seconds Waits.\n",
            "# TYPE wait_seconds histogram\n",
            "wait_seconds_bucket{pool=\"x\",le=\"0.25\"} 1\n",
            "wait_seconds_bucket{pool=\"x\",le=\"1.0\"} 4\n",
            "wait_seconds_bucket{pool=\"x\",le=\"+Inf\"} 5\n",
            "wait_seconds_sum{pool=\"x\"} 2.5\n",
            "wait_seconds_count{pool=\"x\"} 5\n",
            "wait_seconds_bucket{le=\"+Inf\"} 0\n",
            "# TYPE queue_depth untyped\n",
            "queue_depth_bucket{le=\"-1.0\"} 1\n",
            "queue_depth_bucket{le=\"+Inf\"} 3\n",
            "queue_depth_gsum -4\n",
            "queue_depth_gcount 3\n",
            "# TYPE rpc_seconds summary\n",
            "rpc_seconds{quantile=\"0.5\"} 0.25\n",
            "rpc_seconds{quantile=\"0.99\"} 1e-7\n",
            "rpc_seconds_sum 4.5\n",
            "rpc_seconds_count 10\n",
            "# HELP build_info Build.\n",
            "# TYPE build_info gauge\n",
            "build_info{version=\"1.2\"} 1\n",
            "# TYPE mode gauge\n",
            "mode{node=\"n1\",mode=\"on\"} 1\n",
            "mode{node=\"n1\",mode=\"off\"} 0\n",
            "# HELP mystery Who knows.\n",
            "# TYPE mystery untyped\n",
            "mystery 42\n",
            "# TYPE late_seconds histogram\n",
            "late_seconds_bucket{le=\"0.1\"} 0\n",
            "late_seconds_bucket{le=\"+Inf\"} 1\n",
            "late_seconds_sum 0.3\n",
            "late_seconds_count 1\n",
            "# TYPE long_total counter\n",
            "long_total 1\n",
        )
    );
}

#[test]
fn both_text_dialects_parse_back() {
    let om = crate::parse::parse_openmetrics(&written(Dialect::OpenMetrics))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(om.len(), 10);
    let text = crate::parse::parse_text(&written(Dialect::Text)).unwrap();
    // The gauge histogram, untyped in 0.0.4, reads back as one family per name.
    assert_eq!(text.len(), 13);
}

#[test]
fn numbers_are_written_in_their_shortest_exact_form() {
    let mut out = Vec::new();
    for v in [
        0.0,
        -0.0,
        1.0,
        -2.0,
        0.1,
        0.1 + 0.2,
        1e15,
        1e21,
        5e-324,
        f64::MAX,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ] {
        push_number(&mut out, v);
        out.push(b' ');
    }
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "0 0 1 -2 0.1 0.30000000000000004 1000000000000000 1e21 5e-324 1.7976931348623157e308 +Inf -Inf NaN "
    );
}

#[test]
fn a_buffer_is_reused() {
    let mut buffer = Vec::with_capacity(1 << 16);
    let capacity = buffer.capacity();
    buffer.extend_from_slice(b"stale");
    let mut out = Encoder::with_buffer(Dialect::OpenMetrics, buffer);
    out.family(&Descriptor::new("g", MetricType::Gauge, ""));
    out.gauge(&(), 1.0);
    let bytes = out.finish();
    assert_eq!(bytes, b"# TYPE g gauge\ng 1\n# EOF\n");
    assert_eq!(bytes.capacity(), capacity);
}
