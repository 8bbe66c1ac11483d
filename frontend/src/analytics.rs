//! Verification analytics: a key's verifications stacked by outcome with its recent
//! verifications, and an organization's busiest keys with their failure rates. Charts
//! are inline SVG with a text summary and a legend in words, so no outcome is told by
//! colour alone.

use leptos::prelude::*;

use crate::{
    api::{
        self, KeyVerifications, OrganizationVerifications, RecentVerifications, key_verifications,
        organization_verifications, recent_verifications,
    },
    app::{Session, error_banner},
    format::{self, Time},
    logic::{OUTCOMES, compact, outcome, outcome_words, percent, stack},
    ui::{self, Badge, Empty, PageHeader, Pager, Skeleton},
};

const HOUR: f64 = 3_600_000.0;

/// A key's last hours as a row of small bars, the current hour last; the words are its
/// label and tooltip.
#[component]
pub fn Sparkline(hours: Vec<i64>) -> impl IntoView {
    const BAR: f64 = 3.0;
    const GAP: f64 = 1.0;
    const HEIGHT: f64 = 20.0;
    let words = crate::logic::spark_words(&hours);
    let label = words.clone();
    let width = hours.len() as f64 * (BAR + GAP);
    let bars = crate::logic::spark_bars(&hours, HEIGHT)
        .into_iter()
        .enumerate()
        .filter(|(_, h)| *h > 0.0)
        .map(|(i, h)| {
            view! { <rect x=i as f64 * (BAR + GAP) y=HEIGHT - h width=BAR height=h/> }
        })
        .collect_view();
    view! {
        <svg class="sparkline" role="img" aria-label=label viewBox=format!("0 0 {width} {HEIGHT}")
            width=width height=HEIGHT>
            <title>{words}</title>
            <line x1="0" y1=HEIGHT - 0.5 x2=width y2=HEIGHT - 0.5/>
            {bars}
        </svg>
    }
}

/// A chart range: its label, its words, its length in hours and the width of a bar.
#[derive(Clone, Copy, PartialEq)]
struct Range {
    label: &'static str,
    words: &'static str,
    hours: f64,
    bar_minutes: i64,
}

const RANGES: [Range; 3] = [
    Range {
        label: "24 h",
        words: "the last 24 hours",
        hours: 24.0,
        bar_minutes: 60,
    },
    Range {
        label: "7 d",
        words: "the last 7 days",
        hours: 168.0,
        bar_minutes: 360,
    },
    Range {
        label: "30 d",
        words: "the last 30 days",
        hours: 720.0,
        bar_minutes: 1440,
    },
];

/// An outcome enum of any operation as its code (`VALID`, …).
fn code(outcome: &impl std::fmt::Debug) -> String {
    format!("{outcome:?}")
}

fn range_picker(range: RwSignal<Range>) -> impl IntoView {
    view! {
        <div class="segmented" role="group" aria-label="Range">
            {RANGES.into_iter().map(|r| view! {
                <button class="small" aria-pressed=move || (range.get() == r).to_string() on:click=move |_| range.set(r)>{r.label}</button>
            }).collect_view()}
        </div>
    }
}

/// The outcomes counted, as a legend in words with their colours.
/// The outcomes' shares as one bar, coloured as the legend under it.
fn share_bar(counts: &[(String, i64)]) -> impl IntoView + use<> {
    const WIDTH: f64 = 600.0;
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    let segments = crate::logic::shares(counts, WIDTH)
        .into_iter()
        .map(|(c, x, w)| {
            let n = counts.iter().find(|(k, _)| k == c).map_or(0, |(_, n)| *n);
            let title = format!("{}: {n} ({})", outcome(c).0, percent(n, total));
            view! {
                <rect class=format!("o-{c}") x=format!("{x:.1}") y="0" width=format!("{w:.1}") height="16">
                    <title>{title}</title>
                </rect>
            }
        })
        .collect_view();
    view! {
        <svg class="chart stacked share" viewBox=format!("0 0 {WIDTH} 16") preserveAspectRatio="none"
            role="img" aria-labelledby="outcomes-summary">{segments}</svg>
    }
}

fn legend(counts: &[(String, i64)]) -> impl IntoView + use<> {
    let items = OUTCOMES
        .into_iter()
        .filter_map(|(c, words, _)| {
            counts
                .iter()
                .find(|(k, n)| k == c && *n > 0)
                .map(|(_, n)| view! { <li><span class=format!("swatch o-{c}") aria-hidden="true"></span>{format!("{words} {n}")}</li> })
        })
        .collect_view();
    view! { <ul class="legend">{items}</ul> }
}

/// A key's verifications over 24 hours, 7 days or 30 days, stacked by outcome.
#[component]
pub fn VerificationChart(credential_id: String) -> impl IntoView {
    let range = RwSignal::new(RANGES[0]);
    let id = StoredValue::new(credential_id);
    let stats = LocalResource::new(move || {
        let r = range.get();
        async move {
            let until = format::now();
            let since = until - r.hours * HOUR;
            let data = api::run::<KeyVerifications>(key_verifications::Variables {
                credential_id: id.get_value(),
                since: Some(format::iso(since)),
                until: Some(format::iso(until)),
                bucket_minutes: Some(r.bar_minutes),
            })
            .await?
            .verifications;
            Ok::<_, api::ApiError>((r, data))
        }
    });
    view! {
        <section class="usage" aria-labelledby="verifications-title">
            <div class="usage-head">
                <h2 id="verifications-title">"Verifications"</h2>
                {range_picker(range)}
            </div>
            {move || match stats.get() {
                None => view! { <Skeleton label="Loading verifications"/> }.into_any(),
                Some(Err(err)) => error_banner(&err, move || stats.refetch()),
                Some(Ok((r, data))) => stacked_chart(r, data).into_any(),
            }}
        </section>
    }
}

fn stacked_chart(
    r: Range,
    data: key_verifications::KeyVerificationsVerifications,
) -> impl IntoView {
    let totals: Vec<(String, i64)> = data
        .outcomes
        .iter()
        .map(|o| (code(&o.outcome), o.count))
        .collect();
    let summary = if data.total == 0 {
        format!("No verifications in {}.", r.words)
    } else {
        format!(
            "{} verifications in {}: {}. {} failed ({}).",
            data.total,
            r.words,
            outcome_words(&totals),
            data.failed,
            percent(data.failed, data.total)
        )
    };
    let peak = data.buckets.iter().map(|b| b.total).max().unwrap_or(0);
    let (w, h) = (600.0, 160.0);
    let bar = w / data.buckets.len().max(1) as f64;
    let first = data
        .buckets
        .first()
        .map(|b| b.start.clone())
        .unwrap_or_default();
    let bars = data
        .buckets
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let counts: Vec<(String, i64)> = b
                .outcomes
                .iter()
                .map(|o| (code(&o.outcome), o.count))
                .collect();
            let title = if b.total == 0 {
                format!("{}: none", format::local(&b.start))
            } else {
                format!("{}: {}", format::local(&b.start), outcome_words(&counts))
            };
            let x = i as f64 * bar + 1.0;
            let width = (bar - 2.0).max(1.0);
            let parts = stack(&counts, peak, h - 10.0)
                .into_iter()
                .map(|(c, y, height)| view! {
                    <rect class=format!("o-{c}") x=format!("{x:.1}") y=format!("{:.1}", y + 10.0)
                        width=format!("{width:.1}") height=format!("{:.1}", height.max(1.0))></rect>
                })
                .collect_view();
            view! { <g><title>{title}</title>{parts}</g> }
        })
        .collect_view();
    view! {
        <p class="usage-summary" id="verifications-summary">{summary}</p>
        <svg class="chart stacked" viewBox=format!("0 0 {w} {h}") preserveAspectRatio="none" role="img" aria-labelledby="verifications-summary">
            <line x1="0" y1=h.to_string() x2=w.to_string() y2=h.to_string()></line>
            {bars}
        </svg>
        <div class="chart-axis muted"><span>{format::local(&first)}</span><span>"now"</span></div>
        {legend(&totals)}
    }
}

fn outcome_filter(code: &str) -> Option<recent_verifications::VerificationOutcome> {
    use recent_verifications::VerificationOutcome as O;
    Some(match code {
        "VALID" => O::VALID,
        "RATE_LIMITED" => O::RATE_LIMITED,
        "USAGE_EXCEEDED" => O::USAGE_EXCEEDED,
        "INSUFFICIENT_PERMISSIONS" => O::INSUFFICIENT_PERMISSIONS,
        "EXPIRED" => O::EXPIRED,
        "REVOKED" => O::REVOKED,
        "DISABLED" => O::DISABLED,
        "SUSPENDED" => O::SUSPENDED,
        "OWNER_REMOVED" => O::OWNER_REMOVED,
        _ => return None,
    })
}

/// A key's most recent verifications, newest first, with an outcome filter.
#[component]
pub fn RecentVerificationList(credential_id: String) -> impl IntoView {
    let id = StoredValue::new(credential_id);
    let (outcome_q, set_outcome) = ui::query_param("outcome");
    let pager = Pager::new(20);
    let page = LocalResource::new(move || {
        let outcome = outcome_q.get();
        let after = pager.after();
        async move {
            api::run::<RecentVerifications>(recent_verifications::Variables {
                credential_id: id.get_value(),
                outcome: outcome.as_deref().and_then(outcome_filter),
                first: Some(pager.size),
                after,
            })
            .await
            .map(|d| d.recent_verifications)
        }
    });
    view! {
        <section aria-labelledby="recent-verifications-title">
            <h2 id="recent-verifications-title">"Recent verifications"</h2>
            <div class="filters" role="search">
                <label>"Outcome"
                    <select id="verification-outcome" on:change=move |ev| {
                        pager.reset();
                        set_outcome.set(Some(event_target_value(&ev)).filter(|v| !v.is_empty()));
                    }>
                        {move || {
                            let current = outcome_q.get().unwrap_or_default();
                            std::iter::once(("", "Any outcome"))
                                .chain(OUTCOMES.into_iter().map(|(c, words, _)| (c, words)))
                                .map(|(c, words)| view! { <option value=c selected=current == c>{words}</option> })
                                .collect_view()
                        }}
                    </select>
                </label>
            </div>
            {move || match page.get() {
                None => view! { <Skeleton label="Loading recent verifications"/> }.into_any(),
                Some(Err(err)) => error_banner(&err, move || page.refetch()),
                Some(Ok(p)) if p.nodes.is_empty() && pager.later() => pager.emptied(),
                Some(Ok(p)) if p.nodes.is_empty() && outcome_q.get().is_some() => view! {
                    <Empty text="No recent verifications with this outcome.".into()>
                        <button on:click=move |_| { pager.reset(); set_outcome.set(None); }>"Clear filter"</button>
                    </Empty>
                }.into_any(),
                Some(Ok(p)) if p.nodes.is_empty() => view! {
                    <Empty text="This key has not been verified recently.".into()><span></span></Empty>
                }.into_any(),
                Some(Ok(p)) => {
                    let shown = p.nodes.len();
                    let next = p.page_info.end_cursor.clone().filter(|_| p.page_info.has_next_page);
                    view! {
                        <div class="table-wrap" role="region" tabindex="0" aria-label="Logged verifications">
                            <table class="verifications">
                                {ui::table_head(&["Time", "Outcome", "~IP", "~Tags"])}
                                <tbody>
                                    {p.nodes.into_iter().map(|v| {
                                        let (words, tone) = outcome(&code(&v.outcome));
                                        // One chip per tag, so no tag can pass for several.
                                        let tags = v.tags.iter().map(|t| view! {
                                            <li><code>{t.name.clone()}</code>": "<code>{t.value.clone()}</code></li>
                                        }).collect_view();
                                        view! {
                                            <tr>
                                                <td><Time at=v.at.clone()/></td>
                                                <td><Badge text=words.into() tone=tone/></td>
                                                <td class="fold">{v.ip.clone().unwrap_or_default()}</td>
                                                <td class="fold"><ul class="tags">{tags}</ul></td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                        {pager.footer(shown, p.total_count, next)}
                    }
                    .into_any()
                }
            }}
        </section>
    }
}

/// The organization's verifications and its busiest keys.
#[component]
pub fn AnalyticsPage() -> impl IntoView {
    let session = expect_context::<Session>();
    let range = RwSignal::new(RANGES[0]);
    let activity = LocalResource::new(move || {
        let org = session.org.get();
        let r = range.get();
        async move {
            let Some(org) = org else {
                return Ok(None);
            };
            let until = format::now();
            let data =
                api::run::<OrganizationVerifications>(organization_verifications::Variables {
                    organization_id: org,
                    since: Some(format::iso(until - r.hours * HOUR)),
                    until: Some(format::iso(until)),
                    first: Some(20),
                })
                .await?
                .organization_verifications;
            Ok::<_, api::ApiError>(Some((r, data)))
        }
    });
    view! {
        <PageHeader title="Analytics" description="How often this organization's keys were verified, with what outcome, and which keys are busiest.">
            {range_picker(range)}
        </PageHeader>
        {move || match activity.get() {
            None => view! { <Skeleton label="Loading analytics"/> }.into_any(),
            Some(Err(err)) => error_banner(&err, move || activity.refetch()),
            Some(Ok(None)) => view! { <Empty text="Choose an organization first.".into()><span></span></Empty> }.into_any(),
            Some(Ok(Some((r, data)))) => organization_view(r, data).into_any(),
        }}
    }
}

fn organization_view(
    r: Range,
    data: organization_verifications::OrganizationVerificationsOrganizationVerifications,
) -> impl IntoView {
    if data.total == 0 {
        return view! {
            <Empty text=format!("No key of this organization was verified in {}.", r.words)>
                <a class="button" href="/keys">"Go to API keys"</a>
            </Empty>
        }
        .into_any();
    }
    let totals: Vec<(String, i64)> = data
        .outcomes
        .iter()
        .map(|o| (code(&o.outcome), o.count))
        .collect();
    view! {
        <dl class="stats">
            <div><dt>"Verifications"</dt><dd>{compact(data.total)}</dd></div>
            <div><dt>"Failed"</dt><dd>{compact(data.failed)}</dd></div>
            <div><dt>"Failure rate"</dt><dd>{percent(data.failed, data.total)}</dd></div>
        </dl>
        <p class="muted" id="outcomes-summary">{format!("In {}: {}.", r.words, outcome_words(&totals))}</p>
        {share_bar(&totals)}
        {legend(&totals)}
        <h2>"Busiest keys"</h2>
        <div class="table-wrap" role="region" tabindex="0" aria-label="Busiest keys">
            <table class="busiest">
                {ui::table_head(&["Key", "Verifications", "~Failed", "Failure rate", "~Outcomes"])}
                <tbody>
                    {data.busiest_keys.into_iter().map(|k| {
                        let counts: Vec<(String, i64)> = k.outcomes.iter().map(|o| (code(&o.outcome), o.count)).collect();
                        view! {
                            <tr>
                                <td>
                                    <a href=format!("/keys/{}", k.credential_id)>{k.name.clone()}</a>
                                    <div class="muted"><code>{k.prefix.clone()}</code></div>
                                </td>
                                <td>{compact(k.total)}</td>
                                <td class="fold">{compact(k.failed)}</td>
                                <td>{percent(k.failed, k.total)}</td>
                                <td class="fold">{outcome_words(&counts)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}
