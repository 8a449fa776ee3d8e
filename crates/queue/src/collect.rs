//! Runs the local MTA's queue commands and returns their output as one listing, in the form the
//! parsers read (and a saved dump has): `postqueue -j`; `exim -bp` followed by `==> exim -Mvh
//! ID`, `==> exim -Mvl ID` and `==> exim_dumpdb SPOOL retry` sections; `mailq`.
//!
//! Read-only: every command here lists, none changes the queue. Each runs in its own process
//! group with a time limit and bounded output; past the limit the whole group is killed.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::QueueError;
use crate::model::Mta;

/// A listing is read up to this many bytes (about 200,000 Postfix messages); past it, cut.
pub const MAX_LISTING: usize = 64 << 20;
/// One message's `-Mvh` or `-Mvl` output is read up to this.
pub const MAX_DETAIL: usize = 256 << 10;
/// Standard error kept for a failure message.
const MAX_STDERR: usize = 2048;
/// Exim messages whose header and message log are asked for, at most (the oldest first, as
/// `exim -bp` lists them); the rest are listed with their rounded ages and no reasons.
pub const MAX_DETAILED: usize = 1_000;
/// Time for all the `-Mvh`/`-Mvl` calls together.
pub const DETAILS_BUDGET: Duration = Duration::from_secs(60);

/// Where queue commands live besides PATH (`/usr/sbin` is often not in a user's PATH).
const SBIN: &[&str] = &[
    "/usr/sbin",
    "/usr/local/sbin",
    "/sbin",
    "/usr/lib",
    "/usr/exim/bin",
];

#[derive(Debug, Clone)]
pub struct CollectOptions {
    /// Time limit of the listing command (`postqueue -j`, `exim -bp`, `mailq`).
    pub timeout: Duration,
    /// Time limit of each `-Mvh`/`-Mvl`/`exim_dumpdb` call.
    pub detail_timeout: Duration,
}

impl Default for CollectOptions {
    fn default() -> CollectOptions {
        CollectOptions {
            timeout: Duration::from_secs(120),
            detail_timeout: Duration::from_secs(10),
        }
    }
}

/// What was collected: the listing text, ready for [`crate::parse_listing`].
#[derive(Debug, Clone)]
pub struct Collected {
    pub mta: Mta,
    /// The listing command, as the report names its source.
    pub source: String,
    pub text: String,
    /// When the listing was taken (Unix seconds).
    pub taken_at: i64,
    /// What could not be collected (a message log not readable, the retry data missing).
    pub notes: Vec<String>,
}

/// The first of `names` found in PATH or the sbin directories.
pub fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .chain(SBIN.iter().map(PathBuf::from))
        .collect();
    for name in names {
        for d in &dirs {
            let p = d.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// The commands each MTA is found by, in the order looked for.
fn commands_of(mta: Mta) -> &'static [&'static str] {
    match mta {
        Mta::Postfix => &["postqueue"],
        Mta::Exim => &["exim4", "exim"],
        Mta::Sendmail => &["mailq"],
    }
}

/// Lists the queue of `mta`, or of whichever MTA is installed (`None`: Postfix, then Exim, then
/// Sendmail's `mailq`).
pub fn collect(mta: Option<Mta>, opts: &CollectOptions) -> Result<Collected, QueueError> {
    let (mta, program) = match mta {
        Some(m) => match find_program(commands_of(m)) {
            Some(p) => (m, p),
            None => {
                return Err(QueueError::MissingCommand {
                    mta: m.as_str(),
                    looked_for: commands_of(m).join(" or "),
                });
            }
        },
        None => [Mta::Postfix, Mta::Exim, Mta::Sendmail]
            .into_iter()
            .find_map(|m| find_program(commands_of(m)).map(|p| (m, p)))
            .ok_or_else(|| QueueError::NoMta {
                looked_for: "postqueue, exim4, exim, mailq".to_string(),
            })?,
    };
    match mta {
        Mta::Postfix => simple(
            mta,
            &program,
            &["-j"],
            "postqueue -j",
            opts,
            " (is Postfix running? postqueue asks its showq service)",
        ),
        Mta::Sendmail => simple(mta, &program, &[], "mailq", opts, ""),
        Mta::Exim => exim(&program, opts),
    }
}

fn simple(
    mta: Mta,
    program: &Path,
    args: &[&str],
    source: &str,
    opts: &CollectOptions,
    hint: &'static str,
) -> Result<Collected, QueueError> {
    let taken_at = now();
    let out = run(program, args, opts.timeout, MAX_LISTING)?;
    if !out.status.success() {
        return Err(failed(source, &out, hint));
    }
    let mut notes = Vec::new();
    if out.cut {
        notes.push(format!(
            "the listing was cut at {} MiB: later messages were not read",
            MAX_LISTING >> 20
        ));
    }
    Ok(Collected {
        mta,
        source: source.to_string(),
        text: String::from_utf8_lossy(&out.stdout).into_owned(),
        taken_at,
        notes,
    })
}

/// `exim -bp`, then each listed message's header and message log, then the retry data.
fn exim(program: &Path, opts: &CollectOptions) -> Result<Collected, QueueError> {
    let name = program
        .file_name()
        .map_or("exim".into(), |n| n.to_string_lossy().into_owned());
    let source = format!("{name} -bp");
    let taken_at = now();
    let out = run(program, &["-bp"], opts.timeout, MAX_LISTING)?;
    if !out.status.success() {
        return Err(failed(
            &source,
            &out,
            " (listing Exim's queue needs root or a member of the Exim group, unless queue_list_requires_admin is false)",
        ));
    }
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut notes = Vec::new();
    if out.cut {
        notes.push(format!("the listing was cut at {} MiB", MAX_LISTING >> 20));
    }
    let ids = crate::exim::listed_ids(&text);
    let started = Instant::now();
    let mut unreadable = 0usize;
    let mut asked = 0usize;
    for id in ids.iter().take(MAX_DETAILED) {
        if started.elapsed() > DETAILS_BUDGET {
            break;
        }
        asked += 1;
        for flag in ["-Mvh", "-Mvl"] {
            // A message delivered meanwhile has neither: only counted.
            match run(program, &[flag, id], opts.detail_timeout, MAX_DETAIL) {
                Ok(o) if o.status.success() => {
                    text.push_str(&format!("==> {name} {flag} {id}\n"));
                    text.push_str(&String::from_utf8_lossy(&o.stdout));
                    if !text.ends_with('\n') {
                        text.push('\n');
                    }
                }
                _ => unreadable += 1,
            }
        }
    }
    if asked < ids.len() {
        notes.push(format!(
            "{} message(s) listed without their header and message log (more than {MAX_DETAILED}, or {}s spent): their ages are rounded and their reasons unknown",
            ids.len() - asked,
            DETAILS_BUDGET.as_secs()
        ));
    }
    if unreadable > 0 {
        notes.push(format!(
            "{unreadable} -Mvh/-Mvl call(s) gave nothing (delivered meanwhile, or not readable)"
        ));
    }
    match retry_data(program, opts) {
        Ok(section) => text.push_str(&section),
        Err(why) => notes.push(format!("no retry data ({why}): next retry times unknown")),
    }
    Ok(Collected {
        mta: Mta::Exim,
        source,
        text,
        taken_at,
        notes,
    })
}

/// `exim_dumpdb SPOOL retry`, SPOOL from `exim -bP spool_directory`, as a `==>` section.
fn retry_data(program: &Path, opts: &CollectOptions) -> Result<String, String> {
    let out = run(
        program,
        &["-bP", "spool_directory"],
        opts.detail_timeout,
        4096,
    )
    .map_err(|e| e.to_string())?;
    let spool = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.split_once('=').map(|(_, v)| v.trim().to_string()))
        .filter(|s| s.starts_with('/'))
        .ok_or("exim -bP spool_directory gave no directory")?;
    let sibling = program.with_file_name("exim_dumpdb");
    let dumpdb = if sibling.is_file() {
        sibling
    } else {
        find_program(&["exim_dumpdb"]).ok_or("exim_dumpdb not found")?
    };
    let out = run(
        &dumpdb,
        &[&spool, "retry"],
        opts.detail_timeout,
        MAX_LISTING,
    )
    .map_err(|e| e.to_string())?;
    let body = String::from_utf8_lossy(&out.stdout).into_owned();
    // No database yet (nothing ever deferred) is an empty one.
    if !out.status.success() && !out.stderr.contains("No such file") {
        return Err(crate::model::cut(out.stderr.trim(), 300));
    }
    Ok(format!("==> exim_dumpdb {spool} retry\n{body}"))
}

fn failed(command: &str, out: &Ran, hint: &'static str) -> QueueError {
    QueueError::Failed {
        command: command.to_string(),
        status: match out.status.code() {
            Some(c) => format!("exit {c}"),
            None => "killed by a signal".to_string(),
        },
        stderr: mxray_core::escape_text(out.stderr.trim()),
        hint,
    }
}

/// The current time, Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// This machine's offset from UTC, seconds (from `date +%z`: the zone database is the
/// system's); 0 when it cannot be told.
pub fn local_offset() -> i32 {
    let Some(date) = find_program(&["date"]) else {
        return 0;
    };
    let Ok(out) = run(&date, &["+%z"], Duration::from_secs(5), 64) else {
        return 0;
    };
    parse_offset(String::from_utf8_lossy(&out.stdout).trim()).unwrap_or(0)
}

/// `+0100`, `-0530` into seconds east of UTC.
pub fn parse_offset(s: &str) -> Option<i32> {
    let (sign, digits) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    if digits.len() != 4 || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let h: i32 = digits[..2].parse().ok()?;
    let m: i32 = digits[2..].parse().ok()?;
    (h <= 14 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

/// A finished command: its output (cut at the limit), its status.
#[derive(Debug)]
struct Ran {
    stdout: Vec<u8>,
    stderr: String,
    status: ExitStatus,
    /// The output passed the limit: the command was stopped there.
    cut: bool,
}

/// Runs `program args` in a process group of its own, `LC_ALL=C`, no input; stops the group at
/// `timeout` or once the output passes `max` bytes.
fn run(program: &Path, args: &[&str], timeout: Duration, max: usize) -> Result<Ran, QueueError> {
    let command = format!("{} {}", program.display(), args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|source| QueueError::Spawn {
            command: command.clone(),
            source,
        })?;
    let pid = rustix::process::Pid::from_child(&child);
    // Signals go to the group only while its leader is unreaped (or members still hold its
    // pipes), so the group ID cannot belong to anyone else yet.
    let stop = move || {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    };
    let too_long = Arc::new(AtomicBool::new(false));
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let flag = too_long.clone();
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut s) = stdout {
            let _ = (&mut s).take(max as u64).read_to_end(&mut buf);
            // More than the limit: have the command stopped, and drain until it is.
            let mut probe = [0u8; 8192];
            if matches!(s.read(&mut probe), Ok(n) if n > 0) {
                flag.store(true, Ordering::SeqCst);
                let _ = std::io::copy(&mut s, &mut std::io::sink());
            }
        }
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut s) = stderr {
            let _ = (&mut s).take(MAX_STDERR as u64).read_to_end(&mut buf);
            // Drain the rest so the command never blocks on a full pipe.
            let _ = std::io::copy(&mut s, &mut std::io::sink());
        }
        String::from_utf8_lossy(&buf).into_owned()
    });
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        if too_long.load(Ordering::SeqCst) {
            stop();
        }
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) | Err(_) => {
                timed_out = true;
                stop();
                match child.wait() {
                    Ok(s) => break s,
                    Err(source) => {
                        return Err(QueueError::Spawn { command, source });
                    }
                }
            }
        }
    };
    // What the command left running holds its pipes: give it a moment, then stop it (its
    // members keep the group ID theirs while they live).
    let grace = Instant::now() + Duration::from_secs(2);
    while !(out_thread.is_finished() && err_thread.is_finished()) {
        if Instant::now() > grace {
            stop();
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let stdout = out_thread.join().unwrap_or_default();
    let stderr = err_thread.join().unwrap_or_default();
    if timed_out {
        return Err(QueueError::Timeout {
            command,
            secs: timeout.as_secs(),
        });
    }
    Ok(Ran {
        stdout,
        stderr,
        status,
        cut: too_long.load(Ordering::SeqCst),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, timeout: Duration, max: usize) -> Result<Ran, QueueError> {
        run(Path::new("/bin/sh"), &["-c", script], timeout, max)
    }

    #[test]
    fn output_and_time_are_bounded() {
        let r = sh(
            "echo hello; echo oops >&2; exit 3",
            Duration::from_secs(5),
            1024,
        )
        .unwrap();
        assert_eq!(r.stdout, b"hello\n");
        assert_eq!(r.stderr, "oops\n");
        assert_eq!(r.status.code(), Some(3));
        let started = Instant::now();
        let r = sh("yes", Duration::from_secs(5), 10_000).unwrap();
        assert!(r.cut && r.stdout.len() == 10_000);
        assert!(started.elapsed() < Duration::from_secs(4));
        // A command that hangs (and its child holding the pipe) is stopped at the limit.
        let started = Instant::now();
        let e = sh("sleep 30 & sleep 30", Duration::from_millis(300), 1024).unwrap_err();
        assert!(matches!(e, QueueError::Timeout { .. }), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let e = run(
            Path::new("/nonexistent/postqueue"),
            &["-j"],
            Duration::from_secs(1),
            10,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("cannot run /nonexistent/postqueue -j"),
            "{e}"
        );
    }

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("+0100"), Some(3600));
        assert_eq!(parse_offset("-0530"), Some(-19_800));
        assert_eq!(parse_offset("+0000"), Some(0));
        assert_eq!(parse_offset("0100"), None);
        assert_eq!(parse_offset("+9900"), None);
        let _ = local_offset();
    }
}
