//! SOCKS5 egress (`--proxy socks5://[user:pass@]host:port`, or `socks5h://` to let the proxy
//! resolve names): the URL, read and checked once, and the one dial through it
//! ([`dial`], used by `Session::connect_via`). The handshake is tokio-socks's.
//!
//! A failure of the proxy itself (cannot reach it, credentials refused, a broken or refusing
//! proxy) is a [`ProxyError`], kept apart from the target's own answers (refused, unreachable,
//! relayed by the proxy as SOCKS replies 3-5), so callers never blame a recipient for their
//! own egress. Credentials are never shown: `Display` and `Debug` print the URL without them.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_socks::TargetAddr;
use tokio_socks::tcp::Socks5Stream;

/// A SOCKS5 proxy to connect through.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    /// The proxy's host name or address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// `socks5h`: the proxy resolves the target's name (mxray still resolves it to check
    /// the address policy on what its own DNS gave).
    pub remote_dns: bool,
    auth: Option<(String, String)>,
}

/// Why a `--proxy` URL was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--proxy: {0} (expected socks5://[user:pass@]host:port or socks5h://...)")]
pub struct ProxyUrlError(String);

/// The proxy itself failed: the run's egress is broken, not the target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SOCKS5 proxy {proxy}: {detail}")]
pub struct ProxyError {
    /// The proxy, without credentials.
    pub proxy: String,
    pub detail: String,
}

/// The target's answer relayed by the proxy, or the proxy's own failure.
#[derive(Debug)]
pub enum DialError {
    Proxy(ProxyError),
    /// The target could not be reached through a working proxy (SOCKS replies "network
    /// unreachable", "host unreachable", "connection refused", "TTL expired"), or the whole
    /// dial did not finish in time (a silent target is the common cause).
    Target(std::io::Error),
}

impl Proxy {
    /// Reads `socks5://[user:pass@]host:port` (`socks5h://` for remote resolution); user and
    /// password are percent-decoded.
    pub fn parse(url: &str) -> Result<Proxy, ProxyUrlError> {
        let bad = |m: &str| ProxyUrlError(m.to_string());
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let remote_dns = match scheme.to_ascii_lowercase().as_str() {
            "socks5" => false,
            "socks5h" => true,
            other => {
                return Err(ProxyUrlError(format!(
                    "unsupported scheme {:?}",
                    other.chars().take(20).collect::<String>()
                )));
            }
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err(bad("a path, query or fragment is not allowed"));
        }
        let (auth, hostport) = match rest.rsplit_once('@') {
            Some((cred, hp)) => {
                let (u, p) = cred
                    .split_once(':')
                    .ok_or_else(|| bad("credentials must be user:password"))?;
                let (u, p) = (decode(u).map_err(bad)?, decode(p).map_err(bad)?);
                if u.is_empty() || u.len() > 255 || p.len() > 255 {
                    return Err(bad("user must be 1-255 bytes, password at most 255"));
                }
                (Some((u, p)), hp)
            }
            None => (None, rest),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, p) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            h.parse::<std::net::Ipv6Addr>()
                .map_err(|_| bad("not an IPv6 address in brackets"))?;
            (h, p.strip_prefix(':').ok_or_else(|| bad("no port"))?)
        } else {
            hostport.rsplit_once(':').ok_or_else(|| bad("no port"))?
        };
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
        {
            return Err(bad("no valid host"));
        }
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad("the port must be 1-65535"))?;
        Ok(Proxy {
            host: host.to_string(),
            port,
            remote_dns,
            auth,
        })
    }

    /// Whether it authenticates with user and password.
    pub fn has_credentials(&self) -> bool {
        self.auth.is_some()
    }

    /// The proxy's address: the egress of every connection made through it.
    pub async fn resolve(&self, timeout: Duration) -> Result<SocketAddr, ProxyError> {
        let lookup = tokio::net::lookup_host((self.host.as_str(), self.port));
        match tokio::time::timeout(timeout, lookup).await {
            Err(_) => Err(self.error(format!(
                "resolving its name timed out after {} ms",
                timeout.as_millis()
            ))),
            Ok(Err(e)) => Err(self.error(format!("cannot resolve its name: {e}"))),
            Ok(Ok(mut addrs)) => addrs
                .next()
                .ok_or_else(|| self.error("its name has no address".into())),
        }
    }

    fn error(&self, detail: String) -> ProxyError {
        ProxyError {
            proxy: self.to_string(),
            detail,
        }
    }
}

impl fmt::Display for Proxy {
    /// The URL without credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.remote_dns { "socks5h" } else { "socks5" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Proxy({self}{})",
            if self.auth.is_some() {
                ", with credentials"
            } else {
                ""
            }
        )
    }
}

fn decode(s: &str) -> Result<String, &'static str> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or("a bad percent escape")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "a bad percent escape")?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "credentials are not UTF-8")
}

/// Connects to `target` (an address, or with `socks5h` the name `name` on `target`'s port)
/// through `proxy`, from `local` if given. The TCP connection to the proxy, and then the
/// SOCKS handshake with the CONNECT, each get `timeout`.
pub async fn dial(
    proxy: &Proxy,
    target: SocketAddr,
    name: Option<&str>,
    local: Option<IpAddr>,
    timeout: Duration,
) -> Result<Socks5Stream<TcpStream>, DialError> {
    let addr = proxy.resolve(timeout).await.map_err(DialError::Proxy)?;
    let connecting = async {
        match local {
            None => TcpStream::connect(addr).await,
            Some(ip) => {
                let sock = if addr.is_ipv4() {
                    tokio::net::TcpSocket::new_v4()?
                } else {
                    tokio::net::TcpSocket::new_v6()?
                };
                sock.bind(SocketAddr::new(ip, 0))?;
                sock.connect(addr).await
            }
        }
    };
    let tcp = match tokio::time::timeout(timeout, connecting).await {
        Err(_) => {
            let ms = timeout.as_millis();
            return Err(DialError::Proxy(
                proxy.error(format!("no connection within {ms} ms")),
            ));
        }
        Ok(Err(e)) => {
            return Err(DialError::Proxy(
                proxy.error(format!("cannot connect: {e}")),
            ));
        }
        Ok(Ok(s)) => s,
    };
    let _ = tcp.set_nodelay(true);
    let host = target.ip().to_string();
    let dest: (&str, u16) = match name {
        Some(n) if proxy.remote_dns => (n.trim_end_matches('.'), target.port()),
        _ => (host.as_str(), target.port()),
    };
    let handshake = async {
        match &proxy.auth {
            None => Socks5Stream::connect_with_socket(tcp, dest).await,
            Some((u, p)) => Socks5Stream::connect_with_password_and_socket(tcp, dest, u, p).await,
        }
    };
    match tokio::time::timeout(timeout, handshake).await {
        Err(_) => Err(DialError::Target(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "timed out",
        ))),
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(classify(proxy, e, dest.0)),
    }
}

/// The proxy's outgoing address as its CONNECT reply names it (BND.ADDR, RFC 1928 section 6:
/// "the associated IP address" of the socket the server connected out from; tokio-socks keeps
/// the reply's address as `target_addr()`), when that is an address servers can have seen:
/// not 0.0.0.0 or :: (many proxies, microsocks among them, send those), not multicast or
/// broadcast, not a name, not the target's own address (what tokio-socks's doc comment says
/// `target_addr()` is: should a release make it so, this stays right), and loopback only when
/// the target is on loopback too.
pub fn bound_address(stream: &Socks5Stream<TcpStream>, peer: IpAddr) -> Option<IpAddr> {
    match stream.target_addr() {
        TargetAddr::Ip(a) => usable_bound(a.ip(), peer),
        TargetAddr::Domain(..) => None,
    }
}

fn usable_bound(ip: IpAddr, peer: IpAddr) -> Option<IpAddr> {
    let broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
    let unusable = ip.is_unspecified()
        || ip.is_multicast()
        || broadcast
        || ip == peer
        || (ip.is_loopback() && !peer.is_loopback());
    (!unusable).then_some(ip)
}

/// SOCKS replies about the target are the target's; everything else is the proxy's. `dest`
/// is what the CONNECT named (the MX name with socks5h).
fn classify(proxy: &Proxy, e: tokio_socks::Error, dest: &str) -> DialError {
    use std::io::{Error, ErrorKind};
    use tokio_socks::Error as S;
    let target = |k: ErrorKind, m: &str| DialError::Target(Error::new(k, m.to_string()));
    match e {
        S::ConnectionRefused => target(
            ErrorKind::ConnectionRefused,
            "connection refused (via the proxy)",
        ),
        S::NetworkUnreachable => target(
            ErrorKind::NetworkUnreachable,
            "network unreachable (via the proxy)",
        ),
        S::HostUnreachable => target(
            ErrorKind::HostUnreachable,
            "host unreachable (via the proxy)",
        ),
        S::TtlExpired => target(ErrorKind::TimedOut, "TTL expired (via the proxy)"),
        S::PasswordAuthFailure(_) | S::AuthorizationRequired | S::NoAcceptableAuthMethods => {
            DialError::Proxy(proxy.error(format!(
                "authentication failed ({e}){}",
                if proxy.auth.is_some() {
                    ""
                } else {
                    "; does it need user:pass@ in --proxy?"
                }
            )))
        }
        // Proxies that cannot resolve a name often say only "general failure" (microsocks
        // does): with socks5h that is the likeliest cause, and mxray's own DNS did resolve it.
        S::GeneralSocksServerFailure if proxy.remote_dns => DialError::Proxy(proxy.error(format!(
            "{e} (with socks5h:// the proxy resolves the MX name itself: can it resolve {}?)",
            dest.chars().take(255).collect::<String>()
        ))),
        other => DialError::Proxy(proxy.error(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_hides_credentials() {
        let p = Proxy::parse("socks5://us%40er:p%3Ass@127.0.0.1:1080").unwrap();
        assert_eq!(p.auth, Some(("us@er".into(), "p:ss".into())));
        assert_eq!(p.to_string(), "socks5://127.0.0.1:1080");
        assert!(!format!("{p:?}").contains("p:ss"));
        let h = Proxy::parse("SOCKS5H://[::1]:9050/").unwrap();
        assert!(h.remote_dns);
        assert_eq!(h.host, "::1");
        assert_eq!(h.to_string(), "socks5h://[::1]:9050");
        assert_eq!(
            Proxy::parse("socks5://proxy.example:1080").unwrap().port,
            1080
        );
    }

    #[test]
    fn reads_only_a_usable_bound_address() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let remote = ip("192.0.2.25");
        assert_eq!(
            usable_bound(ip("198.51.100.7"), remote),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(
            usable_bound(ip("2001:db8::7"), remote),
            Some(ip("2001:db8::7"))
        );
        for nothing in [
            "0.0.0.0",
            "::",
            "255.255.255.255",
            "224.0.0.1",
            "ff02::1",
            "127.0.0.1",
            "::1",
        ] {
            assert_eq!(usable_bound(ip(nothing), remote), None, "{nothing}");
        }
        assert_eq!(
            usable_bound(remote, remote),
            None,
            "the target is no egress"
        );
        // A proxy in front of a server on its own loopback does connect out from loopback.
        assert_eq!(
            usable_bound(ip("127.0.7.66"), ip("127.0.7.1")),
            Some(ip("127.0.7.66"))
        );
    }

    #[test]
    fn sorts_socks_replies_between_target_and_proxy() {
        let p = Proxy::parse("socks5://127.0.0.1:1080").unwrap();
        let h = Proxy::parse("socks5h://127.0.0.1:1080").unwrap();
        let refused = classify(&p, tokio_socks::Error::ConnectionRefused, "192.0.2.1");
        assert!(
            matches!(&refused, DialError::Target(e) if e.kind() == std::io::ErrorKind::ConnectionRefused),
            "{refused:?}"
        );
        let general = |p: &Proxy| match classify(
            p,
            tokio_socks::Error::GeneralSocksServerFailure,
            "mx.example.com",
        ) {
            DialError::Proxy(e) => e.detail,
            DialError::Target(e) => panic!("the target blamed: {e}"),
        };
        assert!(!general(&p).contains("resolve"), "{}", general(&p));
        assert!(
            general(&h).contains("can it resolve mx.example.com?"),
            "{}",
            general(&h)
        );
    }

    #[test]
    fn refuses_bad_urls() {
        for bad in [
            "http://h:1",
            "socks5://h",
            "socks5://h:0",
            "socks5://h:99999",
            "socks5://:1080",
            "socks5://u@h:1",
            "socks5://u:%zz@h:1",
            "socks5://h:1/path",
            "h:1080",
            "socks5://[::1:1080",
        ] {
            assert!(Proxy::parse(bad).is_err(), "{bad}");
        }
        let e = Proxy::parse("socks5://u:secret@h").unwrap_err().to_string();
        assert!(!e.contains("secret"), "{e}");
    }
}
