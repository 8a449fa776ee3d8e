//! Property tests: no input panics the parsers or the analyzer (arbitrary bytes, and real lines
//! mutated byte by byte), and templates are stable under what they mask.

use mxray_logs::{Analyzer, LineParser, NoSink, Options, Parsed, YearGuess, template};
use proptest::prelude::*;

/// Real lines from the fixtures, one per shape.
const SEEDS: &[&str] = &[
    "Nov 24 06:00:47 mail postfix/smtp[6712]: D9F7BC807A: to=<carol@ratelimit.test>, relay=127.0.0.3[127.0.0.3]:2525, delay=0.03, delays=0/0.03/0/0, dsn=4.7.0, status=deferred (host 127.0.0.3[127.0.0.3] said: 421-4.7.0 [127.0.0.1      15] Our system has detected an unusual rate of 421-4.7.0 unsolicited mail originating from your IP address. (in reply to RCPT TO command))",
    "Nov 24 06:00:47 mail postfix/smtpd[6706]: NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 550 5.1.1 <erin@nosuch.invalid>: Recipient address rejected: nosuch.invalid; from=<sender@client.fixture.test> to=<erin@nosuch.invalid> proto=ESMTP helo=<client.fixture.test>",
    "Nov 24 06:00:47 mail postfix/qmgr[6662]: D843CC8078: from=<sender@client.fixture.test>, size=359, nrcpt=1 (queue active)",
    "Nov 24 06:00:47 mail postfix/qmgr[6662]: D843CC8078: removed",
    "Nov 24 06:02:27 mail postfix/qmgr[6662]: D9F7BC807A: from=<sender@client.fixture.test>, status=expired, returned to sender",
    "2026-11-20T10:00:01.000000+01:00 mx1 postfix-out/smtp[1203]: 4Xyz1234abcdefgh: to=<ann@gmail.com>, orig_to=<ann@alias.example.net>, relay=gmail-smtp-in.l.google.com[142.250.102.27]:25, conn_use=2, delay=2.6, delays=0.1/0.01/0.5/2, tls=TLSv1.3, dsn=4.7.28, status=deferred (host x[1.2.3.4] said: 421-4.7.28 Gmail 421 4.7.28 more (in reply to end of DATA command))",
    "2026-11-21 08:00:01 +0100 [2002] 1vAbCd-00000000Zx1-AbCd == ann@gmail.com R=dnslookup T=remote_smtp defer (-44) H=gmail-smtp-in.l.google.com [142.250.102.27]: SMTP error from remote mail server after RCPT TO:<ann@gmail.com>: 450-4.2.1 The user 450 4.2.1 more",
    "2026-11-21 08:00:01 1rABCD-000123-AB => kim@example.org <kim@alias.example> R=dnslookup T=remote_smtp H=mx.example.org [192.0.2.9] C=\"250 2.0.0 Ok\" QT=1s DT=0.4s",
    "2026-11-21 08:21:01 1rABCD-000123-AB ** lee@nonexistent.example: Unrouteable address",
    "2026-11-21 08:20:00 H=(bad) [192.0.2.66] F=<spam@bad.example> rejected RCPT <x@elsewhere.example>: relay not permitted",
    "Dec 31 23:59:55 mx2 sm-mta[4002]: 5BVNxo3a004001: to=<ann@example.org>,<bob@example.org>, delay=00:00:05, xdelay=00:00:05, mailer=esmtp, pri=152211, relay=mx.example.org. [192.0.2.9], dsn=4.0.0, stat=Deferred: 421 4.7.0 Too many connections",
    "Jan  1 00:31:00 mx2 sm-mta[4006]: ruleset=check_rcpt, arg1=<x@elsewhere.example>, relay=[192.0.2.66], reject=550 5.7.1 <x@elsewhere.example>... Relaying denied",
];

fn run(lines: &[Vec<u8>]) {
    let mut p = LineParser::new(None, YearGuess::starting(2026));
    let mut a = Analyzer::new(Options {
        events: true,
        ..Options::default()
    });
    for l in lines {
        if let Parsed::Event { time, mta, event } = p.parse(l) {
            a.apply(time, mta, event, l, "prop", &mut NoSink).unwrap();
        }
        let _ = template(l);
    }
    let r = a.finish(Vec::new());
    let _ = serde_json::to_string(&r).unwrap();
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (
            any::<usize>(),
            prop::sample::select(b" <>[]()=:,.-@\\\"0129\xff\xc3\n".to_vec())
        )
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(line: &str, muts: &[Mutation]) -> Vec<u8> {
    let mut b = line.as_bytes().to_vec();
    for m in muts {
        let n = b.len().max(1);
        match *m {
            Mutation::Flip(i, x) if !b.is_empty() => b[i % n] = x,
            Mutation::Insert(i, x) => b.insert(i % (b.len() + 1), x),
            Mutation::Delete(i) if !b.is_empty() => {
                b.remove(i % n);
            }
            Mutation::Truncate(i) => b.truncate(i % (b.len() + 1)),
            _ => {}
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(lines in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..8)) {
        run(&lines);
    }

    #[test]
    fn mutated_real_lines_never_panic(
        picks in prop::collection::vec((0..SEEDS.len(), prop::collection::vec(mutation(), 1..6)), 1..10)
    ) {
        let lines: Vec<Vec<u8>> = picks.iter().map(|(i, m)| mutate(SEEDS[*i], m)).collect();
        run(&lines);
    }

    #[test]
    fn templates_do_not_depend_on_the_ip_or_the_number(a in 1u8..=254, b in 0u8..=255, n in 0u32..100_000) {
        let one = template(format!("host mx[192.0.{a}.{b}] said: 421 4.7.0 try in {n} seconds").as_bytes());
        let two = template(b"host mx[10.0.0.1] said: 421 4.7.0 try in 5 seconds");
        prop_assert_eq!(one, two);
    }
}
