//! `boundscope top`: the live view. Turns arguments into a source (a replay
//! of a trace or run, or a simulated platform run), drives it through the
//! live analysis (`boundscope_analysis::live`) on one thread, and hands each
//! snapshot to the terminal UI (`boundscope-tui`) or, with `--headless`,
//! writes JSON lines (docs/live-json.md).

mod headless;
mod program;
mod source;
mod ui;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use boundscope_analysis::live::{LiveAnalyzer, LiveSnapshot, LiveSpec, Pacer, Speed, TraceReplay};
use boundscope_analysis::{AnalysisSpec, analyze};
use boundscope_trace::read_trace;
use boundscope_workloads::{Dtype, Platform, Shape, SimSpec, Stack, WorkloadSpec};
use clap::Args;

use crate::Failure;
use source::{SimSource, Source};

#[derive(Debug, Args)]
pub struct TopArgs {
    /// Replay a trace (.json/.json.gz) or a `boundscope profile` run directory.
    #[arg(long, value_name = "TRACE|RUN_DIR", conflicts_with_all = ["platform"])]
    pub replay: Option<PathBuf>,
    /// Run a reference workload on a simulated platform, live (sim:h100-pcie, sim:gh200, ...).
    #[arg(long, value_name = "sim:NAME")]
    pub platform: Option<String>,
    /// Workload of a simulated run (model:phase).
    #[arg(long, value_name = "MODEL:PHASE", default_value = "llama-3.2-1b:decode", requires = "platform")]
    pub workload: String,
    /// Batch size of a simulated run (1..=4096).
    #[arg(long, value_name = "B", default_value_t = 1, requires = "platform")]
    pub batch: u64,
    /// Sequence length of a simulated run (default: the workload's).
    #[arg(long, value_name = "N", requires = "platform")]
    pub seq: Option<u64>,
    /// transformers release the simulated lowering follows: transformers-4.45, -4.49, -4.54 or
    /// -4.56, or a release number [default: transformers-4.56] (docs/workloads.md).
    #[arg(long, value_name = "STACK", requires = "platform")]
    pub stack: Option<String>,
    /// Steps of a simulated run (1..=1000000; default: until you quit, 100 with --headless).
    #[arg(long, value_name = "N", requires = "platform")]
    pub steps: Option<u64>,
    /// Seed of the simulated jitter.
    #[arg(long, value_name = "S", default_value_t = 1, requires = "platform")]
    pub seed: u64,
    /// Pace: 1 is real time, 4 four times faster, max as fast as the analysis goes.
    #[arg(long, value_name = "1|4|max", default_value = "1")]
    pub speed: String,
    /// Length of one live window in ms of trace time (1..=60000).
    #[arg(long, value_name = "MS", default_value_t = 250)]
    pub window: u64,
    /// Write JSON lines (one per closed window and step, then a summary) instead of the terminal UI.
    #[arg(long)]
    pub headless: bool,
    /// Draw with plain ASCII characters (no braille).
    #[arg(long)]
    pub ascii: bool,
    /// Folder for snapshots saved with `s`.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// Null-kernel launch latency of the platform in us (the CPU/GPU-bound queue threshold is twice this).
    #[arg(long, value_name = "US", default_value_t = 2.5)]
    pub launch_floor_us: f64,
    /// Run directory of a live program (`top -- CMD`): the same files `boundscope profile` writes,
    /// plus program.log (the program's output while the UI owns the terminal).
    #[arg(long, value_name = "DIR", default_value = "boundscope-run")]
    pub run_dir: PathBuf,
    /// Record a live program for SECONDS, then interrupt it (as `profile --duration`).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// The program to profile live (`boundscope top -- CMD ARGS...`).
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// What `top` will run, decided from the arguments.
struct TopSpec {
    source: Source,
    /// What the header calls the run.
    label: String,
    gpu: String,
    simulated: bool,
    speed: Speed,
    live: LiveSpec,
    headless: bool,
}

const MAX_WINDOW_MS: u64 = 60_000;
const MAX_BATCH: u64 = 4096;
const MAX_STEPS: u64 = 1_000_000;
const HEADLESS_SIM_STEPS: u64 = 100;

/// The live analysis settings every source shares (`--window`, `--launch-floor-us`).
fn live_spec(args: &TopArgs) -> Result<LiveSpec, Failure> {
    let bad = |m: String| Failure::input(anyhow!(m));
    if !(1..=MAX_WINDOW_MS).contains(&args.window) {
        return Err(bad(format!("--window must be from 1 to {MAX_WINDOW_MS} ms, got {}", args.window)));
    }
    if !(0.1..=1000.0).contains(&args.launch_floor_us) {
        return Err(bad(format!("--launch-floor-us must be from 0.1 to 1000, got {}", args.launch_floor_us)));
    }
    let mut live = LiveSpec { window_ns: args.window as i64 * 1_000_000, ..LiveSpec::default() };
    live.window.launch_floor_ns = (args.launch_floor_us * 1000.0).round() as i64;
    live.advice.graph_launch_ns = live.window.launch_floor_ns;
    Ok(live)
}

fn spec_from_args(args: &TopArgs) -> Result<TopSpec, Failure> {
    let bad = |m: String| Failure::input(anyhow!(m));
    let speed = Speed::parse(&args.speed).map_err(bad)?;
    let live = live_spec(args)?;

    if !args.command.is_empty() {
        return Err(bad("boundscope top -- CMD (profiling a program live) is not available in this build yet; run \
             `boundscope profile -- CMD` and then `boundscope top --replay boundscope-run` to watch it"
            .into()));
    }
    if let Some(path) = &args.replay {
        let trace = read_trace(path).map_err(Failure::input)?;
        let gpu = trace.devices.first().map_or_else(|| "GPU not named in the trace".into(), |d| d.name.clone());
        let simulated = trace.meta.simulated;
        return Ok(TopSpec {
            source: Source::Replay(Box::new(TraceReplay::new(trace, 0))),
            label: path.display().to_string(),
            gpu,
            simulated,
            speed,
            live,
            headless: args.headless,
        });
    }
    let Some(name) = &args.platform else {
        return Err(bad(
            "nothing to watch: give --replay TRACE, --platform sim:NAME (a simulated run), or -- CMD".into()
        ));
    };
    if !(1..=MAX_BATCH).contains(&args.batch) {
        return Err(bad(format!("--batch must be from 1 to {MAX_BATCH}, got {}", args.batch)));
    }
    if let Some(n) = args.steps
        && !(1..=MAX_STEPS).contains(&n)
    {
        return Err(bad(format!("--steps must be from 1 to {MAX_STEPS}, got {n}")));
    }
    let platform = Platform::builtin(name).map_err(|e| bad(e.to_string()))?;
    let dtype = Dtype::parse("bf16").map_err(|e| bad(e.to_string()))?;
    let stack = args.stack.as_deref().map(Stack::parse).transpose().map_err(|e| bad(e.to_string()))?;
    let workload = WorkloadSpec::parse(&args.workload, dtype)
        .map_err(|e| bad(format!("{e}\n  workloads: {}", WorkloadSpec::all_names().join(", "))))?
        .with_stack(stack.unwrap_or_default());
    let seq = args.seq.unwrap_or_else(|| workload.default_seq());
    let shape = Shape { batch: args.batch, seq };
    workload.check_shape(shape).map_err(|e| bad(e.to_string()))?;
    let steps = args.steps.or(args.headless.then_some(HEADLESS_SIM_STEPS));
    let sim = SimSpec {
        warmup_steps: 2,
        steps: 1,
        seed: args.seed,
        jitter: 0.05,
        dtype,
        trace_name: Some(format!(
            "{} batch {} seq {seq} on {}, {}",
            workload.name(),
            args.batch,
            platform.id(),
            workload.stack
        )),
    };
    let label = format!("{} batch {} seq {seq} (simulated)", workload.name(), args.batch);
    let gpu = format!("{} (model)", platform.id());
    let source = SimSource::new(workload, shape, platform, sim, steps, args.headless).map_err(Failure::input)?;
    Ok(TopSpec {
        source: Source::Sim(Box::new(source)),
        label,
        gpu,
        simulated: true,
        speed,
        live,
        headless: args.headless,
    })
}

pub fn run(args: &TopArgs) -> Result<(), Failure> {
    if !args.command.is_empty() {
        if args.replay.is_some() || args.platform.is_some() {
            return Err(Failure::input(anyhow!("give a program after --, or --replay, or --platform: one source")));
        }
        return program::run(args, live_spec(args)?);
    }
    let spec = spec_from_args(args)?;
    if spec.headless {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        return headless::run(spec, &mut out);
    }
    ui::run(spec, args.ascii, args.out.clone())
}

/// How often a paced run publishes a snapshot (the UI redraws at most this often).
const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// Events fed between publishes when running as fast as possible.
const MAX_SPEED_BATCH: usize = 200_000;

/// Drives `source` through a live analysis, paced by `speed`, calling
/// `on_snapshot` after each publish until the source ends or `stop` says so.
/// Returns the source (for the closing summary).
fn drive(
    mut source: Source,
    live_spec: LiveSpec,
    speed: Speed,
    mut on_snapshot: impl FnMut(&mut LiveAnalyzer, LiveSnapshot) -> anyhow::Result<bool>,
) -> anyhow::Result<Source> {
    let mut live = LiveAnalyzer::new(live_spec, "live");
    let start_ns = source.start_ns();
    live.set_origin(start_ns);
    let pacer = Pacer { speed, start_ns };
    let began = Instant::now();
    let mut last_publish = Instant::now();
    let mut fed_since = 0usize;
    loop {
        let target = pacer.target_ns(began.elapsed().as_nanos() as i64);
        let budget =
            if speed == Speed::Max { MAX_SPEED_BATCH - fed_since.min(MAX_SPEED_BATCH - 1) } else { usize::MAX };
        fed_since += source.pump(target, &mut live, budget)?;
        let done = source.done();
        if done {
            live.end();
        }
        let due = match speed {
            Speed::Max => fed_since >= MAX_SPEED_BATCH || last_publish.elapsed() >= PUBLISH_EVERY,
            Speed::Times(_) => last_publish.elapsed() >= PUBLISH_EVERY,
        };
        if due || done {
            let snap = live.publish();
            last_publish = Instant::now();
            fed_since = 0;
            let keep_going = on_snapshot(&mut live, snap)?;
            if done || !keep_going {
                return Ok(source);
            }
        }
        if speed != Speed::Max {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Writes `snap` as JSON and as text into `dir`; returns the JSON file's path.
pub(crate) fn save_snapshot(dir: &std::path::Path, snap: &LiveSnapshot) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let json = dir.join(format!("boundscope-snapshot-{}.json", snap.seq));
    let text = dir.join(format!("boundscope-snapshot-{}.txt", snap.seq));
    for (path, body) in [(&json, serde_json::to_vec_pretty(snap)?), (&text, snapshot_text(snap).into_bytes())] {
        let mut f = boundscope_reports::AtomicFile::create(path)?;
        std::io::Write::write_all(&mut f, &body).with_context(|| format!("writing {}", path.display()))?;
        f.commit()?;
    }
    Ok(json)
}

/// A plain-text rendering of a snapshot for `s` (what a bug report can quote).
fn snapshot_text(snap: &LiveSnapshot) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "boundscope live snapshot #{} at t+{:.3}s", snap.seq, snap.latest_ns as f64 / 1e9);
    if let Some((m, provisional)) = snap.current() {
        let _ = writeln!(
            s,
            "verdict: {} ({}{})",
            m.verdict.bound.as_str(),
            m.label,
            if provisional { ", provisional" } else { "" }
        );
        for e in &m.verdict.evidence {
            let _ = writeln!(s, "  {e}");
        }
    }
    let t = &snap.totals;
    let _ = writeln!(
        s,
        "kernels {}  launch calls {}  steps {}  dropped records {}  late events {}",
        t.kernels, t.launch_calls, snap.steps_total, t.dropped_records, t.late_events
    );
    s
}

/// The whole-run analysis for the closing summary.
fn whole_run(
    source: Source,
    live_spec: &LiveSpec,
    label: &str,
) -> anyhow::Result<Option<boundscope_analysis::TraceReport>> {
    let Some(trace) = source.into_trace() else { return Ok(None) };
    let spec = AnalysisSpec { window: live_spec.window, advice: live_spec.advice, ..AnalysisSpec::default() };
    Ok(Some(analyze(&trace, label, &spec).context("analyzing the whole run")?.report))
}
