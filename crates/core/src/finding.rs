//! The one findings model every check reports in (DESIGN.md): a stable id, a severity, what was
//! seen, the evidence behind it, and the fix. Verbs judge; printers only print these.

use serde::Serialize;

/// How bad a finding is. Ordered: `Pass < Info < Warn < Fail`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Pass,
    Info,
    Warn,
    Fail,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Pass => "pass",
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::Fail => "fail",
        }
    }
}

/// One finding. `id` is `area.name` (`mx.null`, `smtp.banner_4xx`) and part of the public contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Finding {
    pub id: &'static str,
    pub severity: Severity,
    pub title: String,
    pub detail: String,
    /// The raw observations behind it: DNS answers, SMTP lines, certificate fields. Outside text:
    /// escape before showing on a terminal.
    pub evidence: Vec<String>,
    /// What to do about it; empty for passes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// The MX host (and address) it is about, when it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl Finding {
    pub fn new(id: &'static str, severity: Severity, title: impl Into<String>) -> Finding {
        Finding {
            id,
            severity,
            title: title.into(),
            detail: String::new(),
            evidence: Vec::new(),
            fix: None,
            host: None,
        }
    }

    pub fn detail(mut self, d: impl Into<String>) -> Finding {
        self.detail = d.into();
        self
    }

    pub fn evidence(mut self, e: impl IntoIterator<Item = impl Into<String>>) -> Finding {
        self.evidence.extend(e.into_iter().map(Into::into));
        self
    }

    pub fn fix(mut self, f: impl Into<String>) -> Finding {
        self.fix = Some(f.into());
        self
    }

    pub fn host(mut self, h: impl Into<String>) -> Finding {
        self.host = Some(h.into());
        self
    }
}
