//! Writing files safely: every export goes to a temporary name in the target
//! directory and is renamed into place only once complete, so a failure half
//! way never leaves a truncated file posing as a complete one. Large streamed
//! outputs ([`StreamedFile`]) are gzip-compressed on a second thread when their
//! name ends in `.gz`, so formatting and compression run on two cores.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use flate2::Compression;
use flate2::write::GzEncoder;

/// An export that failed, naming the file. The message includes the cause
/// (the field is not a `source`, so that a cause chain printer such as
/// anyhow's `{:#}` does not repeat it).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write {}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
    #[error("cannot build table for {}: {error}", path.display())]
    Table { path: PathBuf, error: polars::error::PolarsError },
    #[error("cannot draw {}: {message}", path.display())]
    Plot { path: PathBuf, message: String },
}

impl ExportError {
    pub(crate) fn io(path: &Path, error: io::Error) -> Self {
        ExportError::Io { path: path.to_path_buf(), error }
    }

    /// A polars failure while writing `path`: an I/O error inside it (a full
    /// disk, say) is the user's to fix like any other write error; anything
    /// else is a table that could not be built.
    pub(crate) fn polars(path: &Path, error: polars::error::PolarsError) -> Self {
        match error {
            polars::error::PolarsError::IO { error, msg } => {
                let text = match msg {
                    Some(m) => format!("{error} ({m})"),
                    None => error.to_string(),
                };
                ExportError::Io { path: path.to_path_buf(), error: io::Error::new(error.kind(), text) }
            }
            error => ExportError::Table { path: path.to_path_buf(), error },
        }
    }
}

/// Fault injection for tests: a global budget of bytes that the files of
/// this module may still write before every write fails with ENOSPC, as on a
/// full disk. Off (unlimited) unless a test sets it.
#[doc(hidden)]
pub mod fault {
    use std::sync::atomic::{AtomicI64, Ordering};

    static BUDGET: AtomicI64 = AtomicI64::new(-1);

    /// Sets the budget (`None`: unlimited).
    pub fn set_write_budget(bytes: Option<u64>) {
        BUDGET.store(bytes.map_or(-1, |b| i64::try_from(b).unwrap_or(i64::MAX)), Ordering::SeqCst);
    }

    /// Takes up to `want` bytes from the budget: how many may be written.
    pub(crate) fn take(want: usize) -> std::io::Result<usize> {
        let mut cur = BUDGET.load(Ordering::SeqCst);
        loop {
            if cur < 0 {
                return Ok(want);
            }
            if cur == 0 {
                return Err(std::io::Error::from_raw_os_error(28));
            }
            let n = cur.min(want as i64);
            match BUDGET.compare_exchange(cur, cur - n, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return Ok(n as usize),
                Err(v) => cur = v,
            }
        }
    }
}

/// The file under a temporary name, its writes subject to [`fault`]; keeps
/// the first write error, for writers (parquet) that report it as text.
#[derive(Debug)]
struct Budgeted {
    file: File,
    error: Option<(io::ErrorKind, Option<i32>, String)>,
}

impl Budgeted {
    fn keep<T>(&mut self, r: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &r
            && self.error.is_none()
        {
            self.error = Some((e.kind(), e.raw_os_error(), e.to_string()));
        }
        r
    }
}

impl Write for Budgeted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = fault::take(buf.len()).and_then(|n| self.file.write(&buf[..n]));
        self.keep(r)
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = self.file.flush();
        self.keep(r)
    }
}

/// A file being written under a temporary name; [`AtomicFile::commit`] renames it.
#[derive(Debug)]
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    out: Option<BufWriter<Budgeted>>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> Result<AtomicFile, ExportError> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = path.with_file_name(format!(".{name}.partial-{}", std::process::id()));
        let f = File::create(&tmp).map_err(|e| ExportError::io(path, e))?;
        let out = BufWriter::with_capacity(1 << 20, Budgeted { file: f, error: None });
        Ok(AtomicFile { path: path.to_path_buf(), tmp, out: Some(out) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The first error a write to the file met, if any.
    pub fn write_error(&self) -> Option<io::Error> {
        let (kind, raw, text) = self.out.as_ref()?.get_ref().error.clone()?;
        Some(raw.map_or_else(|| io::Error::new(kind, text), io::Error::from_raw_os_error))
    }

    /// The error of a formatter (polars) that failed writing into this file:
    /// the file's own write error when there was one (a full disk, reported
    /// by some writers only as text), else `error` as it is.
    pub fn writer_failed(&self, error: polars::error::PolarsError) -> ExportError {
        match self.write_error() {
            Some(e) => ExportError::io(&self.path, e),
            None => ExportError::polars(&self.path, error),
        }
    }

    /// Flushes, syncs and renames into place. On failure the temporary file
    /// is removed: the last buffered bytes reach the disk only here, so this
    /// is where a full disk is most often found.
    pub fn commit(mut self) -> Result<(), ExportError> {
        let path = self.path.clone();
        let result = (|| {
            if let Some(out) = self.out.take() {
                let f = out.into_inner().map_err(|e| ExportError::io(&path, e.into_error()))?;
                f.file.sync_all().map_err(|e| ExportError::io(&path, e))?;
            }
            fs::rename(&self.tmp, &self.path).map_err(|e| ExportError::io(&path, e))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&self.tmp);
        }
        result
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.out {
            Some(o) => o.write(buf),
            None => Err(io::Error::other("file already committed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.out {
            Some(o) => o.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Buffers handed to the compressing thread.
const GZ_BUF: usize = 1 << 20;
/// Buffers in flight between the formatting and the compressing thread.
const GZ_DEPTH: usize = 4;
/// zlib level 1: about twice as fast as the default level 6 on trace JSON, for
/// a file about 1.25x larger (the Chrome export of v100_train_ns_timestamps,
/// 11.6 MB: 0.12 s and 1.50 MB against 0.23 s and 1.19 MB). An export should
/// not take longer than reading the trace did.
const GZ_LEVEL: u32 = 1;

/// A streamed output file: plain, or gzip-compressed on a second thread when
/// the name ends in `.gz`. Written under a temporary name like [`AtomicFile`];
/// only [`StreamedFile::finish`] puts it in place.
#[derive(Debug)]
pub struct StreamedFile {
    path: PathBuf,
    inner: Option<Streamed>,
}

#[derive(Debug)]
enum Streamed {
    Plain(AtomicFile),
    Gzip {
        buf: Vec<u8>,
        tx: SyncSender<Vec<u8>>,
        recycled: Receiver<Vec<u8>>,
        handle: JoinHandle<io::Result<AtomicFile>>,
    },
}

impl StreamedFile {
    pub fn create(path: &Path) -> Result<StreamedFile, ExportError> {
        let file = AtomicFile::create(path)?;
        let gzip = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"));
        let inner = if gzip {
            let (tx, rx) = sync_channel::<Vec<u8>>(GZ_DEPTH);
            let (back, recycled) = sync_channel::<Vec<u8>>(GZ_DEPTH + 2);
            let handle = std::thread::Builder::new()
                .name("boundscope-gzip".into())
                .spawn(move || {
                    let mut enc = GzEncoder::new(file, Compression::new(GZ_LEVEL));
                    for mut buf in rx {
                        enc.write_all(&buf)?;
                        buf.clear();
                        // The formatter may have stopped taking buffers back; that is fine.
                        let _ = back.try_send(buf);
                    }
                    enc.finish()
                })
                .map_err(|e| ExportError::io(path, e))?;
            Streamed::Gzip { buf: Vec::with_capacity(GZ_BUF), tx, recycled, handle }
        } else {
            Streamed::Plain(file)
        };
        Ok(StreamedFile { path: path.to_path_buf(), inner: Some(inner) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Completes the compression, syncs, and renames the file into place.
    pub fn finish(mut self) -> Result<(), ExportError> {
        let path = self.path.clone();
        match self.inner.take() {
            Some(Streamed::Plain(f)) => f.commit(),
            Some(Streamed::Gzip { buf, tx, handle, .. }) => {
                let sent = buf.is_empty() || tx.send(buf).is_ok();
                drop(tx);
                let file = join_compressor(handle).map_err(|e| ExportError::io(&path, e))?;
                if !sent {
                    return Err(ExportError::io(&path, io::Error::other("the compressing thread stopped early")));
                }
                file.commit()
            }
            None => Err(ExportError::io(&path, io::Error::other("file already finished"))),
        }
    }
}

fn join_compressor(handle: JoinHandle<io::Result<AtomicFile>>) -> io::Result<AtomicFile> {
    handle.join().unwrap_or_else(|_| Err(io::Error::other("the compressing thread panicked")))
}

impl Write for StreamedFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match &mut self.inner {
            Some(Streamed::Plain(f)) => f.write(data),
            Some(Streamed::Gzip { buf, tx, recycled, .. }) => {
                buf.extend_from_slice(data);
                if buf.len() >= GZ_BUF {
                    let next = recycled.try_recv().unwrap_or_else(|_| Vec::with_capacity(GZ_BUF));
                    let full = std::mem::replace(buf, next);
                    if tx.send(full).is_err() {
                        // The compressor failed (disk full, file too large): report its error.
                        return Err(self.compressor_error());
                    }
                }
                Ok(data.len())
            }
            None => Err(io::Error::other("file already finished")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Some(Streamed::Plain(f)) => f.flush(),
            // Compressed data reaches the file when the compressor gets to it; `finish` waits.
            _ => Ok(()),
        }
    }
}

impl StreamedFile {
    fn compressor_error(&mut self) -> io::Error {
        match self.inner.take() {
            Some(Streamed::Gzip { tx, handle, .. }) => {
                drop(tx);
                match join_compressor(handle) {
                    Err(e) => e,
                    Ok(_) => io::Error::other("the compressing thread stopped early"),
                }
            }
            _ => io::Error::other("the compressing thread stopped early"),
        }
    }
}

impl Drop for StreamedFile {
    fn drop(&mut self) {
        // Unfinished: stop the compressor and wait for it, so that its
        // temporary file is removed before the caller reports the failure.
        if let Some(Streamed::Gzip { tx, handle, .. }) = self.inner.take() {
            drop(tx);
            let _ = join_compressor(handle);
        }
    }
}

/// Checks before any work that `dir` exists (creating it) and is writable.
pub fn ensure_writable_dir(dir: &Path) -> Result<(), ExportError> {
    fs::create_dir_all(dir).map_err(|e| ExportError::io(dir, e))?;
    let probe = dir.join(format!(".boundscope-write-test-{}", std::process::id()));
    File::create(&probe).map_err(|e| ExportError::io(dir, e))?;
    let _ = fs::remove_file(&probe);
    Ok(())
}

/// Checks before any work that the file `path` can be created.
pub fn ensure_writable_file(path: &Path) -> Result<(), ExportError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(ExportError::io(path, io::Error::new(io::ErrorKind::NotFound, "its directory does not exist")));
    }
    if path.is_dir() {
        return Err(ExportError::io(path, io::Error::new(io::ErrorKind::IsADirectory, "it is a directory")));
    }
    let probe = dir.join(format!(".boundscope-write-test-{}", std::process::id()));
    File::create(&probe).map_err(|e| ExportError::io(path, e))?;
    let _ = fs::remove_file(&probe);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_file_is_removed_unless_committed() {
        let dir = std::env::temp_dir().join(format!("bs-atomic-{}", std::process::id()));
        fs::create_dir_all(&dir).ok();
        let p = dir.join("a.csv");
        {
            let mut f = AtomicFile::create(&p).ok().into_iter().next();
            if let Some(f) = f.as_mut() {
                let _ = f.write_all(b"half");
            }
        }
        assert!(!p.exists());
        assert_eq!(fs::read_dir(&dir).map(|d| d.count()).unwrap_or(99), 0);
        let mut f = AtomicFile::create(&p).ok();
        if let Some(f) = f.as_mut() {
            let _ = f.write_all(b"whole");
        }
        assert!(f.map(|f| f.commit().is_ok()).unwrap_or(false));
        assert_eq!(fs::read_to_string(&p).ok().as_deref(), Some("whole"));
        let _ = fs::remove_dir_all(&dir);
    }
}
