//! The crate's errors: a listing that is none of the formats read, and a queue command that
//! could not be found, run, or finished in time.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The text is not a listing of the expected format (a garbage or truncated dump).
    #[error("{what} is not a queue listing: expected {expected}")]
    NotAListing { what: String, expected: String },
    /// A saved listing could not be read.
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: io::Error,
    },
    /// No queue command of any known MTA is installed here.
    #[error(
        "no mail server's queue command found here (looked for {looked_for} in PATH and the sbin directories): run mxray on the mail server, or save its listing there (mxray queue --help shows how) and read it with --from FILE"
    )]
    NoMta { looked_for: String },
    /// The asked MTA's command is not installed here.
    #[error(
        "{mta}'s queue command ({looked_for}) is not installed here: run mxray on the mail server, or read a saved listing with --from FILE"
    )]
    MissingCommand {
        mta: &'static str,
        looked_for: String,
    },
    #[error("cannot run {command}")]
    Spawn {
        command: String,
        #[source]
        source: io::Error,
    },
    /// The command ran and failed (its standard error, cut and escaped, says why).
    #[error("{command} failed ({status}){hint}: {stderr}")]
    Failed {
        command: String,
        status: String,
        stderr: String,
        hint: &'static str,
    },
    #[error("{command} did not finish within {secs}s (stopped)")]
    Timeout { command: String, secs: u64 },
}

impl QueueError {
    /// True when the input itself is at fault (a bad `--from` file) rather than the system.
    pub fn is_bad_input(&self) -> bool {
        match self {
            QueueError::NotAListing { .. } => true,
            QueueError::Read { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::NotFound
                    | io::ErrorKind::IsADirectory
                    | io::ErrorKind::InvalidInput
                    | io::ErrorKind::InvalidData
            ),
            _ => false,
        }
    }
}
