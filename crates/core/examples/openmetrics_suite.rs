//! Runs the OpenMetrics project's parser test suite against
//! [`promhttp_core::parse::parse_openmetrics`]: every case under
//! `tests/testdata/parsers/` of <https://github.com/OpenObservability/OpenMetrics>
//! says whether its `metrics` file should parse, and the parser must agree.
//!
//! ```text
//! git clone https://github.com/OpenObservability/OpenMetrics /tmp/OpenMetrics
//! cargo run -p promhttp-core --example openmetrics_suite -- /tmp/OpenMetrics/tests/testdata/parsers
//! ```
//!
//! Prints one line per disagreement and a count; exits 1 when any case
//! disagrees or the directory holds no case. The suite is not vendored (it is
//! the OpenMetrics project's), so this runs by hand, not in CI.

use std::fs;
use std::path::Path;
use std::process::ExitCode;

use promhttp_core::parse::parse_openmetrics;

/// `"shouldParse": true` or `false` in a case's `test.json`, read without a JSON
/// dependency: the files are small and flat.
fn should_parse(json: &str) -> Option<bool> {
    let rest = json.split("\"shouldParse\"").nth(1)?;
    let value = rest.trim_start().strip_prefix(':')?.trim_start();
    if value.starts_with("true") {
        Some(true)
    } else if value.starts_with("false") {
        Some(false)
    } else {
        None
    }
}

fn main() -> ExitCode {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: openmetrics_suite <OpenMetrics>/tests/testdata/parsers");
        return ExitCode::FAILURE;
    };
    let mut cases: Vec<_> = match fs::read_dir(Path::new(&dir)) {
        Ok(entries) => entries.filter_map(Result::ok).map(|e| e.path()).collect(),
        Err(err) => {
            eprintln!("cannot read {dir}: {err}");
            return ExitCode::FAILURE;
        }
    };
    cases.sort();
    let (mut agreed, mut disagreed, mut unreadable) = (0, 0, 0);
    for case in &cases {
        let name = case.file_name().unwrap_or_default().to_string_lossy();
        let json = fs::read_to_string(case.join("test.json"));
        let metrics = fs::read(case.join("metrics"));
        let (Ok(json), Ok(metrics)) = (json, metrics) else {
            eprintln!("{name}: no test.json or metrics");
            unreadable += 1;
            continue;
        };
        let Some(expected) = should_parse(&json) else {
            eprintln!("{name}: test.json has no shouldParse");
            unreadable += 1;
            continue;
        };
        // A file that is not UTF-8 is not OpenMetrics.
        let result = String::from_utf8(metrics)
            .map_err(|e| e.to_string())
            .and_then(|text| parse_openmetrics(&text).map_err(|e| e.to_string()));
        match (expected, result) {
            (true, Ok(_)) | (false, Err(_)) => agreed += 1,
            (true, Err(err)) => {
                println!("{name}: should parse, refused: {err}");
                disagreed += 1;
            }
            (false, Ok(families)) => {
                println!(
                    "{name}: should be refused, parsed {} families",
                    families.len()
                );
                disagreed += 1;
            }
        }
    }
    let total = agreed + disagreed + unreadable;
    println!("{agreed}/{total} cases agree ({disagreed} disagree, {unreadable} unreadable)");
    if total == 0 || agreed != total {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
