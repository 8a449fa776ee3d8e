//! The host and port of a URL's authority (`host`, `host:port`, `[v6]:port`), checked: one
//! reading for the webhook and relay URLs, so both refuse the same malformed hosts.

/// `(host, port)`: the host lower-cased (an IPv6 address without its brackets), the port or
/// `default_port`; the error says what is wrong, for the caller's URL message.
pub(crate) fn host_port(authority: &str, default_port: u16) -> Result<(String, u16), &'static str> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("unclosed [ in the host")?;
        if h.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("not an IPv6 address in [ ]");
        }
        (h.to_string(), after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
            None => (authority.to_ascii_lowercase(), None),
        }
    };
    if host.is_empty() {
        return Err("no host");
    }
    if !host.contains(':')
        && !host
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'_')
    {
        return Err("the host is not a DNS name or IP address");
    }
    let port = match port {
        None => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err("the port is not a number from 1 to 65535"),
        },
    };
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn hosts_and_ports() {
        assert_eq!(
            host_port("Hooks.Example.com", 443),
            Ok(("hooks.example.com".into(), 443))
        );
        assert_eq!(host_port("[::1]:8080", 80), Ok(("::1".into(), 8080)));
        assert_eq!(
            host_port("a.test:0", 80),
            Err("the port is not a number from 1 to 65535")
        );
        assert_eq!(host_port("[::1", 80), Err("unclosed [ in the host"));
        assert_eq!(
            host_port("a b", 80),
            Err("the host is not a DNS name or IP address")
        );
        assert_eq!(host_port(":25", 80), Err("no host"));
    }
}
