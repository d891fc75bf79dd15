//! Errors of decoding a stream: what is wrong and at which byte offset, in
//! words a user with a damaged run file can act on.

use std::fmt;

/// A stream, frame or record that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    pub kind: WireErrorKind,
    /// Byte offset in the stream (or in the buffer handed to the decoder).
    pub offset: u64,
}

/// What is wrong with the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireErrorKind {
    /// The stream does not start with the `BNDSCOPE` magic.
    NotAStream,
    /// Written by another version of the format.
    Version { found: u16 },
    /// The bytes end inside a header, frame or record: the writer stopped (crash, kill) while writing it.
    Truncated { needed: u64, available: u64 },
    /// A frame header without the `BSFR` magic: the data is damaged.
    BadFrameMagic,
    /// The payload does not match the checksum in its frame header.
    Checksum { expected: u32, found: u32 },
    /// A record header whose size is impossible (smaller than its header, not a multiple of 8, past the payload).
    BadRecordSize { size: u32 },
    /// A record whose body is shorter than its kind requires.
    ShortRecord { kind: u16, size: u32, needed: u32 },
    /// The frame's record count disagrees with the records found in it.
    RecordCount { expected: u32, found: u32 },
    /// A read error from the underlying file or socket.
    Io(String),
}

impl WireError {
    pub fn new(kind: WireErrorKind, offset: u64) -> Self {
        WireError { kind, offset }
    }

    /// True when the bytes simply stop early (what a crash or a kill leaves behind).
    pub fn is_truncation(&self) -> bool {
        matches!(self.kind, WireErrorKind::Truncated { .. })
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.offset;
        match &self.kind {
            WireErrorKind::NotAStream => {
                write!(f, "not a boundscope record stream (no BNDSCOPE magic at byte offset {at})")
            }
            WireErrorKind::Version { found } => write!(
                f,
                "record stream format version {found}, this boundscope reads version {}; \
                 read it with the boundscope release that wrote it",
                crate::WIRE_VERSION
            ),
            WireErrorKind::Truncated { needed, available } => write!(
                f,
                "the stream ends at byte offset {} inside a frame that needs {needed} bytes ({available} present): \
                 the writer stopped while writing it",
                at + available
            ),
            WireErrorKind::BadFrameMagic => write!(f, "damaged data: no frame header at byte offset {at}"),
            WireErrorKind::Checksum { expected, found } => {
                write!(f, "damaged frame at byte offset {at}: checksum {found:#010x}, header says {expected:#010x}")
            }
            WireErrorKind::BadRecordSize { size } => {
                write!(f, "damaged record at byte offset {at}: impossible size {size}")
            }
            WireErrorKind::ShortRecord { kind, size, needed } => {
                write!(f, "damaged record at byte offset {at}: kind {kind} needs {needed} bytes, has {size}")
            }
            WireErrorKind::RecordCount { expected, found } => {
                write!(f, "damaged frame at byte offset {at}: header counts {expected} records, payload holds {found}")
            }
            WireErrorKind::Io(e) => write!(f, "read error at byte offset {at}: {e}"),
        }
    }
}

impl std::error::Error for WireError {}
