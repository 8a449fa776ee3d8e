//! A logs report as HTML: totals, deferrals per hour by code (a stacked-bar chart with its
//! table), the groups with their explanations, rejections, the worst domains, what to run next.

use maud::{Markup, html};
use mxray_logs::Report;

use super::chart::{self, Bar};
use super::inert;

/// Hours at most in the chart (a fortnight); a longer log shows its last hours.
pub const MAX_HOURS: usize = 14 * 24;

/// `MM-DD HH:00` of an hour (as the log stamped it).
fn hour_label(t: &mxray_logs::Timestamp) -> String {
    let full = chart::utc_minute(t.secs);
    full.get(5..).unwrap_or(&full).to_string()
}

/// The timeline as bars, one per hour from the first to the last (hours without deferrals
/// are empty bars, so the gaps show), the last [`MAX_HOURS`] at most.
pub fn deferral_bars(r: &Report) -> Vec<Bar> {
    let (Some(first), Some(last)) = (r.timeline.first(), r.timeline.last()) else {
        return Vec::new();
    };
    let from = first
        .hour
        .secs
        .max(last.hour.secs - (MAX_HOURS as i64 - 1) * 3600);
    let mut bars = Vec::new();
    let mut t = from;
    while t <= last.hour.secs {
        let parts = r
            .timeline
            .iter()
            .find(|h| h.hour.secs == t)
            .map(|h| h.deferrals_by_code.clone())
            .unwrap_or_default();
        bars.push(Bar {
            label: hour_label(&mxray_logs::Timestamp {
                secs: t,
                utc: first.hour.utc,
            }),
            parts,
        });
        t += 3600;
    }
    bars
}

fn stamp(t: &Option<mxray_logs::Timestamp>) -> String {
    t.map_or("—".to_string(), |t| t.to_string())
}

/// The whole report; sections open with `<h2>`.
pub fn render(r: &Report) -> Markup {
    let t = &r.totals;
    html! {
        section class="logs-report" aria-label="Log report" {
            h2 { "Totals" }
            dl class="facts" {
                dt { "Lines" } dd { (t.lines) " read, " (t.unparsed) " not understood, " (t.other) " from other programs" }
                dt { "Period" } dd { (stamp(&r.first_seen)) " to " (stamp(&r.last_seen)) }
                dt { "Messages" } dd { (t.received) " received, " (t.deferred_messages) " deferred at least once, " (t.pending) " still deferred at the end" }
                dt { "Recipients" } dd { (t.delivered) " delivered, " (t.deferrals) " deferrals, " (t.bounced) " bounced, " (t.rejected) " rejected" }
            }
            @if t.deferrals > 0 {
                (chart::stacked_bars("Deferrals per hour by enhanced code", "deferrals", &deferral_bars(r)))
            }
            h2 { "Groups" }
            @if r.groups.is_empty() {
                p { "No deferrals or bounces in this log." }
            }
            @for (i, g) in r.groups.iter().enumerate() {
                article class="explanation" {
                    h3 {
                        span class={"badge " (if g.status == "bounced" { "sev-fail" } else { "sev-warn" })} { (g.status) } " "
                        code { (inert(g.dsn.as_deref().unwrap_or("no code"))) } " "
                        (inert(&g.template))
                    }
                    dl class="facts" {
                        dt { "Domain" } dd { (inert(&g.domain)) }
                        dt { "Relay" } dd { (inert(&g.relay)) }
                        dt { "Events" } dd { (g.count) " (" (g.messages) " messages), " (stamp(&g.first_seen)) " to " (stamp(&g.last_seen)) }
                        @if let Some(e) = &g.explanation {
                            dt { "Reading" } dd { code { (e.situation.to_string()) } " (" (e.category.label()) "; side: " (e.side.label()) "): " (e.meaning) }
                        }
                        @if let Some(c) = &g.next_command { dt { "Next" } dd { code { (inert(c)) } } }
                    }
                    details open[i == 0] {
                        summary { "Sample line and next steps" }
                        pre { (inert(&g.sample)) }
                        @if let Some(e) = &g.explanation {
                            @if !e.next_steps.is_empty() {
                                ul { @for s in e.next_steps.iter().take(3) { li { (inert(s)) } } }
                            }
                        }
                    }
                }
            }
            @if !r.rejections.is_empty() {
                h2 { "Rejections before queueing" }
                table {
                    thead { tr { th scope="col" { "Stage" } th scope="col" { "Code" } th scope="col" { "Reply" } th scope="col" class="num" { "Count" } } }
                    tbody {
                        @for x in &r.rejections {
                            tr { td { (inert(&x.stage)) } td { (inert(x.dsn.as_deref().unwrap_or("—"))) } td { (inert(&x.template)) } td class="num" { (x.count) } }
                        }
                    }
                }
            }
            @if !r.domains.is_empty() {
                h2 { "Domains with deferrals" }
                table {
                    thead { tr { th scope="col" { "Domain" } th scope="col" class="num" { "Attempts" } th scope="col" class="num" { "Delivered" } th scope="col" class="num" { "Deferrals" } th scope="col" class="num" { "Bounced" } } }
                    tbody {
                        @for d in &r.domains {
                            tr { td { (inert(&d.domain)) } td class="num" { (d.attempts) } td class="num" { (d.delivered) } td class="num" { (d.deferrals) } td class="num" { (d.bounced) } }
                        }
                    }
                }
            }
            @if !r.next_commands.is_empty() {
                h2 { "Run next" }
                ul { @for c in &r.next_commands { li { code { (inert(c)) } } } }
            }
        }
    }
}
