//! boundscope's outputs, each behind the [`Exporter`] trait:
//!
//! - [`chrome`]: Chrome trace JSON for Perfetto / chrome://tracing;
//! - [`csv`] and [`parquet`]: the per-launch, per-kernel and per-step tables;
//! - [`plots`]: SVG charts of one trace and of a batch-size sweep;
//! - [`markdown`]: `report.md`, the verdict, evidence and numbers with the plots;
//! - [`text`]: the terminal summary;
//! - [`output`]: the safe-write machinery they share (temporary name, then rename).

pub mod chrome;
pub mod csv;
pub mod exporters;
pub mod markdown;
pub mod output;
pub mod parquet;
pub mod plots;
pub mod tables;
pub mod text;

pub use exporters::{
    ChromeExporter, CsvExporter, ExportInput, Exporter, MarkdownExporter, ParquetExporter, PlotsExporter,
};
pub use output::{AtomicFile, ExportError, StreamedFile, ensure_writable_dir, ensure_writable_file};
