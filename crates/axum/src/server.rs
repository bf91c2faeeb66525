//! The metrics-only listener: [`serve`], [`serve_on`] and [`MetricsServer`],
//! which bound how long a connection may take to send its request head.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::any;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use promhttp_core::MetricsEndpoint;
use tokio::net::TcpListener;

use crate::handler::metrics_endpoint;

/// How long a connection of [`MetricsServer`] may take, by default, to send a
/// complete request head: 10 seconds.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A metrics-only HTTP/1.1 server: `/metrics` served by a [`MetricsEndpoint`],
/// `404` elsewhere. For keeping metrics off the public listener.
///
/// ```no_run
/// # mod promhttp { pub mod axum { pub use promhttp_axum::*; } pub use promhttp_core::*; }
/// use std::time::Duration;
/// use promhttp::axum::MetricsServer;
///
/// # async fn run() -> std::io::Result<()> {
/// let registry = promhttp::Registry::new();
/// let server = MetricsServer::new(&registry).header_read_timeout(Duration::from_secs(5));
/// tokio::spawn(server.serve("127.0.0.1:9100".parse().unwrap()));
/// # Ok(()) }
/// ```
///
/// # Limits on connections
///
/// A connection must send a complete request head within the
/// [header read timeout](Self::header_read_timeout) (default
/// [`DEFAULT_HEADER_READ_TIMEOUT`]), counted from the moment the server waits for
/// one: when the connection opens, and after each response on a kept-alive
/// connection. Past it the connection is closed without a response. So a client
/// that sends its head byte by byte (slowloris) and a kept-alive connection left
/// idle both hold their socket for at most that long. A scrape that takes longer
/// to encode is not cut: the clock stops once the head has arrived (bound
/// encoding with [`MetricsEndpoint::timeout`]).
///
/// Not bounded here: the number of connections (each lives at most the timeout,
/// but many may be opened at once), and a client that stops reading a response
/// it asked for, which holds its connection until TCP gives up on it. Request
/// heads are limited by hyper's buffer (about 400 KiB, `431` past it); request
/// bodies are never read, and a connection whose body was left unread is closed
/// after its response.
#[derive(Debug, Clone)]
#[must_use]
pub struct MetricsServer {
    endpoint: MetricsEndpoint,
    header_read_timeout: Duration,
}

impl MetricsServer {
    /// A server for `endpoint` (a [`MetricsEndpoint`], or a
    /// [`Registry`](promhttp_core::Registry) served without protection).
    pub fn new(endpoint: impl Into<MetricsEndpoint>) -> Self {
        Self {
            endpoint: endpoint.into(),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
        }
    }

    /// How long a connection may take to send a complete request head, from
    /// when it opens or from its previous response; it is closed past that. It
    /// must be positive: [`serve`](Self::serve) refuses zero.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Binds `addr` and serves until the future is dropped.
    ///
    /// # Errors
    /// When binding `addr` fails, or the header read timeout is zero
    /// ([`io::ErrorKind::InvalidInput`]). Errors accepting a connection are not
    /// returned: the server waits a second (when out of file descriptors) and
    /// accepts again.
    #[allow(
        clippy::manual_async_fn,
        reason = "the signature promises a `Send + 'static` future, for `tokio::spawn`"
    )]
    pub fn serve(self, addr: SocketAddr) -> impl Future<Output = io::Result<()>> + Send + 'static {
        async move {
            self.check()?;
            let listener = TcpListener::bind(addr).await.map_err(|err| {
                io::Error::new(err.kind(), format!("cannot listen on {addr}: {err}"))
            })?;
            self.run(listener).await
        }
    }

    /// Like [`serve`](Self::serve), on a listener the caller bound.
    ///
    /// # Errors
    /// When the header read timeout is zero ([`io::ErrorKind::InvalidInput`]).
    #[allow(
        clippy::manual_async_fn,
        reason = "the signature promises a `Send + 'static` future, for `tokio::spawn`"
    )]
    pub fn serve_on(
        self,
        listener: TcpListener,
    ) -> impl Future<Output = io::Result<()>> + Send + 'static {
        async move {
            self.check()?;
            self.run(listener).await
        }
    }

    fn check(&self) -> io::Result<()> {
        check_timeout(
            self.header_read_timeout,
            "MetricsServer::header_read_timeout",
        )
    }

    async fn run(self, listener: TcpListener) -> io::Result<()> {
        // Finished once, as `axum::serve` does: its routes are built here, not
        // on every request.
        let app = Router::new()
            .route("/metrics", any(metrics_endpoint(self.endpoint)))
            .with_state(());
        accept(listener, app, self.header_read_timeout).await
    }
}

/// Serves an axum app on `listener` as [`MetricsServer`] serves `/metrics`: each
/// connection must send a complete request head within `header_read_timeout`
/// of opening or of its previous response, or it is closed (see [`MetricsServer`]'s
/// limits). `axum::serve` sets no such limit, so a slowloris client or an idle
/// kept-alive connection can hold its socket for ever; use this for the app's
/// own listener too.
///
/// ```no_run
/// # mod promhttp { pub mod axum { pub use promhttp_axum::*; } pub use promhttp_core::*; }
/// use std::time::Duration;
/// use axum::{routing::get, Router};
///
/// # async fn run() -> std::io::Result<()> {
/// let app = Router::new().route("/", get(|| async { "hello" }));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// promhttp::axum::serve_app(listener, app, Duration::from_secs(5)).await
/// # }
/// ```
///
/// # Errors
/// When `header_read_timeout` is zero ([`io::ErrorKind::InvalidInput`]); else
/// none: the future runs until it is dropped.
#[allow(
    clippy::manual_async_fn,
    reason = "the signature promises a `Send + 'static` future, for `tokio::spawn`"
)]
pub fn serve_app(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
) -> impl Future<Output = io::Result<()>> + Send + 'static {
    async move {
        check_timeout(header_read_timeout, "serve_app's header_read_timeout")?;
        accept(listener, app, header_read_timeout).await
    }
}

fn check_timeout(timeout: Duration, what: &str) -> io::Result<()> {
    if timeout.is_zero() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{what} must be positive: zero would close every connection before its request"
            ),
        ));
    }
    Ok(())
}

/// Accepts connections for ever, each served by `app` under the header read
/// timeout.
async fn accept(
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
            // The client gave up before it was accepted.
            Err(err) if is_connection_error(&err) => continue,
            // Out of file descriptors, most likely: closing connections will
            // free some.
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

/// Runs a metrics-only HTTP server on `addr`: `/metrics` served by `endpoint`,
/// `404` elsewhere, with the default limits of [`MetricsServer`] (which see).
///
/// ```no_run
/// # mod promhttp { pub mod axum { pub use promhttp_axum::*; } pub use promhttp_core::*; }
/// # async fn run() -> std::io::Result<()> {
/// let registry = promhttp::Registry::new();
/// // Beside the app's own server, on an internal port:
/// tokio::spawn(promhttp::axum::serve("127.0.0.1:9100".parse().unwrap(), &registry));
/// # Ok(()) }
/// ```
///
/// # Errors
/// When binding `addr` fails.
pub fn serve(
    addr: SocketAddr,
    endpoint: impl Into<MetricsEndpoint>,
) -> impl Future<Output = io::Result<()>> + Send + 'static {
    MetricsServer::new(endpoint).serve(addr)
}

/// Like [`serve`], on a listener the caller bound.
///
/// # Errors
/// None: the future runs until it is dropped.
pub fn serve_on(
    listener: TcpListener,
    endpoint: impl Into<MetricsEndpoint>,
) -> impl Future<Output = io::Result<()>> + Send + 'static {
    MetricsServer::new(endpoint).serve_on(listener)
}

/// An accept error that concerns one connection, not the listener.
fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
