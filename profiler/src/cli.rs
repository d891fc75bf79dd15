//! Command-line definitions (clap stays in this crate; libraries take plain structs).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "boundscope", version, about = "Find where an LLM workload turns from CPU-bound to GPU-bound")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyze PyTorch profiler (Kineto) traces: launch and queuing metrics, CPU-/GPU-bound verdict.
    Analyze(AnalyzeArgs),
    /// Export a trace and its analysis: Chrome trace for Perfetto, CSV/Parquet tables, SVG plots, Markdown report.
    Export(ExportArgs),
    /// Sweep batch sizes of a reference workload (Llama-3.2-1B, GPT-2, BERT-base) on simulated
    /// platforms and report where each turns from CPU-bound to GPU-bound.
    Sweep(crate::sweep_cmd::SweepArgs),
    /// Fit a simulated platform's host and launch parameters to recorded traces and write it as a
    /// platform file (docs/simulator.md, calibration).
    Calibrate(crate::calibrate_cmd::CalibrateArgs),
    /// The kernels one step of a reference workload launches per framework operator, as lowered
    /// for a transformers release, beside a recorded trace's (docs/workloads.md).
    Lowering(crate::lowering_cmd::LoweringArgs),
    /// Run a program (`-- CMD ...`) with CUPTI injected and perf/NVML sampling, write a run
    /// directory as records arrive, then analyze it (docs/profile.md).
    Profile(crate::profile::ProfileArgs),
    /// Watch a workload live in the terminal: a replayed trace or run, or a simulated platform
    /// run (docs/tui.md); `--headless` writes JSON lines instead (docs/live-json.md).
    Top(crate::top::TopArgs),
    /// The held launcher of `profile` (internal).
    #[command(name = "__gate", hide = true)]
    Gate(crate::profile::GateArgs),
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Trace files (.json or .json.gz) or `boundscope profile` run directories; several are compared side by side.
    #[arg(required = true, value_name = "TRACE")]
    pub traces: Vec<PathBuf>,
    /// Focus on step N (ProfilerStep#N, or the N-th boundscope:step range).
    #[arg(long, value_name = "N", conflicts_with = "all_steps")]
    pub step: Option<i64>,
    /// Print one row per step.
    #[arg(long)]
    pub all_steps: bool,
    /// Rows in the top-kernels tables.
    #[arg(long, value_name = "K", default_value_t = 10)]
    pub top: usize,
    /// Print the JSON report (docs/json-schema.md) on stdout instead of the text summary.
    #[arg(long)]
    pub json: bool,
    /// Write CSV tables (launches.csv, kernels.csv, steps.csv) into DIR
    /// (one subdirectory per trace when several are given).
    #[arg(long, value_name = "DIR")]
    pub csv: Option<PathBuf>,
    /// Write the same tables as Parquet (launches.parquet, kernels.parquet, steps.parquet) into DIR
    /// (one subdirectory per trace when several are given).
    #[arg(long, value_name = "DIR")]
    pub parquet: Option<PathBuf>,
    /// Count memcpy/memset launches in TKLQT as well as kernels.
    #[arg(long)]
    pub include_mem: bool,
    /// Null-kernel launch latency of the platform in us (the CPU/GPU-bound queue threshold is twice this).
    #[arg(long, value_name = "US", default_value_t = 2.5)]
    pub launch_floor_us: f64,
    /// Smallest proximity score of a kernel chain suggested for fusion (0..1).
    #[arg(long, value_name = "PS", default_value_t = 0.9)]
    pub min_ps: f64,
    /// Treat warnings (malformed events, unmatched kernels, clock skew) as errors (exit code 3).
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("outputs").required(true).multiple(true)
    .args(["chrome", "csv", "parquet", "plots", "markdown"])))]
pub struct ExportArgs {
    /// Trace file (.json or .json.gz).
    #[arg(value_name = "TRACE")]
    pub trace: PathBuf,
    /// Write a Chrome trace for Perfetto / chrome://tracing (gzip-compressed when FILE ends in .gz).
    #[arg(long, value_name = "FILE")]
    pub chrome: Option<PathBuf>,
    /// Write CSV tables (launches.csv, kernels.csv, steps.csv) into DIR.
    #[arg(long, value_name = "DIR")]
    pub csv: Option<PathBuf>,
    /// Write Parquet tables (launches.parquet, kernels.parquet, steps.parquet) into DIR.
    #[arg(long, value_name = "DIR")]
    pub parquet: Option<PathBuf>,
    /// Write SVG plots (launch_to_start.svg, top_kernels.svg) into DIR.
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// Write a Markdown report embedding the plots (those of --plots, else drawn into STEM-plots/ beside FILE, STEM being FILE's name without extension).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Rows in the top-kernels tables and chart.
    #[arg(long, value_name = "K", default_value_t = 10)]
    pub top: usize,
    /// Count memcpy/memset launches in TKLQT as well as kernels.
    #[arg(long)]
    pub include_mem: bool,
    /// Null-kernel launch latency of the platform in us (the CPU/GPU-bound queue threshold is twice this).
    #[arg(long, value_name = "US", default_value_t = 2.5)]
    pub launch_floor_us: f64,
}
