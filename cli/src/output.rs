//! How the `keyward` command speaks: tables and sentences for people, JSON for scripts
//! (`--json`), colour only on a terminal and never with `NO_COLOR` (anstream strips it).

use std::io::{IsTerminal, Write};

use anstyle::{AnsiColor, Style};
use chrono::{DateTime, Utc};
use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;

use keyward_cli::{Error, Result};

const GREEN: Style = AnsiColor::Green.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default().bold();
const RED: Style = AnsiColor::Red.on_default().bold();
const BOLD: Style = Style::new().bold();

/// Prints `value` as pretty JSON on standard output.
pub fn json(value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::other(format!("cannot encode the answer: {e}")))?;
    line(&text);
    Ok(())
}

/// One line on standard output.
pub fn line(text: &str) {
    anstream::println!("{text}");
}

/// A done step, on standard error (so standard output stays data).
pub fn done(text: &str) {
    anstream::eprintln!("{GREEN}✓{GREEN:#} {text}");
}

/// A warning, on standard error.
pub fn warn(text: &str) {
    anstream::eprintln!("{YELLOW}!{YELLOW:#} {text}");
}

/// A failure, on standard error.
pub fn error(text: &str) {
    anstream::eprintln!("{RED}error:{RED:#} {text}");
}

/// Information for the person, on standard error.
pub fn note(text: &str) {
    anstream::eprintln!("{text}");
}

/// Emphasised text.
pub fn bold(text: &str) -> String {
    format!("{BOLD}{text}{BOLD:#}")
}

/// A table with a header row, sized to the terminal.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) {
    if rows.is_empty() {
        note("Nothing to show.");
        return;
    }
    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().map(|h| bold(h)));
    for row in rows {
        table.add_row(row);
    }
    let text = table.to_string();
    for row in text.lines() {
        line(row.trim_end());
    }
}

/// A time for people: `2026-12-01 14:03 UTC`.
pub fn time(at: Option<&DateTime<Utc>>, none: &str) -> String {
    at.map_or_else(
        || none.to_owned(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

/// Asks a yes/no question on the terminal; without one, refuses (pass `--yes`).
pub fn confirm(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::usage(format!(
            "{question} needs confirmation: pass --yes to confirm without a terminal"
        )));
    }
    anstream::eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Error::other(format!("cannot read the answer: {e}")))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES"))
}
