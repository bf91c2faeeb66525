//! An access-log exporter: follows a web server's access log like `tail -F` and
//! serves request counts from it on `/metrics`.
//!
//! ```sh
//! cargo run --example access_log --features axum,exporter -- --file access.log --port 9880
//! ```
//!
//! Lines in Common or Combined Log Format (or a `--regex` with the named groups
//! `method`, `status` and `bytes`) are counted in `http_requests_total{method,status}`
//! and `http_response_bytes_total{method,status}`; other lines in
//! `log_lines_malformed_total`. The file is polled: rotation by rename, truncation
//! and a missing file are survived, and a line is read once its `\n` is written.
//! `examples/README.md` describes the flags, the metrics and the rotation rules.
//! Unix only: a rotated file is recognised by its device and inode numbers.

#[cfg(unix)]
mod follow;
#[cfg(unix)]
mod format;
#[cfg(unix)]
mod metrics;

#[cfg(unix)]
fn main() -> std::process::ExitCode {
    unix::main()
}

#[cfg(not(unix))]
fn main() -> std::process::ExitCode {
    eprintln!(
        "access_log: this example runs on Unix only (it recognises a rotated file by its inode)"
    );
    std::process::ExitCode::FAILURE
}

#[cfg(unix)]
mod unix {
    use std::io::Write as _;
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    use std::path::PathBuf;
    use std::process::ExitCode;
    use std::time::Duration;

    use clap::Parser;
    use promhttp::Registry;

    use crate::follow::{Event, Follower, Start};
    use crate::format::{Builtin, LineFormat};
    use crate::metrics::Metrics;

    /// Follows an access log like `tail -F` and serves request counts from it as
    /// Prometheus metrics on /metrics.
    #[derive(Debug, Parser)]
    #[command(name = "access_log")]
    struct Args {
        /// The access log to follow. It may be missing at start-up or between a
        /// rotation and the re-creation of the file.
        #[arg(long)]
        file: PathBuf,
        /// The port to serve /metrics on (0 picks a free one).
        #[arg(long, default_value_t = 9880)]
        port: u16,
        /// The address to serve /metrics on.
        #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
        bind: IpAddr,
        /// Read the file's existing content instead of starting at its end.
        #[arg(long)]
        from_start: bool,
        /// The line format.
        #[arg(long, value_enum, default_value_t = Builtin::Auto)]
        format: Builtin,
        /// A regex with the named groups method, status and bytes, used instead of
        /// --format; it may match anywhere in a line (anchor it with ^ and $).
        #[arg(long, conflicts_with = "format")]
        regex: Option<String>,
        /// How often the file is checked for new lines, rotation and truncation.
        #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(1..))]
        poll_interval_ms: u64,
    }

    pub(crate) fn main() -> ExitCode {
        let args = Args::parse();
        match run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("access_log: {err}");
                ExitCode::FAILURE
            }
        }
    }

    fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
        let format = match &args.regex {
            Some(pattern) => LineFormat::custom(pattern)?,
            None => LineFormat::builtin(args.format),
        };
        let registry = Registry::new();
        let metrics = Metrics::register(&registry)?;
        let start = if args.from_start {
            Start::Beginning
        } else {
            Start::End
        };
        // Opened before the start-up line, so "the end" is the end at start-up.
        let follower = Follower::new(&args.file, start)
            .map_err(|err| format!("cannot open {}: {err}", args.file.display()))?;

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let addr = SocketAddr::new(args.bind, args.port);
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|err| format!("cannot listen on {addr}: {err}"))?;
            let addr = listener.local_addr()?;
            let interval = Duration::from_millis(args.poll_interval_ms);
            std::thread::Builder::new()
                .name("follow".into())
                .spawn(move || follow_forever(follower, &format, &metrics, interval))?;
            // A closed terminal is no reason to stop serving: print errors are ignored.
            let _ = writeln!(
                std::io::stdout(),
                "access_log: serving http://{addr}/metrics, following {}",
                args.file.display()
            );
            // The metrics-only listener, which closes connections that are slow to
            // send their request head or left idle.
            promhttp::axum::serve_on(listener, &registry).await?;
            Ok(())
        })
    }

    /// Polls the file forever. An I/O error is reported once until a poll
    /// succeeds again; the file is retried at every interval. Something other
    /// than a regular file at the path is reported each time it appears.
    fn follow_forever(
        mut follower: Follower,
        format: &LineFormat,
        metrics: &Metrics,
        interval: Duration,
    ) {
        let mut last_error = None;
        let path = follower.path().to_owned();
        loop {
            let result = follower.poll(&mut |event| {
                if let Event::NotRegular(kind) = event {
                    let _ = writeln!(
                        std::io::stderr(),
                        "access_log: {} is {}, not a regular file: it is not read; \
                         waiting for a regular file there",
                        path.display(),
                        kind.noun()
                    );
                }
                metrics.record(format, event);
            });
            match result {
                Ok(()) => last_error = None,
                Err(err) => {
                    let message = err.to_string();
                    if last_error.as_ref() != Some(&message) {
                        let _ = writeln!(
                            std::io::stderr(),
                            "access_log: reading {}: {message} (retrying)",
                            follower.path().display()
                        );
                        last_error = Some(message);
                    }
                }
            }
            std::thread::sleep(interval);
        }
    }
}
