//! Errors at the binary's edge: library errors travel up whole (their cause chain intact, with
//! anyhow context on top) and carry a [`Kind`] that picks the exit code; `main` reads both.
//!
//! The kind is a type in the chain ([`Marked`]), found by downcasting, never a string match:
//! an error nobody marked is the environment's (exit 3), as anything unforeseen should be.

use std::error::Error;
use std::fmt;

/// Exit codes, as documented in `--help` (cli.rs), README.md and DESIGN.md.
pub mod exit {
    /// Ran and found nothing failing.
    pub const OK: u8 = 0;
    /// Ran and found failures (a failing finding, an undeliverable address).
    pub const FAILURES: u8 = 1;
    /// Bad usage or bad input.
    pub const BAD_INPUT: u8 = 2;
    /// The environment prevented the run.
    pub const ENVIRONMENT: u8 = 3;
    /// Interrupted (Ctrl-C) during a bulk run; what was written is kept (128 + SIGINT).
    pub const INTERRUPTED: u8 = 130;
    /// Standard output was closed by the reader (`| head`): the run ends quietly, as Unix
    /// tools do when SIGPIPE kills them (128 + 13).
    pub const BROKEN_PIPE: u8 = 141;
}

/// Whose fault an error is, which decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The user's input or usage (exit 2).
    BadInput,
    /// The machine or the network (exit 3).
    Environment,
}

impl Kind {
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::BadInput => exit::BAD_INPUT,
            Kind::Environment => exit::ENVIRONMENT,
        }
    }
}

/// An error marked with its kind. Transparent: it shows as the error it wraps, and its
/// source is that error's source, so the printed chain is the library's own.
#[derive(Debug)]
pub struct Marked {
    kind: Kind,
    inner: Box<dyn Error + Send + Sync + 'static>,
}

impl fmt::Display for Marked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl Error for Marked {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.inner.source()
    }
}

/// Marks `error` (a library error, or an anyhow error with its context) with `kind`.
pub fn mark(kind: Kind, error: impl Into<Box<dyn Error + Send + Sync + 'static>>) -> anyhow::Error {
    anyhow::Error::new(Marked {
        kind,
        inner: error.into(),
    })
}

/// A bad-input error that is only a message (a check the binary makes itself).
pub fn bad_input(message: impl Into<String>) -> anyhow::Error {
    mark(Kind::BadInput, message.into())
}

/// An environment error that is only a message.
pub fn environment(message: impl Into<String>) -> anyhow::Error {
    mark(Kind::Environment, message.into())
}

/// `.bad_input()` / `.environment()` on any result whose error can be boxed.
pub trait ResultExt<T> {
    fn bad_input(self) -> anyhow::Result<T>;
    fn environment(self) -> anyhow::Result<T>;
}

impl<T, E: Into<Box<dyn Error + Send + Sync + 'static>>> ResultExt<T> for Result<T, E> {
    fn bad_input(self) -> anyhow::Result<T> {
        self.map_err(|e| mark(Kind::BadInput, e))
    }

    fn environment(self) -> anyhow::Result<T> {
        self.map_err(|e| mark(Kind::Environment, e))
    }
}

/// The exit code for an error: the first kind marked in its chain, else environment.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    err.chain()
        .find_map(|c| c.downcast_ref::<Marked>().map(|m| m.kind))
        .map_or(exit::ENVIRONMENT, Kind::exit_code)
}

/// The one-line message: each cause after a colon, except causes the line already says
/// (library errors often repeat their source in their own message).
pub fn message(err: &anyhow::Error) -> String {
    let mut line = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

/// `mxray explain ... | head` must not report an error when head exits.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            // JSON writers wrap the write error in their own.
            || c.downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
                .is_some_and(|k| k == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    use super::*;

    #[test]
    fn kinds_survive_context_and_the_chain_prints_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = Err::<(), _>(io)
            .context("cannot open --input x.txt")
            .bad_input()
            .context("diagnose")
            .unwrap_err();
        assert_eq!(exit_code(&err), exit::BAD_INPUT);
        assert_eq!(
            message(&err),
            "diagnose: cannot open --input x.txt: no such file"
        );
        let plain = anyhow::anyhow!("something else");
        assert_eq!(exit_code(&plain), exit::ENVIRONMENT);
        assert_eq!(exit_code(&bad_input("x")), exit::BAD_INPUT);
    }
}
