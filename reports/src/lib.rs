//! boundscope's outputs: CSV tables ([`csv`]), plain-text summaries
//! ([`text`]), and the safe-write machinery they share ([`output`]).

pub mod csv;
pub mod output;
pub mod text;

pub use output::{AtomicFile, ExportError, ensure_writable_dir, ensure_writable_file};
