//! One streaming encoder, three dialects: OpenMetrics 1.0 text, Prometheus text
//! 0.0.4 and the Prometheus protobuf format (length-delimited
//! `io.prometheus.client.MetricFamily` messages).
//!
//! Everything served at scrape time goes through an [`Encoder`]: the HTTP metric
//! set and the other metric types of this crate write their points straight into
//! it (labels are borrowed through [`LabelSet`], numbers are formatted into the
//! output buffer: nothing is allocated per sample), and owned
//! [`MetricFamily`] values go through
//! [`Encoder::write_family`]. No dialect is derived from another's output.
//!
//! Within a family the encoder writes what client_golang writes, in its order: a
//! counter's `_total` then `_created`; a histogram's buckets (increasing, `le` the
//! last label, bounds in float form such as `1.0`, `+Inf` last), then `_sum`,
//! `_count` and `_created`.
//!
//! ```
//! # mod promhttp { pub use promhttp_core::*; }
//! use promhttp::encode::{Bucket, Descriptor, Dialect, Encoder};
//! use promhttp::family::MetricType;
//!
//! let mut out = Encoder::new(Dialect::OpenMetrics);
//! out.family(&Descriptor::new("jobs", MetricType::Counter, "Jobs done."));
//! out.counter(&[("queue", "mail")], 3.0, Some(1_700_000_000.5), None);
//! out.family(&Descriptor::new("wait_seconds", MetricType::Histogram, "Wait.").unit("seconds"));
//! let buckets = [Bucket::new(0.5, 1), Bucket::new(1.0, 2)];
//! out.histogram(&[("queue", "mail")], buckets, 3, Some(2.25), None);
//! assert_eq!(
//!     String::from_utf8(out.finish()).unwrap(),
//!     concat!(
//!         "# HELP jobs Jobs done.\n",
//!         "# TYPE jobs counter\n",
//!         "jobs_total{queue=\"mail\"} 3\n",
//!         "jobs_created{queue=\"mail\"} 1700000000.5\n",
//!         "# HELP wait_seconds Wait.\n",
//!         "# TYPE wait_seconds histogram\n",
//!         "# UNIT wait_seconds seconds\n",
//!         "wait_seconds_bucket{queue=\"mail\",le=\"0.5\"} 1\n",
//!         "wait_seconds_bucket{queue=\"mail\",le=\"1.0\"} 2\n",
//!         "wait_seconds_bucket{queue=\"mail\",le=\"+Inf\"} 3\n",
//!         "wait_seconds_sum{queue=\"mail\"} 2.25\n",
//!         "wait_seconds_count{queue=\"mail\"} 3\n",
//!         "# EOF\n",
//!     )
//! );
//! ```

mod owned;
mod protobuf;
mod text;

use crate::family::{Exemplar, MetricFamily, MetricType};

/// A wire format of the exposition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// OpenMetrics 1.0 text.
    OpenMetrics,
    /// Prometheus text format 0.0.4: no `_created` samples, no exemplars, no
    /// units, timestamps in milliseconds; counters are named with `_total`, info
    /// and state-set families are gauges, gauge histograms and unknown families
    /// are untyped.
    Text,
    /// The Prometheus protobuf format: a varint length before each
    /// `io.prometheus.client.MetricFamily` message. Counters carry their created
    /// time in `created_timestamp`; info and state-set families are gauges.
    Protobuf,
}

/// A set of labels, visited in the order they are written. Implemented for slices
/// and arrays of `(&str, &str)` and `(String, String)` pairs, for `()` (no
/// labels) and for [`Chain`]; implement it for a struct that holds its label
/// values to write them without building a list.
pub trait LabelSet {
    /// Calls `f` with each label's name and value.
    fn visit(&self, f: &mut dyn FnMut(&str, &str));
}

impl LabelSet for () {
    #[inline]
    fn visit(&self, _: &mut dyn FnMut(&str, &str)) {}
}

impl<K: AsRef<str>, V: AsRef<str>> LabelSet for [(K, V)] {
    #[inline]
    fn visit(&self, f: &mut dyn FnMut(&str, &str)) {
        for (k, v) in self {
            f(k.as_ref(), v.as_ref());
        }
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> LabelSet for [(K, V); N] {
    #[inline]
    fn visit(&self, f: &mut dyn FnMut(&str, &str)) {
        self.as_slice().visit(f);
    }
}

impl<K: AsRef<str>, V: AsRef<str>> LabelSet for Vec<(K, V)> {
    #[inline]
    fn visit(&self, f: &mut dyn FnMut(&str, &str)) {
        self.as_slice().visit(f);
    }
}

impl<T: LabelSet + ?Sized> LabelSet for &T {
    #[inline]
    fn visit(&self, f: &mut dyn FnMut(&str, &str)) {
        (**self).visit(f);
    }
}

/// Two label sets, one after the other.
#[derive(Debug, Clone, Copy)]
pub struct Chain<A, B>(pub A, pub B);

impl<A: LabelSet, B: LabelSet> LabelSet for Chain<A, B> {
    #[inline]
    fn visit(&self, f: &mut dyn FnMut(&str, &str)) {
        self.0.visit(f);
        self.1.visit(f);
    }
}

/// What a family is, written once before its points.
#[derive(Debug, Clone, Copy)]
pub struct Descriptor<'a> {
    name: &'a str,
    metric_type: MetricType,
    help: &'a str,
    unit: Option<&'a str>,
    without_total: bool,
}

impl<'a> Descriptor<'a> {
    /// A family `name` (for a counter, without `_total`) of `metric_type`. The
    /// caller vouches for the name: the registry checks names when they are
    /// registered.
    #[must_use]
    pub const fn new(name: &'a str, metric_type: MetricType, help: &'a str) -> Self {
        Self {
            name,
            metric_type,
            help,
            unit: None,
            without_total: false,
        }
    }

    /// For a counter that text 0.0.4 names without `_total`
    /// ([`MetricFamily::counter_without_total`](crate::family::MetricFamily::counter_without_total)):
    /// text and protobuf write the name as given, OpenMetrics with `_total`
    /// still. No effect on other types.
    #[must_use]
    pub const fn without_total(mut self) -> Self {
        self.without_total = true;
        self
    }

    /// The family's unit (the last part of its name).
    #[must_use]
    pub const fn unit(mut self, unit: &'a str) -> Self {
        self.unit = Some(unit);
        self
    }

    /// The family name.
    #[must_use]
    pub const fn name(&self) -> &'a str {
        self.name
    }

    /// The family's type.
    #[must_use]
    pub const fn metric_type(&self) -> MetricType {
        self.metric_type
    }

    /// The help text.
    #[must_use]
    pub const fn help(&self) -> &'a str {
        self.help
    }
}

/// One bucket of a histogram point.
#[derive(Debug, Clone, Copy)]
pub struct Bucket<'a> {
    upper: f64,
    upper_text: Option<&'a str>,
    cumulative: u64,
    exemplar: Option<&'a Exemplar>,
}

impl<'a> Bucket<'a> {
    /// A bucket with this (inclusive, finite) upper bound and the cumulative
    /// count of observations up to it.
    #[must_use]
    pub const fn new(upper: f64, cumulative: u64) -> Self {
        Self {
            upper,
            upper_text: None,
            cumulative,
            exemplar: None,
        }
    }

    /// The bound as the `le` label writes it, formatted once by the caller
    /// (see [`crate::family::format_bound`]) instead of on every scrape.
    #[must_use]
    pub const fn with_text(mut self, text: &'a str) -> Self {
        self.upper_text = Some(text);
        self
    }

    /// An exemplar of an observation in this bucket (OpenMetrics and protobuf
    /// only).
    #[must_use]
    pub const fn with_exemplar(mut self, exemplar: &'a Exemplar) -> Self {
        self.exemplar = Some(exemplar);
        self
    }
}

/// The family being written.
#[derive(Debug, Clone)]
struct Open {
    metric_type: MetricType,
    /// The name as the family is written: for text 0.0.4 a counter's name with
    /// `_total`, an info family's with `_info`.
    written: String,
    /// The family name (OpenMetrics' sample names are built on it).
    name: String,
}

/// Writes families in one [`Dialect`] into a buffer; see the [module docs](self).
///
/// Call [`family`](Encoder::family) and then the method of the family's type for
/// each of its points ([`counter`](Encoder::counter), [`gauge`](Encoder::gauge),
/// [`histogram`](Encoder::histogram), ...), or [`write_family`](Encoder::write_family)
/// for an owned family; [`finish`](Encoder::finish) ends the exposition. A point of
/// another type than its family's is not written (a programming error in the
/// caller, which the encoder does not turn into invalid output).
#[derive(Debug)]
pub struct Encoder {
    dialect: Dialect,
    out: Vec<u8>,
    open: Option<Open>,
    /// Where the open family starts in `out` (text dialects).
    family_start: usize,
    /// A point's labels, rendered once for its samples (text dialects).
    scratch: Vec<u8>,
    proto: protobuf::Buffers,
}

impl Encoder {
    /// An empty exposition in `dialect`.
    #[must_use]
    pub fn new(dialect: Dialect) -> Self {
        Self::with_buffer(dialect, Vec::with_capacity(4096))
    }

    /// An empty exposition written into `buffer` (cleared first), so that a
    /// scrape can reuse the allocation of the one before.
    #[must_use]
    pub fn with_buffer(dialect: Dialect, mut buffer: Vec<u8>) -> Self {
        buffer.clear();
        Self {
            dialect,
            out: buffer,
            open: None,
            family_start: 0,
            scratch: Vec::new(),
            proto: protobuf::Buffers::default(),
        }
    }

    /// Like [`Encoder::with_buffer`], with the working buffers a finished encoder
    /// gave back ([`Encoder::finish_keeping`]).
    pub(crate) fn with_spare(dialect: Dialect, buffer: Vec<u8>, spare: Spare) -> Self {
        let mut encoder = Self::with_buffer(dialect, buffer);
        encoder.scratch = spare.scratch;
        encoder.proto = spare.proto;
        encoder
    }

    /// Ends the exposition and returns it with the working buffers, for the next
    /// encoder to reuse.
    pub(crate) fn finish_keeping(mut self) -> (Vec<u8>, Spare) {
        self.end();
        let spare = Spare {
            scratch: std::mem::take(&mut self.scratch),
            proto: std::mem::take(&mut self.proto),
        };
        (self.out, spare)
    }

    /// The dialect being written.
    #[must_use]
    pub const fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// How many bytes have been written so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.out.len() + self.proto.pending()
    }

    /// Whether nothing has been written yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Starts a family; the one before ends here.
    pub fn family(&mut self, descriptor: &Descriptor<'_>) {
        self.end_family();
        self.family_start = self.out.len();
        let d = descriptor;
        let written = match (self.dialect, d.metric_type) {
            (Dialect::Text | Dialect::Protobuf, MetricType::Counter) if !d.without_total => {
                format!("{}_total", d.name)
            }
            (Dialect::Text | Dialect::Protobuf, MetricType::Info) => format!("{}_info", d.name),
            _ => d.name.to_owned(),
        };
        match self.dialect {
            Dialect::OpenMetrics => text::om_header(&mut self.out, d),
            Dialect::Text => text::text_header(&mut self.out, d, &written),
            Dialect::Protobuf => self.proto.header(&mut self.out, d, &written),
        }
        self.open = Some(Open {
            metric_type: d.metric_type,
            written,
            name: d.name.to_owned(),
        });
    }

    /// A counter point: its total, the time it started counting (seconds since the
    /// Unix epoch) and an exemplar.
    pub fn counter(
        &mut self,
        labels: &dyn LabelSet,
        total: f64,
        created: Option<f64>,
        exemplar: Option<&Exemplar>,
    ) {
        self.counter_at(labels, total, created, exemplar, None);
    }

    fn counter_at(
        &mut self,
        labels: &dyn LabelSet,
        total: f64,
        created: Option<f64>,
        exemplar: Option<&Exemplar>,
        timestamp: Option<f64>,
    ) {
        let Some(open) = open_of(&self.open, MetricType::Counter) else {
            return;
        };
        let exemplar = usable(exemplar, None);
        match self.dialect {
            Dialect::OpenMetrics => {
                let name = &open.name;
                let mut p =
                    text::Point::new(&mut self.out, &mut self.scratch, labels, timestamp, true);
                p.sample(name, "_total", total, exemplar);
                if let Some(created) = created {
                    p.sample(name, "_created", created, None);
                }
            }
            Dialect::Text => {
                text::Point::new(&mut self.out, &mut self.scratch, labels, timestamp, false)
                    .sample(&open.written, "", total, None);
            }
            Dialect::Protobuf => self
                .proto
                .counter(labels, total, created, exemplar, timestamp),
        }
    }

    /// A gauge point.
    pub fn gauge(&mut self, labels: &dyn LabelSet, value: f64) {
        self.single_at(MetricType::Gauge, labels, value, None);
    }

    /// A point of a family of unknown type.
    pub fn unknown(&mut self, labels: &dyn LabelSet, value: f64) {
        self.single_at(MetricType::Unknown, labels, value, None);
    }

    /// An info point: `labels` are the information, the value is 1.
    pub fn info(&mut self, labels: &dyn LabelSet) {
        self.single_at(MetricType::Info, labels, 1.0, None);
    }

    fn single_at(
        &mut self,
        metric_type: MetricType,
        labels: &dyn LabelSet,
        value: f64,
        timestamp: Option<f64>,
    ) {
        let Some(open) = open_of(&self.open, metric_type) else {
            return;
        };
        let suffix = if metric_type == MetricType::Info && self.dialect == Dialect::OpenMetrics {
            "_info"
        } else {
            ""
        };
        match self.dialect {
            Dialect::OpenMetrics => {
                text::Point::new(&mut self.out, &mut self.scratch, labels, timestamp, true)
                    .sample(&open.name, suffix, value, None);
            }
            Dialect::Text => {
                text::Point::new(&mut self.out, &mut self.scratch, labels, timestamp, false).sample(
                    &open.written,
                    "",
                    value,
                    None,
                )
            }
            Dialect::Protobuf => self.proto.single(metric_type, labels, value, timestamp),
        }
    }

    /// A state-set point: one series per state, labelled with the family's name,
    /// 1 for the states in force and 0 for the others.
    pub fn stateset<'s>(
        &mut self,
        labels: &dyn LabelSet,
        states: impl IntoIterator<Item = (&'s str, bool)>,
    ) {
        self.stateset_at(labels, states, None);
    }

    fn stateset_at<'s>(
        &mut self,
        labels: &dyn LabelSet,
        states: impl IntoIterator<Item = (&'s str, bool)>,
        timestamp: Option<f64>,
    ) {
        let Some(open) = open_of(&self.open, MetricType::StateSet) else {
            return;
        };
        let name = open.name.as_str();
        for (state, on) in states {
            let state_label = [(name, state)];
            let all = Chain(labels, &state_label);
            let value = if on { 1.0 } else { 0.0 };
            match self.dialect {
                Dialect::OpenMetrics => {
                    text::Point::new(&mut self.out, &mut self.scratch, &all, timestamp, true)
                        .sample(name, "", value, None);
                }
                Dialect::Text => {
                    text::Point::new(&mut self.out, &mut self.scratch, &all, timestamp, false)
                        .sample(name, "", value, None);
                }
                Dialect::Protobuf => self.proto.single(MetricType::Gauge, &all, value, timestamp),
            }
        }
    }

    /// A histogram point: `buckets` in increasing order without `+Inf` (which is
    /// `count`), the sum of the observations (none when some were negative), and
    /// the time it started counting.
    pub fn histogram<'b>(
        &mut self,
        labels: &dyn LabelSet,
        buckets: impl IntoIterator<Item = Bucket<'b>>,
        count: u64,
        sum: Option<f64>,
        created: Option<f64>,
    ) {
        let extras = HistogramExtras {
            created,
            ..HistogramExtras::default()
        };
        self.histogram_with(labels, buckets, count, sum, &extras);
    }

    /// A histogram point as [`histogram`](Encoder::histogram) writes it, with
    /// what [`HistogramExtras`] adds: its start time, an exemplar on the `+Inf`
    /// bucket (the finite buckets carry theirs with [`Bucket::with_exemplar`]),
    /// native buckets. OpenMetrics and protobuf write exemplars, text 0.0.4
    /// leaves them out; only protobuf writes native buckets.
    pub fn histogram_with<'b>(
        &mut self,
        labels: &dyn LabelSet,
        buckets: impl IntoIterator<Item = Bucket<'b>>,
        count: u64,
        sum: Option<f64>,
        extras: &HistogramExtras<'_>,
    ) {
        let histogram = Histogram {
            gauge: false,
            count,
            sum,
            created: extras.created,
            inf_exemplar: extras.inf_exemplar,
            native: extras.native,
        };
        self.histogram_at(labels, buckets, &histogram, None);
    }

    /// A gauge-histogram point: as [`histogram`](Encoder::histogram), with `gcount`
    /// and `gsum` for the current count and sum.
    pub fn gauge_histogram<'b>(
        &mut self,
        labels: &dyn LabelSet,
        buckets: impl IntoIterator<Item = Bucket<'b>>,
        gcount: u64,
        gsum: Option<f64>,
    ) {
        let histogram = Histogram {
            gauge: true,
            count: gcount,
            sum: gsum,
            created: None,
            inf_exemplar: None,
            native: None,
        };
        self.histogram_at(labels, buckets, &histogram, None);
    }

    fn histogram_at<'b>(
        &mut self,
        labels: &dyn LabelSet,
        buckets: impl IntoIterator<Item = Bucket<'b>>,
        h: &Histogram<'_>,
        timestamp: Option<f64>,
    ) {
        let metric_type = if h.gauge {
            MetricType::GaugeHistogram
        } else {
            MetricType::Histogram
        };
        let Some(open) = open_of(&self.open, metric_type) else {
            return;
        };
        let buckets = buckets.into_iter().map(|mut b| {
            b.exemplar = usable(b.exemplar, Some(b.upper));
            b
        });
        let h = &Histogram {
            inf_exemplar: usable(h.inf_exemplar, Some(f64::INFINITY)),
            ..*h
        };
        match self.dialect {
            Dialect::OpenMetrics | Dialect::Text => {
                let om = self.dialect == Dialect::OpenMetrics;
                let (name, out) = (&open.name, &mut self.out);
                let scratch = &mut self.scratch;
                text::histogram(out, scratch, om, name, labels, buckets, h, timestamp);
            }
            Dialect::Protobuf => self.proto.histogram(labels, buckets, h, timestamp),
        }
    }

    /// A summary point: `quantiles` as (quantile, value) pairs, the count and sum
    /// of the observations (each may be left out), and the time it started
    /// counting.
    pub fn summary(
        &mut self,
        labels: &dyn LabelSet,
        quantiles: impl IntoIterator<Item = (f64, f64)>,
        count: Option<u64>,
        sum: Option<f64>,
        created: Option<f64>,
    ) {
        let s = Summary {
            count,
            sum,
            created,
        };
        self.summary_at(labels, quantiles, &s, None);
    }

    fn summary_at(
        &mut self,
        labels: &dyn LabelSet,
        quantiles: impl IntoIterator<Item = (f64, f64)>,
        s: &Summary,
        timestamp: Option<f64>,
    ) {
        let Some(open) = open_of(&self.open, MetricType::Summary) else {
            return;
        };
        match self.dialect {
            Dialect::OpenMetrics | Dialect::Text => {
                let om = self.dialect == Dialect::OpenMetrics;
                let (name, out) = (&open.name, &mut self.out);
                let scratch = &mut self.scratch;
                text::summary(out, scratch, om, name, labels, quantiles, s, timestamp);
            }
            Dialect::Protobuf => self.proto.summary(labels, quantiles, s, timestamp),
        }
    }

    /// Drops the family being written, as if it had not been started: for a
    /// family written in pieces ([`Encoder::write_more`]) of which a later piece
    /// turns out unusable. Nothing happens when no family is open.
    pub fn discard_family(&mut self) {
        if self.open.take().is_none() {
            return;
        }
        match self.dialect {
            Dialect::Protobuf => self.proto.discard(&mut self.out),
            Dialect::OpenMetrics | Dialect::Text => self.out.truncate(self.family_start),
        }
    }

    fn end_family(&mut self) {
        if self.open.take().is_some() && self.dialect == Dialect::Protobuf {
            self.proto.flush(&mut self.out);
        }
    }

    /// Ends the exposition (OpenMetrics' `# EOF`) and returns it.
    #[must_use]
    pub fn finish(mut self) -> Vec<u8> {
        self.end();
        self.out
    }

    fn end(&mut self) {
        self.end_family();
        if self.dialect == Dialect::OpenMetrics {
            self.out.extend_from_slice(b"# EOF\n");
        }
    }
}

/// `exemplar` if OpenMetrics allows it: at most 128 characters of labels and, on
/// a bucket bounded by `upper`, a value no greater than the bound. An exemplar
/// that breaks these rules is left out rather than written invalid.
fn usable(exemplar: Option<&Exemplar>, upper: Option<f64>) -> Option<&Exemplar> {
    exemplar.filter(|e| {
        upper.is_none_or(|upper| e.value <= upper) && e.label_chars() <= Exemplar::MAX_LABEL_CHARS
    })
}

/// A summary point's scalars.
#[derive(Debug, Clone, Copy)]
struct Summary {
    count: Option<u64>,
    sum: Option<f64>,
    created: Option<f64>,
}

/// The open family, if it is of `metric_type`.
fn open_of(open: &Option<Open>, metric_type: MetricType) -> Option<&Open> {
    open.as_ref().filter(|o| o.metric_type == metric_type)
}

/// An encoder's working buffers, kept between scrapes.
#[derive(Debug, Default)]
pub(crate) struct Spare {
    scratch: Vec<u8>,
    proto: protobuf::Buffers,
}

/// A histogram point's scalars, as the writers take them.
#[derive(Debug, Clone, Copy)]
struct Histogram<'a> {
    gauge: bool,
    count: u64,
    sum: Option<f64>,
    created: Option<f64>,
    /// An exemplar of the `+Inf` bucket.
    inf_exemplar: Option<&'a Exemplar>,
    /// Native buckets (protobuf only).
    native: Option<NativeBuckets<'a>>,
}

/// What a histogram point may have besides its classic buckets, count and sum;
/// see [`Encoder::histogram_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct HistogramExtras<'a> {
    /// When the histogram started counting, in seconds since the Unix epoch.
    pub created: Option<f64>,
    /// An exemplar of the `+Inf` bucket.
    pub inf_exemplar: Option<&'a Exemplar>,
    /// Native buckets, written in protobuf only.
    pub native: Option<NativeBuckets<'a>>,
}

/// The native (sparse, exponential) buckets of a histogram point: bucket `i`
/// holds the observations in `(b^(i-1), b^i]` with `b = 2^(2^-schema)`, and the
/// zero bucket those at or below `zero_threshold`. Written in protobuf only.
#[derive(Debug, Clone, Copy)]
pub struct NativeBuckets<'a> {
    /// The schema, from -4 to 8.
    pub schema: i32,
    /// The width of the zero bucket.
    pub zero_threshold: f64,
    /// The observations in the zero bucket.
    pub zero_count: u64,
    /// The populated positive buckets as (index, count), in increasing index.
    pub positive: &'a [(i32, u64)],
}

pub(crate) use crate::family::push_number;

/// Appends an integer.
#[inline]
pub(crate) fn push_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// `families` as a complete OpenMetrics exposition, ending in `# EOF`, written by
/// the [encoder](crate::encode) as a scrape writes them.
///
/// The families are written as given: call [`MetricFamily::validate`] first for
/// families from an untrusted source.
#[must_use]
pub fn encode_families(families: &[MetricFamily]) -> String {
    let mut encoder = Encoder::new(Dialect::OpenMetrics);
    for family in families {
        encoder.write_family(family);
    }
    String::from_utf8(encoder.finish()).unwrap_or_default()
}

#[cfg(test)]
mod tests;
