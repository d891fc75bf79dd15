//! Parquet tables of an analysis (the same tables and columns as the CSV
//! ones, see `docs/tables.md`), for runs too large to load as text: typed
//! columns (integers stay integers, missing values are nulls) and zstd
//! compression, readable by polars, pandas (pyarrow) and DuckDB.

use std::path::{Path, PathBuf};

use boundscope_analysis::Analysis;
use boundscope_trace::Trace;
use polars::prelude::*;

use crate::output::{AtomicFile, ExportError};
use crate::tables::{TABLES, analysis_frame};

/// Writes `df` as Parquet to `path` (atomically).
pub fn write_parquet(df: &mut DataFrame, path: &Path) -> Result<(), ExportError> {
    let mut f = AtomicFile::create(path)?;
    let written = ParquetWriter::new(&mut f).with_compression(ParquetCompression::Zstd(None)).finish(df);
    written.map_err(|e| f.writer_failed(e))?;
    f.commit()
}

/// Writes `launches.parquet`, `kernels.parquet` and `steps.parquet` into `dir`.
pub fn write_analysis_parquet(trace: &Trace, analysis: &Analysis, dir: &Path) -> Result<Vec<PathBuf>, ExportError> {
    let mut written = Vec::new();
    for stem in TABLES {
        let p = dir.join(format!("{stem}.parquet"));
        let mut df =
            analysis_frame(trace, analysis, stem).map_err(|e| ExportError::Table { path: p.clone(), error: e })?;
        write_parquet(&mut df, &p)?;
        written.push(p);
    }
    Ok(written)
}
