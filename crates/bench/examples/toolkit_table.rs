//! What the exporter toolkit costs a scrape of 100 labelled gauges, measured
//! interleaved (every round times each variant in turn; the table shows each
//! one's median and fastest round): prometheus-client's own `Family<_, Gauge>`
//! and encoder (the reference), the same family registered in a promhttp
//! `Registry` (read back through the bridge), `SyncedGaugeFamily`, and a
//! scrape-time collector run inline and on its own thread. Then the latency of one
//! scrape against two at once, with a collector that takes 20 ms: overlapping
//! scrapes share one run of the collectors.
//!
//! `cargo run --release -p promhttp-bench --example toolkit_table`
//! (`ROUNDS`, default 301; `PER_ROUND`, default 200.)

use std::hint::black_box;
use std::time::{Duration, Instant};

use promhttp::collect::Families;
use promhttp::family::MetricFamily;
use promhttp::source::SyncedGaugeFamily;
use promhttp::{Format, Registry};
use promhttp_bench::median_and_fastest;
use promhttp_bench::pods::{client_family, pods, SERIES};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A variant's name, and one scrape that returns the bytes it wrote.
type Variant<'a> = (&'static str, Box<dyn FnMut() -> usize + 'a>);

fn main() {
    let rounds = env_or("ROUNDS", 301);
    let per_round = env_or("PER_ROUND", 200);

    let mut reference = prometheus_client::registry::Registry::default();
    reference.register("pod_energy", "Energy", client_family());
    let bridged = Registry::new();
    bridged
        .register("pod_energy", "Energy.", client_family())
        .unwrap();
    let synced = Registry::new();
    let source = SyncedGaugeFamily::new(["pod", "namespace"]).unwrap();
    source
        .replace(pods().into_iter().enumerate().map(|(i, p)| (p, i as f64)))
        .unwrap();
    synced
        .register_family("pod_energy", "Energy.", source)
        .unwrap();
    let collectors: Vec<Registry> = [true, false]
        .into_iter()
        .map(|inline| {
            let registry = Registry::new();
            let builder = registry
                .collector("pods")
                .family(promhttp_bench::pods::declared());
            let builder = if inline { builder.inline() } else { builder };
            builder.register(promhttp_bench::pods::collect).unwrap();
            registry
        })
        .collect();

    // The floor of any hand-over to a thread: a parked thread woken with a job
    // that it answers at once, the answer awaited as the collectors' is (a
    // short spin, then sleep).
    let (jobs, parked) = std::sync::mpsc::channel::<std::sync::mpsc::Sender<()>>();
    std::thread::spawn(move || {
        for reply in parked {
            let _ = reply.send(());
        }
    });
    let hand_over = || {
        let (tx, rx) = std::sync::mpsc::channel();
        jobs.send(tx).unwrap();
        let spin_until = Instant::now() + Duration::from_micros(50);
        while Instant::now() < spin_until {
            if rx.try_recv().is_ok() {
                return 0;
            }
            std::hint::spin_loop();
        }
        rx.recv().unwrap();
        0
    };

    let (mut b1, mut b2, mut b3, mut b4) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut variants: Vec<Variant<'_>> = vec![
        (
            "prometheus-client `Family<_, Gauge>`, its own encoder (reference)",
            Box::new(|| promhttp_bench::render::prometheus_client_text(&reference).len()),
        ),
        (
            "the same family in a promhttp `Registry` (bridge)",
            Box::new(|| {
                bridged.encode_to(Format::OpenMetrics, &mut b1).unwrap();
                b1.len()
            }),
        ),
        (
            "`SyncedGaugeFamily`",
            Box::new(|| {
                synced.encode_to(Format::OpenMetrics, &mut b2).unwrap();
                b2.len()
            }),
        ),
        (
            "scrape-time collector, `.inline()`",
            Box::new(|| {
                collectors[0]
                    .encode_to(Format::OpenMetrics, &mut b3)
                    .unwrap();
                b3.len()
            }),
        ),
        (
            "scrape-time collector, own thread (the default)",
            Box::new(|| {
                collectors[1]
                    .encode_to(Format::OpenMetrics, &mut b4)
                    .unwrap();
                b4.len()
            }),
        ),
        (
            "a parked thread woken and answered, nothing collected (the hand-over alone)",
            Box::new(hand_over),
        ),
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for (_, v) in &mut variants {
        black_box(v());
    }
    for _ in 0..rounds {
        for (i, (_, v)) in variants.iter_mut().enumerate() {
            let start = Instant::now();
            for _ in 0..per_round {
                black_box(v());
            }
            times[i].push(start.elapsed().as_secs_f64() * 1e6 / per_round as f64);
        }
    }
    let stats = median_and_fastest(&mut times);
    println!("{SERIES} labelled gauges per scrape, OpenMetrics; {rounds} interleaved rounds of {per_round} scrapes\n");
    println!("| registry | median µs | fastest µs | vs reference (median / fastest) |");
    println!("|---|---|---|---|");
    for ((name, _), (med, low)) in variants.iter().zip(&stats) {
        println!(
            "| {name} | {med:.1} | {low:.1} | {:.2}x / {:.2}x |",
            med / stats[0].0,
            low / stats[0].1
        );
    }

    // Overlapping scrapes share one run: a 20 ms collector, scraped once, then
    // twice at once.
    let slow = Registry::new();
    slow.collector("slow")
        .family(MetricFamily::gauge("slow_value", ""))
        .register(|out: &mut Families| {
            std::thread::sleep(Duration::from_millis(20));
            out.family("slow_value")?
                .add_gauge(promhttp::family::NO_LABELS, 1.0);
            Ok(())
        })
        .unwrap();
    let scrape = || {
        let start = Instant::now();
        let text = slow.encode(Format::OpenMetrics).unwrap();
        assert!(text.contains("slow_value 1\n"));
        assert!(text.contains("promhttp_collector_errors_total{collector=\"slow\"} 0\n"));
        start.elapsed().as_secs_f64() * 1e3
    };
    let (mut alone, mut pair) = (Vec::new(), Vec::new());
    for _ in 0..21 {
        alone.push(scrape());
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(scrape);
            let b = s.spawn(scrape);
            (a.join().unwrap(), b.join().unwrap())
        });
        pair.push(a.max(b));
    }
    alone.sort_by(f64::total_cmp);
    pair.sort_by(f64::total_cmp);
    println!(
        "\nA 20 ms collector: one scrape {:.1} ms (median of 21), two at once {:.1} ms for the slower of the pair; no collector error in any scrape.",
        alone[10], pair[10]
    );
}
