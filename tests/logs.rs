//! `mxray logs` end to end: real Postfix and Exim logs (tests/fixtures/logs, made by
//! scripts/make-log-fixtures.sh), hand-written shapes, gzip, stdin, rotation, filters, escaping.

use std::io::Write;
use std::path::PathBuf;

use crate::util::{Output, json, json_lines, mxray};

fn fixture(name: &str) -> String {
    let p: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "fixtures",
        "logs",
        name,
    ]
    .iter()
    .collect();
    p.display().to_string()
}

fn logs(args: &[&str]) -> Output {
    let mut all = vec!["logs", "--year", "2026"];
    all.extend_from_slice(args);
    mxray(&all, None)
}

fn group<'a>(v: &'a serde_json::Value, status: &str, domain: &str) -> &'a serde_json::Value {
    v["groups"]
        .as_array()
        .and_then(|g| {
            g.iter()
                .find(|g| g["status"] == status && g["domain"] == domain)
        })
        .unwrap_or_else(|| panic!("no {status} group for {domain} in {:#}", v["groups"]))
}

/// `data` compressed by gzip(1), as logrotate does it (every Debian system has it).
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = std::process::Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip (package gzip)");
    gz.stdin.take().unwrap().write_all(data).unwrap();
    gz.wait_with_output().unwrap().stdout
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mxray-logs-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn real_postfix_log_from_debian() {
    let out = logs(&[&fixture("postfix-debian12.log"), "--json"]);
    assert_eq!(out.code, 1, "deferrals were found: {}", out.stderr);
    let v = json(&out);
    let t = &v["totals"];
    assert_eq!(t["unparsed"], 0, "{}", out.stdout);
    assert_eq!(v["files"][0]["format"], "postfix");
    // Delivered: alice, grace, bob and heidi (after greylisting), root (SMTP and local pickup).
    assert!(t["delivered"].as_u64().unwrap() >= 5, "{t}");
    assert!(t["bounced"].as_u64().unwrap() >= 2, "{t}");
    assert!(t["expired"].as_u64().unwrap() >= 2, "{t}");
    assert!(t["rejected"].as_u64().unwrap() >= 2, "{t}");
    assert!(t["deferrals"].as_u64().unwrap() > t["deferred_messages"].as_u64().unwrap());

    let refused = group(&v, "deferred", "refused.test");
    assert_eq!(refused["dsn"], "4.4.1");
    assert_eq!(
        refused["template"],
        "connect to <ip>[<ip>]:<n>: Connection refused"
    );
    assert_eq!(refused["messages"], 1);
    assert!(refused["count"].as_u64().unwrap() >= 3);
    assert_eq!(refused["explanation"]["situation"], "no_answer");
    assert_eq!(refused["next_command"], "mxray diagnose refused.test");

    let limited = group(&v, "deferred", "ratelimit.test");
    assert_eq!(limited["dsn"], "4.7.0");
    let tpl = limited["template"].as_str().unwrap();
    assert!(
        tpl.contains(
            "said: 421 4.7.0 [<ip> <n>] Our system has detected an unusual rate of unsolicited mail"
        ),
        "continuation markers are joined: {tpl}"
    );
    assert!(!tpl.contains("421-"), "{tpl}");
    assert_eq!(limited["explanation"]["category"], "rate_limiting");

    let grey = group(&v, "deferred", "greylist.test");
    assert_eq!(grey["dsn"], "4.2.0");
    assert_eq!(grey["messages"], 2);
    assert!(group(&v, "deferred", "nosuch.invalid")["dsn"].is_string());
    assert_eq!(group(&v, "bounced", "accept.test")["dsn"], "5.1.1");

    // bob and heidi were delivered after two greylisting deferrals each.
    assert!(v["retries"]["delivered_after_deferral"].as_u64().unwrap() >= 2);
    assert!(v["retries"]["expired"].as_u64().unwrap() >= 2);
    assert!(v["timeline"].as_array().is_some_and(|t| !t.is_empty()));
}

#[test]
fn real_exim_log_from_debian() {
    let out = logs(&[&fixture("exim-debian12.log"), "--json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let v = json(&out);
    let t = &v["totals"];
    assert_eq!(t["unparsed"], 0, "{}", out.stdout);
    assert_eq!(v["files"][0]["format"], "exim");
    assert!(t["delivered"].as_u64().unwrap() >= 4, "{t}");
    assert!(t["bounced"].as_u64().unwrap() >= 2, "{t}");
    assert!(t["rejected"].as_u64().unwrap() >= 1, "{t}");
    assert!(
        t["not_attempted"].as_u64().unwrap() >= 1,
        "retry time not reached: {t}"
    );
    let refused = group(&v, "deferred", "refused.test");
    assert_eq!(refused["dsn"], "4.4.1");
    assert_eq!(group(&v, "deferred", "greylist.test")["dsn"], "4.2.0");
    assert_eq!(group(&v, "deferred", "ratelimit.test")["dsn"], "4.7.0");
    assert_eq!(group(&v, "bounced", "accept.test")["dsn"], "5.1.1");
}

#[test]
fn handwritten_postfix_shapes() {
    let out = logs(&[&fixture("postfix-handwritten.log"), "--json"]);
    assert_eq!(out.code, 1);
    let v = json(&out);
    let t = &v["totals"];
    assert_eq!(t["lines"], 28);
    assert_eq!(t["unparsed"], 1);
    assert_eq!(t["received"], 2);
    assert_eq!(t["delivered"], 6);
    assert_eq!(t["deferred_messages"], 3);
    assert_eq!(t["deferrals"], 4);
    assert_eq!(t["bounced"], 1);
    assert_eq!(t["expired"], 1);
    assert_eq!(t["rejected"], 2);
    assert_eq!(t["pending"], 1);
    // RFC 3339 stamps with offsets become UTC.
    assert_eq!(v["first_seen"], "2026-11-20T08:59:58Z");
    let gmail = group(&v, "deferred", "gmail.com");
    assert_eq!(gmail["dsn"], "4.7.28");
    assert_eq!(gmail["relay"], "gmail-smtp-in.l.google.com");
    assert_eq!(gmail["explanation"]["situation"], "rate_limited");
    // The expired message was 5 days old: its age comes from `delay=`.
    assert_eq!(v["retries"]["time_to_expiry"]["max_secs"], 432_001);
    assert_eq!(v["retries"]["time_to_delivery"]["max_secs"], 1805);
}

#[test]
fn exim_497_ids_zone_and_retry_time_not_reached() {
    let out = logs(&[&fixture("exim-497.log"), "--json"]);
    let v = json(&out);
    let t = &v["totals"];
    assert_eq!(t["unparsed"], 0);
    assert_eq!(
        t["deferrals"], 1,
        "retry time not reached is not an attempt"
    );
    assert_eq!(t["not_attempted"], 2);
    // A message held back only by its host's retry time was still deferred (as eximstats
    // counts it); ann's message, deferred and then skipped, counts once.
    assert_eq!(t["deferred_messages"], 2);
    assert_eq!(t["delivered"], 2);
    assert_eq!(v["first_seen"], "2026-11-21T07:00:00Z");
    assert_eq!(group(&v, "deferred", "gmail.com")["dsn"], "4.2.1");
    assert_eq!(group(&v, "bounced", "nonexistent.example")["dsn"], "5.4.4");
    // A null MX bounce carries RFC 7505's code; an expiry's code and explanation agree.
    assert_eq!(group(&v, "bounced", "nullmx.example")["dsn"], "5.1.10");
    let expired = group(&v, "bounced", "slow.example");
    assert_eq!(expired["dsn"], "5.4.7");
    assert_eq!(
        expired["explanation"]["enhanced_code"], "5.4.7",
        "{expired:#}"
    );
    let text = expired["explanation"].to_string();
    assert!(
        text.contains("5.4.7") && !text.contains("(4.4.7)"),
        "{text}"
    );
    assert_eq!(v["retries"]["delivered_after_deferral"], 1);
}

#[test]
fn sendmail_across_the_new_year() {
    let out = mxray(
        &["logs", "--year", "2025", &fixture("sendmail.log"), "--json"],
        None,
    );
    let v = json(&out);
    let t = &v["totals"];
    assert_eq!(v["files"][0]["format"], "sendmail");
    assert_eq!(t["unparsed"], 0);
    assert_eq!(t["deferrals"], 3, "two recipients on one line count twice");
    assert_eq!(t["delivered"], 2);
    assert_eq!(t["bounced"], 1);
    assert_eq!(t["rejected"], 1);
    assert_eq!(v["first_seen"], "2025-12-31T23:59:50");
    assert_eq!(v["last_seen"], "2026-01-01T00:31:31");
    assert_eq!(group(&v, "deferred", "example.org")["count"], 2);
}

#[test]
fn rotated_files_in_any_order_with_gzip() {
    let whole = std::fs::read_to_string(fixture("postfix-handwritten.log")).unwrap();
    let lines: Vec<&str> = whole.lines().collect();
    let dir = temp_dir("rotated");
    let old = dir.join("mail.log.1.gz");
    let new = dir.join("mail.log");
    std::fs::write(&old, gzip((lines[..12].join("\n") + "\n").as_bytes())).unwrap();
    std::fs::write(&new, lines[12..].join("\n") + "\n").unwrap();
    // Newest first on the command line: merged by time all the same.
    let split = logs(&[new.to_str().unwrap(), old.to_str().unwrap(), "--json"]);
    let one = logs(&[&fixture("postfix-handwritten.log"), "--json"]);
    let (a, b) = (json(&split), json(&one));
    assert_eq!(a["totals"], b["totals"]);
    assert_eq!(a["groups"], b["groups"]);
    assert_eq!(a["files"][0]["gzip"], true);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reads_stdin() {
    let text = std::fs::read_to_string(fixture("exim-497.log")).unwrap();
    let a = mxray(&["logs", "-", "--json"], Some(&text));
    let b = mxray(&["logs", "--json"], Some(&text));
    assert_eq!(json(&a)["totals"], json(&b)["totals"]);
    assert_eq!(json(&a)["totals"]["delivered"], 2);
    assert_eq!(json(&a)["files"][0]["name"], "-");
}

#[test]
fn events_are_json_lines_one_per_attempt() {
    let out = logs(&[&fixture("postfix-handwritten.log"), "--events"]);
    assert_eq!(out.code, 1);
    let recs: Vec<serde_json::Value> = json_lines(&out);
    assert_eq!(recs.len(), out.stdout.lines().count(), "{}", out.stdout);
    // 6 sent, 4 deferred, 1 bounced.
    assert_eq!(recs.len(), 11);
    let ann: Vec<&serde_json::Value> = recs.iter().filter(|r| r["to"] == "ann@gmail.com").collect();
    assert_eq!(ann.len(), 2);
    assert_eq!(ann[0]["status"], "deferred");
    assert_eq!(ann[1]["status"], "sent");
    assert_eq!(ann[1]["attempt"], 2);
    assert_eq!(ann[1]["message_id"], "order-1@example.net");
    assert_eq!(ann[1]["from"], "shop@example.net");
    assert_eq!(ann[1]["orig_to"], "ann@alias.example.net");
    assert_eq!(ann[1]["tls"], "TLSv1.3");
    assert_eq!(ann[1]["conn_use"], 1);
    assert_eq!(ann[1]["relay_ip"], "142.250.102.26");
}

#[test]
fn since_until_and_domain_filters() {
    let out = logs(&[
        &fixture("postfix-handwritten.log"),
        "--json",
        "--domain",
        "gmail.com",
    ]);
    let v = json(&out);
    assert_eq!(v["totals"]["deferrals"], 1);
    assert_eq!(v["groups"].as_array().unwrap().len(), 1);
    let out = logs(&[
        &fixture("postfix-handwritten.log"),
        "--json",
        "--since",
        "2026-11-20T09:30:00Z",
    ]);
    let v = json(&out);
    assert_eq!(v["totals"]["out_of_range"], 6);
    assert_eq!(v["totals"]["deferrals"], 2);
    let out = logs(&[
        &fixture("postfix-handwritten.log"),
        "--until",
        "2026-11-20T08:00:00Z",
    ]);
    assert_eq!(out.code, 0, "nothing failing before the log starts");
    let out = logs(&[
        &fixture("postfix-handwritten.log"),
        "--since",
        "last tuesday",
    ]);
    assert_eq!(out.code, 2);
}

#[test]
fn hostile_text_is_escaped_on_the_terminal_but_exact_in_json() {
    let out = logs(&[&fixture("postfix-handwritten.log"), "-v", "--top", "20"]);
    assert!(!out.stdout.contains('\x1b'), "raw escape in output");
    assert!(
        !out.stdout.contains('\u{202e}'),
        "raw bidi override in output"
    );
    assert!(out.stdout.contains("\\x1b[<n>J"), "{}", out.stdout);
    assert!(out.stdout.contains("\\u{202e}"));
    let out = logs(&[&fixture("postfix-handwritten.log"), "--json"]);
    assert!(
        out.stdout.contains("\\u001b[2J"),
        "JSON keeps the exact bytes"
    );
}

#[test]
fn human_summary_and_verbose_unparsed_lines() {
    let out = logs(&[&fixture("postfix-handwritten.log")]);
    assert_eq!(out.code, 1);
    for want in [
        "Totals",
        "Deferrals and bounces by code x domain x relay",
        "4.7.28",
        "rate_limited",
        "Destination domains by deferral rate",
        "Deferrals per hour",
        "Retries",
        "Still deferred at the end of the log",
        "mxray diagnose gmail.com",
    ] {
        assert!(
            out.stdout.contains(want),
            "missing {want:?} in\n{}",
            out.stdout
        );
    }
    assert!(
        out.stderr.contains("1 line matched no known shape"),
        "{}",
        out.stderr
    );
    let out = logs(&[&fixture("postfix-handwritten.log"), "-v"]);
    assert!(
        out.stderr.contains("unparsed") && out.stderr.contains(":28: 2026-11-20T10:36:00+01:00"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_inputs_exit_2() {
    let out = logs(&["/nonexistent/mail.log"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("cannot open"));
    let dir = temp_dir("badgz");
    let bad = dir.join("mail.log.2.gz");
    std::fs::write(&bad, b"\x1f\x8bnot really gzip").unwrap();
    let out = logs(&[bad.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let _ = std::fs::remove_dir_all(&dir);
    let out = logs(&["--domain", "not a domain"]);
    assert_eq!(out.code, 2);
}

/// One truncated .gz among several inputs: the others are reported, the broken one is named
/// with where it stopped, and the run exits 1 with a note instead of 2 with nothing.
#[test]
fn a_truncated_gz_among_inputs_is_named_not_fatal() {
    let whole = std::fs::read_to_string(fixture("postfix-handwritten.log")).unwrap();
    let dir = temp_dir("truncgz");
    let bytes = gzip(whole.repeat(200).as_bytes());
    let cut = dir.join("mail.log.2.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let good = fixture("postfix-handwritten.log");
    let out = logs(&[&good, cut.to_str().unwrap(), "--json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let v = json(&out);
    let files = v["files"].as_array().expect("files");
    assert_eq!(files.len(), 2);
    let broken = files.iter().find(|f| f["gzip"] == true).expect("the .gz");
    let why = broken["error"].as_str().unwrap_or_default();
    assert!(why.contains("stopped after"), "{why}");
    assert!(
        broken["lines"].as_u64().unwrap_or(0) > 0,
        "lines before the cut count"
    );
    assert!(out.stderr.contains("mail.log.2.gz"), "{}", out.stderr);
    let whole_good = json(&logs(&[&good, "--json"]));
    assert!(v["totals"]["lines"].as_u64() > whole_good["totals"]["lines"].as_u64());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn clean_or_foreign_input_exits_0() {
    let out = mxray(
        &["logs", "--json"],
        Some("Nov 20 10:00:00 mail dovecot[1]: imap-login: Login\nrandom words\n"),
    );
    assert_eq!(out.code, 0);
    let v = json(&out);
    assert_eq!(v["totals"]["other"], 1);
    assert_eq!(v["totals"]["unparsed"], 1);
    assert_eq!(v["groups"].as_array().map(Vec::len), Some(0));
}

#[test]
fn format_flag_restricts_the_parser() {
    let out = logs(&[&fixture("exim-497.log"), "--format", "postfix", "--json"]);
    let v = json(&out);
    assert_eq!(v["totals"]["deferrals"], 0);
    assert_eq!(
        v["totals"]["other"], 18,
        "every line of the Exim log is another program's"
    );
}

#[test]
fn one_thread_and_two_agree() {
    let a = logs(&[&fixture("postfix-debian12.log"), "--json", "--threads", "1"]);
    let b = logs(&[&fixture("postfix-debian12.log"), "--json", "--threads", "2"]);
    assert_eq!(json(&a)["totals"], json(&b)["totals"]);
    assert_eq!(json(&a)["groups"], json(&b)["groups"]);
}

/// A directory where a file is expected is bad input (exit 2, "is a directory") for every verb
/// that reads one, not an environment failure with a hint about gzip.
#[test]
fn a_directory_as_input_is_bad_input() {
    let dir = temp_dir("dir-input");
    let d = dir.to_str().unwrap();
    for args in [
        vec!["logs", d],
        vec!["diagnose", "--input", d],
        vec!["verify", "--input", d],
    ] {
        let out = mxray(&args, None);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("is a directory"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("gz"), "{args:?}: {}", out.stderr);
    }
    // explain reading a directory on standard input.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mxray"));
    cmd.arg("explain").stdin(std::fs::File::open(&dir).unwrap());
    let out = cmd.output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a directory"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// --domain filters everything it counts, expiries included (a message expiring towards
/// another domain is not a failure for gmail.com), and --since after --until is refused.
#[test]
fn domain_filter_covers_expiries_and_ranges_are_checked() {
    let log = "Nov 20 10:00:01 mail postfix/smtp[3]: 4AB12C3D4E: to=<a@example.org>, relay=none, delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to mx.example.org[192.0.2.1]:25: Connection refused)\n\
Nov 25 10:00:01 mail postfix/qmgr[2]: 4AB12C3D4E: from=<s@example.net>, status=expired, returned to sender\n";
    let all = mxray(&["logs", "--json", "--year", "2026"], Some(log));
    assert_eq!(json(&all)["totals"]["expired"], 1, "{}", all.stdout);
    let gmail = mxray(
        &["logs", "--json", "--year", "2026", "--domain", "gmail.com"],
        Some(log),
    );
    assert_eq!(json(&gmail)["totals"]["expired"], 0, "{}", gmail.stdout);
    assert_eq!(gmail.code, 0, "nothing failing towards gmail.com");
    let out = mxray(
        &["logs", "--since", "2026-11-21", "--until", "2026-11-20"],
        Some(log),
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("--since is after --until"),
        "{}",
        out.stderr
    );
}

/// A file whose MTA lines all fall outside --since/--until says so, not "no MTA lines".
#[test]
fn a_file_out_of_range_says_so() {
    let out = logs(&[&fixture("postfix-handwritten.log"), "--since", "2030-01-01"]);
    assert!(out.stdout.contains("none in range ("), "{}", out.stdout);
    assert!(
        out.stdout.contains("outside --since/--until)"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("no MTA lines"), "{}", out.stdout);
    let v = json(&logs(&[
        &fixture("postfix-handwritten.log"),
        "--since",
        "2030-01-01",
        "--json",
    ]));
    assert!(
        v["files"][0]["out_of_range"].as_u64().unwrap_or(0) > 0,
        "{v}"
    );
}

/// -q: the totals on one line and one line per group, counts in the right number.
#[test]
fn quiet_is_one_line_of_totals_and_one_per_group() {
    let out = logs(&[&fixture("postfix-debian12.log"), "-q"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("received 11, delivered 7,"),
        "{}",
        out.stdout
    );
    assert_eq!(lines.len(), 1 + 7, "{}", out.stdout);
    assert!(
        lines[1..].iter().all(|l| l.contains(" via ")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("1 event, 1 message,"), "{}", out.stdout);
    assert!(!out.stdout.contains("1 events"), "{}", out.stdout);
}

/// The HTML report opened in a real headless Chromium: it renders its three charts, no script
/// runs, and a `<script>` written into a log line shows as text.
#[test]
fn html_report_renders_in_headless_chromium_and_runs_nothing() {
    crate::util::require("chromium", "chromium", "the HTML report test");
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("mail.log");
    let mut text = std::fs::read_to_string(fixture("postfix-debian12.log")).expect("fixture");
    text.push_str("Nov 24 07:00:01 mail postfix/smtp[3]: 9ZZ12C3D4E: to=<x@evil.test>, relay=mx.evil.test[192.0.2.1]:25, delay=1, delays=0/0/0.5/0.5, dsn=4.7.1, status=deferred (host mx.evil.test[192.0.2.1] said: 451 4.7.1 <script>document.title='pwned'</script><img src=x onerror=\"document.title='img'\"> later (in reply to RCPT TO command))\n");
    std::fs::write(&log, text).expect("write log");
    let page = dir.path().join("report.html");
    let out = logs(&[
        log.to_str().expect("path"),
        "--html",
        page.to_str().expect("path"),
        "-q",
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let url = format!("file://{}", page.display());
    let chromium = |extra: &[&str]| {
        let mut c = std::process::Command::new("chromium");
        c.args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .args(extra)
        .arg(&url)
        .stderr(std::process::Stdio::null());
        c.output().expect("run chromium")
    };
    let dom = chromium(&["--dump-dom"]);
    assert!(dom.status.success(), "chromium failed");
    let dom = String::from_utf8_lossy(&dom.stdout);
    // The title is the page's own: neither injected script nor handler ran.
    assert!(dom.contains("<title>mxray logs: "), "{dom}");
    assert!(!dom.contains("pwned") || dom.contains("&lt;script&gt;document.title='pwned'"));
    assert!(
        !dom.contains("<title>pwned") && !dom.contains("<title>img"),
        "{dom}"
    );
    assert_eq!(dom.matches("<script").count(), 0, "no script element");
    assert_eq!(dom.matches("<img").count(), 0, "no image element");
    assert!(
        dom.contains("&lt;script&gt;document.title="),
        "the line shows as text"
    );
    // Rendered: the three charts with their bars, the groups explained.
    assert_eq!(dom.matches("<svg").count(), 3, "three charts");
    assert!(dom.matches("<rect").count() > 10);
    assert!(dom.contains("Deferrals per hour, by code") && dom.contains("greylist.test"));
    let shot = dir.path().join("shot.png");
    let out = chromium(&[
        "--window-size=1200,1800",
        &format!("--screenshot={}", shot.display()),
    ]);
    assert!(out.status.success());
    let png = std::fs::read(&shot).expect("screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
}
