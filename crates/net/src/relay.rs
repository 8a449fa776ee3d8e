//! Mail through a submission server (RFC 6409): one plain-text message sent over STARTTLS (or
//! implicit TLS) with AUTH, retried on transient failures. The dashboard's email alerts use it.
//!
//! lettre builds the message (headers RFC 2047-encoded, so outside text in a subject cannot
//! add a header) and speaks SMTP, one command at a time so a failure names its step. This
//! module owns the guards: the relay's name resolved once and the caller's [`AddressPolicy`]
//! checked on the very address connected to; TLS verified against the caller's roots for the
//! relay's name, before AUTH; no password over a plain channel (only a loopback relay, and only
//! when the caller says so, may skip TLS); a timeout on every step and on every try; a cap on
//! the bytes read from the relay; retries with backoff for 4xx replies and network failures,
//! none for 5xx replies, refused credentials or untrusted certificates.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use lettre::address::Envelope;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, CertificateStore, TlsParameters,
};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use mxray_core::escape_text;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::policy::{AddressPolicy, NotAllowed};
use crate::tls::TlsSettings;
use crate::{Dns, RType};

/// The submission port (RFC 6409), STARTTLS.
pub const SUBMISSION_PORT: u16 = 587;
/// The submissions port (RFC 8314), TLS from the first byte.
pub const SUBMISSIONS_PORT: u16 = 465;
/// Tries per message (the first and two retries).
pub const TRIES: u32 = 3;
/// The wait before the first retry; doubled before each next one.
pub const BACKOFF: Duration = Duration::from_secs(1);
/// Each step's default bound (connect, greeting, STARTTLS, AUTH, each command, the message).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes read from the relay per connection at most: replies are small, so more is a relay
/// gone wrong (lettre reads a reply line whole before checking its length).
pub const MAX_READ: usize = 256 * 1024;
/// Longest relay URL accepted.
pub const MAX_URL: usize = 2048;
/// Longest reply text kept in an error.
const MAX_SHOWN: usize = 300;
/// Steps in one try, for the try's own bound: connect, TLS, greeting, STARTTLS, AUTH, MAIL,
/// RCPT (counted once), DATA, the message.
const STEPS: u32 = 9;

/// A relay URL that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("relay URL {url:?}: {why}")]
pub struct BadRelayUrl {
    /// The URL without its password, shortened.
    pub url: String,
    pub why: &'static str,
}

/// How the channel to the relay is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayTls {
    /// `smtp://`: plain TCP, then STARTTLS (RFC 3207).
    StartTls,
    /// `smtps://`: TLS from the first byte (RFC 8314).
    Implicit,
}

/// A parsed `smtp://[USER[:PASSWORD]@]HOST[:PORT]` or `smtps://...` URL.
#[derive(Clone, PartialEq, Eq)]
pub struct RelayUrl {
    pub tls: RelayTls,
    /// Lowercase name or IP address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// Percent-decoded; empty when the URL names no account.
    pub username: String,
    /// Percent-decoded; `None` when the URL carries none (to be read from elsewhere).
    pub password: Option<String>,
}

impl fmt::Debug for RelayUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayUrl")
            .field("tls", &self.tls)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

impl RelayUrl {
    /// Parses a relay URL. The default port is 587 for `smtp://` and 465 for `smtps://`; user
    /// and password are percent-decoded (`%40` for `@`, `%3A` for `:`). No path or query.
    pub fn parse(url: &str) -> Result<RelayUrl, BadRelayUrl> {
        let bad = |why| BadRelayUrl {
            url: redact(url),
            why,
        };
        if url.len() > MAX_URL {
            return Err(bad("longer than 2048 characters"));
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("give an smtp:// or smtps:// URL"))?;
        let (tls, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "smtp" => (RelayTls::StartTls, SUBMISSION_PORT),
            "smtps" => (RelayTls::Implicit, SUBMISSIONS_PORT),
            _ => return Err(bad("give an smtp:// or smtps:// URL")),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err(bad("a relay URL has no path, query or fragment"));
        }
        // The last `@` ends the user information: a password may hold an unencoded `@`.
        let (userinfo, authority) = match rest.rsplit_once('@') {
            Some((u, a)) => (Some(u), a),
            None => (None, rest),
        };
        let (username, password) = match userinfo {
            None => (String::new(), None),
            Some(u) => {
                let (user, pass) = match u.split_once(':') {
                    Some((user, pass)) => (user, Some(pass)),
                    None => (u, None),
                };
                let user = percent_decode(user)
                    .ok_or_else(|| bad("the user is not valid percent-encoded UTF-8"))?;
                let pass = pass
                    .map(percent_decode)
                    .map(|p| {
                        p.ok_or_else(|| bad("the password is not valid percent-encoded UTF-8"))
                    })
                    .transpose()?;
                if user.is_empty() {
                    return Err(bad("an empty user before `@`"));
                }
                if user
                    .chars()
                    .chain(pass.iter().flat_map(|p| p.chars()))
                    .any(char::is_control)
                {
                    return Err(bad("control characters in the user or password"));
                }
                (user, pass)
            }
        };
        let (host, port) = crate::authority::host_port(authority, default_port).map_err(bad)?;
        Ok(RelayUrl {
            tls,
            host,
            port,
            username,
            password,
        })
    }
}

/// The URL for messages: the password replaced, at most 200 characters.
fn redact(url: &str) -> String {
    let shown = match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                format!("{scheme}://{user}:***@{host}")
            }
            None => url.to_string(),
        },
        None => url.to_string(),
    };
    escape_text(&shown.chars().take(200).collect::<String>())
}

/// `%XX` decoded; `None` for a bad escape or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Where and how to send.
#[derive(Clone)]
pub struct RelayConfig {
    /// The relay's name (what its certificate must name) or address.
    pub host: String,
    pub port: u16,
    pub security: RelayTls,
    /// The account; empty: no AUTH (a relay that accepts by address).
    pub username: String,
    pub password: String,
    /// The sender, `alerts@example.com` or `mxray <alerts@example.com>`: the From header and
    /// MAIL FROM.
    pub from: String,
    /// Trust roots for the relay's certificate.
    pub tls: Arc<TlsSettings>,
    /// Each step; a try as a whole gets nine.
    pub timeout: Duration,
    pub policy: AddressPolicy,
    /// For a host that is a name (`localhost` and addresses need none).
    pub dns: Option<Dns>,
    pub tries: u32,
    pub backoff: Duration,
    /// Refuse a relay that does not offer STARTTLS. Turning it off lets a loopback relay
    /// (a local MTA) take the message in clear; any other address still needs TLS.
    pub require_tls: bool,
    /// The EHLO name.
    pub hello: String,
}

impl fmt::Debug for RelayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .field("policy", &self.policy)
            .field("tries", &self.tries)
            .field("backoff", &self.backoff)
            .field("require_tls", &self.require_tls)
            .finish_non_exhaustive()
    }
}

impl RelayConfig {
    /// The defaults for `url`: [`STEP_TIMEOUT`], [`TRIES`] tries, [`BACKOFF`], TLS required,
    /// every address allowed, no resolver, EHLO `localhost`. A password missing from the URL
    /// is left empty for the caller to fill (from an environment variable, say).
    pub fn new(url: RelayUrl, from: &str, tls: Arc<TlsSettings>) -> RelayConfig {
        RelayConfig {
            host: url.host,
            port: url.port,
            security: url.tls,
            username: url.username,
            password: url.password.unwrap_or_default(),
            from: from.to_string(),
            tls,
            timeout: STEP_TIMEOUT,
            policy: AddressPolicy::any(),
            dns: None,
            tries: TRIES,
            backoff: BACKOFF,
            require_tls: true,
            hello: "localhost".into(),
        }
    }
}

/// Why a message was not sent (by the last try, when it was retried).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    #[error("the {what} {value:?} is not a mail address: {why}")]
    Address {
        what: &'static str,
        value: String,
        why: String,
    },
    #[error("no recipient: give at least one address to send the alert to")]
    NoRecipient,
    #[error("the message cannot be built: {0}")]
    Message(String),
    #[error(transparent)]
    NotAllowed(NotAllowed),
    #[error("the relay {host} has no address: {why}")]
    Resolve { host: String, why: String },
    #[error("cannot connect to the relay at {addr}: {why}")]
    Connect { addr: SocketAddr, why: String },
    #[error("the relay {host} did not finish {step} within {ms} ms")]
    Timeout {
        host: String,
        step: String,
        ms: u128,
    },
    #[error(
        "the relay {host} does not offer STARTTLS, and the password is never sent in clear: use its submission port (587, STARTTLS) or smtps:// if it takes TLS at once (465)"
    )]
    NoStartTls { host: String },
    #[error(
        "TLS with the relay {host} failed: {why} (its certificate must be valid for {host} and come from a CA the trust roots hold)"
    )]
    Tls { host: String, why: String },
    #[error(
        "the relay {host} offers no AUTH PLAIN or LOGIN{offered}: check that --smtp-relay names its submission port"
    )]
    NoAuth { host: String, offered: String },
    #[error("the relay refused AUTH ({reply}): check --smtp-relay's user and password")]
    AuthRefused { reply: String, transient: bool },
    #[error("the relay answered {step} with {reply}: {advice}")]
    Rejected {
        step: String,
        reply: String,
        transient: bool,
        advice: &'static str,
    },
    #[error("the session with the relay {host} broke during {step}: {why}")]
    Protocol {
        host: String,
        step: String,
        why: String,
    },
}

impl RelayError {
    /// Worth another try: the network or the relay's momentary state (a 4xx reply), not a
    /// refusal that would be the same next time.
    pub fn retryable(&self) -> bool {
        match self {
            RelayError::Resolve { .. }
            | RelayError::Connect { .. }
            | RelayError::Timeout { .. }
            | RelayError::Protocol { .. } => true,
            RelayError::AuthRefused { transient, .. } | RelayError::Rejected { transient, .. } => {
                *transient
            }
            RelayError::Address { .. }
            | RelayError::NoRecipient
            | RelayError::Message(_)
            | RelayError::NotAllowed(_)
            | RelayError::NoStartTls { .. }
            | RelayError::Tls { .. }
            | RelayError::NoAuth { .. } => false,
        }
    }
}

/// Sends one plain-text message to `to` through the relay, retrying transient failures
/// ([`RelayError::retryable`]) up to `cfg.tries` times with doubling waits. Every try sends
/// the same bytes (one Message-ID), so a receiver can drop the duplicate a lost final reply
/// may cause.
pub async fn send(
    cfg: &RelayConfig,
    to: &[String],
    subject: &str,
    body: &str,
) -> Result<(), RelayError> {
    let (envelope, message) = compose(&cfg.from, to, subject, body)?;
    let whole = cfg.timeout.saturating_mul(STEPS);
    let tries = cfg.tries.max(1);
    let mut wait = cfg.backoff;
    let mut attempt = 1;
    loop {
        let result = tokio::time::timeout(whole, send_once(cfg, &envelope, &message))
            .await
            .unwrap_or_else(|_| {
                Err(RelayError::Timeout {
                    host: cfg.host.clone(),
                    step: "the whole try".into(),
                    ms: whole.as_millis(),
                })
            });
        match result {
            Ok(()) => return Ok(()),
            Err(e) if !e.retryable() || attempt >= tries => return Err(e),
            Err(_) => {}
        }
        tokio::time::sleep(wait).await;
        wait = wait.saturating_mul(2);
        attempt += 1;
    }
}

/// The envelope and the message's bytes: From, To, Subject (encoded by lettre: a CR or LF in
/// `subject` cannot start a header of its own), Date, Message-ID, a text/plain UTF-8 body.
pub fn compose(
    from: &str,
    to: &[String],
    subject: &str,
    body: &str,
) -> Result<(Envelope, Vec<u8>), RelayError> {
    let address = |what: &'static str, value: &str| {
        value.parse::<Mailbox>().map_err(|e| RelayError::Address {
            what,
            value: escape_text(&value.chars().take(MAX_SHOWN).collect::<String>()),
            why: e.to_string(),
        })
    };
    if to.is_empty() {
        return Err(RelayError::NoRecipient);
    }
    let sender = address("sender", from)?;
    let mut builder = Message::builder()
        .message_id(Some(message_id(&sender)))
        .from(sender)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    for t in to {
        builder = builder.to(address("recipient", t)?);
    }
    let message = builder
        .body(body.to_string())
        .map_err(|e| RelayError::Message(e.to_string()))?;
    Ok((message.envelope().clone(), message.formatted()))
}

/// `<TIME.PID.N@SENDER-DOMAIN>`: unique per message, the same for its retries.
fn message_id(sender: &Mailbox) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!(
        "<{nanos:x}.{}.{n}.mxray@{}>",
        std::process::id(),
        sender.email.domain()
    )
}

/// One try: resolve, check, connect, TLS, AUTH, MAIL, RCPT, DATA, the message, QUIT.
async fn send_once(
    cfg: &RelayConfig,
    envelope: &Envelope,
    message: &[u8],
) -> Result<(), RelayError> {
    let ip = match (cfg.host.parse::<IpAddr>(), cfg.host.as_str()) {
        (Ok(ip), _) => ip,
        (Err(_), "localhost") => IpAddr::V4(Ipv4Addr::LOCALHOST),
        (Err(_), host) => resolve(cfg, host).await?,
    };
    cfg.policy.check(ip).map_err(RelayError::NotAllowed)?;
    let addr = SocketAddr::new(ip, cfg.port);
    let tcp = match tokio::time::timeout(cfg.timeout, TcpStream::connect(addr)).await {
        Err(_) => return Err(timeout(cfg, "connecting")),
        Ok(Err(e)) => {
            return Err(RelayError::Connect {
                addr,
                why: e.to_string(),
            });
        }
        Ok(Ok(s)) => s,
    };
    let stream: Box<dyn AsyncTokioStream> = match cfg.security {
        RelayTls::StartTls => Box::new(Capped::new(tcp, addr)),
        RelayTls::Implicit => Box::new(Capped::new(implicit_tls(cfg, tcp).await?, addr)),
    };
    let hello = ClientId::Domain(cfg.hello.clone());
    let mut conn = step(
        cfg,
        "the greeting and EHLO",
        AsyncSmtpConnection::connect_with_transport(stream, &hello),
    )
    .await?;
    let mut in_handshake = false;
    let result = session(
        cfg,
        &mut conn,
        &hello,
        ip,
        envelope,
        message,
        &mut in_handshake,
    )
    .await;
    match result {
        Ok(()) => {
            // The message is accepted: QUIT is a courtesy, its failure no matter.
            let _ = tokio::time::timeout(cfg.timeout, conn.quit()).await;
            Ok(())
        }
        // A STARTTLS handshake that failed or was cut short leaves lettre's connection
        // without a stream (writing to it panics): drop it as it is.
        Err(e) if in_handshake => Err(e),
        Err(e) => {
            let _ = tokio::time::timeout(cfg.timeout, conn.abort()).await;
            Err(e)
        }
    }
}

async fn session(
    cfg: &RelayConfig,
    conn: &mut AsyncSmtpConnection,
    hello: &ClientId,
    ip: IpAddr,
    envelope: &Envelope,
    message: &[u8],
    in_handshake: &mut bool,
) -> Result<(), RelayError> {
    if cfg.security == RelayTls::StartTls {
        if conn.server_info().supports_feature(Extension::StartTls) {
            let params = starttls_parameters(cfg)?;
            *in_handshake = true;
            step(cfg, "STARTTLS", conn.starttls(params, hello)).await?;
            *in_handshake = false;
        } else if cfg.require_tls || !ip.is_loopback() {
            return Err(RelayError::NoStartTls {
                host: cfg.host.clone(),
            });
        }
    }
    if !cfg.username.is_empty() {
        let mechanisms = [Mechanism::Plain, Mechanism::Login];
        if conn.server_info().get_auth_mechanism(&mechanisms).is_none() {
            let offered = conn
                .server_info()
                .to_string()
                .split_once("with ")
                .map(|(_, ext)| format!(" (it offers {})", escape_text(ext)))
                .unwrap_or_default();
            return Err(RelayError::NoAuth {
                host: cfg.host.clone(),
                offered,
            });
        }
        let credentials = Credentials::new(cfg.username.clone(), cfg.password.clone());
        step(cfg, "AUTH", conn.auth(&mechanisms, &credentials)).await?;
    }
    let mut parameters = Vec::new();
    let non_ascii = envelope
        .from()
        .into_iter()
        .chain(envelope.to())
        .any(|a| !AsRef::<str>::as_ref(a).is_ascii());
    if non_ascii {
        parameters.push(MailParameter::SmtpUtfEight);
    }
    if !message.is_ascii() {
        parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    step(
        cfg,
        "MAIL FROM",
        conn.command(Mail::new(envelope.from().cloned(), parameters)),
    )
    .await?;
    for to in envelope.to() {
        let name = format!("RCPT TO:<{}>", escape_text(AsRef::<str>::as_ref(to)));
        step(cfg, &name, conn.command(Rcpt::new(to.clone(), vec![]))).await?;
    }
    step(cfg, "DATA", conn.command(Data)).await?;
    step(cfg, "the message", conn.message(message)).await?;
    Ok(())
}

async fn resolve(cfg: &RelayConfig, host: &str) -> Result<IpAddr, RelayError> {
    let Some(dns) = &cfg.dns else {
        return Err(RelayError::Resolve {
            host: host.to_string(),
            why: "no resolver given".into(),
        });
    };
    let mut answer = dns.query(host, RType::A).await;
    if answer.addrs().next().is_none() {
        answer = dns.query(host, RType::Aaaa).await;
    }
    answer.addrs().next().ok_or_else(|| RelayError::Resolve {
        host: host.to_string(),
        why: "no A or AAAA record".into(),
    })
}

/// TLS from the first byte, verified against the roots for the relay's name.
async fn implicit_tls(
    cfg: &RelayConfig,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, RelayError> {
    let tls_error = |why: String| RelayError::Tls {
        host: cfg.host.clone(),
        why,
    };
    let config = cfg
        .tls
        .verifying_config()
        .map_err(|e| tls_error(e.to_string()))?;
    let name = rustls_pki_types::ServerName::try_from(cfg.host.trim_end_matches('.').to_string())
        .map_err(|e| tls_error(format!("{:?} is not a server name: {e}", cfg.host)))?;
    let connector = TlsConnector::from(Arc::new(config));
    match tokio::time::timeout(cfg.timeout, connector.connect(name, tcp)).await {
        Err(_) => Err(timeout(cfg, "the TLS handshake")),
        Ok(Err(e)) => Err(tls_error(e.to_string())),
        Ok(Ok(s)) => Ok(s),
    }
}

/// lettre's STARTTLS settings with the same roots: the PEM certificates, or webpki-roots.
fn starttls_parameters(cfg: &RelayConfig) -> Result<TlsParameters, RelayError> {
    let tls_error = |why: String| RelayError::Tls {
        host: cfg.host.clone(),
        why,
    };
    let mut builder = TlsParameters::builder(cfg.host.trim_end_matches('.').to_string());
    builder = match cfg.tls.root_certificates() {
        None => builder.certificate_store(CertificateStore::WebpkiRoots),
        Some(certs) => {
            builder = builder.certificate_store(CertificateStore::None);
            for c in certs {
                let cert =
                    Certificate::from_der(c.to_vec()).map_err(|e| tls_error(e.to_string()))?;
                builder = builder.add_root_certificate(cert);
            }
            builder
        }
    };
    builder
        .build_rustls()
        .map_err(|e| tls_error(error_chain(&e)))
}

fn timeout(cfg: &RelayConfig, step: &str) -> RelayError {
    RelayError::Timeout {
        host: cfg.host.clone(),
        step: step.to_string(),
        ms: cfg.timeout.as_millis(),
    }
}

/// Runs one SMTP step under the step timeout and names it in the error.
async fn step<T>(
    cfg: &RelayConfig,
    name: &str,
    fut: impl Future<Output = Result<T, lettre::transport::smtp::Error>>,
) -> Result<T, RelayError> {
    match tokio::time::timeout(cfg.timeout, fut).await {
        Err(_) => Err(timeout(cfg, name)),
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(classify(cfg, name, &e)),
    }
}

/// A lettre error as ours: the relay's reply (escaped) for 4xx/5xx, else what broke.
fn classify(cfg: &RelayConfig, step: &str, e: &lettre::transport::smtp::Error) -> RelayError {
    if let Some(code) = e.status() {
        let text = std::error::Error::source(e)
            .map(|s| s.to_string())
            .unwrap_or_default();
        let reply = shown_reply(&code.to_string(), &text);
        let transient = e.is_transient();
        if step == "AUTH" {
            return RelayError::AuthRefused { reply, transient };
        }
        return RelayError::Rejected {
            step: step.to_string(),
            reply,
            transient,
            advice: advice(step, transient),
        };
    }
    if e.is_timeout() {
        return timeout(cfg, step);
    }
    // lettre reports a failed STARTTLS handshake as a connection error.
    if e.is_tls() || step == "STARTTLS" {
        return RelayError::Tls {
            host: cfg.host.clone(),
            why: error_chain(e),
        };
    }
    RelayError::Protocol {
        host: cfg.host.clone(),
        step: step.to_string(),
        why: error_chain(e),
    }
}

/// `CODE TEXT`, the text escaped and shortened.
fn shown_reply(code: &str, text: &str) -> String {
    let text: String = text.chars().take(MAX_SHOWN).collect();
    let text = escape_text(text.trim());
    if text.is_empty() {
        code.to_string()
    } else {
        format!("{code} {text}")
    }
}

fn advice(step: &str, transient: bool) -> &'static str {
    if transient {
        "a temporary failure at the relay; tried again until the tries ran out"
    } else if step == "MAIL FROM" {
        "check that the account may send as the alert's sender address"
    } else if step.starts_with("RCPT") {
        "check the alert's recipient address"
    } else {
        "the relay refused the message itself; its reply says why"
    }
}

/// An error and its causes on one line, escaped.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        cause = c.source();
    }
    escape_text(&text.chars().take(MAX_SHOWN).collect::<String>())
}

/// A stream that fails once [`MAX_READ`] bytes have come from the relay (the overshoot is at
/// most one read's buffer), and knows its peer for lettre.
#[derive(Debug)]
struct Capped<S> {
    inner: S,
    peer: SocketAddr,
    left: usize,
}

impl<S> Capped<S> {
    fn new(inner: S, peer: SocketAddr) -> Capped<S> {
        Capped {
            inner,
            peer,
            left: MAX_READ,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Capped<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.left == 0 {
            return Poll::Ready(Err(io::Error::other(format!(
                "the relay sent more than {MAX_READ} bytes"
            ))));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before);
        self.left = self.left.saturating_sub(read);
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Capped<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S> AsyncTokioStream for Capped<S>
where
    S: AsyncRead + AsyncWrite + Send + Sync + Unpin + fmt::Debug,
{
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u =
            RelayUrl::parse("smtp://alerts%40example.com:p%3Ass%40w0rd@Mail.Example.com").unwrap();
        assert_eq!(
            (
                u.tls,
                u.host.as_str(),
                u.port,
                u.username.as_str(),
                u.password.as_deref()
            ),
            (
                RelayTls::StartTls,
                "mail.example.com",
                587,
                "alerts@example.com",
                Some("p:ss@w0rd")
            )
        );
        let u = RelayUrl::parse("smtps://bob@[::1]/").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.password),
            (RelayTls::Implicit, "::1", 465, None)
        );
        let u = RelayUrl::parse("SMTP://127.0.0.1:2525").unwrap();
        assert_eq!((u.port, u.username.as_str()), (2525, ""));
        // An unencoded `@` in the password: the last `@` ends the user information.
        let u = RelayUrl::parse("smtp://u:a@b@relay.test").unwrap();
        assert_eq!(
            (u.password.as_deref(), u.host.as_str()),
            (Some("a@b"), "relay.test")
        );
        for bad in [
            "http://relay.test",
            "relay.test:587",
            "smtp://relay.test:0",
            "smtp://relay.test:99999",
            "smtp://relay.test/path",
            "smtp://relay.test?x=1",
            "smtp://:pw@relay.test",
            "smtp://u:%ZZ@relay.test",
            "smtp://u:%0d%0a@relay.test",
            "smtp://u:%ff@relay.test",
            "smtp://",
            "smtp://re lay.test",
            "smtp://[::1",
        ] {
            assert!(RelayUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_password_never_shows() {
        let e = RelayUrl::parse("smtp://bob:s3cret@relay.test/x").unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert!(e.to_string().contains("bob:***@relay.test"), "{e}");
        let u = RelayUrl::parse("smtp://bob:s3cret@relay.test").unwrap();
        assert!(!format!("{u:?}").contains("s3cret"));
        let cfg = RelayConfig::new(u, "a@b.test", Arc::new(TlsSettings::web_pki()));
        assert_eq!(cfg.password, "s3cret");
        assert!(!format!("{cfg:?}").contains("s3cret"));
        assert!(cfg.require_tls);
        assert_eq!((cfg.tries, cfg.backoff), (TRIES, BACKOFF));
    }

    fn headers(message: &[u8]) -> Vec<String> {
        let text = String::from_utf8(message.to_vec()).unwrap();
        let head = text.split("\r\n\r\n").next().unwrap().to_string();
        // Unfold continuation lines, as a reader would.
        head.replace("\r\n ", " ")
            .replace("\r\n\t", " ")
            .split("\r\n")
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn a_hostile_subject_cannot_add_a_header() {
        let banner = "421 mx.evil.test\r\nBcc: victim@example.com\r\n\r\nfake body\nX-Injected: 1";
        let (envelope, message) = compose(
            "mxray <alerts@example.com>",
            &["ops@example.com".to_string()],
            banner,
            "body",
        )
        .unwrap();
        let h = headers(&message);
        for line in &h {
            let name = line.split(':').next().unwrap_or("").to_ascii_lowercase();
            assert!(
                [
                    "from",
                    "to",
                    "subject",
                    "date",
                    "message-id",
                    "content-type",
                    "content-transfer-encoding",
                    "mime-version"
                ]
                .contains(&name.as_str()),
                "unexpected header line {line:?} in {h:?}"
            );
        }
        assert_eq!(h.iter().filter(|l| l.starts_with("Subject:")).count(), 1);
        assert_eq!(envelope.to().len(), 1, "no Bcc recipient added");
        let text = String::from_utf8(message).unwrap();
        assert!(
            text.ends_with("\r\n\r\nbody") || text.contains("\r\n\r\nbody"),
            "{text}"
        );
    }

    #[test]
    fn addresses_are_checked_before_any_connection() {
        let e = compose("not an address", &["a@b.test".into()], "s", "b").unwrap_err();
        assert!(
            matches!(e, RelayError::Address { what: "sender", .. }),
            "{e}"
        );
        let e = compose("a@b.test", &["x\r\nBcc: y@z.test".into()], "s", "b").unwrap_err();
        assert!(
            matches!(
                e,
                RelayError::Address {
                    what: "recipient",
                    ..
                }
            ),
            "{e}"
        );
        assert!(!e.to_string().contains('\r'), "{e}");
        assert_eq!(
            compose("a@b.test", &[], "s", "b").unwrap_err(),
            RelayError::NoRecipient
        );
    }

    /// A config for a relay on `addr` that a test server plays.
    fn local(addr: SocketAddr) -> RelayConfig {
        let url = RelayUrl::parse(&format!("smtp://u:p@{addr}")).unwrap();
        let mut cfg = RelayConfig::new(url, "a@b.test", Arc::new(TlsSettings::web_pki()));
        cfg.timeout = Duration::from_millis(300);
        cfg.backoff = Duration::from_millis(10);
        cfg.tries = 2;
        cfg
    }

    #[tokio::test]
    async fn a_relay_that_floods_or_stays_silent_is_bounded() {
        use tokio::io::AsyncWriteExt;
        // A greeting line that never ends.
        let flood = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = flood.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut c, _)) = flood.accept().await {
                tokio::spawn(async move {
                    let chunk = vec![b'2'; 64 * 1024];
                    while c.write_all(&chunk).await.is_ok() {}
                });
            }
        });
        let e = send(&local(addr), &["x@y.test".into()], "s", "b")
            .await
            .unwrap_err();
        assert!(
            matches!(&e, RelayError::Protocol { why, .. } if why.contains("more than")),
            "{e:?}"
        );
        // Accepts (the kernel's backlog) and never greets.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let cfg = local(silent.local_addr().unwrap());
        let e = send(&cfg, &["x@y.test".into()], "s", "b")
            .await
            .unwrap_err();
        assert!(
            matches!(&e, RelayError::Timeout { step, ms: 300, .. } if step == "the greeting and EHLO"),
            "{e:?}"
        );
        drop(silent);
    }

    #[test]
    fn errors_say_what_to_do_and_which_are_retried() {
        let auth = RelayError::AuthRefused {
            reply: shown_reply("535", "5.7.8 Authentication credentials invalid"),
            transient: false,
        };
        assert_eq!(
            auth.to_string(),
            "the relay refused AUTH (535 5.7.8 Authentication credentials invalid): check --smtp-relay's user and password"
        );
        assert!(!auth.retryable());
        let busy = RelayError::Rejected {
            step: "DATA".into(),
            reply: shown_reply("421", "4.3.0 Try again later"),
            transient: true,
            advice: advice("DATA", true),
        };
        assert!(busy.retryable());
        let no = RelayError::Rejected {
            step: "RCPT TO:<a@b.test>".into(),
            reply: shown_reply("550", "5.1.1 unknown"),
            transient: false,
            advice: advice("RCPT TO:<a@b.test>", false),
        };
        assert!(!no.retryable());
        assert!(no.to_string().contains("recipient address"), "{no}");
        // Outside text is escaped where it is shown.
        assert_eq!(
            shown_reply("550", "5.7.1 \u{1b}[31mred\r\nX: y"),
            "550 5.7.1 \\x1b[31mred\\r\\nX: y"
        );
        assert!(
            RelayError::NoStartTls {
                host: "relay.test".into()
            }
            .to_string()
            .contains("never sent in clear")
        );
        assert!(
            RelayError::Connect {
                addr: "127.0.0.1:1".parse().unwrap(),
                why: "refused".into()
            }
            .retryable()
        );
    }
}
