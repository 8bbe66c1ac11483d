//! The server's modules form layers, and imports run one way only: the edges (HTTP,
//! GraphQL, REST, sign-in, metrics, the command line) call the domain; the domain calls
//! the base (configuration, database helpers, errors, metric names, tokens); nothing
//! calls back up. This test reads every source file and fails on an import that runs
//! up a layer, naming the file and the module it reached for.
#![allow(clippy::unwrap_used)]

use std::{
    fs,
    path::{Path, PathBuf},
};

/// Modules of the base layer, directly under `src/`.
const BASE: &[&str] = &["config", "db", "error", "telemetry", "token"];
/// The domain's one module.
const DOMAIN: &str = "domain";

/// The layer a top-level module belongs to: 0 base, 1 domain, 2 edge.
fn layer(module: &str) -> u8 {
    if BASE.contains(&module) {
        0
    } else if module == DOMAIN {
        1
    } else {
        2
    }
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

/// The top-level modules a file reaches through `crate::`, comments left out: for
/// `crate::{a::x, b}` both `a` and `b`.
fn reached(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The names at the group's top level, before any `::` or nested group.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.push(head(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 || !item.contains("::") {
                    item.push(c);
                }
            }
            found.push(head(&item));
        } else {
            found.push(head(rest));
        }
    }
    found.retain(|m| !m.is_empty());
    found
}

/// The first path segment of `path`.
fn head(path: &str) -> String {
    path.trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

#[test]
fn no_import_runs_up_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut upward = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        // The crate root and the binary wire every layer together.
        if top == "lib" || top == "main" {
            continue;
        }
        let own = layer(&top);
        for module in reached(&fs::read_to_string(file).unwrap()) {
            if layer(&module) > own {
                upward.push(format!("{} imports crate::{module}", relative.display()));
            }
        }
    }
    upward.sort();
    upward.dedup();
    assert!(
        upward.is_empty(),
        "imports that run up a layer:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_reader_sees_grouped_and_nested_imports() {
    assert_eq!(
        reached("use crate::{app::AppState, auth::{self, x}, error::AppError};"),
        ["app", "auth", "error"]
    );
    assert_eq!(
        reached("let x = crate::db::lock(1);\n// crate::rest in a comment\n"),
        ["db"]
    );
}
