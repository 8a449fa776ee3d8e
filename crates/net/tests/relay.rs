//! `relay::send` end to end: a lab submission host on loopback, the relay's name resolved by
//! the lab's DNS, its certificate verified against the lab CA, then AUTH and the message.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mxray_lab::{Lab, LabOptions, Scenario};
use mxray_net::relay::{self, RelayConfig, RelayError, RelayUrl};
use mxray_net::{AddressPolicy, Dns, TlsSettings};

const WORLD: &str = r#"
[[domains]]
name = "lab.test"

[[hosts]]
name = "relay.lab.test"
address = "127.0.0.90"
submission = { user = "alerts@lab.test", password = "p@ss:w0rd" }

[[hosts]]
name = "busy.lab.test"
address = "127.0.0.91"
submission = { user = "u", password = "p", fail_first = { command = "DATA", count = 1, reply = "421 4.3.0 Try again later" } }

[[hosts]]
name = "plain.lab.test"
address = "127.0.0.92"
starttls = "none"
submission = { user = "u", password = "p" }

[[hosts]]
name = "impostor.lab.test"
address = "127.0.0.93"
starttls = "self-signed"
submission = { user = "u", password = "p" }
"#;

async fn lab() -> Lab {
    let scenario = Scenario::from_str_named(WORLD, "relay.toml").expect("scenario");
    Lab::start(scenario, LabOptions::default())
        .await
        .expect("lab starts")
}

/// A config for `url` (its port replaced by the lab's) that trusts the lab CA and asks the
/// lab's DNS.
fn config(lab: &Lab, url: &str) -> RelayConfig {
    let mut url = RelayUrl::parse(url).expect("url");
    url.port = lab.smtp_port();
    let tls = TlsSettings::from_pem(lab.ca_pem().as_bytes(), "lab CA").expect("lab CA");
    let mut cfg = RelayConfig::new(url, "mxray <alerts@lab.test>", Arc::new(tls));
    cfg.dns = Some(Dns::new(&[lab.resolver()], Duration::from_secs(5)).expect("dns"));
    cfg.timeout = Duration::from_secs(10);
    cfg.backoff = Duration::from_millis(50);
    cfg
}

fn to() -> Vec<String> {
    vec!["ops@example.test".to_string()]
}

fn connections(lab: &Lab, host: &str) -> u64 {
    lab.stats().host(host).expect("host").totals.connections
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_arrives_after_starttls_and_auth() {
    let lab = lab().await;
    // The password percent-encoded in the URL, as a user would write it.
    let cfg = config(
        &lab,
        "smtp://alerts%40lab.test:p%40ss%3Aw0rd@relay.lab.test",
    );
    let subject = "421 from mx.example.test: too many connections";
    let body = "mx.example.test answered 421 4.7.0 to 3 of 10 probes.\n.\nSee the dashboard.";
    relay::send(&cfg, &to(), subject, body).await.expect("sent");
    let got = lab.received("relay.lab.test").unwrap();
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert!(m.tls, "sent inside TLS");
    assert_eq!(m.user, "alerts@lab.test");
    assert_eq!(m.mail_from, "alerts@lab.test");
    assert_eq!(m.rcpt_to, ["ops@example.test"]);
    let text = m.text();
    let (head, message_body) = text.split_once("\r\n\r\n").expect("head and body");
    assert!(head.contains("From: mxray <alerts@lab.test>"), "{head}");
    assert!(head.contains("To: ops@example.test"), "{head}");
    assert!(head.contains(&format!("Subject: {subject}")), "{head}");
    assert!(
        head.contains("Content-Type: text/plain; charset=utf-8"),
        "{head}"
    );
    assert!(head.contains("Message-ID: <"), "{head}");
    assert_eq!(message_body.replace("\r\n", "\n").trim_end(), body);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_named_and_not_retried() {
    let lab = lab().await;
    let cfg = config(&lab, "smtp://alerts%40lab.test:wrong@relay.lab.test");
    let e = relay::send(&cfg, &to(), "s", "b").await.unwrap_err();
    assert!(matches!(e, RelayError::AuthRefused { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "the relay refused AUTH (535 5.7.8 Authentication credentials invalid): check --smtp-relay's user and password"
    );
    assert_eq!(connections(&lab, "relay.lab.test"), 1, "no retry");
    assert!(lab.received("relay.lab.test").unwrap().is_empty());
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_421_at_data_is_retried_and_delivered_once() {
    let lab = lab().await;
    let cfg = config(&lab, "smtp://u:p@busy.lab.test");
    let start = Instant::now();
    relay::send(&cfg, &to(), "retry me", "body")
        .await
        .expect("sent on the second try");
    assert!(
        start.elapsed() >= Duration::from_millis(50),
        "waited the backoff"
    );
    assert_eq!(connections(&lab, "busy.lab.test"), 2);
    assert_eq!(lab.received("busy.lab.test").unwrap().len(), 1);

    // With one try the 421 is the answer, and it says what happened.
    let lab2 = self::lab().await;
    let mut cfg = config(&lab2, "smtp://u:p@busy.lab.test");
    cfg.tries = 1;
    let e = relay::send(&cfg, &to(), "s", "b").await.unwrap_err();
    assert!(e.retryable());
    assert!(
        e.to_string()
            .starts_with("the relay answered DATA with 421 4.3.0 Try again later"),
        "{e}"
    );
    lab.shutdown().await;
    lab2.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_without_starttls_never_gets_the_password() {
    let lab = lab().await;
    let mut cfg = config(&lab, "smtp://u:p@plain.lab.test");
    let e = relay::send(&cfg, &to(), "s", "b").await.unwrap_err();
    assert!(matches!(e, RelayError::NoStartTls { .. }), "{e:?}");
    assert!(e.to_string().contains("never sent in clear"), "{e}");
    assert_eq!(connections(&lab, "plain.lab.test"), 1, "not retried");
    let stats = lab.stats();
    let h = &stats.host("plain.lab.test").unwrap().totals;
    assert_eq!(h.command("AUTH"), 0, "no AUTH was sent");

    // Turned off explicitly, a loopback relay may take it in clear; the lab still refuses
    // AUTH outside TLS, like a real submission server.
    cfg.require_tls = false;
    let e = relay::send(&cfg, &to(), "s", "b").await.unwrap_err();
    assert!(matches!(e, RelayError::NoAuth { .. }), "{e:?}");
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_stops_before_auth() {
    let lab = lab().await;
    let cfg = config(&lab, "smtp://u:p@impostor.lab.test");
    let e = relay::send(&cfg, &to(), "s", "b").await.unwrap_err();
    assert!(matches!(e, RelayError::Tls { .. }), "{e:?}");
    assert!(!e.retryable());
    assert_eq!(
        lab.stats()
            .host("impostor.lab.test")
            .unwrap()
            .totals
            .command("AUTH"),
        0
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_refuses_a_private_address_before_connecting() {
    let lab = lab().await;
    let mut cfg = config(
        &lab,
        "smtp://alerts%40lab.test:p%40ss%3Aw0rd@relay.lab.test",
    );
    cfg.policy = AddressPolicy::public_only(vec![]);
    let e = relay::send(&cfg, &to(), "s", "b").await.unwrap_err();
    assert!(matches!(e, RelayError::NotAllowed(_)), "{e:?}");
    assert!(e.to_string().contains("127.0.0.90"), "{e}");
    assert_eq!(connections(&lab, "relay.lab.test"), 0, "never connected");
    cfg.policy = AddressPolicy::public_only(vec!["127.0.0.0/8".parse().unwrap()]);
    relay::send(&cfg, &to(), "s", "b")
        .await
        .expect("allowed range");
    lab.shutdown().await;
}

/// `smtps://`: TLS from the first byte, verified for the relay's name (the lab's hosts speak
/// STARTTLS only, so a scripted server plays this relay with a lab CA certificate).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_is_verified_then_authenticated() {
    let ca = mxray_lab::tls::LabCa::new().expect("lab CA");
    let (server, _) = ca
        .server_config(
            mxray_lab::scenario::TlsMode::Valid,
            "localhost",
            "127.0.0.1".parse().unwrap(),
        )
        .expect("certificate")
        .expect("a TLS mode");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let lines = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = tokio_rustls::TlsAcceptor::from(server.clone());
            let lines = lines.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to serve.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                serve(tls, &lines).await;
            });
        }
    });
    let url = RelayUrl::parse(&format!("smtps://u:p@localhost:{port}")).unwrap();
    let tls = TlsSettings::from_pem(ca.pem().as_bytes(), "lab CA").unwrap();
    let mut cfg = RelayConfig::new(url, "a@lab.test", Arc::new(tls));
    cfg.timeout = Duration::from_secs(10);
    relay::send(&cfg, &to(), "over TLS", "body")
        .await
        .expect("sent");
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|l| l == "MAIL FROM:<a@lab.test>"),
        "{seen:?}"
    );
    assert!(seen.iter().any(|l| l == "Subject: over TLS"), "{seen:?}");

    // The same relay, not trusted: the web PKI roots do not hold the lab CA.
    let url = RelayUrl::parse(&format!("smtps://u:p@localhost:{port}")).unwrap();
    let cfg = RelayConfig::new(url, "a@lab.test", Arc::new(TlsSettings::web_pki()));
    let e = relay::send(&cfg, &to(), "s", "b").await.unwrap_err();
    assert!(matches!(e, RelayError::Tls { .. }), "{e:?}");
}

/// A relay that accepts whatever comes, recording each line the client sends.
async fn serve<S>(stream: S, seen: &std::sync::Mutex<Vec<String>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let mut c = BufReader::new(stream);
    if c.write_all(b"220 localhost ESMTP\r\n").await.is_err() {
        return;
    }
    let mut in_data = false;
    let mut line = String::new();
    while c.read_line(&mut line).await.unwrap_or(0) > 0 {
        let l = line.trim_end().to_string();
        line.clear();
        seen.lock().unwrap().push(l.clone());
        let reply: &[u8] = if in_data {
            if l != "." {
                continue;
            }
            in_data = false;
            b"250 2.0.0 queued\r\n"
        } else if l.starts_with("EHLO") {
            b"250-localhost\r\n250 AUTH PLAIN LOGIN\r\n"
        } else if l.starts_with("AUTH PLAIN") {
            b"235 2.7.0 ok\r\n"
        } else if l == "DATA" {
            in_data = true;
            b"354 go on\r\n"
        } else if l == "QUIT" {
            b"221 bye\r\n"
        } else {
            b"250 ok\r\n"
        };
        if c.write_all(reply).await.is_err() {
            return;
        }
    }
}
