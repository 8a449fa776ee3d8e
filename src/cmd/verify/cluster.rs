//! `mxray verify --nats`: the list goes to the cluster's workers as one job, and their results
//! come back into the same output as a local run's. A rerun of the same command re-attaches to
//! the job (the job name is the list's: its file name and a digest of its bytes).

use std::path::Path;
use std::time::{Duration, Instant};

use mxray_cluster::submit::{self, Results, Submission, SubmitError};
use mxray_verify::input::Reader;

use super::{Sink, Tally, VerifyArgs};
use crate::cli::GlobalArgs;
use crate::error::{Kind, mark};
use crate::render::Render;
use crate::{ResultExt, bad_input, exit};

/// How long without a result before saying that no worker may be running.
const QUIET_HINT: Duration = Duration::from_secs(30);

/// Submits (or re-attaches to) the job and writes its results as they arrive.
pub(super) fn run(
    args: &VerifyArgs,
    global: &GlobalArgs,
    r: &Render,
    url: &str,
    reader: Reader,
    mut sink: Sink,
) -> anyhow::Result<u8> {
    let path = match &args.input {
        Some(p) if p.as_os_str() != "-" => p,
        _ => {
            return Err(bad_input(
                "--nats needs --input FILE (not standard input): a rerun must read the same list to re-attach to its job",
            ));
        }
    };
    let digest = file_digest(path)?;
    let job = match &args.cluster.job {
        Some(j) => j.clone(),
        None => default_job(path, digest),
    };
    mxray_cluster::wire::check_name("--job", &job).map_err(|e| bad_input(e.to_string()))?;
    let named = |e: anyhow::Error| match &args.output {
        Some(p) => e.context(format!("writing the results to {}", p.display())),
        None => e,
    };
    let rt = super::super::runtime()?;
    let started = Instant::now();
    let result = rt.block_on(async {
        let js = mxray_cluster::connect(url, "mxray verify", global.timeout, global.timeout)
            .await
            .environment()?;
        let sub = Submission {
            job,
            digest: format!("{digest:016x}"),
            deadline: args.deadline,
        };
        // Grouped by domain over a wide window, so tasks of different domains alternate in
        // the queue (every worker can start several providers at once).
        let batches = reader.into_batches(submit::GROUPING);
        let job = submit::submit(&js, &sub, batches)
            .await
            .map_err(|e| match e {
                SubmitError::Input(e) => mark(Kind::BadInput, e),
                SubmitError::Cluster(e) => mark(Kind::Environment, e),
            })?;
        if job.meta.lines == 0 {
            return Err(bad_input(format!(
                "{} holds no addresses: give a file with one per line (or a CSV with an email column)",
                path.display()
            )));
        }
        if !global.quiet {
            eprintln!(
                "mxray: job {} {} {url}: {} in {}; its results as they arrive{}",
                job.name,
                if job.attached { "re-attached on" } else { "submitted to" },
                crate::render::count(job.meta.lines, "address", "addresses"),
                crate::render::count(job.meta.tasks, "task", "tasks"),
                if job.attached { " (from the first)" } else { "" }
            );
        }
        let bar = super::super::Bar::new(global, Some(job.meta.lines), "addresses");
        let mut results = Results::open(&js, &job).await.environment()?;
        let cancel = super::super::cancel_on_ctrl_c();
        let mut tally = Tally::default();
        let mut hinted = false;
        loop {
            let next = tokio::select! {
                next = results.next() => next,
                // Say so when nothing comes: no worker may be running.
                _ = tokio::time::sleep(QUIET_HINT), if !hinted => {
                    hinted = true;
                    if !global.quiet {
                        eprintln!(
                            "mxray: no result from job {} for {}s: are `mxray worker --nats {url}` processes running? (the job waits for them)",
                            job.name,
                            QUIET_HINT.as_secs()
                        );
                    }
                    continue;
                }
                _ = cancel.cancelled() => {
                    sink.flush().map_err(named)?;
                    if let Some(b) = &bar {
                        b.finish();
                    }
                    eprintln!(
                        "mxray: interrupted: {} written; job {} goes on on the cluster: run the same command to re-attach",
                        crate::render::count(tally.written, "result", "results"),
                        job.name
                    );
                    return Ok(exit::INTERRUPTED);
                }
            };
            let Some(got) = next else { break };
            let (_, result, _) = got.environment()?;
            tally.add(&result);
            let written = match &bar {
                Some(b) => {
                    use mxray_run::Progress;
                    b.advanced(tally.written);
                    b.suspend(|| sink.write(&result, r))
                }
                None => sink.write(&result, r),
            };
            written.map_err(named)?;
        }
        sink.flush().map_err(named)?;
        if let Some(b) = &bar {
            b.finish();
        }
        if !global.quiet {
            eprintln!(
                "mxray: {}; job {} on {url}",
                tally.line(started.elapsed()),
                job.name
            );
        }
        Ok(tally.exit_code())
    });
    rt.shutdown_timeout(Duration::from_millis(200));
    result
}

/// The list's digest; it must be readable (bad input otherwise).
fn file_digest(path: &Path) -> anyhow::Result<u64> {
    let f = super::super::open_file(path, "--input")?;
    submit::digest_reader(f).map_err(|e| {
        mark(
            Kind::Environment,
            anyhow::anyhow!("reading {}: {e}", path.display()),
        )
    })
}

/// `list-1a2b3c4d5e6f`: the file's stem in subject-safe characters, and 12 hex digits of the
/// digest, so the same list finds its job again and another list never does.
fn default_job(path: &Path, digest: u64) -> String {
    let stem: String = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let stem = if stem.is_empty() {
        "list".to_string()
    } else {
        stem
    };
    format!("{stem}-{:012x}", digest >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_job_names_are_subject_tokens() {
        let j = default_job(Path::new("/tmp/my list.v2.csv"), 0xfedc_ba98_7654_3210);
        assert_eq!(j, "my_list_v2-fedcba987654");
        assert!(mxray_cluster::wire::check_name("job", &j).is_ok());
        assert!(default_job(Path::new("/"), 1).starts_with("list-"));
    }
}
