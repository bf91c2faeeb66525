//! `/metrics` render cost for 1,000 and 10,000 histogram series (labels method,
//! route, status; the default 14 buckets): promhttp's `HttpMetrics` (in each of
//! its three formats) against
//! prometheus-client's own `Family<_, Histogram>`, the `prometheus` crate's
//! `TextEncoder` (what actix-web-prom serves) and metrics-exporter-prometheus
//! (what axum-prometheus serves), side by side. The byte size of each output is
//! printed once per case.
//!
//! `cargo bench -p promhttp-bench --bench render`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use prometheus_client::encoding::text::encode;
use promhttp::{Format, DEFAULT_BUCKETS};

use promhttp_bench::render::{prometheus_client_registry, promhttp_registry, series};

fn prometheus_crate_registry(n: usize) -> prometheus::Registry {
    let registry = prometheus::Registry::new();
    let opts = prometheus::HistogramOpts::new("http_server_request_duration_seconds", "Latency")
        .buckets(DEFAULT_BUCKETS.to_vec());
    let hist = prometheus::HistogramVec::new(opts, &["method", "route", "status"]).unwrap();
    registry.register(Box::new(hist.clone())).unwrap();
    for (route, status) in series(n) {
        hist.with_label_values(&["GET", &route, &status.to_string()])
            .observe(0.003);
    }
    registry
}

fn metrics_exporter(n: usize) -> metrics_exporter_prometheus::PrometheusHandle {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&DEFAULT_BUCKETS)
        .unwrap()
        .build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        for (route, status) in series(n) {
            metrics::histogram!(
                "http_server_request_duration_seconds",
                "method" => "GET",
                "route" => route,
                "status" => status.to_string()
            )
            .record(0.003);
        }
    });
    handle
}

fn render(c: &mut Criterion) {
    let mut group = c.benchmark_group("render");
    group.sample_size(20);
    for n in [1_000, 10_000] {
        let ours = promhttp_registry(n);
        let pc = prometheus_client_registry(n);
        let prom = prometheus_crate_registry(n);
        let exporter = metrics_exporter(n);
        let render_pc = || {
            let mut s = String::new();
            encode(&mut s, &pc).unwrap();
            s
        };
        let render_prom = || {
            let mut buf = Vec::new();
            prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &prom.gather(), &mut buf)
                .unwrap();
            buf
        };

        let sizes = [
            ("promhttp_text", ours.encode(Format::Text).unwrap().len()),
            (
                "promhttp_openmetrics",
                ours.encode(Format::OpenMetrics).unwrap().len(),
            ),
            ("prometheus_client", render_pc().len()),
            ("prometheus_crate", render_prom().len()),
            ("metrics_exporter_prometheus", exporter.render().len()),
        ];
        for (name, bytes) in sizes {
            println!("render/{name}/{n}: {bytes} bytes");
        }

        group.bench_with_input(BenchmarkId::new("promhttp_openmetrics", n), &n, |b, _| {
            b.iter(|| black_box(ours.encode(Format::OpenMetrics).unwrap()))
        });
        group.bench_with_input(BenchmarkId::new("promhttp_text", n), &n, |b, _| {
            b.iter(|| black_box(ours.encode(Format::Text).unwrap()))
        });
        let mut buffer = Vec::new();
        group.bench_with_input(BenchmarkId::new("promhttp_protobuf", n), &n, |b, _| {
            b.iter(|| {
                ours.encode_to(Format::Protobuf, &mut buffer).unwrap();
                black_box(buffer.len())
            })
        });
        group.bench_with_input(BenchmarkId::new("prometheus_client", n), &n, |b, _| {
            b.iter(|| black_box(render_pc()))
        });
        group.bench_with_input(
            BenchmarkId::new("prometheus_crate_text_encoder", n),
            &n,
            |b, _| b.iter(|| black_box(render_prom())),
        );
        group.bench_with_input(
            BenchmarkId::new("metrics_exporter_prometheus", n),
            &n,
            |b, _| b.iter(|| black_box(exporter.render())),
        );
    }
    group.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
