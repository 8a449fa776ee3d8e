//! mxray-core: the shared vocabulary of mxray, with no I/O: SMTP reply codes, the IANA enhanced
//! status code registry, the knowledge base behind `mxray explain`, and text escaping.
//!
//! # Layout
//! - `code`: reply codes (RFC 5321) and enhanced status codes (RFC 3463), parsed and classed.
//! - `registry`: the whole IANA enhanced status code registry, as data.
//! - `knowledge`: the situations behind a reply (`SituationId`), with causes and next steps.
//! - `reply`: finds the reply in a bare reply, a log line or a DSN (`extract`).
//! - `explain`: one reply in, one [`Explanation`] out: the function every verb prints from.
//! - `address`, `domain`: address and domain syntax, IDNA, typo suggestions; [`DomainName`].
//! - `duration`: the one duration parser (`10s`, `500ms`, `2m`) for flags and scenarios.
//! - `dns`: DNS answers as recorded observations (`DnsAnswer`), filled in by `mxray-net`.
//! - `mx`: where a domain's mail goes, read from its MX answer (`MxPlan`, `MxResolution`).
//! - `finding`: the findings model shared by every check (`id`, severity, evidence, fix).
//! - `document`: the envelope of every JSON document (`schema_version`).
//! - `escape`: escaping of attacker-controlled text for the terminal.
//!
//! ```
//! let e = mxray_core::explain("421 4.4.2 Connection closed by the server").unwrap();
//! assert_eq!(e.situation, mxray_core::SituationId::ConnectionDropped);
//! assert_eq!(e.retry, Some(true));
//! ```

pub mod address;
pub mod code;
pub mod dns;
pub mod document;
pub mod domain;
pub mod duration;
pub mod escape;
pub mod explain;
pub mod finding;
pub mod knowledge;
pub mod mx;
pub mod reason;
pub mod registry;
pub mod reply;

pub use code::{Class, EnhancedCode, ReplyCode};
pub use document::{Document, SCHEMA_VERSION};
pub use domain::DomainName;
pub use escape::{csv_cell, escape_text};
pub use explain::{ExplainError, Explanation, explain, explain_all, explain_extracted};
pub use finding::{Finding, Severity};
pub use knowledge::{Category, Side, Situation, SituationId};
pub use reason::Reason;
pub use reply::{ExtractError, Extracted, InputForm, extract, extract_all};
