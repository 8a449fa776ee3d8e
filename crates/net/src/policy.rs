//! Which addresses mxray may open connections to: every one (the CLI's default), or only
//! public ones plus the ranges the operator allows (`serve`'s default, the CLI's --public-only).

use std::net::IpAddr;

use ipnet::IpNet;
use mxray_core::address::special_range;

/// Checked by every connection `net` opens (SMTP and HTTPS), on the very address it connects
/// to: a name resolved once is connected to at that address, so a DNS answer that changes
/// between two lookups (rebinding) cannot slip a private address past it.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    public_only: bool,
    allow: Vec<IpNet>,
}

/// A connection not opened, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, schemars::JsonSchema)]
#[error(
    "not connected to {ip}: a {range} address (only public addresses are contacted; --allow-private CIDR opens a range)"
)]
pub struct NotAllowed {
    pub ip: IpAddr,
    pub range: &'static str,
}

impl AddressPolicy {
    /// Every address may be contacted.
    pub fn any() -> AddressPolicy {
        AddressPolicy::default()
    }

    /// Public addresses only, plus `allow` (the lab: 127.0.0.0/8).
    pub fn public_only(allow: Vec<IpNet>) -> AddressPolicy {
        AddressPolicy {
            public_only: true,
            allow,
        }
    }

    pub fn is_public_only(&self) -> bool {
        self.public_only
    }

    /// Whether `ip` may be connected to. An IPv4-mapped IPv6 address is judged as the IPv4
    /// address it carries.
    pub fn check(&self, ip: IpAddr) -> Result<(), NotAllowed> {
        if !self.public_only {
            return Ok(());
        }
        let Some(range) = special_range(ip) else {
            return Ok(());
        };
        let plain = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if self
            .allow
            .iter()
            .any(|n| n.contains(&plain) || n.contains(&ip))
        {
            return Ok(());
        }
        Err(NotAllowed { ip, range })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn public_only_refuses_every_special_range_unless_allowed() {
        let p = AddressPolicy::public_only(vec![]);
        for bad in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
        ] {
            let e = p.check(ip(bad)).expect_err(bad);
            assert_eq!(e.ip, ip(bad));
        }
        for good in ["8.8.8.8", "2a00:1450::1", "::ffff:8.8.8.8"] {
            assert!(p.check(ip(good)).is_ok(), "{good}");
        }
        let lab = AddressPolicy::public_only(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(lab.check(ip("127.0.0.10")).is_ok());
        assert!(lab.check(ip("::ffff:127.0.0.10")).is_ok());
        assert!(lab.check(ip("10.0.0.1")).is_err());
        assert!(AddressPolicy::any().check(ip("10.0.0.1")).is_ok());
    }

    #[test]
    fn the_refusal_names_the_range_and_the_way_out() {
        let e = AddressPolicy::public_only(vec![])
            .check(ip("169.254.169.254"))
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("169.254.169.254") && text.contains("link-local"),
            "{text}"
        );
        assert!(text.contains("--allow-private"), "{text}");
    }
}
