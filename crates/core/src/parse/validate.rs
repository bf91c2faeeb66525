//! [`MetricFamily::validate`]: the naming rules, then the OpenMetrics parser's
//! own rules for a family's samples ([`check_family`]), by the same code. It
//! lives beside the parser because it is the parser's rule table applied to a
//! family built in memory: what validates is what the encoder writes and the
//! parsers read back.

use std::collections::hash_map::{Entry, RandomState};
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use super::openmetrics::check_family;
use crate::family::{FamilyError, MetricFamily, MetricType, Sample};
use crate::names;

impl MetricFamily {
    /// Checks the family against the naming rules and its type's sample rules.
    ///
    /// Checked: the family, sample and label names; that every sample name is the
    /// family name plus a suffix its type allows; that no label name repeats within a
    /// sample; that a unit is the name's last component; and then every rule the
    /// OpenMetrics parser ([`crate::parse`]) applies to a family's samples, by the
    /// same code: the labels a type gives a meaning to (`le` on buckets only, a
    /// number; `quantile` on a summary's quantiles only, from 0 to 1; a state
    /// set's state label), values (counts whole and not negative, no NaN where
    /// counting, state sets 0 or 1, info 1), exemplars (where allowed, at most 128
    /// characters, within their bucket), metrics (the samples of a label set
    /// together, each once in a point, timestamps not going back) and points
    /// (a `+Inf` bucket equal to the count, `_sum` with `_count`, `_created` with
    /// `_total`). What validates, the encoder writes as it is and the parsers read
    /// back (`tests/parser_round_trip.rs`).
    ///
    /// # Errors
    /// The first rule broken, naming the sample.
    pub fn validate(&self) -> Result<(), FamilyError> {
        let err = |reason: String| {
            Err(FamilyError {
                family: self.name.clone(),
                reason,
            })
        };
        if let Err(reason) = names::check_metric_name(&self.name) {
            return err(reason.to_owned());
        }
        if self.counter_without_total && self.metric_type != MetricType::Counter {
            return err(format!(
                "only a counter may be written without `_total`, not a {}",
                self.metric_type
            ));
        }
        if let Some(unit) = &self.unit {
            if unit.is_empty() || !self.name.ends_with(&format!("_{unit}")) {
                return err(format!(
                    "the unit {unit:?} must be the last component of the name"
                ));
            }
        }
        // Samples by a fingerprint of (name, label set); a shared fingerprint is
        // compared exactly, so a hash collision can never pass for a duplicate.
        let mut seen: HashMap<u64, usize, BuildHasherDefault<Prehashed>> =
            HashMap::with_capacity_and_hasher(self.samples.len(), BuildHasherDefault::default());
        // The later samples of a fingerprint shared with an earlier one.
        let mut collided: HashMap<u64, Vec<usize>, BuildHasherDefault<Prehashed>> =
            HashMap::default();
        for (at, sample) in self.samples.iter().enumerate() {
            let suffix = match sample.name.strip_prefix(self.name.as_str()) {
                Some(s) if self.metric_type.sample_suffixes().contains(&s) => s,
                _ => {
                    return err(format!(
                        "sample `{}` does not belong to a {} family `{}` (allowed: {})",
                        sample.name,
                        self.metric_type,
                        self.name,
                        self.metric_type
                            .sample_suffixes()
                            .iter()
                            .map(|s| format!("{}{s}", self.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                }
            };
            // Many labels are checked for repeats through a set, few pair by pair.
            let mut label_names = (sample.labels.len() >= FEW_LABELS)
                .then(|| HashSet::with_capacity(sample.labels.len()));
            for (i, (name, _)) in sample.labels.iter().enumerate() {
                if let Err(reason) = names::check_label_name(name) {
                    return err(format!("label {name:?} of `{}`: {reason}", sample.name));
                }
                let repeats = match &mut label_names {
                    Some(set) => !set.insert(name.as_str()),
                    None => sample.labels[..i].iter().any(|(k, _)| k == name),
                };
                if repeats {
                    return err(format!("label `{name}` repeats in `{}`", sample.name));
                }
            }
            let fingerprint = series_fingerprint(sample);
            let repeats = match seen.entry(fingerprint) {
                Entry::Vacant(slot) => {
                    slot.insert(at);
                    false
                }
                // A shared fingerprint: the same series, or (rarely) a collision,
                // after which the other samples of that fingerprint are compared.
                Entry::Occupied(first) => {
                    let earlier = collided.entry(fingerprint).or_default();
                    let repeats = same_series(&self.samples[*first.get()], sample)
                        || earlier
                            .iter()
                            .any(|&e| same_series(&self.samples[e], sample));
                    earlier.push(at);
                    repeats
                }
            };
            if repeats {
                return err(format!(
                    "sample `{}` repeats with the same labels",
                    sample.name
                ));
            }
            let ts = sample.timestamp;
            if ts.is_some_and(|t| !t.is_finite()) {
                return err(format!(
                    "sample `{}` has a non-finite timestamp",
                    sample.name
                ));
            }
            let v = sample.value;
            let counts = matches!(
                (self.metric_type, suffix),
                (MetricType::Counter, "_total")
                    | (MetricType::Histogram, "_bucket" | "_count")
                    | (MetricType::GaugeHistogram, "_bucket" | "_gcount")
                    | (MetricType::Summary, "_count")
            );
            if counts && (v.is_nan() || v < 0.0) {
                return err(format!(
                    "`{}` is a count and cannot be {v} (negative or NaN)",
                    sample.name
                ));
            }
            // The labels a type gives a meaning to: a number where it is
            // meant, and nowhere else (an encoder would write them twice).
            let histogram = matches!(
                self.metric_type,
                MetricType::Histogram | MetricType::GaugeHistogram
            );
            let quantile = self.metric_type == MetricType::Summary && suffix.is_empty();
            if suffix == "_bucket" {
                match sample.label("le").map(bound) {
                    None => return err(format!("bucket `{}` has no `le` label", sample.name)),
                    Some(None) => {
                        return err(format!(
                            "bucket `{}` has an `le` that is not a number",
                            sample.name
                        ))
                    }
                    Some(Some(_)) => {}
                }
            } else if histogram && sample.label("le").is_some() {
                return err(format!("`{}` has an `le` label", sample.name));
            }
            if quantile {
                if !sample
                    .label("quantile")
                    .and_then(bound)
                    .is_some_and(|q| (0.0..=1.0).contains(&q))
                {
                    return err(format!(
                        "`{}` needs a `quantile` label from 0 to 1",
                        sample.name
                    ));
                }
            } else if self.metric_type == MetricType::Summary && sample.label("quantile").is_some()
            {
                return err(format!("`{}` has a `quantile` label", sample.name));
            }
            if self.metric_type == MetricType::StateSet {
                if sample.label(&self.name).is_none() {
                    return err(format!(
                        "state-set sample has no label named `{}` for its state",
                        self.name
                    ));
                }
                if v != 0.0 && v != 1.0 {
                    return err(format!("state-set values are 0 or 1, not {v}"));
                }
            }
            if self.metric_type == MetricType::Info && v != 1.0 {
                return err(format!("info values are 1, not {v}"));
            }
            if let Some(exemplar) = &sample.exemplar {
                let chars: usize = exemplar
                    .labels
                    .iter()
                    .map(|(k, v)| k.chars().count() + v.chars().count())
                    .sum();
                if chars > 128 {
                    return err(format!(
                        "the exemplar of `{}` has {chars} characters of labels; at most 128",
                        sample.name
                    ));
                }
            }
        }
        // The rules of the OpenMetrics parser on a family's samples, the same
        // code: what validates is what the encoder writes and a parser reads.
        check_family(self).map_err(|e| {
            let sample = e
                .line()
                .checked_sub(1)
                .and_then(|i| self.samples.get(i))
                .map_or("", |s| s.name.as_str());
            FamilyError {
                family: self.name.clone(),
                reason: format!(
                    "sample {} (`{sample}`): {} ({})",
                    e.line(),
                    e.rule().description(),
                    e.detail()
                ),
            }
        })
    }
}

/// The set of series fingerprints [`MetricFamily::quick_check`] fills, kept from
/// one check to the next for its allocation.
#[cfg(any(feature = "exporter", test))]
pub(crate) type Fingerprints = HashSet<u64, BuildHasherDefault<Prehashed>>;

impl MetricFamily {
    /// Whether the family passes [`MetricFamily::validate`], found quickly for
    /// the shape the toolkit's `add_gauge`, `add_counter` and `add_info` build: a
    /// gauge, unknown, counter or info family whose samples carry no timestamp
    /// and no exemplar and have fewer than 16 labels each, a counter's
    /// `_created` right after its `_total` with the same labels.
    ///
    /// `true` only where `validate` passes; `false` for a family that breaks a
    /// rule and for any other shape, which `validate` then decides (and words
    /// the error). `seen` is scratch space, cleared first.
    #[cfg(any(feature = "exporter", test))]
    pub(crate) fn quick_check(&self, seen: &mut Fingerprints) -> bool {
        let t = self.metric_type;
        if !matches!(
            t,
            MetricType::Gauge | MetricType::Unknown | MetricType::Counter | MetricType::Info
        ) || names::check_metric_name(&self.name).is_err()
        {
            return false;
        }
        if let Some(unit) = &self.unit {
            let last = self.name.strip_suffix(unit.as_str());
            if unit.is_empty() || !last.is_some_and(|rest| rest.ends_with('_')) {
                return false;
            }
        }
        seen.clear();
        let mut previous: Option<&Sample> = None;
        for sample in &self.samples {
            if sample.timestamp.is_some()
                || sample.exemplar.is_some()
                || sample.labels.len() >= FEW_LABELS
            {
                return false;
            }
            let Some(suffix) = sample.name.strip_prefix(self.name.as_str()) else {
                return false;
            };
            let v = sample.value;
            let value_ok = match (t, suffix) {
                (MetricType::Gauge | MetricType::Unknown, "") => true,
                (MetricType::Counter, "_total") => !v.is_nan() && v >= 0.0,
                (MetricType::Counter, "_created") => {
                    v.is_finite()
                        && previous.is_some_and(|total| {
                            total.name.ends_with("_total") && total.labels == sample.labels
                        })
                }
                (MetricType::Info, "_info") => v == 1.0,
                _ => false,
            };
            if !value_ok {
                return false;
            }
            for (i, (name, _)) in sample.labels.iter().enumerate() {
                if names::check_label_name(name).is_err()
                    || sample.labels[..i].iter().any(|(k, _)| k == name)
                {
                    return false;
                }
            }
            // A repeated fingerprint is a repeated series or (rarely) a
            // collision: `validate` tells them apart.
            if !seen.insert(series_fingerprint(sample)) {
                return false;
            }
            previous = Some(sample);
        }
        true
    }
}

/// A bucket bound or quantile as the exposition formats write it (`+Inf`,
/// `-Inf` or a decimal number); `None` for anything else, `NaN` included.
fn bound(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => text
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .filter(|_| {
                text.bytes()
                    .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
            }),
    }
}

/// From this many labels on, a sample's labels are compared through a set rather
/// than pair by pair, so that every check stays linear in the number of labels.
const FEW_LABELS: usize = 16;

/// A random number drawn once per process, so that the fingerprints of series
/// cannot be predicted (and collisions made on purpose) by whoever writes them.
fn fingerprint_seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| RandomState::new().hash_one(0x5eed_u64))
}

/// A hash of a sample's name and label set that does not depend on label order
/// (the pairs' hashes are summed), seeded per process. Not for untrusted keys of
/// a long-lived map: it only speeds up one validation, and collisions are checked
/// exactly.
fn series_fingerprint(sample: &Sample) -> u64 {
    // splitmix64's finaliser: every input bit moves every output bit.
    fn mix(mut x: u64) -> u64 {
        x ^= x >> 30;
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x ^= x >> 27;
        x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }
    // One 64x64->128-bit multiply folded to 64 bits: every input bit reaches
    // most output bits.
    #[inline]
    fn fold(a: u64, b: u64) -> u64 {
        let wide = u128::from(a) * u128::from(b);
        #[allow(clippy::cast_possible_truncation)]
        let (low, high) = (wide as u64, (wide >> 64) as u64);
        low ^ high
    }
    // Sixteen bytes a step; the last one to sixteen bytes are read as two
    // overlapping words (as wyhash does), and the length is folded in, so
    // strings hashed one after the other cannot run into each other.
    #[inline(always)]
    fn absorb(mut h: u64, s: &str) -> u64 {
        const K: u64 = 0x243f_6a88_85a3_08d3;
        let bytes = s.as_bytes();
        let u64_at = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[i..i + 8]);
            u64::from_le_bytes(w)
        };
        let u32_at = |i: usize| {
            let mut w = [0u8; 4];
            w.copy_from_slice(&bytes[i..i + 4]);
            u64::from(u32::from_le_bytes(w))
        };
        let n = bytes.len();
        let mut at = 0;
        while n - at > 16 {
            h = fold(u64_at(at) ^ h, u64_at(at + 8) ^ K);
            at += 16;
        }
        let (a, b) = match n - at {
            0 => (0, 0),
            m @ 1..=3 => {
                let word = (u64::from(bytes[at]) << 16)
                    | (u64::from(bytes[at + m / 2]) << 8)
                    | u64::from(bytes[n - 1]);
                (word, 0)
            }
            4..=8 => (u32_at(at), u32_at(n - 4)),
            _ => (u64_at(at), u64_at(n - 8)),
        };
        fold(a ^ h, b ^ K ^ ((n as u64) << 32))
    }
    let seed = fingerprint_seed();
    let labels = sample.labels.iter().fold(0u64, |acc, (k, v)| {
        acc.wrapping_add(mix(absorb(absorb(seed, k), v)))
    });
    mix(labels ^ absorb(seed ^ 3, &sample.name))
}

/// The hasher of a map whose keys are hashes already.
#[derive(Default)]
pub(crate) struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Whether two samples (whose label names do not repeat) are the same series.
fn same_series(a: &Sample, b: &Sample) -> bool {
    if a.name != b.name || a.labels.len() != b.labels.len() {
        return false;
    }
    if a.labels.len() < FEW_LABELS {
        return a.labels.iter().all(|pair| b.labels.contains(pair));
    }
    let b_labels: HashMap<&str, &str> = b
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    a.labels
        .iter()
        .all(|(k, v)| b_labels.get(k.as_str()) == Some(&v.as_str()))
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_of_one_fingerprint_are_told_apart() {
        let a = Sample::new("x", [("a", "1"), ("b", "2")], 1.0);
        let b = Sample::new("x", [("b", "2"), ("a", "1")], 1.0);
        let c = Sample::new("x", [("a", "2"), ("b", "1")], 1.0);
        assert!(same_series(&a, &b));
        assert!(!same_series(&a, &c));
        assert_eq!(series_fingerprint(&a), series_fingerprint(&b));
    }
}
