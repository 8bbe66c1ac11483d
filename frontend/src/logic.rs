//! The dashboard's logic that does not touch the browser: number formatting, form
//! parsing, chart binning and counting unsaved changes. Tested natively with
//! `cargo test`.

use std::collections::BTreeMap;

/// `1234` → `1.2K`, `2500000` → `2.5M`.
pub fn compact(n: i64) -> String {
    let f = n as f64;
    if n.abs() >= 1_000_000 {
        format!("{:.1}M", f / 1_000_000.0)
    } else if n.abs() >= 1_000 {
        format!("{:.1}K", f / 1_000.0)
    } else {
        n.to_string()
    }
}

/// What a permission picker's choice amounts to: "3 resources, read-only.", or all of
/// the maker's permissions when nothing was narrowed (`None`).
pub fn scopes_summary(chosen: Option<&[String]>) -> String {
    let Some(scopes) = chosen else {
        return "All of your permissions, now and as they change.".into();
    };
    if scopes.is_empty() {
        return "No permissions yet: choose a level for at least one resource.".into();
    }
    let read_only = scopes.iter().all(|s| s.ends_with(":read"));
    format!(
        "{} resource{}{}.",
        scopes.len(),
        if scopes.len() == 1 { "" } else { "s" },
        if read_only { ", read-only" } else { "" }
    )
}

/// A date input's value (`YYYY-MM-DD`) as the start of that day in UTC.
pub fn expiry(date: &str) -> Option<String> {
    (!date.is_empty()).then(|| format!("{date}T00:00:00Z"))
}

/// The expiry choices of a create dialog, in days; `custom` and `never` besides.
pub const EXPIRY_PRESETS: [u32; 4] = [7, 30, 60, 90];

/// When a key made now (`now_ms`) expires under `preset` (`"30"`, `"custom"`, `"never"`):
/// milliseconds since the epoch, `None` for no expiry, or why the choice is incomplete.
/// A custom date is the start of that day in UTC and must be in the future.
pub fn preset_expiry(preset: &str, custom: &str, now_ms: f64) -> Result<Option<f64>, String> {
    const DAY_MS: f64 = 86_400_000.0;
    match preset {
        "never" => Ok(None),
        "custom" => {
            let at = custom_date_ms(custom).ok_or("Expires: choose a date.")?;
            if at <= now_ms {
                return Err("Expires: choose a date in the future.".into());
            }
            Ok(Some(at))
        }
        days => days
            .parse::<u32>()
            .map(|d| Some(now_ms + f64::from(d) * DAY_MS))
            .map_err(|_| "Expires: choose how long the key lasts.".into()),
    }
}

/// `YYYY-MM-DD` as the start of that day in UTC, in milliseconds since the epoch.
fn custom_date_ms(date: &str) -> Option<f64> {
    let mut parts = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (parts.next()??, parts.next()??, parts.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), in UTC.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 * 86_400_000.0)
}

/// An RFC 3339 time's date in words, in UTC: `2027-03-02T…` → `2 March 2027`.
pub fn date_in_words(rfc3339: &str) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let parse =
        |range: std::ops::Range<usize>| rfc3339.get(range).and_then(|p| p.parse::<usize>().ok());
    match (parse(0..4), parse(5..7), parse(8..10)) {
        (Some(y), Some(m), Some(d)) if (1..=12).contains(&m) => {
            format!("{d} {} {y}", MONTHS[m - 1])
        }
        _ => rfc3339.to_owned(),
    }
}

/// A server's message as a sentence for people: `input.externalId: must be …` becomes
/// `External ID: must be ….`, the field named in words, never by its path.
pub fn sentence(message: &str) -> String {
    let (field, rest) = match message.split_once(": ") {
        Some((path, rest)) if path.starts_with("input.") && !path.contains(' ') => {
            (Some(field_in_words(&path["input.".len()..])), rest)
        }
        _ => (None, message),
    };
    let mut out = match field {
        Some(field) => format!("{field}: {rest}"),
        None => capitalized(rest),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `externalId` → `External ID`, `ratelimits[1].limit` → `Rate limits 2, limit`.
fn field_in_words(path: &str) -> String {
    let words: Vec<String> = path
        .split('.')
        .map(|segment| {
            let (name, index) = match segment.split_once('[') {
                Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()),
                None => (segment, None),
            };
            let mut word = String::new();
            for c in name.chars() {
                if c.is_ascii_uppercase() {
                    word.push(' ');
                }
                word.push(c.to_ascii_lowercase());
            }
            let word = match word.as_str() {
                "ratelimits" => "rate limits".to_owned(),
                other => other.replace(" id", " ID").replace("meta", "metadata"),
            };
            match index {
                Some(i) => format!("{word} {}", i + 1),
                None => word,
            }
        })
        .collect();
    capitalized(&words.join(", "))
}

/// How long ago `then_ms` was, from `now_ms`, as people say it: `just now`,
/// `5 minutes ago`, `3 hours ago`, `2 days ago`; `None` past 30 days (show the date).
pub fn ago(now_ms: f64, then_ms: f64) -> Option<String> {
    let seconds = ((now_ms - then_ms) / 1000.0).max(0.0) as i64;
    let plural = |n: i64, unit: &str| format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" });
    match seconds {
        0..60 => Some("just now".into()),
        60..3_600 => Some(plural(seconds / 60, "minute")),
        3_600..86_400 => Some(plural(seconds / 3_600, "hour")),
        86_400..2_592_000 => Some(plural(seconds / 86_400, "day")),
        _ => None,
    }
}

/// A number field that may be left empty.
pub fn optional_number(text: &str) -> Result<Option<i64>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| format!("“{text}” is not a whole number"))
}

/// Sums `(time, count)` points into `bars` equal bins from `since` to `until`; points
/// outside the range are left out.
pub fn bin(points: &[(f64, i64)], since: f64, until: f64, bars: usize) -> Vec<i64> {
    let mut bins = vec![0; bars];
    if bars == 0 || until <= since {
        return bins;
    }
    let width = (until - since) / bars as f64;
    for &(at, count) in points {
        let i = ((at - since) / width).floor();
        if i >= 0.0 && (i as usize) < bars {
            bins[i as usize] += count;
        }
    }
    bins
}

/// How many resources have a different level in `a` and `b` (a missing resource has
/// no access).
pub fn differences(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> usize {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter().filter(|k| a.get(*k) != b.get(*k)).count()
}

/// "1–50 of 120" for page `page` (from 0) of `size` rows showing `shown`.
pub fn range_label(page: usize, size: i64, shown: usize, total: i64) -> String {
    if shown == 0 {
        return format!("0 of {total}");
    }
    let first = page as i64 * size + 1;
    format!("{first}–{} of {total}", first + shown as i64 - 1)
}

/// Verification outcomes in stacking order: code, words, tone (`ok`, `warn`, `bad`, `muted`).
pub const OUTCOMES: [(&str, &str, &str); 9] = [
    ("VALID", "Valid", "ok"),
    ("RATE_LIMITED", "Rate limited", "warn"),
    ("USAGE_EXCEEDED", "Out of credits", "warn"),
    ("INSUFFICIENT_PERMISSIONS", "Missing permission", "warn"),
    ("EXPIRED", "Expired", "muted"),
    ("REVOKED", "Revoked", "bad"),
    ("DISABLED", "Disabled", "muted"),
    ("SUSPENDED", "Suspended", "bad"),
    ("OWNER_REMOVED", "Owner removed", "bad"),
];

/// The words and tone of an outcome code.
pub fn outcome(code: &str) -> (&'static str, &'static str) {
    OUTCOMES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map_or(("Unknown", "muted"), |(_, words, tone)| (*words, *tone))
}

/// `(code, count)` pairs as "3 valid, 1 revoked", in stacking order.
pub fn outcome_words(counts: &[(String, i64)]) -> String {
    let mut parts = Vec::new();
    for (code, words, _) in OUTCOMES {
        if let Some((_, n)) = counts.iter().find(|(c, n)| c == code && *n > 0) {
            parts.push(format!("{n} {}", words.to_lowercase()));
        }
    }
    parts.join(", ")
}

/// One bar stacked by outcome, bottom up: `(code, y, height)` in a chart `height` tall
/// whose tallest bar holds `peak`.
pub fn stack(counts: &[(String, i64)], peak: i64, height: f64) -> Vec<(&'static str, f64, f64)> {
    let mut out = Vec::new();
    if peak <= 0 {
        return out;
    }
    let mut top = height;
    for (code, _, _) in OUTCOMES {
        let n: i64 = counts
            .iter()
            .filter(|(c, _)| c == code)
            .map(|(_, n)| n)
            .sum();
        if n > 0 {
            let h = n as f64 / peak as f64 * height;
            top -= h;
            out.push((code, top, h));
        }
    }
    out
}

/// Each outcome's share of all verifications as a segment of a bar `width` wide, in
/// stacking order: `(code, x, width)`; a share too small to see is still a sliver.
pub fn shares(counts: &[(String, i64)], width: f64) -> Vec<(&'static str, f64, f64)> {
    let total: i64 = counts.iter().map(|(_, n)| (*n).max(0)).sum();
    if total <= 0 {
        return Vec::new();
    }
    let mut x = 0.0;
    let mut out = Vec::new();
    for (code, _, _) in OUTCOMES {
        let n: i64 = counts
            .iter()
            .filter(|(c, _)| c == code)
            .map(|(_, n)| (*n).max(0))
            .sum();
        if n > 0 {
            let w = (n as f64 / total as f64 * width).max(2.0);
            out.push((code, x, w));
            x += w;
        }
    }
    // Slivers widened to show may overrun: fit the whole bar back into its width.
    if x > width {
        let scale = width / x;
        for (_, x, w) in &mut out {
            *x *= scale;
            *w *= scale;
        }
    }
    out
}

/// A sparkline's bars, one an hour: each bar's height in a chart `height` tall, a bar
/// of at least one request never drawn flat.
pub fn spark_bars(hours: &[i64], height: f64) -> Vec<f64> {
    let peak = hours.iter().copied().max().unwrap_or(0);
    hours
        .iter()
        .map(|&n| {
            if peak <= 0 || n <= 0 {
                0.0
            } else {
                (n as f64 / peak as f64 * height).max(1.0)
            }
        })
        .collect()
}

/// What a sparkline of the last hours says, for those who do not see it.
pub fn spark_words(hours: &[i64]) -> String {
    let total: i64 = hours.iter().sum();
    let peak = hours.iter().copied().max().unwrap_or(0);
    match total {
        0 => format!("No requests in the last {} hours", hours.len()),
        1 => format!("1 request in the last {} hours", hours.len()),
        _ => format!(
            "{} requests in the last {} hours, at most {} in an hour",
            compact(total),
            hours.len(),
            compact(peak)
        ),
    }
}

/// `part` of `whole` as a percentage for people: "25%", "0.4%", "–" of nothing.
pub fn percent(part: i64, whole: i64) -> String {
    if whole <= 0 {
        return "–".into();
    }
    let p = part as f64 * 100.0 / whole as f64;
    if p > 0.0 && p < 1.0 {
        format!("{p:.1}%")
    } else {
        format!("{}%", p.round())
    }
}

/// A metadata field: empty is none; otherwise a JSON object.
pub fn parse_meta(text: &str) -> Result<Option<serde_json::Value>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match serde_json::from_str(text) {
        Ok(v @ serde_json::Value::Object(_)) => Ok(Some(v)),
        Ok(_) => Err("must be a JSON object, like {\"plan\": \"pro\"}".into()),
        Err(e) => Err(format!("is not JSON ({e})")),
    }
}

/// A limit's window in words: `1000` → `second`, `60000` → `minute`, `90000` → `90 s`.
pub fn window(ms: i64) -> String {
    match ms {
        1_000 => "second".into(),
        60_000 => "minute".into(),
        3_600_000 => "hour".into(),
        86_400_000 => "day".into(),
        ms if ms % 3_600_000 == 0 => format!("{} h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{} min", ms / 60_000),
        ms if ms % 1_000 == 0 => format!("{} s", ms / 1_000),
        ms => format!("{ms} ms"),
    }
}

/// A named limit in words: `calls: 100 per minute, every verification`.
pub fn limit_text(name: &str, limit: i64, duration_ms: i64, auto_apply: bool) -> String {
    format!(
        "{name}: {limit} per {}, {}",
        window(duration_ms),
        if auto_apply {
            "every verification"
        } else {
            "when a verification names it"
        }
    )
}

/// Credits in words: `950 left, refilled to 1000 monthly on day 1`.
pub fn credits_text(remaining: i64, refill: Option<(&str, i64, i64)>) -> String {
    match refill {
        None => format!("{remaining} left"),
        Some(("MONTHLY", amount, day)) => {
            format!("{remaining} left, refilled to {amount} monthly on day {day}")
        }
        Some((_, amount, _)) => format!("{remaining} left, refilled to {amount} daily"),
    }
}

/// A webhook event type as the API names it, from its GraphQL name:
/// `API_KEY_CREATED` is `api_key.created`.
pub fn event_name(graphql: &str) -> String {
    let lower = graphql.to_ascii_lowercase();
    match lower.rsplit_once('_') {
        Some((subject, verb)) => format!("{subject}.{verb}"),
        None => lower,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_read_as_the_api_spells_them() {
        assert_eq!(event_name("API_KEY_CREATED"), "api_key.created");
        assert_eq!(event_name("CREDITS_EXHAUSTED"), "credits.exhausted");
        assert_eq!(event_name("MEMBER_REMOVED"), "member.removed");
    }

    #[test]
    fn outcome_shares_fill_the_bar_in_stacking_order() {
        let counts = vec![("REVOKED".to_owned(), 1), ("VALID".to_owned(), 3)];
        assert_eq!(
            shares(&counts, 100.0),
            vec![("VALID", 0.0, 75.0), ("REVOKED", 75.0, 25.0)]
        );
        assert!(shares(&[], 100.0).is_empty());
        // One failure in a million still shows, and the bar keeps its width.
        let counts = vec![("VALID".to_owned(), 1_000_000), ("EXPIRED".to_owned(), 1)];
        let bar = shares(&counts, 100.0);
        let (_, x, w) = bar[1];
        assert!(w > 1.9 && (x + w - 100.0).abs() < 1e-9, "{bar:?}");
    }

    #[test]
    fn sparklines_scale_to_their_peak_and_say_what_they_show() {
        assert_eq!(spark_bars(&[0, 5, 10], 20.0), vec![0.0, 10.0, 20.0]);
        // One request beside a thousand still shows.
        assert_eq!(spark_bars(&[1, 1000], 20.0), vec![1.0, 20.0]);
        assert_eq!(spark_bars(&[0, 0], 20.0), vec![0.0, 0.0]);
        assert_eq!(spark_words(&[0; 24]), "No requests in the last 24 hours");
        assert_eq!(spark_words(&[1, 0]), "1 request in the last 2 hours");
        assert_eq!(
            spark_words(&[3, 1200, 0]),
            "1.2K requests in the last 3 hours, at most 1.2K in an hour"
        );
    }

    #[test]
    fn messages_read_as_sentences_naming_fields_in_words() {
        assert_eq!(
            sentence("input.scopes: `deployments` is not a resource of this organization"),
            "Scopes: `deployments` is not a resource of this organization."
        );
        assert_eq!(
            sentence("input.externalId: too long"),
            "External ID: too long."
        );
        assert_eq!(
            sentence("input.ratelimits[1].limit: must be at least 1"),
            "Rate limits 2, limit: must be at least 1."
        );
        assert_eq!(sentence("you may not do this"), "You may not do this.");
        assert_eq!(sentence("Done."), "Done.");
    }

    #[test]
    fn expiry_presets_count_days_from_now_in_utc() {
        let now = 1_800_000_000_000.0;
        assert_eq!(preset_expiry("never", "", now), Ok(None));
        assert_eq!(
            preset_expiry("30", "", now),
            Ok(Some(now + 30.0 * 86_400_000.0))
        );
        // 2027-03-02 is 20,879 days after the epoch.
        assert_eq!(
            preset_expiry("custom", "2027-03-02", now),
            Ok(Some(20_879.0 * 86_400_000.0))
        );
        assert!(
            preset_expiry("custom", "", now)
                .unwrap_err()
                .starts_with("Expires:")
        );
        assert!(
            preset_expiry("custom", "2001-01-01", now)
                .unwrap_err()
                .contains("future")
        );
        assert!(preset_expiry("custom", "2027-13-01", now).is_err());
        assert_eq!(date_in_words("2027-03-02T00:00:00.000Z"), "2 March 2027");
        assert_eq!(date_in_words("soon"), "soon");
    }

    #[test]
    fn metadata_is_an_object_or_nothing() {
        assert_eq!(parse_meta("  "), Ok(None));
        assert_eq!(
            parse_meta(r#"{"plan":"pro"}"#),
            Ok(Some(serde_json::json!({ "plan": "pro" })))
        );
        assert!(parse_meta("[1]").unwrap_err().contains("JSON object"));
        assert!(parse_meta("{").unwrap_err().starts_with("is not JSON"));
    }

    #[test]
    fn controls_in_words() {
        assert_eq!(window(1_000), "second");
        assert_eq!(window(60_000), "minute");
        assert_eq!(window(7_200_000), "2 h");
        assert_eq!(window(90_000), "90 s");
        assert_eq!(window(1_500), "1500 ms");
        assert_eq!(
            limit_text("calls", 100, 60_000, true),
            "calls: 100 per minute, every verification"
        );
        assert_eq!(
            limit_text("tokens", 5, 1_000, false),
            "tokens: 5 per second, when a verification names it"
        );
        assert_eq!(credits_text(7, None), "7 left");
        assert_eq!(
            credits_text(950, Some(("MONTHLY", 1000, 15))),
            "950 left, refilled to 1000 monthly on day 15"
        );
        assert_eq!(
            credits_text(3, Some(("DAILY", 10, 1))),
            "3 left, refilled to 10 daily"
        );
    }

    #[test]
    fn times_read_as_how_long_ago() {
        let now = 1_800_000_000_000.0;
        assert_eq!(ago(now, now - 5_000.0).as_deref(), Some("just now"));
        assert_eq!(
            ago(now, now + 5_000.0).as_deref(),
            Some("just now"),
            "a clock ahead"
        );
        assert_eq!(ago(now, now - 60_000.0).as_deref(), Some("1 minute ago"));
        assert_eq!(ago(now, now - 7_200_000.0).as_deref(), Some("2 hours ago"));
        assert_eq!(
            ago(now, now - 3.0 * 86_400_000.0).as_deref(),
            Some("3 days ago")
        );
        assert_eq!(ago(now, now - 40.0 * 86_400_000.0), None);
    }

    #[test]
    fn a_picked_set_of_scopes_is_summed_up() {
        assert!(scopes_summary(None).starts_with("All of your permissions"));
        assert!(scopes_summary(Some(&[])).starts_with("No permissions"));
        let read = ["api_keys:read".to_owned(), "usage:read".to_owned()];
        assert_eq!(scopes_summary(Some(&read)), "2 resources, read-only.");
        assert_eq!(
            scopes_summary(Some(&["api_keys:write".to_owned()])),
            "1 resource."
        );
    }

    #[test]
    fn compact_numbers() {
        assert_eq!(compact(0), "0");
        assert_eq!(compact(999), "999");
        assert_eq!(compact(1_234), "1.2K");
        assert_eq!(compact(2_500_000), "2.5M");
        assert_eq!(compact(-1_500), "-1.5K");
    }

    #[test]
    fn numbers_and_dates_from_fields() {
        assert_eq!(optional_number(" "), Ok(None));
        assert_eq!(optional_number(" 120 "), Ok(Some(120)));
        assert!(optional_number("12a").unwrap_err().contains("12a"));
        assert_eq!(expiry(""), None);
        assert_eq!(
            expiry("2027-01-31").as_deref(),
            Some("2027-01-31T00:00:00Z")
        );
    }

    #[test]
    fn usage_bins() {
        // 24 one-hour bars over a day; a point on a boundary goes to the later bar.
        let hour = 3_600_000.0;
        let points = [
            (0.0, 1),
            (hour - 1.0, 2),
            (hour, 3),
            (23.5 * hour, 4),
            (-1.0, 9),
            (24.0 * hour, 9),
        ];
        let bins = bin(&points, 0.0, 24.0 * hour, 24);
        assert_eq!(bins.len(), 24);
        assert_eq!((bins[0], bins[1], bins[23]), (3, 3, 4));
        assert_eq!(
            bins.iter().sum::<i64>(),
            10,
            "points outside the range are left out"
        );
        assert_eq!(bin(&points, 5.0, 5.0, 3), vec![0, 0, 0]);
    }

    #[test]
    fn unsaved_changes() {
        let saved: BTreeMap<String, String> = [
            ("audit_log".into(), "read".into()),
            ("members".into(), "read".into()),
        ]
        .into();
        let mut draft = saved.clone();
        assert_eq!(differences(&saved, &draft), 0);
        draft.insert("members".into(), "write".into());
        draft.insert("roles".into(), "read".into());
        draft.remove("audit_log");
        assert_eq!(differences(&saved, &draft), 3);
    }

    #[test]
    fn page_ranges() {
        assert_eq!(range_label(0, 50, 50, 120), "1–50 of 120");
        assert_eq!(range_label(2, 50, 20, 120), "101–120 of 120");
        assert_eq!(range_label(0, 50, 0, 0), "0 of 0");
    }

    #[test]
    fn outcomes_in_words() {
        assert_eq!(outcome("OWNER_REMOVED"), ("Owner removed", "bad"));
        assert_eq!(outcome("SOMETHING_NEW"), ("Unknown", "muted"));
        let counts = vec![
            ("REVOKED".to_owned(), 1),
            ("VALID".to_owned(), 3),
            ("EXPIRED".to_owned(), 0),
        ];
        assert_eq!(outcome_words(&counts), "3 valid, 1 revoked");
        assert_eq!(outcome_words(&[]), "");
    }

    #[test]
    fn bars_stack_by_outcome_from_the_bottom() {
        let counts = vec![("REVOKED".to_owned(), 1), ("VALID".to_owned(), 3)];
        assert_eq!(
            stack(&counts, 8, 160.0),
            vec![("VALID", 100.0, 60.0), ("REVOKED", 80.0, 20.0)]
        );
        assert!(stack(&counts, 0, 160.0).is_empty());
    }

    #[test]
    fn percentages() {
        assert_eq!(percent(1, 4), "25%");
        assert_eq!(percent(1, 250), "0.4%");
        assert_eq!(percent(0, 9), "0%");
        assert_eq!(percent(3, 0), "–");
    }
}
