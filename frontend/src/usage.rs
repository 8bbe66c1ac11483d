//! A key's usage over 24 hours, 7 days or 30 days, drawn as inline SVG bars with a
//! text summary that screen readers read instead.

use leptos::prelude::*;

use crate::{
    api::{self, KeyUsage, key_usage},
    app::error_banner,
    format,
    logic::bin,
    ui::Skeleton,
};

const HOUR: f64 = 3_600_000.0;

/// A range: its label, its length, and how many bars it is drawn with.
#[derive(Clone, Copy, PartialEq)]
struct Range {
    label: &'static str,
    words: &'static str,
    hours: f64,
    bars: usize,
}

const RANGES: [Range; 3] = [
    Range {
        label: "24 h",
        words: "the last 24 hours",
        hours: 24.0,
        bars: 24,
    },
    Range {
        label: "7 d",
        words: "the last 7 days",
        hours: 168.0,
        bars: 28,
    },
    Range {
        label: "30 d",
        words: "the last 30 days",
        hours: 720.0,
        bars: 30,
    },
];

#[component]
pub fn UsageChart(credential_id: String) -> impl IntoView {
    let range = RwSignal::new(RANGES[0]);
    let id = StoredValue::new(credential_id);
    let usage = LocalResource::new(move || {
        let r = range.get();
        async move {
            let until = format::now();
            let since = until - r.hours * HOUR;
            let data = api::run::<KeyUsage>(key_usage::Variables {
                credential_id: id.get_value(),
                since: Some(format::iso(since)),
                until: Some(format::iso(until)),
            })
            .await?
            .usage;
            let points: Vec<(f64, i64)> = data
                .buckets
                .iter()
                .map(|b| (js_sys::Date::parse(&b.minute), b.count))
                .collect();
            Ok::<_, api::ApiError>((
                r,
                data.total,
                bin(&points, since, until, r.bars),
                since,
                until,
            ))
        }
    });
    view! {
        <section class="usage">
            <div class="usage-head">
                <h2>"Usage"</h2>
                <div class="segmented" role="group" aria-label="Range">
                    {RANGES.into_iter().map(|r| view! {
                        <button class="small" aria-pressed=move || (range.get() == r).to_string() on:click=move |_| range.set(r)>{r.label}</button>
                    }).collect_view()}
                </div>
            </div>
            {move || match usage.get() {
                None => view! { <Skeleton label="Loading usage"/> }.into_any(),
                Some(Err(err)) => error_banner(&err, move || usage.refetch()),
                Some(Ok((r, total, bins, since, until))) => chart(r, total, &bins, since, until).into_any(),
            }}
        </section>
    }
}

fn chart(r: Range, total: i64, bins: &[i64], since: f64, until: f64) -> impl IntoView {
    let peak = bins.iter().copied().max().unwrap_or(0);
    let (w, h) = (600.0, 160.0);
    let bar = w / bins.len() as f64;
    let width = (until - since) / bins.len() as f64;
    let summary = if total == 0 {
        format!("No requests in {}.", r.words)
    } else {
        let at = bins.iter().position(|&b| b == peak).unwrap_or(0);
        format!(
            "{total} {} in {}; the busiest stretch had {peak}, from {}.",
            if total == 1 { "request" } else { "requests" },
            r.words,
            format::local(&format::iso(since + at as f64 * width))
        )
    };
    let bars = bins
        .iter()
        .enumerate()
        .map(|(i, &count)| {
            let height = if peak == 0 { 0.0 } else { (count as f64 / peak as f64) * (h - 10.0) };
            let title = format!("{}: {count}", format::local(&format::iso(since + i as f64 * width)));
            view! {
                <rect x=format!("{:.1}", i as f64 * bar + 1.0) y=format!("{:.1}", h - height)
                    width=format!("{:.1}", (bar - 2.0).max(1.0)) height=format!("{:.1}", height.max(if count > 0 { 1.0 } else { 0.0 }))>
                    <title>{title}</title>
                </rect>
            }
        })
        .collect_view();
    view! {
        <p class="usage-summary" id="usage-summary">{summary}</p>
        <svg class="chart" viewBox=format!("0 0 {w} {h}") preserveAspectRatio="none" role="img" aria-labelledby="usage-summary">
            <line x1="0" y1=h.to_string() x2=w.to_string() y2=h.to_string()></line>
            {bars}
        </svg>
        <div class="chart-axis muted"><span>{format::local(&format::iso(since))}</span><span>"now"</span></div>
    }
}
