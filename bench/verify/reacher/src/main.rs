//! Runs Reacher's `check_email` over a list of addresses (one per line) against the lab,
//! `CONCURRENCY` at a time, printing one JSON line per address: its is_reachable verdict.
//! Usage: reacher-bench ADDRESSES_FILE SMTP_PORT CONCURRENCY

use std::time::{Duration, Instant};

use check_if_email_exists::smtp::verif_method::{
    EverythingElseVerifMethod, VerifMethod, VerifMethodSmtpConfig,
};
use check_if_email_exists::{check_email, CheckEmailInputBuilder};
use futures::stream::{self, StreamExt};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let file = args.get(1).expect("usage: reacher-bench FILE PORT CONCURRENCY");
    let port: u16 = args.get(2).and_then(|p| p.parse().ok()).unwrap_or(25);
    let concurrency: usize = args.get(3).and_then(|c| c.parse().ok()).unwrap_or(16);
    let text = std::fs::read_to_string(file).expect("read addresses");
    let addrs: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    let start = Instant::now();
    let results: Vec<String> = stream::iter(addrs)
        .map(|a| async move {
            let smtp = VerifMethodSmtpConfig {
                from_email: "bench@mxray.test".into(),
                hello_name: "bench.mxray.test".into(),
                smtp_port: port,
                smtp_timeout: Some(Duration::from_secs(30)),
                ..Default::default()
            };
            let method = VerifMethod {
                everything_else: EverythingElseVerifMethod::Smtp(smtp),
                ..Default::default()
            };
            let input = CheckEmailInputBuilder::default()
                .to_email(a.clone())
                .verif_method(method)
                .build()
                .expect("input");
            let t = Instant::now();
            let out = check_email(&input).await;
            serde_json::json!({
                "address": a,
                "is_reachable": format!("{:?}", out.is_reachable).to_lowercase(),
                "elapsed_ms": t.elapsed().as_millis() as u64,
            })
            .to_string()
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    for r in results {
        println!("{r}");
    }
    eprintln!("reacher-bench: {} ms", start.elapsed().as_millis());
}
