//! SPF (RFC 7208): the record grammar, the evaluator, the walk of a published tree, and the
//! findings judged from them. One parser serves both the evaluator and the findings.

pub mod eval;
pub mod flatten;
pub mod judge;
pub mod observe;
pub mod propose;
pub mod record;

pub use eval::{Resolver, SpfEvaluation, SpfVerdict, check_host};
pub use observe::{SpfNode, TermLookups, walk, walk_record};
pub use record::{MAX_LOOKUPS, MAX_VOID, Qualifier, SpfSyntaxError, Term};

use crate::Topic;
use crate::score::Area;

// Finding ids: the public contract, listed in docs/findings.md.
pub const MISSING: &str = "spf.missing";
pub const MULTIPLE: &str = "spf.multiple";
pub const SYNTAX: &str = "spf.syntax";
pub const INCLUDE_MISSING: &str = "spf.include_missing";
pub const LOOP: &str = "spf.loop";
pub const TOO_MANY_LOOKUPS: &str = "spf.too_many_lookups";
pub const VOID_LOOKUPS: &str = "spf.void_lookups";
pub const WALK_LIMITED: &str = "spf.walk_limited";
pub const PERMISSIVE_ALL: &str = "spf.permissive_all";
pub const PTR: &str = "spf.ptr";
pub const TOO_LONG: &str = "spf.too_long";
pub const SENDER_ID: &str = "spf.sender_id";
pub const DNS_ERROR: &str = "spf.dns_error";
pub const OK: &str = "spf.ok";
pub const SENDER_IP_PASS: &str = "spf.sender_ip_pass";
pub const SENDER_IP_FAIL: &str = "spf.sender_ip_fail";
pub const SENDER_IP_NOT_PASS: &str = "spf.sender_ip_not_pass";

/// This topic's score area, side and ids.
pub const TOPIC: Topic = Topic {
    area: Area::Auth,
    recipient: false,
    ids: &[
        MISSING,
        MULTIPLE,
        SYNTAX,
        INCLUDE_MISSING,
        LOOP,
        TOO_MANY_LOOKUPS,
        VOID_LOOKUPS,
        WALK_LIMITED,
        PERMISSIVE_ALL,
        PTR,
        TOO_LONG,
        SENDER_ID,
        DNS_ERROR,
        OK,
        SENDER_IP_PASS,
        SENDER_IP_FAIL,
        SENDER_IP_NOT_PASS,
    ],
};
