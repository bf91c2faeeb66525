//! Owned [`MetricFamily`] values through the same point writers as everything
//! else: consecutive samples of one metric (label set) and timestamp are one
//! point, written in canonical order in every dialect.

use super::{Bucket, Descriptor, Encoder, Histogram, LabelSet, Summary};
use crate::family::{MetricFamily, MetricType, Sample};

/// A sample's labels without the one that tells the samples of a point apart
/// (`le`, `quantile`, a state set's state).
#[derive(Clone, Copy)]
struct Without<'a> {
    labels: &'a [(String, String)],
    skip: Option<&'a str>,
}

impl LabelSet for Without<'_> {
    fn visit(&self, f: &mut dyn FnMut(&str, &str)) {
        for (k, v) in self.labels {
            if Some(k.as_str()) != self.skip {
                f(k, v);
            }
        }
    }
}

impl Without<'_> {
    fn same(&self, other: &Without<'_>) -> bool {
        let mut a = self
            .labels
            .iter()
            .filter(|(k, _)| Some(k.as_str()) != self.skip);
        let mut b = other
            .labels
            .iter()
            .filter(|(k, _)| Some(k.as_str()) != other.skip);
        loop {
            match (a.next(), b.next()) {
                (None, None) => return true,
                (Some(x), Some(y)) if x == y => {}
                _ => return false,
            }
        }
    }
}

/// The label that tells a sample of a point from the others, for its type and
/// suffix.
fn point_label<'a>(family: &'a MetricFamily, suffix: &str) -> Option<&'a str> {
    match (family.metric_type, suffix) {
        (MetricType::Histogram | MetricType::GaugeHistogram, "_bucket") => Some("le"),
        (MetricType::Summary, "") => Some("quantile"),
        (MetricType::StateSet, _) => Some(family.name.as_str()),
        _ => None,
    }
}

fn suffix<'s>(family: &MetricFamily, sample: &'s Sample) -> &'s str {
    sample.name.get(family.name.len()..).unwrap_or("")
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn as_count(v: f64) -> u64 {
    v.round() as u64
}

fn number(label: Option<&str>) -> f64 {
    match label {
        Some("+Inf") => f64::INFINITY,
        Some("-Inf") => f64::NEG_INFINITY,
        Some(s) => s.parse().unwrap_or(f64::NAN),
        None => f64::NAN,
    }
}

impl Encoder {
    /// Writes an owned family. Its samples are taken as
    /// [`MetricFamily::validate`] accepts them; a family that does not validate
    /// is written as far as its samples make sense, so validate families from
    /// untrusted sources first (the registry does).
    pub fn write_family(&mut self, family: &MetricFamily) {
        let mut descriptor = Descriptor::new(&family.name, family.metric_type, &family.help);
        if let Some(unit) = &family.unit {
            descriptor = descriptor.unit(unit);
        }
        if family.counter_without_total {
            descriptor = descriptor.without_total();
        }
        self.family(&descriptor);
        self.write_samples(family);
    }

    /// Writes `family`'s samples into the family being written, when it has the
    /// same name and type: for a family given in pieces
    /// ([`Families::in_pieces`](crate::parse::Families::in_pieces)), whose first
    /// piece goes to [`write_family`](Encoder::write_family) and the next ones
    /// here. A piece of another family is written as [`write_family`](Encoder::write_family)
    /// writes it. A piece must hold whole points (the parser's do): samples of
    /// one metric and timestamp split over two pieces are written as two points.
    pub fn write_more(&mut self, family: &MetricFamily) {
        let open = self
            .open
            .as_ref()
            .is_some_and(|o| o.name == family.name && o.metric_type == family.metric_type);
        if open {
            self.write_samples(family);
        } else {
            self.write_family(family);
        }
    }

    fn write_samples(&mut self, family: &MetricFamily) {
        let samples = &family.samples;
        if matches!(
            family.metric_type,
            MetricType::Gauge | MetricType::Info | MetricType::Unknown
        ) {
            // Each sample is a point of its own, and no label is the point's.
            for s in samples {
                self.single_at(family.metric_type, &s.labels, s.value, s.timestamp);
            }
            return;
        }
        let mut start = 0;
        while start < samples.len() {
            let first = &samples[start];
            let key = Without {
                labels: &first.labels,
                skip: point_label(family, suffix(family, first)),
            };
            let mut end = start + 1;
            while let Some(next) = samples.get(end) {
                let next_key = Without {
                    labels: &next.labels,
                    skip: point_label(family, suffix(family, next)),
                };
                let one_point = match family.metric_type {
                    // Each gauge, info or unknown sample is a point of its own.
                    MetricType::Gauge | MetricType::Info | MetricType::Unknown => false,
                    _ => next_key.same(&key) && next.timestamp == first.timestamp,
                };
                if !one_point {
                    break;
                }
                end += 1;
            }
            self.write_point(family, key, &samples[start..end]);
            start = end;
        }
    }

    fn write_point(&mut self, family: &MetricFamily, labels: Without<'_>, point: &[Sample]) {
        let ts = point.first().and_then(|s| s.timestamp);
        let find = |sfx: &str| point.iter().find(|s| suffix(family, s) == sfx);
        match family.metric_type {
            MetricType::Counter => {
                let Some(total) = find("_total") else {
                    return;
                };
                let created = find("_created").map(|s| s.value);
                let exemplar = total.exemplar.as_ref();
                self.counter_at(&labels, total.value, created, exemplar, ts);
            }
            MetricType::Gauge | MetricType::Unknown | MetricType::Info => {
                for s in point {
                    self.single_at(family.metric_type, &labels, s.value, s.timestamp);
                }
            }
            MetricType::StateSet => {
                let state = family.name.as_str();
                let states = point
                    .iter()
                    .filter_map(|s| Some((s.label(state)?, s.value == 1.0)));
                self.stateset_at(&labels, states, ts);
            }
            MetricType::Histogram | MetricType::GaugeHistogram => {
                let gauge = family.metric_type == MetricType::GaugeHistogram;
                let (count_sfx, sum_sfx) = if gauge {
                    ("_gcount", "_gsum")
                } else {
                    ("_count", "_sum")
                };
                let buckets: Vec<(f64, &Sample)> = point
                    .iter()
                    .filter(|s| suffix(family, s) == "_bucket")
                    .map(|s| (number(s.label("le")), s))
                    .collect();
                let inf = buckets.iter().find(|(le, _)| *le == f64::INFINITY);
                let count = inf
                    .map(|(_, s)| s.value)
                    .or_else(|| find(count_sfx).map(|s| s.value))
                    .map_or(0, as_count);
                let h = Histogram {
                    gauge,
                    count,
                    sum: find(sum_sfx).map(|s| s.value),
                    created: find("_created").map(|s| s.value),
                    inf_exemplar: inf.and_then(|(_, s)| s.exemplar.as_ref()),
                    native: None,
                };
                let finite = buckets
                    .iter()
                    .filter(|(le, _)| le.is_finite())
                    .map(|(le, s)| {
                        let bucket = Bucket::new(*le, as_count(s.value));
                        match &s.exemplar {
                            Some(ex) => bucket.with_exemplar(ex),
                            None => bucket,
                        }
                    });
                self.histogram_at(&labels, finite, &h, ts);
            }
            MetricType::Summary => {
                let quantiles = point
                    .iter()
                    .filter(|s| suffix(family, s).is_empty())
                    .map(|s| (number(s.label("quantile")), s.value));
                let summary = Summary {
                    count: find("_count").map(|s| as_count(s.value)),
                    sum: find("_sum").map(|s| s.value),
                    created: find("_created").map(|s| s.value),
                };
                self.summary_at(&labels, quantiles, &summary, ts);
            }
        }
    }
}
