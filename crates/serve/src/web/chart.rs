//! Charts as SVG drawn on the server: a score line over time, a sparkline, stacked bars. Pure
//! functions (data in, markup out); each chart carries a title and a text table for screen readers.
//!
//! Hand-written rather than plotters: plotters needs font metrics (system fonts through font-kit,
//! or an embedded TTF) to lay out any text, and cannot put `<title>`, ARIA or CSS classes on its
//! elements; these charts are a few dozen elements each.

use maud::{Markup, html};

use super::inert;

/// The drawing area of the line and bar charts, in SVG units (the SVG scales to its box).
const W: f64 = 720.0;
const H: f64 = 240.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;
/// Series drawn in their own colour; the rest share the last.
pub const COLOURS: usize = 8;
/// X-axis labels at most, whatever the number of points.
const X_LABELS: usize = 8;

/// A number for an SVG attribute: one decimal, no `-0.0`.
fn n(x: f64) -> String {
    let r = (x * 10.0).round() / 10.0;
    if r == 0.0 { "0".into() } else { format!("{r}") }
}

/// `YYYY-MM-DD HH:MM` (UTC) of Unix seconds.
pub fn utc_minute(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// The smallest 1, 2 or 5 times a power of ten at or above `max` (an axis's top).
fn nice_top(max: u64) -> u64 {
    let mut step = 1u64;
    loop {
        for m in [1, 2, 5] {
            let top = step.saturating_mul(m);
            if top >= max {
                return top.max(1);
            }
        }
        step = step.saturating_mul(10);
    }
}

/// Every `k`th index so that at most [`X_LABELS`] are labelled (the last always is).
fn labelled(i: usize, len: usize) -> bool {
    let every = len.div_ceil(X_LABELS).max(1);
    i.is_multiple_of(every) || i + 1 == len
}

/// Score (0-100) over time: `points` are (Unix seconds, score), oldest first. The x axis is
/// time, so gaps between runs show as gaps in spacing.
pub fn score_line(title: &str, points: &[(i64, u32)]) -> Markup {
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let (t0, t1) = match (points.first(), points.last()) {
        (Some(a), Some(b)) => (a.0, b.0),
        _ => (0, 0),
    };
    let span = (t1 - t0).max(1) as f64;
    let x = |t: i64| {
        if points.len() == 1 {
            LEFT + plot_w / 2.0
        } else {
            LEFT + (t - t0) as f64 / span * plot_w
        }
    };
    let y = |v: u32| TOP + plot_h - f64::from(v.min(100)) / 100.0 * plot_h;
    let path: Vec<String> = points
        .iter()
        .map(|(t, v)| format!("{},{}", n(x(*t)), n(y(*v))))
        .collect();
    let desc = match (points.first(), points.last()) {
        (Some(a), Some(b)) => format!(
            "{} runs from {} to {} UTC; latest score {}.",
            points.len(),
            utc_minute(a.0),
            utc_minute(b.0),
            b.1
        ),
        _ => "No runs yet.".to_string(),
    };
    html! {
        figure class="chart" {
            figcaption { (inert(title)) }
            svg xmlns="http://www.w3.org/2000/svg" viewBox={"0 0 " (W) " " (H)} role="img" aria-label=(inert(title)) {
                title { (inert(title)) }
                desc { (desc) }
                @for v in [0u32, 25, 50, 75, 100] {
                    line class="grid" x1=(n(LEFT)) x2=(n(W - RIGHT)) y1=(n(y(v))) y2=(n(y(v))) {}
                    text class="label" x=(n(LEFT - 6.0)) y=(n(y(v) + 4.0)) text-anchor="end" { (v) }
                }
                line class="axis" x1=(n(LEFT)) x2=(n(LEFT)) y1=(n(TOP)) y2=(n(TOP + plot_h)) {}
                line class="axis" x1=(n(LEFT)) x2=(n(W - RIGHT)) y1=(n(TOP + plot_h)) y2=(n(TOP + plot_h)) {}
                @if points.len() > 1 {
                    polyline class="line" points=(path.join(" ")) {}
                }
                @for (t, v) in points {
                    circle class="dot" cx=(n(x(*t))) cy=(n(y(*v))) r="3" {
                        title { (utc_minute(*t)) " UTC: " (v) }
                    }
                }
                @if let (Some(a), Some(b)) = (points.first(), points.last()) {
                    text class="label" x=(n(LEFT)) y=(n(H - 8.0)) { (utc_minute(a.0)) }
                    @if points.len() > 1 {
                        text class="label" x=(n(W - RIGHT)) y=(n(H - 8.0)) text-anchor="end" { (utc_minute(b.0)) }
                    }
                }
            }
            details {
                summary { "The data as a table" }
                table {
                    caption class="visually-hidden" { (inert(title)) }
                    thead { tr { th scope="col" { "Time (UTC)" } th scope="col" class="num" { "Score" } } }
                    tbody {
                        @for (t, v) in points {
                            tr { td { (utc_minute(*t)) } td class="num" { (v) } }
                        }
                    }
                }
            }
        }
    }
}

/// A small line of `values` (0-100, oldest first), for a table cell; the numbers in a
/// visually hidden table for screen readers.
pub fn sparkline(label: &str, values: &[u32]) -> Markup {
    const SW: f64 = 100.0;
    const SH: f64 = 20.0;
    let step = if values.len() > 1 {
        SW / (values.len() - 1) as f64
    } else {
        0.0
    };
    let pts: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{},{}",
                n(i as f64 * step),
                n(SH - 1.0 - f64::from((*v).min(100)) / 100.0 * (SH - 2.0))
            )
        })
        .collect();
    let last = values.last();
    html! {
        span class="sparkline" {
            svg xmlns="http://www.w3.org/2000/svg" viewBox={"0 0 " (SW) " " (SH)} role="img" aria-hidden="true" preserveAspectRatio="none" {
                @if values.len() > 1 {
                    polyline class="spark" points=(pts.join(" ")) {}
                } @else if !pts.is_empty() {
                    circle class="dot" cx=(n(SW / 2.0)) cy=(pts[0].split(',').nth(1).unwrap_or("10")) r="2" {}
                }
            }
            span class="visually-hidden" {
                (inert(label)) ": "
                @match last {
                    Some(l) => { (values.len()) " scores, latest " (l) ", lowest " (values.iter().min().copied().unwrap_or(0)) ", highest " (values.iter().max().copied().unwrap_or(0)) "." }
                    None => "no scores yet.",
                }
            }
        }
    }
}

/// One bar of a stacked chart: its label (an hour) and its parts as (series, count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    pub label: String,
    pub parts: Vec<(String, u64)>,
}

/// Bars stacked by series (deferrals per hour by code): the series ordered by their total,
/// the first [`COLOURS`]` - 1` in their own colour, a legend, and the table behind it.
pub fn stacked_bars(title: &str, unit: &str, bars: &[Bar]) -> Markup {
    // Series by total, biggest first; ties by name, so the colours are stable.
    let mut totals: Vec<(String, u64)> = Vec::new();
    for b in bars {
        for (s, c) in &b.parts {
            match totals.iter_mut().find(|(name, _)| name == s) {
                Some(t) => t.1 += c,
                None => totals.push((s.clone(), *c)),
            }
        }
    }
    totals.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let series: Vec<&str> = totals.iter().map(|(s, _)| s.as_str()).collect();
    let colour = |s: &str| {
        let i = series.iter().position(|x| *x == s).unwrap_or(COLOURS);
        format!("c{}", i.min(COLOURS))
    };
    let bar_total = |b: &Bar| b.parts.iter().map(|(_, c)| c).sum::<u64>();
    let top = nice_top(bars.iter().map(bar_total).max().unwrap_or(0));
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let slot = plot_w / bars.len().max(1) as f64;
    // A few hours must not make slabs: bars are at most 48 units wide, centred in their slot.
    let bw = (slot * 0.8).clamp(1.0, 48.0);
    let scale = |c: u64| c as f64 / top as f64 * plot_h;
    let mut ticks = vec![0, top / 4, top / 2, top * 3 / 4, top];
    ticks.dedup();
    // Each part's (series, count, top edge, height), stacked from the axis up.
    let stack = |b: &'_ Bar| {
        let mut base = TOP + plot_h;
        b.parts
            .iter()
            .map(|(s, c)| {
                let h = scale(*c);
                base -= h;
                (s.clone(), *c, base, h)
            })
            .collect::<Vec<_>>()
    };
    let desc = format!(
        "{} bars; {} in all; {}.",
        bars.len(),
        totals.iter().map(|(_, c)| c).sum::<u64>(),
        totals
            .iter()
            .take(5)
            .map(|(s, c)| format!("{} {c}", inert(s)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    html! {
        figure class="chart" {
            figcaption { (inert(title)) }
            svg xmlns="http://www.w3.org/2000/svg" viewBox={"0 0 " (W) " " (H)} role="img" aria-label=(inert(title)) {
                title { (inert(title)) }
                desc { (desc) }
                @for t in ticks {
                    @let ty = TOP + plot_h - scale(t);
                    line class="grid" x1=(n(LEFT)) x2=(n(W - RIGHT)) y1=(n(ty)) y2=(n(ty)) {}
                    text class="label" x=(n(LEFT - 6.0)) y=(n(ty + 4.0)) text-anchor="end" { (t) }
                }
                @for (i, b) in bars.iter().enumerate() {
                    @let x = LEFT + i as f64 * slot + (slot - bw) / 2.0;
                    g class="bar" {
                        title { (inert(&b.label)) ": " (bar_total(b)) " " (unit) }
                        @for (s, c, y, h) in stack(b) {
                            rect class=(colour(&s)) x=(n(x)) y=(n(y)) width=(n(bw)) height=(n(h)) {
                                title { (inert(&b.label)) ", " (inert(&s)) ": " (c) }
                            }
                        }
                    }
                    @if labelled(i, bars.len()) {
                        text class="label" x=(n(x + bw / 2.0)) y=(n(H - 8.0)) text-anchor="middle" { (inert(&b.label)) }
                    }
                }
                line class="axis" x1=(n(LEFT)) x2=(n(W - RIGHT)) y1=(n(TOP + plot_h)) y2=(n(TOP + plot_h)) {}
            }
            ul class="legend" {
                @for (s, c) in &totals {
                    li {
                        svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10" aria-hidden="true" { rect class=(colour(s)) width="10" height="10" {} }
                        " " (inert(s)) " (" (c) ")"
                    }
                }
            }
            details {
                summary { "The data as a table" }
                table {
                    caption class="visually-hidden" { (inert(title)) }
                    thead {
                        tr {
                            th scope="col" { "Hour" }
                            @for s in &series { th scope="col" class="num" { (inert(s)) } }
                            th scope="col" class="num" { "Total" }
                        }
                    }
                    tbody {
                        @for b in bars {
                            tr {
                                th scope="row" { (inert(&b.label)) }
                                @for s in &series {
                                    td class="num" { (b.parts.iter().filter(|(x, _)| x == s).map(|(_, c)| c).sum::<u64>()) }
                                }
                                td class="num" { (bar_total(b)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(hay: &str, needle: &str) -> usize {
        hay.matches(needle).count()
    }

    #[test]
    fn dates_are_utc_civil() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00");
        assert_eq!(utc_minute(1_794_564_000), "2026-11-13 10:00");
        assert_eq!(utc_minute(951_782_400), "2000-02-29 00:00");
    }

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice_top(0), 1);
        assert_eq!(nice_top(3), 5);
        assert_eq!(nice_top(11), 20);
        assert_eq!(nice_top(500), 500);
        assert_eq!(nice_top(501), 1000);
    }

    #[test]
    fn stacked_bars_stack_and_carry_their_table() {
        let bars = vec![
            Bar {
                label: "10:00".into(),
                parts: vec![("4.4.2".into(), 3), ("4.7.0".into(), 1)],
            },
            Bar {
                label: "11:00".into(),
                parts: vec![("4.4.2".into(), 2)],
            },
        ];
        let m = stacked_bars("Deferrals per hour", "deferrals", &bars).into_string();
        assert_eq!(count(&m, "<rect class=\"c"), 3 + 2, "{m}"); // 3 bar parts, 2 legend keys
        assert!(
            m.contains(r#"role="img" aria-label="Deferrals per hour""#),
            "{m}"
        );
        assert!(m.contains("<title>Deferrals per hour</title>"), "{m}");
        // 4.4.2 has the most: the first colour, and the first column.
        assert!(m.contains(r#"<rect class="c0""#));
        let table = &m[m.find("<table>").unwrap()..];
        assert_eq!(count(table, "<tr>"), 3, "{table}");
        assert!(table.contains(r#"<th scope="row">10:00</th><td class="num">3</td><td class="num">1</td><td class="num">4</td>"#), "{table}");
        // The tallest bar (4) fills the axis up to 5.
        assert!(m.contains(">5</text>"), "{m}");
    }

    #[test]
    fn labels_are_escaped_and_bidi_shown_inert() {
        let bars = vec![Bar {
            label: "<script>alert(1)</script>".into(),
            parts: vec![("\"x\u{202e}y".into(), 1)],
        }];
        let m = stacked_bars("<b>t</b>", "deferrals", &bars).into_string();
        assert!(!m.contains("<script>") && !m.contains("<b>"), "{m}");
        assert!(m.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{m}");
        assert!(!m.contains('\u{202e}') && m.contains("\\u{202e}"), "{m}");
        assert!(m.contains("&quot;x"), "{m}");
        let l = score_line("<i>", &[(0, 50)]).into_string();
        assert!(!l.contains("<i>") && l.contains("&lt;i&gt;"), "{l}");
        let s = sparkline("\u{202e}evil", &[1, 2]).into_string();
        assert!(!s.contains('\u{202e}'), "{s}");
    }

    #[test]
    fn a_score_line_plots_every_run_in_time() {
        let m = score_line("Score", &[(0, 100), (3600, 40), (7200, 0)]).into_string();
        assert_eq!(count(&m, "<circle"), 3, "{m}");
        assert!(
            m.contains(r#"<polyline class="line" points="44,12 376,132 708,212">"#),
            "{m}"
        );
        assert_eq!(count(&m, "<tr>"), 4);
        let empty = score_line("Score", &[]).into_string();
        assert!(
            empty.contains("No runs yet.") && !empty.contains("<circle"),
            "{empty}"
        );
    }

    #[test]
    fn a_sparkline_says_its_numbers() {
        let m = sparkline("example.test", &[100, 60, 80]).into_string();
        assert!(
            m.contains("3 scores, latest 80, lowest 60, highest 100."),
            "{m}"
        );
        assert!(m.contains(r#"points="0,1 50,8.2 100,4.6""#), "{m}");
    }
}
