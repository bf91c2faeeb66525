//! No scrape ever shows a request both counted and still in flight, or in neither
//! place once it has ended: checked in every scrape taken while threads start and
//! end requests as fast as they can, for both kinds of in-flight gauge (by method
//! and route, as the axum layer records; by method alone, as the actix-web
//! middleware does before routing).
//!
//! Each writer thread has its own series, and works in batches: it starts a batch
//! of requests, holding them all, then ends them one after the other. While it
//! ends a batch (long enough to outlast a scrape) it starts nothing, so for its
//! series, in every scrape,
//!
//!   ended before the scrape began <= in flight + counted <= started when it ended.
//!
//! A scrape that read a gauge before a request ended and its count after (the
//! double count the ordering in `http::series` rules out) goes over the upper
//! bound whenever it falls in an ending phase; one that lost a request that had
//! ended before it began goes under the lower bound. (A collector that read each
//! gauge before its counts failed this test within a few scrapes, every time.)
//! Values are read back with the crate's own parser, so the test runs on any
//! machine.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};

use promhttp::family::MetricFamily;
use promhttp::parse::parse_openmetrics;
use promhttp::{Format, HttpMethod, HttpMetrics, Registry, RequestGuard};

const WRITERS: usize = 4;
const BATCH: usize = 5_000;
const SCRAPES: usize = 400;

/// How a writer starts a request: on its route (the in-flight gauge is
/// `{method, route}`), or before routing (`{method}`), routed afterwards.
#[derive(Clone, Copy)]
enum Start {
    Routed,
    Unrouted,
}

struct Writer {
    started: AtomicU64,
    ended: AtomicU64,
}

fn route(w: usize) -> String {
    format!("/writer/{w}")
}

fn method(w: usize) -> HttpMethod {
    HttpMethod::ALL[w]
}

fn start(metrics: &HttpMetrics, how: Start, w: usize) -> RequestGuard {
    match how {
        Start::Routed => metrics.route(Some(&route(w))).start(method(w)).unwrap(),
        Start::Unrouted => {
            let mut guard = metrics.start_unrouted(method(w), &route(w)).unwrap();
            guard.set_route(metrics.route(Some(&route(w))));
            guard
        }
    }
}

/// The value of the sample `name` whose labels include all of `labels`; 0 when
/// there is none (a series not yet created).
fn value(families: &[MetricFamily], name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut found = families
        .iter()
        .flat_map(|f| &f.samples)
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(v)));
    let value = found.next().map_or(0.0, |s| s.value);
    assert!(found.next().is_none(), "two samples {name}{labels:?}");
    value
}

struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

fn hammer_and_scrape(how: Start) {
    let registry = Registry::new();
    let metrics = HttpMetrics::builder().registry(&registry).build().unwrap();
    let writers: Vec<Writer> = (0..WRITERS)
        .map(|_| Writer {
            started: AtomicU64::new(0),
            ended: AtomicU64::new(0),
        })
        .collect();
    let stop = AtomicBool::new(false);
    let mut last: BTreeMap<String, f64> = BTreeMap::new();
    let mut busy_scrapes = 0;
    std::thread::scope(|s| {
        for (w, writer) in writers.iter().enumerate() {
            let (metrics, stop) = (&metrics, &stop);
            s.spawn(move || {
                let mut batch = Vec::with_capacity(BATCH);
                while !stop.load(SeqCst) {
                    for _ in 0..BATCH {
                        writer.started.fetch_add(1, SeqCst);
                        batch.push(start(metrics, how, w));
                    }
                    for mut guard in batch.drain(..) {
                        guard.set_status(200);
                        drop(guard);
                        writer.ended.fetch_add(1, SeqCst);
                    }
                }
            });
        }
        // The writers stop however the scrapes end, a failed assertion included.
        let _stop = StopOnDrop(&stop);
        for scrape in 0..SCRAPES {
            let lower: Vec<u64> = writers.iter().map(|w| w.ended.load(SeqCst)).collect();
            let text = registry.encode(Format::OpenMetrics).unwrap();
            let upper: Vec<u64> = writers.iter().map(|w| w.started.load(SeqCst)).collect();
            let families = parse_openmetrics(&text).unwrap();
            for w in 0..WRITERS {
                let (m, r) = (method(w).as_str(), route(w));
                let in_flight = match how {
                    Start::Routed => value(
                        &families,
                        "http_server_requests_in_flight",
                        &[("method", m), ("route", &r)],
                    ),
                    Start::Unrouted => value(
                        &families,
                        "http_server_requests_in_flight",
                        &[("method", m)],
                    ),
                };
                let counted = value(
                    &families,
                    "http_server_requests_total",
                    &[("method", m), ("route", &r), ("status", "200")],
                );
                assert!(
                    in_flight >= 0.0,
                    "scrape {scrape}: writer {w} in flight {in_flight}"
                );
                let seen = in_flight + counted;
                assert!(
                    lower[w] as f64 <= seen && seen <= upper[w] as f64,
                    "scrape {scrape}: writer {w}: {in_flight} in flight + {counted} counted = {seen}, \
                     outside [{}, {}] (ended before the scrape, started by its end)",
                    lower[w],
                    upper[w]
                );
                if in_flight > 0.0 {
                    busy_scrapes += 1;
                }
            }
            for family in &families {
                for sample in family.samples.iter().filter(|s| s.name.ends_with("_total")) {
                    let key = format!("{}{:?}", sample.name, sample.labels);
                    let before = last.insert(key.clone(), sample.value).unwrap_or(0.0);
                    assert!(
                        sample.value >= before,
                        "scrape {scrape}: {key} went down from {before} to {}",
                        sample.value
                    );
                }
            }
        }
    });
    // Every request has ended: nothing in flight, every one counted once.
    let families = parse_openmetrics(&registry.encode(Format::OpenMetrics).unwrap()).unwrap();
    for (w, writer) in writers.iter().enumerate() {
        let (m, r) = (method(w).as_str(), route(w));
        let counted = value(
            &families,
            "http_server_requests_total",
            &[("method", m), ("route", &r), ("status", "200")],
        );
        assert_eq!(counted, writer.ended.load(SeqCst) as f64);
        assert_eq!(writer.started.load(SeqCst), writer.ended.load(SeqCst));
    }
    let in_flight: f64 = families
        .iter()
        .filter(|f| f.name == "http_server_requests_in_flight")
        .flat_map(|f| &f.samples)
        .map(|s| s.value)
        .sum();
    assert_eq!(in_flight, 0.0);
    // The scrapes did fall among requests in flight: the check was exercised.
    assert!(busy_scrapes > 0, "no scrape saw a request in flight");
}

#[test]
fn no_scrape_sees_a_request_both_counted_and_in_flight_by_route() {
    hammer_and_scrape(Start::Routed);
}

#[test]
fn no_scrape_sees_a_request_both_counted_and_in_flight_by_method() {
    hammer_and_scrape(Start::Unrouted);
}
