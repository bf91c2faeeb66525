//! Labels from the request: declared with their values, chosen per request by
//! the adapters, bounded by construction.

/// The value of a request label that a request's value is not one of the
/// declared ones (or that nothing could be read for).
pub const OTHER_LABEL_VALUE: &str = "other";

/// The most label combinations a set may declare: a series keeps its
/// combination in 6 bits beside its status.
pub(crate) const MAX_COMBINATIONS: usize = 64;

/// A label whose value the adapters read from each request, declared on the
/// builder with [`HttpMetricsBuilder::label`](crate::HttpMetricsBuilder::label)
/// or one of the built-ins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLabel {
    pub(crate) name: String,
    pub(crate) values: Vec<String>,
    pub(crate) builtin: Option<BuiltinLabel>,
}

impl RequestLabel {
    /// The label's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The declared values; any other value is [`OTHER_LABEL_VALUE`].
    #[must_use]
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Which built-in label this is, if it is one: the adapters read its value
    /// themselves.
    #[must_use]
    pub fn builtin(&self) -> Option<BuiltinLabel> {
        self.builtin
    }

    /// The index of `value` among the declared values; `values().len()` (the
    /// index of [`OTHER_LABEL_VALUE`]) for anything else.
    fn index(&self, value: Option<&str>) -> usize {
        value
            .and_then(|v| self.values.iter().position(|d| d == v))
            .unwrap_or(self.values.len())
    }

    /// The number of values, `other` included.
    fn radix(&self) -> usize {
        self.values.len() + 1
    }
}

/// The labels that the adapters read from each request themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuiltinLabel {
    /// `url_scheme`: `http` or `https`. From the request's URI where it has a
    /// scheme (HTTP/2), or the adapter's knowledge of TLS (actix-web); the
    /// `X-Forwarded-Proto` header only when `trust_forwarded_proto` says the
    /// service runs behind a proxy that sets it (a client could set it too).
    UrlScheme {
        /// Whether `X-Forwarded-Proto` is believed.
        trust_forwarded_proto: bool,
    },
    /// `protocol_version`: `1.0`, `1.1`, `2` or `3`.
    ProtocolVersion,
}

impl BuiltinLabel {
    pub(crate) fn declare(self) -> RequestLabel {
        let (name, values): (&str, &[&str]) = match self {
            Self::UrlScheme { .. } => ("url_scheme", &["http", "https"]),
            Self::ProtocolVersion => ("protocol_version", &["1.0", "1.1", "2", "3"]),
        };
        RequestLabel {
            name: name.to_owned(),
            values: values.iter().map(|&v| v.to_owned()).collect(),
            builtin: Some(self),
        }
    }

    /// The `url_scheme` an `X-Forwarded-Proto` header's value names: its
    /// first comma-separated value, `http` or `https` in any case; `None` for
    /// anything else.
    #[must_use]
    pub fn forwarded_scheme(value: &[u8]) -> Option<&'static str> {
        let first = value.split(|&b| b == b',').next()?.trim_ascii();
        if first.eq_ignore_ascii_case(b"https") {
            Some("https")
        } else if first.eq_ignore_ascii_case(b"http") {
            Some("http")
        } else {
            None
        }
    }
}

/// How an adapter reads one request label of a set, from
/// [`HttpMetrics::label_readers`](crate::HttpMetrics::label_readers).
#[derive(Debug, Clone)]
pub enum LabelReader<F> {
    /// With the function given for the label.
    Given(F),
    /// As the adapter reads this built-in label.
    Builtin(BuiltinLabel),
    /// Not at all: no function was given, so every request is `other`.
    Nothing,
}

/// For each label of `labels`, how it is read: the function `given` for its
/// name, else the built-in reading, else nothing.
pub(crate) fn readers<F: Clone>(
    labels: &[RequestLabel],
    given: &[(String, F)],
) -> Box<[LabelReader<F>]> {
    labels
        .iter()
        .map(|label| {
            if let Some((_, read)) = given.iter().find(|(name, _)| *name == label.name) {
                LabelReader::Given(read.clone())
            } else if let Some(builtin) = label.builtin {
                LabelReader::Builtin(builtin)
            } else {
                LabelReader::Nothing
            }
        })
        .collect()
}

/// One request's values of the set's request labels, from
/// [`HttpMetrics::label_values`](crate::HttpMetrics::label_values), for
/// [`RequestGuard::set_labels`](crate::RequestGuard::set_labels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LabelValues(pub(crate) u16);

/// The combination index of one value per label, in declaration order.
pub(crate) fn combination<'r>(
    labels: &[RequestLabel],
    mut value: impl FnMut(usize, &RequestLabel) -> Option<&'r str>,
) -> LabelValues {
    let mut index = 0;
    let mut scale = 1;
    for (i, label) in labels.iter().enumerate() {
        index += label.index(value(i, label)) * scale;
        scale *= label.radix();
    }
    // Fewer than `MAX_COMBINATIONS`, checked when the set was built.
    LabelValues(u16::try_from(index).unwrap_or(0))
}

/// The number of combinations of `labels`' values.
pub(crate) fn combinations(labels: &[RequestLabel]) -> usize {
    labels
        .iter()
        .map(RequestLabel::radix)
        .fold(1, usize::saturating_mul)
}

/// Calls `f` with each label's name and value in combination `index`.
pub(crate) fn visit(labels: &[RequestLabel], mut index: usize, f: &mut dyn FnMut(&str, &str)) {
    for label in labels {
        let at = index % label.radix();
        index /= label.radix();
        f(
            &label.name,
            label
                .values
                .get(at)
                .map_or(OTHER_LABEL_VALUE, String::as_str),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared() -> Vec<RequestLabel> {
        vec![
            RequestLabel {
                name: "tenant".into(),
                values: vec!["a".into(), "b".into()],
                builtin: None,
            },
            BuiltinLabel::ProtocolVersion.declare(),
        ]
    }

    #[test]
    fn a_forwarded_scheme_is_its_first_value_in_any_case() {
        for (value, want) in [
            (&b"https"[..], Some("https")),
            (b"HTTP", Some("http")),
            (b" Https , http", Some("https")),
            (b"http,https", Some("http")),
            (b"gopher", None),
            (b"", None),
            (b"httpsx", None),
        ] {
            assert_eq!(BuiltinLabel::forwarded_scheme(value), want, "{value:?}");
        }
    }

    #[test]
    fn each_label_is_read_by_its_function_else_its_builtin() {
        let mut labels = declared();
        labels.push(
            BuiltinLabel::UrlScheme {
                trust_forwarded_proto: true,
            }
            .declare(),
        );
        let given = [("url_scheme".to_owned(), 7), ("nothing".to_owned(), 9)];
        let readers = readers(&labels, &given);
        assert!(
            matches!(readers[0], LabelReader::Nothing),
            "tenant: none given"
        );
        assert!(matches!(
            readers[1],
            LabelReader::Builtin(BuiltinLabel::ProtocolVersion)
        ));
        assert!(
            matches!(readers[2], LabelReader::Given(7)),
            "a function wins"
        );
        // What an adapter sees of each declaration.
        assert_eq!(labels[0].builtin(), None);
        assert_eq!(labels[1].builtin(), Some(BuiltinLabel::ProtocolVersion));
        assert_eq!(labels[1].name(), "protocol_version");
        assert_eq!(labels[1].values(), ["1.0", "1.1", "2", "3"]);
        assert_eq!(labels[2].name(), "url_scheme");
        assert_eq!(labels[2].values(), ["http", "https"]);
    }

    #[test]
    fn every_combination_reads_back_as_its_values() {
        let labels = declared();
        assert_eq!(combinations(&labels), 3 * 5);
        let tenants = [Some("a"), Some("b"), Some("c"), None];
        let versions = [Some("1.1"), Some("2"), Some("3"), Some("0.9"), None];
        let mut seen = std::collections::BTreeSet::new();
        for tenant in tenants {
            for version in versions {
                let LabelValues(index) = combination(&labels, |i, _| [tenant, version][i]);
                seen.insert(index);
                let mut got = Vec::new();
                visit(&labels, usize::from(index), &mut |k, v| {
                    got.push((k.to_owned(), v.to_owned()));
                });
                let want = |v: Option<&str>, allowed: &[&str]| {
                    v.filter(|v| allowed.contains(v))
                        .unwrap_or("other")
                        .to_owned()
                };
                assert_eq!(
                    got,
                    [
                        ("tenant".to_owned(), want(tenant, &["a", "b"])),
                        (
                            "protocol_version".to_owned(),
                            want(version, &["1.0", "1.1", "2", "3"])
                        ),
                    ]
                );
                assert!(usize::from(index) < combinations(&labels));
            }
        }
        // Unknown values share `other`: 3 tenants x 4 versions seen.
        assert_eq!(seen.len(), 3 * 4);
    }
}
