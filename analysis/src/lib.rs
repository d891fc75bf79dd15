//! boundscope's analysis: from a [`Trace`] to the numbers of METRICS.md.
//!
//! - [`launches`]: the per-launch table (launch-to-start, API, queue, gaps).
//! - [`window`]: per-window metrics (TKLQT, AKD, IL, busy/idle) and verdicts.
//! - [`queue`]: queue depth per stream.
//! - [`tables`]: polars frames (per launch, per kernel name, per window).
//! - [`analyze`] ties them together into an [`Analysis`] whose
//!   [`TraceReport`] is the documented JSON document (`docs/json-schema.md`).

pub mod advice;
pub mod launches;
pub mod live;
pub mod names;
pub mod queue;
pub mod stats;
pub mod sweep;
pub mod tables;
pub mod window;

use std::collections::BTreeMap;

use boundscope_trace::{ActivityKind, DeviceInfo, Diagnostics, StrId, Trace, Warning, WarningKind};
use polars::prelude::{DataFrame, PolarsResult, SortMultipleOptions};
use serde::{Deserialize, Serialize};

pub use advice::{Advice, AdviceSpec};
pub use launches::{LaunchTable, Unmatched};
pub use window::{Bound, Verdict, WindowContext, WindowMetrics, WindowSpec};

/// Version of the JSON report layout; bump on any incompatible change.
pub const REPORT_SCHEMA: &str = "boundscope.analysis/3";

/// What to compute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnalysisSpec {
    pub window: WindowSpec,
    /// Rows in each top-kernels list.
    pub top_k: usize,
    pub advice: AdviceSpec,
}

impl Default for AnalysisSpec {
    fn default() -> Self {
        AnalysisSpec { window: WindowSpec::default(), top_k: 10, advice: AdviceSpec::default() }
    }
}

/// The analysis of one trace: the per-launch table and the report.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub launches: LaunchTable,
    pub report: TraceReport,
}

/// Everything `boundscope analyze` reports about one trace (the JSON document).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceReport {
    /// The trace file (or run) analyzed.
    pub source: String,
    /// "kineto", "boundscope-run", "simulated".
    pub format: String,
    /// True when the trace is the output of a simulated platform (a model, not a measurement).
    pub simulated: bool,
    pub counts: Counts,
    pub devices: Vec<DeviceInfo>,
    /// The verdict to lead with: the majority over steps, else the whole trace's.
    pub headline: Headline,
    /// The whole trace as one window.
    pub trace_window: WindowMetrics,
    /// One window per step (ProfilerStep#N or NVTX boundscope:step), in order.
    pub steps: Vec<WindowMetrics>,
    /// Medians over the steps, when there are any.
    pub step_median: Option<StepMedian>,
    pub top_kernels: TopKernels,
    /// Copies and fills, per name ("Memcpy HtoD (Pageable -> Device)", ...).
    pub memory: Vec<MemStat>,
    pub unmatched: Unmatched,
    /// Fusion and CUDA-graph suggestions with their estimated savings.
    pub advice: Advice,
    pub warnings: Vec<Warning>,
}

/// Sizes of the trace's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    pub api_calls: u64,
    pub launch_calls: u64,
    pub kernels: u64,
    pub memcpys: u64,
    pub memsets: u64,
    pub host_ops: u64,
    pub threads: u64,
    pub steps: u64,
    pub matched_launches: u64,
}

/// The verdict to print first, and what it rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Headline {
    pub bound: Bound,
    /// "3 of 3 steps" or "whole trace, no steps".
    pub basis: String,
}

/// Medians over the step windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepMedian {
    pub steps: u64,
    pub kernels: f64,
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
    pub cpu_bound_steps: u64,
    pub gpu_bound_steps: u64,
    pub transitional_steps: u64,
}

/// One kernel name's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelStat {
    pub name: String,
    pub count: u64,
    pub total_ns: i64,
    pub mean_ns: f64,
    pub min_ns: i64,
    pub max_ns: i64,
    pub p50_ns: f64,
    pub mean_launch_to_start_ns: Option<f64>,
}

/// Top-k kernel names three ways.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TopKernels {
    pub by_total_time: Vec<KernelStat>,
    pub by_count: Vec<KernelStat>,
    pub by_mean_time: Vec<KernelStat>,
}

/// Totals of one kind of copy or fill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemStat {
    /// "memcpy" or "memset".
    pub kind: String,
    pub name: String,
    pub count: u64,
    pub bytes: u64,
    pub time_ns: i64,
    /// bytes / time, in GB/s (1e9 bytes per second).
    pub bandwidth_gbps: f64,
}

/// Analyzes `trace`. `source` names it in the report.
pub fn analyze(trace: &Trace, source: &str, spec: &AnalysisSpec) -> PolarsResult<Analysis> {
    let mut diag = Diagnostics::default();
    diag.merge(&trace.diagnostics);
    let (launches, unmatched) = launches::build_launch_table(trace, &mut diag);
    let depths = queue::stream_depths(trace, &launches);
    let ctx = WindowContext { trace, launches: &launches, depths: &depths, spec: spec.window };

    // Every event belongs to the whole-trace window; its reported bounds are
    // the trace's real ones, not the open interval it was computed over.
    let mut trace_window = ctx.metrics("trace".into(), None, i64::MIN, i64::MAX);
    (trace_window.start_ns, trace_window.end_ns) = trace_bounds(trace);
    let steps: Vec<WindowMetrics> = trace
        .steps
        .iter()
        .map(|s| ctx.metrics(format!("step {}", s.number), Some(s.number), s.start_ns, s.end_ns))
        .collect();
    let step_median = step_median(&steps);
    let headline = headline(step_median.as_ref(), &trace_window);

    let a = &trace.activities;
    if unmatched.total() > 0 {
        diag.warn_n(WarningKind::UnmatchedActivity, unmatched.total(), None, || {
            format!(
                "{} kernels, {} memcpys and {} memsets have no launch call in the trace (launched before \
                 the trace window, or the API events were not recorded); they count in busy time and \
                 kernel totals but not in per-launch figures",
                unmatched.kernels, unmatched.memcpy, unmatched.memset
            )
        });
    }
    if trace_window.clock_skew_launches > 0 {
        let n = trace_window.clock_skew_launches;
        diag.warn_n(WarningKind::ClockSkew, n, None, || {
            format!("{n} activities start more than 1 us before their launch call: host and GPU clocks disagree")
        });
    }

    let judged: &[WindowMetrics] = if steps.is_empty() { std::slice::from_ref(&trace_window) } else { &steps };
    let advice = advice::advise(trace, &launches, judged, &spec.advice);
    let kernels = tables::kernels_frame(trace, &launches)?;
    let top_kernels = top_kernels(&kernels, spec.top_k)?;

    let counts = Counts {
        api_calls: trace.api.len() as u64,
        launch_calls: trace.api.kind.iter().filter(|k| k.is_launch()).count() as u64,
        kernels: a.kind.iter().filter(|&&k| k == ActivityKind::Kernel).count() as u64,
        memcpys: a.kind.iter().filter(|&&k| k == ActivityKind::Memcpy).count() as u64,
        memsets: a.kind.iter().filter(|&&k| k == ActivityKind::Memset).count() as u64,
        host_ops: trace.host_ops.len() as u64,
        threads: trace.threads.len() as u64,
        steps: trace.steps.len() as u64,
        matched_launches: launches.len() as u64,
    };
    let report = TraceReport {
        source: source.to_string(),
        format: trace.meta.source_format.clone(),
        simulated: trace.meta.simulated,
        counts,
        devices: trace.devices.clone(),
        headline,
        trace_window,
        steps,
        step_median,
        top_kernels,
        memory: memory_stats(trace),
        unmatched,
        advice,
        warnings: diag.warnings().to_vec(),
    };
    Ok(Analysis { launches, report })
}

/// Start of the first event and end of the last, in ns since the origin
/// ((0, 0) for an empty trace).
pub fn trace_bounds(trace: &Trace) -> (i64, i64) {
    let firsts = [
        trace.api.start_ns.first(),
        trace.activities.start_ns.first(),
        trace.host_ops.start_ns.first(),
        trace.gpu_annotations.start_ns.first(),
        trace.sync_events.start_ns.first(),
        trace.counters.time_ns.first(),
    ];
    let ends = [
        trace.api.end_ns.iter().max(),
        trace.activities.end_ns.iter().max(),
        trace.host_ops.end_ns.iter().max(),
        trace.gpu_annotations.end_ns.iter().max(),
        trace.sync_events.end_ns.iter().max(),
        trace.counters.time_ns.last(),
    ];
    let start = firsts.into_iter().flatten().copied().min().unwrap_or(0);
    let end = ends.into_iter().flatten().copied().max().unwrap_or(start);
    (start, end)
}

/// The verdict to lead with: the majority over the steps (ties: CPU-bound,
/// then GPU-bound), else the whole trace's.
pub fn headline(step_median: Option<&StepMedian>, trace_window: &WindowMetrics) -> Headline {
    match step_median {
        Some(m) => {
            let (bound, n) = [
                (Bound::CpuBound, m.cpu_bound_steps),
                (Bound::GpuBound, m.gpu_bound_steps),
                (Bound::Transitional, m.transitional_steps),
            ]
            .into_iter()
            .fold((Bound::NoGpuWork, 0), |best, c| if c.1 > best.1 { c } else { best });
            if n == 0 {
                Headline { bound: trace_window.verdict.bound, basis: "whole trace, no step has GPU work".into() }
            } else {
                Headline { bound, basis: format!("{n} of {} steps", m.steps) }
            }
        }
        None => Headline { bound: trace_window.verdict.bound, basis: "whole trace, no steps".into() },
    }
}

/// Medians of the window metrics over `steps`; None when there are none.
pub fn step_median(steps: &[WindowMetrics]) -> Option<StepMedian> {
    if steps.is_empty() {
        return None;
    }
    let med = |f: &dyn Fn(&WindowMetrics) -> f64| {
        stats::median_f64(&mut steps.iter().map(f).collect::<Vec<_>>()).unwrap_or(0.0)
    };
    let count = |b: Bound| steps.iter().filter(|s| s.verdict.bound == b).count() as u64;
    let mut busy: Vec<f64> = steps.iter().filter_map(|s| s.busy_frac).collect();
    Some(StepMedian {
        steps: steps.len() as u64,
        kernels: med(&|s| s.kernels as f64),
        tklqt_ns: med(&|s| s.tklqt_ns as f64),
        mean_launch_to_start_ns: med(&|s| s.mean_launch_to_start_ns),
        akd_ns: med(&|s| s.akd_ns),
        il_ns: med(&|s| s.il_ns as f64),
        gpu_busy_ns: med(&|s| s.gpu_busy_ns as f64),
        busy_frac: stats::median_f64(&mut busy),
        exposed_launch_ns: med(&|s| s.exposed_launch_ns as f64),
        host_wait_ns: med(&|s| s.host_wait_ns as f64),
        queue_p50_ns: med(&|s| s.queue.p50_ns),
        sync_ns: med(&|s| s.sync_ns as f64),
        cpu_bound_steps: count(Bound::CpuBound),
        gpu_bound_steps: count(Bound::GpuBound),
        transitional_steps: count(Bound::Transitional),
    })
}

fn kernel_stats(df: &DataFrame, k: usize) -> PolarsResult<Vec<KernelStat>> {
    let df = df.head(Some(k));
    let name = df.column("name")?.str()?;
    let count = df.column("count")?.u64()?;
    let total = df.column("total_ns")?.i64()?;
    let mean = df.column("mean_ns")?.f64()?;
    let min = df.column("min_ns")?.i64()?;
    let max = df.column("max_ns")?.i64()?;
    let p50 = df.column("p50_ns")?.f64()?;
    let l2s = df.column("mean_launch_to_start_ns")?.f64()?;
    Ok((0..df.height())
        .map(|i| KernelStat {
            name: name.get(i).unwrap_or("").to_string(),
            count: count.get(i).unwrap_or(0),
            total_ns: total.get(i).unwrap_or(0),
            mean_ns: mean.get(i).unwrap_or(0.0),
            min_ns: min.get(i).unwrap_or(0),
            max_ns: max.get(i).unwrap_or(0),
            p50_ns: p50.get(i).unwrap_or(0.0),
            mean_launch_to_start_ns: l2s.get(i),
        })
        .collect())
}

fn top_kernels(kernels: &DataFrame, k: usize) -> PolarsResult<TopKernels> {
    let by = |col: &str| {
        kernels.sort([col, "name"], SortMultipleOptions::default().with_order_descending_multi([true, false]))
    };
    Ok(TopKernels {
        by_total_time: kernel_stats(kernels, k)?,
        by_count: kernel_stats(&by("count")?, k)?,
        by_mean_time: kernel_stats(&by("mean_ns")?, k)?,
    })
}

fn memory_stats(trace: &Trace) -> Vec<MemStat> {
    let a = &trace.activities;
    let mut by: BTreeMap<(ActivityKind, StrId), (u64, u64, i64)> = BTreeMap::new();
    for i in 0..a.len() {
        if a.kind[i] == ActivityKind::Kernel {
            continue;
        }
        let e = by.entry((a.kind[i], a.name[i])).or_default();
        e.0 += 1;
        e.1 = e.1.saturating_add(a.bytes[i]);
        e.2 = e.2.saturating_add(a.end_ns[i].saturating_sub(a.start_ns[i]));
    }
    let mut out: Vec<MemStat> = by
        .into_iter()
        .map(|((kind, name), (count, bytes, time_ns))| MemStat {
            kind: kind.as_str().to_string(),
            name: trace.str(name).to_string(),
            count,
            bytes,
            time_ns,
            bandwidth_gbps: if time_ns > 0 { bytes as f64 / time_ns as f64 } else { 0.0 },
        })
        .collect();
    out.sort_by(|x, y| y.time_ns.cmp(&x.time_ns).then_with(|| x.name.cmp(&y.name)));
    out
}
