//! boundscope's reference workloads and simulated platforms.
//!
//! - [`model`]: Llama-3.2-1B, GPT-2 and BERT-base as published configurations,
//!   phases (prefill, decode, train), dtypes, and the `model:phase` names.
//! - [`stack`]: the `transformers` / PyTorch release whose code paths a
//!   lowering follows (`--stack transformers-4.45`).
//! - [`mod@lower`]: one step of a workload as the operator and kernel sequence
//!   eager PyTorch with Hugging Face `transformers` executes ([`Program`]).
//! - [`platform`]: simulated platforms (`sim:h100-pcie`, `sim:gh200`, ...)
//!   read from TOML files and validated.
//! - [`sim`]: the discrete-event executor that runs a program on a platform
//!   and emits a [`boundscope_trace::Trace`] labelled as simulated.
//! - [`whatif`]: rewrites of a program (fused patterns or chains, CUDA-graph
//!   capture) that check a piece of advice by simulation.
//! - [`calibrate`]: host and launch parameters fitted to recorded traces
//!   (`boundscope calibrate`).
//! - [`sweep`]: the points of a batch-size sweep on a simulated platform, as
//!   a runner of the sweep engine (`boundscope_analysis::sweep`).
//!
//! Every number this crate produces is a model output; `docs/simulator.md`
//! and `docs/workloads.md` say what the model is and where its inputs come from.

pub mod calibrate;
pub mod lower;
pub mod model;
pub mod platform;
pub mod program;
pub mod sim;
pub mod stack;
pub mod sweep;
pub mod whatif;

pub use lower::{Target, lower};
pub use model::{Dtype, MemoryEstimate, ModelConfig, Phase, Shape, WorkloadSpec};
pub use platform::{Platform, PlatformError};
pub use program::Program;
pub use sim::{SimError, SimRun, SimSpec, simulate};
pub use stack::Stack;
pub use whatif::{Pattern, WhatIf};

/// A workload that cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WorkloadError {
    #[error("unknown model '{given}'; valid models: {}", valid.join(", "))]
    UnknownModel { given: String, valid: Vec<&'static str> },
    #[error("{model} has no phase '{given}'; valid phases: {}", valid.join(", "))]
    UnknownPhase { model: &'static str, given: String, valid: Vec<&'static str> },
    #[error("unknown dtype '{given}'; valid dtypes: {}", valid.join(", "))]
    UnknownDtype { given: String, valid: Vec<&'static str> },
    #[error("unknown software stack '{given}'; valid stacks: {} (docs/workloads.md, versions)", valid.join(", "))]
    UnknownStack { given: String, valid: Vec<&'static str> },
    #[error("{0}")]
    BadShape(String),
}

/// Lowers `workload` at `shape` for `platform` and simulates it: the trace of
/// `spec.warmup_steps` warm-up and `spec.steps` measured steps.
pub fn run_point(
    workload: &WorkloadSpec,
    shape: Shape,
    platform: &Platform,
    spec: &SimSpec,
) -> Result<SimRun, PointError> {
    run_point_with(workload, shape, platform, spec, &|p| p)
}

/// [`run_point`] with the lowered program passed through `rewrite` (a what-if,
/// [`whatif`]) before it is simulated.
pub fn run_point_with(
    workload: &WorkloadSpec,
    shape: Shape,
    platform: &Platform,
    spec: &SimSpec,
    rewrite: &dyn Fn(Program) -> Program,
) -> Result<SimRun, PointError> {
    let need = workload.memory_estimate(shape);
    let have = platform.usable_memory_bytes();
    if need.total() > have {
        return Err(PointError::OutOfMemory {
            need_gib: need.total() as f64 / GIB,
            have_gib: have as f64 / GIB,
            platform: platform.id(),
        });
    }
    let program = rewrite(lower(workload, shape, platform.target(spec.dtype))?);
    Ok(simulate(&program, platform, spec)?)
}

/// Why one point could not be simulated.
#[derive(Debug, thiserror::Error)]
pub enum PointError {
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    #[error(transparent)]
    Sim(#[from] SimError),
    /// The step would not fit in the platform's memory (a model estimate).
    #[error(
        "out of memory (model): the step needs about {need_gib:.1} GiB and {platform} has {have_gib:.1} GiB usable \
         (docs/simulator.md, memory)"
    )]
    OutOfMemory { need_gib: f64, have_gib: f64, platform: String },
}

const GIB: f64 = (1u64 << 30) as f64;
