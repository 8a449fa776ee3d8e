//! Sender authentication, judged: SPF (tree and evaluation), DKIM keys, DMARC (RFC 7489,
//! with DMARCbis notes) and BIMI. Pure functions from [`SenderObs`] to findings.

use base64::Engine;
use mxray_core::{Finding, Severity, escape_text};
use mxray_net::DnsOutcome;

use crate::sender::spf::{
    self, MAX_LOOKUPS, MAX_VOID, Qualifier, SpfSyntaxError, SpfVerdict, Term,
};
use crate::sender::{SenderObs, txt_records};

fn esc_all(v: &[String]) -> Vec<String> {
    v.iter().map(|s| escape_text(s)).collect()
}

// ---------------------------------------------------------------------------------------- SPF

pub fn spf_findings(s: &SenderObs) -> Vec<Finding> {
    let mut f = Vec::new();
    let Some(root) = &s.spf else { return f };
    let d = &s.domain;
    let ev = root.txt.evidence();
    match &root.txt.outcome {
        DnsOutcome::Answer | DnsOutcome::NoData | DnsOutcome::NxDomain => {}
        other => {
            f.push(
                Finding::new(
                    "spf.dns_error",
                    Severity::Warn,
                    format!(
                        "The TXT lookup for {d} failed ({})",
                        spf::outcome_word(other)
                    ),
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
            Finding::new("spf.missing", Severity::Fail, format!("{d} publishes no SPF record"))
                .detail(format!("No TXT record starts with v=spf1, so receivers get SPF none: Gmail and Yahoo require SPF or DKIM for all senders, and DMARC cannot pass through SPF.{extra}"))
                .evidence(ev)
                .fix(format!("Publish one TXT record at {d}: \"v=spf1 mx -all\" (list every service that sends for the domain)")),
        );
        return f;
    }
    if root.records.len() > 1 {
        f.push(
            Finding::new("spf.multiple", Severity::Fail, format!("{d} publishes {} SPF records", root.records.len()))
                .detail("RFC 7208 4.5: more than one v=spf1 record is a permerror: receivers treat the domain as having a broken policy.")
                .evidence(ev)
                .fix("Merge them into one record (one v=spf1, all mechanisms, one all)"),
        );
        return f;
    }
    if !root.sender_id.is_empty() {
        f.push(
            Finding::new("spf.sender_id", Severity::Info, "An spf2.0 (Sender ID) record is published too")
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
                Finding::new("spf.loop", Severity::Fail, format!("SPF include loop: {where_} leads back to {l}"))
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
                    Finding::new("spf.include_missing", Severity::Fail, format!("{where_} has no SPF record ({})", spf::outcome_word(&n.txt.outcome)))
                        .detail("RFC 7208 5.2: an include (or redirect) whose target publishes no SPF record is a permerror for every message.")
                        .evidence(n.txt.evidence())
                        .fix(format!("Fix or remove {where_} (a provider's include name may have changed)")),
                );
            }
            (_, k) if k > 1 => {
                broken = true;
                f.push(
                    Finding::new(
                        "spf.multiple",
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
            Finding::new("spf.too_long", if over { Severity::Warn } else { Severity::Info }, format!("The SPF record is {} bytes long", record.len()))
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
            Finding::new("spf.too_many_lookups", Severity::Fail, format!("SPF needs {lookups} DNS lookups (limit {MAX_LOOKUPS})"))
                .detail("RFC 7208 4.6.4: more than 10 include/a/mx/ptr/exists/redirect terms across all included records is a permerror; receivers treat the mail as failing SPF. The chain, with counts per record:")
                .evidence(root.chain_lines())
                .fix("Remove includes of services you no longer use, replace a/mx by ip4/ip6, or split senders across subdomains"),
        );
    }
    let void = root.total_void();
    if void > MAX_VOID {
        f.push(
            Finding::new("spf.void_lookups", Severity::Fail, format!("SPF makes {void} void lookups (limit {MAX_VOID})"))
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
            Finding::new("spf.permissive_all", Severity::Fail, "The SPF record ends in +all: every host on the internet may send as the domain")
                .detail("+all authorises any IP address, which makes SPF meaningless and invites spoofing.")
                .evidence([escape_text(record)])
                .fix("End the record with -all (or ~all while migrating)"),
        ),
        Some(Qualifier::Neutral) => f.push(
            Finding::new("spf.permissive_all", Severity::Warn, "The SPF record ends in ?all (neutral)")
                .detail("?all says nothing about unlisted hosts: spoofed mail gets neutral, which DMARC does not count as a pass but receivers do not penalise either.")
                .evidence([escape_text(record)])
                .fix("End the record with -all, or ~all while migrating"),
        ),
        None if !redirect => f.push(
            Finding::new("spf.permissive_all", Severity::Warn, "The SPF record has no all mechanism")
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
            Finding::new("spf.ptr", Severity::Warn, "The SPF record uses the ptr mechanism")
                .detail("RFC 7208 5.5: ptr is slow, unreliable and SHOULD NOT be used; some receivers ignore or penalise it.")
                .evidence(root.chain_lines())
                .fix("Replace ptr by ip4/ip6 or a mechanisms for the sending hosts"),
        );
    }
    if !broken && lookups <= MAX_LOOKUPS && void <= MAX_VOID {
        f.push(
            Finding::new(
                "spf.ok",
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
        "spf.syntax",
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

fn sender_ip(e: &spf::SpfEvaluation) -> Finding {
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
        SpfVerdict::Pass => Finding::new("spf.sender_ip_pass", Severity::Pass, what)
            .detail("The domain's SPF policy authorises this address.")
            .evidence(ev),
        SpfVerdict::Fail | SpfVerdict::PermError => Finding::new("spf.sender_ip_fail", Severity::Fail, what)
            .detail(if e.result == SpfVerdict::Fail {
                "The policy says this address may not send for the domain: receivers reject (550 5.7.23) or junk it, and DMARC fails unless DKIM aligns."
            } else {
                "The policy is broken (permerror): receivers treat it as a failure."
            })
            .evidence(ev)
            .fix(format!("Add ip4:{} (or the sending service's include) to the SPF record", e.ip)),
        _ => Finding::new("spf.sender_ip_not_pass", Severity::Warn, what)
            .detail("Not a pass: softfail and neutral mail is often junked, none means no policy, temperror defers.")
            .evidence(ev)
            .fix(format!("Authorise {} explicitly in the SPF record", e.ip)),
    }
}

// --------------------------------------------------------------------------------------- DKIM

/// Tags of a `tag=value; ...` record (DKIM, DMARC, BIMI, TLS-RPT), names lower-cased.
pub fn tags(record: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for part in record.split(';') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((k, v)) = part.split_once('=') else {
            return Err(format!("{:?} is not tag=value", escape_text(part)));
        };
        let k = k.trim().to_ascii_lowercase();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("bad tag name {:?}", escape_text(&k)));
        }
        if out.iter().any(|(x, _)| *x == k) {
            return Err(format!("tag {k} appears twice"));
        }
        out.push((k, v.trim().to_string()));
    }
    Ok(out)
}

fn tag<'a>(t: &'a [(String, String)], k: &str) -> Option<&'a str> {
    t.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str())
}

/// The size in bits of an RSA public key given as SubjectPublicKeyInfo or PKCS#1 DER.
pub fn rsa_bits(der: &[u8]) -> Option<usize> {
    fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let tag = *b.first()?;
        let first = *b.get(1)? as usize;
        let (len, hdr) = if first < 0x80 {
            (first, 2)
        } else {
            let n = first & 0x7f;
            if n == 0 || n > 4 {
                return None;
            }
            let mut l = 0usize;
            for i in 0..n {
                l = (l << 8) | *b.get(2 + i)? as usize;
            }
            (l, 2 + n)
        };
        let body = b.get(hdr..hdr + len)?;
        Some((tag, body, &b[hdr + len..]))
    }
    let (t, outer, _) = tlv(der)?;
    if t != 0x30 {
        return None;
    }
    let (t1, first, rest) = tlv(outer)?;
    let modulus = if t1 == 0x02 {
        first
    } else {
        // SPKI: AlgorithmIdentifier, then BIT STRING holding RSAPublicKey.
        let (t2, bits, _) = tlv(rest)?;
        if t2 != 0x03 || bits.is_empty() {
            return None;
        }
        let (t3, rsa, _) = tlv(&bits[1..])?;
        if t3 != 0x30 {
            return None;
        }
        let (t4, n, _) = tlv(rsa)?;
        if t4 != 0x02 {
            return None;
        }
        n
    };
    let n: Vec<u8> = modulus.iter().copied().skip_while(|b| *b == 0).collect();
    let lead = *n.first()?;
    Some(n.len() * 8 - lead.leading_zeros() as usize)
}

pub fn dkim_findings(s: &SenderObs) -> Vec<Finding> {
    let mut f = Vec::new();
    if !s.areas.auth {
        return f;
    }
    let d = &s.domain;
    let mut found = 0;
    for k in &s.dkim {
        let recs = txt_records(&k.answer);
        let name = format!("{}._domainkey.{d}", k.selector);
        // Any TXT at a selector counts as its key record (the v= tag is optional).
        let Some(rec) = recs.first() else {
            if k.given {
                f.push(
                    Finding::new("dkim.not_found", Severity::Fail, format!("No DKIM key at selector {}", k.selector))
                        .detail(format!("{name} has no TXT record ({}): mail signed with s={} fails DKIM (permerror, no key).", spf::outcome_word(&k.answer.outcome), k.selector))
                        .evidence(k.answer.evidence())
                        .fix(format!("Publish the public key at {name} (your mail provider's DKIM settings show it)")),
                );
            }
            continue;
        };
        found += 1;
        let ev = k.answer.evidence();
        let t = match tags(rec) {
            Ok(t) => t,
            Err(e) => {
                f.push(dkim_syntax(&k.selector, &e, ev));
                continue;
            }
        };
        if let Some(v) = tag(&t, "v")
            && (v != "DKIM1" || t[0].0 != "v")
        {
            f.push(dkim_syntax(
                &k.selector,
                "v= must be DKIM1 and come first",
                ev,
            ));
            continue;
        }
        let Some(p) = tag(&t, "p") else {
            f.push(dkim_syntax(&k.selector, "no p= (public key) tag", ev));
            continue;
        };
        let keytype = tag(&t, "k").unwrap_or("rsa").to_ascii_lowercase();
        let testing = tag(&t, "t").is_some_and(|v| v.split(':').any(|x| x.trim() == "y"));
        if p.is_empty() {
            f.push(
                Finding::new("dkim.revoked", if k.given { Severity::Fail } else { Severity::Warn }, format!("The DKIM key at selector {} is revoked (empty p=)", k.selector))
                    .detail("RFC 6376 3.6.1: an empty p= means the key was revoked; signatures with it fail.")
                    .evidence(ev)
                    .fix(format!("If {} still signs mail, publish its current key; otherwise remove the record", k.selector)),
            );
            continue;
        }
        let compact: String = p.chars().filter(|c| !c.is_whitespace()).collect();
        let Ok(der) = base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()) else {
            f.push(dkim_syntax(&k.selector, "p= is not valid base64", ev));
            continue;
        };
        let desc = match keytype.as_str() {
            "rsa" => match rsa_bits(&der) {
                None => {
                    f.push(dkim_syntax(&k.selector, "p= is not an RSA public key", ev));
                    continue;
                }
                Some(bits) if bits < 1024 => {
                    f.push(
                        Finding::new("dkim.weak_key", Severity::Fail, format!("The DKIM key at selector {} is RSA {bits} bits", k.selector))
                            .detail("RFC 8301: verifiers MUST NOT accept RSA keys under 1024 bits; signatures with it count as failed, and the key can be factored.")
                            .evidence(ev)
                            .fix("Generate a 2048-bit key, publish it at a new selector, switch signing to it, then revoke this one"),
                    );
                    continue;
                }
                Some(bits) if bits < 2048 => {
                    f.push(
                        Finding::new("dkim.weak_key", Severity::Warn, format!("The DKIM key at selector {} is RSA {bits} bits", k.selector))
                            .detail("Accepted today, but RFC 8301 recommends 2048 bits and large receivers are moving to require it.")
                            .evidence(ev)
                            .fix("Rotate to a 2048-bit key at a new selector"),
                    );
                    continue;
                }
                Some(bits) => format!("RSA {bits} bits"),
            },
            "ed25519" if der.len() == 32 => "Ed25519".to_string(),
            "ed25519" => {
                f.push(dkim_syntax(
                    &k.selector,
                    "an Ed25519 key must be 32 bytes",
                    ev,
                ));
                continue;
            }
            other => {
                f.push(dkim_syntax(
                    &k.selector,
                    &format!("unknown key type k={}", escape_text(other)),
                    ev,
                ));
                continue;
            }
        };
        if testing {
            f.push(
                Finding::new("dkim.testing", Severity::Info, format!("The DKIM key at selector {} is in testing mode (t=y)", k.selector))
                    .detail("Verifiers may treat failures as if unsigned. Fine while rolling out; remove t=y once signatures verify.")
                    .evidence(ev.clone()),
            );
        }
        f.push(
            Finding::new(
                "dkim.ok",
                Severity::Pass,
                format!("DKIM key at selector {}: {desc}", k.selector),
            )
            .detail(format!(
                "{name}{}",
                if k.given {
                    ""
                } else {
                    " (found by the common-selector sweep)"
                }
            ))
            .evidence(ev),
        );
    }
    let given = s.dkim.iter().any(|k| k.given);
    if found == 0 && !given {
        f.push(
            Finding::new("dkim.not_found", Severity::Warn, format!("No DKIM key found for {d} at {} common selectors", s.dkim.len()))
                .detail("DKIM selectors cannot be listed from DNS; none of the usual names has a key. Mail may still be signed under another selector: the DKIM-Signature header's s= tag shows it.")
                .evidence(s.dkim.iter().take(5).flat_map(|k| k.answer.evidence()).collect::<Vec<_>>())
                .fix("Pass --dkim-selector SELECTOR (from a received message's DKIM-Signature s= tag); if mail is unsigned, enable DKIM signing at your provider"),
        );
    }
    f
}

fn dkim_syntax(selector: &str, why: &str, ev: Vec<String>) -> Finding {
    Finding::new(
        "dkim.syntax",
        Severity::Fail,
        format!("The DKIM key record at selector {selector} is malformed"),
    )
    .detail(format!(
        "{why}. Verifiers cannot use the key: signatures fail (permerror)."
    ))
    .evidence(ev)
    .fix("Republish the record exactly as your signer generated it: v=DKIM1; k=rsa; p=BASE64")
}

// -------------------------------------------------------------------------------------- DMARC

/// The `rua` and `ruf` URIs of a DMARC record.
pub fn dmarc_uris(record: &str) -> Vec<String> {
    let Ok(t) = tags(record) else {
        return Vec::new();
    };
    ["rua", "ruf"]
        .iter()
        .filter_map(|k| tag(&t, k))
        .flat_map(|v| v.split(','))
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .collect()
}

/// The domain of a `mailto:` URI (size suffix `!10m` removed).
pub fn mailto_domain(uri: &str) -> Option<String> {
    let rest = uri
        .get(..7)?
        .eq_ignore_ascii_case("mailto:")
        .then(|| &uri[7..])?;
    let addr = rest.split('!').next()?;
    let (_, dom) = addr.rsplit_once('@')?;
    let dom = dom.trim().trim_end_matches('.').to_ascii_lowercase();
    (!dom.is_empty()).then_some(dom)
}

/// The policy a DMARC record publishes, if it parses.
pub fn dmarc_policy(s: &SenderObs) -> Option<(String, u32)> {
    let dm = s.dmarc.as_ref()?;
    let recs: Vec<String> = txt_records(&dm.answer)
        .into_iter()
        .chain(dm.org.iter().flat_map(|(_, a)| txt_records(a)))
        .filter(|r| r.trim_start().to_ascii_lowercase().starts_with("v=dmarc1"))
        .collect();
    let t = tags(recs.first()?).ok()?;
    let p = tag(&t, "p")?.to_ascii_lowercase();
    let pct = tag(&t, "pct").and_then(|v| v.parse().ok()).unwrap_or(100);
    Some((p, pct))
}

pub fn dmarc_findings(s: &SenderObs) -> Vec<Finding> {
    let mut f = Vec::new();
    let Some(dm) = &s.dmarc else { return f };
    let d = &s.domain;
    let is_dmarc = |r: &String| r.trim_start().to_ascii_lowercase().starts_with("v=dmarc1");
    let own: Vec<String> = txt_records(&dm.answer)
        .into_iter()
        .filter(is_dmarc)
        .collect();
    let (records, at, ev, inherited) = if !own.is_empty() {
        (own, format!("_dmarc.{d}"), dm.answer.evidence(), false)
    } else if let Some((org, a)) = &dm.org {
        let mut ev = dm.answer.evidence();
        ev.extend(a.evidence());
        let r: Vec<String> = txt_records(a).into_iter().filter(is_dmarc).collect();
        (r, format!("_dmarc.{org}"), ev, true)
    } else {
        (
            Vec::new(),
            format!("_dmarc.{d}"),
            dm.answer.evidence(),
            false,
        )
    };
    if let DnsOutcome::ServFail | DnsOutcome::Timeout | DnsOutcome::Refused | DnsOutcome::Error(_) =
        &dm.answer.outcome
    {
        f.push(
            Finding::new(
                "dmarc.dns_error",
                Severity::Warn,
                format!(
                    "The DMARC lookup at _dmarc.{d} failed ({})",
                    spf::outcome_word(&dm.answer.outcome)
                ),
            )
            .detail("Receivers cannot read the policy: they treat it as temperror.")
            .evidence(ev)
            .fix(format!(
                "dig TXT _dmarc.{d}; check the domain's name servers"
            )),
        );
        return f;
    }
    if records.is_empty() {
        f.push(
            Finding::new("dmarc.missing", Severity::Fail, format!("{d} publishes no DMARC record"))
                .detail("No v=DMARC1 TXT record at _dmarc (nor at the organisational domain). Gmail and Yahoo require DMARC from bulk senders (2024), and without it spoofed mail under the domain is judged on heuristics alone.")
                .evidence(ev)
                .fix(format!("Publish TXT at _dmarc.{d}: \"v=DMARC1; p=none; rua=mailto:dmarc@{d}\", read the reports, then move to p=quarantine and p=reject")),
        );
        return f;
    }
    if records.len() > 1 {
        f.push(
            Finding::new("dmarc.multiple", Severity::Fail, format!("{at} publishes {} DMARC records", records.len()))
                .detail("RFC 7489 6.6.3: with more than one record, receivers apply no DMARC policy at all.")
                .evidence(ev)
                .fix("Keep exactly one v=DMARC1 record"),
        );
        return f;
    }
    let rec = &records[0];
    if inherited {
        f.push(
            Finding::new("dmarc.inherited", Severity::Info, format!("DMARC for {d} comes from the organisational domain ({at})"))
                .detail("RFC 7489 6.6.3: with no record of its own, a subdomain follows its organisational domain's record (its sp= policy).")
                .evidence(ev.clone()),
        );
    }
    let t = match tags(rec) {
        Ok(t) => t,
        Err(e) => {
            f.push(dmarc_syntax(&e, ev));
            return f;
        }
    };
    if t.first().map(|(k, v)| (k.as_str(), v.as_str())) != Some(("v", "DMARC1")) {
        f.push(dmarc_syntax("v=DMARC1 must be the first tag, exactly", ev));
        return f;
    }
    let mut problems = Vec::new();
    let pol = |v: &str| {
        matches!(
            v.to_ascii_lowercase().as_str(),
            "none" | "quarantine" | "reject"
        )
    };
    let p = tag(&t, "p");
    match p {
        None => problems.push(
            "no p= tag (receivers treat the record as p=none only if rua is valid)".to_string(),
        ),
        Some(v) if !pol(v) => problems.push(format!(
            "p={} is not none, quarantine or reject",
            escape_text(v)
        )),
        _ => {}
    }
    for k in ["sp", "np"] {
        if let Some(v) = tag(&t, k)
            && !pol(v)
        {
            problems.push(format!(
                "{k}={} is not none, quarantine or reject",
                escape_text(v)
            ));
        }
    }
    for k in ["adkim", "aspf"] {
        if let Some(v) = tag(&t, k)
            && !matches!(v, "r" | "s")
        {
            problems.push(format!("{k}={} must be r or s", escape_text(v)));
        }
    }
    let pct = match tag(&t, "pct") {
        None => 100,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if n <= 100 => n,
            _ => {
                problems.push(format!("pct={} is not 0-100", escape_text(v)));
                100
            }
        },
    };
    for uri in dmarc_uris(rec) {
        let lower = uri.to_ascii_lowercase();
        if lower.starts_with("mailto:") {
            if mailto_domain(&uri).is_none() {
                problems.push(format!("{} is not a mailto: address", escape_text(&uri)));
            }
        } else if !lower.starts_with("https:") {
            problems.push(format!("report URI {} is not mailto:", escape_text(&uri)));
        }
    }
    if !problems.is_empty() {
        f.push(dmarc_syntax(&problems.join("; "), ev.clone()));
    }
    let policy = if inherited { tag(&t, "sp").or(p) } else { p }
        .unwrap_or("none")
        .to_ascii_lowercase();
    if policy == "none" {
        f.push(
            Finding::new("dmarc.policy_none", Severity::Warn, format!("DMARC policy for {d} is p=none (monitoring only)"))
                .detail("Receivers report but do not act on failing mail: spoofing still gets through. Fine while reading reports; not a protection.")
                .evidence(ev.clone())
                .fix("After the aggregate reports show your legitimate mail passing, move to p=quarantine, then p=reject"),
        );
    }
    if pct < 100 && policy != "none" {
        f.push(
            Finding::new("dmarc.pct", Severity::Warn, format!("DMARC applies to only {pct}% of failing mail"))
                .detail("pct<100 leaves the rest to the next weaker policy. DMARCbis drops pct in favour of t=y (testing).")
                .evidence(ev.clone())
                .fix("Raise pct to 100 (or remove it)"),
        );
    }
    if p.is_some_and(|v| !v.eq_ignore_ascii_case("none"))
        && tag(&t, "sp").is_some_and(|v| v.eq_ignore_ascii_case("none"))
    {
        f.push(
            Finding::new(
                "dmarc.subdomain_none",
                Severity::Warn,
                "Subdomains are exempt (sp=none)",
            )
            .detail("Spoofers can send from any subdomain that does not publish its own record.")
            .evidence(ev.clone())
            .fix("Remove sp=none, or set sp=quarantine/reject"),
        );
    }
    let rua: Vec<String> = tag(&t, "rua")
        .map(|v| v.split(',').map(|x| x.trim().to_string()).collect())
        .unwrap_or_default();
    if rua.iter().all(|u| u.is_empty()) {
        f.push(
            Finding::new("dmarc.no_rua", Severity::Warn, "DMARC asks for no aggregate reports (no rua=)")
                .detail("Without rua you cannot see who sends as the domain nor whether it passes, so moving to reject is blind.")
                .evidence(ev.clone())
                .fix(format!("Add rua=mailto:dmarc-reports@{d} (or a DMARC report service's address)")),
        );
    }
    for (rd, a) in &dm.report_auth {
        let ok = txt_records(a)
            .iter()
            .any(|r| r.trim_start().to_ascii_lowercase().starts_with("v=dmarc1"));
        if !ok {
            f.push(
                Finding::new("dmarc.rua_unauthorized", Severity::Warn, format!("Reports go to {rd}, which has not authorised them"))
                    .detail(format!("RFC 7489 7.1: a report address outside the domain must publish {d}._report._dmarc.{rd} TXT \"v=DMARC1\"; receivers skip unauthorised destinations, so no reports arrive."))
                    .evidence(a.evidence())
                    .fix(format!("Have {rd} publish TXT \"v=DMARC1\" at {d}._report._dmarc.{rd} (or *._report._dmarc.{rd})")),
            );
        }
    }
    if problems.is_empty() {
        f.push(
            Finding::new(
                "dmarc.ok",
                Severity::Pass,
                format!("DMARC p={policy} for {d}"),
            )
            .detail(format!(
                "{}; alignment adkim={} aspf={}{}",
                escape_text(rec),
                tag(&t, "adkim").unwrap_or("r"),
                tag(&t, "aspf").unwrap_or("r"),
                if tag(&t, "pct").is_some() {
                    "; note: DMARCbis replaces pct= with t="
                } else {
                    ""
                }
            ))
            .evidence(ev),
        );
    }
    f
}

fn dmarc_syntax(why: &str, ev: Vec<String>) -> Finding {
    Finding::new(
        "dmarc.syntax",
        Severity::Fail,
        "The DMARC record is malformed",
    )
    .detail(format!(
        "{why}. Receivers may ignore the record (RFC 7489 6.6.3) or the bad tags."
    ))
    .evidence(ev)
    .fix("Write it as v=DMARC1; p=none|quarantine|reject; rua=mailto:ADDRESS (tags separated by ;)")
}

// --------------------------------------------------------------------------------------- BIMI

pub fn bimi_findings(s: &SenderObs) -> Vec<Finding> {
    let mut f = Vec::new();
    let Some(a) = &s.bimi else { return f };
    let d = &s.domain;
    let recs: Vec<String> = txt_records(a)
        .into_iter()
        .filter(|r| r.trim_start().to_ascii_lowercase().starts_with("v=bimi1"))
        .collect();
    let ev = a.evidence();
    let Some(rec) = recs.first() else {
        f.push(
            Finding::new("bimi.missing", Severity::Info, format!("No BIMI record at default._bimi.{d}"))
                .detail("Optional: BIMI shows the brand logo in supporting inboxes, and requires DMARC at quarantine or reject.")
                .evidence(ev),
        );
        return f;
    };
    let mut problems = Vec::new();
    match tags(rec) {
        Err(e) => problems.push(e),
        Ok(t) => {
            match tag(&t, "l") {
                Some("") | None => {}
                Some(l) if !l.to_ascii_lowercase().starts_with("https://") => {
                    problems.push(format!("l={} is not an https URL", escape_text(l)))
                }
                Some(l) if !l.to_ascii_lowercase().ends_with(".svg") => problems.push(format!(
                    "l={} does not name an SVG file (SVG Tiny PS)",
                    escape_text(l)
                )),
                _ => {}
            }
            if let Some(x) = tag(&t, "a")
                && !x.is_empty()
                && !x.to_ascii_lowercase().starts_with("https://")
            {
                problems.push(format!("a={} is not an https URL", escape_text(x)));
            }
            if tag(&t, "l").is_none_or(str::is_empty) && tag(&t, "a").is_none_or(str::is_empty) {
                problems.push("neither l= (logo) nor a= (certificate) is given".into());
            }
        }
    }
    if !problems.is_empty() {
        f.push(
            Finding::new(
                "bimi.syntax",
                Severity::Warn,
                "The BIMI record is malformed",
            )
            .detail(problems.join("; "))
            .evidence(ev)
            .fix("v=BIMI1; l=https://DOMAIN/logo.svg; a=https://DOMAIN/vmc.pem"),
        );
        return f;
    }
    let enforced =
        dmarc_policy(s).is_some_and(|(p, pct)| (p == "quarantine" || p == "reject") && pct == 100);
    if !enforced {
        f.push(
            Finding::new("bimi.dmarc_not_enforced", Severity::Warn, "BIMI is published but DMARC is not enforced")
                .detail("Mailbox providers show BIMI logos only for domains at p=quarantine or p=reject with pct=100.")
                .evidence(ev)
                .fix("Move DMARC to p=quarantine or p=reject"),
        );
        return f;
    }
    f.push(
        Finding::new(
            "bimi.ok",
            Severity::Pass,
            format!("BIMI record at default._bimi.{d}"),
        )
        .detail(escape_text(rec))
        .evidence(ev),
    );
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_lists_and_mailto() {
        let t = tags("v=DMARC1; p=reject; rua=mailto:a@x.example,mailto:b@y.example!10m").unwrap();
        assert_eq!(tag(&t, "p"), Some("reject"));
        assert_eq!(
            mailto_domain("mailto:b@y.example!10m").as_deref(),
            Some("y.example")
        );
        assert!(tags("v=DMARC1; p=none; p=reject").is_err());
        use crate::sender::org_domain;
        assert_eq!(org_domain("a.b.example.co.uk"), "example.co.uk");
        assert_eq!(org_domain("mx.healthy.test"), "healthy.test");
    }

    #[test]
    fn rsa_sizes() {
        // PKCS#1 RSAPublicKey with a 9-bit modulus 0x01ff and e = 3.
        assert_eq!(
            rsa_bits(&[0x30, 0x07, 0x02, 0x02, 0x01, 0xff, 0x02, 0x01, 0x03]),
            Some(9)
        );
        assert_eq!(rsa_bits(&[0x04, 0x00]), None);
    }
}
