//! The `mxray` binary: parses arguments, calls the library crates, prints. No logic of its own
//! beyond turning errors into messages and exit codes (error.rs: 0 ok, 1 failures found,
//! 2 bad input, 3 environment, 130 interrupted, 141 standard output closed).

mod cli;
mod cmd;
mod error;
mod render;
#[cfg(test)]
mod schema;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

pub use error::{ResultExt, bad_input, exit};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let render = render::Render::new(cli.global.color, cli.global.json);
    let result = match &cli.command {
        Command::Explain(args) => cmd::explain::run(args, &cli.global, &render),
        Command::Diagnose(args) => cmd::diagnose::run(args, &cli.global, &render),
        Command::Lab(args) => cmd::lab::run(args, &cli.global, &render),
        Command::Verify(args) => cmd::verify::run(args, &cli.global, &render),
        Command::Worker(args) => cmd::worker::run(args, &cli.global, &render),
        Command::Logs(args) => cmd::logs::run(args, &cli.global, &render),
        Command::Serve(args) => cmd::serve::run(args, &cli.global, &render),
        Command::Records(args) => cmd::records::run(args, &cli.global, &render),
        Command::Queue(args) => cmd::queue::run(args, &cli.global, &render),
        Command::Completions { shell } => cmd::completions(*shell),
        Command::Man => cmd::man(),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if error::is_broken_pipe(&err) {
                return ExitCode::from(exit::BROKEN_PIPE);
            }
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "mxray: error: {}", error::message(&err));
            ExitCode::from(error::exit_code(&err))
        }
    }
}
