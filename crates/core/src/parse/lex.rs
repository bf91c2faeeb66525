//! What both formats share: a cursor over one line, metric and label names, label
//! sets, quoted strings and numbers.
//!
//! Every position is a byte offset into the line that the cursor only ever moves
//! by whole characters, and every slice is taken with `get`, so no input can make
//! any of this panic.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashSet;

use super::{ParseError, Rule};
use crate::family::Labels;

/// The format being read, where the two differ in their tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    /// OpenMetrics 1.0: exactly one space between tokens, none inside label sets,
    /// `\` before any character other than `n`, `"` and `\` stands for itself.
    OpenMetrics,
    /// Prometheus text 0.0.4: runs of spaces and tabs between tokens and inside
    /// label sets, a trailing comma in a label set, only `\\`, `\"` and `\n` escapes.
    Text,
}

/// The 1-based column (in characters) of byte offset `byte` of `line`.
pub(super) fn column(line: &str, byte: usize) -> usize {
    line.char_indices().take_while(|&(i, _)| i < byte).count() + 1
}

/// A position in one line of the input.
#[derive(Debug, Clone)]
pub(super) struct Cursor<'a> {
    text: &'a str,
    number: usize,
    pos: usize,
}

/// One label as written: its name, its unescaped value and where its name starts;
/// borrowed where it can be (from the text, or from an owned family's sample).
#[derive(Debug, Clone)]
pub(super) struct Label<'a> {
    pub(super) name: Cow<'a, str>,
    pub(super) value: Cow<'a, str>,
    pub(super) at: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `text`, which is line `number` (1-based).
    pub(super) fn new(text: &'a str, number: usize) -> Self {
        Self {
            text,
            number,
            pos: 0,
        }
    }

    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    pub(super) fn line_number(&self) -> usize {
        self.number
    }

    /// The rest of the line.
    pub(super) fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or("")
    }

    /// The text between byte `from` and the cursor.
    pub(super) fn since(&self, from: usize) -> &'a str {
        self.text.get(from..self.pos).unwrap_or("")
    }

    pub(super) fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    pub(super) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    pub(super) fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// Moves past `s` if the rest of the line starts with it.
    pub(super) fn eat_str(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    /// Moves past the characters that satisfy `keep` and returns them.
    pub(super) fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.bump();
        }
        self.since(start)
    }

    /// Skips spaces and tabs; returns whether there were any.
    pub(super) fn skip_blanks(&mut self) -> bool {
        !self.take_while(is_blank).is_empty()
    }

    /// The 1-based column of byte `at` of this line.
    pub(super) fn column_at(&self, at: usize) -> usize {
        column(self.text, at)
    }

    /// An error at byte `at` of this line.
    pub(super) fn error_at(&self, at: usize, rule: Rule, detail: impl Into<String>) -> ParseError {
        ParseError::new(self.number, self.column_at(at), rule, detail.into())
    }

    /// An error at the cursor.
    pub(super) fn error(&self, rule: Rule, detail: impl Into<String>) -> ParseError {
        self.error_at(self.pos, rule, detail)
    }

    /// An error for the character at the cursor, which is not what `expected` says;
    /// a carriage return gets its own rule.
    pub(super) fn unexpected(&self, rule: Rule, expected: &str) -> ParseError {
        match self.peek() {
            Some('\r') => self.error(
                Rule::CarriageReturn,
                format!("found a carriage return where {expected} was expected"),
            ),
            Some(c) => self.error(rule, format!("expected {expected}, found {c:?}")),
            None => self.error(
                rule,
                format!("expected {expected}, found the end of the line"),
            ),
        }
    }

    /// A metric name, `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    pub(super) fn metric_name(&mut self) -> Result<&'a str, ParseError> {
        if !self.peek().is_some_and(|c| is_name_start(c, true)) {
            return Err(
                self.unexpected(Rule::MetricName, "a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)")
            );
        }
        Ok(self.take_while(|c| is_name_char(c, true)))
    }

    /// A label name, `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`.
    fn label_name(&mut self) -> Result<(&'a str, usize), ParseError> {
        let at = self.pos;
        if !self.peek().is_some_and(|c| is_name_start(c, false)) {
            return Err(self.unexpected(Rule::LabelName, "a label name ([a-zA-Z_][a-zA-Z0-9_]*)"));
        }
        let name = self.take_while(|c| is_name_char(c, false));
        if name.starts_with("__") {
            return Err(self.error_at(
                at,
                Rule::ReservedLabelName,
                format!("label name `{name}` starts with `__`"),
            ));
        }
        Ok((name, at))
    }

    /// A double-quoted string at the cursor, unescaped.
    pub(super) fn quoted(&mut self, dialect: Dialect) -> Result<Cow<'a, str>, ParseError> {
        let start = self.pos;
        if !self.eat('"') {
            return Err(self.unexpected(Rule::LabelSet, "a double-quoted label value"));
        }
        // Borrowed from the text until the first escape.
        let mut out = String::new();
        let mut escaped = false;
        loop {
            let at = self.pos;
            let c = self.bump();
            if !escaped && c != Some('\\') {
                match c {
                    Some('"') => {
                        let text: &'a str = self.text;
                        return Ok(Cow::Borrowed(text.get(start + 1..at).unwrap_or("")));
                    }
                    Some(_) => continue,
                    None => {}
                }
            } else if !escaped {
                escaped = true;
                out.push_str(self.text.get(start + 1..at).unwrap_or(""));
            }
            match c {
                None => {
                    return Err(self.error_at(
                        start,
                        Rule::UnterminatedString,
                        "no closing double quote before the end of the line",
                    ))
                }
                Some('"') => return Ok(Cow::Owned(out)),
                Some('\\') => match self.bump() {
                    Some('n') => out.push('\n'),
                    Some('"') => out.push('"'),
                    Some('\\') => out.push('\\'),
                    None => {
                        return Err(self.error_at(
                            start,
                            Rule::UnterminatedString,
                            "no closing double quote before the end of the line",
                        ))
                    }
                    Some(c) => {
                        if dialect == Dialect::Text {
                            return Err(self.error_at(
                                at,
                                Rule::Escape,
                                format!("`\\{c}` in a label value (text 0.0.4 knows `\\\\`, `\\\"` and `\\n`)"),
                            ));
                        }
                        out.push('\\');
                        out.push(c);
                    }
                },
                Some(c) => out.push(c),
            }
        }
    }

    /// A label set at the cursor, which is on its `{`.
    pub(super) fn labels(&mut self, dialect: Dialect) -> Result<Vec<Label<'a>>, ParseError> {
        let text = dialect == Dialect::Text;
        let open = self.pos;
        if !self.eat('{') {
            return Err(self.unexpected(Rule::LabelSet, "`{`"));
        }
        let mut labels: Vec<Label<'a>> = Vec::new();
        let mut names: HashSet<&str> = HashSet::new();
        if text {
            self.skip_blanks();
        }
        if self.eat('}') {
            return Ok(labels);
        }
        loop {
            if self.at_end() {
                return Err(self.error_at(open, Rule::LabelSet, "the label set is not closed"));
            }
            if self.peek() == Some(',') {
                return Err(self.error(Rule::LabelSet, "a comma must follow a label"));
            }
            let (name, at) = self.label_name()?;
            if text {
                self.skip_blanks();
            }
            if !self.eat('=') {
                return Err(match self.peek() {
                    Some(c) if !matches!(c, '"' | ',' | '}' | ' ' | '\t' | '\r') => self.error(
                        Rule::LabelName,
                        format!("{c:?} cannot appear in a label name"),
                    ),
                    _ => self.unexpected(Rule::LabelSet, "`=` after the label name"),
                });
            }
            if text {
                self.skip_blanks();
            }
            let value = self.quoted(dialect)?;
            if !names.insert(name) {
                return Err(self.error_at(
                    at,
                    Rule::DuplicateLabel,
                    format!("label `{name}` appears twice in one label set"),
                ));
            }
            labels.push(Label {
                name: Cow::Borrowed(name),
                value,
                at,
            });
            if text {
                self.skip_blanks();
            }
            if self.eat('}') {
                return Ok(labels);
            }
            if !self.eat(',') {
                return Err(self.unexpected(Rule::LabelSet, "`,` or `}` after a label value"));
            }
            if text {
                self.skip_blanks();
                if self.eat('}') {
                    return Ok(labels);
                }
            } else if self.peek() == Some('}') {
                return Err(self.error(
                    Rule::LabelSet,
                    "a comma must be followed by another label (no trailing comma)",
                ));
            }
        }
    }
}

/// Spaces and tabs, the separators of text 0.0.4.
pub(super) fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_name_start(c: char, colon: bool) -> bool {
    c.is_ascii_alphabetic() || c == '_' || (colon && c == ':')
}

fn is_name_char(c: char, colon: bool) -> bool {
    is_name_start(c, colon) || c.is_ascii_digit()
}

/// Plain labels from the parsed ones.
pub(super) fn plain(labels: Vec<Label<'_>>) -> Labels {
    labels
        .into_iter()
        .map(|l| (l.name.into_owned(), l.value.into_owned()))
        .collect()
}

/// Why a number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BadNumber {
    /// Not a number in the grammar's forms.
    Syntax,
    /// Beyond the range of a 64-bit float.
    Range,
}

/// A sample value: a real number, `[+-]Inf`/`[+-]Infinity` or `NaN`, the words in
/// any case. (Go's `strconv.ParseFloat`, which reads text 0.0.4, takes the same
/// forms once hexadecimal and `_` are excluded, as the Prometheus parser does.)
pub(super) fn parse_number(s: &str) -> Result<f64, BadNumber> {
    let (negative, unsigned) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity") {
        return Ok(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if s.eq_ignore_ascii_case("nan") {
        return Ok(f64::NAN);
    }
    parse_real(s)
}

/// A `realnumber` of the OpenMetrics ABNF: `[sign] digits [. digits] [e [sign]
/// digits]` with at least one digit before the exponent, within float64 range.
pub(super) fn parse_real(s: &str) -> Result<f64, BadNumber> {
    RealParts::of(s).ok_or(BadNumber::Syntax)?;
    let value: f64 = s.parse().map_err(|_| BadNumber::Syntax)?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(BadNumber::Range)
    }
}

/// The pieces of a real number as written.
struct RealParts<'a> {
    negative: bool,
    int: &'a str,
    frac: &'a str,
    exp: i64,
}

impl<'a> RealParts<'a> {
    fn of(s: &'a str) -> Option<Self> {
        let digits = |t: &'a str| {
            let n = t.bytes().take_while(u8::is_ascii_digit).count();
            (t.get(..n).unwrap_or(""), t.get(n..).unwrap_or(""))
        };
        let (negative, rest) = match s.as_bytes().first() {
            Some(b'-') => (true, s.get(1..)?),
            Some(b'+') => (false, s.get(1..)?),
            _ => (false, s),
        };
        let (int, rest) = digits(rest);
        let (frac, rest) = match rest.strip_prefix('.') {
            Some(after) => digits(after),
            None => ("", rest),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let exp = match rest.as_bytes().first() {
            None => 0,
            Some(b'e' | b'E') => {
                let rest = rest.get(1..)?;
                let (negative, rest) = match rest.as_bytes().first() {
                    Some(b'-') => (true, rest.get(1..)?),
                    Some(b'+') => (false, rest.get(1..)?),
                    _ => (false, rest),
                };
                let (e, rest) = digits(rest);
                if e.is_empty() || !rest.is_empty() {
                    return None;
                }
                let magnitude = e.bytes().fold(0i64, |acc, b| {
                    acc.saturating_mul(10).saturating_add(i64::from(b - b'0'))
                });
                if negative {
                    -magnitude
                } else {
                    magnitude
                }
            }
            Some(_) => return None,
        };
        Some(Self {
            negative,
            int,
            frac,
            exp,
        })
    }
}

/// The error for a number token `tok` at byte `at` that `e` refused, under `rule`
/// (out of range is [`Rule::NumberRange`] but for timestamps); a carriage return in
/// it gets its own rule.
pub(super) fn number_error(
    c: &Cursor<'_>,
    tok: &str,
    at: usize,
    e: BadNumber,
    rule: Rule,
) -> ParseError {
    if let Some(i) = tok.find('\r') {
        return c.error_at(
            at + i,
            Rule::CarriageReturn,
            "a carriage return after a number",
        );
    }
    match e {
        BadNumber::Range if rule != Rule::Timestamp => {
            c.error_at(at, Rule::NumberRange, format!("found {tok:?}"))
        }
        BadNumber::Range => c.error_at(
            at,
            rule,
            format!("{tok:?} is beyond the range of a 64-bit float"),
        ),
        BadNumber::Syntax => c.error_at(at, rule, format!("found {tok:?}")),
    }
}

/// A timestamp as written, compared exactly (not rounded to a float), so that
/// "timestamps must increase" holds for the text as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Exact {
    /// -1, 0 or 1.
    sign: i8,
    /// The value is `0.<digits> × 10^point`; `digits` has no leading or trailing zeros.
    point: i64,
    digits: String,
}

impl Exact {
    /// The exact value of a `realnumber`; `None` when `s` is not one.
    pub(super) fn of(s: &str) -> Option<Self> {
        let p = RealParts::of(s)?;
        let all: String = p.int.chars().chain(p.frac.chars()).collect();
        let leading = all.bytes().take_while(|&b| b == b'0').count();
        let digits = all
            .get(leading..)
            .unwrap_or("")
            .trim_end_matches('0')
            .to_owned();
        if digits.is_empty() {
            return Some(Self {
                sign: 0,
                point: 0,
                digits,
            });
        }
        let int_len = i64::try_from(p.int.len()).unwrap_or(i64::MAX);
        let leading = i64::try_from(leading).unwrap_or(i64::MAX);
        Some(Self {
            sign: if p.negative { -1 } else { 1 },
            point: int_len.saturating_add(p.exp).saturating_sub(leading),
            digits,
        })
    }
}

impl Ord for Exact {
    fn cmp(&self, other: &Self) -> Ordering {
        let magnitude = || {
            self.point
                .cmp(&other.point)
                .then_with(|| self.digits.cmp(&other.digits))
        };
        match self.sign.cmp(&other.sign) {
            Ordering::Equal => match self.sign {
                0 => Ordering::Equal,
                1 => magnitude(),
                _ => magnitude().reverse(),
            },
            unequal => unequal,
        }
    }
}

impl PartialOrd for Exact {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_the_abnf_forms() {
        for (s, v) in [
            ("1", 1.0),
            ("-1", -1.0),
            ("+1", 1.0),
            ("0042", 42.0),
            ("1.", 1.0),
            (".5", 0.5),
            ("+.5", 0.5),
            ("1.e2", 100.0),
            ("1.5E-3", 0.0015),
            ("1e5", 1e5),
            ("9223372036854775808", 9_223_372_036_854_775_808.0),
            ("1e-400", 0.0),
        ] {
            assert_eq!(parse_number(s), Ok(v), "{s}");
        }
        for s in ["Inf", "+inf", "INFINITY", "+Infinity"] {
            assert_eq!(parse_number(s), Ok(f64::INFINITY), "{s}");
        }
        assert_eq!(parse_number("-iNf"), Ok(f64::NEG_INFINITY));
        assert!(parse_number("NaN").unwrap().is_nan());
        assert!(parse_number("nan").unwrap().is_nan());
        for s in [
            "", ".", "+", "-", "e5", ".e5", "1e", "1e+", "1.5.2", "0x1", "0x1p-3", "1_0", "+nan",
            "-NaN", "infinit", "1 ", " 1", "١", "1f", "--1", "+-1", "1e5.5",
        ] {
            assert_eq!(parse_number(s), Err(BadNumber::Syntax), "{s:?}");
        }
        assert_eq!(parse_number("1e400"), Err(BadNumber::Range));
        assert_eq!(
            parse_number("-1e99999999999999999999999"),
            Err(BadNumber::Range)
        );
        assert_eq!(parse_real("Inf"), Err(BadNumber::Syntax));
        assert_eq!(parse_real("NaN"), Err(BadNumber::Syntax));
    }

    #[test]
    fn exact_comparison() {
        let ordered = [
            "-1e3",
            "-10.5",
            "-10",
            "-0.5",
            "-0.0000000001",
            "0",
            "-0",
            "0.0",
            "0e9",
            "0.0000000001",
            "0.000000001",
            "1",
            "1.0",
            "1e0",
            "1.5",
            "1604676851.123456788",
            "1604676851.123456789",
            "1604676851.1234567891",
            "1e10",
            "12345678901234567890.1",
        ];
        let keys: Vec<Exact> = ordered.iter().map(|s| Exact::of(s).unwrap()).collect();
        for (i, a) in keys.iter().enumerate() {
            for (j, b) in keys.iter().enumerate() {
                let (x, y) = (ordered[i], ordered[j]);
                let want = x
                    .parse::<f64>()
                    .unwrap()
                    .partial_cmp(&y.parse::<f64>().unwrap());
                // Floats agree except where they cannot tell the values apart.
                if want != Some(Ordering::Equal) {
                    assert_eq!(Some(a.cmp(b)), want, "{x} vs {y}");
                }
            }
        }
        let key = |s| Exact::of(s).unwrap();
        assert_eq!(key("0"), key("-0.000"));
        assert_eq!(key("1.50"), key("15e-1"));
        assert!(key("1604676851.123456788") < key("1604676851.123456789"));
        assert!(key("0.0000000000") < key("0.0000000001"));
        assert!(Exact::of("1.2.3").is_none());
    }

    #[test]
    fn labels_in_both_dialects() {
        let mut c = Cursor::new(r#"{a="x\"y\\z\n\q",b=""}"#, 1);
        let labels = plain(c.labels(Dialect::OpenMetrics).unwrap());
        assert_eq!(
            labels,
            vec![
                ("a".to_owned(), "x\"y\\z\n\\q".to_owned()),
                ("b".to_owned(), String::new())
            ]
        );
        assert!(c.at_end());
        let mut c = Cursor::new("{ a = \"1\" , b=\"2\", }", 1);
        assert_eq!(c.labels(Dialect::Text).unwrap().len(), 2);
        let mut c = Cursor::new(r#"{a="\q"}"#, 1);
        assert_eq!(c.labels(Dialect::Text).unwrap_err().rule(), Rule::Escape);
    }
}
