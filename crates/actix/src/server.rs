//! A metrics-only server on its own port, run by actix-web.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_web::http::KeepAlive;
use actix_web::{web, App, HttpServer};
use promhttp_core::MetricsEndpoint;

use crate::metrics_endpoint;

/// The server of [`serve`] and [`serve_on`], before it listens. A macro
/// because `HttpServer`'s type names its app factory, a closure.
macro_rules! server {
    ($endpoint:expr) => {{
        let endpoint = $endpoint;
        HttpServer::new(move || {
            App::new().route(
                "/metrics",
                web::route().to(metrics_endpoint(endpoint.clone())),
            )
        })
        .workers(1)
        .disable_signals()
        .client_request_timeout(DEFAULT_HEADER_READ_TIMEOUT)
        .keep_alive(KeepAlive::Timeout(DEFAULT_HEADER_READ_TIMEOUT))
        .shutdown_timeout(1)
    }};
}

/// How long a connection of [`serve`] may take to send a complete request
/// head, and how long a kept-alive connection may stay idle: 10 seconds.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs a metrics-only HTTP server on `addr`, on one actix-web worker thread of
/// its own: `/metrics` served by `endpoint` (any method: `HEAD` gets the
/// headers alone, methods other than `GET` and `HEAD` `405`), `404` elsewhere.
/// For keeping metrics off the app's public listener.
///
/// A connection must send its request head within
/// [`DEFAULT_HEADER_READ_TIMEOUT`] of opening, and a kept-alive one is closed
/// after as long idle, so slow senders and idle connections cannot hold its
/// sockets. It answers no signals: the app's own server decides when the
/// process stops.
///
/// ```no_run
/// # mod promhttp { pub mod actix { pub use promhttp_actix::*; } pub use promhttp_core::*; }
/// # async fn run() -> std::io::Result<()> {
/// let registry = promhttp::Registry::new();
/// // Beside the app's own server, on an internal port:
/// actix_web::rt::spawn(promhttp::actix::serve("127.0.0.1:9100".parse().unwrap(), &registry));
/// # Ok(()) }
/// ```
///
/// Must be awaited inside actix-web's runtime (`#[actix_web::main]`) or a
/// tokio runtime.
///
/// # Errors
/// When binding `addr` fails; the message names the address.
pub fn serve(
    addr: SocketAddr,
    endpoint: impl Into<MetricsEndpoint>,
) -> impl Future<Output = io::Result<()>> + 'static {
    let endpoint = endpoint.into();
    async move {
        server!(endpoint)
            .bind(addr)
            .map_err(|err| io::Error::new(err.kind(), format!("cannot listen on {addr}: {err}")))?
            .run()
            .await
    }
}

/// Like [`serve`], on a listener the caller bound.
///
/// # Errors
/// When the listener cannot be used (it is not listening).
pub fn serve_on(
    listener: TcpListener,
    endpoint: impl Into<MetricsEndpoint>,
) -> impl Future<Output = io::Result<()>> + 'static {
    let endpoint = endpoint.into();
    async move { server!(endpoint).listen(listener)?.run().await }
}
