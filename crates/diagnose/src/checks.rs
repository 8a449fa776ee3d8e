//! The checklist as pure functions: recorded [`Observations`] in, findings out, plus the verdict.
//! Nothing here does I/O, so every rule is unit-tested from hand-made observations.

use mxray_core::address::{AddressError, Target, suggest_domain};
use mxray_core::{Finding, Severity, Side, escape_text, explain};
use mxray_net::{DnsAnswer, DnsOutcome, DnsRecord, SmtpError};
use serde::Serialize;

use crate::observe::{AddrObs, HostObs, Observations, Step};

/// A greeting slower than this is a tarpit or greet delay worth reporting.
pub const SLOW_GREETING_MS: u64 = 3_000;
/// A certificate expiring within this many days is reported.
pub const EXPIRY_WARN_DAYS: i64 = 14;
/// More MX records than this is unusual and some MTAs stop following them.
pub const MAX_SENSIBLE_MX: usize = 10;

/// The finding for input that is not a domain or address.
pub fn invalid_target(input: &str, err: &AddressError) -> Finding {
    Finding::new("domain.invalid", Severity::Fail, "Not a valid domain or address")
        .detail(err.to_string())
        .evidence([format!("input: {}", escape_text(input))])
        .fix("Give a domain (example.com) or an address (user@example.com); internationalised names are fine")
}

/// Findings about the target's text alone.
pub fn target_findings(t: &Target) -> Vec<Finding> {
    let mut v = Vec::new();
    if let Some(s) = suggest_domain(&t.domain_ascii) {
        v.push(
            Finding::new(
                "domain.typo",
                Severity::Warn,
                format!("{} looks like a typo of {s}", t.domain),
            )
            .detail(format!(
                "{} is one or two keystrokes away from the popular mail domain {s}",
                t.domain
            ))
            .evidence([format!("domain: {}", t.domain)])
            .fix(format!("Check the address; did you mean {s}?")),
        );
    }
    v
}

/// Every finding for one target.
pub fn check(obs: &Observations) -> Vec<Finding> {
    let mut f = target_findings(&obs.target);
    let d = &obs.target.domain_ascii;
    match &obs.mx.outcome {
        DnsOutcome::NxDomain => {
            f.push(
                Finding::new(
                    "domain.nxdomain",
                    Severity::Fail,
                    format!("{d} does not exist (NXDOMAIN)"),
                )
                .detail("The domain is not in DNS at all, so no mail can be delivered to it.")
                .evidence(obs.mx.evidence())
                .fix(format!(
                    "Check the spelling; dig NS {d} +short; if it is yours, renew or delegate it"
                )),
            );
            return f;
        }
        DnsOutcome::ServFail => {
            f.push(dns_failure("dns.servfail", "SERVFAIL", d, &obs.mx));
            return f;
        }
        DnsOutcome::Refused => {
            f.push(dns_failure("dns.refused", "REFUSED", d, &obs.mx));
            return f;
        }
        DnsOutcome::Timeout => {
            f.push(dns_failure(
                "dns.timeout",
                "no answer (timeout)",
                d,
                &obs.mx,
            ));
            return f;
        }
        DnsOutcome::Error(e) => {
            f.push(
                Finding::new(
                    "dns.error",
                    Severity::Fail,
                    format!("The MX lookup for {d} failed"),
                )
                .detail(escape_text(e))
                .evidence(obs.mx.evidence())
                .fix(format!("dig MX {d} and compare with another resolver")),
            );
            return f;
        }
        DnsOutcome::Answer | DnsOutcome::NoData => {}
    }
    f.extend(mx_findings(obs));
    for h in &obs.hosts {
        f.extend(host_findings(obs, h));
    }
    f.extend(reachability(obs));
    f
}

fn dns_failure(id: &'static str, what: &str, d: &str, a: &DnsAnswer) -> Finding {
    Finding::new(id, Severity::Fail, format!("The MX lookup for {d} got {what}"))
        .detail(
            "The resolver could not get an answer: the domain's name servers are failing, lame or \
             DNSSEC-broken, or the resolver itself has a problem. Mail to the domain is deferred (4.4.3).",
        )
        .evidence(a.evidence())
        .fix(format!(
            "dig +trace MX {d}; compare dig MX {d} @<another resolver>; check the domain's NS records and DNSSEC"
        ))
}

fn mx_records(a: &DnsAnswer) -> Vec<(u16, String)> {
    a.records
        .iter()
        .filter_map(|r| match r {
            DnsRecord::Mx {
                preference,
                exchange,
                ..
            } => Some((*preference, exchange.to_ascii_lowercase())),
            _ => None,
        })
        .collect()
}

fn mx_findings(obs: &Observations) -> Vec<Finding> {
    let mut f = Vec::new();
    let d = &obs.target.domain_ascii;
    let mut recs = mx_records(&obs.mx);
    recs.sort();
    if crate::collect::is_null_mx(&recs) {
        f.push(
            Finding::new("mx.null", Severity::Fail, format!("{d} publishes a null MX: it accepts no mail"))
                .detail("RFC 7505: a single MX '0 .' declares that the domain receives no email. Senders bounce at once (5.1.10).")
                .evidence(obs.mx.evidence())
                .fix("If the domain should receive mail, replace the null MX with real MX records"),
        );
        return f;
    }
    if let Some([a, aaaa]) = &obs.implicit {
        let mut ev = obs.mx.evidence();
        ev.extend(a.evidence());
        ev.extend(aaaa.evidence());
        if obs.hosts.is_empty() {
            f.push(
                Finding::new("mx.no_address", Severity::Fail, format!("{d} has no MX and no A/AAAA record"))
                    .detail("Without MX records, mail goes to the domain's own address (RFC 5321 5.1), and it has none: nothing can deliver here.")
                    .evidence(ev)
                    .fix(format!("Publish MX records for {d} (or a null MX if it takes no mail)")),
            );
        } else {
            f.push(
                Finding::new("mx.implicit", Severity::Warn, format!("{d} has no MX records; mail falls back to its A/AAAA"))
                    .detail("RFC 5321 5.1 implicit MX: senders deliver to the domain's own address. It works, but it is fragile and often unintended.")
                    .evidence(ev)
                    .fix(format!("Publish explicit MX records for {d} (or a null MX '0 .' if it takes no mail)")),
            );
        }
        return f;
    }
    let lines: Vec<String> = recs.iter().map(|(p, x)| format!("{p} {x}")).collect();
    f.push(
        Finding::new(
            "mx.present",
            Severity::Pass,
            format!("{} MX record(s) for {d}", recs.len()),
        )
        .detail(format!("In delivery order: {}", lines.join(", ")))
        .evidence(obs.mx.evidence()),
    );
    let mut dups = Vec::new();
    for (i, (_, x)) in recs.iter().enumerate() {
        if recs[..i].iter().any(|(_, y)| y == x) && !dups.contains(x) {
            dups.push(x.clone());
        }
    }
    if !dups.is_empty() {
        f.push(
            Finding::new("mx.duplicate", Severity::Warn, format!("Duplicate MX targets: {}", dups.join(", ")))
                .detail("The same host is listed more than once; it adds no redundancy and may confuse preference order.")
                .evidence(obs.mx.evidence())
                .fix("Keep each MX target once, with the preference you intend"),
        );
    }
    if recs.len() > MAX_SENSIBLE_MX {
        f.push(
            Finding::new("mx.too_many", Severity::Warn, format!("{} MX records", recs.len()))
                .detail(format!("More than {MAX_SENSIBLE_MX} MX records: some senders stop after the first few, and DNS answers may be truncated."))
                .evidence(obs.mx.evidence())
                .fix("Trim the MX set to the hosts that really accept mail"),
        );
    }
    f
}

fn host_findings(obs: &Observations, h: &HostObs) -> Vec<Finding> {
    let mut f = Vec::new();
    let label = h.label();
    if h.ip_literal {
        f.push(
            Finding::new("mx.ip_literal", Severity::Fail, format!("MX target {} is an IP address", h.name))
                .detail("An MX must name a host (RFC 5321 5.1, RFC 7505); senders such as Postfix treat an IP-literal exchange as a name and fail to resolve it.")
                .evidence(obs.mx.evidence())
                .fix(format!("Publish a name with an A record for {} and point the MX at that name", h.name))
                .host(label.clone()),
        );
        return f;
    }
    if let Some(c) = &h.cname {
        f.push(
            Finding::new("mx.cname", Severity::Warn, format!("MX target {} is an alias (CNAME)", h.name))
                .detail("RFC 2181 10.3 and RFC 5321 5.1: an MX must point at a name with address records, not an alias. Many MTAs follow it anyway; some do not.")
                .evidence(c.evidence())
                .fix(format!("Point the MX at the canonical name instead of {}", h.name))
                .host(label.clone()),
        );
    }
    if h.addrs.is_empty() && h.skipped_addrs.is_empty() {
        let mut ev = Vec::new();
        let mut nx = false;
        for a in [&h.a, &h.aaaa].into_iter().flatten() {
            ev.extend(a.evidence());
            nx |= a.outcome == DnsOutcome::NxDomain;
        }
        let title = if nx {
            format!("MX target {} does not exist (NXDOMAIN)", h.name)
        } else {
            format!("MX target {} has no A or AAAA record", h.name)
        };
        f.push(
            Finding::new("mx.no_address", Severity::Fail, title)
                .detail("Senders cannot connect to an MX host without an address; mail through it is deferred (4.4.3 / 4.4.4).")
                .evidence(ev)
                .fix(format!("Publish an A (and AAAA) record for {}, or remove it from the MX set", h.name))
                .host(label.clone()),
        );
    }
    for a in &h.addrs {
        f.extend(addr_findings(obs, h, a));
    }
    f
}

/// The knowledge base's reading of a reply, and its first next step that makes sense here
/// (not "read the log" nor "run mxray diagnose": that is what is happening).
fn explained(raw: &str) -> (String, Option<String>) {
    match explain(raw) {
        Ok(e) => (
            e.meaning.to_string(),
            e.next_steps
                .iter()
                .find(|s| {
                    !s.starts_with("Read ")
                        && !s.starts_with("mxray diagnose")
                        && !s.starts_with("Find ")
                })
                .cloned(),
        ),
        Err(_) => ("The reply could not be decoded.".to_string(), None),
    }
}

fn step_failure(a: &AddrObs) -> Option<(&Step, &SmtpError)> {
    a.steps()
        .find_map(|s| s.result.as_ref().err().map(|e| (s, e)))
}

fn addr_findings(obs: &Observations, h: &HostObs, a: &AddrObs) -> Vec<Finding> {
    let mut f = Vec::new();
    let where_ = format!("{} [{}]:{}", h.name, a.addr, obs.smtp_port);
    let ev = || a.transcript.clone();
    let no_connection = match &a.connect {
        Ok(_) => None,
        Err(SmtpError::Refused) => Some(
                Finding::new("smtp.refused", Severity::Fail, format!("{where_} refused the connection"))
                    .detail("Nothing listens on the SMTP port, or a firewall rejects the connection actively.")
                    .evidence([format!("connect {where_}: connection refused")])
                    .fix(format!("nc -vz {} {}; check the MTA is running and the firewall allows the port", a.addr, obs.smtp_port))
                    .host(h.label()),
        ),
        Err(SmtpError::Timeout(ms)) => Some(
                Finding::new("smtp.connect_timeout", Severity::Fail, format!("{where_} did not answer the connection within {ms} ms"))
                    .detail("The TCP connection was neither accepted nor refused: a firewall drops the packets, the host is down, or outbound port 25 is blocked on your side (common on cloud networks).")
                    .evidence([format!("connect {where_}: timed out after {ms} ms")])
                    .fix(format!("nc -vz -w 10 {} {} from another network; ask your provider whether outbound port 25 is blocked", a.addr, obs.smtp_port))
                    .host(h.label()),
        ),
        Err(e) => Some(
                Finding::new(
                    "smtp.unreachable",
                    Severity::Fail,
                    format!("{where_} is unreachable"),
                )
                .detail(escape_text(&e.to_string()))
                .evidence([format!("connect {where_}: {e}")])
                .fix("Check routing to the address (ip route get, traceroute -T -p 25)")
                .host(h.label()),
        ),
    };
    // A host we could not even talk to: its reverse DNS is all there is left to check.
    if let Some(x) = no_connection {
        f.push(x);
        f.extend(rdns_findings(h, a));
        return f;
    }
    if let Some(b) = &a.banner {
        match &b.result {
            Err(SmtpError::Timeout(ms)) => f.push(
                Finding::new("smtp.silent", Severity::Warn, format!("{where_} accepted the connection but sent no greeting in {ms} ms"))
                    .detail("Inconclusive, not down: a tarpit or greet delay may still be coming, or the service is hung. MTAs wait up to 5 minutes for a greeting (RFC 5321 4.5.3.2); validators with short timeouts give up.")
                    .evidence(ev())
                    .fix(format!("Retry with a longer wait (--greeting-wait 5m); telnet {} {} and watch", a.addr, obs.smtp_port))
                    .host(h.label()),
            ),
            Err(e) => f.push(
                Finding::new("smtp.dropped", Severity::Fail, format!("{where_} closed the connection before greeting"))
                    .detail(format!("The greeting failed: {}. Often a connection limit or an IP block enforced by closing at once.", escape_text(&e.to_string())))
                    .evidence(ev())
                    .fix("Retry later and from another IP; compare with other MX hosts")
                    .host(h.label()),
            ),
            Ok(r) if r.code >= 400 => {
                let (meaning, next) = explained(&r.raw());
                let (id, sev) = if r.code < 500 {
                    ("smtp.banner_4xx", Severity::Fail)
                } else {
                    ("smtp.banner_5xx", Severity::Fail)
                };
                let mut x = Finding::new(id, sev, format!("{where_} greets with {}", r.code))
                    .detail(format!("{}: {meaning}", escape_text(&r.raw())))
                    .evidence(ev())
                    .host(h.label());
                if let Some(n) = next {
                    x = x.fix(n.replace("DOMAIN", &obs.target.domain_ascii));
                }
                f.push(x);
            }
            Ok(r) => {
                if r.elapsed_ms >= SLOW_GREETING_MS {
                    f.push(
                        Finding::new("smtp.slow_greeting", Severity::Warn, format!("{where_} greeted after {} ms", r.elapsed_ms))
                            .detail("A greet delay or tarpit: MTAs wait (RFC 5321 allows 5 minutes), but clients that speak early are dropped and validators with short timeouts report the host down.")
                            .evidence(ev())
                            .fix("Nothing for MTAs; for verification, allow at least 30 s for the greeting")
                            .host(h.label()),
                    );
                }
            }
        }
    }
    // EHLO and HELO.
    if let Some(e) = &a.ehlo
        && let Ok(r) = &e.result
        && !r.is_positive()
    {
        let helo_ok = a.helo.as_ref().is_some_and(Step::positive);
        f.push(
            Finding::new(
                "smtp.ehlo_rejected",
                if helo_ok { Severity::Warn } else { Severity::Fail },
                format!("{where_} rejected EHLO with {}", r.code),
            )
            .detail(if helo_ok {
                format!("{} — HELO worked, so mail flows without ESMTP extensions (no STARTTLS, SIZE, 8BITMIME).", escape_text(&r.raw()))
            } else {
                format!("{} — HELO failed too: no transaction possible.", escape_text(&r.raw()))
            })
            .evidence(ev())
            .fix("Check the EHLO name policy on the server (it may require a resolvable, fully qualified name)")
            .host(h.label()),
        );
    }
    if let Some((s, e)) = step_failure(a) {
        f.push(
            Finding::new("smtp.dropped", Severity::Fail, format!("{where_} dropped the session at {}", step_label(a, s)))
                .detail(format!("{} while waiting for the reply to {}. A 421 4.4.2-style drop: the server closed mid-session (limits, timeouts, or a policy decision).", escape_text(&e.to_string()), step_label(a, s)))
                .evidence(ev())
                .fix("Retry later with fewer parallel sessions; compare with other MX hosts")
                .host(h.label()),
        );
    }
    // A 421 to any command also ends the session (RFC 5321 3.8).
    for s in a.steps() {
        if let Ok(r) = &s.result
            && r.code == 421
        {
            let (meaning, next) = explained(&r.raw());
            let mut x = Finding::new(
                "smtp.dropped",
                Severity::Fail,
                format!(
                    "{where_} closed the session with 421 at {}",
                    step_label(a, s)
                ),
            )
            .detail(format!("{}: {meaning}", escape_text(&r.raw())))
            .evidence(ev())
            .host(h.label());
            if let Some(n) = next {
                x = x.fix(n.replace("DOMAIN", &obs.target.domain_ascii));
            }
            f.push(x);
        }
    }
    if a.usable() {
        let caps: Vec<String> = a.capabilities().iter().map(|(k, _)| k.clone()).collect();
        f.push(
            Finding::new("smtp.ok", Severity::Pass, format!("{where_} accepts SMTP"))
                .detail(format!(
                    "Greeting {} ms after connect; capabilities: {}",
                    a.banner
                        .as_ref()
                        .and_then(Step::reply)
                        .map_or(0, |r| r.elapsed_ms),
                    if caps.is_empty() {
                        "none (HELO)".to_string()
                    } else {
                        escape_text(&caps.join(" "))
                    }
                ))
                .evidence(ev())
                .host(h.label()),
        );
        f.extend(tls_findings(obs, h, a));
    }
    f.extend(probe_findings(obs, h, a));
    f.extend(rdns_findings(h, a));
    f
}

/// The step as a person names it; the EHLO after STARTTLS is told apart from the first.
fn step_label(a: &AddrObs, s: &Step) -> String {
    if a.ehlo_tls.as_ref().is_some_and(|t| std::ptr::eq(t, s)) {
        "ehlo (after starttls)".to_string()
    } else {
        step_name(&s.command)
    }
}

fn step_name(cmd: &str) -> String {
    let upper = cmd.to_ascii_uppercase();
    for k in [
        "MAIL FROM",
        "RCPT TO",
        "STARTTLS",
        "EHLO",
        "HELO",
        "RSET",
        "(GREETING)",
    ] {
        if upper.starts_with(k) {
            return k.to_lowercase().replace(['(', ')'], "");
        }
    }
    escape_text(cmd)
}

fn tls_findings(obs: &Observations, h: &HostObs, a: &AddrObs) -> Vec<Finding> {
    let mut f = Vec::new();
    let where_ = format!("{} [{}]", h.name, a.addr);
    let ev = || a.transcript.clone();
    let offered = a.ehlo.as_ref().and_then(Step::reply).is_some_and(|r| {
        mxray_net::smtp::capabilities(r)
            .iter()
            .any(|(k, _)| k == "STARTTLS")
    });
    if !offered {
        f.push(
            Finding::new("tls.missing", Severity::Warn, format!("{where_} does not offer STARTTLS"))
                .detail("Mail to this host travels unencrypted, and senders that require TLS (MTA-STS, DANE, policy) will not deliver.")
                .evidence(ev())
                .fix("Enable STARTTLS with a valid certificate (Postfix: smtpd_tls_security_level = may, smtpd_tls_chain_files)")
                .host(h.label()),
        );
        return f;
    }
    if let Some(st) = &a.starttls
        && st.code() != Some(220)
    {
        f.push(
            Finding::new(
                "tls.handshake_failed",
                Severity::Warn,
                format!("{where_} offered STARTTLS but refused it"),
            )
            .detail(format!(
                "STARTTLS answered {}",
                st.reply()
                    .map_or_else(|| "nothing".to_string(), |r| escape_text(&r.raw()))
            ))
            .evidence(ev())
            .fix("Check the server's TLS configuration and logs")
            .host(h.label()),
        );
        return f;
    }
    let Some(t) = &a.tls else { return f };
    if let Some(err) = &t.handshake_error {
        f.push(
            Finding::new(
                "tls.handshake_failed",
                Severity::Warn,
                format!("TLS handshake with {where_} failed"),
            )
            .detail(format!(
                "{}. Most senders fall back to plaintext; those that require TLS defer the mail.",
                escape_text(err)
            ))
            .evidence(ev())
            .fix(format!(
                "openssl s_client -starttls smtp -connect {}:{} -servername {}",
                a.addr, obs.smtp_port, h.name
            ))
            .host(h.label()),
        );
        return f;
    }
    let Some(leaf) = t.chain.first() else {
        return f;
    };
    let mut cert_ev = ev();
    for (i, c) in t.chain.iter().enumerate() {
        cert_ev.push(format!(
            "cert[{i}] subject={} issuer={} names={} not_before={} not_after={}",
            c.subject,
            c.issuer,
            c.names.join(","),
            c.not_before,
            c.not_after
        ));
    }
    let days_left = (leaf.not_after - obs.at_unix).div_euclid(86_400);
    let mut bad = false;
    if leaf.not_after < obs.at_unix {
        bad = true;
        f.push(
            Finding::new("tls.cert_expired", Severity::Fail, format!("{where_} presents an expired certificate"))
                .detail(format!("It expired {} day(s) ago. Senders that verify (MTA-STS, DANE-less PKIX policies) refuse it.", -days_left))
                .evidence(cert_ev.clone())
                .fix("Renew the certificate and reload the MTA (certbot renew; postfix reload)")
                .host(h.label()),
        );
    } else if days_left <= EXPIRY_WARN_DAYS {
        f.push(
            Finding::new("tls.cert_expiring", Severity::Warn, format!("{where_}'s certificate expires in {days_left} day(s)"))
                .detail("Renew before it expires; verifying senders will refuse it afterwards.")
                .evidence(cert_ev.clone())
                .fix("Renew the certificate (check the renewal job: systemctl list-timers | grep certbot)")
                .host(h.label()),
        );
    }
    if !leaf.names.iter().any(|n| name_matches(n, &h.name)) {
        bad = true;
        f.push(
            Finding::new("tls.cert_name_mismatch", Severity::Warn, format!("{where_}'s certificate does not name {}", h.name))
                .detail(format!("The certificate is for {}; MTA-STS and verifying senders match it against the MX name.", escape_text(&leaf.names.join(", "))))
                .evidence(cert_ev.clone())
                .fix(format!("Add {} to the certificate's subjectAltName", h.name))
                .host(h.label()),
        );
    }
    let untrusted = leaf.self_signed
        || matches!(
            t.verify_kind.as_deref(),
            Some("unknown_issuer" | "bad_signature" | "other")
        );
    if untrusted {
        bad = true;
        f.push(
            Finding::new("tls.cert_untrusted", Severity::Warn, format!("{where_}'s certificate is not trusted"))
                .detail(format!(
                    "{} (checked against {}). Opportunistic TLS still encrypts, but MTA-STS enforce senders will not deliver.",
                    if leaf.self_signed { "It is self-signed".to_string() } else { escape_text(t.verify_error.as_deref().unwrap_or("untrusted issuer")) },
                    t.roots
                ))
                .evidence(cert_ev.clone())
                .fix("Use a certificate from a public CA (Let's Encrypt) and serve the full chain")
                .host(h.label()),
        );
    }
    if !bad {
        f.push(
            Finding::new(
                "tls.ok",
                Severity::Pass,
                format!("{where_} offers valid TLS"),
            )
            .detail(format!(
                "{} {}; certificate for {} valid {days_left} more day(s), trusted by {}",
                t.version.as_deref().unwrap_or("?"),
                t.cipher.as_deref().unwrap_or("?"),
                escape_text(&leaf.names.join(", ")),
                t.roots
            ))
            .evidence(cert_ev)
            .host(h.label()),
        );
    }
    f
}

/// RFC 6125 matching: exact, or a left-most `*` label standing for exactly one label.
pub fn name_matches(pattern: &str, name: &str) -> bool {
    let p = pattern.trim_end_matches('.').to_ascii_lowercase();
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    if let Some(rest) = p.strip_prefix("*.") {
        return n
            .split_once('.')
            .is_some_and(|(first, tail)| !first.is_empty() && tail == rest);
    }
    p == n
}

fn probe_findings(obs: &Observations, h: &HostObs, a: &AddrObs) -> Vec<Finding> {
    let mut f = Vec::new();
    let where_ = format!("{} [{}]", h.name, a.addr);
    let ev = || a.transcript.clone();
    if let Some(m) = &a.mail
        && let Ok(r) = &m.result
        && !r.is_positive()
        && r.code != 421
    {
        let (meaning, next) = explained(&r.raw());
        let mut x = Finding::new(
            "smtp.mail_rejected",
            if r.code >= 500 {
                Severity::Fail
            } else {
                Severity::Warn
            },
            format!("{where_} refused MAIL FROM with {}", r.code),
        )
        .detail(format!("{}: {meaning}", escape_text(&r.raw())))
        .evidence(ev())
        .host(h.label());
        if let Some(n) = next {
            x = x.fix(n);
        }
        f.push(x);
    }
    let Some(rc) = &a.rcpt else { return f };
    let Ok(r) = &rc.result else { return f };
    let addr = obs.target.normalized();
    let (meaning, next) = explained(&r.raw());
    let finding = if r.is_positive() {
        Finding::new(
            "smtp.rcpt_accepted",
            Severity::Pass,
            format!("{where_} accepts {addr}"),
        )
        .detail(format!(
            "{} (a catch-all domain accepts every address; verify checks for that)",
            escape_text(&r.raw())
        ))
    } else if r.code >= 500 {
        Finding::new(
            "smtp.rcpt_rejected",
            Severity::Fail,
            format!("{where_} rejects {addr} with {}", r.code),
        )
        .detail(format!("{}: {meaning}", escape_text(&r.raw())))
    } else {
        Finding::new(
            "smtp.rcpt_deferred",
            Severity::Warn,
            format!("{where_} defers {addr} with {}", r.code),
        )
        .detail(format!(
            "{}: {meaning} A transient answer: it says nothing about whether the mailbox exists.",
            escape_text(&r.raw())
        ))
    };
    let mut finding = finding.evidence(ev()).host(h.label());
    if !r.is_positive()
        && let Some(n) = next
    {
        finding = finding.fix(n.replace("DOMAIN", &obs.target.domain_ascii));
    }
    f.push(finding);
    f
}

fn rdns_findings(h: &HostObs, a: &AddrObs) -> Vec<Finding> {
    let mut f = Vec::new();
    let Some(ptr) = &a.ptr else { return f };
    let names = a.ptr_names();
    let where_ = format!("{} [{}]", h.name, a.addr);
    if names.is_empty() {
        f.push(
            Finding::new("rdns.missing", Severity::Warn, format!("{} has no reverse DNS (PTR)", a.addr))
                .detail(format!("The address of {} has no PTR record. Receivers often distrust mail from hosts without one, and it makes logs harder to read.", h.name))
                .evidence(ptr.evidence())
                .fix(format!("Ask whoever owns {} (hosting provider, ISP) to set its PTR to {}", a.addr, h.name))
                .host(h.label()),
        );
        return f;
    }
    let mut ev = ptr.evidence();
    for fw in &a.ptr_forward {
        ev.extend(fw.evidence());
    }
    let confirmed = a
        .ptr_forward
        .iter()
        .any(|fw| fw.addrs().any(|x| x == a.addr));
    if !confirmed {
        f.push(
            Finding::new("rdns.mismatch", Severity::Warn, format!("{}'s PTR does not resolve back to it", a.addr))
                .detail(format!("PTR says {}, but that name does not have {} as an address (forward-confirmed reverse DNS fails).", escape_text(&names.join(", ")), a.addr))
                .evidence(ev)
                .fix(format!("Make the A/AAAA record of {} include {}", names[0], a.addr))
                .host(h.label()),
        );
        return f;
    }
    match a.announced_name() {
        Some(n) if !names.contains(&n) => f.push(
            Finding::new("rdns.mismatch", Severity::Info, format!("{where_} calls itself {} but its PTR is {}", escape_text(&n), names[0]))
                .detail("The greeting/EHLO name differs from the reverse DNS name. Harmless for receiving, but it confuses log reading and some reputation checks when the host also sends.")
                .evidence(ev)
                .fix(format!("Set the MTA's hostname (Postfix myhostname) to {}", names[0]))
                .host(h.label()),
        ),
        _ => f.push(
            Finding::new("rdns.ok", Severity::Pass, format!("{} has reverse DNS {}", a.addr, names[0]))
                .detail("PTR and forward DNS agree.")
                .evidence(ev)
                .host(h.label()),
        ),
    }
    f
}

/// How each host fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    /// At least one address took EHLO/HELO.
    Up,
    /// Connected but no greeting yet: cannot tell.
    Inconclusive,
    Down,
}

pub fn host_state(h: &HostObs) -> HostState {
    if h.addrs.iter().any(AddrObs::usable) {
        HostState::Up
    } else if h.addrs.iter().any(|a| {
        matches!(
            a.banner.as_ref().map(|b| &b.result),
            Some(Err(SmtpError::Timeout(_)))
        )
    }) {
        HostState::Inconclusive
    } else {
        HostState::Down
    }
}

fn reachability(obs: &Observations) -> Vec<Finding> {
    let mut f = Vec::new();
    if obs.hosts.is_empty() {
        return f;
    }
    let states: Vec<(String, HostState)> = obs
        .hosts
        .iter()
        .map(|h| (h.label(), host_state(h)))
        .collect();
    let down: Vec<&str> = states
        .iter()
        .filter(|(_, s)| *s == HostState::Down)
        .map(|(n, _)| n.as_str())
        .collect();
    let up = states.iter().filter(|(_, s)| *s == HostState::Up).count();
    let ev: Vec<String> = states.iter().map(|(n, s)| format!("{n}: {s:?}")).collect();
    if down.len() == states.len() {
        f.push(
            Finding::new("smtp.all_mx_down", Severity::Fail, "No MX host accepts SMTP")
                .detail(format!("Every mail exchanger failed: {}. Mail to the domain is deferred (421 4.4.x) until one recovers.", down.join(", ")))
                .evidence(ev)
                .fix("See the failures above for each host; if all refuse or time out from here, test from another network (port 25 may be blocked on your side)"),
        );
    } else if !down.is_empty() {
        f.push(
            Finding::new("smtp.some_mx_down", Severity::Warn, format!("{} of {} MX hosts fail", down.len(), states.len()))
                .detail(format!("Failing: {}. Mail still flows through the others ({up} up), with delays for senders that try the failing ones first.", down.join(", ")))
                .evidence(ev)
                .fix("Fix or remove the failing MX hosts"),
        );
    }
    f
}

/// The overall judgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Overall {
    DeliverablePath,
    Degraded,
    Broken,
    Inconclusive,
}

impl Overall {
    pub fn as_str(self) -> &'static str {
        match self {
            Overall::DeliverablePath => "deliverable path",
            Overall::Degraded => "degraded",
            Overall::Broken => "broken",
            Overall::Inconclusive => "inconclusive",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct HostVerdict {
    pub host: String,
    pub state: HostState,
    /// The first failing step's finding id, if any.
    pub first_failure: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub overall: Overall,
    pub side: Side,
    pub summary: String,
    pub hosts: Vec<HostVerdict>,
}

/// Whose side a failing finding most likely points to.
fn side_of(f: &Finding) -> Side {
    match f.id {
        "domain.invalid" | "domain.typo" => Side::Sender,
        "dns.timeout" | "dns.servfail" | "dns.refused" | "dns.error" => Side::Path,
        "smtp.connect_timeout" | "smtp.unreachable" => Side::Path,
        "smtp.banner_4xx" | "smtp.banner_5xx" | "smtp.dropped" | "smtp.rcpt_deferred"
        | "smtp.mail_rejected" => {
            // The reply itself says best: rate limits and blocks are the sender's problem.
            f.detail
                .split_once(": ")
                .and_then(|(raw, _)| explain(raw).ok())
                .map_or(Side::Recipient, |e| e.side)
        }
        _ => Side::Recipient,
    }
}

pub fn verdict(obs: Option<&Observations>, findings: &[Finding]) -> Verdict {
    let fails: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Fail)
        .collect();
    let hosts: Vec<HostVerdict> = obs
        .map(|o| {
            o.hosts
                .iter()
                .map(|h| {
                    let label = h.label();
                    HostVerdict {
                        state: host_state(h),
                        first_failure: findings
                            .iter()
                            .find(|f| {
                                f.severity == Severity::Fail
                                    && f.host.as_deref() == Some(label.as_str())
                            })
                            .map(|f| f.id),
                        host: label,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let up = hosts.iter().filter(|h| h.state == HostState::Up).count();
    let inconclusive = hosts
        .iter()
        .filter(|h| h.state == HostState::Inconclusive)
        .count();
    let rcpt_rejected = findings.iter().any(|f| f.id == "smtp.rcpt_rejected");
    let rcpt_deferred = findings.iter().any(|f| f.id == "smtp.rcpt_deferred");
    let overall = if hosts.is_empty() || (up == 0 && inconclusive == 0) {
        if fails.is_empty() {
            Overall::Inconclusive
        } else {
            Overall::Broken
        }
    } else if up == 0 {
        Overall::Inconclusive
    } else if rcpt_rejected && !findings.iter().any(|f| f.id == "smtp.rcpt_accepted") {
        Overall::Broken
    } else if up < hosts.len() || rcpt_deferred || !fails.is_empty() {
        Overall::Degraded
    } else {
        Overall::DeliverablePath
    };
    let side = match overall {
        Overall::DeliverablePath => Side::None,
        _ => fails
            .first()
            .map(|f| side_of(f))
            .or_else(|| {
                findings
                    .iter()
                    .find(|f| f.severity == Severity::Warn)
                    .map(side_of)
            })
            .unwrap_or(Side::Unknown),
    };
    let summary = match overall {
        Overall::DeliverablePath => format!("all {} MX host(s) accept mail", hosts.len()),
        Overall::Degraded => format!(
            "{up} of {} MX host(s) accept mail; {}",
            hosts.len(),
            fails
                .first()
                .map_or("see warnings".to_string(), |f| f.title.clone())
        ),
        Overall::Broken => fails
            .first()
            .map_or("no way to deliver".to_string(), |f| f.title.clone()),
        Overall::Inconclusive => {
            "no MX host gave a definite answer yet (silent or slow)".to_string()
        }
    };
    Verdict {
        overall,
        side,
        summary,
        hosts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_names() {
        assert!(name_matches("*.example.com", "mx1.example.com"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(name_matches("MX.example.com", "mx.example.com."));
    }
}
