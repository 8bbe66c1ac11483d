//! Numbers and times as people read them.

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

/// An RFC 3339 time as `YYYY-MM-DD HH:MM UTC`.
pub fn time(rfc3339: &str) -> String {
    let date = rfc3339.get(..10).unwrap_or(rfc3339);
    let clock = rfc3339.get(11..16).unwrap_or("");
    format!("{date} {clock} UTC")
}
