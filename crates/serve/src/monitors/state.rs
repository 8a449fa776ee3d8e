//! A monitor's state from one run to the next, pure: which problems appeared or cleared,
//! whether the verdict changed, and whether this run raises an alert or a recovery.

use serde::{Deserialize, Serialize};

/// A fail or warn finding of a run, as history keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Problem {
    pub id: String,
    /// `fail` or `warn`.
    pub severity: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl Problem {
    /// The same problem in two runs: the same finding about the same host (titles carry
    /// figures that change from run to run).
    fn key(&self) -> (&str, Option<&str>) {
        (&self.id, self.host.as_deref())
    }
}

/// What one run concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub score: u32,
    /// The report's overall verdict (`deliverable_path`, `degraded`, `broken`, `inconclusive`).
    pub verdict: String,
    pub problems: Vec<Problem>,
}

impl Outcome {
    /// A failing run: a failing finding, or a verdict of `broken` or `inconclusive` (a
    /// monitor that cannot tell is not a monitor that says all is well).
    pub fn failing(&self) -> bool {
        self.verdict == "broken"
            || self.verdict == "inconclusive"
            || self.problems.iter().any(|p| p.severity == "fail")
    }
}

/// What a monitor carries from run to run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Health {
    /// Failing runs in a row.
    pub streak: u32,
    /// A failing alert went out and no recovery since.
    pub alerting: bool,
}

/// A state transition, kept as an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// The overall verdict changed (`from` is absent on the first run).
    Verdict {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
        to: String,
    },
    Appeared {
        problem: Problem,
    },
    Cleared {
        problem: Problem,
    },
    /// An alert went out after `streak` failing runs.
    Alert {
        streak: u32,
    },
    /// The first passing run after an alert.
    Recovered,
}

/// An alert this run raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raise {
    Failing { streak: u32 },
    Recovered,
}

/// The transition from `before` (the previous run's outcome, if any) to `now`.
pub fn step(
    before: Option<&Outcome>,
    health: Health,
    now: &Outcome,
    alert_after: u32,
) -> (Health, Vec<Change>, Option<Raise>) {
    let mut changes = Vec::new();
    let from = before.map(|b| b.verdict.clone());
    if from.as_deref() != Some(now.verdict.as_str()) {
        changes.push(Change::Verdict {
            from,
            to: now.verdict.clone(),
        });
    }
    let old: &[Problem] = before.map_or(&[], |b| &b.problems);
    for p in &now.problems {
        if !old.iter().any(|o| o.key() == p.key()) {
            changes.push(Change::Appeared { problem: p.clone() });
        }
    }
    for o in old {
        if !now.problems.iter().any(|p| p.key() == o.key()) {
            changes.push(Change::Cleared { problem: o.clone() });
        }
    }
    let mut next = health;
    let mut raise = None;
    if now.failing() {
        next.streak = health.streak.saturating_add(1);
        if !health.alerting && next.streak >= alert_after.max(1) {
            next.alerting = true;
            raise = Some(Raise::Failing {
                streak: next.streak,
            });
            changes.push(Change::Alert {
                streak: next.streak,
            });
        }
    } else {
        next.streak = 0;
        if health.alerting {
            next.alerting = false;
            raise = Some(Raise::Recovered);
            changes.push(Change::Recovered);
        }
    }
    (next, changes, raise)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(id: &str, sev: &str, host: Option<&str>) -> Problem {
        Problem {
            id: id.into(),
            severity: sev.into(),
            title: format!("{id} title"),
            host: host.map(str::to_string),
        }
    }

    fn outcome(verdict: &str, problems: Vec<Problem>) -> Outcome {
        Outcome {
            score: 50,
            verdict: verdict.into(),
            problems,
        }
    }

    #[test]
    fn alerts_after_n_failing_runs_once_then_recovers() {
        let ok = outcome("deliverable_path", vec![]);
        let bad = outcome(
            "broken",
            vec![problem("smtp.transient", "fail", Some("mx1"))],
        );
        let (h, ch, r) = step(None, Health::default(), &ok, 2);
        assert_eq!(r, None);
        assert_eq!(ch.len(), 1, "the first verdict is an event");
        let (h, ch, r) = step(Some(&ok), h, &bad, 2);
        assert_eq!((h.streak, r), (1, None));
        assert!(ch.contains(&Change::Appeared {
            problem: problem("smtp.transient", "fail", Some("mx1"))
        }));
        let (h, _, r) = step(Some(&bad), h, &bad, 2);
        assert_eq!(r, Some(Raise::Failing { streak: 2 }));
        assert!(h.alerting);
        let (h, ch, r) = step(Some(&bad), h, &bad, 2);
        assert_eq!(r, None, "no storm while it stays failing");
        assert!(ch.is_empty(), "nothing changed: {ch:?}");
        let (h, ch, r) = step(Some(&bad), h, &ok, 2);
        assert_eq!(r, Some(Raise::Recovered));
        assert_eq!(h, Health::default());
        assert!(ch.contains(&Change::Recovered));
        assert!(ch.iter().any(|c| matches!(c, Change::Cleared { .. })));
    }

    #[test]
    fn one_blip_does_not_alert() {
        let ok = outcome("deliverable_path", vec![]);
        let bad = outcome("broken", vec![]);
        let (h, _, _) = step(Some(&ok), Health::default(), &bad, 2);
        let (h, _, r) = step(Some(&bad), h, &ok, 2);
        assert_eq!((h.streak, r), (0, None));
    }

    #[test]
    fn same_problem_with_new_figures_is_no_change() {
        let a = outcome(
            "degraded",
            vec![problem("tls.expiring", "warn", Some("mx"))],
        );
        let mut b = a.clone();
        b.problems[0].title = "expires in 9 days".into();
        let (_, ch, _) = step(Some(&a), Health::default(), &b, 2);
        assert!(ch.is_empty(), "{ch:?}");
        assert!(!a.failing(), "a warning is not a failing run");
        assert!(outcome("inconclusive", vec![]).failing());
    }
}
