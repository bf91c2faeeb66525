//! Pollers: an async fetch run on an interval on the tokio runtime, whose latest
//! result is what scrapes see.
//!
//! ```
//! # mod promhttp { pub use promhttp_core::*; }
//! use std::time::Duration;
//! use promhttp::collect::Families;
//! use promhttp::family::MetricFamily;
//! use promhttp::poller::Poller;
//! use promhttp::{Format, Registry};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = Registry::new();
//! let poller = Poller::builder("upstream")
//!     .registry(&registry)
//!     .family(MetricFamily::gauge("upstream_queue_depth", "Jobs waiting upstream."))
//!     .interval(Duration::from_secs(30))
//!     .timeout(Duration::from_secs(5))
//!     .spawn(|mut out: Families| async move {
//!         // Fetch from the upstream here; `?` works on any error.
//!         out.family("upstream_queue_depth")?.add_gauge([("queue", "mail")], 4.0);
//!         Ok(out)
//!     })?;
//!
//! poller.wait_for_polls(1).await;
//! let text = registry.encode(Format::OpenMetrics)?;
//! assert!(text.contains("upstream_queue_depth{queue=\"mail\"} 4\n"));
//! assert!(text.contains("upstream_up 1\n"));
//! poller.stop().await; // its series are gone from the registry now
//! assert_eq!(registry.encode(Format::OpenMetrics)?, "# EOF\n");
//! # Ok(()) }
//! ```
//!
//! Besides the families the fetch returns, each poller `<name>` exports:
//!
//! | family | type | meaning |
//! |---|---|---|
//! | `<name>_up` | gauge | 1 if the last poll succeeded, else 0 (0 before the first) |
//! | `<name>_poll_errors_total` | counter | polls that failed, timed out or panicked |
//! | `<name>_last_success_timestamp_seconds` | gauge | when the last poll succeeded (0: never) |
//! | `<name>_poll_duration_seconds` | gauge | how long the last poll took |
//!
//! A failed poll is logged through `tracing` and counted; the loop goes on. What
//! scrapes see of the last good data after a failure is the [`Stale`] policy.
//! Each scrape shows one poll whole: the data, `_up` and the error count are
//! updated together, so a scrape never pairs one poll's data with another's `_up`.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{watch, Notify};
// Tokio's clock, which the schedule runs on: the same as `std`'s but in tests
// that pause it, where the poll durations and the age of the data follow it.
use tokio::time::Instant;

use crate::collect::{CollectError, CollectorHandle, Families};
use crate::family::{MetricFamily, MetricType};
use crate::global::default_registry;
use crate::registry::{Registry, RegistryError};

/// What scrapes see of a poller's last good data once polls fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Stale {
    /// Keep serving the last good data (default): a short upstream outage does not
    /// make graphs gap; `<name>_up` and the timestamp say how old it is.
    #[default]
    Keep,
    /// Drop the data on the first failed poll: series exist only while the
    /// upstream answers.
    Drop,
    /// Keep the last good data for this long after it was fetched, then drop it.
    DropAfter(Duration),
}

/// Configures a [`Poller`]; from [`Poller::builder`].
#[derive(Debug)]
#[must_use = "nothing runs until `spawn` is called"]
pub struct PollerBuilder {
    name: String,
    registry: Option<Registry>,
    families: Vec<MetricFamily>,
    interval: Duration,
    timeout: Option<Duration>,
    stale: Stale,
}

/// Why a poller could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PollerError {
    /// A name is invalid or taken; see [`RegistryError`].
    Registry(RegistryError),
    /// `spawn` was called outside a tokio runtime.
    NoRuntime,
    /// The interval or the timeout is zero.
    ZeroDuration,
}

impl fmt::Display for PollerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Registry(e) => e.fmt(f),
            Self::NoRuntime => f.write_str("a poller must be spawned from within a tokio runtime"),
            Self::ZeroDuration => f.write_str("a poller's interval and timeout must not be zero"),
        }
    }
}

impl std::error::Error for PollerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Registry(e) => Some(e),
            _ => None,
        }
    }
}

impl From<RegistryError> for PollerError {
    fn from(e: RegistryError) -> Self {
        Self::Registry(e)
    }
}

impl PollerBuilder {
    /// Registers into `registry` instead of the [`default_registry`].
    pub fn registry(mut self, registry: &Registry) -> Self {
        self.registry = Some(registry.clone());
        self
    }

    /// Declares a family the fetch fills: `family` gives its name, type, help and
    /// unit, and no samples (as for
    /// [`CollectorBuilder::family`](crate::collect::CollectorBuilder::family)).
    pub fn family(mut self, family: MetricFamily) -> Self {
        self.families.push(family);
        self
    }

    /// Time from the start of one poll to the start of the next (default 15 s). A
    /// poll that takes longer delays the next rather than overlapping it.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// How long one poll may take before it is cancelled and counted as failed
    /// (default: the interval, at most 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// What scrapes see after a failed poll (default [`Stale::Keep`]).
    pub fn stale(mut self, stale: Stale) -> Self {
        self.stale = stale;
        self
    }

    /// Registers the poller's families and starts polling now, then every interval.
    ///
    /// `fetch` is called for each poll with the declared families, without
    /// samples ([`Families`]); it adds the samples and returns them. Each family
    /// given samples must pass [`MetricFamily::validate`], checked once, at poll
    /// time; a poll that fails it (or errors, panics or overruns its timeout)
    /// fails, and the previous data stays as the [`Stale`] policy says. A
    /// declared family given no sample is not served.
    ///
    /// # Errors
    /// [`PollerError`]: a name invalid or taken, a declaration that is not a
    /// family without samples, no tokio runtime, a zero duration.
    pub fn spawn<F, Fut>(self, mut fetch: F) -> Result<Poller, PollerError>
    where
        F: FnMut(Families) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Families, CollectError>> + Send + 'static,
    {
        let timeout = self
            .timeout
            .unwrap_or_else(|| self.interval.min(Duration::from_secs(10)));
        if self.interval.is_zero() || timeout.is_zero() {
            return Err(PollerError::ZeroDuration);
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| PollerError::NoRuntime)?;
        let registry = self.registry.unwrap_or_else(|| default_registry().clone());
        let state = Arc::new(State {
            name: self.name.clone(),
            declared: self.families.clone(),
            stale: self.stale,
            outcome: Mutex::new(Outcome::default()),
            started: crate::family::unix_now(),
        });
        let own = state.own_names();
        let mut builder = registry.collector(&self.name).inline().unreported();
        for family in &self.families {
            builder = builder.family(family.clone());
        }
        for (name, metric_type) in &own {
            builder = builder.family(MetricFamily::new(name.clone(), *metric_type, ""));
        }
        let reader = Arc::clone(&state);
        let collector = builder.register_checked(move || reader.families())?;

        let stop = Arc::new(Notify::new());
        let (polled_tx, polled_rx) = watch::channel(0u64);
        let (interval, stop_signal) = (self.interval, Arc::clone(&stop));
        let task = runtime.spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut polls = 0u64;
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    () = stop_signal.notified() => break,
                }
                let t0 = Instant::now();
                let mut poll = tokio::spawn(fetch(Families::declared(&state.declared)));
                let outcome = tokio::select! {
                    r = tokio::time::timeout(timeout, &mut poll) => r,
                    () = stop_signal.notified() => {
                        poll.abort();
                        break;
                    }
                };
                let outcome = match outcome {
                    Ok(Ok(Ok(families))) => Ok(families),
                    Ok(Ok(Err(e))) => Err(error_chain(e.as_ref())),
                    Ok(Err(join)) => Err(if join.is_panic() {
                        "the fetch panicked".to_owned()
                    } else {
                        "the fetch was cancelled".to_owned()
                    }),
                    Err(_) => {
                        poll.abort();
                        Err(format!("the fetch overran its {timeout:?} timeout"))
                    }
                };
                state.record(outcome, t0.elapsed());
                polls += 1;
                let _ = polled_tx.send(polls);
            }
        });
        Ok(Poller {
            stop,
            task: Some(task),
            collector: Some(collector),
            polled: polled_rx,
        })
    }
}

struct State {
    name: String,
    declared: Vec<MetricFamily>,
    stale: Stale,
    /// Updated once per poll and read once per scrape, under one lock, so that a
    /// scrape never shows the data of one poll beside the `up` of another.
    outcome: Mutex<Outcome>,
    /// When the poller was started: the start of its error counter.
    started: f64,
}

/// What the polls so far have left.
#[derive(Default)]
struct Outcome {
    /// The last good data and when it was fetched.
    data: Option<(Vec<MetricFamily>, Instant)>,
    /// Whether the last poll succeeded.
    up: bool,
    /// Failed polls.
    errors: u64,
    /// When the last successful poll ended, in seconds since the Unix epoch (0: never).
    last_success: f64,
    /// How long the last poll took, in seconds.
    last_duration: f64,
}

impl State {
    fn own_names(&self) -> [(String, MetricType); 4] {
        let n = &self.name;
        [
            (format!("{n}_up"), MetricType::Gauge),
            (format!("{n}_poll_errors"), MetricType::Counter),
            (
                format!("{n}_last_success_timestamp_seconds"),
                MetricType::Gauge,
            ),
            (format!("{n}_poll_duration_seconds"), MetricType::Gauge),
        ]
    }

    fn record(&self, outcome: Result<Families, String>, took: Duration) {
        let outcome = outcome.and_then(|families| {
            families
                .checked(&self.declared)
                .map_err(|problem| format!("its families are unusable: {problem}"))
        });
        let mut state = self.outcome.lock().unwrap_or_else(PoisonError::into_inner);
        state.last_duration = took.as_secs_f64();
        match outcome {
            Ok(families) => {
                state.data = Some((families, Instant::now()));
                state.last_success = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                state.up = true;
            }
            Err(reason) => {
                if self.stale == Stale::Drop {
                    state.data = None;
                }
                state.up = false;
                state.errors += 1;
                drop(state);
                tracing::warn!(poller = %self.name, "poll failed: {reason}");
            }
        }
    }

    fn families(&self) -> Vec<MetricFamily> {
        let state = self.outcome.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = match (&state.data, self.stale) {
            (Some((_, at)), Stale::DropAfter(d)) if at.elapsed() > d => Vec::new(),
            (Some((families, _)), _) => families.clone(),
            (None, _) => Vec::new(),
        };
        let [up, errors, last, duration] = self.own_names().map(|(n, _)| n);
        let gauge = |name: String, help: &str, v: f64| {
            let mut f = MetricFamily::gauge(name, help);
            f.add_gauge(crate::family::NO_LABELS, v);
            f
        };
        out.push(gauge(
            up,
            "Whether the last poll succeeded (1) or not (0).",
            f64::from(u8::from(state.up)),
        ));
        let mut e = MetricFamily::counter(errors, "Polls that failed, timed out or panicked.");
        #[allow(clippy::cast_precision_loss)]
        e.add_counter(
            crate::family::NO_LABELS,
            state.errors as f64,
            Some(self.started),
        );
        out.push(e);
        out.push(gauge(
            last,
            "When the last successful poll ended, in seconds since the Unix epoch (0: never).",
            state.last_success,
        ));
        out.push(gauge(
            duration,
            "How long the last poll took.",
            state.last_duration,
        ));
        out
    }
}

/// An error and every cause under it, `: `-separated, as a log line should
/// show it (`error sending request: connection refused`), each cause once.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        // Some errors repeat their cause in their own message.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// A running poller, as [`PollerBuilder::spawn`] returns it (see the
/// [module docs](self)). [`stop`](Self::stop) ends it cleanly; dropping it stops
/// it too (without waiting), so keep it for as long as the poller should run.
#[must_use = "dropping the poller stops it"]
pub struct Poller {
    stop: Arc<Notify>,
    task: Option<tokio::task::JoinHandle<()>>,
    collector: Option<CollectorHandle>,
    polled: watch::Receiver<u64>,
}

impl fmt::Debug for Poller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Poller")
            .field("polls", &*self.polled.borrow())
            .finish_non_exhaustive()
    }
}

impl Poller {
    /// Starts configuring a poller named `name`: the prefix of its own families
    /// (`<name>_up`, ...) and the `collector` label of its errors.
    pub fn builder(name: &str) -> PollerBuilder {
        PollerBuilder {
            name: name.to_owned(),
            registry: None,
            families: Vec::new(),
            interval: Duration::from_secs(15),
            timeout: None,
            stale: Stale::Keep,
        }
    }

    /// Waits until at least `n` polls have finished (successfully or not) since the
    /// poller started.
    pub async fn wait_for_polls(&self, n: u64) {
        let mut polled = self.polled.clone();
        let _ = polled.wait_for(|&done| done >= n).await;
    }

    /// How many polls have finished.
    #[must_use]
    pub fn polls(&self) -> u64 {
        *self.polled.borrow()
    }

    /// Stops the poller: a poll in progress is cancelled, the task has ended when
    /// this returns, and the poller's families are gone from the registry (their
    /// names free again).
    pub async fn stop(mut self) {
        self.stop.notify_one();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        if let Some(collector) = self.collector.take() {
            collector.unregister();
        }
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Some(collector) = self.collector.take() {
            collector.unregister();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::test_value as value;
    use crate::family::Sample;
    use crate::Format;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_failure_is_logged_with_every_cause() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("error sending request for url (http://127.0.0.1:1/)")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let refused =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        assert_eq!(
            error_chain(&Outer(refused)),
            "error sending request for url (http://127.0.0.1:1/): connection refused"
        );
        // A cause already in the message is not repeated.
        let plain = std::io::Error::other("timed out");
        assert_eq!(error_chain(&plain), "timed out");
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    /// A runtime on tokio's paused clock, which moves only when every task waits
    /// on it, straight to the next timer: schedules play out exactly and at once.
    fn paused_runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
    }

    /// A poller whose n-th poll (from 0) does `script[n]`: a value, an error, a
    /// panic, or a hang past the timeout; polls past the script's end hang.
    fn scripted(
        registry: &Registry,
        stale: Stale,
        script: &'static [&'static str],
        (interval_ms, timeout_ms): (u64, u64),
    ) -> (Poller, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let handle = Poller::builder("up")
            .registry(registry)
            .family(MetricFamily::gauge("up_level", "Level."))
            .interval(Duration::from_millis(interval_ms))
            .timeout(Duration::from_millis(timeout_ms))
            .stale(stale)
            .spawn(move |mut out: Families| {
                let step = script.get(counter.fetch_add(1, Ordering::SeqCst)).copied();
                async move {
                    match step {
                        Some("err") => Err("upstream said 500".into()),
                        Some("panic") => panic!("fetch bug"),
                        Some(v) if v.parse::<f64>().is_ok() => {
                            out.family("up_level")?
                                .add_gauge(crate::family::NO_LABELS, v.parse().unwrap());
                            Ok(out)
                        }
                        Some("undeclared") => {
                            out.family("other")?;
                            Ok(out)
                        }
                        Some("invalid") => {
                            out.family("up_level")?.add_sample(Sample::new(
                                "up_level_bogus",
                                [("k", "v")],
                                1.0,
                            ));
                            Ok(out)
                        }
                        _ => {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            Ok(out)
                        }
                    }
                }
            })
            .unwrap();
        (handle, calls)
    }

    #[test]
    fn failures_are_counted_and_the_last_good_data_stays() {
        paused_runtime().block_on(async {
            let registry = Registry::new();
            let script = &["1", "err", "panic", "hang", "undeclared", "invalid", "5"];
            // Polls 250 ms apart on the paused clock, the hang cut at 50 ms: each
            // scrape falls between two polls.
            let (poller, _) = scripted(&registry, Stale::Keep, script, (250, 50));
            let scrape = || registry.encode(Format::OpenMetrics).unwrap();
            let expect = [
                (1.0, 1.0, 0.0),
                (1.0, 0.0, 1.0),
                (1.0, 0.0, 2.0),
                (1.0, 0.0, 3.0),
                (1.0, 0.0, 4.0),
                (1.0, 0.0, 5.0),
                (5.0, 1.0, 5.0),
            ];
            for (n, (level, up, errors)) in (1..).zip(expect) {
                poller.wait_for_polls(n).await;
                let text = scrape();
                assert_eq!(value(&text, "up_level "), Some(level), "poll {n}\n{text}");
                assert_eq!(value(&text, "up_up "), Some(up), "poll {n}");
                assert_eq!(
                    value(&text, "up_poll_errors_total "),
                    Some(errors),
                    "poll {n}"
                );
            }
            let text = scrape();
            assert!(value(&text, "up_last_success_timestamp_seconds ").unwrap() > 1.7e9);
            poller.stop().await;
        });
    }

    #[test]
    fn drop_policies() {
        paused_runtime().block_on(async {
            let registry = Registry::new();
            let (poller, _) = scripted(&registry, Stale::Drop, &["1", "err"], (20, 40));
            poller.wait_for_polls(2).await;
            let text = registry.encode(Format::OpenMetrics).unwrap();
            assert_eq!(value(&text, "up_level "), None, "{text}");
            assert_eq!(value(&text, "up_up "), Some(0.0));
            poller.stop().await;

            let after = Stale::DropAfter(Duration::from_millis(150));
            let (poller, _) = scripted(&registry, after, &["1", "err"], (20, 40));
            poller.wait_for_polls(2).await;
            let text = registry.encode(Format::OpenMetrics).unwrap();
            assert_eq!(value(&text, "up_level "), Some(1.0), "{text}");
            tokio::time::sleep(Duration::from_millis(130)).await;
            let text = registry.encode(Format::OpenMetrics).unwrap();
            assert_eq!(value(&text, "up_level "), Some(1.0), "still fresh\n{text}");
            tokio::time::sleep(Duration::from_millis(30)).await;
            let text = registry.encode(Format::OpenMetrics).unwrap();
            assert_eq!(value(&text, "up_level "), None, "{text}");
            poller.stop().await;
        });
    }

    #[test]
    fn every_scrape_shows_one_poll_whole() {
        // Polls alternate success and failure 1 ms apart while another thread
        // scrapes: under `Stale::Drop` the data is there exactly when `up` is 1,
        // and each failure is counted in the same scrape that shows it. The polls
        // go on until the scraper has checked 20 scrapes (or failed), however
        // slowly the machine runs it.
        const SCRAPES: u32 = 20;
        let registry = Registry::new();
        let polls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&polls);
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let checked = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let scraper = {
            let (registry, done, checked) =
                (registry.clone(), Arc::clone(&done), Arc::clone(&checked));
            std::thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    let text = registry.encode(Format::OpenMetrics).unwrap();
                    let (Some(up), Some(errors)) = (
                        value(&text, "up_up "),
                        value(&text, "up_poll_errors_total "),
                    ) else {
                        continue;
                    };
                    let level = value(&text, "up_level ");
                    assert_eq!(level.is_some(), up == 1.0, "{text}");
                    if let Some(level) = level {
                        // Poll n (from 0) succeeds when even, with level n; the
                        // failures before it are the odd numbers below n.
                        assert_eq!(errors, (level / 2.0).floor(), "{text}");
                    }
                    checked.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        runtime().block_on(async {
            let poller = Poller::builder("up")
                .registry(&registry)
                .family(MetricFamily::gauge("up_level", "Level."))
                .interval(Duration::from_millis(1))
                .stale(Stale::Drop)
                .spawn(move |mut out: Families| {
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    async move {
                        if n % 2 == 1 {
                            return Err("odd".into());
                        }
                        #[allow(clippy::cast_precision_loss)]
                        out.family("up_level")?
                            .add_gauge(crate::family::NO_LABELS, n as f64);
                        Ok(out)
                    }
                })
                .unwrap();
            let mut polled = 200;
            poller.wait_for_polls(polled).await;
            while checked.load(Ordering::SeqCst) < SCRAPES && !scraper.is_finished() {
                polled += 10;
                poller.wait_for_polls(polled).await;
            }
            poller.stop().await;
        });
        done.store(true, Ordering::SeqCst);
        scraper.join().expect("a scrape did not add up");
        assert!(checked.load(Ordering::SeqCst) >= SCRAPES);
    }

    #[test]
    fn stop_cancels_a_poll_in_progress_and_frees_the_names() {
        paused_runtime().block_on(async {
            let registry = Registry::new();
            let (poller, calls) = scripted(&registry, Stale::Keep, &["1"], (20, 10_000));
            poller.wait_for_polls(1).await;
            // The second poll hangs; stop must not wait for it (on the paused
            // clock, waiting would move time on to the poll's timeout).
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(
                calls.load(Ordering::SeqCst),
                2,
                "the second poll is under way"
            );
            let t0 = Instant::now();
            poller.stop().await;
            assert_eq!(t0.elapsed(), Duration::ZERO, "stop waited for the poll");
            assert_eq!(registry.encode(Format::OpenMetrics).unwrap(), "# EOF\n");
            let made = calls.load(Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(60)).await;
            assert_eq!(calls.load(Ordering::SeqCst), made, "polled after stop");
            // The name is free again.
            let (again, _) = scripted(&registry, Stale::Keep, &["2"], (20, 40));
            again.wait_for_polls(1).await;
            drop(again);
            assert_eq!(registry.encode(Format::OpenMetrics).unwrap(), "# EOF\n");
        });
    }

    #[test]
    fn spawn_errors() {
        let registry = Registry::new();
        let fetch = |out: Families| async { Ok(out) };
        let err = Poller::builder("p")
            .registry(&registry)
            .spawn(fetch)
            .unwrap_err();
        assert_eq!(err, PollerError::NoRuntime);
        runtime().block_on(async {
            let err = Poller::builder("p")
                .registry(&registry)
                .interval(Duration::ZERO)
                .spawn(fetch)
                .unwrap_err();
            assert_eq!(err, PollerError::ZeroDuration);
            let err = Poller::builder("bad name")
                .registry(&registry)
                .spawn(fetch)
                .unwrap_err();
            assert!(matches!(
                err,
                PollerError::Registry(RegistryError::InvalidName { .. })
            ));
            // A declaration is a family without samples, for pollers as for
            // collectors.
            let mut preset = MetricFamily::gauge("preset", "");
            preset.add_gauge(crate::family::NO_LABELS, 1.0);
            let err = Poller::builder("p")
                .registry(&registry)
                .family(preset)
                .spawn(fetch)
                .unwrap_err();
            assert!(
                matches!(
                    &err,
                    PollerError::Registry(RegistryError::InvalidFamily { name, .. }) if name == "preset"
                ),
                "{err:?}"
            );
        });
    }
}
