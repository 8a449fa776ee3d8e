//! A small SMTP client for probing, not for sending: connect, read replies, send commands, keep
//! the raw transcript. Every read and write is bounded in time and size; DATA is never sent.
//!
//! Hand-rolled: SMTP client crates (lettre...) send mail and hide the transcript; a prober needs
//! every raw line, per-step timings, and to survive hostile servers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::policy::{AddressPolicy, NotAllowed};
use crate::socks::{self, DialError, Proxy, ProxyError};
use crate::tls::{self, TlsObservation, TlsSettings};

/// Longest reply line accepted (RFC 5321 allows 512 octets; real servers exceed it a little).
pub const MAX_LINE: usize = 4096;
/// Most lines in one multi-line reply.
pub const MAX_REPLY_LINES: usize = 200;
/// Most bytes read from one session in total.
pub const MAX_SESSION_BYTES: usize = 1 << 20;

/// Unsolicited bytes quoted in the error and the transcript, at most.
const MAX_UNSOLICITED_SHOWN: usize = 200;

/// One line of the transcript: who said it, when (ms since connect), and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TranscriptLine {
    pub at_ms: u64,
    /// `C` client, `S` server, `*` an event (TLS, close, timeout).
    pub dir: char,
    pub line: String,
}

/// A complete reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Reply {
    pub code: u16,
    /// Each line's text after the code and separator.
    pub lines: Vec<String>,
    /// Time from sending the command (or connecting) to the last line.
    pub elapsed_ms: u64,
}

impl Reply {
    /// The reply as a server would have sent it, one string, for the `explain` knowledge base.
    pub fn raw(&self) -> String {
        let n = self.lines.len();
        self.lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let sep = if i + 1 == n { ' ' } else { '-' };
                format!("{}{sep}{l}", self.code)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }
}

/// Why a step did not produce a reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum SmtpError {
    #[error("connection refused")]
    Refused,
    #[error("timed out after {0} ms")]
    Timeout(u64),
    #[error("network unreachable: {0}")]
    Unreachable(String),
    #[error("connection closed by the server")]
    Closed,
    #[error("connection reset: {0}")]
    Reset(String),
    #[error("reply line longer than {MAX_LINE} bytes")]
    LineTooLong,
    #[error("reply longer than {MAX_REPLY_LINES} lines or session over {MAX_SESSION_BYTES} bytes")]
    TooMuch,
    #[error("malformed reply line: {0:?}")]
    Malformed(String),
    #[error("I/O error: {0}")]
    Io(String),
    #[error("TLS: {0}")]
    Tls(String),
    /// A command held CR, LF or NUL: sending it would smuggle extra commands to the server.
    /// Refused here whatever the caller checked, and nothing of it is written.
    #[error("refused to send a command containing CR, LF or NUL: {0:?}")]
    UnsafeCommand(String),
    /// The server sent data no command asked for (an extra reply, or talk before our command):
    /// replies would no longer match commands, so the session cannot be trusted.
    #[error("the server sent data before being asked (replies out of step with commands): \"{0}\"")]
    Unsolicited(String),
    /// The address is outside what the policy lets mxray contact (a private range with
    /// --public-only or under `serve`): nothing was sent.
    #[error(transparent)]
    NotAllowed(NotAllowed),
}

/// Where an egress address was learned (the preflight's `egress_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EgressSource {
    /// The connection's own local address (direct, or from `--source-ip`).
    Socket,
    /// The SOCKS5 proxy's outgoing address, as its CONNECT reply named it (BND.ADDR).
    ProxyReply,
    /// The proxy's own address: its reply named no usable outgoing address, so this is a
    /// guess (a proxy that sends from another address is seen as that one).
    ProxyAddress,
}

/// What [`probe_egress`] saw: the address servers see mail come from, and the greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Egress {
    /// The address the server saw the connection come from, as far as the client can know it.
    pub ip: std::net::IpAddr,
    pub source: EgressSource,
    /// The greeting, or why none came (the port opened all the same).
    pub banner: Result<Reply, SmtpError>,
}

/// Opens a connection to `peer` (an MX's SMTP port), as verify would (from `source`, or
/// through `proxy`), reads the greeting and quits: which address the connection leaves from,
/// and whether outbound SMTP opens at all. Sends nothing but QUIT.
pub async fn probe_egress(
    peer: SocketAddr,
    source: Option<std::net::IpAddr>,
    proxy: Option<&Proxy>,
    timeout: Duration,
    policy: &AddressPolicy,
) -> Result<Egress, ConnectError> {
    let mut s = Session::connect_via(peer, None, source, proxy, timeout, policy).await?;
    let (ip, source) = match (proxy, s.proxy_bound(), s.local_addr()) {
        (Some(_), Some(bound), _) => (bound, EgressSource::ProxyReply),
        (Some(p), None, _) => (
            p.resolve(timeout).await.map_err(ConnectError::Proxy)?.ip(),
            EgressSource::ProxyAddress,
        ),
        (None, _, Some(l)) => (l.ip(), EgressSource::Socket),
        (None, _, None) => {
            return Err(ConnectError::Target(SmtpError::Io(
                "the socket has no local address".into(),
            )));
        }
    };
    let banner = s.read_reply(timeout).await;
    if banner.is_ok() {
        s.quit().await;
    }
    Ok(Egress { ip, source, banner })
}

/// Refuses a command line that would be more than one line on the wire.
fn safe_line(cmd: &str) -> Result<(), SmtpError> {
    if cmd.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(SmtpError::UnsafeCommand(cmd.to_string()));
    }
    Ok(())
}

fn io_error(e: std::io::Error) -> SmtpError {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => SmtpError::Refused,
        ConnectionReset | ConnectionAborted | BrokenPipe => SmtpError::Reset(e.to_string()),
        UnexpectedEof => SmtpError::Closed,
        NetworkUnreachable | HostUnreachable | AddrNotAvailable => {
            SmtpError::Unreachable(e.to_string())
        }
        _ => SmtpError::Io(e.to_string()),
    }
}

/// Why a connection was not opened: the target's side, or the SOCKS5 proxy's own failure
/// (the egress is broken: nothing is known about the target).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Target(SmtpError),
    #[error(transparent)]
    Proxy(ProxyError),
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// An open SMTP session.
pub struct Session {
    stream: Option<BufReader<Box<dyn Stream>>>,
    start: Instant,
    read_bytes: usize,
    pub transcript: Vec<TranscriptLine>,
    pub peer: SocketAddr,
    /// Time allowed for each step.
    pub timeout: Duration,
    /// The socket's own address on a direct connection (none through a proxy: there the
    /// egress is the proxy's).
    local: Option<SocketAddr>,
    /// Through a proxy: its outgoing address, when its CONNECT reply named a usable one.
    proxy_bound: Option<std::net::IpAddr>,
}

impl Session {
    /// Opens a TCP connection within `timeout`, if `policy` allows the address.
    pub async fn connect(
        peer: SocketAddr,
        timeout: Duration,
        policy: &AddressPolicy,
    ) -> Result<Session, SmtpError> {
        Session::connect_from(peer, None, timeout, policy).await
    }

    /// Whether this machine can send from `ip` (a `--source-ip`): binds a UDP socket to it
    /// and drops it, sending nothing. The error says why not (most often: not a local address).
    pub fn can_send_from(ip: std::net::IpAddr) -> std::io::Result<()> {
        std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).map(drop)
    }

    /// Opens a TCP connection from a chosen local address (greylisting keys on the client
    /// IP, so retries must come from the same one), if `policy` allows the peer's address.
    pub async fn connect_from(
        peer: SocketAddr,
        local: Option<std::net::IpAddr>,
        timeout: Duration,
        policy: &AddressPolicy,
    ) -> Result<Session, SmtpError> {
        match Session::connect_via(peer, None, local, None, timeout, policy).await {
            Ok(s) => Ok(s),
            Err(ConnectError::Target(e)) => Err(e),
            // No proxy was given: never reached.
            Err(ConnectError::Proxy(p)) => Err(SmtpError::Io(p.to_string())),
        }
    }

    /// [`Session::connect_from`], through a SOCKS5 `proxy` when given (then `local` is where
    /// the connection to the proxy comes from). `policy` is checked on `peer`, the address
    /// mxray's own DNS gave, even with `socks5h` where the proxy resolves `name` itself: the
    /// guard cannot see what the proxy's resolver answers, so a `socks5h` proxy is trusted
    /// to resolve the name as we did. The proxy's own failures are [`ConnectError::Proxy`].
    pub async fn connect_via(
        peer: SocketAddr,
        name: Option<&str>,
        local: Option<std::net::IpAddr>,
        proxy: Option<&Proxy>,
        timeout: Duration,
        policy: &AddressPolicy,
    ) -> Result<Session, ConnectError> {
        policy
            .check(peer.ip())
            .map_err(|n| ConnectError::Target(SmtpError::NotAllowed(n)))?;
        if let Some(proxy) = proxy {
            let start = Instant::now();
            let stream = match socks::dial(proxy, peer, name, local, timeout).await {
                Ok(s) => s,
                Err(DialError::Proxy(e)) => return Err(ConnectError::Proxy(e)),
                Err(DialError::Target(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
                    return Err(ConnectError::Target(SmtpError::Timeout(
                        timeout.as_millis() as u64,
                    )));
                }
                Err(DialError::Target(e)) => return Err(ConnectError::Target(io_error(e))),
            };
            let bound = socks::bound_address(&stream, peer.ip());
            let line = match bound {
                Some(ip) => format!("connected to {peer} through {proxy} (from {ip})"),
                None => format!("connected to {peer} through {proxy}"),
            };
            let mut s = Session::opened(Box::new(stream), start, peer, timeout, None, line);
            s.proxy_bound = bound;
            return Ok(s);
        }
        let start = Instant::now();
        let connecting = async {
            match local {
                None => TcpStream::connect(peer).await,
                Some(ip) => {
                    let sock = if peer.is_ipv4() {
                        tokio::net::TcpSocket::new_v4()?
                    } else {
                        tokio::net::TcpSocket::new_v6()?
                    };
                    sock.bind(SocketAddr::new(ip, 0))?;
                    sock.connect(peer).await
                }
            }
        };
        let tcp = match tokio::time::timeout(timeout, connecting).await {
            Err(_) => {
                return Err(ConnectError::Target(SmtpError::Timeout(
                    timeout.as_millis() as u64,
                )));
            }
            Ok(Err(e)) => return Err(ConnectError::Target(io_error(e))),
            Ok(Ok(s)) => s,
        };
        let _ = tcp.set_nodelay(true);
        let local = tcp.local_addr().ok();
        let line = format!("connected to {peer}");
        Ok(Session::opened(
            Box::new(tcp),
            start,
            peer,
            timeout,
            local,
            line,
        ))
    }

    /// A session on a stream just opened (`start` when connecting began), its transcript
    /// opening with `line`.
    fn opened(
        stream: Box<dyn Stream>,
        start: Instant,
        peer: SocketAddr,
        timeout: Duration,
        local: Option<SocketAddr>,
        line: String,
    ) -> Session {
        Session {
            stream: Some(BufReader::new(stream)),
            start,
            read_bytes: 0,
            transcript: vec![TranscriptLine {
                at_ms: start.elapsed().as_millis() as u64,
                dir: '*',
                line,
            }],
            peer,
            timeout,
            local,
            proxy_bound: None,
        }
    }

    /// The local address of a direct connection: the source the server sees (`None`
    /// through a proxy).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local
    }

    /// Through a proxy: the proxy's outgoing address as its CONNECT reply named it, when that
    /// is a usable address (see [`socks::bound_address`]).
    pub fn proxy_bound(&self) -> Option<std::net::IpAddr> {
        self.proxy_bound
    }

    /// Milliseconds since the connection opened.
    pub fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn event(&mut self, what: impl Into<String>) {
        let at_ms = self.now_ms();
        self.transcript.push(TranscriptLine {
            at_ms,
            dir: '*',
            line: what.into(),
        });
    }

    /// Reads one reply within `wait` (the greeting may be given longer than other steps).
    pub async fn read_reply(&mut self, wait: Duration) -> Result<Reply, SmtpError> {
        let begun = Instant::now();
        match tokio::time::timeout(wait, self.read_reply_inner(begun)).await {
            Ok(r) => {
                if let Err(e) = &r {
                    self.event(format!("read failed: {e}"));
                }
                r
            }
            Err(_) => {
                let ms = wait.as_millis() as u64;
                self.event(format!("no complete reply within {ms} ms"));
                Err(SmtpError::Timeout(ms))
            }
        }
    }

    async fn read_reply_inner(&mut self, begun: Instant) -> Result<Reply, SmtpError> {
        let mut lines = Vec::new();
        let mut code = None;
        loop {
            let line = self.read_line().await?;
            let at_ms = self.now_ms();
            self.transcript.push(TranscriptLine {
                at_ms,
                dir: 'S',
                line: line.clone(),
            });
            let (c, more, text) = parse_line(&line)?;
            if let Some(prev) = code
                && prev != c
            {
                return Err(SmtpError::Malformed(line));
            }
            code = Some(c);
            lines.push(text.to_string());
            if !more {
                return Ok(Reply {
                    code: c,
                    lines,
                    elapsed_ms: begun.elapsed().as_millis() as u64,
                });
            }
            if lines.len() >= MAX_REPLY_LINES {
                return Err(SmtpError::TooMuch);
            }
        }
    }

    /// One line, CRLF or bare LF terminated, at most MAX_LINE bytes.
    async fn read_line(&mut self) -> Result<String, SmtpError> {
        let stream = self.stream.as_mut().ok_or(SmtpError::Closed)?;
        let mut buf = Vec::with_capacity(128);
        loop {
            let available = stream.fill_buf().await.map_err(io_error)?;
            if available.is_empty() {
                return Err(SmtpError::Closed);
            }
            let (take, done) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (available.len(), false),
            };
            buf.extend_from_slice(&available[..take]);
            stream.consume(take);
            self.read_bytes += take;
            if buf.len() > MAX_LINE {
                return Err(SmtpError::LineTooLong);
            }
            if self.read_bytes > MAX_SESSION_BYTES {
                return Err(SmtpError::TooMuch);
            }
            if done {
                break;
            }
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Sends one command line (CRLF added) within the step timeout. Refused when the server
    /// has sent something no command asked for: its replies are out of step with ours.
    pub async fn send(&mut self, cmd: &str) -> Result<(), SmtpError> {
        self.send_lines(&[cmd]).await
    }

    /// The checks before any command goes out, then one write: no line may hold CR, LF or
    /// NUL (all or nothing: one unsafe line refuses the batch before a byte is written), and
    /// nothing unasked may be waiting from the server.
    async fn send_lines(&mut self, cmds: &[&str]) -> Result<(), SmtpError> {
        for c in cmds {
            safe_line(c)?;
        }
        if let Some(extra) = self.unsolicited() {
            return Err(SmtpError::Unsolicited(extra));
        }
        self.write_lines(cmds).await
    }

    /// Writes `cmds` (CRLF after each) in one write within the step timeout, into the
    /// transcript first.
    async fn write_lines(&mut self, cmds: &[&str]) -> Result<(), SmtpError> {
        let at_ms = self.now_ms();
        let mut data = String::new();
        for c in cmds {
            self.transcript.push(TranscriptLine {
                at_ms,
                dir: 'C',
                line: c.to_string(),
            });
            data.push_str(c);
            data.push_str("\r\n");
        }
        let timeout = self.timeout;
        let stream = self.stream.as_mut().ok_or(SmtpError::Closed)?;
        match tokio::time::timeout(timeout, stream.get_mut().write_all(data.as_bytes())).await {
            Err(_) => Err(SmtpError::Timeout(timeout.as_millis() as u64)),
            Ok(r) => r.map_err(io_error),
        }
    }

    /// What the server has sent that no command asked for yet: data already buffered or
    /// waiting on the socket now (without waiting for more), its first bytes as text. RFC
    /// 5321 4.3.1 and RFC 2920 3.1: a server speaks only in reply, one reply per command.
    pub fn unsolicited(&mut self) -> Option<String> {
        use futures_util::FutureExt;
        let stream = self.stream.as_mut()?;
        match stream.fill_buf().now_or_never() {
            // Nothing ready, end of stream or an error: the next read reports those.
            Some(Ok(buf)) if !buf.is_empty() => {
                let shown = &buf[..buf.len().min(MAX_UNSOLICITED_SHOWN)];
                // Line ends shown as ` / `: the text is quoted in one line of evidence.
                let text = String::from_utf8_lossy(shown)
                    .replace("\r\n", "\n")
                    .trim_end()
                    .replace('\n', " / ");
                self.event(format!("unsolicited data from the server: {text:?}"));
                Some(text)
            }
            _ => None,
        }
    }

    /// Sends several commands in one write (RFC 2920 PIPELINING); the caller then reads one
    /// reply per command, in order.
    pub async fn send_all(&mut self, cmds: &[String]) -> Result<(), SmtpError> {
        let lines: Vec<&str> = cmds.iter().map(String::as_str).collect();
        self.send_lines(&lines).await
    }

    /// Sends a command and reads its reply.
    pub async fn command(&mut self, cmd: &str) -> Result<Reply, SmtpError> {
        self.send(cmd).await?;
        let t = self.timeout;
        let reply = self.read_reply(t).await?;
        // More than one reply to one command: this one may belong to nothing we sent. After
        // STARTTLS the bytes that follow are the TLS layer's to judge (the handshake does).
        if !cmd.eq_ignore_ascii_case("STARTTLS")
            && let Some(extra) = self.unsolicited()
        {
            return Err(SmtpError::Unsolicited(extra));
        }
        Ok(reply)
    }

    /// STARTTLS has been accepted: run the handshake, recording the certificate and verdicts.
    /// On success the session continues encrypted.
    pub async fn upgrade_tls(
        &mut self,
        server_name: &str,
        settings: &TlsSettings,
    ) -> TlsObservation {
        let Some(reader) = self.stream.take() else {
            return TlsObservation::failed("session already closed");
        };
        if !reader.buffer().is_empty() {
            // Data after the 220 before the handshake is a STARTTLS injection attempt
            // (CVE-2011-0411 class); refuse to carry it into the TLS session.
            self.event("server sent data after 220 to STARTTLS; not upgrading");
            return TlsObservation::failed("server sent plaintext after accepting STARTTLS");
        }
        let inner = reader.into_inner();
        let (obs, stream) = tls::handshake(inner, server_name, settings, self.timeout).await;
        self.event(match &obs.handshake_error {
            None => format!(
                "TLS established: {} {}",
                obs.version.as_deref().unwrap_or("?"),
                obs.cipher.as_deref().unwrap_or("?")
            ),
            Some(e) => format!("TLS handshake failed: {e}"),
        });
        if let Some(s) = stream {
            let boxed: Box<dyn Stream> = Box::new(s);
            self.stream = Some(BufReader::new(boxed));
        }
        obs
    }

    /// Ends politely (QUIT, short wait for 221) and closes; errors are recorded, not returned.
    /// Waits briefly for the server to close its side too, so a server counting concurrent
    /// connections per client never sees this one overlap the caller's next.
    pub async fn quit(&mut self) {
        let grace = Duration::from_millis(1500).min(self.timeout);
        // QUIT goes out even to a server out of step: it is the last word either way.
        if self.stream.is_some() && self.write_lines(&["QUIT"]).await.is_ok() {
            let _ = self.read_reply(grace).await;
        }
        if let Some(mut s) = self.stream.take() {
            let _ = tokio::time::timeout(Duration::from_millis(500), s.get_mut().shutdown()).await;
            let drain = async {
                let mut buf = [0u8; 512];
                // Bounded: at most a few KiB of trailing noise before EOF.
                for _ in 0..8 {
                    match tokio::io::AsyncReadExt::read(&mut s, &mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            };
            let _ = tokio::time::timeout(grace, drain).await;
        }
    }

    /// The transcript as evidence lines (`S: 220 ...`, `C: EHLO ...`).
    pub fn transcript_lines(&self) -> Vec<String> {
        self.transcript
            .iter()
            .map(|t| format!("{:>6} ms {}: {}", t.at_ms, t.dir, t.line))
            .collect()
    }
}

/// Splits `250-SIZE 1000` into (250, more=true, "SIZE 1000").
pub fn parse_line(line: &str) -> Result<(u16, bool, &str), SmtpError> {
    let b = line.as_bytes();
    if b.len() < 3 || !b[..3].iter().all(u8::is_ascii_digit) || !(b'2'..=b'5').contains(&b[0]) {
        return Err(SmtpError::Malformed(line.chars().take(200).collect()));
    }
    let code: u16 = line[..3]
        .parse()
        .map_err(|_| SmtpError::Malformed(line.to_string()))?;
    match b.get(3) {
        None => Ok((code, false, "")),
        Some(b' ') => Ok((code, false, &line[4..])),
        Some(b'-') => Ok((code, true, &line[4..])),
        Some(_) => Err(SmtpError::Malformed(line.chars().take(200).collect())),
    }
}

/// EHLO keywords, upper-cased, with their parameters (`SIZE 35882577` -> ("SIZE", "35882577")).
pub fn capabilities(ehlo: &Reply) -> Vec<(String, String)> {
    ehlo.lines
        .iter()
        .skip(1)
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap_or((l, ""));
            (k.to_ascii_uppercase(), v.to_string())
        })
        .collect()
}

/// Shared TLS settings are cheap to clone into tasks.
pub type SharedTls = Arc<TlsSettings>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_reply_lines() {
        assert_eq!(parse_line("250-SIZE 10").ok(), Some((250, true, "SIZE 10")));
        assert_eq!(
            parse_line("220 mx ESMTP").ok(),
            Some((220, false, "mx ESMTP"))
        );
        assert_eq!(parse_line("250").ok(), Some((250, false, "")));
        assert!(parse_line("hello").is_err());
        assert!(parse_line("2500 x").is_err());
        assert!(parse_line("650 x").is_err());
    }

    #[tokio::test]
    async fn never_writes_a_command_that_is_two_lines() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut sock, &mut got).await;
            got
        });
        let mut s = Session::connect(peer, Duration::from_secs(5), &AddressPolicy::any())
            .await
            .unwrap();
        for cmd in ["RCPT TO:<\"a\r\nDATA\"@example.com>", "VRFY a\nb", "RSET\0"] {
            assert!(
                matches!(s.send(cmd).await, Err(SmtpError::UnsafeCommand(_))),
                "{cmd}"
            );
        }
        let batch = vec![
            "RCPT TO:<ok@example.com>".to_string(),
            "RCPT TO:<a\rb>".to_string(),
        ];
        assert!(matches!(
            s.send_all(&batch).await,
            Err(SmtpError::UnsafeCommand(_))
        ));
        s.send("NOOP").await.unwrap();
        drop(s);
        // Only the safe command reached the wire; the refused ones are not in the transcript.
        assert_eq!(server.await.unwrap(), b"NOOP\r\n");
    }

    #[test]
    fn raw_reply_round_trips() {
        let r = Reply {
            code: 421,
            lines: vec!["4.7.0 a".into(), "4.7.0 b".into()],
            elapsed_ms: 0,
        };
        assert_eq!(r.raw(), "421-4.7.0 a\n421 4.7.0 b");
    }
}
