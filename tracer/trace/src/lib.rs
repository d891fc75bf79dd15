//! boundscope's trace model and readers.
//!
//! A [`Trace`] holds one columnar table per event class (API calls, GPU
//! activities, host ops, annotations, syncs, counters) with interned names and
//! integer nanoseconds on one clock. Every source goes through one
//! [`TraceBuilder`]: Kineto JSON ([`kineto`]), boundscope run files, the live
//! CUPTI stream and the simulator.

pub mod api;
pub mod builder;
pub mod diag;
pub mod error;
pub mod kineto;
pub mod model;
pub mod run;
pub mod sink;
pub mod strings;
pub mod time;

pub use builder::{
    ActivityIn, ApiCallIn, HostOpIn, MAX_ABS_TIME_NS, MAX_NAME_BYTES, STEP_NVTX_NAME, StreamRangeIn, TraceBuilder,
    profiler_step_number,
};
pub use diag::{Diagnostics, Location, Warning, WarningKind};
pub use error::{ReadError, ReadErrorKind};
pub use kineto::{read_kineto, read_kineto_bytes, read_kineto_chunked};
pub use model::*;
pub use sink::EventSink;
pub use strings::{StrId, StringTable};

/// Reads a trace file, choosing the reader from its content: a boundscope
/// run (directory or record stream, see [`run`]) or Kineto JSON.
pub fn read_trace(path: &std::path::Path) -> Result<Trace, ReadError> {
    if path.is_dir() || run::is_run(path) {
        return run::read_run(path).map(|(trace, _)| trace);
    }
    read_kineto(path)
}
