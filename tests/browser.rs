//! The dashboard's pages in a real browser: headless Chromium driven through chromedriver
//! (fantoccini) against the real `mxray serve` in front of a lab; assertions on the DOM.
//!
//! Each test starts its own chromedriver on a free port, a server and a lab. Screenshots of
//! every page visited go to `target/screenshots/` (for a person to look at; not compared).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::serve::{Answer, Server, http_as, start};
use crate::util::{TestLab, require};

const WORLD: &str = r#"
[lab]
name = "browser"
description = "Targets for the dashboard's pages"

[[domains]]
name = "fine.test"
mx = ["10 mx.fine.test"]
txt = ["v=spf1 mx -all"]

[[hosts]]
name = "mx.fine.test"
address = "127.0.9.1"
mailboxes = ["alice", "postmaster"]

[[domains]]
name = "bulk.test"
mx = ["10 mx.bulk.test"]

[[hosts]]
name = "mx.bulk.test"
address = "127.0.9.2"
catch_all = true

[[domains]]
name = "hostile.test"
mx = ["10 mx.hostile.test"]

[[hosts]]
name = "mx.hostile.test"
address = "127.0.9.3"
mailboxes = ["alice"]
banner = "220 mx.hostile.test <script>window.__pwned=1</script> \"dq\" 'sq' <img src=x onerror=\"window.__pwned=2\"> \u202Egnp.exe ESMTP"
"#;

/// A chromedriver on a free loopback port, killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    /// Starts chromedriver (Debian's chromium-driver) and waits until it answers.
    fn start() -> Driver {
        require(
            "chromium",
            "chromium",
            "the browser tests (tests/browser.rs)",
        );
        require(
            "chromedriver",
            "chromium-driver",
            "the browser tests (tests/browser.rs)",
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let d = Driver { child, port };
        let until = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < until,
                "chromedriver did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    /// A headless Chromium session (`--no-sandbox`: tests may run as root in a container).
    async fn browser(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1000"],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a Chromium session from chromedriver")
    }
}

/// Runs a test's browser steps on a runtime of their own.
fn run<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// Saves what the browser shows as `target/screenshots/NAME.png`.
async fn shot(c: &Client, name: &str) {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshots directory");
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
}

fn url(s: &Server, path: &str) -> String {
    format!("http://{}{path}", s.addr)
}

async fn text_of(c: &Client, css: &str) -> String {
    // Waits for it: a click may return before the next page is there.
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .text()
        .await
        .expect("text")
}

/// Signs in through the form with the server's key; ends on /tools.
async fn sign_in(c: &Client, s: &Server) {
    c.goto(&url(s, "/tools")).await.expect("goto /tools");
    let here = c.current_url().await.expect("url");
    assert_eq!(here.path(), "/signin", "not signed in: to the sign-in page");
    assert_eq!(here.query(), Some("next=/tools"));
    shot(c, "signin").await;
    c.find(Locator::Id("key"))
        .await
        .expect("key field")
        .send_keys(&s.key)
        .await
        .expect("type key");
    c.find(Locator::Css("form.stack button[type=submit]"))
        .await
        .expect("sign-in button")
        .click()
        .await
        .expect("submit");
    // The click may return before the browser has followed the redirect.
    let until = Instant::now() + Duration::from_secs(10);
    let mut here = c.current_url().await.expect("url");
    while here.path() != "/tools" && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
        here = c.current_url().await.expect("url");
    }
    let page = c.source().await.unwrap_or_default();
    assert_eq!(here.path(), "/tools", "{page}");
    assert_eq!(text_of(c, "h1").await, "Tools");
}

/// The browser's session cookie, for plain HTTP requests as the same user.
async fn session_cookie(c: &Client) -> String {
    let cookie = c
        .get_named_cookie("mxray_session")
        .await
        .expect("the session cookie");
    format!("mxray_session={}", cookie.value())
}

/// A raw HTTP request with a cookie and extra headers; the answer as the server sent it.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut c = TcpStream::connect(addr).expect("connect to serve");
    c.set_read_timeout(Some(Duration::from_secs(90))).ok();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    c.write_all(req.as_bytes()).expect("send");
    c.write_all(body.as_bytes()).expect("send body");
    let mut raw = Vec::new();
    let _ = c.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Answer {
        status: head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        headers: head.to_string(),
        body: if chunked {
            crate::serve::dechunk(body)
        } else {
            body.to_string()
        },
    }
}

/// Every `Set-Cookie` of an answer.
fn set_cookies(a: &Answer) -> Vec<String> {
    a.headers
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.trim().to_string())
        .collect()
}

/// The value of `name="..."` in a hidden input of `html`.
fn hidden(html: &str, name: &str) -> String {
    let at = html
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no hidden {name} in {html}"));
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').expect("closing quote")].to_string()
}

/// The headers every page answers with.
fn assert_page_headers(a: &Answer, what: &str) {
    assert_eq!(
        a.header("content-security-policy").as_deref(),
        Some(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ),
        "{what}: {}",
        a.headers
    );
    assert_eq!(
        a.header("x-content-type-options").as_deref(),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        a.header("referrer-policy").as_deref(),
        Some("no-referrer"),
        "{what}"
    );
}

/// Presses `key` where the focus is.
async fn press(c: &Client, key: Key) {
    let k: char = key.into();
    c.perform_actions(
        KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: k })
            .then(KeyAction::Up { value: k }),
    )
    .await
    .expect("key press");
}

/// What has the focus: its id, or its text when it has none.
async fn focused(c: &Client) -> String {
    let v = c
        .execute(
            "const e = document.activeElement; return e.id || e.textContent.trim();",
            vec![],
        )
        .await
        .expect("activeElement");
    v.as_str().unwrap_or_default().to_string()
}

#[test]
fn signing_in_gives_a_strict_cookie_and_forms_need_their_token() {
    let lab = TestLab::start(WORLD, "browser.toml");
    let s = start(&lab, &["--allow-private", "127.0.0.0/8"]);
    let driver = Driver::start();
    run(async {
        let c = driver.browser().await;
        // A wrong key is refused on the page, with what to do.
        c.goto(&url(&s, "/signin")).await.expect("goto");
        c.find(Locator::Id("key"))
            .await
            .expect("key field")
            .send_keys("mxr_0000000000000000000000000000000000000000000000000000000000000000")
            .await
            .expect("type");
        c.find(Locator::Css("form.stack button"))
            .await
            .expect("button")
            .click()
            .await
            .expect("submit");
        assert!(
            text_of(&c, "#signin-problem")
                .await
                .contains("unknown or revoked")
        );
        shot(&c, "signin-refused").await;
        sign_in(&c, &s).await;
        let cookie = c
            .get_named_cookie("mxray_session")
            .await
            .expect("session cookie");
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(
            cookie.same_site().map(|s| s.to_string()).as_deref(),
            Some("Strict")
        );
        // Scripts cannot read it.
        let seen = c
            .execute("return document.cookie", vec![])
            .await
            .expect("document.cookie");
        assert!(!seen.as_str().unwrap_or_default().contains("mxray_session"));
        shot(&c, "tools").await;
        let session = session_cookie(&c).await;

        // The same over plain HTTP: the exact Set-Cookie of a sign-in.
        let form = request(s.addr, "GET", "/signin", &[], "");
        assert_eq!(form.status, 200);
        assert_page_headers(&form, "GET /signin");
        let token = hidden(&form.body, "csrf");
        let pre = set_cookies(&form)
            .into_iter()
            .find(|c| c.starts_with("mxray_signin="))
            .expect("sign-in form cookie");
        let pre = pre.split(';').next().unwrap_or_default().to_string();
        let body = format!("csrf={token}&next=%2Ftools&key={}", s.key);
        let form_type = ("Content-Type", "application/x-www-form-urlencoded");
        let signed = request(
            s.addr,
            "POST",
            "/signin",
            &[form_type, ("Cookie", &pre)],
            &body,
        );
        assert_eq!(signed.status, 303, "{}", signed.body);
        assert_eq!(signed.header("location").as_deref(), Some("/tools"));
        let set = set_cookies(&signed)
            .into_iter()
            .find(|c| c.starts_with("mxray_session="))
            .expect("session Set-Cookie");
        for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
            assert!(set.split("; ").any(|p| p == part), "{part} in {set}");
        }
        assert!(
            !set.contains("Secure"),
            "plain HTTP without --secure-cookies: {set}"
        );
        // The sign-in form's token is its cookie's: without the cookie, 403.
        let forged = request(s.addr, "POST", "/signin", &[form_type], &body);
        assert_eq!(forged.status, 403);

        // A form without its token: 403, with what to do.
        let cookie = ("Cookie", session.as_str());
        let no_token = request(
            s.addr,
            "POST",
            "/tools/explain",
            &[form_type, cookie],
            "text=421+4.4.2+closed",
        );
        assert_eq!(no_token.status, 403, "{}", no_token.body);
        assert!(
            no_token.body.contains("reload the page"),
            "{}",
            no_token.body
        );
        assert_page_headers(&no_token, "the 403 page");
        // With the session's token, from this page, it is answered; from another origin not.
        let page = request(s.addr, "GET", "/tools", &[cookie], "");
        assert_page_headers(&page, "GET /tools");
        assert_eq!(page.header("cache-control").as_deref(), Some("no-store"));
        let csrf = hidden(&page.body, "csrf");
        let ok_body = format!("csrf={csrf}&text=421+4.4.2+closed");
        let ok = request(
            s.addr,
            "POST",
            "/tools/explain",
            &[form_type, cookie, ("Origin", &format!("http://{}", s.addr))],
            &ok_body,
        );
        assert_eq!(ok.status, 200, "{}", ok.body);
        assert_page_headers(&ok, "POST /tools/explain");
        let foreign = request(
            s.addr,
            "POST",
            "/tools/explain",
            &[form_type, cookie, ("Origin", "http://evil.test")],
            &ok_body,
        );
        assert_eq!(foreign.status, 403);
        // Without a session, a page sends the browser to sign in.
        let anon = request(s.addr, "GET", "/tools", &[], "");
        assert_eq!(anon.status, 303);
        assert_eq!(
            anon.header("location").as_deref(),
            Some("/signin?next=/tools")
        );
        for path in ["/static/app.css", "/tools/jobs/nope"] {
            let a = request(s.addr, "GET", path, &[cookie], "");
            assert_page_headers(&a, path);
        }

        // Signing out ends the session on the server, not only in this browser.
        c.find(Locator::Css("header form button"))
            .await
            .expect("sign-out button")
            .click()
            .await
            .expect("sign out");
        arrive(&c, "the sign-in page", |p| p == "/signin").await;
        let after = request(s.addr, "GET", "/tools", &[cookie], "");
        assert_eq!(after.status, 303, "the old cookie is dead");
        c.close().await.expect("close the browser");
    });
}

/// Waits until the job page (reloading itself) says the job is done; its page's text.
async fn wait_for_job(c: &Client) {
    let until = Instant::now() + Duration::from_secs(90);
    loop {
        // The page reloads itself: an element may go stale between find and read. The
        // DOM's text, not the rendered one (the badge is upper-cased by CSS).
        if let Ok(e) = c.find(Locator::Id("job-state")).await
            && let Ok(Some(t)) = e.prop("textContent").await
        {
            match t.as_str() {
                "done" => return,
                "failed" | "cancelled" => panic!("the job ended {t}"),
                _ => {}
            }
        }
        assert!(Instant::now() < until, "the job did not finish");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[test]
fn the_tools_explain_verify_a_csv_and_chart_a_log() {
    let lab = TestLab::start(WORLD, "browser.toml");
    let s = start(&lab, &["--allow-private", "127.0.0.0/8"]);
    let driver = Driver::start();
    let dir = tempfile::tempdir().expect("tempdir");
    run(async {
        let c = driver.browser().await;
        sign_in(&c, &s).await;

        // Keyboard only: Tab walks the page's controls in order.
        c.goto(&url(&s, "/tools")).await.expect("goto");
        let mut order = Vec::new();
        for _ in 0..10 {
            press(&c, Key::Tab).await;
            order.push(focused(&c).await);
        }
        assert_eq!(
            order,
            [
                "Skip to content",
                "mxray",
                "Overview",
                "Tools",
                "Sign out",
                "explain-text",
                "Explain",
                "diagnose-domain",
                "diagnose-probe",
                "Diagnose",
            ],
        );
        // ... and Enter on the skip link moves on to the content.
        c.goto(&url(&s, "/tools")).await.expect("goto");
        press(&c, Key::Tab).await;
        press(&c, Key::Enter).await;
        assert!(
            c.current_url()
                .await
                .expect("url")
                .as_str()
                .ends_with("#main")
        );
        // Typing into the explain box and pressing Enter on its button submits it.
        c.goto(&url(&s, "/tools")).await.expect("goto");
        for _ in 0..6 {
            press(&c, Key::Tab).await;
        }
        assert_eq!(focused(&c).await, "explain-text");
        c.active_element()
            .await
            .expect("focus")
            .send_keys("Nov 24 06:48:01 mail postfix/smtp[27810]: 4B1F2160071: to=<bob@example.test>, relay=mx.example.test[192.0.2.25]:25, delay=2, dsn=4.4.2, status=deferred (host mx.example.test[192.0.2.25] said: 421 4.4.2 mx.example.test Error: timeout exceeded (in reply to end of DATA command))")
            .await
            .expect("type");
        press(&c, Key::Tab).await;
        assert_eq!(focused(&c).await, "Explain");
        press(&c, Key::Enter).await;
        c.wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("article.explanation"))
            .await
            .expect("an explanation");
        assert_eq!(c.title().await.expect("title"), "Explanation — mxray");
        let h3 = text_of(&c, "article.explanation h3").await;
        assert!(h3.starts_with("421 4.4.2"), "{h3}");
        let facts = text_of(&c, "article.explanation dl").await;
        assert!(facts.contains("transient: retry later"), "{facts}");
        assert!(facts.contains("in reply to end of DATA"), "{facts}");
        shot(&c, "explain").await;

        // A bounce message pasted whole: one explanation per recipient.
        c.goto(&url(&s, "/tools")).await.expect("goto");
        let bounce = "From: MAILER-DAEMON@mx.example.test\nTo: sender@example.test\nSubject: Undelivered Mail Returned to Sender\nContent-Type: text/plain\n\nThis is the mail system at host mx.example.test.\n\n<carol@example.test>: host mx.example.test[192.0.2.25] said: 550 5.1.1\n    <carol@example.test>: Recipient address rejected: User unknown (in reply to\n    RCPT TO command)\n";
        c.find(Locator::Id("explain-text"))
            .await
            .expect("textarea")
            .send_keys(bounce)
            .await
            .expect("type");
        c.find(Locator::Css("form[action='/tools/explain'] button"))
            .await
            .expect("button")
            .click()
            .await
            .expect("submit");
        let h3 = text_of(&c, "article.explanation h3").await;
        assert!(h3.starts_with("550 5.1.1"), "{h3}");
        let fields = text_of(&c, "section.bounce dl").await;
        assert!(fields.contains("carol@example.test"), "{fields}");
        shot(&c, "explain-bounce").await;

        // A CSV list: a job of the signed-in key, its progress, then the results.
        let csv = dir.path().join("list.csv");
        std::fs::write(
            &csv,
            "name,email\nAlice,alice@fine.test\nNobody,nobody@fine.test\nBob,bob@bulk.test\n",
        )
        .expect("write csv");
        c.goto(&url(&s, "/tools")).await.expect("goto");
        c.find(Locator::Id("verify-file"))
            .await
            .expect("file input")
            .send_keys(csv.to_str().expect("utf-8 path"))
            .await
            .expect("choose file");
        c.find(Locator::Css("form[action='/tools/verify'] button"))
            .await
            .expect("button")
            .click()
            .await
            .expect("submit");
        let job_path = arrive(&c, "the job's page", |p| p.starts_with("/tools/jobs/")).await;
        let id = job_path
            .strip_prefix("/tools/jobs/")
            .expect("on the job's page")
            .to_string();
        shot(&c, "job-running").await;
        wait_for_job(&c).await;
        assert_eq!(text_of(&c, "#job-done").await, "3");
        let max = c
            .find(Locator::Id("job-progress"))
            .await
            .expect("progress")
            .attr("max")
            .await
            .expect("max");
        assert_eq!(max.as_deref(), Some("3"));
        shot(&c, "job-done").await;
        let href = c
            .find(Locator::Id("job-results"))
            .await
            .expect("results link")
            .attr("href")
            .await
            .expect("href")
            .expect("an href");
        assert_eq!(href, format!("/tools/jobs/{id}/results.csv"));
        // The download with the browser's cookie equals the API's CSV for the same key.
        let session = session_cookie(&c).await;
        let got = request(s.addr, "GET", &href, &[("Cookie", &session)], "");
        assert_eq!(got.status, 200, "{}", got.body);
        assert!(
            got.header("content-disposition")
                .is_some_and(|d| d.starts_with("attachment"))
        );
        let api = http_as(
            &s,
            "GET",
            &format!("/v1/jobs/{id}/results?format=csv"),
            Some(&s.key),
            "text/plain",
            "",
        );
        assert_eq!(api.status, 200, "{}", api.body);
        let (got, api) = (got.body, api.body);
        assert_eq!(got, api);
        let rows: Vec<&str> = got.lines().collect();
        assert_eq!(rows.len(), 4, "{got}");
        assert!(
            rows[0].starts_with("name,email,address,normalized,verdict"),
            "{got}"
        );
        assert!(
            rows[1]
                .starts_with("Alice,alice@fine.test,alice@fine.test,alice@fine.test,deliverable"),
            "{got}"
        );
        assert!(
            rows[2].starts_with(
                "Nobody,nobody@fine.test,nobody@fine.test,nobody@fine.test,undeliverable"
            ),
            "{got}"
        );
        assert!(rows[3].starts_with("Bob,bob@bulk.test,"), "{got}");

        // A mail log: its report, the chart of deferrals per hour and its table.
        c.goto(&url(&s, "/tools")).await.expect("goto");
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/logs/postfix-debian12.log"
        );
        c.find(Locator::Id("logs-file"))
            .await
            .expect("file input")
            .send_keys(fixture)
            .await
            .expect("choose file");
        c.find(Locator::Css("form[action='/tools/logs'] button"))
            .await
            .expect("button")
            .click()
            .await
            .expect("submit");
        c.wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css("section.logs-report"))
            .await
            .expect("the log report");
        assert_eq!(c.title().await.expect("title"), "Log report — mxray");
        let svg = c
            .find(Locator::Css("figure.chart svg[role=img]"))
            .await
            .expect("the chart");
        assert_eq!(
            svg.attr("aria-label").await.expect("label").as_deref(),
            Some("Deferrals per hour by enhanced code")
        );
        let bars = c
            .find_all(Locator::Css("figure.chart svg g.bar rect"))
            .await
            .expect("bars");
        assert!(!bars.is_empty(), "bars in the chart");
        // The table behind it adds up to the report's 60 deferrals.
        let total: u64 = c
            .execute(
                "return Array.from(document.querySelectorAll('figure.chart table tbody tr td:last-child')).reduce((n, td) => n + Number(td.textContent), 0);",
                vec![],
            )
            .await
            .expect("table total")
            .as_u64()
            .unwrap_or(0);
        assert_eq!(total, 60);
        let groups = c
            .find_all(Locator::Css("section.logs-report article.explanation"))
            .await
            .expect("groups");
        assert!(!groups.is_empty());
        shot(&c, "logs").await;
        // The table opens for a reader.
        c.find(Locator::Css("figure.chart details summary"))
            .await
            .expect("table summary")
            .click()
            .await
            .expect("open");
        shot(&c, "logs-table").await;
        c.close().await.expect("close the browser");
    });
}

#[test]
fn a_hostile_banner_stays_inert_in_the_diagnosis() {
    let lab = TestLab::start(WORLD, "browser.toml");
    let s = start(&lab, &["--allow-private", "127.0.0.0/8"]);
    let driver = Driver::start();
    run(async {
        let c = driver.browser().await;
        sign_in(&c, &s).await;
        c.find(Locator::Id("diagnose-domain"))
            .await
            .expect("domain field")
            .send_keys("hostile.test")
            .await
            .expect("type");
        c.find(Locator::Id("diagnose-probe"))
            .await
            .expect("probe field")
            .send_keys("alice@hostile.test")
            .await
            .expect("type");
        c.find(Locator::Css("form[action='/tools/diagnose'] button"))
            .await
            .expect("button")
            .click()
            .await
            .expect("submit");
        c.wait()
            .at_most(Duration::from_secs(70))
            .for_element(Locator::Css("section.report"))
            .await
            .expect("the report");
        assert_eq!(
            c.title().await.expect("title"),
            "Diagnosis of alice@hostile.test — mxray"
        );
        let state: Value = c
            .execute(
                "return {
                    pwned: typeof window.__pwned,
                    scripts: document.scripts.length,
                    handlers: document.querySelectorAll('[onerror],[onload],[onclick]').length,
                    imgs: document.querySelectorAll('img').length,
                    transcript: Array.from(document.querySelectorAll('pre.transcript')).map(p => p.textContent).join('\\n'),
                    body: document.body.innerText,
                    sheets: document.styleSheets.length,
                };",
                vec![],
            )
            .await
            .expect("the DOM");
        assert_eq!(state["pwned"], "undefined", "the banner's script ran");
        assert_eq!(state["scripts"], 0, "no <script> of ours, none of theirs");
        assert_eq!(state["handlers"], 0);
        assert_eq!(state["imgs"], 0);
        assert_eq!(state["sheets"], 1, "our stylesheet loaded under the CSP");
        let transcript = state["transcript"].as_str().unwrap_or_default();
        assert!(
            transcript.contains(
                "220 mx.hostile.test <script>window.__pwned=1</script> \"dq\" 'sq' <img src=x onerror=\"window.__pwned=2\"> \\u{202e}gnp.exe ESMTP"
            ),
            "the banner as literal text, its bidi override shown escaped: {transcript}"
        );
        let body = state["body"].as_str().unwrap_or_default();
        assert!(
            !body.contains('\u{202e}'),
            "no live bidi override on the page"
        );
        // The report's parts are there.
        for part in [
            "Score by area",
            "Mail exchangers",
            "Findings",
            "SMTP transcripts",
            "Records found",
        ] {
            assert!(body.contains(part), "{part} in {body}");
        }
        shot(&c, "diagnosis-hostile").await;
        c.execute(
            "document.querySelector('pre.transcript').scrollIntoView()",
            vec![],
        )
        .await
        .expect("scroll");
        shot(&c, "diagnosis-transcript").await;
        c.close().await.expect("close the browser");
    });
}

/// Without keys (`--no-auth`, loopback only) there is no sign-in, but forms still carry a
/// session's token: a first visit gets the session by a redirect to the same page.
#[test]
fn without_keys_a_first_visit_gets_a_session_for_its_forms() {
    let lab = TestLab::start(WORLD, "browser.toml");
    let s = start(&lab, &["--no-auth", "--allow-private", "127.0.0.0/8"]);
    let first = request(s.addr, "GET", "/tools", &[], "");
    assert_eq!(first.status, 303, "{}", first.headers);
    assert_eq!(first.header("location").as_deref(), Some("/tools"));
    let cookie = set_cookies(&first)
        .into_iter()
        .find(|c| c.starts_with("mxray_session="))
        .expect("a session cookie");
    let cookie = cookie.split(';').next().unwrap_or_default().to_string();
    let page = request(s.addr, "GET", "/tools", &[("Cookie", &cookie)], "");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("No sign-in (--no-auth, loopback only)"));
    assert!(!page.body.contains("Sign out"));
    let signin = request(s.addr, "GET", "/signin?next=/tools", &[], "");
    assert_eq!(signin.status, 303, "nothing to sign in to");
    let form_type = ("Content-Type", "application/x-www-form-urlencoded");
    let forged = request(
        s.addr,
        "POST",
        "/tools/explain",
        &[form_type, ("Cookie", &cookie)],
        "text=421",
    );
    assert_eq!(forged.status, 403);
    let csrf = hidden(&page.body, "csrf");
    let ok = request(
        s.addr,
        "POST",
        "/tools/explain",
        &[form_type, ("Cookie", &cookie)],
        &format!("csrf={csrf}&text=421+4.7.0+Try+again+later"),
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.body.contains("<code>421 4.7.0</code>"), "{}", ok.body);
}

/// The monitors' world: a domain that passes until its host turns to 421, one with two SPF
/// records (a corrected record to publish), a quiet one to pause and delete, the hostile banner.
const MONITORED: &str = r#"
[lab]
name = "browser-monitors"
description = "Monitored domains for the dashboard's pages"

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
name = "twospf.test"
mx = ["10 mx.twospf.test"]
txt = ["v=spf1 mx -all", "v=spf1 a -all"]

[[hosts]]
name = "mx.twospf.test"
address = "127.0.9.2"
mailboxes = ["postmaster"]

[[domains]]
name = "quiet.test"
mx = ["10 mx.quiet.test"]

[[hosts]]
name = "mx.quiet.test"
address = "127.0.9.4"
mailboxes = ["postmaster"]

[[domains]]
name = "hostile.test"
mx = ["10 mx.hostile.test"]
txt = ["v=spf1 mx -all"]

[[domains.records]]
name = "_dmarc"
txt = ["v=DMARC1; p=reject; rua=mailto:dmarc@hostile.test"]

[[hosts]]
name = "mx.hostile.test"
address = "127.0.9.3"
mailboxes = ["alice"]
banner = "220 mx.hostile.test <script>window.__pwned=1</script> \"dq\" 'sq' <img src=x onerror=\"window.__pwned=2\"> \u202Egnp.exe ESMTP"
"#;

/// Loads `page` until no run is under way and the monitor's state reads `want` (the page
/// reloads itself while a run is on; loading it here does not depend on that timing).
async fn wait_state(c: &Client, page: &str, want: &str) {
    let until = Instant::now() + Duration::from_secs(90);
    let mut seen = String::new();
    loop {
        if c.goto(page).await.is_ok() {
            let running = c.find(Locator::Id("running")).await.is_ok();
            if let Ok(e) = c.find(Locator::Id("monitor-state")).await
                && let Ok(Some(t)) = e.prop("textContent").await
            {
                if !running && t == want {
                    return;
                }
                let runs = c.find(Locator::Css("table.runs tbody")).await.ok();
                let runs = match runs {
                    Some(r) => r.text().await.unwrap_or_default(),
                    None => String::new(),
                };
                seen = format!("{t}; runs: {runs}");
            }
        }
        assert!(
            Instant::now() < until,
            "the monitor did not turn {want} (last seen: {seen})"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The classes and the computed background of the state badge under `css`.
async fn badge(c: &Client, css: &str) -> (String, String, String) {
    let v = c
        .execute(
            "const e = document.querySelector(arguments[0]);
             return e ? [e.className, e.textContent.trim(), getComputedStyle(e).backgroundColor] : null;",
            vec![json!(css)],
        )
        .await
        .expect("the badge");
    let s = |i: usize| v[i].as_str().unwrap_or_default().to_string();
    assert!(v.is_array(), "no badge at {css}");
    (s(0), s(1), s(2))
}

/// The path the browser arrives at once `ok` holds (a click may return before the browser has
/// followed a form's redirect).
async fn arrive(c: &Client, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let here = c.current_url().await.expect("url");
        if ok(here.path()) {
            return here.path().to_string();
        }
        assert!(Instant::now() < until, "not {what}: at {here}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The id of the monitor whose page the browser shows.
async fn monitor_id(c: &Client) -> String {
    let path = arrive(c, "on a monitor's page", |p| p.starts_with("/monitors/")).await;
    path.trim_start_matches("/monitors/").to_string()
}

/// Creates a monitor through the API; its id.
fn api_monitor(s: &Server, body: Value) -> String {
    let a = crate::serve::http(s, "POST", "/v1/monitors", Some(&s.key), &body.to_string());
    assert_eq!(a.status, 201, "{}", a.body);
    a.json()["id"].as_str().expect("id").to_string()
}

#[test]
fn a_monitor_created_on_the_overview_turns_red_alerts_and_recovers() {
    let started = Instant::now();
    let lab = TestLab::start(MONITORED, "browser-monitors.toml");
    let (hook, posts) = crate::monitors::receiver();
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
    let driver = Driver::start();
    run(async {
        let c = driver.browser().await;
        sign_in(&c, &s).await;
        c.goto(&url(&s, "/")).await.expect("goto /");
        assert_eq!(c.title().await.expect("title"), "Overview — mxray");
        assert_eq!(
            text_of(&c, "header nav a[aria-current=page]").await,
            "Overview"
        );
        assert!(text_of(&c, "p.empty").await.contains("No monitors yet"));
        shot(&c, "overview-empty").await;

        // A bad domain: the form comes back with the message, what was typed kept and inert.
        c.find(Locator::Id("new-domain"))
            .await
            .expect("domain field")
            .send_keys("<b>not a domain")
            .await
            .expect("type");
        c.find(Locator::Css("form[action='/monitors'] button"))
            .await
            .expect("create button")
            .click()
            .await
            .expect("submit");
        let problem = text_of(&c, "#new-problem").await;
        assert!(problem.starts_with("domain:"), "{problem}");
        let kept = c
            .find(Locator::Id("new-domain"))
            .await
            .expect("domain field")
            .prop("value")
            .await
            .expect("value");
        assert_eq!(kept.as_deref(), Some("<b>not a domain"));
        assert!(c.find(Locator::Css("#new-problem b")).await.is_err());
        // ... with 422 (seen over plain HTTP with the browser's session).
        let session = session_cookie(&c).await;
        let page = request(s.addr, "GET", "/", &[("Cookie", &session)], "");
        let token = hidden(&page.body, "csrf");
        let refused = request(
            s.addr,
            "POST",
            "/monitors",
            &[
                ("Cookie", &session),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            &format!("csrf={token}&domain=flip.test&interval=10s"),
        );
        assert_eq!(refused.status, 422, "{}", refused.body);
        let forged = request(
            s.addr,
            "POST",
            "/monitors",
            &[
                ("Cookie", &session),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            "domain=flip.test",
        );
        assert_eq!(forged.status, 403, "no token, no monitor");

        // Created from the form: its page, passing (green) after the first run.
        c.goto(&url(&s, "/")).await.expect("goto /");
        for (id, text) in [
            ("new-domain", "flip.test"),
            ("new-interval", "1h"),
            ("new-alert-after", "2"),
            ("new-webhooks", hook.as_str()),
        ] {
            c.find(Locator::Id(id))
                .await
                .expect("a field")
                .send_keys(text)
                .await
                .expect("type");
        }
        c.find(Locator::Css("form[action='/monitors'] button"))
            .await
            .expect("create button")
            .click()
            .await
            .expect("submit");
        let id = monitor_id(&c).await;
        let page = url(&s, &format!("/monitors/{id}"));
        assert_eq!(c.title().await.expect("title"), "flip.test — mxray");
        wait_state(&c, &page, "passing").await;
        let (class, text, bg) = badge(&c, ".status .state").await;
        assert!(class.contains("state-passing"), "{class}");
        assert_eq!(text, "✓ passing");
        assert_eq!(bg, "rgb(230, 244, 234)", "a green badge");
        let facts = text_of(&c, "dl.facts").await;
        assert!(facts.contains(&hook), "{facts}");
        assert!(facts.contains("2 failing runs in a row"), "{facts}");
        shot(&c, "domain-passing").await;

        // The others: two SPF records (a record to publish), a hostile banner, a quiet one.
        let twospf = api_monitor(&s, json!({"domain": "twospf.test", "alert_after": 5}));
        let hostile = api_monitor(
            &s,
            json!({"domain": "hostile.test", "probe": "alice@hostile.test"}),
        );
        let quiet = api_monitor(&s, json!({"domain": "quiet.test"}));

        // The host starts answering 421: red after one run (failing), alerting after two.
        crate::monitors::set_banner(
            &lab,
            "mx.flip.test",
            "421 4.3.2 System not accepting network messages",
        );
        c.find(Locator::Id("run-now"))
            .await
            .expect("Run now")
            .click()
            .await
            .expect("run");
        wait_state(&c, &page, "failing").await;
        let (class, text, _) = badge(&c, ".status .state").await;
        assert!(class.contains("state-failing"), "{class}");
        assert_eq!(text, "! failing");
        assert!(
            text_of(&c, ".status")
                .await
                .contains("1 failing run in a row")
        );
        c.goto(&url(&s, "/")).await.expect("goto /");
        let (class, _, _) = badge(&c, &format!("tr[data-monitor='{id}'] .state")).await;
        assert!(class.contains("state-failing"), "{class}");
        assert!(
            posts.lock().unwrap().is_empty(),
            "no alert after one failing run"
        );
        // The second run from the keyboard: Tab to the button, Enter.
        c.goto(&page).await.expect("goto");
        let mut reached = false;
        for _ in 0..8 {
            press(&c, Key::Tab).await;
            if focused(&c).await == "run-now" {
                reached = true;
                break;
            }
        }
        assert!(reached, "Run now is reachable with Tab");
        press(&c, Key::Enter).await;
        wait_state(&c, &page, "alerting").await;
        let (class, text, bg) = badge(&c, ".status .state").await;
        assert!(class.contains("state-alerting"), "{class}");
        assert_eq!(text, "✕ alerting");
        assert_eq!(bg, "rgb(180, 35, 24)", "a red badge");
        shot(&c, "domain-alerting").await;
        let alert = crate::monitors::wait_for("the failing alert", Duration::from_secs(20), || {
            posts.lock().unwrap().first().cloned()
        });
        assert_eq!(alert.header("X-Mxray-Event"), Some("monitor.failing"));
        let ts = alert.header("X-Mxray-Timestamp").expect("timestamp");
        let sig = alert.header("X-Mxray-Signature").expect("signature");
        assert!(
            mxray_net::webhook::verify(b"s3cret", ts, &alert.body, sig),
            "the HMAC checks out"
        );
        assert_eq!(alert.json()["domain"], "flip.test");
        // The latest report says why, with the reply.
        let report = text_of(&c, "section.report").await;
        assert!(report.contains("421 4.3.2"), "{report}");

        // The overview: failing first, counts, every state; the sparkline and the filters.
        wait_state(&c, &url(&s, &format!("/monitors/{twospf}")), "failing").await;
        wait_state(&c, &url(&s, &format!("/monitors/{hostile}")), "passing").await;
        c.goto(&url(&s, &format!("/monitors/{quiet}")))
            .await
            .expect("goto");
        c.find(Locator::Id("pause"))
            .await
            .expect("Pause")
            .click()
            .await
            .expect("pause");
        wait_state(&c, &url(&s, &format!("/monitors/{quiet}")), "paused").await;
        assert!(
            c.find(Locator::Id("resume")).await.is_ok(),
            "Resume offered"
        );
        c.goto(&url(&s, "/")).await.expect("goto /");
        let order: Vec<String> = c
            .execute(
                "return Array.from(document.querySelectorAll('#monitors tbody tr')).map(r => r.className);",
                vec![],
            )
            .await
            .expect("rows")
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        assert_eq!(
            order,
            ["row-alerting", "row-failing", "row-passing", "row-paused"],
            "failing first"
        );
        assert_eq!(text_of(&c, "li.count-failing .n").await, "2");
        assert_eq!(text_of(&c, "li.count-all .n").await, "4");
        let spark = c
            .find(Locator::Css(&format!(
                "tr[data-monitor='{id}'] .sparkline polyline"
            )))
            .await;
        assert!(spark.is_ok(), "three runs draw a line");
        shot(&c, "overview-states").await;
        // Sorted by domain through the column's link; filtered through the form.
        c.find(Locator::LinkText("Domain"))
            .await
            .expect("sort link")
            .click()
            .await
            .expect("sort");
        let first = text_of(&c, "#monitors tbody tr th").await;
        assert_eq!(first, "flip.test");
        assert_eq!(
            c.find(Locator::Css("th[aria-sort]"))
                .await
                .expect("sorted")
                .text()
                .await
                .expect("text"),
            "Domain ▾"
        );
        c.find(Locator::Id("f-q"))
            .await
            .expect("search")
            .send_keys("spf")
            .await
            .expect("type");
        c.find(Locator::Css("form.filter button"))
            .await
            .expect("apply")
            .click()
            .await
            .expect("apply");
        let until = Instant::now() + Duration::from_secs(20);
        while !c
            .current_url()
            .await
            .expect("url")
            .query()
            .is_some_and(|q| q.contains("q=spf"))
        {
            assert!(Instant::now() < until, "the filtered overview");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let rows = c
            .find_all(Locator::Css("#monitors tbody tr[data-monitor]"))
            .await
            .expect("rows");
        assert_eq!(rows.len(), 1);
        assert_eq!(text_of(&c, "#monitors tbody th").await, "twospf.test");
        let here = c.current_url().await.expect("url");
        assert!(
            here.query()
                .is_some_and(|q| q.contains("q=spf") && q.contains("sort=domain")),
            "{here}"
        );

        // Back to normal: a run, green again, the recovery sent.
        lab.lab().restore_host("mx.flip.test").expect("restore");
        c.goto(&page).await.expect("goto");
        c.find(Locator::Id("run-now"))
            .await
            .expect("Run now")
            .click()
            .await
            .expect("run");
        wait_state(&c, &page, "passing").await;
        let (class, _, _) = badge(&c, ".status .state").await;
        assert!(class.contains("state-passing"), "{class}");
        let rec = crate::monitors::wait_for("the recovery", Duration::from_secs(20), || {
            posts.lock().unwrap().get(1).cloned()
        });
        assert_eq!(rec.header("X-Mxray-Event"), Some("monitor.recovered"));
        let ts = rec.header("X-Mxray-Timestamp").expect("timestamp");
        let sig = rec.header("X-Mxray-Signature").expect("signature");
        assert!(mxray_net::webhook::verify(b"s3cret", ts, &rec.body, sig));
        // The timeline tells the story; the chart is an SVG with its table of four runs.
        let alert_ev = text_of(&c, "ol.timeline li.ev-alert").await;
        assert!(alert_ev.contains("failing 2 runs in a row"), "{alert_ev}");
        let recovered = text_of(&c, "ol.timeline li.ev-recovered").await;
        assert!(recovered.contains("Recovered"), "{recovered}");
        let first = c
            .find(Locator::Css("ol.timeline li"))
            .await
            .expect("events");
        assert_eq!(
            first.attr("class").await.expect("class").as_deref(),
            Some("ev-recovered"),
            "newest first"
        );
        assert!(
            c.find(Locator::Css("ol.timeline li time[datetime]"))
                .await
                .is_ok()
        );
        let svg = c
            .find(Locator::Css("figure.chart svg[role=img]"))
            .await
            .expect("the score chart");
        assert_eq!(
            svg.attr("aria-label").await.expect("label").as_deref(),
            Some("Score of flip.test over time")
        );
        let table_rows = c
            .find_all(Locator::Css("figure.chart table tbody tr"))
            .await
            .expect("rows");
        assert_eq!(table_rows.len(), 4, "one row per run");
        shot(&c, "domain-recovered").await;
        c.execute(
            "document.getElementById('h-timeline').scrollIntoView()",
            vec![],
        )
        .await
        .expect("scroll");
        shot(&c, "domain-timeline").await;

        // A bad edit comes back with its message; a good one is saved.
        c.find(Locator::Css("details.edit summary"))
            .await
            .expect("edit")
            .click()
            .await
            .expect("open");
        let interval = c
            .find(Locator::Id("edit-interval"))
            .await
            .expect("interval");
        interval.clear().await.expect("clear");
        interval.send_keys("10s").await.expect("type");
        c.find(Locator::Css("form[action$='/edit'] button"))
            .await
            .expect("save")
            .click()
            .await
            .expect("save");
        assert!(text_of(&c, "#edit-problem").await.contains("at least 1m"));
        let interval = c
            .find(Locator::Id("edit-interval"))
            .await
            .expect("interval");
        interval.clear().await.expect("clear");
        interval.send_keys("30m").await.expect("type");
        c.find(Locator::Css("form[action$='/edit'] button"))
            .await
            .expect("save")
            .click()
            .await
            .expect("save");
        let until = Instant::now() + Duration::from_secs(10);
        while !text_of(&c, "dl.facts").await.contains("30m") {
            assert!(Instant::now() < until, "the new interval is shown");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // Two SPF records: the merged record to publish, whole, on the domain's page.
        c.goto(&url(&s, &format!("/monitors/{twospf}")))
            .await
            .expect("goto");
        let record = text_of(&c, "section.publish pre.record").await;
        assert!(
            record.contains("twospf.test.") && record.contains("\"v=spf1 "),
            "{record}"
        );
        c.execute(
            "document.getElementById('h-publish').scrollIntoView()",
            vec![],
        )
        .await
        .expect("scroll");
        shot(&c, "domain-publish").await;

        // The hostile banner on a monitor's page: inert, as on the one-off diagnosis.
        c.goto(&url(&s, &format!("/monitors/{hostile}")))
            .await
            .expect("goto");
        let state: Value = c
            .execute(
                "return {
                    pwned: typeof window.__pwned,
                    scripts: document.scripts.length,
                    handlers: document.querySelectorAll('[onerror],[onload],[onclick]').length,
                    imgs: document.querySelectorAll('img').length,
                    transcript: Array.from(document.querySelectorAll('pre.transcript')).map(p => p.textContent).join('\\n'),
                    body: document.body.innerText,
                };",
                vec![],
            )
            .await
            .expect("the DOM");
        assert_eq!(state["pwned"], "undefined", "the banner's script ran");
        assert_eq!(state["scripts"], 0);
        assert_eq!(state["handlers"], 0);
        assert_eq!(state["imgs"], 0);
        let transcript = state["transcript"].as_str().unwrap_or_default();
        assert!(
            transcript.contains("220 mx.hostile.test <script>window.__pwned=1</script> \"dq\" 'sq' <img src=x onerror=\"window.__pwned=2\"> \\u{202e}gnp.exe ESMTP"),
            "{transcript}"
        );
        assert!(
            !state["body"]
                .as_str()
                .unwrap_or_default()
                .contains('\u{202e}')
        );
        shot(&c, "domain-hostile").await;

        // Deleting asks first, on a page of its own; then the overview says it is gone.
        c.goto(&url(&s, &format!("/monitors/{quiet}")))
            .await
            .expect("goto");
        c.find(Locator::Id("delete"))
            .await
            .expect("Delete")
            .click()
            .await
            .expect("delete");
        arrive(&c, "on the confirmation", |p| p.ends_with("/delete")).await;
        assert_eq!(c.title().await.expect("title"), "Delete quiet.test — mxray");
        shot(&c, "domain-delete").await;
        c.find(Locator::Id("confirm-delete"))
            .await
            .expect("confirm")
            .click()
            .await
            .expect("confirm");
        arrive(&c, "on the overview", |p| p == "/").await;
        assert!(text_of(&c, "p.notice").await.contains("quiet.test"));
        assert!(
            c.find(Locator::Css(&format!("tr[data-monitor='{quiet}']")))
                .await
                .is_err()
        );
        let gone = crate::serve::http(
            &s,
            "GET",
            &format!("/v1/monitors/{quiet}"),
            Some(&s.key),
            "",
        );
        assert_eq!(gone.status, 404);
        shot(&c, "overview-after").await;
        c.close().await.expect("close the browser");
    });
    eprintln!(
        "the monitor lifecycle in the browser took {:?}",
        started.elapsed()
    );
}
