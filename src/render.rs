//! Terminal output: colour decided once (flag, NO_COLOR, CLICOLOR_FORCE, whether stdout is a
//! terminal) and styles named by meaning, so every verb prints the same way.

use std::io::{self, Write};

use anstream::{AutoStream, ColorChoice};
use anstyle::{AnsiColor, Style};
use mxray_core::Document;

use crate::cli::ColorWhen;

/// Styles by meaning rather than by colour.
pub struct Render {
    choice: ColorChoice,
    pub json: bool,
}

pub const HEAD: Style = Style::new().bold();
pub const DIM: Style = Style::new().dimmed();
pub const GOOD: Style = AnsiColor::Green.on_default().bold();
pub const WARN: Style = AnsiColor::Yellow.on_default().bold();
pub const BAD: Style = AnsiColor::Red.on_default().bold();
pub const CODE: Style = AnsiColor::Cyan.on_default().bold();

impl Render {
    pub fn new(when: ColorWhen, json: bool) -> Render {
        let choice = match when {
            ColorWhen::Always => ColorChoice::Always,
            ColorWhen::Never => ColorChoice::Never,
            // Auto: AutoStream checks NO_COLOR, CLICOLOR(_FORCE), TERM and is-a-terminal.
            ColorWhen::Auto => ColorChoice::Auto,
        };
        Render { choice, json }
    }

    /// Standard output, stripping escapes when colour is off; its errors say it was standard
    /// output that failed (a full disk: which file?).
    pub fn stdout(&self) -> StdoutWriter<AutoStream<io::StdoutLock<'static>>> {
        StdoutWriter(AutoStream::new(io::stdout().lock(), self.choice))
    }

    /// Writes one JSON document on its own line (JSON Lines), with its `schema_version`.
    pub fn json_line<T: serde::Serialize>(
        &self,
        out: &mut impl Write,
        value: &T,
    ) -> anyhow::Result<()> {
        json_line(out, value)?;
        Ok(())
    }

    /// Writes one JSON document, pretty-printed, with its `schema_version`.
    pub fn json_doc<T: serde::Serialize>(
        &self,
        out: &mut impl Write,
        value: &T,
    ) -> anyhow::Result<()> {
        serde_json::to_writer_pretty(&mut *out, &Document::new(value))?;
        writeln!(out)?;
        Ok(())
    }
}

/// A writer to standard output whose errors name it, keeping their kind (a closed pipe is
/// still recognised as one).
pub struct StdoutWriter<W>(pub W);

impl<W: Write> Write for StdoutWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(on_stdout)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(on_stdout)
    }
}

/// Plain standard output with errors that name it (completions, the manual page).
pub fn plain_stdout() -> StdoutWriter<io::StdoutLock<'static>> {
    StdoutWriter(io::stdout().lock())
}

fn on_stdout(e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("writing to standard output: {e}"))
}

/// One JSON Lines record with its `schema_version`: every streamed document goes through here.
pub fn json_line<T: serde::Serialize>(out: &mut impl Write, value: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &Document::new(value)).map_err(io::Error::from)?;
    writeln!(out)
}

/// One document on one line, as a string (the lab's ready and counter documents).
pub fn json_string<T: serde::Serialize>(value: &T) -> serde_json::Result<String> {
    serde_json::to_string(&Document::new(value))
}

/// One document, pretty-printed, as a string (the lab's ready file).
pub fn json_pretty<T: serde::Serialize>(value: &T) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&Document::new(value))
}

/// `1 check`, `3 checks`: a count with its noun in the right number.
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Paints `text` with `style`; the stream removes the escapes when colour is off.
pub fn paint(style: Style, text: impl std::fmt::Display) -> String {
    format!("{}{}{}", style.render(), text, style.render_reset())
}

/// A finding's fix after `fix:`, its later lines (corrected records) under it at the same
/// indent, each line escaped on its own so the line breaks stay real.
pub fn write_fix(out: &mut impl Write, indent: &str, fix: &str) -> io::Result<()> {
    let mut lines = fix.lines();
    let first = lines.next().unwrap_or_default();
    writeln!(
        out,
        "{indent}{} {}",
        paint(GOOD, "fix:"),
        mxray_core::escape_text(first)
    )?;
    for l in lines {
        writeln!(out, "{indent}     {}", mxray_core::escape_text(l))?;
    }
    Ok(())
}

/// A group's explanation under its headline (situation, category, side, meaning; with -v the
/// first next steps) and the command to run next: the same lines for `logs` and `queue`.
pub fn write_explained(
    out: &mut impl Write,
    e: Option<&mxray_core::Explanation>,
    next_command: Option<&str>,
    verbose: bool,
) -> io::Result<()> {
    if let Some(e) = e {
        writeln!(
            out,
            "     {} {} ({}; side: {}): {}",
            paint(DIM, "->"),
            e.situation,
            e.category.label(),
            e.side.label(),
            e.meaning
        )?;
        if verbose {
            for step in e.next_steps.iter().take(3) {
                writeln!(out, "        - {}", mxray_core::escape_text(step))?;
            }
        }
    }
    if let Some(c) = next_command {
        writeln!(out, "     {} {c}", paint(DIM, "next:"))?;
    }
    Ok(())
}

/// Writes an `--html` page to `path` and says so on stderr unless `quiet`.
pub fn write_html(path: &std::path::Path, page: String, quiet: bool) -> anyhow::Result<()> {
    let shown = mxray_core::escape_text(&path.display().to_string());
    anyhow::Context::with_context(std::fs::write(path, page), || {
        format!("cannot write --html {shown}")
    })?;
    if !quiet {
        eprintln!("mxray: report written to {shown}");
    }
    Ok(())
}
