//! CSV tables of an analysis, written with polars.
//!
//! Files (column names carry units; see `docs/tables.md`):
//! - `launches.csv`: one row per matched GPU activity (per-launch quantities);
//! - `kernels.csv`: one row per kernel name;
//! - `steps.csv`: one row per window (the whole trace, then each step).

use std::path::Path;

use boundscope_analysis::{Analysis, tables};
use boundscope_trace::Trace;
use polars::prelude::*;

use crate::output::{AtomicFile, ExportError};

/// Writes `df` as CSV to `path` (atomically).
pub fn write_csv(df: &mut DataFrame, path: &Path) -> Result<(), ExportError> {
    let mut f = AtomicFile::create(path)?;
    CsvWriter::new(&mut f)
        .include_header(true)
        .finish(df)
        .map_err(|e| ExportError::Table { path: path.to_path_buf(), source: e })?;
    f.commit()
}

/// Writes the three CSV tables of one analysis into `dir`.
pub fn write_analysis_csv(
    trace: &Trace,
    analysis: &Analysis,
    dir: &Path,
) -> Result<Vec<std::path::PathBuf>, ExportError> {
    let table_err = |name: &str| {
        let p = dir.join(name);
        move |e| ExportError::Table { path: p, source: e }
    };
    let steps: Vec<(i64, i64, i64)> = trace.steps.iter().map(|s| (s.number, s.start_ns, s.end_ns)).collect();
    let mut written = Vec::new();

    let mut launches = tables::launches_frame(trace, &analysis.launches, &steps).map_err(table_err("launches.csv"))?;
    let p = dir.join("launches.csv");
    write_csv(&mut launches, &p)?;
    written.push(p);

    let mut kernels = tables::kernels_frame(trace, &analysis.launches).map_err(table_err("kernels.csv"))?;
    let p = dir.join("kernels.csv");
    write_csv(&mut kernels, &p)?;
    written.push(p);

    let r = &analysis.report;
    let windows: Vec<_> = std::iter::once(r.trace_window.clone()).chain(r.steps.iter().cloned()).collect();
    let mut steps_df = tables::windows_frame(&windows).map_err(table_err("steps.csv"))?;
    let p = dir.join("steps.csv");
    write_csv(&mut steps_df, &p)?;
    written.push(p);
    Ok(written)
}
