//! Scrapes taken while several threads record are exact: in every snapshot each
//! histogram's `+Inf` bucket equals its `_count` and the matching
//! `requests_total`, and no counter goes down from one scrape to the next.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use promhttp::{Format, HttpMethod, HttpMetrics, Registry};

const WRITERS: usize = 4;
const SCRAPES: usize = 50;

#[test]
fn every_scrape_under_concurrent_writes_is_consistent() {
    let registry = Registry::new();
    let metrics = HttpMetrics::builder().registry(&registry).build().unwrap();
    let stop = AtomicBool::new(false);
    let mut last: BTreeMap<String, f64> = BTreeMap::new();
    let recorded: u64 = std::thread::scope(|s| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (metrics, stop) = (&metrics, &stop);
                s.spawn(move || {
                    let routes = [metrics.route(Some("/a")), metrics.route(Some("/b/{id}"))];
                    let mut n: u64 = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let route = &routes[(n as usize + w) % 2];
                        let mut guard = route.start(HttpMethod::ALL[w % 3]).unwrap();
                        guard.set_status(if n.is_multiple_of(7) { 500 } else { 200 });
                        drop(guard);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        for scrape in 0..SCRAPES {
            let m = common::parse_openmetrics(&registry.encode(Format::OpenMetrics).unwrap());
            for s in m.samples("http_server_requests_total") {
                let labels: Vec<(&str, &str)> = s
                    .labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let count = m.value("http_server_request_duration_seconds_count", &labels);
                let mut with_le = labels.clone();
                with_le.push(("le", "+Inf"));
                let inf = m.value("http_server_request_duration_seconds_bucket", &with_le);
                assert_eq!(
                    s.value, count,
                    "scrape {scrape}: requests_total != _count for {labels:?}"
                );
                assert_eq!(count, inf, "scrape {scrape}: _count != +Inf for {labels:?}");
                let key = format!("{:?}", s.labels);
                let previous = last.insert(key.clone(), s.value).unwrap_or(0.0);
                assert!(
                    s.value >= previous,
                    "scrape {scrape}: {key} went down from {previous} to {}",
                    s.value
                );
            }
        }
        stop.store(true, Ordering::Relaxed);
        writers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    let m = common::parse_openmetrics(&registry.encode(Format::OpenMetrics).unwrap());
    assert_eq!(m.sum("http_server_requests_total"), recorded as f64);
    m.assert_books_balanced();
    let during = last.values().sum::<f64>();
    assert!(during > 0.0, "the scrapes saw no requests");
    println!("{SCRAPES} consistent scrapes while {WRITERS} threads recorded {recorded} requests");
}
