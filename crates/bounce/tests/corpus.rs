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
                if !ok {
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
    if std::env::var_os("MXRAY_CORPUS_MISSES").is_some() {
        for m in &misses {
            println!("MISS\t{m}");
        }
    }
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
        ("reason", all.reason.ratio(), 0.79),
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
