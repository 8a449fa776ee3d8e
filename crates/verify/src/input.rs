//! Streaming input: one address per line, or a CSV column; read lazily so millions of lines
//! fit in bounded memory. Over-long lines become syntax results rather than errors.

use std::io::{BufRead, BufReader, Read};

use crate::engine::Item;

/// Longest address line accepted; longer ones are reported as syntax errors, truncated.
pub const MAX_LINE: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("reading input: {0}")]
    Io(#[from] std::io::Error),
    #[error("CSV input: {0}")]
    Csv(String),
    #[error("CSV input has no column {column:?}; its columns are {found}: pass --column NAME")]
    NoColumn { column: String, found: String },
}

/// Items in input order, each with its record number as index.
pub enum Reader {
    Lines {
        inner: Box<dyn BufRead + Send>,
        next: u64,
    },
    Csv {
        inner: csv::Reader<Box<dyn Read + Send>>,
        column: usize,
        next: u64,
        headers: Vec<String>,
    },
}

impl Reader {
    pub fn lines(inner: Box<dyn Read + Send>) -> Reader {
        Reader::Lines {
            inner: Box::new(BufReader::new(inner)),
            next: 0,
        }
    }

    /// A CSV with a header row; `column` names the address column (default `email`).
    pub fn csv(inner: Box<dyn Read + Send>, column: &str) -> Result<Reader, InputError> {
        let mut rd = csv::ReaderBuilder::new().flexible(true).from_reader(inner);
        let headers = rd
            .headers()
            .map_err(|e| InputError::Csv(e.to_string()))?
            .clone();
        let idx = headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(column))
            .ok_or_else(|| InputError::NoColumn {
                column: column.to_string(),
                found: headers.iter().collect::<Vec<_>>().join(", "),
            })?;
        Ok(Reader::Csv {
            inner: rd,
            column: idx,
            next: 0,
            headers: headers.iter().map(str::to_string).collect(),
        })
    }

    /// The CSV input's header row (`None` for lines of text).
    pub fn headers(&self) -> Option<&[String]> {
        match self {
            Reader::Csv { headers, .. } => Some(headers),
            Reader::Lines { .. } => None,
        }
    }

    /// Reads the whole input once and drops it: a malformed CSV is an error before any probe,
    /// and the count is the progress bar's total. Returns how many items it holds.
    pub fn check(mut self) -> Result<u64, InputError> {
        let mut n = 0;
        loop {
            let got = self.batch(8192)?;
            if got.is_empty() {
                return Ok(n);
            }
            n += got.len() as u64;
        }
    }

    /// Up to `n` items; an empty vector means the input is exhausted.
    pub fn batch(&mut self, n: usize) -> Result<Vec<Item>, InputError> {
        let mut out = Vec::with_capacity(n.min(8192));
        while out.len() < n {
            match self {
                Reader::Lines { inner, next } => {
                    let mut buf = Vec::new();
                    let read = inner
                        .by_ref()
                        .take(MAX_LINE as u64 + 1)
                        .read_until(b'\n', &mut buf)?;
                    if read == 0 {
                        break;
                    }
                    if buf.len() > MAX_LINE && !buf.ends_with(b"\n") {
                        // Skip the rest of an over-long line; keep its start as the input.
                        let mut sink = Vec::new();
                        inner.read_until(b'\n', &mut sink)?;
                    }
                    let text = String::from_utf8_lossy(&buf);
                    let text = text.trim();
                    if text.is_empty() || text.starts_with('#') {
                        continue;
                    }
                    out.push(Item {
                        index: *next,
                        input: text.chars().take(MAX_LINE).collect(),
                        row: Vec::new(),
                    });
                    *next += 1;
                }
                Reader::Csv {
                    inner,
                    column,
                    next,
                    ..
                } => {
                    let mut rec = csv::StringRecord::new();
                    match inner.read_record(&mut rec) {
                        Ok(false) => break,
                        Ok(true) => {
                            // A stray quote swallows the lines after it into one field: an
                            // address list has no multi-line cells, so it is an error here,
                            // never rows silently lost.
                            if rec.iter().any(|f| f.contains('\n')) {
                                let line = rec.position().map_or(0, |p| p.line());
                                return Err(InputError::Csv(format!(
                                    "line {line}: a quoted field runs over several lines (an unterminated quote?): fix the quoting of that line"
                                )));
                            }
                            let value = rec.get(*column).unwrap_or("").trim();
                            out.push(Item {
                                index: *next,
                                input: value.chars().take(MAX_LINE).collect(),
                                row: rec
                                    .iter()
                                    .map(|f| f.chars().take(MAX_LINE).collect())
                                    .collect(),
                            });
                            *next += 1;
                        }
                        Err(e) => {
                            let line = e.position().map_or(0, |p| p.line());
                            return Err(InputError::Csv(format!("line {line}: {e}")));
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Checks a CSV file whole before a run: every record parses, no field swallows the lines
/// after a stray quote, and no quote is left open at the end. Returns the number of rows.
pub fn check_csv(path: &std::path::Path, column: &str) -> Result<u64, InputError> {
    let open = || std::fs::File::open(path).map_err(InputError::Io);
    if let Some(line) = unterminated_quote(BufReader::new(open()?))? {
        return Err(InputError::Csv(format!(
            "line {line}: a quote opens a field and is never closed: fix the quoting of that line"
        )));
    }
    Reader::csv(Box::new(open()?), column)?.check()
}

/// The line where a quoted field opens and never closes (RFC 4180: a field that starts with
/// `"` ends at the next lone `"`; `""` is a quote inside it). Hand-rolled: the csv crate reads
/// such a field to the end of the input without a word.
fn unterminated_quote(mut r: impl BufRead) -> std::io::Result<Option<u64>> {
    let (mut line, mut open_line) = (1u64, 0u64);
    let (mut quoted, mut maybe_close, mut field_start) = (false, false, true);
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok((quoted && !maybe_close).then_some(open_line));
        }
        for &b in buf {
            if quoted {
                if maybe_close {
                    maybe_close = false;
                    if b == b'"' {
                        continue; // "" inside a quoted field
                    }
                    quoted = false;
                } else {
                    if b == b'"' {
                        maybe_close = true;
                    } else if b == b'\n' {
                        line += 1;
                    }
                    continue;
                }
            }
            match b {
                b'"' if field_start => {
                    quoted = true;
                    open_line = line;
                }
                b',' => field_start = true,
                b'\n' => {
                    line += 1;
                    field_start = true;
                }
                b'\r' => {}
                _ => field_start = false,
            }
        }
        let n = buf.len();
        r.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stray_quote_is_an_error_naming_its_line() {
        let text = "name,email\nAl,a@x.test\n\"Eve,e@x.test\nBo,b@x.test\nCy,c@x.test\n";
        let r = Reader::csv(Box::new(text.as_bytes()), "email").unwrap();
        let e = r.check().unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
        assert!(e.contains("unterminated quote"), "{e}");
        assert_eq!(
            unterminated_quote(&b"email\na,\"unterminated"[..]).unwrap(),
            Some(2)
        );
        assert_eq!(
            unterminated_quote(&b"n,e\n\"a \"\"b\"\"\",x@y.test\n"[..]).unwrap(),
            None
        );
        assert_eq!(
            unterminated_quote(&b"n,e\n\"two\nlines\",x@y.test\n"[..]).unwrap(),
            None
        );
        let r = Reader::csv(Box::new(&b"email\na@x.test\nb@x.test\n"[..]), "email").unwrap();
        assert_eq!(r.check().unwrap(), 2);
    }

    #[test]
    fn lines_and_csv() {
        let mut r = Reader::lines(Box::new(&b"a@x.test\n\n# c\nb@x.test\r\n"[..]));
        let items = r.batch(10).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].input, "b@x.test");
        assert_eq!(items[1].index, 1);
        let mut r = Reader::csv(
            Box::new(&b"name,Email\nA,a@x.test\nB,\"b@x.test\"\n"[..]),
            "email",
        )
        .unwrap();
        let items = r.batch(1).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(r.batch(10).unwrap()[0].input, "b@x.test");
        assert!(Reader::csv(Box::new(&b"name\nA\n"[..]), "email").is_err());
    }
}
