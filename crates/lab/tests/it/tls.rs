//! STARTTLS with each certificate kind, checked by a rustls client that trusts only the
//! lab CA: valid passes, expired / self-signed / wrong-name / broken fail, none is absent.

use crate::util::{Smtp, addr, lab_roots, start};

const TLS: &str = r#"
[[hosts]]
name = "mx.valid.test"
address = "127.0.0.90"
catch_all = true

[[hosts]]
name = "mx.expired.test"
address = "127.0.0.91"
starttls = "expired"

[[hosts]]
name = "mx.selfsigned.test"
address = "127.0.0.92"
starttls = "self-signed"

[[hosts]]
name = "mx.wrongname.test"
address = "127.0.0.93"
starttls = "wrong-name"

[[hosts]]
name = "mx.broken.test"
address = "127.0.0.94"
starttls = "broken"

[[hosts]]
name = "mx.notls.test"
address = "127.0.0.95"
starttls = "none"

[[hosts]]
name = "mx.expiring.test"
address = "127.0.0.96"
starttls = "expiring"
"#;

async fn to_starttls(lab: &mxray_lab::Lab, host: &str) -> Smtp {
    let mut c = Smtp::connect(addr(lab, host)).await.unwrap();
    assert_eq!(c.reply().await.unwrap().code, 220);
    let ehlo = c.expect("EHLO client.test", 250).await;
    assert!(ehlo.lines.iter().any(|l| l == "STARTTLS"), "{}", ehlo.raw);
    c.expect("STARTTLS", 220).await;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_certificate_from_the_lab_ca() {
    let lab = start(TLS).await;
    let mut c = to_starttls(&lab, "mx.valid.test").await;
    c.tls("mx.valid.test", lab_roots(&lab))
        .await
        .expect("handshake with lab CA");
    // After TLS the session starts over and STARTTLS is no longer offered.
    c.expect("MAIL FROM:<a@client.test>", 503).await;
    let ehlo = c.expect("EHLO client.test", 250).await;
    assert!(!ehlo.lines.iter().any(|l| l == "STARTTLS"));
    c.expect("STARTTLS", 503).await;
    c.expect("MAIL FROM:<a@client.test>", 250).await;
    c.expect("RCPT TO:<x@valid.test>", 250).await;
    c.expect("QUIT", 221).await;
    let h = lab.stats().host("mx.valid.test").unwrap().totals.clone();
    assert_eq!(h.tls_handshakes, 1);
    assert_eq!(h.command("STARTTLS"), 2);
    lab.shutdown().await;
}

async fn failing(host: &str, want: &str) {
    let lab = start(TLS).await;
    let mut c = to_starttls(&lab, host).await;
    let e = c
        .tls(host, lab_roots(&lab))
        .await
        .expect_err("handshake must fail");
    let msg = format!("{e:?}");
    assert!(msg.contains(want), "{host}: {msg}");
    assert_eq!(lab.stats().host(host).unwrap().totals.tls_handshakes, 0);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiring_certificate_still_verifies() {
    // Valid today (its five remaining days are for clients that warn about expiry).
    let lab = start(TLS).await;
    let mut c = to_starttls(&lab, "mx.expiring.test").await;
    c.tls("mx.expiring.test", lab_roots(&lab))
        .await
        .expect("an expiring certificate is still valid");
    c.expect("EHLO client.test", 250).await;
    assert_eq!(
        lab.stats()
            .host("mx.expiring.test")
            .unwrap()
            .totals
            .tls_handshakes,
        1
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_certificate() {
    failing("mx.expired.test", "Expired").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signed_certificate() {
    failing("mx.selfsigned.test", "UnknownIssuer").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_name_certificate() {
    failing("mx.wrongname.test", "NotValidForName").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_handshake() {
    failing("mx.broken.test", "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_starttls() {
    let lab = start(TLS).await;
    let mut c = Smtp::connect(addr(&lab, "mx.notls.test")).await.unwrap();
    assert_eq!(c.reply().await.unwrap().code, 220);
    let ehlo = c.expect("EHLO client.test", 250).await;
    assert!(
        !ehlo
            .lines
            .iter()
            .any(|l| l.eq_ignore_ascii_case("STARTTLS"))
    );
    c.expect("STARTTLS", 502).await;
    lab.shutdown().await;
}
