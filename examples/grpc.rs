//! A gRPC server with its gRPC metrics: tonic behind `GrpcMetricsLayer`, the
//! `test.Echo` service (one method of each gRPC type, text messages) on
//! `GRPC_BIND` (default `127.0.0.1:50051`), and `/metrics` on a listener of
//! its own, `METRICS_BIND` (default `127.0.0.1:9464`).
//!
//! ```sh
//! cargo run --example grpc --features axum
//! ```
//!
//! `grpc_server_started_total`, `grpc_server_handled_total{grpc_code}`,
//! `grpc_server_handling_seconds` and `grpc_server_msg_{received,sent}_total`,
//! by `grpc_type`, `grpc_service` and `grpc_method`, as the Go ecosystem's gRPC
//! middleware names them; every series of the four methods at 0 from the
//! start. A unary call with the message `fail:<code>` answers that code,
//! `panic` panics, `hang` never answers (for deadlines); a server-streaming
//! call sends as many replies as its message says.

#[path = "support/grpc_echo.rs"]
mod echo;

use std::net::SocketAddr;

use promhttp::axum::GrpcMetricsLayer;
use promhttp::grpc::GrpcMetrics;
use promhttp::Registry;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let grpc_bind: SocketAddr = std::env::var("GRPC_BIND")
        .unwrap_or_else(|_| "127.0.0.1:50051".into())
        .parse()
        .map_err(|e| format!("GRPC_BIND is not a socket address: {e}"))?;
    let metrics_bind: SocketAddr = std::env::var("METRICS_BIND")
        .unwrap_or_else(|_| "127.0.0.1:9464".into())
        .parse()
        .map_err(|e| format!("METRICS_BIND is not a socket address: {e}"))?;
    let registry = Registry::new();
    let grpc = GrpcMetrics::builder()
        .registry(&registry)
        .service(echo::SERVICE, echo::METHODS)
        .build()?;

    let grpc_listener = tokio::net::TcpListener::bind(grpc_bind).await?;
    let metrics_listener = tokio::net::TcpListener::bind(metrics_bind).await?;
    println!(
        "grpc: serving test.Echo on {}, metrics on http://{}/metrics",
        grpc_listener.local_addr()?,
        metrics_listener.local_addr()?
    );
    tokio::spawn(promhttp::axum::serve_on(metrics_listener, &registry));
    tonic::transport::Server::builder()
        .layer(GrpcMetricsLayer::new(&grpc))
        .add_service(echo::Echo)
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(grpc_listener))
        .await?;
    Ok(())
}
