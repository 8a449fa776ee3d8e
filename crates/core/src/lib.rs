//! mxray-core: the shared vocabulary of mxray, with no I/O: SMTP reply codes, the IANA enhanced
//! status code registry, the knowledge base behind `mxray explain`, and text escaping.
//!
//! ```
//! let e = mxray_core::explain("421 4.4.2 Connection closed by the server").unwrap();
//! assert_eq!(e.situation, "connection_dropped");
//! assert_eq!(e.retry, Some(true));
//! ```
//!
//! # Layout
//! - `address`: address and domain syntax (IDNA), typo suggestions, free-provider list.
//! - `code`: SMTP basic and enhanced status codes.
//! - `duration`: the one duration parser (`10s`, `500ms`, `2m`) for flags and scenarios.
//! - `escape`: escaping attacker-controlled text for terminals.
//! - `explain`: `explain`'s entry point: reply, code or log text in, explanation out.
//! - `finding`: the findings model (id, severity, title, detail, evidence, fix).
//! - `knowledge`: the knowledge base behind every explanation.
//! - `registry`: the IANA enhanced status code registry.
//! - `reply`: SMTP replies found in replies, DSNs and log lines.

pub mod address;
pub mod code;
pub mod duration;
pub mod escape;
pub mod explain;
pub mod finding;
pub mod knowledge;
pub mod registry;
pub mod reply;

pub use code::{Class, EnhancedCode, ReplyCode};
pub use escape::escape_text;
pub use explain::{ExplainError, Explanation, explain, explain_all, explain_extracted};
pub use finding::{Finding, Severity};
pub use knowledge::{Category, Side, Situation};
pub use reply::{ExtractError, Extracted, InputForm, extract, extract_all};
