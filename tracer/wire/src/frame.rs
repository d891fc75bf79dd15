//! Stream headers, frames and record headers: building them (writer side,
//! allocation-free per record) and checking them (reader side).

use crate::error::{WireError, WireErrorKind};
use crate::records::{Field, FixedRecord, StringRec};

/// First bytes of every stream and run file.
pub const STREAM_MAGIC: [u8; 8] = *b"BNDSCOPE";
/// Bytes of the stream header.
pub const STREAM_HEADER_LEN: usize = 16;
/// First bytes of every frame.
pub const FRAME_MAGIC: [u8; 4] = *b"BSFR";
/// Bytes of a frame header.
pub const FRAME_HEADER_LEN: usize = 24;
/// Bytes of a record header (kind u16, flags u16, size u32).
pub(crate) const RECORD_HEADER_LEN: usize = 8;

/// The stream header: magic, version, header length, flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamHeader {
    pub version: u16,
}

/// Appends a stream header of this version.
pub fn encode_stream_header(out: &mut Vec<u8>) {
    out.extend_from_slice(&STREAM_MAGIC);
    crate::WIRE_VERSION.put(out);
    (STREAM_HEADER_LEN as u16).put(out);
    0u32.put(out);
}

impl StreamHeader {
    /// Checks the magic and version of the first [`STREAM_HEADER_LEN`] bytes.
    pub fn decode(b: &[u8]) -> Result<StreamHeader, WireError> {
        if b.len() < STREAM_HEADER_LEN {
            if !STREAM_MAGIC.starts_with(&b[..b.len().min(8)]) {
                return Err(WireError::new(WireErrorKind::NotAStream, 0));
            }
            return Err(WireError::new(
                WireErrorKind::Truncated { needed: STREAM_HEADER_LEN as u64, available: b.len() as u64 },
                0,
            ));
        }
        if b[..8] != STREAM_MAGIC {
            return Err(WireError::new(WireErrorKind::NotAStream, 0));
        }
        let version = u16::get(&b[8..]);
        if version != crate::WIRE_VERSION {
            return Err(WireError::new(WireErrorKind::Version { found: version }, 8));
        }
        Ok(StreamHeader { version })
    }
}

/// FNV-1a (32 bit) of `bytes`: cheap, and enough to tell a torn or
/// zero-filled frame from a whole one (not a defence against tampering).
pub fn checksum(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// A frame's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Who produced the records: [`crate::PROFILER_SOURCE`] or an injected process.
    pub source: u32,
    /// Per-source frame number from 0; a gap means lost frames.
    pub seq: u32,
    pub payload_len: u32,
    pub records: u32,
    pub checksum: u32,
}

impl FrameHeader {
    pub fn encode(&self, out: &mut [u8]) {
        out[..4].copy_from_slice(&FRAME_MAGIC);
        out[4..8].copy_from_slice(&self.source.to_le_bytes());
        out[8..12].copy_from_slice(&self.seq.to_le_bytes());
        out[12..16].copy_from_slice(&self.payload_len.to_le_bytes());
        out[16..20].copy_from_slice(&self.records.to_le_bytes());
        out[20..24].copy_from_slice(&self.checksum.to_le_bytes());
    }

    /// Decodes a header from the first [`FRAME_HEADER_LEN`] bytes of `b`; `offset` is its stream position.
    pub fn decode(b: &[u8], offset: u64) -> Result<FrameHeader, WireError> {
        if b.len() < FRAME_HEADER_LEN {
            return Err(WireError::new(
                WireErrorKind::Truncated { needed: FRAME_HEADER_LEN as u64, available: b.len() as u64 },
                offset,
            ));
        }
        if b[..4] != FRAME_MAGIC {
            return Err(WireError::new(WireErrorKind::BadFrameMagic, offset));
        }
        let h = FrameHeader {
            source: u32::get(&b[4..]),
            seq: u32::get(&b[8..]),
            payload_len: u32::get(&b[12..]),
            records: u32::get(&b[16..]),
            checksum: u32::get(&b[20..]),
        };
        if !h.payload_len.is_multiple_of(8) {
            return Err(WireError::new(WireErrorKind::BadRecordSize { size: h.payload_len }, offset));
        }
        Ok(h)
    }

    /// Checks `payload` against the checksum; `offset` is the frame's stream position.
    pub fn verify(&self, payload: &[u8], offset: u64) -> Result<(), WireError> {
        let found = checksum(payload);
        if found != self.checksum {
            return Err(WireError::new(WireErrorKind::Checksum { expected: self.checksum, found }, offset));
        }
        Ok(())
    }
}

/// Builds one frame: a header slot, then records appended in place.
#[derive(Debug)]
pub struct FrameBuilder {
    buf: Vec<u8>,
    records: u32,
}

impl Default for FrameBuilder {
    fn default() -> Self {
        Self::with_capacity(4096)
    }
}

impl FrameBuilder {
    pub fn with_capacity(bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(bytes.max(FRAME_HEADER_LEN));
        buf.resize(FRAME_HEADER_LEN, 0);
        FrameBuilder { buf, records: 0 }
    }

    /// Appends a fixed-size record.
    pub fn push<R: FixedRecord>(&mut self, r: &R) {
        record_header(&mut self.buf, R::KIND, RECORD_HEADER_LEN + R::BODY_SIZE);
        let before = self.buf.len();
        r.encode_body(&mut self.buf);
        debug_assert_eq!(self.buf.len() - before, R::BODY_SIZE);
        self.records += 1;
    }

    /// Appends a string record.
    pub fn push_string(&mut self, id: u32, text: &[u8]) {
        record_header(&mut self.buf, crate::STRING_KIND, RECORD_HEADER_LEN + StringRec::body_size(text.len()));
        StringRec { id, text }.encode_body(&mut self.buf);
        self.records += 1;
    }

    pub fn records(&self) -> u32 {
        self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Bytes of the frame so far, header included.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Seals the frame: fills in the header and returns the bytes to send.
    pub fn finish(mut self, source: u32, seq: u32) -> Vec<u8> {
        let payload = &self.buf[FRAME_HEADER_LEN..];
        let h = FrameHeader {
            source,
            seq,
            payload_len: payload.len() as u32,
            records: self.records,
            checksum: checksum(payload),
        };
        h.encode(&mut self.buf[..FRAME_HEADER_LEN]);
        self.buf
    }
}

fn record_header(out: &mut Vec<u8>, kind: u16, size: usize) {
    kind.put(out);
    0u16.put(out);
    (size as u32).put(out);
}

/// A record's kind and body, not yet decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRecord<'a> {
    pub kind: u16,
    pub flags: u16,
    pub body: &'a [u8],
}

/// Walks the records of one payload. Yields each record with its offset
/// (relative to `base`); stops at the first damaged record header.
#[derive(Debug)]
pub struct RecordIter<'a> {
    payload: &'a [u8],
    pos: usize,
    base: u64,
    failed: bool,
}

impl<'a> RecordIter<'a> {
    /// `base` is the stream offset of the payload's first byte, for errors.
    pub fn new(payload: &'a [u8], base: u64) -> Self {
        RecordIter { payload, pos: 0, base, failed: false }
    }
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<(u64, RawRecord<'a>), WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.payload.len() {
            return None;
        }
        let offset = self.base + self.pos as u64;
        let rest = &self.payload[self.pos..];
        if rest.len() < RECORD_HEADER_LEN {
            self.failed = true;
            return Some(Err(WireError::new(WireErrorKind::BadRecordSize { size: rest.len() as u32 }, offset)));
        }
        let kind = u16::get(rest);
        let flags = u16::get(&rest[2..]);
        let size = u32::get(&rest[4..]);
        let s = size as usize;
        if s < RECORD_HEADER_LEN || !s.is_multiple_of(8) || s > rest.len() {
            self.failed = true;
            return Some(Err(WireError::new(WireErrorKind::BadRecordSize { size }, offset)));
        }
        self.pos += s;
        Some(Ok((offset, RawRecord { kind, flags, body: &rest[RECORD_HEADER_LEN..s] })))
    }
}
