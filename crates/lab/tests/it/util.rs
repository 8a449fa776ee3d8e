//! Test helpers that speak raw protocol: a hand-rolled SMTP client over TcpStream (with
//! STARTTLS via rustls) and DNS queries built with hickory-proto over UDP or TCP.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use mxray_lab::{Lab, LabOptions, Scenario};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};

/// Generous bound on any single network step: the machine may be loaded.
pub const STEP: Duration = Duration::from_secs(10);

pub async fn start(toml: &str) -> Lab {
    let scenario = Scenario::from_str_named(toml, "test.toml").expect("scenario parses");
    Lab::start(scenario, LabOptions::default())
        .await
        .expect("lab starts")
}

pub fn addr(lab: &Lab, host: &str) -> SocketAddr {
    lab.host_addr(host).expect("host exists")
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

enum Stream {
    Plain(TcpStream),
    Tls(Box<dyn Io>),
    None,
}

/// An SMTP reply as read: code, text lines (after "NNN-"/"NNN "), and the raw bytes.
#[derive(Debug, Clone)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
    pub raw: String,
}

impl Reply {
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

/// A deliberately simple SMTP client: one command, one reply.
pub struct Smtp {
    stream: Stream,
    buf: Vec<u8>,
}

impl Smtp {
    pub async fn connect(addr: SocketAddr) -> std::io::Result<Smtp> {
        let s = tokio::time::timeout(STEP, TcpStream::connect(addr))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        Ok(Smtp {
            stream: Stream::Plain(s),
            buf: Vec::new(),
        })
    }

    /// Connects from a chosen loopback source address (to be a different "client").
    pub async fn connect_from(src: IpAddr, addr: SocketAddr) -> std::io::Result<Smtp> {
        let sock = if src.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        sock.bind(SocketAddr::new(src, 0))?;
        let s = tokio::time::timeout(STEP, sock.connect(addr))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        Ok(Smtp {
            stream: Stream::Plain(s),
            buf: Vec::new(),
        })
    }

    async fn read_some(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 4096];
        let n = match &mut self.stream {
            Stream::Plain(s) => tokio::time::timeout(STEP, s.read(&mut chunk)).await,
            Stream::Tls(s) => tokio::time::timeout(STEP, s.read(&mut chunk)).await,
            Stream::None => return Ok(0),
        }
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// One line including its terminator, or an error at EOF.
    async fn line(&mut self) -> std::io::Result<String> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
            if self.buf.len() > 64 * 1024 {
                return Err(std::io::Error::other("line too long"));
            }
            if self.read_some().await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    pub async fn reply(&mut self) -> std::io::Result<Reply> {
        let mut lines = Vec::new();
        let mut raw = String::new();
        loop {
            let line = self.line().await?;
            raw.push_str(&line);
            let l = line.trim_end_matches(['\r', '\n']);
            let code: u16 = l
                .get(..3)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| std::io::Error::other(format!("bad reply line {l:?}")))?;
            lines.push(l.get(4..).unwrap_or("").to_owned());
            if l.as_bytes().get(3) != Some(&b'-') {
                return Ok(Reply { code, lines, raw });
            }
            if lines.len() > 1000 {
                return Err(std::io::Error::other("reply too long"));
            }
        }
    }

    pub async fn send(&mut self, line: &str) -> std::io::Result<()> {
        let data = format!("{line}\r\n");
        self.send_raw(data.as_bytes()).await
    }

    pub async fn send_raw(&mut self, data: &[u8]) -> std::io::Result<()> {
        let fut = async {
            match &mut self.stream {
                Stream::Plain(s) => s.write_all(data).await,
                Stream::Tls(s) => {
                    s.write_all(data).await?;
                    s.flush().await
                }
                Stream::None => Err(std::io::ErrorKind::NotConnected.into()),
            }
        };
        tokio::time::timeout(STEP, fut)
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
    }

    pub async fn cmd(&mut self, line: &str) -> std::io::Result<Reply> {
        self.send(line).await?;
        self.reply().await
    }

    /// Sends a command and expects the given code.
    pub async fn expect(&mut self, line: &str, code: u16) -> Reply {
        let r = self
            .cmd(line)
            .await
            .unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(r.code, code, "{line} -> {}", r.raw);
        r
    }

    /// True once the server has closed (EOF or reset) without sending anything more.
    pub async fn closed(&mut self) -> bool {
        match self.read_some().await {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != std::io::ErrorKind::TimedOut,
        }
    }

    /// Upgrades to TLS after a `220` to STARTTLS, trusting `roots`.
    pub async fn tls(&mut self, name: &str, roots: rustls::RootCertStore) -> std::io::Result<()> {
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::None) else {
            return Err(std::io::Error::other("not plain"));
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
        let server = ServerName::try_from(name.to_owned()).map_err(std::io::Error::other)?;
        let tls = tokio::time::timeout(STEP, connector.connect(server, tcp))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        self.stream = Stream::Tls(Box::new(tls));
        Ok(())
    }
}

/// A root store holding only the lab CA.
pub fn lab_roots(lab: &Lab) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(lab.ca_der().clone()).expect("CA loads");
    roots
}

/// The connect / banner / EHLO / MAIL dance, returning the client ready for RCPT.
pub async fn ready_for_rcpt(addr: SocketAddr) -> Smtp {
    let mut c = Smtp::connect(addr).await.expect("connect");
    let banner = c.reply().await.expect("banner");
    assert_eq!(banner.code, 220, "{}", banner.raw);
    c.expect("EHLO client.test", 250).await;
    c.expect("MAIL FROM:<probe@client.test>", 250).await;
    c
}

/// One DNS query; `None` if no answer came within `wait`.
pub async fn dns_query(
    server: SocketAddr,
    name: &str,
    rtype: RecordType,
    tcp: bool,
    wait: Duration,
) -> Option<Message> {
    let mut msg = Message::new(rand_id(), MessageType::Query, OpCode::Query);
    msg.add_query(Query::query(Name::from_ascii(name).expect("name"), rtype));
    let bytes = msg.to_vec().expect("encode");
    let fut = async {
        if tcp {
            let mut s = TcpStream::connect(server).await.ok()?;
            let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&bytes);
            s.write_all(&framed).await.ok()?;
            let mut len = [0u8; 2];
            s.read_exact(&mut len).await.ok()?;
            let mut body = vec![0u8; u16::from_be_bytes(len) as usize];
            s.read_exact(&mut body).await.ok()?;
            Message::from_vec(&body).ok()
        } else {
            let bind: SocketAddr = if server.is_ipv4() {
                "127.0.0.1:0".parse().ok()?
            } else {
                "[::1]:0".parse().ok()?
            };
            let sock = UdpSocket::bind(bind).await.ok()?;
            sock.send_to(&bytes, server).await.ok()?;
            let mut buf = vec![0u8; 4096];
            let n = sock.recv(&mut buf).await.ok()?;
            Message::from_vec(&buf[..n]).ok()
        }
    };
    tokio::time::timeout(wait, fut).await.ok().flatten()
}

/// Query over UDP with the usual step bound.
pub async fn udp(lab: &Lab, name: &str, rtype: RecordType) -> Message {
    dns_query(lab.resolver(), name, rtype, false, STEP)
        .await
        .unwrap_or_else(|| panic!("no answer for {name} {rtype}"))
}

pub async fn tcp(lab: &Lab, name: &str, rtype: RecordType) -> Message {
    dns_query(lab.resolver(), name, rtype, true, STEP)
        .await
        .unwrap_or_else(|| panic!("no TCP answer for {name} {rtype}"))
}

fn rand_id() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(4242);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The record data of the answers, as text.
pub fn answers(msg: &Message) -> Vec<String> {
    msg.answers.iter().map(|r| r.data.to_string()).collect()
}
