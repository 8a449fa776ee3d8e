//! `explain`: one SMTP reply in, one explanation out: codes decoded against RFC 5321 and the IANA
//! registry, class and retry, category, side, causes and next steps. Pure; every verb uses it.

use serde::Serialize;

use crate::code::{Class, EnhancedCode, ReplyCode};
use crate::knowledge::{self, Category, Side, SituationId};
use crate::registry;
use crate::reply::{self, ExtractError, Extracted, InputForm};

/// The registry's entry for the enhanced code, as shown to users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RegistryInfo {
    /// `X.4.2`, the registry's own spelling.
    pub code: String,
    pub title: &'static str,
    pub description: &'static str,
    pub basic_codes: &'static str,
    pub reference: &'static str,
    pub deprecated: bool,
}

/// Where the reply came from, when the input said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Source {
    pub form: InputForm,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// Everything `mxray explain` says about one reply. Field names are the JSON contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Explanation {
    pub reply_code: Option<ReplyCode>,
    /// RFC 5321's meaning of the basic code.
    pub reply_meaning: Option<&'static str>,
    /// The enhanced code as the server sent it (`X.7.1` stays `X.7.1`).
    pub enhanced_code: Option<EnhancedCode>,
    /// `success | transient | permanent`; `null` only for a bare `X.y.z`, whose class is open.
    pub class: Option<Class>,
    /// Whether a sender should retry: true for transient, false for permanent and success.
    pub retry: Option<bool>,
    /// The enhanced code's subject, by the registry (`Network and Routing Status`).
    pub subject: Option<&'static str>,
    /// The enhanced code's detail, by the registry (`Bad connection`).
    pub detail: Option<&'static str>,
    pub registry: Option<RegistryInfo>,
    pub category: Category,
    pub side: Side,
    /// Stable id of the situation the knowledge base recognised (`rate_limited`...).
    pub situation: SituationId,
    /// The same failure in the Sisimai bounce parser's reason vocabulary (`userunknown`,
    /// `mailboxfull`, `blocked`...), for pipelines that already key on it.
    pub reason: crate::reason::Reason,
    /// What decided the situation: `text`, `enhanced_code`, `basic_code`, `subject`, `class`.
    pub decided_by: &'static str,
    /// Our one-paragraph reading of the reply.
    pub meaning: &'static str,
    pub causes: Vec<&'static str>,
    pub next_steps: Vec<String>,
    /// The server's words, codes removed. Attacker-controlled: escape before display.
    pub text: String,
    /// False when a code is well-formed but not defined by RFC 5321 or the registry.
    pub known: bool,
    /// Remarks such as disagreeing basic and enhanced codes.
    pub notes: Vec<String>,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    #[error(transparent)]
    Extract(#[from] ExtractError),
}

/// Explains the first reply in `input`.
pub fn explain(input: &str) -> Result<Explanation, ExplainError> {
    Ok(explain_extracted(&reply::extract(input)?))
}

/// Explains every reply in `input` (one per line, unless it is one multi-line reply or a DSN).
pub fn explain_all(input: &str) -> Vec<Result<Explanation, ExplainError>> {
    reply::extract_all(input)
        .into_iter()
        .map(|r| r.map(|e| explain_extracted(&e)).map_err(ExplainError::from))
        .collect()
}

/// Explains an already extracted reply (used by verbs that parsed the reply themselves).
pub fn explain_extracted(e: &Extracted) -> Explanation {
    let mut notes = Vec::new();
    let mut known = true;

    let reply_meaning = e.code.map(|c| {
        let (m, k) = c.meaning();
        known &= k;
        m
    });
    // The basic code decides the class: it is what MTAs act on (RFC 3463 section 2 says the
    // enhanced class must agree, but servers do not always obey).
    let enhanced_class = e.enhanced.and_then(|x| x.class());
    let class = e.code.map(ReplyCode::class).or(enhanced_class);
    if let (Some(code), Some(enh)) = (e.code, e.enhanced)
        && let Some(ec) = enh.class
        && ec != code.class_digit()
        && !(code.class_digit() == 3 && ec == 2)
    {
        notes.push(format!(
            "the basic code {code} and the enhanced code {enh} disagree ({} vs {}); the basic code decides class and retry, because that is what MTAs act on",
            code.class(),
            enh.class().map_or("unknown", Class::as_str)
        ));
    }
    if e.enhanced.is_some_and(|x| x.class.is_none()) && e.code.is_none() {
        notes.push(
            "X.y.z gives no class: as 4.y.z it is a transient failure (retry), as 5.y.z a permanent one (do not retry)"
                .to_string(),
        );
    }

    let (subject, detail, registry_info) = match e.enhanced {
        Some(enh) => {
            let subject = registry::subject_entry(enh.subject).map(|s| s.title);
            if subject.is_none() {
                known = false;
                notes.push(format!(
                    "subject {} is not defined by RFC 3463 or the IANA registry (subjects are 0-7)",
                    enh.subject
                ));
            }
            match registry::lookup(enh.subject, enh.detail) {
                Some(entry) => {
                    if entry.deprecated {
                        notes.push(format!(
                            "X.{}.{} is deprecated in the IANA registry",
                            enh.subject, enh.detail
                        ));
                    }
                    (
                        subject,
                        Some(entry.title),
                        Some(RegistryInfo {
                            code: format!("X.{}.{}", enh.subject, enh.detail),
                            title: entry.title,
                            description: entry.description,
                            basic_codes: entry.basic,
                            reference: entry.reference,
                            deprecated: entry.deprecated,
                        }),
                    )
                }
                None => {
                    known = false;
                    notes.push(format!(
                        "{enh} is not in the IANA registry ({}): explained from its class and subject; providers use private detail codes (Microsoft 4.7.500-4.7.699, Gmail 4.7.28...)",
                        registry::REGISTRY_DATE
                    ));
                    (subject, None, None)
                }
            }
        }
        None => (None, None, None),
    };

    let c = knowledge::classify(e.code, e.enhanced, class, &e.text);
    let s = c.situation;
    // `{ip}` means the sender's IP, which a log line never names, so it stays a placeholder;
    // `{host}` is the remote MTA's name without its bracketed address.
    let host = e.host.as_deref().map(|h| h.split('[').next().unwrap_or(h));
    let fill = |step: &str| {
        step.replace("{domain}", e.domain.as_deref().unwrap_or("DOMAIN"))
            .replace("{host}", host.unwrap_or("MX_HOST"))
            .replace("{ip}", "YOUR_SENDING_IP")
    };
    Explanation {
        reply_code: e.code,
        reply_meaning,
        enhanced_code: e.enhanced,
        class,
        retry: class.map(Class::retry),
        subject,
        detail,
        registry: registry_info,
        category: s.category,
        side: s.side,
        situation: s.id,
        reason: crate::reason::reason(e.enhanced, class, s.id, &e.text),
        decided_by: c.decided_by,
        meaning: s.summary,
        causes: s.causes.to_vec(),
        next_steps: s.next_steps.iter().map(|n| fill(n)).collect(),
        text: e.text.clone(),
        known,
        notes,
        source: Source {
            form: e.form,
            stage: e.stage.clone(),
            host: e.host.clone(),
            domain: e.domain.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(s: &str) -> Explanation {
        explain(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn disagreeing_codes_are_noted_and_basic_decides() {
        let e = x("421 5.7.1 Go away");
        assert_eq!(e.class, Some(Class::Transient));
        assert_eq!(e.retry, Some(true));
        assert!(e.notes.iter().any(|n| n.contains("disagree")));
    }

    #[test]
    fn unknown_codes_are_marked() {
        let e = x("4.9.1");
        assert!(!e.known);
        let e = x(
            "451 4.7.650 The mail server [1.2.3.4] has been temporarily rate limited due to IP reputation.",
        );
        assert!(!e.known);
        assert_eq!(e.situation, SituationId::RateLimited);
        assert!(x("4.4.2").known);
    }

    #[test]
    fn domain_fills_next_steps() {
        let e = x(
            "Nov 20 10:00:01 mail postfix/smtp[1]: 4AB: to=<a@example.org>, relay=none, delay=1, dsn=4.4.3, status=deferred (Host or domain name not found. Name service error for name=example.org type=MX: Host not found, try again)",
        );
        assert_eq!(e.situation, SituationId::DnsRoutingFailure);
        assert!(
            e.next_steps
                .iter()
                .any(|s| s.contains("dig MX example.org"))
        );
    }
}
