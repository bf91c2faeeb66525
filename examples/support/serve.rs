//! Serving an example's axum app with a bound on slow and idle connections.
//!
//! A connection must send a complete request head within
//! `$HEADER_READ_TIMEOUT_SECONDS` (default 5) of opening or of its previous
//! response, or it is closed: that bounds slow senders (slowloris) and idle
//! kept-alive connections alike. `axum::serve` sets no such limit (hyper needs a
//! timer for it), so the examples serve connections with hyper's HTTP/1 builder.
//! Needs `support/config.rs` as the example's `config` module.

use std::io;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

/// `$HEADER_READ_TIMEOUT_SECONDS`, default 5 s; anything but a positive number
/// of seconds is an error naming the variable.
pub(crate) fn header_read_timeout() -> Result<Duration, String> {
    crate::config::env_or("HEADER_READ_TIMEOUT_SECONDS", 5.0)
        .and_then(|s| crate::config::positive_seconds("HEADER_READ_TIMEOUT_SECONDS", s))
}

/// Serves `app` on `listener` until the process ends, closing each connection
/// that has not sent a complete request head within `header_read_timeout`.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
) -> io::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            // Out of file descriptors, most likely: wait for connections to close.
            Err(_) => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        tokio::spawn(async move {
            // A connection's end, timed out or failed, concerns no one else.
            let _ = connection.await;
        });
    }
}
