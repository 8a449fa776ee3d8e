//! Provider knowledge as data: one table says, for each large mailbox provider and mail
//! gateway, how it is recognised (MX host patterns), what its replies mean and the budget it
//! gets. `budget` reads its limits from here; `verdict::at_provider` reads its flags and rules.
//! docs/providers.md documents the table (a test compares the ids).
//!
//! Rehearsals against a lab: lab host names live under `.test`, so no built-in pattern matches
//! them. `MXRAY_PROVIDER_MAP=FILE` (lines `PATTERN PROVIDER_ID`, `#` comments) adds patterns
//! for the run, so a lab host can stand in for a provider; the library API is
//! `Providers::with_extra`.

use std::sync::LazyLock;

use crate::model::{Reason, Verdict};

/// What a provider's reply means, beside what the generic reading says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    /// The mailbox does not exist (even if the code does not say 5.1.x).
    MailboxUnknown,
    /// The mailbox is over quota.
    MailboxFull,
    /// The mailbox exists but is disabled.
    MailboxDisabled,
    /// The provider throttles the prober: ask again later.
    RateLimited,
    /// A policy answer about the prober (reputation, blocklist, gateway policy).
    Policy,
}

impl Meaning {
    /// The verdict for this meaning on a reply with `code`: a transient code never decides
    /// that an address does not work.
    pub fn verdict(self, code: u16) -> (Verdict, Reason) {
        let permanent = (500..600).contains(&code);
        match self {
            Meaning::MailboxUnknown if permanent => {
                (Verdict::Undeliverable, Reason::MailboxUnknown)
            }
            Meaning::MailboxDisabled if permanent => {
                (Verdict::Undeliverable, Reason::MailboxDisabled)
            }
            Meaning::MailboxUnknown | Meaning::MailboxDisabled => {
                (Verdict::Unknown, Reason::Deferred)
            }
            Meaning::MailboxFull if permanent => (Verdict::Risky, Reason::MailboxFull),
            Meaning::MailboxFull => (Verdict::Unknown, Reason::MailboxFull),
            Meaning::RateLimited => (Verdict::Unknown, Reason::RateLimited),
            Meaning::Policy => (Verdict::Unknown, Reason::BlockedByRecipient),
        }
    }
}

/// One documented reply of a provider.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The basic reply code.
    pub code: u16,
    /// The enhanced status code, when the rule needs one (`"5.4.1"`).
    pub enhanced: Option<&'static str>,
    /// A case-insensitive substring of the reply text.
    pub contains: &'static str,
    pub meaning: Meaning,
    /// Where the reply text comes from: a public documentation URL or "real bounce".
    pub source: &'static str,
}

impl Rule {
    fn matches(&self, code: u16, enhanced: Option<&str>, text: &str) -> bool {
        code == self.code
            && self.enhanced.is_none_or(|e| enhanced == Some(e))
            && text
                .to_ascii_lowercase()
                .contains(&self.contains.to_ascii_lowercase())
    }
}

/// One provider: recognition, flags, reply rules, default budget.
#[derive(Debug, Clone, Copy)]
pub struct Provider {
    /// Stable id, printed in results (`provider`).
    pub id: &'static str,
    pub name: &'static str,
    /// MX host patterns: `*.example.com` matches any host under example.com (not
    /// example.com itself); anything else matches exactly. Case-insensitive.
    pub mx: &'static [&'static str],
    /// Simultaneous sessions the provider gets by default.
    pub max_sessions: usize,
    /// New connections per minute the provider gets by default.
    pub connects_per_minute: u32,
    /// Accepts every RCPT and bounces later (Yahoo/AOL): acceptance proves nothing, so a
    /// result is never `deliverable` (`risky`, `unverifiable_provider`).
    pub accepts_all_rcpt: bool,
    /// A filtering gateway in front of another server (Mimecast, Proofpoint, Barracuda): a
    /// 250 may only mean the gateway took the message, so acceptance counts only where the
    /// gateway is seen refusing a random address.
    pub gateway: bool,
    pub rules: &'static [Rule],
}

impl Provider {
    /// The first rule matching a reply.
    pub fn rule_for(&self, code: u16, enhanced: Option<&str>, text: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.matches(code, enhanced, text))
    }
}

const GOOGLE_NOSUCHUSER: &str = "https://support.google.com/a/answer/3726730";
const MS_NDR_541: &str = "https://learn.microsoft.com/en-us/exchange/troubleshoot/email-delivery/ndr/fix-error-code-5-4-1-in-exchange-online";
const YAHOO_CODES: &str = "https://senders.yahooinc.com/smtp-error-codes/";
const MIMECAST_CODES: &str = "https://community.mimecast.com/s/article/email-security-cloud-gateway-mimecast-smtp-error-codes";

/// The table.
pub static PROVIDERS: &[Provider] = &[
    Provider {
        id: "gmail",
        name: "Gmail / Google Workspace",
        mx: &["*.google.com", "*.googlemail.com", "aspmx.l.google.com"],
        max_sessions: 5,
        connects_per_minute: 60,
        accepts_all_rcpt: false,
        gateway: false,
        rules: &[
            Rule {
                code: 550,
                enhanced: Some("5.1.1"),
                contains: "account that you tried to reach does not exist",
                meaning: Meaning::MailboxUnknown,
                source: GOOGLE_NOSUCHUSER,
            },
            Rule {
                code: 550,
                enhanced: Some("5.2.1"),
                contains: "account that you tried to reach is disabled",
                meaning: Meaning::MailboxDisabled,
                source: GOOGLE_NOSUCHUSER,
            },
            Rule {
                code: 452,
                enhanced: Some("4.2.2"),
                contains: "is over quota",
                meaning: Meaning::MailboxFull,
                source: GOOGLE_NOSUCHUSER,
            },
            Rule {
                code: 421,
                enhanced: Some("4.7.28"),
                contains: "",
                meaning: Meaning::RateLimited,
                source: GOOGLE_NOSUCHUSER,
            },
            Rule {
                code: 421,
                enhanced: Some("4.7.0"),
                contains: "unusual rate",
                meaning: Meaning::RateLimited,
                source: GOOGLE_NOSUCHUSER,
            },
            Rule {
                code: 550,
                enhanced: Some("5.7.1"),
                contains: "likely unsolicited mail",
                meaning: Meaning::Policy,
                source: GOOGLE_NOSUCHUSER,
            },
        ],
    },
    Provider {
        id: "microsoft",
        name: "Microsoft 365 / Outlook.com",
        mx: &[
            "*.mail.protection.outlook.com",
            "*.olc.protection.outlook.com",
            "*.outlook.com",
            "*.hotmail.com",
        ],
        max_sessions: 5,
        connects_per_minute: 60,
        accepts_all_rcpt: false,
        gateway: false,
        rules: &[
            // Directory-based edge blocking: the tenant does not know the recipient.
            Rule {
                code: 550,
                enhanced: Some("5.4.1"),
                contains: "access denied",
                meaning: Meaning::MailboxUnknown,
                source: MS_NDR_541,
            },
            Rule {
                code: 550,
                enhanced: Some("5.5.0"),
                contains: "requested action not taken: mailbox unavailable",
                meaning: Meaning::MailboxUnknown,
                source: "real bounce (outlook.com consumer MX)",
            },
            Rule {
                code: 550,
                enhanced: Some("5.7.1"),
                contains: "banned sending ip",
                meaning: Meaning::Policy,
                source: "https://learn.microsoft.com/en-us/exchange/troubleshoot/email-delivery/ndr/fix-error-code-550-5-7-1-in-exchange-online",
            },
            Rule {
                code: 451,
                enhanced: Some("4.7.500"),
                contains: "",
                meaning: Meaning::RateLimited,
                source: "real bounce (4.7.500 Server busy)",
            },
        ],
    },
    Provider {
        id: "yahoo",
        name: "Yahoo / AOL",
        mx: &["*.yahoodns.net", "*.mx.aol.com", "*.am0.yahoodns.net"],
        max_sessions: 3,
        connects_per_minute: 30,
        accepts_all_rcpt: true,
        gateway: false,
        rules: &[
            Rule {
                code: 421,
                enhanced: Some("4.7.0"),
                contains: "[TSS04]",
                meaning: Meaning::RateLimited,
                source: YAHOO_CODES,
            },
            Rule {
                code: 421,
                enhanced: Some("4.7.0"),
                contains: "[TS",
                meaning: Meaning::RateLimited,
                source: YAHOO_CODES,
            },
            Rule {
                code: 554,
                enhanced: Some("5.7.9"),
                contains: "",
                meaning: Meaning::Policy,
                source: YAHOO_CODES,
            },
        ],
    },
    Provider {
        id: "icloud",
        name: "Apple iCloud",
        mx: &["*.mail.icloud.com", "*.icloud.com"],
        max_sessions: 3,
        connects_per_minute: 30,
        accepts_all_rcpt: false,
        gateway: false,
        rules: &[Rule {
            code: 550,
            enhanced: Some("5.1.1"),
            contains: "user does not exist",
            meaning: Meaning::MailboxUnknown,
            source: "real bounce (mx01.mail.icloud.com)",
        }],
    },
    Provider {
        id: "proton",
        name: "Proton Mail",
        mx: &["*.protonmail.ch", "*.protonmail.com", "*.proton.me"],
        max_sessions: 3,
        connects_per_minute: 30,
        accepts_all_rcpt: false,
        gateway: false,
        rules: &[Rule {
            code: 550,
            enhanced: Some("5.1.1"),
            contains: "address does not exist",
            meaning: Meaning::MailboxUnknown,
            source: "real bounce (mail.protonmail.ch)",
        }],
    },
    Provider {
        id: "zoho",
        name: "Zoho Mail",
        mx: &["*.zoho.com", "*.zoho.eu", "*.zoho.in", "*.zohomail.com"],
        max_sessions: 3,
        connects_per_minute: 30,
        accepts_all_rcpt: false,
        gateway: false,
        rules: &[Rule {
            code: 550,
            enhanced: Some("5.1.1"),
            contains: "user does not exist",
            meaning: Meaning::MailboxUnknown,
            source: "https://www.zoho.com/mail/help/adminconsole/email-bounce-reasons.html",
        }],
    },
    Provider {
        id: "yandex",
        name: "Yandex Mail",
        mx: &["*.yandex.net", "mx.yandex.ru", "*.yandex.ru"],
        max_sessions: 3,
        connects_per_minute: 30,
        accepts_all_rcpt: false,
        gateway: false,
        rules: &[Rule {
            code: 550,
            enhanced: Some("5.7.1"),
            contains: "no such user",
            meaning: Meaning::MailboxUnknown,
            source: "real bounce (mx.yandex.ru: 550 5.7.1 No such user!)",
        }],
    },
    Provider {
        id: "mailru",
        name: "Mail.ru",
        mx: &["*.mail.ru"],
        max_sessions: 3,
        connects_per_minute: 30,
        accepts_all_rcpt: false,
        gateway: false,
        rules: &[Rule {
            code: 550,
            enhanced: None,
            contains: "message was not accepted -- invalid mailbox",
            meaning: Meaning::MailboxUnknown,
            source: "real bounce (mxs.mail.ru: 550 Message was not accepted -- invalid mailbox)",
        }],
    },
    Provider {
        id: "gmx",
        name: "GMX / WEB.DE",
        mx: &["*.gmx.net", "*.web.de", "*.gmx.com"],
        max_sessions: 3,
        connects_per_minute: 30,
        accepts_all_rcpt: false,
        gateway: false,
        rules: &[
            Rule {
                code: 550,
                enhanced: None,
                contains: "mailbox unavailable",
                meaning: Meaning::MailboxUnknown,
                source: "real bounce (mx00.emig.gmx.net: Requested action not taken: mailbox unavailable)",
            },
            Rule {
                code: 554,
                enhanced: None,
                contains: "transaction failed",
                meaning: Meaning::Policy,
                source: "https://postmaster.gmx.net/en/error-messages",
            },
        ],
    },
    Provider {
        id: "mimecast",
        name: "Mimecast",
        mx: &[
            "*.mimecast.com",
            "*.mimecast.co.za",
            "*.mimecast-offshore.com",
        ],
        max_sessions: 3,
        connects_per_minute: 30,
        accepts_all_rcpt: false,
        gateway: true,
        rules: &[
            Rule {
                code: 550,
                enhanced: None,
                contains: "invalid recipient",
                meaning: Meaning::MailboxUnknown,
                source: MIMECAST_CODES,
            },
            Rule {
                code: 550,
                enhanced: None,
                contains: "administrative prohibition",
                meaning: Meaning::Policy,
                source: MIMECAST_CODES,
            },
            Rule {
                code: 550,
                enhanced: None,
                contains: "anti-spoofing",
                meaning: Meaning::Policy,
                source: MIMECAST_CODES,
            },
        ],
    },
    Provider {
        id: "proofpoint",
        name: "Proofpoint",
        mx: &["*.pphosted.com", "*.ppe-hosted.com"],
        max_sessions: 3,
        connects_per_minute: 30,
        accepts_all_rcpt: false,
        gateway: true,
        rules: &[Rule {
            code: 550,
            enhanced: Some("5.7.1"),
            contains: "blocked",
            meaning: Meaning::Policy,
            source: "https://help.proofpoint.com/Proofpoint_Essentials/Email_Security/Administrator_Topics/000_gettingstarted/Error_Codes",
        }],
    },
    Provider {
        id: "barracuda",
        name: "Barracuda",
        mx: &["*.barracudanetworks.com", "*.ess.barracudanetworks.com"],
        max_sessions: 3,
        connects_per_minute: 30,
        accepts_all_rcpt: false,
        gateway: true,
        rules: &[
            Rule {
                code: 550,
                enhanced: None,
                contains: "no such user",
                meaning: Meaning::MailboxUnknown,
                source: "real bounce (d123.ess.barracudanetworks.com: 550 No such user)",
            },
            Rule {
                code: 554,
                enhanced: None,
                contains: "service unavailable; client host",
                meaning: Meaning::Policy,
                source: "https://campus.barracuda.com/product/essentials/doc/3211269/",
            },
        ],
    },
];

/// Whether `host` matches `pattern` (see `Provider::mx`).
pub fn host_matches(pattern: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .strip_suffix(&suffix)
            .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.')),
        None => host == pattern,
    }
}

/// The table plus extra patterns (rehearsals against a lab).
#[derive(Debug, Clone, Default)]
pub struct Providers {
    extra: Vec<(String, &'static Provider)>,
}

/// An error in a provider map.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error("provider map line {line}: expected `PATTERN PROVIDER_ID`")]
    Syntax { line: usize },
    #[error("provider map line {line}: unknown provider id {id:?}")]
    UnknownId { line: usize, id: String },
}

impl Providers {
    /// The built-in table only.
    pub fn builtin() -> Providers {
        Providers::default()
    }

    /// The table plus `(pattern, provider id)` pairs, tried first.
    pub fn with_extra<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Providers, MapError> {
        let mut extra = Vec::new();
        for (i, (pattern, id)) in pairs.into_iter().enumerate() {
            let p = by_id(id).ok_or_else(|| MapError::UnknownId {
                line: i + 1,
                id: id.to_string(),
            })?;
            extra.push((pattern.to_string(), p));
        }
        Ok(Providers { extra })
    }

    /// Parses a provider map: lines `PATTERN PROVIDER_ID`, blank lines and `#` comments.
    pub fn parse_map(text: &str) -> Result<Providers, MapError> {
        let mut pairs = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split_whitespace().collect();
            let [pattern, id] = f[..] else {
                return Err(MapError::Syntax { line: i + 1 });
            };
            if by_id(id).is_none() {
                return Err(MapError::UnknownId {
                    line: i + 1,
                    id: id.to_string(),
                });
            }
            pairs.push((pattern, id));
        }
        Providers::with_extra(pairs)
    }

    /// The provider behind an MX host, if the table (or an extra pattern) knows it.
    pub fn recognise(&self, mx_host: &str) -> Option<&'static Provider> {
        if let Some((_, p)) = self
            .extra
            .iter()
            .find(|(pat, _)| host_matches(pat, mx_host))
        {
            return Some(p);
        }
        PROVIDERS
            .iter()
            .find(|p| p.mx.iter().any(|pat| host_matches(pat, mx_host)))
    }
}

/// A provider by id.
pub fn by_id(id: &str) -> Option<&'static Provider> {
    PROVIDERS.iter().find(|p| p.id == id)
}

/// The environment variable naming a provider map file for the process.
pub const MAP_ENV: &str = "MXRAY_PROVIDER_MAP";

/// The process's providers: the table, plus the map `MXRAY_PROVIDER_MAP` names. A map that
/// cannot be read is reported on stderr once and ignored (the table still applies).
pub fn global() -> &'static Providers {
    static GLOBAL: LazyLock<Providers> = LazyLock::new(|| {
        let Some(path) = std::env::var_os(MAP_ENV) else {
            return Providers::builtin();
        };
        let read = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| Providers::parse_map(&t).map_err(|e| e.to_string()));
        match read {
            Ok(p) => p,
            Err(e) => {
                eprintln!(
                    "mxray: ignoring {MAP_ENV}={}: {e}",
                    std::path::Path::new(&path).display()
                );
                Providers::builtin()
            }
        }
    });
    &GLOBAL
}

/// Reads a decided result again with what the table knows about its deciding host: sets
/// `provider`, and lets `verdict::at_provider` correct the verdict.
pub fn apply(providers: &Providers, r: &mut crate::model::VerifyResult) {
    let Some(reply) = r.reply.as_ref() else {
        return;
    };
    let Some(p) = providers.recognise(&reply.mx_host) else {
        return;
    };
    r.provider = Some(p.id.to_string());
    let (verdict, reason) = crate::verdict::at_provider(p, r.verdict, r.reason, reply, r.catch_all);
    r.verdict = verdict;
    r.reason = reason;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DecidingReply;

    #[test]
    fn ids_are_unique_and_every_rule_has_a_source() {
        let mut ids: Vec<_> = PROVIDERS.iter().map(|p| p.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), PROVIDERS.len());
        for p in PROVIDERS {
            assert!(!p.mx.is_empty(), "{}", p.id);
            assert!(p.max_sessions > 0 && p.connects_per_minute > 0, "{}", p.id);
            for r in p.rules {
                assert!(!r.source.is_empty(), "{}: {r:?}", p.id);
            }
        }
    }

    #[test]
    fn the_doc_lists_every_provider() {
        let doc = include_str!("../../../docs/providers.md");
        let mut in_doc: Vec<&str> = doc
            .lines()
            .filter_map(|l| l.strip_prefix("## `"))
            .filter_map(|l| l.split('`').next())
            .collect();
        let mut table: Vec<&str> = PROVIDERS.iter().map(|p| p.id).collect();
        in_doc.sort();
        table.sort();
        assert_eq!(in_doc, table);
    }

    #[test]
    fn recognition_by_mx() {
        let t = Providers::builtin();
        let cases = [
            ("aspmx.l.google.com", Some("gmail")),
            ("alt1.gmail-smtp-in.l.google.com.", Some("gmail")),
            ("ASPMX2.GOOGLEMAIL.COM", Some("gmail")),
            ("contoso-com.mail.protection.outlook.com", Some("microsoft")),
            ("mta5.am0.yahoodns.net", Some("yahoo")),
            ("mx-aol.mail.gm0.yahoodns.net", Some("yahoo")),
            ("mailin-01.mx.aol.com", Some("yahoo")),
            ("mx01.mail.icloud.com", Some("icloud")),
            ("mail.protonmail.ch", Some("proton")),
            ("mx.zoho.eu", Some("zoho")),
            ("mx.yandex.ru", Some("yandex")),
            ("mx.yandex.net", Some("yandex")),
            ("mxs.mail.ru", Some("mailru")),
            ("mx00.emig.gmx.net", Some("gmx")),
            ("mx-ha03.web.de", Some("gmx")),
            ("eu-smtp-inbound-1.mimecast.com", Some("mimecast")),
            ("mx0a-001b2d01.pphosted.com", Some("proofpoint")),
            ("d123.ess.barracudanetworks.com", Some("barracuda")),
            ("google.com", None),
            ("notgoogle.com", None),
            ("mx.example.test", None),
            ("evilgoogle.com.example", None),
        ];
        for (host, want) in cases {
            assert_eq!(t.recognise(host).map(|p| p.id), want, "{host}");
        }
    }

    #[test]
    fn extra_patterns_for_labs() {
        let t = Providers::parse_map("# lab\n*.gmail.test gmail\nmx.yahoo.test yahoo\n").unwrap();
        assert_eq!(t.recognise("mx1.gmail.test").map(|p| p.id), Some("gmail"));
        assert_eq!(t.recognise("mx.yahoo.test").map(|p| p.id), Some("yahoo"));
        assert_eq!(
            t.recognise("aspmx.l.google.com").map(|p| p.id),
            Some("gmail")
        );
        assert!(Providers::parse_map("*.x.test nosuch").is_err());
        assert!(Providers::parse_map("*.x.test").is_err());
    }

    fn decided(host: &str, code: u16, enhanced: Option<&str>, text: &str) -> (Verdict, Reason) {
        // The generic reading first, as the engine does, then the provider's.
        let raw = match enhanced {
            Some(e) => format!("{code} {e} {text}"),
            None => format!("{code} {text}"),
        };
        let reply = mxray_net::Reply {
            code,
            lines: vec![raw.split_once(' ').map_or("", |x| x.1).to_string()],
            elapsed_ms: 0,
        };
        let facts = crate::verdict::Facts::Rcpt(crate::classify::classify_rcpt(&reply));
        let ctx = crate::verdict::Context {
            catch_all: Some(false),
            disposable: false,
        };
        let (verdict, reason) = crate::verdict::decide(&facts, ctx);
        let mut r = crate::model::VerifyResult {
            address: "a@b".into(),
            normalized: "a@b".into(),
            verdict,
            reason,
            reply: Some(DecidingReply {
                code,
                enhanced_code: enhanced.map(str::to_string),
                text: text.to_string(),
                mx_host: host.to_string(),
                egress: None,
            }),
            catch_all: Some(false),
            disposable: false,
            role_account: false,
            free_provider: false,
            suggestion: None,
            attempts: 1,
            elapsed_ms: 0,
            retry_after_s: None,
            provider: None,
            transcript: Vec::new(),
            input_row: Vec::new(),
        };
        apply(&Providers::builtin(), &mut r);
        assert!(r.provider.is_some(), "{host}");
        (r.verdict, r.reason)
    }

    /// MX host, reply code, enhanced code, text, and the verdict and reason expected.
    type Case<'a> = (&'a str, u16, Option<&'a str>, &'a str, Verdict, Reason);

    #[test]
    fn every_rule_reads_its_reply() {
        use Reason as R;
        use Verdict as V;
        let cases: &[Case] = &[
            (
                "x.mail.protection.outlook.com",
                550,
                Some("5.4.1"),
                "Recipient address rejected: Access denied. AS(201806281) [DB5EUR03FT013.eop-EUR03.prod.protection.outlook.com]",
                V::Undeliverable,
                R::MailboxUnknown,
            ),
            (
                "aspmx.l.google.com",
                550,
                Some("5.1.1"),
                "The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces.",
                V::Undeliverable,
                R::MailboxUnknown,
            ),
            (
                "aspmx.l.google.com",
                452,
                Some("4.2.2"),
                "The email account that you tried to reach is over quota.",
                V::Unknown,
                R::MailboxFull,
            ),
            (
                "aspmx.l.google.com",
                421,
                Some("4.7.28"),
                "Our system has detected an unusual rate of unsolicited mail originating from your IP address.",
                V::Unknown,
                R::RateLimited,
            ),
            (
                "mta5.am0.yahoodns.net",
                421,
                Some("4.7.0"),
                "[TSS04] Messages from 203.0.113.5 temporarily deferred due to unexpected volume or user complaints",
                V::Unknown,
                R::RateLimited,
            ),
            (
                "mx01.mail.icloud.com",
                550,
                Some("5.1.1"),
                "<nobody@icloud.com>: user does not exist",
                V::Undeliverable,
                R::MailboxUnknown,
            ),
            (
                "mx.yandex.ru",
                550,
                Some("5.7.1"),
                "No such user!",
                V::Undeliverable,
                R::MailboxUnknown,
            ),
            (
                "mxs.mail.ru",
                550,
                None,
                "Message was not accepted -- invalid mailbox. Local mailbox nobody@mail.ru is unavailable: user not found",
                V::Undeliverable,
                R::MailboxUnknown,
            ),
            (
                "eu-smtp-inbound-1.mimecast.com",
                550,
                None,
                "Invalid Recipient - https://community.mimecast.com/docs/DOC-1369#550",
                V::Undeliverable,
                R::MailboxUnknown,
            ),
            (
                "eu-smtp-inbound-1.mimecast.com",
                550,
                None,
                "Administrative prohibition - envelope blocked",
                V::Unknown,
                R::BlockedByRecipient,
            ),
            (
                "mx0a-001b2d01.pphosted.com",
                550,
                Some("5.7.1"),
                "Blocked by policy",
                V::Unknown,
                R::BlockedByRecipient,
            ),
            (
                "d123.ess.barracudanetworks.com",
                550,
                None,
                "No such user (nobody@example.com)",
                V::Undeliverable,
                R::MailboxUnknown,
            ),
        ];
        for (host, code, enhanced, text, v, r) in cases {
            assert_eq!(
                decided(host, *code, *enhanced, text),
                (*v, *r),
                "{host} {code} {text}"
            );
        }
    }

    #[test]
    fn yahoo_acceptance_is_never_deliverable() {
        let p = by_id("yahoo").unwrap();
        let reply = DecidingReply {
            code: 250,
            enhanced_code: Some("2.1.5".into()),
            text: "recipient <x@yahoo.com> ok".into(),
            mx_host: "mta5.am0.yahoodns.net".into(),
            egress: None,
        };
        for catch_all in [None, Some(false), Some(true)] {
            for (v, r) in [
                (Verdict::Deliverable, Reason::MailboxExists),
                (Verdict::Risky, Reason::CatchAll),
            ] {
                assert_eq!(
                    crate::verdict::at_provider(p, v, r, &reply, catch_all),
                    (Verdict::Risky, Reason::UnverifiableProvider)
                );
            }
        }
    }

    #[test]
    fn gateway_acceptance_counts_only_when_random_addresses_are_refused() {
        let p = by_id("mimecast").unwrap();
        let reply = DecidingReply {
            code: 250,
            enhanced_code: None,
            text: "Recipient OK".into(),
            mx_host: "eu-smtp-inbound-1.mimecast.com".into(),
            egress: None,
        };
        let at = |catch_all| {
            crate::verdict::at_provider(
                p,
                Verdict::Deliverable,
                Reason::MailboxExists,
                &reply,
                catch_all,
            )
        };
        assert_eq!(
            at(Some(false)),
            (Verdict::Deliverable, Reason::MailboxExists)
        );
        assert_eq!(at(None), (Verdict::Risky, Reason::UnverifiableProvider));
    }
}
