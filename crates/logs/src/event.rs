//! The one event model every MTA's lines are parsed into: a message received, facts about it, a
//! delivery attempt for one recipient, expiry, removal, notifications, and rejections.
//!
//! Events are generic over their string type `S`: the parsers produce `&[u8]` slices of the line,
//! and the two-thread pipeline ships them as [`Span`]s into the chunk they came from.

use serde::Serialize;

/// Which mail server wrote a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mta {
    Postfix,
    Exim,
    Sendmail,
}

impl Mta {
    pub fn as_str(self) -> &'static str {
        match self {
            Mta::Postfix => "postfix",
            Mta::Exim => "exim",
            Mta::Sendmail => "sendmail",
        }
    }
}

/// What a delivery attempt came to, for one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Delivered (Postfix `status=sent`, Exim `=>`/`->`, Sendmail `stat=Sent`).
    Sent,
    /// Postfix `status=sent (forwarded as ...)`: handed to another queue file, not delivered.
    Forwarded,
    /// Temporary failure; the MTA will retry (`status=deferred`, Exim `==`, `stat=Deferred`).
    Deferred,
    /// Permanent failure; a bounce goes back to the sender (`status=bounced`, Exim `**`).
    Bounced,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Sent => "sent",
            Status::Forwarded => "forwarded",
            Status::Deferred => "deferred",
            Status::Bounced => "bounced",
        }
    }
}

/// A byte range of a chunk: how events cross from the parsing thread to the tracking thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub len: u32,
}

impl Span {
    /// The span of `part`, which must lie inside `base`.
    pub fn of(base: &[u8], part: &[u8]) -> Span {
        let start = (part.as_ptr() as usize).saturating_sub(base.as_ptr() as usize);
        Span {
            start: start as u32,
            len: part.len() as u32,
        }
    }

    /// The bytes of this span in `base` (empty if out of range, which cannot happen for spans
    /// made by [`Span::of`] on the same buffer).
    pub fn get(self, base: &[u8]) -> &[u8] {
        let start = self.start as usize;
        base.get(start..start + self.len as usize).unwrap_or(&[])
    }
}

/// Facts about a message: sender, size, recipient count, Message-ID.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts<S> {
    pub id: S,
    pub from: Option<S>,
    pub size: Option<u64>,
    pub nrcpt: Option<u32>,
    pub message_id: Option<S>,
}

/// One delivery attempt for one recipient.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt<S> {
    /// The queue ID of the message.
    pub id: S,
    pub rcpt: S,
    /// The address before rewriting or alias expansion (Postfix `orig_to=`, Exim `<...>`).
    pub orig_to: Option<S>,
    /// The delivery agent or transport (`smtp`, `lmtp`, `local`, Exim `T=`, Sendmail `mailer=`).
    pub agent: Option<S>,
    /// The next hop's name as logged (`mx.example.org`, `none`, `local`), without address or port.
    pub relay: Option<S>,
    pub relay_ip: Option<S>,
    /// The enhanced status code (`4.4.1`) the MTA logged or the reply carried.
    pub dsn: Option<S>,
    pub status: Status,
    /// Total delay in seconds since the message arrived (Postfix `delay=`, Exim `QT=`).
    pub delay: Option<f64>,
    /// Postfix's `delays=a/b/c/d` breakdown, as written.
    pub delays: Option<S>,
    pub conn_use: Option<u32>,
    pub tls: Option<S>,
    /// The reason: the text in parentheses (Postfix), after the last `: ` (Exim), or after
    /// `stat=` (Sendmail). Remote servers' words: attacker-controlled.
    pub reply: Option<S>,
    /// True when the message expired with this attempt (Exim `retry timeout exceeded`).
    pub expired: bool,
}

/// A message or recipient refused before it was queued (`NOQUEUE: reject:`, Exim `rejected RCPT`).
#[derive(Debug, Clone, PartialEq)]
pub struct Reject<S> {
    /// The SMTP stage (`RCPT`, `DATA`, `CONNECT`, `header`...).
    pub stage: Option<S>,
    /// The client as logged (`unknown[192.0.2.1]`).
    pub client: Option<S>,
    /// The reply we sent (`554 5.7.1 <x>: Relay access denied`).
    pub reply: S,
    pub from: Option<S>,
    pub to: Option<S>,
}

/// One parsed log line.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<S> {
    /// A message entered the queue (smtpd `client=`, pickup, Exim `<=`, Sendmail `from=`).
    Received(Facts<S>),
    /// More facts about a queued message (qmgr `from=`, cleanup `message-id=`).
    Info(Facts<S>),
    Attempt(Attempt<S>),
    /// A recipient skipped because its retry time has not come (Exim): not a delivery attempt.
    NotAttempted {
        id: S,
        rcpt: S,
    },
    /// The message reached the maximal queue lifetime and was returned (qmgr `status=expired`).
    Expired {
        id: S,
    },
    /// The message left the queue (qmgr `removed`, Exim `Completed`).
    Removed {
        id: S,
    },
    /// A delivery status notification was queued for the message (bounce daemon, Sendmail `DSN:`).
    Notification {
        id: S,
        notice: S,
    },
    Rejected(Reject<S>),
    /// A known line with nothing to count (connect, disconnect, TLS, warnings...).
    Noise,
}

fn opt<S, T>(o: Option<S>, f: &mut impl FnMut(S) -> T) -> Option<T> {
    o.map(f)
}

impl<S> Facts<S> {
    pub fn map<T>(self, f: &mut impl FnMut(S) -> T) -> Facts<T> {
        Facts {
            id: f(self.id),
            from: opt(self.from, f),
            size: self.size,
            nrcpt: self.nrcpt,
            message_id: opt(self.message_id, f),
        }
    }
}

impl<S> Attempt<S> {
    pub fn map<T>(self, f: &mut impl FnMut(S) -> T) -> Attempt<T> {
        Attempt {
            id: f(self.id),
            rcpt: f(self.rcpt),
            orig_to: opt(self.orig_to, f),
            agent: opt(self.agent, f),
            relay: opt(self.relay, f),
            relay_ip: opt(self.relay_ip, f),
            dsn: opt(self.dsn, f),
            status: self.status,
            delay: self.delay,
            delays: opt(self.delays, f),
            conn_use: self.conn_use,
            tls: opt(self.tls, f),
            reply: opt(self.reply, f),
            expired: self.expired,
        }
    }
}

impl<S> Event<S> {
    /// The same event with every string converted by `f`.
    pub fn map<T>(self, f: &mut impl FnMut(S) -> T) -> Event<T> {
        match self {
            Event::Received(x) => Event::Received(x.map(f)),
            Event::Info(x) => Event::Info(x.map(f)),
            Event::Attempt(a) => Event::Attempt(a.map(f)),
            Event::NotAttempted { id, rcpt } => Event::NotAttempted {
                id: f(id),
                rcpt: f(rcpt),
            },
            Event::Expired { id } => Event::Expired { id: f(id) },
            Event::Removed { id } => Event::Removed { id: f(id) },
            Event::Notification { id, notice } => Event::Notification {
                id: f(id),
                notice: f(notice),
            },
            Event::Rejected(r) => Event::Rejected(Reject {
                stage: opt(r.stage, f),
                client: opt(r.client, f),
                reply: f(r.reply),
                from: opt(r.from, f),
                to: opt(r.to, f),
            }),
            Event::Noise => Event::Noise,
        }
    }
}
