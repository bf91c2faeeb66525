//! The clock requests are timed with: the CPU's time-stamp counter through
//! [`quanta`] once it is calibrated, the OS's monotonic clock until then.
//!
//! Calibrating the counter against the OS clock takes a few milliseconds and
//! at most 200. It runs once per process, on a thread of its own started by
//! the first metric set built (or the first reading), so building a set never
//! waits for it, on a runtime's worker or anywhere else. Readings taken before
//! it finishes come from `std::time::Instant` and carry [`OS`] in their top
//! bit; a duration is always measured in the domain of its start, so a
//! request that starts before calibration and ends after is still timed
//! right.

use std::sync::{LazyLock, Once, OnceLock};
use std::time::Instant;

/// The top bit of a reading taken on the OS clock (nanoseconds since
/// [`EPOCH`]). The counter's own readings never reach it: 2^63 ticks are
/// centuries at any clock rate.
pub(crate) const OS: u64 = 1 << 63;

static COUNTER: OnceLock<quanta::Clock> = OnceLock::new();
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);
static STARTED: Once = Once::new();

/// Starts calibrating the counter on a thread of its own, once per process.
/// Where no thread can be started the OS clock stays in use.
pub(crate) fn calibrate_in_background() {
    STARTED.call_once(|| {
        LazyLock::force(&EPOCH);
        let _ = std::thread::Builder::new()
            .name("promhttp-clock".into())
            .spawn(|| {
                let _ = COUNTER.set(quanta::Clock::new());
            });
    });
}

/// Calibrates the clock now, on the calling thread, if no thread has yet:
/// for a program that would rather pay the few milliseconds (at most 200) at
/// start-up than time its first requests on the OS clock, and for benchmarks.
/// Returns at once when calibration is done; waits for it when another thread
/// is calibrating.
pub fn calibrate_clock() {
    LazyLock::force(&EPOCH);
    COUNTER.get_or_init(quanta::Clock::new);
}

/// Whether the clock is calibrated: requests that start from now on are timed
/// on the time-stamp counter (or, where the CPU has none usable, on quanta's
/// OS clock), not on `std::time::Instant`.
#[must_use]
pub fn clock_calibrated() -> bool {
    COUNTER.get().is_some()
}

/// Now.
#[inline]
pub(crate) fn now() -> u64 {
    now_on(COUNTER.get())
}

/// The end of a span that started at `start`, in the same domain, and the
/// nanoseconds between the two.
#[inline]
pub(crate) fn since(start: u64) -> (u64, u64) {
    since_on(COUNTER.get(), start)
}

#[inline]
fn now_on(counter: Option<&quanta::Clock>) -> u64 {
    match counter {
        Some(counter) => counter.raw() & !OS,
        None => os_now(),
    }
}

#[cold]
fn os_now() -> u64 {
    calibrate_in_background();
    let nanos = u64::try_from(EPOCH.elapsed().as_nanos()).unwrap_or(u64::MAX);
    OS | (nanos & !OS)
}

#[inline]
fn since_on(counter: Option<&quanta::Clock>, start: u64) -> (u64, u64) {
    match counter {
        Some(counter) if start & OS == 0 => {
            let end = counter.raw() & !OS;
            (end, counter.delta_as_nanos(start, end))
        }
        _ => {
            // Started on the OS clock, or (impossibly) on a counter that is
            // gone: measured on the OS clock.
            let end = os_now();
            (end, (end & !OS).saturating_sub(start & !OS))
        }
    }
}

/// One moment, read on both clocks, for a scrape to tell how long ago each
/// reading it writes was taken.
pub(crate) struct Anchor {
    counter: Option<(u64, &'static quanta::Clock)>,
    os: u64,
}

impl Anchor {
    pub(crate) fn now() -> Self {
        Self::on(COUNTER.get())
    }

    fn on(counter: Option<&'static quanta::Clock>) -> Self {
        Self {
            counter: counter.map(|c| (c.raw() & !OS, c)),
            os: os_now(),
        }
    }

    /// Nanoseconds from `reading` to this moment (0 for a later reading).
    pub(crate) fn since(&self, reading: u64) -> u64 {
        match self.counter {
            Some((now, counter)) if reading & OS == 0 => counter.delta_as_nanos(reading, now),
            _ => (self.os & !OS).saturating_sub(reading & !OS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A mock counter of the test's own, for as long as the test process.
    fn mock() -> (&'static quanta::Clock, std::sync::Arc<quanta::Mock>) {
        let (clock, mock) = quanta::Clock::mock();
        (Box::leak(Box::new(clock)), mock)
    }

    const HOUR: u64 = 3_600_000_000_000;

    #[test]
    fn calibrating_on_the_calling_thread_puts_the_counter_in_use() {
        calibrate_clock();
        assert!(clock_calibrated());
        let start = now();
        assert_eq!(start & OS, 0, "read on the counter");
        let (end, _) = since(start);
        assert_eq!(end & OS, 0);
        assert!(end >= start);
    }

    #[test]
    fn a_span_is_measured_in_the_domain_it_started_in() {
        let (counter, mock) = mock();
        // Started before calibration: on the OS clock, and ended there even
        // once the counter is ready (the counter's hour is not counted).
        let start = now_on(None);
        assert_ne!(start & OS, 0);
        mock.increment(Duration::from_secs(3600));
        let (end, nanos) = since_on(Some(counter), start);
        assert_ne!(end & OS, 0, "the end is on the OS clock too");
        assert!(nanos < HOUR, "{nanos}");
        assert!(end >= start);

        // Started on the counter: ended on it.
        let start = now_on(Some(counter));
        assert_eq!(start & OS, 0);
        mock.increment(Duration::from_nanos(1234));
        let (end, nanos) = since_on(Some(counter), start);
        assert_eq!(end & OS, 0);
        assert_eq!(nanos, 1234);
    }

    #[test]
    fn an_anchor_tells_the_age_of_readings_of_either_clock() {
        let (counter, mock) = mock();
        let on_os = now_on(None);
        mock.increment(Duration::from_nanos(100));
        let on_counter = now_on(Some(counter));
        mock.increment(Duration::from_nanos(500));
        let anchor = Anchor::on(Some(counter));
        assert_eq!(anchor.since(on_counter), 500);
        let age = anchor.since(on_os);
        assert!(age < HOUR, "{age}");
        // A reading after the anchor is no age at all, not a wrapped one.
        mock.increment(Duration::from_nanos(10));
        assert_eq!(anchor.since(now_on(Some(counter))), 0);
        let later = Anchor::on(None);
        assert_eq!(anchor.since(later.os | OS), 0);
        // Without a counter, every reading is aged on the OS clock.
        assert!(later.since(on_os) >= age);
    }
}
