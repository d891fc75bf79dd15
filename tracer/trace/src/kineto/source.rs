//! Byte source for the Kineto reader: a thread reads the file (decompressing
//! gzip when the file starts with the gzip magic) into large chunks and hands
//! them over a bounded channel, so decompression and parsing run on two cores
//! while memory stays bounded.
//!
//! Each chunk keeps free room in front of its data, where the parser puts the
//! unfinished event left over from the previous chunk; buffers go back to the
//! reading thread for reuse. So the bytes are copied once (by the
//! decompressor), and no large buffer is allocated per chunk.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

use flate2::bufread::GzDecoder;

/// Bytes of data in one chunk.
const CHUNK: usize = 2 << 20;
/// Free room in front of the data for the previous chunk's unfinished event.
pub(crate) const HEADROOM: usize = 256 << 10;
/// Chunks in flight between the two threads.
const DEPTH: usize = 2;

/// Why the byte source stopped early.
#[derive(Debug)]
pub(crate) enum SourceError {
    Io(io::Error),
    /// The gzip data is damaged or cut short (see [`GzipFault`]).
    Gzip {
        decompressed_bytes: u64,
        compressed_offset: u64,
        fault: GzipFault,
        source: io::Error,
    },
    /// Not an error: every gzip member ended whole, and then came bytes that
    /// are no gzip member. The data before them is complete.
    TrailingBytes {
        decompressed_bytes: u64,
        compressed_offset: u64,
        trailing_bytes: u64,
    },
}

/// What is wrong with a gzip stream, as far as the decoder can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GzipFault {
    /// The compressed data stops in the middle of a member.
    CutShort,
    /// A member decompressed whole, but its CRC-32 or length does not match
    /// the trailer: bytes were changed after it was written.
    Checksum,
    /// The compressed data itself is invalid (or a member header is).
    Damaged,
}

impl GzipFault {
    fn of(e: &io::Error) -> GzipFault {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            GzipFault::CutShort
        } else if e.to_string().contains("checksum") {
            // flate2 (pinned) reports a CRC-32 or length mismatch of a member
            // with this one message; `checksum_mismatch_is_told_apart` holds it.
            GzipFault::Checksum
        } else {
            GzipFault::Damaged
        }
    }
}

/// Decompressed bytes in `data[start..]`; `data[..start]` is free room.
pub(crate) struct Chunk {
    pub(crate) data: Vec<u8>,
    pub(crate) start: usize,
}

pub(crate) struct ChunkSource {
    rx: Receiver<Result<Chunk, SourceError>>,
    recycle: Option<Sender<Vec<u8>>>,
    handle: Option<JoinHandle<()>>,
    /// Data given in memory, handed out in order.
    memory: std::collections::VecDeque<Vec<u8>>,
}

impl ChunkSource {
    /// Opens `path` and starts the reading thread.
    pub(crate) fn open(path: &Path) -> io::Result<ChunkSource> {
        let mut file = File::open(path)?;
        let mut magic = [0u8; 2];
        let (n, err) = read_some(&mut file, &mut magic);
        if let Some(e) = err {
            return Err(e);
        }
        let gzip = n == 2 && magic == [0x1f, 0x8b];
        let head = magic[..n].to_vec();
        let file_len = file.metadata().map(|m| m.len()).ok();
        let (tx, rx) = sync_channel(DEPTH);
        let (recycle, recycled) = channel();
        let handle = std::thread::Builder::new().name("boundscope-read".into()).spawn(move || {
            let reader = io::Cursor::new(head).chain(file);
            if gzip {
                pump_gzip(reader, file_len, &tx, &recycled);
            } else {
                let mut total = 0;
                if let Err(Stop::Failed(e)) =
                    pump(BufReader::with_capacity(1 << 20, reader), &tx, &recycled, &mut total)
                {
                    let _ = tx.send(Err(SourceError::Io(e)));
                }
            }
        })?;
        Ok(ChunkSource { rx, recycle: Some(recycle), handle: Some(handle), memory: Default::default() })
    }

    /// A source over bytes already in memory (uncompressed), in chunks of `chunk` bytes.
    pub(crate) fn from_slices(bytes: &[u8], chunk: usize) -> ChunkSource {
        let (_, rx) = sync_channel(0);
        let memory = bytes.chunks(chunk.max(1)).map(<[u8]>::to_vec).collect();
        ChunkSource { rx, recycle: None, handle: None, memory }
    }

    /// The next chunk; `None` at the end of the data.
    pub(crate) fn next_chunk(&mut self) -> Option<Result<Chunk, SourceError>> {
        if self.handle.is_none() {
            return self.memory.pop_front().map(|data| Ok(Chunk { data, start: 0 }));
        }
        self.rx.recv().ok()
    }

    /// Gives a spent buffer back for reuse.
    pub(crate) fn recycle(&self, buf: Vec<u8>) {
        if let Some(r) = &self.recycle
            && buf.capacity() == HEADROOM + CHUNK
        {
            let _ = r.send(buf);
        }
    }
}

impl Drop for ChunkSource {
    fn drop(&mut self) {
        // Unblock the reader if it waits on a full channel, then wait for it.
        let (_, dummy) = sync_channel(0);
        drop(std::mem::replace(&mut self.rx, dummy));
        self.recycle = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Fills `buf` as far as possible; returns how much was read and the error
/// that stopped it early, if any (bytes read before an error are kept).
fn read_some(r: &mut impl Read, buf: &mut [u8]) -> (usize, Option<io::Error>) {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (n, Some(e)),
        }
    }
    (n, None)
}

/// Why [`pump`] stopped before the end of its reader.
enum Stop {
    /// The parser went away.
    Closed,
    Failed(io::Error),
}

/// Sends everything `r` yields as chunks; `total` counts the bytes sent.
fn pump(
    mut r: impl Read,
    tx: &SyncSender<Result<Chunk, SourceError>>,
    recycled: &Receiver<Vec<u8>>,
    total: &mut u64,
) -> Result<(), Stop> {
    loop {
        let mut data = recycled.try_recv().unwrap_or_else(|_| Vec::with_capacity(HEADROOM + CHUNK));
        data.resize(HEADROOM + CHUNK, 0);
        let (n, err) = read_some(&mut r, &mut data[HEADROOM..]);
        if n > 0 {
            data.truncate(HEADROOM + n);
            *total += n as u64;
            if tx.send(Ok(Chunk { data, start: HEADROOM })).is_err() {
                return Err(Stop::Closed);
            }
        }
        if let Some(e) = err {
            return Err(Stop::Failed(e));
        }
        if n == 0 {
            return Ok(());
        }
    }
}

/// Counts the bytes read from the file, to say where in it a problem lies.
struct Counting<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n += k as u64;
        Ok(k)
    }
}

/// Decompresses member after member (a gzip file may hold several). After a
/// whole member, bytes that do not start another one are trailing bytes
/// (padding, or something appended to the file): the data is complete, so it
/// is reported as such, not as a broken stream.
fn pump_gzip(
    file: impl Read,
    file_len: Option<u64>,
    tx: &SyncSender<Result<Chunk, SourceError>>,
    recycled: &Receiver<Vec<u8>>,
) {
    let mut input = BufReader::with_capacity(1 << 20, Counting { inner: file, n: 0 });
    let mut total = 0u64;
    loop {
        let member = GzDecoder::new(&mut input);
        match pump(member, tx, recycled, &mut total) {
            Ok(()) => {}
            Err(Stop::Closed) => return,
            Err(Stop::Failed(source)) => {
                let compressed_offset = input.get_ref().n - input.buffer().len() as u64;
                let fault = GzipFault::of(&source);
                let _ = tx.send(Err(SourceError::Gzip { decompressed_bytes: total, compressed_offset, fault, source }));
                return;
            }
        }
        let next = match input.fill_buf() {
            Ok(b) => b,
            Err(e) => {
                let _ = tx.send(Err(SourceError::Io(e)));
                return;
            }
        };
        if next.is_empty() {
            return;
        }
        if next[0] == 0x1f && next.get(1).is_none_or(|&b| b == 0x8b) {
            continue;
        }
        let compressed_offset = input.get_ref().n - input.buffer().len() as u64;
        let trailing_bytes = file_len.map_or(input.buffer().len() as u64, |l| l.saturating_sub(compressed_offset));
        let _ =
            tx.send(Err(SourceError::TrailingBytes { decompressed_bytes: total, compressed_offset, trailing_bytes }));
        return;
    }
}
