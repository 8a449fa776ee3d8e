//! SMTP sessions with each MX address: the conversation (greeting, EHLO/HELO, STARTTLS, the
//! optional MAIL/RCPT probe, never DATA) and its judgement, plus each host's state.

use std::net::{IpAddr, SocketAddr};

use mxray_core::{Finding, Severity, escape_text, explain};
use mxray_net::{ConnectError, ProxyError, Session, SmtpError};
use serde::Serialize;

use super::collect::Options;
use super::observe::{AddrObs, HostObs, Observations, Step};
use crate::Topic;
use crate::score::Area;

// Finding ids: the public contract, listed in docs/findings.md.
pub const OK: &str = "smtp.ok";
pub const REFUSED: &str = "smtp.refused";
pub const CONNECT_TIMEOUT: &str = "smtp.connect_timeout";
pub const UNREACHABLE: &str = "smtp.unreachable";
pub const SILENT: &str = "smtp.silent";
pub const SLOW_GREETING: &str = "smtp.slow_greeting";
pub const BANNER_4XX: &str = "smtp.banner_4xx";
pub const BANNER_5XX: &str = "smtp.banner_5xx";
pub const DROPPED: &str = "smtp.dropped";
pub const OUT_OF_STEP: &str = "smtp.out_of_step";
pub const EHLO_REJECTED: &str = "smtp.ehlo_rejected";
pub const MAIL_REJECTED: &str = "smtp.mail_rejected";
pub const RCPT_ACCEPTED: &str = "smtp.rcpt_accepted";
pub const RCPT_REJECTED: &str = "smtp.rcpt_rejected";
pub const RCPT_DEFERRED: &str = "smtp.rcpt_deferred";
pub const PROBE_NOT_RUN: &str = "smtp.probe_not_run";
pub const ALL_MX_DOWN: &str = "smtp.all_mx_down";
pub const SOME_MX_DOWN: &str = "smtp.some_mx_down";

/// This topic's score area, side and ids.
pub const TOPIC: Topic = Topic {
    area: Area::Transport,
    recipient: true,
    ids: &[
        OK,
        REFUSED,
        CONNECT_TIMEOUT,
        UNREACHABLE,
        SILENT,
        SLOW_GREETING,
        BANNER_4XX,
        BANNER_5XX,
        DROPPED,
        OUT_OF_STEP,
        EHLO_REJECTED,
        MAIL_REJECTED,
        RCPT_ACCEPTED,
        RCPT_REJECTED,
        RCPT_DEFERRED,
        PROBE_NOT_RUN,
        ALL_MX_DOWN,
        SOME_MX_DOWN,
    ],
};

/// A greeting slower than this is a tarpit or greet delay worth reporting.
pub const SLOW_GREETING_MS: u64 = 3_000;

/// One address's SMTP conversation (and STARTTLS within it), under the run's per-address
/// connection cap, through the run's proxy if it has one. The proxy's failure (now, or
/// earlier in the run) is an error, never the address's observation.
pub async fn observe(
    addr: IpAddr,
    mx_name: &str,
    rcpt: Option<&str>,
    opts: &Options,
) -> Result<AddrObs, ProxyError> {
    let mut o = AddrObs::new(addr);
    let at = format!("{mx_name} [{addr}]");
    // Politeness: a shared cap on simultaneous connections per address.
    let _permit = opts
        .activity
        .during(
            format!("a connection slot for {addr} (--per-address)"),
            opts.limits.for_addr(addr).acquire_owned(),
        )
        .await
        .ok();
    let egress = opts.proxy.as_deref();
    if let Some(e) = egress.and_then(|p| p.failure()) {
        return Err(e);
    }
    let peer = SocketAddr::new(addr, opts.smtp_port);
    // The MX name goes along for socks5h (the proxy resolves it); the policy is still checked
    // on the address our own DNS gave.
    let connect = Session::connect_via(
        peer,
        Some(mx_name),
        None,
        egress.map(|p| p.proxy()),
        opts.timeout,
        &opts.policy,
    );
    let what = match egress {
        Some(p) => format!(
            "a TCP connection to {at}:{} through {}",
            opts.smtp_port,
            p.proxy()
        ),
        None => format!("a TCP connection to {at}:{}", opts.smtp_port),
    };
    match opts.activity.during(what, connect).await {
        Err(ConnectError::Proxy(e)) => {
            if let Some(p) = egress {
                p.fail(&e);
            }
            return Err(e);
        }
        Err(ConnectError::Target(e)) => o.connect = Err(e),
        Ok(mut s) => {
            o.connect = Ok(s.now_ms());
            converse(&mut s, &mut o, mx_name, &at, rcpt, opts).await;
            opts.activity
                .during(format!("the reply to QUIT from {at}"), s.quit())
                .await;
            o.transcript = s.transcript_lines();
        }
    }
    Ok(o)
}

async fn converse(
    s: &mut Session,
    o: &mut AddrObs,
    mx_name: &str,
    at: &str,
    rcpt: Option<&str>,
    opts: &Options,
) {
    let greeting = s.read_reply(opts.greeting_wait);
    let banner = Step {
        command: "(greeting)".into(),
        result: opts
            .activity
            .during(format!("the greeting of {at}"), greeting)
            .await,
    };
    let ok = banner.positive();
    o.banner = Some(banner);
    if !ok {
        return;
    }
    let ehlo = step(s, opts, at, format!("EHLO {}", opts.helo)).await;
    let ehlo_ok = ehlo.positive();
    let ended = ehlo.ends_session();
    o.ehlo = Some(ehlo);
    if ended {
        return;
    }
    if !ehlo_ok {
        let helo = step(s, opts, at, format!("HELO {}", opts.helo)).await;
        let ok = helo.positive();
        o.helo = Some(helo);
        if !ok {
            return;
        }
    }
    let offers_tls = o.capabilities().iter().any(|(k, _)| k == "STARTTLS");
    if offers_tls {
        let st = step(s, opts, at, "STARTTLS".into()).await;
        let go = st.code() == Some(220);
        let dropped = st.ends_session();
        o.starttls = Some(st);
        if dropped {
            return;
        }
        if go {
            let handshake = s.upgrade_tls(mx_name, &opts.tls);
            let tls = opts
                .activity
                .during(format!("the TLS handshake with {at}"), handshake)
                .await;
            let up = tls.handshake_error.is_none();
            o.tls = Some(tls);
            if !up {
                // The connection state is unknown after a failed handshake: stop here, as an MTA
                // would before retrying without TLS.
                return;
            }
            let again = step(s, opts, at, format!("EHLO {}", opts.helo)).await;
            let ok = again.positive();
            o.ehlo_tls = Some(again);
            if !ok {
                return;
            }
        }
    }
    if let (true, Some(rcpt)) = (opts.probe, rcpt) {
        let mail = step(s, opts, at, format!("MAIL FROM:<{}>", opts.from)).await;
        let ok = mail.positive();
        o.mail = Some(mail);
        if !ok {
            return;
        }
        let r = step(s, opts, at, format!("RCPT TO:<{rcpt}>")).await;
        let dropped = r.ends_session();
        o.rcpt = Some(r);
        if dropped {
            return;
        }
        // Never DATA: reset the envelope and leave.
        o.rset = Some(step(s, opts, at, "RSET".into()).await);
    }
}

/// Sends `command` and reads its reply, on the run's activity board meanwhile.
async fn step(s: &mut Session, opts: &Options, at: &str, command: String) -> Step {
    // The verb alone: the board is shown on a terminal, the address stays in the transcript.
    let verb = command.split([' ', ':']).next().unwrap_or_default();
    let result = opts
        .activity
        .during(
            format!("the reply to {verb} from {at}"),
            s.command(&command),
        )
        .await;
    Step { command, result }
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

/// One address's session: connection, greeting (a 421 banner becomes `smtp.banner_4xx`
/// here), EHLO/HELO, drops and 421s mid-session, and `smtp.ok`.
pub fn session_findings(obs: &Observations, h: &HostObs, a: &AddrObs) -> Vec<Finding> {
    let mut f = Vec::new();
    let where_ = format!("{} [{}]:{}", h.name, a.addr, obs.smtp_port);
    let ev = || a.transcript.clone();
    let no_connection = match &a.connect {
        Ok(_) => None,
        Err(SmtpError::Refused) => Some(
                Finding::new(REFUSED, Severity::Fail, format!("{where_} refused the connection"))
                    .detail("Nothing listens on the SMTP port, or a firewall rejects the connection actively.")
                    .evidence([format!("connect {where_}: connection refused")])
                    .fix(format!("nc -vz {} {}; check the MTA is running and the firewall allows the port", a.addr, obs.smtp_port))
                    .host(h.label()),
        ),
        Err(SmtpError::NotAllowed(n)) => Some(
                Finding::new(crate::recipient::mx::PRIVATE_ADDRESS, Severity::Warn, format!("Not connected to {where_}: a {} address", n.range))
                    .detail("Only public addresses are contacted in this run (--public-only, or mxray serve): an MX in public DNS that points into a private range is a mistake, or a trap that turns probers on the network they run in. The host is not judged: the verdict is inconclusive, not down.")
                    .evidence([format!("connect {where_}: {n}")])
                    .fix(format!("If {} is on your own network and you mean to test it, allow the range: --allow-private CIDR (the lab: --allow-private 127.0.0.0/8)", a.addr))
                    .host(h.label()),
        ),
        Err(SmtpError::Timeout(ms)) => Some(
                Finding::new(CONNECT_TIMEOUT, Severity::Fail, format!("{where_} did not answer the connection within {ms} ms"))
                    .detail("The TCP connection was neither accepted nor refused: a firewall drops the packets, the host is down, or outbound port 25 is blocked on your side (common on cloud networks).")
                    .evidence([format!("connect {where_}: timed out after {ms} ms")])
                    .fix(format!("nc -vz -w 10 {} {} from another network; ask your provider whether outbound port 25 is blocked", a.addr, obs.smtp_port))
                    .host(h.label()),
        ),
        Err(e) => Some(
                Finding::new(
                    UNREACHABLE,
                    Severity::Fail,
                    if matches!(e, SmtpError::Reset(_)) {
                        format!("{where_} reset the connection as it was accepted")
                    } else {
                        format!("{where_} is unreachable")
                    },
                )
                .detail(escape_text(&e.to_string()))
                .evidence([format!("connect {where_}: {e}")])
                .fix("Check routing to the address (ip route get, traceroute -T -p 25)")
                .host(h.label()),
        ),
    };
    // A host we could not even talk to: its reverse DNS is all there is left to check (the
    // caller does that).
    if let Some(x) = no_connection {
        f.push(x);
        return f;
    }
    if let Some(b) = &a.banner {
        match &b.result {
            Err(SmtpError::Timeout(ms)) => f.push(
                Finding::new(SILENT, Severity::Warn, format!("{where_} accepted the connection but sent no greeting in {ms} ms"))
                    .detail("Inconclusive, not down: a tarpit or greet delay may still be coming, or the service is hung. MTAs wait up to 5 minutes for a greeting (RFC 5321 4.5.3.2); validators with short timeouts give up.")
                    .evidence(ev())
                    .fix(format!("Retry with a longer wait (--greeting-wait 5m); telnet {} {} and watch", a.addr, obs.smtp_port))
                    .host(h.label()),
            ),
            Err(e) => {
                // Name what happened: a reset, a line no server writes, or a plain close.
                let (title, why) = match e {
                    SmtpError::LineTooLong => (
                        format!("{where_} sent a greeting line over {} KiB", mxray_net::smtp::MAX_LINE / 1024),
                        format!("mxray cut the line at {} KiB and stopped: no SMTP server writes lines that long (RFC 5321 4.5.3.1.5 allows 512 octets). A broken service, or a hostile one trying to exhaust clients' memory.", mxray_net::smtp::MAX_LINE / 1024),
                    ),
                    SmtpError::Reset(_) => (
                        format!("{where_} reset the connection right after accepting it"),
                        format!("The greeting failed: {}. Accept-then-reset is how connection limits, IP blocks and overloaded front ends refuse a client.", escape_text(&e.to_string())),
                    ),
                    _ => (
                        format!("{where_} closed the connection before greeting"),
                        format!("The greeting failed: {}. Often a connection limit or an IP block enforced by closing at once.", escape_text(&e.to_string())),
                    ),
                };
                f.push(
                    Finding::new(DROPPED, Severity::Fail, title)
                        .detail(why)
                        .evidence(ev())
                        .fix("Retry later and from another IP; compare with other MX hosts")
                        .host(h.label()),
                );
            }
            Ok(r) if r.code >= 400 => {
                let (meaning, next) = explained(&r.raw());
                let (id, sev) = if r.code < 500 {
                    (BANNER_4XX, Severity::Fail)
                } else {
                    (BANNER_5XX, Severity::Fail)
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
                        Finding::new(SLOW_GREETING, Severity::Warn, format!("{where_} greeted after {} ms", r.elapsed_ms))
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
                EHLO_REJECTED,
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
    if let Some((s, SmtpError::Unsolicited(extra))) = step_failure(a) {
        f.push(
            Finding::new(OUT_OF_STEP, Severity::Fail, format!("{where_} sent replies nobody asked for, at {}", step_label(a, s)))
                .detail(format!(
                    "Before or beside its reply to {} it sent \"{}\". A server speaks only in reply, one reply per command (RFC 5321 4.3.1, RFC 2920 3.1): replies out of step land on the wrong commands, so mxray believes none of this session. MTAs log such servers as 'lost synchronization' or 'improper command pipelining' and defer.",
                    step_label(a, s),
                    escape_text(extra)
                ))
                .evidence(ev())
                .fix("Look for what sits in front of the SMTP server (a proxy, load balancer, SMTP filter or tarpit answering on its behalf); compare a session with swaks --pipe")
                .host(h.label()),
        );
    } else if let Some((s, SmtpError::Timeout(ms))) = step_failure(a) {
        // Silence mid-session is like silence before the greeting: not an answer yet.
        f.push(
            Finding::new(SILENT, Severity::Warn, format!("{where_} went silent at {}: no reply in {ms} ms", step_label(a, s)))
                .detail("Inconclusive, not down: the server greeted, then stopped answering (a tarpit, an overloaded or hung service). MTAs wait minutes per command (RFC 5321 4.5.3.2); short client timeouts give up first.")
                .evidence(ev())
                .fix(format!("Retry with a longer --timeout; telnet {} {} and send the same commands", a.addr, obs.smtp_port))
                .host(h.label()),
        );
    } else if let Some((s, e)) = step_failure(a) {
        f.push(
            Finding::new(DROPPED, Severity::Fail, format!("{where_} dropped the session at {}", step_label(a, s)))
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
                DROPPED,
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
            Finding::new(OK, Severity::Pass, format!("{where_} accepts SMTP"))
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
    }
    f
}

/// A step's outcome in a few words: the reply, or the error.
fn step_result(s: &Step) -> String {
    match &s.result {
        Ok(r) => escape_text(&r.raw()),
        Err(e) => escape_text(&e.to_string()),
    }
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

/// `--probe`: MAIL FROM and RCPT TO.
pub fn probe_findings(obs: &Observations, h: &HostObs, a: &AddrObs) -> Vec<Finding> {
    let mut f = Vec::new();
    let where_ = format!("{} [{}]", h.name, a.addr);
    let ev = || a.transcript.clone();
    // Asked for, and the session got past the greeting, yet no MAIL FROM went out: say why
    // rather than let a clean session stand for an answer about the address.
    // A session that broke (a drop, a 421) is reported as such already.
    let greeted = a.banner.as_ref().is_some_and(Step::positive);
    let broke = step_failure(a).is_some() || a.steps().any(Step::ends_session);
    if obs.probe && obs.target.local.is_some() && greeted && !broke && a.mail.is_none() {
        let why = if let Some(e) = a.tls.as_ref().and_then(|t| t.handshake_error.as_ref()) {
            format!(
                "the STARTTLS handshake failed ({}) and mxray does not fall back to plain text",
                escape_text(e)
            )
        } else if let Some(s) = a.steps().find(|s| !s.positive()) {
            format!(
                "the session stopped at {} ({})",
                step_label(a, s),
                step_result(s)
            )
        } else {
            "the session ended before it".to_string()
        };
        f.push(
            Finding::new(PROBE_NOT_RUN, Severity::Warn, format!("The probe did not run on {where_}"))
                .detail(format!("--probe asked whether {} is accepted, but no MAIL FROM was sent: {why}. Nothing is known about the address from this host.", escape_text(&obs.target.normalized())))
                .evidence(ev())
                .fix("Fix what stopped the session (above), or probe from a client that can complete it (swaks --tls)")
                .host(h.label()),
        );
    }
    if let Some(m) = &a.mail
        && let Ok(r) = &m.result
        && !r.is_positive()
        && r.code != 421
    {
        let (meaning, next) = explained(&r.raw());
        let mut x = Finding::new(
            MAIL_REJECTED,
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
            RCPT_ACCEPTED,
            Severity::Pass,
            format!("{where_} accepts {addr}"),
        )
        .detail(format!(
            "{} (a catch-all domain accepts every address; verify checks for that)",
            escape_text(&r.raw())
        ))
    } else if r.code >= 500 {
        Finding::new(
            RCPT_REJECTED,
            Severity::Fail,
            format!("{where_} rejects {addr} with {}", r.code),
        )
        .detail(format!("{}: {meaning}", escape_text(&r.raw())))
    } else {
        Finding::new(
            RCPT_DEFERRED,
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

/// How each host fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
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
        // Not contacted (outside the address policy): untested, not down.
        matches!(a.connect, Err(SmtpError::NotAllowed(_)))
        // Silent before the greeting or after it: no answer yet, not a refusal.
        || matches!(
            a.banner.as_ref().map(|b| &b.result),
            Some(Err(SmtpError::Timeout(_)))
        ) || matches!(step_failure(a), Some((_, SmtpError::Timeout(_))))
    }) {
        HostState::Inconclusive
    } else {
        HostState::Down
    }
}

/// Whether any MX host takes mail at all.
pub fn reachability(obs: &Observations) -> Vec<Finding> {
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
            Finding::new(ALL_MX_DOWN, Severity::Fail, "No MX host accepts SMTP")
                .detail(format!("Every mail exchanger failed: {}. Mail to the domain is deferred (421 4.4.x) until one recovers.", down.join(", ")))
                .evidence(ev)
                .fix("See the failures above for each host; if all refuse or time out from here, test from another network (port 25 may be blocked on your side)"),
        );
    } else if !down.is_empty() {
        f.push(
            Finding::new(SOME_MX_DOWN, Severity::Warn, format!("{} of {} MX hosts fail", down.len(), states.len()))
                .detail(format!("Failing: {}. Mail still flows through the others ({up} up), with delays for senders that try the failing ones first.", down.join(", ")))
                .evidence(ev)
                .fix("Fix or remove the failing MX hosts"),
        );
    }
    f
}
