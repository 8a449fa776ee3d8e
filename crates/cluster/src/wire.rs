//! What travels through JetStream: stream, subject and bucket names, the task (one domain's
//! batch of addresses) and the result message, and the message ids that make results exactly-once.

use mxray_verify::VerifyResult;
use serde::{Deserialize, Serialize};

/// The work queue: every task once to one worker, deleted when acknowledged.
pub const TASKS: &str = "MXRAY_TASKS";
/// Results by job, deduplicated by message id; kept for [`RESULTS_MAX_AGE`].
pub const RESULTS: &str = "MXRAY_RESULTS";
/// One entry per job: its size, once every task is published.
pub const JOBS_BUCKET: &str = "mxray_jobs";

/// How long a job's results stay readable (a submitter may re-attach within it).
pub const RESULTS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);
/// Within it, a message id seen before is dropped by the server (a resubmitted task, a result
/// published again by a worker whose acknowledgement was lost).
pub const DEDUP_WINDOW: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// New tasks, for any worker.
pub fn task_subject(job: &str) -> String {
    format!("mxray.task.any.{job}")
}

/// Tasks coming back for a retry that must leave from one worker's egress (greylisting keys
/// on the client address, sender and recipient).
pub fn pinned_subject(worker: &str, job: &str) -> String {
    format!("mxray.task.pin.{worker}.{job}")
}

pub const ANY_TASKS: &str = "mxray.task.any.>";

pub fn pinned_filter(worker: &str) -> String {
    format!("mxray.task.pin.{worker}.>")
}

pub fn result_subject(job: &str) -> String {
    format!("mxray.result.{job}")
}

/// The message id of one input line's result: a second publication is a duplicate.
pub fn result_id(job: &str, index: u64) -> String {
    format!("{job}.r{index}")
}

/// The message id of a task: a submitter that publishes again publishes nothing new. A task
/// that comes back is split into disjoint parts (retries, returned addresses), so its lowest
/// input index and its attempt tell every part of every task apart.
pub fn task_id(task: &Task) -> String {
    let first = task.items.iter().map(|i| i.index).min().unwrap_or(0);
    format!("{}.t{}.i{first}.a{}", task.job, task.seq, task.attempt)
}

/// Job and worker names become subject tokens: letters, digits, `-` and `_`, 1-64 bytes.
pub fn check_name(what: &str, name: &str) -> Result<(), crate::ClusterError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(crate::ClusterError::Name(format!(
            "{what} {:?}: use 1-64 letters, digits, '-' or '_'",
            name.chars().take(80).collect::<String>()
        )))
    }
}

/// One domain's addresses (or part of a big domain's), verified together by one worker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Task {
    pub job: String,
    /// The task's number in its job.
    pub seq: u64,
    /// Times it came back for a retry.
    pub attempt: u32,
    /// Not to be worked on before (unix milliseconds): a greylisting or rate-limit wait.
    pub not_before_ms: Option<u64>,
    /// The job's patience per address, from its first probe (the submitter's `--deadline`).
    pub deadline_ms: u64,
    pub items: Vec<TaskItem>,
}

impl Task {
    /// Part of this task coming back: `items`, one attempt later, due at `not_before_ms`.
    pub fn again(&self, items: Vec<TaskItem>, not_before_ms: Option<u64>) -> Task {
        Task {
            job: self.job.clone(),
            seq: self.seq,
            attempt: self.attempt + 1,
            not_before_ms,
            deadline_ms: self.deadline_ms,
            items,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TaskItem {
    pub index: u64,
    pub input: String,
    pub row: Vec<String>,
    /// RCPT attempts made for it by earlier tries (added to the result's count).
    #[serde(default)]
    pub attempts: u32,
    /// When it was first probed (unix milliseconds), once it has been.
    #[serde(default)]
    pub first_ms: Option<u64>,
}

/// One input line's result, as published on [`result_subject`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResultMsg {
    pub index: u64,
    pub result: VerifyResult,
    /// The worker that decided it.
    pub worker: String,
}

/// A job's entry in [`JOBS_BUCKET`], written once all its tasks are published.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JobMeta {
    /// Input lines, hence results to expect.
    pub lines: u64,
    pub tasks: u64,
    /// The input's digest: a rerun under the same name must give the same list.
    pub digest: String,
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_subject_tokens() {
        assert!(check_name("job", "list-2026_12").is_ok());
        for bad in ["", "a.b", "a b", "a*", "a>", &"x".repeat(65), "é"] {
            assert!(check_name("job", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn pinned_tasks_are_outside_the_shared_filter() {
        // A work-queue stream refuses overlapping consumers: the shared consumer's filter
        // must not match a pinned subject, nor one worker's another's.
        assert!(!pinned_subject("w1", "j").starts_with("mxray.task.any."));
        assert!(task_subject("j").starts_with("mxray.task.any."));
        assert_ne!(pinned_filter("w1"), pinned_filter("w10"));
    }

    #[test]
    fn a_task_round_trips() {
        let t = Task {
            job: "j".into(),
            seq: 3,
            attempt: 1,
            not_before_ms: Some(5),
            deadline_ms: 900_000,
            items: vec![TaskItem {
                index: 7,
                input: "a@b.example".into(),
                row: vec!["x".into()],
                attempts: 2,
                first_ms: Some(1),
            }],
        };
        let back: Task = serde_json::from_slice(&serde_json::to_vec(&t).unwrap()).unwrap();
        assert_eq!(back, t);
    }
}
