//! `mxray explain` on whole bounce messages: a file, an mbox, a maildir or standard input,
//! streamed one message at a time; one result per recipient the bounce reports on.

use std::io::{self, BufRead, Read, Write};
use std::path::Path;

use mxray_bounce::{BounceResult, Kind, MAX_MESSAGE, mbox};
use mxray_core::escape_text;

use crate::bad_input;
use crate::cli::GlobalArgs;
use crate::exit;
use crate::render::{DIM, HEAD, Render, paint};

/// A maildir (or a directory of message files), or one file holding a message or an mbox.
pub fn from_path(path: &Path, global: &GlobalArgs, r: &Render) -> anyhow::Result<u8> {
    let shown = escape_text(&path.display().to_string());
    if path.is_dir() {
        let files = mbox::maildir_files(path)
            .map_err(|e| bad_input(format!("{shown}: cannot list the directory: {e}")))?;
        let mut printer = Printer::new(global, r);
        for f in files {
            let mut raw = Vec::new();
            let read = std::fs::File::open(&f)
                .and_then(|file| file.take(MAX_MESSAGE as u64).read_to_end(&mut raw));
            let label = escape_text(&f.display().to_string());
            match read {
                Ok(_) => printer.message(&raw, &label)?,
                Err(e) => printer.skipped.push(format!("{label}: {e}")),
            }
        }
        return printer.finish(&shown);
    }
    let file =
        std::fs::File::open(path).map_err(|e| bad_input(format!("{shown}: cannot open: {e}")))?;
    from_reader(io::BufReader::new(file), &shown, global, r)
}

/// An mbox (or one message) read from `input`, message by message.
pub fn from_reader(
    input: impl BufRead,
    name: &str,
    global: &GlobalArgs,
    r: &Render,
) -> anyhow::Result<u8> {
    let mut printer = Printer::new(global, r);
    for (i, msg) in mbox::Mbox::new(input).enumerate() {
        let label = format!("message {} of {name}", i + 1);
        match msg {
            Ok(raw) => printer.message(&raw, &label)?,
            Err(e) => {
                printer.skipped.push(format!("{label}: {e}"));
                break;
            }
        }
    }
    printer.finish(name)
}

struct Printer<'a> {
    global: &'a GlobalArgs,
    r: &'a Render,
    printed: usize,
    messages: usize,
    skipped: Vec<String>,
}

impl<'a> Printer<'a> {
    fn new(global: &'a GlobalArgs, r: &'a Render) -> Printer<'a> {
        Printer {
            global,
            r,
            printed: 0,
            messages: 0,
            skipped: Vec::new(),
        }
    }

    /// Prints one message's results as they come (an mbox of 100,000 is never held whole).
    fn message(&mut self, raw: &[u8], label: &str) -> anyhow::Result<()> {
        self.messages += 1;
        let results = match mxray_bounce::read(raw) {
            Ok(r) => r,
            Err(e) => {
                self.skipped.push(format!("{label}: {e}"));
                return Ok(());
            }
        };
        let mut out = self.r.stdout();
        for x in &results {
            if self.r.json {
                self.r.json_line(&mut out, x)?;
            } else if self.global.quiet {
                let who = x
                    .recipient
                    .as_deref()
                    .map(|a| format!("{}  ", escape_text(a)))
                    .unwrap_or_default();
                write!(out, "{who}{}  ", x.explanation.reason)?;
                super::print_one_line(&mut out, &x.explanation)?;
            } else {
                if self.printed > 0 {
                    writeln!(out)?;
                }
                print_bounce(&mut out, x, label, self.global.verbose > 0)?;
            }
            self.printed += 1;
        }
        out.flush()?;
        Ok(())
    }

    fn finish(self, name: &str) -> anyhow::Result<u8> {
        if !self.global.quiet {
            let mut err = io::stderr().lock();
            for s in &self.skipped {
                writeln!(err, "mxray: note: skipped {s}")?;
            }
        }
        if self.printed == 0 {
            return Err(bad_input(format!(
                "{name}: no bounce message could be read ({} message(s) seen): give a whole message (.eml), an mbox or a maildir",
                self.messages
            )));
        }
        Ok(exit::OK)
    }
}

/// The explanation, under a line naming the message and recipient, with what the bounce
/// says beside it (reason, action, remote MTA, the original message).
fn print_bounce(
    out: &mut impl Write,
    x: &BounceResult,
    label: &str,
    verbose: bool,
) -> anyhow::Result<()> {
    let who = match (x.kind, x.recipient.as_deref()) {
        (Kind::Feedback, _) => "an ARF feedback report, not a bounce".to_string(),
        (Kind::Vacation, _) => "an auto-reply, not a bounce".to_string(),
        (_, Some(a)) => format!("to {}", escape_text(a)),
        (_, None) => "no recipient named".to_string(),
    };
    writeln!(out, "{}", paint(HEAD, format!("{label}: {who}")))?;
    super::print_human(out, &x.explanation, verbose)?;
    let label = |s: &str| paint(DIM, format!("  {s:<10}"));
    writeln!(out, "{}{}", label("reason"), x.explanation.reason)?;
    let fields = [
        ("action", x.action.as_deref()),
        ("remote", x.remote_mta.as_deref()),
        ("line", x.decided_by_line.as_deref()),
        ("subject", x.original.subject.as_deref()),
        ("msg-id", x.original.message_id.as_deref()),
    ];
    for (name, value) in fields {
        if let Some(v) = value {
            writeln!(out, "{}{}", label(name), escape_text(v))?;
        }
    }
    Ok(())
}
