//! boundscope's wire format: the bytes that the injected library streams to
//! the profiler and that a run directory keeps on disk (`records.bsw`).
//!
//! A stream is a 16-byte [`StreamHeader`] (magic `BNDSCOPE`, [`WIRE_VERSION`])
//! followed by frames. A frame is a 24-byte header (magic `BSFR`, source,
//! sequence number, payload length, record count, FNV-1a checksum of the
//! payload) and a payload of records. A record is an 8-byte header (kind,
//! flags, total size) and a body of fixed-size little-endian fields; only
//! [`StringRec`] has a variable body. Every size is a multiple of 8.
//!
//! Why this shape: the injected library builds one frame per CUPTI buffer
//! without allocating per record; a reader can skip record kinds it does not
//! know (the size is in the header); a crash leaves at most a torn last frame,
//! which the length and checksum expose, so everything before it stays
//! readable. Names (kernels, API calls, NVTX ranges) travel once per source as
//! string records and are referred to by id.
//!
//! This crate has no dependencies: it is linked into the profiled process
//! (STYLE.md rule 1). Changing any byte layout requires bumping
//! [`WIRE_VERSION`]; the golden-bytes test fails otherwise (rule 3).

mod error;
mod frame;
mod reader;
mod records;

pub use error::{WireError, WireErrorKind};
pub use frame::{
    FRAME_HEADER_LEN, FRAME_MAGIC, FrameBuilder, FrameHeader, RawRecord, RecordIter, STREAM_HEADER_LEN, STREAM_MAGIC,
    StreamHeader, checksum, encode_stream_header,
};
pub use reader::{Frame, FrameReader};
pub use records::*;

/// Version of the byte layout of streams, frames and records. Bump it on any
/// change; readers refuse other versions with a message saying which.
pub const WIRE_VERSION: u16 = 2;

/// Source id of the profiler's own records (samplers, run information) in a
/// run file; injected processes get 1, 2, ... in order of connection.
pub const PROFILER_SOURCE: u32 = 0;

/// String id meaning "no string".
pub const NO_STRING: u32 = 0;

/// Device id meaning "no device" in [`CounterSeriesRec`].
pub const NO_DEVICE: u32 = u32::MAX;
