//! A diagnose report as HTML, from its `--json` document: what `mxray diagnose -v` prints
//! (verdict, score by area, hosts, findings by area with evidence and fixes, the records to
//! publish) plus each MX's SMTP transcript and the records found.
//!
//! It reads the JSON document rather than the `Report` type so one renderer serves both the
//! one-off diagnosis (a fresh report, serialized) and a monitor's latest report (stored as that
//! document, and the only copy after a restart). Unknown or missing fields render as absent.

use maud::{Markup, html};
use mxray_diagnose::Area;
use serde_json::Value;

use super::inert;

/// What a corrected-record fix opens with (`sender::fix::publish_text`): the lines after it are
/// zone-file records (and files to serve) to publish.
const PUBLISH: &str = "Publish instead:";

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
}

/// CSS class of a verdict (colour; the word is always shown too).
fn overall_class(o: &str) -> &'static str {
    match o {
        "deliverable_path" => "v-deliverable",
        "degraded" => "v-degraded",
        "broken" => "v-broken",
        _ => "v-inconclusive",
    }
}

/// Worst first, as the CLI lists them.
fn rank(s: &str) -> u8 {
    match s {
        "fail" => 0,
        "warn" => 1,
        "info" => 2,
        _ => 3,
    }
}

/// A severity as the class suffix it may be (outside data never becomes a class name).
fn severity(s: &str) -> &'static str {
    match s {
        "fail" => "fail",
        "warn" => "warn",
        "pass" => "pass",
        _ => "info",
    }
}

/// Lines of outside text, each made inert, one per line (for a `<pre>`).
fn lines<S: AsRef<str>>(v: &[S]) -> String {
    v.iter()
        .map(|l| inert(l.as_ref()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A fix split into its advice and the records it says to publish (zone lines, de-indented).
pub fn split_fix(fix: &str) -> (&str, Vec<&str>) {
    match fix.split_once(PUBLISH) {
        Some((advice, records)) => (
            advice.trim_end(),
            records
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect(),
        ),
        None => (fix, Vec::new()),
    }
}

/// The whole report (a `diagnose --json` document); its sections open with `<h2>` (the page
/// has the `<h1>`).
pub fn render(doc: &Value) -> Markup {
    let v = doc.get("verdict").unwrap_or(&Value::Null);
    let overall = str_of(v, "overall");
    let side = str_of(v, "side");
    html! {
        section class="report" aria-label="Diagnosis report" {
            div class="summary" {
                div {
                    span class={"badge " (overall_class(overall))} { (inert(overall)) }
                    @if !side.is_empty() && side != "none" {
                        " " span class="muted" { "likely side: " (inert(side)) }
                    }
                }
                div class="score" {
                    (doc.pointer("/score/overall").and_then(Value::as_u64).unwrap_or(0))
                    small { " / 100" }
                }
                p { strong { (inert(str_of(doc, "target"))) } ": " (inert(str_of(v, "summary"))) }
            }
            (to_publish(doc))
            (scores(doc))
            @if !list(v, "hosts").is_empty() {
                h2 { "Mail exchangers" }
                table {
                    thead { tr { th scope="col" { "Host" } th scope="col" { "State" } th scope="col" { "First failure" } } }
                    tbody {
                        @for h in list(v, "hosts") {
                            @let (state, css) = match str_of(h, "state") {
                                "up" => ("up", "sev-pass"),
                                "down" => ("down", "sev-fail"),
                                _ => ("inconclusive", "sev-warn"),
                            };
                            tr {
                                td { (inert(str_of(h, "host"))) }
                                td class=(css) { (state) }
                                td {
                                    @match h.get("first_failure").and_then(Value::as_str) {
                                        Some(f) => code { (inert(f)) },
                                        None => "—",
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (findings(doc))
            @if let Some(obs) = doc.get("observations").filter(|o| o.is_object()) {
                (transcripts(obs))
                (records(obs))
            }
        }
    }
}

/// The records the findings' fixes say to publish, first and whole: the answer to "what do I
/// change", copied from here into the zone.
fn to_publish(doc: &Value) -> Markup {
    let mut shown: Vec<(&str, Vec<&str>)> = Vec::new();
    for f in list(doc, "findings") {
        let (_, recs) = split_fix(str_of(f, "fix"));
        if !recs.is_empty() && !shown.iter().any(|(_, r)| *r == recs) {
            shown.push((str_of(f, "title"), recs));
        }
    }
    html! {
        @if !shown.is_empty() {
            section class="publish" aria-labelledby="h-publish" {
                h2 id="h-publish" { "Records to publish" }
                @for (title, recs) in &shown {
                    p { "For: " (inert(title)) }
                    pre class="record" { (lines(recs)) }
                }
            }
        }
    }
}

/// The score of each area, with what cost points.
fn scores(doc: &Value) -> Markup {
    html! {
        h2 { "Score by area" }
        table {
            thead { tr { th scope="col" { "Area" } th scope="col" class="num" { "Score" } th scope="col" class="num" { "Weight" } th scope="col" { "Cost points" } } }
            tbody {
                @for a in doc.pointer("/score/areas").and_then(Value::as_array).map_or(&[][..], Vec::as_slice) {
                    tr {
                        th scope="row" { (inert(str_of(a, "area"))) }
                        td class="num" {
                            @match a.get("score").and_then(Value::as_u64) {
                                Some(s) => (s),
                                None => "not checked",
                            }
                        }
                        td class="num" { (a.get("weight").and_then(Value::as_u64).unwrap_or(0)) }
                        td {
                            @for (i, p) in list(a, "penalties").iter().enumerate() {
                                @if i > 0 { ", " }
                                code { (inert(p.as_str().unwrap_or_default())) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Findings grouped by area (the area their topic counts in), worst first; passes folded.
fn findings(doc: &Value) -> Markup {
    let area_of = |id: &str| mxray_diagnose::topic_of(id).map(|t| t.area);
    let mut groups: Vec<(Option<Area>, Vec<&Value>)> = Area::ALL
        .iter()
        .map(|a| (Some(*a), Vec::new()))
        .chain(std::iter::once((None, Vec::new())))
        .collect();
    for f in list(doc, "findings") {
        let a = area_of(str_of(f, "id"));
        if let Some(g) = groups.iter_mut().find(|(x, _)| *x == a) {
            g.1.push(f);
        }
    }
    for g in &mut groups {
        g.1.sort_by_key(|f| rank(str_of(f, "severity")));
    }
    html! {
        h2 { "Findings" }
        @for (area, fs) in groups {
            @if !fs.is_empty() {
                @let passed: Vec<&&Value> = fs.iter().filter(|f| str_of(f, "severity") == "pass").collect();
                h3 { (area.map_or("other", Area::as_str)) }
                @for f in fs.iter().filter(|f| str_of(f, "severity") != "pass") {
                    (finding(f, str_of(f, "severity") != "info"))
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

/// One finding: severity, id and title; detail, fix (its records in their own block) and
/// evidence inside.
fn finding(f: &Value, open: bool) -> Markup {
    let sev = severity(str_of(f, "severity"));
    let evidence: Vec<&str> = list(f, "evidence")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    html! {
        details class={"finding " (sev)} open[open] {
            summary {
                span class={"badge sev-" (sev)} { (sev) } " "
                (inert(str_of(f, "title"))) " "
                span class="id" { (inert(str_of(f, "id"))) }
            }
            @if let Some(h) = f.get("host").and_then(Value::as_str) { p class="muted" { "Host: " (inert(h)) } }
            @let detail = str_of(f, "detail");
            @if !detail.is_empty() { p { (inert(detail)) } }
            @if let Some(fix) = f.get("fix").and_then(Value::as_str).filter(|x| !x.is_empty()) {
                @let (advice, recs) = split_fix(fix);
                div class="fix" {
                    @let fl: Vec<&str> = advice.lines().collect();
                    @if !advice.is_empty() {
                        strong { "Fix: " }
                        @if fl.len() <= 1 { (inert(advice)) } @else { pre { (lines(&fl)) } }
                    }
                    @if !recs.is_empty() {
                        p { strong { "Publish instead:" } }
                        pre class="record" { (lines(&recs)) }
                    }
                }
            }
            @if !evidence.is_empty() {
                p class="muted" { "Evidence" }
                pre class="evidence" { (lines(&evidence)) }
            }
        }
    }
}

/// `name (MX 10)`, as the CLI labels a host.
fn host_label(h: &Value) -> String {
    match h.get("preference").and_then(Value::as_u64) {
        Some(p) => format!("{} (MX {p})", str_of(h, "name")),
        None => format!("{} (implicit MX)", str_of(h, "name")),
    }
}

/// The SMTP transcript of each address of each MX host.
fn transcripts(obs: &Value) -> Markup {
    let hosts = list(obs, "hosts");
    let any = hosts.iter().any(|h| {
        list(h, "addrs")
            .iter()
            .any(|a| !list(a, "transcript").is_empty())
    });
    html! {
        @if any {
            h2 { "SMTP transcripts" }
            @for h in hosts {
                @for a in list(h, "addrs") {
                    @let t: Vec<&str> = list(a, "transcript").iter().filter_map(Value::as_str).collect();
                    @if !t.is_empty() {
                        h3 { (inert(&host_label(h))) " — " (inert(str_of(a, "addr"))) }
                        pre class="transcript" { (lines(&t)) }
                    }
                }
            }
        }
    }
}

/// A DNS answer's outcome in words.
fn outcome(o: &Value) -> String {
    match str_of(o, "kind") {
        "answer" => "answer".into(),
        "no_data" => "no data".into(),
        "nx_domain" => "NXDOMAIN".into(),
        "serv_fail" => "SERVFAIL".into(),
        "refused" => "REFUSED".into(),
        "timeout" => "timeout".into(),
        _ => format!("error: {}", str_of(o, "message")),
    }
}

/// A record as its zone-file line (`DnsRecord::to_line`).
fn record_line(r: &Value) -> String {
    let owner = str_of(r, "owner");
    match str_of(r, "type") {
        "a" => format!("{owner} A {}", str_of(r, "addr")),
        "aaaa" => format!("{owner} AAAA {}", str_of(r, "addr")),
        "mx" => format!(
            "{owner} MX {} {}",
            r.get("preference").and_then(Value::as_u64).unwrap_or(0),
            str_of(r, "exchange")
        ),
        "txt" => format!("{owner} TXT {:?}", str_of(r, "text")),
        "cname" => format!("{owner} CNAME {}", str_of(r, "target")),
        "ptr" => format!("{owner} PTR {}", str_of(r, "target")),
        _ => format!("{owner} {} {}", str_of(r, "rtype"), str_of(r, "data")),
    }
}

/// A recorded DNS query (`DnsAnswer`'s shape).
fn is_answer(v: &Value) -> bool {
    ["name", "rtype", "outcome", "records"]
        .iter()
        .all(|k| v.get(k).is_some())
}

/// Every DNS answer in `v`, depth first; a DKIM sweep's empty answers (selectors guessed and
/// not found) are left out, as the CLI leaves them out.
fn collect<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(_) if is_answer(v) => out.push(v),
        Value::Object(m) => {
            let swept = m.get("given") == Some(&Value::Bool(false))
                && m.get("answer")
                    .is_some_and(|a| list(a, "records").is_empty());
            if swept {
                return;
            }
            for x in m.values() {
                collect(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
        _ => {}
    }
}

/// Every DNS answer the report rests on: the MX question and the hosts' first, then the
/// sender side's records.
pub fn answers(obs: &Value) -> Vec<&Value> {
    let mut v = Vec::new();
    for key in ["mx", "mx_cd", "implicit", "hosts", "sender"] {
        if let Some(x) = obs.get(key) {
            collect(x, &mut v);
        }
    }
    v
}

/// The records found, one row per question.
fn records(obs: &Value) -> Markup {
    html! {
        h2 { "Records found" }
        table class="records" {
            thead { tr { th scope="col" { "Name" } th scope="col" { "Type" } th scope="col" { "Outcome" } th scope="col" { "Records" } } }
            tbody {
                @for a in answers(obs) {
                    tr {
                        td { (inert(str_of(a, "name"))) }
                        td { (inert(str_of(a, "rtype"))) }
                        td { (inert(&outcome(a.get("outcome").unwrap_or(&Value::Null)))) }
                        td {
                            @let rs: Vec<String> = list(a, "records").iter().map(record_line).collect();
                            @if !rs.is_empty() { pre { (lines(&rs)) } }
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
    use mxray_core::{Finding, Severity};
    use mxray_diagnose::Report;
    use mxray_diagnose::recipient::smtp::BANNER_4XX;

    fn report(findings: Vec<Finding>) -> Value {
        let r = Report {
            target: "example.test".into(),
            normalized: None,
            verdict: mxray_diagnose::verdict::verdict(None, &findings),
            score: mxray_diagnose::score::score(&findings, mxray_diagnose::Areas::all()),
            findings,
            observations: None,
        };
        serde_json::to_value(mxray_core::Document::new(&r)).expect("a report serializes")
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
                .fix("Ask the host's operator\nthen wait")
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
        // A multi-line fix keeps its lines.
        assert!(
            m.contains("<pre>Ask the host's operator\nthen wait</pre>"),
            "{m}"
        );
        // Passes are folded under their area.
        assert!(m.contains("<summary>1 passed</summary>"), "{m}");
        let score = r["score"]["overall"].as_u64().expect("score");
        assert!(m.contains(&format!("{score}<small> / 100</small>")), "{m}");
        assert!(!m.contains("Records to publish"), "nothing to publish: {m}");
    }

    #[test]
    fn a_corrected_record_is_shown_whole_and_first() {
        let fix = "Merge them into one record\nPublish instead:\n  example.test. 3600 IN TXT \"v=spf1 mx include:_spf.example.net ~all\"";
        let r = report(vec![
            Finding::new("spf.multiple", Severity::Fail, "Two SPF records").fix(fix),
        ]);
        let m = render(&r).into_string();
        let record = "<pre class=\"record\">example.test. 3600 IN TXT &quot;v=spf1 mx include:_spf.example.net ~all&quot;</pre>";
        let publish = m.find("Records to publish").expect("the records section");
        let first = m.find(record).expect("the record, de-indented");
        assert!(
            publish < first && first < m.find("Score by area").expect("scores"),
            "{m}"
        );
        assert_eq!(
            m.matches(record).count(),
            2,
            "at the top and in its finding: {m}"
        );
        assert!(
            m.contains("<strong>Fix: </strong>Merge them into one record"),
            "{m}"
        );
    }

    #[test]
    fn answers_are_read_from_the_observations_without_the_dkim_sweep() {
        let obs = serde_json::json!({
            "mx": {"name": "example.test", "rtype": "MX", "outcome": {"kind": "answer"}, "elapsed_ms": 1,
                   "records": [{"type": "mx", "owner": "example.test", "preference": 10, "exchange": "mx.example.test"}]},
            "hosts": [{"name": "mx.example.test", "preference": 10,
                       "a": {"name": "mx.example.test", "rtype": "A", "outcome": {"kind": "answer"}, "elapsed_ms": 1,
                             "records": [{"type": "a", "owner": "mx.example.test", "addr": "192.0.2.1"}]},
                       "addrs": [{"addr": "192.0.2.1", "transcript": ["S: 220 <hi>"]}]}],
            "sender": {"dkim": [
                {"selector": "s1", "given": false, "answer": {"name": "s1._domainkey.example.test", "rtype": "TXT", "outcome": {"kind": "nx_domain"}, "records": [], "elapsed_ms": 1}},
                {"selector": "s2", "given": true, "answer": {"name": "s2._domainkey.example.test", "rtype": "TXT", "outcome": {"kind": "nx_domain"}, "records": [], "elapsed_ms": 1}}
            ]}
        });
        let names: Vec<&str> = answers(&obs).iter().map(|a| str_of(a, "name")).collect();
        assert_eq!(
            names,
            [
                "example.test",
                "mx.example.test",
                "s2._domainkey.example.test"
            ]
        );
        let m = transcripts(&obs).into_string();
        assert!(m.contains("mx.example.test (MX 10) — 192.0.2.1"), "{m}");
        assert!(m.contains("S: 220 &lt;hi&gt;"), "{m}");
        assert_eq!(
            record_line(&obs["mx"]["records"][0]),
            "example.test MX 10 mx.example.test"
        );
    }
}
