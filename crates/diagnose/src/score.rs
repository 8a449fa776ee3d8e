//! The health score: every finding counts in its topic's area; each area scores 100 minus its
//! penalties, and the overall score is their weighted mean (weights in docs/score.md).

use mxray_core::{Finding, Severity};
use serde::Serialize;

/// The five areas `--only` selects and the score is split into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Area {
    Dns,
    Transport,
    Tls,
    Auth,
    Reputation,
}

impl Area {
    pub const ALL: [Area; 5] = [
        Area::Dns,
        Area::Transport,
        Area::Tls,
        Area::Auth,
        Area::Reputation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Area::Dns => "dns",
            Area::Transport => "transport",
            Area::Tls => "tls",
            Area::Auth => "auth",
            Area::Reputation => "reputation",
        }
    }

    /// The weight of the area in the overall score (they add up to 100).
    pub fn weight(self) -> u32 {
        match self {
            Area::Dns => 20,
            Area::Transport => 20,
            Area::Tls => 15,
            Area::Auth => 30,
            Area::Reputation => 15,
        }
    }

    pub fn parse(s: &str) -> Option<Area> {
        Area::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// Points an area loses for each distinct failing / warning finding id.
pub const FAIL_PENALTY: u32 = 40;
pub const WARN_PENALTY: u32 = 10;

/// Which areas a run checks (`--only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Areas {
    pub dns: bool,
    pub transport: bool,
    pub tls: bool,
    pub auth: bool,
    pub reputation: bool,
}

impl Default for Areas {
    fn default() -> Areas {
        Areas::all()
    }
}

impl Areas {
    pub fn all() -> Areas {
        Areas {
            dns: true,
            transport: true,
            tls: true,
            auth: true,
            reputation: true,
        }
    }

    pub fn none() -> Areas {
        Areas {
            dns: false,
            transport: false,
            tls: false,
            auth: false,
            reputation: false,
        }
    }

    pub fn set(&mut self, a: Area) {
        match a {
            Area::Dns => self.dns = true,
            Area::Transport => self.transport = true,
            Area::Tls => self.tls = true,
            Area::Auth => self.auth = true,
            Area::Reputation => self.reputation = true,
        }
    }

    pub fn has(&self, a: Area) -> bool {
        match a {
            Area::Dns => self.dns,
            Area::Transport => self.transport,
            Area::Tls => self.tls,
            Area::Auth => self.auth,
            Area::Reputation => self.reputation,
        }
    }

    /// Whether any SMTP session is needed (transport or the MX hosts' TLS).
    pub fn smtp(&self) -> bool {
        self.transport || self.tls
    }
}

/// The area a finding id counts in: its topic's (each topic declares its area). An id no
/// topic reports counts under DNS.
pub fn area_of(id: &str) -> Area {
    crate::topic_of(id).map_or(Area::Dns, |t| t.area)
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct AreaScore {
    pub area: Area,
    /// `None` when the area was not checked (`--only`) or had nothing to judge.
    pub score: Option<u32>,
    pub weight: u32,
    /// The ids that cost points, worst first.
    pub penalties: Vec<String>,
}

/// 0-100 overall and per area.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Score {
    pub overall: u32,
    pub areas: Vec<AreaScore>,
}

impl Score {
    pub fn area(&self, a: Area) -> Option<u32> {
        self.areas
            .iter()
            .find(|s| s.area == a)
            .and_then(|s| s.score)
    }
}

/// Scores findings: per area, 100 minus [`FAIL_PENALTY`] per distinct failing id and
/// [`WARN_PENALTY`] per distinct warning id (floored at 0); `info` and `pass` cost nothing.
/// Areas not checked, or with no finding at all, are left out and the weights of the others
/// renormalised.
pub fn score(findings: &[Finding], checked: Areas) -> Score {
    let mut areas = Vec::new();
    for a in Area::ALL {
        let mine: Vec<&Finding> = findings.iter().filter(|f| area_of(f.id) == a).collect();
        if !checked.has(a) || mine.is_empty() {
            areas.push(AreaScore {
                area: a,
                score: None,
                weight: a.weight(),
                penalties: Vec::new(),
            });
            continue;
        }
        let mut worst: Vec<(&'static str, Severity)> = Vec::new();
        for f in &mine {
            match worst.iter_mut().find(|(id, _)| *id == f.id) {
                Some(w) => w.1 = w.1.max(f.severity),
                None => worst.push((f.id, f.severity)),
            }
        }
        worst.sort_by_key(|x| std::cmp::Reverse(x.1));
        let mut lost = 0u32;
        let mut penalties = Vec::new();
        for (id, sev) in worst {
            let p = match sev {
                Severity::Fail => FAIL_PENALTY,
                Severity::Warn => WARN_PENALTY,
                _ => 0,
            };
            if p > 0 {
                lost += p;
                penalties.push(format!("{id} ({}, -{p})", sev.as_str()));
            }
        }
        areas.push(AreaScore {
            area: a,
            score: Some(100u32.saturating_sub(lost)),
            weight: a.weight(),
            penalties,
        });
    }
    let (sum, weights) = areas
        .iter()
        .filter_map(|s| s.score.map(|v| (v * s.weight, s.weight)))
        .fold((0, 0), |(a, b), (v, w)| (a + v, b + w));
    let overall = (sum + weights / 2).checked_div(weights).unwrap_or(0);
    Score { overall, areas }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_add_up_and_penalties_count_once_per_id() {
        assert_eq!(Area::ALL.iter().map(|a| a.weight()).sum::<u32>(), 100);
        let f = vec![
            Finding::new(crate::recipient::smtp::OK, Severity::Pass, ""),
            Finding::new(crate::sender::spf::MISSING, Severity::Fail, ""),
            Finding::new(crate::sender::dkim::WEAK_KEY, Severity::Warn, ""),
            Finding::new(crate::sender::dkim::WEAK_KEY, Severity::Warn, ""),
            Finding::new(crate::recipient::mx::PRESENT, Severity::Pass, ""),
        ];
        let s = score(&f, Areas::all());
        assert_eq!(s.area(Area::Auth), Some(50));
        assert_eq!(s.area(Area::Transport), Some(100));
        assert_eq!(s.area(Area::Reputation), None);
        // (20*100 + 20*100 + 30*50) / 70
        assert_eq!(s.overall, 79);
        assert_eq!(area_of(crate::sender::rdns::MISSING), Area::Reputation);
        assert_eq!(area_of(crate::recipient::rdns::MISSING), Area::Transport);
    }
}
