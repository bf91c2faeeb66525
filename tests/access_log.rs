//! The `access_log` example exporter, run as a process against a log that is
//! written, rotated and truncated while it runs: its counters must equal exactly
//! what was written.
//!
//! Following a file by polling has two blind spots, the same as `tail -F`'s: lines
//! written to a file that is rotated away twice between two polls are missed (the
//! middle file is never opened), and a file that is truncated and then grows past
//! the old read offset between two polls looks merely appended to. The writer
//! therefore waits, before each rotation and before the truncation, until the
//! exporter has counted every line written so far, and after the truncation until
//! the exporter has noticed it. Everything else (lines written to the old file
//! after its rename, the moment with no file at the path, lines written in two
//! parts, malformed lines) happens at full speed.
#![cfg(unix)]

mod common;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Exposition, Running, TempDir};

/// How often the exporter under test polls its file.
const POLL: Duration = Duration::from_millis(20);

/// Times the path was found naming something other than a regular file.
const NOT_REGULAR: &str = "log_file_not_regular_total";

/// The exporter under test.
struct Exporter {
    _process: Running,
    addr: SocketAddr,
}

impl Exporter {
    /// Starts the example on a free port, following `log`, and waits for its
    /// start-up line.
    fn start(log: &Path, extra_args: &[&str]) -> Self {
        let poll_ms = POLL.as_millis().to_string();
        let (process, line) = common::start_and_read_line(
            Command::new(common::example_binary("access_log"))
                .arg("--file")
                .arg(log)
                .args(["--port", "0", "--poll-interval-ms", &poll_ms])
                .args(extra_args),
        );
        let addr = line
            .split_once("serving http://")
            .and_then(|(_, rest)| rest.split_once("/metrics"))
            .and_then(|(addr, _)| addr.parse().ok())
            .unwrap_or_else(|| panic!("unexpected start-up line {line:?}"));
        Self {
            _process: process,
            addr,
        }
    }

    /// One scrape in OpenMetrics, parsed (see `common::try_parse`). Every scrape,
    /// even one taken while lines are being counted, must add up: each line read
    /// is one request or malformed.
    fn scrape(&self) -> Exposition {
        let m = common::scrape_parsed(self.addr);
        assert_eq!(
            m.value("log_lines_read_total", &[]),
            m.sum("http_requests_total") + m.value("log_lines_malformed_total", &[]),
            "a scrape that does not add up"
        );
        m
    }

    /// Scrapes until `counter` (a sample without labels) reaches `at_least`
    /// (failing only after [`common::HANG`]); returns that scrape.
    fn wait_for(&self, counter: &str, at_least: u64) -> Exposition {
        self.wait_for_series(counter, &[], at_least)
    }

    /// Scrapes until the series `name{labels}` exists and reaches `at_least`
    /// (failing only after [`common::HANG`]); returns that scrape.
    fn wait_for_series(&self, name: &str, labels: &[(&str, &str)], at_least: u64) -> Exposition {
        let deadline = Instant::now() + common::HANG;
        loop {
            let m = self.scrape();
            let value = m.get(name, labels);
            if value.is_some_and(|v| v >= at_least as f64) {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "{name}{labels:?} is {value:?}, still short of {at_least}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until the exporter has reported the path as naming a `kind` (once)
    /// and checks that it has read no line since `lines`.
    fn wait_for_not_regular(&self, kind: &str, lines: u64) -> Exposition {
        let m = self.wait_for_series(NOT_REGULAR, &[("kind", kind)], 1);
        assert_eq!(m.value(NOT_REGULAR, &[("kind", kind)]), 1.0);
        assert_eq!(m.value("log_lines_read_total", &[]), lines as f64);
        m
    }

    /// Waits until the exporter has read `lines` lines and checks it read no more.
    fn wait_for_lines(&self, lines: u64) -> Exposition {
        let m = self.wait_for("log_lines_read_total", lines);
        assert_eq!(m.value("log_lines_read_total", &[]), lines as f64);
        m
    }
}

/// A small deterministic generator (xorshift), so that a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }
}

/// Methods as written, with the `method` label each must be counted under.
const METHODS: [(&str, &str); 10] = [
    ("GET", "GET"),
    ("POST", "POST"),
    ("PUT", "PUT"),
    ("DELETE", "DELETE"),
    ("HEAD", "HEAD"),
    ("PATCH", "PATCH"),
    ("OPTIONS", "OPTIONS"),
    ("PROPFIND", "_OTHER"),
    ("BREW", "_OTHER"),
    ("get", "_OTHER"),
];

const STATUSES: [&str; 10] = [
    "200", "201", "204", "301", "304", "400", "404", "418", "500", "503",
];

/// Lines that are no request, each ending in its newline.
const MALFORMED: [&[u8]; 6] = [
    b"this is not an access log line\n",
    b"\n",
    b"10.0.0.1 - - [01/Jan/2024:00:00:00 +0000] \"GET / HTTP/1.1\" 600 12\n",
    b"10.0.0.1 - - [01/Jan/2024:00:00:00 +0000] \"GET / HTTP/1.1\" 200 lots\n",
    b"10.0.0.1 - - [01/Jan/2024:00:00:00 \xff\xfe] \"GET / HTTP/1.1\" 200 12\n",
    // No size: what follows the fields (a referer alone, say) is read past,
    // but the fields themselves must all be there.
    b"10.0.0.1 - - [01/Jan/2024:00:00:00 +0000] \"GET / HTTP/1.1\" 200\n",
];

/// Writes an access log as a web server and logrotate would, keeping the books
/// of what it wrote.
struct Writer {
    path: PathBuf,
    file: File,
    rng: Rng,
    lines: u64,
    malformed: u64,
    /// Lines written in two parts.
    split: u64,
    /// `(method label, status)` -> `(requests, bytes)`.
    expected: BTreeMap<(String, String), (u64, u64)>,
}

impl Writer {
    fn new(path: PathBuf) -> Self {
        Self {
            file: open_append(&path),
            path,
            rng: Rng(0x9e37_79b9_7f4a_7c15),
            lines: 0,
            malformed: 0,
            split: 0,
            expected: BTreeMap::new(),
        }
    }

    /// Writes `n` lines: Common and Combined mixed, about one in 500 malformed,
    /// one in 250 written in two parts with a pause longer than a poll between.
    /// (The pauses only make it likely that the exporter meets half a line; what
    /// the tests assert, the exact counts, holds whether it did or not.)
    fn write_lines(&mut self, n: u64) {
        for _ in 0..n {
            let line = if self.rng.below(500) == 0 {
                self.malformed += 1;
                let which = self.rng.below(MALFORMED.len() as u64) as usize;
                MALFORMED[which].to_vec()
            } else {
                self.request_line().into_bytes()
            };
            if line.len() > 1 && self.rng.below(250) == 0 {
                let cut = 1 + self.rng.below(line.len() as u64 - 1) as usize;
                self.file.write_all(&line[..cut]).unwrap();
                std::thread::sleep(2 * POLL);
                self.split += 1;
                self.file.write_all(&line[cut..]).unwrap();
            } else {
                self.file.write_all(&line).unwrap();
            }
            self.lines += 1;
        }
    }

    fn request_line(&mut self) -> String {
        let (method, label) = METHODS[self.rng.below(METHODS.len() as u64) as usize];
        let status = self.rng.pick(&STATUSES);
        let bytes = self.rng.below(100_000);
        // About one in five responses has no body size: `-`, counted as 0.
        let (size, counted) = if self.rng.below(5) == 0 {
            ("-".to_owned(), 0)
        } else {
            (bytes.to_string(), bytes)
        };
        let entry = self
            .expected
            .entry((label.to_owned(), status.to_owned()))
            .or_default();
        entry.0 += 1;
        entry.1 += counted;
        let clf = format!(
            "192.0.2.{} - user [10/Oct/2024:13:55:36 -0700] \"{method} /items/{bytes}?q=\\\"x\\\" HTTP/1.1\" {status} {size}",
            self.rng.below(256)
        );
        if self.rng.below(2) == 0 {
            format!("{clf}\n")
        } else {
            format!("{clf} \"https://example.com/\" \"curl/8.5 (x86_64) \\\"quoted\\\"\"\n")
        }
    }

    /// Rotates by rename as logrotate does (`access.log.N` to `.N+1`, then
    /// `access.log` to `.1`, then a new empty `access.log`); the server goes on
    /// writing to the renamed file for a moment, first while `access.log` is
    /// missing, then while it is empty, before it reopens `access.log`.
    fn rotate(&mut self, rotated_so_far: u32, lines_in_old_file: u64) {
        let name = |n: u32| {
            let mut path = self.path.clone().into_os_string();
            path.push(format!(".{n}"));
            PathBuf::from(path)
        };
        for n in (1..=rotated_so_far).rev() {
            std::fs::rename(name(n), name(n + 1)).unwrap();
        }
        std::fs::rename(&self.path, name(1)).unwrap();
        // Each state lasts a few polls, so that the exporter likely sees it; the
        // counts asserted hold whichever states it saw.
        std::thread::sleep(3 * POLL);
        self.write_lines(lines_in_old_file / 2);
        let reopened = open_append(&self.path);
        std::thread::sleep(3 * POLL);
        self.write_lines(lines_in_old_file - lines_in_old_file / 2);
        self.file = reopened;
    }

    /// Truncates the file in place, as `copytruncate` does; the server's handle,
    /// opened for appending, goes on writing at the new end.
    fn truncate(&mut self) {
        OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&self.path)
            .unwrap();
    }
}

fn open_append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

/// Checks that every request series and the line counters equal the books.
fn assert_counts(m: &Exposition, writer: &Writer) {
    assert_eq!(m.value("log_lines_read_total", &[]), writer.lines as f64);
    assert_eq!(
        m.value("log_lines_malformed_total", &[]),
        writer.malformed as f64
    );
    for ((method, status), (requests, bytes)) in &writer.expected {
        let labels = [("method", method.as_str()), ("status", status.as_str())];
        assert_eq!(
            m.value("http_requests_total", &labels),
            *requests as f64,
            "requests {labels:?}"
        );
        assert_eq!(
            m.value("http_response_bytes_total", &labels),
            *bytes as f64,
            "bytes {labels:?}"
        );
    }
    for name in ["http_requests_total", "http_response_bytes_total"] {
        assert_eq!(
            m.samples(name).count(),
            writer.expected.len(),
            "{name} has series nobody wrote"
        );
    }
}

#[test]
fn counts_exactly_what_was_written_across_three_rotations_and_a_truncation() {
    let dir = TempDir::new("access-log-rotation");
    let log = dir.join("access.log");
    // The file does not exist yet: the exporter waits for it and reads it whole.
    let exporter = Exporter::start(&log, &[]);
    let mut writer = Writer::new(log.clone());

    writer.write_lines(2_000);
    for rotation in 0..2 {
        exporter.wait_for_lines(writer.lines);
        writer.rotate(rotation, 20);
        writer.write_lines(2_000);
    }
    exporter.wait_for_lines(writer.lines);
    writer.truncate();
    exporter.wait_for("log_file_truncations_total", 1);
    writer.write_lines(1_980);
    exporter.wait_for_lines(writer.lines);
    writer.rotate(2, 20);
    writer.write_lines(1_960);
    assert_eq!(writer.lines, 10_000);
    assert!(
        writer.malformed >= 10,
        "only {} malformed",
        writer.malformed
    );
    assert!(writer.split >= 10, "only {} split lines", writer.split);

    let m = exporter.wait_for_lines(writer.lines);
    assert_counts(&m, &writer);
    assert_eq!(m.value("log_file_rotations_total", &[]), 3.0);
    assert_eq!(m.value("log_file_truncations_total", &[]), 1.0);
    let expected_methods: Vec<&str> = METHODS.iter().map(|(_, label)| *label).collect();
    for s in m.samples("http_requests_total") {
        assert!(expected_methods.contains(&s.labels["method"].as_str()));
    }

    let text = common::http(exporter.addr, "GET", "/metrics", &[], b"")
        .unwrap()
        .text();
    if let Some((ok, report)) = common::promtool_check_metrics(&text) {
        assert!(ok, "promtool check metrics:\n{report}\n{text}");
    }
}

#[test]
fn starts_at_the_end_unless_asked_to_read_from_the_start() {
    let dir = TempDir::new("access-log-start");
    let log = dir.join("access.log");
    let mut writer = Writer::new(log.clone());
    writer.write_lines(300);
    let at_end = Exporter::start(&log, &[]);
    let from_start = Exporter::start(&log, &["--from-start"]);
    writer.write_lines(200);

    at_end.wait_for_lines(200);
    let m = from_start.wait_for_lines(500);
    assert_counts(&m, &writer);
}

#[test]
fn a_user_regex_reads_its_own_format() {
    let dir = TempDir::new("access-log-regex");
    let log = dir.join("access.log");
    std::fs::write(
        &log,
        "GET /a -> 200 (10 bytes)\n\
         BREW /pot -> 418 (- bytes)\n\
         GET /b -> 200 (5 bytes)\n\
         GET /c -> 700 (1 bytes)\n\
         127.0.0.1 - - [10/Oct/2024:13:55:36 -0700] \"GET / HTTP/1.1\" 200 2\n",
    )
    .unwrap();
    let regex = r"^(?P<method>\S+) \S+ -> (?P<status>\d+) \((?P<bytes>\d+|-) bytes\)$";
    let exporter = Exporter::start(&log, &["--from-start", "--regex", regex]);

    let m = exporter.wait_for_lines(5);
    let get = [("method", "GET"), ("status", "200")];
    let other = [("method", "_OTHER"), ("status", "418")];
    assert_eq!(m.value("http_requests_total", &get), 2.0);
    assert_eq!(m.value("http_response_bytes_total", &get), 15.0);
    assert_eq!(m.value("http_requests_total", &other), 1.0);
    assert_eq!(m.value("http_response_bytes_total", &other), 0.0);
    assert_eq!(m.value("log_lines_malformed_total", &[]), 2.0);
}

/// A combined log with a trailing request-time field, as nginx's
/// `$request_time` adds (`... 200 5 0.123`): read, not malformed, and the times
/// served as a histogram.
#[test]
fn trailing_request_times_are_read_into_a_histogram() {
    let dir = TempDir::new("access-log-times");
    let log = dir.join("access.log");
    std::fs::write(
        &log,
        "1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"curl/8\" 0.123\n\
         1.2.3.4 - - [01/Jan/2024:00:00:01 +0000] \"GET / HTTP/1.1\" 200 7 \"-\" \"curl/8\" 2.5\n\
         1.2.3.4 - - [01/Jan/2024:00:00:02 +0000] \"POST /x HTTP/1.1\" 201 0 0.004 extra=1\n\
         1.2.3.4 - - [01/Jan/2024:00:00:03 +0000] \"GET / HTTP/1.1\" 200 1\n",
    )
    .unwrap();
    let exporter = Exporter::start(&log, &["--from-start"]);
    let m = exporter.wait_for_lines(4);
    let get = [("method", "GET"), ("status", "200")];
    let post = [("method", "POST"), ("status", "201")];
    assert_eq!(m.value("log_lines_malformed_total", &[]), 0.0);
    assert_eq!(m.value("http_requests_total", &get), 3.0);
    assert_eq!(m.value("http_response_bytes_total", &get), 13.0);
    // Two of the three GETs had a time; the histogram counts those.
    assert_eq!(m.value("http_request_duration_seconds_count", &get), 2.0);
    assert_eq!(m.value("http_request_duration_seconds_sum", &get), 2.623);
    let le = |bound| [("method", "GET"), ("status", "200"), ("le", bound)];
    assert_eq!(
        m.value("http_request_duration_seconds_bucket", &le("0.25")),
        1.0
    );
    assert_eq!(
        m.value("http_request_duration_seconds_bucket", &le("2.5")),
        2.0
    );
    assert_eq!(m.value("http_request_duration_seconds_count", &post), 1.0);
    assert_eq!(
        m.family("http_request_duration_seconds").unwrap().unit,
        "seconds"
    );
}

#[test]
fn a_regex_without_the_named_groups_is_refused_with_their_names() {
    let stderr = common::assert_refused(
        "access_log",
        &[
            "--file",
            "access.log",
            "--port",
            "0",
            "--regex",
            r"^(?P<method>\S+) (\d+)",
        ],
        "missing: status, bytes",
    );
    assert!(
        stderr.contains("named groups method, status and bytes"),
        "{stderr}"
    );
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

#[test]
fn a_directory_moved_over_the_log_is_reported_and_reading_resumes_when_a_file_is_back() {
    let dir = TempDir::new("access-log-directory");
    let log = dir.join("access.log");
    let mut writer = Writer::new(log.clone());
    let exporter = Exporter::start(&log, &[]);
    writer.write_lines(100);
    exporter.wait_for_lines(100);
    // `mv access.log access.log.1; mkdir access.log`: the server goes on writing
    // to the renamed file, which is still read.
    std::fs::rename(&log, dir.join("access.log.1")).unwrap();
    std::fs::create_dir(&log).unwrap();
    exporter.wait_for_not_regular("directory", 100);
    writer.write_lines(100);
    exporter.wait_for_lines(200);
    // A regular file is back: reading moves on to it, one rotation.
    std::fs::remove_dir(&log).unwrap();
    writer.file = open_append(&log);
    writer.write_lines(100);
    let m = exporter.wait_for_lines(300);
    assert_counts(&m, &writer);
    assert_eq!(m.value("log_file_rotations_total", &[]), 1.0);
    assert_eq!(m.value(NOT_REGULAR, &[("kind", "directory")]), 1.0);
}

#[test]
fn a_fifo_at_start_up_neither_blocks_it_nor_is_read() {
    let dir = TempDir::new("access-log-fifo-start");
    let log = dir.join("access.log");
    mkfifo(&log);
    // The start-up line comes (the port is open) although nobody writes to the FIFO.
    let exporter = Exporter::start(&log, &[]);
    exporter.wait_for_not_regular("fifo", 0);
    std::fs::remove_file(&log).unwrap();
    let mut writer = Writer::new(log.clone());
    writer.write_lines(50);
    let m = exporter.wait_for_lines(50);
    assert_counts(&m, &writer);
}

#[test]
fn a_fifo_appearing_at_the_path_is_reported_and_reading_resumes_with_a_file() {
    let dir = TempDir::new("access-log-fifo-later");
    let log = dir.join("access.log");
    let exporter = Exporter::start(&log, &[]);
    mkfifo(&log);
    exporter.wait_for_not_regular("fifo", 0);
    std::fs::remove_file(&log).unwrap();
    let mut writer = Writer::new(log.clone());
    writer.write_lines(50);
    let m = exporter.wait_for_lines(50);
    assert_counts(&m, &writer);
}

#[test]
fn a_symlink_to_dev_urandom_is_reported_and_never_read() {
    let dir = TempDir::new("access-log-urandom");
    let log = dir.join("access.log");
    std::os::unix::fs::symlink("/dev/urandom", &log).unwrap();
    let exporter = Exporter::start(&log, &["--from-start"]);
    exporter.wait_for_not_regular("char_device", 0);
    // Not one line was read from the device: a file put in its place is read
    // from its start and the lines read are exactly its lines.
    std::fs::remove_file(&log).unwrap();
    let mut writer = Writer::new(log.clone());
    writer.write_lines(50);
    let m = exporter.wait_for_lines(50);
    assert_counts(&m, &writer);
}
