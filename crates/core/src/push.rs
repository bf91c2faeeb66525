//! Pushing a registry to a Prometheus Pushgateway (feature `fetch`), for batch
//! jobs that end before any scrape: a cron job, a one-shot exporter run.
//!
//! ```no_run
//! # mod promhttp { pub use promhttp_core::*; }
//! use promhttp::push::Pusher;
//! use promhttp::Registry;
//!
//! # async fn run(registry: Registry) -> Result<(), promhttp::push::PushError> {
//! let pusher = Pusher::new("http://127.0.0.1:9091", "nightly-backup")?
//!     .grouping("instance", "db-1")?;
//! pusher.push(&registry).await?; // replaces the group's metrics (PUT)
//! # Ok(()) }
//! ```
//!
//! The grouping key (the job and the labels given) is sent base64url-encoded
//! (`/metrics/job@base64/...`), so any value, one with a `/` or an empty one,
//! reaches the gateway as it is. The body is text 0.0.4, which every
//! Pushgateway reads.

use std::fmt;
use std::time::Duration;

use hyper::body::Bytes;

use crate::exposition::Format;
use crate::fetch::{Fetch, FetchError, Outgoing};
use crate::registry::Registry;

/// Pushes registries to one group of a Pushgateway: the job and the grouping
/// labels.
#[derive(Debug, Clone)]
#[must_use]
pub struct Pusher {
    gateway: String,
    job: String,
    grouping: Vec<(String, String)>,
    fetch: Fetch,
}

/// Why a push failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum PushError {
    /// The gateway URL, the job or a grouping label is unusable.
    Invalid(String),
    /// The registry could not be encoded.
    Encode(String),
    /// No answer: the connection, the request or the timeout failed.
    Transport(FetchError),
    /// The gateway answered with an error: a name that clashes with a metric
    /// of another type pushed before, a bad grouping key, bad credentials.
    Refused {
        /// The group's URL.
        url: String,
        /// The gateway's status.
        status: u16,
        /// What the gateway said.
        message: String,
    },
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(reason) => write!(f, "cannot push: {reason}"),
            Self::Encode(reason) => write!(f, "cannot encode the registry to push: {reason}"),
            Self::Transport(err) => write!(f, "push failed: {err}"),
            Self::Refused {
                url,
                status,
                message,
            } => write!(
                f,
                "the Pushgateway refused the push to {url}: HTTP {status}: {message}"
            ),
        }
    }
}

impl std::error::Error for PushError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Transport(err) => Some(err),
            _ => None,
        }
    }
}

impl Pusher {
    /// A pusher to the gateway at `gateway_url` (`http://host:9091`), for
    /// `job`, with a 10-second timeout.
    ///
    /// # Errors
    /// [`PushError::Invalid`] for a URL that is not `http://` or `https://`
    /// with a host, or an empty job.
    pub fn new(gateway_url: &str, job: &str) -> Result<Self, PushError> {
        crate::fetch::check_url(gateway_url).map_err(|e| PushError::Invalid(e.to_string()))?;
        if job.is_empty() {
            return Err(PushError::Invalid("the job name is empty".to_owned()));
        }
        Ok(Self {
            gateway: gateway_url.trim_end_matches('/').to_owned(),
            job: job.to_owned(),
            grouping: Vec::new(),
            fetch: Fetch::new().timeout(Duration::from_secs(10)),
        })
    }

    /// Adds a grouping label: the group is the job and these labels, and
    /// every pushed series carries them.
    ///
    /// # Errors
    /// [`PushError::Invalid`] for a name that is not a label name, `job`, or
    /// one given twice.
    pub fn grouping(mut self, name: &str, value: &str) -> Result<Self, PushError> {
        crate::names::check_label_name(name)
            .map_err(|reason| PushError::Invalid(format!("grouping label {name:?}: {reason}")))?;
        if name == "job" || self.grouping.iter().any(|(n, _)| n == name) {
            return Err(PushError::Invalid(format!(
                "grouping label {name:?}: `job` is the job's, and a label is given once"
            )));
        }
        self.grouping.push((name.to_owned(), value.to_owned()));
        Ok(self)
    }

    /// Sends HTTP basic authentication with every request.
    ///
    /// # Errors
    /// [`PushError::Invalid`] for a user with a `:`, which basic
    /// authentication cannot carry.
    pub fn basic_auth(mut self, user: &str, password: &str) -> Result<Self, PushError> {
        if user.contains(':') {
            return Err(PushError::Invalid(
                "a basic-auth user has no `:`".to_owned(),
            ));
        }
        let token = base64(format!("{user}:{password}").as_bytes(), STANDARD);
        self.fetch = self
            .fetch
            .header("authorization", &format!("Basic {token}"))
            .map_err(|e| PushError::Invalid(e.to_string()))?;
        Ok(self)
    }

    /// Gives up on a push after `timeout` (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.fetch = self.fetch.timeout(timeout);
        self
    }

    /// Sends through `fetch` (its timeout, CA file, headers, client metrics)
    /// instead; a basic-auth header given before is kept only if given again.
    pub fn with_fetch(mut self, fetch: Fetch) -> Self {
        self.fetch = fetch;
        self
    }

    /// The group's URL on the gateway.
    #[must_use]
    pub fn url(&self) -> String {
        let mut url = format!("{}/metrics/job@base64/{}", self.gateway, segment(&self.job));
        for (name, value) in &self.grouping {
            url.push('/');
            url.push_str(name);
            url.push_str("@base64/");
            url.push_str(&segment(value));
        }
        url
    }

    /// Replaces every metric of the group with `registry`'s (HTTP `PUT`).
    ///
    /// # Errors
    /// A [`PushError`] saying why; the gateway's own words when it refused.
    pub async fn push(&self, registry: &Registry) -> Result<(), PushError> {
        self.send(hyper::Method::PUT, Some(registry)).await
    }

    /// Replaces the group's metrics of the names `registry` has, keeping the
    /// others (HTTP `POST`).
    ///
    /// # Errors
    /// As [`Pusher::push`].
    pub async fn push_add(&self, registry: &Registry) -> Result<(), PushError> {
        self.send(hyper::Method::POST, Some(registry)).await
    }

    /// Deletes the group from the gateway (HTTP `DELETE`).
    ///
    /// # Errors
    /// As [`Pusher::push`].
    pub async fn delete(&self) -> Result<(), PushError> {
        self.send(hyper::Method::DELETE, None).await
    }

    async fn send(
        &self,
        method: hyper::Method,
        registry: Option<&Registry>,
    ) -> Result<(), PushError> {
        let body = match registry {
            Some(registry) => {
                let mut out = Vec::new();
                registry
                    .encode_to(Format::Text, &mut out)
                    .map_err(|e| PushError::Encode(e.to_string()))?;
                Bytes::from(out)
            }
            None => Bytes::new(),
        };
        let url = self.url();
        let content_type = registry.map(|_| Format::Text.content_type());
        let response = self
            .fetch
            .send(
                &url,
                Outgoing {
                    method,
                    accept: "*/*",
                    content_type,
                    body,
                },
            )
            .await
            .map_err(PushError::Transport)?;
        if (200..300).contains(&response.status) {
            return Ok(());
        }
        let message = String::from_utf8_lossy(&response.body).trim().to_owned();
        Err(PushError::Refused {
            url,
            status: response.status,
            message,
        })
    }
}

/// A path segment as the gateway's `@base64` reads it: base64url, and `=`
/// for the empty value.
fn segment(value: &str) -> String {
    if value.is_empty() {
        "=".to_owned()
    } else {
        base64(value.as_bytes(), URL_SAFE)
    }
}

use crate::endpoint::{
    base64_with as base64, BASE64_STANDARD as STANDARD, BASE64_URL_SAFE as URL_SAFE,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_safe_alphabet_differs_only_in_its_last_two() {
        assert_eq!(base64(&[0xfb, 0xff], STANDARD), "+/8=");
        assert_eq!(base64(&[0xfb, 0xff], URL_SAFE), "-_8=");
    }

    #[test]
    fn the_group_url_carries_any_value() {
        let pusher = Pusher::new("http://gw:9091/", "backup/nightly")
            .unwrap()
            .grouping("instance", "")
            .unwrap()
            .grouping("path", "/var/db")
            .unwrap();
        assert_eq!(
            pusher.url(),
            "http://gw:9091/metrics/job@base64/YmFja3VwL25pZ2h0bHk=/instance@base64/=/path@base64/L3Zhci9kYg=="
        );
        for bad in [
            Pusher::new("ftp://gw", "j").err(),
            Pusher::new("http://gw", "").err(),
            Pusher::new("http://gw", "j")
                .unwrap()
                .grouping("job", "x")
                .err(),
            Pusher::new("http://gw", "j")
                .unwrap()
                .grouping("a-b", "x")
                .err(),
            Pusher::new("http://gw", "j")
                .unwrap()
                .basic_auth("a:b", "c")
                .err(),
        ] {
            assert!(matches!(bad, Some(PushError::Invalid(_))), "{bad:?}");
        }
    }
}
