//! The scenario file exactly as written: serde structs that mirror the TOML keys.
//! Every table denies unknown keys; values that need checking keep their span for errors.

use serde::Deserialize;
use toml::Spanned;

/// A string with its byte range in the file, so validation can point at it.
pub type S = Spanned<String>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    #[serde(default)]
    pub lab: Option<RawLab>,
    #[serde(default)]
    pub domains: Vec<RawDomain>,
    #[serde(default)]
    pub dnsbls: Vec<RawDnsbl>,
    #[serde(default)]
    pub hosts: Vec<RawHost>,
    #[serde(default)]
    pub ptr: Vec<RawPtr>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLab {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// A/AAAA records may point into private and other non-public ranges (SSRF rehearsals;
    /// run such a world in a network namespace of its own). Hosts still listen on loopback.
    #[serde(default)]
    pub private_records: bool,
}

/// A zone. Its own keys describe the apex; `records` describe other names in it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDomain {
    pub name: S,
    #[serde(default)]
    pub mx: Vec<S>,
    #[serde(default)]
    pub a: Vec<S>,
    #[serde(default)]
    pub aaaa: Vec<S>,
    #[serde(default)]
    pub txt: Vec<S>,
    #[serde(default)]
    pub tlsa: Vec<S>,
    #[serde(default)]
    pub failure: Option<S>,
    #[serde(default)]
    pub failure_types: Vec<S>,
    #[serde(default)]
    pub mta_sts: Option<RawMtaSts>,
    /// `true`, `false`, `"expired"` or `"wrong-key"`: checked in validation.
    #[serde(default)]
    pub dnssec: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub records: Vec<RawNode>,
}

/// One name inside a domain, with its records and an optional failure.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    pub name: S,
    #[serde(default)]
    pub mx: Vec<S>,
    #[serde(default)]
    pub a: Vec<S>,
    #[serde(default)]
    pub aaaa: Vec<S>,
    #[serde(default)]
    pub cname: Option<S>,
    #[serde(default)]
    pub txt: Vec<S>,
    #[serde(default)]
    pub tlsa: Vec<S>,
    #[serde(default)]
    pub failure: Option<S>,
    #[serde(default)]
    pub failure_types: Vec<S>,
    /// Answer each A/AAAA query with one address, the next one each time (TTL 0).
    #[serde(default)]
    pub rotate: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMtaSts {
    #[serde(default)]
    pub mode: Option<S>,
    #[serde(default)]
    pub mx: Vec<S>,
    #[serde(default)]
    pub max_age: Option<u64>,
    #[serde(default)]
    pub id: Option<S>,
    /// Served verbatim instead of a policy built from the keys above (to serve a broken one).
    #[serde(default)]
    pub policy: Option<String>,
    /// Publish the `_mta-sts` TXT record (default true).
    #[serde(default)]
    pub txt_record: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDnsbl {
    pub zone: S,
    #[serde(default)]
    pub kind: Option<S>,
    #[serde(default)]
    pub test_entries: Option<bool>,
    #[serde(default)]
    pub listed: Vec<RawListed>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListed {
    pub entry: S,
    #[serde(default)]
    pub code: Option<S>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPtr {
    pub address: S,
    pub name: S,
}

/// Declares the behaviour keys once and derives from them the host table, the per-client
/// override table and the plain `RawBehaviour` both are reduced to. (serde's `flatten`
/// would lose the spans and cannot deny unknown keys, hence the macro.)
macro_rules! behaviour_tables {
    ($($f:ident : $t:ty),* $(,)?) => {
        /// Behaviour keys taken out of a host or client table.
        #[derive(Debug, Default)]
        pub struct RawBehaviour {
            $(pub $f: $t,)*
        }

        /// A lab SMTP host: identity plus behaviour keys; `clients` override them per address.
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct RawHost {
            pub name: S,
            pub address: S,
            #[serde(default)]
            pub ptr: Option<S>,
            #[serde(default)]
            pub no_ptr: Option<bool>,
            #[serde(default)]
            pub clients: Vec<RawClient>,
            $(#[serde(default)] pub $f: $t,)*
        }

        /// Behaviour keys that apply when the client connects from one of `addresses`.
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct RawClient {
            pub addresses: Vec<S>,
            $(#[serde(default)] pub $f: $t,)*
        }

        impl RawHost {
            pub fn take_behaviour(&mut self) -> RawBehaviour {
                RawBehaviour { $($f: self.$f.take(),)* }
            }
        }

        impl RawClient {
            pub fn take_behaviour(&mut self) -> RawBehaviour {
                RawBehaviour { $($f: self.$f.take(),)* }
            }
        }
    };
}

behaviour_tables! {
    mailboxes: Option<Vec<S>>,
    mailbox_ranges: Option<Vec<RawRange>>,
    catch_all: Option<bool>,
    mailbox_full: Option<Vec<S>>,
    over_quota: Option<Vec<S>>,
    disabled: Option<Vec<S>>,
    greylist: Option<RawGreylist>,
    rate_limit: Option<RawRateLimit>,
    concurrency: Option<RawConcurrency>,
    banner: Option<S>,
    close_after: Option<RawCloseAfter>,
    rcpt_reply: Option<S>,
    ehlo_reply: Option<S>,
    rcpt_limit: Option<Spanned<u32>>,
    tarpit: Option<RawTarpit>,
    latency: Option<S>,
    silent: Option<bool>,
    refuse: Option<bool>,
    starttls: Option<S>,
    quirks: Option<Vec<S>>,
    data: Option<S>,
    submission: Option<RawSubmission>,
}

/// `submission = { user, password, fail_first = { command, count, reply } }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSubmission {
    pub user: S,
    pub password: S,
    #[serde(default)]
    pub fail_first: Option<RawFailFirst>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFailFirst {
    pub command: S,
    pub count: Spanned<u32>,
    #[serde(default)]
    pub reply: Option<S>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRange {
    pub prefix: S,
    pub count: Spanned<u32>,
    #[serde(default)]
    pub start: Option<u32>,
    #[serde(default)]
    pub domain: Option<S>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGreylist {
    pub delay: S,
    #[serde(default)]
    pub reply: Option<S>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    pub connections: Spanned<u32>,
    pub per: S,
    #[serde(default)]
    pub reply: Option<S>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConcurrency {
    pub per_client: Spanned<u32>,
    #[serde(default)]
    pub reply: Option<S>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCloseAfter {
    pub commands: u32,
    #[serde(default)]
    pub reply: Option<S>,
    #[serde(default)]
    pub bare: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarpit {
    #[serde(default)]
    pub banner_delay: Option<S>,
    #[serde(default)]
    pub reply_delay: Option<S>,
}
