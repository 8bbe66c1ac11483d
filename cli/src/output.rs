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

/// Text as it may be shown on a terminal: control characters (which could move the
/// cursor, retitle the window or hide text) removed from what the server or a user
/// supplied. JSON output escapes them instead.
fn shown(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect()
}

/// Prints `value` as pretty JSON on standard output.
pub fn json(value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::other(format!("cannot encode the answer: {e}")))?;
    line(&text);
    Ok(())
}

/// One line on standard output.
pub fn line(text: &str) {
    raw(format!("{}\n", shown(text)).as_bytes());
}

/// Bytes on standard output as they are. A reader that has gone (`keyward … | head`)
/// ends the command quietly, as it ends any Unix tool, instead of panicking.
pub fn raw(bytes: &[u8]) {
    let mut out = anstream::stdout();
    if let Err(err) = out.write_all(bytes).and_then(|()| out.flush()) {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(keyward_cli::error::exit::OK);
        }
        anstream::eprintln!("error: cannot write to standard output: {err}");
        std::process::exit(keyward_cli::error::exit::OTHER);
    }
}

/// A done step, on standard error (so standard output stays data).
pub fn done(text: &str) {
    anstream::eprintln!("{GREEN}✓{GREEN:#} {}", shown(text));
}

/// A warning, on standard error.
pub fn warn(text: &str) {
    anstream::eprintln!("{YELLOW}!{YELLOW:#} {}", shown(text));
}

/// A failure, on standard error.
pub fn error(text: &str) {
    anstream::eprintln!("{RED}error:{RED:#} {}", shown(text));
}

/// Information for the person, on standard error.
pub fn note(text: &str) {
    anstream::eprintln!("{}", shown(text));
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
        .set_header(header.to_vec());
    for row in rows {
        table.add_row(row);
    }
    for row in table.to_string().lines() {
        line(row.trim_end());
    }
}

/// The first column of a listing: `*` on the active row.
pub fn marker(active: bool) -> String {
    if active { "*" } else { "" }.to_owned()
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
    anstream::eprint!("{} [y/N] ", shown(question));
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Error::other(format!("cannot read the answer: {e}")))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn terminal_controls_from_the_server_are_not_shown() {
        assert_eq!(
            super::shown("key \u{1b}]0;pwned\u{7}name\r\nnext\tcol"),
            "key ]0;pwnedname\nnext\tcol"
        );
    }
}
