//! SPF judged: pure functions from the recorded tree and evaluation to findings (missing,
//! multiple, syntax, include loops, lookup and void limits, permissive all, ptr, sender IP).

use mxray_core::{Finding, Severity, escape_text};
use mxray_net::DnsOutcome;

use super::observe::{
    MAX_MX_NAMES, MAX_NODES, MAX_TERM_LOOKUPS, MAX_WALK_BYTES, MAX_WALK_QUERIES, SpfNode,
};
use super::record::{MAX_LOOKUPS, MAX_VOID, Qualifier, SpfSyntaxError, Term};
use super::{SpfEvaluation, SpfVerdict};
use crate::sender::{SenderObs, outcome_word};

fn esc_all(v: &[String]) -> Vec<String> {
    v.iter().map(|s| escape_text(s)).collect()
}

/// Every SPF finding for the sender observations.
pub fn findings(s: &SenderObs) -> Vec<Finding> {
    let mut f = Vec::new();
    let Some(root) = &s.spf else { return f };
    let d = &s.domain;
    let ev = root.txt.evidence();
    match &root.txt.outcome {
        DnsOutcome::Answer | DnsOutcome::NoData | DnsOutcome::NxDomain => {}
        other => {
            f.push(
                Finding::new(
                    super::DNS_ERROR,
                    Severity::Warn,
                    format!("The TXT lookup for {d} failed ({})", outcome_word(other)),
                )
                .detail("Receivers get a temperror and defer or treat the mail as unauthenticated.")
                .evidence(ev)
                .fix(format!("dig TXT {d}; check the domain's name servers")),
            );
            return f;
        }
    }
    if root.records.is_empty() {
        let extra = if root.sender_id.is_empty() {
            String::new()
        } else {
            " Only an spf2.0 (Sender ID) record is published: SPF ignores it.".to_string()
        };
        f.push(
            Finding::new(super::MISSING, Severity::Fail, format!("{d} publishes no SPF record"))
                .detail(format!("No TXT record starts with v=spf1, so receivers get SPF none: Gmail and Yahoo require SPF or DKIM for all senders, and DMARC cannot pass through SPF.{extra}"))
                .evidence(ev)
                .fix(format!("Publish one TXT record at {d}: \"v=spf1 mx -all\" (list every service that sends for the domain)")),
        );
        return f;
    }
    if root.records.len() > 1 {
        f.push(
            Finding::new(super::MULTIPLE, Severity::Fail, format!("{d} publishes {} SPF records", root.records.len()))
                .detail("RFC 7208 4.5: more than one v=spf1 record is a permerror: receivers treat the domain as having a broken policy.")
                .evidence(ev)
                .fix("Merge them into one record (one v=spf1, all mechanisms, one all)"),
        );
        return f;
    }
    if !root.sender_id.is_empty() {
        f.push(
            Finding::new(super::SENDER_ID, Severity::Info, "An spf2.0 (Sender ID) record is published too")
                .detail("Sender ID is obsolete (RFC 4406, historic); nothing reads it. Harmless, but it can be removed.")
                .evidence(esc_all(&root.sender_id)),
        );
    }
    let mut broken = false;
    for (_, n) in root.flatten() {
        let where_ = if n.via.is_empty() {
            d.clone()
        } else {
            n.via.clone()
        };
        if let Some(l) = &n.loop_to {
            broken = true;
            f.push(
                Finding::new(super::LOOP, Severity::Fail, format!("SPF include loop: {where_} leads back to {l}"))
                    .detail("An include or redirect names a record already being evaluated: receivers stop with permerror.")
                    .evidence(root.chain_lines())
                    .fix(format!("Remove the {where_} term")),
            );
            continue;
        }
        if n.not_followed.is_some() || n.via.is_empty() {
            if let Some(Err(e)) = &n.terms {
                broken = true;
                f.push(syntax(&where_, e, &n.records));
            }
            continue;
        }
        match (&n.terms, n.records.len()) {
            (Some(Err(e)), _) => {
                broken = true;
                f.push(syntax(&where_, e, &n.records));
            }
            (_, 0) => {
                broken = true;
                f.push(
                    Finding::new(super::INCLUDE_MISSING, Severity::Fail, format!("{where_} has no SPF record ({})", outcome_word(&n.txt.outcome)))
                        .detail("RFC 7208 5.2: an include (or redirect) whose target publishes no SPF record is a permerror for every message.")
                        .evidence(n.txt.evidence())
                        .fix(format!("Fix or remove {where_} (a provider's include name may have changed)")),
                );
            }
            (_, k) if k > 1 => {
                broken = true;
                f.push(
                    Finding::new(
                        super::MULTIPLE,
                        Severity::Fail,
                        format!("{where_} publishes {k} SPF records"),
                    )
                    .detail("More than one v=spf1 record at an included name is a permerror.")
                    .evidence(n.txt.evidence()),
                );
            }
            _ => {}
        }
    }
    let record = &root.records[0];
    if record.len() > 255 {
        let over = record.len() > 512;
        f.push(
            Finding::new(super::TOO_LONG, if over { Severity::Warn } else { Severity::Info }, format!("The SPF record is {} bytes long", record.len()))
                .detail(if over {
                    "Over 512 bytes: RFC 7208 3.4 asks to keep the answer under 512 so it fits one UDP packet; large answers need TCP, which some receivers do not try.".to_string()
                } else {
                    "Over 255 bytes: it must be published as several strings of at most 255 (joined with no space), which some DNS hosting panels get wrong.".to_string()
                })
                .evidence([escape_text(record)])
                .fix("Replace ip4 lists by an include or flatten ranges into CIDR blocks"),
        );
    }
    let lookups = root.total_lookups();
    if lookups > MAX_LOOKUPS {
        f.push(
            Finding::new(super::TOO_MANY_LOOKUPS, Severity::Fail, format!("SPF needs {lookups} DNS lookups (limit {MAX_LOOKUPS})"))
                .detail("RFC 7208 4.6.4: more than 10 include/a/mx/ptr/exists/redirect terms across all included records is a permerror; receivers treat the mail as failing SPF. The chain, with counts per record:")
                .evidence(root.chain_lines())
                .fix("Remove includes of services you no longer use, replace a/mx by ip4/ip6, or split senders across subdomains"),
        );
    }
    let stops = walk_stops(root);
    if !stops.is_empty() {
        let shown = stops.len().min(MAX_STOPS_SHOWN);
        let mut ev: Vec<String> = stops[..shown].iter().map(|x| escape_text(x)).collect();
        if stops.len() > shown {
            ev.push(format!("... and {} more", stops.len() - shown));
        }
        f.push(
            Finding::new(super::WALK_LIMITED, Severity::Warn, format!("The SPF tree is bigger than mxray walks: {} lookup(s) not made", stops.len()))
                .detail(format!("The walk stops at bounds no conforming tree reaches (at most {MAX_TERM_LOOKUPS} a/mx/exists lookups per record, {MAX_MX_NAMES} exchanges per mx, {MAX_NODES} records, {MAX_WALK_QUERIES} DNS queries, {} KiB of answers): a tree this large can only be a mistake or an attack on receivers, which stop after {MAX_LOOKUPS} lookups. Counts of void lookups and authorised addresses are lower bounds.", MAX_WALK_BYTES / 1024))
                .evidence(ev)
                .fix("Flatten the record: fewer mx/a/include terms (RFC 7208 4.6.4 allows 10 lookups in all)"),
        );
    }
    let void = root.total_void();
    if void > MAX_VOID {
        f.push(
            Finding::new(super::VOID_LOOKUPS, Severity::Fail, format!("SPF makes {void} void lookups (limit {MAX_VOID})"))
                .detail("RFC 7208 4.6.4: lookups that return NXDOMAIN or no records count as void; more than 2 is a permerror in conforming receivers.")
                .evidence(root.chain_lines())
                .fix("Remove the a/mx/include terms that point at names with no records"),
        );
    }
    let terms = root.terms();
    let all = terms.iter().find_map(|t| match t {
        Term::All { q } => Some(*q),
        _ => None,
    });
    let redirect = terms.iter().any(|t| matches!(t, Term::Redirect { .. }));
    match all {
        Some(Qualifier::Pass) => f.push(
            Finding::new(super::PERMISSIVE_ALL, Severity::Fail, "The SPF record ends in +all: every host on the internet may send as the domain")
                .detail("+all authorises any IP address, which makes SPF meaningless and invites spoofing.")
                .evidence([escape_text(record)])
                .fix("End the record with -all (or ~all while migrating)"),
        ),
        Some(Qualifier::Neutral) => f.push(
            Finding::new(super::PERMISSIVE_ALL, Severity::Warn, "The SPF record ends in ?all (neutral)")
                .detail("?all says nothing about unlisted hosts: spoofed mail gets neutral, which DMARC does not count as a pass but receivers do not penalise either.")
                .evidence([escape_text(record)])
                .fix("End the record with -all, or ~all while migrating"),
        ),
        None if !redirect => f.push(
            Finding::new(super::PERMISSIVE_ALL, Severity::Warn, "The SPF record has no all mechanism")
                .detail("Without all (or redirect), unlisted hosts get neutral (RFC 7208 4.7).")
                .evidence([escape_text(record)])
                .fix("End the record with -all or ~all"),
        ),
        _ => {}
    }
    if root
        .flatten()
        .iter()
        .any(|(_, n)| n.terms().iter().any(|t| matches!(t, Term::Ptr { .. })))
    {
        f.push(
            Finding::new(super::PTR, Severity::Warn, "The SPF record uses the ptr mechanism")
                .detail("RFC 7208 5.5: ptr is slow, unreliable and SHOULD NOT be used; some receivers ignore or penalise it.")
                .evidence(root.chain_lines())
                .fix("Replace ptr by ip4/ip6 or a mechanisms for the sending hosts"),
        );
    }
    if !broken && lookups <= MAX_LOOKUPS && void <= MAX_VOID {
        f.push(
            Finding::new(
                super::OK,
                Severity::Pass,
                format!(
                    "SPF record found: {lookups} lookup(s), ends {}",
                    match all {
                        Some(q) => format!("{}all", q.sign()),
                        None if redirect => "with redirect".to_string(),
                        None => "without all".to_string(),
                    }
                ),
            )
            .detail(escape_text(record))
            .evidence(root.chain_lines()),
        );
    }
    if let Some(e) = &s.spf_eval {
        f.push(sender_ip(e));
    }
    f
}

fn syntax(where_: &str, e: &SpfSyntaxError, records: &[String]) -> Finding {
    Finding::new(
        super::SYNTAX,
        Severity::Fail,
        format!("SPF syntax error in {where_}"),
    )
    .detail(format!(
        "{}: receivers stop with permerror (RFC 7208 4.6).",
        escape_text(&e.to_string())
    ))
    .evidence(esc_all(records))
    .fix("Correct the term; check it with an RFC 7208 validator before publishing")
}

fn sender_ip(e: &SpfEvaluation) -> Finding {
    let what = format!(
        "mail from {} with MAIL FROM {} gets SPF {}",
        e.ip,
        escape_text(&e.sender),
        e.result.as_str()
    );
    let ev = vec![format!(
        "check_host({}, {}, {}) = {} in {} ms, {} lookups ({} void){}{}",
        e.ip,
        escape_text(&e.domain),
        escape_text(&e.sender),
        e.result.as_str(),
        e.elapsed_ms,
        e.lookups,
        e.void_lookups,
        e.decided_by
            .as_deref()
            .map(|x| format!("; decided by: {}", escape_text(x)))
            .unwrap_or_default(),
        e.explanation
            .as_deref()
            .map(|x| format!("; explanation: {}", escape_text(x)))
            .unwrap_or_default()
    )];
    match e.result {
        SpfVerdict::Pass => Finding::new(super::SENDER_IP_PASS, Severity::Pass, what)
            .detail("The domain's SPF policy authorises this address.")
            .evidence(ev),
        SpfVerdict::Fail | SpfVerdict::PermError => Finding::new(super::SENDER_IP_FAIL, Severity::Fail, what)
            .detail(if e.result == SpfVerdict::Fail {
                "The policy says this address may not send for the domain: receivers reject (550 5.7.23) or junk it, and DMARC fails unless DKIM aligns."
            } else {
                "The policy is broken (permerror): receivers treat it as a failure."
            })
            .evidence(ev)
            .fix(format!("Add ip4:{} (or the sending service's include) to the SPF record", e.ip)),
        _ => Finding::new(super::SENDER_IP_NOT_PASS, Severity::Warn, what)
            .detail("Not a pass: softfail and neutral mail is often junked, none means no policy, temperror defers.")
            .evidence(ev)
            .fix(format!("Authorise {} explicitly in the SPF record", e.ip)),
    }
}

/// Evidence lines shown at most for a walk that stopped at its bounds.
const MAX_STOPS_SHOWN: usize = 20;

/// Where the walk stopped at one of its bounds, one line each (macros are not bounds: they
/// can only be expanded for a given sender).
fn walk_stops(root: &SpfNode) -> Vec<String> {
    let mut out = Vec::new();
    for (_, n) in root.flatten() {
        let at = if n.via.is_empty() { &n.domain } else { &n.via };
        if let Some(w) = &n.not_followed
            && !w.starts_with("a macro")
        {
            out.push(format!("{at}: {w}"));
        }
        for t in &n.term_lookups {
            if let Some(w) = &t.stopped {
                out.push(format!("{at}: {}: {w}", t.term));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use mxray_net::{DnsAnswer, DnsOutcome, RType};

    use super::*;
    use crate::sender::spf::observe::{SpfNode, TermLookups};
    use crate::sender::spf::record::parse;
    use crate::sender::spf::*;
    use crate::sender::testing::{answer, ids, ip, sender, txt};

    /// A record at `domain` reached `via`, parsed, with no children yet.
    fn node(domain: &str, via: &str, records: &[&str]) -> SpfNode {
        let terms = match records {
            [one] => Some(parse(one)),
            _ => None,
        };
        SpfNode {
            domain: domain.into(),
            via: via.into(),
            txt: txt(domain, records),
            records: records.iter().map(|r| r.to_string()).collect(),
            sender_id: Vec::new(),
            terms,
            term_lookups: Vec::new(),
            children: Vec::new(),
            loop_to: None,
            not_followed: None,
        }
    }

    fn judge(root: SpfNode) -> Vec<Finding> {
        let mut s = sender("example.com");
        s.spf = Some(root);
        findings(&s)
    }

    #[test]
    fn missing_and_multiple() {
        assert_eq!(
            ids(&judge(node("example.com", "", &[])), Severity::Fail),
            [MISSING]
        );
        let two = node("example.com", "", &["v=spf1 -all", "v=spf1 mx -all"]);
        assert_eq!(ids(&judge(two), Severity::Fail), [MULTIPLE]);
        let mut failed = node("example.com", "", &[]);
        failed.txt = answer("example.com", RType::Txt, DnsOutcome::ServFail, vec![]);
        assert_eq!(ids(&judge(failed), Severity::Warn), [DNS_ERROR]);
    }

    #[test]
    fn a_good_record_passes() {
        let f = judge(node(
            "example.com",
            "",
            &["v=spf1 mx ip4:192.0.2.0/24 -all"],
        ));
        assert_eq!(ids(&f, Severity::Pass), [OK]);
        assert!(ids(&f, Severity::Fail).is_empty() && ids(&f, Severity::Warn).is_empty());
    }

    #[test]
    fn too_many_lookups_across_includes() {
        let mut root = node(
            "example.com",
            "",
            &["v=spf1 include:a.example.net include:b.example.net -all"],
        );
        let five = "v=spf1 a:h1.example a:h2.example a:h3.example a:h4.example a:h5.example";
        root.children = vec![
            node("a.example.net", "include:a.example.net", &[five]),
            node("b.example.net", "include:b.example.net", &[five]),
        ];
        assert_eq!(root.total_lookups(), 12);
        let f = judge(root);
        assert_eq!(ids(&f, Severity::Fail), [TOO_MANY_LOOKUPS]);
        assert!(ids(&f, Severity::Pass).is_empty());
    }

    #[test]
    fn void_lookups_over_two() {
        let mut root = node(
            "example.com",
            "",
            &["v=spf1 a:x1.example a:x2.example a:x3.example -all"],
        );
        root.term_lookups = ["x1", "x2", "x3"]
            .iter()
            .map(|h| TermLookups {
                term: format!("+a:{h}.example"),
                answers: vec![crate::sender::testing::a(&format!("{h}.example"), &[])],
                stopped: None,
            })
            .collect();
        assert_eq!(ids(&judge(root), Severity::Fail), [VOID_LOOKUPS]);
    }

    #[test]
    fn a_walk_stopped_at_its_bounds_says_where() {
        let mut root = node(
            "example.com",
            "",
            &["v=spf1 mx:m1.example mx:m2.example include:big.example -all"],
        );
        root.term_lookups = vec![TermLookups {
            term: "+mx:m2.example".into(),
            answers: Vec::new(),
            stopped: Some(
                "the walk's budget of 500 DNS queries is spent (0 of 1 queries made)".into(),
            ),
        }];
        let mut child = node("big.example", "include:big.example", &[]);
        child.not_followed = Some("the walk's budget of 500 DNS queries is spent".into());
        root.children.push(child);
        let f = judge(root);
        let w = f.iter().find(|x| x.id == WALK_LIMITED).expect("reported");
        assert_eq!(w.severity, Severity::Warn);
        assert_eq!(w.evidence.len(), 2, "{:?}", w.evidence);
        assert!(
            w.evidence[1].contains("include:big.example"),
            "{:?}",
            w.evidence
        );
        // A stopped include is not called missing: it was never asked.
        assert!(!ids(&f, Severity::Fail).contains(&INCLUDE_MISSING));
    }

    #[test]
    fn syntax_loops_and_missing_includes() {
        let bad = judge(node("example.com", "", &["v=spf1 ip4:192.0.2.1/33 -all"]));
        assert_eq!(ids(&bad, Severity::Fail), [SYNTAX]);
        let mut root = node("example.com", "", &["v=spf1 include:gone.example -all"]);
        root.children = vec![node("gone.example", "include:gone.example", &[])];
        assert_eq!(ids(&judge(root), Severity::Fail), [INCLUDE_MISSING]);
        let mut root = node("example.com", "", &["v=spf1 include:example.com -all"]);
        let mut back = node("example.com", "include:example.com", &[]);
        back.loop_to = Some("example.com".into());
        root.children = vec![back];
        assert_eq!(ids(&judge(root), Severity::Fail), [LOOP]);
    }

    #[test]
    fn permissive_all_and_ptr() {
        let plus = judge(node("example.com", "", &["v=spf1 +all"]));
        assert_eq!(ids(&plus, Severity::Fail), [PERMISSIVE_ALL]);
        let none = judge(node("example.com", "", &["v=spf1 ptr mx"]));
        assert_eq!(ids(&none, Severity::Warn), [PERMISSIVE_ALL, PTR]);
    }

    #[test]
    fn sender_ip_verdicts() {
        let eval = |result| SpfEvaluation {
            ip: ip("192.0.2.9"),
            domain: "example.com".into(),
            sender: "postmaster@example.com".into(),
            helo: "mail.example.com".into(),
            result,
            decided_by: Some("-all".into()),
            explanation: None,
            lookups: 1,
            void_lookups: 0,
            timed_out: false,
            elapsed_ms: 3,
        };
        let mut s = sender("example.com");
        s.spf = Some(node("example.com", "", &["v=spf1 -all"]));
        for (result, want, sev) in [
            (SpfVerdict::Pass, SENDER_IP_PASS, Severity::Pass),
            (SpfVerdict::Fail, SENDER_IP_FAIL, Severity::Fail),
            (SpfVerdict::PermError, SENDER_IP_FAIL, Severity::Fail),
            (SpfVerdict::SoftFail, SENDER_IP_NOT_PASS, Severity::Warn),
        ] {
            s.spf_eval = Some(eval(result));
            let f = findings(&s);
            let last = f.last().map(|x| (x.id, x.severity));
            assert_eq!(last, Some((want, sev)), "{result:?}");
        }
        let _: Option<DnsAnswer> = None;
    }
}
