//! The MTA-STS HTTPS server: the policy chosen by SNI, certificate signed by the lab CA,
//! 404 elsewhere, and the TXT record left out when the scenario says so.

use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::util::{STEP, lab_roots, start};

const STS: &str = r#"
[[domains]]
name = "sts.test"
mx = ["10 mx.sts.test"]
mta_sts = { mode = "enforce", max_age = 604800 }

[[domains]]
name = "raw.test"
mta_sts = { policy = "version: STSv1\nmode: bogus\n", txt_record = false }
"#;

async fn get(lab: &mxray_lab::Lab, sni: &str, path: &str) -> String {
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(lab_roots(lab))
    .with_no_client_auth();
    let tcp = TcpStream::connect(lab.https_addr().unwrap()).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let name = ServerName::try_from(sni.to_owned()).unwrap();
    let mut tls = tokio::time::timeout(STEP, connector.connect(name, tcp))
        .await
        .unwrap()
        .expect("certificate verifies against the lab CA");
    let req = format!("GET {path} HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n");
    tls.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(STEP, tls.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_policies_by_sni() {
    let lab = start(STS).await;
    let r = get(&lab, "mta-sts.sts.test", "/.well-known/mta-sts.txt").await;
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert!(
        r.contains("version: STSv1\r\nmode: enforce\r\nmx: mx.sts.test\r\nmax_age: 604800\r\n"),
        "{r}"
    );
    let r = get(&lab, "mta-sts.raw.test", "/.well-known/mta-sts.txt").await;
    assert!(r.ends_with("version: STSv1\nmode: bogus\n"), "{r}");
    let r = get(&lab, "mta-sts.sts.test", "/other").await;
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    let s = lab.stats().https;
    assert_eq!(s.requests, 3);
    assert_eq!(s.policies, 2);
    assert_eq!(s.not_found, 1);
    // txt_record = false leaves the TXT record out (a broken deployment to reproduce).
    let q = crate::util::dns_query(
        lab.resolver(),
        "_mta-sts.raw.test.",
        hickory_proto::rr::RecordType::TXT,
        false,
        STEP,
    )
    .await
    .unwrap();
    assert!(q.answers.is_empty());
    lab.shutdown().await;
}
