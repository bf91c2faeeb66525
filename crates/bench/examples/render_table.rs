//! Render cost of one scrape of 10,000 (and 1,000) histogram series (labels
//! method, route, status; the default 14 buckets), measured interleaved: every
//! round times each renderer in turn, and the table shows each one's median and
//! fastest round, so that drift on a shared machine hits them alike. Also the
//! bytes each format writes, plain and gzipped as the endpoint gzips.
//!
//! `cargo run --release -p promhttp-bench --example render_table`
//!
//! `ROUNDS` (default 15) and `SERIES` (default 10000) change the run.

use std::hint::black_box;
use std::time::Instant;

use promhttp::{Format, Registry};
use promhttp_bench::render;

/// A renderer's name, and one scrape that returns the bytes it wrote.
type Renderer<'a> = (&'static str, Box<dyn FnMut() -> usize + 'a>);

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rounds = env_or("ROUNDS", 15);
    let n = env_or("SERIES", 10_000);
    let ours: Registry = render::promhttp_registry(n);
    let pc = render::prometheus_client_registry(n);
    let (mut buffer, mut text_buffer, mut proto_buffer) = (Vec::new(), Vec::new(), Vec::new());
    let mut renderers: Vec<Renderer<'_>> = vec![
        (
            "prometheus-client (OpenMetrics)",
            Box::new(|| render::prometheus_client_text(&pc).len()),
        ),
        (
            "promhttp OpenMetrics",
            Box::new(|| {
                ours.encode_to(Format::OpenMetrics, &mut buffer).unwrap();
                buffer.len()
            }),
        ),
    ];
    renderers.push((
        "promhttp text 0.0.4",
        Box::new(|| {
            ours.encode_to(Format::Text, &mut text_buffer).unwrap();
            text_buffer.len()
        }),
    ));
    renderers.push((
        "promhttp protobuf",
        Box::new(|| {
            ours.encode_to(Format::Protobuf, &mut proto_buffer).unwrap();
            proto_buffer.len()
        }),
    ));
    let mut bytes = vec![0; renderers.len()];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); renderers.len()];
    for (i, (_, r)) in renderers.iter_mut().enumerate() {
        bytes[i] = r();
    }
    for _ in 0..rounds {
        for (i, (_, r)) in renderers.iter_mut().enumerate() {
            let start = Instant::now();
            black_box(r());
            times[i].push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    let stats = promhttp_bench::median_and_fastest(&mut times);
    println!("{n} histogram series, {rounds} interleaved rounds\n");
    let names: Vec<&str> = renderers.iter().map(|(name, _)| *name).collect();
    drop(renderers);
    // Bytes on the wire gzipped as the endpoint does (`Compression::fast`).
    let client_text = render::prometheus_client_text(&pc);
    let gzipped: Vec<usize> = [
        client_text.as_bytes(),
        &buffer[..],
        &text_buffer[..],
        &proto_buffer[..],
    ]
    .iter()
    .map(|body| gzip_len(body))
    .collect();
    println!(
        "| renderer | median ms | fastest ms | vs prometheus-client (median / fastest) | bytes | gzip bytes |"
    );
    println!("|---|---|---|---|---|---|");
    for (((name, (med, low)), b), z) in names.iter().zip(&stats).zip(&bytes).zip(&gzipped) {
        println!(
            "| {name} | {med:.2} | {low:.2} | {:.2}x / {:.2}x faster | {b} | {z} |",
            stats[0].0 / med,
            stats[0].1 / low
        );
    }
}

/// The size of `body` gzipped at the level the endpoint uses.
fn gzip_len(body: &[u8]) -> usize {
    use std::io::Write as _;
    let mut out = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    out.write_all(body).unwrap();
    out.finish().unwrap().len()
}
