//! `mxray serve` end to end: the real binary as a server process on a free loopback port, in
//! front of a lab world, asked over real sockets; keys made with `mxray serve keys`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::util::{TestLab, conforms, mxray};

const WORLD: &str = r#"
[lab]
name = "serve"
description = "Targets for the HTTP API"

[[domains]]
name = "fine.test"
mx = ["10 mx.fine.test"]
txt = ["v=spf1 mx -all"]

[[hosts]]
name = "mx.fine.test"
address = "127.0.7.1"
mailboxes = ["alice", "postmaster"]

[[domains]]
name = "grey.test"
mx = ["10 mx.grey.test"]

[[hosts]]
name = "mx.grey.test"
address = "127.0.7.2"
mailboxes = ["alice"]
greylist = { delay = "30s", reply = "450 4.2.0 Greylisted, please try again later" }

[[domains]]
name = "slow.test"
mx = ["10 mx.slow.test"]

[[hosts]]
name = "mx.slow.test"
address = "127.0.7.3"
catch_all = true
tarpit = { banner_delay = "2s" }

[[domains]]
name = "bulk.test"
mx = ["10 mx.bulk.test"]

[[hosts]]
name = "mx.bulk.test"
address = "127.0.7.4"
catch_all = true
tarpit = { reply_delay = "100ms" }
"#;

/// A running `mxray serve`, stopped (SIGTERM) when dropped.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    data: Option<tempfile::TempDir>,
    pub(crate) key: String,
}

impl Server {
    fn data_dir(&self) -> String {
        let dir = self.data.as_ref().expect("data directory");
        dir.path().to_str().expect("utf-8 path").to_string()
    }

    /// kill -9: no chance to save anything; the data directory is handed back for a restart.
    fn kill_hard(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.data.take().expect("data directory")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Starts a server for `lab` with a fresh key; `extra` flags after the lab's.
pub(crate) fn start(lab: &TestLab, extra: &[&str]) -> Server {
    start_in(lab, tempfile::tempdir().expect("tempdir"), None, extra)
}

/// Starts a server on the data directory `data` (a restart when it was used before), with
/// `key` or a fresh one.
fn start_in(lab: &TestLab, data: tempfile::TempDir, key: Option<String>, extra: &[&str]) -> Server {
    let d = data.path().to_str().expect("utf-8 path").to_string();
    let key = key.unwrap_or_else(|| fresh_key(&d));
    let mut args: Vec<String> = vec!["serve", "--listen", "127.0.0.1:0", "--data", &d]
        .into_iter()
        .map(String::from)
        .collect();
    args.extend(lab.flags());
    if let Some(p) = lab.https_port() {
        args.extend(["--https-port".to_string(), p.to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_mxray"))
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mxray serve");
    let mut err = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    err.read_line(&mut line).expect("first line");
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no listening address in {line:?}"));
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = err.read_to_string(&mut sink);
    });
    Server {
        child,
        addr,
        data: Some(data),
        key,
    }
}

fn fresh_key(data: &str) -> String {
    let created = mxray(
        &["serve", "keys", "create", "--name", "tests", "--data", data],
        None,
    );
    assert_eq!(created.code, 0, "{}", created.stderr);
    created
        .stdout
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

/// Where a request goes: a server started here, or its address (from another thread).
pub(crate) trait Endpoint {
    fn addr(&self) -> SocketAddr;
}

impl Endpoint for Server {
    fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Endpoint for SocketAddr {
    fn addr(&self) -> SocketAddr {
        *self
    }
}

pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: String,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// One HTTP/1.1 request over a fresh connection (hand-rolled: plain HTTP on loopback, and
/// the test sees exactly what a client gets).
pub(crate) fn http(
    s: &impl Endpoint,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> Answer {
    http_as(s, method, path, key, "application/json", body)
}

/// [`http`] with a content type of its own (text and CSV uploads).
pub(crate) fn http_as(
    s: &impl Endpoint,
    method: &str,
    path: &str,
    key: Option<&str>,
    content_type: &str,
    body: &str,
) -> Answer {
    http_bytes(s, method, path, key, content_type, body.as_bytes())
}

/// [`http_as`] with a binary body (a gzip upload).
fn http_bytes(
    s: &impl Endpoint,
    method: &str,
    path: &str,
    key: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Answer {
    let mut c = TcpStream::connect(s.addr()).expect("connect to serve");
    c.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let auth = key.map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{auth}Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    c.write_all(req.as_bytes()).expect("send");
    c.write_all(body).expect("send body");
    let mut raw = Vec::new();
    let _ = c.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Answer {
        status,
        headers: head.to_string(),
        body: if chunked {
            dechunk(body)
        } else {
            body.to_string()
        },
    }
}

/// A chunked body (streamed results) as its plain bytes.
pub(crate) fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

#[test]
fn the_api_answers_with_the_cli_documents_behind_keys() {
    let lab = TestLab::start(WORLD, "serve.toml");
    let s = start(
        &lab,
        &["--allow-private", "127.0.0.0/8", "--greylist-retry", "5s"],
    );
    let key = s.key.clone();
    assert!(key.starts_with("mxr_"), "{key}");

    assert_eq!(http(&s, "GET", "/healthz", None, "").status, 200);
    assert_eq!(http(&s, "GET", "/readyz", None, "").status, 200);

    // Keys: none is 401 with a challenge, a wrong one 403.
    let none = http(&s, "POST", "/v1/explain", None, "421 4.4.2 closed");
    assert_eq!(none.status, 401, "{}", none.body);
    assert_eq!(none.header("www-authenticate").as_deref(), Some("Bearer"));
    assert!(
        none.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("keys create"))
    );
    let wrong = http(
        &s,
        "POST",
        "/v1/explain",
        Some("mxr_nope"),
        "421 4.4.2 closed",
    );
    assert_eq!(wrong.status, 403, "{}", wrong.body);

    // explain: JSON Lines, each the CLI's document.
    let ex = http(
        &s,
        "POST",
        "/v1/explain",
        Some(&key),
        "421 4.4.2 Connection closed by the server\n450 4.2.0 Greylisted\n",
    );
    assert_eq!(ex.status, 200, "{}", ex.body);
    let docs: Vec<Value> = lines_of(&ex);
    assert_eq!(docs.len(), 2, "{}", ex.body);
    for d in &docs {
        conforms(&["explain"], d);
    }
    assert_eq!(docs[1]["situation"], "greylisted");
    // A whole bounce message: one result per recipient, as `mxray explain < bounce.eml`.
    let bounce = "From: MAILER-DAEMON@mx.example.org\nTo: s@example.org\nSubject: Undelivered Mail\n\n<a@example.com>: host mx.example.com[192.0.2.1] said: 550 5.1.1 <a@example.com>: Recipient address rejected: User unknown (in reply to RCPT TO command)\n\n<b@example.com>: host mx.example.com[192.0.2.1] said: 452 4.2.2 Mailbox full (in reply to RCPT TO command)\n";
    let bx = http(&s, "POST", "/v1/explain", Some(&key), bounce);
    assert_eq!(bx.status, 200, "{}", bx.body);
    let per_recipient = lines_of(&bx);
    assert_eq!(per_recipient.len(), 2, "{}", bx.body);
    for d in &per_recipient {
        conforms(&["bounce"], d);
    }
    assert_eq!(
        (
            per_recipient[0]["recipient"].as_str(),
            per_recipient[0]["reason"].as_str()
        ),
        (Some("a@example.com"), Some("userunknown"))
    );
    assert_eq!(
        (
            per_recipient[1]["recipient"].as_str(),
            per_recipient[1]["reason"].as_str()
        ),
        (Some("b@example.com"), Some("mailboxfull"))
    );
    let nothing = http(&s, "POST", "/v1/explain", Some(&key), "hello");
    assert_eq!(nothing.status, 422, "{}", nothing.body);
    let huge = "421 4.4.2 x\n".repeat(30_000);
    assert_eq!(
        http(&s, "POST", "/v1/explain", Some(&key), &huge).status,
        413
    );

    // diagnosis: the diagnose --json report.
    let d = http(
        &s,
        "GET",
        "/v1/domains/fine.test/diagnosis?only=dns,transport",
        Some(&key),
        "",
    );
    assert_eq!(d.status, 200, "{}", d.body);
    let report = d.json();
    conforms(&["diagnose"], &report);
    assert_eq!(
        report["verdict"]["overall"], "deliverable_path",
        "{report:#}"
    );
    let probe = http(
        &s,
        "GET",
        "/v1/domains/fine.test/diagnosis?only=transport&probe=alice@fine.test",
        Some(&key),
        "",
    );
    assert_eq!(probe.status, 200, "{}", probe.body);
    assert!(probe.body.contains("smtp.rcpt_accepted"), "{}", probe.body);
    for bad in [
        "/v1/domains/not%20a%20domain/diagnosis",
        "/v1/domains/fine.test/diagnosis?only=nope",
        "/v1/domains/fine.test/diagnosis?probe=alice@other.test",
        "/v1/domains/fine.test/diagnosis?deadline=1h",
    ] {
        let a = http(&s, "GET", bad, Some(&key), "");
        assert_eq!(a.status, 422, "{bad}: {}", a.body);
    }

    // verify in real time: the verify --json result; greylisting is unknown with a retry.
    let v = http(
        &s,
        "POST",
        "/v1/verify",
        Some(&key),
        r#"{"address": "alice@fine.test"}"#,
    );
    assert_eq!(v.status, 200, "{}", v.body);
    let r = v.json();
    conforms(&["verify"], &r);
    assert_eq!(
        (r["verdict"].as_str(), r["reason"].as_str()),
        (Some("deliverable"), Some("mailbox_exists"))
    );
    let g = http(
        &s,
        "POST",
        "/v1/verify",
        Some(&key),
        r#"{"address": "alice@grey.test", "deadline": "2s"}"#,
    );
    assert_eq!(g.status, 200, "{}", g.body);
    let r = g.json();
    conforms(&["verify"], &r);
    assert_eq!(
        (r["verdict"].as_str(), r["reason"].as_str()),
        (Some("unknown"), Some("greylisted")),
        "{r}"
    );
    let after = r["retry_after_s"].as_u64().expect("retry_after_s");
    assert!((1..=5).contains(&after), "{r}");
    assert_eq!(g.header("retry-after"), Some(after.to_string()));
    let bad = http(
        &s,
        "POST",
        "/v1/verify",
        Some(&key),
        r#"{"adress": "typo"}"#,
    );
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert_eq!(http(&s, "GET", "/v1/nothing", Some(&key), "").status, 404);

    // Metrics: behind the key; routes by pattern (never the domain), outcomes, providers.
    assert_eq!(http(&s, "GET", "/metrics", None, "").status, 401);
    let m = http(&s, "GET", "/metrics", Some(&key), "");
    assert_eq!(m.status, 200, "{}", m.body);
    for want in [
        r#"mxray_http_requests_total{route="/v1/domains/{domain}/diagnosis",status="200"}"#,
        r#"mxray_verify_results_total{verdict="unknown",reason="greylisted"} 1"#,
        r#"mxray_diagnoses_total{verdict="deliverable_path"}"#,
        "mxray_smtp_sessions{provider=",
        "mxray_http_request_duration_seconds_bucket",
    ] {
        assert!(m.body.contains(want), "{want} not in\n{}", m.body);
    }
    assert!(!m.body.contains("fine.test/diagnosis"), "{}", m.body);
}

#[test]
fn private_addresses_are_not_contacted_unless_allowed() {
    let lab = TestLab::start(WORLD, "serve.toml");
    let s = start(&lab, &[]);
    let key = s.key.clone();
    let d = http(
        &s,
        "GET",
        "/v1/domains/fine.test/diagnosis?only=dns,transport",
        Some(&key),
        "",
    );
    assert_eq!(d.status, 200, "{}", d.body);
    let report = d.json();
    assert_eq!(report["verdict"]["overall"], "inconclusive", "{report:#}");
    assert!(
        d.body.contains("Not connected to mx.fine.test"),
        "{}",
        d.body
    );
    let v = http(
        &s,
        "POST",
        "/v1/verify",
        Some(&key),
        r#"{"address": "alice@fine.test"}"#,
    );
    assert_eq!(v.json()["reason"], "private_address", "{}", v.body);
    let stats = lab.lab().stats();
    let touched: u64 = stats.smtp.iter().map(|h| h.totals.connections).sum();
    assert_eq!(touched, 0, "no connection reached the lab's SMTP hosts");
}

#[test]
fn keys_are_listed_and_revoked_and_no_auth_is_loopback_only() {
    let data = tempfile::tempdir().expect("tempdir");
    let d = data.path().to_str().expect("utf-8 path");
    let made = mxray(
        &["serve", "keys", "create", "--name", "ci", "--data", d],
        None,
    );
    assert_eq!(made.code, 0, "{}", made.stderr);
    let key = made.stdout.lines().last().unwrap_or_default();
    assert!(
        key.starts_with("mxr_") && key.len() == 68,
        "{}",
        made.stdout
    );
    let list = mxray(&["serve", "keys", "list", "--data", d], None);
    assert!(
        list.stdout.contains("ci") && !list.stdout.contains(key),
        "{}",
        list.stdout
    );
    let rev = mxray(&["serve", "keys", "revoke", "1", "--data", d], None);
    assert_eq!(rev.code, 0, "{}", rev.stderr);
    assert!(
        mxray(&["serve", "keys", "list", "--data", d], None)
            .stdout
            .contains("REVOKED")
    );
    assert_eq!(
        mxray(&["serve", "keys", "revoke", "9", "--data", d], None).code,
        2
    );
    // One server per data directory: a second one is an environment error naming why.
    let lab = TestLab::start(WORLD, "serve.toml");
    let first = start(&lab, &[]);
    let dir = first.data_dir();
    let second = mxray(&["serve", "--listen", "127.0.0.1:0", "--data", &dir], None);
    assert_eq!(second.code, 3, "{}", second.stderr);
    assert!(
        second.stderr.contains("one server per data directory"),
        "{}",
        second.stderr
    );
    drop(first);
    let open = mxray(
        &["serve", "--no-auth", "--listen", "0.0.0.0:0", "--data", d],
        None,
    );
    assert_eq!(open.code, 2, "{}", open.stderr);
    assert!(open.stderr.contains("loopback"), "{}", open.stderr);
}

/// Per-key limits: past the rate, 429 with Retry-After; past the requests in flight, 429.
#[test]
fn each_key_has_a_rate_and_a_number_of_requests_in_flight() {
    let lab = TestLab::start(WORLD, "serve.toml");
    let s = start(&lab, &["--key-rate", "1"]);
    let codes: Vec<Answer> = (0..4)
        .map(|_| http(&s, "POST", "/v1/explain", Some(&s.key), "421 4.4.2 closed"))
        .collect();
    let limited: Vec<&Answer> = codes.iter().filter(|a| a.status == 429).collect();
    assert!(
        !limited.is_empty(),
        "statuses {:?}",
        codes.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert!(
        limited[0]
            .header("retry-after")
            .is_some_and(|v| v.parse::<u64>().is_ok_and(|n| n >= 1))
    );
    assert!(
        limited[0].body.contains("--key-rate"),
        "{}",
        limited[0].body
    );

    let s = start(
        &lab,
        &[
            "--allow-private",
            "127.0.0.0/8",
            "--key-concurrency",
            "1",
            "--greeting-wait",
            "5s",
        ],
    );
    let (addr, key) = (s.addr, s.key.clone());
    let slow = std::thread::spawn(move || {
        let path = "/v1/domains/slow.test/diagnosis?only=transport";
        http(&addr, "GET", path, Some(&key), "").status
    });
    std::thread::sleep(Duration::from_millis(500));
    let busy = http(&s, "POST", "/v1/explain", Some(&s.key), "421 4.4.2 closed");
    assert_eq!(busy.status, 429, "{}", busy.body);
    assert!(busy.body.contains("--key-concurrency"), "{}", busy.body);
    assert_eq!(slow.join().expect("slow request"), 200);
    assert_eq!(
        http(&s, "POST", "/v1/explain", Some(&s.key), "421 4.4.2 closed").status,
        200
    );
}

/// Polls a job until `until` holds for its status (at most 60 s).
fn poll(s: &Server, id: &str, until: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let a = http(s, "GET", &format!("/v1/jobs/{id}"), Some(&s.key), "");
        assert_eq!(a.status, 200, "{}", a.body);
        let v = a.json();
        if until(&v) {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "job never got there: {v}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A bulk job: queued, run, counted, its results in input order as JSON Lines or CSV; only
/// its key sees it; a server killed with -9 resumes it after a restart and every address
/// gets exactly one result.
#[test]
fn jobs_run_survive_kill_9_and_give_every_address_once() {
    let lab = TestLab::start(WORLD, "serve.toml");
    let s = start(&lab, &["--allow-private", "127.0.0.0/8"]);
    let (id, lines) = three_address_job(&s);
    assert_eq!(lines[0]["address"], "alice@fine.test");
    let csv = http(
        &s,
        "GET",
        &format!("/v1/jobs/{id}/results?format=csv"),
        Some(&s.key),
        "",
    );
    assert!(
        csv.body.starts_with("address,normalized,verdict"),
        "{}",
        csv.body
    );
    assert_eq!(csv.body.lines().count(), 4, "{}", csv.body);
    // Another key does not see it; bad kinds and empty lists are refused.
    let d = s.data_dir();
    let other = fresh_key(&d);
    assert_eq!(
        http(&s, "GET", &format!("/v1/jobs/{id}"), Some(&other), "").status,
        404
    );
    for refused in [
        r#"{"kind": "diagnose", "addresses": []}"#,
        r#"{"kind": "verify", "addresses": []}"#,
    ] {
        let a = http(&s, "POST", "/v1/jobs", Some(&s.key), refused);
        assert_eq!(a.status, 422, "{refused}: {}", a.body);
    }

    // A slower job (one text line per address), killed mid-run, resumed after a restart.
    let list: Vec<String> = (0..40).map(|i| format!("user{i}@bulk.test")).collect();
    let mut c = TcpStream::connect(s.addr).expect("connect");
    let text = list.join("\n");
    let req = format!(
        "POST /v1/jobs HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{text}",
        s.key,
        text.len()
    );
    c.write_all(req.as_bytes()).expect("send");
    let mut raw = String::new();
    let _ = c.read_to_string(&mut raw);
    let id = raw
        .split("\"id\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no id in {raw}"))
        .to_string();
    poll(&s, &id, |v| v["done"].as_u64().is_some_and(|n| n >= 3));
    let key = s.key.clone();
    let data = s.kill_hard();
    let s = start_in(&lab, data, Some(key), &["--allow-private", "127.0.0.0/8"]);
    let done = poll(&s, &id, |v| v["state"] == "done");
    assert_eq!(
        (done["total"].as_u64(), done["done"].as_u64()),
        (Some(40), Some(40)),
        "{done}"
    );
    let got: Vec<String> = job_results(&s, &id)
        .iter()
        .map(|v| v["address"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(got, list, "every address once, in input order");
    let m = http(&s, "GET", "/metrics", Some(&s.key), "");
    assert!(
        m.body.contains(r#"mxray_jobs{state="done"} 2"#),
        "{}",
        m.body
    );
    // Cancelling a finished job leaves it done.
    let c = http(&s, "DELETE", &format!("/v1/jobs/{id}"), Some(&s.key), "");
    assert_eq!(c.json()["state"], "done", "{}", c.body);
}

/// A job's results as JSON Lines, each checked against the verify schema.
/// Submits the three-address verify job (one deliverable, one unknown mailbox, one bad
/// address), waits for it and checks its status; returns its id and results.
fn three_address_job(s: &Server) -> (String, Vec<Value>) {
    let body = r#"{"kind": "verify", "addresses": ["alice@fine.test", "nobody@fine.test", "bad address"]}"#;
    let sub = http(s, "POST", "/v1/jobs", Some(&s.key), body);
    assert_eq!(sub.status, 202, "{}", sub.body);
    let id = sub.json()["id"].as_str().expect("id").to_string();
    assert_eq!(sub.header("location"), Some(format!("/v1/jobs/{id}")));
    let done = poll(s, &id, |v| v["state"] == "done");
    conforms(&["serve-job"], &done);
    assert_eq!(
        (done["total"].as_u64(), done["done"].as_u64()),
        (Some(3), Some(3)),
        "{done}"
    );
    assert_eq!(done["counts"]["deliverable"], 1, "{done}");
    assert_eq!(done["counts"]["undeliverable"], 2, "{done}");
    let lines = job_results(s, &id);
    assert_eq!(lines.len(), 3, "{lines:?}");
    for l in &lines {
        conforms(&["verify"], l);
    }
    (id, lines)
}

fn job_results(s: &Server, id: &str) -> Vec<Value> {
    let res = http(
        s,
        "GET",
        &format!("/v1/jobs/{id}/results"),
        Some(&s.key),
        "",
    );
    assert_eq!(res.status, 200, "{}", res.body);
    let lines: Vec<Value> = res
        .body
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    for l in &lines {
        conforms(&["verify"], l);
    }
    lines
}

/// `GET /v1/openapi.json` (with a key, as every `/v1` route): OpenAPI 3.1 naming every route,
/// and real answers valid against the schemas it gives for them.
#[test]
fn the_openapi_document_describes_the_real_answers() {
    let lab = TestLab::start(WORLD, "serve.toml");
    let s = start(&lab, &["--allow-private", "127.0.0.0/8"]);
    assert_eq!(http(&s, "GET", "/v1/openapi.json", None, "").status, 401);
    let a = http(&s, "GET", "/v1/openapi.json", Some(&s.key), "");
    assert_eq!(a.status, 200, "{}", a.body);
    let doc = a.json();
    assert_eq!(doc["openapi"], "3.1.0");
    for (path, method) in [
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/v1/explain", "post"),
        ("/v1/domains/{domain}/diagnosis", "get"),
        ("/v1/verify", "post"),
        ("/v1/jobs", "post"),
        ("/v1/jobs/{id}", "get"),
        ("/v1/jobs/{id}", "delete"),
        ("/v1/jobs/{id}/results", "get"),
        ("/v1/logs", "post"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} undocumented"
        );
    }
    // Each answer against the schema the document gives for its route, status and media
    // type, its references to components replaced by the components (each a whole schema
    // with its own $id, as a client resolves them).
    fn inline(v: &Value, components: &Value) -> Value {
        match v {
            Value::Object(o) => {
                if let Some(name) = o
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    return components[name].clone();
                }
                Value::Object(
                    o.iter()
                        .map(|(k, x)| (k.clone(), inline(x, components)))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(|x| inline(x, components)).collect()),
            other => other.clone(),
        }
    }
    let check = |path: &str, method: &str, status: u16, media: &str, v: &Value| {
        let op = &doc["paths"][path][method];
        let schema = &op["responses"][status.to_string()]["content"][media]["schema"];
        assert!(
            schema.is_object(),
            "{method} {path}: no {status} {media} documented: {op:#}"
        );
        let root = inline(schema, &doc["components"]["schemas"]);
        let validator = jsonschema::validator_for(&root)
            .unwrap_or_else(|e| panic!("{method} {path} {status}: not a valid schema: {e}"));
        let errors: Vec<String> = validator.iter_errors(v).map(|e| e.to_string()).collect();
        assert!(
            errors.is_empty(),
            "{method} {path} {status}: {errors:?}\n{v}"
        );
    };
    let ex = http(&s, "POST", "/v1/explain", Some(&s.key), "421 4.4.2 closed");
    assert_eq!(ex.status, 200, "{}", ex.body);
    for line in lines_of(&ex) {
        check("/v1/explain", "post", 200, "application/x-ndjson", &line);
    }
    let v = http(
        &s,
        "POST",
        "/v1/verify",
        Some(&s.key),
        r#"{"address": "alice@fine.test"}"#,
    );
    check("/v1/verify", "post", 200, "application/json", &v.json());
    let bad = http(&s, "POST", "/v1/verify", Some(&s.key), "not json");
    assert_eq!(bad.status, 422, "{}", bad.body);
    check("/v1/verify", "post", 422, "application/json", &bad.json());
    let diagnosis = "/v1/domains/{domain}/diagnosis";
    let d = http(
        &s,
        "GET",
        "/v1/domains/fine.test/diagnosis?only=dns",
        Some(&s.key),
        "",
    );
    check(diagnosis, "get", 200, "application/json", &d.json());
    let later = http(
        &s,
        "GET",
        "/v1/domains/fine.test/diagnosis?only=dns&wait=false",
        Some(&s.key),
        "",
    );
    assert_eq!(later.status, 202, "{}", later.body);
    check(diagnosis, "get", 202, "application/json", &later.json());
    let j = http(
        &s,
        "POST",
        "/v1/jobs",
        Some(&s.key),
        r#"{"kind": "verify", "addresses": ["alice@fine.test"]}"#,
    );
    assert_eq!(j.status, 202, "{}", j.body);
    check("/v1/jobs", "post", 202, "application/json", &j.json());
    let id = j.json()["id"].as_str().expect("id").to_string();
    let done = poll(&s, &id, |v| v["state"] == "done");
    check("/v1/jobs/{id}", "get", 200, "application/json", &done);
    let results = http(
        &s,
        "GET",
        &format!("/v1/jobs/{id}/results"),
        Some(&s.key),
        "",
    );
    for line in lines_of(&results) {
        check(
            "/v1/jobs/{id}/results",
            "get",
            200,
            "application/x-ndjson",
            &line,
        );
    }
    let missing = http(&s, "GET", "/v1/jobs/nope", Some(&s.key), "");
    assert_eq!(missing.status, 404, "{}", missing.body);
    check(
        "/v1/jobs/{id}",
        "get",
        404,
        "application/json",
        &missing.json(),
    );
    let log = "Nov 20 10:00:00 mx postfix/smtp[1]: 4A1B2C3D4E: to=<a@b.test>, relay=none, delay=1, dsn=4.4.1, status=deferred (connect to b.test[192.0.2.1]:25: Connection timed out)\n";
    let l = http(&s, "POST", "/v1/logs", Some(&s.key), log);
    check("/v1/logs", "post", 200, "application/json", &l.json());
    let unauthorized = http(&s, "POST", "/v1/explain", None, "x");
    check(
        "/v1/explain",
        "post",
        401,
        "application/json",
        &unauthorized.json(),
    );
}

/// A CSV upload: checked whole before it is queued (a stray quote names its line), the address
/// column chosen with ?column=, and CSV results keep the list's own columns first.
#[test]
fn csv_jobs_keep_the_lists_columns() {
    let lab = TestLab::start(WORLD, "serve.toml");
    let s = start(&lab, &["--allow-private", "127.0.0.0/8"]);
    let csv = "name,mail\nAlice,alice@fine.test\nNo One,nobody@fine.test\n";
    let a = http_as(
        &s,
        "POST",
        "/v1/jobs?column=mail",
        Some(&s.key),
        "text/csv",
        csv,
    );
    assert_eq!(a.status, 202, "{}", a.body);
    let id = a.json()["id"].as_str().expect("id").to_string();
    poll(&s, &id, |v| v["state"] == "done");
    let out = http(
        &s,
        "GET",
        &format!("/v1/jobs/{id}/results?format=csv"),
        Some(&s.key),
        "",
    );
    let lines: Vec<&str> = out.body.lines().collect();
    assert!(
        lines[0].starts_with("name,mail,address,normalized,verdict"),
        "{}",
        out.body
    );
    assert!(
        lines[1].starts_with("Alice,alice@fine.test,alice@fine.test,alice@fine.test,deliverable"),
        "{}",
        out.body
    );
    assert_eq!(job_results(&s, &id)[1]["input_row"][0], "No One");
    let bad = http_as(
        &s,
        "POST",
        "/v1/jobs?column=mail",
        Some(&s.key),
        "text/csv",
        "name,mail\nEve,\"eve@fine.test\nBob,bob@fine.test\n",
    );
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("line 2"), "{}", bad.body);
    let nocol = http_as(&s, "POST", "/v1/jobs", Some(&s.key), "text/csv", csv);
    assert_eq!(nocol.status, 422, "{}", nocol.body);
    assert!(nocol.body.contains("email"), "{}", nocol.body);
}

/// `POST /v1/logs`: a log (plain or gzip) spooled and read in one pass: the `logs --json`
/// report, naming the upload (not the server's path); size and filters checked.
#[test]
fn a_log_upload_gives_the_logs_report() {
    let lab = TestLab::start(WORLD, "serve.toml");
    let s = start(&lab, &["--max-log-upload", "64K"]);
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/logs/postfix-debian12.log"
    );
    let plain = std::fs::read(fixture).expect("fixture");
    let a = http_bytes(
        &s,
        "POST",
        "/v1/logs?year=2026",
        Some(&s.key),
        "text/plain",
        &plain,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let report = a.json();
    conforms(&["logs"], &report);
    assert_eq!(report["totals"]["deferrals"], 60, "{report:#}");
    assert_eq!(report["files"][0]["name"], "upload");
    let gz = Command::new("gzip")
        .args(["-c", fixture])
        .output()
        .expect("gzip (package gzip)")
        .stdout;
    let z = http_bytes(
        &s,
        "POST",
        "/v1/logs?year=2026",
        Some(&s.key),
        "application/gzip",
        &gz,
    );
    assert_eq!(z.status, 200, "{}", z.body);
    assert_eq!(z.json()["totals"]["deferrals"], 60);
    assert_eq!(z.json()["files"][0]["gzip"], true);
    let filtered = http_bytes(
        &s,
        "POST",
        "/v1/logs?year=2026&domain=greylist.test",
        Some(&s.key),
        "text/plain",
        &plain,
    );
    assert_eq!(
        filtered.json()["groups"].as_array().map(Vec::len),
        Some(1),
        "{}",
        filtered.body
    );
    let big = vec![b'x'; 70 * 1024];
    assert_eq!(
        http_bytes(&s, "POST", "/v1/logs", Some(&s.key), "text/plain", &big).status,
        413
    );
    assert_eq!(
        http_bytes(
            &s,
            "POST",
            "/v1/logs?since=yesterday",
            Some(&s.key),
            "text/plain",
            &plain
        )
        .status,
        422
    );
    let uploads = std::path::Path::new(&s.data_dir()).join("uploads");
    assert_eq!(
        std::fs::read_dir(uploads).map(|d| d.count()).unwrap_or(0),
        0,
        "spools are removed"
    );
}

/// A diagnose job: every domain's `diagnose --json` report, in input order; counts by verdict.
#[test]
fn diagnose_jobs_give_one_report_per_domain() {
    let lab = TestLab::start(WORLD, "serve.toml");
    let s = start(&lab, &["--allow-private", "127.0.0.0/8"]);
    let body = r#"{"kind": "diagnose", "domains": ["fine.test", "grey.test", "not a domain"]}"#;
    let a = http(&s, "POST", "/v1/jobs", Some(&s.key), body);
    assert_eq!(a.status, 202, "{}", a.body);
    let id = a.json()["id"].as_str().expect("id").to_string();
    let done = poll(&s, &id, |v| v["state"] == "done");
    conforms(&["serve-job"], &done);
    assert_eq!(
        (done["kind"].as_str(), done["done"].as_u64()),
        (Some("diagnose"), Some(3)),
        "{done}"
    );
    let res = http(
        &s,
        "GET",
        &format!("/v1/jobs/{id}/results"),
        Some(&s.key),
        "",
    );
    let reports: Vec<Value> = lines_of(&res);
    assert_eq!(reports.len(), 3, "{}", res.body);
    for r in &reports {
        conforms(&["diagnose"], r);
    }
    let targets: Vec<&str> = reports
        .iter()
        .filter_map(|r| r["target"].as_str())
        .collect();
    assert_eq!(targets, ["fine.test", "grey.test", "not a domain"]);
    let csv = http(
        &s,
        "GET",
        &format!("/v1/jobs/{id}/results?format=csv"),
        Some(&s.key),
        "",
    );
    assert_eq!(csv.status, 422, "{}", csv.body);
    let mixed = r#"{"kind": "diagnose", "addresses": ["a@fine.test"]}"#;
    assert_eq!(
        http(&s, "POST", "/v1/jobs", Some(&s.key), mixed).status,
        422
    );
}

/// An answer's JSON Lines.
fn lines_of(a: &Answer) -> Vec<Value> {
    a.body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// `?wait=false`: 202 with a job at once; the job's result is the report the same query would
/// have answered (its parameters kept with the job).
#[test]
fn a_diagnosis_can_be_a_job() {
    let lab = TestLab::start(WORLD, "serve.toml");
    let s = start(&lab, &["--allow-private", "127.0.0.0/8"]);
    let path = "/v1/domains/fine.test/diagnosis?wait=false&only=transport&probe=alice@fine.test";
    let a = http(&s, "GET", path, Some(&s.key), "");
    assert_eq!(a.status, 202, "{}", a.body);
    let id = a.json()["id"].as_str().expect("id").to_string();
    assert_eq!(a.header("location"), Some(format!("/v1/jobs/{id}")));
    poll(&s, &id, |v| v["state"] == "done");
    let res = http(
        &s,
        "GET",
        &format!("/v1/jobs/{id}/results"),
        Some(&s.key),
        "",
    );
    let reports = lines_of(&res);
    assert_eq!(reports.len(), 1, "{}", res.body);
    conforms(&["diagnose"], &reports[0]);
    assert_eq!(reports[0]["target"], "alice@fine.test");
    assert!(
        res.body.contains("smtp.rcpt_accepted"),
        "the probe ran: {}",
        res.body
    );
    assert!(
        !res.body.contains("spf."),
        "only=transport was kept: {}",
        res.body
    );
    // The same checks as a waiting request: a bad parameter is 422, not a job.
    let bad = http(
        &s,
        "GET",
        "/v1/domains/fine.test/diagnosis?wait=false&only=nope",
        Some(&s.key),
        "",
    );
    assert_eq!(bad.status, 422, "{}", bad.body);
}

/// MX hosts in private ranges (10.0.0.1, 169.254.169.254, fd00::1, ::ffff:10.0.0.1) are named,
/// never contacted. Run in a network namespace of its own (unshare -rn, loopback only): were
/// the guard to fail, the connection could not leave the namespace, and would show as an
/// unreachable host instead of the refusal asserted here.
#[test]
fn private_mx_addresses_are_refused_in_a_namespace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut world = String::from("[lab]\nname = \"ssrf\"\nprivate_records = true\n");
    for (name, rtype, addr) in [
        ("rfc1918", "a", "10.0.0.1"),
        ("metadata", "a", "169.254.169.254"),
        ("ula", "aaaa", "fd00::1"),
        ("mapped", "aaaa", "::ffff:10.0.0.1"),
    ] {
        world.push_str(&format!(
            "\n[[domains]]\nname = \"{name}.test\"\nmx = [\"10 mx.{name}.test\"]\n\n[[domains.records]]\nname = \"mx\"\n{rtype} = [\"{addr}\"]\n"
        ));
    }
    let mut calls = String::new();
    for d in ["rfc1918", "metadata", "ula", "mapped"] {
        calls.push_str(&format!(
            "diagnose {d}.test diag-{d}.json\nverify alice@{d}.test verify-{d}.json\n"
        ));
    }
    in_namespace(dir.path(), &world, &[], &calls);
    for d in ["rfc1918", "metadata", "ula", "mapped"] {
        let read = |f: String| answer_in(dir.path(), &f);
        let report = read(format!("diag-{d}.json"));
        conforms(&["diagnose"], &report);
        assert_eq!(
            report["verdict"]["overall"], "inconclusive",
            "{d}: {report:#}"
        );
        let refused = report["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| {
                f["id"] == "net.private_address"
                    && f["title"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("Not connected to"))
            });
        assert!(refused, "{d}: {report:#}");
        let v = read(format!("verify-{d}.json"));
        assert_eq!(
            (v["verdict"].as_str(), v["reason"].as_str()),
            (Some("unknown"), Some("private_address")),
            "{d}: {v}"
        );
    }
}

/// Runs a lab of `world` and `mxray serve` (with `serve_flags`) in a network namespace of its
/// own (unshare -rn: loopback only, nothing leaves it), then `calls` there, one per line:
/// `diagnose DOMAIN FILE` (only=dns,transport) or `verify ADDRESS FILE`; answers land in `dir`.
fn in_namespace(dir: &std::path::Path, world: &str, serve_flags: &[&str], calls: &str) {
    std::fs::write(dir.join("world.toml"), world).expect("world");
    std::fs::write(dir.join("calls"), calls).expect("calls");
    let script = r#"
set -e
ip link set lo up
cd "$DIR"
"$MXRAY" lab serve world.toml --ready-file lab.json 2> lab.err &
until [ -s lab.json ]; do sleep 0.1; done
KEY=$("$MXRAY" serve keys create --name t --data data | tail -n 1)
"$MXRAY" serve --listen 127.0.0.1:0 --data data --resolver "$(jq -r .resolver lab.json)" \
    --smtp-port "$(jq -r .smtp_port lab.json)" "$@" 2> serve.err &
until grep -q 'listening on' serve.err 2>/dev/null; do sleep 0.1; done
URL=$(grep -o 'http://[0-9.:]*' serve.err | head -n 1)
while read -r verb target out; do
  case $verb in
    diagnose) curl -sf -H "Authorization: Bearer $KEY" \
        "$URL/v1/domains/$target/diagnosis?only=dns,transport" > "$out" ;;
    verify) curl -sf -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
        -d "{\"address\": \"$target\"}" "$URL/v1/verify" > "$out" ;;
  esac
done < calls
kill %2 %1
wait
"#;
    let out = Command::new("unshare")
        .args(["-rn", "bash", "-c", script, "in_namespace"])
        .args(serve_flags)
        .env("MXRAY", env!("CARGO_BIN_EXE_mxray"))
        .env("DIR", dir)
        .stdin(Stdio::null())
        .output()
        .expect("unshare (package util-linux) and ip (package iproute2) are needed");
    assert!(
        out.status.success(),
        "the namespace run failed (network namespaces needed: unshare -rn): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A document an [`in_namespace`] call wrote.
fn answer_in(dir: &std::path::Path, file: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(file)).expect("answer");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}: {text}"))
}

/// DNS rebinding: the MX host's address alternates between the lab server (allowed with
/// --allow-private 127.0.0.0/8) and 10.0.0.1 from one lookup to the next (TTL 0). Each answer
/// is checked and the connection made to the address checked, never to a second lookup's: a
/// request either reaches the lab server or is refused for 10.0.0.1, and in the namespace a
/// connection to 10.0.0.1 would fail as unreachable instead, which would show here.
#[test]
fn a_dns_answer_that_changes_between_lookups_is_pinned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let world = r#"
[lab]
name = "rebind"
private_records = true

[[domains]]
name = "rebind.test"
mx = ["10 mx.rebind.test"]

[[domains.records]]
name = "mx"
a = ["127.0.7.9", "10.0.0.1"]
rotate = true

[[hosts]]
name = "mx.rebind.test"
address = "127.0.7.9"
mailboxes = ["alice"]
"#;
    let mut calls = String::new();
    for i in 0..4 {
        calls.push_str(&format!("verify alice@rebind.test verify-{i}.json\n"));
    }
    for i in 0..2 {
        calls.push_str(&format!("diagnose rebind.test diag-{i}.json\n"));
    }
    in_namespace(
        dir.path(),
        world,
        &["--allow-private", "127.0.0.0/8"],
        &calls,
    );
    let mut outcomes = std::collections::BTreeSet::new();
    for i in 0..4 {
        let v = answer_in(dir.path(), &format!("verify-{i}.json"));
        conforms(&["verify"], &v);
        let outcome = (
            v["verdict"].as_str().unwrap_or_default().to_string(),
            v["reason"].as_str().unwrap_or_default().to_string(),
        );
        assert!(
            outcome.0 == "deliverable" || outcome.1 == "private_address",
            "verify {i}: reached neither the lab server nor a refusal: {v}"
        );
        outcomes.insert(outcome.0);
    }
    assert_eq!(
        outcomes.len(),
        2,
        "the answer changed between requests, so both outcomes are expected: {outcomes:?}"
    );
    for i in 0..2 {
        let report = answer_in(dir.path(), &format!("diag-{i}.json"));
        conforms(&["diagnose"], &report);
        let text = report.to_string();
        assert!(
            !text.contains("unreachable") && !text.contains("10.0.0.1:"),
            "diagnosis {i} tried 10.0.0.1: {report:#}"
        );
    }
}

/// The job queue is bounded (`--job-queue`): with one job running and one waiting, a third is
/// refused with 429 and Retry-After, never queued without end.
#[test]
fn a_full_job_queue_answers_429() {
    let lab = TestLab::start(WORLD, "serve.toml");
    let s = start(
        &lab,
        &["--allow-private", "127.0.0.0/8", "--job-queue", "1"],
    );
    let slow: Vec<String> = (0..30).map(|i| format!("\"u{i}@bulk.test\"")).collect();
    let body = format!(
        r#"{{"kind": "verify", "addresses": [{}]}}"#,
        slow.join(", ")
    );
    let first = http(&s, "POST", "/v1/jobs", Some(&s.key), &body);
    assert_eq!(first.status, 202, "{}", first.body);
    let id = first.json()["id"].as_str().expect("id").to_string();
    poll(&s, &id, |v| v["state"] == "running");
    let second = http(&s, "POST", "/v1/jobs", Some(&s.key), &body);
    assert_eq!(second.status, 202, "{}", second.body);
    let third = http(&s, "POST", "/v1/jobs", Some(&s.key), &body);
    assert_eq!(third.status, 429, "{}", third.body);
    assert!(third.header("retry-after").is_some(), "{}", third.headers);
    assert!(third.body.contains("--job-queue"), "{}", third.body);
}

/// `serve --nats`: a verify job runs on the cluster's workers; status, counts and results read
/// as for a job run in the server.
#[test]
fn verify_jobs_run_on_the_cluster_with_nats() {
    let lab = TestLab::start(WORLD, "serve.toml");
    let nats = crate::cluster::Nats::start();
    let _w = crate::cluster::worker(&lab, &nats, "s1", "127.0.29.1");
    let url = nats.url();
    let s = start(&lab, &["--allow-private", "127.0.0.0/8", "--nats", &url]);
    let (_, lines) = three_address_job(&s);
    // Probed by the worker (its egress), not by the server.
    let alice = lines
        .iter()
        .find(|l| l["address"] == "alice@fine.test")
        .expect("alice");
    assert_eq!(alice["reply"]["egress"], "127.0.29.1", "{alice}");
}
