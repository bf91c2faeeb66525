//! The exported metrics and how each event of the follower is counted.

use std::fmt;

use promhttp::prometheus_client::encoding::{EncodeLabel as _, EncodeLabelSet, LabelSetEncoder};
use promhttp::prometheus_client::metrics::counter::Counter;
use promhttp::prometheus_client::metrics::family::Family;
use promhttp::{HttpMethod, Registry, RegistryError};

use crate::follow::Event;
use crate::format::{LineFormat, Request};

/// The labels of the request families: `method` (ten values at most) and
/// `status` (100 to 599).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct RequestLabels {
    method: HttpMethod,
    status: u16,
}

impl EncodeLabelSet for RequestLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> fmt::Result {
        ("method", self.method.as_str()).encode(encoder.encode_label())?;
        ("status", self.status).encode(encoder.encode_label())
    }
}

/// Everything the exporter counts. Every line read is either one request or
/// malformed: `log_lines_read_total == sum(http_requests_total) +
/// log_lines_malformed_total`.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    requests: Family<RequestLabels, Counter>,
    response_bytes: Family<RequestLabels, Counter>,
    lines_read: Counter,
    malformed: Counter,
    rotations: Counter,
    truncations: Counter,
}

impl Metrics {
    /// Creates the metrics and registers them in `registry`.
    pub(crate) fn register(registry: &Registry) -> Result<Self, RegistryError> {
        let metrics = Self {
            requests: Family::default(),
            response_bytes: Family::default(),
            lines_read: Counter::default(),
            malformed: Counter::default(),
            rotations: Counter::default(),
            truncations: Counter::default(),
        };
        registry.register(
            "http_requests",
            "Requests in the access log, by method and status",
            metrics.requests.clone(),
        )?;
        registry.register(
            "http_response_bytes",
            "Response body bytes in the access log (a size of - counts as 0), by method and status",
            metrics.response_bytes.clone(),
        )?;
        registry.register(
            "log_lines_read",
            "Lines read from the access log, malformed ones included",
            metrics.lines_read.clone(),
        )?;
        registry.register(
            "log_lines_malformed",
            "Lines that are no request: not in the format, not UTF-8, a status outside 100-599, \
             a bad size, longer than 64 KiB, or cut off by a truncation",
            metrics.malformed.clone(),
        )?;
        registry.register(
            "log_file_rotations",
            "Times reading moved on to a new file at the log path (rotation by rename, or replacement)",
            metrics.rotations.clone(),
        )?;
        registry.register(
            "log_file_truncations",
            "Times the log file was found shorter than what had been read, and read again from its start",
            metrics.truncations.clone(),
        )?;
        Ok(metrics)
    }

    /// Counts one event of the follower, parsing lines with `format`.
    pub(crate) fn record(&self, format: &LineFormat, event: Event<'_>) {
        match event {
            Event::Line(line) => {
                self.lines_read.inc();
                match format.parse(line) {
                    Some(request) => self.request(request),
                    None => {
                        self.malformed.inc();
                    }
                }
            }
            Event::Dropped => {
                self.lines_read.inc();
                self.malformed.inc();
            }
            Event::Rotated => {
                self.rotations.inc();
            }
            Event::Truncated => {
                self.truncations.inc();
            }
        }
    }

    fn request(&self, request: Request) {
        let labels = RequestLabels {
            method: request.method,
            status: request.status,
        };
        self.requests.get_or_create(&labels).inc();
        self.response_bytes
            .get_or_create(&labels)
            .inc_by(request.bytes);
    }
}
