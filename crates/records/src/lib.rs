//! mxray-records: the DNS records (and the one served file) a mail domain publishes, generated
//! from what the user knows, checked so that what comes out is what mxray's own judges accept.
//!
//! Pure functions, no I/O: the caller reads keys and clocks and prints the results.
//!
//! # Layout
//! - `record`: the output ([`DnsRecord`], [`ServedFile`], [`Generated`]) and the zone-file form.
//! - `error`: [`RecordsError`], one variant per refusal, each saying what to give instead.
//! - `check`: input checks the generators share (report addresses, https URLs, selectors).
//! - `dmarc`: `_dmarc` (RFC 7489), the external report authorisations, a staged rollout.
//! - `mta_sts`: `_mta-sts` and the policy file (RFC 8461).
//! - `tlsrpt`: `_smtp._tls` (RFC 8460).
//! - `bimi`: `SELECTOR._bimi` (BIMI draft).
//! - `dkim`: `SELECTOR._domainkey` from a PEM key (RFC 6376, RFC 8301, RFC 8463).
//! - `spf`: the domain's `v=spf1` record (RFC 7208), address-set arithmetic, a flattened layout.
//!
//! ```
//! use mxray_core::DomainName;
//! let d = DomainName::parse("example.com").unwrap();
//! let g = mxray_records::tlsrpt::tlsrpt(&d, &["tlsrpt@example.com".to_string()]).unwrap();
//! assert_eq!(g.records[0].name, "_smtp._tls.example.com");
//! assert_eq!(g.records[0].value, "v=TLSRPTv1; rua=mailto:tlsrpt@example.com");
//! ```

pub mod bimi;
mod check;
pub mod dkim;
pub mod dmarc;
mod error;
pub mod mta_sts;
mod record;
pub mod spf;
pub mod tlsrpt;

pub use error::RecordsError;
pub use record::{DEFAULT_TTL, DnsRecord, Generated, ServedFile};
