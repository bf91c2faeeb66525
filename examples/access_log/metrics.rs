//! The exported metrics and how each event of the follower is counted.
//!
//! The counts live under one lock, taken once per event by the follower and once
//! per scrape by a collector that writes them all, so that every scrape is a
//! snapshot between two events. `log_lines_read_total` is summed from that
//! snapshot's request and malformed counts, so it always equals their sum.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use promhttp::collect::{Families, NotDeclared};
use promhttp::family::MetricFamily;
use promhttp::{HttpMethod, Registry, RegistryError};

use crate::follow::Event;
use crate::format::{LineFormat, Request};

/// The collector's name, in `promhttp_collector_errors_total{collector}`.
const COLLECTOR: &str = "access_log";

/// `(name, help)` of each family, in the order they are served.
const FAMILIES: [(&str, &str); 7] = [
    (
        "http_requests",
        "Requests in the access log, by method and status",
    ),
    (
        "http_response_bytes",
        "Response body bytes in the access log (a size of - counts as 0), by method and status",
    ),
    (
        "log_lines_read",
        "Lines read from the access log, malformed ones included",
    ),
    (
        "log_lines_malformed",
        "Lines that are no request: not in the format, not UTF-8, a status outside 100-599, \
         a bad size, longer than 64 KiB, or cut off by a truncation",
    ),
    (
        "log_file_rotations",
        "Times reading moved on to a new file at the log path (rotation by rename, or replacement)",
    ),
    (
        "log_file_truncations",
        "Times the log file was found shorter than what had been read, and read again from its start",
    ),
    (
        "log_file_not_regular",
        "Times the log path was found naming something other than a regular file (a directory, \
         FIFO, socket or device), which is not read, by kind",
    ),
];

/// The request-time histogram, when the log has request times.
const DURATION: (&str, &str) = (
    "http_request_duration_seconds",
    "Request times in the access log (the format's request-time field), by method and status",
);

/// The request times of one method and status, on [`promhttp::DEFAULT_BUCKETS`].
#[derive(Debug, Default, Clone)]
struct Times {
    /// Per bucket, not cumulative; `+Inf` last.
    buckets: [u64; promhttp::DEFAULT_BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Times {
    fn observe(&mut self, seconds: f64) {
        let bucket = promhttp::DEFAULT_BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(promhttp::DEFAULT_BUCKETS.len());
        self.buckets[bucket] += 1;
        self.sum += seconds;
        self.count += 1;
    }

    /// (bound, cumulative count) pairs, without `+Inf`.
    fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut total = 0;
        promhttp::DEFAULT_BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(&bound, &n)| {
                total += n;
                (bound, total)
            })
            .collect()
    }
}

/// Everything counted so far. Every line read is either one request or malformed,
/// so the lines read are not kept but summed from those two.
#[derive(Debug, Default)]
struct Counts {
    /// `(method, status)` (ten methods, statuses 100 to 599) -> `(requests, bytes)`.
    requests: BTreeMap<(HttpMethod, u16), (u64, u64)>,
    /// `(method, status)` -> request times, for the lines that had one.
    times: BTreeMap<(HttpMethod, u16), Times>,
    malformed: u64,
    rotations: u64,
    truncations: u64,
    /// By [`Kind::as_str`](crate::follow::Kind::as_str) (six values).
    not_regular: BTreeMap<&'static str, u64>,
}

impl Counts {
    fn record(&mut self, request: Option<Request>) {
        match request {
            Some(request) => {
                let (requests, bytes) = self
                    .requests
                    .entry((request.method, request.status))
                    .or_default();
                *requests += 1;
                // 16 EiB of responses would wrap; they stop there instead.
                *bytes = bytes.saturating_add(request.bytes);
                if let Some(seconds) = request.seconds {
                    self.times
                        .entry((request.method, request.status))
                        .or_default()
                        .observe(seconds);
                }
            }
            None => self.malformed += 1,
        }
    }

    /// Adds this snapshot to the declared families.
    fn write(&self, out: &mut Families) -> Result<(), NotDeclared> {
        let [requests, bytes, lines, malformed, rotations, truncations, not_regular] =
            FAMILIES.map(|(name, _)| name);
        let mut lines_read = self.malformed;
        for (&(method, status), &(count, sum)) in &self.requests {
            let status = status.to_string();
            let labels = [("method", method.as_str()), ("status", status.as_str())];
            out.family(requests)?
                .add_counter(labels, count as f64, None);
            out.family(bytes)?.add_counter(labels, sum as f64, None);
            lines_read += count;
        }
        for (&(method, status), times) in &self.times {
            let status = status.to_string();
            let labels = [("method", method.as_str()), ("status", status.as_str())];
            out.family(DURATION.0)?.add_histogram(
                labels,
                &times.cumulative(),
                times.sum,
                times.count,
                None,
            );
        }
        for (&kind, &count) in &self.not_regular {
            out.family(not_regular)?
                .add_counter([("kind", kind)], count as f64, None);
        }
        for (name, value) in [
            (lines, lines_read),
            (malformed, self.malformed),
            (rotations, self.rotations),
            (truncations, self.truncations),
        ] {
            out.family(name)?
                .add_counter(promhttp::family::NO_LABELS, value as f64, None);
        }
        Ok(())
    }
}

/// Everything the exporter counts, shared by the follower and the scrapes.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    counts: Arc<Mutex<Counts>>,
}

impl Metrics {
    /// Creates the metrics and registers them in `registry`, served from a
    /// consistent snapshot on every scrape.
    pub(crate) fn register(registry: &Registry) -> Result<Self, RegistryError> {
        let metrics = Self {
            counts: Arc::default(),
        };
        let snapshot = metrics.clone();
        FAMILIES
            .iter()
            .fold(registry.collector(COLLECTOR), |builder, (name, help)| {
                builder.family(MetricFamily::counter(*name, *help))
            })
            // Series only for the lines that have a request time.
            .family(
                MetricFamily::new(
                    DURATION.0,
                    promhttp::family::MetricType::Histogram,
                    DURATION.1,
                )
                .with_unit("seconds"),
            )
            // Copying a few hundred numbers needs no thread or timeout.
            .inline()
            .register(move |out: &mut Families| Ok(snapshot.lock().write(out)?))?;
        Ok(metrics)
    }

    /// Counts one event of the follower, parsing lines with `format` before the
    /// lock is taken.
    pub(crate) fn record(&self, format: &LineFormat, event: Event<'_>) {
        match event {
            Event::Line(line) => {
                let request = format.parse(line);
                self.lock().record(request);
            }
            Event::Dropped => self.lock().record(None),
            Event::Rotated => self.lock().rotations += 1,
            Event::Truncated => self.lock().truncations += 1,
            Event::NotRegular(kind) => {
                *self.lock().not_regular.entry(kind.as_str()).or_default() += 1;
            }
        }
    }

    /// The counts; a panic elsewhere while they were held leaves them whole (each
    /// update is a few additions), so a poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::follow::Kind;
    use crate::format::Builtin;
    use promhttp::Format;

    #[test]
    fn every_scrape_sums_up() {
        let registry = Registry::new();
        let metrics = Metrics::register(&registry).unwrap();
        let format = LineFormat::builtin(Builtin::Auto);
        let line = br#"192.0.2.1 - - [10/Oct/2024:13:55:36 -0700] "GET / HTTP/1.1" 200 1234"#;
        metrics.record(&format, Event::Line(line));
        metrics.record(&format, Event::Line(line));
        metrics.record(&format, Event::Line(b"junk"));
        metrics.record(&format, Event::Dropped);
        metrics.record(&format, Event::Rotated);
        metrics.record(&format, Event::NotRegular(Kind::Fifo));
        let text = registry.encode(Format::OpenMetrics).unwrap();
        for expected in [
            "http_requests_total{method=\"GET\",status=\"200\"} 2\n",
            "http_response_bytes_total{method=\"GET\",status=\"200\"} 2468\n",
            "log_lines_read_total 4\n",
            "log_lines_malformed_total 2\n",
            "log_file_rotations_total 1\n",
            "log_file_truncations_total 0\n",
            "log_file_not_regular_total{kind=\"fifo\"} 1\n",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from\n{text}");
        }
    }
}
