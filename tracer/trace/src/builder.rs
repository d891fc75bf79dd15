//! [`TraceBuilder`]: the one interpretation of events. Every reader (Kineto
//! JSON, boundscope run files, the live CUPTI stream, the simulator) feeds it
//! typed events; it validates them, classifies API calls, interns names, and
//! produces a sorted, origin-relative [`Trace`].

use rustc_hash::FxHashMap;

use crate::api::classify_api;
use crate::diag::{Diagnostics, Location, WarningKind};
use crate::model::*;
use crate::strings::StrId;

/// A host API call, as a reader sees it.
#[derive(Debug, Clone, Copy)]
pub struct ApiCallIn<'a> {
    pub name: &'a str,
    pub pid: i64,
    pub tid: i64,
    pub start_ns: i64,
    pub end_ns: i64,
    pub correlation: u64,
    pub external_id: u64,
}

/// A GPU activity, as a reader sees it.
#[derive(Debug, Clone, Copy)]
pub struct ActivityIn<'a> {
    pub kind: ActivityKind,
    pub name: &'a str,
    pub device: u32,
    pub stream: u32,
    pub start_ns: i64,
    pub end_ns: i64,
    pub correlation: u64,
    pub external_id: u64,
    pub bytes: u64,
    pub queued_ns: Option<i64>,
    pub submitted_ns: Option<i64>,
    pub graph_id: Option<u32>,
    pub grid: [u32; 3],
    pub block: [u32; 3],
}

impl<'a> ActivityIn<'a> {
    /// An activity with only the required fields set.
    pub fn new(kind: ActivityKind, name: &'a str, device: u32, stream: u32, start_ns: i64, end_ns: i64) -> Self {
        ActivityIn {
            kind,
            name,
            device,
            stream,
            start_ns,
            end_ns,
            correlation: 0,
            external_id: 0,
            bytes: 0,
            queued_ns: None,
            submitted_ns: None,
            graph_id: None,
            grid: [0; 3],
            block: [0; 3],
        }
    }
}

/// A host range, as a reader sees it.
#[derive(Debug, Clone, Copy)]
pub struct HostOpIn<'a> {
    pub kind: HostOpKind,
    pub name: &'a str,
    pub pid: i64,
    pub tid: i64,
    pub start_ns: i64,
    pub end_ns: i64,
    pub external_id: u64,
}

/// A range on a GPU stream (gpu_user_annotation) or a CUPTI sync record.
#[derive(Debug, Clone, Copy)]
pub struct StreamRangeIn<'a> {
    pub name: &'a str,
    pub device: u32,
    pub stream: u32,
    pub start_ns: i64,
    pub end_ns: i64,
    pub correlation: u64,
}

/// Builds a [`Trace`] from events in any order.
#[derive(Debug, Default)]
pub struct TraceBuilder {
    trace: Trace,
    thread_index: FxHashMap<(i64, i64), ThreadIdx>,
    last_thread: Option<((i64, i64), ThreadIdx)>,
    process_index: FxHashMap<i64, usize>,
    location: Option<Location>,
}

impl TraceBuilder {
    pub fn new(source_format: &str) -> Self {
        let mut b = TraceBuilder::default();
        b.trace.meta.source_format = source_format.to_string();
        b
    }

    /// Where the next events come from, for warnings.
    pub fn set_location(&mut self, location: Location) {
        self.location = Some(location);
    }

    /// Where the current events come from, if the reader said.
    pub fn location(&self) -> Option<Location> {
        self.location
    }

    pub fn meta_mut(&mut self) -> &mut TraceMeta {
        &mut self.trace.meta
    }

    pub fn diagnostics_mut(&mut self) -> &mut Diagnostics {
        &mut self.trace.diagnostics
    }

    /// Records a warning at the current location.
    pub fn warn(&mut self, kind: WarningKind, message: impl FnOnce() -> String) {
        self.trace.diagnostics.warn(kind, self.location, message);
    }

    pub fn intern(&mut self, s: &str) -> StrId {
        self.trace.strings.intern(s)
    }

    /// Interns the name of an event, cutting one longer than [`MAX_NAME_BYTES`]
    /// (with a warning): such a name is damage, not a kernel, and keeping it
    /// would cost memory in every table and report that names it.
    fn name(&mut self, name: &str) -> StrId {
        if name.len() <= MAX_NAME_BYTES {
            return self.trace.strings.intern(name);
        }
        let mut cut = MAX_NAME_BYTES;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        let len = name.len();
        self.warn(WarningKind::LongName, || {
            format!(
                "a name of {len} bytes ('{}') was cut to its first {MAX_NAME_BYTES} bytes (real kernel and \
                 operator names are far shorter)",
                short(name)
            )
        });
        self.trace.strings.intern(&name[..cut])
    }

    /// The index of host thread (pid, tid), created on first sight.
    pub fn thread(&mut self, pid: i64, tid: i64) -> ThreadIdx {
        if let Some((key, idx)) = self.last_thread
            && key == (pid, tid)
        {
            return idx;
        }
        let next = ThreadIdx(self.trace.threads.len() as u32);
        let idx = *self.thread_index.entry((pid, tid)).or_insert(next);
        if idx == next {
            self.trace.threads.push(ThreadInfo { pid, tid, name: None });
            self.process(pid);
        }
        self.last_thread = Some(((pid, tid), idx));
        idx
    }

    fn process(&mut self, pid: i64) -> usize {
        let next = self.trace.processes.len();
        let idx = *self.process_index.entry(pid).or_insert(next);
        if idx == next {
            self.trace.processes.push(ProcessInfo { pid, name: None });
        }
        idx
    }

    pub fn set_process_name(&mut self, pid: i64, name: &str) {
        let id = self.name(name);
        let p = self.process(pid);
        self.trace.processes[p].name = Some(id);
    }

    pub fn set_thread_name(&mut self, pid: i64, tid: i64, name: &str) {
        let id = self.name(name);
        let t = self.thread(pid, tid);
        self.trace.threads[t.0 as usize].name = Some(id);
    }

    pub fn add_device(&mut self, device: DeviceInfo) {
        if let Some(d) = self.trace.devices.iter_mut().find(|d| d.id == device.id) {
            *d = device;
        } else {
            self.trace.devices.push(device);
        }
    }

    fn check_range(&mut self, what: &str, name: &str, start_ns: i64, end_ns: i64) -> bool {
        if end_ns < start_ns {
            self.warn(WarningKind::NegativeDuration, || {
                let dur = i128::from(end_ns) - i128::from(start_ns);
                format!("{what} '{}' has negative duration {dur} ns; event skipped", short(name))
            });
            return false;
        }
        if !time_in_range(start_ns) || !time_in_range(end_ns) {
            self.warn(WarningKind::ClockProblem, || {
                format!(
                    "{what} '{}' at {start_ns}..{end_ns} ns lies more than {} years from the clock's zero; \
                     event skipped",
                    short(name),
                    MAX_ABS_TIME_NS / YEAR_NS
                )
            });
            return false;
        }
        true
    }

    /// Adds a CUDA runtime/driver (or HIP) API call; its kind comes from its name.
    pub fn api_call(&mut self, c: ApiCallIn<'_>) {
        if !self.check_range("API call", c.name, c.start_ns, c.end_ns) {
            return;
        }
        let (kind, layer) = classify_api(c.name);
        let name = self.name(c.name);
        let thread = self.thread(c.pid, c.tid);
        let t = &mut self.trace.api;
        t.kind.push(kind);
        t.layer.push(layer);
        t.name.push(name);
        t.thread.push(thread);
        t.start_ns.push(c.start_ns);
        t.end_ns.push(c.end_ns);
        t.correlation.push(c.correlation);
        t.external_id.push(c.external_id);
    }

    pub fn gpu_activity(&mut self, mut a: ActivityIn<'_>) {
        if !self.check_range(a.kind.as_str(), a.name, a.start_ns, a.end_ns) {
            return;
        }
        for (field, t) in [("queued", &mut a.queued_ns), ("submitted", &mut a.submitted_ns)] {
            if let Some(v) = *t
                && !time_in_range(v)
            {
                *t = None;
                self.trace.diagnostics.warn(WarningKind::IgnoredField, self.location, || {
                    format!(
                        "{} '{}': \"{field}\" time {v} ns is out of range; field ignored",
                        a.kind.as_str(),
                        short(a.name)
                    )
                });
            }
        }
        let name = self.name(a.name);
        let t = &mut self.trace.activities;
        t.kind.push(a.kind);
        t.name.push(name);
        t.device.push(a.device);
        t.stream.push(a.stream);
        t.start_ns.push(a.start_ns);
        t.end_ns.push(a.end_ns);
        t.correlation.push(a.correlation);
        t.external_id.push(a.external_id);
        t.bytes.push(a.bytes);
        t.queued_ns.push(a.queued_ns);
        t.submitted_ns.push(a.submitted_ns);
        t.graph_id.push(a.graph_id);
        t.grid.push(a.grid);
        t.block.push(a.block);
    }

    pub fn host_op(&mut self, o: HostOpIn<'_>) {
        if !self.check_range("host op", o.name, o.start_ns, o.end_ns) {
            return;
        }
        let name = self.name(o.name);
        let thread = self.thread(o.pid, o.tid);
        let t = &mut self.trace.host_ops;
        t.kind.push(o.kind);
        t.name.push(name);
        t.thread.push(thread);
        t.start_ns.push(o.start_ns);
        t.end_ns.push(o.end_ns);
        t.external_id.push(o.external_id);
    }

    pub fn gpu_annotation(&mut self, r: StreamRangeIn<'_>) {
        if !self.check_range("GPU annotation", r.name, r.start_ns, r.end_ns) {
            return;
        }
        let name = self.name(r.name);
        let t = &mut self.trace.gpu_annotations;
        t.name.push(name);
        t.device.push(r.device);
        t.stream.push(r.stream);
        t.start_ns.push(r.start_ns);
        t.end_ns.push(r.end_ns);
    }

    pub fn sync_event(&mut self, r: StreamRangeIn<'_>) {
        if !self.check_range("sync", r.name, r.start_ns, r.end_ns) {
            return;
        }
        let name = self.name(r.name);
        let t = &mut self.trace.sync_events;
        t.name.push(name);
        t.device.push(r.device);
        t.stream.push(r.stream);
        t.start_ns.push(r.start_ns);
        t.end_ns.push(r.end_ns);
        t.correlation.push(r.correlation);
    }

    /// The index of a counter series, created on first sight.
    pub fn counter_series(&mut self, name: &str, unit: &str, device: Option<u32>) -> u32 {
        let name = self.name(name);
        let unit = self.name(unit);
        let series = CounterSeries { name, unit, device };
        let c = &mut self.trace.counters;
        if let Some(i) = c.series.iter().position(|s| *s == series) {
            return i as u32;
        }
        c.series.push(series);
        (c.series.len() - 1) as u32
    }

    pub fn counter_sample(&mut self, series: u32, time_ns: i64, value: f64) {
        if !time_in_range(time_ns) {
            self.warn(WarningKind::ClockProblem, || {
                format!(
                    "counter sample at {time_ns} ns lies more than {} years from the clock's zero; skipped",
                    MAX_ABS_TIME_NS / YEAR_NS
                )
            });
            return;
        }
        let c = &mut self.trace.counters;
        c.series_idx.push(series);
        c.time_ns.push(time_ns);
        c.value.push(value);
    }

    /// The events so far, every table sorted by start as [`Self::finish`]
    /// leaves them, but on the source's clock (no origin shift) and without
    /// steps. For incremental consumers (`boundscope_analysis::live`), which
    /// compute windows on it and drop old rows through [`Self::trace_mut`].
    pub fn sorted_view(&mut self) -> &Trace {
        sort_tables(&mut self.trace);
        &self.trace
    }

    /// The events so far, in arrival order until [`Self::sorted_view`] sorts them.
    pub fn trace_mut(&mut self) -> &mut Trace {
        &mut self.trace
    }

    /// Sorts every table by start, moves the origin to the earliest event, and
    /// finds the steps.
    pub fn finish(mut self) -> Trace {
        let t = &mut self.trace;
        sort_tables(t);
        drop_duplicate_activities(t);
        let origin = [
            t.api.start_ns.first(),
            t.activities.start_ns.first(),
            t.host_ops.start_ns.first(),
            t.gpu_annotations.start_ns.first(),
            t.sync_events.start_ns.first(),
            t.counters.time_ns.first(),
        ]
        .into_iter()
        .flatten()
        .copied()
        .min()
        .unwrap_or(0);
        t.meta.origin_ns = origin;
        t.api.shift(origin);
        t.activities.shift(origin);
        t.activities.shift_latency(origin);
        t.host_ops.shift(origin);
        t.gpu_annotations.shift(origin);
        t.sync_events.shift(origin);
        for x in &mut t.counters.time_ns {
            *x -= origin;
        }
        t.api.shrink();
        t.activities.shrink();
        t.host_ops.shrink();
        t.gpu_annotations.shrink();
        t.sync_events.shrink();
        t.steps = find_steps(t);
        self.trace
    }
}

fn sort_tables(t: &mut Trace) {
    t.api.sort_by_start();
    t.activities.sort_by_start();
    t.host_ops.sort_by_start();
    t.gpu_annotations.sort_by_start();
    t.sync_events.sort_by_start();
    t.counters.sort_by_time();
}

/// Drops GPU activities present twice (a trace merged with itself, or a
/// collector that wrote a buffer twice): every launch figure would count them
/// twice. Two rows are the same activity when kind, name, correlation,
/// device, stream, start and end are all equal; a stream runs one activity
/// at a time, so real activities never agree in all of them. The table is
/// sorted by (start, end), so equal rows are neighbours within a run of equal
/// (start, end); a run longer than one is checked with a hash set (linear
/// whatever its length).
fn drop_duplicate_activities(t: &mut Trace) {
    let a = &t.activities;
    let n = a.len();
    let mut keep = vec![true; n];
    let mut dropped = 0u64;
    let mut first: Option<usize> = None;
    let mut seen = rustc_hash::FxHashSet::default();
    let mut i = 0;
    while i < n {
        let mut j = i + 1;
        while j < n && a.start_ns[j] == a.start_ns[i] && a.end_ns[j] == a.end_ns[i] {
            j += 1;
        }
        if j - i > 1 {
            seen.clear();
            for (k, kept) in keep.iter_mut().enumerate().take(j).skip(i) {
                if !seen.insert((a.kind[k], a.name[k], a.correlation[k], a.device[k], a.stream[k])) {
                    *kept = false;
                    dropped += 1;
                    first.get_or_insert(k);
                }
            }
        }
        i = j;
    }
    let Some(k) = first else { return };
    let message = format!(
        "{} '{}' on device {} stream {} (correlation {}, start {} ns) appears more than once; each \
         duplicate is counted once (was the trace merged with itself?)",
        a.kind[k].as_str(),
        short(t.str(a.name[k])),
        a.device[k],
        a.stream[k],
        a.correlation[k],
        a.start_ns[k]
    );
    t.activities.retain_rows(|r| keep[r]);
    t.diagnostics.warn_n(WarningKind::DuplicateEvent, dropped, None, || message);
}

/// NVTX `boundscope:step` ranges when present, else `ProfilerStep#N` annotations.
fn find_steps(t: &Trace) -> Vec<Step> {
    let ops = &t.host_ops;
    let nvtx_step = t.strings.get(STEP_NVTX_NAME);
    let mut steps: Vec<Step> = Vec::new();
    if let Some(id) = nvtx_step {
        for i in 0..ops.len() {
            if ops.name[i] == id {
                steps.push(Step { number: steps.len() as i64, start_ns: ops.start_ns[i], end_ns: ops.end_ns[i] });
            }
        }
        if !steps.is_empty() {
            return steps;
        }
    }
    // Decide per distinct name once, not per event.
    let mut step_number: FxHashMap<StrId, Option<i64>> = FxHashMap::default();
    for i in 0..ops.len() {
        if ops.kind[i] != HostOpKind::Annotation {
            continue;
        }
        let n = *step_number.entry(ops.name[i]).or_insert_with(|| profiler_step_number(t.str(ops.name[i])));
        if let Some(number) = n {
            steps.push(Step { number, start_ns: ops.start_ns[i], end_ns: ops.end_ns[i] });
        }
    }
    steps
}

/// Largest distance of an event time from its clock's zero (about 146 years):
/// Kineto's epoch microseconds and CUPTI's nanoseconds are far inside it. With
/// every accepted time within it, the difference of any two times (durations,
/// launch-to-start, the shift to the trace origin) fits in an `i64`.
pub const MAX_ABS_TIME_NS: i64 = (1 << 62) - 1;

const YEAR_NS: i64 = 365 * 24 * 3600 * 1_000_000_000;

fn time_in_range(t: i64) -> bool {
    (-MAX_ABS_TIME_NS..=MAX_ABS_TIME_NS).contains(&t)
}

/// Longest name kept whole, in bytes. The longest real names (templated C++
/// kernels) are a few KiB; a longer one is cut, with a warning.
pub const MAX_NAME_BYTES: usize = 64 << 10;

/// Name of the NVTX range that marks one step of a boundscope workload.
pub const STEP_NVTX_NAME: &str = "boundscope:step";

/// `N` of a `ProfilerStep#N` name.
pub fn profiler_step_number(name: &str) -> Option<i64> {
    name.strip_prefix("ProfilerStep#")?.parse().ok()
}

/// Shortens long (templated kernel) names for messages.
pub(crate) fn short(name: &str) -> String {
    const MAX: usize = 80;
    if name.len() <= MAX {
        return name.to_string();
    }
    let mut end = MAX;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &name[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, start: i64, end: i64, corr: u64) -> ApiCallIn<'_> {
        ApiCallIn { name, pid: 1, tid: 1, start_ns: start, end_ns: end, correlation: corr, external_id: 0 }
    }

    #[test]
    fn sorts_shifts_and_classifies() {
        let mut b = TraceBuilder::new("test");
        b.api_call(call("cudaLaunchKernel", 2_000, 2_500, 7));
        b.api_call(call("cudaStreamSynchronize", 1_000, 1_100, 0));
        b.gpu_activity(ActivityIn::new(ActivityKind::Kernel, "k", 0, 7, 3_000, 4_000));
        let t = b.finish();
        assert_eq!(t.meta.origin_ns, 1_000);
        assert_eq!(t.api.start_ns, vec![0, 1_000]);
        assert_eq!(t.api.kind, vec![ApiKind::Sync, ApiKind::KernelLaunch]);
        assert_eq!(t.activities.start_ns, vec![2_000]);
        assert_eq!(t.threads.len(), 1);
    }

    #[test]
    fn negative_duration_is_skipped_and_counted() {
        let mut b = TraceBuilder::new("test");
        b.set_location(Location { event_index: 5, byte_offset: 99 });
        b.api_call(call("cudaLaunchKernel", 2_000, 1_000, 1));
        let t = b.finish();
        assert!(t.api.is_empty());
        assert_eq!(t.diagnostics.count(WarningKind::NegativeDuration), 1);
        let w = &t.diagnostics.warnings()[0];
        assert_eq!(w.first_location, Some(Location { event_index: 5, byte_offset: 99 }));
    }

    #[test]
    fn times_beyond_the_range_are_skipped_or_ignored_and_counted() {
        let mut b = TraceBuilder::new("test");
        b.api_call(call("cudaLaunchKernel", i64::MIN, 0, 1));
        b.api_call(call("cudaLaunchKernel", 0, i64::MAX, 2));
        let mut a = ActivityIn::new(ActivityKind::Kernel, "k", 0, 7, 10, 20);
        a.queued_ns = Some(i64::MIN);
        a.submitted_ns = Some(5);
        b.gpu_activity(a);
        let s = b.counter_series("util", "%", None);
        b.counter_sample(s, i64::MAX, 1.0);
        // Ends before it starts by more than i64 can hold: counted, not wrapped.
        b.api_call(call("cudaLaunchKernel", i64::MAX, i64::MIN, 3));
        let t = b.finish();
        assert!(t.api.is_empty() && t.counters.is_empty());
        assert_eq!(t.activities.len(), 1);
        assert_eq!((t.activities.queued_ns[0], t.activities.submitted_ns[0]), (None, Some(-5)));
        assert_eq!(t.diagnostics.count(WarningKind::ClockProblem), 3);
        assert_eq!(t.diagnostics.count(WarningKind::IgnoredField), 1);
        assert_eq!(t.diagnostics.count(WarningKind::NegativeDuration), 1);
    }

    #[test]
    fn finds_profiler_steps() {
        let mut b = TraceBuilder::new("test");
        for (n, s) in [(3, 100), (4, 200)] {
            b.host_op(HostOpIn {
                kind: HostOpKind::Annotation,
                name: &format!("ProfilerStep#{n}"),
                pid: 1,
                tid: 1,
                start_ns: s,
                end_ns: s + 90,
                external_id: 0,
            });
        }
        let t = b.finish();
        assert_eq!(t.steps.len(), 2);
        assert_eq!(t.steps[1], Step { number: 4, start_ns: 100, end_ns: 190 });
    }
}
