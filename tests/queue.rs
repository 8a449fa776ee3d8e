//! `mxray queue` end to end: saved listings of real queues (tests/fixtures/queue, made by
//! scripts/make-queue-fixtures.sh from Debian's Postfix and Exim), a hand-written Sendmail one,
//! bad input, escaping, the HTML page in a real browser, and live queues: a real Postfix and a
//! real Exim started here in network and mount namespaces of their own (loopback only),
//! delivering to a lab that defers, then read by `mxray queue --json`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::live::{Netns, feed, ok, open_dir, postfix_instance, require_live, start_postfix};
use crate::util::{Output, json, require, run};

fn fixture(name: &str) -> String {
    let p: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "fixtures",
        "queue",
        name,
    ]
    .iter()
    .collect();
    p.display().to_string()
}

/// `mxray queue ARGS` with the zone pinned (listings without one are read in the local zone).
fn queue(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mxray"));
    cmd.arg("queue")
        .args(args)
        .env("TZ", "UTC")
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE");
    run(cmd, None)
}

/// Five minutes after the fixture of `mta` was taken (VERSIONS), as `--as-of` takes it: the
/// tests hold whenever the script remakes the fixtures.
fn as_of(mta: &str) -> String {
    let versions = std::fs::read_to_string(fixture("VERSIONS")).expect("VERSIONS");
    let taken = versions
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{mta}-taken ")))
        .and_then(mxray_logs::parse_bound)
        .unwrap_or_else(|| panic!("no {mta}-taken time in VERSIONS"));
    mxray_logs::Timestamp {
        secs: taken.secs + 300,
        utc: true,
    }
    .to_string()
}

/// Seconds from one RFC 3339 stamp of a report to another.
fn secs_between(a: &Value, b: &Value) -> i64 {
    let t = |v: &Value| {
        v.as_str()
            .and_then(mxray_logs::parse_bound)
            .unwrap_or_else(|| panic!("not a time: {v}"))
            .secs
    };
    t(b) - t(a)
}

fn group<'a>(v: &'a Value, status: &str, domain: &str) -> &'a Value {
    v["groups"]
        .as_array()
        .and_then(|g| {
            g.iter()
                .find(|g| g["status"] == status && g["domain"] == domain)
        })
        .unwrap_or_else(|| panic!("no {status} group for {domain} in {:#}", v["groups"]))
}

fn situation(g: &Value) -> &str {
    g["explanation"]["situation"].as_str().unwrap_or("(none)")
}

/// (status, dsn, domain, count) of every group, sorted: what two readings must agree on.
fn shape(v: &Value) -> Vec<(String, String, String, u64)> {
    let mut s: Vec<_> = v["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| {
            (
                g["status"].as_str().unwrap_or_default().to_string(),
                g["dsn"].as_str().unwrap_or("-").to_string(),
                g["domain"].as_str().unwrap_or_default().to_string(),
                g["count"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    s.sort();
    s
}

/// The groups both real MTAs make of the same mail (tests/fixtures/queue/world.toml): three
/// greylisted recipients in three messages, two behind a refused port, one each rate limited,
/// over quota, and behind a 421 banner.
fn assert_lab_groups(v: &Value, mta: &str) {
    let g = group(v, "deferred", "greylist.test");
    assert_eq!(
        (
            g["dsn"].as_str(),
            g["count"].as_u64(),
            g["messages"].as_u64()
        ),
        (Some("4.7.1"), Some(3), Some(3)),
        "{mta}: {g:#}"
    );
    assert_eq!(situation(g), "greylisted", "{mta}");
    assert_eq!(g["next_command"], "mxray diagnose greylist.test", "{mta}");
    let g = group(v, "deferred", "refused.test");
    assert_eq!(
        (g["dsn"].as_str(), g["count"].as_u64()),
        (Some("4.4.1"), Some(2)),
        "{mta}: {g:#}"
    );
    assert_eq!(situation(g), "no_answer", "{mta}");
    let g = group(v, "deferred", "ratelimit.test");
    assert_eq!(g["dsn"], "4.7.0", "{mta}");
    assert_eq!(situation(g), "rate_limited", "{mta}");
    let g = group(v, "deferred", "accept.test");
    assert_eq!(g["dsn"], "4.2.2", "{mta}");
    assert_eq!(situation(g), "mailbox_full", "{mta}");
    let g = group(v, "deferred", "busy.test");
    assert_eq!(g["dsn"], "4.3.2", "{mta}");
    assert_eq!(situation(g), "system_unavailable", "{mta}");
    // The remote's words are masked in templates, kept exact in samples.
    let g = group(v, "deferred", "greylist.test");
    assert!(
        g["template"]
            .as_str()
            .unwrap()
            .contains("451 4.7.1 Greylisted"),
        "{g:#}"
    );
    assert!(g["sample"].as_str().unwrap().contains("127.0.0.2"), "{g:#}");
}

#[test]
fn real_postfix_listing_from_debian() {
    let out = queue(&[
        "--from",
        &fixture("postfix-debian12.json"),
        "--as-of",
        &as_of("postfix"),
        "--json",
    ]);
    assert_eq!(out.code, 1, "deferred mail waits: {}", out.stderr);
    let v = json(&out);
    assert_eq!(v["mta"], "postfix");
    let t = &v["totals"];
    assert_eq!(
        (t["messages"].as_u64(), t["recipients"].as_u64()),
        (Some(9), Some(10)),
        "{t:#}"
    );
    assert!(
        t["oldest_age_s"]
            .as_i64()
            .is_some_and(|a| (300..360).contains(&a)),
        "{t:#}"
    );
    assert_eq!(
        (t["deferred"].as_u64(), t["held"].as_u64()),
        (Some(9), Some(1))
    );
    assert_lab_groups(&v, "postfix");
    // Postfix words a refused banner its own way: 421 4.3.2 read from it.
    assert!(
        group(&v, "deferred", "busy.test")["sample"]
            .as_str()
            .unwrap()
            .contains("refused to talk to me")
    );
    let dns = group(&v, "deferred", "nosuch.invalid");
    assert_eq!(dns["dsn"], "4.4.3");
    assert_eq!(situation(dns), "dns_routing_failure");
    let held = group(&v, "held", "greylist.test");
    assert_eq!(held["count"], 1);
    assert_eq!(
        held["next_command"],
        Value::Null,
        "held mail is the admin's, not a remote's"
    );
    assert_eq!(v["retry_times"], false);
    assert!(
        v["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("no next retry time"))
    );
    assert_eq!(v["ages"][1], serde_json::json!(["<=5m", 9]));
    // Deferred groups first, largest first.
    assert_eq!(v["groups"][0]["domain"], "greylist.test");
}

#[test]
fn postfix_mailq_reads_as_postqueue_j() {
    let j = json(&queue(&[
        "--from",
        &fixture("postfix-debian12.json"),
        "--json",
    ]));
    let p = queue(&["--from", &fixture("postfix-debian12-mailq.txt"), "--json"]);
    assert_eq!(p.code, 1, "{}", p.stderr);
    let p = json(&p);
    assert_eq!(p["mta"], "postfix");
    assert_eq!(shape(&j), shape(&p));
    // Its dates carry no zone: read in the local one (TZ=UTC here), to the second.
    let arrival = |v: &Value| v["oldest"][0]["arrival"].clone();
    assert_eq!(arrival(&p), arrival(&j));
}

#[test]
fn real_exim_listing_with_message_logs_and_retry_data() {
    let out = queue(&[
        "--from",
        &fixture("exim-debian12.txt"),
        "--as-of",
        &as_of("exim"),
        "--json",
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let v = json(&out);
    assert_eq!(v["mta"], "exim");
    let t = &v["totals"];
    assert_eq!(
        (t["messages"].as_u64(), t["recipients"].as_u64()),
        (Some(9), Some(10)),
        "{t:#}"
    );
    assert_eq!(
        (t["delivered"].as_u64(), t["frozen"].as_u64()),
        (Some(1), Some(1)),
        "alice was delivered; the bounce froze"
    );
    let age = t["oldest_age_s"].as_i64().expect("age");
    assert!(
        (300..360).contains(&age),
        "exact, from -Mvh, not -bp's 0m: {t:#}"
    );
    assert_lab_groups(&v, "exim");
    // Exim declined to retry frank (the host was in retry): the host's reason is his.
    let refused = group(&v, "deferred", "refused.test");
    assert_eq!(refused["template"], "Connection refused");
    let dns = group(&v, "deferred", "nosuch.invalid");
    assert_eq!(
        (dns["dsn"].as_str(), situation(dns)),
        (Some("4.4.3"), "dns_routing_failure")
    );
    let frozen = group(&v, "frozen", "reject.test");
    assert_eq!(frozen["dsn"], "5.1.1", "{frozen:#}");
    assert_eq!(frozen["next_command"], Value::Null);
    // Next retries from the retry database: 15 minutes after the attempt (F,2d,15m).
    assert_eq!(v["retry_times"], true);
    let g = group(&v, "deferred", "greylist.test");
    assert!(
        (900..905).contains(&secs_between(&g["oldest"], &g["next_retry"])),
        "{g:#}"
    );
    assert!(
        (900..905).contains(&secs_between(&v["oldest"][0]["arrival"], &v["next_retry"])),
        "{v:#}"
    );
    assert_eq!(v["oldest"][0]["arrival_exact"], true);
}

#[test]
fn exim_bp_alone_says_what_it_lacks() {
    let text = std::fs::read_to_string(fixture("exim-debian12.txt")).expect("fixture");
    let bp = text.split("==> ").next().expect("bp part");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bp.txt");
    std::fs::write(&path, bp).expect("write");
    let out = queue(&["--from", path.to_str().unwrap(), "--json"]);
    assert_eq!(out.code, 1, "the frozen bounce: {}", out.stderr);
    let v = json(&out);
    assert_eq!(v["totals"]["recipients"], 10);
    assert_eq!(
        v["totals"]["pending"], 9,
        "no reasons without the message logs"
    );
    assert_eq!(v["retry_times"], false);
    assert!(
        v["notes"][0]
            .as_str()
            .unwrap()
            .contains("only exim -bp was read"),
        "{:#}",
        v["notes"]
    );
    assert_eq!(v["oldest"][0]["arrival_exact"], false);
}

#[test]
fn sendmail_mailq_hand_written() {
    let out = queue(&[
        "--from",
        &fixture("sendmail-mailq.txt"),
        "--as-of",
        "2026-12-01T17:00:00Z",
        "--json",
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let v = json(&out);
    assert_eq!(v["mta"], "sendmail");
    assert_eq!(
        (
            v["totals"]["messages"].as_u64(),
            v["totals"]["recipients"].as_u64()
        ),
        (Some(5), Some(6))
    );
    let g = group(&v, "deferred", "example.org");
    assert_eq!(
        (
            g["dsn"].as_str(),
            g["count"].as_u64(),
            g["messages"].as_u64()
        ),
        (Some("4.4.1"), Some(2), Some(1))
    );
    assert_eq!(group(&v, "deferred", "greylist.example")["dsn"], "4.7.1");
    assert_eq!(group(&v, "deferred", "example.com")["dsn"], "4.7.0");
    assert_eq!(group(&v, "deferred", "nosuch.example")["dsn"], "4.4.3");
    assert_eq!(
        group(&v, "pending", "example.net")["template"],
        "(no attempt yet)"
    );
    // Sunday the 29th, two days and a bit before: the year and the weekday agree.
    assert_eq!(v["oldest"][0]["queue_id"], "5AU9CX0m011999");
    assert_eq!(v["oldest"][0]["arrival"], "2026-11-29T09:12:00Z");
    assert_eq!(v["oldest"][0]["sender"], "");
    assert!(
        v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["next_retry"].is_null())
    );
}

#[test]
fn human_summary_and_quiet_lines() {
    let out = queue(&[
        "--from",
        &fixture("exim-debian12.txt"),
        "--as-of",
        &as_of("exim"),
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let s = &out.stdout;
    assert!(s.starts_with("mxray queue  exim, file "), "{s}");
    assert!(
        s.contains("9 messages, 10 recipients (9 deferred, 1 frozen), "),
        "{s}"
    );
    assert!(s.contains("  earliest next retry 20"), "{s}");
    assert!(
        s.contains("Messages by age") && s.contains("Oldest messages"),
        "{s}"
    );
    assert!(s.contains("-> greylisted"), "{s}");
    assert!(s.contains("Next\n  mxray diagnose greylist.test"), "{s}");
    let q = queue(&["--from", &fixture("exim-debian12.txt"), "-q"]);
    let lines: Vec<&str> = q.stdout.lines().collect();
    assert!(
        lines[0].starts_with("messages 9, recipients 10, deferred 9,"),
        "{}",
        q.stdout
    );
    assert!(
        lines[1].contains("deferred 4.7.1  greylist.test   3 recipients, 3 messages"),
        "{}",
        q.stdout
    );
}

#[test]
fn bad_listings_are_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("queue.json");
    std::fs::write(&junk, b"\x89PNG\r\n\x1a\n\x00\x00 not a queue\n").expect("write");
    let out = queue(&["--from", junk.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("is not a queue listing: expected one of: Postfix's `postqueue -j`"),
        "{}",
        out.stderr
    );
    for f in ["exim -bp", "mailq"] {
        assert!(out.stderr.contains(f), "{}", out.stderr);
    }
    let out = queue(&["--from", junk.with_extension("missing").to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("cannot open --from"), "{}", out.stderr);
    // Forced to the wrong MTA: named, not misread.
    let out = queue(&[
        "--from",
        &fixture("postfix-debian12-mailq.txt"),
        "--mta",
        "sendmail",
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("a sendmail listing (this one is postfix's)"),
        "{}",
        out.stderr
    );
    let out = queue(&["--from", &fixture("exim-debian12.txt"), "--mta", "postfix"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = queue(&[
        "--from",
        &fixture("sendmail-mailq.txt"),
        "--as-of",
        "yesterday",
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn an_empty_queue_exits_0_and_stdin_is_read() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mxray"));
    cmd.args(["queue", "--from", "-"]).env("NO_COLOR", "1");
    let out = run(cmd, Some("Mail queue is empty\n"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("The queue is empty."), "{}", out.stdout);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mxray"));
    cmd.args(["queue", "--from", "-", "--json"]);
    let out = run(cmd, Some(""));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out);
    assert_eq!(v["totals"]["messages"], 0);
    assert_eq!(v["totals"]["oldest_age_s"], Value::Null);
}

/// A remote's reply with terminal escapes and a bidi override, and a sender with markup: the
/// terminal shows them escaped, JSON keeps them exact.
#[test]
fn hostile_queue_text_is_escaped() {
    let dump = "{\"queue_name\": \"deferred\", \"queue_id\": \"ABCDEF123\", \"arrival_time\": 1796000000, \"sender\": \"x\\u001b]52;c;aGk=\\u0007@evil.test\", \"recipients\": [{\"address\": \"a@evil.test\", \"delay_reason\": \"host mx[192.0.2.1] said: 451 4.7.1 \\u001b[2Jcleared \\u202etxt.exe (in reply to RCPT TO command)\"}]}\n";
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mxray"));
    cmd.args(["queue", "--from", "-", "-v"])
        .env("NO_COLOR", "1");
    let out = run(cmd, Some(dump));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        !out.stdout.contains('\u{1b}')
            && !out.stdout.contains('\u{202e}')
            && !out.stdout.contains('\u{7}'),
        "{:?}",
        out.stdout
    );
    assert!(out.stdout.contains("\\u{202e}"), "{}", out.stdout);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mxray"));
    cmd.args(["queue", "--from", "-", "--json"]);
    let v = json(&run(cmd, Some(dump)));
    assert!(
        v["groups"][0]["sample"]
            .as_str()
            .unwrap()
            .contains("\u{1b}[2J")
    );
}

/// A listing command that fails is the environment's (exit 3), with its words and a hint.
#[test]
fn a_failing_mta_command_is_exit_3() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exim = dir.path().join("exim4");
    std::fs::write(
        &exim,
        "#!/bin/sh\necho 'exim: permission denied' >&2\nexit 1\n",
    )
    .expect("write");
    chmod_x(&exim);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mxray"));
    cmd.args(["queue", "--mta", "exim"]).env(
        "PATH",
        format!(
            "{}:{}",
            dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    );
    let out = run(cmd, None);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("exim4 -bp failed (exit 1)"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("root or a member of the Exim group"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("exim: permission denied"),
        "{}",
        out.stderr
    );
}

fn chmod_x(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// The page opened in a real headless Chromium: the age chart renders, no script runs, and a
/// `<script>` in a remote's reply shows as text.
#[test]
fn html_page_renders_in_headless_chromium_and_runs_nothing() {
    require("chromium", "chromium", "the HTML page test");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = std::fs::read_to_string(fixture("postfix-debian12.json")).expect("fixture");
    text.push_str("{\"queue_name\": \"deferred\", \"queue_id\": \"EVIL1\", \"arrival_time\": 1796100000, \"sender\": \"<script>document.title='pwned'</script>\", \"recipients\": [{\"address\": \"x@evil.test\", \"delay_reason\": \"host mx.evil.test[192.0.2.1] said: 451 4.7.1 <img src=x onerror=\\\"document.title='img'\\\"> later (in reply to RCPT TO command)\"}]}\n");
    let listing = dir.path().join("queue.json");
    std::fs::write(&listing, text).expect("write");
    let page = dir.path().join("queue.html");
    let out = queue(&[
        "--from",
        listing.to_str().unwrap(),
        "--as-of",
        &as_of("postfix"),
        "--html",
        page.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let dom = Command::new("chromium")
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--dump-dom",
        ])
        .arg(format!("file://{}", page.display()))
        .stderr(Stdio::null())
        .output()
        .expect("run chromium");
    assert!(dom.status.success(), "chromium failed");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("<title>mxray queue: file "), "{dom}");
    assert!(
        !dom.contains("<title>pwned") && !dom.contains("<title>img"),
        "{dom}"
    );
    assert_eq!(dom.matches("<script").count(), 0, "no script element");
    assert_eq!(dom.matches("<img").count(), 0, "no image element");
    assert!(
        dom.contains("&lt;script&gt;document.title="),
        "the sender shows as text"
    );
    assert_eq!(dom.matches("<svg").count(), 1, "the age chart");
    assert!(dom.matches("<rect").count() >= 8, "a bar per age bucket");
    assert!(dom.contains("Recipients, grouped and explained") && dom.contains("greylist.test"));
    assert!(dom.contains("mxray diagnose greylist.test"));
}

// ---- Live queues: real MTAs in namespaces of their own. ----

/// The message every live submission sends.
fn message(n: u32) -> String {
    format!("From: sender@queue.test\nSubject: live queue test {n}\n\nhello\n")
}

/// The mail both live tests queue (the fixtures' mail, without the DNS and frozen cases).
const MAIL: &[&[&str]] = &[
    &["bob@greylist.test"],
    &["carol@ratelimit.test"],
    &["dave@refused.test"],
    &["carol@accept.test"],
    &["erin@busy.test"],
    &[
        "alice@accept.test",
        "heidi@greylist.test",
        "frank@refused.test",
    ],
    &["ivan@greylist.test"],
];

/// Debian's Postfix, as its own instance (own config, queue and data directories; no SMTP
/// listener), delivers to the lab and defers; `mxray queue --json` then reads it through
/// `postqueue -j` (found on PATH, pointed at the instance by MAIL_CONFIG, as Postfix does).
#[test]
fn live_postfix_queue_is_grouped_and_explained() {
    let user = "the live Postfix queue test";
    require_live(user);
    require("postfix", "postfix", user);
    let dir = open_dir();
    let d = dir.path();
    let conf = postfix_instance(d, &[]);
    let c = conf.to_str().expect("path");
    let ns = start_postfix(d, c);

    // Submitted locally (postdrop writes the maildrop; the instance in the namespace delivers).
    for (n, rcpts) in MAIL.iter().enumerate() {
        let mut cmd = Command::new("sendmail");
        cmd.args(["-C", c, "-f", "sender@queue.test"]).args(*rcpts);
        feed(cmd, &message(n as u32), "sendmail (package postfix)");
    }
    // Until each message was tried once: 7 messages, every recipient left with a reason.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = Command::new("postqueue")
            .args(["-c", c, "-j"])
            .output()
            .expect("postqueue");
        let text = String::from_utf8_lossy(&out.stdout);
        let msgs: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let settled = msgs.len() == MAIL.len()
            && msgs.iter().all(|m| {
                m["queue_name"] == "deferred"
                    && m["recipients"]
                        .as_array()
                        .is_some_and(|r| r.iter().all(|r| r["delay_reason"].is_string()))
            });
        if settled {
            break;
        }
        let log = std::fs::read_to_string(d.join("postfix.out")).unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "Postfix did not defer the mail in 30s:\n{text}\n{log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mxray"));
    cmd.args(["queue", "--json"])
        .env("MAIL_CONFIG", c)
        .env("NO_COLOR", "1");
    let out = run(cmd, None);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let v = json(&out);
    assert_eq!(
        (v["mta"].as_str(), v["source"].as_str()),
        (Some("postfix"), Some("postqueue -j"))
    );
    let t = &v["totals"];
    assert_eq!(
        (
            t["messages"].as_u64(),
            t["recipients"].as_u64(),
            t["deferred"].as_u64()
        ),
        (Some(7), Some(8), Some(8)),
        "{t:#}"
    );
    assert!(
        t["oldest_age_s"]
            .as_i64()
            .is_some_and(|a| (0..60).contains(&a)),
        "{t:#}"
    );
    assert_lab_groups(&v, "live postfix");
    assert_eq!(v["groups"].as_array().unwrap().len(), 5);

    drop(ns);
    let status = Command::new("postfix")
        .args(["-c", c, "status"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("postfix status");
    assert!(!status.success(), "the instance was stopped");
}

/// Where the Exim the live test runs lives: $MXRAY_EXIM_ROOT, else what .ci/test unpacked
/// (/opt/mxray-test/exim4: Exim and Postfix conflict as packages, so it is not installed), else
/// an installed one.
fn exim_root() -> PathBuf {
    let candidates: Vec<PathBuf> = std::env::var_os("MXRAY_EXIM_ROOT")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from("/opt/mxray-test/exim4"), PathBuf::from("/")])
        .collect();
    candidates
        .into_iter()
        .find(|r| r.join("usr/sbin/exim4").is_file() && r.join("usr/sbin/exim_dumpdb").is_file())
        .unwrap_or_else(|| {
            panic!(
                "the live Exim queue test needs Exim: bash .ci/test unpacks it into /opt/mxray-test/exim4 (apt-get download exim4-daemon-light exim4-base, dpkg -x each there, apt-get install their libraries), or set MXRAY_EXIM_ROOT to such a tree"
            )
        })
}

/// Debian's Exim, unpacked, run as root with `-C` on its own spool and no daemon (`-odi`
/// delivers in the foreground), its user existing only in the namespace; `mxray queue --json`
/// then reads it through `exim4 -bp`, `-Mvh`, `-Mvl` and `exim_dumpdb` (a wrapper on PATH
/// adds the `-C`, as a site with its own config path would).
#[test]
fn live_exim_queue_is_grouped_and_explained() {
    let user = "the live Exim queue test";
    require_live(user);
    let root = exim_root();
    let exim = root.join("usr/sbin/exim4");
    let dir = open_dir();
    let d = dir.path();
    for sub in ["spool", "log", "bin"] {
        std::fs::create_dir_all(d.join(sub)).expect("mkdir");
    }
    let conf = std::fs::read_to_string(fixture("exim.conf")).expect("exim.conf");
    let conf = conf
        .replace("@DIR@", &d.display().to_string())
        .replace("@EXIM@", &exim.display().to_string());
    std::fs::write(d.join("exim.conf"), conf).expect("exim.conf");
    // Exim looks its user up before reading any configuration: Debian-exim exists in the
    // namespace only, over /etc/passwd, with the uid of `mail`.
    let mut passwd = std::fs::read_to_string("/etc/passwd").expect("passwd");
    let mut group = std::fs::read_to_string("/etc/group").expect("group");
    passwd.push_str("Debian-exim:x:8:8:Exim test:/nonexistent:/usr/sbin/nologin\n");
    group.push_str("Debian-exim:x:8:\n");
    std::fs::write(d.join("passwd"), passwd).expect("passwd");
    std::fs::write(d.join("group"), group).expect("group");
    ok(
        Command::new("chown")
            .args(["-R", "8:8"])
            .arg(d.join("spool"))
            .arg(d.join("log")),
        "chown",
    );
    let wrapper = d.join("bin/exim4");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec {} -C {} \"$@\"\n",
            exim.display(),
            d.join("exim.conf").display()
        ),
    )
    .expect("wrapper");
    chmod_x(&wrapper);
    std::os::unix::fs::symlink(root.join("usr/sbin/exim_dumpdb"), d.join("bin/exim_dumpdb"))
        .expect("symlink");

    let prelude = format!(
        "mount --bind {0}/passwd /etc/passwd\nmount --bind {0}/group /etc/group",
        d.display()
    );
    let ns = Netns::start(d, &prelude, "");
    let w = wrapper.to_str().expect("path");
    for (n, rcpts) in MAIL.iter().enumerate() {
        let mut args = vec!["-odi", "-f", "sender@queue.test"];
        args.extend_from_slice(rcpts);
        feed(
            ns.command(w, &args),
            &message(n as u32),
            "exim -odi in the namespace",
        );
    }

    let path = format!(
        "{}:{}",
        d.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = ns.command(
        env!("CARGO_BIN_EXE_mxray"),
        &["queue", "--mta", "exim", "--json"],
    );
    cmd.env("PATH", path).env("NO_COLOR", "1");
    let out = run(cmd, None);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let v = json(&out);
    assert_eq!(
        (v["mta"].as_str(), v["source"].as_str()),
        (Some("exim"), Some("exim4 -bp"))
    );
    let t = &v["totals"];
    assert_eq!(
        (
            t["messages"].as_u64(),
            t["recipients"].as_u64(),
            t["deferred"].as_u64(),
            t["delivered"].as_u64()
        ),
        (Some(7), Some(8), Some(8), Some(1)),
        "{t:#}"
    );
    assert_lab_groups(&v, "live exim");
    // Exact arrivals (-Mvh) and next retries (the retry database), 15 minutes on.
    assert_eq!(v["oldest"][0]["arrival_exact"], true);
    assert_eq!(v["retry_times"], true);
    let arrival = v["oldest"][0]["arrival"].as_str().expect("arrival");
    let next = v["next_retry"].as_str().expect("next retry");
    assert!(next > arrival, "{next} after {arrival}");
    assert!(
        v["notes"].as_array().unwrap().is_empty(),
        "everything was readable: {:#}",
        v["notes"]
    );
}
