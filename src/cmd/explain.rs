//! `mxray explain`: reads a reply, code, DSN or log text from the arguments or stdin, and prints
//! the knowledge base's explanation of each reply in it, for a human or as JSON.

use std::io::{self, Read, Write};

use mxray_core::explain::Explanation;
use mxray_core::reply::MAX_INPUT;
use mxray_core::{Class, Side, escape_text};

use crate::cli::{ExplainArgs, GlobalArgs};
use crate::error::{Kind, mark};
use crate::render::{BAD, CODE, DIM, GOOD, HEAD, Render, WARN, paint};
use crate::{bad_input, exit};

mod bounces;

pub fn run(args: &ExplainArgs, global: &GlobalArgs, r: &Render) -> anyhow::Result<u8> {
    // A bounce message, an mbox or a maildir: read whole, one result per failed recipient.
    if let [one] = args.text.as_slice()
        && let Some(path) = message_path(one)
    {
        return bounces::from_path(&path, global, r);
    }
    let input = if args.text.is_empty() || args.text == ["-"] {
        let mut stdin = io::stdin().lock();
        let head = read_head(&mut stdin)?;
        if mxray_bounce::looks_like_message(&head) {
            let all = io::BufReader::new(io::Cursor::new(head).chain(stdin));
            return bounces::from_reader(all, "standard input", global, r);
        }
        read_rest(head, &mut stdin)?
    } else {
        args.text.join(" ")
    };
    let results = mxray_core::explain_all(&input);
    let many = results.len() > 1;
    let mut explained = Vec::new();
    let mut problems = Vec::new();
    for (i, res) in results.into_iter().enumerate() {
        match res {
            Ok(e) => explained.push(e),
            Err(err) if many => problems.push(format!("line {}: {err}", i + 1)),
            Err(err) => return Err(mark(Kind::BadInput, err)),
        }
    }
    if explained.is_empty() {
        return Err(bad_input(format!(
            "no SMTP reply found in any of the {} lines: expected replies such as \"421 4.4.2 Connection closed by the server\", codes such as \"4.4.3\" or \"421\", or log lines containing one",
            problems.len()
        )));
    }
    let mut out = r.stdout();
    if r.json {
        // One shape whatever the input holds: JSON Lines, one explanation per reply found.
        for e in &explained {
            r.json_line(&mut out, e)?;
        }
    } else if global.quiet {
        // -q: one line per reply, for scripts and for many log lines at once.
        for e in &explained {
            print_one_line(&mut out, e)?;
        }
    } else {
        for (i, e) in explained.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            print_human(&mut out, e, global.verbose > 0)?;
        }
    }
    out.flush()?;
    if !global.quiet {
        let mut err = io::stderr().lock();
        for p in &problems {
            writeln!(err, "mxray: note: skipped {p}")?;
        }
    }
    Ok(exit::OK)
}

/// A single argument that names a message file or a maildir (a directory, a path with a
/// slash, or a file ending in .eml, .mbox or .msg), not reply text.
fn message_path(arg: &str) -> Option<std::path::PathBuf> {
    let p = std::path::Path::new(arg);
    let named = p.is_dir()
        || arg.contains('/')
        || [".eml", ".mbox", ".msg"].iter().any(|x| arg.ends_with(x));
    (named && p.exists()).then(|| p.to_path_buf())
}

/// The first bytes of stdin: enough to tell a message from replies and log lines.
fn read_head(stdin: &mut impl Read) -> anyhow::Result<Vec<u8>> {
    let mut head = Vec::new();
    (&mut *stdin)
        .take(16 * 1024)
        .read_to_end(&mut head)
        .map_err(stdin_error)?;
    Ok(head)
}

fn stdin_error(e: io::Error) -> anyhow::Error {
    if e.kind() == io::ErrorKind::IsADirectory {
        bad_input("standard input is a directory: redirect a file (explain < bounce.txt)")
    } else {
        anyhow::Error::new(e).context("reading standard input")
    }
}

/// Reads the rest of stdin up to the extractor's limit; more than that is refused, not
/// silently cut.
fn read_rest(head: Vec<u8>, stdin: &mut impl Read) -> anyhow::Result<String> {
    let mut buf = head;
    let room = (MAX_INPUT as u64 + 1).saturating_sub(buf.len() as u64);
    (&mut *stdin)
        .take(room)
        .read_to_end(&mut buf)
        .map_err(stdin_error)?;
    if buf.len() > MAX_INPUT {
        return Err(bad_input(format!(
            "standard input is longer than {MAX_INPUT} bytes: pipe only the replies or log lines to explain (grep them first)"
        )));
    }
    // Logs are not always UTF-8 (Latin-1 banners); decode lossily rather than refuse.
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn class_style(class: Option<Class>) -> anstyle::Style {
    match class {
        Some(Class::Success) => GOOD,
        Some(Class::Transient) => WARN,
        Some(Class::Permanent) => BAD,
        None => HEAD,
    }
}

/// `421 4.4.2  transient  connection dropped, side: unknown, for example.com`: the codes,
/// the class, the category and whose side, on one line.
pub(super) fn print_one_line(out: &mut impl Write, e: &Explanation) -> anyhow::Result<()> {
    let codes: Vec<String> = [
        e.reply_code.map(|c| c.to_string()),
        e.enhanced_code.map(|x| x.to_string()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let class = e.class.map_or("class X", |c| c.as_str());
    let side = if e.side == Side::None {
        String::new()
    } else {
        format!(", side: {}", e.side.label())
    };
    let domain = e
        .source
        .domain
        .as_deref()
        .map(|d| format!(", for {}", escape_text(d)))
        .unwrap_or_default();
    writeln!(
        out,
        "{}  {}  {}{side}{domain}",
        paint(CODE, codes.join(" ")),
        paint(class_style(e.class), class),
        e.category.label()
    )?;
    Ok(())
}

pub(super) fn print_human(
    out: &mut impl Write,
    e: &Explanation,
    verbose: bool,
) -> anyhow::Result<()> {
    // Title: the codes and the server's words (escaped: they come from a remote server).
    let mut title = Vec::new();
    if let Some(c) = e.reply_code {
        title.push(c.to_string());
    }
    if let Some(x) = e.enhanced_code {
        title.push(x.to_string());
    }
    let text = escape_text(&e.text);
    writeln!(
        out,
        "{}  {}",
        paint(CODE, title.join(" ")),
        if text.is_empty() {
            paint(DIM, "(no text)")
        } else {
            text
        }
    )?;

    let label = |s: &str| paint(DIM, format!("  {s:<10}"));
    if let (Some(c), Some(m)) = (e.reply_code, e.reply_meaning) {
        writeln!(out, "{}{}  {m}", label("reply"), paint(HEAD, c))?;
    }
    if let Some(x) = e.enhanced_code {
        let mut parts = Vec::new();
        if let Some(s) = e.subject {
            parts.push(s.to_string());
        }
        if let Some(d) = e.detail {
            parts.push(d.to_string());
        }
        let reference = e
            .registry
            .as_ref()
            .map(|r| format!(" ({})", r.reference))
            .unwrap_or_default();
        let body = if parts.is_empty() {
            "not in the registry".to_string()
        } else {
            parts.join(" / ")
        };
        writeln!(
            out,
            "{}{}  {body}{reference}",
            label("enhanced"),
            paint(HEAD, x)
        )?;
    }
    let class_line = match (e.class, e.retry) {
        (Some(Class::Transient), _) => {
            "transient: retry later, the same attempt can succeed".to_string()
        }
        (Some(Class::Permanent), _) => "permanent: do not retry unchanged".to_string(),
        (Some(Class::Success), _) => "success".to_string(),
        (None, _) => "not given (X): transient as 4.x.x, permanent as 5.x.x".to_string(),
    };
    writeln!(
        out,
        "{}{}",
        label("class"),
        paint(class_style(e.class), class_line)
    )?;
    writeln!(out, "{}{}", label("category"), e.category.label())?;
    if e.side != Side::None {
        writeln!(out, "{}{}", label("side"), e.side.label())?;
    }
    let s = &e.source;
    let mut src = Vec::new();
    if let Some(stage) = &s.stage {
        src.push(format!("in reply to {}", escape_text(stage)));
    }
    if let Some(h) = &s.host {
        src.push(format!("from {}", escape_text(h)));
    }
    if let Some(d) = &s.domain {
        src.push(format!("for {}", escape_text(d)));
    }
    if !src.is_empty() {
        writeln!(out, "{}{}", label("context"), src.join(", "))?;
    }
    if !e.known {
        writeln!(
            out,
            "{}{}",
            label("known"),
            paint(WARN, "no: explained from class and subject")
        )?;
    }

    writeln!(out)?;
    writeln!(out, "{}", paint(HEAD, "What it means"))?;
    writeln!(out, "  {}", e.meaning)?;
    if let Some(reg) = &e.registry
        && verbose
    {
        writeln!(
            out,
            "  {}",
            paint(DIM, format!("Registry {}: {}", reg.code, reg.description))
        )?;
    }
    if !e.causes.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", paint(HEAD, "Likely causes, most likely first"))?;
        for (i, c) in e.causes.iter().enumerate() {
            writeln!(out, "  {}. {c}", i + 1)?;
        }
    }
    if !e.next_steps.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", paint(HEAD, "Next steps"))?;
        for n in &e.next_steps {
            writeln!(out, "  - {n}")?;
        }
    }
    for n in &e.notes {
        writeln!(out, "{} {n}", paint(WARN, "note:"))?;
    }
    if verbose {
        writeln!(
            out,
            "{}",
            paint(
                DIM,
                format!("situation {} (decided by {})", e.situation, e.decided_by)
            )
        )?;
    }
    Ok(())
}
