//! CSV tables of an analysis, written with polars.
//!
//! Files (column names carry units; see `docs/tables.md`):
//! - `launches.csv`: one row per matched GPU activity (per-launch quantities);
//! - `kernels.csv`: one row per kernel name;
//! - `steps.csv`: one row per window (the whole trace, then each step).

use std::path::{Path, PathBuf};

use boundscope_analysis::Analysis;
use boundscope_trace::Trace;
use polars::prelude::*;

use crate::output::{AtomicFile, ExportError};
use crate::tables::{TABLES, analysis_frame};

/// Writes `df` as CSV to `path` (atomically).
pub fn write_csv(df: &mut DataFrame, path: &Path) -> Result<(), ExportError> {
    let mut f = AtomicFile::create(path)?;
    let written = CsvWriter::new(&mut f).include_header(true).finish(df);
    written.map_err(|e| f.writer_failed(e))?;
    f.commit()
}

/// Writes the three CSV tables of one analysis into `dir`.
pub fn write_analysis_csv(trace: &Trace, analysis: &Analysis, dir: &Path) -> Result<Vec<PathBuf>, ExportError> {
    let mut written = Vec::new();
    for stem in TABLES {
        let p = dir.join(format!("{stem}.csv"));
        let mut df =
            analysis_frame(trace, analysis, stem).map_err(|e| ExportError::Table { path: p.clone(), error: e })?;
        write_csv(&mut df, &p)?;
        written.push(p);
    }
    Ok(written)
}
