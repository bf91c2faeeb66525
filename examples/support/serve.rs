//! The header read timeout of an example's listener: `$HEADER_READ_TIMEOUT_SECONDS`,
//! default 5 s. A connection must send a complete request head within it of
//! opening or of its previous response, or it is closed
//! ([`promhttp::axum::serve_app`]): that bounds slow senders (slowloris) and idle
//! kept-alive connections alike, which `axum::serve` does not. Needs
//! `support/config.rs` as the example's `config` module.

use std::time::Duration;

/// `$HEADER_READ_TIMEOUT_SECONDS`, default 5 s; anything but a positive number
/// of seconds is an error naming the variable.
pub(crate) fn header_read_timeout() -> Result<Duration, String> {
    crate::config::env_or("HEADER_READ_TIMEOUT_SECONDS", 5.0)
        .and_then(|s| crate::config::positive_seconds("HEADER_READ_TIMEOUT_SECONDS", s))
}
