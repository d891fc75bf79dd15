//! `boundscope sweep`: runs a reference workload over batch sizes on one or
//! more platforms, analyzes every point as it would a recorded trace, and
//! reports where each platform turns from CPU-bound to GPU-bound (both rules
//! of docs/metrics.md section 4) with the batch advice of section 5.
//!
//! This module owns the command's arguments and their translation into a
//! plain [`SweepSpec`], picks a runner per target ([`runners`]) for the sweep
//! engine (`boundscope_analysis::sweep::run_sweep`), and consumes the
//! engine's events: it rewrites `sweep.csv` and `sweep.json` atomically after
//! every point, so an interrupted sweep keeps every point finished before it;
//! prints a line per point and, at the end, the table and the plot
//! `sweep.svg`; or, with `--tui`, feeds the terminal UI ([`ui`]).
//!
//! A point runs on a target ([`Target`]): a simulated platform (`sim:*`,
//! `--platform-file`), whose numbers are model outputs and are labelled so
//! everywhere, with one Chrome trace per point
//! (`traces/<platform>-b<batch>.json.gz`); the local GPU (`--platform gpu`:
//! the reference runner `workloads/python/run_workload.py` under `boundscope
//! profile`); or the user's own command after `--`, with `{batch}` where the
//! batch size goes (see [`command`]). A point that fails is recorded with its
//! reason and the sweep goes on.

mod command;
mod runners;
mod ui;

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Write as _;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use boundscope_analysis::Bound;
use boundscope_analysis::sweep::{
    Crossing, PlatformSweep, PointRecord, PointRunner, SWEEP_SCHEMA, SweepDocument, SweepEvent, TransitionSpec, engine,
    sweep_csv,
};
use boundscope_reports::{AtomicFile, ensure_writable_dir};
use boundscope_workloads::{Dtype, Platform, Shape, SimSpec, Stack, WhatIf, WorkloadSpec};
use clap::Args;

use crate::Failure;
pub use command::CommandTarget;
use runners::{CommandPoints, SimTarget, WhatIfTarget};

/// Largest batch size accepted (the plot and tables take 32-bit batches).
const MAX_BATCH: u64 = 1 << 20;

/// Platforms swept when none is named and no GPU can run the workload.
const DEFAULT_PLATFORMS: [&str; 2] = ["sim:h100-pcie", "sim:gh200"];

/// The workload swept when none is named.
const DEFAULT_WORKLOAD: &str = "llama-3.2-1b:decode";
/// Measured and warm-up steps per point of a reference workload.
const DEFAULT_STEPS: u32 = 5;
const DEFAULT_WARMUP: u32 = 2;
/// Most measured steps per point: a simulated point keeps every step's events
/// in memory (a Llama-3.2-1B decode step is about a thousand kernels), and
/// medians settle within tens of steps.
const MAX_STEPS: u32 = 1_000;
/// Most warm-up steps per point: they are run (and held) only to be thrown away.
const MAX_WARMUP: u32 = 100;

/// The local GPU as a platform name.
const GPU: &str = "gpu";
/// The reference runner, written into the output directory for `--platform gpu`.
const RUNNER_FILE: &str = "run_workload.py";
const RUNNER: &str = include_str!("../../workloads/python/run_workload.py");
/// Null-kernel launch latency assumed for a real GPU whose platform is not known (us).
const REAL_LAUNCH_FLOOR_US: f64 = 2.5;

#[derive(Debug, Clone, Args)]
pub struct SweepArgs {
    /// Workload as MODEL:PHASE: llama-3.2-1b, gpt2 or bert-base with prefill, decode or train
    /// [default: llama-3.2-1b:decode].
    #[arg(long, value_name = "MODEL:PHASE")]
    pub workload: Option<String>,
    /// Batch sizes: a list (1,2,4) or a range doubling from its start (1..256 = 1,2,4,...,256).
    #[arg(long, value_name = "LIST|A..B", default_value = "1..256")]
    pub batch: String,
    /// Prompt length (prefill, train) or KV-cache length (decode); default depends on the workload.
    #[arg(long, value_name = "N")]
    pub seq: Option<u64>,
    /// Measured steps per point (the point's figures are medians over them) [default: 5; with a
    /// command: every step after the warm-up].
    #[arg(long, value_name = "N")]
    pub steps: Option<u32>,
    /// Warm-up steps per point, run first and left out of the figures [default: 2; with a
    /// command: 0].
    #[arg(long, value_name = "N")]
    pub warmup: Option<u32>,
    /// Platform(s): gpu (this machine's GPU, through `boundscope profile`), sim:a100-pcie,
    /// sim:h100-pcie, sim:gh200, sim:h200 (repeat or comma-separate for a side-by-side sweep).
    /// Default: gpu when a GPU with PyTorch is present, else sim:h100-pcie and sim:gh200.
    #[arg(long = "platform", value_name = "NAME", value_delimiter = ',')]
    pub platforms: Vec<String>,
    /// A simulated platform defined by a TOML file (see workloads/platforms/); repeatable.
    #[arg(long = "platform-file", value_name = "PATH")]
    pub platform_files: Vec<PathBuf>,
    /// Also run a what-if beside each simulated platform, at the same points and seed:
    /// fuse:PATTERN[,PATTERN...] (rmsnorm, layernorm, swiglu, gelu, rotary, softmax, bias-residual,
    /// adamw; fuse:all for every one), fuse:all-suggested (the advisor's chains at each point) or
    /// cuda-graphs. Repeat for several; each is a series labelled PLATFORM+WHATIF.
    #[arg(long = "what-if", value_name = "WHATIF")]
    pub what_if: Vec<String>,
    /// Element type of weights and activations: bf16 or fp16.
    #[arg(long, value_name = "DTYPE", default_value = "bf16")]
    pub dtype: String,
    /// The Hugging Face transformers release whose eager code paths the simulated lowering
    /// follows: transformers-4.45, transformers-4.49, transformers-4.54 or transformers-4.56
    /// (4.56 and newer), or a release number (4.50.2: the stack covering it) [default:
    /// transformers-4.56]. docs/workloads.md lists what changes.
    #[arg(long, value_name = "STACK")]
    pub stack: Option<String>,
    /// Seed of the simulator's jitter: the same seed gives the same numbers.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Multiplicative jitter of host costs and kernel times (log-standard-deviation; 0 for none).
    #[arg(long, value_name = "SIGMA", default_value_t = 0.03)]
    pub jitter: f64,
    /// TKLQT knee: the transition is where TKLQT reaches this multiple of its value at the smallest batch.
    #[arg(long, value_name = "X", default_value_t = 2.0)]
    pub knee_factor: f64,
    /// Latency objective per step, in ms: the advice names the largest batch within it.
    #[arg(long, value_name = "MS")]
    pub slo_ms: Option<f64>,
    /// Output directory: sweep.csv, sweep.json, sweep.svg, traces/.
    #[arg(long, value_name = "DIR", default_value = "boundscope-sweep")]
    pub out: PathBuf,
    /// Do not write a Chrome trace per simulated point.
    #[arg(long)]
    pub no_traces: bool,
    /// Your own program, after `--`, run once per batch size under `boundscope profile`, with
    /// `{batch}` replaced by the batch size; with `{trace}` in it, it is run as is and must write
    /// a PyTorch-profiler trace there. Steps are its `boundscope:step` NVTX ranges (or
    /// ProfilerStep#N), else the whole run is one step.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<OsString>,
    /// Watch the sweep in the terminal UI, point by point (screen 5, Sweep); q stops it after
    /// the current point. The files are written as without it; the table follows at the end.
    #[arg(long)]
    pub tui: bool,
    /// With --tui: draw with plain ASCII characters (no braille).
    #[arg(long, requires = "tui")]
    pub ascii: bool,
    /// A published study's setup, swept workload by workload into OUT/MODEL-PHASE/: ispass25
    /// (BERT-base at sequence 128 and Llama-3.2-1B prefill at 128, batch 1..64, on sim:a100-sxm,
    /// sim:h100-pcie and sim:gh200), with every transition at the grid's resolution at the end.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["workload", "platforms", "platform_files", "seq", "command"])]
    pub preset: Option<String>,
}

/// A published setup: its workloads (with their sequence lengths), batches and platforms.
struct Preset {
    name: &'static str,
    about: &'static str,
    workloads: &'static [(&'static str, u64)],
    batch: &'static str,
    platforms: &'static [&'static str],
}

/// The presets `--preset` knows. ispass25: the study of METRICS.md (Vellaisamy
/// et al., ISPASS 2025): its encoder model at sequence 128 and Llama-3.2-1B
/// prefill, batch 1..64, on its three machines; its XLM-RoBERTa-base is not a
/// reference workload here.
const PRESETS: &[Preset] = &[Preset {
    name: "ispass25",
    about: "BERT-base (seq 128) and Llama-3.2-1B prefill (seq 128), batch 1..64, on sim:a100-sxm, sim:h100-pcie, \
            sim:gh200 (the study's XLM-RoBERTa-base is not a reference workload)",
    workloads: &[("bert-base:prefill", 128), ("llama-3.2-1b:prefill", 128)],
    batch: "1..64",
    platforms: &["sim:a100-sxm", "sim:h100-pcie", "sim:gh200"],
}];

/// Runs every sweep of a preset, then prints the transitions side by side.
fn run_preset(args: &SweepArgs, name: &str) -> Result<(), Failure> {
    let Some(p) = PRESETS.iter().find(|p| p.name.eq_ignore_ascii_case(name)) else {
        let known: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
        return Err(Failure::input(anyhow!("unknown preset '{name}'; presets: {}", known.join(", "))));
    };
    eprintln!("boundscope: preset {}: {}", p.name, p.about);
    let mut summary =
        format!("\nPRESET {}: transitions at the batch grid's resolution (TKLQT knee / busy rule)\n", p.name);
    for &(workload, seq) in p.workloads {
        let mut a = args.clone();
        a.preset = None;
        a.workload = Some(workload.to_string());
        a.seq = Some(seq);
        a.batch = p.batch.to_string();
        a.platforms = p.platforms.iter().map(|s| s.to_string()).collect();
        a.out = args.out.join(workload.replace(':', "-"));
        let doc = run_one(&a)?;
        let _ = writeln!(summary, "  {workload} (seq {seq})");
        for ps in &doc.platforms {
            let Some(t) = &ps.transition else { continue };
            let _ = writeln!(
                summary,
                "    {:<16} knee {:>8}   busy {:>8}",
                ps.platform,
                t.knee.crossing.grid(),
                t.busy.crossing.grid()
            );
        }
    }
    std::io::stdout().lock().write_all(summary.as_bytes()).context("writing to stdout").map_err(Failure::input)
}

/// What a point runs on.
#[derive(Debug, Clone)]
pub enum Target {
    /// A simulated platform: the reference workload through the simulator.
    Sim(Box<Platform>),
    /// A real program: the reference runner on the local GPU, or the user's command.
    Run(CommandTarget),
}

impl Target {
    pub fn id(&self) -> String {
        match self {
            Target::Sim(p) => p.id(),
            Target::Run(c) => c.name.clone(),
        }
    }

    fn simulated(&self) -> bool {
        matches!(self, Target::Sim(_))
    }
}

/// Everything a sweep needs, decided and validated.
#[derive(Debug, Clone)]
pub struct SweepSpec {
    /// The reference workload; None for a sweep of the user's own command.
    pub workload: Option<WorkloadSpec>,
    pub seq: u64,
    pub batches: Vec<u64>,
    pub targets: Vec<Target>,
    /// Program rewrites run beside each simulated target (docs/simulator.md, what-if).
    pub what_ifs: Vec<WhatIf>,
    pub sim: SimSpec,
    pub transition: TransitionSpec,
    pub out: PathBuf,
    pub write_traces: bool,
    /// Simulated points run a few steps at a time and keep only per-step
    /// figures (no trace is exported or replayed).
    pub stream_points: bool,
}

pub fn run(args: &SweepArgs) -> Result<(), Failure> {
    match &args.preset {
        Some(name) => run_preset(args, name),
        None => run_one(args).map(|_| ()),
    }
}

/// One sweep: runs it, prints the table, returns its document.
fn run_one(args: &SweepArgs) -> Result<SweepDocument, Failure> {
    let spec = spec_from_args(args).map_err(Failure::input)?;
    if args.tui && !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        return Err(Failure::input(anyhow!(
            "--tui needs a terminal, and stdout is not one; leave --tui out to get a line per point and the table"
        )));
    }
    ensure_writable_dir(&spec.out).map_err(Failure::input)?;
    if spec.write_traces {
        ensure_writable_dir(&spec.out.join("traces")).map_err(Failure::input)?;
    }
    let what = match &spec.workload {
        Some(w) => format!("{} (seq {}, {})", w.name(), spec.seq, w.dtype.as_str()),
        None => format!("`{}`", command_line(&args.command)),
    };
    let simulated = if spec.targets.iter().any(Target::simulated) {
        "; simulated platforms are models (docs/simulator.md)"
    } else {
        ""
    };
    eprintln!(
        "boundscope: sweeping {what} over batch {} on {}{simulated}",
        spec.batches.iter().map(u64::to_string).collect::<Vec<_>>().join(","),
        spec.targets.iter().map(Target::id).collect::<Vec<_>>().join(", ")
    );
    let (doc, stopped) = if args.tui {
        ui::run(&spec, args.ascii)?
    } else {
        let doc = run_sweep(&spec, &mut |event, _| {
            if let Some(line) = progress_line(event) {
                eprintln!("{line}");
            }
            ControlFlow::Continue(())
        })?;
        (doc, false)
    };
    let plot = write_plot(&spec, &doc);
    let mut text = table(&doc);
    let _ = writeln!(text, "\nWritten to {}: sweep.csv, sweep.json", spec.out.display());
    match plot {
        Ok(Some(p)) => {
            let _ = writeln!(text, "  plot: {}", p.display());
        }
        Ok(None) => {}
        Err(e) => eprintln!("boundscope: warning: {e:#}"),
    }
    if doc.points().any(|p| p.trace.is_some()) {
        let _ = writeln!(text, "  one trace per point: see the `trace` column of sweep.csv");
    }
    if stopped {
        let ran = doc.points().count();
        let _ =
            writeln!(text, "  stopped from the UI after {ran} of {} points", doc.batches.len() * doc.platforms.len());
    }
    std::io::stdout().lock().write_all(text.as_bytes()).context("writing to stdout").map_err(Failure::input)?;
    if let Some(why) = nothing_succeeded(&doc, &spec.out.join("logs")) {
        if stopped {
            return Err(Failure::input(anyhow!("the sweep was stopped before any point succeeded")));
        }
        return Err(Failure::input(anyhow!(why)));
    }
    Ok(doc)
}

/// The error of a sweep in which no point succeeded, `None` if one did. It
/// points at the table only when the table has rows that give reasons.
fn nothing_succeeded(doc: &SweepDocument, logs: &Path) -> Option<String> {
    let points: Vec<&PointRecord> = doc.points().collect();
    if points.iter().any(|p| p.status.is_ok()) {
        return None;
    }
    Some(if points.is_empty() {
        "nothing ran: the sweep has no point (no target or no batch size to run); give --batch and a target".into()
    } else if points.iter().any(|p| p.error.is_some()) {
        format!(
            "no point of the sweep succeeded: the reasons are in the table above (and the programs' output in {})",
            logs.display()
        )
    } else {
        format!("no point of the sweep succeeded (the programs' output is in {})", logs.display())
    })
}

fn command_line(cmd: &[OsString]) -> String {
    cmd.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")
}

/// Turns the arguments into a validated [`SweepSpec`]; errors list the valid choices.
pub fn spec_from_args(args: &SweepArgs) -> anyhow::Result<SweepSpec> {
    let batches = parse_batches(&args.batch)?;
    if let Some(n) = args.steps
        && !(1..=MAX_STEPS).contains(&n)
    {
        return Err(anyhow!(
            "--steps must be between 1 and {MAX_STEPS}, got {n} (every step of a point is held in memory; \
             medians settle within tens of steps)"
        ));
    }
    if let Some(n) = args.warmup
        && n > MAX_WARMUP
    {
        return Err(anyhow!("--warmup must be between 0 and {MAX_WARMUP}, got {n} (warm-up steps are thrown away)"));
    }
    if !(args.jitter.is_finite() && (0.0..1.0).contains(&args.jitter)) {
        return Err(anyhow!("--jitter must be at least 0 and below 1 (0.03 is about 3%), got {}", args.jitter));
    }
    if !(args.knee_factor.is_finite() && args.knee_factor > 1.0) {
        return Err(anyhow!("--knee-factor must be a number above 1 (default 2), got {}", args.knee_factor));
    }
    if let Some(slo) = args.slo_ms
        && !(slo.is_finite() && slo > 0.0)
    {
        return Err(anyhow!("--slo-ms must be a positive number of milliseconds, got {slo}"));
    }
    let dtype = Dtype::parse(&args.dtype)?;
    let transition = TransitionSpec { knee_factor: args.knee_factor, slo_ms: args.slo_ms, ..TransitionSpec::default() };
    let steps = args.steps.unwrap_or(DEFAULT_STEPS);
    let warmup = args.warmup.unwrap_or(DEFAULT_WARMUP);
    let sim = SimSpec { warmup_steps: warmup, steps, seed: args.seed, jitter: args.jitter, dtype, trace_name: None };

    if !args.command.is_empty() {
        // The user's program is the workload and this machine the platform.
        let misplaced = [
            (args.workload.is_some(), "--workload"),
            (args.seq.is_some(), "--seq"),
            (!args.platforms.is_empty(), "--platform"),
            (!args.platform_files.is_empty(), "--platform-file"),
            (!args.what_if.is_empty(), "--what-if"),
            (args.stack.is_some(), "--stack"),
        ];
        if let Some((_, flag)) = misplaced.iter().find(|(given, _)| *given) {
            return Err(anyhow!(
                "{flag} does not apply to a sweep of your own command (the command is the workload and this \
                 machine the platform); put such settings in the command, next to {{batch}}"
            ));
        }
        let kineto = args.command.iter().any(|a| a.to_string_lossy().contains(command::TRACE));
        let target = CommandTarget {
            name: "cmd".into(),
            description: "your command, on this machine".into(),
            template: args.command.clone(),
            kineto,
            skip_steps: args.warmup.unwrap_or(0),
            max_steps: args.steps,
        };
        target.check().map_err(|e| anyhow!(e))?;
        if kineto && args.warmup.is_some() {
            return Err(anyhow!(
                "--warmup does not apply when the command writes its own trace ({{trace}}): its profiler \
                 schedule decides which steps are recorded"
            ));
        }
        return Ok(SweepSpec {
            workload: None,
            seq: 0,
            batches,
            targets: vec![Target::Run(target)],
            what_ifs: Vec::new(),
            sim,
            transition,
            out: args.out.clone(),
            write_traces: false,
            stream_points: false,
        });
    }

    let name = args.workload.as_deref().unwrap_or(DEFAULT_WORKLOAD);
    let stack = args.stack.as_deref().map(Stack::parse).transpose()?.unwrap_or_default();
    let workload = WorkloadSpec::parse(name, dtype)
        .map_err(|e| anyhow!("{e}\n  workloads: {}", WorkloadSpec::all_names().join(", ")))?
        .with_stack(stack);
    let seq = args.seq.unwrap_or_else(|| workload.default_seq());
    // Every point must fit the model; say so before running any.
    for &batch in &batches {
        workload.check_shape(Shape { batch, seq })?;
    }
    let gpu = || gpu_target(&workload, seq, steps, warmup, &args.out);
    // A real run uses the installed releases, which its runner records.
    let stack_on_real = || {
        anyhow!(
            "--stack chooses the code paths of the simulated lowering; a run on this machine's GPU uses the \
             installed transformers and PyTorch (run_workload.py prints and records their versions): drop \
             --stack or name sim:* platforms only"
        )
    };
    if args.stack.is_some() && args.platforms.iter().any(|p| p.trim().eq_ignore_ascii_case(GPU)) {
        return Err(stack_on_real());
    }
    let targets = targets(&args.platforms, &args.platform_files, gpu)?;
    if args.stack.is_some() && targets.iter().any(|t| !t.simulated()) {
        return Err(stack_on_real());
    }
    let what_ifs =
        args.what_if.iter().map(|s| WhatIf::parse(s).map_err(|e| anyhow!(e))).collect::<Result<Vec<_>, _>>()?;
    if !what_ifs.is_empty() && !targets.iter().any(Target::simulated) {
        return Err(anyhow!(
            "--what-if rewrites the simulated program, so it needs a simulated platform: {}",
            Platform::builtin_ids().join(", ")
        ));
    }
    Ok(SweepSpec {
        workload: Some(workload),
        seq,
        batches,
        targets,
        what_ifs,
        sim,
        transition,
        out: args.out.clone(),
        write_traces: !args.no_traces,
        stream_points: args.no_traces && !args.tui,
    })
}

/// `1,2,4` (sorted, duplicates dropped) or `A..B`: A, 2A, 4A, ... up to B.
pub fn parse_batches(s: &str) -> anyhow::Result<Vec<u64>> {
    let usage = || {
        anyhow!(
            "malformed --batch '{s}': expected a list of batch sizes like 1,2,4,8 or a range like 1..256 \
             (doubling from its start: 1,2,4,...,256), each between 1 and {MAX_BATCH}"
        )
    };
    let num = |t: &str| -> anyhow::Result<u64> {
        match t.trim().parse::<u64>() {
            Ok(n) if (1..=MAX_BATCH).contains(&n) => Ok(n),
            _ => Err(usage()),
        }
    };
    let mut out = if let Some((a, b)) = s.split_once("..") {
        let (a, b) = (num(a)?, num(b.trim_start_matches('='))?);
        if a > b {
            return Err(usage());
        }
        std::iter::successors(Some(a), |&x| x.checked_mul(2)).take_while(|&x| x <= b).collect::<Vec<_>>()
    } else {
        s.split(',').map(num).collect::<anyhow::Result<Vec<_>>>()?
    };
    out.sort_unstable();
    out.dedup();
    if out.is_empty() {
        return Err(usage());
    }
    Ok(out)
}

/// The reference runner on this machine's GPU, run under `boundscope profile`.
fn gpu_target(w: &WorkloadSpec, seq: u64, steps: u32, warmup: u32, out: &Path) -> CommandTarget {
    let runner = std::path::absolute(out.join(RUNNER_FILE)).unwrap_or_else(|_| out.join(RUNNER_FILE));
    let mut template: Vec<OsString> = vec!["python3".into(), runner.into()];
    for (flag, value) in [
        ("--model", w.model.id.to_string()),
        ("--phase", w.phase.as_str().to_string()),
        ("--batch", command::BATCH.to_string()),
        ("--seq", seq.to_string()),
        ("--steps", steps.to_string()),
        ("--warmup", warmup.to_string()),
        ("--dtype", w.dtype.as_str().to_string()),
    ] {
        template.push(flag.into());
        template.push(value.into());
    }
    CommandTarget {
        name: GPU.into(),
        description: "this machine's GPU: workloads/python/run_workload.py (PyTorch + transformers) under \
                      boundscope profile"
            .into(),
        template,
        kineto: false,
        skip_steps: warmup,
        max_steps: Some(steps),
    }
}

/// Whether the reference runner can run on a local GPU, and why not.
fn gpu_usable() -> Result<(), String> {
    cupti_sys::probe_driver().map_err(|e| format!("no NVIDIA driver (libcuda.so.1: {e})"))?;
    let probe = std::process::Command::new("python3")
        .args(["-c", "import sys, torch, transformers; sys.exit(0 if torch.cuda.is_available() else 3)"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    match probe {
        Ok(s) if s.success() => Ok(()),
        Ok(s) if s.code() == Some(3) => Err("PyTorch sees no CUDA device".into()),
        Ok(_) => Err("python3 cannot import torch and transformers (pip install torch transformers)".into()),
        Err(e) => Err(format!("python3 cannot be run: {e}")),
    }
}

/// The targets named on the command line, else the local GPU when the
/// runner can use it, else the default simulated pair.
fn targets(names: &[String], files: &[PathBuf], gpu: impl Fn() -> CommandTarget) -> anyhow::Result<Vec<Target>> {
    let mut out: Vec<Target> = Vec::new();
    let names: Vec<&str> = if names.is_empty() && files.is_empty() {
        match gpu_usable() {
            Ok(()) => vec![GPU],
            Err(why) => {
                eprintln!("boundscope: no local GPU run ({why}); sweeping simulated platforms");
                DEFAULT_PLATFORMS.to_vec()
            }
        }
    } else {
        names.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect()
    };
    for name in names {
        if name.eq_ignore_ascii_case(GPU) {
            gpu_usable().map_err(|why| {
                anyhow!(
                    "platform 'gpu' cannot run here: {why}; use a simulated platform: {}",
                    Platform::builtin_ids().join(", ")
                )
            })?;
            out.push(Target::Run(gpu()));
            continue;
        }
        out.push(Target::Sim(Box::new(Platform::builtin(name).map_err(|e| anyhow!("{e} (or gpu)"))?)));
    }
    for path in files {
        out.push(Target::Sim(Box::new(Platform::load(path)?)));
    }
    let key = |t: &Target| match t {
        Target::Sim(p) => p.spec.name.clone(),
        Target::Run(c) => c.name.clone(),
    };
    let origin = |t: &Target| match t {
        Target::Sim(p) => p.origin.clone(),
        Target::Run(_) => "the local GPU".into(),
    };
    for (i, t) in out.iter().enumerate() {
        if let Some(q) = out[..i].iter().find(|q| key(q) == key(t)) {
            return Err(anyhow!(
                "platform {} is given twice ({} and {}); give each platform once (a platform file's `name` must \
                 differ from the others')",
                t.id(),
                origin(q),
                origin(t)
            ));
        }
    }
    Ok(out)
}

/// The sweep's settings as `sweep.json` records them (its series come from the runners).
fn document(spec: &SweepSpec) -> SweepDocument {
    let unit = spec.workload.as_ref().map_or("samples/s", WorkloadSpec::throughput_unit).to_string();
    let any_sim = spec.targets.iter().any(Target::simulated);
    let any_real = spec.targets.iter().any(|t| !t.simulated());
    let note = match (any_sim, any_real) {
        (true, false) => {
            "simulated platforms: every number is the output of a model (docs/simulator.md), not a measurement"
        }
        (true, true) => "sim:* platforms are models (docs/simulator.md); the others are measurements",
        _ => "measurements of real runs",
    };
    // What each point is asked to run: the reference workload's counts, or
    // what a command sweep hands to `boundscope profile` (every step after
    // the warm-up unless --steps; a command writing its own trace decides).
    let (steps, warmup) = match (&spec.workload, spec.targets.first()) {
        (None, Some(Target::Run(c))) => (c.max_steps, (!c.kineto).then_some(c.skip_steps)),
        _ => (Some(spec.sim.steps), Some(spec.sim.warmup_steps)),
    };
    SweepDocument {
        schema: SWEEP_SCHEMA,
        note: note.into(),
        workload: match (&spec.workload, spec.targets.first()) {
            (Some(w), _) => w.name(),
            (None, Some(Target::Run(c))) => command_line(&c.template),
            (None, _) => String::new(),
        },
        model_config: spec.workload.as_ref().map_or(String::new(), |w| w.model.hf_config.to_string()),
        dtype: spec.workload.as_ref().map_or(String::new(), |w| w.dtype.as_str().to_string()),
        stack: spec.workload.as_ref().filter(|_| any_sim).map(|w| w.stack.id().to_string()),
        seq: spec.seq,
        batches: spec.batches.clone(),
        steps,
        warmup,
        seed: spec.sim.seed,
        jitter: spec.sim.jitter,
        knee_factor: spec.transition.knee_factor,
        slo_ms: spec.transition.slo_ms,
        throughput_unit: unit,
        platforms: Vec::new(),
    }
}

/// Runs every point of `spec` through the sweep engine with one runner per
/// target, rewriting `sweep.csv` and `sweep.json` after each point (before
/// `consumer` hears of its transition); `consumer` gets every event and may
/// stop the sweep after the current point.
pub fn run_sweep(
    spec: &SweepSpec,
    consumer: &mut dyn FnMut(&SweepEvent<'_>, &SweepDocument) -> ControlFlow<()>,
) -> Result<SweepDocument, Failure> {
    run_sweep_interruptible(spec, None, consumer)
}

/// [`run_sweep`], where `interrupt` stops the program of a command point
/// while it runs (the point is then recorded as failed, "interrupted"); the
/// consumer still decides whether the sweep goes on.
pub fn run_sweep_interruptible(
    spec: &SweepSpec,
    interrupt: Option<&command::Interrupt>,
    consumer: &mut dyn FnMut(&SweepEvent<'_>, &SweepDocument) -> ControlFlow<()>,
) -> Result<SweepDocument, Failure> {
    if spec.targets.iter().any(|t| matches!(t, Target::Run(c) if c.name == GPU)) {
        write_atomic(&spec.out.join(RUNNER_FILE), RUNNER.as_bytes()).map_err(Failure::input)?;
    }
    let mut runners: Vec<Box<dyn PointRunner<Error = Failure>>> = Vec::new();
    for t in &spec.targets {
        runners.push(match t {
            Target::Sim(p) => Box::new(SimTarget::new(spec, p)?),
            Target::Run(c) => Box::new(CommandPoints::new(spec, c, interrupt.cloned())),
        });
        // Each what-if right after its platform's baseline.
        if let Target::Sim(p) = t {
            for w in &spec.what_ifs {
                runners.push(Box::new(WhatIfTarget::new(spec, p, w.clone())?));
            }
        }
    }
    // Shortens each runner's trait-object lifetime to the borrow's.
    let mut refs: Vec<&mut dyn PointRunner<Error = Failure>> =
        runners.iter_mut().map(|r| -> &mut dyn PointRunner<Error = Failure> { &mut **r }).collect();
    let doc = engine::run_sweep(document(spec), &spec.transition, &mut refs, &mut |event, doc| {
        if let SweepEvent::TransitionUpdated { .. } = event {
            write_results(&spec.out, doc).map_err(Failure::input)?;
        }
        Ok(consumer(event, doc))
    })?;
    Ok(doc)
}

/// The terminal's line for a point that ended.
fn progress_line(event: &SweepEvent<'_>) -> Option<String> {
    let (r, secs) = match event {
        SweepEvent::PointFinished { record, elapsed, .. } | SweepEvent::PointFailed { record, elapsed, .. } => {
            (*record, elapsed.as_secs_f64())
        }
        _ => return None,
    };
    Some(match &r.error {
        Some(e) => format!("  [{}] batch {:>5}: failed: {e}", r.platform, r.batch),
        None => format!(
            "  [{}] batch {:>5}: {:>9.3} ms/step, {:>12.1} {}, TKLQT {:>10.3} ms, GPU busy {:>5.1}%, {} ({:.2} s)",
            r.platform,
            r.batch,
            r.latency_ms,
            r.throughput,
            r.throughput_unit,
            r.tklqt_ns / 1e6,
            r.busy_frac.unwrap_or(0.0) * 100.0,
            r.verdict.map_or("-", Bound::as_str),
            secs
        ),
    })
}

/// Rewrites `sweep.csv` and `sweep.json` (each atomically).
fn write_results(out: &Path, doc: &SweepDocument) -> anyhow::Result<()> {
    let mut json = serde_json::to_string_pretty(doc).context("serializing sweep.json")?;
    json.push('\n');
    write_atomic(&out.join("sweep.json"), json.as_bytes())?;
    write_atomic(&out.join("sweep.csv"), sweep_csv(doc).as_bytes())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes).with_context(|| format!("writing {}", path.display()))?;
    f.commit()?;
    Ok(())
}

/// Draws `sweep.svg` (latency, throughput, TKLQT, busy against batch).
fn write_plot(spec: &SweepSpec, doc: &SweepDocument) -> anyhow::Result<Option<PathBuf>> {
    use boundscope_reports::plots::{SweepPlotPoint, SweepSeries, SweepTransition, write_sweep_plot};
    // INTEGRATION: the SVG sweep plot (reports/src/plots.rs).
    let series: Vec<SweepSeries> = doc
        .platforms
        .iter()
        .map(|p| SweepSeries {
            platform: p.platform.clone(),
            simulated: p.simulated,
            points: p
                .points
                .iter()
                .filter(|r| r.status.is_ok())
                .map(|r| SweepPlotPoint {
                    batch: u32::try_from(r.batch).unwrap_or(u32::MAX),
                    latency_ms: r.latency_ms,
                    throughput: r.throughput,
                    throughput_unit: r.throughput_unit.clone(),
                    tklqt_ms: r.tklqt_ns / 1e6,
                    busy_frac: r.busy_frac.unwrap_or(f64::NAN),
                })
                .collect(),
            transition: p
                .transition
                .as_ref()
                .filter(|_| p.points.iter().any(|r| r.status.is_ok()))
                .map(|t| SweepTransition { knee: t.knee.crossing.clone(), busy: t.busy.crossing.clone() }),
        })
        .collect();
    if series.iter().all(|s| s.points.is_empty()) {
        return Ok(None);
    }
    let path = spec.out.join("sweep.svg");
    let title = match &spec.workload {
        Some(_) if series.iter().all(|s| s.simulated) => {
            format!("{} (seq {}, {}) — simulated", doc.workload, doc.seq, doc.dtype)
        }
        Some(_) => format!("{} (seq {}, {})", doc.workload, doc.seq, doc.dtype),
        None => doc.workload.clone(),
    };
    write_sweep_plot(&path, &title, &series)?;
    Ok(Some(path))
}

/// The terminal summary: one table per platform, the transition by both rules, the advice.
pub fn table(doc: &SweepDocument) -> String {
    let mut s = String::new();
    if doc.dtype.is_empty() {
        let _ = writeln!(s, "\n{}", doc.workload);
    } else {
        let _ = writeln!(
            s,
            "\n{} (seq {}, {}), {} measured steps per point after {} warm-up",
            doc.workload,
            doc.seq,
            doc.dtype,
            doc.steps.map_or_else(|| "every".to_string(), |n| n.to_string()),
            doc.warmup.map_or_else(|| "the program's".to_string(), |n| n.to_string())
        );
    }
    if doc.platforms.iter().any(|p| p.simulated) {
        let _ = writeln!(s, "MODEL OUTPUT: {}", doc.note);
    }
    for p in &doc.platforms {
        let _ = writeln!(s, "\n{} — {}", p.platform, p.description);
        let _ = writeln!(
            s,
            "{:>6} {:>10} {:>13} {:>11} {:>9} {:>7} {:>10} {:>8}  verdict",
            "batch", "step ms", &doc.throughput_unit, "TKLQT ms", "l2s us", "busy %", "queue us", "kernels"
        );
        for r in &p.points {
            if let Some(e) = &r.error {
                let _ = writeln!(s, "{:>6}  failed: {e}", r.batch);
                continue;
            }
            if let Some(n) = &r.note {
                let _ = writeln!(s, "{:>6}  note: {n}", r.batch);
            }
            let _ = writeln!(
                s,
                "{:>6} {:>10.3} {:>13.1} {:>11.3} {:>9.2} {:>7.1} {:>10.2} {:>8.0}  {}",
                r.batch,
                r.latency_ms,
                r.throughput,
                r.tklqt_ns / 1e6,
                r.mean_launch_to_start_ns / 1e3,
                r.busy_frac.unwrap_or(0.0) * 100.0,
                r.queue_p50_ns / 1e3,
                r.kernels_per_step,
                r.verdict.map_or("-", Bound::as_str)
            );
        }
        if let Some(t) = p.transition.as_ref().filter(|_| p.points.iter().any(|r| r.status.is_ok())) {
            let _ = writeln!(
                s,
                "transition: TKLQT knee (>= {:.3} ms, {}x batch {}): {}",
                t.knee.threshold / 1e6,
                doc.knee_factor,
                p.points.iter().find(|r| r.status.is_ok()).map_or(0, |r| r.batch),
                t.knee.crossing.describe()
            );
            let _ = writeln!(
                s,
                "            busy rule (GPU busy >= {:.0}%): {}",
                t.busy.threshold * 100.0,
                t.busy.crossing.describe()
            );
            let _ = writeln!(s, "            {}", t.summary);
            for n in &t.advice.notes {
                let _ = writeln!(s, "advice: {n}");
            }
        }
    }
    what_if_table(&mut s, doc);
    if doc.platforms.len() > 1 {
        let _ = writeln!(s, "\nSIDE BY SIDE (where each platform turns GPU-bound)");
        let width = doc.platforms.iter().map(|p| p.platform.chars().count()).max().unwrap_or(0).max(18);
        for p in &doc.platforms {
            let Some(t) = &p.transition else { continue };
            let at = Crossing::grid;
            let _ = writeln!(
                s,
                "  {:<width$} knee {:>8}   busy {:>8}   {}",
                p.platform,
                at(&t.knee.crossing),
                at(&t.busy.crossing),
                if t.agree { "rules agree" } else { "rules disagree" }
            );
        }
    }
    s
}

/// Each what-if series (`PLATFORM+WHATIF`) beside its baseline, point by
/// point, and where the transition moves.
fn what_if_table(s: &mut String, doc: &SweepDocument) {
    let pairs: Vec<(&PlatformSweep, &PlatformSweep)> = doc
        .platforms
        .iter()
        .filter_map(|w| {
            let (base, _) = w.platform.split_once('+')?;
            Some((doc.platforms.iter().find(|b| b.platform == base)?, w))
        })
        .collect();
    if pairs.is_empty() {
        return;
    }
    let _ = writeln!(s, "\nWHAT-IF (simulated: the same points and seed, the program rewritten; docs/simulator.md)");
    for (b, w) in pairs {
        let _ = writeln!(s, "\n{} against {}", w.platform, b.platform);
        let _ = writeln!(
            s,
            "{:>6} {:>10} {:>10} {:>10} {:>8} {:>13} {:>13} {:>7} {:>7}",
            "batch", "base ms", "what-if ms", "saving ms", "speed-up", "base tput", "what-if tput", "busy %", "busy %"
        );
        for r in w.points.iter().filter(|r| r.status.is_ok()) {
            let Some(o) = b.points.iter().find(|o| o.batch == r.batch && o.status.is_ok()) else { continue };
            let _ = writeln!(
                s,
                "{:>6} {:>10.3} {:>10.3} {:>10.3} {:>7.2}x {:>13.1} {:>13.1} {:>7.1} {:>7.1}",
                r.batch,
                o.latency_ms,
                r.latency_ms,
                o.latency_ms - r.latency_ms,
                if r.latency_ms > 0.0 { o.latency_ms / r.latency_ms } else { f64::NAN },
                o.throughput,
                r.throughput,
                o.busy_frac.unwrap_or(0.0) * 100.0,
                r.busy_frac.unwrap_or(0.0) * 100.0
            );
        }
        if let (Some(tb), Some(tw)) = (&b.transition, &w.transition) {
            let at = Crossing::grid;
            let _ = writeln!(
                s,
                "transition: TKLQT knee {} -> {}, busy rule {} -> {}",
                at(&tb.knee.crossing),
                at(&tw.knee.crossing),
                at(&tb.busy.crossing),
                at(&tw.busy.crossing)
            );
        }
        let _ = writeln!(s, "(each point's note, above, has the advisor's estimate from the baseline trace)");
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_sweep_with_no_point_does_not_point_at_a_table() {
        let logs = Path::new("out/logs");
        let mut doc = SweepDocument {
            schema: SWEEP_SCHEMA,
            note: String::new(),
            workload: "w".into(),
            model_config: String::new(),
            stack: None,
            dtype: String::new(),
            seq: 0,
            batches: vec![],
            steps: Some(1),
            warmup: Some(0),
            seed: 0,
            jitter: 0.0,
            knee_factor: 2.0,
            slo_ms: None,
            throughput_unit: "samples/s".into(),
            platforms: vec![],
        };
        let e = nothing_succeeded(&doc, logs).expect("an error");
        assert!(e.starts_with("nothing ran") && !e.contains("table"), "{e}");
        doc.platforms.push(PlatformSweep {
            platform: "p".into(),
            description: String::new(),
            origin: String::new(),
            simulated: true,
            points: vec![],
            transition: None,
        });
        assert!(nothing_succeeded(&doc, logs).expect("an error").starts_with("nothing ran"));
    }

    use super::*;
    use boundscope_analysis::sweep::CSV_COLUMNS;
    use boundscope_analysis::{AnalysisSpec, WindowSpec, analyze};

    fn args(out: &Path) -> SweepArgs {
        SweepArgs {
            workload: Some("llama-3.2-1b:decode".into()),
            batch: "1..256".into(),
            seq: None,
            steps: Some(3),
            warmup: Some(1),
            platforms: Vec::new(),
            platform_files: Vec::new(),
            dtype: "bf16".into(),
            stack: None,
            seed: 1,
            jitter: 0.03,
            knee_factor: 2.0,
            slo_ms: None,
            out: out.to_path_buf(),
            what_if: Vec::new(),
            no_traces: true,
            command: Vec::new(),
            tui: false,
            ascii: false,
            preset: None,
        }
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("bs-sweep-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn err(a: &SweepArgs) -> String {
        spec_from_args(a).err().map(|e| format!("{e:#}")).unwrap_or_else(|| "accepted".into())
    }

    #[test]
    fn batch_lists_and_ranges() {
        assert_eq!(parse_batches("1..256").ok(), Some(vec![1, 2, 4, 8, 16, 32, 64, 128, 256]));
        assert_eq!(parse_batches("3..50").ok(), Some(vec![3, 6, 12, 24, 48]));
        assert_eq!(parse_batches("8,1, 4,4").ok(), Some(vec![1, 4, 8]));
        for bad in ["", "0", "1..", "a,b", "8..2", "1,,2", "-1", "1..2..4"] {
            let e = parse_batches(bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains("malformed --batch") && e.contains("1..256"), "{bad}: {e}");
        }
    }

    #[test]
    fn step_counts_have_upper_bounds() {
        let out = tmp("bounds");
        let mut a = args(&out);
        for (steps, warmup, want) in [
            (Some(0), None, "--steps must be between 1 and 1000, got 0"),
            (Some(1_000_000), None, "--steps must be between 1 and 1000, got 1000000"),
            (Some(u32::MAX), None, "--steps must be between 1 and 1000"),
            (None, Some(101), "--warmup must be between 0 and 100, got 101"),
            (None, Some(u32::MAX), "--warmup must be between 0 and 100"),
        ] {
            (a.steps, a.warmup) = (steps, warmup);
            let e = err(&a);
            assert!(e.contains(want), "{steps:?} {warmup:?}: {e}");
        }
        (a.steps, a.warmup) = (Some(MAX_STEPS), Some(MAX_WARMUP));
        assert_eq!(err(&a), "accepted");
    }

    #[test]
    fn bad_input_lists_the_valid_choices() {
        let out = tmp("bad");
        let mut a = args(&out);
        a.workload = Some("llama-70b:decode".into());
        let e = err(&a);
        assert!(e.contains("llama-3.2-1b:decode") && e.contains("bert-base:train"), "{e}");
        a.workload = Some("bert-base:decode".into());
        let e = err(&a);
        assert!(e.contains("valid phases: prefill, train"), "{e}");
        a.workload = Some("gpt2:decode".into());
        a.seq = Some(4096);
        assert!(err(&a).contains("at most 1024 positions"));
        let mut a = args(&out);
        a.platforms = vec!["sim:b200".into()];
        let e = err(&a);
        assert!(e.contains("sim:h100-pcie") && e.contains("sim:gh200"), "{e}");
        a.platforms = vec!["gpu".into()];
        let e = err(&a);
        match gpu_usable() {
            Err(why) => {
                assert!(e.contains("'gpu' cannot run here") && e.contains(&why) && e.contains("sim:a100-pcie"), "{e}")
            }
            Ok(()) => assert_eq!(e, "accepted"),
        }
        a.platforms = vec!["sim:gh200".into(), "gh200".into()];
        assert!(err(&a).contains("given twice"));
        let mut a = args(&out);
        a.dtype = "fp8".into();
        assert!(err(&a).contains("bf16, fp16"));
        let mut a = args(&out);
        a.knee_factor = 1.0;
        assert!(err(&a).contains("--knee-factor"));
        let mut a = args(&out);
        a.platform_files = vec![out.join("missing.toml")];
        assert!(err(&a).contains("missing.toml"));
        let mut a = args(&out);
        a.stack = Some("transformers-4.40".into());
        let e = err(&a);
        assert!(e.contains("transformers-4.45") && e.contains("transformers-4.56"), "{e}");
        // A real run uses the installed releases: --stack is refused beside one.
        a.stack = Some("4.45".into());
        a.platforms = vec!["gpu".into()];
        let e = err(&a);
        assert!(e.contains("--stack chooses the code paths of the simulated lowering"), "{e}");
    }

    #[test]
    fn command_sweeps_reject_reference_workload_flags() {
        let out = tmp("cmdflags");
        let mut a = args(&out);
        a.command = vec!["serve".into(), "--batch-size".into(), "{batch}".into()];
        let e = err(&a);
        assert!(e.contains("--workload does not apply"), "{e}");
        a.workload = None;
        a.warmup = None;
        a.steps = None;
        assert_eq!(err(&a), "accepted");
        a.platforms = vec!["sim:gh200".into()];
        assert!(err(&a).contains("--platform does not apply"));
        a.platforms.clear();
        a.stack = Some("4.45".into());
        assert!(err(&a).contains("--stack does not apply"));
        a.stack = None;
        a.command = vec!["serve".into(), "--batch-size".into(), "8".into()];
        assert!(err(&a).contains("{batch}"));
        a.command = vec!["serve".into(), "{batch}".into(), "--trace".into(), "{trace}".into()];
        a.warmup = Some(2);
        assert!(err(&a).contains("--warmup does not apply"));
    }

    #[test]
    fn a_command_sweep_records_failed_points_and_goes_on() {
        let out = tmp("cmdsweep");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/traces/a100_ddp_train.json.gz");
        let mut a = args(&out);
        a.workload = None;
        a.warmup = None;
        a.steps = None;
        a.batch = "1..4".into();
        let script =
            "if [ $1 -gt 2 ]; then echo \"CUDA out of memory at batch $1\" >&2; exit 1; fi; gzip -dc \"$0\" > \"$2\"";
        a.command = ["sh", "-c", script, &src.to_string_lossy(), "{batch}", "{trace}"].map(OsString::from).to_vec();
        let spec = match spec_from_args(&a) {
            Ok(s) => s,
            Err(e) => panic!("{e:#}"),
        };
        assert!(ensure_writable_dir(&out).is_ok());
        let doc = match run_sweep(&spec, &mut |_, _| ControlFlow::Continue(())) {
            Ok(d) => d,
            Err(f) => panic!("{:#}", f.error),
        };
        let pts = &doc.platforms[0].points;
        assert_eq!(pts.iter().map(|p| p.status.as_str()).collect::<Vec<_>>(), ["ok", "ok", "failed"]);
        assert!(!pts[0].simulated && pts[0].kernels_per_step > 0.0 && pts[0].latency_ms > 0.0);
        // The same trace at batch 1 and 2: the same figures, twice the samples/s.
        assert_eq!(pts[0].tklqt_ns, pts[1].tklqt_ns);
        assert!((pts[1].throughput / pts[0].throughput - 2.0).abs() < 1e-9);
        assert_eq!(pts[0].trace.as_deref(), Some("traces/cmd-b1.json"));
        let e = pts[2].error.as_deref().unwrap_or_default();
        assert!(e.contains("exit status 1") && e.contains("CUDA out of memory at batch 4"), "{e}");
        let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap_or_default();
        assert_eq!(csv.lines().count(), 4);
        assert!(csv.lines().last().is_some_and(|l| l.starts_with("cmd,4,0,failed,")), "{csv}");
        let t = table(&doc);
        assert!(!t.contains("MODEL OUTPUT") && t.contains("failed: the program failed"), "{t}");
        let _ = std::fs::remove_dir_all(&out);
    }

    #[test]
    fn platform_file_errors_name_the_field() {
        let dir = tmp("pfile");
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("mine.toml");
        let text = boundscope_workloads::platform::BUILTIN[1]
            .1
            .replace("name = \"h100-pcie\"", "name = \"mine\"")
            .replace("bandwidth_gbps = 50", "bandwidth_gbps = -50");
        let _ = std::fs::write(&path, text);
        let mut a = args(&dir);
        a.platform_files = vec![path];
        let e = err(&a);
        assert!(e.contains("`link.bandwidth_gbps`") && e.contains("mine.toml"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_what_if_runs_beside_its_platform_at_the_same_points() {
        let out = tmp("whatif");
        let mut a = args(&out);
        a.batch = "1,64".into();
        a.platforms = vec!["sim:h100-pcie".into()];
        a.what_if = vec!["fuse:rmsnorm,swiglu".into(), "cuda-graphs".into()];
        a.no_traces = false;
        let spec = match spec_from_args(&a) {
            Ok(s) => s,
            Err(e) => panic!("{e:#}"),
        };
        assert!(ensure_writable_dir(&out.join("traces")).is_ok());
        let doc = match run_sweep(&spec, &mut |_, _| ControlFlow::Continue(())) {
            Ok(d) => d,
            Err(f) => panic!("{:#}", f.error),
        };
        let labels: Vec<&str> = doc.platforms.iter().map(|p| p.platform.as_str()).collect();
        assert_eq!(labels, ["sim:h100-pcie", "sim:h100-pcie+fuse:rmsnorm,swiglu", "sim:h100-pcie+cuda-graphs"]);
        for p in &doc.platforms[1..] {
            for (r, b) in p.points.iter().zip(&doc.platforms[0].points) {
                assert_eq!(r.batch, b.batch);
                assert!(r.latency_ms < b.latency_ms, "{}: {} vs {}", p.platform, r.latency_ms, b.latency_ms);
                let note = r.note.as_deref().unwrap_or("");
                assert!(note.contains("baseline") && note.contains("simulated saving"), "{note}");
            }
        }
        assert!(out.join("traces/h100-pcie+cuda-graphs-b64.json.gz").is_file());
        assert!(out.join("traces/h100-pcie+fuse-rmsnorm-swiglu-b1.json.gz").is_file());
        let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap_or_default();
        assert!(csv.lines().any(|l| l.starts_with("\"sim:h100-pcie+fuse:rmsnorm,swiglu\",64,")), "{csv}");
        let t = table(&doc);
        assert!(t.contains("WHAT-IF") && t.contains("sim:h100-pcie+cuda-graphs against sim:h100-pcie"), "{t}");
        let _ = std::fs::remove_dir_all(&out);

        // Bad names list the valid what-ifs; a command sweep has no program to rewrite.
        a.what_if = vec!["fuse:nope".into()];
        assert!(err(&a).contains("valid what-ifs"), "{}", err(&a));
        a.platforms.clear();
        a.workload = None;
        a.steps = None;
        a.warmup = None;
        a.what_if = vec!["cuda-graphs".into()];
        a.command = vec!["true".into(), "{batch}".into()];
        assert!(err(&a).contains("--what-if does not apply"), "{}", err(&a));
    }

    #[test]
    fn sweep_writes_results_after_every_point() {
        let out = tmp("run");
        let mut a = args(&out);
        a.batch = "1,16,256".into();
        a.platforms = vec!["sim:h100-pcie".into()];
        a.no_traces = false;
        let spec = match spec_from_args(&a) {
            Ok(s) => s,
            Err(e) => panic!("{e:#}"),
        };
        assert!(ensure_writable_dir(&out.join("traces")).is_ok());
        // After each point the files on disk already hold it.
        let mut seen = Vec::new();
        let doc = match run_sweep(&spec, &mut |event, _| {
            if let SweepEvent::TransitionUpdated { .. } = event {
                let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap_or_default();
                seen.push(csv.lines().count() - 1);
            }
            ControlFlow::Continue(())
        }) {
            Ok(d) => d,
            Err(f) => panic!("{:#}", f.error),
        };
        assert_eq!(seen, vec![1, 2, 3]);
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).unwrap_or_default())
                .unwrap_or_default();
        assert_eq!(json["schema"], SWEEP_SCHEMA);
        assert_eq!(json["stack"], "transformers-4.56", "the simulated lowering's release is recorded");
        assert_eq!(json["platforms"][0]["points"].as_array().map(Vec::len), Some(3));
        assert_eq!(json["platforms"][0]["points"][0]["verdict"], "cpu_bound");
        let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap_or_default();
        assert_eq!(csv.lines().next(), Some(CSV_COLUMNS.join(",").as_str()));
        for b in [1, 16, 256] {
            assert!(out.join(format!("traces/h100-pcie-b{b}.json.gz")).is_file(), "trace of batch {b}");
        }
        // The table carries both rules and the model label.
        let t = table(&doc);
        assert!(t.contains("TKLQT knee") && t.contains("busy rule") && t.contains("MODEL OUTPUT"), "{t}");
        let _ = std::fs::remove_dir_all(&out);
    }

    #[test]
    fn the_exported_trace_analyzes_to_the_same_point() {
        // The per-point figures equal those `boundscope analyze` gets from the
        // exported file (the Chrome trace is read back as a Kineto trace).
        let out = tmp("roundtrip");
        let mut a = args(&out);
        a.batch = "4".into();
        a.platforms = vec!["sim:gh200".into()];
        a.no_traces = false;
        let Ok(spec) = spec_from_args(&a) else { panic!("spec") };
        assert!(ensure_writable_dir(&out.join("traces")).is_ok());
        let doc = match run_sweep(&spec, &mut |_, _| ControlFlow::Continue(())) {
            Ok(d) => d,
            Err(f) => panic!("{:#}", f.error),
        };
        let p = &doc.platforms[0].points[0];
        let trace = match boundscope_trace::read_trace(&out.join("traces/gh200-b4.json.gz")) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        };
        let floor = (2.77f64 * 1e3).round() as i64;
        let aspec =
            AnalysisSpec { window: WindowSpec { include_mem: false, launch_floor_ns: floor }, ..Default::default() };
        let r = match analyze(&trace, "file", &aspec) {
            Ok(a) => a.report,
            Err(e) => panic!("{e}"),
        };
        let m = r.step_median.unwrap_or_else(|| panic!("no steps in the exported trace"));
        assert_eq!(m.steps, p.steps);
        assert_eq!(m.tklqt_ns, p.tklqt_ns);
        assert_eq!(m.kernels, p.kernels_per_step);
        assert_eq!(m.busy_frac, p.busy_frac);
        assert_eq!(Some(r.headline.bound), p.verdict);
        let _ = std::fs::remove_dir_all(&out);
    }
}
