//! mxray-net: the only crate that opens sockets. It records observations as plain data; the
//! protocols built on them (SPF evaluation included) and all judgement live elsewhere.
//!
//! # Layout
//! - `dns`: DNS lookups through hickory-resolver, every outcome classified and recorded.
//! - `https`: bounded HTTPS GETs (MTA-STS policies), with the certificate seen.
//! - `policy`: which addresses may be connected to (`AddressPolicy`: the SSRF guard).
//! - `mx`: `resolve_mx`, the MX question and every exchange's addresses, into `mxray_core::mx`.
//! - `relay`: one alert email through a submission server (STARTTLS, AUTH), retried.
//! - `smtp`: the bounded SMTP probe client: replies, timings, transcript.
//! - `socks`: the SOCKS5 egress (`--proxy`): its URL and the dial through it.
//! - `tls`: STARTTLS handshakes and certificate inspection.
//! - `webhook`: signed JSON posts to a webhook URL, retried, from a bounded queue.

mod authority;
pub mod dns;
pub mod https;
pub mod mx;
pub mod policy;
pub mod relay;
pub mod smtp;
pub mod socks;
pub mod tls;
pub mod webhook;

pub use dns::{Dns, DnsAnswer, DnsOutcome, DnsRecord, RType};
pub use https::{HttpsObservation, https_get};
pub use mx::resolve_mx;
pub use policy::{AddressPolicy, NotAllowed};
pub use relay::{RelayConfig, RelayError, RelayTls, RelayUrl};
pub use smtp::{ConnectError, Egress, EgressSource, Reply, Session, SmtpError, probe_egress};
pub use socks::{Proxy, ProxyError};
pub use tls::{CertInfo, TlsObservation, TlsSettings};
pub use webhook::{Webhook, WebhookConfig, WebhookStats, WebhookUrl};
