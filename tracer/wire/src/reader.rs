//! Reading a stream from a socket or a file, one checked frame at a time.
//! A stream that stops inside a frame (the writer was killed) ends with a
//! truncation error carrying the offset of the torn frame; every frame before
//! it has been returned.

use std::io::{self, Read};

use crate::error::{WireError, WireErrorKind};
use crate::frame::{FRAME_HEADER_LEN, FrameHeader, RecordIter, STREAM_HEADER_LEN, StreamHeader};

/// Bytes read at a time into a frame's buffer.
const READ_CHUNK: usize = 1 << 20;

/// One whole, checksum-verified frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub header: FrameHeader,
    /// Stream offset of the frame header.
    pub offset: u64,
    /// The frame as it was written (header and payload).
    pub bytes: Vec<u8>,
}

impl Frame {
    pub fn payload(&self) -> &[u8] {
        &self.bytes[FRAME_HEADER_LEN..]
    }

    /// The frame's records, with their stream offsets.
    pub fn records(&self) -> RecordIter<'_> {
        RecordIter::new(self.payload(), self.offset + FRAME_HEADER_LEN as u64)
    }

    /// Rewrites the source id in the header (the profiler numbers the processes it hears from).
    pub fn set_source(&mut self, source: u32) {
        self.header.source = source;
        self.bytes[4..8].copy_from_slice(&source.to_le_bytes());
    }
}

/// Reads frames from a stream.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    offset: u64,
    started: bool,
    /// Largest payload accepted, so a damaged length cannot ask for gigabytes.
    max_payload: u32,
}

impl<R: Read> FrameReader<R> {
    pub fn new(inner: R) -> Self {
        FrameReader { inner, offset: 0, started: false, max_payload: 256 << 20 }
    }

    /// Stream offset of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads and checks the stream header (also done by the first `next_frame`).
    pub fn read_header(&mut self) -> Result<StreamHeader, WireError> {
        let mut b = [0u8; STREAM_HEADER_LEN];
        let n = self.fill(&mut b)?;
        let h = StreamHeader::decode(&b[..n])?;
        self.started = true;
        Ok(h)
    }

    /// The next frame; `Ok(None)` at a clean end (between frames).
    ///
    /// Memory follows the bytes read, not the length a (possibly damaged)
    /// frame header claims: the payload is read in `READ_CHUNK` pieces.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, WireError> {
        if !self.started {
            self.read_header()?;
        }
        let start = self.offset;
        let mut head = [0u8; FRAME_HEADER_LEN];
        let n = self.fill(&mut head)?;
        if n == 0 {
            return Ok(None);
        }
        let header = FrameHeader::decode(&head[..n], start)?;
        if header.payload_len > self.max_payload {
            return Err(WireError::new(WireErrorKind::BadRecordSize { size: header.payload_len }, start));
        }
        // Grow the buffer with what actually arrives: a damaged length field
        // must not reserve its claimed size before the bytes are there.
        let want = header.payload_len as usize;
        let mut bytes = Vec::with_capacity(FRAME_HEADER_LEN + want.min(READ_CHUNK));
        bytes.extend_from_slice(&head);
        let mut n = 0;
        while n < want {
            let k = (want - n).min(READ_CHUNK);
            let at = bytes.len();
            bytes.resize(at + k, 0);
            let got = self.fill(&mut bytes[at..])?;
            bytes.truncate(at + got);
            n += got;
            if got < k {
                break;
            }
        }
        if n < want {
            return Err(WireError::new(
                WireErrorKind::Truncated {
                    needed: (FRAME_HEADER_LEN + header.payload_len as usize) as u64,
                    available: (FRAME_HEADER_LEN + n) as u64,
                },
                start,
            ));
        }
        header.verify(&bytes[FRAME_HEADER_LEN..], start)?;
        Ok(Some(Frame { header, offset: start, bytes }))
    }

    /// Reads until `buf` is full or the stream ends; returns the bytes read.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, WireError> {
        let mut n = 0;
        while n < buf.len() {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(WireError::new(WireErrorKind::Io(e.to_string()), self.offset + n as u64)),
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}
