//! A bounded HTTPS GET for MTA-STS policies (RFC 8461 3.3): resolve, connect, TLS with the
//! recording verifier, one request; records status, content type, body and certificate verdict.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::policy::{AddressPolicy, NotAllowed};
use crate::tls::{self, TlsObservation, TlsSettings};
use crate::{Dns, DnsAnswer, RType};

/// Most bytes read from one response (headers and body). RFC 8461 policies are a few hundred
/// bytes; senders such as Postfix's mta-sts-resolver stop at 64 KiB.
pub const MAX_RESPONSE: usize = 64 * 1024;

/// What one fetch saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct HttpsObservation {
    pub url: String,
    /// The host's A (or AAAA) lookup.
    pub dns: Option<DnsAnswer>,
    pub addr: Option<IpAddr>,
    /// Why no response was read (DNS, connect, handshake, read, timeout), if so.
    pub error: Option<String>,
    /// The handshake and the certificate verdict (`verify_error` is `None` when trusted).
    pub tls: Option<TlsObservation>,
    pub status: Option<u16>,
    pub content_type: Option<String>,
    /// The body, decoded as UTF-8 (lossy). Outside text.
    pub body: Option<String>,
    /// The response was cut at [`MAX_RESPONSE`].
    pub truncated: bool,
    /// The address was outside the policy: not connected to, nothing is known of the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_allowed: Option<NotAllowed>,
    pub elapsed_ms: u64,
}

/// `GET https://HOST:PORT/PATH`. Every step is bounded by `timeout`; the whole by four of them.
/// The address the host resolves to is checked against `policy` and connected to as resolved.
pub async fn https_get(
    dns: &Dns,
    host: &str,
    port: u16,
    path: &str,
    settings: &TlsSettings,
    timeout: Duration,
    policy: &AddressPolicy,
) -> HttpsObservation {
    let start = Instant::now();
    let url = if port == 443 {
        format!("https://{host}{path}")
    } else {
        format!("https://{host}:{port}{path}")
    };
    let mut obs = HttpsObservation {
        url,
        dns: None,
        addr: None,
        error: None,
        tls: None,
        status: None,
        content_type: None,
        body: None,
        truncated: false,
        not_allowed: None,
        elapsed_ms: 0,
    };
    let whole = timeout.saturating_mul(4);
    if tokio::time::timeout(
        whole,
        fetch(
            dns,
            (host, port, path),
            Guard {
                settings,
                timeout,
                policy,
            },
            &mut obs,
        ),
    )
    .await
    .is_err()
        && obs.error.is_none()
    {
        obs.error = Some(format!("no response within {} ms", whole.as_millis()));
    }
    obs.elapsed_ms = start.elapsed().as_millis() as u64;
    obs
}

/// How a fetch is bounded: whom to trust, how long each step may take, where it may connect.
struct Guard<'a> {
    settings: &'a TlsSettings,
    timeout: Duration,
    policy: &'a AddressPolicy,
}

async fn fetch(
    dns: &Dns,
    (host, port, path): (&str, u16, &str),
    guard: Guard<'_>,
    obs: &mut HttpsObservation,
) {
    let Guard {
        settings,
        timeout,
        policy,
    } = guard;
    let mut answer = dns.query(host, RType::A).await;
    if answer.addrs().next().is_none() {
        let v6 = dns.query(host, RType::Aaaa).await;
        if v6.addrs().next().is_some() {
            answer = v6;
        }
    }
    let addr = answer.addrs().next();
    obs.dns = Some(answer);
    let Some(addr) = addr else {
        obs.error = Some(format!("{host} has no A or AAAA record"));
        return;
    };
    obs.addr = Some(addr);
    if let Err(e) = policy.check(addr) {
        obs.error = Some(e.to_string());
        obs.not_allowed = Some(e);
        return;
    }
    let stream = match tokio::time::timeout(
        timeout,
        TcpStream::connect(SocketAddr::new(addr, port)),
    )
    .await
    {
        Err(_) => {
            obs.error = Some(format!(
                "connect to {addr} port {port}: timed out after {} ms",
                timeout.as_millis()
            ));
            return;
        }
        Ok(Err(e)) => {
            obs.error = Some(format!("connect to {addr} port {port}: {e}"));
            return;
        }
        Ok(Ok(s)) => s,
    };
    let (t, tls_stream) = tls::handshake(stream, host, settings, timeout).await;
    let handshake_error = t.handshake_error.clone();
    obs.tls = Some(t);
    let Some(mut s) = tls_stream else {
        obs.error = Some(format!(
            "TLS handshake failed: {}",
            handshake_error.unwrap_or_default()
        ));
        return;
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: mxray\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
    );
    match tokio::time::timeout(timeout, s.write_all(request.as_bytes())).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            obs.error = Some(format!("sending the request: {e}"));
            return;
        }
        Err(_) => {
            obs.error = Some("sending the request timed out".into());
            return;
        }
    }
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        match tokio::time::timeout(timeout, s.read(&mut chunk)).await {
            Err(_) => {
                obs.error = Some(format!(
                    "reading the response: no data for {} ms",
                    timeout.as_millis()
                ));
                break;
            }
            Ok(Ok(0)) => break,
            // A close without TLS close_notify is common and harmless once data came.
            Ok(Err(e)) => {
                if buf.is_empty() {
                    obs.error = Some(format!("reading the response: {e}"));
                }
                break;
            }
            Ok(Ok(n)) => {
                let room = MAX_RESPONSE.saturating_sub(buf.len());
                buf.extend_from_slice(&chunk[..n.min(room)]);
                if n > room || buf.len() >= MAX_RESPONSE {
                    obs.truncated = true;
                    break;
                }
            }
        }
    }
    if buf.is_empty() {
        if obs.error.is_none() {
            obs.error = Some("the server closed the connection without a response".into());
        }
        return;
    }
    match parse_response(&buf) {
        Some((status, ctype, body)) => {
            obs.status = Some(status);
            obs.content_type = ctype;
            obs.body = Some(body);
            obs.error = None;
        }
        None => {
            obs.error = Some("the response is not HTTP/1.x".into());
        }
    }
}

/// Status code, Content-Type and body (chunked transfer decoded, Content-Length honoured).
pub fn parse_response(buf: &[u8]) -> Option<(u16, Option<String>, String)> {
    let (head_end, sep) = match find(buf, b"\r\n\r\n") {
        Some(i) => (i, 4),
        None => (find(buf, b"\n\n")?, 2),
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let mut lines = head.lines();
    let status_line = lines.next()?;
    let mut parts = status_line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status: u16 = parts.next()?.parse().ok()?;
    let mut ctype = None;
    let mut length = None;
    let mut chunked = false;
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        match k.as_str() {
            "content-type" => ctype = Some(v.to_string()),
            "content-length" => length = v.parse::<usize>().ok(),
            "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    let raw = &buf[head_end + sep..];
    let body = if chunked {
        dechunk(raw)
    } else if let Some(n) = length {
        raw[..n.min(raw.len())].to_vec()
    } else {
        raw.to_vec()
    };
    Some((status, ctype, String::from_utf8_lossy(&body).into_owned()))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = find(raw, b"\r\n") {
        let size_text = String::from_utf8_lossy(&raw[..eol]);
        let size_text = size_text.split(';').next().unwrap_or("").trim().to_string();
        let Ok(size) = usize::from_str_radix(&size_text, 16) else {
            break;
        };
        raw = &raw[eol + 2..];
        if size == 0 {
            break;
        }
        let take = size.min(raw.len());
        out.extend_from_slice(&raw[..take]);
        raw = &raw[take..];
        raw = raw.strip_prefix(b"\r\n").unwrap_or(raw);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_responses() {
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhelloXX",
        )
        .expect("response");
        assert_eq!(r, (200, Some("text/plain".into()), "hello".into()));
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        )
        .expect("chunked");
        assert_eq!(r.2, "hello world");
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_none());
    }
}
