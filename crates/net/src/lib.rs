//! mxray-net: the only crate that opens sockets. DNS through hickory-resolver, a bounded SMTP
//! probe client, STARTTLS inspection, HTTPS fetches (MTA-STS) and SPF evaluation. It records observations as plain data; others judge them.

pub mod dns;
pub mod https;
pub mod mx;
pub mod smtp;
pub mod spf;
pub mod tls;

pub use dns::{Dns, DnsAnswer, DnsOutcome, DnsRecord, RType};
pub use https::{HttpsObservation, https_get};
pub use mx::resolve_mx;
pub use smtp::{Reply, Session, SmtpError};
pub use spf::{SpfEvaluation, SpfVerdict};
pub use tls::{CertInfo, TlsObservation, TlsSettings};
