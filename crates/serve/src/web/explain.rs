//! Explanations as HTML: what `mxray explain` prints for a reply (codes, class, category,
//! side, meaning, causes, next steps), and for a bounce message the recipient's fields too.

use maud::{Markup, html};
use mxray_core::{Class, Explanation, Side};

use super::inert;

/// The class in words, as the CLI says it.
fn class_line(c: Option<Class>) -> (&'static str, &'static str) {
    match c {
        Some(Class::Transient) => (
            "transient: retry later, the same attempt can succeed",
            "sev-warn",
        ),
        Some(Class::Permanent) => ("permanent: do not retry unchanged", "sev-fail"),
        Some(Class::Success) => ("success", "sev-pass"),
        None => (
            "not given (X): transient as 4.x.x, permanent as 5.x.x",
            "sev-info",
        ),
    }
}

/// One explanation, under an `<h3>` of its codes and the server's words.
pub fn explanation(e: &Explanation) -> Markup {
    let codes: Vec<String> = [
        e.reply_code.map(|c| c.to_string()),
        e.enhanced_code.map(|x| x.to_string()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let (class, class_css) = class_line(e.class);
    let s = &e.source;
    let mut context = Vec::new();
    if let Some(stage) = &s.stage {
        context.push(format!("in reply to {}", inert(stage)));
    }
    if let Some(h) = &s.host {
        context.push(format!("from {}", inert(h)));
    }
    if let Some(d) = &s.domain {
        context.push(format!("for {}", inert(d)));
    }
    html! {
        article class="explanation" {
            h3 {
                code { (codes.join(" ")) }
                " "
                @if e.text.is_empty() { span class="muted" { "(no text)" } } @else { (inert(&e.text)) }
            }
            dl class="facts" {
                @if let (Some(c), Some(m)) = (e.reply_code, e.reply_meaning) {
                    dt { "Reply" } dd { code { (c.to_string()) } " " (m) }
                }
                @if let Some(x) = e.enhanced_code {
                    dt { "Enhanced" }
                    dd {
                        code { (x.to_string()) } " "
                        @let parts: Vec<&str> = [e.subject, e.detail].into_iter().flatten().collect();
                        @if parts.is_empty() { "not in the registry" } @else { (parts.join(" / ")) }
                        @if let Some(r) = &e.registry { " (" (r.reference) ")" }
                    }
                }
                dt { "Class" } dd class=(class_css) { (class) }
                dt { "Category" } dd { (e.category.label()) }
                @if e.side != Side::None { dt { "Side" } dd { (e.side.label()) } }
                @if !context.is_empty() { dt { "Context" } dd { (context.join(", ")) } }
                @if !e.known { dt { "Known" } dd class="sev-warn" { "no: explained from class and subject" } }
                dt { "Situation" } dd { code { (e.situation.to_string()) } " (decided by " (e.decided_by) ")" }
            }
            h4 { "What it means" }
            p { (e.meaning) }
            @if !e.causes.is_empty() {
                h4 { "Likely causes, most likely first" }
                ol { @for c in &e.causes { li { (c) } } }
            }
            @if !e.next_steps.is_empty() {
                h4 { "Next steps" }
                ul { @for n in &e.next_steps { li { (inert(n)) } } }
            }
            @for n in &e.notes { p class="sev-warn" { "Note: " (inert(n)) } }
        }
    }
}

/// A bounce message's result for one recipient: its fields, then the explanation.
pub fn bounce(b: &mxray_bounce::BounceResult) -> Markup {
    let kind = match b.kind {
        mxray_bounce::Kind::Bounce => "delivery status notification",
        mxray_bounce::Kind::Feedback => "feedback report (a complaint, not a bounce)",
        mxray_bounce::Kind::Vacation => "auto-reply (not a bounce)",
    };
    let fields: Vec<(&str, &Option<String>)> = vec![
        ("Recipient", &b.recipient),
        ("Action", &b.action),
        ("Remote MTA", &b.remote_mta),
        ("Reporting MTA", &b.reporting_mta),
        ("Arrival", &b.arrival),
        ("Last attempt", &b.last_attempt),
        ("Decided by", &b.decided_by_line),
        ("Original subject", &b.original.subject),
        ("Original Message-ID", &b.original.message_id),
    ];
    html! {
        section class="bounce" {
            dl class="facts" {
                dt { "Message" } dd { (kind) }
                @for (name, v) in fields {
                    @if let Some(v) = v { dt { (name) } dd { code { (inert(v)) } } }
                }
            }
            (explanation(&b.explanation))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_explained_and_its_words_kept_inert() {
        let e = mxray_core::explain_all("421 4.4.2 <script>x</script> \u{202e}closed")
            .remove(0)
            .unwrap();
        let m = explanation(&e).into_string();
        assert!(m.contains("<code>421 4.4.2</code>"), "{m}");
        assert!(m.contains("transient: retry later"), "{m}");
        assert!(
            !m.contains("<script>") && m.contains("&lt;script&gt;"),
            "{m}"
        );
        assert!(!m.contains('\u{202e}') && m.contains("\\u{202e}"), "{m}");
    }
}
