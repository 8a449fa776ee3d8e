//! The lab's authoritative DNS server: hickory-server's catalog of in-memory zones, behind a
//! handler that counts queries and injects the scenario's per-name failures (UDP and TCP).

pub mod dnssec;
pub mod zones;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Header, HeaderCounts, Metadata, ResponseCode};
use hickory_proto::rr::{LowerName, RecordType};
use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{Catalog, MessageResponseBuilder};
use tokio::net::{TcpListener, UdpSocket};

use crate::LabError;
use crate::scenario::{Failure, FailureKind};
use crate::stats::DnsCounters;
use zones::Rotation;

/// How long a TCP client may stay idle before the server drops it.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Attempts at finding a port free on both UDP and TCP when the port is chosen by the OS.
const BIND_ATTEMPTS: usize = 20;

/// The catalog plus the lab's failure table and counters.
pub struct LabDnsHandler {
    catalog: Catalog,
    failures: HashMap<LowerName, Failure>,
    rotations: HashMap<(LowerName, RecordType), Rotation>,
    counters: Arc<Mutex<DnsCounters>>,
}

impl LabDnsHandler {
    fn failure_for(&self, name: &LowerName, qtype: &str) -> Option<FailureKind> {
        let f = self.failures.get(name)?;
        if f.types.is_empty() || f.types.iter().any(|t| t == qtype) {
            Some(f.kind)
        } else {
            None
        }
    }
}

#[async_trait::async_trait]
impl RequestHandler for LabDnsHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        let protocol = request.protocol();
        let (qtype, injected, rotated) = match request.request_info() {
            Ok(info) => {
                let qtype = info.query.query_type().to_string();
                let injected = self.failure_for(info.query.name(), &qtype);
                let rotated = self
                    .rotations
                    .get(&(info.query.name().clone(), info.query.query_type()));
                (qtype, injected, rotated)
            }
            Err(_) => ("INVALID".to_owned(), None, None),
        };
        // A truncation only bites over UDP: over TCP the real answer is given.
        let injected = match injected {
            Some(FailureKind::Truncate) if protocol != Protocol::Udp => None,
            other => other,
        };
        if let Ok(mut c) = self.counters.lock() {
            c.record(
                request.src().ip(),
                protocol == Protocol::Tcp,
                &qtype,
                injected.map(FailureKind::as_str),
            );
        }

        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = true;
        let Some(kind) = injected else {
            if let Some(record) = rotated.and_then(Rotation::take) {
                let response = MessageResponseBuilder::new(&request.queries, None).build(
                    metadata,
                    std::iter::once(record),
                    [],
                    [],
                    [],
                );
                return send_or_header(response_handle, response, metadata).await;
            }
            return self
                .catalog
                .handle_request::<R, T>(request, response_handle)
                .await;
        };
        let code = match kind {
            FailureKind::Timeout => {
                // Say nothing: the client's own timeout is the behaviour under test.
                return ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                });
            }
            FailureKind::ServFail => ResponseCode::ServFail,
            FailureKind::Refused => ResponseCode::Refused,
            FailureKind::NxDomain => ResponseCode::NXDomain,
            FailureKind::Truncate => {
                metadata.truncation = true;
                ResponseCode::NoError
            }
        };
        metadata.response_code = code;
        let response =
            MessageResponseBuilder::new(&request.queries, None).build_no_records(metadata);
        send_or_header(response_handle, response, metadata).await
    }
}

/// Sends `response`; if the client is gone, reports the header alone.
async fn send_or_header<'a, R: ResponseHandler>(
    mut handle: R,
    response: hickory_server::zone_handler::MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a hickory_proto::rr::Record> + Send + 'a,
        impl Iterator<Item = &'a hickory_proto::rr::Record> + Send + 'a,
        impl Iterator<Item = &'a hickory_proto::rr::Record> + Send + 'a,
        impl Iterator<Item = &'a hickory_proto::rr::Record> + Send + 'a,
    >,
    metadata: Metadata,
) -> ResponseInfo {
    match handle.send_response(response).await {
        Ok(info) => info,
        Err(_) => ResponseInfo::from(Header {
            metadata,
            counts: HeaderCounts::default(),
        }),
    }
}

/// A running DNS server.
pub struct DnsServer {
    server: Server<LabDnsHandler>,
    pub addr: SocketAddr,
}

impl DnsServer {
    /// Binds UDP and TCP on the same address and port (port 0: a free one) and serves.
    pub async fn start(
        addr: SocketAddr,
        zones: zones::Zones,
        counters: Arc<Mutex<DnsCounters>>,
    ) -> Result<DnsServer, LabError> {
        let (udp, tcp) = bind_pair(addr).await?;
        let local = udp
            .local_addr()
            .map_err(|e| LabError::bind("DNS", addr, e))?;
        let handler = LabDnsHandler {
            catalog: zones.catalog,
            failures: zones.failures,
            rotations: zones.rotations,
            counters,
        };
        let mut server = Server::new(handler);
        server.register_socket(udp);
        server.register_listener(tcp, TCP_IDLE, 64);
        Ok(DnsServer {
            server,
            addr: local,
        })
    }

    /// Stops accepting and waits (bounded) for the server tasks to end.
    pub async fn shutdown(mut self) {
        let _ =
            tokio::time::timeout(Duration::from_secs(5), self.server.shutdown_gracefully()).await;
    }
}

/// Serves [`zones::build_raw`] zone data on 127.0.0.1 (a free port), for conformance suites:
/// returns the server and the records that could not be served.
pub async fn serve_raw(
    records: &[(String, zones::RawData)],
    timeouts: &[String],
) -> Result<(DnsServer, Vec<String>), LabError> {
    serve_zones(zones::build_raw(records, timeouts)?).await
}

/// [`serve_raw`] with timeouts that apply to some query types only, and names hickory's text
/// parser refuses served as raw labels ([`zones::build_raw_typed`]).
pub async fn serve_raw_typed(
    records: &[(String, zones::RawData)],
    timeouts: &[zones::RawTimeout],
) -> Result<(DnsServer, Vec<String>), LabError> {
    serve_zones(zones::build_raw_typed(records, timeouts)?).await
}

async fn serve_zones(
    (z, skipped): (zones::Zones, Vec<String>),
) -> Result<(DnsServer, Vec<String>), LabError> {
    let server = DnsServer::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        z,
        Arc::new(Mutex::new(DnsCounters::default())),
    )
    .await?;
    Ok((server, skipped))
}

/// UDP and TCP sockets on one port: with port 0, retry until the OS's UDP pick is also free on TCP.
async fn bind_pair(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), LabError> {
    let attempts = if addr.port() == 0 { BIND_ATTEMPTS } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let udp = UdpSocket::bind(addr)
            .await
            .map_err(|e| LabError::bind("DNS (UDP)", addr, e))?;
        let local = udp
            .local_addr()
            .map_err(|e| LabError::bind("DNS (UDP)", addr, e))?;
        match TcpListener::bind(local).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(LabError::bind("DNS (TCP)", local, e)),
        }
    }
    Err(last.unwrap_or_else(|| LabError::bind("DNS", addr, std::io::Error::other("no port"))))
}
