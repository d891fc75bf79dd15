//! `boundscope sweep`: runs a reference workload over batch sizes on one or
//! more platforms, analyzes every point as it would a recorded trace, and
//! reports where each platform turns from CPU-bound to GPU-bound (both rules
//! of docs/metrics.md section 4) with the batch advice of section 5.
//!
//! This module owns the command's arguments, their translation into a plain
//! [`SweepSpec`], the sweep engine ([`run_sweep`]) and the terminal table.
//! The engine rewrites `sweep.csv` and `sweep.json` atomically after every
//! point, so an interrupted sweep keeps every point finished before it, and
//! writes one Chrome trace per point (`traces/<platform>-b<batch>.json.gz`)
//! and, at the end, the plot `sweep.svg`.
//!
//! Platforms are simulated (`sim:*`, `--platform-file`): their numbers are
//! model outputs and are labelled so everywhere. Running the workloads on a
//! local GPU through the profiler is not part of this build.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, anyhow};
use boundscope_analysis::sweep::{Crossing, SweepPoint, Transition, TransitionSpec, transition};
use boundscope_analysis::{AdviceSpec, AnalysisSpec, Bound, WindowSpec, analyze};
use boundscope_reports::{AtomicFile, ensure_writable_dir};
use boundscope_workloads::{Dtype, Platform, Shape, SimSpec, WorkloadSpec, run_point};
use clap::Args;
use serde::Serialize;

use crate::Failure;

/// Version of the `sweep.json` layout; bump on any incompatible change.
pub const SWEEP_SCHEMA: &str = "boundscope.sweep/1";

/// Largest batch size accepted (the plot and tables take 32-bit batches).
const MAX_BATCH: u64 = 1 << 20;

/// Platforms swept when none is named.
const DEFAULT_PLATFORMS: [&str; 2] = ["sim:h100-pcie", "sim:gh200"];

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Workload as MODEL:PHASE: llama-3.2-1b, gpt2 or bert-base with prefill, decode or train.
    #[arg(long, value_name = "MODEL:PHASE", default_value = "llama-3.2-1b:decode")]
    pub workload: String,
    /// Batch sizes: a list (1,2,4) or a range doubling from its start (1..256 = 1,2,4,...,256).
    #[arg(long, value_name = "LIST|A..B", default_value = "1..256")]
    pub batch: String,
    /// Prompt length (prefill, train) or KV-cache length (decode); default depends on the workload.
    #[arg(long, value_name = "N")]
    pub seq: Option<u64>,
    /// Measured steps per point (the point's figures are medians over them).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub steps: u32,
    /// Warm-up steps per point, run first and left out of the figures.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub warmup: u32,
    /// Platform(s): sim:a100-pcie, sim:h100-pcie, sim:gh200, sim:h200 (repeat or comma-separate
    /// for a side-by-side sweep). Default: sim:h100-pcie and sim:gh200.
    #[arg(long = "platform", value_name = "NAME", value_delimiter = ',')]
    pub platforms: Vec<String>,
    /// A simulated platform defined by a TOML file (see workloads/platforms/); repeatable.
    #[arg(long = "platform-file", value_name = "PATH")]
    pub platform_files: Vec<PathBuf>,
    /// Element type of weights and activations: bf16 or fp16.
    #[arg(long, value_name = "DTYPE", default_value = "bf16")]
    pub dtype: String,
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
    /// Do not write a Chrome trace per point.
    #[arg(long)]
    pub no_traces: bool,
}

/// Everything a sweep needs, decided and validated.
#[derive(Debug, Clone)]
pub struct SweepSpec {
    pub workload: WorkloadSpec,
    pub seq: u64,
    pub batches: Vec<u64>,
    pub platforms: Vec<Platform>,
    pub sim: SimSpec,
    pub transition: TransitionSpec,
    pub out: PathBuf,
    pub write_traces: bool,
}

/// One point of a sweep, as `sweep.csv` and `sweep.json` hold it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PointRecord {
    pub platform: String,
    pub batch: u64,
    pub seq: u64,
    /// "ok" or "failed".
    pub status: String,
    /// Measured steps behind the medians.
    pub steps: u64,
    pub kernels_per_step: f64,
    pub tklqt_ns: f64,
    pub mean_launch_to_start_ns: f64,
    pub akd_ns: f64,
    pub il_ns: f64,
    pub gpu_busy_ns: f64,
    pub busy_frac: Option<f64>,
    pub exposed_launch_ns: f64,
    pub host_wait_ns: f64,
    pub queue_p50_ns: f64,
    pub sync_ns: f64,
    /// The majority verdict over the point's steps.
    pub verdict: Option<Bound>,
    /// Median step time.
    pub latency_ms: f64,
    pub throughput: f64,
    pub throughput_unit: String,
    pub simulated: bool,
    /// The point's Chrome trace, relative to the output directory.
    pub trace: Option<String>,
    pub error: Option<String>,
}

impl PointRecord {
    fn sweep_point(&self) -> Option<SweepPoint> {
        (self.status == "ok").then_some(SweepPoint {
            batch: self.batch,
            tklqt_ns: self.tklqt_ns,
            busy_frac: self.busy_frac,
            latency_ms: self.latency_ms,
            throughput: self.throughput,
        })
    }
}

/// One platform's sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlatformSweep {
    pub platform: String,
    pub description: String,
    /// Where the platform's parameters came from (built in, or a file).
    pub origin: String,
    pub simulated: bool,
    pub points: Vec<PointRecord>,
    /// Both rules over the points so far.
    pub transition: Option<Transition>,
}

/// The `sweep.json` document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepDocument {
    pub schema: &'static str,
    pub note: String,
    pub workload: String,
    /// The Hugging Face configuration the model's shape comes from.
    pub model_config: String,
    pub dtype: String,
    pub seq: u64,
    pub batches: Vec<u64>,
    pub steps: u32,
    pub warmup: u32,
    pub seed: u64,
    pub jitter: f64,
    pub knee_factor: f64,
    pub slo_ms: Option<f64>,
    pub throughput_unit: String,
    pub platforms: Vec<PlatformSweep>,
}

pub fn run(args: &SweepArgs) -> Result<(), Failure> {
    let spec = spec_from_args(args).map_err(Failure::input)?;
    ensure_writable_dir(&spec.out).map_err(Failure::input)?;
    if spec.write_traces {
        ensure_writable_dir(&spec.out.join("traces")).map_err(Failure::input)?;
    }
    eprintln!(
        "boundscope: sweeping {} (seq {}, {}) over batch {} on {}; simulated platforms are models (docs/simulator.md)",
        spec.workload.name(),
        spec.seq,
        spec.workload.dtype.as_str(),
        spec.batches.iter().map(u64::to_string).collect::<Vec<_>>().join(","),
        spec.platforms.iter().map(Platform::id).collect::<Vec<_>>().join(", ")
    );
    let doc = run_sweep(&spec, &mut |line| eprintln!("{line}"))?;
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
    if spec.write_traces {
        let _ = writeln!(text, "  one Chrome trace per point in {}", spec.out.join("traces").display());
    }
    std::io::stdout().lock().write_all(text.as_bytes()).context("writing to stdout").map_err(Failure::input)?;
    Ok(())
}

/// Turns the arguments into a validated [`SweepSpec`]; errors list the valid choices.
pub fn spec_from_args(args: &SweepArgs) -> anyhow::Result<SweepSpec> {
    let dtype = Dtype::parse(&args.dtype)?;
    let workload = WorkloadSpec::parse(&args.workload, dtype)
        .map_err(|e| anyhow!("{e}\n  workloads: {}", WorkloadSpec::all_names().join(", ")))?;
    let batches = parse_batches(&args.batch)?;
    let seq = args.seq.unwrap_or_else(|| workload.default_seq());
    // Every point must fit the model; say so before running any.
    for &batch in &batches {
        workload.check_shape(Shape { batch, seq })?;
    }
    let platforms = platforms(&args.platforms, &args.platform_files)?;
    if args.steps == 0 {
        return Err(anyhow!("--steps must be at least 1"));
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
    Ok(SweepSpec {
        workload,
        seq,
        batches,
        platforms,
        sim: SimSpec {
            warmup_steps: args.warmup,
            steps: args.steps,
            seed: args.seed,
            jitter: args.jitter,
            dtype,
            trace_name: None,
        },
        transition: TransitionSpec { knee_factor: args.knee_factor, slo_ms: args.slo_ms, ..TransitionSpec::default() },
        out: args.out.clone(),
        write_traces: !args.no_traces,
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

/// The platforms named on the command line, or the default pair.
fn platforms(names: &[String], files: &[PathBuf]) -> anyhow::Result<Vec<Platform>> {
    let mut out: Vec<Platform> = Vec::new();
    let names: Vec<&str> = if names.is_empty() && files.is_empty() {
        DEFAULT_PLATFORMS.to_vec()
    } else {
        names.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect()
    };
    for name in names {
        if name.eq_ignore_ascii_case("gpu") {
            return Err(anyhow!(
                "platform 'gpu' is not available in this build: running the workloads on a local GPU needs the \
                 PyTorch runner under `boundscope profile`, which this build does not have; use a simulated \
                 platform: {}",
                Platform::builtin_ids().join(", ")
            ));
        }
        out.push(Platform::builtin(name)?);
    }
    for path in files {
        out.push(Platform::load(path)?);
    }
    for (i, p) in out.iter().enumerate() {
        if out[..i].iter().any(|q| q.spec.name == p.spec.name) {
            return Err(anyhow!(
                "platform {} is given twice ({} and {}); give each platform once (a platform file's `name` must \
                 differ from the others')",
                p.id(),
                out[..i].iter().find(|q| q.spec.name == p.spec.name).map_or("?", |q| q.origin.as_str()),
                p.origin
            ));
        }
    }
    Ok(out)
}

/// Runs every point of `spec`, rewriting `sweep.csv` and `sweep.json` after
/// each; `progress` gets one line per point.
pub fn run_sweep(spec: &SweepSpec, progress: &mut dyn FnMut(&str)) -> Result<SweepDocument, Failure> {
    let w = &spec.workload;
    let unit = w.throughput_unit().to_string();
    let mut doc = SweepDocument {
        schema: SWEEP_SCHEMA,
        note: "simulated platforms: every number is the output of a model (docs/simulator.md), not a measurement"
            .into(),
        workload: w.name(),
        model_config: w.model.hf_config.to_string(),
        dtype: w.dtype.as_str().to_string(),
        seq: spec.seq,
        batches: spec.batches.clone(),
        steps: spec.sim.steps,
        warmup: spec.sim.warmup_steps,
        seed: spec.sim.seed,
        jitter: spec.sim.jitter,
        knee_factor: spec.transition.knee_factor,
        slo_ms: spec.transition.slo_ms,
        throughput_unit: unit.clone(),
        platforms: spec
            .platforms
            .iter()
            .map(|p| PlatformSweep {
                platform: p.id(),
                description: p.spec.description.clone(),
                origin: p.origin.clone(),
                simulated: true,
                points: Vec::new(),
                transition: None,
            })
            .collect(),
    };
    for (pi, platform) in spec.platforms.iter().enumerate() {
        for &batch in &spec.batches {
            let started = Instant::now();
            let record = run_one(spec, platform, batch)?;
            let line = progress_line(&record, started.elapsed().as_secs_f64());
            let ps = &mut doc.platforms[pi];
            ps.points.push(record);
            let pts: Vec<SweepPoint> = ps.points.iter().filter_map(PointRecord::sweep_point).collect();
            ps.transition = Some(transition(&pts, &spec.transition));
            write_results(&spec.out, &doc).map_err(Failure::input)?;
            progress(&line);
        }
    }
    Ok(doc)
}

/// Simulates, analyzes and (optionally) exports one point. A point that
/// cannot be simulated is recorded as failed; the sweep goes on.
fn run_one(spec: &SweepSpec, platform: &Platform, batch: u64) -> Result<PointRecord, Failure> {
    let w = &spec.workload;
    let shape = Shape { batch, seq: spec.seq };
    let mut record = PointRecord {
        platform: platform.id(),
        batch,
        seq: spec.seq,
        status: "failed".into(),
        steps: 0,
        kernels_per_step: 0.0,
        tklqt_ns: 0.0,
        mean_launch_to_start_ns: 0.0,
        akd_ns: 0.0,
        il_ns: 0.0,
        gpu_busy_ns: 0.0,
        busy_frac: None,
        exposed_launch_ns: 0.0,
        host_wait_ns: 0.0,
        queue_p50_ns: 0.0,
        sync_ns: 0.0,
        verdict: None,
        latency_ms: 0.0,
        throughput: 0.0,
        throughput_unit: w.throughput_unit().to_string(),
        simulated: true,
        trace: None,
        error: None,
    };
    let sim = SimSpec {
        trace_name: Some(format!("{} batch {batch} seq {} on {}", w.name(), spec.seq, platform.id())),
        ..spec.sim.clone()
    };
    let run = match run_point(w, shape, platform, &sim) {
        Ok(r) => r,
        Err(e) => {
            record.error = Some(e.to_string());
            return Ok(record);
        }
    };
    // Judge queue times against this platform's own launch floor.
    let floor_ns = (platform.spec.launch.latency_us * 1e3).round() as i64;
    let aspec = AnalysisSpec {
        window: WindowSpec { include_mem: false, launch_floor_ns: floor_ns },
        advice: AdviceSpec { graph_launch_ns: floor_ns, ..AdviceSpec::default() },
        ..AnalysisSpec::default()
    };
    let source = format!("{} b{batch}", platform.id());
    let analysis = analyze(&run.trace, &source, &aspec)
        .with_context(|| format!("analyzing the simulated trace of {source}"))
        .map_err(Failure::internal)?;
    let r = &analysis.report;
    let Some(m) = &r.step_median else {
        record.error = Some("the simulated trace has no measured steps".into());
        return Ok(record);
    };
    let mut steps = run.step_ns.clone();
    steps.sort_unstable();
    let latency_ns = median_i64(&steps);
    let latency_ms = latency_ns / 1e6;
    if spec.write_traces {
        let rel = format!("traces/{}-b{batch}.json.gz", platform.spec.name);
        // INTEGRATION: the Chrome-trace exporter (reports/src/chrome.rs).
        boundscope_reports::chrome::write_chrome_trace(&run.trace, &analysis, &spec.out.join(&rel))
            .map_err(Failure::input)?;
        record.trace = Some(rel);
    }
    record.status = "ok".into();
    record.steps = m.steps;
    record.kernels_per_step = m.kernels;
    record.tklqt_ns = m.tklqt_ns;
    record.mean_launch_to_start_ns = m.mean_launch_to_start_ns;
    record.akd_ns = m.akd_ns;
    record.il_ns = m.il_ns;
    record.gpu_busy_ns = m.gpu_busy_ns;
    record.busy_frac = m.busy_frac;
    record.exposed_launch_ns = m.exposed_launch_ns;
    record.host_wait_ns = m.host_wait_ns;
    record.queue_p50_ns = m.queue_p50_ns;
    record.sync_ns = m.sync_ns;
    record.verdict = Some(r.headline.bound);
    record.latency_ms = latency_ms;
    record.throughput = if latency_ns > 0.0 { w.work_per_step(shape) as f64 / (latency_ns / 1e9) } else { 0.0 };
    Ok(record)
}

fn median_i64(sorted: &[i64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2] as f64,
        n => (sorted[n / 2 - 1] as f64 + sorted[n / 2] as f64) / 2.0,
    }
}

fn progress_line(r: &PointRecord, secs: f64) -> String {
    match &r.error {
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
    }
}

/// Rewrites `sweep.csv` and `sweep.json` (each atomically).
fn write_results(out: &Path, doc: &SweepDocument) -> anyhow::Result<()> {
    let mut json = serde_json::to_string_pretty(doc).context("serializing sweep.json")?;
    json.push('\n');
    write_atomic(&out.join("sweep.json"), json.as_bytes())?;
    write_atomic(&out.join("sweep.csv"), csv(doc).as_bytes())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes).with_context(|| format!("writing {}", path.display()))?;
    f.commit()?;
    Ok(())
}

/// Columns of `sweep.csv`; units in the names.
pub const CSV_COLUMNS: [&str; 23] = [
    "platform",
    "batch",
    "seq",
    "status",
    "steps",
    "kernels_per_step",
    "tklqt_ns",
    "mean_launch_to_start_ns",
    "akd_ns",
    "il_ns",
    "gpu_busy_ns",
    "busy_frac",
    "exposed_launch_ns",
    "host_wait_ns",
    "queue_p50_ns",
    "sync_ns",
    "verdict",
    "latency_ms",
    "throughput",
    "throughput_unit",
    "simulated",
    "trace",
    "error",
];

/// `sweep.csv`: one row per point, every platform.
fn csv(doc: &SweepDocument) -> String {
    fn field(s: &str) -> String {
        if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
    }
    let mut out = CSV_COLUMNS.join(",");
    out.push('\n');
    for p in doc.platforms.iter().flat_map(|p| p.points.iter()) {
        let row = [
            field(&p.platform),
            p.batch.to_string(),
            p.seq.to_string(),
            p.status.clone(),
            p.steps.to_string(),
            p.kernels_per_step.to_string(),
            p.tklqt_ns.to_string(),
            format!("{:.3}", p.mean_launch_to_start_ns),
            format!("{:.3}", p.akd_ns),
            p.il_ns.to_string(),
            p.gpu_busy_ns.to_string(),
            p.busy_frac.map_or(String::new(), |b| format!("{b:.6}")),
            p.exposed_launch_ns.to_string(),
            p.host_wait_ns.to_string(),
            p.queue_p50_ns.to_string(),
            p.sync_ns.to_string(),
            p.verdict.map_or(String::new(), |v| v.as_str().to_string()),
            format!("{:.6}", p.latency_ms),
            format!("{:.3}", p.throughput),
            field(&p.throughput_unit),
            p.simulated.to_string(),
            field(p.trace.as_deref().unwrap_or("")),
            field(p.error.as_deref().unwrap_or("")),
        ];
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

/// The transition to mark on the plot, chosen as the batch advice chooses it:
/// the knee where it places one, else the busy rule's; the smallest batch when
/// that one already keeps the GPU busy.
fn marked_transition(t: &Transition) -> Option<f64> {
    match (&t.knee.crossing, &t.busy.crossing) {
        (_, Crossing::AtFirst { batch }) => Some(*batch as f64),
        (Crossing::Between { batch, .. }, _) => Some(*batch),
        _ => t.busy.crossing.batch(),
    }
}

/// Draws `sweep.svg` (latency, throughput, TKLQT, busy against batch).
fn write_plot(spec: &SweepSpec, doc: &SweepDocument) -> anyhow::Result<Option<PathBuf>> {
    use boundscope_reports::plots::{SweepPlotPoint, SweepSeries, write_sweep_plot};
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
                .filter(|r| r.status == "ok")
                .map(|r| SweepPlotPoint {
                    batch: u32::try_from(r.batch).unwrap_or(u32::MAX),
                    latency_ms: r.latency_ms,
                    throughput: r.throughput,
                    throughput_unit: r.throughput_unit.clone(),
                    tklqt_ms: r.tklqt_ns / 1e6,
                    busy_frac: r.busy_frac.unwrap_or(f64::NAN),
                })
                .collect(),
            transition_batch: p.transition.as_ref().and_then(marked_transition),
        })
        .collect();
    if series.iter().all(|s| s.points.is_empty()) {
        return Ok(None);
    }
    let path = spec.out.join("sweep.svg");
    let title = format!("{} (seq {}, {}) — simulated", doc.workload, doc.seq, doc.dtype);
    write_sweep_plot(&path, &title, &series)?;
    Ok(Some(path))
}

/// The terminal summary: one table per platform, the transition by both rules, the advice.
pub fn table(doc: &SweepDocument) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n{} (seq {}, {}), {} measured steps per point after {} warm-up",
        doc.workload, doc.seq, doc.dtype, doc.steps, doc.warmup
    );
    let _ = writeln!(s, "MODEL OUTPUT: {}", doc.note);
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
        if let Some(t) = &p.transition {
            let _ = writeln!(
                s,
                "transition: TKLQT knee (>= {:.3} ms, {}x batch {}): {}",
                t.knee.threshold / 1e6,
                doc.knee_factor,
                p.points.iter().find(|r| r.status == "ok").map_or(0, |r| r.batch),
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
    if doc.platforms.len() > 1 {
        let _ = writeln!(s, "\nSIDE BY SIDE (where each platform turns GPU-bound)");
        for p in &doc.platforms {
            let Some(t) = &p.transition else { continue };
            let at = |c: &Crossing| match c {
                Crossing::Between { batch, .. } => format!("~{batch:.1}"),
                Crossing::AtFirst { batch } => format!("<= {batch}"),
                Crossing::Never { largest } => format!("> {largest}"),
                Crossing::Undefined { .. } => "-".into(),
            };
            let _ = writeln!(
                s,
                "  {:<18} knee {:>8}   busy {:>8}   {}",
                p.platform,
                at(&t.knee.crossing),
                at(&t.busy.crossing),
                if t.agree { "rules agree" } else { "rules disagree" }
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(out: &Path) -> SweepArgs {
        SweepArgs {
            workload: "llama-3.2-1b:decode".into(),
            batch: "1..256".into(),
            seq: None,
            steps: 3,
            warmup: 1,
            platforms: Vec::new(),
            platform_files: Vec::new(),
            dtype: "bf16".into(),
            seed: 1,
            jitter: 0.03,
            knee_factor: 2.0,
            slo_ms: None,
            out: out.to_path_buf(),
            no_traces: true,
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
    fn bad_input_lists_the_valid_choices() {
        let out = tmp("bad");
        let mut a = args(&out);
        a.workload = "llama-70b:decode".into();
        let e = err(&a);
        assert!(e.contains("llama-3.2-1b:decode") && e.contains("bert-base:train"), "{e}");
        a.workload = "bert-base:decode".into();
        let e = err(&a);
        assert!(e.contains("valid phases: prefill, train"), "{e}");
        a.workload = "gpt2:decode".into();
        a.seq = Some(4096);
        assert!(err(&a).contains("at most 1024 positions"));
        let mut a = args(&out);
        a.platforms = vec!["sim:b200".into()];
        let e = err(&a);
        assert!(e.contains("sim:h100-pcie") && e.contains("sim:gh200"), "{e}");
        a.platforms = vec!["gpu".into()];
        let e = err(&a);
        assert!(e.contains("not available in this build") && e.contains("sim:a100-pcie"), "{e}");
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
        let doc = match run_sweep(&spec, &mut |_| {
            let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap_or_default();
            seen.push(csv.lines().count() - 1);
        }) {
            Ok(d) => d,
            Err(f) => panic!("{:#}", f.error),
        };
        assert_eq!(seen, vec![1, 2, 3]);
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).unwrap_or_default())
                .unwrap_or_default();
        assert_eq!(json["schema"], SWEEP_SCHEMA);
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
        let doc = match run_sweep(&spec, &mut |_| {}) {
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
