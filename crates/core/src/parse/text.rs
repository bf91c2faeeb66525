//! Prometheus text format 0.0.4, read line by line.

use std::collections::{HashSet, VecDeque};

use super::lex::{self, BadNumber, Cursor, Dialect};
use super::{Cutter, Lines, ParseError, Piece, Rule, Seen};
use crate::family::{MetricFamily, MetricType, Sample};

/// The families of a text 0.0.4 exposition, each given as soon as its last line
/// is read and checked: memory holds one family at a time, plus the names of
/// those given so far. After an error, nothing more.
pub(super) struct Stream<'a> {
    lines: Lines<'a>,
    parser: Parser,
}

impl<'a> Stream<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Self {
            lines: Lines::new(text),
            parser: Parser::default(),
        }
    }

    /// Reads one line; `Ok(false)` at the end of the text.
    fn step(&mut self) -> Result<bool, ParseError> {
        let Some((number, line, last)) = self.lines.next_line()? else {
            self.parser.finish_family();
            return Ok(false);
        };
        let mut c = Cursor::new(line, number);
        c.skip_blanks();
        if c.at_end() {
            // A blank line, or the end of the text after its last line feed.
        } else if c.eat('#') {
            self.parser.comment(c)?;
        } else {
            self.parser.sample(c)?;
        }
        if last && !line.is_empty() {
            return Err(ParseError::new(
                number,
                lex::column(line, line.len()),
                Rule::MissingFinalNewline,
                String::new(),
            ));
        }
        Ok(true)
    }
}

impl super::Reader for Stream<'_> {
    fn step(&mut self) -> Result<bool, ParseError> {
        Stream::step(self)
    }

    fn ready(&mut self) -> &mut VecDeque<Piece> {
        &mut self.parser.ready
    }

    fn set_max_samples(&mut self, max: usize) {
        self.parser.max = Some(max);
    }
}

#[derive(Default)]
struct Parser {
    /// Pieces finished and not yet given out (at most one: a line finishes at
    /// most one piece).
    ready: VecDeque<Piece>,
    /// Cut families into pieces of this many samples.
    max: Option<usize>,
    /// The names of the families finished so far.
    finished: HashSet<String>,
    current: Option<Family>,
}

/// The family being read, under its name in the text.
struct Family {
    family: MetricFamily,
    help: bool,
    typed: bool,
    /// The series (name and labels) read so far.
    series: Seen,
    /// A hash of the last sample's metric (its labels but `le` or `quantile`),
    /// when cutting into pieces.
    metric: Option<u64>,
    cutter: Cutter,
}

impl Parser {
    /// A line starting with `#`, past it: HELP, TYPE or a comment.
    fn comment(&mut self, mut c: Cursor<'_>) -> Result<(), ParseError> {
        c.skip_blanks();
        let word = c.take_while(|ch| !lex::is_blank(ch));
        if word != "HELP" && word != "TYPE" {
            return Ok(());
        }
        if !c.skip_blanks() || c.at_end() {
            return Err(c.error(Rule::Metadata, format!("`# {word}` without a metric name")));
        }
        let name_at = c.pos();
        let name = c.metric_name()?;
        if let Some(ch) = c.peek().filter(|&ch| !lex::is_blank(ch)) {
            let rule = if ch == '\r' {
                Rule::CarriageReturn
            } else {
                Rule::MetricName
            };
            return Err(c.error(rule, format!("{ch:?} after the metric name")));
        }
        c.skip_blanks();
        let family = self.enter(name, &c, name_at)?;
        if word == "HELP" {
            if family.help {
                return Err(duplicate(&c, "HELP", name));
            }
            family.help = true;
            family.family.help = unescape_help(&c)?;
            return Ok(());
        }
        if family.typed {
            return Err(duplicate(&c, "TYPE", name));
        }
        if !family.family.samples.is_empty() {
            return Err(c.error_at(
                0,
                Rule::MetadataAfterSamples,
                format!("TYPE for `{name}` after its samples"),
            ));
        }
        let type_at = c.pos();
        let word = c.take_while(|ch| !lex::is_blank(ch));
        family.family.metric_type = match word {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "summary" => MetricType::Summary,
            "untyped" => MetricType::Unknown,
            _ => return Err(c.error_at(type_at, Rule::MetricType, format!("found {word:?}"))),
        };
        family.typed = true;
        c.skip_blanks();
        if !c.at_end() {
            return Err(c.error(Rule::Metadata, format!("{:?} after the type", c.rest())));
        }
        Ok(())
    }

    fn sample(&mut self, mut c: Cursor<'_>) -> Result<(), ParseError> {
        let name = c.metric_name()?;
        let blank = c.skip_blanks();
        let labels = if c.peek() == Some('{') {
            let labels = c.labels(Dialect::Text)?;
            c.skip_blanks();
            labels
        } else {
            if let Some(ch) = c.peek().filter(|_| !blank) {
                let rule = if ch == '\r' {
                    Rule::CarriageReturn
                } else {
                    Rule::MetricName
                };
                return Err(c.error(rule, format!("{ch:?} after the metric name")));
            }
            Vec::new()
        };
        let value_at = c.pos();
        let value = c.take_while(|ch| !lex::is_blank(ch));
        if value.is_empty() {
            return Err(c.error(Rule::Value, "the sample has no value"));
        }
        let value = lex::parse_number(value)
            .map_err(|e| lex::number_error(&c, value, value_at, e, Rule::Value))?;
        let mut timestamp = None;
        if c.skip_blanks() && !c.at_end() {
            let at = c.pos();
            let tok = c.take_while(|ch| !lex::is_blank(ch));
            let ms = parse_millis(tok).ok_or_else(|| {
                lex::number_error(&c, tok, at, BadNumber::Syntax, Rule::Timestamp)
            })?;
            #[allow(clippy::cast_precision_loss)]
            let seconds = ms as f64 / 1000.0;
            timestamp = Some(seconds);
            c.skip_blanks();
        }
        if !c.at_end() {
            return Err(c.unexpected(Rule::TrailingText, "the end of the line"));
        }
        let accepted = self
            .current
            .as_ref()
            .is_some_and(|f| accepts(&f.family, name));
        if !accepted {
            self.enter(name, &c, 0)?;
        }
        let Some(family) = self.current.as_mut() else {
            return Ok(());
        };
        let t = family.family.metric_type;
        let label = |n: &str| labels.iter().find(|l| l.name == n);
        let number = |n: &str| label(n).map(|l| (lex::parse_number(&l.value), l.at));
        if t == MetricType::Histogram
            && name.strip_prefix(family.family.name.as_str()) == Some("_bucket")
        {
            match number("le") {
                Some((Ok(_), _)) => {}
                Some((Err(_), at)) => {
                    return Err(c.error_at(at, Rule::BucketLabel, "`le` is not a number"))
                }
                None => {
                    return Err(c.error_at(0, Rule::BucketLabel, "the bucket has no `le` label"))
                }
            }
        }
        if t == MetricType::Summary && name == family.family.name {
            match number("quantile") {
                Some((Ok(_), _)) => {}
                Some((Err(_), at)) => {
                    return Err(c.error_at(at, Rule::QuantileLabel, "`quantile` is not a number"))
                }
                None => {
                    return Err(c.error_at(
                        0,
                        Rule::QuantileLabel,
                        "the quantile has no `quantile` label",
                    ))
                }
            }
        }
        let mut key: Vec<(&str, &str)> = labels.iter().map(|l| (&*l.name, &*l.value)).collect();
        key.sort_unstable();
        if !family.series.insert(name, &key) {
            return Err(c.error_at(
                0,
                Rule::DuplicateSeries,
                format!("`{name}` with these labels again"),
            ));
        }
        if family.cutter.max.is_some() {
            // A piece holds whole metrics: cut only where one starts.
            let point_label = match t {
                MetricType::Histogram => "le",
                MetricType::Summary => "quantile",
                _ => "",
            };
            let metric = family.series.hash_without(&key, point_label);
            if family.metric != Some(metric) && family.cutter.due(family.family.samples.len()) {
                let mut piece = family.cutter.cut(&mut family.family);
                name_counter(&mut piece.family);
                self.ready.push_back(piece);
            }
            family.metric = Some(metric);
        }
        family.family.samples.push(Sample {
            name: name.to_owned(),
            labels: lex::plain(labels),
            value,
            timestamp,
            exemplar: None,
        });
        Ok(())
    }

    /// Makes `name` the current family, starting a new one if it is not.
    fn enter(&mut self, name: &str, c: &Cursor<'_>, at: usize) -> Result<&mut Family, ParseError> {
        if self.current.as_ref().is_none_or(|f| f.family.name != name) {
            self.finish_family();
            if self.finished.contains(name) {
                return Err(c.error_at(
                    at,
                    Rule::FamilyRepeated,
                    format!("family `{name}` appeared before"),
                ));
            }
        }
        Ok(self.current.get_or_insert_with(|| Family {
            family: MetricFamily::new(name, MetricType::Unknown, ""),
            help: false,
            typed: false,
            series: Seen::default(),
            metric: None,
            cutter: Cutter {
                given: 0,
                max: self.max,
            },
        }))
    }

    fn finish_family(&mut self) {
        let Some(Family { family, cutter, .. }) = self.current.take() else {
            return;
        };
        self.finished.insert(family.name.clone());
        let mut piece = cutter.last(family);
        name_counter(&mut piece.family);
        self.ready.push_back(piece);
    }
}

/// Names a counter as the model does: the family without `_total`, its samples
/// with it; a counter written without the suffix is marked so that text and
/// protobuf write it as it came.
fn name_counter(family: &mut MetricFamily) {
    if family.metric_type == MetricType::Counter {
        match family.name.strip_suffix("_total") {
            Some(base) => family.name = base.to_owned(),
            None => {
                family.counter_without_total = true;
                for sample in &mut family.samples {
                    sample.name.push_str("_total");
                }
            }
        }
    }
}

/// Whether a sample `name` belongs to `family` (named as in the text).
fn accepts(family: &MetricFamily, name: &str) -> bool {
    let suffixes: &[&str] = match family.metric_type {
        MetricType::Histogram => &["", "_bucket", "_count", "_sum"],
        MetricType::Summary => &["", "_count", "_sum"],
        _ => &[""],
    };
    name.strip_prefix(family.name.as_str())
        .is_some_and(|s| suffixes.contains(&s))
}

fn duplicate(c: &Cursor<'_>, kind: &str, name: &str) -> ParseError {
    c.error_at(
        0,
        Rule::DuplicateMetadata,
        format!("a second {kind} line for `{name}`"),
    )
}

/// The rest of a HELP line, unescaped: `\\` and `\n` only.
fn unescape_help(c: &Cursor<'_>) -> Result<String, ParseError> {
    let at = c.pos();
    let text = c.rest();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices();
    while let Some((i, ch)) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        match chars.next() {
            Some((_, 'n')) => out.push('\n'),
            Some((_, '\\')) => out.push('\\'),
            other => {
                let found = other.map_or_else(
                    || "the end of the line".to_owned(),
                    |(_, ch)| format!("`\\{ch}`"),
                );
                return Err(c.error_at(
                    at + i,
                    Rule::Escape,
                    format!("found {found} in HELP text"),
                ));
            }
        }
    }
    Ok(out)
}

/// An integer timestamp in milliseconds, as Go's `strconv.ParseInt` reads it.
fn parse_millis(tok: &str) -> Option<i64> {
    let digits = tok.strip_prefix(['+', '-']).unwrap_or(tok);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    tok.parse().ok()
}
