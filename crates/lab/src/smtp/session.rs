//! One SMTP session: admission (limits), banner, then the command loop, with every scripted
//! misbehaviour of the host applied in the order a real server would meet it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::conn::{Conn, Line, Stream};
use super::{HostRuntime, Received};
use crate::scenario::{Behaviour, DataMode, FailCommand, Reply, Submission, TlsMode};
use crate::stats::Admission;

/// How long a TLS handshake may take before the session is dropped.
const TLS_HANDSHAKE: Duration = Duration::from_secs(10);
/// Longest address accepted in MAIL FROM / RCPT TO (RFC 5321 path limit).
const MAX_PATH: usize = 256;
/// Verbs counted by name; anything else counts as `UNKNOWN` so the map stays bounded.
const VERBS: [&str; 13] = [
    "EHLO", "HELO", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "QUIT", "VRFY", "EXPN", "HELP",
    "STARTTLS", "AUTH",
];

/// Why the command loop ended (only used to pick the last words).
enum End {
    Quit,
    Close,
}

struct Session {
    host: Arc<HostRuntime>,
    b: Arc<Behaviour>,
    client: IpAddr,
    conn: Conn,
    eol: &'static str,
    /// Banner was a refusal other than 421: only QUIT is served (RFC 5321 3.1).
    refusing: bool,
    greeted: bool,
    tls: bool,
    mail_from: Option<String>,
    /// The accepted recipients of the transaction (kept by submission hosts, which record).
    rcpts: Vec<String>,
    /// The account that authenticated (submission hosts).
    user: Option<String>,
    rcpts_in_txn: u32,
    rcpts_in_session: u32,
    commands: u32,
    /// Bytes already added to the counters.
    counted_in: u64,
    counted_out: u64,
    /// The session was already counted as closed (see `release`).
    released: bool,
    /// A hostile quirk's unsolicited reply, written with the next reply.
    unsolicited: Option<Reply>,
}

/// Runs a session to its end; counters are updated as it goes and closed at the end.
pub async fn run(host: Arc<HostRuntime>, sock: TcpStream, peer: SocketAddr) {
    let client = peer.ip();
    let b = host.behaviour_for(client);
    let admission = match host.counters.lock() {
        Ok(mut c) => c.open(
            client,
            b.rate_limit.as_ref().map(|r| (r.connections, r.per)),
            b.concurrency.as_ref().map(|c| c.per_client),
            Instant::now(),
        ),
        Err(_) => Admission::Accepted,
    };
    let limits = host.limits;
    let eol = if b.quirks.bare_lf { "\n" } else { "\r\n" };
    let mut s = Session {
        host: host.clone(),
        b,
        client,
        conn: Conn::new(sock, limits.max_line, limits.idle_timeout),
        eol,
        refusing: false,
        greeted: false,
        tls: false,
        mail_from: None,
        rcpts: Vec::new(),
        user: None,
        rcpts_in_txn: 0,
        rcpts_in_session: 0,
        commands: 0,
        counted_in: 0,
        counted_out: 0,
        released: false,
        unsolicited: None,
    };
    let _ = tokio::time::timeout(limits.session_timeout, s.body(admission)).await;
    s.flush_bytes();
    s.release();
}

impl Session {
    /// Counts the session as over, once. Done before the socket closes, so a client that sees
    /// the close and connects again is never counted twice at once.
    fn release(&mut self) {
        if !self.released {
            self.released = true;
            if let Ok(mut c) = self.host.counters.lock() {
                c.close(self.client);
            }
        }
    }

    async fn close_conn(&mut self) {
        self.release();
        self.conn.close().await;
    }

    async fn body(&mut self, admission: Admission) {
        let b = self.b.clone();
        if b.refuse {
            // A per-client refusal: reset the connection at once, like a firewall REJECT.
            if let Stream::Plain(s) = &self.conn.stream {
                let _ = s.set_zero_linger();
            }
            return;
        }
        match admission {
            Admission::Accepted => {}
            Admission::RateLimited | Admission::TooConcurrent => {
                let reply = match admission {
                    Admission::RateLimited => b.rate_limit.as_ref().map(|r| r.reply.clone()),
                    _ => b.concurrency.as_ref().map(|c| c.reply.clone()),
                };
                if let Some(r) = reply {
                    let _ = self.send_reply(&r).await;
                }
                self.close_conn().await;
                return;
            }
        }
        if b.silent {
            self.conn.drain(self.host.limits.session_timeout).await;
            return;
        }
        if !b.tarpit.banner_delay.is_zero() {
            tokio::time::sleep(b.tarpit.banner_delay).await;
        }
        let banner = self.banner();
        if self.b.quirks.early_talker {
            self.unsolicited = Some(self.stray_reply());
        }
        if self.send_reply(&banner).await.is_err() {
            return;
        }
        if banner.code == 421 {
            self.close_conn().await;
            return;
        }
        self.refusing = !(200..300).contains(&banner.code);
        if let End::Close = self.command_loop().await {
            self.close_conn().await;
        }
    }

    fn banner(&self) -> Reply {
        if let Some(r) = &self.b.banner {
            return r.clone();
        }
        let name = &self.host.spec.name;
        if self.b.quirks.multiline_banner {
            Reply {
                code: 220,
                lines: vec![
                    format!("{name} ESMTP mxray-lab"),
                    "This banner spans several lines on purpose".into(),
                    "Clients must read until the line with a space after the code".into(),
                    format!("{name} ready"),
                ],
            }
        } else {
            Reply::new(220, &format!("{name} ESMTP mxray-lab ready"))
        }
    }

    async fn command_loop(&mut self) -> End {
        loop {
            let line = match self.conn.read_line().await {
                Line::Text(l) => l,
                Line::Closed => return End::Quit,
                Line::TooLong => {
                    let _ = self.reply(500, "5.5.2 Line too long").await;
                    return End::Close;
                }
                Line::Idle => {
                    let _ = self
                        .reply(421, "4.4.2 Idle timeout exceeded, closing connection")
                        .await;
                    return End::Close;
                }
            };
            let text = String::from_utf8_lossy(&line).into_owned();
            let (verb, arg) = split_command(&text);
            let counted = VERBS
                .iter()
                .copied()
                .find(|v| *v == verb)
                .unwrap_or("UNKNOWN");
            self.count_command(counted);

            if let Some(c) = &self.b.close_after
                && self.commands >= c.commands
            {
                if let Some(r) = c.reply.clone() {
                    let _ = self.send_reply(&r).await;
                }
                return End::Close;
            }
            self.commands += 1;
            if self.commands > self.host.limits.max_commands {
                let _ = self
                    .reply(421, "4.7.0 Too many commands, closing connection")
                    .await;
                return End::Close;
            }

            if self.refusing && verb != "QUIT" {
                if self
                    .reply(503, "5.5.1 No service here, only QUIT")
                    .await
                    .is_err()
                {
                    return End::Quit;
                }
                continue;
            }

            let result = match verb.as_str() {
                "EHLO" => self.ehlo(arg, true).await,
                "HELO" => self.ehlo(arg, false).await,
                "MAIL" => self.mail(arg).await,
                "RCPT" => self.rcpt(arg).await,
                "DATA" => self.data().await,
                "RSET" => {
                    self.reset();
                    self.reply(250, "2.0.0 OK").await
                }
                "NOOP" => self.reply(250, "2.0.0 OK").await,
                "QUIT" => {
                    let _ = self.reply(221, "2.0.0 Bye").await;
                    self.close_conn().await;
                    return End::Quit;
                }
                "VRFY" => {
                    self.reply(
                        252,
                        "2.5.2 Cannot VRFY user, but will accept message and attempt delivery",
                    )
                    .await
                }
                "EXPN" => self.reply(502, "5.5.1 EXPN not available").await,
                "HELP" => self.reply(214, "2.0.0 See RFC 5321").await,
                "STARTTLS" => self.starttls(arg).await,
                "AUTH" => self.auth(arg).await,
                _ => self.reply(500, "5.5.2 Command not recognized").await,
            };
            match result {
                Ok(Flow::Continue) => {}
                Ok(Flow::Close) => return End::Close,
                Err(_) => return End::Quit,
            }
        }
    }

    async fn ehlo(&mut self, arg: &str, extended: bool) -> std::io::Result<Flow> {
        if arg.trim().is_empty() {
            return self.reply(501, "5.5.4 Syntax: EHLO hostname").await;
        }
        self.reset();
        self.greeted = true;
        if extended && let Some(r) = self.b.ehlo_reply.clone() {
            // A refused EHLO leaves the client to try HELO; an accepted one (a server that
            // lists no extensions) greets as any 250 does.
            self.greeted = r.code / 100 == 2;
            return self.send_reply(&r).await.map(|_| Flow::Continue);
        }
        let name = self.host.spec.name.clone();
        let greeting = format!("{name} Hello {}", sanitize(arg.trim()));
        if !extended {
            return self.reply(250, &greeting).await;
        }
        let mut lines = vec![
            greeting,
            "PIPELINING".to_owned(),
            format!("SIZE {}", self.host.limits.max_message),
            "8BITMIME".to_owned(),
            "ENHANCEDSTATUSCODES".to_owned(),
        ];
        if !self.tls && self.b.starttls != TlsMode::None {
            lines.push("STARTTLS".to_owned());
        }
        // Like a real submission server: no password is asked for over a plain channel.
        if self.tls && self.b.submission.is_some() {
            lines.push("AUTH PLAIN LOGIN".to_owned());
        }
        if self.b.quirks.long_replies {
            for i in 0..60 {
                lines.push(format!(
                    "X-LAB-FILLER-{i:02} {}",
                    "padding-to-make-this-reply-long ".repeat(12).trim_end()
                ));
            }
        }
        lines.push("SMTPUTF8".to_owned());
        self.send_reply(&Reply { code: 250, lines }).await?;
        Ok(Flow::Continue)
    }

    async fn mail(&mut self, arg: &str) -> std::io::Result<Flow> {
        if !self.greeted {
            return self.reply(503, "5.5.1 Error: send HELO/EHLO first").await;
        }
        if self.mail_from.is_some() {
            return self.reply(503, "5.5.1 Error: nested MAIL command").await;
        }
        if let Some(sub) = self.b.submission.clone() {
            if self.user.is_none() {
                return self.reply(530, "5.7.0 Authentication required").await;
            }
            if let Some(flow) = self.fail_first(&sub, FailCommand::Mail).await? {
                return Ok(flow);
            }
        }
        match path_arg(arg, "FROM:") {
            Some(addr) => {
                self.mail_from = Some(addr.to_ascii_lowercase());
                self.reply(250, "2.1.0 Sender OK").await
            }
            None => self.reply(501, "5.5.4 Syntax: MAIL FROM:<address>").await,
        }
    }

    async fn rcpt(&mut self, arg: &str) -> std::io::Result<Flow> {
        let Some(from) = self.mail_from.clone() else {
            return self.reply(503, "5.5.1 Error: need MAIL command").await;
        };
        let rcpt = match path_arg(arg, "TO:") {
            Some(a) if !a.is_empty() => a.to_ascii_lowercase(),
            _ => {
                self.count_rcpt(false);
                return self.reply(501, "5.5.4 Syntax: RCPT TO:<address>").await;
            }
        };
        let b = self.b.clone();
        if let Some(r) = &b.rcpt_reply {
            self.count_rcpt(r.code / 100 == 2);
            self.send_reply(r).await?;
            return Ok(if r.closes() {
                Flow::Close
            } else {
                Flow::Continue
            });
        }
        if let Some(limit) = b.rcpt_limit
            && self.rcpts_in_session >= limit
        {
            self.count_rcpt(false);
            return self.reply(452, "4.5.3 Too many recipients").await;
        }
        if let Some(g) = &b.greylist
            && !self
                .host
                .greylist_pass((self.client, from, rcpt.clone()), g.delay)
        {
            self.count_rcpt(false);
            self.send_reply(&g.reply).await?;
            return Ok(Flow::Continue);
        }
        let shown = sanitize(&rcpt);
        let (code, text) = if b.disabled.contains(&rcpt) {
            (
                550,
                format!("5.2.1 <{shown}>: Mailbox disabled, not accepting messages"),
            )
        } else if b.mailbox_full.contains(&rcpt) {
            (
                452,
                format!("4.2.2 <{shown}>: Mailbox full, try again later"),
            )
        } else if b.over_quota.contains(&rcpt) {
            (
                552,
                format!("5.2.2 <{shown}>: Mailbox full, quota exceeded"),
            )
        } else if b.catch_all || b.submission.is_some() || b.mailboxes.contains(&rcpt) {
            (250, "2.1.5 Recipient OK".to_owned())
        } else {
            (
                550,
                format!("5.1.1 <{shown}>: Recipient address rejected: User unknown"),
            )
        };
        self.count_rcpt(code == 250);
        if code == 250 {
            self.rcpts_in_txn += 1;
            self.rcpts_in_session += 1;
            if b.submission.is_some() {
                self.rcpts.push(rcpt);
            }
        }
        if b.quirks.extra_replies {
            self.unsolicited = Some(self.stray_reply());
        }
        self.reply(code, &text).await
    }

    async fn data(&mut self) -> std::io::Result<Flow> {
        if self.mail_from.is_none() || self.rcpts_in_txn == 0 {
            return self.reply(503, "5.5.1 Error: need RCPT command").await;
        }
        if self.b.data == DataMode::Reject {
            self.reset();
            return self
                .reply(554, "5.7.0 This lab server accepts no mail")
                .await;
        }
        let submission = self.b.submission.clone();
        if let Some(sub) = &submission
            && let Some(flow) = self.fail_first(sub, FailCommand::Data).await?
        {
            return Ok(flow);
        }
        self.reply(354, "End data with <CR><LF>.<CR><LF>").await?;
        let max = self.host.limits.max_message;
        let mut size = 0usize;
        // Only a submission host keeps the message, and never more than the size limit.
        let mut kept: Option<Vec<u8>> = submission.as_ref().map(|_| Vec::new());
        loop {
            match self.conn.read_line().await {
                Line::Text(l) if l == b"." => break,
                Line::Text(l) => {
                    size += l.len() + 2;
                    if let Some(k) = kept.as_mut().filter(|_| size <= max) {
                        // RFC 5321 4.5.2: a leading dot was doubled by the client.
                        let line = l.strip_prefix(b".").unwrap_or(&l);
                        k.extend_from_slice(line);
                        k.extend_from_slice(b"\r\n");
                    }
                }
                Line::TooLong => {
                    self.reply(500, "5.5.2 Line too long").await?;
                    return Ok(Flow::Close);
                }
                Line::Idle => {
                    self.reply(421, "4.4.2 Idle timeout exceeded, closing connection")
                        .await?;
                    return Ok(Flow::Close);
                }
                Line::Closed => return Ok(Flow::Close),
            }
        }
        let envelope = (self.mail_from.take(), std::mem::take(&mut self.rcpts));
        self.reset();
        if size > max {
            return self.reply(552, "5.3.4 Message too big").await;
        }
        if let (Some(data), (Some(mail_from), rcpt_to)) = (kept, envelope) {
            self.host.record(Received {
                client: self.client,
                user: self.user.clone().unwrap_or_default(),
                tls: self.tls,
                mail_from,
                rcpt_to,
                data,
            });
            return self.reply(250, "2.0.0 Message accepted for delivery").await;
        }
        self.reply(250, "2.0.0 Message accepted and discarded by the lab")
            .await
    }

    /// A submission's `fail_first`: while its count lasts, `command` gets the failure reply
    /// (and the transaction is dropped). `None` when this attempt goes on normally.
    async fn fail_first(
        &mut self,
        sub: &Submission,
        command: FailCommand,
    ) -> std::io::Result<Option<Flow>> {
        let Some(f) = sub.fail_first.as_ref().filter(|f| f.command == command) else {
            return Ok(None);
        };
        if !self.host.take_failure(f.count) {
            return Ok(None);
        }
        self.reset();
        self.send_reply(&f.reply).await?;
        Ok(Some(if f.reply.closes() {
            Flow::Close
        } else {
            Flow::Continue
        }))
    }

    /// `AUTH PLAIN [initial]` or `AUTH LOGIN [user]` (RFC 4954), only inside TLS, only on a
    /// submission host.
    async fn auth(&mut self, arg: &str) -> std::io::Result<Flow> {
        let Some(sub) = self.b.submission.clone() else {
            return self.reply(502, "5.5.1 AUTH not available").await;
        };
        if !self.greeted {
            return self.reply(503, "5.5.1 Error: send EHLO first").await;
        }
        if !self.tls {
            return self
                .reply(530, "5.7.0 Must issue a STARTTLS command first")
                .await;
        }
        if self.user.is_some() {
            return self.reply(503, "5.5.1 Already authenticated").await;
        }
        if self.mail_from.is_some() {
            return self
                .reply(503, "5.5.1 AUTH not allowed during a mail transaction")
                .await;
        }
        let mut words = arg.split_whitespace();
        let mechanism = words.next().unwrap_or("").to_ascii_uppercase();
        let initial = words.next().map(str::to_owned);
        let credentials = match mechanism.as_str() {
            "PLAIN" => {
                let Some(response) = self.auth_response(initial, "").await? else {
                    return Ok(Flow::Close);
                };
                response.and_then(|r| {
                    // authzid NUL authcid NUL passwd; the authorization identity is ignored.
                    let mut parts = r.splitn(3, |&b| b == 0).skip(1);
                    Some((parts.next()?.to_vec(), parts.next()?.to_vec()))
                })
            }
            "LOGIN" => {
                let Some(user) = self.auth_response(initial, "VXNlcm5hbWU6").await? else {
                    return Ok(Flow::Close);
                };
                let Some(user) = user else {
                    return self.auth_failed().await;
                };
                let Some(password) = self.auth_response(None, "UGFzc3dvcmQ6").await? else {
                    return Ok(Flow::Close);
                };
                password.map(|p| (user, p))
            }
            "" => return self.reply(501, "5.5.4 Syntax: AUTH mechanism").await,
            _ => {
                return self
                    .reply(504, "5.5.4 Unrecognized authentication type")
                    .await;
            }
        };
        let Some((user, password)) = credentials else {
            return self.auth_failed().await;
        };
        if user == sub.user.as_bytes() && password == sub.password.as_bytes() {
            self.user = Some(sub.user.clone());
            self.reply(235, "2.7.0 Authentication successful").await
        } else {
            self.reply(535, "5.7.8 Authentication credentials invalid")
                .await
        }
    }

    /// The client's base64 answer: the initial response if it gave one, else read after a
    /// `334 CHALLENGE`. `Ok(None)`: the session is over; `Ok(Some(None))`: not base64, or
    /// cancelled with `*`.
    async fn auth_response(
        &mut self,
        initial: Option<String>,
        challenge: &str,
    ) -> std::io::Result<Option<Option<Vec<u8>>>> {
        let text = match initial {
            Some(t) => t.into_bytes(),
            None => {
                self.reply(334, challenge).await?;
                match self.conn.read_line().await {
                    Line::Text(l) => l,
                    Line::TooLong | Line::Idle | Line::Closed => return Ok(None),
                }
            }
        };
        // `=` alone is an empty initial response (RFC 4954 4).
        if text == b"=" {
            return Ok(Some(Some(Vec::new())));
        }
        Ok(Some(BASE64.decode(text.trim_ascii()).ok()))
    }

    async fn auth_failed(&mut self) -> std::io::Result<Flow> {
        self.reply(501, "5.5.2 Cannot decode the response, or AUTH cancelled")
            .await
    }

    async fn starttls(&mut self, arg: &str) -> std::io::Result<Flow> {
        if self.b.starttls == TlsMode::None {
            return self.reply(502, "5.5.1 STARTTLS not available").await;
        }
        if self.tls {
            return self.reply(503, "5.5.1 Already in TLS").await;
        }
        if !arg.trim().is_empty() {
            return self.reply(501, "5.5.4 Syntax: STARTTLS").await;
        }
        self.reply(220, "2.0.0 Ready to start TLS").await?;
        if self.b.starttls == TlsMode::Broken {
            self.conn.write(b"this is not a TLS handshake\r\n").await?;
            return Ok(Flow::Close);
        }
        let Some(cfg) = self.host.tls.get(&self.b.starttls).cloned() else {
            return Ok(Flow::Close);
        };
        self.conn.discard_buffer();
        let Stream::Plain(tcp) = std::mem::replace(&mut self.conn.stream, Stream::Gone) else {
            return Ok(Flow::Close);
        };
        let acceptor = TlsAcceptor::from(cfg);
        match tokio::time::timeout(TLS_HANDSHAKE, acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => {
                self.conn.stream = Stream::Tls(Box::new(tls));
                self.tls = true;
                self.greeted = false;
                self.user = None;
                self.reset();
                if let Ok(mut c) = self.host.counters.lock() {
                    c.tls(self.client);
                }
                Ok(Flow::Continue)
            }
            // A client that rejects the certificate aborts the handshake: end quietly.
            _ => Ok(Flow::Close),
        }
    }

    /// The reply a hostile quirk sends unasked: a rejection naming someone nobody asked about.
    fn stray_reply(&self) -> Reply {
        let domain = self.host.spec.name.split_once('.').map_or("", |(_, d)| d);
        Reply::new(
            550,
            &format!("5.1.1 <someone@{domain}>: Recipient address rejected: User unknown"),
        )
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpts.clear();
        self.rcpts_in_txn = 0;
    }

    async fn reply(&mut self, code: u16, text: &str) -> std::io::Result<Flow> {
        self.send_reply(&Reply::new(code, text)).await?;
        Ok(Flow::Continue)
    }

    /// Sends a reply after the configured latency and tarpit delay.
    async fn send_reply(&mut self, reply: &Reply) -> std::io::Result<()> {
        // Latency stands in for a wide-area round trip: a command that arrived in the same
        // client write as the one before it (pipelining, RFC 2920) is already in flight, so
        // only the first of a batch pays it. A tarpit delays every reply on purpose.
        let rtt = if self.conn.last_fresh {
            self.b.latency
        } else {
            Duration::ZERO
        };
        let delay = rtt + self.b.tarpit.reply_delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let mut wire = reply.render(self.eol);
        if let Some(extra) = self.unsolicited.take() {
            // The early talker speaks after its greeting; the desynchroniser before its reply.
            let extra = extra.render(self.eol);
            wire = if self.greeted || self.mail_from.is_some() {
                extra + &wire
            } else {
                wire + &extra
            };
        }
        if self.b.quirks.lowercase {
            wire = wire.to_ascii_lowercase();
        }
        let r = self.conn.write(wire.as_bytes()).await;
        self.flush_bytes();
        r
    }

    fn count_command(&mut self, verb: &str) {
        if let Ok(mut c) = self.host.counters.lock() {
            c.command(self.client, verb);
        }
    }

    fn count_rcpt(&mut self, accepted: bool) {
        if let Ok(mut c) = self.host.counters.lock() {
            c.rcpt(self.client, accepted);
        }
    }

    fn flush_bytes(&mut self) {
        let (i, o) = (self.conn.bytes_in, self.conn.bytes_out);
        if let Ok(mut c) = self.host.counters.lock() {
            c.bytes(self.client, i - self.counted_in, o - self.counted_out);
        }
        self.counted_in = i;
        self.counted_out = o;
    }
}

enum Flow {
    Continue,
    Close,
}

/// `("MAIL", "FROM:<a@b>")`: the verb upper-cased, the rest as sent.
fn split_command(line: &str) -> (String, &str) {
    let line = line.trim_start();
    let (verb, rest) = match line.find(' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, ""),
    };
    let verb = if verb.len() <= 10 {
        verb.to_ascii_uppercase()
    } else {
        String::new()
    };
    (verb, rest)
}

/// The address in `FROM:<addr> params` / `TO:<addr>`; `None` if malformed.
fn path_arg<'a>(arg: &'a str, keyword: &str) -> Option<&'a str> {
    let arg = arg.trim_start();
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    let addr = if let Some(inner) = rest.strip_prefix('<') {
        &inner[..inner.find('>')?]
    } else {
        // Sloppy clients omit the brackets; take the first word.
        rest.split_whitespace().next().unwrap_or("")
    };
    if addr.len() > MAX_PATH || addr.chars().any(|c| c.is_control() || c == ' ') {
        return None;
    }
    Some(addr)
}

/// Client-supplied text echoed in a reply: printable ASCII only, bounded.
fn sanitize(s: &str) -> String {
    s.chars()
        .take(MAX_PATH)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(
            split_command("mail FROM:<a@b>"),
            ("MAIL".into(), "FROM:<a@b>")
        );
        assert_eq!(split_command("QUIT"), ("QUIT".into(), ""));
        assert_eq!(path_arg("FROM:<a@b> SIZE=10", "FROM:"), Some("a@b"));
        assert_eq!(path_arg("from: <>", "FROM:"), Some(""));
        assert_eq!(path_arg("TO:x@y", "TO:"), Some("x@y"));
        assert_eq!(path_arg("TO:<x@y", "TO:"), None);
        assert_eq!(path_arg("FROM:<a@b>", "TO:"), None);
        assert_eq!(sanitize("a\u{1b}[31mb"), "a?[31mb");
    }
}
