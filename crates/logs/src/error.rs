//! The crate's errors: what could not be opened or read, and output that could not be written.
//! Bad lines are never errors: they are counted as unparsed.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error("cannot open {path}")]
    Open {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot read {input} (a truncated or corrupt .gz file?)")]
    Read {
        input: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot write the output")]
    Output(#[source] io::Error),
    /// Every input failed before its first line (the message of the first).
    #[error("no input could be read: {0}")]
    Unreadable(String),
    #[error("the parsing thread stopped unexpectedly")]
    Thread,
}

impl LogsError {
    /// True when the input itself is at fault (missing file, corrupt gzip) rather than the system.
    pub fn is_bad_input(&self) -> bool {
        match self {
            LogsError::Open { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::IsADirectory | io::ErrorKind::InvalidInput
            ),
            LogsError::Read { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::InvalidData
                    | io::ErrorKind::InvalidInput
                    | io::ErrorKind::UnexpectedEof
            ),
            LogsError::Unreadable(_) => true,
            LogsError::Output(_) | LogsError::Thread => false,
        }
    }
}
