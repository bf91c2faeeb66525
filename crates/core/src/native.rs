//! Native histogram buckets: the sparse, exponential buckets of Prometheus'
//! native histograms, kept beside a histogram's classic buckets and served in
//! the protobuf format only (OpenMetrics 1.0 and text 0.0.4 cannot carry them).
//!
//! Bucket `i` of schema `s` holds the observations in `(b^(i-1), b^i]` with
//! `b = 2^(2^-s)`; observations at or below the zero threshold go to the zero
//! bucket. Observations are counted at the schema the growth factor asks for,
//! in one counter per possible bucket from 1 ns to 2^64 ns, with an atomic add
//! and no lock; a scrape reads the counters and, when more buckets are in use
//! than the most allowed, merges neighbours (lowers the schema, as
//! client_golang does when it runs out of buckets) until they fit. Nothing is
//! reset and nothing is lost.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// How a histogram keeps native buckets: the growth factor from one bucket to
/// the next, the zero bucket's width and the most buckets a scrape shows.
///
/// ```
/// # mod promhttp { pub use promhttp_core::*; }
/// use promhttp::NativeHistogram;
///
/// let native = NativeHistogram::new();            // factor 1.1, at most 160 buckets
/// assert_eq!(native.schema(), 3);                 // buckets grow by 2^(1/8) = 1.09
/// let coarse = NativeHistogram::new().factor(1.5).max_buckets(40);
/// assert_eq!(coarse.schema(), 1);
/// assert!(coarse.check().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NativeHistogram {
    factor: f64,
    zero_threshold: f64,
    max_buckets: usize,
}

impl Default for NativeHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl NativeHistogram {
    /// The default zero threshold, client_golang's: 2^-128, below any duration.
    pub const DEFAULT_ZERO_THRESHOLD: f64 = 2.938_735_877_055_719e-39;

    /// Growth factor 1.1 (client_golang's default), the default zero
    /// threshold, and at most 160 buckets (the limit Mimir recommends).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            factor: 1.1,
            zero_threshold: Self::DEFAULT_ZERO_THRESHOLD,
            max_buckets: 160,
        }
    }

    /// The largest growth factor allowed from one bucket to the next (more
    /// than 1): the schema is the finest whose factor is at most this, between
    /// -4 (factor 65536) and 8 (factor 1.0027).
    #[must_use]
    pub const fn factor(mut self, factor: f64) -> Self {
        self.factor = factor;
        self
    }

    /// The width of the zero bucket, in seconds: observations at or below it
    /// are counted there (default 2^-128).
    #[must_use]
    pub const fn zero_threshold(mut self, seconds: f64) -> Self {
        self.zero_threshold = seconds;
        self
    }

    /// The most buckets a scrape shows (default 160). When more are in use,
    /// neighbouring buckets are merged, halving the resolution each time,
    /// until they fit; the counts stay exact.
    #[must_use]
    pub const fn max_buckets(mut self, max: usize) -> Self {
        self.max_buckets = max;
        self
    }

    /// The schema the factor gives.
    #[must_use]
    pub fn schema(&self) -> i32 {
        if self.factor.is_nan() || self.factor <= 1.0 || !self.factor.is_finite() {
            return 8;
        }
        #[allow(clippy::cast_possible_truncation)]
        let schema = -(self.factor.log2().log2().floor()) as i32;
        schema.clamp(-4, 8)
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`NativeError`]: a factor not above 1, a zero threshold that is
    /// negative or not finite, no buckets allowed.
    pub fn check(&self) -> Result<(), NativeError> {
        let refuse = |reason| Err(NativeError { reason });
        if !(self.factor > 1.0 && self.factor.is_finite()) {
            return refuse("the growth factor must be a finite number above 1");
        }
        if !(self.zero_threshold >= 0.0 && self.zero_threshold.is_finite()) {
            return refuse("the zero threshold must be a finite number of seconds, at least 0");
        }
        if self.max_buckets == 0 {
            return refuse("at least one bucket must be allowed");
        }
        Ok(())
    }
}

/// Native histogram settings that cannot be used, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NativeError {
    /// The rule they break.
    pub reason: &'static str,
}

impl std::fmt::Display for NativeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid native histogram settings: {}", self.reason)
    }
}

impl std::error::Error for NativeError {}

/// The lower bounds of the buckets within one power of two, for schemas 1 to
/// 8 (`2^(i/2^s - 1)`, in `[0.5, 1)`), computed once.
fn bounds(schema: i32) -> &'static [f64] {
    static TABLES: [OnceLock<Box<[f64]>>; 8] = [const { OnceLock::new() }; 8];
    let Some(slot) = usize::try_from(schema - 1).ok().and_then(|i| TABLES.get(i)) else {
        return &[];
    };
    slot.get_or_init(|| {
        let n = 1u32 << schema;
        (0..n)
            .map(|i| (f64::from(i) / f64::from(n) - 1.0).exp2())
            .collect()
    })
}

/// The index of the bucket of schema `schema` that holds `v` (> 0, finite).
pub(crate) fn bucket_index(v: f64, schema: i32) -> i32 {
    // v = frac * 2^exp with frac in [0.5, 1), from the bits (v is normal here).
    let bits = v.to_bits();
    #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
    let exp = ((bits >> 52) & 0x7ff) as i32 - 1022;
    let frac = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1022u64 << 52));
    if schema > 0 {
        let bounds = bounds(schema);
        let within = bounds.partition_point(|&b| b < frac);
        #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
        let within = within as i32;
        within + (exp - 1) * (1 << schema)
    } else {
        let mut key = exp;
        if frac == 0.5 {
            key -= 1;
        }
        let shift = -schema;
        (key + (1 << shift) - 1) >> shift
    }
}

/// The upper bound of bucket `index` of schema `schema`: `2^(index * 2^-schema)`.
#[cfg(test)]
pub(crate) fn upper_bound(index: i32, schema: i32) -> f64 {
    (f64::from(index) * (-f64::from(schema)).exp2()).exp2()
}

/// The native buckets of one histogram series, counted lock-free.
pub(crate) struct NativeCells {
    schema: i32,
    zero_threshold: f64,
    max_buckets: usize,
    /// The bucket index of `counts[0]`.
    first: i32,
    counts: Box<[AtomicU64]>,
    zero: AtomicU64,
}

/// One reading of [`NativeCells`] whose buckets, as (index, count) at
/// `schema` and merged to at most the allowed number, were appended to a
/// buffer shared by the series of a scrape, from `at`, `len` of them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct NativeRow {
    pub(crate) schema: i32,
    pub(crate) zero_threshold: f64,
    pub(crate) zero_count: u64,
    pub(crate) at: usize,
    pub(crate) len: usize,
}

/// A reading with buckets of its own (tests).
#[cfg(test)]
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct NativeReading {
    pub(crate) schema: i32,
    pub(crate) zero_threshold: f64,
    pub(crate) zero_count: u64,
    pub(crate) buckets: Vec<(i32, u64)>,
}

#[cfg(test)]
impl NativeReading {
    /// The observations in the buckets, the zero bucket's included.
    pub(crate) fn total(&self) -> u64 {
        self.zero_count + self.buckets.iter().map(|(_, n)| n).sum::<u64>()
    }
}

impl NativeCells {
    /// Cells for `config` (checked), covering 1 ns to 2^64 ns.
    pub(crate) fn new(config: &NativeHistogram) -> Self {
        let schema = config.schema();
        let first = bucket_index(1e-9, schema);
        #[allow(clippy::cast_precision_loss)]
        let last = bucket_index(u64::MAX as f64 / 1e9, schema);
        let len = usize::try_from(last - first + 1).unwrap_or(0);
        Self {
            schema,
            zero_threshold: config.zero_threshold,
            max_buckets: config.max_buckets.max(1),
            first,
            counts: (0..len).map(|_| AtomicU64::new(0)).collect(),
            zero: AtomicU64::new(0),
        }
    }

    /// Counts one observation of `nanos` nanoseconds. `Release`, so that a
    /// reader that sees it also sees what the recording thread did before
    /// (count the classic buckets): see [`NativeCells::read`].
    #[inline]
    pub(crate) fn observe(&self, nanos: u64) {
        #[allow(clippy::cast_precision_loss)]
        let seconds = nanos as f64 / 1e9;
        if nanos == 0 || seconds <= self.zero_threshold {
            self.zero.fetch_add(1, Ordering::Release);
            return;
        }
        let index = bucket_index(seconds, self.schema);
        let slot = usize::try_from(index - self.first)
            .ok()
            .and_then(|i| self.counts.get(i));
        match slot {
            Some(count) => count.fetch_add(1, Ordering::Release),
            // Outside 1 ns..2^64 ns cannot happen; counted at zero rather than lost.
            None => self.zero.fetch_add(1, Ordering::Release),
        };
    }

    /// Reads the buckets, appending them to `buckets`. Read before the classic
    /// buckets of the same series (which are counted first), a reading never
    /// holds an observation the classic count lacks: the native total is at
    /// most the count served.
    pub(crate) fn read_into(&self, buckets: &mut Vec<(i32, u64)>) -> NativeRow {
        let zero_count = self.zero.load(Ordering::Acquire);
        let at = buckets.len();
        buckets.extend(self.counts.iter().enumerate().filter_map(|(i, c)| {
            let n = c.load(Ordering::Acquire);
            let i = i32::try_from(i).ok()?;
            (n > 0).then_some((self.first + i, n))
        }));
        let mut schema = self.schema;
        while buckets.len() - at > self.max_buckets && schema > -4 {
            merge_from(buckets, at);
            schema -= 1;
        }
        NativeRow {
            schema,
            zero_threshold: self.zero_threshold,
            zero_count,
            at,
            len: buckets.len() - at,
        }
    }

    /// A reading into a buffer of its own (tests).
    #[cfg(test)]
    pub(crate) fn read(&self) -> NativeReading {
        let mut buckets = Vec::new();
        let row = self.read_into(&mut buckets);
        NativeReading {
            schema: row.schema,
            zero_threshold: row.zero_threshold,
            zero_count: row.zero_count,
            buckets,
        }
    }
}

/// Lowers the buckets of `buckets` from `at` on by one schema, in place: bucket
/// `i` goes to `ceil(i / 2)`.
fn merge_from(buckets: &mut Vec<(i32, u64)>, at: usize) {
    let mut end = at;
    for read in at..buckets.len() {
        let (index, n) = buckets[read];
        let coarse = (index + 1) >> 1;
        if end > at && buckets[end - 1].0 == coarse {
            buckets[end - 1].1 += n;
        } else {
            buckets[end] = (coarse, n);
            end += 1;
        }
    }
    buckets.truncate(end);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_follows_the_factor() {
        let schema = |f: f64| NativeHistogram::new().factor(f).schema();
        assert_eq!(schema(1.1), 3);
        assert_eq!(schema(2.0), 0);
        assert_eq!(schema(4.0), -1);
        assert_eq!(schema(1.5), 1);
        assert_eq!(schema(1.0001), 8);
        assert_eq!(schema(1e300), -4);
        // The schema picked is the coarsest whose factor is at most the one
        // asked for: the next coarser one's is more.
        let growth = |s: i32| (-f64::from(s)).exp2().exp2();
        for f in [
            1.003, 1.01, 1.05, 1.1, 1.2, 1.41, 1.5, 2.0, 3.0, 16.0, 300.0,
        ] {
            let s = schema(f);
            assert!(growth(s) <= f * (1.0 + 1e-12), "{f}: schema {s}");
            assert!(s == -4 || growth(s - 1) > f, "{f}: schema {s}");
        }
        assert!(NativeHistogram::new().factor(1.0).check().is_err());
        assert!(NativeHistogram::new().factor(f64::NAN).check().is_err());
        assert!(NativeHistogram::new().zero_threshold(-1.0).check().is_err());
        assert!(NativeHistogram::new().max_buckets(0).check().is_err());
        assert!(NativeHistogram::new().check().is_ok());
    }

    #[test]
    fn each_value_lands_in_the_bucket_whose_bounds_hold_it() {
        for schema in -4..=8 {
            // Values spread over many powers of two, and the bounds themselves.
            let mut values: Vec<f64> = (0..2000)
                .map(|i| 1e-9 * 1.0173_f64.powi(i) * (1.0 + f64::from(i % 7) * 1e-3))
                .collect();
            values.extend((-40..40).map(|i| upper_bound(i, schema)));
            for v in values {
                let i = bucket_index(v, schema);
                let (low, high) = (upper_bound(i - 1, schema), upper_bound(i, schema));
                // Within a rounding of the bounds computed here.
                assert!(
                    v > low * (1.0 - 1e-12) && v <= high * (1.0 + 1e-12),
                    "schema {schema}: {v} in bucket {i} = ({low}, {high}]"
                );
            }
        }
        // An exact power of two is the upper bound of its bucket.
        assert_eq!(bucket_index(1.0, 0), 0);
        assert_eq!(bucket_index(2.0, 0), 1);
        assert_eq!(bucket_index(1.0, 3), 0);
        assert_eq!(bucket_index(2.0, 3), 8);
        assert_eq!(bucket_index(3.0, -1), 1);
        assert_eq!(bucket_index(4.0, -1), 1);
        assert_eq!(bucket_index(5.0, -1), 2);
    }

    #[test]
    fn observations_go_to_their_bucket_or_the_zero_bucket() {
        let cells = NativeCells::new(&NativeHistogram::new().zero_threshold(1e-6));
        cells.observe(0);
        cells.observe(500); // 0.5 µs: at or below the zero threshold
        cells.observe(1_000_000); // 1 ms
        cells.observe(1_000_000);
        cells.observe(2_500_000_000); // 2.5 s
        let reading = cells.read();
        assert_eq!(reading.schema, 3);
        assert_eq!(reading.zero_count, 2);
        assert_eq!(reading.zero_threshold, 1e-6);
        assert_eq!(
            reading.buckets,
            [(bucket_index(0.001, 3), 2), (bucket_index(2.5, 3), 1)]
        );
        // Exactly as many buckets as allowed: nothing is merged.
        let cells = NativeCells::new(&NativeHistogram::new().max_buckets(2));
        cells.observe(1_000_000);
        cells.observe(2_500_000_000);
        assert_eq!(cells.read().schema, 3);
        // The coarsest schema is the floor, however many buckets are in use.
        let cells = NativeCells::new(&NativeHistogram::new().max_buckets(1));
        let mut nanos = 1u64;
        while nanos < u64::MAX / 4 {
            cells.observe(nanos);
            nanos *= 3;
        }
        let reading = cells.read();
        assert_eq!(reading.schema, -4);
        assert!(reading.buckets.len() > 1);
        assert_eq!(
            NativeHistogram::new()
                .factor(0.5)
                .check()
                .unwrap_err()
                .to_string(),
            "invalid native histogram settings: the growth factor must be a finite number above 1"
        );
    }

    #[test]
    fn merging_in_place_touches_only_the_buckets_appended() {
        // A buffer shared by the series of a scrape: the first series' bucket
        // stays as it is.
        let mut buckets = vec![(7, 1), (-3, 1), (-2, 2), (1, 3), (2, 4)];
        merge_from(&mut buckets, 1);
        assert_eq!(buckets, [(7, 1), (-1, 3), (1, 7)]);
        let cells = NativeCells::new(&NativeHistogram::new().max_buckets(1));
        cells.observe(1_000_000);
        cells.observe(4_000_000);
        let mut buckets = vec![(100, 5)];
        let row = cells.read_into(&mut buckets);
        assert_eq!((row.at, row.len, buckets[0]), (1, 1, (100, 5)));
        assert_eq!(buckets[1].1, 2);
    }

    #[test]
    fn merging_keeps_every_count_and_halves_the_resolution() {
        // Observations 1 µs to 100 s: more buckets than 40 at schema 3.
        let cells = NativeCells::new(&NativeHistogram::new().max_buckets(40));
        let mut n = 0u64;
        let mut nanos = 1_000u64;
        while nanos < 100_000_000_000 {
            cells.observe(nanos);
            n += 1;
            nanos = nanos * 11 / 10 + 1;
        }
        cells.observe(0);
        let reading = cells.read();
        assert!(reading.buckets.len() <= 40, "{}", reading.buckets.len());
        assert!(reading.schema < 3);
        assert_eq!(reading.zero_count, 1);
        assert_eq!(reading.total(), n + 1);
        // The same observations counted at the coarser schema directly.
        let coarse = NativeCells::new(
            &NativeHistogram::new()
                .factor((-f64::from(reading.schema)).exp2().exp2())
                .max_buckets(1000),
        );
        let mut nanos = 1_000u64;
        while nanos < 100_000_000_000 {
            coarse.observe(nanos);
            nanos = nanos * 11 / 10 + 1;
        }
        let coarse = coarse.read();
        assert_eq!(coarse.schema, reading.schema);
        assert_eq!(coarse.buckets, reading.buckets);
    }
}
