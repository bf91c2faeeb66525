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
        9_999_999_999_999_998.0,
        1e16,
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
        "0 0 1 -2 0.1 0.30000000000000004 1000000000000000 9999999999999998 1e16 1e21 5e-324 1.7976931348623157e308 +Inf -Inf NaN "
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

// ---- The protobuf dialect, decoded field by field ----

/// What a protobuf field holds, by the message it is in (client_model's
/// `metrics.proto` and `google.protobuf.Timestamp`).
#[derive(Clone, Copy)]
enum Field {
    Str,
    Varint,
    Double,
    Message(Msg),
}

#[derive(Clone, Copy)]
enum Msg {
    Family,
    Metric,
    Label,
    Value,
    Counter,
    Summary,
    Quantile,
    Histogram,
    Bucket,
    Exemplar,
    Timestamp,
    Span,
}

fn schema(msg: Msg, number: u64) -> (&'static str, Field) {
    use Field::{Double, Message, Str, Varint};
    match (msg, number) {
        (Msg::Family, 1) => ("name", Str),
        (Msg::Family, 2) => ("help", Str),
        (Msg::Family, 3) => ("type", Varint),
        (Msg::Family, 4) => ("metric", Message(Msg::Metric)),
        (Msg::Family, 5) => ("unit", Str),
        (Msg::Metric, 1) => ("label", Message(Msg::Label)),
        (Msg::Metric, 2) => ("gauge", Message(Msg::Value)),
        (Msg::Metric, 3) => ("counter", Message(Msg::Counter)),
        (Msg::Metric, 4) => ("summary", Message(Msg::Summary)),
        (Msg::Metric, 5) => ("untyped", Message(Msg::Value)),
        (Msg::Metric, 6) => ("timestamp_ms", Varint),
        (Msg::Metric, 7) => ("histogram", Message(Msg::Histogram)),
        (Msg::Label, 1) => ("name", Str),
        (Msg::Label, 2) => ("value", Str),
        (Msg::Value, 1) => ("value", Double),
        (Msg::Counter, 1) => ("value", Double),
        (Msg::Counter, 2) => ("exemplar", Message(Msg::Exemplar)),
        (Msg::Counter, 3) => ("created", Message(Msg::Timestamp)),
        (Msg::Summary, 1) => ("count", Varint),
        (Msg::Summary, 2) => ("sum", Double),
        (Msg::Summary, 3) => ("quantile", Message(Msg::Quantile)),
        (Msg::Summary, 4) => ("created", Message(Msg::Timestamp)),
        (Msg::Quantile, 1) => ("quantile", Double),
        (Msg::Quantile, 2) => ("value", Double),
        (Msg::Histogram, 1) => ("count", Varint),
        (Msg::Histogram, 2) => ("sum", Double),
        (Msg::Histogram, 3) => ("bucket", Message(Msg::Bucket)),
        (Msg::Histogram, 15) => ("created", Message(Msg::Timestamp)),
        // Native buckets; `sint` fields shown as their zigzag varints.
        (Msg::Histogram, 5) => ("schema_zz", Varint),
        (Msg::Histogram, 6) => ("zero_threshold", Double),
        (Msg::Histogram, 7) => ("zero_count", Varint),
        (Msg::Histogram, 12) => ("positive_span", Message(Msg::Span)),
        (Msg::Histogram, 13) => ("positive_delta_zz", Varint),
        (Msg::Span, 1) => ("offset_zz", Varint),
        (Msg::Span, 2) => ("length", Varint),
        (Msg::Bucket, 1) => ("count", Varint),
        (Msg::Bucket, 2) => ("upper", Double),
        (Msg::Bucket, 3) => ("exemplar", Message(Msg::Exemplar)),
        (Msg::Exemplar, 1) => ("label", Message(Msg::Label)),
        (Msg::Exemplar, 2) => ("value", Double),
        (Msg::Exemplar, 3) => ("timestamp", Message(Msg::Timestamp)),
        (Msg::Timestamp, 1) => ("seconds", Varint),
        (Msg::Timestamp, 2) => ("nanos", Varint),
        _ => panic!("no field {number} in this message"),
    }
}

/// Reads a varint at `*at`, strictly: at most ten bytes, none past the end.
fn read_varint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut v = 0u64;
    for shift in (0..70).step_by(7) {
        let b = bytes[*at];
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return v;
        }
    }
    panic!("varint longer than ten bytes")
}

/// Renders a message as `name:value` fields separated by spaces, nested
/// messages in braces; panics on a wire type that is not the field's.
fn render(bytes: &[u8], msg: Msg) -> String {
    let mut fields = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let key = read_varint(bytes, &mut at);
        let (name, field) = schema(msg, key >> 3);
        let wire = key & 7;
        let value = match field {
            Field::Varint => {
                assert_eq!(wire, 0, "{name}");
                read_varint(bytes, &mut at).to_string()
            }
            Field::Double => {
                assert_eq!(wire, 1, "{name}");
                let v = f64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
                at += 8;
                format!("{v:?}")
            }
            Field::Str | Field::Message(_) => {
                assert_eq!(wire, 2, "{name}");
                let len = usize::try_from(read_varint(bytes, &mut at)).unwrap();
                let body = &bytes[at..at + len];
                at += len;
                match field {
                    Field::Message(inner) => format!("{{{}}}", render(body, inner)),
                    _ => format!("{:?}", std::str::from_utf8(body).unwrap()),
                }
            }
        };
        fields.push(format!("{name}:{value}"));
    }
    assert_eq!(at, bytes.len(), "a field runs past its message");
    fields.join(" ")
}

/// The length-delimited families of a protobuf exposition, one per line.
fn families(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let len = usize::try_from(read_varint(bytes, &mut at)).unwrap();
        out.push(render(&bytes[at..at + len], Msg::Family));
        at += len;
    }
    out
}

fn protobuf(write: impl FnOnce(&mut Encoder)) -> Vec<String> {
    let mut out = Encoder::new(Dialect::Protobuf);
    write(&mut out);
    let len = out.len();
    let bytes = out.finish();
    // `len` counts the open family as it will be written.
    assert_eq!(len, bytes.len());
    families(&bytes)
}

#[test]
fn protobuf_writes_every_type() {
    let ex = "exemplar:{label:{name:\"trace_id\" value:\"4bf9\"} value:0.2 timestamp:{seconds:1700000000 nanos:500000000}}";
    assert_eq!(
        protobuf(every_type),
        [
            "name:\"jobs_total\" help:\"Jobs \\\"done\\\"\\nso far \\\\o/\" type:0 \
             metric:{label:{name:\"q\" value:\"a\\\"b\\\\c\\nd\"} counter:{value:3.0 \
             exemplar:{label:{name:\"trace_id\" value:\"4bf9\"} value:0.3 timestamp:{seconds:1700000000 nanos:500000000}} \
             created:{seconds:1 nanos:500000000}}} \
             metric:{counter:{value:0.0}}"
                .to_owned(),
            "name:\"temp_celsius\" type:1 unit:\"celsius\" \
             metric:{label:{name:\"room\" value:\"a\"} gauge:{value:-3.5}} \
             metric:{label:{name:\"room\" value:\"b\"} gauge:{value:NaN}}"
                .to_owned(),
            format!(
                "name:\"wait_seconds\" help:\"Waits.\" type:4 unit:\"seconds\" \
                 metric:{{label:{{name:\"pool\" value:\"x\"}} histogram:{{count:5 sum:2.5 \
                 bucket:{{count:1 upper:0.25 {ex}}} bucket:{{count:4 upper:1.0}} \
                 created:{{seconds:10}}}}}} \
                 metric:{{histogram:{{count:0}}}}"
            ),
            "name:\"queue_depth\" type:5 metric:{histogram:{count:3 sum:-4.0 bucket:{count:1 upper:-1.0}}}"
                .to_owned(),
            "name:\"rpc_seconds\" type:2 metric:{summary:{count:10 sum:4.5 \
             quantile:{quantile:0.5 value:0.25} quantile:{quantile:0.99 value:1e-7}}}"
                .to_owned(),
            "name:\"build_info\" help:\"Build.\" type:1 metric:{label:{name:\"version\" value:\"1.2\"} gauge:{value:1.0}}"
                .to_owned(),
            "name:\"mode\" type:1 \
             metric:{label:{name:\"node\" value:\"n1\"} label:{name:\"mode\" value:\"on\"} gauge:{value:1.0}} \
             metric:{label:{name:\"node\" value:\"n1\"} label:{name:\"mode\" value:\"off\"} gauge:{value:0.0}}"
                .to_owned(),
            "name:\"mystery\" help:\"Who knows.\" type:3 metric:{untyped:{value:42.0}}".to_owned(),
            "name:\"late_seconds\" type:4 metric:{histogram:{count:1 sum:0.3 bucket:{count:0 upper:0.1}}}"
                .to_owned(),
            "name:\"long_total\" type:0 metric:{counter:{value:1.0}}".to_owned(),
        ]
    );
}

#[test]
fn protobuf_varints_and_lengths_at_their_boundaries() {
    let counts = [0u64, 1, 127, 128, 16_383, 16_384, u64::MAX];
    let help = "h".repeat(200);
    let long = "v".repeat(300);
    let fams = protobuf(|out| {
        out.family(&Descriptor::new("h", MetricType::Histogram, ""));
        #[allow(clippy::cast_precision_loss)]
        let buckets = counts
            .iter()
            .enumerate()
            .map(|(i, &c)| Bucket::new(i as f64, c));
        // A created time whose fraction rounds up to a whole second.
        out.histogram(&(), buckets, u64::MAX, None, Some(1.999_999_999_6));
        out.family(&Descriptor::new("g", MetricType::Gauge, &help));
        out.gauge(&[("k", long.as_str())], 1.0);
        for i in 0..2000 {
            out.gauge(&[("i", i.to_string())], 2.0);
        }
        out.family(&Descriptor::new("c", MetricType::Counter, ""));
        out.counter(&(), 1.0, Some(0.25), None);
    });
    let buckets: Vec<String> = counts
        .iter()
        .enumerate()
        .map(|(i, c)| format!("bucket:{{count:{c} upper:{:?}}}", i as f64))
        .collect();
    assert_eq!(
        fams[0],
        format!(
            "name:\"h\" type:4 metric:{{histogram:{{count:{} {} created:{{seconds:2}}}}}}",
            u64::MAX,
            buckets.join(" ")
        )
    );
    let mut gauges = vec![format!(
        "name:\"g\" help:\"{help}\" type:1 metric:{{label:{{name:\"k\" value:\"{long}\"}} gauge:{{value:1.0}}}}"
    )];
    gauges.extend(
        (0..2000)
            .map(|i| format!("metric:{{label:{{name:\"i\" value:\"{i}\"}} gauge:{{value:2.0}}}}")),
    );
    assert_eq!(fams[1], gauges.join(" "));
    assert_eq!(
        fams[2],
        "name:\"c_total\" type:0 metric:{counter:{value:1.0 created:{nanos:250000000}}}"
    );
    assert_eq!(fams.len(), 3);
}

/// Every type as owned families, in the canonical form the encoder writes: with
/// timestamps, exemplars on buckets and `+Inf`, points of several samples.
const OWNED: &str = concat!(
    "# HELP jobs Jobs done.\n",
    "# TYPE jobs counter\n",
    "jobs_total{q=\"a\"} 3 # {trace_id=\"4bf9\"} 0.3 1700000000.5\n",
    "jobs_created{q=\"a\"} 1.5\n",
    "jobs_total{q=\"b\"} 1 1700000000.25\n",
    "# TYPE temp_celsius gauge\n",
    "# UNIT temp_celsius celsius\n",
    "temp_celsius{room=\"a\"} -3.5\n",
    "temp_celsius{room=\"b\"} 2 1700000000\n",
    "# TYPE wait_seconds histogram\n",
    "wait_seconds_bucket{le=\"0.25\"} 1 # {trace_id=\"a\"} 0.2\n",
    "wait_seconds_bucket{le=\"1.0\"} 4\n",
    "wait_seconds_bucket{le=\"+Inf\"} 5 # {trace_id=\"b\"} 7\n",
    "wait_seconds_sum 9.5\n",
    "wait_seconds_count 5\n",
    "wait_seconds_created 10\n",
    "# TYPE queue_depth gaugehistogram\n",
    "queue_depth_bucket{le=\"+Inf\"} 3\n",
    "queue_depth_gsum 4\n",
    "queue_depth_gcount 3\n",
    "# TYPE rpc_seconds summary\n",
    "rpc_seconds{quantile=\"0.5\"} 0.25 1\n",
    "rpc_seconds_sum 4.5 1\n",
    "rpc_seconds_count 10 1\n",
    "rpc_seconds_created 0.5 1\n",
    "rpc_seconds{quantile=\"0.5\"} 0.5 2\n",
    "rpc_seconds_sum 5 2\n",
    "rpc_seconds_count 11 2\n",
    "rpc_seconds_created 0.5 2\n",
    "# TYPE build info\n",
    "build_info{version=\"1.2\"} 1\n",
    "# TYPE mode stateset\n",
    "mode{node=\"n1\",mode=\"on\"} 1\n",
    "mode{node=\"n1\",mode=\"off\"} 0\n",
    "mode{node=\"n2\",mode=\"on\"} 0\n",
    "mode{node=\"n2\",mode=\"off\"} 1\n",
    "# TYPE mystery unknown\n",
    "mystery 42\n",
    "# EOF\n",
);

fn owned_in(dialect: Dialect) -> Vec<u8> {
    let families = crate::parse::parse_openmetrics(OWNED).unwrap_or_else(|e| panic!("{e}"));
    let mut out = Encoder::new(dialect);
    for family in &families {
        out.write_family(family);
    }
    out.finish()
}

#[test]
fn owned_families_come_back_as_they_were_read() {
    assert_eq!(
        String::from_utf8(owned_in(Dialect::OpenMetrics)).unwrap(),
        OWNED
    );
}

#[test]
fn owned_families_in_text_004() {
    assert_eq!(
        String::from_utf8(owned_in(Dialect::Text)).unwrap(),
        concat!(
            "# HELP jobs_total Jobs done.\n",
            "# TYPE jobs_total counter\n",
            "jobs_total{q=\"a\"} 3\n",
            "jobs_total{q=\"b\"} 1 1700000000250\n",
            "# TYPE temp_celsius gauge\n",
            "temp_celsius{room=\"a\"} -3.5\n",
            "temp_celsius{room=\"b\"} 2 1700000000000\n",
            "# TYPE wait_seconds histogram\n",
            "wait_seconds_bucket{le=\"0.25\"} 1\n",
            "wait_seconds_bucket{le=\"1.0\"} 4\n",
            "wait_seconds_bucket{le=\"+Inf\"} 5\n",
            "wait_seconds_sum 9.5\n",
            "wait_seconds_count 5\n",
            "# TYPE queue_depth untyped\n",
            "queue_depth_bucket{le=\"+Inf\"} 3\n",
            "queue_depth_gsum 4\n",
            "queue_depth_gcount 3\n",
            "# TYPE rpc_seconds summary\n",
            "rpc_seconds{quantile=\"0.5\"} 0.25 1000\n",
            "rpc_seconds_sum 4.5 1000\n",
            "rpc_seconds_count 10 1000\n",
            "rpc_seconds{quantile=\"0.5\"} 0.5 2000\n",
            "rpc_seconds_sum 5 2000\n",
            "rpc_seconds_count 11 2000\n",
            "# TYPE build_info gauge\n",
            "build_info{version=\"1.2\"} 1\n",
            "# TYPE mode gauge\n",
            "mode{node=\"n1\",mode=\"on\"} 1\n",
            "mode{node=\"n1\",mode=\"off\"} 0\n",
            "mode{node=\"n2\",mode=\"on\"} 0\n",
            "mode{node=\"n2\",mode=\"off\"} 1\n",
            "# TYPE mystery untyped\n",
            "mystery 42\n",
        )
    );
}

#[test]
fn owned_families_in_protobuf() {
    let label = |k: &str, v: &str| format!("label:{{name:\"{k}\" value:\"{v}\"}}");
    let state = |node: &str, s: &str, v: &str| {
        format!(
            "metric:{{{} {} gauge:{{value:{v}}}}}",
            label("node", node),
            label("mode", s)
        )
    };
    assert_eq!(
        families(&owned_in(Dialect::Protobuf)),
        [
            format!(
                "name:\"jobs_total\" help:\"Jobs done.\" type:0 \
                 metric:{{{} counter:{{value:3.0 exemplar:{{{} value:0.3 \
                 timestamp:{{seconds:1700000000 nanos:500000000}}}} created:{{seconds:1 nanos:500000000}}}}}} \
                 metric:{{{} counter:{{value:1.0}} timestamp_ms:1700000000250}}",
                label("q", "a"),
                label("trace_id", "4bf9"),
                label("q", "b"),
            ),
            format!(
                "name:\"temp_celsius\" type:1 unit:\"celsius\" \
                 metric:{{{} gauge:{{value:-3.5}}}} \
                 metric:{{{} gauge:{{value:2.0}} timestamp_ms:1700000000000}}",
                label("room", "a"),
                label("room", "b"),
            ),
            format!(
                "name:\"wait_seconds\" type:4 metric:{{histogram:{{count:5 sum:9.5 \
                 bucket:{{count:1 upper:0.25 exemplar:{{{} value:0.2}}}} \
                 bucket:{{count:4 upper:1.0}} \
                 bucket:{{count:5 upper:inf exemplar:{{{} value:7.0}}}} \
                 created:{{seconds:10}}}}}}",
                label("trace_id", "a"),
                label("trace_id", "b"),
            ),
            "name:\"queue_depth\" type:5 metric:{histogram:{count:3 sum:4.0}}".to_owned(),
            "name:\"rpc_seconds\" type:2 \
             metric:{summary:{count:10 sum:4.5 quantile:{quantile:0.5 value:0.25} \
             created:{nanos:500000000}} timestamp_ms:1000} \
             metric:{summary:{count:11 sum:5.0 quantile:{quantile:0.5 value:0.5} \
             created:{nanos:500000000}} timestamp_ms:2000}"
                .to_owned(),
            format!(
                "name:\"build_info\" type:1 metric:{{{} gauge:{{value:1.0}}}}",
                label("version", "1.2")
            ),
            format!(
                "name:\"mode\" type:1 {} {} {} {}",
                state("n1", "on", "1.0"),
                state("n1", "off", "0.0"),
                state("n2", "on", "0.0"),
                state("n2", "off", "1.0"),
            ),
            "name:\"mystery\" type:3 metric:{untyped:{value:42.0}}".to_owned(),
        ]
    );
}

#[test]
fn descriptor_and_length_accessors() {
    let d = Descriptor::new("jobs", MetricType::Counter, "Jobs done.").unit("jobs");
    assert_eq!(
        (d.name(), d.metric_type(), d.help()),
        ("jobs", MetricType::Counter, "Jobs done.")
    );
    for dialect in [Dialect::OpenMetrics, Dialect::Text, Dialect::Protobuf] {
        let mut out = Encoder::new(dialect);
        assert_eq!(out.dialect(), dialect);
        assert!(out.is_empty());
        assert_eq!(out.len(), 0);
        out.family(&Descriptor::new("g", MetricType::Gauge, ""));
        out.gauge(&(), 1.0);
        assert!(!out.is_empty());
        // A second family: in protobuf the first is then in the output and the
        // second pending, and `len` counts both.
        out.family(&Descriptor::new("h", MetricType::Gauge, ""));
        out.gauge(&(), 2.0);
        let len = out.len();
        let bytes = out.finish();
        let eof = if dialect == Dialect::OpenMetrics {
            6
        } else {
            0
        };
        assert_eq!(len, bytes.len() - eof, "{dialect:?}");
    }
}

#[test]
fn an_owned_inf_exemplar_past_128_characters_is_left_out() {
    use crate::family::{MetricFamily, Sample};
    let mut family = MetricFamily::new("h", MetricType::Histogram, "");
    let exemplar = |chars: usize| Exemplar {
        labels: vec![("id".into(), "x".repeat(chars - 2))],
        value: 9.0,
        timestamp: None,
    };
    for (le, n, chars) in [("1.0", 1.0, 128), ("+Inf", 2.0, 129)] {
        let mut bucket = Sample::new("h_bucket", [("le", le)], n);
        bucket.exemplar = Some(exemplar(chars));
        family.samples.push(bucket);
    }
    family
        .samples
        .push(Sample::new("h_count", Vec::<(&str, &str)>::new(), 2.0));
    let mut out = Encoder::new(Dialect::OpenMetrics);
    out.write_family(&family);
    let text = String::from_utf8(out.finish()).unwrap();
    // The first exemplar is above its bucket's bound, the second too long.
    assert_eq!(
        text,
        "# TYPE h histogram\nh_bucket{le=\"1.0\"} 1\nh_bucket{le=\"+Inf\"} 2\n# EOF\n"
    );
    family.samples[0].exemplar.as_mut().unwrap().value = 0.5;
    family.samples[1].exemplar = Some(exemplar(128));
    let mut out = Encoder::new(Dialect::OpenMetrics);
    out.write_family(&family);
    let text = String::from_utf8(out.finish()).unwrap();
    let x = "x".repeat(126);
    assert_eq!(
        text,
        format!(
            "# TYPE h histogram\nh_bucket{{le=\"1.0\"}} 1 # {{id=\"{x}\"}} 0.5\nh_bucket{{le=\"+Inf\"}} 2 # {{id=\"{x}\"}} 9\n# EOF\n"
        )
    );
}

#[test]
fn an_exemplar_without_labels_has_empty_braces() {
    let bare = Exemplar {
        labels: Vec::new(),
        value: 1.0,
        timestamp: None,
    };
    let mut out = Encoder::new(Dialect::OpenMetrics);
    out.family(&Descriptor::new("c", MetricType::Counter, ""));
    out.counter(&(), 2.0, None, Some(&bare));
    assert_eq!(
        String::from_utf8(out.finish()).unwrap(),
        "# TYPE c counter\nc_total 2 # {} 1\n# EOF\n"
    );
}

fn gauges(name: &str, rooms: &[(&str, f64)]) -> MetricFamily {
    let mut f = MetricFamily::gauge(name, "Temperatures.");
    for (room, value) in rooms {
        f.add_gauge([("room", *room)], *value);
    }
    f
}

const DIALECTS: [Dialect; 3] = [Dialect::OpenMetrics, Dialect::Text, Dialect::Protobuf];

#[test]
fn a_family_written_in_pieces_is_written_as_one() {
    let whole = gauges("temp", &[("a", 1.0), ("b", 2.0), ("c", 3.0)]);
    let (first, second) = (
        gauges("temp", &[("a", 1.0)]),
        gauges("temp", &[("b", 2.0), ("c", 3.0)]),
    );
    // A piece of another family, or of the same name with another type, opens
    // a family of its own.
    let other = gauges("humidity", &[("a", 0.5)]);
    let mut retyped = MetricFamily::counter("temp", "");
    retyped.add_counter(crate::family::NO_LABELS, 4.0, None);
    for dialect in DIALECTS {
        let mut expected = Encoder::new(dialect);
        for family in [&whole, &other, &retyped] {
            expected.write_family(family);
        }
        let mut pieced = Encoder::new(dialect);
        pieced.write_family(&first);
        for piece in [&second, &other, &retyped] {
            pieced.write_more(piece);
        }
        assert_eq!(pieced.finish(), expected.finish(), "{dialect:?}");

        // `write_more` with no family open writes the family.
        let mut alone = Encoder::new(dialect);
        alone.write_more(&other);
        let mut expected = Encoder::new(dialect);
        expected.write_family(&other);
        assert_eq!(alone.finish(), expected.finish(), "{dialect:?}");
    }
}

#[test]
fn a_discarded_family_leaves_no_trace() {
    let (kept, later) = (
        gauges("temp", &[("a", 1.0)]),
        gauges("humidity", &[("b", 0.5)]),
    );
    for dialect in DIALECTS {
        let mut expected = Encoder::new(dialect);
        expected.write_family(&kept);
        expected.write_family(&later);
        let expected = expected.finish();

        let mut out = Encoder::new(dialect);
        // Nothing is open yet: nothing happens.
        out.discard_family();
        out.write_family(&kept);
        out.family(&Descriptor::new(
            "dropped",
            MetricType::Gauge,
            "Never served.",
        ));
        out.gauge(&[("room", "x")], 9.0);
        out.write_more(&gauges("dropped", &[("y", 8.0)]));
        out.discard_family();
        // Twice is once.
        out.discard_family();
        out.write_family(&later);
        assert_eq!(out.finish(), expected, "{dialect:?}");
    }
}

#[test]
fn protobuf_writes_native_buckets_as_spans_and_deltas() {
    // Buckets -3, -2 (one span), then 2, 3 after a gap of three, then 9: spans
    // (-3, 2), (3, 2), (5, 1); the counts 4, 3, 6, 1, 8 as deltas 4, -1, 3, -5, 7.
    let positive = [(-3, 4), (-2, 3), (2, 6), (3, 1), (9, 8)];
    let native = NativeBuckets {
        schema: -2,
        zero_threshold: 0.25,
        zero_count: 5,
        positive: &positive,
    };
    let extras = HistogramExtras {
        native: Some(native),
        ..HistogramExtras::default()
    };
    let out = protobuf(|out| {
        out.family(&Descriptor::new("lat_seconds", MetricType::Histogram, ""));
        out.histogram_with(&(), [Bucket::new(1.0, 3)], 27, Some(9.5), &extras);
        // No bucket in use: one empty span says the histogram is native.
        let empty = HistogramExtras {
            native: Some(NativeBuckets {
                schema: 3,
                zero_threshold: 0.0,
                zero_count: 0,
                positive: &[],
            }),
            ..HistogramExtras::default()
        };
        out.histogram_with(&(), [], 0, Some(0.0), &empty);
    });
    // zigzag: -2 -> 3, -3 -> 5, 3 -> 6, 5 -> 10; deltas 4 -> 8, -1 -> 1,
    // 3 -> 6, -5 -> 9, 7 -> 14.
    assert_eq!(
        out,
        ["name:\"lat_seconds\" type:4 \
          metric:{histogram:{count:27 sum:9.5 bucket:{count:3 upper:1.0} \
          schema_zz:3 zero_threshold:0.25 zero_count:5 \
          positive_span:{offset_zz:5 length:2} positive_span:{offset_zz:6 length:2} \
          positive_span:{offset_zz:10 length:1} \
          positive_delta_zz:8 positive_delta_zz:1 positive_delta_zz:6 positive_delta_zz:9 \
          positive_delta_zz:14}} \
          metric:{histogram:{count:0 sum:0.0 schema_zz:6 zero_threshold:0.0 zero_count:0 \
          positive_span:{offset_zz:0 length:0}}}"
            .to_owned()]
    );
    // Text dialects leave native buckets out.
    for dialect in [Dialect::OpenMetrics, Dialect::Text] {
        let mut out = Encoder::new(dialect);
        out.family(&Descriptor::new("lat_seconds", MetricType::Histogram, ""));
        out.histogram_with(&(), [Bucket::new(1.0, 3)], 27, Some(9.5), &extras);
        let text = String::from_utf8(out.finish()).unwrap();
        assert!(text.contains("lat_seconds_count 27\n"), "{text}");
        assert_eq!(text.matches("_bucket").count(), 2, "{text}");
    }
}

/// A counter that text 0.0.4 names without `_total` keeps that name in text and
/// protobuf (as Prometheus stores it from either), and gets the suffix that
/// OpenMetrics requires; one named with `_total` is unchanged.
#[test]
fn a_text_counter_without_total_keeps_its_name_where_the_dialect_allows() {
    let upstream = "# HELP requests Requests.\n# TYPE requests counter\n\
                    requests{path=\"/\"} 5\nrequests{path=\"/a\"} 2\n\
                    # TYPE jobs_total counter\njobs_total 3\n";
    let parsed = crate::parse::parse_text(upstream).unwrap();
    assert_eq!(parsed[0].name, "requests");
    assert!(parsed[0].counter_without_total);
    assert_eq!(parsed[0].samples[0].name, "requests_total");
    assert_eq!(parsed[1].name, "jobs");
    assert!(!parsed[1].counter_without_total);
    parsed[0].validate().unwrap();
    let write = |dialect| {
        let mut out = Encoder::new(dialect);
        for f in &parsed {
            out.write_family(f);
        }
        out.finish()
    };
    assert_eq!(String::from_utf8(write(Dialect::Text)).unwrap(), upstream);
    assert_eq!(
        String::from_utf8(write(Dialect::OpenMetrics)).unwrap(),
        "# HELP requests Requests.\n# TYPE requests counter\n\
         requests_total{path=\"/\"} 5\nrequests_total{path=\"/a\"} 2\n\
         # TYPE jobs counter\njobs_total 3\n# EOF\n"
    );
    let proto = families(&write(Dialect::Protobuf));
    assert!(proto[0].starts_with("name:\"requests\" help:"), "{proto:?}");
    assert!(proto[1].starts_with("name:\"jobs_total\" "), "{proto:?}");
    // Read back, each dialect gives the same family.
    let again = crate::parse::parse_text(std::str::from_utf8(&write(Dialect::Text)).unwrap());
    assert_eq!(again.unwrap(), parsed);
    // Only a counter may be so marked.
    let mut gauge = MetricFamily::gauge("g", "");
    gauge.counter_without_total = true;
    let err = gauge.validate().unwrap_err().to_string();
    assert!(err.contains("only a counter"), "{err}");
}
