//! How big monitor history grows: N monitors checked hourly for a year, folded and pruned as
//! the server does (every hour), then the database's size on disk. `cargo bench --bench history
//! -- 1000` (the monitors; default 1,000). Prints figures; asserts nothing (see docs/monitors.md).

use std::time::Instant;

use mxray_serve::monitors::model::Request;
use mxray_serve::monitors::state::{Health, Outcome, Problem};
use mxray_serve::monitors::store::{Retention, Store};

fn main() {
    let monitors: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().expect("tempdir");
    let st = Store::open(dir.path()).expect("store");
    let spec = |i: usize| {
        Request {
            domain: Some(format!("d{i}.example.com")),
            ..Request::default()
        }
        .create()
        .expect("spec")
    };
    for i in 0..monitors {
        st.insert(&format!("m{i}"), "api", 0, 0, &spec(i), 0)
            .expect("insert");
    }
    // A realistic run: a warning on most days, a failing hour now and then.
    let ok = Outcome {
        score: 94,
        verdict: "deliverable_path".into(),
        problems: vec![Problem {
            id: "dkim.not_found".into(),
            severity: "warn".into(),
            title: "No DKIM key found at 25 common selectors".into(),
            host: None,
        }],
    };
    let mut bad = ok.clone();
    bad.verdict = "broken".into();
    bad.score = 35;
    bad.problems.push(Problem {
        id: "smtp.greeting_transient".into(),
        severity: "fail".into(),
        title: "421 4.3.2 System not accepting network messages".into(),
        host: Some("mx1.example.com".into()),
    });
    let keep = Retention::default();
    let hours = 365 * 24;
    let t0 = Instant::now();
    let mut runs = 0u64;
    for h in 0..hours {
        let at = h as i64 * 3600;
        for i in 0..monitors {
            let o = if (h + i) % 500 == 0 { &bad } else { &ok };
            st.record(
                &format!("m{i}"),
                at + i as i64,
                700,
                o,
                Health::default(),
                &[],
                None,
            )
            .expect("record");
            runs += 1;
        }
        if h % 24 == 23 {
            st.prune(at + 3600, keep).expect("prune");
        }
    }
    let elapsed = t0.elapsed();
    st.compact().expect("compact");
    let bytes: u64 = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "{monitors} monitors x {hours} hourly runs = {runs} runs in {:.1} s ({:.1} us per stored run)",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / runs as f64
    );
    println!(
        "after a year (every run for {} days, a row per day after): {:.1} MB on disk, {:.1} KB per monitor",
        keep.raw_s / 86_400,
        bytes as f64 / 1e6,
        bytes as f64 / 1e3 / monitors as f64
    );
}
