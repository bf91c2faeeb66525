//! Metric families as plain values: what a scrape-time collector returns, what the
//! exposition parser reads, and what [`encode_families`](crate::encode::encode_families) writes.
//!
//! A [`MetricFamily`] holds its [`Sample`]s the way the exposition does: a counter
//! `jobs` has samples named `jobs_total` and `jobs_created`, a histogram has
//! `_bucket`, `_sum`, `_count` and `_created` samples. The constructors
//! ([`MetricFamily::add_counter`], [`MetricFamily::add_histogram`], ...) write the
//! right sample names; [`MetricFamily::validate`] checks a family built by hand.
//!
//! ```
//! # mod promhttp { pub use promhttp_core::*; }
//! use promhttp::encode::encode_families;
//! use promhttp::family::MetricFamily;
//!
//! let mut pods = MetricFamily::gauge("pod_energy_joules", "Energy used by the pod.");
//! pods.add_gauge([("pod", "web-1")], 12.5);
//! pods.add_gauge([("pod", "web-2")], 3.0);
//! pods.validate()?;
//!
//! assert_eq!(
//!     encode_families(&[pods]),
//!     concat!(
//!         "# HELP pod_energy_joules Energy used by the pod.\n",
//!         "# TYPE pod_energy_joules gauge\n",
//!         "pod_energy_joules{pod=\"web-1\"} 12.5\n",
//!         "pod_energy_joules{pod=\"web-2\"} 3\n",
//!         "# EOF\n",
//!     ),
//! );
//! # Ok::<(), promhttp::family::FamilyError>(())
//! ```

use std::fmt;

/// The type of a metric family, as OpenMetrics 1.0 names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetricType {
    /// A monotonic count: samples `_total`, optionally `_created`.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Cumulative buckets: samples `_bucket`, `_count`, `_sum`, optionally `_created`.
    Histogram,
    /// A histogram of values that go up and down: `_bucket`, `_gcount`, `_gsum`.
    GaugeHistogram,
    /// Quantiles: the family name with a `quantile` label, `_count`, `_sum`, `_created`.
    Summary,
    /// Constant key/value data: one sample `_info` with value 1.
    Info,
    /// A set of states, one 0/1 sample each, labelled by the family name.
    StateSet,
    /// No type given.
    Unknown,
}

impl MetricType {
    /// The name written after `# TYPE`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
            Self::GaugeHistogram => "gaugehistogram",
            Self::Summary => "summary",
            Self::Info => "info",
            Self::StateSet => "stateset",
            Self::Unknown => "unknown",
        }
    }

    /// The type named `name` after `# TYPE` in OpenMetrics.
    #[must_use]
    pub fn from_openmetrics(name: &str) -> Option<Self> {
        Some(match name {
            "counter" => Self::Counter,
            "gauge" => Self::Gauge,
            "histogram" => Self::Histogram,
            "gaugehistogram" => Self::GaugeHistogram,
            "summary" => Self::Summary,
            "info" => Self::Info,
            "stateset" => Self::StateSet,
            "unknown" => Self::Unknown,
            _ => return None,
        })
    }

    /// The suffixes a sample name may add to the family name (`""` is the name itself).
    #[must_use]
    pub const fn sample_suffixes(self) -> &'static [&'static str] {
        match self {
            Self::Counter => &["_total", "_created"],
            Self::Histogram => &["_bucket", "_count", "_sum", "_created"],
            Self::GaugeHistogram => &["_bucket", "_gcount", "_gsum"],
            Self::Summary => &["", "_count", "_sum", "_created"],
            Self::Info => &["_info"],
            Self::Gauge | Self::StateSet | Self::Unknown => &[""],
        }
    }

    /// The family name and every sample name a family `name` of this type may write.
    #[must_use]
    pub fn sample_names(self, name: &str) -> Vec<String> {
        let mut out = vec![name.to_owned()];
        out.extend(
            self.sample_suffixes()
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| format!("{name}{s}")),
        );
        out
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Label pairs, in the order they are written.
pub type Labels = Vec<(String, String)>;

/// No labels, for an unlabelled sample: `family.add_gauge(NO_LABELS, 3.0)`
/// (an empty array literal would leave the label types to spell out).
pub const NO_LABELS: [(&str, &str); 0] = [];

fn labels<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Labels {
    pairs
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
}

/// An exemplar attached to a sample: a trace (say) that this observation came from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Exemplar {
    /// The exemplar's labels (at most 128 characters of names and values together).
    pub labels: Labels,
    /// The observed value.
    pub value: f64,
    /// When it was observed, in seconds since the Unix epoch.
    pub timestamp: Option<f64>,
}

impl Exemplar {
    /// The most characters (Unicode code points) an exemplar's label names and
    /// values may have together, in OpenMetrics 1.0.
    pub const MAX_LABEL_CHARS: usize = 128;

    /// How many characters its label names and values have together: what
    /// [`Exemplar::MAX_LABEL_CHARS`] limits.
    #[must_use]
    pub fn label_chars(&self) -> usize {
        self.labels
            .iter()
            .map(|(k, v)| k.chars().count() + v.chars().count())
            .sum()
    }
}

/// One line of the exposition: a sample name, its labels and its value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sample {
    /// The sample name: the family name plus one of its type's suffixes.
    pub name: String,
    /// The sample's labels, in the order they are written.
    pub labels: Labels,
    /// The value.
    pub value: f64,
    /// An explicit timestamp in seconds since the Unix epoch (rarely wanted).
    pub timestamp: Option<f64>,
    /// An exemplar (counters' `_total` and histograms' `_bucket` samples only).
    pub exemplar: Option<Exemplar>,
}

impl Sample {
    /// A sample with no timestamp and no exemplar.
    pub fn new<K: Into<String>, V: Into<String>>(
        name: impl Into<String>,
        labels_: impl IntoIterator<Item = (K, V)>,
        value: f64,
    ) -> Self {
        Self {
            name: name.into(),
            labels: labels(labels_),
            value,
            timestamp: None,
            exemplar: None,
        }
    }

    /// The value of label `name`, if the sample has it.
    #[must_use]
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A metric family: its name, type, help, unit and samples.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    /// The family name (for a counter, without `_total`).
    pub name: String,
    /// The type.
    pub metric_type: MetricType,
    /// The help text, unescaped; empty when there is none.
    pub help: String,
    /// The unit, e.g. `seconds`; when set, the name must end in `_` + unit.
    pub unit: Option<String>,
    /// The samples, in the order they are written.
    pub samples: Vec<Sample>,
    /// For a counter that Prometheus text 0.0.4 exposed without `_total`
    /// (`# TYPE requests counter`, then `requests 5`): text 0.0.4 and protobuf
    /// write its name as it came, `requests`, and OpenMetrics, which requires the
    /// suffix, writes `requests_total`. The samples are named with `_total` in the
    /// model all the same, so nothing else treats such a counter differently. The
    /// text parser sets it; only a counter may have it.
    pub counter_without_total: bool,
}

impl MetricFamily {
    /// An empty family.
    pub fn new(name: impl Into<String>, metric_type: MetricType, help: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            metric_type,
            help: help.into(),
            unit: None,
            samples: Vec::new(),
            counter_without_total: false,
        }
    }

    /// An empty gauge family.
    pub fn gauge(name: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(name, MetricType::Gauge, help)
    }

    /// An empty counter family; `name` is without `_total`.
    pub fn counter(name: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(name, MetricType::Counter, help)
    }

    /// Sets the unit (the name must end in `_` + unit).
    #[must_use]
    pub fn with_unit(mut self, unit: impl Into<String>) -> Self {
        self.unit = Some(unit.into());
        self
    }

    /// Adds a gauge (or unknown-type) sample named like the family.
    pub fn add_gauge<K: Into<String>, V: Into<String>>(
        &mut self,
        labels: impl IntoIterator<Item = (K, V)>,
        value: f64,
    ) -> &mut Self {
        let name = self.name.clone();
        self.samples.push(Sample::new(name, labels, value));
        self
    }

    /// Adds a counter's `_total` sample and, when `created` (seconds since the Unix
    /// epoch) is given, its `_created` sample.
    pub fn add_counter<K: Into<String>, V: Into<String>>(
        &mut self,
        labels_: impl IntoIterator<Item = (K, V)>,
        value: f64,
        created: Option<f64>,
    ) -> &mut Self {
        let labels = labels(labels_);
        self.samples.push(Sample {
            name: format!("{}_total", self.name),
            labels: labels.clone(),
            value,
            ..Sample::default()
        });
        if let Some(created) = created {
            self.samples.push(Sample {
                name: format!("{}_created", self.name),
                labels,
                value: created,
                ..Sample::default()
            });
        }
        self
    }

    /// Adds an info sample `name_info{labels} 1`.
    pub fn add_info<K: Into<String>, V: Into<String>>(
        &mut self,
        labels: impl IntoIterator<Item = (K, V)>,
    ) -> &mut Self {
        let name = format!("{}_info", self.name);
        self.samples.push(Sample::new(name, labels, 1.0));
        self
    }

    /// Adds one state-set: a sample per state, labelled `{<family name>="<state>"}`
    /// besides `labels`, 1 for the states in force and 0 for the others.
    pub fn add_stateset<K, V, S>(
        &mut self,
        labels_: impl IntoIterator<Item = (K, V)>,
        states: impl IntoIterator<Item = (S, bool)>,
    ) -> &mut Self
    where
        K: Into<String>,
        V: Into<String>,
        S: Into<String>,
    {
        let base = labels(labels_);
        for (state, on) in states {
            let mut labels = base.clone();
            labels.push((self.name.clone(), state.into()));
            self.samples.push(Sample {
                name: self.name.clone(),
                labels,
                value: if on { 1.0 } else { 0.0 },
                ..Sample::default()
            });
        }
        self
    }

    /// Adds one histogram: `buckets` are (upper bound, cumulative count) pairs in
    /// increasing order without `+Inf`, which is added with `count`; then `_sum`,
    /// `_count` and `_created`, in the order the encoder writes them.
    pub fn add_histogram<K: Into<String>, V: Into<String>>(
        &mut self,
        labels_: impl IntoIterator<Item = (K, V)>,
        buckets: &[(f64, u64)],
        sum: f64,
        count: u64,
        created: Option<f64>,
    ) -> &mut Self {
        let base = labels(labels_);
        let bucket_name = format!("{}_bucket", self.name);
        let infinite = (f64::INFINITY, count);
        for &(le, n) in buckets.iter().chain(std::iter::once(&infinite)) {
            let mut labels = base.clone();
            labels.push(("le".to_owned(), format_bound(le)));
            #[allow(clippy::cast_precision_loss)]
            self.samples.push(Sample {
                name: bucket_name.clone(),
                labels,
                value: n as f64,
                ..Sample::default()
            });
        }
        self.samples.push(Sample {
            name: format!("{}_sum", self.name),
            labels: base.clone(),
            value: sum,
            ..Sample::default()
        });
        #[allow(clippy::cast_precision_loss)]
        self.samples.push(Sample {
            name: format!("{}_count", self.name),
            labels: base.clone(),
            value: count as f64,
            ..Sample::default()
        });
        if let Some(created) = created {
            self.samples.push(Sample {
                name: format!("{}_created", self.name),
                labels: base,
                value: created,
                ..Sample::default()
            });
        }
        self
    }
}

/// A [`MetricFamily`] that breaks a rule of [`MetricFamily::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyError {
    /// The family's name.
    pub family: String,
    /// The rule broken.
    pub reason: String,
}

impl fmt::Display for FamilyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "metric family `{}`: {}", self.family, self.reason)
    }
}

impl std::error::Error for FamilyError {}

/// Formats a number as OpenMetrics writes it: integers without a fraction, `NaN`,
/// `+Inf`, `-Inf`, and other values in their shortest round-trip form.
#[must_use]
pub fn format_number(v: f64) -> String {
    let mut out = Vec::new();
    push_number(&mut out, v);
    String::from_utf8(out).unwrap_or_default()
}

/// Appends `v` as OpenMetrics writes numbers: integers without a fraction, `NaN`,
/// `+Inf`, `-Inf`, and other values in their shortest round-trip form.
pub(crate) fn push_number(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e16 {
        #[allow(clippy::cast_possible_truncation)]
        let n = v as i64;
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    } else {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    }
}

/// Formats a bucket bound (`le`) or quantile label the way OpenMetrics asks for
/// canonical numbers: integers with `.0` (`1.0`, not `1`), `+Inf`, and other values
/// in their shortest round-trip form.
#[must_use]
pub fn format_bound(v: f64) -> String {
    let mut out = format_number(v);
    if v.is_finite() && !out.contains(['.', 'e']) {
        out.push_str(".0");
    }
    out
}

/// Now, in seconds since the Unix epoch (negative before it): the start time
/// of a series created now.
pub(crate) fn unix_now() -> f64 {
    unix_seconds(std::time::SystemTime::now())
}

/// `t` in seconds since the Unix epoch (negative before it).
pub(crate) fn unix_seconds(t: std::time::SystemTime) -> f64 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// The value on the line of `text` that starts with `line_start` (unit tests only;
/// the integration tests read values through the reference parser).
#[cfg(test)]
pub(crate) fn test_value(text: &str, line_start: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .map(|v| v.trim().parse().unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::encode_families;

    #[test]
    fn numbers() {
        assert_eq!(format_number(1.0), "1");
        assert_eq!(format_number(-0.0), "0");
        assert_eq!(format_number(0.25), "0.25");
        assert_eq!(format_number(1e21), "1e21");
        assert_eq!(format_number(f64::NAN), "NaN");
        assert_eq!(format_number(f64::INFINITY), "+Inf");
        assert_eq!(format_number(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_number(0.1 + 0.2).parse::<f64>().unwrap(), 0.1 + 0.2);
        assert_eq!(format_bound(1.0), "1.0");
        assert_eq!(format_bound(0.25), "0.25");
        assert_eq!(format_bound(f64::INFINITY), "+Inf");
    }

    #[test]
    fn bounds_and_quantiles_are_numbers_where_meant_and_nowhere_else() {
        let check = |t: MetricType, name: &str, samples: &[(&str, &[(&str, &str)])]| {
            let mut f = MetricFamily::new(name, t, "");
            for (name, labels) in samples {
                f.samples
                    .push(Sample::new(*name, labels.iter().copied(), 1.0));
            }
            f.validate().map_err(|e| e.reason)
        };
        let histogram =
            |samples: &[(&str, &[(&str, &str)])]| check(MetricType::Histogram, "h", samples);
        let summary =
            |samples: &[(&str, &[(&str, &str)])]| check(MetricType::Summary, "s", samples);
        assert_eq!(
            histogram(&[
                ("h_bucket", &[("le", "+Inf")]),
                ("h_count", &[]),
                ("h_sum", &[])
            ]),
            Ok(())
        );
        assert_eq!(
            histogram(&[
                ("h_bucket", &[("le", "0.25")]),
                ("h_bucket", &[("le", "+Inf")])
            ]),
            Ok(())
        );
        for bad in ["core", "NaN", "inf", "", "1 "] {
            let e = histogram(&[("h_bucket", &[("le", bad)])]).unwrap_err();
            assert!(e.contains("not a number"), "{bad:?}: {e}");
        }
        let e = histogram(&[("h_sum", &[("le", "1")])]).unwrap_err();
        assert!(e.contains("has an `le` label"), "{e}");

        assert_eq!(
            summary(&[("s", &[("quantile", "0.5")]), ("s_count", &[])]),
            Ok(())
        );
        for bad in [&[("quantile", "2")][..], &[("quantile", "x")], &[]] {
            let e = summary(&[("s", bad)]).unwrap_err();
            assert!(e.contains("from 0 to 1"), "{bad:?}: {e}");
        }
        let e = summary(&[("s_sum", &[("quantile", "0.5")])]).unwrap_err();
        assert!(e.contains("has a `quantile` label"), "{e}");
    }

    #[test]
    fn validation_names_the_rule() {
        let mut f = MetricFamily::counter("jobs", "");
        f.add_counter([("a", "1")], 1.0, None);
        assert!(f.validate().is_ok());
        f.add_counter([("a", "1")], 2.0, None);
        assert!(f.validate().unwrap_err().reason.contains("repeats"));

        let mut f = MetricFamily::counter("jobs", "");
        f.add_counter(NO_LABELS, -1.0, None);
        assert!(f.validate().unwrap_err().reason.contains("negative"));

        let mut f = MetricFamily::gauge("level", "");
        f.samples
            .push(Sample::new("level_total", [("a", "b")], 1.0));
        assert!(f.validate().unwrap_err().reason.contains("does not belong"));

        let mut f = MetricFamily::gauge("level", "");
        f.add_gauge([("__x", "b")], 1.0);
        assert!(f.validate().unwrap_err().reason.contains("reserved"));

        // The same label set in another order is the same series.
        let mut f = MetricFamily::gauge("level", "");
        f.add_gauge([("a", "1"), ("b", "2")], 1.0);
        f.add_gauge([("b", "2"), ("a", "1")], 1.0);
        assert!(f.validate().unwrap_err().reason.contains("repeats"));
        let mut f = MetricFamily::gauge("level", "");
        f.add_gauge([("a", "1"), ("b", "2")], 1.0);
        f.add_gauge([("a", "2"), ("b", "1")], 1.0);
        f.add_gauge([("a", "12"), ("b", "")], 1.0);
        f.add_gauge([("a", "1"), ("b", "2"), ("c", "")], 1.0);
        f.validate().unwrap();

        let f = MetricFamily::gauge("latency", "").with_unit("seconds");
        assert!(f.validate().unwrap_err().reason.contains("unit"));
    }

    #[test]
    fn many_labels_are_checked_as_few() {
        let many: Vec<(String, String)> = (0..10_000)
            .map(|i| (format!("l{i}"), format!("v{i}")))
            .collect();
        let mut f = MetricFamily::gauge("wide", "");
        f.add_gauge(many.clone(), 1.0);
        f.validate().unwrap();

        let mut repeated = many.clone();
        repeated.push(("l0".to_owned(), "again".to_owned()));
        let mut f = MetricFamily::gauge("wide", "");
        f.add_gauge(repeated, 1.0);
        let e = f.validate().unwrap_err();
        assert!(e.reason.contains("label `l0` repeats"), "{e}");

        // The same wide series with its labels in another order repeats; one
        // value changed, it does not.
        let mut reversed = many.clone();
        reversed.reverse();
        let mut f = MetricFamily::gauge("wide", "");
        f.add_gauge(many.clone(), 1.0);
        f.add_gauge(reversed, 2.0);
        assert!(f
            .validate()
            .unwrap_err()
            .reason
            .contains("repeats with the same labels"));
        let mut other = many.clone();
        other[5_000].1.push('x');
        let mut f = MetricFamily::gauge("wide", "");
        f.add_gauge(many, 1.0);
        f.add_gauge(other, 2.0);
        f.validate().unwrap();
    }

    #[test]
    fn encodes_every_kind() {
        let mut c = MetricFamily::counter("jobs", "Jobs \"done\"\nso far\\");
        c.add_counter([("q", "a\"b\\c\nd")], 3.0, Some(1.5));
        let mut s = MetricFamily::new("health", MetricType::StateSet, "");
        s.add_stateset::<&str, &str, _>([], [("healthy", true), ("unhealthy", false)]);
        let mut h =
            MetricFamily::new("lat_seconds", MetricType::Histogram, "L.").with_unit("seconds");
        h.add_histogram(NO_LABELS, &[(0.5, 1)], 0.75, 2, None);
        let mut i = MetricFamily::new("build", MetricType::Info, "B.");
        i.add_info([("version", "1.2")]);
        for f in [&c, &s, &h, &i] {
            f.validate().unwrap();
        }
        assert_eq!(
            encode_families(&[c, s, h, i]),
            concat!(
                "# HELP jobs Jobs \\\"done\\\"\\nso far\\\\\n",
                "# TYPE jobs counter\n",
                "jobs_total{q=\"a\\\"b\\\\c\\nd\"} 3\n",
                "jobs_created{q=\"a\\\"b\\\\c\\nd\"} 1.5\n",
                "# TYPE health stateset\n",
                "health{health=\"healthy\"} 1\n",
                "health{health=\"unhealthy\"} 0\n",
                "# HELP lat_seconds L.\n",
                "# TYPE lat_seconds histogram\n",
                "# UNIT lat_seconds seconds\n",
                "lat_seconds_bucket{le=\"0.5\"} 1\n",
                "lat_seconds_bucket{le=\"+Inf\"} 2\n",
                "lat_seconds_sum 0.75\n",
                "lat_seconds_count 2\n",
                "# HELP build B.\n",
                "# TYPE build info\n",
                "build_info{version=\"1.2\"} 1\n",
                "# EOF\n",
            )
        );
    }
}
