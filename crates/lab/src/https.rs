//! A minimal HTTPS server for MTA-STS: `GET /.well-known/mta-sts.txt` on `mta-sts.DOMAIN`,
//! the domain taken from SNI (or the Host header), certificate signed by the lab CA.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::stats::HttpsStats;

/// Largest request head read; a policy fetch is a few hundred bytes.
const MAX_REQUEST: usize = 8 * 1024;
/// Whole exchange (handshake, request, response) must fit in this.
const EXCHANGE: Duration = Duration::from_secs(10);
pub const POLICY_PATH: &str = "/.well-known/mta-sts.txt";

/// Policies by host name (`mta-sts.DOMAIN`).
pub struct HttpsSite {
    pub policies: HashMap<String, String>,
    pub acceptor: TlsAcceptor,
    pub stats: Mutex<HttpsStats>,
}

/// Accepts until aborted; each connection serves one request.
pub async fn serve(listener: TcpListener, site: Arc<HttpsSite>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((sock, _)) => {
                    if let Ok(mut s) = site.stats.lock() {
                        s.connections += 1;
                    }
                    let site = site.clone();
                    conns.spawn(async move {
                        let _ = tokio::time::timeout(EXCHANGE, handle(sock, &site)).await;
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn handle(sock: TcpStream, site: &HttpsSite) {
    let mut tls = match site.acceptor.accept(sock).await {
        Ok(t) => t,
        Err(_) => {
            if let Ok(mut s) = site.stats.lock() {
                s.tls_failures += 1;
            }
            return;
        }
    };
    let sni = tls.get_ref().1.server_name().map(str::to_ascii_lowercase);
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && !buf.windows(2).any(|w| w == b"\n\n") {
        if buf.len() > MAX_REQUEST {
            let _ = respond(&mut tls, 431, "text/plain", "request too large\n").await;
            return;
        }
        match tls.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    if let Ok(mut s) = site.stats.lock() {
        s.requests += 1;
    }
    let head = String::from_utf8_lossy(&buf);
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let host_header = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("host"))
        .map(|(_, v)| {
            let v = v.trim().to_ascii_lowercase();
            // Drop a `:port` suffix.
            match v.rsplit_once(':') {
                Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h.to_owned(),
                _ => v,
            }
        });
    let host = sni.or(host_header).unwrap_or_default();
    let policy = site.policies.get(host.trim_end_matches('.'));
    if method != "GET" && method != "HEAD" {
        let _ = respond(&mut tls, 405, "text/plain", "only GET\n").await;
        return;
    }
    let path = target.split('?').next().unwrap_or("");
    match policy {
        Some(p) if path == POLICY_PATH => {
            if let Ok(mut s) = site.stats.lock() {
                s.policies += 1;
            }
            let _ = respond(&mut tls, 200, "text/plain", p).await;
        }
        _ => {
            if let Ok(mut s) = site.stats.lock() {
                s.not_found += 1;
            }
            let _ = respond(&mut tls, 404, "text/plain", "not found\n").await;
        }
    }
}

async fn respond<W: AsyncWriteExt + Unpin>(
    w: &mut W,
    code: u16,
    ctype: &str,
    body: &str,
) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Request Header Fields Too Large",
    };
    let msg = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    w.write_all(msg.as_bytes()).await?;
    w.shutdown().await
}
