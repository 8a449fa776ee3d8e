//! Framing on one SMTP connection: bounded line reads with an idle timeout, writes with a
//! timeout, byte counts, and the swap from plain TCP to TLS after STARTTLS.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// The socket, before or after STARTTLS.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Transiently empty while the TLS handshake owns the socket.
    Gone,
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Gone => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }
}

/// What a line read produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line without its CRLF or bare LF.
    Text(Vec<u8>),
    /// More than the limit without a line end: the session should end.
    TooLong,
    /// The client closed, or the connection failed.
    Closed,
    /// Nothing arrived within the idle timeout.
    Idle,
}

pub struct Conn {
    pub stream: Stream,
    buf: Vec<u8>,
    /// Start of unread data in `buf`.
    pos: usize,
    pub bytes_in: u64,
    pub bytes_out: u64,
    max_line: usize,
    idle: Duration,
    /// The last line read needed a read from the socket (a new client write, so a new round
    /// trip), rather than coming from data already buffered (pipelined behind another).
    pub last_fresh: bool,
}

impl Conn {
    pub fn new(stream: TcpStream, max_line: usize, idle: Duration) -> Conn {
        Conn {
            stream: Stream::Plain(stream),
            buf: Vec::with_capacity(1024),
            pos: 0,
            bytes_in: 0,
            bytes_out: 0,
            max_line,
            idle,
            last_fresh: true,
        }
    }

    /// Reads one line, never buffering more than `max_line` bytes of it.
    pub async fn read_line(&mut self) -> Line {
        let mut fresh = false;
        loop {
            if let Some(i) = self.buf[self.pos..].iter().position(|&b| b == b'\n') {
                let end = self.pos + i;
                let mut line = self.buf[self.pos..end].to_vec();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.pos = end + 1;
                self.last_fresh = fresh;
                if line.len() > self.max_line {
                    return Line::TooLong;
                }
                return Line::Text(line);
            }
            if self.buf.len() - self.pos > self.max_line {
                return Line::TooLong;
            }
            if self.pos > 0 {
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
            self.buf.reserve(4096);
            match tokio::time::timeout(self.idle, self.stream.read_buf(&mut self.buf)).await {
                Err(_) => return Line::Idle,
                Ok(Err(_)) | Ok(Ok(0)) => return Line::Closed,
                Ok(Ok(n)) => {
                    self.bytes_in += n as u64;
                    fresh = true;
                }
            }
        }
    }

    /// Drops unread input: after STARTTLS, pipelined plaintext must not be trusted (RFC 3207).
    pub fn discard_buffer(&mut self) {
        self.buf.clear();
        self.pos = 0;
    }

    pub async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match tokio::time::timeout(self.idle, self.stream.write_all(data)).await {
            Ok(r) => {
                r?;
                self.bytes_out += data.len() as u64;
                Ok(())
            }
            Err(_) => Err(io::ErrorKind::TimedOut.into()),
        }
    }

    /// Reads and throws away input until the client closes or `limit` passes (silent hosts).
    pub async fn drain(&mut self, limit: Duration) {
        let mut scratch = [0u8; 4096];
        let _ = tokio::time::timeout(limit, async {
            loop {
                match self.stream.read(&mut scratch).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => self.bytes_in += n as u64,
                }
            }
        })
        .await;
    }

    /// Best-effort orderly close, bounded in time.
    pub async fn close(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.stream.shutdown()).await;
    }
}
