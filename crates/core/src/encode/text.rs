//! The two text dialects: OpenMetrics 1.0 and Prometheus text 0.0.4.

use super::{push_number, push_u64, Bucket, Descriptor, Histogram, LabelSet, Summary};
use crate::family::{Exemplar, MetricType};

/// `# HELP`, `# TYPE` and `# UNIT` of an OpenMetrics family.
pub(super) fn om_header(out: &mut Vec<u8>, d: &Descriptor<'_>) {
    if !d.help.is_empty() {
        out.extend_from_slice(b"# HELP ");
        out.extend_from_slice(d.name.as_bytes());
        out.push(b' ');
        push_escaped(out, d.help, true);
        out.push(b'\n');
    }
    out.extend_from_slice(b"# TYPE ");
    out.extend_from_slice(d.name.as_bytes());
    out.push(b' ');
    out.extend_from_slice(d.metric_type.as_str().as_bytes());
    out.push(b'\n');
    if let Some(unit) = d.unit.filter(|u| !u.is_empty()) {
        out.extend_from_slice(b"# UNIT ");
        out.extend_from_slice(d.name.as_bytes());
        out.push(b' ');
        out.extend_from_slice(unit.as_bytes());
        out.push(b'\n');
    }
}

/// `# HELP` and `# TYPE` of a text 0.0.4 family written as `written`.
pub(super) fn text_header(out: &mut Vec<u8>, d: &Descriptor<'_>, written: &str) {
    if !d.help.is_empty() {
        out.extend_from_slice(b"# HELP ");
        out.extend_from_slice(written.as_bytes());
        out.push(b' ');
        push_help_004(out, d.help);
        out.push(b'\n');
    }
    out.extend_from_slice(b"# TYPE ");
    out.extend_from_slice(written.as_bytes());
    out.push(b' ');
    out.extend_from_slice(text_type(d.metric_type).as_bytes());
    out.push(b'\n');
}

/// The text 0.0.4 type of an OpenMetrics type.
pub(super) const fn text_type(t: MetricType) -> &'static str {
    match t {
        MetricType::Counter => "counter",
        MetricType::Gauge | MetricType::Info | MetricType::StateSet => "gauge",
        MetricType::Histogram => "histogram",
        MetricType::Summary => "summary",
        // Gauge histograms and unknown families have no 0.0.4 type of their own.
        MetricType::GaugeHistogram | MetricType::Unknown => "untyped",
    }
}

/// Appends `s` escaped: backslash and line feed always, the double quote where
/// `quote` (label values, and HELP text in OpenMetrics).
fn push_escaped(out: &mut Vec<u8>, s: &str, quote: bool) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'"' if quote => b"\\\"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// HELP text in text 0.0.4, which escapes only the backslash and line feed.
fn push_help_004(out: &mut Vec<u8>, s: &str) {
    push_escaped(out, s, false);
}

/// Appends the label set of `labels` followed by `extra`, `{...}`; nothing when
/// there are no labels (`braces` forces them, as exemplars need).
fn push_labels(
    out: &mut Vec<u8>,
    labels: &dyn LabelSet,
    extra: Option<(&str, &[u8])>,
    braces: bool,
) {
    let start = out.len();
    let mut first = true;
    let mut write = |out: &mut Vec<u8>, k: &str, v: &[u8], escape: bool| {
        out.push(if first { b'{' } else { b',' });
        first = false;
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"=\"");
        if escape {
            // Label values are UTF-8 text: escaping works on their bytes.
            push_escaped(out, std::str::from_utf8(v).unwrap_or_default(), true);
        } else {
            out.extend_from_slice(v);
        }
        out.push(b'"');
    };
    labels.visit(&mut |k, v| write(out, k, v.as_bytes(), true));
    if let Some((k, v)) = extra {
        write(out, k, v, false);
    }
    if out.len() > start {
        out.push(b'}');
    } else if braces {
        out.extend_from_slice(b"{}");
    }
}

/// Renders `labels` once as the start of a label set, `{k="v",k2="v2"` without
/// the closing brace (nothing when there are none), for the samples of a point
/// to copy.
fn render_prefix(scratch: &mut Vec<u8>, labels: &dyn LabelSet) {
    scratch.clear();
    labels.visit(&mut |k, v| {
        scratch.push(if scratch.is_empty() { b'{' } else { b',' });
        scratch.extend_from_slice(k.as_bytes());
        scratch.extend_from_slice(b"=\"");
        push_escaped(scratch, v, true);
        scratch.push(b'"');
    });
}

/// The labels (rendered once) and timestamp shared by the samples of one point,
/// and how to write them.
pub(super) struct Point<'o> {
    out: &'o mut Vec<u8>,
    /// The point's labels, rendered by [`render_prefix`].
    labels: &'o [u8],
    timestamp: Option<f64>,
    om: bool,
}

/// A sample's value: a number, or a count written as an integer.
#[derive(Clone, Copy)]
enum Value {
    Number(f64),
    Count(u64),
}

impl<'o> Point<'o> {
    /// A point whose samples `out` is written into, its labels rendered into
    /// `scratch`; OpenMetrics if `om`, else text 0.0.4.
    pub(super) fn new(
        out: &'o mut Vec<u8>,
        scratch: &'o mut Vec<u8>,
        labels: &dyn LabelSet,
        timestamp: Option<f64>,
        om: bool,
    ) -> Self {
        render_prefix(scratch, labels);
        Self {
            out,
            labels: scratch,
            timestamp,
            om,
        }
    }

    /// One sample `name suffix {labels} value [timestamp] [# exemplar]`.
    pub(super) fn sample(&mut self, name: &str, suffix: &str, value: f64, ex: Option<&Exemplar>) {
        self.write(name, suffix, None, Value::Number(value), ex);
    }

    fn write(
        &mut self,
        name: &str,
        suffix: &str,
        extra: Option<(&str, &[u8])>,
        value: Value,
        ex: Option<&Exemplar>,
    ) {
        let out = &mut *self.out;
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(suffix.as_bytes());
        match (self.labels.is_empty(), extra) {
            (true, None) => {}
            (false, None) => {
                out.extend_from_slice(self.labels);
                out.push(b'}');
            }
            (empty, Some((k, v))) => {
                out.extend_from_slice(if empty { b"{" } else { self.labels });
                if !empty {
                    out.push(b',');
                }
                out.extend_from_slice(k.as_bytes());
                out.extend_from_slice(b"=\"");
                out.extend_from_slice(v);
                out.extend_from_slice(b"\"}");
            }
        }
        out.push(b' ');
        match value {
            Value::Number(v) => push_number(out, v),
            Value::Count(n) => push_u64(out, n),
        }
        if let Some(ts) = self.timestamp {
            out.push(b' ');
            if self.om {
                push_number(out, ts);
            } else {
                // Text 0.0.4 timestamps are integer milliseconds.
                #[allow(clippy::cast_possible_truncation)]
                let ms = (ts * 1000.0).round() as i64;
                out.extend_from_slice(itoa::Buffer::new().format(ms).as_bytes());
            }
        }
        if let (true, Some(ex)) = (self.om, ex) {
            out.extend_from_slice(b" # ");
            push_labels(out, &ex.labels, None, true);
            out.push(b' ');
            push_number(out, ex.value);
            if let Some(ts) = ex.timestamp {
                out.push(b' ');
                push_number(out, ts);
            }
        }
        out.push(b'\n');
    }
}

/// A bound or quantile in canonical text, formatted on the stack.
struct BoundText {
    buf: [u8; 40],
    len: usize,
}

impl BoundText {
    fn new(v: f64) -> Self {
        let mut text = Self {
            buf: [0; 40],
            len: 0,
        };
        if v.is_nan() {
            text.push(b"NaN");
        } else if v.is_infinite() {
            text.push(if v > 0.0 { b"+Inf" } else { b"-Inf" });
        } else if v.fract() == 0.0 && v.abs() < 1e15 {
            #[allow(clippy::cast_possible_truncation)]
            let n = v as i64;
            text.push(itoa::Buffer::new().format(n).as_bytes());
            text.push(b".0");
        } else {
            text.push(ryu::Buffer::new().format_finite(v).as_bytes());
        }
        text
    }

    fn push(&mut self, bytes: &[u8]) {
        let end = (self.len + bytes.len()).min(self.buf.len());
        self.buf[self.len..end].copy_from_slice(&bytes[..end - self.len]);
        self.len = end;
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// A (gauge) histogram point in either text dialect.
#[allow(clippy::too_many_arguments)]
pub(super) fn histogram<'b>(
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    om: bool,
    name: &str,
    labels: &dyn LabelSet,
    buckets: impl IntoIterator<Item = Bucket<'b>>,
    h: &Histogram<'_>,
    timestamp: Option<f64>,
) {
    // The labels, then `name_bucket{labels,le="` after them: a bucket line
    // without a timestamp or exemplar is that, its bound and its count.
    render_prefix(scratch, labels);
    let n = scratch.len();
    scratch.extend_from_slice(name.as_bytes());
    scratch.extend_from_slice(b"_bucket");
    if n == 0 {
        scratch.push(b'{');
    } else {
        scratch.extend_from_within(..n);
        scratch.push(b',');
    }
    scratch.extend_from_slice(b"le=\"");
    let (rendered, bucket_prefix) = scratch.split_at(n);
    let mut p = Point {
        out,
        labels: rendered,
        timestamp,
        om,
    };
    for b in buckets {
        let formatted;
        let le: &[u8] = match b.upper_text {
            Some(text) => text.as_bytes(),
            None => {
                formatted = BoundText::new(b.upper);
                formatted.as_bytes()
            }
        };
        let exemplar = b.exemplar.filter(|_| om);
        if exemplar.is_none() && timestamp.is_none() {
            let out = &mut *p.out;
            out.extend_from_slice(bucket_prefix);
            out.extend_from_slice(le);
            out.extend_from_slice(b"\"} ");
            push_u64(out, b.cumulative);
            out.push(b'\n');
            continue;
        }
        p.write(
            name,
            "_bucket",
            Some(("le", le)),
            Value::Count(b.cumulative),
            exemplar,
        );
    }
    p.write(
        name,
        "_bucket",
        Some(("le", b"+Inf")),
        Value::Count(h.count),
        h.inf_exemplar,
    );
    let (count, sum) = if h.gauge {
        ("_gcount", "_gsum")
    } else {
        ("_count", "_sum")
    };
    if let Some(s) = h.sum {
        p.sample(name, sum, s, None);
        p.write(name, count, None, Value::Count(h.count), None);
    }
    if let (true, Some(created)) = (om, h.created) {
        p.sample(name, "_created", created, None);
    }
}

/// A summary point in either text dialect.
#[allow(clippy::too_many_arguments)]
pub(super) fn summary(
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    om: bool,
    name: &str,
    labels: &dyn LabelSet,
    quantiles: impl IntoIterator<Item = (f64, f64)>,
    s: &Summary,
    timestamp: Option<f64>,
) {
    let mut p = Point::new(out, scratch, labels, timestamp, om);
    for (q, v) in quantiles {
        let text = BoundText::new(q);
        p.write(
            name,
            "",
            Some(("quantile", text.as_bytes())),
            Value::Number(v),
            None,
        );
    }
    if let Some(sum) = s.sum {
        p.sample(name, "_sum", sum, None);
    }
    if let Some(count) = s.count {
        p.write(name, "_count", None, Value::Count(count), None);
    }
    if let (true, Some(created)) = (om, s.created) {
        p.sample(name, "_created", created, None);
    }
}
