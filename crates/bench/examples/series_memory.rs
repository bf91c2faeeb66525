//! Heap bytes per histogram series (labels method, route, status; the default 14
//! buckets) for promhttp and the libraries the peers build on, counted with
//! dhat's allocator: `cargo run --release -p promhttp-bench --example series_memory`.

use promhttp::{HttpMethod, HttpMetrics, Registry, DEFAULT_BUCKETS};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const STATUSES: [u16; 10] = [200, 201, 204, 301, 304, 400, 401, 404, 500, 503];

fn series(n: usize) -> Vec<(String, u16)> {
    (0..n)
        .map(|i| {
            (
                format!("/api/v1/resource{}/{{id}}", i / 10),
                STATUSES[i % 10],
            )
        })
        .collect()
}

/// Heap bytes still held after `build` made `n` series, per series.
fn bytes_per_series<T>(n: usize, build: impl FnOnce(&[(String, u16)]) -> T) -> f64 {
    let series = series(n);
    let before = dhat::HeapStats::get().curr_bytes;
    let kept = build(&series);
    let after = dhat::HeapStats::get().curr_bytes;
    drop(kept);
    (after - before) as f64 / n as f64
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let n = 10_000;
    let promhttp = bytes_per_series(n, |series| {
        let registry = Registry::new();
        let metrics = HttpMetrics::builder().registry(&registry).build().unwrap();
        for (route, status) in series {
            let mut guard = metrics.route(Some(route)).start(HttpMethod::Get).unwrap();
            guard.set_status(*status);
        }
        registry
    });
    let native = bytes_per_series(n, |series| {
        let registry = Registry::new();
        let metrics = HttpMetrics::builder()
            .registry(&registry)
            .native_histograms(promhttp::NativeHistogram::new())
            .build()
            .unwrap();
        for (route, status) in series {
            let mut guard = metrics.route(Some(route)).start(HttpMethod::Get).unwrap();
            guard.set_status(*status);
        }
        registry
    });
    let prometheus_client = bytes_per_series(n, |series| {
        use prometheus_client::metrics::{family::Family, histogram::Histogram};
        let family: Family<Vec<(&'static str, String)>, Histogram> =
            Family::new_with_constructor(|| Histogram::new(DEFAULT_BUCKETS));
        for (route, status) in series {
            let labels = vec![
                ("method", "GET".to_owned()),
                ("route", route.clone()),
                ("status", status.to_string()),
            ];
            family.get_or_create(&labels).observe(0.003);
        }
        family
    });
    let prometheus = bytes_per_series(n, |series| {
        let opts = prometheus::HistogramOpts::new("d", "d").buckets(DEFAULT_BUCKETS.to_vec());
        let hist = prometheus::HistogramVec::new(opts, &["method", "route", "status"]).unwrap();
        for (route, status) in series {
            hist.with_label_values(&["GET", route, &status.to_string()])
                .observe(0.003);
        }
        hist
    });
    println!("| library | heap bytes per histogram series ({n} series) |");
    println!("|---|---|");
    println!("| promhttp (HttpMetrics: histogram + counter + in-flight) | {promhttp:.0} |");
    println!("| promhttp with native histograms (factor 1.1) | {native:.0} |");
    println!("| prometheus-client (Family<_, Histogram>) | {prometheus_client:.0} |");
    println!("| prometheus (HistogramVec, used by actix-web-prom) | {prometheus:.0} |");
}
