//! Diagnose's job on the bulk runner (mxray-run): targets in, one [`Report`] per target out,
//! as they finish, with bounded concurrency, progress and cancellation; and target lists read.
//! Used by `diagnose --input`, `lab demo`, and later by `serve` jobs and cluster workers.

use std::convert::Infallible;
use std::io::BufRead;
use std::sync::Arc;

use mxray_net::Dns;
use mxray_run::{Cancel, Limits, Progress, Run};

use crate::{Options, Report, SenderOptions, diagnose_full};

/// Most targets one list may hold, and the longest line accepted.
pub const MAX_TARGETS: usize = 1_000_000;
pub const MAX_LINE: usize = 1024;

/// What every target of a run is diagnosed with.
#[derive(Clone)]
pub struct Job {
    pub dns: Dns,
    pub opts: Options,
    /// `None`: the recipient side only.
    pub sender: Option<SenderOptions>,
}

/// One finished target: its position in the input and its report.
#[derive(Debug, Clone)]
pub struct Diagnosed {
    pub index: u64,
    pub report: Report,
}

/// Starts diagnosing `targets` on the current runtime, `concurrency` at once. Reports come
/// back in the order they finish; `index` gives the input order. A target the run's proxy
/// failed (`job.opts.proxy`) gets no report: [`Options::proxy_failure`](crate::Options::proxy_failure)
/// says why, and the targets not yet started are skipped.
pub fn run(
    job: Job,
    targets: impl IntoIterator<Item = String, IntoIter: Send + 'static>,
    concurrency: usize,
    cancel: Cancel,
    progress: Arc<dyn Progress>,
) -> Run<Diagnosed, Infallible> {
    let indexed = targets.into_iter().enumerate().map(|(i, t)| (i as u64, t));
    run_indexed(job, indexed, concurrency, cancel, progress)
}

/// Like [`run`] over targets that keep their own input positions (a resumed job runs only
/// what is left, under the original indices).
pub fn run_indexed(
    job: Job,
    targets: impl IntoIterator<Item = (u64, String), IntoIter: Send + 'static>,
    concurrency: usize,
    cancel: Cancel,
    progress: Arc<dyn Progress>,
) -> Run<Diagnosed, Infallible> {
    let job = Arc::new(job);
    let inputs = targets.into_iter().map(Ok);
    mxray_run::spawn(
        inputs,
        Limits::concurrency(concurrency),
        cancel,
        progress,
        move |(index, target): (u64, String), out| {
            let job = job.clone();
            async move {
                // The egress broke earlier in the run: every target left would fail the same
                // way, so none is started.
                if job.opts.proxy_failure().is_some() {
                    return;
                }
                let diagnosed = diagnose_full(&job.dns, &target, &job.opts, job.sender.as_ref());
                // A proxy failure is recorded in the job's options, not reported as this
                // target's result: nothing is known about the target.
                if let Ok(report) = diagnosed.await {
                    out.emit(Diagnosed { index, report }).await;
                }
            }
        },
    )
}

/// Why a target list cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TargetsError {
    /// The list could not be read (the environment's fault, not the list's).
    #[error("reading {name}")]
    Read {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{name}:{line}: line longer than {MAX_LINE} bytes: expected one domain or address per line"
    )]
    LineTooLong { name: String, line: usize },
    #[error("{name} has more than {MAX_TARGETS} targets: split it")]
    TooMany { name: String },
    #[error("{name} holds no targets: expected one domain or address per line")]
    Empty { name: String },
}

/// Reads a target list: one domain or address per line, `#` starts a comment. `name` names
/// the list in errors. The whole list is checked before any target is diagnosed.
pub fn read_targets(reader: impl BufRead, name: &str) -> Result<Vec<String>, TargetsError> {
    let mut out = Vec::new();
    for (n, line) in reader.split(b'\n').enumerate() {
        let line = line.map_err(|source| TargetsError::Read {
            name: name.to_string(),
            source,
        })?;
        if line.len() > MAX_LINE {
            return Err(TargetsError::LineTooLong {
                name: name.to_string(),
                line: n + 1,
            });
        }
        let text = String::from_utf8_lossy(&line);
        let t = text.split('#').next().unwrap_or("").trim();
        if !t.is_empty() {
            out.push(t.to_string());
        }
        if out.len() > MAX_TARGETS {
            return Err(TargetsError::TooMany {
                name: name.to_string(),
            });
        }
    }
    if out.is_empty() {
        return Err(TargetsError::Empty {
            name: name.to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_lists() {
        let got = read_targets(&b"a.test\n# note\n\nb.test # why\r\n"[..], "l").unwrap();
        assert_eq!(got, ["a.test", "b.test"]);
        assert!(matches!(
            read_targets(&b"# nothing\n"[..], "l"),
            Err(TargetsError::Empty { .. })
        ));
        let long = format!("ok.test\n{}\n", "x".repeat(MAX_LINE + 1));
        let err = read_targets(long.as_bytes(), "l").unwrap_err();
        assert!(err.to_string().starts_with("l:2: line longer"), "{err}");
    }
}
