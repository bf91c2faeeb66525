//! The core's modules form layers: each imports only from the layers below it,
//! so nothing has to be understood (or compiled) before what it is built on.
//! The one exception is the pair the design makes inherent: the registry holds
//! scrape-time collectors, and a collector registers itself in a registry.
//!
//! The test reads the sources: every `crate::<module>` path outside comments and
//! outside test code is an edge, and an edge that goes up or sideways fails,
//! naming the file and line.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Bottom first. A module may import modules of a lower layer only.
const LAYERS: &[&[&str]] = &[
    // Names and the family model; trace contexts and the clock (std only).
    &["names", "trace", "native", "clock"],
    &["family"],
    // What reads and writes families.
    &["parse", "encode"],
    &["exposition"],
    // The registry, with the scrape-time collectors it runs.
    &["registry", "collect"],
    // What registers itself.
    &["source", "process"],
    &["histogram", "global"],
    // The HTTP metric set, the scrape endpoint, the pollers.
    &["http", "endpoint", "poller"],
    // What records into the metric sets: the pollers' fetch (client metrics),
    // the gRPC set (whose errors are the HTTP set's).
    &["fetch", "grpc", "slo"],
    // The Pushgateway client, on the fetch.
    &["push"],
];

/// Edges within one layer that the design allows.
const PAIRS: &[(&str, &str)] = &[("registry", "collect"), ("collect", "registry")];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The names the crate root re-exports, and the module each comes from
/// (`crate::Format` is `crate::exposition::Format`).
fn root_exports(lib: &str) -> BTreeMap<String, String> {
    let mut exports = BTreeMap::new();
    let flat = lib.replace('\n', " ");
    for statement in flat.split(';') {
        let Some(rest) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, names)) = rest.split_once("::") else {
            continue;
        };
        let names = names.trim().trim_start_matches('{').trim_end_matches('}');
        for name in names.split(',') {
            let name = name.trim();
            if !name.is_empty() {
                exports.insert(name.to_owned(), module.trim().to_owned());
            }
        }
    }
    exports
}

/// The code of a file without its test module and comments, line by line.
fn code_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut all = text.lines().enumerate().peekable();
    while let Some((i, line)) = all.next() {
        let trimmed = line.trim();
        if trimmed == "#[cfg(test)]" {
            if let Some((_, next)) = all.peek() {
                if next.trim_start().starts_with("mod ") {
                    // The test module runs to the end of the file by convention;
                    // an inline one (`mod tests { ... }` at the end) likewise.
                    if next.trim_end().ends_with(';') {
                        all.next();
                        continue;
                    }
                    break;
                }
            }
            // A test-only item: skip the next line (a `use` or a `fn` head is
            // as far as an import can reach).
            all.next();
            continue;
        }
        let code = match trimmed.find("//") {
            Some(at) => trimmed[..at].trim_end(),
            None => trimmed,
        };
        if !code.is_empty() {
            lines.push((i + 1, code.to_owned()));
        }
    }
    lines
}

/// The modules named by `crate::` paths on a line.
fn imports(line: &str, exports: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let group = after.starts_with('{');
        let body = if group {
            after[1..].split('}').next().unwrap_or("")
        } else {
            after
        };
        for item in body.split(',') {
            let ident: String = item
                .trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if ident.is_empty() || ident == "self" {
                continue;
            }
            match exports.get(&ident) {
                Some(module) => out.push(module.clone()),
                None => out.push(ident),
            }
            if !group {
                break;
            }
        }
        rest = &after[1..];
    }
    out
}

#[test]
fn core_modules_import_only_from_layers_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = fs::read_to_string(src.join("lib.rs")).unwrap();
    let exports = root_exports(&lib);
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();

    let mut edges = 0;
    let mut wrong = Vec::new();
    let mut unplaced = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap();
        let module = first.as_os_str().to_str().unwrap().trim_end_matches(".rs");
        if module == "lib" || relative.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let Some(own) = layer_of(module) else {
            unplaced.push(module.to_owned());
            continue;
        };
        let text = fs::read_to_string(file).unwrap();
        for (line_number, line) in code_lines(&text) {
            for target in imports(&line, &exports) {
                if target == module {
                    continue;
                }
                edges += 1;
                let Some(theirs) = layer_of(&target) else {
                    wrong.push(format!(
                        "{}:{line_number}: `crate::{target}` is in no layer",
                        relative.display()
                    ));
                    continue;
                };
                let allowed = theirs < own || PAIRS.contains(&(module, target.as_str()));
                if !allowed {
                    wrong.push(format!(
                        "{}:{line_number}: {module} (layer {own}) imports {target} (layer {theirs}): {line}",
                        relative.display()
                    ));
                }
            }
        }
    }
    unplaced.sort();
    unplaced.dedup();
    assert!(unplaced.is_empty(), "modules in no layer: {unplaced:?}");
    // The reading found the imports at all (a parser that saw none would pass).
    assert!(edges > 40, "only {edges} imports found");
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_reader_sees_grouped_and_re_exported_imports() {
    let exports =
        root_exports("pub use exposition::{ContentType,\n Format};\npub use registry::Registry;");
    assert_eq!(
        exports.get("Format").map(String::as_str),
        Some("exposition")
    );
    assert_eq!(
        exports.get("Registry").map(String::as_str),
        Some("registry")
    );
    assert_eq!(
        imports("use crate::{Format, family::MetricType};", &exports),
        ["exposition", "family"]
    );
    assert_eq!(
        imports(
            "let x = crate::encode::push(crate::Registry::new());",
            &exports
        ),
        ["encode", "registry"]
    );
    let lines = code_lines("use a; // crate::http\n#[cfg(test)]\nuse crate::http;\nfn f() {}\n#[cfg(test)]\nmod tests {\n use crate::endpoint;\n}\n");
    let code: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(code, ["use a;", "fn f() {}"]);
}
