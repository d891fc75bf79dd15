//! Writing files safely: every export goes to a temporary name in the target
//! directory and is renamed into place only once complete, so a failure half
//! way never leaves a truncated file posing as a complete one.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// An export that failed, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("cannot build table for {}: {source}", path.display())]
    Table { path: PathBuf, source: polars::error::PolarsError },
}

impl ExportError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        ExportError::Io { path: path.to_path_buf(), source }
    }
}

/// A file being written under a temporary name; [`AtomicFile::commit`] renames it.
#[derive(Debug)]
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    out: Option<BufWriter<File>>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> Result<AtomicFile, ExportError> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = path.with_file_name(format!(".{name}.partial-{}", std::process::id()));
        let f = File::create(&tmp).map_err(|e| ExportError::io(path, e))?;
        Ok(AtomicFile { path: path.to_path_buf(), tmp, out: Some(BufWriter::with_capacity(1 << 20, f)) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes, syncs and renames into place.
    pub fn commit(mut self) -> Result<(), ExportError> {
        let path = self.path.clone();
        if let Some(out) = self.out.take() {
            let f = out.into_inner().map_err(|e| ExportError::io(&path, e.into_error()))?;
            f.sync_all().map_err(|e| ExportError::io(&path, e))?;
        }
        fs::rename(&self.tmp, &self.path).map_err(|e| ExportError::io(&path, e))
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
