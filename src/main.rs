//! The `mxray` binary: parses arguments, calls the library crates, prints. No logic of its own
//! beyond turning errors into messages and exit codes (0 ok, 1 failures found, 2 bad input, 3 env).

mod cli;
mod cmd;
mod render;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

/// Exit codes, as documented in `--help` and DESIGN.md.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILURES: u8 = 1;
    pub const BAD_INPUT: u8 = 2;
    pub const ENVIRONMENT: u8 = 3;
}

/// An error that carries its exit code; anything else reaching `main` is an environment error.
#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub message: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

pub fn bad_input(message: impl Into<String>) -> anyhow::Error {
    Exit {
        code: exit::BAD_INPUT,
        message: message.into(),
    }
    .into()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let render = render::Render::new(cli.global.color, cli.global.json);
    let result = match &cli.command {
        Command::Explain(args) => cmd::explain::run(args, &cli.global, &render),
        Command::Diagnose(args) => cmd::diagnose::run(args, &cli.global, &render),
        Command::Lab(args) => cmd::lab::run(args, &cli.global, &render),
        Command::Verify(args) => cmd::verify::run(args, &cli.global, &render),
        Command::Logs(args) => cmd::logs::run(args, &cli.global, &render),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::from(exit::OK);
            }
            let code = err
                .downcast_ref::<Exit>()
                .map_or(exit::ENVIRONMENT, |e| e.code);
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "mxray: error: {err}");
            for cause in err.chain().skip(1) {
                let _ = write!(stderr, ": {cause}");
            }
            let _ = writeln!(stderr);
            ExitCode::from(code)
        }
    }
}

/// `mxray explain ... | head` must not report an error when head exits.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
