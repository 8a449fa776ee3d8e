//! STARTTLS on each MX address, judged: offered or not, the handshake, and the certificate
//! (dates, names, trust). The handshake itself happens inside the SMTP session (`smtp`).

use mxray_core::DomainName;
use mxray_core::{Finding, Severity, escape_text};

use super::observe::{AddrObs, HostObs, Observations, Step};
use crate::Topic;
use crate::score::Area;

// Finding ids: the public contract, listed in docs/findings.md.
pub const OK: &str = "tls.ok";
pub const MISSING: &str = "tls.missing";
pub const HANDSHAKE_FAILED: &str = "tls.handshake_failed";
pub const CERT_EXPIRED: &str = "tls.cert_expired";
pub const CERT_EXPIRING: &str = "tls.cert_expiring";
pub const CERT_UNTRUSTED: &str = "tls.cert_untrusted";
pub const CERT_NAME_MISMATCH: &str = "tls.cert_name_mismatch";

/// This topic's score area, side and ids.
pub const TOPIC: Topic = Topic {
    area: Area::Tls,
    recipient: true,
    ids: &[
        OK,
        MISSING,
        HANDSHAKE_FAILED,
        CERT_EXPIRED,
        CERT_EXPIRING,
        CERT_UNTRUSTED,
        CERT_NAME_MISMATCH,
    ],
};

/// A certificate expiring within this many days is reported.
pub const EXPIRY_WARN_DAYS: i64 = 14;

/// STARTTLS and the certificate of one address that took EHLO.
pub fn findings(obs: &Observations, h: &HostObs, a: &AddrObs) -> Vec<Finding> {
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
            Finding::new(MISSING, Severity::Warn, format!("{where_} does not offer STARTTLS"))
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
                HANDSHAKE_FAILED,
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
                HANDSHAKE_FAILED,
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
            Finding::new(CERT_EXPIRED, Severity::Fail, format!("{where_} presents an expired certificate"))
                .detail(format!("It expired {} day(s) ago. Senders that verify (MTA-STS, DANE-less PKIX policies) refuse it.", -days_left))
                .evidence(cert_ev.clone())
                .fix("Renew the certificate and reload the MTA (certbot renew; postfix reload)")
                .host(h.label()),
        );
    } else if days_left <= EXPIRY_WARN_DAYS {
        f.push(
            Finding::new(CERT_EXPIRING, Severity::Warn, format!("{where_}'s certificate expires in {days_left} day(s)"))
                .detail("Renew before it expires; verifying senders will refuse it afterwards.")
                .evidence(cert_ev.clone())
                .fix("Renew the certificate (check the renewal job: systemctl list-timers | grep certbot)")
                .host(h.label()),
        );
    }
    // RFC 6125 6.4.3: exact, or a left-most `*` label standing for exactly one label.
    let host_name = DomainName::from_dns(&h.name);
    if !leaf.names.iter().any(|n| host_name.matches_pattern(n)) {
        bad = true;
        f.push(
            Finding::new(CERT_NAME_MISMATCH, Severity::Warn, format!("{where_}'s certificate does not name {}", h.name))
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
            Finding::new(CERT_UNTRUSTED, Severity::Warn, format!("{where_}'s certificate is not trusted"))
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
            Finding::new(OK, Severity::Pass, format!("{where_} offers valid TLS"))
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
