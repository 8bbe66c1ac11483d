//! The server's modules form layers, and imports run one way only: the edges (HTTP,
//! GraphQL, REST, sign-in, metrics, the command line) call the domain; the domain calls
//! the base (configuration, database helpers, errors, metric names, tokens); nothing
//! calls back up. This test reads every source file and fails on an import that runs
//! up a layer, naming the file and the module it reached for. Among the edges, which
//! import each other (the router every handler, the handlers the extractors, all of them
//! the shared state), no two modules reach each other, directly or around a loop: a
//! second test fails on a loop and names it.
#![allow(clippy::unwrap_used)]

use std::{
    collections::{BTreeMap, BTreeSet},
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

/// Every import between top-level modules: (importing file, its module, the module it
/// reaches). The crate root and the binary, which wire every layer together, are left
/// out.
fn imports() -> Vec<(String, String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut found = Vec::new();
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
        if top == "lib" || top == "main" {
            continue;
        }
        for module in reached(&fs::read_to_string(file).unwrap()) {
            if module != top {
                found.push((relative.display().to_string(), top.clone(), module));
            }
        }
    }
    found
}

#[test]
fn no_import_runs_up_a_layer() {
    let mut upward = Vec::new();
    for (file, top, module) in imports() {
        if layer(&module) > layer(&top) {
            upward.push(format!("{file} imports crate::{module}"));
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

/// A loop among `edges` (module → modules it imports), as the modules around it, or
/// `None`.
fn a_loop(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    /// Depth first from `at`; `path` is the way here, `done` what has no loop beyond it.
    fn visit(
        at: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| m == at) {
            let mut found = path[start..].to_vec();
            found.push(at.to_owned());
            return Some(found);
        }
        if done.contains(at) {
            return None;
        }
        path.push(at.to_owned());
        for next in edges.get(at).into_iter().flatten() {
            if let Some(found) = visit(next, edges, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(at.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|m| visit(m, edges, &mut Vec::new(), &mut done))
}

#[test]
fn no_two_modules_reach_each_other() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut by = BTreeMap::new();
    for (file, top, module) in imports() {
        by.entry((top.clone(), module.clone())).or_insert(file);
        edges.entry(top).or_default().insert(module);
    }
    if let Some(found) = a_loop(&edges) {
        let steps: Vec<String> = found
            .windows(2)
            .map(|w| {
                format!(
                    "{} imports crate::{}",
                    by[&(w[0].clone(), w[1].clone())],
                    w[1]
                )
            })
            .collect();
        panic!(
            "a loop of imports: {}\n{}",
            found.join(" → "),
            steps.join("\n")
        );
    }
}

#[test]
fn a_loop_is_found_and_named() {
    let edges = |pairs: &[(&str, &str)]| {
        let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in pairs {
            map.entry((*a).to_owned())
                .or_default()
                .insert((*b).to_owned());
        }
        map
    };
    assert_eq!(
        a_loop(&edges(&[
            ("app", "rest"),
            ("rest", "auth"),
            ("auth", "state")
        ])),
        None
    );
    assert_eq!(
        a_loop(&edges(&[
            ("app", "rest"),
            ("rest", "auth"),
            ("auth", "app")
        ])),
        Some(vec![
            "app".into(),
            "rest".into(),
            "auth".into(),
            "app".into()
        ])
    );
}
