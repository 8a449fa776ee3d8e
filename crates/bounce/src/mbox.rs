//! Many messages, streamed: an mbox split on its `From ` lines (mboxrd `>From ` unescaped)
//! one message at a time, each bounded, and a maildir's files in order.

use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Splits an mbox read from `input` into messages, yielding each as it completes. A message
/// longer than [`crate::MAX_MESSAGE`] keeps its first part (the report); the rest is skipped.
pub struct Mbox<R> {
    input: R,
    /// The `From ` line that opened the next message, already read.
    pending: bool,
    done: bool,
    line: Vec<u8>,
}

impl<R: BufRead> Mbox<R> {
    pub fn new(input: R) -> Mbox<R> {
        Mbox {
            input,
            pending: false,
            done: false,
            line: Vec::new(),
        }
    }
}

/// Lines longer than this are cut (a base64 blob without line breaks, a hostile file).
const MAX_LINE: u64 = 64 * 1024;

impl<R: BufRead> Iterator for Mbox<R> {
    type Item = std::io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut msg = Vec::new();
        let mut started = self.pending;
        let mut blank_before = true;
        loop {
            self.line.clear();
            // Bounded per line: `&mut R` is taken, not the reader itself.
            let mut limited = <&mut R as std::io::Read>::take(&mut self.input, MAX_LINE);
            let n = match limited.read_until(b'\n', &mut self.line) {
                Ok(n) => n,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            if n == 0 {
                self.done = true;
                return started.then_some(Ok(msg));
            }
            if self.line.starts_with(b"From ") && blank_before {
                if started {
                    self.pending = true;
                    return Some(Ok(msg));
                }
                started = true;
                blank_before = false;
                continue;
            }
            if !started {
                // Text before the first From line: not an mbox message; read it as one.
                started = true;
            }
            blank_before = self.line == b"\n" || self.line == b"\r\n";
            if msg.len() < crate::MAX_MESSAGE {
                // mboxrd: ">From " and ">>From " lose one '>'.
                let body: &[u8] = if self.line.starts_with(b">") {
                    let gt = self.line.iter().take_while(|b| **b == b'>').count();
                    if self.line[gt..].starts_with(b"From ") {
                        &self.line[1..]
                    } else {
                        &self.line
                    }
                } else {
                    &self.line
                };
                msg.extend_from_slice(body);
            }
        }
    }
}

/// The message files of a maildir (`cur/` and `new/`, in name order), or of a plain directory
/// of message files.
pub fn maildir_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let subdirs: Vec<PathBuf> = ["cur", "new"]
        .iter()
        .map(|s| dir.join(s))
        .filter(|p| p.is_dir())
        .collect();
    let dirs = if subdirs.is_empty() {
        vec![dir.to_path_buf()]
    } else {
        subdirs
    };
    let mut files = Vec::new();
    for d in dirs {
        let mut here: Vec<PathBuf> = std::fs::read_dir(&d)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .filter(|p| {
                !p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
            })
            .collect();
        here.sort();
        files.extend(here);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_from_lines_and_unescapes() {
        let text = b"From a@b Mon Dec  1 10:00:00 2025\nSubject: one\n\n>From the start\n\nFrom c@d Mon Dec  1 10:00:01 2025\nSubject: two\n\nbody\n";
        let msgs: Vec<Vec<u8>> = Mbox::new(&text[..]).map(|m| m.expect("read")).collect();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0], b"Subject: one\n\nFrom the start\n\n");
        assert_eq!(msgs[1], b"Subject: two\n\nbody\n");
    }

    #[test]
    fn a_single_message_without_from_line() {
        let msgs: Vec<Vec<u8>> = Mbox::new(&b"Subject: x\n\nbody\n"[..])
            .map(|m| m.expect("read"))
            .collect();
        assert_eq!(msgs, vec![b"Subject: x\n\nbody\n".to_vec()]);
    }
}
