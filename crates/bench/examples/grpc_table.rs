//! Per-call cost of the gRPC layer, in process on one thread, measured
//! interleaved against the bare tonic server: a unary call of the `grpc`
//! example's `test.Echo` service through tonic's `Routes`, with and without
//! `GrpcMetricsLayer`, its response body read to the end (trailers included).
//! Every round times each variant in turn; the table shows each variant's
//! median and fastest round.
//!
//! `cargo run --release -p promhttp-bench --example grpc_table`
//!
//! `ROUNDS` and `PER_ROUND` (environment) change the number of rounds (default
//! 25) and of calls per variant and round (default 20,000).

#[path = "../../../examples/support/grpc_echo.rs"]
mod echo;

use std::convert::Infallible;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use promhttp::axum::GrpcMetricsLayer;
use promhttp::grpc::GrpcMetrics;
use promhttp::Registry;
use tower::{Layer, Service};

fn env_or(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A unary request of `test.Echo/Unary`, its one message framed.
fn request() -> http::Request<Full<Bytes>> {
    let message = b"ok";
    let mut body = vec![0u8];
    body.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    body.extend_from_slice(message);
    http::Request::post("/test.Echo/Unary")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

/// One call through `service`, the response read to its end; the number of
/// frames read.
fn call<S, B>(runtime: &tokio::runtime::Runtime, service: &mut S) -> usize
where
    S: Service<http::Request<Full<Bytes>>, Response = http::Response<B>, Error = Infallible>,
    B: http_body::Body + Unpin,
    B::Error: std::fmt::Debug,
{
    runtime.block_on(async {
        let response = service.call(request()).await.unwrap();
        let mut body = response.into_body();
        let mut frames = 0;
        while let Some(frame) = body.frame().await {
            frame.unwrap();
            frames += 1;
        }
        frames
    })
}

fn main() {
    promhttp::calibrate_clock();
    let rounds = env_or("ROUNDS", 25) as usize;
    let per_round = env_or("PER_ROUND", 20_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let grpc = GrpcMetrics::builder()
        .registry(&Registry::new())
        .service(echo::SERVICE, echo::METHODS)
        .build()
        .unwrap();
    let mut bare = tonic::service::Routes::new(echo::Echo);
    let mut layered = GrpcMetricsLayer::new(&grpc).layer(tonic::service::Routes::new(echo::Echo));
    // The message and the trailers, in both.
    assert_eq!(call(&runtime, &mut bare), 2);
    assert_eq!(call(&runtime, &mut layered), 2);

    let mut times = [Vec::new(), Vec::new()];
    for _ in 0..rounds {
        let start = Instant::now();
        for _ in 0..per_round {
            std::hint::black_box(call(&runtime, &mut bare));
        }
        times[0].push(start.elapsed().as_nanos() as f64 / f64::from(per_round));
        let start = Instant::now();
        for _ in 0..per_round {
            std::hint::black_box(call(&runtime, &mut layered));
        }
        times[1].push(start.elapsed().as_nanos() as f64 / f64::from(per_round));
    }
    let stats = promhttp_bench::median_and_fastest(&mut times);
    println!(
        "A unary call of test.Echo through tonic's Routes, in process, response read to its end; \
         {rounds} interleaved rounds of {per_round} calls per variant.\n"
    );
    println!("| variant | median ns/call | fastest ns/call | added (median / fastest) |");
    println!("|---|---|---|---|");
    let (bare_median, bare_least) = stats[0];
    for (name, (median, least)) in ["tonic, bare", "tonic, with GrpcMetricsLayer"]
        .iter()
        .zip(&stats)
    {
        println!(
            "| {name} | {median:.0} | {least:.0} | {:+.0} / {:+.0} |",
            median - bare_median,
            least - bare_least
        );
    }
    let snapshot = grpc.registry().encode(promhttp::Format::Text).unwrap();
    assert!(snapshot.contains("grpc_server_handled_total{grpc_type=\"unary\",grpc_service=\"test.Echo\",grpc_method=\"Unary\",grpc_code=\"OK\"}"));
}
