//! What a diagnosis request may ask, checked once for every front end (the CLI's flags,
//! `serve`'s query parameters): the target, the probe, the DKIM selectors, the areas.

use mxray_core::address::parse_target;
use mxray_core::escape_text;

use crate::score::{Area, Areas};

/// A request that cannot run, in words that say what to give instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RequestError(pub String);

/// The target is a domain or an address; a probe needs an address (an MX host is asked
/// about one mailbox).
pub fn check_target(target: &str, probe: bool) -> Result<(), RequestError> {
    match parse_target(target) {
        Err(e) => {
            let e = escape_text(&e.to_string());
            Err(RequestError(if e.contains("example.com") {
                e
            } else {
                format!("{e}: give a domain (example.com) or an address (user@example.com)")
            }))
        }
        Ok(t) if probe && t.local.is_none() => Err(RequestError(format!(
            "a probe (--probe; probe= in the API) asks an MX host about one address: give user@{} instead of the domain",
            escape_text(target.trim())
        ))),
        Ok(_) => Ok(()),
    }
}

/// A DKIM selector is a DNS label sequence: `s1`, `google`, `k1.mail`.
pub fn check_selector(s: &str) -> Result<(), RequestError> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(RequestError(format!(
            "DKIM selector {:?}: expected a selector such as s1 or google",
            escape_text(s)
        )))
    }
}

/// The areas to check: all when none is named.
pub fn areas(only: &[Area]) -> Areas {
    if only.is_empty() {
        return Areas::all();
    }
    let mut areas = Areas::none();
    for a in only {
        areas.set(*a);
    }
    areas
}

/// `dns,auth`: area names, comma-separated.
pub fn parse_areas(list: &str) -> Result<Vec<Area>, RequestError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            Area::parse(s).ok_or_else(|| {
                let names: Vec<&str> = Area::ALL.iter().map(|a| a.as_str()).collect();
                RequestError(format!(
                    "unknown area {:?}: expected {}",
                    escape_text(s),
                    names.join(", ")
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_selectors_and_areas_are_checked_with_a_way_out() {
        assert!(check_target("example.com", false).is_ok());
        assert!(check_target("a@example.com", true).is_ok());
        let e = check_target("example.com", true).unwrap_err();
        assert!(e.0.contains("user@example.com"), "{e}");
        assert!(check_target("not a domain", false).is_err());
        assert!(check_selector("s1").is_ok());
        assert!(check_selector("a b").is_err());
        assert!(check_selector("").is_err());
        assert_eq!(parse_areas("dns, auth").unwrap().len(), 2);
        assert!(
            parse_areas("dns,nope")
                .unwrap_err()
                .0
                .contains("expected dns")
        );
        assert!(areas(&[]).auth);
    }
}
