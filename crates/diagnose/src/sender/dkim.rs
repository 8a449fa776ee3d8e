//! DKIM keys (RFC 6376, RFC 8301): the key records at the given and common selectors, and
//! their judgement (missing, malformed, revoked, weak, testing).

use base64::Engine;
use mxray_core::{Finding, Severity, escape_text};
use mxray_net::{Dns, DnsAnswer, DnsOutcome, RType};
use serde::Serialize;
use tokio::task::JoinSet;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::{PublicKey, RSAPublicKey};
use x509_parser::x509::SubjectPublicKeyInfo;

use super::tags::{tag, tags};
use super::{SenderObs, outcome_word, txt_records};

use crate::Topic;
use crate::score::Area;

// Finding ids: the public contract, listed in docs/findings.md.
pub const NOT_FOUND: &str = "dkim.not_found";
pub const SYNTAX: &str = "dkim.syntax";
pub const WEAK_KEY: &str = "dkim.weak_key";
pub const REVOKED: &str = "dkim.revoked";
pub const TESTING: &str = "dkim.testing";
pub const OK: &str = "dkim.ok";

/// This topic's score area, side and ids.
pub const TOPIC: Topic = Topic {
    area: Area::Auth,
    recipient: false,
    ids: &[NOT_FOUND, SYNTAX, WEAK_KEY, REVOKED, TESTING, OK],
};

/// Selectors tried when none is given, and beside the given ones: the defaults of common
/// providers and MTAs (Microsoft 365, Google, Mailchimp/Mandrill, SendGrid, Amazon SES
/// custom, Zoho, Proton, Fastmail, rspamd/OpenDKIM defaults).
pub const COMMON_SELECTORS: &[&str] = &[
    "default",
    "dkim",
    "mail",
    "selector1",
    "selector2",
    "google",
    "k1",
    "k2",
    "k3",
    "s1",
    "s2",
    "s1024",
    "s2048",
    "key1",
    "key2",
    "smtp",
    "mandrill",
    "mxvault",
    "zoho",
    "protonmail",
    "fm1",
    "fm2",
    "fm3",
    "sig1",
    "dk",
];

/// One DKIM selector's key record.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DkimObs {
    pub selector: String,
    /// Given with --dkim-selector (else found by the sweep).
    pub given: bool,
    pub answer: DnsAnswer,
}

/// What the DKIM lookups saw: the name every selector lives under, and the key records.
#[derive(Debug, Clone, Default)]
pub struct DkimSweep {
    /// `_domainkey.DOMAIN`, asked before the common selectors (see [`observe`]).
    pub domainkey: Option<DnsAnswer>,
    pub keys: Vec<DkimObs>,
}

/// The key records at the given selectors, then at the common ones, unless
/// `_domainkey.DOMAIN` does not exist. Given selectors come first, in order.
///
/// RFC 8020: below a name that does not exist (NXDOMAIN), nothing exists, so no
/// `SELECTOR._domainkey.DOMAIN` can hold a key, and the 25 common-selector questions are
/// skipped (the sweep is most of a report's queries when a domain has no DKIM at all). A
/// domain with keys has an empty non-terminal there (NOERROR, no data), and any other outcome
/// (SERVFAIL, timeout) proves nothing: both get the whole sweep. Given selectors are asked
/// whatever the answer: the user expects to see them.
pub async fn observe(dns: &Dns, d: &str, selectors: &[String]) -> DkimSweep {
    let given: Vec<String> = selectors.iter().map(|s| s.to_ascii_lowercase()).collect();
    // Asked for CNAME, which resolvers never chase: for any other type, an alias at
    // `_domainkey` leading nowhere would answer NXDOMAIN for the alias's target (RFC 6604),
    // though names below the alias may exist.
    let node = format!("_domainkey.{d}");
    let (domainkey, mut keys) = tokio::join!(
        dns.query(&node, RType::Cname),
        ask_selectors(dns, d, given.clone(), true)
    );
    if !nothing_below(Some(&domainkey)) {
        let common = COMMON_SELECTORS
            .iter()
            .filter(|s| !given.iter().any(|g| g == *s))
            .map(|s| s.to_string())
            .collect();
        keys.extend(ask_selectors(dns, d, common, false).await);
    }
    DkimSweep {
        domainkey: Some(domainkey),
        keys,
    }
}

/// Whether the answer at `_domainkey.DOMAIN` proves no selector exists (NXDOMAIN).
pub fn nothing_below(domainkey: Option<&DnsAnswer>) -> bool {
    domainkey.is_some_and(|a| a.outcome == DnsOutcome::NxDomain)
}

/// The key records at `selectors`, asked at once, in their order.
async fn ask_selectors(dns: &Dns, d: &str, selectors: Vec<String>, given: bool) -> Vec<DkimObs> {
    let mut set = JoinSet::new();
    for (i, sel) in selectors.into_iter().enumerate() {
        let dns = dns.clone();
        let name = format!("{sel}._domainkey.{d}");
        set.spawn(async move {
            let answer = dns.query(&name, RType::Txt).await;
            (
                i,
                DkimObs {
                    selector: sel,
                    given,
                    answer,
                },
            )
        });
    }
    crate::in_order(set).await
}

/// The size in bits of an RSA public key given as SubjectPublicKeyInfo or PKCS#1 DER.
pub fn rsa_bits(der: &[u8]) -> Option<usize> {
    // DKIM's p= is normally an SPKI; some signers publish the bare PKCS#1 RSAPublicKey.
    let bits = |modulus: &[u8]| {
        // x509-parser's key_size() counts whole bytes; RFC 8301 means the exact bit length.
        let n: Vec<u8> = modulus.iter().copied().skip_while(|b| *b == 0).collect();
        let lead = *n.first()?;
        Some(n.len() * 8 - lead.leading_zeros() as usize)
    };
    match SubjectPublicKeyInfo::from_der(der) {
        Ok((_, spki)) => match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => bits(rsa.modulus),
            _ => None,
        },
        Err(_) => bits(RSAPublicKey::from_der(der).ok()?.1.modulus),
    }
}
/// Every DKIM finding.
pub fn findings(s: &SenderObs) -> Vec<Finding> {
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
                    Finding::new(NOT_FOUND, Severity::Fail, format!("No DKIM key at selector {}", k.selector))
                        .detail(format!("{name} has no TXT record ({}): mail signed with s={} fails DKIM (permerror, no key).", outcome_word(&k.answer.outcome), k.selector))
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
                Finding::new(REVOKED, if k.given { Severity::Fail } else { Severity::Warn }, format!("The DKIM key at selector {} is revoked (empty p=)", k.selector))
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
                        Finding::new(WEAK_KEY, Severity::Fail, format!("The DKIM key at selector {} is RSA {bits} bits", k.selector))
                            .detail("RFC 8301: verifiers MUST NOT accept RSA keys under 1024 bits; signatures with it count as failed, and the key can be factored.")
                            .evidence(ev)
                            .fix("Generate a 2048-bit key, publish it at a new selector, switch signing to it, then revoke this one"),
                    );
                    continue;
                }
                Some(bits) if bits < 2048 => {
                    f.push(
                        Finding::new(WEAK_KEY, Severity::Warn, format!("The DKIM key at selector {} is RSA {bits} bits", k.selector))
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
                Finding::new(TESTING, Severity::Info, format!("The DKIM key at selector {} is in testing mode (t=y)", k.selector))
                    .detail("Verifiers may treat failures as if unsigned. Fine while rolling out; remove t=y once signatures verify.")
                    .evidence(ev.clone()),
            );
        }
        f.push(
            Finding::new(
                OK,
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
        f.push(if nothing_below(s.dkim_domainkey.as_ref()) {
            let node = format!("_domainkey.{d}");
            Finding::new(NOT_FOUND, Severity::Warn, format!("No DKIM key for {d}: {node} does not exist"))
                .detail(format!("{node} does not exist (NXDOMAIN), so no selector can have a key (RFC 8020: nothing exists below a name that does not exist); the {} common selectors were not asked. Mail signed with d={d} fails DKIM.", COMMON_SELECTORS.len()))
                .evidence(s.dkim_domainkey.iter().flat_map(|a| a.evidence()).collect::<Vec<_>>())
                .fix(format!("Enable DKIM signing at your mail provider and publish the key it gives at SELECTOR._domainkey.{d}; --dkim-selector SELECTOR checks it"))
        } else {
            Finding::new(NOT_FOUND, Severity::Warn, format!("No DKIM key found for {d} at {} common selectors", s.dkim.len()))
                .detail("DKIM selectors cannot be listed from DNS; none of the usual names has a key. Mail may still be signed under another selector: the DKIM-Signature header's s= tag shows it.")
                .evidence(s.dkim.iter().take(5).flat_map(|k| k.answer.evidence()).collect::<Vec<_>>())
                .fix("Pass --dkim-selector SELECTOR (from a received message's DKIM-Signature s= tag); if mail is unsigned, enable DKIM signing at your provider")
        });
    }
    f
}

fn dkim_syntax(selector: &str, why: &str, ev: Vec<String>) -> Finding {
    Finding::new(
        SYNTAX,
        Severity::Fail,
        format!("The DKIM key record at selector {selector} is malformed"),
    )
    .detail(format!(
        "{why}. Verifiers cannot use the key: signatures fail (permerror)."
    ))
    .evidence(ev)
    .fix("Republish the record exactly as your signer generated it: v=DKIM1; k=rsa; p=BASE64")
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use mxray_net::{DnsOutcome, RType};

    use super::*;
    use crate::sender::testing::{answer, ids, sender, txt};

    /// DER length octets.
    fn len(n: usize) -> Vec<u8> {
        match n {
            0..=0x7f => vec![n as u8],
            0x80..=0xff => vec![0x81, n as u8],
            _ => vec![0x82, (n >> 8) as u8, n as u8],
        }
    }

    /// A PKCS#1 RSAPublicKey whose modulus has exactly `bits` bits (a multiple of 8), e = 3.
    fn pkcs1(bits: usize) -> Vec<u8> {
        let mut modulus = vec![0x00, 0x80];
        modulus.extend(std::iter::repeat_n(0x01, bits / 8 - 1));
        let mut body = vec![0x02];
        body.extend(len(modulus.len()));
        body.extend(modulus);
        body.extend([0x02, 0x01, 0x03]);
        let mut der = vec![0x30];
        der.extend(len(body.len()));
        der.extend(body);
        der
    }

    fn key(bits: usize, extra: &str) -> String {
        let p = base64::engine::general_purpose::STANDARD.encode(pkcs1(bits));
        format!("v=DKIM1; k=rsa;{extra} p={p}")
    }

    fn judge(selector: &str, given: bool, records: &[&str]) -> Vec<Finding> {
        let mut s = sender("example.com");
        s.dkim = vec![DkimObs {
            selector: selector.into(),
            given,
            answer: txt(&format!("{selector}._domainkey.example.com"), records),
        }];
        findings(&s)
    }

    #[test]
    fn key_sizes_by_x509_parser() {
        assert_eq!(rsa_bits(&pkcs1(1024)), Some(1024));
        assert_eq!(rsa_bits(&pkcs1(2048)), Some(2048));
        // A 9-bit modulus 0x01ff, e = 3.
        assert_eq!(
            rsa_bits(&[0x30, 0x07, 0x02, 0x02, 0x01, 0xff, 0x02, 0x01, 0x03]),
            Some(9)
        );
        assert_eq!(rsa_bits(&[0x04, 0x00]), None);
    }

    #[test]
    fn revoked_weak_and_testing() {
        let revoked = judge("s1", true, &["v=DKIM1; k=rsa; p="]);
        assert_eq!(ids(&revoked, Severity::Fail), [REVOKED]);
        let swept = judge("s1", false, &["v=DKIM1; k=rsa; p="]);
        assert_eq!(ids(&swept, Severity::Warn), [REVOKED]);
        assert_eq!(
            ids(&judge("s1", true, &[&key(512, "")]), Severity::Fail),
            [WEAK_KEY]
        );
        assert_eq!(
            ids(&judge("s1", true, &[&key(1024, "")]), Severity::Warn),
            [WEAK_KEY]
        );
        let testing = judge("s1", true, &[&key(2048, " t=y;")]);
        assert_eq!(ids(&testing, Severity::Info), [TESTING]);
        assert_eq!(ids(&testing, Severity::Pass), [OK]);
        assert!(testing[1].title.contains("RSA 2048 bits"));
    }

    #[test]
    fn missing_and_malformed() {
        assert_eq!(ids(&judge("s1", true, &[]), Severity::Fail), [NOT_FOUND]);
        assert_eq!(ids(&judge("s1", false, &[]), Severity::Warn), [NOT_FOUND]);
        let bad = judge("s1", true, &["v=DKIM1; k=rsa; p=!!!"]);
        assert_eq!(ids(&bad, Severity::Fail), [SYNTAX]);
        let mut s = sender("example.com");
        s.dkim = vec![DkimObs {
            selector: "s1".into(),
            given: true,
            answer: answer(
                "s1._domainkey.example.com",
                RType::Txt,
                DnsOutcome::Timeout,
                vec![],
            ),
        }];
        assert!(findings(&s)[0].detail.contains("timeout"));
    }

    #[test]
    fn nxdomain_at_domainkey_says_why_nothing_was_swept() {
        let mut s = sender("example.com");
        s.dkim_domainkey = Some(answer(
            "_domainkey.example.com",
            RType::Cname,
            DnsOutcome::NxDomain,
            vec![],
        ));
        let f = findings(&s);
        assert_eq!(ids(&f, Severity::Warn), [NOT_FOUND]);
        assert!(
            f[0].detail
                .starts_with("_domainkey.example.com does not exist (NXDOMAIN)"),
            "{}",
            f[0].detail
        );
        assert!(f[0].evidence[0].contains("NXDOMAIN"), "{:?}", f[0].evidence);
        // A given selector is still judged on its own answer, and no sweep finding is added.
        s.dkim = vec![DkimObs {
            selector: "s1".into(),
            given: true,
            answer: txt("s1._domainkey.example.com", &[]),
        }];
        let f = findings(&s);
        assert_eq!(ids(&f, Severity::Fail), [NOT_FOUND]);
        assert!(ids(&f, Severity::Warn).is_empty());
        // Any other answer there proves nothing: the usual sweep finding.
        for outcome in [
            DnsOutcome::NoData,
            DnsOutcome::ServFail,
            DnsOutcome::Timeout,
        ] {
            let mut s = sender("example.com");
            s.dkim_domainkey = Some(answer(
                "_domainkey.example.com",
                RType::Cname,
                outcome,
                vec![],
            ));
            let f = findings(&s);
            assert!(f[0].title.contains("common selectors"), "{}", f[0].title);
        }
    }

    /// The lab-backed half: what `observe` asks the server. NXDOMAIN at `_domainkey` costs one
    /// question (plus the given selectors); an empty non-terminal (keys below) and a SERVFAIL
    /// both get the whole sweep.
    #[test]
    fn the_sweep_stops_at_a_missing_domainkey_only() {
        let lab = mxray_lab::LabHandle::from_toml(
            r#"[lab]
name = "dkim-sweep"

[[domains]]
name = "nokeys.test"

[[domains]]
name = "keys.test"
[[domains.records]]
name = "s1._domainkey"
txt = ["v=DKIM1; k=rsa; p=MIIB"]

[[domains]]
name = "broken.test"
[[domains.records]]
name = "_domainkey"
failure = "servfail"
"#,
            "dkim-sweep",
            mxray_lab::LabOptions::default(),
        )
        .expect("lab");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let asked = || lab.lab().stats().dns.queries;
        rt.block_on(async {
            let dns =
                Dns::new(&[lab.resolver()], std::time::Duration::from_secs(2)).expect("resolver");
            let common = COMMON_SELECTORS.len() as u64;

            let start = asked();
            let cut = observe(&dns, "nokeys.test", &["Mine".to_string()]).await;
            assert_eq!(asked() - start, 2, "_domainkey and the given selector only");
            assert!(nothing_below(cut.domainkey.as_ref()));
            let selectors: Vec<(&str, bool)> = cut
                .keys
                .iter()
                .map(|k| (k.selector.as_str(), k.given))
                .collect();
            assert_eq!(selectors, [("mine", true)]);

            // keys.test's `_domainkey` has no records of its own but a name below it: the
            // lab must answer NOERROR (RFC 8020), never NXDOMAIN, or keys would be missed.
            let start = asked();
            let full = observe(&dns, "keys.test", &[]).await;
            assert_eq!(asked() - start, 1 + common);
            let node = full.domainkey.as_ref().map(|a| a.outcome.clone());
            assert_eq!(node, Some(DnsOutcome::NoData));
            assert_eq!(full.keys.len() as u64, common);
            let found: Vec<&str> = full
                .keys
                .iter()
                .filter(|k| k.answer.outcome == DnsOutcome::Answer)
                .map(|k| k.selector.as_str())
                .collect();
            assert_eq!(found, ["s1"]);

            let start = asked();
            let failed = observe(&dns, "broken.test", &[]).await;
            // The resolver may ask a failing name twice: count the sweep, not the node.
            assert!(asked() - start > common, "SERVFAIL proves nothing");
            assert_eq!(failed.keys.len() as u64, common);
            let node = failed.domainkey.as_ref().map(|a| a.outcome.clone());
            assert_eq!(node, Some(DnsOutcome::ServFail));
        });
    }
}
