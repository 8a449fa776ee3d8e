//! Starting and stopping: fixed ports, port clashes (an environment error), loopback-only
//! server addresses, and the ready info.

use mxray_lab::{Lab, LabError, LabOptions, Scenario};

const ONE: &str = "[[hosts]]\nname = \"mx.one.test\"\naddress = \"127.0.0.110\"\ncatch_all = true\n\n[[hosts]]\nname = \"mx.two.test\"\naddress = \"127.0.0.111\"\n[[hosts.clients]]\naddresses = [\"127.0.0.112\"]\nsilent = true\n";

fn scenario() -> Scenario {
    Scenario::from_str_named(ONE, "one.toml").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_port_and_clash() {
    let first = Lab::start(scenario(), LabOptions::default()).await.unwrap();
    let port = first.smtp_port();
    assert_ne!(port, 0);
    assert_eq!(
        first.host_addr("mx.two.test").unwrap().port(),
        port,
        "one port for all hosts"
    );
    // The same addresses and port again: the environment, not the scenario, is at fault.
    let options = LabOptions {
        smtp_port: Some(port),
        ..LabOptions::default()
    };
    let err = Lab::start(scenario(), options.clone())
        .await
        .err()
        .expect("clash");
    assert!(err.is_bind(), "{err}");
    assert!(err.to_string().contains("127.0.0.110"), "{err}");
    first.shutdown().await;
    // Once the first lab is gone the port is free again.
    let again = Lab::start(scenario(), options).await.unwrap();
    assert_eq!(again.smtp_port(), port);
    again.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_only_on_loopback() {
    let options = LabOptions {
        dns_addr: Some("0.0.0.0:0".parse().unwrap()),
        ..LabOptions::default()
    };
    let err = Lab::start(scenario(), options)
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, LabError::NotLoopback(_)), "{err}");
    assert!(!err.is_bind());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_info_describes_hosts() {
    let lab = Lab::start(scenario(), LabOptions::default()).await.unwrap();
    let info = serde_json::to_value(lab.ready_info()).unwrap();
    assert_eq!(info["smtp_port"], lab.smtp_port());
    assert_eq!(info["https_port"], serde_json::Value::Null);
    assert_eq!(info["resolver"], lab.resolver().to_string());
    let hosts = info["hosts"].as_array().unwrap();
    assert_eq!(hosts[0]["name"], "mx.one.test");
    assert_eq!(hosts[0]["address"], "127.0.0.110");
    assert_eq!(hosts[0]["listening"], true);
    assert_eq!(hosts[0]["behaviours"][0], "catch-all");
    assert_eq!(hosts[1]["clients"][0]["addresses"][0], "127.0.0.112");
    assert_eq!(hosts[1]["clients"][0]["behaviours"][0], "silent");
    // Stats serialise too, and print.
    let stats = lab.stats();
    serde_json::to_string(&stats).unwrap();
    assert!(stats.to_string().contains("dns: 0 queries"));
    lab.shutdown().await;
}
