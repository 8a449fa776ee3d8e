//! Integration tests for the lab: every behaviour over real loopback sockets, spoken to in
//! raw SMTP / DNS / HTTPS so a bug shared with mxray's own clients cannot hide.

mod bundled;
mod dns;
mod dnssec;
mod https;
mod limits;
mod scenario;
mod smtp;
mod start;
mod submission;
mod tls;
mod util;
