//! Connection-rate limits and per-client concurrency caps: `421 4.7.0` and close,
//! counted per client address so politeness can be asserted.

use crate::util::{Smtp, addr, start};

const LIMITS: &str = r#"
[[hosts]]
name = "mx.rate.test"
address = "127.0.0.70"
catch_all = true
rate_limit = { connections = 2, per = "30s" }

[[hosts]]
name = "mx.cap.test"
address = "127.0.0.71"
catch_all = true
concurrency = { per_client = 2, reply = "421 4.7.0 mx.cap.test Too many sessions" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_answers_421_470() {
    let lab = start(LIMITS).await;
    let a = addr(&lab, "mx.rate.test");
    for _ in 0..2 {
        let mut c = Smtp::connect(a).await.unwrap();
        assert_eq!(c.reply().await.unwrap().code, 220);
        c.expect("QUIT", 221).await;
    }
    let mut c = Smtp::connect(a).await.unwrap();
    let r = c.reply().await.unwrap();
    assert_eq!(r.code, 421);
    assert!(r.text().starts_with("4.7.0"), "{}", r.raw);
    assert!(c.closed().await);
    // Another client address has its own window.
    let mut other = Smtp::connect_from("127.0.0.88".parse().unwrap(), a)
        .await
        .unwrap();
    assert_eq!(other.reply().await.unwrap().code, 220);

    let s = lab.stats();
    let h = s.host("mx.rate.test").unwrap();
    assert_eq!(h.totals.connections, 4);
    assert_eq!(h.totals.limited, 1);
    assert_eq!(h.clients[&"127.0.0.1".parse().unwrap()].limited, 1);
    assert_eq!(h.clients[&"127.0.0.88".parse().unwrap()].limited, 0);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_cap_answers_421_470() {
    let lab = start(LIMITS).await;
    let a = addr(&lab, "mx.cap.test");
    let mut first = Smtp::connect(a).await.unwrap();
    assert_eq!(first.reply().await.unwrap().code, 220);
    let mut second = Smtp::connect(a).await.unwrap();
    assert_eq!(second.reply().await.unwrap().code, 220);
    let mut third = Smtp::connect(a).await.unwrap();
    let r = third.reply().await.unwrap();
    assert_eq!(r.code, 421);
    assert_eq!(r.text(), "4.7.0 mx.cap.test Too many sessions");
    assert!(third.closed().await);

    let peak = lab.stats().host("mx.cap.test").unwrap().totals.clone();
    assert_eq!(
        peak.peak_concurrency, 3,
        "the refused attempt shows in the peak"
    );
    assert_eq!(peak.limited, 1);

    // Once one session ends, a new one is admitted.
    first.expect("QUIT", 221).await;
    assert!(first.closed().await);
    let mut again = None;
    for _ in 0..50 {
        // The server notices the close asynchronously; poll (bounded) rather than sleep.
        let mut c = Smtp::connect(a).await.unwrap();
        if c.reply().await.unwrap().code == 220 {
            again = Some(c);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(again.is_some(), "a slot frees up after QUIT");
    second.expect("QUIT", 221).await;
    lab.shutdown().await;
}
