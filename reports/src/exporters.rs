//! The [`Exporter`] trait and one implementation per output format. A
//! command builds the exporters the user asked for, checks every destination
//! before reading the trace ([`Exporter::check_destination`]), then runs them
//! in turn on the trace and its analysis. Every file an exporter writes
//! appears complete or not at all (temporary name, then rename).

use std::path::{Component, Path, PathBuf};

use boundscope_analysis::Analysis;
use boundscope_trace::Trace;

use crate::output::{AtomicFile, ExportError, ensure_writable_dir, ensure_writable_file};
use crate::{chrome, csv, markdown, parquet, plots};

/// What every exporter works from.
#[derive(Debug, Clone, Copy)]
pub struct ExportInput<'a> {
    pub trace: &'a Trace,
    pub analysis: &'a Analysis,
}

/// One output format.
pub trait Exporter {
    /// What it writes and where, for messages ("Chrome trace out.json.gz").
    fn describe(&self) -> String;
    /// Fails, before any work is done, when the destination cannot be written
    /// (a directory destination is created).
    fn check_destination(&self) -> Result<(), ExportError>;
    /// Writes the output; returns the files written.
    fn export(&self, input: &ExportInput<'_>) -> Result<Vec<PathBuf>, ExportError>;
}

/// Chrome trace JSON (`.json`, or gzip-compressed `.json.gz`).
#[derive(Debug, Clone)]
pub struct ChromeExporter {
    pub path: PathBuf,
}

impl Exporter for ChromeExporter {
    fn describe(&self) -> String {
        format!("Chrome trace {}", self.path.display())
    }
    fn check_destination(&self) -> Result<(), ExportError> {
        ensure_writable_file(&self.path)
    }
    fn export(&self, input: &ExportInput<'_>) -> Result<Vec<PathBuf>, ExportError> {
        chrome::write_chrome_trace(input.trace, input.analysis, &self.path)?;
        Ok(vec![self.path.clone()])
    }
}

/// `launches.csv`, `kernels.csv`, `steps.csv` in a directory.
#[derive(Debug, Clone)]
pub struct CsvExporter {
    pub dir: PathBuf,
}

impl Exporter for CsvExporter {
    fn describe(&self) -> String {
        format!("CSV tables in {}", self.dir.display())
    }
    fn check_destination(&self) -> Result<(), ExportError> {
        ensure_writable_dir(&self.dir)
    }
    fn export(&self, input: &ExportInput<'_>) -> Result<Vec<PathBuf>, ExportError> {
        csv::write_analysis_csv(input.trace, input.analysis, &self.dir)
    }
}

/// `launches.parquet`, `kernels.parquet`, `steps.parquet` in a directory.
#[derive(Debug, Clone)]
pub struct ParquetExporter {
    pub dir: PathBuf,
}

impl Exporter for ParquetExporter {
    fn describe(&self) -> String {
        format!("Parquet tables in {}", self.dir.display())
    }
    fn check_destination(&self) -> Result<(), ExportError> {
        ensure_writable_dir(&self.dir)
    }
    fn export(&self, input: &ExportInput<'_>) -> Result<Vec<PathBuf>, ExportError> {
        parquet::write_analysis_parquet(input.trace, input.analysis, &self.dir)
    }
}

/// The SVG plots of one trace in a directory.
#[derive(Debug, Clone)]
pub struct PlotsExporter {
    pub dir: PathBuf,
}

impl Exporter for PlotsExporter {
    fn describe(&self) -> String {
        format!("plots in {}", self.dir.display())
    }
    fn check_destination(&self) -> Result<(), ExportError> {
        ensure_writable_dir(&self.dir)
    }
    fn export(&self, input: &ExportInput<'_>) -> Result<Vec<PathBuf>, ExportError> {
        plots::write_trace_plots(input.analysis, &self.dir)
    }
}

/// `report.md`, embedding the plots. With `plots_dir` (the `--plots` of the
/// same command) it links to those; without, it draws them into
/// `<report stem>-plots/` beside itself.
#[derive(Debug, Clone)]
pub struct MarkdownExporter {
    pub path: PathBuf,
    pub plots_dir: Option<PathBuf>,
}

impl MarkdownExporter {
    fn report_dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// Where the plots are: the given directory or the report's own.
    pub fn plots_location(&self) -> PathBuf {
        self.plots_dir.clone().unwrap_or_else(|| {
            let stem =
                self.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "report".into());
            self.report_dir().join(format!("{stem}-plots"))
        })
    }
}

impl Exporter for MarkdownExporter {
    fn describe(&self) -> String {
        format!("Markdown report {}", self.path.display())
    }
    fn check_destination(&self) -> Result<(), ExportError> {
        ensure_writable_file(&self.path)?;
        if self.plots_dir.is_none() { ensure_writable_dir(&self.plots_location()) } else { Ok(()) }
    }
    fn export(&self, input: &ExportInput<'_>) -> Result<Vec<PathBuf>, ExportError> {
        let plots_dir = self.plots_location();
        let mut written = Vec::new();
        if self.plots_dir.is_none() {
            written.extend(plots::write_trace_plots(input.analysis, &plots_dir)?);
        }
        let link = relative_link(&self.report_dir(), &plots_dir);
        let text = markdown::markdown(&input.analysis.report, Some(&link));
        let mut f = AtomicFile::create(&self.path)?;
        std::io::Write::write_all(&mut f, text.as_bytes())
            .map_err(|e| ExportError::Io { path: self.path.clone(), error: e })?;
        f.commit()?;
        written.push(self.path.clone());
        Ok(written)
    }
}

/// `to` as a link relative to the directory `from` (forward slashes), so the
/// report and its plots can be moved together; absolute when no relative
/// path exists (another drive).
pub fn relative_link(from: &Path, to: &Path) -> String {
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (from, to) = (abs(from), abs(to));
    let a: Vec<Component<'_>> = from.components().collect();
    let b: Vec<Component<'_>> = to.components().collect();
    if a.first() != b.first() {
        return to.to_string_lossy().replace('\\', "/");
    }
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".to_string(); a.len() - common];
    parts.extend(b[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    if parts.is_empty() { ".".to_string() } else { parts.join("/") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_links() {
        assert_eq!(relative_link(Path::new("/a/b"), Path::new("/a/b/plots")), "plots");
        assert_eq!(relative_link(Path::new("/a/b"), Path::new("/a/c/plots")), "../c/plots");
        assert_eq!(relative_link(Path::new("/a/b"), Path::new("/a/b")), ".");
    }

    #[test]
    fn markdown_plots_default_beside_the_report() {
        let m = MarkdownExporter { path: PathBuf::from("/out/report.md"), plots_dir: None };
        assert_eq!(m.plots_location(), PathBuf::from("/out/report-plots"));
        let m = MarkdownExporter { path: PathBuf::from("/out/report.md"), plots_dir: Some("/p".into()) };
        assert_eq!(m.plots_location(), PathBuf::from("/p"));
    }
}
