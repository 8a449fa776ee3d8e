//! The Sisimai corpus of real bounces (tests/data/sisimai, BSD licence beside it): every sample
//! read, per recipient, and compared with Sisimai's expectations for status, reply code,
//! class and reason; agreement printed per MTA family and held above floors.

use std::collections::BTreeMap;

use mxray_bounce::{Kind, read};
use mxray_core::Class;

#[derive(Default, Clone, Copy)]
struct Tally {
    agree: usize,
    total: usize,
}

impl Tally {
    fn add(&mut self, ok: bool) {
        self.total += 1;
        self.agree += usize::from(ok);
    }

    fn ratio(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.agree as f64 / self.total as f64
        }
    }
}

#[derive(Default, Clone, Copy)]
struct Scores {
    status: Tally,
    reply: Tally,
    class: Tally,
    reason: Tally,
    recipients: Tally,
}

/// Where mxray keeps its own reading against Sisimai's, on purpose (docs/reasons.md, "Where
/// mxray differs from Sisimai, and why"): sample, recipient index, Sisimai's reason, mxray's,
/// why. Printed apart; the headline agreement stays the plain one.
const SISIMAI_ARGUABLY_WRONG: &[(&str, usize, &str, &str, &str)] = {
    const UNKNOWN_STAGE: &str = "user unknown in the words, no sign the refusal came after DATA: \
        Sisimai calls every user-unknown whose SMTP command it cannot see 'filtered'";
    &[
        (
            "lhost-amazonses-02.eml",
            0,
            "filtered",
            "userunknown",
            UNKNOWN_STAGE,
        ),
        (
            "lhost-apachejames-01.eml",
            0,
            "filtered",
            "userunknown",
            UNKNOWN_STAGE,
        ),
        (
            "lhost-exchange2003-04.eml",
            0,
            "filtered",
            "userunknown",
            UNKNOWN_STAGE,
        ),
        (
            "lhost-mailfoundry-01.eml",
            0,
            "filtered",
            "userunknown",
            UNKNOWN_STAGE,
        ),
        (
            "lhost-mcafee-04.eml",
            0,
            "filtered",
            "userunknown",
            UNKNOWN_STAGE,
        ),
        (
            "lhost-mcafee-05.eml",
            0,
            "filtered",
            "userunknown",
            UNKNOWN_STAGE,
        ),
        (
            "lhost-messagingserver-06.eml",
            0,
            "filtered",
            "userunknown",
            UNKNOWN_STAGE,
        ),
        (
            "lhost-mxlogic-03.eml",
            0,
            "filtered",
            "userunknown",
            UNKNOWN_STAGE,
        ),
        (
            "lhost-surfcontrol-01.eml",
            0,
            "filtered",
            "userunknown",
            UNKNOWN_STAGE,
        ),
        (
            "lhost-x1-02.eml",
            0,
            "filtered",
            "userunknown",
            UNKNOWN_STAGE,
        ),
        (
            "lhost-x2-01.eml",
            0,
            "filtered",
            "userunknown",
            UNKNOWN_STAGE,
        ),
        (
            "lhost-x2-02.eml",
            0,
            "filtered",
            "userunknown",
            UNKNOWN_STAGE,
        ),
        (
            "lhost-x2-02.eml",
            2,
            "filtered",
            "userunknown",
            UNKNOWN_STAGE,
        ),
        (
            "lhost-zoho-03.eml",
            0,
            "filtered",
            "userunknown",
            UNKNOWN_STAGE,
        ),
        (
            "lhost-sendmail-27.eml",
            0,
            "filtered",
            "userunknown",
            "a pipelined RCPT TO answered after '>>> DATA' ('<<< 503 Need RCPT' follows): refused at RCPT",
        ),
        (
            "lhost-powermta-03.eml",
            0,
            "suspend",
            "userunknown",
            "'User Unknown' under 5.2.1: the words name the failure, the code is the server's loose pick",
        ),
        (
            "lhost-dragonfly-18.eml",
            0,
            "securityerror",
            "policyviolation",
            "'Recipient address rejected: Policy violation' under 5.7.0: the words say policy",
        ),
        (
            "lhost-mfilter-04.eml",
            0,
            "rejected",
            "filtered",
            "'All recipient addresses rejected: Access denied' at DATA is about the recipients, not the sender",
        ),
        (
            "lhost-postfix-48.eml",
            0,
            "toomanyconn",
            "exceedlimit",
            "'Too many recipients' is a per-message recipient limit, not a connection count",
        ),
        (
            "lhost-postfix-55.eml",
            0,
            "toomanyconn",
            "exceedlimit",
            "'Too many recipients' is a per-message recipient limit, not a connection count",
        ),
        (
            "lhost-postfix-56.eml",
            0,
            "networkerror",
            "expired",
            "Postfix returns a 4.x.x failure only when the queue lifetime ran out: the queue gave up",
        ),
        (
            "lhost-v5sendmail-05.eml",
            0,
            "blocked",
            "networkerror",
            "'Connection reset by peer during result wait' is a dropped connection, not a block",
        ),
        (
            "rhost-nttdocomo-02.eml",
            0,
            "rejected",
            "filtered",
            "'550 Unknown user' after DATA: a filter refused the message; nothing refused the sender",
        ),
        (
            "rhost-yahooinc-02.eml",
            0,
            "rejected",
            "badreputation",
            "[TSS04] 'deferred due to unexpected volume or user complaints' judges the sending IP's standing",
        ),
        (
            "lhost-qmail-25.eml",
            0,
            "userunknown",
            "mailboxfull",
            "order only: mxray lists the recipients as the letter does, each with the same reason",
        ),
        (
            "lhost-qmail-25.eml",
            1,
            "mailboxfull",
            "userunknown",
            "order only: mxray lists the recipients as the letter does, each with the same reason",
        ),
    ]
};

fn split(s: &str) -> Vec<&str> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split(',').collect()
    }
}

#[test]
fn sisimai_corpus_agreement() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sisimai");
    let table = std::fs::read_to_string(dir.join("cases.tsv")).expect("cases.tsv");
    let mut by_family: BTreeMap<String, Scores> = BTreeMap::new();
    let mut all = Scores::default();
    let mut false_success = Vec::new();
    let mut misses = Vec::new();
    let mut justified = Vec::new();
    for line in table.lines().skip(2) {
        let f: Vec<&str> = line.split('\t').collect();
        let [
            path,
            family,
            _n,
            _s,
            _r,
            _reason,
            all_status,
            all_reply,
            all_reason,
            ..,
        ] = f[..]
        else {
            panic!("cases.tsv: short line {line}");
        };
        let raw = std::fs::read(dir.join("samples").join(path)).expect("sample");
        let results = read(&raw).unwrap_or_else(|e| panic!("{path}: {e}"));
        // MXRAY_CORPUS_SHOW=part-of-a-path: how mxray read those samples, to study a miss.
        if let Some(show) = std::env::var_os("MXRAY_CORPUS_SHOW")
            && path.contains(show.to_string_lossy().as_ref())
        {
            for (i, r) in results.iter().enumerate() {
                let x = &r.explanation;
                println!(
                    "SHOW\t{path}\t#{i}\t{:?}\treason {}\tsituation {:?}\tcode {:?} {:?}\tclass {:?}\tline {:?}\ttext {:?}",
                    r.recipient,
                    x.reason,
                    x.situation,
                    x.reply_code.map(|c| c.to_string()),
                    x.enhanced_code.map(|e| e.to_string()),
                    x.class,
                    r.decided_by_line,
                    x.text
                );
            }
        }
        let (statuses, replies, reasons) = (split(all_status), split(all_reply), split(all_reason));
        let sc = by_family.entry(family.to_string()).or_default();
        let mut tally = |pick: fn(&mut Scores) -> &mut Tally, ok: bool| {
            pick(sc).add(ok);
            pick(&mut all).add(ok);
        };
        tally(|s| &mut s.recipients, results.len() == reasons.len());
        for (i, want_reason) in reasons.iter().enumerate() {
            let Some(got) = results.get(i) else {
                tally(|s| &mut s.reason, false);
                misses.push(format!(
                    "{path}\t#{i}\tno such recipient\twant {want_reason}"
                ));
                continue;
            };
            let x = &got.explanation;
            let want_status = statuses.get(i).copied().unwrap_or_default();
            let not_a_bounce = matches!(*want_reason, "feedback" | "vacation");
            if !not_a_bounce
                && got.kind == Kind::Bounce
                && x.class == Some(Class::Success)
                && !want_status.starts_with('2')
            {
                false_success.push(path.to_string());
            }
            // Sisimai's own X.0.9xx codes stand for "no code in the bounce".
            let own_code = want_status
                .split('.')
                .nth(2)
                .is_some_and(|d| d.len() == 3 && d.starts_with('9'));
            let got_status = x.enhanced_code.map(|e| e.to_string()).unwrap_or_default();
            if !want_status.is_empty() && !own_code {
                tally(|s| &mut s.status, got_status == want_status);
                if got_status != want_status {
                    misses.push(format!(
                        "{path}\t#{i}\tstatus want {want_status}\tgot {got_status}\t{}",
                        x.text.chars().take(100).collect::<String>()
                    ));
                }
            }
            if let Some(want) = replies.get(i).filter(|r| !r.is_empty()) {
                let got = x.reply_code.map(|c| c.to_string()).unwrap_or_default();
                tally(|s| &mut s.reply, &got == want);
                if &got != want {
                    misses.push(format!(
                        "{path}\t#{i}\treply want {want}\tgot {got}\t{}",
                        x.text.chars().take(100).collect::<String>()
                    ));
                }
            }
            if !not_a_bounce && let Some(d) = want_status.chars().next() {
                let want = match d {
                    '2' => Some(Class::Success),
                    '4' => Some(Class::Transient),
                    '5' => Some(Class::Permanent),
                    _ => None,
                };
                tally(|s| &mut s.class, x.class == want);
                if x.class != want {
                    misses.push(format!(
                        "{path}\t#{i}\tclass want {want:?}\tgot {:?}\t{}",
                        x.class,
                        x.text.chars().take(100).collect::<String>()
                    ));
                }
            }
            if !matches!(*want_reason, "undefined" | "onhold") {
                let ok = x.reason.as_str() == *want_reason;
                tally(|s| &mut s.reason, ok);
                let listed = SISIMAI_ARGUABLY_WRONG
                    .iter()
                    .find(|(p, n, sisimai, ours, _)| {
                        path.ends_with(p)
                            && *n == i
                            && sisimai == want_reason
                            && *ours == x.reason.as_str()
                    });
                if let Some((_, _, sisimai, ours, why)) = listed {
                    justified.push(format!(
                        "{path}\t#{i}\tsisimai {sisimai}\tmxray {ours}\t{why}"
                    ));
                } else if !ok {
                    misses.push(format!(
                        "{path}\t#{i}\twant {want_reason}\tgot {}\t{}\t{}",
                        x.reason,
                        got_status,
                        x.text.chars().take(120).collect::<String>()
                    ));
                }
            }
        }
    }
    println!("family\tstatus\treply\tclass\treason\trecipients");
    let pct = |t: Tally| format!("{}/{}", t.agree, t.total);
    for (fam, s) in by_family
        .iter()
        .chain(std::iter::once((&"ALL".to_string(), &all)))
    {
        println!(
            "{fam}\t{}\t{}\t{}\t{}\t{}",
            pct(s.status),
            pct(s.reply),
            pct(s.class),
            pct(s.reason),
            pct(s.recipients)
        );
    }
    println!(
        "ALL ratios: status {:.3} reply {:.3} class {:.3} reason {:.3} recipients {:.3}",
        all.status.ratio(),
        all.reply.ratio(),
        all.class.ratio(),
        all.reason.ratio(),
        all.recipients.ratio()
    );
    // The plain agreement above is the headline; the differences mxray keeps on purpose are
    // listed apart, with the agreement they would give if counted as justified.
    println!(
        "reason differences kept on purpose: {} (plain {}/{}; with them {}/{})",
        justified.len(),
        all.reason.agree,
        all.reason.total,
        all.reason.agree + justified.len(),
        all.reason.total
    );
    for j in &justified {
        println!("KEPT\t{j}");
    }
    let stale: Vec<_> = SISIMAI_ARGUABLY_WRONG
        .iter()
        .filter(|(p, n, ..)| {
            !justified.iter().any(|j| {
                j.split('\t').next().is_some_and(|jp| jp.ends_with(p))
                    && j.contains(&format!("\t#{n}\t"))
            })
        })
        .collect();
    if std::env::var_os("MXRAY_CORPUS_MISSES").is_some() {
        for m in &misses {
            println!("MISS\t{m}");
        }
    }
    // A listed difference mxray no longer gives is out of date: take it off the list (and
    // docs/reasons.md).
    assert!(
        stale.is_empty(),
        "SISIMAI_ARGUABLY_WRONG lists readings mxray no longer gives: {stale:?}"
    );
    assert!(
        false_success.is_empty(),
        "failed deliveries called success: {false_success:?}"
    );
    // Floors at the agreement reached (issue 12's targets: status 99%, class 95%, reason 90%):
    // a change that loses ground fails here; raise them as the readers improve.
    for (what, got, floor) in [
        ("status", all.status.ratio(), 0.99),
        ("reply code", all.reply.ratio(), 0.97),
        ("class", all.class.ratio(), 0.97),
        ("reason", all.reason.ratio(), 0.90),
        ("recipients", all.recipients.ratio(), 0.99),
    ] {
        assert!(got >= floor, "{what} agreement {got:.3} fell below {floor}");
    }
}

/// Hostile and broken input: every sample cut at many points, and with its bytes flipped,
/// is read without a panic (a result or a clear error, never a crash).
#[test]
fn truncated_and_mangled_samples_never_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/sisimai/samples/maildir/bsd");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("samples")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    for f in files.iter().step_by(3) {
        let raw = std::fs::read(f).expect("sample");
        for cut in (0..raw.len()).step_by((raw.len() / 7).max(1)) {
            let _ = read(&raw[..cut]);
        }
        let mangled: Vec<u8> = raw
            .iter()
            .enumerate()
            .map(|(i, b)| if i % 97 == 0 { b ^ 0x5a } else { *b })
            .collect();
        let _ = read(&mangled);
    }
}
