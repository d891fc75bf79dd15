//! The tables of one analysis, by file stem, for every tabular format (CSV,
//! Parquet): `launches` (one row per matched GPU activity), `kernels` (one row
//! per kernel name), `steps` (the whole trace, then each step). Columns are
//! documented in `docs/tables.md`.

use boundscope_analysis::{Analysis, tables};
use boundscope_trace::Trace;
use polars::prelude::{DataFrame, PolarsResult};

/// File stems of the tables, in the order they are written.
pub const TABLES: [&str; 3] = ["launches", "kernels", "steps"];

/// Builds table `stem` (one of [`TABLES`]).
pub fn analysis_frame(trace: &Trace, analysis: &Analysis, stem: &str) -> PolarsResult<DataFrame> {
    match stem {
        "launches" => {
            let steps: Vec<(i64, i64, i64)> = trace.steps.iter().map(|s| (s.number, s.start_ns, s.end_ns)).collect();
            tables::launches_frame(trace, &analysis.launches, &steps)
        }
        "kernels" => tables::kernels_frame(trace, &analysis.launches),
        _ => {
            let r = &analysis.report;
            let windows: Vec<_> = std::iter::once(r.trace_window.clone()).chain(r.steps.iter().cloned()).collect();
            tables::windows_frame(&windows)
        }
    }
}
