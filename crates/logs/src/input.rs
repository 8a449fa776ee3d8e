//! Inputs: files, gzip files (recognised by their magic bytes, not their name) and stdin, read in
//! chunks of whole lines with every read bounded, so memory does not grow with the file.
//!
//! A line longer than [`crate::parse::MAX_LINE`] is skipped to its newline without buffering it,
//! and counted.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::time::SystemTime;

use flate2::read::MultiGzDecoder;

use crate::error::LogsError;
use crate::parse::MAX_LINE;

/// Where lines come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSpec {
    Path(PathBuf),
    Stdin,
}

impl InputSpec {
    pub fn name(&self) -> String {
        match self {
            InputSpec::Path(p) => p.display().to_string(),
            InputSpec::Stdin => "-".to_string(),
        }
    }
}

/// Chunks are about this big: large enough that per-chunk costs vanish, small enough to bound
/// memory (a few chunks are in flight between the two threads).
pub const CHUNK: usize = 1 << 20;

/// An opened input.
pub struct Source {
    pub name: String,
    pub gzip: bool,
    /// When the file was last written: the reference for year-less syslog stamps.
    pub modified: Option<SystemTime>,
    pub chunks: Chunker<Box<dyn Read + Send>>,
}

impl Source {
    pub fn open(spec: &InputSpec) -> Result<Source, LogsError> {
        let name = spec.name();
        let (raw, modified): (Box<dyn Read + Send>, _) = match spec {
            InputSpec::Path(p) => {
                let f = File::open(p).map_err(|source| LogsError::Open {
                    path: name.clone(),
                    source,
                })?;
                // A directory opens on Unix and fails at the first read: say what it is.
                if f.metadata().is_ok_and(|m| m.is_dir()) {
                    return Err(LogsError::Open {
                        path: name,
                        source: io::Error::new(io::ErrorKind::IsADirectory, "is a directory"),
                    });
                }
                let modified = f.metadata().and_then(|m| m.modified()).ok();
                (Box::new(f), modified)
            }
            InputSpec::Stdin => (Box::new(io::stdin()), None),
        };
        // Sniff the gzip magic (1f 8b), then put the sniffed bytes back in front.
        let mut raw = raw;
        let mut head = Vec::with_capacity(2);
        (&mut raw)
            .take(2)
            .read_to_end(&mut head)
            .map_err(|source| LogsError::Read {
                input: name.clone(),
                source,
            })?;
        let gzip = head == [0x1f, 0x8b];
        let joined = io::Cursor::new(head).chain(raw);
        let reader: Box<dyn Read + Send> = if gzip {
            Box::new(MultiGzDecoder::new(joined))
        } else {
            Box::new(joined)
        };
        Ok(Source {
            name,
            gzip,
            modified,
            chunks: Chunker::new(reader),
        })
    }
}

/// Reads whole lines in chunks of about [`CHUNK`] bytes.
pub struct Chunker<R> {
    r: R,
    carry: Vec<u8>,
    eof: bool,
    /// Inside an over-long line: drop bytes up to the next newline.
    skipping: bool,
    /// Over-long lines dropped so far.
    pub overlong: u64,
    /// A read error met after some whole lines: those are handed out first, the error next.
    failed: Option<io::Error>,
}

impl<R: Read> Chunker<R> {
    pub fn new(r: R) -> Chunker<R> {
        Chunker {
            r,
            carry: Vec::new(),
            eof: false,
            skipping: false,
            overlong: 0,
            failed: None,
        }
    }

    /// Fills `out` with whole lines (the last one may lack its newline at end of input).
    /// Returns false when the input is exhausted and `out` is empty.
    pub fn next_chunk(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        out.clear();
        out.append(&mut self.carry);
        loop {
            if self.eof {
                return Ok(!out.is_empty());
            }
            let start = out.len();
            out.resize(start + CHUNK.max(64 * 1024), 0);
            let n = loop {
                match self.r.read(&mut out[start..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        // A truncated .gz fails mid-chunk: keep the whole lines read before.
                        out.truncate(start);
                        let whole = memchr::memrchr(b'\n', out).map_or(0, |i| i + 1);
                        out.truncate(whole);
                        if out.is_empty() {
                            return Err(e);
                        }
                        self.failed = Some(e);
                        self.eof = true;
                        return Ok(true);
                    }
                }
            };
            out.truncate(start + n);
            if n == 0 {
                self.eof = true;
                if self.skipping {
                    out.clear();
                }
                continue;
            }
            if self.skipping {
                match memchr::memchr(b'\n', &out[start..]) {
                    Some(i) => {
                        out.drain(start..=start + i);
                        self.skipping = false;
                    }
                    None => {
                        out.truncate(start);
                        continue;
                    }
                }
            }
            match memchr::memrchr(b'\n', out) {
                Some(last) => {
                    if out.len() >= CHUNK || last + 1 == out.len() {
                        self.carry.extend_from_slice(&out[last + 1..]);
                        out.truncate(last + 1);
                        self.drop_overlong_tail();
                        return Ok(true);
                    }
                }
                None => {
                    if out.len() > MAX_LINE {
                        // One line, longer than any MTA writes: drop it to its newline.
                        out.clear();
                        self.overlong += 1;
                        self.skipping = true;
                    }
                }
            }
        }
    }

    /// The carried partial line can already be over-long: drop it now rather than carry it.
    fn drop_overlong_tail(&mut self) {
        if self.carry.len() > MAX_LINE {
            self.carry.clear();
            self.overlong += 1;
            self.skipping = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_lines(data: &[u8]) -> (Vec<Vec<u8>>, u64) {
        let mut c = Chunker::new(data);
        let mut lines = Vec::new();
        let mut buf = Vec::new();
        while c.next_chunk(&mut buf).unwrap() {
            for l in buf.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                lines.push(l.to_vec());
            }
        }
        (lines, c.overlong)
    }

    #[test]
    fn lines_survive_chunk_boundaries() {
        let mut data = Vec::new();
        for i in 0..200_000 {
            data.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        data.extend_from_slice(b"last without newline");
        let (lines, over) = all_lines(&data);
        assert_eq!(lines.len(), 200_001);
        assert_eq!(lines[123_456], b"line 123456");
        assert_eq!(lines[200_000], b"last without newline");
        assert_eq!(over, 0);
    }

    #[test]
    fn over_long_lines_are_dropped_and_counted() {
        let mut data = b"first\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 3 * CHUNK));
        data.extend_from_slice(b"\nafter\n");
        let (lines, over) = all_lines(&data);
        assert_eq!(lines, vec![b"first".to_vec(), b"after".to_vec()]);
        assert_eq!(over, 1);
    }

    #[test]
    fn gzip_is_recognised_by_magic() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("mxray-logs-gz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mail.log.1");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"hello\nworld\n").unwrap();
        std::fs::write(&path, enc.finish().unwrap()).unwrap();
        let mut s = Source::open(&InputSpec::Path(path)).unwrap();
        assert!(s.gzip);
        let mut buf = Vec::new();
        assert!(s.chunks.next_chunk(&mut buf).unwrap());
        assert_eq!(buf, b"hello\nworld\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
