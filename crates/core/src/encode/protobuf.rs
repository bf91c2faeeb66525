//! The Prometheus protobuf dialect, written by hand: the messages of
//! `io/prometheus/client/metrics.proto` (client_model) need only varints, 64-bit
//! doubles and length-delimited fields, and writing them directly keeps the
//! encoder free of per-sample allocation and the build free of `protoc`.
//!
//! A nested message's length is only known once it is written, so each nesting
//! level is written into its own buffer and copied, prefixed with its length,
//! into its parent when it ends. The buffers are kept between families. The
//! family itself, the one message whose size grows with the number of series, is
//! written straight into the output after room for its length, which is filled
//! in (and the room closed up) when the family ends.

use super::{Bucket, Descriptor, Histogram, LabelSet, NativeBuckets, Summary};
use crate::family::{Exemplar, MetricType};

/// Wire types.
const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;

/// `MetricFamily` fields.
mod family {
    pub(super) const NAME: u32 = 1;
    pub(super) const HELP: u32 = 2;
    pub(super) const TYPE: u32 = 3;
    pub(super) const METRIC: u32 = 4;
    pub(super) const UNIT: u32 = 5;
}

/// `Metric` fields.
mod metric {
    pub(super) const LABEL: u32 = 1;
    pub(super) const GAUGE: u32 = 2;
    pub(super) const COUNTER: u32 = 3;
    pub(super) const SUMMARY: u32 = 4;
    pub(super) const UNTYPED: u32 = 5;
    pub(super) const TIMESTAMP_MS: u32 = 6;
    pub(super) const HISTOGRAM: u32 = 7;
}

/// The `MetricType` enum.
const fn type_number(t: MetricType) -> u64 {
    match t {
        MetricType::Counter => 0,
        MetricType::Gauge | MetricType::Info | MetricType::StateSet => 1,
        MetricType::Summary => 2,
        MetricType::Unknown => 3,
        MetricType::Histogram => 4,
        MetricType::GaugeHistogram => 5,
    }
}

/// The room left for a family's length: five varint bytes, up to 32 GiB.
const LENGTH_ROOM: usize = 5;

/// The nesting levels being written: level 0 is the family message, which is the
/// output itself while a family is open.
#[derive(Debug, Default)]
pub(super) struct Buffers {
    levels: Vec<Vec<u8>>,
    depth: usize,
    /// Where the open family starts in the output (its length's room).
    family_start: usize,
}

impl Buffers {
    fn cur(&mut self) -> &mut Vec<u8> {
        if self.levels.len() <= self.depth {
            self.levels.resize_with(self.depth + 1, Vec::new);
        }
        &mut self.levels[self.depth]
    }

    /// Bytes of the output held here while a family is open, as they will be
    /// once it ends: the room kept for the family's length counts as the bytes
    /// that length will take.
    pub(super) fn pending(&self) -> usize {
        let held = self.levels.first().map_or(0, Vec::len);
        let Some(body) = held.checked_sub(self.family_start + LENGTH_ROOM) else {
            return held;
        };
        let mut bytes = [0u8; 10];
        held - LENGTH_ROOM + varint_bytes(&mut bytes, body as u64).min(LENGTH_ROOM)
    }

    /// Starts a nested message.
    fn begin(&mut self) {
        self.depth += 1;
        self.cur().clear();
    }

    /// Ends the nested message as field `field` of its parent.
    fn end(&mut self, field: u32) {
        let depth = self.depth;
        self.depth -= 1;
        let (parents, children) = self.levels.split_at_mut(depth);
        let (parent, child) = (&mut parents[depth - 1], &children[0]);
        tag(parent, field, LEN);
        varint(parent, child.len() as u64);
        parent.extend_from_slice(child);
    }

    /// Opens a family in `output` (held here until [`Buffers::flush`]): its name,
    /// help, type and unit.
    pub(super) fn header(&mut self, output: &mut Vec<u8>, d: &Descriptor<'_>, written: &str) {
        self.depth = 0;
        self.family_start = output.len();
        let out = self.cur();
        std::mem::swap(out, output);
        out.extend_from_slice(&[0; LENGTH_ROOM]);
        string(out, family::NAME, written);
        if !d.help.is_empty() {
            string(out, family::HELP, d.help);
        }
        tag(out, family::TYPE, VARINT);
        varint(out, type_number(d.metric_type));
        if let Some(unit) = d.unit.filter(|u| !u.is_empty()) {
            string(out, family::UNIT, unit);
        }
    }

    /// Ends the family: writes its length into the room before it, closes up the
    /// room left over, and gives the output back.
    pub(super) fn flush(&mut self, output: &mut Vec<u8>) {
        self.depth = 0;
        let start = self.family_start;
        let out = self.cur();
        let body = start + LENGTH_ROOM;
        let mut bytes = [0u8; 10];
        let n = varint_bytes(&mut bytes, (out.len() - body) as u64).min(LENGTH_ROOM);
        out[start..start + n].copy_from_slice(&bytes[..n]);
        out.copy_within(body.., start + n);
        out.truncate(out.len() - (LENGTH_ROOM - n));
        std::mem::swap(out, output);
    }

    /// Drops the open family and gives the output back as it was before it.
    pub(super) fn discard(&mut self, output: &mut Vec<u8>) {
        self.depth = 0;
        let start = self.family_start;
        let out = self.cur();
        out.truncate(start);
        std::mem::swap(out, output);
    }

    /// Starts a `Metric` with its labels.
    fn begin_metric(&mut self, labels: &dyn LabelSet) {
        self.begin();
        self.labels(metric::LABEL, labels);
    }

    /// Ends a `Metric`: its timestamp, then the message into the family.
    fn end_metric(&mut self, timestamp: Option<f64>) {
        if let Some(ts) = timestamp {
            let out = self.cur();
            tag(out, metric::TIMESTAMP_MS, VARINT);
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            varint(out, (ts * 1000.0).round() as i64 as u64);
        }
        self.end(family::METRIC);
    }

    /// `LabelPair` messages, as field `field`, each written in place: its size
    /// is known before it is written.
    fn labels(&mut self, field: u32, labels: &dyn LabelSet) {
        let out = self.cur();
        labels.visit(&mut |k, v| {
            let size = string_size(1, k) + string_size(2, v);
            tag(out, field, LEN);
            varint(out, size as u64);
            string(out, 1, k);
            string(out, 2, v);
        });
    }

    fn exemplar(&mut self, field: u32, ex: &Exemplar) {
        self.begin();
        self.labels(1, &ex.labels);
        double(self.cur(), 2, ex.value);
        if let Some(ts) = ex.timestamp {
            self.timestamp(3, ts);
        }
        self.end(field);
    }

    /// A `google.protobuf.Timestamp` from seconds since the Unix epoch.
    fn timestamp(&mut self, field: u32, seconds: f64) {
        let whole = seconds.floor();
        #[allow(clippy::cast_possible_truncation)]
        let (secs, mut nanos) = (whole as i64, ((seconds - whole) * 1e9).round() as i64);
        let secs = if nanos >= 1_000_000_000 {
            nanos -= 1_000_000_000;
            secs + 1
        } else {
            secs
        };
        self.begin();
        let out = self.cur();
        if secs != 0 {
            tag(out, 1, VARINT);
            #[allow(clippy::cast_sign_loss)]
            varint(out, secs as u64);
        }
        if nanos != 0 {
            tag(out, 2, VARINT);
            #[allow(clippy::cast_sign_loss)]
            varint(out, nanos as u64);
        }
        self.end(field);
    }

    pub(super) fn counter(
        &mut self,
        labels: &dyn LabelSet,
        total: f64,
        created: Option<f64>,
        exemplar: Option<&Exemplar>,
        timestamp: Option<f64>,
    ) {
        self.begin_metric(labels);
        self.begin();
        double(self.cur(), 1, total);
        if let Some(ex) = exemplar {
            self.exemplar(2, ex);
        }
        if let Some(created) = created {
            self.timestamp(3, created);
        }
        self.end(metric::COUNTER);
        self.end_metric(timestamp);
    }

    /// A gauge, untyped, info or state-set point.
    pub(super) fn single(
        &mut self,
        t: MetricType,
        labels: &dyn LabelSet,
        value: f64,
        timestamp: Option<f64>,
    ) {
        self.begin_metric(labels);
        self.begin();
        double(self.cur(), 1, value);
        self.end(if t == MetricType::Unknown {
            metric::UNTYPED
        } else {
            metric::GAUGE
        });
        self.end_metric(timestamp);
    }

    pub(super) fn histogram<'b>(
        &mut self,
        labels: &dyn LabelSet,
        buckets: impl IntoIterator<Item = Bucket<'b>>,
        h: &Histogram<'_>,
        timestamp: Option<f64>,
    ) {
        self.begin_metric(labels);
        self.begin();
        let out = self.cur();
        tag(out, 1, VARINT);
        varint(out, h.count);
        if let Some(sum) = h.sum {
            double(out, 2, sum);
        }
        for b in buckets {
            if let Some(ex) = b.exemplar {
                self.begin();
                let out = self.cur();
                tag(out, 1, VARINT);
                varint(out, b.cumulative);
                double(out, 2, b.upper);
                self.exemplar(3, ex);
                self.end(3);
            } else {
                // Without an exemplar a bucket's size is known: written in place.
                let out = self.cur();
                tag(out, 3, LEN);
                varint(out, (1 + varint_size(b.cumulative) + 9) as u64);
                tag(out, 1, VARINT);
                varint(out, b.cumulative);
                double(out, 2, b.upper);
            }
        }
        if let Some(ex) = h.inf_exemplar {
            // The `+Inf` bucket is implied by the count, and written only to carry
            // its exemplar.
            self.begin();
            let out = self.cur();
            tag(out, 1, VARINT);
            varint(out, h.count);
            double(out, 2, f64::INFINITY);
            self.exemplar(3, ex);
            self.end(3);
        }
        if let Some(native) = &h.native {
            self.native(native);
        }
        if let Some(created) = h.created {
            self.timestamp(15, created);
        }
        self.end(metric::HISTOGRAM);
        self.end_metric(timestamp);
    }

    /// A native histogram's fields: schema, zero bucket, then the positive
    /// buckets as spans of consecutive indexes and the deltas of their counts.
    fn native(&mut self, n: &NativeBuckets<'_>) {
        let out = self.cur();
        tag(out, 5, VARINT);
        varint(out, zigzag(i64::from(n.schema)));
        double(out, 6, n.zero_threshold);
        tag(out, 7, VARINT);
        varint(out, n.zero_count);
        // Spans: the first starts at its index, each next one after the gap
        // since the previous span's end.
        let mut spans: Vec<(i32, u32)> = Vec::new();
        let mut next: Option<i32> = None;
        for &(index, _) in n.positive {
            match (next, spans.last_mut()) {
                (Some(expected), Some((_, len))) if index == expected => *len += 1,
                (Some(expected), _) => spans.push((index - expected, 1)),
                (None, _) => spans.push((index, 1)),
            }
            next = Some(index + 1);
        }
        if spans.is_empty() {
            // A native histogram with no bucket yet says so with an empty span,
            // or it would read as a classic one.
            spans.push((0, 0));
        }
        for (offset, length) in spans {
            let size =
                1 + varint_size(zigzag(i64::from(offset))) + 1 + varint_size(u64::from(length));
            tag(out, 12, LEN);
            varint(out, size as u64);
            tag(out, 1, VARINT);
            varint(out, zigzag(i64::from(offset)));
            tag(out, 2, VARINT);
            varint(out, u64::from(length));
        }
        let mut previous = 0i64;
        for &(_, count) in n.positive {
            let count = i64::try_from(count).unwrap_or(i64::MAX);
            tag(out, 13, VARINT);
            varint(out, zigzag(count - previous));
            previous = count;
        }
    }

    pub(super) fn summary(
        &mut self,
        labels: &dyn LabelSet,
        quantiles: impl IntoIterator<Item = (f64, f64)>,
        s: &Summary,
        timestamp: Option<f64>,
    ) {
        self.begin_metric(labels);
        self.begin();
        let out = self.cur();
        if let Some(count) = s.count {
            tag(out, 1, VARINT);
            varint(out, count);
        }
        if let Some(sum) = s.sum {
            double(out, 2, sum);
        }
        let out = self.cur();
        for (q, v) in quantiles {
            tag(out, 3, LEN);
            varint(out, 18);
            double(out, 1, q);
            double(out, 2, v);
        }
        if let Some(created) = s.created {
            self.timestamp(4, created);
        }
        self.end(metric::SUMMARY);
        self.end_metric(timestamp);
    }
}

/// A signed integer as protobuf's `sint32`/`sint64` encode it.
fn zigzag(n: i64) -> u64 {
    #[allow(clippy::cast_sign_loss)]
    let z = ((n << 1) ^ (n >> 63)) as u64;
    z
}

fn tag(out: &mut Vec<u8>, field: u32, wire: u32) {
    varint(out, u64::from((field << 3) | wire));
}

fn varint(out: &mut Vec<u8>, v: u64) {
    let mut bytes = [0u8; 10];
    let n = varint_bytes(&mut bytes, v);
    out.extend_from_slice(&bytes[..n]);
}

/// Writes `v` as a varint into `bytes`; how many bytes it took.
fn varint_bytes(bytes: &mut [u8; 10], mut v: u64) -> usize {
    let mut n = 0;
    while v >= 0x80 {
        #[allow(clippy::cast_possible_truncation)]
        {
            bytes[n] = (v as u8) | 0x80;
        }
        v >>= 7;
        n += 1;
    }
    #[allow(clippy::cast_possible_truncation)]
    {
        bytes[n] = v as u8;
    }
    n + 1
}

/// The size of a varint.
const fn varint_size(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// The size of a string field (tags below 16 take one byte).
const fn string_size(field: u32, s: &str) -> usize {
    let _ = field;
    1 + varint_size(s.len() as u64) + s.len()
}

fn string(out: &mut Vec<u8>, field: u32, s: &str) {
    tag(out, field, LEN);
    varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn double(out: &mut Vec<u8>, field: u32, v: f64) {
    tag(out, field, FIXED64);
    out.extend_from_slice(&v.to_le_bytes());
}
