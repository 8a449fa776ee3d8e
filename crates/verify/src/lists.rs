//! Address annotations from lists: disposable providers (the `mailchecker` crate's maintained
//! list), role accounts (kept here) and free mailbox providers (mxray-core's list).

use std::collections::HashSet;
use std::sync::LazyLock;

static DISPOSABLE: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| mailchecker::blacklist().into_iter().collect());

/// Local parts that name a function rather than a person (RFC 2142 and common practice).
const ROLES: &[&str] = &[
    "abuse",
    "admin",
    "administrator",
    "billing",
    "contact",
    "compliance",
    "devnull",
    "dns",
    "ftp",
    "help",
    "helpdesk",
    "hostmaster",
    "info",
    "jobs",
    "legal",
    "list",
    "mail",
    "mailer-daemon",
    "marketing",
    "media",
    "news",
    "noc",
    "no-reply",
    "noreply",
    "office",
    "postmaster",
    "privacy",
    "press",
    "root",
    "sales",
    "security",
    "support",
    "sysadmin",
    "team",
    "usenet",
    "uucp",
    "webmaster",
    "www",
];

/// The domain, or a parent of it, is a disposable-address provider.
pub fn is_disposable(domain: &str) -> bool {
    let d = domain.to_ascii_lowercase();
    let mut rest = d.as_str();
    loop {
        if DISPOSABLE.contains(rest) {
            return true;
        }
        match rest.split_once('.') {
            Some((_, parent)) if parent.contains('.') => rest = parent,
            _ => return false,
        }
    }
}

/// `postmaster`, `info+tag`, `Sales`: a role account.
pub fn is_role(local: &str) -> bool {
    let base = local
        .split('+')
        .next()
        .unwrap_or(local)
        .trim_matches('"')
        .to_ascii_lowercase();
    ROLES.contains(&base.as_str())
}

pub fn is_free_provider(domain: &str) -> bool {
    mxray_core::address::FREE_PROVIDERS.contains(&domain.to_ascii_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        assert!(is_disposable("mailinator.com"));
        assert!(is_disposable("sub.mailinator.com"));
        assert!(!is_disposable("example.com"));
        assert!(is_role("postmaster"));
        assert!(is_role("Info+news"));
        assert!(!is_role("alice"));
        assert!(is_free_provider("gmail.com"));
        assert!(!is_free_provider("example.com"));
    }
}
