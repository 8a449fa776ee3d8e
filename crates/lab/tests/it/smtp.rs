//! SMTP behaviours over raw TCP: mailboxes, greylisting, banners, mid-session closes,
//! RCPT failures, tarpits, silence, refusal, quirks, per-client overrides, and counters.

use std::time::{Duration, Instant};

use crate::util::{Smtp, addr, ready_for_rcpt, start};

const HOSTS: &str = r#"
[[hosts]]
name = "mx.noesmtp.test"
address = "127.0.0.49"
catch_all = true
ehlo_reply = "502 5.5.2 EHLO not supported, use HELO"

[[hosts]]
name = "mx.box.test"
address = "127.0.0.50"
mailboxes = ["alice", "bob@box.test"]
mailbox_ranges = [{ prefix = "user", count = 50 }]
mailbox_full = ["full"]
over_quota = ["quota"]
disabled = ["gone"]
rcpt_limit = 3

[[hosts.clients]]
addresses = ["127.0.0.77"]
greylist = { delay = "200ms", reply = "451 4.7.1 Try again later" }

[[hosts]]
name = "mx.catchall.test"
address = "127.0.0.51"
catch_all = true
data = "reject"

[[hosts]]
name = "mx.grey.test"
address = "127.0.0.52"
mailboxes = ["alice"]
greylist = { delay = "1s" }

[[hosts]]
name = "mx.b421.test"
address = "127.0.0.53"
banner = "421 4.4.0 mx.b421.test Service not available"

[[hosts]]
name = "mx.b554.test"
address = "127.0.0.54"
banner = "554 5.7.1 Go away"

[[hosts]]
name = "mx.drop.test"
address = "127.0.0.55"
catch_all = true
close_after = { commands = 3 }

[[hosts]]
name = "mx.bare.test"
address = "127.0.0.56"
catch_all = true
close_after = { commands = 1, bare = true }

[[hosts]]
name = "mx.route.test"
address = "127.0.0.57"
rcpt_reply = "421 4.4.3 Routing failure"

[[hosts]]
name = "mx.tarpit.test"
address = "127.0.0.58"
catch_all = true
tarpit = { banner_delay = "300ms", reply_delay = "150ms" }

[[hosts]]
name = "mx.slow.test"
address = "127.0.0.59"
catch_all = true
latency = "100ms"

[[hosts]]
name = "mx.silent.test"
address = "127.0.0.60"
silent = true

[[hosts]]
name = "mx.refused.test"
address = "127.0.0.61"
refuse = true

[[hosts]]
name = "mx.quirky.test"
address = "127.0.0.62"
catch_all = true
quirks = ["bare-lf", "long-replies", "lowercase", "multiline-banner"]

[[hosts]]
name = "mx.picky.test"
address = "127.0.0.63"
catch_all = true
[[hosts.clients]]
addresses = ["127.0.0.78"]
refuse = true
[[hosts.clients]]
addresses = ["127.0.0.79"]
banner = "554 5.7.1 Not you"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailbox_states_and_counters() {
    let lab = start(HOSTS).await;
    let mut c = ready_for_rcpt(addr(&lab, "mx.box.test")).await;
    c.expect("RCPT TO:<alice@box.test>", 250).await;
    let r = c.expect("RCPT TO:<nobody@box.test>", 550).await;
    assert!(r.text().starts_with("5.1.1 <nobody@box.test>"), "{}", r.raw);
    c.expect("RCPT TO:<bob@other.test>", 550).await;
    let r = c.expect("RCPT TO:<full@box.test>", 452).await;
    assert!(r.text().starts_with("4.2.2"), "{}", r.raw);
    let r = c.expect("RCPT TO:<quota@box.test>", 552).await;
    assert!(r.text().starts_with("5.2.2"), "{}", r.raw);
    let r = c.expect("RCPT TO:<gone@box.test>", 550).await;
    assert!(r.text().starts_with("5.2.1"), "{}", r.raw);
    c.expect("RCPT TO:<USER50@box.test>", 250).await;
    c.expect("RSET", 250).await;
    c.expect("NOOP", 250).await;
    c.expect("VRFY alice", 252).await;
    c.expect("FROB", 500).await;
    c.expect("QUIT", 221).await;
    assert!(c.closed().await);

    let s = lab.stats();
    let h = s.host("mx.box.test").unwrap();
    assert_eq!(h.totals.connections, 1);
    assert_eq!(h.totals.peak_concurrency, 1);
    assert_eq!(h.totals.rcpts, 7);
    assert_eq!(h.totals.rcpts_accepted, 2);
    assert_eq!(h.totals.command("EHLO"), 1);
    assert_eq!(h.totals.command("MAIL"), 1);
    assert_eq!(h.totals.command("RCPT"), 7);
    assert_eq!(h.totals.command("UNKNOWN"), 1);
    assert_eq!(h.totals.command("QUIT"), 1);
    assert!(
        h.totals.bytes_in > 100 && h.totals.bytes_out > 300,
        "{:?}",
        h.totals
    );
    let client = h.clients.get(&"127.0.0.1".parse().unwrap()).unwrap();
    assert_eq!(client.rcpts, 7);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rcpt_cap_per_session() {
    let lab = start(HOSTS).await;
    let mut c = ready_for_rcpt(addr(&lab, "mx.box.test")).await;
    for i in 1..=3 {
        c.expect(&format!("RCPT TO:<user{i}@box.test>"), 250).await;
    }
    let r = c.expect("RCPT TO:<user4@box.test>", 452).await;
    assert_eq!(r.text(), "4.5.3 Too many recipients");
    // The cap is per session: RSET does not lift it.
    c.expect("RSET", 250).await;
    c.expect("MAIL FROM:<a@client.test>", 250).await;
    c.expect("RCPT TO:<user5@box.test>", 452).await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_all_and_data() {
    let lab = start(HOSTS).await;
    let mut c = ready_for_rcpt(addr(&lab, "mx.catchall.test")).await;
    c.expect("RCPT TO:<anything@anywhere.test>", 250).await;
    let r = c.expect("DATA", 554).await;
    assert!(r.text().starts_with("5.7.0"), "{}", r.raw);

    // The default DATA mode accepts and discards.
    let mut c = ready_for_rcpt(addr(&lab, "mx.box.test")).await;
    c.expect("DATA", 503).await;
    c.expect("RCPT TO:<alice@box.test>", 250).await;
    c.expect("DATA", 354).await;
    c.send("Subject: test\r\n\r\nhello\r\n..dot-stuffed")
        .await
        .unwrap();
    let r = c.cmd(".").await.unwrap();
    assert_eq!(r.code, 250, "{}", r.raw);
    c.expect("QUIT", 221).await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_errors() {
    let lab = start(HOSTS).await;
    let mut c = Smtp::connect(addr(&lab, "mx.box.test")).await.unwrap();
    assert_eq!(c.reply().await.unwrap().code, 220);
    c.expect("MAIL FROM:<a@b.test>", 503).await;
    c.expect("EHLO", 501).await;
    c.expect("HELO client.test", 250).await;
    c.expect("RCPT TO:<alice@box.test>", 503).await;
    c.expect("MAIL FROM:a@b.test", 250).await;
    c.expect("MAIL FROM:<a@b.test>", 503).await;
    c.expect("RCPT TO:<>", 501).await;
    // Lowercase verbs are fine (RFC 5321: verbs are case-insensitive).
    c.expect("rcpt to:<alice@box.test>", 250).await;
    // A line longer than the bound ends the session.
    let long = format!("NOOP {}", "x".repeat(10_000));
    let r = c.cmd(&long).await.unwrap();
    assert_eq!(r.code, 500, "{}", r.raw);
    assert!(c.closed().await);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greylisting_on_the_triplet() {
    let lab = start(HOSTS).await;
    let a = addr(&lab, "mx.grey.test");
    let mut c = ready_for_rcpt(a).await;
    let r = c.expect("RCPT TO:<alice@grey.test>", 450).await;
    assert!(r.text().starts_with("4.2.0"), "{}", r.raw);
    // An immediate retry is still too early.
    c.expect("RCPT TO:<alice@grey.test>", 450).await;
    // Another recipient is another triplet.
    c.expect("RCPT TO:<nobody@grey.test>", 450).await;
    c.expect("QUIT", 221).await;

    // The retries above happened well within the 1 s delay (a generous margin for slow machines).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut c = ready_for_rcpt(a).await;
    c.expect("RCPT TO:<alice@grey.test>", 250).await;
    // After greylisting passes, mailbox checks still apply.
    c.expect("RCPT TO:<nobody@grey.test>", 550).await;
    c.expect("RSET", 250).await;
    // Another sender is another triplet.
    c.expect("MAIL FROM:<other@client.test>", 250).await;
    c.expect("RCPT TO:<alice@grey.test>", 450).await;
    c.expect("QUIT", 221).await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_client_override_greylists_one_client_only() {
    let lab = start(HOSTS).await;
    let a = addr(&lab, "mx.box.test");
    let mut plain = ready_for_rcpt(a).await;
    plain.expect("RCPT TO:<alice@box.test>", 250).await;

    let mut special = Smtp::connect_from("127.0.0.77".parse().unwrap(), a)
        .await
        .unwrap();
    assert_eq!(special.reply().await.unwrap().code, 220);
    special.expect("EHLO special.test", 250).await;
    special.expect("MAIL FROM:<s@special.test>", 250).await;
    let r = special.expect("RCPT TO:<alice@box.test>", 451).await;
    assert_eq!(r.text(), "4.7.1 Try again later");
    tokio::time::sleep(Duration::from_millis(300)).await;
    special.expect("RCPT TO:<alice@box.test>", 250).await;

    let s = lab.stats();
    let h = s.host("mx.box.test").unwrap();
    assert_eq!(h.clients.len(), 2);
    assert_eq!(h.clients[&"127.0.0.77".parse().unwrap()].rcpts, 2);
    assert_eq!(h.clients[&"127.0.0.1".parse().unwrap()].rcpts, 1);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banner_421_closes() {
    let lab = start(HOSTS).await;
    let mut c = Smtp::connect(addr(&lab, "mx.b421.test")).await.unwrap();
    let r = c.reply().await.unwrap();
    assert_eq!(r.code, 421);
    assert_eq!(r.text(), "4.4.0 mx.b421.test Service not available");
    assert!(c.closed().await);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banner_554_serves_only_quit() {
    let lab = start(HOSTS).await;
    let mut c = Smtp::connect(addr(&lab, "mx.b554.test")).await.unwrap();
    let r = c.reply().await.unwrap();
    assert_eq!(r.code, 554);
    assert_eq!(r.text(), "5.7.1 Go away");
    c.expect("EHLO client.test", 503).await;
    c.expect("QUIT", 221).await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_after_n_commands_with_442() {
    let lab = start(HOSTS).await;
    let mut c = ready_for_rcpt(addr(&lab, "mx.drop.test")).await;
    c.expect("RCPT TO:<a@drop.test>", 250).await;
    let r = c.expect("RCPT TO:<b@drop.test>", 421).await;
    assert_eq!(r.text(), "4.4.2 Connection closed by the server");
    assert!(c.closed().await);
    let h = lab.stats().host("mx.drop.test").unwrap().totals.clone();
    assert_eq!(h.command("RCPT"), 2);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_after_n_commands_bare() {
    let lab = start(HOSTS).await;
    let mut c = Smtp::connect(addr(&lab, "mx.bare.test")).await.unwrap();
    assert_eq!(c.reply().await.unwrap().code, 220);
    c.expect("EHLO client.test", 250).await;
    c.send("MAIL FROM:<a@client.test>").await.unwrap();
    assert!(c.reply().await.is_err(), "no reply, just a close");
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ehlo_reply_leaves_only_helo() {
    let lab = start(HOSTS).await;
    let mut c = Smtp::connect(addr(&lab, "mx.noesmtp.test")).await.unwrap();
    assert_eq!(c.reply().await.unwrap().code, 220);
    let r = c.expect("EHLO client.test", 502).await;
    assert_eq!(r.text(), "5.5.2 EHLO not supported, use HELO");
    // EHLO did not greet: a transaction still needs HELO first.
    c.expect("MAIL FROM:<a@client.test>", 503).await;
    c.expect("HELO client.test", 250).await;
    c.expect("MAIL FROM:<a@client.test>", 250).await;
    c.expect("QUIT", 221).await;
    let h = lab.stats().host("mx.noesmtp.test").unwrap().totals.clone();
    assert_eq!(h.command("EHLO"), 1);
    assert_eq!(h.command("HELO"), 1);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_failure_443_at_rcpt() {
    let lab = start(HOSTS).await;
    let mut c = ready_for_rcpt(addr(&lab, "mx.route.test")).await;
    let r = c.expect("RCPT TO:<a@route.test>", 421).await;
    assert_eq!(r.text(), "4.4.3 Routing failure");
    assert!(c.closed().await);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tarpit_delays_banner_and_replies() {
    let lab = start(HOSTS).await;
    let t0 = Instant::now();
    let mut c = Smtp::connect(addr(&lab, "mx.tarpit.test")).await.unwrap();
    assert_eq!(c.reply().await.unwrap().code, 220);
    let banner = t0.elapsed();
    // Banner waits banner_delay + reply_delay; lower bounds only (the machine may be slow).
    assert!(banner >= Duration::from_millis(440), "{banner:?}");
    let t1 = Instant::now();
    c.expect("NOOP", 250).await;
    assert!(
        t1.elapsed() >= Duration::from_millis(140),
        "{:?}",
        t1.elapsed()
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_commands_pay_latency_once() {
    let lab = start(HOSTS).await;
    let mut c = ready_for_rcpt(addr(&lab, "mx.slow.test")).await;
    // Ten RCPTs in one write: one round trip of latency, not ten.
    let batch: String = (0..10)
        .map(|i| format!("RCPT TO:<u{i}@slow.test>\r\n"))
        .collect();
    let t0 = Instant::now();
    c.send_raw(batch.as_bytes()).await.unwrap();
    for _ in 0..10 {
        c.reply().await.unwrap();
    }
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(95), "{took:?}");
    assert!(
        took < Duration::from_millis(900),
        "latency paid per pipelined reply: {took:?}"
    );
    c.expect("QUIT", 221).await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_per_reply() {
    let lab = start(HOSTS).await;
    let t0 = Instant::now();
    let mut c = ready_for_rcpt(addr(&lab, "mx.slow.test")).await;
    // banner, EHLO, MAIL: three replies, each at least 100 ms late.
    assert!(
        t0.elapsed() >= Duration::from_millis(290),
        "{:?}",
        t0.elapsed()
    );
    c.expect("QUIT", 221).await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_host_never_greets() {
    let lab = start(HOSTS).await;
    let mut c = Smtp::connect(addr(&lab, "mx.silent.test")).await.unwrap();
    let got = tokio::time::timeout(Duration::from_millis(600), c.reply()).await;
    assert!(got.is_err(), "expected silence, got {got:?}");
    c.send("EHLO client.test").await.unwrap();
    let got = tokio::time::timeout(Duration::from_millis(300), c.reply()).await;
    assert!(got.is_err(), "expected silence, got {got:?}");
    assert_eq!(
        lab.stats()
            .host("mx.silent.test")
            .unwrap()
            .totals
            .connections,
        1
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_host_has_no_listener() {
    let lab = start(HOSTS).await;
    let e = Smtp::connect(addr(&lab, "mx.refused.test"))
        .await
        .err()
        .expect("refused");
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
    let info = lab.ready_info();
    let h = info
        .hosts
        .iter()
        .find(|h| h.name == "mx.refused.test")
        .unwrap();
    assert!(!h.listening);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_client_refusal_and_banner() {
    let lab = start(HOSTS).await;
    let a = addr(&lab, "mx.picky.test");
    // The reset may even beat connect() to reporting success: both count as a refusal.
    match Smtp::connect_from("127.0.0.78".parse().unwrap(), a).await {
        Ok(mut c) => assert!(c.reply().await.is_err(), "reset without a banner"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    let mut c = Smtp::connect_from("127.0.0.79".parse().unwrap(), a)
        .await
        .unwrap();
    assert_eq!(c.reply().await.unwrap().code, 554);
    let mut c = Smtp::connect(a).await.unwrap();
    assert_eq!(c.reply().await.unwrap().code, 220);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quirks() {
    let lab = start(HOSTS).await;
    let mut c = Smtp::connect(addr(&lab, "mx.quirky.test")).await.unwrap();
    let banner = c.reply().await.unwrap();
    assert_eq!(banner.code, 220);
    assert!(banner.lines.len() >= 3, "multi-line banner: {}", banner.raw);
    assert!(banner.raw.contains("220-"), "{}", banner.raw);
    assert!(!banner.raw.contains('\r'), "bare LF: {:?}", banner.raw);
    let ehlo = c.expect("EHLO client.test", 250).await;
    assert!(
        ehlo.lines.len() > 50,
        "long reply: {} lines",
        ehlo.lines.len()
    );
    assert!(ehlo.raw.len() > 5000);
    assert!(
        ehlo.lines.iter().any(|l| l == "starttls"),
        "lowercase keywords"
    );
    assert!(
        ehlo.lines.iter().all(|l| l.len() <= 507),
        "lines stay within RFC 5321 limits"
    );
    // The server also takes bare-LF input.
    c.send_raw(b"NOOP\n").await.unwrap();
    assert_eq!(c.reply().await.unwrap().code, 250);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_loopback_host() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: no IPv6 loopback on this machine");
        return;
    }
    let lab =
        start("[[hosts]]\nname = \"mx.six.test\"\naddress = \"::1\"\nmailboxes = [\"alice\"]\n")
            .await;
    let mut c = ready_for_rcpt(addr(&lab, "mx.six.test")).await;
    c.expect("RCPT TO:<alice@six.test>", 250).await;
    let aaaa = crate::util::udp(&lab, "mx.six.test.", hickory_proto::rr::RecordType::AAAA).await;
    assert_eq!(crate::util::answers(&aaaa), ["::1"]);
    let ptr_name = format!("{}.ip6.arpa.", "1".to_owned() + &".0".repeat(31));
    let ptr = crate::util::udp(&lab, &ptr_name, hickory_proto::rr::RecordType::PTR).await;
    assert_eq!(crate::util::answers(&ptr), ["mx.six.test."]);
    lab.shutdown().await;
}
