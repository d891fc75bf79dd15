//! Incremental analysis for live views (`boundscope top`, `--headless`).
//!
//! A source (a profiled program's record stream, a replayed trace, a
//! simulated platform) feeds events as they arrive into a [`LiveAnalyzer`],
//! moves its watermark, and calls [`LiveAnalyzer::publish`] for a
//! [`LiveSnapshot`]: fixed time windows (250 ms of trace time by default) and
//! steps (NVTX `boundscope:step` or `ProfilerStep#N`), each with the same
//! [`WindowMetrics`] `boundscope analyze` computes.
//!
//! How the numbers stay the batch analysis's: events go through the one
//! [`TraceBuilder`] into a retained trace; at each publish the retained trace
//! is sorted and the batch code runs on it (launch table, queue depth,
//! [`WindowContext::metrics`]). Only rows no open window can need are dropped:
//! events starting before the oldest open window (less a retention margin),
//! except the launch calls of retained or still-awaited activities and whole
//! CUDA-graph launches; each device's earlier activities are kept as one row
//! with their latest end, which is all the gap before the next activity needs.
//! Memory is therefore bounded by the event rate times the retention margin,
//! plus fixed-capacity histories ([`History`]). The advice judges the final
//! steps (else time windows) whose events are all still retained, so it is
//! the batch advice over those steps; only its whole-trace counts
//! (occurrences, proximity score) cover the retained trace, not the run.
//!
//! A window is *final* once the watermark (no event starting earlier is still
//! to come) has passed both its end and the end of its last kernel (queue depth
//! and IL reach that far); until then it is published as provisional. An event
//! arriving for a window already final is counted as late and left out of the
//! live figures (the analysis of the finished run includes it).

use std::collections::VecDeque;

use boundscope_trace::{
    ActivityIn, ActivityKind, ApiCallIn, EventSink, HostOpIn, HostOpKind, STEP_NVTX_NAME, StrId, Trace, TraceBuilder,
    Warning, profiler_step_number,
};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use crate::advice::{self, Advice, AdviceSpec};
use crate::launches::build_launch_table;
use crate::queue::stream_depths;
use crate::window::{Bound, WindowContext, WindowMetrics, WindowSpec};
use crate::{StepMedian, step_median};

pub mod history;
pub mod replay;

pub use history::{History, WindowPoint};
pub use replay::{Pacer, Speed, TraceReplay};

/// Version of the live JSON-lines layout (`--headless`, docs/live-json.md).
pub const LIVE_SCHEMA: &str = "boundscope.live/1";

/// What the live analysis computes and keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiveSpec {
    /// Length of one time window in trace ns (`--window MS`).
    pub window_ns: i64,
    pub window: WindowSpec,
    pub advice: AdviceSpec,
    /// Points per history tier (and steps kept for the step table).
    pub history: usize,
    /// A launch call whose activity has not arrived this long after it (trace
    /// time) is given up: it no longer holds windows open.
    pub give_up_ns: i64,
    /// Least trace time kept behind the oldest open window.
    pub min_retain_ns: i64,
}

impl Default for LiveSpec {
    fn default() -> Self {
        LiveSpec {
            window_ns: 250_000_000,
            window: WindowSpec::default(),
            advice: AdviceSpec::default(),
            history: 512,
            give_up_ns: 10_000_000_000,
            min_retain_ns: 1_000_000_000,
        }
    }
}

/// Running counts over everything that arrived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveTotals {
    pub events: u64,
    pub api_calls: u64,
    pub launch_calls: u64,
    pub kernels: u64,
    pub memcpys: u64,
    pub memsets: u64,
    pub memcpy_bytes: u64,
    pub host_ops: u64,
    pub counter_samples: u64,
    /// Events that arrived for a window already published as final.
    pub late_events: u64,
    /// Records the source lost before they reached the analysis (CUPTI or send queue).
    pub dropped_records: u64,
}

/// One kernel name's figures over the final windows so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelRow {
    pub name: String,
    pub count: u64,
    pub total_ns: i64,
    pub mean_ns: f64,
    /// Over the launches matched to a launch call (graph-internal ones excluded).
    pub mean_launch_to_start_ns: Option<f64>,
}

/// The latest value and a short history of one counter series (NVML, perf).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CounterLive {
    pub name: String,
    pub unit: String,
    pub device: Option<u32>,
    pub last: f64,
    /// (trace ns, value), oldest first, at most `LiveSpec::history` samples.
    pub recent: Vec<(i64, f64)>,
}

/// Something a window or step closing produced, for line-oriented consumers.
#[derive(Debug, Clone, PartialEq)]
pub enum Closed {
    Window(WindowMetrics),
    Step(WindowMetrics),
}

/// Everything a live view shows, as of one publish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveSnapshot {
    /// Increases by one per publish.
    pub seq: u64,
    /// The source has ended and every window is final.
    pub finished: bool,
    /// Time zero of the windows on the source's clock.
    pub origin_ns: i64,
    pub window_ns: i64,
    /// No event starting before this (trace ns, relative to the origin) is still to come.
    pub watermark_ns: i64,
    /// Latest event end seen (relative to the origin).
    pub latest_ns: i64,
    pub totals: LiveTotals,
    /// Final windows, finest tier first; each tier oldest first.
    pub history: Vec<Vec<WindowPoint>>,
    /// Trace ns one point of each tier spans.
    pub tier_ns: Vec<i64>,
    /// The newest final window.
    pub last_window: Option<WindowMetrics>,
    /// Windows after the watermark, computed from what has arrived (provisional).
    pub provisional: Vec<WindowMetrics>,
    /// The newest final steps (at most `LiveSpec::history`), oldest first.
    pub steps: Vec<WindowMetrics>,
    pub steps_total: u64,
    /// Medians over the kept steps.
    pub step_median: Option<StepMedian>,
    /// Per kernel name over the final windows, by total time.
    pub kernels: Vec<KernelRow>,
    pub counters: Vec<CounterLive>,
    /// Fusion and CUDA-graph advice over the final steps (else time windows)
    /// still held in the retained trace (the last seconds).
    pub advice: Option<Advice>,
    /// Which windows the advice rests on, and what it counts over the held
    /// trace rather than the whole run.
    pub advice_basis: String,
    /// Start of the first and end of the last window the advice judged
    /// (relative to the origin).
    #[serde(default)]
    pub advice_span_ns: Option<(i64, i64)>,
    pub warnings: Vec<Warning>,
}

impl LiveSnapshot {
    /// The verdict to show first: the newest final step's, else the newest
    /// final window's, else the newest provisional window's.
    pub fn current(&self) -> Option<(&WindowMetrics, bool)> {
        self.steps
            .last()
            .map(|s| (s, false))
            .or(self.last_window.as_ref().map(|w| (w, false)))
            .or(self.provisional.last().map(|w| (w, true)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepSource {
    Nvtx,
    Profiler,
}

#[derive(Debug, Clone, Copy)]
struct PendingStep {
    number: i64,
    start_ns: i64,
    end_ns: i64,
}

#[derive(Debug, Default, Clone, Copy)]
struct KernelAcc {
    count: u64,
    total_ns: i64,
    l2s_sum: i64,
    l2s_terms: u64,
}

/// The incremental analysis. Feed events, move the watermark, publish.
#[derive(Debug)]
pub struct LiveAnalyzer {
    spec: LiveSpec,
    builder: TraceBuilder,
    origin: Option<i64>,
    watermark: i64,
    latest: i64,
    ended: bool,
    /// Index of the first time window not yet final.
    next_window: i64,
    /// Start of the first non-final time window: events before it are late.
    frontier: i64,
    step_source: Option<StepSource>,
    nvtx_steps: i64,
    pending_steps: Vec<PendingStep>,
    steps: VecDeque<WindowMetrics>,
    steps_total: u64,
    longest_step_ns: i64,
    history: History,
    kernels: FxHashMap<StrId, KernelAcc>,
    totals: LiveTotals,
    /// Launch calls awaiting their activity: correlation -> call start.
    awaited: FxHashMap<u64, i64>,
    /// Activities that arrived before their launch call (a source may hand
    /// over a buffer's GPU records before its API records): correlation -> start.
    early: FxHashMap<u64, i64>,
    /// Per device, the latest end of pruned activities, as (start, end) of one row.
    pruned_end: FxHashMap<u32, (i64, i64)>,
    counters: Vec<CounterLive>,
    counter_index: FxHashMap<u32, usize>,
    advice: Option<Advice>,
    advice_basis: String,
    advice_span: Option<(i64, i64)>,
    advice_at: i64,
    /// A step or window became final since the advice was computed.
    advice_due: bool,
    /// Final steps and time windows (source clock) whose events are all still
    /// retained: what the advice judges, as `analyze` judges every step.
    recent_steps: VecDeque<WindowMetrics>,
    recent_windows: VecDeque<WindowMetrics>,
    /// Every event starting at or after this is retained (the latest prune cut).
    retained_from: i64,
    /// Closed since the last [`LiveAnalyzer::drain_closed`]: a consumer that
    /// does not write them out drains them anyway, or they pile up.
    closed: Vec<Closed>,
    /// The newest final window.
    last_window: Option<WindowMetrics>,
    seq: u64,
    earlier_name: Option<StrId>,
}

impl LiveAnalyzer {
    pub fn new(spec: LiveSpec, source_format: &str) -> LiveAnalyzer {
        let spec = LiveSpec { window_ns: spec.window_ns.max(1), history: spec.history.max(1), ..spec };
        LiveAnalyzer {
            history: History::new(spec.window_ns, spec.history),
            spec,
            builder: TraceBuilder::new(source_format),
            origin: None,
            watermark: i64::MIN,
            latest: i64::MIN,
            ended: false,
            next_window: 0,
            frontier: i64::MIN,
            step_source: None,
            nvtx_steps: 0,
            pending_steps: Vec::new(),
            steps: VecDeque::new(),
            steps_total: 0,
            longest_step_ns: 0,
            kernels: FxHashMap::default(),
            totals: LiveTotals::default(),
            awaited: FxHashMap::default(),
            early: FxHashMap::default(),
            pruned_end: FxHashMap::default(),
            counters: Vec::new(),
            counter_index: FxHashMap::default(),
            advice: None,
            advice_basis: String::new(),
            advice_span: None,
            advice_at: i64::MIN,
            advice_due: false,
            recent_steps: VecDeque::new(),
            recent_windows: VecDeque::new(),
            retained_from: i64::MIN,
            closed: Vec::new(),
            last_window: None,
            seq: 0,
            earlier_name: None,
        }
    }

    pub fn spec(&self) -> &LiveSpec {
        &self.spec
    }

    /// Sets time zero of the windows (default: the first event's start).
    pub fn set_origin(&mut self, origin_ns: i64) {
        if self.origin.is_none() {
            self.origin = Some(origin_ns);
            self.frontier = origin_ns;
        }
    }

    /// Records lost by the source so far (cumulative).
    pub fn set_dropped_records(&mut self, n: u64) {
        self.totals.dropped_records = n;
    }

    fn arrive(&mut self, start_ns: i64, end_ns: i64) {
        if self.origin.is_none() {
            self.set_origin(start_ns);
        }
        self.totals.events += 1;
        self.latest = self.latest.max(end_ns);
        if start_ns < self.frontier {
            self.totals.late_events += 1;
        }
    }

    pub fn api_call(&mut self, c: ApiCallIn<'_>) {
        self.arrive(c.start_ns, c.end_ns);
        let before = self.builder.trace_mut().api.len();
        self.builder.api_call(c);
        let t = self.builder.trace_mut();
        if t.api.len() > before {
            self.totals.api_calls += 1;
            if t.api.kind[before].is_launch() {
                self.totals.launch_calls += 1;
                if c.correlation != 0 && self.early.remove(&c.correlation).is_none() {
                    self.awaited.insert(c.correlation, c.start_ns);
                }
            }
        }
    }

    pub fn gpu_activity(&mut self, a: ActivityIn<'_>) {
        self.arrive(a.start_ns, a.end_ns);
        match a.kind {
            ActivityKind::Kernel => self.totals.kernels += 1,
            ActivityKind::Memcpy => {
                self.totals.memcpys += 1;
                self.totals.memcpy_bytes += a.bytes;
            }
            ActivityKind::Memset => self.totals.memsets += 1,
        }
        if a.correlation != 0 && self.awaited.remove(&a.correlation).is_none() {
            self.early.insert(a.correlation, a.start_ns);
        }
        self.builder.gpu_activity(a);
    }

    pub fn host_op(&mut self, o: HostOpIn<'_>) {
        self.arrive(o.start_ns, o.end_ns);
        self.totals.host_ops += 1;
        if o.end_ns >= o.start_ns {
            self.note_step(&o);
        }
        self.builder.host_op(o);
    }

    /// NVTX `boundscope:step` ranges when there are any, else `ProfilerStep#N`
    /// annotations (the rule of the batch reader).
    fn note_step(&mut self, o: &HostOpIn<'_>) {
        let number = if o.name == STEP_NVTX_NAME {
            if self.step_source != Some(StepSource::Nvtx) {
                // NVTX steps win over profiler steps, as in a finished trace.
                self.step_source = Some(StepSource::Nvtx);
                self.pending_steps.clear();
            }
            self.nvtx_steps += 1;
            self.nvtx_steps - 1
        } else if o.kind == HostOpKind::Annotation && self.step_source != Some(StepSource::Nvtx) {
            match profiler_step_number(o.name) {
                Some(n) => {
                    self.step_source = Some(StepSource::Profiler);
                    n
                }
                None => return,
            }
        } else {
            return;
        };
        self.longest_step_ns = self.longest_step_ns.max(o.end_ns - o.start_ns);
        self.pending_steps.push(PendingStep { number, start_ns: o.start_ns, end_ns: o.end_ns });
    }

    /// The index of a counter series (as [`TraceBuilder::counter_series`]).
    pub fn counter_series(&mut self, name: &str, unit: &str, device: Option<u32>) -> u32 {
        let id = self.builder.counter_series(name, unit, device);
        if let std::collections::hash_map::Entry::Vacant(e) = self.counter_index.entry(id) {
            e.insert(self.counters.len());
            self.counters.push(CounterLive {
                name: name.to_string(),
                unit: unit.to_string(),
                device,
                last: 0.0,
                recent: Vec::new(),
            });
        }
        id
    }

    pub fn counter_sample(&mut self, series: u32, time_ns: i64, value: f64) {
        self.arrive(time_ns, time_ns);
        self.totals.counter_samples += 1;
        self.builder.counter_sample(series, time_ns, value);
        let origin = self.origin.unwrap_or(0);
        if let Some(&i) = self.counter_index.get(&series) {
            let c = &mut self.counters[i];
            c.last = value;
            if c.recent.len() >= self.spec.history {
                c.recent.remove(0);
            }
            c.recent.push((time_ns - origin, value));
        }
    }

    /// No event starting before `t` is still to come (monotonic: a smaller
    /// value is ignored).
    pub fn set_watermark(&mut self, t: i64) {
        self.watermark = self.watermark.max(t);
    }

    /// The watermark a source with no ordering guarantee of its own can use:
    /// the latest event seen, held back by the oldest launch call still
    /// awaiting its activity (CUPTI delivers GPU records late, in buffers),
    /// unless that call is older than `give_up_ns`.
    pub fn awaited_watermark(&self) -> i64 {
        let horizon = self.latest.saturating_sub(self.spec.give_up_ns);
        self.awaited.values().copied().filter(|&s| s >= horizon).min().map_or(self.latest, |s| s.min(self.latest))
    }

    /// End of the latest event seen, on the source's clock (`i64::MIN` before any).
    pub fn latest_ns(&self) -> i64 {
        self.latest
    }

    /// The source has ended: every window becomes final at the next publish.
    pub fn end(&mut self) {
        self.ended = true;
        self.watermark = i64::MAX;
    }

    /// Windows and steps that became final since the last call, in order.
    pub fn drain_closed(&mut self) -> Vec<Closed> {
        std::mem::take(&mut self.closed)
    }

    /// The retained trace's size in rows (for tests of bounded memory).
    pub fn retained_rows(&mut self) -> usize {
        let t = self.builder.trace_mut();
        t.api.len() + t.activities.len() + t.host_ops.len() + t.counters.len()
    }

    fn window_bounds(&self, k: i64) -> (i64, i64) {
        window_bounds(self.origin.unwrap_or(0), self.spec.window_ns, k)
    }

    /// Finalizes what the watermark allows, computes the provisional windows,
    /// drops what no open window needs, and returns the snapshot.
    pub fn publish(&mut self) -> LiveSnapshot {
        self.seq += 1;
        let origin = self.origin.unwrap_or(0);
        let spec = self.spec;
        let wm = self.watermark;
        let latest = self.latest;
        let ended = self.ended;
        let next_window = self.next_window;
        let window_ns = spec.window_ns;
        let mut provisional = Vec::new();
        let mut final_windows: Vec<WindowMetrics> = Vec::new();
        let mut final_steps: Vec<WindowMetrics> = Vec::new();
        let mut kept_steps: Vec<PendingStep> = Vec::new();
        let mut new_next = next_window;
        let pending = std::mem::take(&mut self.pending_steps);
        let earlier = *self.earlier_name.get_or_insert_with(|| self.builder.intern("(earlier activities)"));
        let pruned_end: Vec<(u32, i64, i64)> = self.pruned_end.iter().map(|(&d, &(s, e))| (d, s, e)).collect();

        if self.origin.is_some() {
            // The retained trace with one row per device standing for its pruned activities.
            let sentinel_rows = pruned_end.len();
            {
                let t = self.builder.trace_mut();
                for &(d, s, e) in &pruned_end {
                    push_sentinel(t, earlier, d, s, e);
                }
            }
            let trace = self.builder.sorted_view();
            let mut diag = boundscope_trace::Diagnostics::default();
            let (launches, _) = build_launch_table(trace, &mut diag);
            let depths = stream_depths(trace, &launches);
            let ctx = WindowContext { trace, launches: &launches, depths: &depths, spec: spec.window };
            let a = &trace.activities;
            let last_kernel_end = |s: i64, e: i64| {
                let lo = a.start_ns.partition_point(|&x| x < s);
                let hi = a.start_ns.partition_point(|&x| x < e);
                (lo..hi).filter(|&i| a.kind[i] == ActivityKind::Kernel).map(|i| a.end_ns[i]).max().unwrap_or(e)
            };
            // Queue depth up to a window's last kernel end counts every launch
            // call before it: none of those may still await its activity.
            let horizon = latest.saturating_sub(spec.give_up_ns);
            let oldest_awaited = self.awaited.values().copied().filter(|&t| t >= horizon).min();
            let is_final = |s: i64, e: i64| {
                let il_end = last_kernel_end(s, e).max(e);
                ended || (wm >= il_end && oldest_awaited.is_none_or(|t| t >= il_end))
            };

            // Time windows, oldest first; stop at the first that is not final.
            let mut k = next_window;
            loop {
                let (s, e) = window_bounds(origin, window_ns, k);
                if s > latest {
                    break;
                }
                let label = format!("t+{:.2}s", (s - origin) as f64 / 1e9);
                let m = shift_metrics(ctx.metrics(label, None, s, e), s, e, origin);
                if is_final(s, e) && provisional.is_empty() {
                    final_windows.push(m);
                    new_next = k + 1;
                } else {
                    provisional.push(m);
                    if provisional.len() >= 4 {
                        break;
                    }
                }
                k += 1;
            }
            // Steps in start order.
            let mut pending_sorted = pending;
            pending_sorted.sort_by_key(|p| (p.start_ns, p.end_ns));
            for p in pending_sorted {
                if is_final(p.start_ns, p.end_ns) {
                    let m = ctx.metrics(format!("step {}", p.number), Some(p.number), p.start_ns, p.end_ns);
                    final_steps.push(shift_metrics(m, p.start_ns, p.end_ns, origin));
                } else {
                    kept_steps.push(p);
                }
            }
            // Kernel table over the windows just closed.
            if let (Some(first), Some(last)) = (final_windows.first(), final_windows.last()) {
                let (s, e) = (first.start_ns + origin, last.end_ns + origin);
                let lo = a.start_ns.partition_point(|&x| x < s);
                let hi = a.start_ns.partition_point(|&x| x < e);
                for i in lo..hi {
                    if a.kind[i] != ActivityKind::Kernel || a.name[i] == earlier {
                        continue;
                    }
                    let acc = self.kernels.entry(a.name[i]).or_default();
                    acc.count += 1;
                    acc.total_ns += a.end_ns[i] - a.start_ns[i];
                }
                let r_lo = launches.activity.partition_point(|&i| (i as usize) < lo);
                let r_hi = launches.activity.partition_point(|&i| (i as usize) < hi);
                for r in r_lo..r_hi {
                    let i = launches.activity[r] as usize;
                    if a.kind[i] == ActivityKind::Kernel && !launches.graph_internal[r] {
                        let acc = self.kernels.entry(a.name[i]).or_default();
                        acc.l2s_sum += launches.launch_to_start_ns[r].max(0);
                        acc.l2s_terms += 1;
                    }
                }
            }
            // Advice over the final steps (else windows) whose events are all
            // still retained, as `analyze` judges every step of a trace; at most
            // once per second of trace time.
            let cap = spec.history;
            for (recent, new) in [(&mut self.recent_steps, &final_steps), (&mut self.recent_windows, &final_windows)] {
                for m in new {
                    recent.push_back(unshift(m, origin));
                    self.advice_due = true;
                }
                while recent.len() > cap {
                    recent.pop_front();
                }
            }
            // Steps when there are any, as in `analyze`; else the time windows.
            let (recent, unit) = if self.recent_steps.is_empty() {
                (&mut self.recent_windows, "window")
            } else {
                (&mut self.recent_steps, "step")
            };
            let judged: &[WindowMetrics] = recent.make_contiguous();
            if let (Some(first), Some(last)) = (judged.first(), judged.last())
                && self.advice_due
                && (ended || latest.saturating_sub(self.advice_at) >= 1_000_000_000)
            {
                self.advice = Some(advice::advise(trace, &launches, judged, &spec.advice));
                let mut basis = format!(
                    "{} {unit}{} from t+{:.3}s to t+{:.3}s",
                    judged.len(),
                    if judged.len() == 1 { "" } else { "s" },
                    (first.start_ns - origin) as f64 / 1e9,
                    (last.end_ns - origin) as f64 / 1e9
                );
                if self.retained_from > trace_start(trace) {
                    // Inherent to a bounded live view: say so where the figures differ.
                    basis.push_str(&format!(
                        "; occurrences and PS count only the trace still held, since t+{:.3}s (`analyze` counts the \
                         whole run)",
                        (self.retained_from - origin) as f64 / 1e9
                    ));
                }
                self.advice_basis = basis;
                self.advice_span = Some((first.start_ns - origin, last.end_ns - origin));
                self.advice_at = latest;
                self.advice_due = false;
            }
            // Take the sentinel rows out again (they are rebuilt at each publish).
            if sentinel_rows > 0 {
                let t = self.builder.trace_mut();
                let keep: Vec<bool> = t.activities.name.iter().map(|&n| n != earlier).collect();
                t.activities.retain_rows(|i| keep[i]);
            }
        } else {
            kept_steps = pending;
        }

        self.pending_steps = kept_steps;
        self.next_window = new_next;
        self.frontier = self.window_bounds(new_next).0;
        for w in &final_windows {
            let launches = self.launches_in(w);
            self.history.push(WindowPoint::of(w, launches));
            self.closed.push(Closed::Window(w.clone()));
        }
        for s in final_steps {
            self.steps_total += 1;
            self.closed.push(Closed::Step(s.clone()));
            if self.steps.len() >= spec.history {
                self.steps.pop_front();
            }
            self.steps.push_back(s);
        }
        if let Some(w) = final_windows.pop() {
            self.last_window = Some(w);
        }
        self.prune();

        let steps: Vec<WindowMetrics> = self.steps.iter().cloned().collect();
        let mut kernels: Vec<KernelRow> = {
            let t = self.builder.trace_mut();
            self.kernels
                .iter()
                .map(|(&name, k)| KernelRow {
                    name: t.str(name).to_string(),
                    count: k.count,
                    total_ns: k.total_ns,
                    mean_ns: if k.count > 0 { k.total_ns as f64 / k.count as f64 } else { 0.0 },
                    mean_launch_to_start_ns: (k.l2s_terms > 0).then(|| k.l2s_sum as f64 / k.l2s_terms as f64),
                })
                .collect()
        };
        kernels.sort_by(|x, y| y.total_ns.cmp(&x.total_ns).then_with(|| x.name.cmp(&y.name)));
        let finished = ended && self.pending_steps.is_empty();
        LiveSnapshot {
            seq: self.seq,
            finished,
            origin_ns: origin,
            window_ns,
            watermark_ns: if wm == i64::MAX || wm == i64::MIN { latest.saturating_sub(origin) } else { wm - origin },
            latest_ns: latest.saturating_sub(origin).max(0),
            totals: self.totals,
            history: self.history.tiers(),
            tier_ns: self.history.tier_ns(),
            last_window: self.last_window.clone(),
            provisional,
            step_median: step_median(&steps),
            steps,
            steps_total: self.steps_total,
            kernels,
            counters: self.counters.clone(),
            advice: self.advice.clone(),
            advice_basis: self.advice_basis.clone(),
            advice_span_ns: self.advice_span,
            warnings: self.builder.trace_mut().diagnostics.warnings().to_vec(),
        }
    }

    /// Launch calls starting in a (shifted) window, from the retained trace.
    fn launches_in(&mut self, w: &WindowMetrics) -> u64 {
        let o = self.origin.unwrap_or(0);
        let t = self.builder.trace_mut();
        let (s, e) = (w.start_ns + o, w.end_ns + o);
        let lo = t.api.start_ns.partition_point(|&x| x < s);
        let hi = t.api.start_ns.partition_point(|&x| x < e);
        (lo..hi).filter(|&i| t.api.kind[i].is_launch()).count() as u64
    }

    /// Drops rows that no open window or step can need (module docs).
    fn prune(&mut self) {
        let retain = self.spec.min_retain_ns.max(self.longest_step_ns.saturating_mul(2));
        let oldest_open = self.pending_steps.iter().map(|p| p.start_ns).fold(self.frontier, i64::min);
        let cut = oldest_open.saturating_sub(retain);
        // The advice judges only steps and windows whose every event is kept.
        self.retained_from = self.retained_from.max(cut);
        let from = self.retained_from;
        self.recent_steps.retain(|m| m.start_ns >= from);
        self.recent_windows.retain(|m| m.start_ns >= from);
        let give_up = self.latest.saturating_sub(self.spec.give_up_ns);
        self.awaited.retain(|_, &mut s| s >= give_up);
        self.early.retain(|_, &mut s| s >= give_up);
        let t = self.builder.trace_mut();
        if t.activities.start_ns.first().is_none_or(|&s| s >= cut)
            && t.api.start_ns.first().is_none_or(|&s| s >= cut)
            && t.host_ops.start_ns.first().is_none_or(|&s| s >= cut)
        {
            return;
        }
        let graph_corr: FxHashSet<u64> = (0..t.api.len())
            .filter(|&i| t.api.kind[i] == boundscope_trace::ApiKind::GraphLaunch)
            .map(|i| t.api.correlation[i])
            .collect();
        // A graph launch's activities go together: keep those of graphs with a retained activity.
        let mut kept_graphs: FxHashSet<u64> = FxHashSet::default();
        let a = &t.activities;
        for i in 0..a.len() {
            if a.start_ns[i] >= cut && graph_corr.contains(&a.correlation[i]) {
                kept_graphs.insert(a.correlation[i]);
            }
        }
        let mut keep_act = vec![false; a.len()];
        for i in 0..a.len() {
            keep_act[i] = a.start_ns[i] >= cut || kept_graphs.contains(&a.correlation[i]);
            if !keep_act[i] {
                let e = self.pruned_end.entry(a.device[i]).or_insert((a.start_ns[i], a.end_ns[i]));
                if a.end_ns[i] >= e.1 {
                    *e = (a.start_ns[i], a.end_ns[i]);
                }
            }
        }
        let mut retained_corr: FxHashSet<u64> = FxHashSet::default();
        for i in 0..a.len() {
            if keep_act[i] && a.correlation[i] != 0 {
                retained_corr.insert(a.correlation[i]);
            }
        }
        t.activities.retain_rows(|i| keep_act[i]);
        let awaited = &self.awaited;
        let api = &t.api;
        let keep_api: Vec<bool> = (0..api.len())
            .map(|i| {
                api.start_ns[i] >= cut
                    || (api.kind[i].is_launch()
                        && (retained_corr.contains(&api.correlation[i]) || awaited.contains_key(&api.correlation[i])))
            })
            .collect();
        t.api.retain_rows(|i| keep_api[i]);
        let host = &t.host_ops;
        let keep_host: Vec<bool> = (0..host.len()).map(|i| host.start_ns[i] >= cut).collect();
        t.host_ops.retain_rows(|i| keep_host[i]);
        let c = &t.counters;
        let keep_c: Vec<bool> = (0..c.len()).map(|i| c.time_ns[i] >= cut).collect();
        t.counters.retain_rows(|i| keep_c[i]);
        t.gpu_annotations.retain_rows(|_| false);
        t.sync_events.retain_rows(|_| false);
    }
}

/// Bounds of time window `k` on the source clock.
fn window_bounds(origin: i64, window_ns: i64, k: i64) -> (i64, i64) {
    (origin.saturating_add(k.saturating_mul(window_ns)), origin.saturating_add((k + 1).saturating_mul(window_ns)))
}

impl EventSink for LiveAnalyzer {
    fn api_call(&mut self, c: ApiCallIn<'_>) {
        LiveAnalyzer::api_call(self, c);
    }

    fn gpu_activity(&mut self, a: ActivityIn<'_>) {
        LiveAnalyzer::gpu_activity(self, a);
    }

    fn host_op(&mut self, o: HostOpIn<'_>) {
        LiveAnalyzer::host_op(self, o);
    }

    fn counter_series(&mut self, name: &str, unit: &str, device: Option<u32>) -> u32 {
        LiveAnalyzer::counter_series(self, name, unit, device)
    }

    fn counter_sample(&mut self, series: u32, time_ns: i64, value: f64) {
        LiveAnalyzer::counter_sample(self, series, time_ns, value);
    }

    /// The launch call will never get an activity: it holds no window open.
    fn no_activity_expected(&mut self, correlation: u64) {
        self.awaited.remove(&correlation);
    }
}

fn push_sentinel(t: &mut Trace, name: StrId, device: u32, start: i64, end: i64) {
    let a = &mut t.activities;
    a.kind.push(ActivityKind::Kernel);
    a.name.push(name);
    a.device.push(device);
    a.stream.push(u32::MAX);
    a.start_ns.push(start);
    a.end_ns.push(end);
    a.correlation.push(0);
    a.external_id.push(0);
    a.bytes.push(0);
    a.queued_ns.push(None);
    a.submitted_ns.push(None);
    a.graph_id.push(None);
    a.grid.push([0; 3]);
    a.block.push([0; 3]);
}

/// Start of the earliest retained event.
fn trace_start(t: &Trace) -> i64 {
    [t.api.start_ns.first(), t.activities.start_ns.first(), t.host_ops.start_ns.first()]
        .into_iter()
        .flatten()
        .copied()
        .min()
        .unwrap_or(i64::MAX)
}

/// Metrics computed on the source clock, reported relative to the origin.
fn shift_metrics(mut m: WindowMetrics, start: i64, end: i64, origin: i64) -> WindowMetrics {
    m.start_ns = start - origin;
    m.end_ns = end - origin;
    m
}

fn unshift(m: &WindowMetrics, origin: i64) -> WindowMetrics {
    let mut m = m.clone();
    m.start_ns += origin;
    m.end_ns += origin;
    m
}

impl Bound {
    /// A short tag for narrow displays.
    pub fn short(self) -> &'static str {
        match self {
            Bound::CpuBound => "CPU",
            Bound::GpuBound => "GPU",
            Bound::Transitional => "MIX",
            Bound::NoGpuWork => "-",
        }
    }
}
