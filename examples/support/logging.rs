//! Logging for the example exporters: `tracing` to stderr, `RUST_LOG` to filter
//! (default `info`), colours only on a terminal.

use std::io::IsTerminal;

/// Installs the subscriber; call once at the start of `main`.
pub(crate) fn init() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}
