//! Service level objectives for the HTTP metric set, as Prometheus rules:
//! recording rules for the error ratio over the windows the alerts need, and
//! the multi-window, multi-burn-rate alerts of Google's SRE workbook (chapter
//! 5, "Alerting on SLOs": a page and a ticket, each on a long and a short
//! window).
//!
//! ```
//! # mod promhttp { pub use promhttp_core::*; }
//! use promhttp::slo::{Objective, rules_yaml};
//!
//! let objectives = [
//!     Objective::availability("api-availability", 0.999, 30)?.selector(r#"job="api""#),
//!     Objective::latency("api-latency", 0.5, 0.99, 30)?.selector(r#"job="api""#),
//! ];
//! let yaml = rules_yaml(&objectives)?;
//! assert!(yaml.contains("alert: SloErrorBudgetBurn"));
//! # Ok::<(), promhttp::slo::SloError>(())
//! ```
//!
//! The same objectives in a file, one per line, for the `slo_rules` example:
//!
//! ```text
//! # name             kind          target  window  [threshold]  [selector]
//! api-availability   availability  99.9%   30d                  job="api"
//! api-latency        latency       99%     30d     0.5          job="api",route="/users/{id}"
//! ```

use std::fmt;
use std::fmt::Write as _;

/// The windows the alerts read, shortest first, with their rule suffixes.
const WINDOWS: [(&str, u64); 7] = [
    ("5m", 5),
    ("30m", 30),
    ("1h", 60),
    ("2h", 120),
    ("6h", 360),
    ("1d", 1440),
    ("3d", 4320),
];

/// The workbook's alerts: severity, long window, short window, and the share
/// of the whole window's error budget spent over the long one that fires it.
const ALERTS: [(&str, &str, &str, f64); 4] = [
    ("page", "1h", "5m", 0.02),
    ("page", "6h", "30m", 0.05),
    ("ticket", "1d", "2h", 0.10),
    ("ticket", "3d", "6h", 0.10),
];

/// What an objective measures.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// The share of requests not answered with a 5xx.
    Availability,
    /// The share of requests faster than `threshold_seconds`, which must be a
    /// bucket bound of the latency histogram.
    Latency {
        /// The bound, in seconds.
        threshold_seconds: f64,
    },
}

/// One objective: a share of good requests over a window.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    name: String,
    kind: Kind,
    target: f64,
    window_days: u32,
    selector: String,
    prefix: String,
}

/// Why objectives cannot be turned into rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SloError(String);

impl fmt::Display for SloError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SloError {}

impl Objective {
    /// The share `target` (e.g. 0.999) of requests not answered with a 5xx,
    /// over `window_days`.
    ///
    /// # Errors
    /// A name that is not a label value promtool accepts as written here
    /// (letters, digits, `-`, `_`, `.`), a target not strictly between 0 and
    /// 1, or a window shorter than the 3 days the ticket alert reads.
    pub fn availability(name: &str, target: f64, window_days: u32) -> Result<Self, SloError> {
        Self::new(name, Kind::Availability, target, window_days)
    }

    /// The share `target` of requests faster than `threshold_seconds` (a
    /// bucket bound of the latency histogram) over `window_days`.
    ///
    /// # Errors
    /// As [`Objective::availability`], and a threshold that is not a
    /// positive number.
    pub fn latency(
        name: &str,
        threshold_seconds: f64,
        target: f64,
        window_days: u32,
    ) -> Result<Self, SloError> {
        if !(threshold_seconds.is_finite() && threshold_seconds > 0.0) {
            return Err(SloError(format!(
                "objective {name}: the latency threshold {threshold_seconds} is not a positive number of seconds"
            )));
        }
        Self::new(
            name,
            Kind::Latency { threshold_seconds },
            target,
            window_days,
        )
    }

    fn new(name: &str, kind: Kind, target: f64, window_days: u32) -> Result<Self, SloError> {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(SloError(format!(
                "objective {name:?}: a name is letters, digits, `-`, `_` and `.`"
            )));
        }
        if !(target > 0.0 && target < 1.0) {
            return Err(SloError(format!(
                "objective {name}: the target {target} is not strictly between 0 and 1 (99.9% is 0.999)"
            )));
        }
        if window_days < 3 {
            return Err(SloError(format!(
                "objective {name}: a window of {window_days} days is shorter than the 3 days the ticket alert reads"
            )));
        }
        Ok(Self {
            name: name.to_owned(),
            kind,
            target,
            window_days,
            selector: String::new(),
            prefix: String::new(),
        })
    }

    /// Label matchers that select the objective's requests, PromQL's inside
    /// the braces: `job="api"`, `job="api",route="/users/{id}"`.
    #[must_use]
    pub fn selector(mut self, matchers: impl Into<String>) -> Self {
        self.selector = matchers.into();
        self
    }

    /// The metric set's prefix ([`crate::HttpMetricsBuilder::prefix`]), as
    /// given there: `shop` reads `shop_http_server_requests_total`.
    #[must_use]
    pub fn prefix(mut self, prefix: &str) -> Self {
        let prefix = prefix.trim_end_matches('_');
        self.prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}_")
        };
        self
    }

    /// The objective's name, its `slo` label.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The error ratio over `window`, in PromQL.
    fn error_ratio(&self, window: &str) -> String {
        let p = &self.prefix;
        let sel = |extra: &str| match (self.selector.is_empty(), extra.is_empty()) {
            (true, true) => String::new(),
            (true, false) => format!("{{{extra}}}"),
            (false, true) => format!("{{{}}}", self.selector),
            (false, false) => format!("{{{},{extra}}}", self.selector),
        };
        match &self.kind {
            // `or vector(0)`: no 5xx series at all is a ratio of 0, not no
            // ratio (a dashboard would show no data for a perfect service).
            Kind::Availability => format!(
                "(sum(rate({p}http_server_requests_total{}[{window}])) or vector(0)) / sum(rate({p}http_server_requests_total{}[{window}]))",
                sel(r#"status=~"5..""#),
                sel("")
            ),
            Kind::Latency { threshold_seconds } => {
                let le = crate::family::format_bound(*threshold_seconds);
                format!(
                    "1 - sum(rate({p}http_server_request_duration_seconds_bucket{}[{window}])) / sum(rate({p}http_server_request_duration_seconds_count{}[{window}]))",
                    sel(&format!(r#"le="{le}""#)),
                    sel("")
                )
            }
        }
    }
}

/// The recording rules and alerts of `objectives`, as a Prometheus rule file
/// (YAML) that `promtool check rules` accepts: one group per objective.
///
/// Each objective records `slo:sli_error:ratio_rate<window>{slo="<name>"}`
/// for the windows 5m to 3d, and alerts `SloErrorBudgetBurn` with
/// `severity="page"` when the error ratio is above 14.4 and 6 times the
/// budget rate over 1h and 5m, or 6h and 30m (2% or 5% of a 30-day budget
/// spent in the long window), and `severity="ticket"` at 3 and 1 times over 1d
/// and 2h, or 3d and 6h; for another window the factors scale so that the
/// same shares of its budget fire them.
///
/// # Errors
/// Two objectives with one name.
pub fn rules_yaml(objectives: &[Objective]) -> Result<String, SloError> {
    check_names(objectives)?;
    let mut out = String::from(
        "# Generated by promhttp::slo: recording rules and multi-window, multi-burn-rate alerts\n# (Google SRE workbook, \"Alerting on SLOs\").\ngroups:\n",
    );
    for o in objectives {
        let budget = 1.0 - o.target;
        let _ = writeln!(out, "  - name: slo-{}", o.name);
        let _ = writeln!(out, "    rules:");
        for (suffix, _) in WINDOWS {
            let _ = writeln!(out, "      - record: slo:sli_error:ratio_rate{suffix}");
            let _ = writeln!(out, "        expr: {}", yaml_string(&o.error_ratio(suffix)));
            let _ = writeln!(out, "        labels:");
            let _ = writeln!(out, "          slo: {}", yaml_string(&o.name));
        }
        let window_minutes = f64::from(o.window_days) * 1440.0;
        for (severity, long, short, share) in ALERTS {
            let long_minutes = WINDOWS
                .iter()
                .find(|(s, _)| *s == long)
                .map_or(60, |(_, m)| *m);
            #[allow(clippy::cast_precision_loss)]
            let factor = share * window_minutes / long_minutes as f64;
            let threshold = factor * budget;
            let expr = format!(
                "slo:sli_error:ratio_rate{long}{{slo=\"{name}\"}} > {threshold} and slo:sli_error:ratio_rate{short}{{slo=\"{name}\"}} > {threshold}",
                name = o.name,
                threshold = fmt_number(threshold),
            );
            let _ = writeln!(out, "      - alert: SloErrorBudgetBurn");
            let _ = writeln!(out, "        expr: {}", yaml_string(&expr));
            let _ = writeln!(
                out,
                "        for: {}",
                if severity == "page" { "2m" } else { "15m" }
            );
            let _ = writeln!(out, "        labels:");
            let _ = writeln!(out, "          severity: {severity}");
            let _ = writeln!(out, "          slo: {}", yaml_string(&o.name));
            let _ = writeln!(out, "          long_window: {long}");
            let _ = writeln!(out, "        annotations:");
            let summary = format!(
                "{} is spending its error budget {}x as fast as it allows ({long} and {short} windows)",
                o.name,
                fmt_number(factor)
            );
            let _ = writeln!(out, "          summary: {}", yaml_string(&summary));
        }
    }
    Ok(out)
}

/// A Grafana dashboard (JSON) of `objectives`: for each, a row with the share
/// of good requests and the error budget left over its whole window, the burn
/// rate over the alerts' windows (1 is spending the budget exactly over the
/// window; the page fires at 14.4 and 6), and the budget left over time. It
/// reads the recording rules of [`rules_yaml`] for the burn rates, so load
/// those in the same Prometheus; the window figures read the counters
/// directly. The data source is the dashboard's `datasource` variable.
///
/// # Errors
/// Two objectives with one name.
pub fn dashboard_json(objectives: &[Objective]) -> Result<String, SloError> {
    check_names(objectives)?;
    let mut panels = Vec::new();
    for (row, o) in objectives.iter().enumerate() {
        let y = u32::try_from(row).unwrap_or(u32::MAX / 8).saturating_mul(8);
        let budget = fmt_number(1.0 - o.target);
        let window = format!("{}d", o.window_days);
        let ratio = o.error_ratio(&window);
        let left = format!("1 - ({ratio}) / {budget}");
        let name = &o.name;
        let burn = ["5m", "1h", "6h", "1d"]
            .iter()
            .map(|w| {
                (
                    format!("slo:sli_error:ratio_rate{w}{{slo=\"{name}\"}} / {budget}"),
                    (*w).to_owned(),
                )
            })
            .collect();
        panels.extend([
            Panel {
                kind: "stat",
                title: format!(
                    "{name}: good requests over {window} (objective {})",
                    percent(o.target)
                ),
                x: 0,
                y,
                w: 5,
                unit: "percentunit",
                extra: r#", "decimals": 3"#,
                targets: vec![(format!("1 - ({ratio})"), String::new())],
            },
            Panel {
                kind: "stat",
                title: format!("{name}: error budget left over {window}"),
                x: 5,
                y,
                w: 5,
                unit: "percentunit",
                extra: r#", "decimals": 1, "thresholds": {"mode": "absolute", "steps": [{"color": "red", "value": null}, {"color": "orange", "value": 0}, {"color": "green", "value": 0.25}]}"#,
                targets: vec![(left.clone(), String::new())],
            },
            Panel {
                kind: "timeseries",
                title: format!(
                    "{name}: burn rate (1 spends the budget over {window}; pages at 14.4 and 6)"
                ),
                x: 10,
                y,
                w: 7,
                unit: "none",
                extra: r#", "custom": {"thresholdsStyle": {"mode": "line"}}, "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": null}, {"color": "orange", "value": 6}, {"color": "red", "value": 14.4}]}"#,
                targets: burn,
            },
            Panel {
                kind: "timeseries",
                title: format!("{name}: error budget left over time"),
                x: 17,
                y,
                w: 7,
                unit: "percentunit",
                extra: "",
                targets: vec![(left, "budget left".to_owned())],
            },
        ]);
    }
    let panels: Vec<String> = panels
        .iter()
        .enumerate()
        .map(|(i, p)| p.json(i + 1))
        .collect();
    Ok(format!(
        r#"{{
  "uid": "promhttp-slo",
  "title": "Service level objectives (promhttp)",
  "description": "Generated by promhttp::slo::dashboard_json from the objectives; load the rules rules_yaml generates from the same objectives.",
  "schemaVersion": 39,
  "version": 1,
  "editable": true,
  "refresh": "1m",
  "time": {{"from": "now-7d", "to": "now"}},
  "tags": ["promhttp", "slo"],
  "templating": {{"list": [{{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"}}]}},
  "panels": [
{}
  ]
}}
"#,
        panels.join(",\n")
    ))
}

/// One panel of the SLO dashboard.
struct Panel {
    kind: &'static str,
    title: String,
    x: u32,
    y: u32,
    w: u32,
    unit: &'static str,
    /// More of `fieldConfig.defaults`, JSON starting with a comma.
    extra: &'static str,
    /// Each query and its legend.
    targets: Vec<(String, String)>,
}

impl Panel {
    /// The panel as dashboard JSON, with this `id`.
    fn json(&self, id: usize) -> String {
        let targets: Vec<String> = self
            .targets
            .iter()
            .enumerate()
            .map(|(i, (expr, legend))| {
                format!(
                    r#"{{"refId": "{}", "expr": {}, "legendFormat": {}}}"#,
                    char::from(b'A' + u8::try_from(i % 26).unwrap_or(0)),
                    json_string(expr),
                    json_string(legend)
                )
            })
            .collect();
        format!(
            r#"    {{
      "id": {id},
      "type": "{kind}",
      "title": {title},
      "datasource": {{"type": "prometheus", "uid": "${{datasource}}"}},
      "gridPos": {{"x": {x}, "y": {y}, "w": {w}, "h": 8}},
      "fieldConfig": {{"defaults": {{"unit": "{unit}"{extra}}}, "overrides": []}},
      "targets": [{targets}]
    }}"#,
            kind = self.kind,
            title = json_string(&self.title),
            x = self.x,
            y = self.y,
            w = self.w,
            unit = self.unit,
            extra = self.extra,
            targets = targets.join(", ")
        )
    }
}

/// Refuses two objectives with one name.
fn check_names(objectives: &[Objective]) -> Result<(), SloError> {
    for (i, o) in objectives.iter().enumerate() {
        if objectives[..i].iter().any(|p| p.name == o.name) {
            return Err(SloError(format!("objective {} is declared twice", o.name)));
        }
    }
    Ok(())
}

/// `0.999` as `99.9%`.
fn percent(share: f64) -> String {
    format!("{}%", fmt_number(share * 100.0))
}

/// `s` as a JSON string.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Reads objectives from the small file format: one per line, `name kind
/// target window [threshold] [selector]`, `#` comments; `kind` is
/// `availability` or `latency` (which takes the threshold in seconds), the
/// target `99.9%` or `0.999`, the window `30d`.
///
/// # Errors
/// The line number and what is wrong with it.
pub fn parse_objectives(text: &str) -> Result<Vec<Objective>, SloError> {
    let mut objectives = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = |reason: String| SloError(format!("line {}: {reason}", i + 1));
        let mut words = line.split_whitespace();
        let (Some(name), Some(kind), Some(target), Some(window)) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            return Err(at(
                "expected `name kind target window [threshold] [selector]`".to_owned(),
            ));
        };
        let target = match target.strip_suffix('%') {
            Some(percent) => percent.parse::<f64>().map(|p| p / 100.0),
            None => target.parse::<f64>(),
        }
        .map_err(|_| at(format!("{target:?} is not a target (99.9% or 0.999)")))?;
        let window_days: u32 = window
            .strip_suffix('d')
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| at(format!("{window:?} is not a window in days (30d)")))?;
        let rest: Vec<&str> = words.collect();
        let objective = match kind {
            "availability" => Objective::availability(name, target, window_days)
                .map_err(|e| at(e.0))?
                .selector(rest.join(" ")),
            "latency" => {
                let (threshold, selector) = rest.split_first().ok_or_else(|| {
                    at("a latency objective needs its threshold in seconds".to_owned())
                })?;
                let threshold: f64 = threshold
                    .parse()
                    .map_err(|_| at(format!("{threshold:?} is not a threshold in seconds")))?;
                Objective::latency(name, threshold, target, window_days)
                    .map_err(|e| at(e.0))?
                    .selector(selector.join(" "))
            }
            other => {
                return Err(at(format!(
                    "{other:?} is not a kind: availability or latency"
                )))
            }
        };
        objectives.push(objective);
    }
    Ok(objectives)
}

/// A number as PromQL and YAML both read it, without trailing noise.
fn fmt_number(v: f64) -> String {
    let mut s = format!("{v:.10}");
    while s.ends_with('0') {
        s.pop();
    }
    if s.ends_with('.') {
        s.pop();
    }
    s
}

/// `s` as a double-quoted YAML scalar: a JSON string, which YAML reads the
/// same.
fn yaml_string(s: &str) -> String {
    json_string(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_burn_rates_are_the_workbooks_for_a_30_day_window() {
        let yaml = rules_yaml(&[Objective::availability("a", 0.999, 30).unwrap()]).unwrap();
        // 14.4, 6, 3 and 1 times the 0.1% budget.
        for threshold in ["0.0144", "0.006", "0.003", "0.001"] {
            assert!(
                yaml.contains(&format!("> {threshold} and")),
                "{threshold}: {yaml}"
            );
        }
        assert!(yaml.contains(r#"(sum(rate(http_server_requests_total{status=~\"5..\"}[1h])) or vector(0)) / sum(rate(http_server_requests_total[1h]))"#), "{yaml}");
    }

    #[test]
    fn the_file_format_reads_both_kinds_and_names_its_errors() {
        let objectives = parse_objectives(
            "# comment\napi availability 99.9% 30d job=\"api\"\n\nslow latency 0.99 28d 0.25 job=\"api\",route=\"/x\" # trailing\n",
        )
        .unwrap();
        assert_eq!(objectives.len(), 2);
        assert_eq!(
            objectives[1].kind,
            Kind::Latency {
                threshold_seconds: 0.25
            }
        );
        assert_eq!(objectives[1].selector, r#"job="api",route="/x""#);
        assert!((objectives[0].target - 0.999).abs() < 1e-12);
        for (line, reason) in [
            ("a availability", "line 1: expected"),
            ("a availability 120% 30d", "not strictly between 0 and 1"),
            ("a availability 99% 1d", "shorter than the 3 days"),
            ("a availability 99% 30", "not a window in days"),
            ("a latency 99% 30d", "needs its threshold"),
            ("a speed 99% 30d", "is not a kind"),
            ("a/b availability 99% 30d", "a name is letters"),
        ] {
            let err = parse_objectives(line).unwrap_err().to_string();
            assert!(err.contains(reason), "{line}: {err}");
        }
        let twice = [
            Objective::availability("a", 0.9, 30).unwrap(),
            Objective::availability("a", 0.9, 30).unwrap(),
        ];
        assert!(rules_yaml(&twice).is_err());
    }
}
