//! The queue report as one self-contained HTML page: totals, the age distribution (an SVG chart
//! drawn here), the oldest messages, and the groups explained. No script, no outside asset.
//!
//! The page chrome (CSP, style sheet, head), the bar chart and the explanation cell are the
//! logs page's (`mxray_logs::html`); every string from the queue goes through `esc` (terminal
//! controls and bidi overrides made visible) and then maud's HTML escaping.

use maud::{Markup, html};
use mxray_logs::Timestamp;
use mxray_logs::html::{buckets_chart, esc, explanation, groups_table, human_secs, page, when};

use crate::report::{Group, Report};

/// Groups shown in full; the rest are counted under the table.
pub const MAX_GROUPS_SHOWN: usize = mxray_logs::html::MAX_GROUPS_SHOWN;

/// The whole page. `title` names the source (shown in the heading; escaped).
pub fn render(rep: &Report, title: &str) -> String {
    let t = &rep.totals;
    let body = html! {
        h1 { "Mail queue report" }
        p.muted {
            (esc(title)) " · "
            (rep.mta.map_or("unknown MTA", |m| m.as_str())) " · taken "
            (utc(rep.taken_at)) " · made by mxray queue"
        }
        h2 { "Totals" }
        table.totals {
            tr {
                (cell("messages", t.messages.to_string(), ""))
                (cell("recipients", t.recipients.to_string(), ""))
                (cell("deferred", t.deferred.to_string(), if t.deferred > 0 { "warn" } else { "" }))
                (cell("not tried yet", t.pending.to_string(), ""))
                (cell("held", t.held.to_string(), if t.held > 0 { "warn" } else { "" }))
                (cell("frozen", t.frozen.to_string(), if t.frozen > 0 { "bad" } else { "" }))
                (cell("oldest", t.oldest_age_s.map_or("-".to_string(), human_secs), ""))
                (cell("size", bytes(t.bytes), ""))
            }
        }
        p.muted {
            (t.deferred_messages) " message(s) with deferred recipients · "
            @match rep.next_retry {
                Some(n) => { "earliest next retry " (utc(n)) }
                None => {
                    @if rep.retry_times { "no retry pending" } @else { "next retry times: not in this listing" }
                }
            }
            @if rep.messages_not_read > 0 {
                " · " (rep.messages_not_read) " message(s) past the reading limit, counted only"
            }
        }
        h2 { "Messages by age" }
        @if t.messages == 0 {
            p.muted { "The queue is empty." }
        } @else {
            (buckets_chart(&rep.ages, "Messages in the queue by age", "message(s)"))
        }
        @if !rep.oldest.is_empty() {
            h2 { "Oldest messages" }
            table {
                tr {
                    th { "queue id" } th { "queue" } th { "arrived" } th.num { "age" }
                    th { "sender" } th.num { "recipients" } th { "status" } th { "reason" }
                }
                @for m in &rep.oldest {
                    tr {
                        td { code { (esc(&m.queue_id)) } }
                        td { (esc(&m.queue)) }
                        td { (m.arrival.map_or("-".to_string(), utc)) @if !m.arrival_exact && m.arrival.is_some() { span.muted { " (about)" } } }
                        td.num { (m.age_s.map_or("-".to_string(), human_secs)) }
                        td { (esc(if m.sender.is_empty() { "<>" } else { &m.sender })) }
                        td.num { (m.recipients) }
                        td { span.badge.(m.status) { (m.status) } }
                        td { code { (esc(m.reason.as_deref().unwrap_or("-"))) } }
                    }
                }
            }
        }
        h2 { "Recipients, grouped and explained" }
        (groups(rep))
        @if !rep.next_commands.is_empty() {
            h2 { "Next" }
            @for c in &rep.next_commands { pre { (esc(c)) } }
        }
        @if !rep.notes.is_empty() {
            h2 { "Notes" }
            ul { @for n in &rep.notes { li { (esc(n)) } } }
        }
    };
    page(&format!("mxray queue: {title}"), body)
}

fn cell(label: &str, value: String, class: &str) -> Markup {
    html! { td { div.n.(class) { (value) } div.muted { (label) } } }
}

fn bytes(n: u64) -> String {
    match n {
        n if n < 1024 => format!("{n} B"),
        n if n < 1024 * 1024 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0)),
    }
}

fn groups(rep: &Report) -> Markup {
    if rep.groups.is_empty() {
        return html! { p.muted { "Nothing waits in the queue." } };
    }
    let columns = [
        ("status", false),
        ("code", false),
        ("domain", false),
        ("recipients", true),
        ("messages", true),
        ("what it means", false),
    ];
    let rows = rep.groups.iter().take(MAX_GROUPS_SHOWN).map(group_row);
    groups_table(
        &columns,
        rows,
        rep.groups.len(),
        rep.groups_truncated,
        "mxray queue --json",
    )
}

fn group_row(g: &Group) -> Markup {
    html! {
        tr {
            td { span.badge.(g.status) { (g.status) } }
            td { code { (esc(g.dsn.as_deref().unwrap_or("-"))) } }
            td { (esc(if g.domain.is_empty() { "-" } else { &g.domain })) }
            td.num { (g.count) }
            td.num { (g.messages) }
            td {
                @if let Some(x) = &g.explanation { (explanation(x)) }
                div.muted {
                    "oldest " (g.oldest_age_s.map_or("-".to_string(), human_secs))
                    @if let Some(n) = g.next_retry { " · next retry " (utc(n)) }
                    @if !g.queue_ids.is_empty() {
                        " · " @for (i, id) in g.queue_ids.iter().enumerate() {
                            @if i > 0 { ", " } code { (esc(id)) }
                        }
                    }
                }
                pre { (esc(&g.template)) }
                @if let Some(c) = &g.next_command { div { "next: " code { (esc(c)) } } }
                @if !g.sample.is_empty() {
                    details { summary.muted { "the reason as the MTA gave it" } pre { (esc(&g.sample)) } }
                }
            }
        }
    }
}

/// `2026-12-01 17:00:00 UTC` (queue times are all UTC).
fn utc(t: Timestamp) -> String {
    when(Some(t)).trim_end_matches('Z').to_string() + " UTC"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::summarize;
    use crate::{ParseOptions, parse_listing};

    #[test]
    fn queue_text_is_escaped_and_nothing_runs() {
        let dump = "{\"queue_name\": \"deferred\", \"queue_id\": \"<b>ID</b>\", \"arrival_time\": 1796000000, \"message_size\": 10, \"sender\": \"<script>alert(1)</script>@x.test\", \"recipients\": [{\"address\": \"a@evil.test\", \"delay_reason\": \"host mx[192.0.2.1] said: 451 4.7.1 <img src=x onerror=alert(2)> \\u001b[31mred\\u202etxt (in reply to RCPT TO command)\"}]}\n";
        let o = ParseOptions {
            now: 1_796_144_000,
            local_offset: 0,
        };
        let rep = summarize(&parse_listing(dump, None, "q.json", &o).unwrap());
        let page = render(&rep, "<i>q.json</i>");
        assert!(!page.contains("<script"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert!(
            !page.contains("<b>ID") && !page.contains("<i>q.json"),
            "{page}"
        );
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!page.contains('\u{1b}') && !page.contains('\u{202e}'));
        assert!(page.contains("\\u{202e}"), "{page}");
        assert!(page.contains("Content-Security-Policy"));
        assert_eq!(page.matches("<svg").count(), 1, "the age chart");
        assert!(
            !page.contains("src=\"") && !page.contains("href=\""),
            "{page}"
        );
        assert!(page.contains("mxray diagnose evil.test"));
    }

    #[test]
    fn an_empty_queue_page() {
        let o = ParseOptions {
            now: 1_796_144_000,
            local_offset: 0,
        };
        let page = render(&summarize(&parse_listing("", None, "q", &o).unwrap()), "q");
        assert!(page.contains("The queue is empty.") && page.contains("Nothing waits"));
        assert_eq!(page.matches("<svg").count(), 0);
    }
}
