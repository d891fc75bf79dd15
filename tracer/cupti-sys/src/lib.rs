//! Raw declarations of the CUPTI subset boundscope uses, and the loader that
//! finds `libcupti` at run time. Nothing here links against CUDA: the crate
//! builds and its tests run on machines without a GPU or a CUDA toolkit.
//!
//! - [`types`]: result codes, activity kinds, callback domains, function
//!   pointer types, as in `cupti_result.h`, `cupti_activity.h`, `cupti_callbacks.h`;
//! - [`records`]: the activity record layouts (`#[repr(C)]`), checked field by
//!   field against the headers of the PyPI CUPTI wheels by `tests/layout.rs`;
//! - [`versions`]: which record version a given `cuptiGetVersion` emits;
//! - [`loader`]: where `libcupti` is searched for, and the loaded function table.
//!
//! Interpreting records (turning them into boundscope's wire records) is not
//! done here: see `boundscope-inject`.

#![allow(unsafe_code)]
#![allow(non_camel_case_types, non_snake_case, non_upper_case_globals)]

pub mod loader;
pub mod records;
pub mod types;
pub mod versions;

pub use loader::{
    CHOSEN_FILE_ENV, CHOSEN_WHY_ENV, Candidate, Cupti, CuptiError, LoadError, Records, SearchSpec, Subscriber,
    candidates, probe_driver, strip_version,
};
pub use types::*;
pub use versions::{KernelRecord, NVTX_BROKEN_API_VERSION, RecordVersions};
