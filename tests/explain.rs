//! `mxray explain` end to end: input forms, human and JSON output, stdin, exit codes, escaping.

use std::process::Command;

use crate::util::{json, json_lines, mxray, run};

#[test]
fn explains_the_guides_reply_for_humans() {
    let out = mxray(
        &[
            "explain",
            "421 4.4.0 The server's transport agent was unable to",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("421 4.4.0"));
    assert!(out.stdout.contains("Network and Routing Status"));
    assert!(out.stdout.contains("transient"));
    assert!(out.stdout.contains("Next steps"));
    assert!(out.stdout.contains("dig MX"));
    assert!(
        !out.stdout.contains('\x1b'),
        "NO_COLOR must turn colour off"
    );
}

#[test]
fn json_carries_the_contract_fields() {
    let out = mxray(&["explain", "4.4.2", "--json"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out);
    for key in [
        "reply_code",
        "enhanced_code",
        "class",
        "retry",
        "subject",
        "detail",
        "category",
        "side",
        "meaning",
        "causes",
        "next_steps",
        "text",
        "known",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert_eq!(v["enhanced_code"], "4.4.2");
    assert_eq!(v["class"], "transient");
    assert_eq!(v["retry"], true);
    assert_eq!(v["subject"], "Network and Routing Status");
    assert_eq!(v["detail"], "Bad connection");
    assert_eq!(v["category"], "connection_dropped");
    assert_eq!(v["known"], true);
    assert!(v["reply_code"].is_null());
    assert!(v["causes"].as_array().is_some_and(|c| !c.is_empty()));
}

#[test]
fn reads_a_postfix_line_from_stdin() {
    let line = "status=deferred (host mx1.example.com[192.0.2.1] said: 421-4.7.0 [1.2.3.4 15] Our system has detected an unusual rate of 421-4.7.0 unsolicited mail (in reply to RCPT TO command))";
    let out = mxray(&["explain", "--json"], Some(line));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out);
    assert_eq!(v["reply_code"], 421);
    assert_eq!(v["enhanced_code"], "4.7.0");
    assert_eq!(v["category"], "rate_limiting");
    assert_eq!(v["side"], "sender");
    assert_eq!(
        v["text"],
        "[1.2.3.4 15] Our system has detected an unusual rate of unsolicited mail"
    );
    assert_eq!(v["source"]["stage"], "RCPT TO");
    // `-` also means stdin.
    let out = mxray(&["explain", "-"], Some("421 4.4.3 Routing server failure"));
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("4.4.3"));
}

#[test]
fn several_log_lines_give_json_lines_and_notes_for_the_rest() {
    let input = "421 4.4.2 Connection closed by the server\nthis line has no reply\n550 5.1.1 User unknown\n";
    let out = mxray(&["explain", "--json"], Some(input));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<serde_json::Value> = json_lines(&out);
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert_eq!(lines[1]["class"], "permanent");
    assert_eq!(lines[1]["retry"], false);
    assert!(out.stderr.contains("line 2"), "{}", out.stderr);
}

#[test]
fn disagreeing_codes_are_reported_and_basic_code_decides() {
    let out = mxray(&["explain", "--json", "421 5.7.1 Access denied"], None);
    let v = json(&out);
    assert_eq!(v["class"], "transient");
    assert_eq!(v["retry"], true);
    assert!(v["notes"].to_string().contains("disagree"));
}

#[test]
fn unknown_well_formed_codes_are_marked_not_known() {
    let out = mxray(&["explain", "--json", "4.4.99"], None);
    assert_eq!(out.code, 0);
    let v = json(&out);
    assert_eq!(v["known"], false);
    assert_eq!(v["subject"], "Network and Routing Status");
}

#[test]
fn malformed_input_exits_2_and_says_what_was_expected() {
    for bad in [
        &["explain", "6.1.1"][..],
        &["explain", "hello there"],
        &["explain", "699 nope"],
    ] {
        let out = mxray(bad, None);
        assert_eq!(out.code, 2, "{bad:?}: {}", out.stdout);
        assert!(out.stderr.contains("expected"), "{}", out.stderr);
        assert!(out.stdout.is_empty());
    }
    let out = mxray(&["explain"], Some(""));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("empty input"));
    let out = mxray(&["explain", "--bogus-flag", "421"], None);
    assert_eq!(out.code, 2, "clap usage errors exit 2");
}

#[test]
fn hostile_text_is_escaped_for_terminals_but_kept_in_json() {
    let reply = "421 4.7.0 evil \x1b[2J\x1b[31mred\u{202e}txet";
    let out = mxray(&["explain", reply], None);
    assert_eq!(out.code, 0);
    assert!(!out.stdout.contains('\x1b'));
    assert!(out.stdout.contains("\\x1b[2J"));
    assert!(out.stdout.contains("\\u{202e}"));
    let out = mxray(&["explain", "--json", reply], None);
    let v = json(&out);
    assert_eq!(v["text"], "evil \x1b[2J\x1b[31mred\u{202e}txet");
}

#[test]
fn colour_follows_the_flag_and_no_color() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mxray"));
    cmd.args(["explain", "--color", "always", "421"])
        .env_remove("NO_COLOR");
    let out = run(cmd, None);
    assert!(out.stdout.contains('\x1b'), "--color always paints");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mxray"));
    cmd.args(["explain", "421"]).env_remove("NO_COLOR");
    let out = run(cmd, None);
    assert!(
        !out.stdout.contains('\x1b'),
        "auto: a pipe is not a terminal"
    );
}

#[test]
fn help_and_version() {
    let out = mxray(&["--help"], None);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("Exit codes"));
    assert!(out.stdout.contains("--resolver"));
    let out = mxray(&["explain", "--help"], None);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("Examples"));
    let out = mxray(&["--version"], None);
    assert!(out.stdout.starts_with("mxray "));
}

/// `explain --json` has one shape: JSON Lines, one explanation per reply, whether the input
/// held one reply or several.
#[test]
fn json_is_always_json_lines() {
    let one = mxray(&["explain", "421 4.4.2 Connection closed", "--json"], None);
    let two = mxray(
        &["explain", "--json"],
        Some("421 4.4.2 Connection closed\n550 5.1.1 User unknown\n"),
    );
    for (out, n) in [(one, 1), (two, 2)] {
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(out.stdout.lines().count(), n, "{}", out.stdout);
        let lines = json_lines(&out);
        assert_eq!(lines.len(), n, "one JSON document per line: {}", out.stdout);
        for v in lines {
            assert!(v["situation"].is_string());
        }
    }
}

/// The README's explain sample is real output, kept so by this test.
#[test]
fn the_readme_sample_is_real_output() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let cmd = "$ mxray explain \"421 4.4.0 The server's transport agent was unable to\"\n";
    let start = readme.find(cmd).expect("the sample in the README") + cmd.len();
    let end = start + readme[start..].find("```").expect("end of the sample");
    let out = mxray(
        &[
            "explain",
            "421 4.4.0 The server's transport agent was unable to",
            "--color",
            "never",
        ],
        None,
    );
    assert_eq!(out.stdout, &readme[start..end]);
}

/// -q: one line per reply (codes, class, category, side, domain), for many log lines at once.
#[test]
fn quiet_is_one_line_per_reply() {
    let input = "Nov 24 06:48:01 mx postfix/smtp[1]: 4F1A: to=<a@greylist.test>, relay=mx.greylist.test[127.0.0.2]:25, delay=1, delays=0/0/0/1, dsn=4.2.0, status=deferred (host mx.greylist.test[127.0.0.2] said: 450 4.2.0 Greylisted, try again later (in reply to RCPT TO command))\n\
421 4.4.2 Connection closed by the server\n";
    let out = mxray(&["explain", "-q"], Some(input));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert!(
        lines[0].starts_with("450 4.2.0  transient  greylisting")
            && lines[0].ends_with("for greylist.test"),
        "{}",
        out.stdout
    );
    assert!(
        lines[1].starts_with("421 4.4.2  transient"),
        "{}",
        out.stdout
    );
}

/// A whole bounce on stdin: walked as MIME, the vague `Status: 5.0.0` gives way to the
/// specific reply in the text part, the version string in the returned headers is never read
/// as a code, and the original message is named.
const BOUNCE: &str = "Return-Path: <>\nFrom: MAILER-DAEMON@mx.example.org\nTo: sender@example.org\nSubject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\n<alice@example.com>: host mx.example.com[192.0.2.1] said: 550 5.7.26 Unauthenticated email from example.org is not accepted (in reply to end of DATA command)\n\n--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\nFinal-Recipient: rfc822; alice@example.com\nAction: failed\nStatus: 5.0.0\nRemote-MTA: dns; mx.example.com\n\n--B\nContent-Type: text/rfc822-headers\n\nFrom: sender@example.org\nTo: alice@example.com\nSubject: hello\nX-Mailer: Apple Mail (2.753.1)\nMessage-ID: <m1@example.org>\n\n--B--\n";

#[test]
fn a_whole_bounce_on_stdin_is_explained_per_recipient() {
    let out = mxray(&["explain", "--json"], Some(BOUNCE));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json_lines(&out);
    assert_eq!(v.len(), 1, "{}", out.stdout);
    let x = &v[0];
    assert_eq!(x["recipient"], "alice@example.com");
    assert_eq!(x["reply_code"], 550);
    assert_eq!(x["enhanced_code"], "5.7.26");
    assert_eq!(x["class"], "permanent");
    assert_eq!(x["reason"], "authfailure");
    assert_eq!(x["action"], "failed");
    assert_eq!(x["remote_mta"], "mx.example.com");
    assert_eq!(x["original"]["message_id"], "m1@example.org");
    assert_eq!(x["original"]["subject"], "hello");
    assert!(
        x["decided_by_line"]
            .as_str()
            .is_some_and(|l| l.contains("5.7.26")),
        "{x}"
    );
    // For a human: the recipient, the reason and the original's subject.
    let out = mxray(&["explain"], Some(BOUNCE));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("to alice@example.com"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("authfailure"), "{}", out.stdout);
}

/// An mbox of two bounces (one Exim prose bounce without any code, one auto-reply), read from
/// a file; a maildir of the same; garbage and empty directories are refused with a reason.
#[test]
fn mbox_and_maildir_are_read_message_by_message() {
    let exim = "Return-path: <>\nX-Failed-Recipients: kijitora@example.com\nAuto-Submitted: auto-replied\nFrom: Mail Delivery System <Mailer-Daemon@mail.example.net>\nTo: shironeko@mail.example.net\nSubject: Mail delivery failed: returning message to sender\n\nThis message was created automatically by mail delivery software.\n\nA message that you sent could not be delivered to one or more of its\nrecipients. This is a permanent error. The following address(es) failed:\n\n  kijitora@example.com\n    retry timeout exceeded\n\n------ This is a copy of the message, including all the headers. ------\n\nX-Mailman-Version: 2.0.8\nSubject: Nyaan\n\nNyaan\n";
    let vacation = "From: bob@example.com\nTo: sender@example.org\nSubject: Out of office\nAuto-Submitted: auto-replied\n\nI am away until Monday.\n";
    let dir = tempfile::tempdir().expect("tempdir");
    let mbox = dir.path().join("bounces.mbox");
    std::fs::write(
        &mbox,
        format!("From MAILER-DAEMON Mon Dec  1 10:00:00 2025\n{exim}\nFrom bob@example.com Mon Dec  1 10:00:01 2025\n{vacation}"),
    )
    .expect("mbox");
    let out = mxray(&["explain", "--json", &mbox.display().to_string()], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json_lines(&out);
    assert_eq!(v.len(), 2, "{}", out.stdout);
    assert_eq!(v[0]["recipient"], "kijitora@example.com");
    assert_eq!(v[0]["reason"], "expired");
    // The queue gave up on a temporary failure: 4.4.7, worth sending again later.
    assert_eq!(v[0]["class"], "transient");
    assert_eq!(v[0]["enhanced_code"], "4.4.7");
    assert_eq!(
        v[0]["reply_code"],
        serde_json::Value::Null,
        "no code invented"
    );
    assert!(
        v[0]["notes"].to_string().contains("inferred"),
        "an inferred code says so: {}",
        v[0]
    );
    assert_eq!(v[1]["kind"], "vacation");
    assert_eq!(v[1]["reason"], "vacation");
    assert_eq!(v[1]["reply_code"], serde_json::Value::Null);

    let maildir = dir.path().join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).expect("maildir");
    }
    std::fs::write(maildir.join("cur/1.eml"), exim).expect("message");
    std::fs::write(maildir.join("new/2.eml"), BOUNCE).expect("message");
    let out = mxray(&["explain", "-q", &maildir.display().to_string()], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.lines().count(), 2, "{}", out.stdout);
    assert!(
        out.stdout.contains("kijitora@example.com  expired"),
        "{}",
        out.stdout
    );

    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).expect("dir");
    let out = mxray(&["explain", &empty.display().to_string()], None);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("no bounce message"), "{}", out.stderr);
}
