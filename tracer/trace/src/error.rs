//! Errors of the trace readers: what went wrong, where (file, byte offset,
//! event index), and what the user can do about it.

use std::io;
use std::path::PathBuf;

/// A trace that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {kind}", path.display())]
pub struct ReadError {
    pub path: PathBuf,
    pub kind: ReadErrorKind,
}

/// What went wrong while reading a trace.
#[derive(Debug, thiserror::Error)]
pub enum ReadErrorKind {
    #[error("cannot read the file: {0}")]
    Io(#[source] io::Error),
    #[error(
        "the gzip data ends early, after {decompressed_bytes} decompressed bytes ({source}): the file was cut \
         short while being written or copied; copy or re-export it"
    )]
    Gzip { decompressed_bytes: u64, source: io::Error },
    #[error(
        "the gzip data is damaged, not cut short: it decompressed whole ({decompressed_bytes} bytes) but does \
         not match the CRC-32 checksum stored at byte offset {compressed_offset} of the file, so bytes were changed \
         after it was written (a faulty disk, copy or transfer); copy it again from its source (`gzip -t FILE` \
         checks a copy)"
    )]
    GzipChecksum { decompressed_bytes: u64, compressed_offset: u64 },
    #[error(
        "the gzip data is damaged near byte offset {compressed_offset} of the file, after {decompressed_bytes} \
         decompressed bytes ({source}): bytes were changed or lost after it was written; copy it again from its \
         source (`gzip -t FILE` checks a copy)"
    )]
    GzipDamaged { decompressed_bytes: u64, compressed_offset: u64, source: io::Error },
    #[error("the file is empty; a PyTorch profiler trace is a JSON object with a \"traceEvents\" array")]
    Empty,
    #[error(
        "not a JSON trace: expected '{{' at byte offset {offset}, found {found}; boundscope reads \
         PyTorch profiler / Kineto JSON (.json or .json.gz) and boundscope run directories"
    )]
    NotJson { offset: u64, found: String },
    #[error(
        "the document ends early, inside {context} starting at byte offset {offset}: the file was cut \
         short while being written or copied; re-export the trace (events before that point were fine)"
    )]
    Truncated { offset: u64, context: String },
    #[error("invalid JSON at byte offset {offset} ({context}): {message}")]
    Syntax { offset: u64, context: String, message: String },
    #[error("no \"traceEvents\" array in the document; is this a PyTorch profiler (Kineto) trace?")]
    NoTraceEvents,
    #[error("unsupported run file: {0}")]
    Run(String),
}

impl ReadError {
    pub fn new(path: impl Into<PathBuf>, kind: ReadErrorKind) -> Self {
        ReadError { path: path.into(), kind }
    }
}

/// Describes a byte for messages ("'<'", "byte 0x1f").
pub(crate) fn describe_byte(b: Option<u8>) -> String {
    match b {
        None => "the end of the file".to_string(),
        Some(b) if b.is_ascii_graphic() => format!("'{}'", b as char),
        Some(b) => format!("byte 0x{b:02x}"),
    }
}
