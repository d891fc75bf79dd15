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
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

use flate2::read::MultiGzDecoder;

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
    Gzip { decompressed_bytes: u64, source: io::Error },
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
        let (tx, rx) = sync_channel(DEPTH);
        let (recycle, recycled) = channel();
        let handle = std::thread::Builder::new().name("boundscope-read".into()).spawn(move || {
            let reader = io::Cursor::new(head).chain(BufReader::with_capacity(1 << 20, file));
            if gzip {
                pump(MultiGzDecoder::new(reader), &tx, &recycled, true);
            } else {
                pump(reader, &tx, &recycled, false);
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

fn pump(mut r: impl Read, tx: &SyncSender<Result<Chunk, SourceError>>, recycled: &Receiver<Vec<u8>>, gzip: bool) {
    let mut total: u64 = 0;
    loop {
        let mut data = recycled.try_recv().unwrap_or_else(|_| Vec::with_capacity(HEADROOM + CHUNK));
        data.resize(HEADROOM + CHUNK, 0);
        let (n, err) = read_some(&mut r, &mut data[HEADROOM..]);
        if n > 0 {
            data.truncate(HEADROOM + n);
            total += n as u64;
            if tx.send(Ok(Chunk { data, start: HEADROOM })).is_err() {
                return;
            }
        }
        if let Some(e) = err {
            let err =
                if gzip { SourceError::Gzip { decompressed_bytes: total, source: e } } else { SourceError::Io(e) };
            let _ = tx.send(Err(err));
            return;
        }
        if n == 0 {
            return;
        }
    }
}
