//! The client side: metrics of the HTTP requests a service sends.

use std::fmt;

use super::builder::HttpMetricsBuilder;
use super::{BuildError, HttpMethod, HttpMetrics, RequestGuard, RouteHandle};
use crate::registry::Registry;

/// The `server_address` label value of an outgoing request to a server that
/// was not declared ([`HttpClientMetricsBuilder::server_addresses`]), or whose
/// address could not be read.
pub const OTHER_SERVER: &str = "other";

/// The longest host name (253 bytes, as DNS allows, or a bracketed IPv6
/// address) with a port: a longer address is [`OTHER_SERVER`].
const MAX_ADDRESS: usize = 253 + 1 + 5;

/// The metrics of the HTTP requests a service sends to others: what every
/// exporter that polls an upstream, and every service that calls another,
/// wants to know of its calls. A handle: cloning it is cheap.
///
/// It writes (names shown without prefix):
///
/// | name | type | labels |
/// |---|---|---|
/// | `http_client_requests_total` | counter | `method`, `server_address`, `status` |
/// | `http_client_requests_in_flight` | gauge | `method`, `server_address` |
/// | `http_client_request_duration_seconds` | histogram | `method`, `server_address`, `status` |
/// | `promhttp_client_series_overflow_total` | counter | `metric` |
///
/// `server_address` is the server's `host:port` (the port the scheme implies
/// when the URI has none), lowercased; only the declared addresses when the
/// builder declares any (anything else is [`OTHER_SERVER`]), otherwise every
/// address called, within the series limit. `status` is the response's code,
/// `error` for a request that failed without a response ([`super::STATUS_FAILED`])
/// and `499` for one whose caller gave up (dropped the future) before the
/// response came. The duration ends when the response body ends or is dropped,
/// as on the server side.
///
/// The tower layer `promhttp::axum::ClientMetricsLayer` records into it for
/// any client that is a tower service (a hyper client, a tonic channel); other
/// clients record with [`HttpClientMetrics::start`].
///
/// ```
/// # mod promhttp { pub use promhttp_core::*; }
/// use promhttp::{Format, HttpClientMetrics, HttpMethod, Registry, STATUS_FAILED};
///
/// let registry = Registry::new();
/// let client = HttpClientMetrics::builder()
///     .registry(&registry)
///     .server_addresses(["api.example.com:443"])
///     .build()?;
/// let mut call = client.start(HttpMethod::Get, "API.example.com", 443).unwrap();
/// call.set_status(200);
/// drop(call); // the response body ended
/// let mut call = client.start(HttpMethod::Post, "10.0.0.7", 8080).unwrap();
/// call.set_status(STATUS_FAILED); // connection refused
/// drop(call);
/// let text = registry.encode(Format::Text)?;
/// assert!(text.contains(
///     "http_client_requests_total{method=\"GET\",server_address=\"api.example.com:443\",status=\"200\"} 1\n"
/// ));
/// assert!(text.contains(
///     "http_client_requests_total{method=\"POST\",server_address=\"other\",status=\"error\"} 1\n"
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct HttpClientMetrics {
    inner: HttpMetrics,
}

impl fmt::Debug for HttpClientMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClientMetrics")
            .field("requests_total", &self.inner.shared.names.requests_total)
            .field("servers", &self.inner.shared.servers.len())
            .finish_non_exhaustive()
    }
}

impl HttpClientMetrics {
    /// Starts configuring a client metric set.
    pub fn builder() -> HttpClientMetricsBuilder {
        HttpClientMetricsBuilder {
            inner: HttpMetricsBuilder::for_client(),
        }
    }

    /// The handle of the server at `host` and `port`: its `server_address`
    /// series. Host names are compared without case. Allocates nothing for a
    /// declared server or one seen before.
    #[must_use]
    pub fn server(&self, host: &str, port: u16) -> RouteHandle {
        let shared = &*self.inner.shared;
        let mut buffer = [0u8; MAX_ADDRESS];
        let Some(address) = write_address(&mut buffer, host, port) else {
            return self.inner.route(None);
        };
        if shared.servers.is_empty() {
            return self.inner.route(Some(address));
        }
        match shared.servers.iter().find(|s| *s.route == *address) {
            Some(entry) => RouteHandle {
                entry: std::sync::Arc::clone(entry),
            },
            None => self.inner.route(None),
        }
    }

    /// The handle of a server whose address is not known (a request without
    /// a host): [`OTHER_SERVER`].
    #[must_use]
    pub fn other_server(&self) -> RouteHandle {
        self.inner.route(None)
    }

    /// Starts recording a request to `host` and `port`: raises its in-flight
    /// gauge and starts the clock. Set the status when the response comes
    /// ([`RequestGuard::set_status`], [`super::STATUS_FAILED`] when none came)
    /// and drop the guard when its body has ended.
    #[must_use]
    pub fn start(&self, method: HttpMethod, host: &str, port: u16) -> Option<RequestGuard> {
        self.server(host, port).start(method)
    }

    /// The registry this set is registered in.
    #[must_use]
    pub fn registry(&self) -> &Registry {
        self.inner.registry()
    }
}

/// `host:port`, lowercased, in `buffer`; `None` when it does not fit.
fn write_address<'a>(buffer: &'a mut [u8; MAX_ADDRESS], host: &str, port: u16) -> Option<&'a str> {
    let mut digits = itoa::Buffer::new();
    let port = digits.format(port).as_bytes();
    let len = host.len() + 1 + port.len();
    let out = buffer.get_mut(..len)?;
    let (head, tail) = out.split_at_mut(host.len());
    head.copy_from_slice(host.as_bytes());
    head.make_ascii_lowercase();
    let (colon, rest) = tail.split_first_mut()?;
    *colon = b':';
    rest.copy_from_slice(port);
    std::str::from_utf8(out).ok()
}

/// A declared address as it is kept: `host:port` with the host lowercased.
pub(crate) fn normalize_address(address: &str) -> Result<String, &'static str> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or("a server address is `host:port`")?;
    if host.is_empty() {
        return Err("the host is empty");
    }
    if host
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'/' || b == b'"')
    {
        return Err("a host has no spaces, control characters, `/` or `\"`");
    }
    let port: u16 = port
        .parse()
        .map_err(|_| "the port is not a number from 0 to 65535")?;
    let mut buffer = [0u8; MAX_ADDRESS];
    write_address(&mut buffer, host, port)
        .map(str::to_owned)
        .ok_or("longer than any host name")
}

/// Configures an [`HttpClientMetrics`] set; made by
/// [`HttpClientMetrics::builder`]. Every check happens in
/// [`build`](Self::build).
#[derive(Debug, Clone)]
#[must_use]
pub struct HttpClientMetricsBuilder {
    inner: HttpMetricsBuilder,
}

impl HttpClientMetricsBuilder {
    /// Prefixes every metric name with `prefix_`, as
    /// [`HttpMetricsBuilder::prefix`].
    pub fn prefix(self, prefix: impl Into<String>) -> Self {
        Self {
            inner: self.inner.prefix(prefix),
        }
    }

    /// The latency buckets, in seconds, as [`HttpMetricsBuilder::buckets`].
    pub fn buckets(self, bounds: impl IntoIterator<Item = f64>) -> Self {
        Self {
            inner: self.inner.buckets(bounds),
        }
    }

    /// A label with one value on every series, as
    /// [`HttpMetricsBuilder::const_label`].
    pub fn const_label(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            inner: self.inner.const_label(name, value),
        }
    }

    /// The series limit per family, as [`HttpMetricsBuilder::max_series`]: it
    /// also caps the number of server addresses when none are declared.
    pub fn max_series(self, max_series: usize) -> Self {
        Self {
            inner: self.inner.max_series(max_series),
        }
    }

    /// Only these servers (`host:port`, the host without case) get a
    /// `server_address` of their own; requests to any other are
    /// [`OTHER_SERVER`]. Without it, every server called gets one, within
    /// the series limit. Repeated calls add to the list.
    pub fn server_addresses<A: Into<String>>(
        mut self,
        addresses: impl IntoIterator<Item = A>,
    ) -> Self {
        if let Some(list) = &mut self.inner.client {
            list.extend(addresses.into_iter().map(Into::into));
        }
        self
    }

    /// Registers into `registry` instead of the process registry.
    pub fn registry(self, registry: &Registry) -> Self {
        Self {
            inner: self.inner.registry(registry),
        }
    }

    /// Checks the configuration and registers the metric set.
    ///
    /// # Errors
    /// A [`BuildError`] naming the bad input and the rule it breaks
    /// ([`BuildError::InvalidServerAddress`] for an address), or a metric
    /// name already taken in the registry.
    pub fn build(self) -> Result<HttpClientMetrics, BuildError> {
        Ok(HttpClientMetrics {
            inner: self.inner.build()?,
        })
    }
}
