//! mxray-net: the only crate that opens sockets. DNS through hickory-resolver, a bounded SMTP
//! probe client, STARTTLS inspection. It records observations as plain data; others judge them.

pub mod dns;
pub mod smtp;
pub mod tls;

pub use dns::{Dns, DnsAnswer, DnsOutcome, DnsRecord, RType};
pub use smtp::{Reply, Session, SmtpError};
pub use tls::{CertInfo, TlsObservation, TlsSettings};
