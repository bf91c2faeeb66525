//! The `access_log` example's unit tests (its line formats, its file follower and
//! its counts).
//! They live beside the code in `examples/access_log/` and run from here, because
//! `cargo test` builds the examples as the binaries the integration tests start.
#![cfg(unix)]

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/access_log/follow.rs"]
mod follow;
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/access_log/format.rs"]
mod format;
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/access_log/metrics.rs"]
mod metrics;
