//! Monitors end to end: `mxray serve` diagnosing lab domains on demand and on schedule, a lab
//! host turning to 421 and back while it runs, and the alerts a test receiver gets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::serve::{Server, http, start};
use crate::util::{TestLab, conforms};

const WORLD: &str = r#"
[lab]
name = "monitors"
description = "Monitored domains"

[[domains]]
name = "flip.test"
mx = ["10 mx.flip.test"]
txt = ["v=spf1 mx -all"]

[[domains.records]]
name = "_dmarc"
txt = ["v=DMARC1; p=reject; rua=mailto:dmarc@flip.test"]

[[hosts]]
name = "mx.flip.test"
address = "127.0.9.1"
mailboxes = ["postmaster"]

[[domains]]
name = "monitors.test"

[[hosts]]
name = "relay.monitors.test"
address = "127.0.9.5"
submission = { user = "alerts@monitors.test", password = "pw", fail_first = { command = "DATA", count = 1, reply = "451 4.3.0 Try again later" } }
"#;

/// One POST a receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Post {
    headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Post {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// A webhook receiver on a free loopback port: records each POST, answers 200 (the browser
/// tests use it too).
pub(crate) fn receiver() -> (String, Arc<Mutex<Vec<Post>>>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", l.local_addr().expect("addr"));
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            c.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut r = BufReader::new(c.try_clone().expect("clone"));
            let mut headers = Vec::new();
            let mut line = String::new();
            let _ = r.read_line(&mut line);
            loop {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    headers.push((k.trim().to_string(), v.trim().to_string()));
                }
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            g.lock().unwrap().push(Post { headers, body });
            let _ =
                c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (url, got)
}

pub(crate) fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(x) = f() {
            return x;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn lines(body: &str) -> Vec<Value> {
    body.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn runs(s: &Server, id: &str) -> Vec<Value> {
    let a = http(
        s,
        "GET",
        &format!("/v1/monitors/{id}/runs"),
        Some(&s.key),
        "",
    );
    assert_eq!(a.status, 200, "{}", a.body);
    lines(&a.body)
}

/// Asks for a run now and waits until it is stored; its row.
fn run_once(s: &Server, id: &str) -> Value {
    let before = runs(s, id).len();
    let a = http(
        s,
        "POST",
        &format!("/v1/monitors/{id}/run"),
        Some(&s.key),
        "",
    );
    assert_eq!(a.status, 202, "{}", a.body);
    wait_for("a monitor run", Duration::from_secs(60), || {
        let r = runs(s, id);
        (r.len() > before).then(|| r[0].clone())
    })
}

pub(crate) fn set_banner(lab: &TestLab, host: &str, reply: &str) {
    lab.lab()
        .change_host(host, |b| {
            b.banner = Some(mxray_lab::scenario::Reply::parse(reply).expect("reply"));
        })
        .expect("change the lab host");
}

#[test]
fn a_monitor_turns_red_alerts_once_after_two_runs_and_recovers() {
    let lab = TestLab::start(WORLD, "monitors");
    let (hook, posts) = receiver();
    let s = start(
        &lab,
        &[
            "--allow-private",
            "127.0.0.0/8",
            "--alert-secret",
            "s3cret",
            "--alert-digest-window",
            "200ms",
        ],
    );
    // Created: the first run starts at once.
    let a = http(
        &s,
        "POST",
        "/v1/monitors",
        Some(&s.key),
        &json!({"domain": "flip.test", "interval": "1h", "alert_after": 2, "webhooks": [hook]})
            .to_string(),
    );
    assert_eq!(a.status, 201, "{}", a.body);
    let m = a.json();
    conforms(&["monitor"], &m);
    let id = m["id"].as_str().expect("id").to_string();
    assert_eq!(a.header("location"), Some(format!("/v1/monitors/{id}")));
    let first = wait_for("the first run", Duration::from_secs(60), || {
        runs(&s, &id).first().cloned()
    });
    conforms(&["monitor-run"], &first);
    assert_eq!(first["failing"], 0, "{first}");
    let got = http(&s, "GET", &format!("/v1/monitors/{id}"), Some(&s.key), "").json();
    assert_eq!(got["state"], "passing", "{got}");
    assert_eq!(got["interval"], "1h");
    let next = got["next_run"].as_i64().unwrap();
    let last = got["last_run"]["at"].as_i64().unwrap();
    assert!(
        next > last && next <= last + 3600,
        "next run within the hour: {got}"
    );

    // The host starts answering 421: one failing run is a blip, the second alerts.
    set_banner(
        &lab,
        "mx.flip.test",
        "421 4.3.2 System not accepting network messages",
    );
    let r = run_once(&s, &id);
    assert_eq!(r["failing"], 1, "{r}");
    let got = http(&s, "GET", &format!("/v1/monitors/{id}"), Some(&s.key), "").json();
    assert_eq!(
        (got["state"].as_str(), got["streak"].as_u64()),
        (Some("failing"), Some(1))
    );
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        posts.lock().unwrap().is_empty(),
        "no alert after one failing run"
    );
    run_once(&s, &id);
    let alert = wait_for("the failing alert", Duration::from_secs(20), || {
        posts.lock().unwrap().first().cloned()
    });
    assert_eq!(alert.header("X-Mxray-Event"), Some("monitor.failing"));
    let ts = alert.header("X-Mxray-Timestamp").expect("timestamp");
    let sig = alert.header("X-Mxray-Signature").expect("signature");
    assert!(
        mxray_net::webhook::verify(b"s3cret", ts, &alert.body, sig),
        "the HMAC checks out"
    );
    let body = alert.json();
    assert_eq!(body["event"], "monitor.failing");
    assert_eq!(body["domain"], "flip.test");
    assert_eq!(body["streak"], 2);
    let text = body.to_string();
    assert!(
        text.contains("421 4.3.2"),
        "the evidence carries the reply: {text}"
    );
    let findings = body["findings"].as_array().expect("findings");
    assert!(
        findings
            .iter()
            .any(|f| f["fix"].as_str().is_some_and(|x| !x.is_empty())),
        "a fix: {text}"
    );
    assert!(
        body["changes"].as_array().is_some_and(|c| !c.is_empty()) || body["streak"] == 2,
        "{text}"
    );
    let got = http(&s, "GET", &format!("/v1/monitors/{id}"), Some(&s.key), "").json();
    assert_eq!(got["state"], "alerting");
    // Still failing: no storm.
    run_once(&s, &id);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        posts.lock().unwrap().len(),
        1,
        "one alert per failing streak"
    );

    // Back to normal: a recovery.
    lab.lab().restore_host("mx.flip.test").expect("restore");
    let r = run_once(&s, &id);
    assert_eq!(r["failing"], 0, "{r}");
    let rec = wait_for("the recovery", Duration::from_secs(20), || {
        posts.lock().unwrap().get(1).cloned()
    });
    assert_eq!(rec.header("X-Mxray-Event"), Some("monitor.recovered"));
    assert_eq!(rec.json()["state"], "recovered");

    // History: five runs newest first; the events tell the story.
    let all = runs(&s, &id);
    assert_eq!(all.len(), 5);
    assert!(
        all.windows(2)
            .all(|w| w[0]["at"].as_i64() >= w[1]["at"].as_i64())
    );
    let ev = http(
        &s,
        "GET",
        &format!("/v1/monitors/{id}/events"),
        Some(&s.key),
        "",
    );
    let ev = lines(&ev.body);
    for e in &ev {
        conforms(&["monitor-event"], e);
    }
    let kinds: Vec<&str> = ev
        .iter()
        .filter_map(|e| e["change"]["kind"].as_str())
        .collect();
    for k in ["verdict", "appeared", "cleared", "alert", "recovered"] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    assert_eq!(kinds[0], "recovered", "newest first: {kinds:?}");

    // PATCH changes what it names; DELETE removes the monitor and its history.
    let a = http(
        &s,
        "PATCH",
        &format!("/v1/monitors/{id}"),
        Some(&s.key),
        r#"{"interval": "5m", "paused": true}"#,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        (a.json()["interval"].as_str(), a.json()["state"].as_str()),
        (Some("5m"), Some("paused"))
    );
    let a = http(
        &s,
        "PATCH",
        &format!("/v1/monitors/{id}"),
        Some(&s.key),
        r#"{"interval": "10s"}"#,
    );
    assert_eq!(a.status, 422);
    assert!(a.body.contains("at least 1m"), "{}", a.body);
    let a = http(
        &s,
        "DELETE",
        &format!("/v1/monitors/{id}"),
        Some(&s.key),
        "",
    );
    assert_eq!(a.status, 204);
    let a = http(
        &s,
        "GET",
        &format!("/v1/monitors/{id}/runs"),
        Some(&s.key),
        "",
    );
    assert_eq!(a.status, 404);
}

#[test]
fn bad_monitor_requests_say_what_to_send() {
    let lab = TestLab::start(WORLD, "monitors-bad");
    let s = start(&lab, &["--allow-private", "127.0.0.0/8"]);
    for (body, says) in [
        (r#"{"interval": "1h"}"#, "domain is required"),
        (
            r#"{"domain": "flip.test", "interval": "2s"}"#,
            "at least 1m",
        ),
        (
            r#"{"domain": "flip.test", "probe": "x@other.test"}"#,
            "must be at flip.test",
        ),
        (
            r#"{"domain": "flip.test", "emails": ["ops@flip.test"]}"#,
            "--smtp-relay",
        ),
        (
            r#"{"domain": "flip.test", "webhook": ["http://x"]}"#,
            "expected {",
        ),
        ("not json", "expected {"),
    ] {
        let a = http(&s, "POST", "/v1/monitors", Some(&s.key), body);
        assert_eq!(a.status, 422, "{body}: {}", a.body);
        assert!(a.body.contains(says), "{body}: {}", a.body);
    }
    let a = http(&s, "GET", "/v1/monitors/m-nope", Some(&s.key), "");
    assert_eq!(a.status, 404);
    let a = http(&s, "GET", "/v1/monitors", None, "");
    assert_eq!(a.status, 401, "behind the key");
}

#[test]
fn the_monitors_file_is_reloaded_on_sighup_and_a_broken_one_changes_nothing() {
    let lab = TestLab::start(WORLD, "monitors-file");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("monitors.toml");
    std::fs::write(
        &file,
        "[defaults]\ninterval = \"1h\"\n\n[[monitor]]\ndomain = \"flip.test\"\n\n[[monitor]]\ndomain = \"other.test\"\ninterval = \"30m\"\n",
    )
    .unwrap();
    let s = start(
        &lab,
        &[
            "--allow-private",
            "127.0.0.0/8",
            "--monitors",
            file.to_str().unwrap(),
        ],
    );
    let list = || {
        let a = http(&s, "GET", "/v1/monitors", Some(&s.key), "");
        assert_eq!(a.status, 200, "{}", a.body);
        let mut v = lines(&a.body);
        v.sort_by_key(|m| m["domain"].as_str().unwrap_or_default().to_string());
        v
    };
    let v = list();
    assert_eq!(v.len(), 2);
    assert!(v.iter().all(|m| m["source"] == "config"));
    let flip = v[0]["id"].as_str().unwrap().to_string();
    assert_eq!(v[1]["interval"], "30m");
    // Its history runs as for any monitor.
    wait_for(
        "the file monitor's first run",
        Duration::from_secs(60),
        || runs(&s, &flip).first().cloned(),
    );
    // The file owns it: the API may not change it.
    let a = http(
        &s,
        "PATCH",
        &format!("/v1/monitors/{flip}"),
        Some(&s.key),
        r#"{"alert_after": 3}"#,
    );
    assert_eq!(a.status, 409);
    assert!(a.body.contains("SIGHUP"), "{}", a.body);
    let hup = || {
        let ok = std::process::Command::new("kill")
            .args(["-HUP", &s.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    };
    // An edit: one changed, one removed, one added; flip.test keeps its id and history.
    std::fs::write(
        &file,
        "[[monitor]]\ndomain = \"flip.test\"\nalert_after = 3\n\n[[monitor]]\ndomain = \"third.test\"\n",
    )
    .unwrap();
    hup();
    let v = wait_for("the reload", Duration::from_secs(10), || {
        let v = list();
        v.iter().any(|m| m["domain"] == "third.test").then_some(v)
    });
    assert_eq!(v.len(), 2, "{v:?}");
    assert_eq!(v[0]["id"], flip.as_str());
    assert_eq!(v[0]["alert_after"], 3);
    assert!(!runs(&s, &flip).is_empty(), "history kept");
    // A broken file: nothing changes.
    std::fs::write(
        &file,
        "[[monitor]]\ndomain = \"flip.test\"\ninterval = \"5s\"\n",
    )
    .unwrap();
    hup();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(list().len(), 2);
}

#[test]
fn many_monitors_failing_at_once_send_one_digest_and_keep_to_the_provider_budget() {
    // Twelve domains on one provider's host, answering 421 from the start.
    let mut world =
        String::from("[lab]\nname = \"monitors-digest\"\ndescription = \"one provider\"\n");
    for i in 0..12 {
        world.push_str(&format!(
            "\n[[domains]]\nname = \"d{i}.test\"\nmx = [\"10 mx1.prov.test\"]\ntxt = [\"v=spf1 mx -all\"]\n"
        ));
    }
    world.push_str(
        "\n[[hosts]]\nname = \"mx1.prov.test\"\naddress = \"127.0.9.2\"\nmailboxes = [\"postmaster\"]\nbanner = \"421 4.7.0 Too many connections, slow down\"\ntarpit = { banner_delay = \"300ms\" }\n",
    );
    let lab = TestLab::start(&world, "monitors-digest");
    let (hook, posts) = receiver();
    let s = start(
        &lab,
        &[
            "--allow-private",
            "127.0.0.0/8",
            "--per-provider",
            "2",
            "--monitor-concurrency",
            "8",
            "--alert-digest-window",
            "10s",
            "--alert-digest-after",
            "5",
        ],
    );
    for i in 0..12 {
        let a = http(
            &s,
            "POST",
            "/v1/monitors",
            Some(&s.key),
            &json!({"domain": format!("d{i}.test"), "alert_after": 1, "webhooks": [hook]})
                .to_string(),
        );
        assert_eq!(a.status, 201, "{}", a.body);
    }
    let digest = wait_for("the digest", Duration::from_secs(90), || {
        posts.lock().unwrap().first().cloned()
    });
    assert_eq!(digest.header("X-Mxray-Event"), Some("monitor.digest"));
    let d = digest.json();
    let n = d["failing"].as_u64().unwrap();
    assert!(n >= 5, "{d}");
    assert!(
        d["likely_cause"].as_str().unwrap().contains("resolver"),
        "{d}"
    );
    assert_eq!(d["alerts"].as_array().unwrap().len() as u64, n);
    // Every monitor alerted exactly once, in digests or alone.
    wait_for("every alert", Duration::from_secs(90), || {
        let p = posts.lock().unwrap();
        let total: u64 = p
            .iter()
            .map(|x| {
                let j = x.json();
                if j["event"] == "monitor.digest" {
                    j["failing"].as_u64().unwrap_or(0)
                } else {
                    1
                }
            })
            .sum();
        (total >= 12).then_some(total)
    });
    std::thread::sleep(Duration::from_millis(500));
    let p = posts.lock().unwrap();
    assert!(p.len() < 12, "batched, not a storm: {} posts", p.len());
    let stats = lab.lab().stats();
    let host = stats
        .smtp
        .iter()
        .find(|h| h.name == "mx1.prov.test")
        .expect("host");
    assert!(
        host.totals.peak_concurrency <= 2,
        "peak {} sessions at the provider: the budget is 2",
        host.totals.peak_concurrency
    );
}

#[test]
fn alerts_are_mailed_through_the_smtp_relay_with_starttls_and_auth() {
    let lab = TestLab::start(WORLD, "monitors-mail");
    let (slack, posts) = receiver();
    let relay = format!(
        "smtp://alerts%40monitors.test:pw@relay.monitors.test:{}",
        lab.smtp_port()
    );
    let s = start(
        &lab,
        &[
            "--allow-private",
            "127.0.0.0/8",
            "--smtp-relay",
            &relay,
            "--alert-digest-window",
            "200ms",
        ],
    );
    set_banner(
        &lab,
        "mx.flip.test",
        "421 4.3.2 System not accepting network messages",
    );
    let a = http(
        &s,
        "POST",
        "/v1/monitors",
        Some(&s.key),
        &json!({"domain": "flip.test", "alert_after": 1, "emails": ["ops@flip.test"], "slack": [slack]})
            .to_string(),
    );
    assert_eq!(a.status, 201, "{}", a.body);
    // Slack: text, unsigned, its markup characters escaped.
    let post = wait_for("the Slack post", Duration::from_secs(60), || {
        posts.lock().unwrap().first().cloned()
    });
    assert_eq!(post.header("X-Mxray-Signature"), None);
    let text = post.json()["text"].as_str().expect("text").to_string();
    assert!(
        text.contains("flip.test is failing (1 runs in a row)"),
        "{text}"
    );
    assert!(
        text.contains("S: 421 4.3.2 System not accepting"),
        "the evidence: {text}"
    );
    assert!(!text.contains('<'), "Slack markup escaped: {text}");
    // The relay refuses the first DATA (451): the alert is retried and arrives once.
    let got = wait_for("the alert email", Duration::from_secs(60), || {
        let r = lab
            .lab()
            .received("relay.monitors.test")
            .expect("relay host");
        (!r.is_empty()).then_some(r)
    });
    std::thread::sleep(Duration::from_millis(500));
    let again = lab
        .lab()
        .received("relay.monitors.test")
        .expect("relay host");
    assert_eq!(again.len(), 1, "delivered once");
    let m = &got[0];
    assert!(m.tls, "sent after STARTTLS");
    assert_eq!(m.user, "alerts@monitors.test", "after AUTH");
    assert_eq!(m.mail_from, "alerts@monitors.test");
    assert_eq!(m.rcpt_to, vec!["ops@flip.test".to_string()]);
    let text = m.text();
    assert!(
        text.contains("Subject: mxray: flip.test is failing"),
        "{text}"
    );
    assert!(text.contains("421 4.3.2"), "the evidence: {text}");
    assert!(text.contains("Fix:"), "the fix: {text}");
}
