//! Postfix's `postqueue -j`: one JSON object per message and line (`queue_name`, `queue_id`,
//! `arrival_time`, `message_size`, `sender`, `recipients[{address, delay_reason}]`).
//!
//! `-j` carries no next retry time (Postfix keeps it in the queue file's modification time), so
//! the snapshot says so; ages come from `arrival_time`. Pure: text and the time in, no I/O.

use serde::Deserialize;

use crate::ParseOptions;
use crate::error::QueueError;
use crate::model::{MAX_FIELD, MAX_REASON, MAX_RECIPIENTS, Message, Mta, Recipient, Snapshot, cut};

/// One JSON line may be this long: a message with thousands of recipients is one line.
pub const MAX_JSON_LINE: usize = 16 << 20;

/// What `postqueue -j` prints, as documented in postqueue(1); other fields are ignored.
#[derive(Deserialize)]
struct Line {
    queue_name: String,
    queue_id: String,
    arrival_time: Option<i64>,
    message_size: Option<u64>,
    #[serde(default)]
    forced_expire: bool,
    #[serde(default)]
    sender: String,
    #[serde(default)]
    recipients: Vec<Rcpt>,
}

#[derive(Deserialize)]
struct Rcpt {
    address: String,
    delay_reason: Option<String>,
}

pub const EXPECTED: &str = "Postfix's `postqueue -j` output: one JSON object per line, with queue_name, queue_id and recipients";

/// Reads `postqueue -j` output. Lines that are not such objects are counted as unparsed; a text
/// with none at all (and not empty) is not a listing.
pub fn parse(text: &str, source: &str, opts: &ParseOptions) -> Result<Snapshot, QueueError> {
    let mut snap = Snapshot::new(Some(Mta::Postfix), source, opts.now);
    let mut expired = 0u64;
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if line.len() > MAX_JSON_LINE || !line.starts_with('{') {
            snap.unparsed += 1;
            continue;
        }
        let Ok(l) = serde_json::from_str::<Line>(line) else {
            snap.unparsed += 1;
            continue;
        };
        let mut m = Message {
            id: cut(&l.queue_id, MAX_FIELD),
            held: l.queue_name == "hold",
            queue: cut(&l.queue_name, 32),
            arrival: l.arrival_time.filter(|t| *t > 0),
            arrival_exact: true,
            size: l.message_size,
            sender: cut(&l.sender, MAX_FIELD),
            ..Message::default()
        };
        for r in l.recipients {
            if m.recipients.len() >= MAX_RECIPIENTS {
                m.more_recipients += 1;
                continue;
            }
            m.recipients.push(Recipient {
                address: cut(&r.address, MAX_FIELD),
                reason: r
                    .delay_reason
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| cut(&s, MAX_REASON)),
                ..Recipient::default()
            });
        }
        expired += u64::from(l.forced_expire);
        snap.push(m);
    }
    if snap.messages.is_empty() && snap.unparsed > 0 {
        return Err(QueueError::NotAListing {
            what: source.to_string(),
            expected: EXPECTED.to_string(),
        });
    }
    snap.notes.push(
        "postqueue -j gives no next retry time: Postfix retries deferred mail on its queue scans (queue_run_delay), backing off between minimal_backoff_time and maximal_backoff_time"
            .to_string(),
    );
    if expired > 0 {
        snap.notes.push(format!(
            "{expired} message(s) forced to expire (postsuper -e): they bounce at their next delivery attempt"
        ));
    }
    Ok(snap)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = r#"{"queue_name": "deferred", "queue_id": "52F9A99020B", "arrival_time": 1796143901, "message_size": 270, "forced_expire": false, "sender": "sender@queue.test", "recipients": [{"address": "carol@full.test", "delay_reason": "host 127.0.0.5[127.0.0.5] said: 452 4.2.2 <carol@full.test>: Mailbox full, try again later (in reply to RCPT TO command)"}]}
{"queue_name": "active", "queue_id": "4B62F9901FF", "arrival_time": 1796143900, "message_size": 270, "sender": "", "recipients": [{"address": "bob@greylist.test"}, {"address": "eve@greylist.test", "delay_reason": ""}]}
{"queue_name": "hold", "queue_id": "5631399020D", "arrival_time": 1796140000, "message_size": 300, "forced_expire": true, "sender": "x@queue.test", "recipients": [{"address": "frank@refused.test", "delay_reason": "connect to 127.0.0.4[127.0.0.4]:2600: Connection refused"}], "some_future_field": [1, 2]}
"#;

    fn opts() -> ParseOptions {
        ParseOptions {
            now: 1_796_144_000,
            local_offset: 0,
        }
    }

    #[test]
    fn reads_every_message_and_recipient() {
        let s = parse(DUMP, "postqueue -j", &opts()).unwrap();
        assert_eq!(s.messages.len(), 3);
        assert_eq!(s.unparsed, 0);
        let m = &s.messages[0];
        assert_eq!(
            (m.id.as_str(), m.queue.as_str()),
            ("52F9A99020B", "deferred")
        );
        assert_eq!(m.arrival, Some(1_796_143_901));
        assert!(
            m.recipients[0]
                .reason
                .as_deref()
                .unwrap()
                .contains("452 4.2.2")
        );
        let active = &s.messages[1];
        assert_eq!(active.sender, "");
        assert_eq!(active.recipients.len(), 2);
        assert!(active.recipients.iter().all(|r| r.reason.is_none()));
        assert!(s.messages[2].held);
        assert!(s.notes.iter().any(|n| n.contains("no next retry")));
        assert!(
            s.notes
                .iter()
                .any(|n| n.contains("1 message(s) forced to expire"))
        );
        assert!(!s.retry_times);
    }

    #[test]
    fn garbage_is_an_error_naming_the_format() {
        let e = parse("hello\nworld\n", "queue.json", &opts()).unwrap_err();
        assert!(e.to_string().contains("postqueue -j"), "{e}");
        assert!(e.is_bad_input());
        // Cut JSON lines are counted, the rest is read.
        let cut_dump = format!("{}{{\"queue_name\": \"deferred\", \"queue_id\"", DUMP);
        let s = parse(&cut_dump, "queue.json", &opts()).unwrap();
        assert_eq!((s.messages.len(), s.unparsed), (3, 1));
        // Wrong types are unparsed, never a panic.
        let s = parse("{\"queue_name\": 3, \"queue_id\": []}\n", "q", &opts());
        assert!(s.is_err());
    }

    #[test]
    fn an_empty_listing_is_an_empty_queue() {
        let s = parse("", "postqueue -j", &opts()).unwrap();
        assert!(s.messages.is_empty());
    }
}
