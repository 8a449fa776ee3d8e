//! A diagnose `Report` as HTML: what `mxray diagnose -v` prints (verdict, score by area, hosts,
//! findings by area with evidence and fixes) plus each MX's SMTP transcript and the records found.

use maud::{Markup, html};
use mxray_core::Severity;
use mxray_core::dns::{DnsAnswer, DnsOutcome};
use mxray_diagnose::{Area, HostState, Observations, Overall, Report};

use super::inert;

/// CSS class of a verdict (colour; the word is always shown too).
fn overall_class(o: Overall) -> &'static str {
    match o {
        Overall::DeliverablePath => "v-deliverable",
        Overall::Degraded => "v-degraded",
        Overall::Broken => "v-broken",
        Overall::Inconclusive => "v-inconclusive",
    }
}

/// Worst first, as the CLI lists them.
fn rank(s: Severity) -> u8 {
    match s {
        Severity::Fail => 0,
        Severity::Warn => 1,
        Severity::Info => 2,
        Severity::Pass => 3,
    }
}

/// Lines of outside text, each made inert, one per line (for a `<pre>`).
fn lines<S: AsRef<str>>(v: &[S]) -> String {
    v.iter()
        .map(|l| inert(l.as_ref()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The whole report; its sections open with `<h2>` (the page has the `<h1>`).
pub fn render(r: &Report) -> Markup {
    let v = &r.verdict;
    html! {
        section class="report" aria-label="Diagnosis report" {
            div class="summary" {
                div {
                    span class={"badge " (overall_class(v.overall))} { (v.overall.as_str()) }
                    @if v.side != mxray_core::Side::None {
                        " " span class="muted" { "likely side: " (v.side.label()) }
                    }
                }
                div class="score" { (r.score.overall) small { " / 100" } }
                p { strong { (inert(&r.target)) } ": " (inert(&v.summary)) }
            }
            (scores(r))
            @if !v.hosts.is_empty() {
                h2 { "Mail exchangers" }
                table {
                    thead { tr { th scope="col" { "Host" } th scope="col" { "State" } th scope="col" { "First failure" } } }
                    tbody {
                        @for h in &v.hosts {
                            @let (state, css) = match h.state {
                                HostState::Up => ("up", "sev-pass"),
                                HostState::Down => ("down", "sev-fail"),
                                HostState::Inconclusive => ("inconclusive", "sev-warn"),
                            };
                            tr {
                                td { (inert(&h.host)) }
                                td class=(css) { (state) }
                                td { @if let Some(f) = h.first_failure { code { (f) } } @else { "—" } }
                            }
                        }
                    }
                }
            }
            (findings(r))
            @if let Some(obs) = &r.observations {
                (transcripts(obs))
                (records(obs))
            }
        }
    }
}

/// The score of each area, with what cost points.
fn scores(r: &Report) -> Markup {
    html! {
        h2 { "Score by area" }
        table {
            thead { tr { th scope="col" { "Area" } th scope="col" class="num" { "Score" } th scope="col" class="num" { "Weight" } th scope="col" { "Cost points" } } }
            tbody {
                @for a in &r.score.areas {
                    tr {
                        th scope="row" { (a.area.as_str()) }
                        td class="num" { @match a.score { Some(s) => (s), None => "not checked" } }
                        td class="num" { (a.weight) }
                        td { @for (i, p) in a.penalties.iter().enumerate() { @if i > 0 { ", " } code { (inert(p)) } } }
                    }
                }
            }
        }
    }
}

/// Findings grouped by area (the area their topic counts in), worst first; passes folded.
fn findings(r: &Report) -> Markup {
    let area_of = |id: &str| mxray_diagnose::topic_of(id).map(|t| t.area);
    let mut groups: Vec<(Option<Area>, Vec<&mxray_core::Finding>)> = Area::ALL
        .iter()
        .map(|a| (Some(*a), Vec::new()))
        .chain(std::iter::once((None, Vec::new())))
        .collect();
    for f in &r.findings {
        let a = area_of(f.id);
        if let Some(g) = groups.iter_mut().find(|(x, _)| *x == a) {
            g.1.push(f);
        }
    }
    for g in &mut groups {
        g.1.sort_by_key(|f| rank(f.severity));
    }
    html! {
        h2 { "Findings" }
        @for (area, list) in groups {
            @if !list.is_empty() {
                @let passed: Vec<_> = list.iter().filter(|f| f.severity == Severity::Pass).collect();
                h3 { (area.map_or("other", Area::as_str)) }
                @for f in list.iter().filter(|f| f.severity != Severity::Pass) {
                    (finding(f, f.severity != Severity::Info))
                }
                @if !passed.is_empty() {
                    details class="passed" {
                        summary { (passed.len()) " passed" }
                        @for f in passed { (finding(f, false)) }
                    }
                }
            }
        }
    }
}

/// One finding: severity, id and title; detail, fix and evidence inside.
fn finding(f: &mxray_core::Finding, open: bool) -> Markup {
    let sev = f.severity.as_str();
    html! {
        details class={"finding " (sev)} open[open] {
            summary {
                span class={"badge sev-" (sev)} { (sev) } " "
                (inert(&f.title)) " "
                span class="id" { (f.id) }
            }
            @if let Some(h) = &f.host { p class="muted" { "Host: " (inert(h)) } }
            @if !f.detail.is_empty() { p { (inert(&f.detail)) } }
            @if let Some(fix) = &f.fix {
                div class="fix" {
                    strong { "Fix: " }
                    @let fl: Vec<&str> = fix.lines().collect();
                    @if fl.len() <= 1 { (inert(fix)) } @else { pre { (lines(&fl)) } }
                }
            }
            @if !f.evidence.is_empty() {
                p class="muted" { "Evidence" }
                pre class="evidence" { (lines(&f.evidence)) }
            }
        }
    }
}

/// The SMTP transcript of each address of each MX host.
fn transcripts(obs: &Observations) -> Markup {
    let any = obs
        .hosts
        .iter()
        .any(|h| h.addrs.iter().any(|a| !a.transcript.is_empty()));
    html! {
        @if any {
            h2 { "SMTP transcripts" }
            @for h in &obs.hosts {
                @for a in &h.addrs {
                    @if !a.transcript.is_empty() {
                        h3 { (inert(&h.label())) " — " (a.addr) }
                        pre class="transcript" { (lines(&a.transcript)) }
                    }
                }
            }
        }
    }
}

fn outcome(o: &DnsOutcome) -> String {
    match o {
        DnsOutcome::Answer => "answer".into(),
        DnsOutcome::NoData => "no data".into(),
        DnsOutcome::NxDomain => "NXDOMAIN".into(),
        DnsOutcome::ServFail => "SERVFAIL".into(),
        DnsOutcome::Refused => "REFUSED".into(),
        DnsOutcome::Timeout => "timeout".into(),
        DnsOutcome::Error(e) => format!("error: {}", inert(e)),
    }
}

/// Every DNS answer the report rests on, in the order the checks asked: MX, the hosts' names
/// and addresses, then the sender side's records (DKIM selectors only where a key was found
/// or one was given).
pub fn answers(obs: &Observations) -> Vec<&DnsAnswer> {
    let mut v: Vec<&DnsAnswer> = vec![&obs.mx];
    v.extend(obs.mx_cd.iter());
    if let Some(imp) = &obs.implicit {
        v.extend(imp.iter());
    }
    for h in &obs.hosts {
        v.extend([&h.cname, &h.a, &h.aaaa].into_iter().flatten());
        for a in &h.addrs {
            v.extend(a.ptr.iter());
        }
    }
    if let Some(s) = &obs.sender {
        let mut stack: Vec<&mxray_diagnose::sender::spf::SpfNode> = s.spf.iter().collect();
        while let Some(n) = stack.pop() {
            v.push(&n.txt);
            stack.extend(n.children.iter().rev());
        }
        if let Some(d) = &s.dmarc {
            v.push(&d.answer);
            v.extend(d.org.iter().map(|(_, a)| a));
            v.extend(d.report_auth.iter().map(|(_, a)| a));
        }
        for k in &s.dkim {
            if k.given || !k.answer.records.is_empty() {
                v.push(&k.answer);
            }
        }
        v.extend(s.mta_sts.iter().map(|m| &m.txt));
        v.extend(s.tlsrpt.iter());
        v.extend(s.bimi.iter());
        v.extend(s.dane.iter().map(|d| &d.tlsa));
    }
    v
}

/// The records found, one row per question.
fn records(obs: &Observations) -> Markup {
    html! {
        h2 { "Records found" }
        table class="records" {
            thead { tr { th scope="col" { "Name" } th scope="col" { "Type" } th scope="col" { "Outcome" } th scope="col" { "Records" } } }
            tbody {
                @for a in answers(obs) {
                    tr {
                        td { (inert(&a.name)) }
                        td { (a.rtype.as_str()) }
                        td { (outcome(&a.outcome)) }
                        td {
                            @if !a.records.is_empty() {
                                pre { (lines(&a.records.iter().map(|r| r.to_line()).collect::<Vec<_>>())) }
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
    use mxray_core::Finding;
    use mxray_diagnose::recipient::smtp::BANNER_4XX;

    fn report(findings: Vec<Finding>) -> Report {
        Report {
            target: "example.test".into(),
            normalized: None,
            verdict: mxray_diagnose::verdict::verdict(None, &findings),
            score: mxray_diagnose::score::score(&findings, mxray_diagnose::Areas::all()),
            findings,
            observations: None,
        }
    }

    #[test]
    fn findings_are_grouped_by_area_worst_first_with_evidence_and_fix() {
        let r = report(vec![
            Finding::new(
                mxray_diagnose::recipient::mx::PRESENT,
                Severity::Pass,
                "MX records found",
            ),
            Finding::new(BANNER_4XX, Severity::Fail, "The banner says 421")
                .detail("mx.example.test answered 421 at once")
                .evidence(["S: 421 4.7.0 <b>busy</b> \u{202e}txt"])
                .fix("Ask the host's operator\nv=spf1 mx -all")
                .host("mx.example.test"),
        ]);
        let m = render(&r).into_string();
        let transport = m.find("<h3>transport</h3>").expect("transport group");
        let fail = m.find("</span> The banner says 421").expect("the failure");
        assert!(transport < fail, "{m}");
        assert!(m.contains(r#"<details class="finding fail" open>"#), "{m}");
        // Evidence is outside text: escaped, bidi shown.
        assert!(
            m.contains("S: 421 4.7.0 &lt;b&gt;busy&lt;/b&gt; \\u{202e}txt"),
            "{m}"
        );
        assert!(!m.contains('\u{202e}'));
        // A multi-line fix keeps its lines (a record to publish).
        assert!(
            m.contains("<pre>Ask the host's operator\nv=spf1 mx -all</pre>"),
            "{m}"
        );
        // Passes are folded under their area.
        assert!(m.contains("<summary>1 passed</summary>"), "{m}");
        assert!(
            m.contains(&format!("{}<small> / 100</small>", r.score.overall)),
            "{m}"
        );
    }
}
