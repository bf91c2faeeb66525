//! The Prometheus protobuf format read back in tests: the messages of
//! client_model's `io/prometheus/client/metrics.proto`, derived with `prost`
//! (no `protoc`), and a reading of them as the sample-shaped families of
//! `promhttp::family`, the way Prometheus turns them into series.
#![allow(dead_code, unreachable_pub)]

use promhttp::family::{format_bound, Exemplar, MetricFamily, MetricType, Sample};
use prost::Message;

#[derive(Clone, PartialEq, Message)]
pub struct LabelPair {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

#[derive(Clone, PartialEq, Message)]
pub struct ProtoExemplar {
    #[prost(message, repeated, tag = "1")]
    pub label: Vec<LabelPair>,
    #[prost(double, optional, tag = "2")]
    pub value: Option<f64>,
    #[prost(message, optional, tag = "3")]
    pub timestamp: Option<Timestamp>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Gauge {
    #[prost(double, optional, tag = "1")]
    pub value: Option<f64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Counter {
    #[prost(double, optional, tag = "1")]
    pub value: Option<f64>,
    #[prost(message, optional, tag = "2")]
    pub exemplar: Option<ProtoExemplar>,
    #[prost(message, optional, tag = "3")]
    pub created_timestamp: Option<Timestamp>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Quantile {
    #[prost(double, optional, tag = "1")]
    pub quantile: Option<f64>,
    #[prost(double, optional, tag = "2")]
    pub value: Option<f64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Summary {
    #[prost(uint64, optional, tag = "1")]
    pub sample_count: Option<u64>,
    #[prost(double, optional, tag = "2")]
    pub sample_sum: Option<f64>,
    #[prost(message, repeated, tag = "3")]
    pub quantile: Vec<Quantile>,
    #[prost(message, optional, tag = "4")]
    pub created_timestamp: Option<Timestamp>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Untyped {
    #[prost(double, optional, tag = "1")]
    pub value: Option<f64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Bucket {
    #[prost(uint64, optional, tag = "1")]
    pub cumulative_count: Option<u64>,
    #[prost(double, optional, tag = "4")]
    pub cumulative_count_float: Option<f64>,
    #[prost(double, optional, tag = "2")]
    pub upper_bound: Option<f64>,
    #[prost(message, optional, tag = "3")]
    pub exemplar: Option<ProtoExemplar>,
}

#[derive(Clone, PartialEq, Message)]
pub struct BucketSpan {
    #[prost(sint32, optional, tag = "1")]
    pub offset: Option<i32>,
    #[prost(uint32, optional, tag = "2")]
    pub length: Option<u32>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Histogram {
    #[prost(uint64, optional, tag = "1")]
    pub sample_count: Option<u64>,
    #[prost(double, optional, tag = "4")]
    pub sample_count_float: Option<f64>,
    #[prost(double, optional, tag = "2")]
    pub sample_sum: Option<f64>,
    #[prost(message, repeated, tag = "3")]
    pub bucket: Vec<Bucket>,
    #[prost(message, optional, tag = "15")]
    pub created_timestamp: Option<Timestamp>,
    #[prost(sint32, optional, tag = "5")]
    pub schema: Option<i32>,
    #[prost(double, optional, tag = "6")]
    pub zero_threshold: Option<f64>,
    #[prost(uint64, optional, tag = "7")]
    pub zero_count: Option<u64>,
    #[prost(double, optional, tag = "8")]
    pub zero_count_float: Option<f64>,
    #[prost(message, repeated, tag = "9")]
    pub negative_span: Vec<BucketSpan>,
    #[prost(sint64, repeated, packed = "false", tag = "10")]
    pub negative_delta: Vec<i64>,
    #[prost(double, repeated, packed = "false", tag = "11")]
    pub negative_count: Vec<f64>,
    #[prost(message, repeated, tag = "12")]
    pub positive_span: Vec<BucketSpan>,
    #[prost(sint64, repeated, packed = "false", tag = "13")]
    pub positive_delta: Vec<i64>,
    #[prost(double, repeated, packed = "false", tag = "14")]
    pub positive_count: Vec<f64>,
    #[prost(message, repeated, tag = "16")]
    pub exemplars: Vec<ProtoExemplar>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Metric {
    #[prost(message, repeated, tag = "1")]
    pub label: Vec<LabelPair>,
    #[prost(message, optional, tag = "2")]
    pub gauge: Option<Gauge>,
    #[prost(message, optional, tag = "3")]
    pub counter: Option<Counter>,
    #[prost(message, optional, tag = "4")]
    pub summary: Option<Summary>,
    #[prost(message, optional, tag = "5")]
    pub untyped: Option<Untyped>,
    #[prost(message, optional, tag = "7")]
    pub histogram: Option<Histogram>,
    #[prost(int64, optional, tag = "6")]
    pub timestamp_ms: Option<i64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ProtoFamily {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub help: Option<String>,
    #[prost(int32, optional, tag = "3")]
    pub r#type: Option<i32>,
    #[prost(message, repeated, tag = "4")]
    pub metric: Vec<Metric>,
    #[prost(string, optional, tag = "5")]
    pub unit: Option<String>,
}

/// The length-delimited families of a protobuf exposition; panics with the
/// position on malformed input.
pub fn decode(mut bytes: &[u8]) -> Vec<ProtoFamily> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let family = ProtoFamily::decode_length_delimited(&mut bytes)
            .unwrap_or_else(|e| panic!("malformed protobuf after {} families: {e}", out.len()));
        out.push(family);
    }
    out
}

fn seconds(t: &Timestamp) -> f64 {
    t.seconds as f64 + f64::from(t.nanos) / 1e9
}

fn labels(pairs: &[LabelPair]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|p| {
            (
                p.name.clone().unwrap_or_default(),
                p.value.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn exemplar(e: &Option<ProtoExemplar>) -> Option<Exemplar> {
    e.as_ref().map(|e| Exemplar {
        labels: labels(&e.label),
        value: e.value.unwrap_or_default(),
        timestamp: e.timestamp.as_ref().map(seconds),
    })
}

/// The families as sample-shaped values, named as Prometheus stores their series:
/// a counter family named `x_total` is the family `x` with its `_total` samples
/// (and `_created` from its created time), a histogram gets its `+Inf` bucket
/// back from its count; gauge families (info and state sets in this format) stay
/// gauges, untyped ones unknown.
pub fn as_families(proto: &[ProtoFamily]) -> Vec<MetricFamily> {
    proto
        .iter()
        .map(|f| {
            let name = f.name.clone().unwrap_or_default();
            let metric_type = match f.r#type.unwrap_or(3) {
                0 => MetricType::Counter,
                1 => MetricType::Gauge,
                2 => MetricType::Summary,
                4 => MetricType::Histogram,
                5 => MetricType::GaugeHistogram,
                _ => MetricType::Unknown,
            };
            let family_name = match metric_type {
                MetricType::Counter => name.strip_suffix("_total").unwrap_or(&name).to_owned(),
                _ => name.clone(),
            };
            let mut out = MetricFamily::new(
                family_name.clone(),
                metric_type,
                f.help.clone().unwrap_or_default(),
            );
            out.unit = f.unit.clone().filter(|u| !u.is_empty());
            for m in &f.metric {
                let base = labels(&m.label);
                let ts = m.timestamp_ms.map(|ms| ms as f64 / 1000.0);
                let push = |out: &mut MetricFamily,
                            suffix: &str,
                            extra: Option<(&str, String)>,
                            value: f64,
                            ex: Option<Exemplar>| {
                    let mut l = base.clone();
                    if let Some((k, v)) = extra {
                        l.push((k.to_owned(), v));
                    }
                    out.samples.push(Sample {
                        name: format!("{family_name}{suffix}"),
                        labels: l,
                        value,
                        timestamp: ts,
                        exemplar: ex,
                    });
                };
                match metric_type {
                    MetricType::Counter => {
                        let c = m.counter.clone().unwrap_or_default();
                        push(
                            &mut out,
                            "_total",
                            None,
                            c.value.unwrap_or_default(),
                            exemplar(&c.exemplar),
                        );
                        if let Some(t) = &c.created_timestamp {
                            push(&mut out, "_created", None, seconds(t), None);
                        }
                    }
                    MetricType::Gauge => push(
                        &mut out,
                        "",
                        None,
                        m.gauge
                            .clone()
                            .unwrap_or_default()
                            .value
                            .unwrap_or_default(),
                        None,
                    ),
                    MetricType::Unknown => push(
                        &mut out,
                        "",
                        None,
                        m.untyped
                            .clone()
                            .unwrap_or_default()
                            .value
                            .unwrap_or_default(),
                        None,
                    ),
                    MetricType::Histogram | MetricType::GaugeHistogram => {
                        let h = m.histogram.clone().unwrap_or_default();
                        let count = h.sample_count.unwrap_or_default();
                        let mut inf = None;
                        for b in &h.bucket {
                            let upper = b.upper_bound.unwrap_or_default();
                            if upper == f64::INFINITY {
                                inf = Some(b);
                                continue;
                            }
                            push(
                                &mut out,
                                "_bucket",
                                Some(("le", format_bound(upper))),
                                b.cumulative_count.unwrap_or_default() as f64,
                                exemplar(&b.exemplar),
                            );
                        }
                        push(
                            &mut out,
                            "_bucket",
                            Some(("le", "+Inf".into())),
                            count as f64,
                            inf.and_then(|b| exemplar(&b.exemplar)),
                        );
                        let gauge = metric_type == MetricType::GaugeHistogram;
                        let (sum, count_sfx) = if gauge {
                            ("_gsum", "_gcount")
                        } else {
                            ("_sum", "_count")
                        };
                        if let Some(s) = h.sample_sum {
                            push(&mut out, sum, None, s, None);
                            push(&mut out, count_sfx, None, count as f64, None);
                        }
                        if let Some(t) = &h.created_timestamp {
                            push(&mut out, "_created", None, seconds(t), None);
                        }
                    }
                    MetricType::Summary => {
                        let s = m.summary.clone().unwrap_or_default();
                        for q in &s.quantile {
                            push(
                                &mut out,
                                "",
                                Some(("quantile", format_bound(q.quantile.unwrap_or_default()))),
                                q.value.unwrap_or_default(),
                                None,
                            );
                        }
                        if let Some(sum) = s.sample_sum {
                            push(&mut out, "_sum", None, sum, None);
                        }
                        if let Some(c) = s.sample_count {
                            push(&mut out, "_count", None, c as f64, None);
                        }
                        if let Some(t) = &s.created_timestamp {
                            push(&mut out, "_created", None, seconds(t), None);
                        }
                    }
                    _ => {}
                }
            }
            out
        })
        .collect()
}
