//! Byte source for the Kineto reader: a thread reads the file (decompressing
//! gzip when the file starts with the gzip magic) into large chunks and hands
//! them over a bounded channel, so decompression and parsing run on two cores
//! while memory stays bounded.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use flate2::read::MultiGzDecoder;

/// Size of one chunk handed to the parser.
const CHUNK: usize = 4 << 20;
/// Chunks in flight between the two threads.
const DEPTH: usize = 3;

/// Why the byte source stopped early.
#[derive(Debug)]
pub(crate) enum SourceError {
    Io(io::Error),
    Gzip { decompressed_bytes: u64, source: io::Error },
}

pub(crate) struct ChunkSource {
    rx: Receiver<Result<Vec<u8>, SourceError>>,
    handle: Option<JoinHandle<()>>,
    /// Data given in memory, handed out as one chunk.
    memory: Option<Vec<u8>>,
}

impl ChunkSource {
    /// Opens `path` and starts the reading thread.
    pub(crate) fn open(path: &Path) -> io::Result<ChunkSource> {
        let mut file = File::open(path)?;
        let mut magic = [0u8; 2];
        let n = read_full(&mut file, &mut magic)?;
        let gzip = n == 2 && magic == [0x1f, 0x8b];
        let head = magic[..n].to_vec();
        let (tx, rx) = sync_channel(DEPTH);
        let handle = std::thread::Builder::new().name("boundscope-read".into()).spawn(move || {
            if gzip {
                let reader = io::Cursor::new(head).chain(BufReader::with_capacity(1 << 20, file));
                pump(MultiGzDecoder::new(reader), &tx, true);
            } else {
                if !head.is_empty() && tx.send(Ok(head)).is_err() {
                    return;
                }
                pump(file, &tx, false);
            }
        })?;
        Ok(ChunkSource { rx, handle: Some(handle), memory: None })
    }

    /// A source over bytes already in memory (uncompressed).
    pub(crate) fn from_vec(bytes: Vec<u8>) -> ChunkSource {
        let (_, rx) = sync_channel(0);
        ChunkSource { rx, handle: None, memory: Some(bytes) }
    }

    /// The next chunk; `None` at the end of the data.
    pub(crate) fn next_chunk(&mut self) -> Option<Result<Vec<u8>, SourceError>> {
        if self.handle.is_none() {
            return self.memory.take().map(Ok);
        }
        self.rx.recv().ok()
    }
}

impl Drop for ChunkSource {
    fn drop(&mut self) {
        // Unblock the reader if it waits on a full channel, then wait for it.
        let (_, dummy) = sync_channel(0);
        drop(std::mem::replace(&mut self.rx, dummy));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let (n, err) = read_some(r, buf);
    match err {
        Some(e) => Err(e),
        None => Ok(n),
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

fn pump(mut r: impl Read, tx: &SyncSender<Result<Vec<u8>, SourceError>>, gzip: bool) {
    let mut total: u64 = 0;
    loop {
        let mut chunk = vec![0u8; CHUNK];
        let (n, err) = read_some(&mut r, &mut chunk);
        if n > 0 {
            chunk.truncate(n);
            total += n as u64;
            if tx.send(Ok(chunk)).is_err() {
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
