//! The one error type of the generators: each variant names what is wrong with the input and
//! what to give instead, so the CLI can print it as it is.

/// Why a record could not be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordsError {
    #[error("\"{input}\" is not a DMARC policy: give none, quarantine or reject")]
    Policy { input: String },
    #[error("\"{input}\" is not a DMARC alignment mode: give r (relaxed) or s (strict)")]
    Alignment { input: String },
    #[error("pct={pct} is over 100: give a percentage from 0 to 100 (or leave it out for 100)")]
    Pct { pct: u8 },
    #[error(
        "\"{input}\" is not a usable report address: {why}; give mailto:USER@DOMAIN or USER@DOMAIN"
    )]
    Mailto { input: String, why: String },
    #[error("\"{input}\" is not a usable {what} URL: {why}; give https://HOST/PATH")]
    Https {
        what: &'static str,
        input: String,
        why: String,
    },
    #[error(
        "\"{input}\" is not a TLS-RPT report URI: {why}; give mailto:USER@DOMAIN or https://HOST/PATH"
    )]
    ReportUri { input: String, why: String },
    #[error("{what} needs at least one report address: give one such as {example}")]
    NoReportAddress { what: &'static str, example: String },
    #[error("\"{input}\" is not an MTA-STS mode: give testing, enforce or none")]
    Mode { input: String },
    #[error(
        "MTA-STS id \"{input}\" is not 1-32 letters or digits (no dashes, dots or spaces): give a timestamp such as 20250101120000"
    )]
    StsId { input: String },
    #[error(
        "max_age {max_age} is over RFC 8461's limit of 31557600 seconds (a year): give at most 31557600 (604800, a week, is usual)"
    )]
    MaxAge { max_age: u64 },
    #[error(
        "mx pattern \"{input}\" is not a host name nor *. before one: {why}; give mx1.example.com or *.example.com"
    )]
    MxPattern { input: String, why: String },
    #[error(
        "an MTA-STS policy in {mode} mode needs at least one mx: pattern: give the domain's MX host names (or *.DOMAIN)"
    )]
    NoMx { mode: &'static str },
    #[error(
        "selector \"{input}\" is not usable: {why}; give labels of letters, digits and hyphens, such as s2025 or default"
    )]
    Selector { input: String, why: String },
    #[error(
        "the record name {name} is {len} characters and DNS allows 253: give a shorter selector or domain"
    )]
    NameTooLong { name: String, len: usize },
    #[error(
        "the key is not PEM: {why}; give a PEM public key (-----BEGIN PUBLIC KEY-----) or private key (-----BEGIN PRIVATE KEY-----)"
    )]
    Pem { why: String },
    #[error(
        "the key is encrypted ({label}): give its public key instead (openssl pkey -in KEY -pubout)"
    )]
    EncryptedKey { label: String },
    #[error(
        "a \"{label}\" PEM block is not a key mxray reads: give PUBLIC KEY, RSA PUBLIC KEY, PRIVATE KEY or RSA PRIVATE KEY"
    )]
    PemLabel { label: String },
    #[error("the {label} PEM block does not hold a valid key: {why}")]
    Key { label: String, why: String },
    #[error(
        "the key is {algorithm}, which DKIM does not use: give an RSA key (openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048) or an Ed25519 key (openssl genpkey -algorithm ed25519)"
    )]
    KeyAlgorithm { algorithm: String },
    #[error(
        "the RSA key is {bits} bits: keys under 2048 bits are refused (RFC 8301 already deprecates 1024, and receivers drop weak keys): give a 2048-bit key (openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048)"
    )]
    WeakKey { bits: usize },
    #[error(
        "\"{input}\" is not an SPF all policy to publish: {why}; give softfail (~all) or fail (-all)"
    )]
    SpfAll { input: String, why: &'static str },
    #[error("\"{input}\" is not an {family} address or network: {why}; give {give}")]
    IpNetwork {
        family: &'static str,
        input: String,
        why: String,
        give: &'static str,
    },
    #[error(
        "include:{include} cannot be published: {why}; give the name the provider documents, such as _spf.google.com"
    )]
    SpfInclude { include: String, why: String },
    #[error(
        "include:{domain} in {domain}'s own SPF record is a loop (receivers return permerror): leave it out, and list the domain's own senders as ip4/ip6 networks, a or mx"
    )]
    SelfInclude { domain: String },
}
