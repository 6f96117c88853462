//! Exit codes that mean something to scripts.

use osspart::Error;

/// The exit codes, as shown in `--help`.
pub const EXIT_CODES_HELP: &str = "Exit codes: 0 success, 1 error, 2 bad arguments, 3 not found (bucket, object or upload), \
4 access denied or bad credentials, 5 checksum mismatch, 6 network or timeout, 130 interrupted (upload paused; run the same command to resume)";

/// Interrupted by Ctrl-C; the upload is paused and resumable.
pub const INTERRUPTED: u8 = 130;

/// The command was interrupted (Ctrl-C) after pausing cleanly.
#[derive(Debug)]
pub struct Interrupted(pub String);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Interrupted {}

/// The exit code for an error chain.
pub fn code_for(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<Interrupted>().is_some() {
        return INTERRUPTED;
    }
    if e.downcast_ref::<BadArguments>().is_some() {
        return 2;
    }
    if e.downcast_ref::<TreeFailed>().is_some() {
        return 1;
    }
    let Some(err) = e.chain().find_map(|c| c.downcast_ref::<Error>()) else {
        return 1;
    };
    match err {
        e if e.is_not_found() => 3,
        e if e.is_access_denied() => 4,
        Error::Checksum { .. } => 5,
        Error::Timeout { .. } | Error::Transport { .. } => 6,
        Error::InvalidArgument(_) => 2,
        Error::Credentials(_) => 4,
        _ => 1,
    }
}

/// Some files of a tree transfer failed (each was reported); the others went through.
#[derive(Debug)]
pub struct TreeFailed(pub String);

impl std::fmt::Display for TreeFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TreeFailed {}

/// Arguments that parse but make no sense together.
#[derive(Debug)]
pub struct BadArguments(pub String);

impl std::fmt::Display for BadArguments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadArguments {}
