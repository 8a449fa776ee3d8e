//! `mxray logs --follow`: reads one log as it grows (`tail`: rotation, truncation, late files),
//! parses each line as `mxray logs` does, and reports what changes meaningfully (`detect`).
//!
//! # Layout
//! - `tail`: the `tail -F` reader, polling.
//! - `detect`: the pure detector (new groups, rate alerts, 421 storms) on a clock passed in.
//! - `event`: the events and the summary (`--json`, webhook bodies).
//!
//! # The clock
//! Windows run on the log's own time: the stamp of each line (never going back), so a replay
//! (`--from-start`) alerts as the live run would have. When nothing is read, the clock moves on
//! with the wall clock from the last stamp, so an alert still clears when its domain goes quiet.

pub mod detect;
pub mod event;
pub mod tail;

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

pub use detect::{Config, Detector, Tracked};
pub use event::{
    FollowEvent, FollowKind, FollowSummary, GroupKey, RateNumbers, StormNumbers, WebhookCounts,
};
pub use tail::{Tail, TailItem, TailNote, TailStats};

use crate::error::LogsError;
use crate::event::{Event, Mta};
use crate::parse::{LineParser, Parsed};
use crate::time::{Timestamp, YearGuess};

/// How to follow.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// Read the file from its start (a replay) instead of its end.
    pub from_start: bool,
    /// Parse only this MTA's lines (`--format`).
    pub only: Option<Mta>,
    /// The year of year-less syslog stamps at the start (`--year`); default: now.
    pub year: Option<i64>,
    /// Lines stamped before this are skipped (`--since`).
    pub since: Option<Timestamp>,
    pub detect: Config,
    /// How long to wait between looks at an idle file ([`tail::POLL`]).
    pub poll: Duration,
}

impl Default for FollowOptions {
    fn default() -> FollowOptions {
        FollowOptions {
            from_start: false,
            only: None,
            year: None,
            since: None,
            detect: Config::default(),
            poll: tail::POLL,
        }
    }
}

/// Receives what the follow reports, as it happens.
pub trait FollowSink {
    fn event(&mut self, event: &FollowEvent) -> io::Result<()>;
    /// What happened to the file (opened, missing, rotated, truncated).
    fn note(&mut self, _path: &Path, _note: TailNote) -> io::Result<()> {
        Ok(())
    }
}

/// The log's clock (see the module's doc).
#[derive(Debug, Default)]
struct Clock {
    now: Option<Timestamp>,
    /// Idle wall time not yet added (under a second).
    idle: Duration,
}

impl Clock {
    fn line(&mut self, t: Timestamp) -> Timestamp {
        match self.now {
            Some(c) if c.secs >= t.secs => c,
            _ => {
                self.now = Some(t);
                self.idle = Duration::ZERO;
                t
            }
        }
    }

    fn idle(&mut self, d: Duration) {
        let Some(now) = self.now.as_mut() else {
            return;
        };
        self.idle += d;
        let whole = self.idle.as_secs();
        now.secs = now.secs.saturating_add(whole as i64);
        self.idle -= Duration::from_secs(whole);
    }

    /// Lines without a stamp (none of the MTAs writes one; a hand-made log might) count at the
    /// present: the clock, else the wall clock.
    fn present(&self) -> Timestamp {
        self.now.unwrap_or_else(wall_now)
    }
}

fn wall_now() -> Timestamp {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    Timestamp { secs, utc: true }
}

/// Everything a follow keeps between lines.
struct State<'a> {
    parser: LineParser,
    detector: Detector,
    clock: Clock,
    since: Option<Timestamp>,
    out: Vec<FollowEvent>,
    unparsed: u64,
    out_of_range: u64,
    sink: &'a mut dyn FollowSink,
    /// The sink's own error, told apart from a read error after the reader returns.
    sink_failed: Option<io::Error>,
}

impl State<'_> {
    fn item(&mut self, path: &Path, item: TailItem<'_>) -> io::Result<()> {
        match item {
            TailItem::Note(n) => {
                let r = self.sink.note(path, n);
                self.checked(r)
            }
            TailItem::Line(line) => {
                match self.parser.parse(line) {
                    Parsed::Event { time, mta, event } => {
                        if let (Some(s), Some(t)) = (self.since, time)
                            && t < s
                        {
                            self.out_of_range += 1;
                            return Ok(());
                        }
                        let now = match time {
                            Some(t) => self.clock.line(t),
                            None => self.clock.present(),
                        };
                        if event != Event::Noise {
                            self.detector.observe(now, mta, event, line, &mut self.out);
                        }
                    }
                    Parsed::Other { time: Some(t) } => {
                        self.clock.line(t);
                    }
                    Parsed::Unparsed => self.unparsed += 1,
                    Parsed::Other { time: None } | Parsed::Continuation => {}
                }
                self.flush()
            }
        }
    }

    fn tick(&mut self) -> io::Result<()> {
        if let Some(now) = self.clock.now {
            self.detector.tick(now, &mut self.out);
        }
        self.flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut r = Ok(());
        for e in self.out.drain(..) {
            r = self.sink.event(&e);
            if r.is_err() {
                break;
            }
        }
        self.out.clear();
        self.checked(r)
    }

    fn checked(&mut self, r: io::Result<()>) -> io::Result<()> {
        r.map_err(|e| {
            let marker = io::Error::new(e.kind(), "output failed");
            self.sink_failed = Some(e);
            marker
        })
    }
}

/// Follows `path` until `stop` is set, reporting to `sink`; returns the summary event (the
/// caller adds what it knows, such as webhook counts, and prints it). Memory is bounded
/// (the detector's caps, one line, one read buffer) and the file is never read twice.
pub fn follow(
    path: &Path,
    opts: &FollowOptions,
    stop: &AtomicBool,
    sink: &mut dyn FollowSink,
) -> Result<FollowEvent, LogsError> {
    let started = Instant::now();
    let name = path.display().to_string();
    let mut tail = Tail::new(path, opts.from_start).map_err(|source| LogsError::Open {
        path: name.clone(),
        source,
    })?;
    let year = match opts.year {
        Some(y) => YearGuess::starting(y),
        None => YearGuess::ending_at(wall_now()),
    };
    let mut st = State {
        parser: LineParser::new(opts.only, year),
        detector: Detector::new(opts.detect.clone()),
        clock: Clock::default(),
        since: opts.since,
        out: Vec::new(),
        unparsed: 0,
        out_of_range: 0,
        sink,
        sink_failed: None,
    };
    let mut last = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let polled = tail.poll(&mut |item| st.item(path, item));
        let polled = match polled {
            Ok(p) => p,
            Err(source) => {
                return Err(match st.sink_failed.take() {
                    Some(e) => LogsError::Output(e),
                    None => LogsError::Read {
                        input: name,
                        source,
                    },
                });
            }
        };
        if polled.bytes == 0 {
            st.clock.idle(last.elapsed());
        }
        last = Instant::now();
        if let Err(e) = st.tick() {
            return Err(LogsError::Output(st.sink_failed.take().unwrap_or(e)));
        }
        if !polled.more {
            sleep_unless_stopped(opts.poll, stop);
        }
    }
    let mut summary = FollowSummary {
        file: name,
        elapsed_secs: started.elapsed().as_secs(),
        read: tail.stats.clone(),
        unparsed: st.unparsed,
        out_of_range: st.out_of_range,
        ..FollowSummary::default()
    };
    st.detector.fill_summary(&mut summary);
    let mut e = FollowEvent::new(FollowKind::Summary, st.clock.now);
    e.summary = Some(summary);
    Ok(e)
}

/// Sleeps `d`, waking early when `stop` is set (checked every 50 ms).
fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let step = Duration::from_millis(50);
    let end = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(step));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Arc;

    struct Collect(Arc<std::sync::Mutex<Vec<FollowEvent>>>);
    impl FollowSink for Collect {
        fn event(&mut self, e: &FollowEvent) -> io::Result<()> {
            if let Ok(mut v) = self.0.lock() {
                v.push(e.clone());
            }
            Ok(())
        }
    }

    #[test]
    fn the_clock_follows_stamps_and_idles_forward() {
        let mut c = Clock::default();
        c.idle(Duration::from_secs(5));
        assert_eq!(c.now, None, "no clock before a stamp");
        let t = Timestamp {
            secs: 1000,
            utc: false,
        };
        assert_eq!(c.line(t).secs, 1000);
        assert_eq!(
            c.line(Timestamp { secs: 990, ..t }).secs,
            1000,
            "never back"
        );
        c.idle(Duration::from_millis(700));
        c.idle(Duration::from_millis(700));
        assert_eq!(c.present().secs, 1001);
    }

    #[test]
    fn follows_a_file_through_rotation_and_stops_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mail.log");
        std::fs::write(&path, "").unwrap();
        let events = Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let runner = {
            let (path, events, stop) = (path.clone(), events.clone(), stop.clone());
            std::thread::spawn(move || {
                let opts = FollowOptions {
                    year: Some(2026),
                    poll: Duration::from_millis(20),
                    ..FollowOptions::default()
                };
                follow(&path, &opts, &stop, &mut Collect(events))
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        let deferral = |i: u32, d: &str| {
            format!(
                "Nov 24 06:47:57 mail postfix/smtp[1]: {i:010X}: to=<u@{d}>, relay=none, delay=1, dsn=4.4.1, status=deferred (connect to mx.{d}[192.0.2.1]:25: Connection refused)\n"
            )
        };
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(deferral(1, "a.test").as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        std::fs::rename(&path, dir.path().join("mail.log.1")).unwrap();
        f.write_all(deferral(2, "a.test").as_bytes()).unwrap();
        drop(f);
        std::fs::write(&path, deferral(3, "b.test")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while events.lock().map(|v| v.len()).unwrap_or(0) < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100));
        stop.store(true, Ordering::Relaxed);
        let end = runner.join().unwrap().unwrap();
        let s = end.summary.unwrap();
        assert_eq!((s.attempts, s.deferrals, s.new_groups), (3, 3, 2));
        assert_eq!(s.read.rotations, 1);
        let got: Vec<String> = events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| e.domain.clone())
            .collect();
        assert_eq!(got, vec!["a.test", "b.test"]);
    }
}
