//! The report as one self-contained HTML page: totals, the groups with their explanations, and
//! SVG charts drawn here. No script, no outside asset; every string from a log is escaped.

// Markup through maud, which escapes every interpolation (log lines are attacker-controlled).
// The three charts are hand-drawn SVG bars: plotters lays text out through a font backend
// (system fonts or a bundled TTF), which a page meant for mail clients and offline reading
// does not need; bars and labels are a few rectangles and `<text>` elements.

use maud::{DOCTYPE, Markup, PreEscaped, html};
use mxray_core::{Explanation, escape_text};

use crate::report::{DomainStats, Group, Hour, Report};
use crate::time::Timestamp;

/// Groups shown in full; the rest are counted in a line under the table.
pub const MAX_GROUPS_SHOWN: usize = 100;
/// Codes named in the hourly chart; the rest are drawn together as `other`.
const CODES_SHOWN: usize = 6;
/// Bars the hourly chart draws at most: longer logs are binned by 6 hours, then by days.
const MAX_BARS: i64 = 240;

/// Colours for the codes of the hourly chart, then `other`.
const PALETTE: [&str; 7] = [
    "#d95f02", "#7570b3", "#1b9e77", "#e7298a", "#66a61e", "#e6ab02", "#999999",
];

/// No script may run, nothing may be fetched: the page stands alone (and a script injected
/// through a log line would be text anyway).
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// The pages' one style sheet (inline: the CSP allows nothing else).
pub const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.muted{color:#666}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eee;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#fafafa;font-weight:600}.num{text-align:right;font-variant-numeric:tabular-nums}
.totals td{width:12.5%}.totals .n{font-size:20px;font-weight:600}.bad{color:#b00020}.warn{color:#b36b00}.good{color:#1b7a36}
code,pre{font:12px/1.4 ui-monospace,Menlo,Consolas,monospace}pre{white-space:pre-wrap;word-break:break-all;background:#f6f6f6;padding:6px 8px;margin:4px 0}
.badge{display:inline-block;padding:1px 6px;border-radius:3px;font-size:12px;color:#fff}.deferred{background:#b36b00}.bounced{background:#b00020}
.pending{background:#777}.held{background:#555}.frozen{background:#3a6ea5}
svg{display:block;max-width:100%;height:auto}svg text{font:11px system-ui,sans-serif;fill:#444}
ul{margin:4px 0;padding-left:20px}
";

/// The whole page. `title` names the inputs (shown in the heading; escaped).
pub fn render(rep: &Report, title: &str) -> String {
    let body = html! {
                h1 { "Mail log report" }
                p.muted {
                    (esc(title)) " · " (period(rep.first_seen, rep.last_seen))
                    " · " (rep.files.len()) " file(s) · made by mxray logs"
                }
                (totals(rep))
                h2 { "Deferrals per hour, by code" }
                (hourly_chart(&rep.timeline))
                h2 { "Destination domains by deferral rate" }
                (domain_chart(&rep.domains))
                h2 { "Time to delivery after a deferral" }
                (delivery_chart(rep))
                h2 { "Deferrals and bounces, grouped and explained" }
                (groups(rep))
                @if !rep.rejections.is_empty() {
                    h2 { "Refused before queueing" }
                    table {
                        tr { th { "stage" } th { "code" } th.num { "count" } th { "reply" } }
                        @for r in rep.rejections.iter().take(20) {
                            tr {
                                td { (esc(&r.stage)) }
                                td { code { (esc(r.dsn.as_deref().unwrap_or("-"))) } }
                                td.num { (r.count) }
                                td { code { (esc(&r.template)) } }
                            }
                        }
                    }
                }
                @if !rep.pending.sample.is_empty() {
                    h2 { "Still deferred at the end of the log" }
                    table {
                        tr { th { "queue id" } th { "first seen" } th.num { "deferrals" } th { "last reason" } }
                        @for p in &rep.pending.sample {
                            tr {
                                td { code { (esc(&p.queue_id)) } }
                                td { (when(p.first_seen)) }
                                td.num { (p.deferrals) }
                                td { code { (esc(p.last_reason.as_deref().unwrap_or("-"))) } }
                            }
                        }
                    }
                }
                @if !rep.next_commands.is_empty() {
                    h2 { "Next" }
                    @for c in &rep.next_commands { pre { (esc(c)) } }
                }
                h2 { "Files" }
                table {
                    tr { th { "file" } th { "format" } th.num { "lines" } th { "first" } th { "last" } }
                    @for f in &rep.files {
                        tr {
                            td { code { (esc(&f.name)) } @if let Some(e) = &f.error { br; span.bad { (esc(e)) } } }
                            td { (f.format.map_or("-", |m| m.as_str())) }
                            td.num { (f.lines) }
                            td { (when(f.first_seen)) }
                            td { (when(f.last_seen)) }
                        }
                    }
                }
    };
    page(&format!("mxray logs: {title}"), body)
}

/// A whole page around `body`: the CSP, the style sheet, and `title` (escaped) in the head.
/// Shared by every mxray page (`logs --html`, `queue --html`).
pub fn page(title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(CSP);
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (esc(title)) }
                style { (PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    }
    .into_string()
}

/// Text from a log: terminal controls and bidi overrides made visible (`\u{202e}`) before
/// maud's HTML escaping, so a line cannot reorder or hide what the page shows.
pub fn esc(s: &str) -> String {
    escape_text(s)
}

/// A time as the pages show it (`2026-11-20 10:00:01`), `-` when unknown.
pub fn when(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "-".to_string(), |t| t.to_string().replace('T', " "))
}

fn period(a: Option<Timestamp>, b: Option<Timestamp>) -> String {
    format!("{} to {}", when(a), when(b))
}

fn totals(rep: &Report) -> Markup {
    let t = &rep.totals;
    let cell = |label: &str, n: u64, class: &str| {
        html! { td { div.n.(if n > 0 { class } else { "" }) { (n) } div.muted { (label) } } }
    };
    html! {
        h2 { "Totals" }
        table.totals {
            tr {
                (cell("received", t.received, ""))
                (cell("delivered", t.delivered, "good"))
                (cell("messages deferred", t.deferred_messages, "warn"))
                (cell("deferrals", t.deferrals, "warn"))
                (cell("bounced", t.bounced, "bad"))
                (cell("expired", t.expired, "bad"))
                (cell("rejected", t.rejected, ""))
                (cell("still deferred", t.pending, "warn"))
            }
        }
        p.muted {
            (t.lines) " lines read · " (t.unparsed) " unparsed · " (t.other) " from other programs · "
            (t.not_attempted) " not attempted (retry time not reached) · "
            (t.notifications) " notifications sent"
        }
    }
}

/// Bars of `width` pixels from `x0`, one per value, scaled to `max`; the SVG frame and axis.
struct Frame {
    width: f64,
    height: f64,
    left: f64,
    bottom: f64,
}

impl Frame {
    fn plot_w(&self) -> f64 {
        self.width - self.left - 10.0
    }
    fn plot_h(&self) -> f64 {
        self.height - self.bottom - 10.0
    }
}

/// One bar of the hourly chart: its start (Unix seconds), deferrals by code, bounces.
type Bin = (i64, Vec<(String, u64)>, u64);

/// The hourly timeline binned to at most [`MAX_BARS`] bars, and the width of one in seconds.
fn bins(timeline: &[Hour]) -> (i64, Vec<Bin>) {
    let (Some(first), Some(last)) = (timeline.first(), timeline.last()) else {
        return (3600, Vec::new());
    };
    let span_h = (last.hour.secs - first.hour.secs) / 3600 + 1;
    let step = if span_h <= MAX_BARS {
        3600
    } else if span_h <= MAX_BARS * 6 {
        6 * 3600
    } else {
        // Days, or more for very long logs.
        86_400 * ((span_h / 24) / MAX_BARS + 1)
    };
    let mut out: Vec<Bin> = Vec::new();
    for h in timeline {
        let start = first.hour.secs + (h.hour.secs - first.hour.secs) / step * step;
        if out.last().is_none_or(|b| b.0 != start) {
            out.push((start, Vec::new(), 0));
        }
        if let Some(b) = out.last_mut() {
            b.2 += h.bounces;
            for (c, n) in &h.deferrals_by_code {
                match b.1.iter_mut().find(|(x, _)| x == c) {
                    Some((_, m)) => *m += n,
                    None => b.1.push((c.clone(), *n)),
                }
            }
        }
    }
    (step, out)
}

fn hourly_chart(timeline: &[Hour]) -> Markup {
    let (step, bins) = bins(timeline);
    if bins.iter().all(|b| b.1.is_empty()) {
        return html! { p.muted { "No deferrals in the log." } };
    }
    // The codes with the most deferrals overall get a colour each; the rest are `other`.
    let mut totals: Vec<(String, u64)> = Vec::new();
    for (_, codes, _) in &bins {
        for (c, n) in codes {
            match totals.iter_mut().find(|(x, _)| x == c) {
                Some((_, m)) => *m += n,
                None => totals.push((c.clone(), *n)),
            }
        }
    }
    totals.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let named: Vec<&str> = totals
        .iter()
        .take(CODES_SHOWN)
        .map(|(c, _)| c.as_str())
        .filter(|c| *c != "other")
        .collect();
    let colour = |c: &str| {
        named
            .iter()
            .position(|x| *x == c)
            .map_or(PALETTE[PALETTE.len() - 1], |i| PALETTE[i])
    };
    let max = bins
        .iter()
        .map(|b| b.1.iter().map(|(_, n)| n).sum::<u64>())
        .max()
        .unwrap_or(1)
        .max(1);
    let f = Frame {
        width: 1000.0,
        height: 280.0,
        left: 48.0,
        bottom: 40.0,
    };
    let first = bins.first().map_or(0, |b| b.0);
    let last = bins.last().map_or(0, |b| b.0);
    let slots = ((last - first) / step + 1) as f64;
    let bar_w = f.plot_w() / slots;
    let y = |v: f64| 10.0 + f.plot_h() * (1.0 - v / max as f64);
    let unit = match step {
        3600 => "hour",
        s if s == 6 * 3600 => "6 hours",
        _ => "day(s)",
    };
    let utc = timeline.first().is_some_and(|h| h.hour.utc);
    let label = |secs: i64| Timestamp { secs, utc }.to_string().replace('T', " ");
    let has_other = totals.len() > named.len();
    // Each bar's segments, named codes bottom up in legend order, then the rest.
    let mut rects: Vec<(f64, f64, f64, f64, &str, String)> = Vec::new();
    for (start, codes, _) in &bins {
        let x = f.left + ((start - first) / step) as f64 * bar_w + 0.5;
        let mut base = 0u64;
        for c in named.iter().copied().chain(std::iter::once("other")) {
            let n: u64 = codes
                .iter()
                .filter(|(x, _)| {
                    if c == "other" {
                        !named.contains(&x.as_str())
                    } else {
                        x == c
                    }
                })
                .map(|(_, n)| n)
                .sum();
            if n == 0 {
                continue;
            }
            let top = y((base + n) as f64);
            rects.push((
                x,
                top,
                (bar_w - 1.0).max(0.5),
                y(base as f64) - top,
                c,
                format!("{}: {n} × {}", label(*start), esc(c)),
            ));
            base += n;
        }
    }
    html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {} {}", f.width, f.height))
            role="img" aria-label=(format!("Deferrals per {unit} by enhanced code")) {
            line x1=(f.left) y1=(y(0.0)) x2=(f.width - 10.0) y2=(y(0.0)) stroke="#999" {}
            text x=(f.left - 6.0) y=(y(max as f64) + 4.0) text-anchor="end" { (max) }
            text x=(f.left - 6.0) y=(y(0.0) + 4.0) text-anchor="end" { "0" }
            @for (x, top, w, h, c, tip) in &rects {
                rect x=(fmt(*x)) y=(fmt(*top)) width=(fmt(*w)) height=(fmt(*h)) fill=(colour(c)) {
                    title { (tip) }
                }
            }
            text x=(f.left) y=(f.height - 22.0) { (label(first)) }
            text x=(f.width - 10.0) y=(f.height - 22.0) text-anchor="end" { (label(last)) }
            @for (i, c) in named.iter().copied().chain(has_other.then_some("other")).enumerate() {
                rect x=(f.left + i as f64 * 120.0) y=(f.height - 12.0) width="10" height="10" fill=(colour(c)) {}
                text x=(f.left + i as f64 * 120.0 + 14.0) y=(f.height - 3.0) { (clip(&esc(c), 14)) }
            }
        }
        p.muted { "One bar per " (unit) "; hover a bar for its count." }
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

fn domain_chart(domains: &[DomainStats]) -> Markup {
    if domains.is_empty() {
        return html! { p.muted { "No destination domain had deferrals." } };
    }
    let shown = &domains[..domains.len().min(15)];
    let row = 22.0;
    let f = Frame {
        width: 1000.0,
        height: 20.0 + row * shown.len() as f64,
        left: 260.0,
        bottom: 10.0,
    };
    let w = f.plot_w() - 150.0;
    html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {} {}", f.width, f.height))
            role="img" aria-label="Top destination domains by deferral rate" {
            @for (i, d) in shown.iter().enumerate() {
                @let top = 10.0 + i as f64 * row;
                @let rate = d.deferral_rate.clamp(0.0, 1.0);
                text x=(f.left - 8.0) y=(fmt(top + 14.0)) text-anchor="end" { (clip(&esc(&d.domain), 40)) }
                rect x=(f.left) y=(fmt(top + 3.0)) width=(fmt((w * rate).max(1.0))) height=(row - 6.0) fill="#d95f02" {
                    title { (esc(&d.domain)) }
                }
                text x=(fmt(f.left + w * rate + 6.0)) y=(fmt(top + 14.0)) {
                    (format!("{:.0}%", rate * 100.0)) " · " (d.deferrals) " of " (d.attempts) " attempts"
                }
            }
        }
    }
}

/// At most `n` characters, with an ellipsis when cut.
pub fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(std::iter::once('…')).collect()
    }
}

fn delivery_chart(rep: &Report) -> Markup {
    let d = &rep.retries.time_to_delivery;
    if d.count == 0 {
        return html! { p.muted { "No message was delivered after a deferral." } };
    }
    html! {
        (buckets_chart(&d.buckets, "Time from first sight to delivery, for messages deferred first", "message(s)"))
        p.muted {
            (d.count) " message(s) delivered after at least one deferral"
            @if let Some(m) = d.mean_secs { "; mean " (human_secs(m as i64)) }
            @if let Some(m) = d.max_secs { ", longest " (human_secs(m)) }
            "."
        }
    }
}

/// Bars over fixed buckets (`[label, count]`, e.g. ages or delays), labelled under each bar,
/// with `noun` in each bar's tooltip; `aria` describes the chart.
pub fn buckets_chart(buckets: &[(&str, u64)], aria: &str, noun: &str) -> Markup {
    let max = buckets.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1);
    let f = Frame {
        width: 1000.0,
        height: 220.0,
        left: 48.0,
        bottom: 30.0,
    };
    let slot = f.plot_w() / buckets.len().max(1) as f64;
    let y = |v: f64| 10.0 + f.plot_h() * (1.0 - v / max as f64);
    html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {} {}", f.width, f.height))
            role="img" aria-label=(aria) {
            line x1=(f.left) y1=(y(0.0)) x2=(f.width - 10.0) y2=(y(0.0)) stroke="#999" {}
            text x=(f.left - 6.0) y=(y(max as f64) + 4.0) text-anchor="end" { (max) }
            @for (i, (label, n)) in buckets.iter().enumerate() {
                @let x = f.left + i as f64 * slot;
                rect x=(fmt(x + slot * 0.15)) y=(fmt(y(*n as f64))) width=(fmt(slot * 0.7))
                    height=(fmt(y(0.0) - y(*n as f64))) fill="#1b9e77" {
                    title { (esc(label)) ": " (n) " " (noun) }
                }
                text x=(fmt(x + slot / 2.0)) y=(f.height - 12.0) text-anchor="middle" { (esc(label)) }
                @if *n > 0 {
                    text x=(fmt(x + slot / 2.0)) y=(fmt(y(*n as f64) - 4.0)) text-anchor="middle" { (n) }
                }
            }
        }
    }
}

/// A duration as people read it (`crate::time::human_duration`).
pub fn human_secs(s: i64) -> String {
    crate::time::human_duration(s)
}

fn groups(rep: &Report) -> Markup {
    if rep.groups.is_empty() {
        return html! { p.muted { "No deferrals or bounces." } };
    }
    let columns = [
        ("status", false),
        ("code", false),
        ("domain · relay", false),
        ("events", true),
        ("messages", true),
        ("what it means", false),
    ];
    let rows = rep.groups.iter().take(MAX_GROUPS_SHOWN).map(group_row);
    groups_table(
        &columns,
        rows,
        rep.groups.len(),
        rep.groups_truncated,
        "mxray logs --json",
    )
}

/// The groups table both pages show: a header row (`(title, numeric)`), the first
/// [`MAX_GROUPS_SHOWN`] rows, and where the rest are.
pub fn groups_table(
    columns: &[(&str, bool)],
    rows: impl Iterator<Item = Markup>,
    total: usize,
    truncated: bool,
    rest_in: &str,
) -> Markup {
    html! {
        table {
            tr { @for (title, num) in columns { th.num[*num] { (title) } } }
            @for row in rows { (row) }
        }
        @if total > MAX_GROUPS_SHOWN {
            p.muted { (total - MAX_GROUPS_SHOWN) " more group(s) in " (rest_in) "." }
        }
        @if truncated {
            p.muted { "Groups past the limit were folded into the last row." }
        }
    }
}

fn group_row(g: &Group) -> Markup {
    html! {
        tr {
            td { span.badge.(g.status) { (g.status) } }
            td { code { (esc(g.dsn.as_deref().unwrap_or("-"))) } }
            td { (esc(&g.domain)) br; span.muted { (esc(&g.relay)) } }
            td.num { (g.count) }
            td.num { (g.messages) }
            td {
                @if let Some(x) = &g.explanation { (explanation(x)) }
                div.muted { (when(g.first_seen)) " to " (when(g.last_seen)) }
                pre { (esc(&g.template)) }
                details { summary.muted { "sample line" } pre { (esc(&g.sample)) } }
            }
        }
    }
}

/// The knowledge base's reading of a reply: meaning, class, side, situation, next steps.
pub fn explanation(x: &Explanation) -> Markup {
    html! {
        strong { (x.meaning) }
        div.muted {
            (x.class.map_or("", |c| c.as_str())) " · side " (x.side.as_str())
            " · " (x.situation.to_string())
        }
        @if !x.next_steps.is_empty() {
            ul { @for s in x.next_steps.iter().take(3) { li { code { (esc(s)) } } } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Analyzer, LineParser, NoSink, Options, Parsed, YearGuess};

    fn report(lines: &[String]) -> Report {
        let mut parser = LineParser::new(None, YearGuess::starting(2026));
        let mut a = Analyzer::new(Options::default());
        for l in lines {
            if let Parsed::Event { time, mta, event } = parser.parse(l.as_bytes()) {
                a.apply(time, mta, event, l.as_bytes(), "t.log", &mut NoSink)
                    .expect("apply");
            }
        }
        a.finish(Vec::new())
    }

    fn deferral(day: u32, hour: u32, id: u32, reply: &str) -> String {
        format!(
            "Nov {day:02} {hour:02}:00:01 mail postfix/smtp[3]: {id:010X}: to=<x@d{}.test>, relay=mx.d.test[192.0.2.1]:25, delay=1, delays=0/0/0.5/0.5, dsn=4.7.1, status=deferred (host mx.d.test[192.0.2.1] said: {reply} (in reply to RCPT TO command))",
            id % 3
        )
    }

    #[test]
    fn log_text_is_escaped_and_nothing_runs() {
        let hostile = "451 4.7.1 <script>alert(1)</script><img src=x onerror=alert(2)> \u{1b}[31mred\u{202e}txt";
        let page = render(&report(&[deferral(20, 10, 1, hostile)]), "<b>mail.log</b>");
        assert!(!page.contains("<script"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert!(!page.contains("<b>mail.log"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        // Terminal escapes and bidi overrides are shown, not obeyed.
        assert!(!page.contains('\u{1b}') && !page.contains('\u{202e}'));
        assert!(page.contains("\\u{202e}"), "{page}");
        assert!(page.contains("Content-Security-Policy"));
        assert_eq!(
            page.matches("<svg").count(),
            2,
            "hourly and domains (no delivery yet)"
        );
        // Nothing is fetched: no src or href attribute at all (the text above may say src=).
        assert!(
            !page.contains("src=\"") && !page.contains("href=\""),
            "{page}"
        );
    }

    #[test]
    fn the_hourly_chart_bins_long_logs_and_stacks_codes() {
        // Two weeks of deferrals: 336 hours, binned by 6 hours (56 bars at most).
        let mut lines = Vec::new();
        for d in 1..=14 {
            for h in [1, 13] {
                lines.push(deferral(d, h, d * 100 + h, "451 4.7.1 try later"));
            }
        }
        let rep = report(&lines);
        let (step, bars) = bins(&rep.timeline);
        assert_eq!(step, 6 * 3600);
        assert_eq!(bars.len(), 28);
        assert!(bars.iter().all(|b| b.1 == [("4.7.1".to_string(), 1)]));
        let page = render(&rep, "t.log");
        assert!(page.contains("One bar per 6 hours"));
        assert!(page.contains(": 1 × 4.7.1"));
        // A short log keeps hours.
        let (step, _) = bins(&report(&lines[..4]).timeline);
        assert_eq!(step, 3600, "two days span 37 hours: one bar an hour");
    }
}
