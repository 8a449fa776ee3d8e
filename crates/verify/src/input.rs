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
        })
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
                    });
                    *next += 1;
                }
                Reader::Csv {
                    inner,
                    column,
                    next,
                } => {
                    let mut rec = csv::StringRecord::new();
                    match inner.read_record(&mut rec) {
                        Ok(false) => break,
                        Ok(true) => {
                            let value = rec.get(*column).unwrap_or("").trim();
                            out.push(Item {
                                index: *next,
                                input: value.chars().take(MAX_LINE).collect(),
                            });
                            *next += 1;
                        }
                        Err(e) => return Err(InputError::Csv(e.to_string())),
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
