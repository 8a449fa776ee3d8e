//! What a queue listing says, whichever MTA wrote it: messages with their arrival, sender and
//! recipients, each recipient with the reason of its last failed attempt and its next retry.
//!
//! Strings come from the queue (attacker-controlled: senders, addresses, remote replies): they
//! are kept exact and cut to the bounds below; whoever shows them escapes them.

pub use mxray_logs::Mta;

/// Messages read from one listing at most; further ones are counted, not kept.
pub const MAX_MESSAGES: usize = 100_000;
/// Recipients kept per message; further ones are counted.
pub const MAX_RECIPIENTS: usize = 10_000;
/// Addresses, senders and queue IDs are cut here.
pub const MAX_FIELD: usize = 1024;
/// Reasons are cut here: enough for a remote's reply.
pub const MAX_REASON: usize = 2048;

/// One recipient still in the queue (or, for Exim, already delivered: `delivered`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recipient {
    pub address: String,
    /// The reason of the last failed attempt, as the MTA words it; `None` before any attempt.
    pub reason: Option<String>,
    /// The line the reason was read from, when it was one (Exim's message log: recipient,
    /// router, transport, host and reason), shown as the group's sample.
    pub line: Option<String>,
    /// The host that failed, when the MTA names it (Exim's `H=`), for its retry record.
    pub host: Option<String>,
    /// Delivered already (Exim's `D`), the rest of the message still waits.
    pub delivered: bool,
    /// Not before this (Unix seconds), when the MTA exposes it (Exim's retry database).
    pub next_retry: Option<i64>,
}

/// One message in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub id: String,
    /// The MTA's queue it is in (Postfix `active`, `deferred`, `hold`...; `queue` for the others).
    pub queue: String,
    /// When it arrived (Unix seconds).
    pub arrival: Option<i64>,
    /// False when the arrival is only known to the listing's rounding (Exim's `-bp` ages).
    pub arrival_exact: bool,
    pub size: Option<u64>,
    /// The envelope sender; empty for the null sender (bounces).
    pub sender: String,
    /// Held by the administrator (Postfix `hold`): not retried until released.
    pub held: bool,
    /// Frozen (Exim): not retried until thawed or until it times out.
    pub frozen: bool,
    pub recipients: Vec<Recipient>,
    /// Recipients past [`MAX_RECIPIENTS`], counted only.
    pub more_recipients: u64,
}

/// A whole listing, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The MTA whose listing it is; `None` for an empty listing of unknown origin.
    pub mta: Option<Mta>,
    /// What was read: `postqueue -j`, `exim -bp`, `file queue.json`...
    pub source: String,
    /// The time the listing describes (Unix seconds): ages are counted to it.
    pub taken_at: i64,
    pub messages: Vec<Message>,
    /// Messages past [`MAX_MESSAGES`], counted only.
    pub more_messages: u64,
    /// Lines that matched no shape of the format.
    pub unparsed: u64,
    /// Whether the listing can say when the MTA retries (Exim's retry data was read).
    pub retry_times: bool,
    /// What the reader wants the user to know (what the format lacks, what it guessed).
    pub notes: Vec<String>,
}

impl Snapshot {
    pub fn new(mta: Option<Mta>, source: &str, taken_at: i64) -> Snapshot {
        Snapshot {
            mta,
            source: source.to_string(),
            taken_at,
            messages: Vec::new(),
            more_messages: 0,
            unparsed: 0,
            retry_times: false,
            notes: Vec::new(),
        }
    }

    /// Adds a message unless [`MAX_MESSAGES`] are kept already (then it is only counted).
    pub fn push(&mut self, m: Message) {
        if self.messages.len() >= MAX_MESSAGES {
            self.more_messages += 1;
        } else {
            self.messages.push(m);
        }
    }
}

/// `s` cut to at most `max` bytes, on a character boundary.
pub fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// The lowercase domain of an address (after its last `@`, without a trailing dot), or empty.
pub fn domain_of(address: &str) -> String {
    let a = address.trim().trim_start_matches('<').trim_end_matches('>');
    match a.rfind('@') {
        Some(i) => cut(a[i + 1..].trim_end_matches('.'), 255).to_ascii_lowercase(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_keeps_characters_whole() {
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("héllo", 3), "hé");
        assert_eq!(cut("abc", 10), "abc");
    }

    #[test]
    fn domains() {
        assert_eq!(domain_of("Bob@Example.ORG."), "example.org");
        assert_eq!(domain_of("<a@b.test>"), "b.test");
        assert_eq!(domain_of("root"), "");
        assert_eq!(domain_of("\"a@b\"@c.test"), "c.test");
    }
}
