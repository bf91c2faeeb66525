//! [`DurationHistogram`]: a lock-free histogram of durations, and the cells that
//! the HTTP metric set records each request into.

use std::fmt;
use std::sync::atomic::{
    AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "prometheus-client")]
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
#[cfg(feature = "prometheus-client")]
use prometheus_client::metrics::MetricType;

/// A histogram of durations, observed without locks in whole nanoseconds.
///
/// Each observation is two uncontended atomic additions: one to its bucket and
/// one to the sum, kept in integer nanoseconds so that it is exact (it carries
/// into a wrap counter after 584 years of summed time). The count is not stored:
/// it is the sum of the bucket counts read, so in every exposition the `+Inf`
/// bucket and `_count` are the same number, even while other threads observe.
///
/// It encodes through `prometheus-client` and registers like its metrics:
///
/// ```
/// # mod promhttp { pub use promhttp_core::*; }
/// use std::time::Duration;
/// use promhttp::{DurationHistogram, Format, Registry};
///
/// let registry = Registry::new();
/// let latency = DurationHistogram::new([0.1, 1.0])?;
/// registry.register("probe_duration_seconds", "Probe latency.", latency.clone())?;
/// latency.observe(Duration::from_millis(250));
///
/// let text = registry.encode(Format::Text)?;
/// assert!(text.contains("probe_duration_seconds_bucket{le=\"0.1\"} 0\n"));
/// assert!(text.contains("probe_duration_seconds_bucket{le=\"1.0\"} 1\n"));
/// assert!(text.contains("probe_duration_seconds_sum 0.25\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct DurationHistogram {
    inner: Arc<(Bounds, Cells)>,
    /// When it was made: its start, in seconds since the Unix epoch.
    created: f64,
    /// Native buckets, counted after the classic ones.
    native: Option<Arc<crate::native::NativeCells>>,
}

impl fmt::Debug for DurationHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let snapshot = self.inner.1.snapshot();
        f.debug_struct("DurationHistogram")
            .field("bounds", &self.inner.0.seconds)
            .field("count", &snapshot.count)
            .field("sum_seconds", &snapshot.sum_seconds)
            .finish()
    }
}

impl DurationHistogram {
    /// A histogram with these upper bounds in seconds (strictly increasing,
    /// finite, not negative, at least a nanosecond apart); `+Inf` is added.
    ///
    /// # Errors
    /// [`BucketsError`] naming the rule the bounds break.
    pub fn new(bounds_seconds: impl IntoIterator<Item = f64>) -> Result<Self, BucketsError> {
        let bounds = Bounds::new(bounds_seconds.into_iter().collect())?;
        let cells = Cells::new(bounds.nanos.len());
        Ok(Self {
            inner: Arc::new((bounds, cells)),
            created: crate::family::unix_now(),
            native: None,
        })
    }

    /// Keeps native (sparse, exponential) buckets beside the classic ones,
    /// served to protobuf scrapes of a registry it is registered in with
    /// [`Registry::register_family`](crate::Registry::register_family) (the
    /// `prometheus-client` door has no native buckets). Observations made
    /// before are in the classic buckets only: call it before observing.
    ///
    /// # Errors
    /// [`NativeError`](crate::native::NativeError) for unusable settings.
    pub fn with_native(
        mut self,
        native: crate::NativeHistogram,
    ) -> Result<Self, crate::native::NativeError> {
        native.check()?;
        self.native = Some(Arc::new(crate::native::NativeCells::new(&native)));
        Ok(self)
    }

    /// Records one duration.
    #[inline]
    pub fn observe(&self, duration: Duration) {
        self.observe_nanos(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Records one duration given in nanoseconds.
    #[inline]
    pub fn observe_nanos(&self, nanos: u64) {
        let (bounds, cells) = &*self.inner;
        cells.observe(&bounds.nanos, nanos);
        if let Some(native) = &self.native {
            native.observe(nanos);
        }
    }

    /// The number of observations so far.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.inner.1.snapshot().count
    }

    /// The sum of the observations so far, in seconds.
    #[must_use]
    pub fn sum_seconds(&self) -> f64 {
        self.inner.1.snapshot().sum_seconds
    }
}

#[cfg(feature = "prometheus-client")]
impl EncodeMetric for DurationHistogram {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), fmt::Error> {
        let (bounds, cells) = &*self.inner;
        let snapshot = cells.snapshot();
        let buckets: Vec<(f64, u64)> = bounds
            .seconds
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(snapshot.buckets.iter().copied())
            .collect();
        encoder.encode_histogram::<NoLabelSet>(snapshot.sum_seconds, snapshot.count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

impl crate::source::FamilySource for DurationHistogram {
    fn metric_type(&self) -> crate::family::MetricType {
        crate::family::MetricType::Histogram
    }

    fn encode(&self, descriptor: &crate::encode::Descriptor<'_>, out: &mut crate::encode::Encoder) {
        let (bounds, cells) = &*self.inner;
        // Native first: the classic count then holds all it shows.
        let mut natives = Vec::new();
        let native = self.native.as_ref().map(|n| n.read_into(&mut natives));
        let snapshot = cells.snapshot();
        out.family(descriptor);
        let buckets = bounds.buckets(&snapshot.buckets);
        let extras = crate::encode::HistogramExtras {
            created: Some(self.created),
            inf_exemplar: None,
            native: native.map(|n| native_buckets(&n, &natives)),
        };
        out.histogram_with(
            &(),
            buckets,
            snapshot.count,
            Some(snapshot.sum_seconds),
            &extras,
        );
    }
}

/// The native buckets of `row`, whose buckets are in `all`, for the encoder.
pub(crate) fn native_buckets<'a>(
    row: &crate::native::NativeRow,
    all: &'a [(i32, u64)],
) -> crate::encode::NativeBuckets<'a> {
    crate::encode::NativeBuckets {
        schema: row.schema,
        zero_threshold: row.zero_threshold,
        zero_count: row.zero_count,
        positive: all.get(row.at..row.at + row.len).unwrap_or(&[]),
    }
}

/// Histogram bucket bounds that cannot be used, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketsError {
    /// The bounds as given.
    pub bounds: Vec<f64>,
    /// The rule they break.
    pub reason: &'static str,
}

impl fmt::Display for BucketsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid histogram buckets {:?}: {}",
            self.bounds, self.reason
        )
    }
}

impl std::error::Error for BucketsError {}

/// Histogram bounds, in seconds as configured, in nanoseconds for recording and
/// as the `le` label writes them.
#[derive(Debug, Clone)]
pub(crate) struct Bounds {
    pub(crate) seconds: Vec<f64>,
    pub(crate) nanos: Arc<[u64]>,
    /// The canonical text of each bound (`0.005`, `1.0`), formatted once.
    pub(crate) texts: Vec<String>,
}

impl Bounds {
    pub(crate) fn new(seconds: Vec<f64>) -> Result<Self, BucketsError> {
        let invalid = |reason: &'static str| BucketsError {
            bounds: seconds.clone(),
            reason,
        };
        let mut nanos: Vec<u64> = Vec::with_capacity(seconds.len());
        for &bound in &seconds {
            if !bound.is_finite() || bound < 0.0 {
                return Err(invalid(
                    "bounds must be finite and not negative (+Inf is always added)",
                ));
            }
            let n = (bound * 1e9).round();
            if n >= u64::MAX as f64 {
                return Err(invalid("bounds must be below 584 years"));
            }
            let n = n as u64;
            if nanos.last().is_some_and(|&last| n <= last) {
                return Err(invalid(
                    "bounds must be strictly increasing and at least a nanosecond apart",
                ));
            }
            nanos.push(n);
        }
        Ok(Self {
            texts: seconds
                .iter()
                .map(|&b| crate::family::format_bound(b))
                .collect(),
            seconds,
            nanos: nanos.into(),
        })
    }

    /// Bounds in whole units (bytes) rather than seconds: recorded and shown
    /// as they are.
    pub(crate) fn units(bounds: Vec<u64>) -> Result<Self, BucketsError> {
        #[allow(clippy::cast_precision_loss)]
        let shown: Vec<f64> = bounds.iter().map(|&b| b as f64).collect();
        if bounds.is_empty() {
            return Err(BucketsError {
                bounds: shown,
                reason: "at least one bound is needed",
            });
        }
        if bounds.windows(2).any(|w| w[0] >= w[1]) {
            return Err(BucketsError {
                bounds: shown,
                reason: "bounds must be strictly increasing",
            });
        }
        Ok(Self {
            texts: shown
                .iter()
                .map(|&b| crate::family::format_bound(b))
                .collect(),
            seconds: shown,
            nanos: bounds.into(),
        })
    }

    /// The finite buckets of `counts` (per bucket, `+Inf` last, as
    /// [`CellsSnapshot::buckets`] holds them), cumulative, for the encoder.
    pub(crate) fn buckets<'a>(
        &'a self,
        counts: &'a [u64],
    ) -> impl Iterator<Item = crate::encode::Bucket<'a>> + 'a {
        self.seconds.iter().zip(&self.texts).zip(counts).scan(
            0u64,
            |total, ((&upper, text), &n)| {
                *total += n;
                Some(crate::encode::Bucket::new(upper, *total).with_text(text))
            },
        )
    }
}

/// How many threads at a time get a shard of their own in every histogram.
const EXCLUSIVE_SHARDS: usize = 4;
/// The index of the shard shared by every other thread.
const SHARED_SHARD: usize = EXCLUSIVE_SHARDS;
/// Padding between shards, in `u64`s: a cache line, so that no two shards ever
/// share one whatever the allocation's alignment.
const PADDING: usize = 8;

/// Which shard the current thread writes: its own, or the shared one.
///
/// A thread claims one of [`EXCLUSIVE_SHARDS`] process-wide slots on its first
/// observation and releases it when it exits. While it holds slot `i` it is the
/// only thread that writes shard `i` of any histogram, so it adds with a plain
/// load and store instead of a locked read-modify-write, and no two threads
/// bounce a cache line between them. Threads that find every slot taken use the
/// shared shard with atomic adds. The release (`Release`) and the next claim
/// (`Acquire`) order a departing owner's last writes before the next owner's.
mod slot {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::{EXCLUSIVE_SHARDS, SHARED_SHARD};

    static TAKEN: AtomicU32 = AtomicU32::new(0);
    const ALL: u32 = (1 << EXCLUSIVE_SHARDS) - 1;
    const UNCLAIMED: usize = usize::MAX;

    thread_local! {
        /// The slot, read on every observation: a plain thread-local word.
        static CURRENT: Cell<usize> = const { Cell::new(UNCLAIMED) };
        /// Gives the slot back when the thread exits.
        static RELEASE: Release = const { Release(Cell::new(UNCLAIMED)) };
    }

    struct Release(Cell<usize>);

    impl Drop for Release {
        fn drop(&mut self) {
            let slot = self.0.get();
            if slot < EXCLUSIVE_SHARDS {
                // Writes to the shard after this point go to the shared one.
                let _ = CURRENT.try_with(|c| c.set(SHARED_SHARD));
                TAKEN.fetch_and(!(1 << slot), Ordering::Release);
            }
        }
    }

    #[cold]
    fn claim() -> usize {
        let mut taken = TAKEN.load(Ordering::Relaxed);
        let slot = loop {
            let free = !taken & ALL;
            if free == 0 {
                break SHARED_SHARD;
            }
            let bit = free.trailing_zeros();
            match TAKEN.compare_exchange_weak(
                taken,
                taken | (1 << bit),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break bit as usize,
                Err(now) => taken = now,
            }
        };
        // Only keep an exclusive slot if it can be given back at thread exit.
        let registered = RELEASE.try_with(|r| r.0.set(slot)).is_ok();
        let slot = if registered || slot == SHARED_SHARD {
            slot
        } else {
            TAKEN.fetch_and(!(1 << slot), Ordering::Release);
            SHARED_SHARD
        };
        let _ = CURRENT.try_with(|c| c.set(slot));
        slot
    }

    /// The current thread's shard; the shared one while thread-locals are being
    /// torn down.
    #[inline]
    pub(super) fn current() -> usize {
        match CURRENT.try_with(Cell::get) {
            Ok(UNCLAIMED) => claim(),
            Ok(slot) => slot,
            Err(_) => SHARED_SHARD,
        }
    }
}

/// The cells of one histogram: per shard, the bucket counts (not cumulative,
/// `+Inf` last), the sum in nanoseconds modulo 2^64 and its wrap count.
pub(crate) struct Cells {
    cells: Box<[AtomicU64]>,
    buckets: usize,
    stride: usize,
}

/// One reading of [`Cells`].
pub(crate) struct CellsSnapshot {
    pub(crate) buckets: Vec<u64>,
    pub(crate) count: u64,
    pub(crate) sum_seconds: f64,
}

impl Cells {
    pub(crate) fn new(bounds: usize) -> Self {
        let buckets = bounds + 1;
        let stride = buckets + 2 + PADDING;
        Self {
            cells: (0..stride * (EXCLUSIVE_SHARDS + 1))
                .map(|_| AtomicU64::new(0))
                .collect(),
            buckets,
            stride,
        }
    }

    /// Shard `i`: its buckets, then sum and wraps.
    #[inline]
    fn shard(&self, i: usize) -> &[AtomicU64] {
        let start = i * self.stride;
        self.cells
            .get(start..start + self.buckets + 2)
            .unwrap_or(&[])
    }

    /// Counts one observation; returns the index of its bucket (`+Inf` is
    /// `bounds_ns.len()`).
    #[inline]
    pub(crate) fn observe(&self, bounds_ns: &[u64], nanos: u64) -> usize {
        let bucket = bounds_ns
            .iter()
            .position(|&bound| nanos <= bound)
            .unwrap_or(bounds_ns.len());
        let slot = slot::current();
        let base = slot * self.stride;
        let (Some(count), Some(sum)) = (
            self.cells.get(base + bucket),
            self.cells.get(base + self.buckets),
        ) else {
            return bucket;
        };
        // The count is written with `Release` (free on x86): a reader that sees it
        // with `Acquire` also sees what this thread did before, such as lowering
        // an in-flight gauge (see `http::series`).
        let wrapped = if slot == SHARED_SHARD {
            count.fetch_add(1, Release);
            sum.fetch_add(nanos, Relaxed).checked_add(nanos).is_none()
        } else {
            // This thread is the shard's only writer: no locked instruction.
            count.store(count.load(Relaxed) + 1, Release);
            let (new_sum, wrapped) = sum.load(Relaxed).overflowing_add(nanos);
            sum.store(new_sum, Relaxed);
            wrapped
        };
        if wrapped {
            self.sum_wrapped(base);
        }
        bucket
    }

    #[cold]
    fn sum_wrapped(&self, base: usize) {
        if let Some(wraps) = self.cells.get(base + self.buckets + 1) {
            wraps.fetch_add(1, Relaxed);
        }
    }

    /// Reads the cells. The count is the sum of the bucket counts read, so the
    /// `+Inf` bucket and `_count` agree in every reading.
    pub(crate) fn snapshot(&self) -> CellsSnapshot {
        let mut buckets = Vec::with_capacity(self.buckets);
        let (count, sum_seconds) = self.read_into(&mut buckets);
        CellsSnapshot {
            buckets,
            count,
            sum_seconds,
        }
    }

    /// Reads the cells, appending the bucket counts (per bucket, `+Inf` last) to
    /// `buckets`, and returns the count and the sum in seconds: a scrape reads
    /// every series into one buffer instead of one list each.
    pub(crate) fn read_into(&self, buckets: &mut Vec<u64>) -> (u64, f64) {
        let (count, sum) = self.read_units_into(buckets);
        (count, sum / 1e9)
    }

    /// As [`read_into`](Self::read_into), with the sum in the units observed
    /// (bytes, for a size histogram).
    pub(crate) fn read_units_into(&self, buckets: &mut Vec<u64>) -> (u64, f64) {
        let start = buckets.len();
        buckets.resize(start + self.buckets, 0);
        let mine = &mut buckets[start..];
        let mut sum_ns = 0.0;
        for i in 0..=EXCLUSIVE_SHARDS {
            let shard = self.shard(i);
            for (total, cell) in mine.iter_mut().zip(shard) {
                *total += cell.load(Acquire);
            }
            let sum = shard.get(self.buckets).map_or(0, |c| c.load(Relaxed));
            let wraps = shard.get(self.buckets + 1).map_or(0, |c| c.load(Relaxed));
            sum_ns += wraps as f64 * 18_446_744_073_709_551_616.0 + sum as f64;
        }
        (mine.iter().sum(), sum_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_inclusive_upper_bounds() {
        let cells = Cells::new(2);
        for nanos in [0, 10, 11, 20, 21, u64::MAX] {
            cells.observe(&[10, 20], nanos);
        }
        let snap = cells.snapshot();
        assert_eq!(snap.buckets, vec![2, 2, 2]);
        assert_eq!(snap.count, 6);
    }

    #[test]
    fn threads_beyond_the_exclusive_shards_lose_nothing() {
        // Enough observations, started together, for threads sharing a shard to
        // overlap: an update lost there shows in the totals.
        let cells = Cells::new(1);
        let threads = 3 * EXCLUSIVE_SHARDS;
        let start = std::sync::Barrier::new(threads);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    start.wait();
                    for i in 0..100_000u64 {
                        cells.observe(&[5], i % 10);
                    }
                });
            }
        });
        let snap = cells.snapshot();
        let threads = threads as u64;
        assert_eq!(snap.count, threads * 100_000);
        assert_eq!(snap.buckets, vec![threads * 60_000, threads * 40_000]);
        assert!((snap.sum_seconds - threads as f64 * 450_000.0 / 1e9).abs() < 1e-12);
    }

    #[test]
    fn a_thread_writes_its_own_shard() {
        let bounds = [10, 20];
        for _ in 0..8 {
            let cells = Cells::new(2);
            let shard = std::thread::scope(|s| {
                s.spawn(|| {
                    cells.observe(&bounds, 15);
                    cells.observe(&bounds, 25);
                    slot::current()
                })
                .join()
                .unwrap()
            });
            assert!(shard <= SHARED_SHARD);
            for i in 0..=EXCLUSIVE_SHARDS {
                let cells: Vec<u64> = cells.shard(i).iter().map(|c| c.load(Relaxed)).collect();
                // Buckets (not cumulative, +Inf last), the sum in nanoseconds, wraps.
                let expected = if i == shard {
                    vec![0, 1, 1, 40, 0]
                } else {
                    vec![0; 5]
                };
                assert_eq!(cells, expected, "shard {i} of a thread on shard {shard}");
            }
        }
    }

    #[test]
    fn sum_survives_wrapping() {
        let cells = Cells::new(1);
        cells.observe(&[1], u64::MAX);
        cells.observe(&[1], 2);
        let expected = (u64::MAX as f64 + 2.0) / 1e9;
        assert!((cells.snapshot().sum_seconds - expected).abs() / expected < 1e-12);
    }

    #[test]
    fn a_histogram_encodes_the_same_through_both_registrations() {
        use crate::{Format, Registry};
        let registry = Registry::new();
        let bridged = DurationHistogram::new([0.1, 1.0]).unwrap();
        let native = DurationHistogram::new([0.1, 1.0]).unwrap();
        registry
            .register("bridged_seconds", "Bridged", bridged.clone())
            .unwrap();
        registry
            .register_family("native_seconds", "Native.", native.clone())
            .unwrap();
        for h in [&bridged, &native] {
            // On a bound is in its bucket; a nanosecond more is in the next.
            h.observe(Duration::from_millis(100));
            h.observe_nanos(100_000_001);
            h.observe(Duration::from_millis(250));
            h.observe(Duration::from_secs(2));
            assert_eq!(h.count(), 4);
            assert!((h.sum_seconds() - 2.450_000_001).abs() < 1e-12);
        }
        let text = registry.encode(Format::OpenMetrics).unwrap();
        let before = crate::family::unix_now();
        for name in ["bridged", "native"] {
            let mut lines: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with(name) || l.contains(&format!(" {name}")))
                .collect();
            // Registered as a family source, the histogram has its start time;
            // through prometheus-client's encoder, which has no place for one,
            // it has none.
            if name == "native" {
                let created = lines.pop().unwrap();
                let (series, value) = created.rsplit_once(' ').unwrap();
                assert_eq!(series, "native_seconds_created");
                let value: f64 = value.parse().unwrap();
                assert!(value <= before && value > before - 3600.0, "{created}");
            }
            let help = if name == "bridged" {
                "Bridged."
            } else {
                "Native."
            };
            assert_eq!(
                lines,
                [
                    format!("# HELP {name}_seconds {help}"),
                    format!("# TYPE {name}_seconds histogram"),
                    format!("{name}_seconds_bucket{{le=\"0.1\"}} 1"),
                    format!("{name}_seconds_bucket{{le=\"1.0\"}} 3"),
                    format!("{name}_seconds_bucket{{le=\"+Inf\"}} 4"),
                    format!("{name}_seconds_sum 2.450000001"),
                    format!("{name}_seconds_count 4"),
                ],
                "{text}"
            );
        }
    }

    #[test]
    fn each_live_thread_has_a_shard_of_its_own() {
        use std::sync::mpsc;
        // Threads that observe, say which shard they write, and hold it until told
        // to exit.
        fn spawn<'scope, 'env>(
            s: &'scope std::thread::Scope<'scope, 'env>,
            cells: &'env Cells,
        ) -> (usize, mpsc::Sender<()>) {
            let (shard_tx, shard_rx) = mpsc::channel();
            let (exit_tx, exit_rx) = mpsc::channel::<()>();
            s.spawn(move || {
                cells.observe(&[5], 1);
                shard_tx.send(slot::current()).unwrap();
                let _ = exit_rx.recv();
            });
            (shard_rx.recv().unwrap(), exit_tx)
        }
        // Threads of other tests take shards too (then these get the shared one):
        // the rounds make it likely that some find shards free.
        let cells = Cells::new(1);
        for _ in 0..20 {
            std::thread::scope(|s| {
                let a = spawn(s, &cells);
                let b = spawn(s, &cells);
                // One that takes a shard and gives it back on exit...
                let (_, exit) = spawn(s, &cells);
                drop(exit);
                // ... then more: no shard held by a live thread is handed out again.
                let mut live = vec![a, b];
                for _ in 0..3 {
                    live.push(spawn(s, &cells));
                }
                let mut exclusive: Vec<usize> = live
                    .iter()
                    .map(|(shard, _)| *shard)
                    .filter(|&shard| shard != SHARED_SHARD)
                    .collect();
                assert!(live.iter().all(|(shard, _)| *shard <= SHARED_SHARD));
                let held = exclusive.len();
                exclusive.sort_unstable();
                exclusive.dedup();
                assert_eq!(exclusive.len(), held, "a shard was handed out twice");
            });
        }
        assert_eq!(cells.snapshot().count, 20 * 6);
    }

    #[test]
    fn every_shard_is_read() {
        // Five threads alive at once, each with one observation in whatever shard
        // it got (so at least one in the shared shard): the totals add up.
        let cells = Cells::new(2);
        let bounds = [10, 20];
        let gate = std::sync::RwLock::new(());
        let (observed, each) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            let closed = gate.write().unwrap();
            for t in 0..5u64 {
                let (cells, gate, observed) = (&cells, &gate, observed.clone());
                s.spawn(move || {
                    cells.observe(&bounds, t * 10);
                    observed.send(()).unwrap();
                    drop(observed);
                    // Held until all five have observed (a panic anywhere opens it).
                    drop(gate.read());
                });
            }
            drop(observed);
            for _ in 0..5 {
                each.recv().unwrap();
            }
            drop(closed);
        });
        let snap = cells.snapshot();
        assert_eq!(snap.buckets, vec![2, 1, 2]);
        assert_eq!(snap.count, 5);
        assert!((snap.sum_seconds - 100e-9).abs() < 1e-18);
        let mut buffer = vec![7];
        assert_eq!(cells.read_into(&mut buffer), (5, snap.sum_seconds));
        assert_eq!(buffer, vec![7, 2, 1, 2]);
    }

    #[test]
    fn bad_bounds_are_errors() {
        let err = DurationHistogram::new([1.0, 0.5]).unwrap_err();
        assert_eq!(err.bounds, [1.0, 0.5]);
        assert_eq!(
            err.to_string(),
            "invalid histogram buckets [1.0, 0.5]: bounds must be strictly increasing \
             and at least a nanosecond apart"
        );
        let err = DurationHistogram::new([f64::NAN]).unwrap_err();
        assert!(err.to_string().contains("finite and not negative"), "{err}");
        let err = DurationHistogram::new([1e12]).unwrap_err();
        assert_eq!(err.reason, "bounds must be below 584 years");
        let h = DurationHistogram::new([]).unwrap();
        h.observe(Duration::from_secs(3));
        assert_eq!((h.count(), h.sum_seconds()), (1, 3.0));
    }
}
