//! A `tail -F` reader for one path: reads what is appended, follows rotation by rename (the old
//! file is read to its end, then the new one from its start), truncation, and a file that appears
//! later; lines bounded by [`MAX_LINE`], a partial last line kept until its newline comes.
//!
//! Polling, not inotify (`notify`): a `stat` per poll is needed anyway to tell a rotation from a
//! truncation, polling works on every file system (NFS, overlay and bind mounts in containers,
//! where inotify misses writes), and its 250 ms delay is nothing beside the alert windows.

use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::parse::MAX_LINE;

/// How often the path is looked at when nothing new was read.
pub const POLL: Duration = Duration::from_millis(250);
/// Bytes read per [`Tail::poll`] at most: a large backlog (`--from-start` on a big file) is read
/// in slices, so the caller still checks for a stop and moves its clock between them.
pub const MAX_READ_PER_POLL: usize = 4 << 20;
/// One read's size.
const READ_BUF: usize = 64 * 1024;

/// What happened to the followed path (for the user's information; lines are never lost to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TailNote {
    /// The file was opened: at its end (`at_end`), or at its start (`--from-start`, or a file
    /// that appeared while followed: everything in it is new).
    Opened { at_end: bool },
    /// The path names no file (yet): waiting for it to appear.
    Missing,
    /// The path now names another file (rotation by rename): the old one was read to its end
    /// first.
    Rotated,
    /// The file shrank (rotation by copy and truncation): read again from its start.
    Truncated,
}

/// What the reader gives its caller, in order.
#[derive(Debug)]
pub enum TailItem<'a> {
    /// One line, without its newline (never empty, never longer than [`MAX_LINE`]).
    Line(&'a [u8]),
    Note(TailNote),
}

/// Counts over the whole follow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TailStats {
    /// Bytes read, over every file the path named.
    pub bytes: u64,
    /// Lines handed on (over-long ones are not).
    pub lines: u64,
    /// Lines longer than the 64 KiB limit, skipped to their newline without being kept.
    pub overlong: u64,
    /// Rotations by rename seen (the path named a new file).
    pub rotations: u64,
    /// Truncations seen (the file shrank).
    pub truncations: u64,
}

/// The result of one poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Polled {
    pub bytes: usize,
    /// The per-poll limit was reached: more is waiting, poll again without sleeping.
    pub more: bool,
}

/// Device and inode: what tells a new file at the same path from the old one.
type FileId = (u64, u64);

#[cfg(unix)]
fn file_id(m: &Metadata) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    Some((m.dev(), m.ino()))
}

/// Without inodes a rename cannot be told from new lines; truncation is still seen.
#[cfg(not(unix))]
fn file_id(_: &Metadata) -> Option<FileId> {
    None
}

/// Follows one path.
pub struct Tail {
    path: PathBuf,
    file: Option<File>,
    id: Option<FileId>,
    /// Offset of the next byte to read in the open file.
    pos: u64,
    /// The partial line read so far (at most [`MAX_LINE`] bytes).
    carry: Vec<u8>,
    /// Dropping bytes up to the next newline (an over-long line, or the partial line a start at
    /// the end fell into).
    skipping: bool,
    missing_noted: bool,
    /// The first open is at the end unless `from_start`; later ones (rotation, a file that
    /// appears) at the start.
    first_at_end: bool,
    buf: Vec<u8>,
    pub stats: TailStats,
}

/// Only a regular file can be followed: a directory cannot be read, and a pipe or a device
/// cannot be reopened after a rotation (opening a FIFO would even block until a writer comes).
fn check_regular(path: &Path, m: &Metadata) -> io::Result<()> {
    if m.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            format!("{} is a directory", path.display()),
        ));
    }
    if !m.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is not a regular file (a pipe or a device cannot be followed)",
                path.display()
            ),
        ));
    }
    Ok(())
}

impl Tail {
    /// Follows `path`, from its end unless `from_start`. A missing path is waited for (noted at
    /// the first poll); a directory or an unreadable file is an error.
    pub fn new(path: &Path, from_start: bool) -> io::Result<Tail> {
        if let Ok(m) = std::fs::metadata(path) {
            check_regular(path, &m)?;
        }
        // Unreadable now is unreadable later: say so at once rather than wait in silence.
        if let Err(e) = File::open(path)
            && e.kind() != io::ErrorKind::NotFound
        {
            return Err(e);
        }
        Ok(Tail {
            path: path.to_path_buf(),
            file: None,
            id: None,
            pos: 0,
            carry: Vec::new(),
            skipping: false,
            missing_noted: false,
            first_at_end: !from_start,
            buf: vec![0; READ_BUF],
            stats: TailStats::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads what is new, handing lines and notes to `f` in order. Returns how much was read.
    /// Errors are `f`'s own, or a file that cannot be read (not a missing one: that is waited
    /// for).
    pub fn poll(
        &mut self,
        f: &mut dyn FnMut(TailItem<'_>) -> io::Result<()>,
    ) -> io::Result<Polled> {
        let mut budget = MAX_READ_PER_POLL;
        if self.file.is_none() && !self.reopen(f)? {
            return Ok(Polled {
                bytes: 0,
                more: false,
            });
        }
        self.read_available(&mut budget, f)?;
        if budget == 0 {
            return Ok(Polled {
                bytes: MAX_READ_PER_POLL,
                more: true,
            });
        }
        // At the end of what the open file holds: is the path still that file, and as long?
        match std::fs::metadata(&self.path) {
            Ok(m) if file_id(&m) != self.id => {
                // Rotated: what was appended to the old file since the read above comes first
                // (a daemon writes there until it reopens its log). The old file is finite.
                let mut all = usize::MAX;
                self.read_available(&mut all, f)?;
                self.flush_carry(f)?;
                self.file = None;
                self.id = None;
                self.stats.rotations += 1;
                f(TailItem::Note(TailNote::Rotated))?;
                if self.reopen(f)? {
                    self.read_available(&mut budget, f)?;
                }
            }
            Ok(_) => {
                let len = match &self.file {
                    Some(file) => file.metadata()?.len(),
                    None => 0,
                };
                if len < self.pos {
                    // Truncated (copytruncate): a partial line before it will never be ended.
                    self.flush_carry(f)?;
                    if let Some(file) = self.file.as_mut() {
                        file.seek(SeekFrom::Start(0))?;
                    }
                    self.pos = 0;
                    self.stats.truncations += 1;
                    f(TailItem::Note(TailNote::Truncated))?;
                    self.read_available(&mut budget, f)?;
                }
            }
            // Renamed away, the new file not created yet: keep reading the old one meanwhile.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let bytes = MAX_READ_PER_POLL - budget;
        Ok(Polled {
            bytes,
            more: budget == 0,
        })
    }

    /// Opens the path if it names a file. False when it does not (yet).
    fn reopen(&mut self, f: &mut dyn FnMut(TailItem<'_>) -> io::Result<()>) -> io::Result<bool> {
        // Looked at before opening: opening a FIFO would block.
        if let Ok(m) = std::fs::metadata(&self.path) {
            check_regular(&self.path, &m)?;
        }
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !self.missing_noted {
                    self.missing_noted = true;
                    f(TailItem::Note(TailNote::Missing))?;
                }
                // Whatever appears later is new: read it whole.
                self.first_at_end = false;
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        check_regular(&self.path, &meta)?;
        self.missing_noted = false;
        self.id = file_id(&meta);
        self.pos = 0;
        let at_end = std::mem::take(&mut self.first_at_end);
        if at_end && meta.len() > 0 {
            // Start after the last complete line; a line being written is skipped whole
            // rather than read from its middle.
            file.seek(SeekFrom::Start(meta.len() - 1))?;
            let mut last = [0u8; 1];
            file.read_exact(&mut last)?;
            self.pos = meta.len();
            self.skipping = last[0] != b'\n';
        }
        self.file = Some(file);
        f(TailItem::Note(TailNote::Opened { at_end }))?;
        Ok(true)
    }

    /// Reads the open file to its current end or until `budget` bytes were read.
    fn read_available(
        &mut self,
        budget: &mut usize,
        f: &mut dyn FnMut(TailItem<'_>) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        let result = (|| {
            while *budget > 0 {
                let Some(file) = self.file.as_mut() else {
                    return Ok(());
                };
                let want = buf.len().min(*budget);
                let n = match file.read(&mut buf[..want]) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                if n == 0 {
                    return Ok(());
                }
                self.pos += n as u64;
                self.stats.bytes += n as u64;
                *budget -= n;
                self.split(&buf[..n], f)?;
            }
            Ok(())
        })();
        self.buf = buf;
        result
    }

    /// Cuts `data` into lines, the partial one carried to the next read.
    fn split(
        &mut self,
        mut data: &[u8],
        f: &mut dyn FnMut(TailItem<'_>) -> io::Result<()>,
    ) -> io::Result<()> {
        while !data.is_empty() {
            let newline = memchr::memchr(b'\n', data);
            if self.skipping {
                match newline {
                    Some(i) => {
                        data = &data[i + 1..];
                        self.skipping = false;
                        continue;
                    }
                    None => return Ok(()),
                }
            }
            let Some(i) = newline else {
                if self.carry.len() + data.len() > MAX_LINE {
                    self.overlong();
                } else {
                    self.carry.extend_from_slice(data);
                }
                return Ok(());
            };
            let part = &data[..i];
            data = &data[i + 1..];
            if self.carry.len() + part.len() > MAX_LINE {
                self.carry.clear();
                self.stats.overlong += 1;
                continue;
            }
            if self.carry.is_empty() {
                self.emit(part, f)?;
            } else {
                let mut line = std::mem::take(&mut self.carry);
                line.extend_from_slice(part);
                let r = self.emit(&line, f);
                line.clear();
                self.carry = line;
                r?;
            }
        }
        Ok(())
    }

    fn overlong(&mut self) {
        self.carry.clear();
        self.stats.overlong += 1;
        self.skipping = true;
    }

    fn emit(
        &mut self,
        line: &[u8],
        f: &mut dyn FnMut(TailItem<'_>) -> io::Result<()>,
    ) -> io::Result<()> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return Ok(());
        }
        self.stats.lines += 1;
        f(TailItem::Line(line))
    }

    /// A partial line at the end of a file that will not grow again is a line.
    fn flush_carry(&mut self, f: &mut dyn FnMut(TailItem<'_>) -> io::Result<()>) -> io::Result<()> {
        self.skipping = false;
        if self.carry.is_empty() {
            return Ok(());
        }
        let line = std::mem::take(&mut self.carry);
        let r = self.emit(&line, f);
        self.carry = line;
        self.carry.clear();
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn collect(t: &mut Tail) -> (Vec<String>, Vec<TailNote>) {
        let mut lines = Vec::new();
        let mut notes = Vec::new();
        loop {
            let p = t
                .poll(&mut |item| {
                    match item {
                        TailItem::Line(l) => lines.push(String::from_utf8_lossy(l).into_owned()),
                        TailItem::Note(n) => notes.push(n),
                    }
                    Ok(())
                })
                .unwrap();
            if !p.more {
                break;
            }
        }
        (lines, notes)
    }

    fn append(path: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn starts_at_the_end_and_skips_a_line_being_written() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mail.log");
        append(&p, "old 1\nold 2\nhalf of a li");
        let mut t = Tail::new(&p, false).unwrap();
        let (lines, notes) = collect(&mut t);
        assert!(lines.is_empty());
        assert_eq!(notes, vec![TailNote::Opened { at_end: true }]);
        append(&p, "ne\nnew 1\nnew 2 in ");
        assert_eq!(collect(&mut t).0, vec!["new 1"]);
        append(&p, "two writes\n");
        assert_eq!(collect(&mut t).0, vec!["new 2 in two writes"]);
    }

    #[test]
    fn from_start_reads_everything() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mail.log");
        append(&p, "a\r\nb\n\nc\n");
        let mut t = Tail::new(&p, true).unwrap();
        assert_eq!(collect(&mut t).0, vec!["a", "b", "c"]);
        assert_eq!(t.stats.lines, 3);
    }

    #[test]
    fn rotation_by_rename_finishes_the_old_file_first() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mail.log");
        append(&p, "");
        let mut t = Tail::new(&p, false).unwrap();
        collect(&mut t);
        append(&p, "1\n2\n");
        assert_eq!(collect(&mut t).0, vec!["1", "2"]);
        // The daemon writes on to the renamed file until it reopens; then the new file.
        let mut old = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        std::fs::rename(&p, dir.path().join("mail.log.1")).unwrap();
        let (lines, notes) = collect(&mut t);
        assert!(lines.is_empty() && notes.is_empty(), "{notes:?}");
        old.write_all(b"3\n4 without newline").unwrap();
        drop(old);
        append(&p, "5\n");
        let (lines, notes) = collect(&mut t);
        assert_eq!(lines, vec!["3", "4 without newline", "5"]);
        assert_eq!(
            notes,
            vec![TailNote::Rotated, TailNote::Opened { at_end: false }]
        );
        assert_eq!(t.stats.rotations, 1);
    }

    #[test]
    fn truncation_reads_again_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mail.log");
        append(&p, "");
        let mut t = Tail::new(&p, false).unwrap();
        collect(&mut t);
        append(&p, "a long line one\na long line two\n");
        assert_eq!(collect(&mut t).0.len(), 2);
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&p)
            .unwrap();
        append(&p, "x\n");
        let (lines, notes) = collect(&mut t);
        assert_eq!(lines, vec!["x"]);
        assert_eq!(notes, vec![TailNote::Truncated]);
        assert_eq!(t.stats.truncations, 1);
    }

    #[test]
    fn a_missing_file_is_waited_for_and_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("later.log");
        let mut t = Tail::new(&p, false).unwrap();
        assert_eq!(collect(&mut t).1, vec![TailNote::Missing]);
        assert_eq!(collect(&mut t).1, vec![], "noted once");
        append(&p, "first\n");
        let (lines, notes) = collect(&mut t);
        assert_eq!(lines, vec!["first"]);
        assert_eq!(notes, vec![TailNote::Opened { at_end: false }]);
    }

    #[test]
    fn over_long_lines_are_skipped_without_being_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mail.log");
        let mut t = Tail::new(&p, true).unwrap();
        let long = "x".repeat(MAX_LINE + 10);
        append(&p, &format!("ok\n{long}"));
        collect(&mut t);
        assert!(t.carry.len() <= MAX_LINE);
        append(&p, &format!("{long}\nafter\n"));
        let (lines, _) = collect(&mut t);
        assert_eq!(lines, vec!["after"]);
        assert_eq!(t.stats.overlong, 1);
        assert_eq!(t.stats.lines, 2);
    }

    #[test]
    fn a_directory_or_a_device_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = Tail::new(dir.path(), false).err().expect("refused");
        assert_eq!(e.kind(), io::ErrorKind::IsADirectory);
        let e = Tail::new(Path::new("/dev/null"), false)
            .err()
            .expect("refused");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
