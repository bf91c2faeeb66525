//! Scrape-time collectors: metrics computed on every scrape.
//!
//! A collector is anything that implements [`Collect`], closures included. It is
//! registered under a name, with the families it writes declared up front: the
//! declaration (name, type, help, unit) is what builds the family on every
//! collection, so what is served cannot disagree with it, and a name clash is an
//! error at registration, not a broken exposition later. The collector only adds
//! samples:
//!
//! ```
//! # mod promhttp { pub use promhttp_core::*; }
//! use std::time::Duration;
//! use promhttp::collect::Families;
//! use promhttp::family::MetricFamily;
//! use promhttp::{Format, Registry};
//!
//! let registry = Registry::new();
//! registry
//!     .collector("queue")
//!     .family(MetricFamily::gauge("queue_depth", "Jobs waiting."))
//!     .timeout(Duration::from_secs(2))
//!     .register(|out: &mut Families| {
//!         out.family("queue_depth")?.add_gauge([("queue", "mail")], 3.0);
//!         Ok(())
//!     })?;
//!
//! let text = registry.encode(Format::OpenMetrics)?;
//! assert!(text.contains("# HELP queue_depth Jobs waiting.\n"));
//! assert!(text.contains("queue_depth{queue=\"mail\"} 3\n"));
//! assert!(text.contains("promhttp_collector_errors_total{collector=\"queue\"} 0\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A collector that returns an error, panics, overruns its timeout or asks for a
//! family it did not declare does not break the scrape: its families are left
//! out, the rest is served, the cause is logged through `tracing`. A family that
//! breaks [`MetricFamily::validate`] is left out alone; a declared family the
//! collector added no sample to is not served. Two families say what happened,
//! labelled by collector name:
//!
//! - `promhttp_collector_errors_total{collector}`: failed collections;
//! - `promhttp_collector_duration_seconds{collector}`: how long the last collection
//!   took (the timeout, for one that overran it).
//!
//! Scrapes that overlap (a pair of Prometheus servers, curl during a scrape)
//! share one run of the collectors: a scrape that starts while a run is under way
//! waits for it and serves its families, so each collector runs once and no
//! scrape finds it busy. A collection that overran its timeout and still runs on
//! its thread when the next run starts is not started twice: that run counts an
//! error for it.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::encode::{Descriptor, Encoder};
use crate::family::{MetricFamily, MetricType, Sample};
use crate::parse::validate::Fingerprints;
pub use crate::registry::CollectorHandle;
use crate::registry::{Registry, RegistryError};

/// What a collector returns when it cannot collect; any error type converts into it
/// with `?`.
pub type CollectError = Box<dyn std::error::Error + Send + Sync>;

/// The timeout a collector gets unless told otherwise: a slow collector must not
/// hold a scrape past Prometheus' default 10 s scrape timeout.
pub const DEFAULT_COLLECTOR_TIMEOUT: Duration = Duration::from_secs(5);

/// The error counter every registry with collectors exposes (a counter: the sample
/// is `promhttp_collector_errors_total`).
pub const COLLECTOR_ERRORS: &str = "promhttp_collector_errors";
/// The gauge of each collector's last collection time, in seconds.
pub const COLLECTOR_DURATION: &str = "promhttp_collector_duration_seconds";

/// Metrics computed on every scrape; see the [module docs](self).
///
/// Implemented for every `Fn(&mut Families) -> Result<(), CollectError>` closure
/// that is `Send + Sync + 'static`.
pub trait Collect: Send + Sync + 'static {
    /// Adds this scrape's samples to the families the collector declared.
    ///
    /// # Errors
    /// Whatever stopped the collection; it is counted, logged and the collector's
    /// families are left out of this scrape.
    fn collect(&self, families: &mut Families) -> Result<(), CollectError>;
}

impl<F> Collect for F
where
    F: Fn(&mut Families) -> Result<(), CollectError> + Send + Sync + 'static,
{
    fn collect(&self, families: &mut Families) -> Result<(), CollectError> {
        self(families)
    }
}

/// The families a collector declared, without samples at the start of each
/// collection. Their names, types, help and units are the declarations'; a
/// collector only adds samples, so what it serves cannot disagree with what it
/// declared.
///
/// The samples of one collection are kept for the next: the `add_` methods of
/// [`DeclaredFamily`] write over them, so a collector that serves about as many
/// series from one scrape to the next allocates nothing for them.
#[derive(Debug)]
pub struct Families {
    families: Vec<MetricFamily>,
    /// Per family: whether a sample came from elsewhere than the `add_gauge`,
    /// `add_counter` and `add_info` of a gauge, counter, info or unknown family
    /// (or was handed out to be changed), so that only the whole check can vouch
    /// for it.
    free_form: Vec<bool>,
    /// Samples of an earlier collection whose allocations are written over.
    pool: Vec<Sample>,
    /// Whether the families were checked where they were made (a poller's, at
    /// poll time), so a scrape serves them as they are.
    checked: bool,
}

impl Families {
    pub(crate) fn declared(prototypes: &[MetricFamily]) -> Self {
        Self::reusing(prototypes, Vec::new())
    }

    /// The declared families, with `pool` to write the samples over.
    fn reusing(prototypes: &[MetricFamily], pool: Vec<Sample>) -> Self {
        Self {
            families: prototypes.to_vec(),
            free_form: vec![false; prototypes.len()],
            pool,
            checked: false,
        }
    }

    /// The families with samples, each checked with [`MetricFamily::validate`];
    /// `Err` names the first that breaks a rule, or a family that is not the
    /// declaration's (`Families` from another collector or poller).
    pub(crate) fn checked(self, prototypes: &[MetricFamily]) -> Result<Vec<MetricFamily>, String> {
        if self.families.len() != prototypes.len()
            || self
                .families
                .iter()
                .zip(prototypes)
                .any(|(f, p)| f.name != p.name || f.metric_type != p.metric_type)
        {
            return Err("it returned families it was not given".to_owned());
        }
        let mut out = Vec::with_capacity(self.families.len());
        for family in self.families {
            if family.samples.is_empty() {
                continue;
            }
            family.validate().map_err(|e| e.to_string())?;
            out.push(family);
        }
        Ok(out)
    }

    /// The declared family `name`, to add samples to.
    ///
    /// # Errors
    /// [`NotDeclared`] when the collector declared no family of that name; with
    /// `?` it fails the collection, which is counted and logged.
    pub fn family(&mut self, name: &str) -> Result<DeclaredFamily<'_>, NotDeclared> {
        let Some(at) = self.families.iter().position(|f| f.name == name) else {
            return Err(NotDeclared {
                name: name.to_owned(),
            });
        };
        let family = &mut self.families[at];
        let free_form = &mut self.free_form[at];
        if !matches!(
            family.metric_type,
            MetricType::Gauge | MetricType::Counter | MetricType::Info | MetricType::Unknown
        ) {
            *free_form = true;
        }
        Ok(DeclaredFamily {
            family,
            free_form,
            pool: &mut self.pool,
        })
    }
}

/// A family of [`Families`]: its samples can be added to, its name and type are
/// the declaration's. The `add_` methods are [`MetricFamily`]'s, with label names
/// and values borrowed (`&str`, `String`, anything `AsRef<str>`).
#[derive(Debug)]
pub struct DeclaredFamily<'a> {
    family: &'a mut MetricFamily,
    free_form: &'a mut bool,
    pool: &'a mut Vec<Sample>,
}

impl DeclaredFamily<'_> {
    /// The family's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.family.name
    }

    /// The family's type.
    #[must_use]
    pub fn metric_type(&self) -> MetricType {
        self.family.metric_type
    }

    /// Adds a sample named the family's name and `suffix`, written over one of
    /// the pool's.
    fn push<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        suffix: &str,
        labels: impl IntoIterator<Item = (K, V)>,
        value: f64,
    ) {
        let mut sample = self.pool.pop().unwrap_or_default();
        sample.name.clear();
        sample.name.push_str(&self.family.name);
        sample.name.push_str(suffix);
        let mut n = 0;
        for (k, v) in labels {
            let (k, v) = (k.as_ref(), v.as_ref());
            match sample.labels.get_mut(n) {
                Some((name, value)) => {
                    name.clear();
                    name.push_str(k);
                    value.clear();
                    value.push_str(v);
                }
                None => sample.labels.push((k.to_owned(), v.to_owned())),
            }
            n += 1;
        }
        sample.labels.truncate(n);
        sample.value = value;
        sample.timestamp = None;
        sample.exemplar = None;
        self.family.samples.push(sample);
    }

    /// Adds a sample named the family's name and `suffix` with the labels of the
    /// last sample, written over one of the pool's.
    fn push_copy(&mut self, suffix: &str, value: f64) {
        let Some(last) = self.family.samples.last() else {
            return;
        };
        let mut sample = self.pool.pop().unwrap_or_default();
        sample.name.clear();
        sample.name.push_str(&self.family.name);
        sample.name.push_str(suffix);
        sample.labels.clone_from(&last.labels);
        sample.value = value;
        sample.timestamp = None;
        sample.exemplar = None;
        self.family.samples.push(sample);
    }

    /// As [`MetricFamily::add_gauge`].
    pub fn add_gauge<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        labels: impl IntoIterator<Item = (K, V)>,
        value: f64,
    ) -> &mut Self {
        if !matches!(
            self.family.metric_type,
            MetricType::Gauge | MetricType::Unknown
        ) {
            *self.free_form = true;
        }
        self.push("", labels, value);
        self
    }

    /// As [`MetricFamily::add_counter`].
    pub fn add_counter<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        labels: impl IntoIterator<Item = (K, V)>,
        value: f64,
        created: Option<f64>,
    ) -> &mut Self {
        if self.family.metric_type != MetricType::Counter {
            *self.free_form = true;
        }
        self.push("_total", labels, value);
        if let Some(created) = created {
            self.push_copy("_created", created);
        }
        self
    }

    /// As [`MetricFamily::add_info`].
    pub fn add_info<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        labels: impl IntoIterator<Item = (K, V)>,
    ) -> &mut Self {
        if self.family.metric_type != MetricType::Info {
            *self.free_form = true;
        }
        self.push("_info", labels, 1.0);
        self
    }

    /// As [`MetricFamily::add_stateset`].
    pub fn add_stateset<K, V, S>(
        &mut self,
        labels: impl IntoIterator<Item = (K, V)>,
        states: impl IntoIterator<Item = (S, bool)>,
    ) -> &mut Self
    where
        K: AsRef<str>,
        V: AsRef<str>,
        S: Into<String>,
    {
        *self.free_form = true;
        self.family.add_stateset(owned(labels), states);
        self
    }

    /// As [`MetricFamily::add_histogram`].
    pub fn add_histogram<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        labels: impl IntoIterator<Item = (K, V)>,
        buckets: &[(f64, u64)],
        sum: f64,
        count: u64,
        created: Option<f64>,
    ) -> &mut Self {
        *self.free_form = true;
        self.family
            .add_histogram(owned(labels), buckets, sum, count, created);
        self
    }

    /// The samples added so far, to set a timestamp or an exemplar on one (a
    /// histogram bucket's, say). The family is checked whole before it is served.
    pub fn samples_mut(&mut self) -> &mut [Sample] {
        *self.free_form = true;
        &mut self.family.samples
    }

    /// Adds a sample as it is, for what the methods above do not write (a
    /// summary's quantiles, a gauge histogram's buckets, a timestamp, an
    /// exemplar). Its name must be the family's or one its type implies; the
    /// family is checked whole before it is served.
    pub fn add_sample(&mut self, sample: Sample) -> &mut Self {
        *self.free_form = true;
        self.family.samples.push(sample);
        self
    }
}

fn owned<K: AsRef<str>, V: AsRef<str>>(
    labels: impl IntoIterator<Item = (K, V)>,
) -> impl Iterator<Item = (String, String)> {
    labels
        .into_iter()
        .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
}

/// A collector asked [`Families::family`] for a family it did not declare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotDeclared {
    /// The name asked for.
    pub name: String,
}

impl fmt::Display for NotDeclared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the family `{}` was not declared for this collector",
            self.name
        )
    }
}

impl std::error::Error for NotDeclared {}

/// What a registered collector runs.
enum Kind {
    /// A user's collector, writing into its declared families.
    Declared {
        prototypes: Vec<MetricFamily>,
        collector: Box<dyn Collect>,
    },
    /// Families made and checked elsewhere (a poller's), served as they are.
    Checked(Box<dyn Fn() -> Vec<MetricFamily> + Send + Sync>),
}

/// Where a collector runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// On the scrape thread, no timeout: for collectors that only read memory.
    Inline,
    /// On a thread of its own, abandoned after the timeout.
    Thread(Duration),
}

pub(crate) struct Entry {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) reserved: Vec<String>,
    mode: Mode,
    /// Whether the collector has series in the `promhttp_collector_*` families.
    reported: bool,
    collector: Arc<Kind>,
    /// Whether a collection is under way on the worker thread.
    running: Arc<AtomicBool>,
    /// The worker thread's queue (threaded collectors, from their first scrape on);
    /// the thread ends when the entry, and so this sender, is dropped.
    worker: Mutex<Option<mpsc::Sender<Job>>>,
    errors: AtomicU64,
    last_duration: AtomicU64,
    /// When the collector was registered: the start of its error counter.
    registered: f64,
    /// The samples of the last collection served, whose allocations the next
    /// one writes over (declared collectors only).
    pool: Mutex<Vec<Sample>>,
    /// Scratch space of the quick checks, kept for its allocation.
    seen: Mutex<Fingerprints>,
}

impl Entry {
    fn fail(&self, what: &dyn fmt::Display) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            collector = %self.name,
            "collector failed, its metrics are left out of this scrape: {what}"
        );
    }

    fn set_duration(&self, d: Duration) {
        self.last_duration
            .store(d.as_secs_f64().to_bits(), Ordering::Relaxed);
    }

    #[cfg(test)]
    pub(crate) fn pool_len(&self) -> usize {
        self.pool.lock().map_or(0, |pool| pool.len())
    }

    /// The samples to write this collection's over.
    fn take_pool(&self) -> Vec<Sample> {
        std::mem::take(&mut *self.pool.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// What one run of the collectors produced: the families to serve, in order,
/// and which collector's samples may be reused by its next collection.
#[derive(Default)]
pub(crate) struct Collected {
    pub(crate) families: Vec<MetricFamily>,
    /// (index in `families`, index of the collector in the run), for the
    /// families of declared collectors.
    owners: Vec<(usize, usize)>,
    /// (index of the collector in the run, errors so far, last duration) of
    /// the collectors reported in the `promhttp_collector_*` families.
    reports: Vec<(usize, f64, f64)>,
}

/// Hands the samples of a run's families back to the collectors that made them,
/// for their next collection to write over. `entries` are the run's.
pub(crate) fn recycle(entries: &[Arc<Entry>], collected: Collected) {
    let Collected {
        mut families,
        owners,
        ..
    } = collected;
    for (at, owner) in owners {
        let (Some(family), Some(entry)) = (families.get_mut(at), entries.get(owner)) else {
            continue;
        };
        entry
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .append(&mut family.samples);
    }
}

/// The families of a collection that are served: those with samples that pass
/// [`MetricFamily::validate`] (all of them, when they were checked where they
/// were made), and the first problem of any that do not.
struct Served {
    families: Vec<MetricFamily>,
    /// Whether `families` are a declared collector's, whose samples can be reused.
    reusable: bool,
    problem: Option<String>,
}

impl Families {
    /// Checks the families where they were collected, while their samples are
    /// in that thread's cache.
    fn serve(self, seen: &mut Fingerprints) -> Served {
        if self.checked {
            return Served {
                families: self.families,
                reusable: false,
                problem: None,
            };
        }
        let mut problem: Option<String> = None;
        let mut families = Vec::with_capacity(self.families.len());
        for (family, free_form) in self.families.into_iter().zip(self.free_form) {
            if family.samples.is_empty() {
                continue;
            }
            // What the `add_` methods built is checked the quick way, which
            // vouches only for what `validate` passes and leaves it the rest.
            let valid = (!free_form && family.quick_check(seen))
                || match family.validate() {
                    Ok(()) => true,
                    Err(err) => {
                        problem.get_or_insert(err.to_string());
                        false
                    }
                };
            if valid {
                families.push(family);
            }
        }
        Served {
            families,
            reusable: true,
            problem,
        }
    }
}

/// A collector's result as the scrape thread receives it.
type Outcome = Result<Result<Served, CollectError>, String>;

/// Where a worker sends the outcome of the collection it was asked for, tagged with
/// the collector's index in that scrape.
type Reply = mpsc::Sender<(usize, Outcome, Duration)>;
type Job = (usize, Reply, Vec<Sample>);

/// Runs a collection and checks what it served; the time is the collection's.
fn call(kind: &Kind, pool: Vec<Sample>, seen: &mut Fingerprints) -> (Outcome, Duration) {
    let t0 = Instant::now();
    let mut took = Duration::ZERO;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let families = match kind {
            Kind::Declared {
                prototypes,
                collector,
            } => {
                let mut families = Families::reusing(prototypes, pool);
                collector.collect(&mut families).map(|()| families)
            }
            Kind::Checked(families) => Ok(Families {
                families: families(),
                free_form: Vec::new(),
                pool,
                checked: true,
            }),
        };
        took = t0.elapsed();
        families.map(|families| families.serve(seen))
    }))
    .map_err(|panic| panic_message(panic.as_ref()));
    if took.is_zero() {
        took = t0.elapsed();
    }
    (outcome, took)
}

impl Entry {
    /// Hands a collection to the collector's worker thread, starting the thread if
    /// there is none yet.
    fn dispatch(&self, job: Job) -> Result<(), String> {
        let mut worker = self.worker.lock().unwrap_or_else(PoisonError::into_inner);
        let job = match worker.as_ref() {
            Some(queue) => match queue.send(job) {
                Ok(()) => return Ok(()),
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let (queue, jobs) = mpsc::channel::<Job>();
        let (collector, running) = (Arc::clone(&self.collector), Arc::clone(&self.running));
        std::thread::Builder::new()
            .name(format!("collector {}", self.name))
            .spawn(move || {
                let mut seen = Fingerprints::default();
                for (i, reply, pool) in jobs {
                    let (outcome, took) = call(collector.as_ref(), pool, &mut seen);
                    running.store(false, Ordering::Release);
                    let _ = reply.send((i, outcome, took));
                }
            })
            .map_err(|e| format!("no thread to run it on: {e}"))?;
        queue
            .send(job)
            .map_err(|_| "its worker thread ended".to_owned())?;
        *worker = Some(queue);
        Ok(())
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let msg = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a non-string payload");
    format!("it panicked: {msg}")
}

/// How long a scrape polls for the outcome of a threaded collection before it
/// sleeps until the outcome comes.
const SPIN: Duration = Duration::from_micros(50);

/// Runs every collector for one scrape and returns their families and the
/// figures of the two families about the collectors themselves.
pub(crate) fn run(entries: &[Arc<Entry>]) -> Collected {
    let (tx, rx) = mpsc::channel::<(usize, Outcome, Duration)>();
    let mut outcomes: Vec<Option<(Outcome, Duration)>> = entries.iter().map(|_| None).collect();
    let mut pending: Vec<(usize, Instant)> = Vec::new();
    let start = Instant::now();
    for (i, entry) in entries.iter().enumerate() {
        let Mode::Thread(timeout) = entry.mode else {
            continue;
        };
        if entry.running.swap(true, Ordering::AcqRel) {
            outcomes[i] = Some((
                Err("its collection from an earlier scrape is still running".to_owned()),
                Duration::ZERO,
            ));
            continue;
        }
        match entry.dispatch((i, tx.clone(), entry.take_pool())) {
            Ok(()) => pending.push((i, start + timeout)),
            Err(e) => {
                entry.running.store(false, Ordering::Release);
                outcomes[i] = Some((Err(e), Duration::ZERO));
            }
        }
    }
    drop(tx);
    // Inline collectors run while the threaded ones work.
    for (i, entry) in entries.iter().enumerate() {
        if entry.mode == Mode::Inline {
            let mut seen = entry.seen.lock().unwrap_or_else(PoisonError::into_inner);
            outcomes[i] = Some(call(entry.collector.as_ref(), entry.take_pool(), &mut seen));
        }
    }
    while let Some(&deadline) = pending.iter().map(|(_, d)| d).min() {
        let now = Instant::now();
        let received = if deadline > now {
            // A collection that ends within microseconds is picked up without
            // going to sleep: waking a sleeping thread costs more than the wait.
            let spin_until = now + SPIN.min(deadline - now);
            let mut received = None;
            while received.is_none() && Instant::now() < spin_until {
                received = rx.try_recv().ok();
                std::hint::spin_loop();
            }
            received.or_else(|| {
                rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
                    .ok()
            })
        } else {
            None
        };
        match received {
            Some((i, outcome, took)) => {
                pending.retain(|(p, _)| *p != i);
                outcomes[i] = Some((outcome, took));
            }
            None => {
                let now = Instant::now();
                pending.retain(|&(i, d)| {
                    if d > now {
                        return true;
                    }
                    let Mode::Thread(timeout) = entries[i].mode else {
                        return false;
                    };
                    outcomes[i] =
                        Some((Err(format!("it overran its {timeout:?} timeout")), timeout));
                    false
                });
            }
        }
    }
    let mut out = Collected::default();
    for (i, (entry, outcome)) in entries.iter().zip(outcomes).enumerate() {
        let Some((outcome, took)) = outcome else {
            continue;
        };
        entry.set_duration(took);
        match outcome {
            Ok(Ok(served)) => {
                if let Some(problem) = &served.problem {
                    entry.fail(problem);
                }
                for family in served.families {
                    if served.reusable {
                        out.owners.push((out.families.len(), i));
                    }
                    out.families.push(family);
                }
            }
            Ok(Err(e)) => entry.fail(&e),
            Err(e) => entry.fail(&e),
        }
    }
    for (i, entry) in entries.iter().enumerate().filter(|(_, e)| e.reported) {
        #[allow(clippy::cast_precision_loss)]
        let errors = entry.errors.load(Ordering::Relaxed) as f64;
        let duration = f64::from_bits(entry.last_duration.load(Ordering::Relaxed));
        out.reports.push((i, errors, duration));
    }
    out
}

impl Collected {
    /// Writes the run's families, then the two families about the collectors
    /// themselves; `entries` are the run's.
    pub(crate) fn write(&self, entries: &[Arc<Entry>], encoder: &mut Encoder) {
        for family in &self.families {
            encoder.write_family(family);
        }
        if self.reports.is_empty() {
            return;
        }
        let name = |i: usize| entries.get(i).map_or("", |e| e.name.as_str());
        encoder.family(&Descriptor::new(
            COLLECTOR_ERRORS,
            MetricType::Counter,
            "Collections that failed, overran their timeout or returned invalid families, by collector.",
        ));
        for &(i, errors, _) in &self.reports {
            let registered = entries.get(i).map(|e| e.registered);
            encoder.counter(&[("collector", name(i))], errors, registered, None);
        }
        encoder.family(&Descriptor::new(
            COLLECTOR_DURATION,
            MetricType::Gauge,
            "How long each collector's last collection took (its timeout if it overran).",
        ));
        for &(i, _, duration) in &self.reports {
            encoder.gauge(&[("collector", name(i))], duration);
        }
    }
}

/// Configures and registers a scrape-time collector; from [`Registry::collector`].
#[must_use = "nothing is registered until `register` is called"]
pub struct CollectorBuilder<'r> {
    registry: &'r Registry,
    name: String,
    declared: Vec<MetricFamily>,
    mode: Mode,
    reported: bool,
}

impl fmt::Debug for CollectorBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CollectorBuilder")
            .field("name", &self.name)
            .field("declared", &self.declared)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl<'r> CollectorBuilder<'r> {
    pub(crate) fn new(registry: &'r Registry, name: &str) -> Self {
        Self {
            registry,
            name: name.to_owned(),
            declared: Vec::new(),
            mode: Mode::Thread(DEFAULT_COLLECTOR_TIMEOUT),
            reported: true,
        }
    }

    /// Leaves the collector out of the `promhttp_collector_*` families: for the
    /// in-memory families of [`crate::source`], which cannot fail, and for pollers,
    /// which count their failures in families of their own. A failure is still
    /// logged.
    pub(crate) fn unreported(mut self) -> Self {
        self.reported = false;
        self
    }

    /// Declares a family the collector writes: `family` gives its name, type,
    /// help and unit, and no samples (build it with [`MetricFamily::gauge`],
    /// [`MetricFamily::counter`], [`MetricFamily::new`], [`MetricFamily::with_unit`]).
    /// Its name and the sample names its type implies are reserved in the
    /// registry. On every collection the collector gets the declared families
    /// without samples and adds its samples ([`Families::family`]); a family it
    /// adds none to is left out of that scrape.
    pub fn family(mut self, family: MetricFamily) -> Self {
        self.declared.push(family);
        self
    }

    /// Runs the collector on a thread of its own (started on the first scrape and
    /// kept for the next) and gives up waiting for it after `timeout` (default [`DEFAULT_COLLECTOR_TIMEOUT`]). A collection still
    /// running when the next scrape comes is not started twice: that scrape counts
    /// an error for it.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.mode = Mode::Thread(timeout);
        self
    }

    /// Runs the collector on the scrape thread, with no timeout. Only for
    /// collectors that read memory and never block.
    pub fn inline(mut self) -> Self {
        self.mode = Mode::Inline;
        self
    }

    /// Registers the collector.
    ///
    /// # Errors
    /// [`RegistryError::InvalidName`] for an invalid family name,
    /// [`RegistryError::NameClash`] when a declared name (or a sample name it
    /// implies, or `promhttp_collector_*` on a registry's first collector) is taken,
    /// and [`RegistryError::DuplicateCollector`] when a collector of this name is
    /// registered already. Nothing is registered then.
    pub fn register(self, collector: impl Collect) -> Result<CollectorHandle, RegistryError> {
        let prototypes = self.declared.clone();
        self.register_kind(Kind::Declared {
            prototypes,
            collector: Box::new(collector),
        })
    }

    /// Registers families made and checked elsewhere (a poller's, at poll time):
    /// they are served as `families` returns them, not checked again.
    pub(crate) fn register_checked(
        self,
        families: impl Fn() -> Vec<MetricFamily> + Send + Sync + 'static,
    ) -> Result<CollectorHandle, RegistryError> {
        self.register_kind(Kind::Checked(Box::new(families)))
    }

    fn register_kind(self, kind: Kind) -> Result<CollectorHandle, RegistryError> {
        let mut reserved = Vec::new();
        for family in &self.declared {
            crate::names::check_metric_name(&family.name).map_err(|reason| {
                RegistryError::InvalidName {
                    name: family.name.clone(),
                    reason,
                }
            })?;
            // The collector looks its families up by the declared name, so a
            // counter named `jobs_total` is refused rather than renamed.
            if family.metric_type == MetricType::Counter && family.name.ends_with("_total") {
                let base = crate::names::without_total(&family.name);
                return Err(RegistryError::InvalidFamily {
                    name: family.name.clone(),
                    reason: format!(
                        "a counter family is named without `_total` (declare `{base}`; its samples are `{base}_total`)"
                    ),
                });
            }
            if !family.samples.is_empty() {
                return Err(RegistryError::InvalidFamily {
                    name: family.name.clone(),
                    reason: "a declaration has no samples; the collector adds them".to_owned(),
                });
            }
            family
                .validate()
                .map_err(|err| RegistryError::InvalidFamily {
                    name: family.name.clone(),
                    reason: err.reason,
                })?;
            reserved.extend(family.metric_type.sample_names(&family.name));
        }
        let entry = Entry {
            id: 0,
            name: self.name,
            reserved,
            mode: self.mode,
            reported: self.reported,
            collector: Arc::new(kind),
            running: Arc::new(AtomicBool::new(false)),
            worker: Mutex::new(None),
            errors: AtomicU64::new(0),
            last_duration: AtomicU64::new(0f64.to_bits()),
            registered: crate::family::unix_now(),
            pool: Mutex::new(Vec::new()),
            seen: Mutex::new(Fingerprints::default()),
        };
        let id = self.registry.add_scrape_collector(entry)?;
        Ok(CollectorHandle::new(self.registry.clone(), id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Format;

    fn gauge(name: &str) -> MetricFamily {
        MetricFamily::gauge(name, "")
    }

    /// A collector that sets the unlabelled gauge `name` to `v`.
    fn set(name: &'static str, v: f64) -> impl Collect {
        move |out: &mut Families| {
            out.family(name)?.add_gauge(crate::family::NO_LABELS, v);
            Ok(())
        }
    }

    fn nothing(_: &mut Families) -> Result<(), CollectError> {
        Ok(())
    }

    use crate::family::test_value as value;

    /// A xorshift generator: the same draws on every machine.
    struct Draws(u64);

    impl Draws {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            usize::try_from(self.0 % n as u64).unwrap()
        }

        fn pick<T: Copy>(&mut self, from: &[T]) -> T {
            from[self.below(from.len())]
        }
    }

    /// Adds a random sample to `f` through the `add_` methods: label names valid
    /// or not, repeated or not, series repeated or not, values in range or not.
    fn add_random(d: &mut Draws, f: &mut DeclaredFamily<'_>) {
        const NAMES: [&str; 9] = ["a", "b", "pod", "le", "quantile", "1x", "__x", "a-b", ""];
        const VALUES: [&str; 3] = ["x", "y", "\"\n"];
        const NUMBERS: [f64; 7] = [0.0, 1.0, 2.5, -1.0, f64::NAN, f64::INFINITY, 1e300];
        let labels: Vec<(&str, &str)> = (0..d.below(4))
            .map(|_| {
                let names = if d.below(8) == 0 {
                    &NAMES[..]
                } else {
                    &NAMES[..3]
                };
                (d.pick(names), d.pick(&VALUES))
            })
            .collect();
        // Mostly the method of the family's type, now and then another.
        let method = match (d.below(10), f.metric_type()) {
            (0, _) => d.below(3),
            (_, MetricType::Counter) => 1,
            (_, MetricType::Info) => 2,
            _ => 0,
        };
        match method {
            0 => {
                f.add_gauge(labels, d.pick(&NUMBERS));
            }
            1 => {
                let created = (d.below(2) == 0).then(|| d.pick(&NUMBERS));
                f.add_counter(labels, d.pick(&NUMBERS), created);
            }
            _ => {
                f.add_info(labels);
            }
        }
    }

    #[test]
    fn the_quick_check_agrees_with_validate_on_what_the_add_methods_build() {
        let mut d = Draws(0x9e37_79b9_7f4a_7c15);
        let mut seen = Fingerprints::default();
        let (mut quick, mut valid, mut free) = (0, 0, 0);
        let types = [
            MetricType::Gauge,
            MetricType::Unknown,
            MetricType::Counter,
            MetricType::Info,
        ];
        for round in 0..20_000 {
            let t = d.pick(&types);
            let declared = [MetricFamily::new(format!("f{round}"), t, "")];
            let mut families = Families::declared(&declared);
            let mut f = families.family(&declared[0].name).unwrap();
            for _ in 0..d.below(5) {
                add_random(&mut d, &mut f);
            }
            let family = &families.families[0];
            let ok = family.validate().is_ok();
            if families.free_form[0] {
                // An `add_` method that is not the type's: left to `validate`.
                free += 1;
                continue;
            }
            let fast = family.quick_check(&mut seen);
            assert_eq!(fast, ok, "{family:#?}: quick {fast}, validate {ok}");
            quick += usize::from(fast);
            valid += usize::from(ok);
        }
        // Both verdicts came up often, and so did families left to `validate`.
        assert!(
            quick > 2_000 && valid - quick == 0 && free > 2_000,
            "{quick} {valid} {free}"
        );
        assert!(20_000 - free - valid > 2_000, "{quick} {valid} {free}");
    }

    #[test]
    fn reused_samples_serve_exactly_what_each_collection_added() {
        // Collection k adds the shapes of seed k; a registry that served
        // collections 0..k before must serve collection k as a new one does.
        let step = Arc::new(AtomicU64::new(0));
        let collector = |step: Arc<AtomicU64>| {
            move |out: &mut Families| {
                let mut d = Draws(0x5851_f42d_4c95_7f2d ^ step.load(Ordering::Relaxed));
                for name in ["g", "c", "i"] {
                    let mut f = out.family(name)?;
                    for j in 0..d.below(6) {
                        // Series told apart by `j`, labels of any count and size.
                        let labels: Vec<(String, String)> = (0..d.below(4))
                            .map(|i| (format!("l{i}"), "v".repeat(d.below(40))))
                            .chain([("j".to_owned(), j.to_string())])
                            .collect();
                        let v = f64::from(u32::try_from(d.below(1000)).unwrap());
                        match name {
                            "g" => f.add_gauge(labels, v),
                            "c" => f.add_counter(labels, v, (d.below(2) == 0).then_some(v)),
                            _ => f.add_info(labels),
                        };
                    }
                }
                Ok(())
            }
        };
        let declare = |registry: &Registry, step: Arc<AtomicU64>, inline: bool| {
            let builder = registry
                .collector("shapes")
                .family(gauge("g"))
                .family(MetricFamily::counter("c", ""))
                .family(MetricFamily::new("i", MetricType::Info, ""));
            let builder = if inline { builder.inline() } else { builder };
            builder.register(collector(step)).unwrap();
        };
        for inline in [true, false] {
            let reused = Registry::new();
            declare(&reused, Arc::clone(&step), inline);
            for k in 0..200 {
                step.store(k, Ordering::Relaxed);
                let fresh = Registry::new();
                declare(&fresh, Arc::clone(&step), inline);
                let (a, b) = (
                    reused.encode(Format::OpenMetrics).unwrap(),
                    fresh.encode(Format::OpenMetrics).unwrap(),
                );
                // The collector's own duration differs; everything else agrees.
                let keep = |t: &str| {
                    t.lines()
                        .filter(|l| {
                            !l.starts_with(COLLECTOR_DURATION)
                                && !l.starts_with("promhttp_collector_errors_created")
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                assert_eq!(keep(&a), keep(&b), "collection {k}, inline {inline}");
                assert!(a.contains("promhttp_collector_errors_total{collector=\"shapes\"} 0\n"));
            }
            // The pool holds what the last collection served, no more.
            let served = keep_samples(&reused);
            assert_eq!(reused.collector_pools(), vec![served]);
        }
    }

    /// How many samples of the collector `shapes` one more scrape serves.
    fn keep_samples(registry: &Registry) -> usize {
        let text = registry.encode(Format::OpenMetrics).unwrap();
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("promhttp_"))
            .count()
    }

    #[test]
    fn a_counter_declared_with_total_is_refused_with_the_name_to_use() {
        let registry = Registry::new();
        let err = registry
            .collector("jobs")
            .family(MetricFamily::counter("jobs_total", ""))
            .register(nothing)
            .unwrap_err();
        let RegistryError::InvalidFamily { name, reason } = &err else {
            panic!("{err}");
        };
        assert_eq!(name, "jobs_total");
        assert!(reason.contains("declare `jobs`"), "{reason}");
        // A gauge may end in `_total`.
        registry
            .collector("queue")
            .family(gauge("queue_total"))
            .register(nothing)
            .unwrap();
    }

    #[test]
    fn failures_leave_the_rest_of_the_scrape_intact() {
        let registry = Registry::new();
        registry
            .collector("ok")
            .family(gauge("ok_value"))
            .register(set("ok_value", 7.0))
            .unwrap();
        registry
            .collector("err")
            .family(gauge("err_value"))
            .register(|_: &mut Families| Err("upstream down".into()))
            .unwrap();
        registry
            .collector("panics")
            .family(gauge("panics_value"))
            .inline()
            .register(|_: &mut Families| -> Result<(), CollectError> { panic!("boom") })
            .unwrap();
        // Each collection of `slow` waits for a permit from the test: it overruns
        // its timeout for sure, and is still running while the test says so.
        let (permits, gate) = mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        let finished = Arc::new(AtomicBool::new(false));
        let done = Arc::clone(&finished);
        registry
            .collector("slow")
            .family(gauge("slow_value"))
            .timeout(Duration::from_millis(100))
            .register(move |out: &mut Families| {
                // The limit only ends a test that failed; with no permit coming,
                // the collection gives up.
                let gate = gate.lock().unwrap_or_else(PoisonError::into_inner);
                let _ = gate.recv_timeout(Duration::from_secs(60));
                done.store(true, Ordering::SeqCst);
                out.family("slow_value")?
                    .add_gauge(crate::family::NO_LABELS, 1.0);
                Ok(())
            })
            .unwrap();
        // Asking for a family it did not declare fails the collection.
        registry
            .collector("undeclared")
            .family(gauge("early"))
            .register(|out: &mut Families| {
                out.family("early")?
                    .add_gauge(crate::family::NO_LABELS, 1.0);
                out.family("sneaky")?
                    .add_gauge(crate::family::NO_LABELS, 2.0);
                Ok(())
            })
            .unwrap();
        // A family that breaks a rule is left out, the collector's others are
        // served, one error is counted.
        registry
            .collector("invalid")
            .family(gauge("good"))
            .family(MetricFamily::counter("broken", ""))
            .family(gauge("untouched"))
            .inline()
            .register(|out: &mut Families| {
                out.family("good")?.add_gauge([("k", "v")], 1.0);
                out.family("broken")?
                    .add_counter(crate::family::NO_LABELS, -1.0, None);
                Ok(())
            })
            .unwrap();

        let text = registry.encode(Format::OpenMetrics).unwrap();
        assert!(
            !finished.load(Ordering::SeqCst),
            "the scrape waited for the slow collection instead of its 100 ms timeout"
        );
        assert_eq!(value(&text, "ok_value "), Some(7.0));
        assert_eq!(value(&text, "good{k=\"v\"} "), Some(1.0));
        for absent in [
            "err_value",
            "panics_value",
            "slow_value",
            "early",
            "sneaky",
            "broken_total",
        ] {
            assert!(
                !text.contains(&format!("\n{absent} ")),
                "{absent} in\n{text}"
            );
        }
        let errors = |c: &str, text: &str| {
            value(
                text,
                &format!("promhttp_collector_errors_total{{collector=\"{c}\"}} "),
            )
        };
        for (c, n) in [
            ("ok", 0.0),
            ("err", 1.0),
            ("panics", 1.0),
            ("slow", 1.0),
            ("undeclared", 1.0),
            ("invalid", 1.0),
        ] {
            assert_eq!(errors(c, &text), Some(n), "{c}\n{text}");
        }
        assert_eq!(
            value(
                &text,
                "promhttp_collector_duration_seconds{collector=\"slow\"} "
            ),
            Some(0.1)
        );

        // A declared family the collector added nothing to is not served.
        assert!(!text.contains("untouched"), "{text}");

        // The slow collection is still running: the next scrape does not start a
        // second one, and counts that as an error.
        let text = registry.encode(Format::Text).unwrap();
        assert_eq!(errors("slow", &text), Some(2.0));
        // Once it has ended, the next scrape starts a new one, which overruns
        // its timeout in turn (or, caught before the worker is free again, is
        // refused as still running): one more error either way.
        permits.send(()).unwrap();
        while !finished.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let text = registry.encode(Format::OpenMetrics).unwrap();
        assert_eq!(errors("slow", &text), Some(3.0), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn one_worker_thread_per_collector_kept_until_unregistered() {
        let registry = Registry::new();
        let threads = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&threads);
        let handle = registry
            .collector("worker")
            .register(move |_: &mut Families| {
                seen.lock().unwrap().push(std::thread::current().id());
                Ok(())
            })
            .unwrap();
        for _ in 0..3 {
            registry.encode(Format::OpenMetrics).unwrap();
        }
        let ids = threads.lock().unwrap().clone();
        assert_eq!(ids.len(), 3);
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
        assert_ne!(ids[0], std::thread::current().id());
        // Unregistered, the entry and its queue go; the worker ends and drops the
        // collector (and with it the closure's clone of `threads`).
        handle.unregister();
        // The limit only ends a test that failed.
        let deadline = Instant::now() + Duration::from_secs(60);
        while Arc::strong_count(&threads) > 1 {
            assert!(Instant::now() < deadline, "the worker thread did not end");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn names_are_reserved_and_freed() {
        let registry = Registry::new();
        let handle = registry
            .collector("c")
            .family(MetricFamily::counter("jobs", ""))
            .register(nothing)
            .unwrap();
        let clash = registry
            .collector("d")
            .family(gauge("jobs_total"))
            .register(nothing)
            .unwrap_err();
        assert_eq!(
            clash,
            RegistryError::NameClash {
                name: "jobs_total".into()
            }
        );
        let dup = registry.collector("c").register(nothing).unwrap_err();
        assert_eq!(dup, RegistryError::DuplicateCollector { name: "c".into() });
        assert!(registry
            .collector("bad")
            .family(gauge("a-b"))
            .register(nothing)
            .is_err());

        handle.unregister();
        let text = registry.encode(Format::OpenMetrics).unwrap();
        assert_eq!(text, "# EOF\n");
        registry
            .collector("d")
            .family(gauge("jobs_total"))
            .register(nothing)
            .unwrap();
    }

    #[test]
    fn a_declaration_is_what_is_served() {
        let registry = Registry::new();
        registry
            .collector("job")
            .family(
                MetricFamily::new(
                    "job_runtime_seconds",
                    MetricType::Gauge,
                    "How long \"it\" ran.",
                )
                .with_unit("seconds"),
            )
            .family(MetricFamily::counter("job_runs", "Runs."))
            .inline()
            .register(|out: &mut Families| {
                let mut runtime = out.family("job_runtime_seconds")?;
                assert_eq!(
                    (runtime.name(), runtime.metric_type()),
                    ("job_runtime_seconds", MetricType::Gauge)
                );
                runtime.add_gauge([("job", "a")], 1.5);
                out.family("job_runs")?
                    .add_counter([("job", "a")], 3.0, None)
                    .add_sample(Sample::new("job_runs_total", [("job", "b")], 4.0));
                Ok(())
            })
            .unwrap();
        let text = registry.encode(Format::OpenMetrics).unwrap();
        assert_eq!(
            text,
            concat!(
                "# HELP job_runtime_seconds How long \\\"it\\\" ran.\n",
                "# TYPE job_runtime_seconds gauge\n",
                "# UNIT job_runtime_seconds seconds\n",
                "job_runtime_seconds{job=\"a\"} 1.5\n",
                "# HELP job_runs Runs.\n",
                "# TYPE job_runs counter\n",
                "job_runs_total{job=\"a\"} 3\n",
                "job_runs_total{job=\"b\"} 4\n",
            )
            .to_owned()
                + &text[text.find("# HELP promhttp_collector_errors").unwrap()..]
        );
        assert_eq!(
            value(&text, "promhttp_collector_errors_total{collector=\"job\"} "),
            Some(0.0)
        );
    }

    #[test]
    fn a_declaration_that_is_not_a_family_is_refused() {
        let registry = Registry::new();
        let mut with_samples = gauge("preset");
        with_samples.add_gauge(crate::family::NO_LABELS, 1.0);
        let err = registry
            .collector("a")
            .family(with_samples)
            .register(nothing)
            .unwrap_err();
        assert!(
            matches!(&err, RegistryError::InvalidFamily { name, .. } if name == "preset"),
            "{err:?}"
        );
        assert!(err.to_string().contains("no samples"), "{err}");
        let err = registry
            .collector("b")
            .family(gauge("latency_ms").with_unit("seconds"))
            .register(nothing)
            .unwrap_err();
        assert!(
            matches!(&err, RegistryError::InvalidFamily { name, .. } if name == "latency_ms"),
            "{err:?}"
        );
        // Nothing was registered: the names are free.
        registry
            .collector("a")
            .family(gauge("preset"))
            .family(gauge("latency_ms"))
            .register(nothing)
            .unwrap();
        let dup = registry
            .collector("c")
            .family(gauge("twice"))
            .family(gauge("twice"))
            .register(nothing)
            .unwrap_err();
        assert_eq!(
            dup,
            RegistryError::NameClash {
                name: "twice".into()
            }
        );
        let err = NotDeclared { name: "x".into() };
        assert_eq!(
            err.to_string(),
            "the family `x` was not declared for this collector"
        );
    }

    #[test]
    fn families_are_checked_against_their_declarations() {
        let declared = [gauge("a"), MetricFamily::counter("b", "")];
        let mut families = Families::declared(&declared);
        families.family("a").unwrap().add_gauge([("k", "v")], 1.0);
        let served = families.checked(&declared).unwrap();
        // `b` has no sample: not served.
        assert_eq!(served.len(), 1);
        assert_eq!(served[0].name, "a");

        let other = Families::declared(&[gauge("x")]);
        assert_eq!(
            other.checked(&declared).unwrap_err(),
            "it returned families it was not given"
        );
        let mut broken = Families::declared(&declared);
        broken
            .family("b")
            .unwrap()
            .add_counter(crate::family::NO_LABELS, f64::NAN, None);
        assert!(broken.checked(&declared).unwrap_err().contains("NaN"));
    }
}
