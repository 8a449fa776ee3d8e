//! Submission hosts over raw SMTP: AUTH only after STARTTLS, credentials checked, every
//! recipient relayed, messages recorded for the tests, and `fail_first` answering the first
//! attempts across sessions.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::util::{Smtp, addr, lab_roots, start};

const HOSTS: &str = r#"
[[hosts]]
name = "relay.lab.test"
address = "127.0.0.90"
submission = { user = "alerts@lab.test", password = "s3cret" }

[[hosts]]
name = "relay-busy.lab.test"
address = "127.0.0.91"
submission = { user = "u", password = "p", fail_first = { command = "DATA", count = 2, reply = "421 4.3.0 Try again later" } }

[[hosts]]
name = "relay-plain.lab.test"
address = "127.0.0.92"
starttls = "none"
submission = { user = "u", password = "p" }
"#;

/// Connected, greeted, inside TLS, EHLO sent again: ready for AUTH.
async fn in_tls(lab: &mxray_lab::Lab, host: &str) -> Smtp {
    let mut c = Smtp::connect(addr(lab, host)).await.unwrap();
    assert_eq!(c.reply().await.unwrap().code, 220);
    let ehlo = c.expect("EHLO client.test", 250).await;
    assert!(
        !ehlo.lines.iter().any(|l| l.starts_with("AUTH")),
        "no AUTH before TLS: {}",
        ehlo.raw
    );
    c.expect("STARTTLS", 220).await;
    c.tls(host, lab_roots(lab)).await.expect("handshake");
    let ehlo = c.expect("EHLO client.test", 250).await;
    assert!(
        ehlo.lines.iter().any(|l| l == "AUTH PLAIN LOGIN"),
        "{}",
        ehlo.raw
    );
    c
}

fn plain(user: &str, password: &str) -> String {
    BASE64.encode(format!("\0{user}\0{password}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_needs_tls_and_the_right_credentials() {
    let lab = start(HOSTS).await;
    let mut c = Smtp::connect(addr(&lab, "relay.lab.test")).await.unwrap();
    c.reply().await.unwrap();
    c.expect("EHLO client.test", 250).await;
    let r = c
        .expect(
            &format!("AUTH PLAIN {}", plain("alerts@lab.test", "s3cret")),
            530,
        )
        .await;
    assert_eq!(r.text(), "5.7.0 Must issue a STARTTLS command first");
    c.expect("MAIL FROM:<a@lab.test>", 530).await;

    let mut c = in_tls(&lab, "relay.lab.test").await;
    c.expect("MAIL FROM:<a@lab.test>", 530).await;
    let r = c
        .expect(
            &format!("AUTH PLAIN {}", plain("alerts@lab.test", "wrong")),
            535,
        )
        .await;
    assert_eq!(r.text(), "5.7.8 Authentication credentials invalid");
    c.expect("AUTH CRAM-MD5", 504).await;
    c.expect("AUTH PLAIN !!!", 501).await;
    // LOGIN asks for each part.
    let r = c.expect("AUTH LOGIN", 334).await;
    assert_eq!(r.text(), "VXNlcm5hbWU6");
    c.expect(&BASE64.encode("alerts@lab.test"), 334).await;
    c.expect(&BASE64.encode("s3cret"), 235).await;
    c.expect("AUTH LOGIN", 503).await;
    c.expect("QUIT", 221).await;

    // PLAIN without an initial response gets an empty challenge.
    let mut c = in_tls(&lab, "relay.lab.test").await;
    c.expect("AUTH PLAIN", 334).await;
    c.expect(&plain("alerts@lab.test", "s3cret"), 235).await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_relayed_and_recorded() {
    let lab = start(HOSTS).await;
    let mut c = in_tls(&lab, "relay.lab.test").await;
    c.expect(
        &format!("AUTH PLAIN {}", plain("alerts@lab.test", "s3cret")),
        235,
    )
    .await;
    c.expect("MAIL FROM:<Alerts@Lab.test>", 250).await;
    // A relay takes any recipient once the client is authenticated.
    c.expect("RCPT TO:<ops@elsewhere.test>", 250).await;
    c.expect("RCPT TO:<oncall@other.test>", 250).await;
    c.expect("DATA", 354).await;
    c.send("Subject: disk\r\n\r\nline one\r\n..starts with a dot")
        .await
        .unwrap();
    let r = c.cmd(".").await.unwrap();
    assert_eq!(r.code, 250, "{}", r.raw);
    c.expect("QUIT", 221).await;

    let got = lab.received("relay.lab.test").unwrap();
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.user, "alerts@lab.test");
    assert!(m.tls);
    assert_eq!(m.mail_from, "alerts@lab.test");
    assert_eq!(m.rcpt_to, ["ops@elsewhere.test", "oncall@other.test"]);
    assert_eq!(
        m.text(),
        "Subject: disk\r\n\r\nline one\r\n.starts with a dot\r\n"
    );
    assert!(lab.received("relay-busy.lab.test").unwrap().is_empty());
    assert!(lab.received("nope.lab.test").is_err());
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_first_counts_across_sessions() {
    let lab = start(HOSTS).await;
    for attempt in 1..=3 {
        let mut c = in_tls(&lab, "relay-busy.lab.test").await;
        c.expect(&format!("AUTH PLAIN {}", plain("u", "p")), 235)
            .await;
        c.expect("MAIL FROM:<a@lab.test>", 250).await;
        c.expect("RCPT TO:<b@lab.test>", 250).await;
        if attempt <= 2 {
            let r = c.expect("DATA", 421).await;
            assert_eq!(r.text(), "4.3.0 Try again later");
            assert!(c.closed().await, "a 421 closes");
        } else {
            c.expect("DATA", 354).await;
            c.send("Subject: x\r\n\r\nbody").await.unwrap();
            assert_eq!(c.cmd(".").await.unwrap().code, 250);
        }
    }
    assert_eq!(lab.received("relay-busy.lab.test").unwrap().len(), 1);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_starttls_auth_is_never_offered() {
    let lab = start(HOSTS).await;
    let mut c = Smtp::connect(addr(&lab, "relay-plain.lab.test"))
        .await
        .unwrap();
    c.reply().await.unwrap();
    let ehlo = c.expect("EHLO client.test", 250).await;
    assert!(!ehlo.raw.contains("AUTH") && !ehlo.raw.contains("STARTTLS"));
    c.expect(&format!("AUTH PLAIN {}", plain("u", "p")), 530)
        .await;
    lab.shutdown().await;
}
