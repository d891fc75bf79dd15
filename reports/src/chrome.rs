//! Chrome trace JSON export, for Perfetto (ui.perfetto.dev) and chrome://tracing:
//! the trace's events on named host-thread and GPU-stream tracks, a flow arrow
//! from each launch call to its GPU activity, the per-launch quantities in the
//! `args` of every matched event, counter tracks (queue depth per stream, GPU
//! busy fraction, the trace's own counters), the window verdicts as a track
//! of their own, and each fusion suggestion's occurrences (and a foreach
//! optimizer update's span in each step) on an advice track below its stream. The layout is documented in `docs/chrome-trace.md`.
//!
//! Written by streaming: events are formatted straight from the columnar
//! tables into a buffer (names escaped once per interned string), never through
//! a `serde_json::Value`. Timestamps are exact decimal microseconds relative to
//! the trace origin, so a reader parsing them as doubles keeps the nanoseconds.
//! Perfetto requires the slices of one track to nest: an event that partially
//! overlaps an earlier one on its track goes to an overflow track
//! ("... (overlap 1)") whose events keep their exact `device`/`stream` args.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::path::Path;

use boundscope_analysis::advice::{Advice, FusionCandidate};
use boundscope_analysis::queue::{StreamDepth, stream_depths};
use boundscope_analysis::{Analysis, LaunchTable, WindowMetrics};
use boundscope_trace::kineto::DERIVED_CATEGORIES;
use boundscope_trace::{ActivityKind, ApiLayer, HostOpKind, Trace};

use crate::output::{ExportError, StreamedFile};
use crate::text::kernel_label;

/// Version of the export's layout (in `otherData.format`); bump on any
/// change a consumer could notice (track naming, args, categories).
pub const CHROME_FORMAT: &str = "boundscope.chrome/2";

/// Category of the verdict bars (skipped by boundscope's reader).
const CAT_VERDICT: &str = DERIVED_CATEGORIES[0];
/// Category of the counters derived from the analysis (skipped by boundscope's reader).
const CAT_DERIVED: &str = DERIVED_CATEGORIES[1];

/// The busy-fraction counter aims at about this many buckets over the trace.
const BUSY_BUCKETS: i64 = 2000;
/// Overflow tracks per track, at most; past it events share the last one.
const MAX_LANES: usize = 1024;

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChromeStats {
    /// Events in `traceEvents`, metadata included.
    pub events: u64,
    /// Bytes of JSON text (before any compression).
    pub json_bytes: u64,
    /// Launch-to-activity flow arrows (pairs of slices sharing a `bind_id`).
    pub flows: u64,
    /// Slices placed on an overflow track because they partially overlapped
    /// an earlier slice on their own track.
    pub overflow_slices: u64,
    /// Width of the busy-fraction buckets.
    pub busy_bucket_ns: i64,
    /// Fusion-suggestion occurrences drawn on the advice tracks.
    pub advice_slices: u64,
}

/// Writes the Chrome trace of `trace` to `path`, gzip-compressed when the
/// name ends in `.gz`. The file appears complete or not at all.
pub fn write_chrome_trace(trace: &Trace, analysis: &Analysis, path: &Path) -> Result<ChromeStats, ExportError> {
    let mut out = StreamedFile::create(path)?;
    let stats = write_chrome_json(trace, analysis, &mut out)
        .map_err(|e| ExportError::Io { path: path.to_path_buf(), error: e })?;
    out.finish()?;
    Ok(stats)
}

/// Streams the Chrome trace JSON of `trace` into `out`.
pub fn write_chrome_json<W: Write>(trace: &Trace, analysis: &Analysis, out: W) -> io::Result<ChromeStats> {
    let adv = &analysis.report.advice;
    let mut advice = fusion_occurrences(trace, &analysis.launches, &adv.fusion);
    if let Some(u) = &adv.optimizer {
        // The optimizer update's span in each step, after the fusion suggestions.
        let slices = advice.entry((u.device, u.stream)).or_default();
        slices.extend(u.spans_ns.iter().map(|&[start_ns, end_ns]| AdviceSlice {
            start_ns,
            end_ns,
            candidate: adv.fusion.len(),
            idle_ns: 0,
        }));
    }
    let layout = Layout::build(trace, advice);
    let mut w = EventWriter::new(out, trace);
    let busy_bucket_ns = busy_bucket_ns(layout.trace_end);
    write_header(&mut w, trace, analysis, busy_bucket_ns)?;
    write_metadata(&mut w, &layout)?;
    write_verdicts(&mut w, &layout, analysis)?;
    let links = Links::build(trace, &analysis.launches);
    let mut stats = ChromeStats { busy_bucket_ns, ..ChromeStats::default() };
    for g in &layout.groups {
        write_group(&mut w, trace, &analysis.launches, &links, g, &mut stats)?;
    }
    write_advice(&mut w, &layout, &analysis.report.advice, &mut stats)?;
    let depths = stream_depths(trace, &analysis.launches);
    write_queue_depth(&mut w, &layout, &depths)?;
    write_busy(&mut w, trace, &layout, busy_bucket_ns)?;
    write_trace_counters(&mut w, trace, &layout)?;
    w.finish()?;
    stats.events = w.events;
    stats.json_bytes = w.bytes;
    Ok(stats)
}

// ---------------------------------------------------------------------------
// Layout: which event goes on which (pid, tid), and what each is called.

/// Event classes, in the order that decides ties between identical intervals
/// on one track: the enclosing kind first (an operator before the launch
/// call it makes; an annotation before the kernels it spans).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    HostOp = 0,
    Api = 1,
    GpuAnnotation = 2,
    Sync = 3,
    Activity = 4,
}

impl Class {
    fn from_bits(b: u64) -> Class {
        match b {
            0 => Class::HostOp,
            1 => Class::Api,
            2 => Class::GpuAnnotation,
            3 => Class::Sync,
            _ => Class::Activity,
        }
    }
}

/// A row of one table, with the lane (overflow track) it was given, packed
/// into 8 bytes: lane in bits 48.., class in 40..48, row in 0..40.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ref(u64);

impl Ref {
    fn new(class: Class, row: usize) -> Ref {
        Ref(((class as u64) << 40) | row as u64)
    }
    fn class(self) -> Class {
        Class::from_bits((self.0 >> 40) & 0xff)
    }
    fn row(self) -> usize {
        (self.0 & ((1 << 40) - 1)) as usize
    }
    fn lane(self) -> usize {
        (self.0 >> 48) as usize
    }
    fn with_lane(self, lane: usize) -> Ref {
        Ref((self.0 & ((1 << 48) - 1)) | ((lane as u64) << 48))
    }
}

fn span(t: &Trace, r: Ref) -> (i64, i64) {
    let i = r.row();
    match r.class() {
        Class::HostOp => (t.host_ops.start_ns[i], t.host_ops.end_ns[i]),
        Class::Api => (t.api.start_ns[i], t.api.end_ns[i]),
        Class::GpuAnnotation => (t.gpu_annotations.start_ns[i], t.gpu_annotations.end_ns[i]),
        Class::Sync => (t.sync_events.start_ns[i], t.sync_events.end_ns[i]),
        Class::Activity => (t.activities.start_ns[i], t.activities.end_ns[i]),
    }
}

/// The events of one source track (a host thread or a GPU stream), in the
/// order they are written: by start, longer first, so that parents precede
/// their children.
#[derive(Debug)]
struct Group {
    /// The (pid, tid) of each lane; lane 0 is the track itself.
    lanes: Vec<(i64, i64)>,
    refs: Vec<Ref>,
}

/// One named (pid, tid).
#[derive(Debug)]
struct ThreadTrack {
    pid: i64,
    tid: i64,
    name: String,
    sort_index: i64,
}

/// One named pid.
#[derive(Debug)]
struct ProcessTrack {
    pid: i64,
    name: String,
    labels: Option<String>,
    sort_index: i64,
}

/// The advice track of one GPU stream: its fusion-suggestion occurrences,
/// each with its lane.
#[derive(Debug)]
struct AdviceGroup {
    /// The (pid, tid) of each lane; lane 0 is the advice track itself.
    lanes: Vec<(i64, i64)>,
    /// Rows of `slices` (as [`Ref`] rows) with their lanes, in start order.
    refs: Vec<Ref>,
    slices: Vec<AdviceSlice>,
}

#[derive(Debug)]
struct Layout {
    groups: Vec<Group>,
    advice: Vec<AdviceGroup>,
    threads: Vec<ThreadTrack>,
    processes: Vec<ProcessTrack>,
    /// Added to a device id to make its pid (0 unless a host pid equals a device id).
    gpu_pid_offset: i64,
    host_pids: BTreeSet<i64>,
    devices: BTreeSet<u32>,
    verdict_pid: i64,
    /// Process of counter series that belong to neither a GPU nor a host process.
    counter_pid: i64,
    /// End of the last event, in ns since the origin.
    trace_end: i64,
}

impl Layout {
    fn gpu_pid(&self, device: u32) -> i64 {
        i64::from(device) + self.gpu_pid_offset
    }

    fn build(t: &Trace, mut advice: BTreeMap<(u32, u32), Vec<AdviceSlice>>) -> Layout {
        // Source tracks: host threads by index, GPU streams by (device, stream).
        let mut host: Vec<Vec<Ref>> = vec![Vec::new(); t.threads.len()];
        for i in 0..t.host_ops.len() {
            if let Some(g) = host.get_mut(t.host_ops.thread[i].0 as usize) {
                g.push(Ref::new(Class::HostOp, i));
            }
        }
        for i in 0..t.api.len() {
            if let Some(g) = host.get_mut(t.api.thread[i].0 as usize) {
                g.push(Ref::new(Class::Api, i));
            }
        }
        let mut gpu: BTreeMap<(u32, u32), Vec<Ref>> = BTreeMap::new();
        let mut push_gpu = |class: Class, device: &[u32], stream: &[u32]| {
            for i in 0..device.len() {
                gpu.entry((device[i], stream[i])).or_default().push(Ref::new(class, i));
            }
        };
        push_gpu(Class::GpuAnnotation, &t.gpu_annotations.device, &t.gpu_annotations.stream);
        push_gpu(Class::Sync, &t.sync_events.device, &t.sync_events.stream);
        push_gpu(Class::Activity, &t.activities.device, &t.activities.stream);

        let host_pids: BTreeSet<i64> =
            host.iter().enumerate().filter(|(_, g)| !g.is_empty()).map(|(i, _)| t.threads[i].pid).collect();
        let gpu_devices: BTreeSet<u32> = gpu.keys().map(|&(d, _)| d).collect();
        let mut devices = gpu_devices.clone();
        devices.extend(t.devices.iter().map(|d| d.id));
        let gpu_pid_offset = if devices.iter().any(|&d| host_pids.contains(&i64::from(d))) {
            host_pids.last().copied().unwrap_or(0).max(0) + 1
        } else {
            0
        };
        let max_gpu_pid = devices.last().map_or(-1, |&d| i64::from(d) + gpu_pid_offset);
        let verdict_pid = host_pids.last().copied().unwrap_or(0).max(max_gpu_pid).max(0) + 1;
        let counter_pid = verdict_pid + 1;

        // Highest tid per pid, so that overflow tracks get fresh ones.
        let mut next_tid: BTreeMap<i64, i64> = BTreeMap::new();
        for (i, g) in host.iter().enumerate() {
            if !g.is_empty() {
                let th = &t.threads[i];
                let e = next_tid.entry(th.pid).or_insert(i64::MIN);
                *e = (*e).max(th.tid + 1);
            }
        }
        for &(d, s) in gpu.keys() {
            let e = next_tid.entry(i64::from(d) + gpu_pid_offset).or_insert(i64::MIN);
            *e = (*e).max(stream_tid(s) + 1);
        }

        let mut layout = Layout {
            groups: Vec::new(),
            advice: Vec::new(),
            threads: Vec::new(),
            processes: Vec::new(),
            gpu_pid_offset,
            host_pids,
            devices,
            verdict_pid,
            counter_pid,
            trace_end: trace_end(t),
        };

        // Host threads, ordered by (pid, tid).
        let mut host_order: Vec<usize> = (0..host.len()).filter(|&i| !host[i].is_empty()).collect();
        host_order.sort_by_key(|&i| (t.threads[i].pid, t.threads[i].tid));
        let mut sort_index = 0i64;
        for i in host_order {
            let th = &t.threads[i];
            let base = match th.name {
                Some(n) if !t.str(n).is_empty() => t.str(n).to_string(),
                _ => format!("thread {}", th.tid),
            };
            let refs = std::mem::take(&mut host[i]);
            layout.add_group(t, refs, th.pid, th.tid, &base, &mut next_tid, &mut sort_index);
        }
        for ((d, s), refs) in gpu {
            let pid = i64::from(d) + gpu_pid_offset;
            layout.add_group(
                t,
                refs,
                pid,
                stream_tid(s),
                &format!("GPU {d} stream {s}"),
                &mut next_tid,
                &mut sort_index,
            );
            if let Some(slices) = advice.remove(&(d, s)) {
                layout.add_advice(pid, &format!("GPU {d} stream {s} advice"), slices, &mut next_tid, &mut sort_index);
            }
        }

        // Processes: verdicts on top, then host processes, then GPUs. A
        // simulated platform says so on every process: its events are a model's.
        let model = if t.meta.simulated { " (model)" } else { "" };
        layout.processes.push(ProcessTrack {
            pid: verdict_pid,
            name: "boundscope verdicts".into(),
            labels: Some(format!("CPU-bound / GPU-bound per window{model}")),
            sort_index: -1,
        });
        for (k, &pid) in layout.host_pids.iter().enumerate() {
            let name = t
                .processes
                .iter()
                .find(|p| p.pid == pid)
                .and_then(|p| p.name)
                .map(|n| t.str(n).to_string())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| format!("process {pid}"));
            layout.processes.push(ProcessTrack {
                pid,
                name,
                labels: Some(format!("CPU{model}")),
                sort_index: k as i64,
            });
        }
        let n_host = layout.host_pids.len() as i64;
        // GPUs named by the trace but without events or counters get no process.
        let shown: Vec<u32> = layout
            .devices
            .iter()
            .copied()
            .filter(|&d| gpu_devices.contains(&d) || t.counters.series.iter().any(|s| s.device == Some(d)))
            .collect();
        for (k, &d) in shown.iter().enumerate() {
            let labels = t
                .devices
                .iter()
                .find(|x| x.id == d)
                .map(|x| x.name.clone())
                .filter(|n| !n.is_empty())
                .map(|n| format!("{n}{model}"))
                .or_else(|| t.meta.simulated.then(|| "simulated".to_string()));
            layout.processes.push(ProcessTrack {
                pid: i64::from(d) + gpu_pid_offset,
                name: format!("GPU {d}"),
                labels,
                sort_index: n_host + k as i64,
            });
        }
        if !t.counters.series.is_empty()
            && t.counters.series.iter().any(|s| layout.counter_pid_of(s.device) == counter_pid)
        {
            layout.processes.push(ProcessTrack {
                pid: counter_pid,
                name: "counters".into(),
                labels: None,
                sort_index: n_host + shown.len() as i64,
            });
        }
        layout
    }

    /// Orders one source track's events, splits them into properly nested
    /// lanes, and names the lanes.
    #[allow(clippy::too_many_arguments)]
    fn add_group(
        &mut self,
        t: &Trace,
        mut refs: Vec<Ref>,
        pid: i64,
        tid: i64,
        name: &str,
        next_tid: &mut BTreeMap<i64, i64>,
        sort_index: &mut i64,
    ) {
        // Rows of each table are already in start order, so this sort merges a
        // few sorted runs.
        refs.sort_by_key(|&r| {
            let (s, e) = span(t, r);
            (s, std::cmp::Reverse(e), r.class(), r.row())
        });
        let (n_lanes, _) = assign_lanes(&mut refs, |r| span(t, r));
        let mut lanes = Vec::with_capacity(n_lanes);
        for k in 0..n_lanes {
            let (lane_tid, lane_name) = if k == 0 {
                (tid, name.to_string())
            } else {
                let e = next_tid.entry(pid).or_insert(0);
                let fresh = *e;
                *e += 1;
                (fresh, format!("{name} (overlap {k})"))
            };
            lanes.push((pid, lane_tid));
            self.threads.push(ThreadTrack { pid, tid: lane_tid, name: lane_name, sort_index: *sort_index });
            *sort_index += 1;
        }
        self.groups.push(Group { lanes, refs });
    }

    /// The advice track of a stream, right below the stream's own tracks,
    /// with overflow tracks should two occurrences overlap.
    fn add_advice(
        &mut self,
        pid: i64,
        name: &str,
        slices: Vec<AdviceSlice>,
        next_tid: &mut BTreeMap<i64, i64>,
        sort_index: &mut i64,
    ) {
        // Refs only for their row and lane packing: the class is not used here.
        let mut refs: Vec<Ref> = (0..slices.len()).map(|i| Ref::new(Class::Activity, i)).collect();
        let span = |x: Ref| (slices[x.row()].start_ns, slices[x.row()].end_ns);
        refs.sort_by_key(|&x| (span(x).0, std::cmp::Reverse(span(x).1), x.row()));
        let (n_lanes, _) = assign_lanes(&mut refs, span);
        let mut lanes = Vec::with_capacity(n_lanes);
        for k in 0..n_lanes {
            let e = next_tid.entry(pid).or_insert(0);
            let tid = *e;
            *e += 1;
            let lane_name = if k == 0 { name.to_string() } else { format!("{name} (overlap {k})") };
            lanes.push((pid, tid));
            self.threads.push(ThreadTrack { pid, tid, name: lane_name, sort_index: *sort_index });
            *sort_index += 1;
        }
        self.advice.push(AdviceGroup { lanes, refs, slices });
    }

    /// The pid a counter series is drawn in: its GPU's, else the host process
    /// of that pid, else the "counters" process.
    fn counter_pid_of(&self, device: Option<u32>) -> i64 {
        match device {
            Some(d) if self.devices.contains(&d) => self.gpu_pid(d),
            Some(d) if self.host_pids.contains(&i64::from(d)) => i64::from(d),
            _ => self.counter_pid,
        }
    }
}

/// Gives each event (in start order, longer first) the first lane on which it
/// nests: it starts at or after the end of the lane's open slices, or ends
/// within the innermost one. Returns the number of lanes and how many events
/// left lane 0.
fn assign_lanes(refs: &mut [Ref], span: impl Fn(Ref) -> (i64, i64)) -> (usize, u64) {
    // Per lane, the ends of its open slices, innermost last.
    let mut open: Vec<Vec<i64>> = vec![Vec::new()];
    let mut moved = 0u64;
    for r in refs.iter_mut() {
        let (s, e) = span(*r);
        let mut chosen = None;
        for (k, stack) in open.iter_mut().enumerate() {
            while stack.last().is_some_and(|&end| end <= s) {
                stack.pop();
            }
            if stack.last().is_none_or(|&end| e <= end) {
                stack.push(e);
                chosen = Some(k);
                break;
            }
        }
        let lane = match chosen {
            Some(k) => k,
            None if open.len() < MAX_LANES => {
                open.push(vec![e]);
                open.len() - 1
            }
            // Pathological overlap: share the last lane rather than grow without bound.
            None => open.len() - 1,
        };
        moved += u64::from(lane > 0);
        *r = r.with_lane(lane);
    }
    (open.len(), moved)
}

/// The tid of a stream's track: the stream id as a signed 32-bit number, as
/// Kineto writes it (stream 4294967295, CUPTI's "any stream", is tid -1), so
/// that viewers that read tids as 32-bit integers accept it. `args.stream`
/// keeps the exact id.
fn stream_tid(stream: u32) -> i64 {
    i64::from(stream as i32)
}

/// End of the last event of any table, in ns since the origin.
fn trace_end(t: &Trace) -> i64 {
    [
        t.api.end_ns.iter().max(),
        t.activities.end_ns.iter().max(),
        t.host_ops.end_ns.iter().max(),
        t.gpu_annotations.end_ns.iter().max(),
        t.sync_events.end_ns.iter().max(),
        t.counters.time_ns.iter().max(),
    ]
    .into_iter()
    .flatten()
    .copied()
    .max()
    .unwrap_or(0)
}

/// Width of the busy-fraction buckets: the smallest 1-2-5 step (1 us, 2 us,
/// 5 us, 10 us, ...) that cuts the trace into at most [`BUSY_BUCKETS`].
fn busy_bucket_ns(span_ns: i64) -> i64 {
    let target = (span_ns / BUSY_BUCKETS).max(1);
    let mut decade = 1_000i64;
    loop {
        for m in [1, 2, 5] {
            if decade * m >= target {
                return decade * m;
            }
        }
        decade = decade.saturating_mul(10);
    }
}

// ---------------------------------------------------------------------------
// Advice: where each fusion suggestion occurs.

/// One occurrence of a fusion suggestion: from its first kernel's start to
/// its last kernel's end.
#[derive(Debug, Clone, Copy)]
struct AdviceSlice {
    start_ns: i64,
    end_ns: i64,
    /// Index of the suggestion in `Advice::fusion` (its rank - 1).
    candidate: usize,
    /// GPU idle time inside this occurrence: the gaps before its 2nd..Lth kernels.
    idle_ns: i64,
}

/// Finds the occurrences of each fusion suggestion from its kernel names on
/// its stream, as the advice counts them: the stream's kernel launches (not
/// graph-internal) in launch order, cut wherever a blocking call starts
/// between two launches; a run of launches whose names are the chain's is an
/// occurrence unless it overlaps an earlier occurrence of the same chain or
/// a launch taken by a higher-ranked suggestion. The suggestion itself says
/// only which kernels, on which stream: its positions are found here.
fn fusion_occurrences(
    t: &Trace,
    l: &LaunchTable,
    fusion: &[FusionCandidate],
) -> BTreeMap<(u32, u32), Vec<AdviceSlice>> {
    let mut out: BTreeMap<(u32, u32), Vec<AdviceSlice>> = BTreeMap::new();
    if fusion.is_empty() {
        return out;
    }
    let a = &t.activities;
    let api = &t.api;
    let wanted: BTreeSet<(u32, u32)> = fusion.iter().map(|c| (c.device, c.stream)).collect();
    let mut rows: BTreeMap<(u32, u32), Vec<usize>> = BTreeMap::new();
    for r in 0..l.len() {
        let i = l.activity[r] as usize;
        if a.kind[i] == ActivityKind::Kernel && !l.graph_internal[r] && wanted.contains(&(a.device[i], a.stream[i])) {
            rows.entry((a.device[i], a.stream[i])).or_default().push(r);
        }
    }
    let syncs: Vec<i64> = (0..api.len()).filter(|&i| api.kind[i].is_blocking()).map(|i| api.start_ns[i]).collect();
    for (key, mut rs) in rows {
        rs.sort_by_key(|&r| (api.start_ns[l.api[r] as usize], r));
        // Segment of each launch: a new one after every blocking call between two launches.
        let mut seg = Vec::with_capacity(rs.len());
        let mut cur = 0u32;
        for (k, &r) in rs.iter().enumerate() {
            if k > 0 {
                let (t0, t1) = (api.start_ns[l.api[rs[k - 1]] as usize], api.start_ns[l.api[r] as usize]);
                let j = syncs.partition_point(|&x| x <= t0);
                cur += u32::from(j < syncs.len() && syncs[j] < t1);
            }
            seg.push(cur);
        }
        let names: Vec<&str> = rs.iter().map(|&r| t.str(a.name[l.activity[r] as usize])).collect();
        let mut claimed = vec![false; rs.len()];
        let slices = out.entry(key).or_default();
        for (ci, c) in fusion.iter().enumerate() {
            let len = c.kernels.len();
            if (c.device, c.stream) != key || len == 0 || len > rs.len() {
                continue;
            }
            let mut taken = Vec::new();
            let mut p = 0;
            while p + len <= rs.len() {
                let fits = seg[p] == seg[p + len - 1]
                    && !claimed[p..p + len].iter().any(|&x| x)
                    && names[p..p + len].iter().zip(&c.kernels).all(|(n, k)| *n == k.as_str());
                if !fits {
                    p += 1;
                    continue;
                }
                let acts = rs[p..p + len].iter().map(|&r| l.activity[r] as usize);
                slices.push(AdviceSlice {
                    start_ns: acts.clone().map(|i| a.start_ns[i]).min().unwrap_or(0),
                    end_ns: acts.map(|i| a.end_ns[i]).max().unwrap_or(0),
                    candidate: ci,
                    idle_ns: rs[p + 1..p + len].iter().map(|&r| l.gap_before_ns[r]).sum(),
                });
                taken.push(p);
                p += len;
            }
            for p in taken {
                claimed[p..p + len].iter_mut().for_each(|x| *x = true);
            }
        }
    }
    out.retain(|_, v| !v.is_empty());
    out
}

/// A suggestion's slice name: its rank and the pattern the advice
/// recognized, else its kernels' short names.
fn advice_name(rank: usize, c: &FusionCandidate) -> String {
    if !c.pattern.is_empty() {
        return format!("fuse #{rank}: {}", c.pattern);
    }
    let chain: Vec<String> = c.kernels.iter().map(|k| kernel_label(k)).collect();
    format!("fuse #{rank}: {}", chain.join(" -> "))
}

/// Each fusion suggestion's occurrences, and the optimizer update's span in
/// each step, as slices on its stream's advice track.
fn write_advice<W: Write>(
    w: &mut EventWriter<W>,
    layout: &Layout,
    advice: &Advice,
    stats: &mut ChromeStats,
) -> io::Result<()> {
    let fusion = &advice.fusion;
    let names: Vec<String> = fusion.iter().enumerate().map(|(i, c)| advice_name(i + 1, c)).collect();
    for g in &layout.advice {
        for &x in &g.refs {
            let o = g.slices[x.row()];
            let (pid, tid) = g.lanes[x.lane()];
            let Some(c) = fusion.get(o.candidate) else {
                if let Some(u) = &advice.optimizer {
                    let name = format!("optimizer: {} update, fused=True", u.optimizer);
                    w.begin("X", Some(CAT_DERIVED), Name::Text(&name), pid, Some(tid), o.start_ns);
                    w.dur(o.end_ns - o.start_ns);
                    w.args();
                    w.arg_u64("ops_per_step", u.ops_per_step);
                    w.arg_u64("launches_per_step", u.launches_per_step);
                    w.arg_f64("saving_per_step_ns", Some(u.saving_per_step_ns));
                    w.arg_str("remedy", &u.remedy);
                    w.end_args();
                    w.end()?;
                    stats.advice_slices += 1;
                }
                continue;
            };
            w.begin("X", Some(CAT_DERIVED), Name::Text(&names[o.candidate]), pid, Some(tid), o.start_ns);
            w.dur(o.end_ns - o.start_ns);
            w.args();
            w.arg_u64("suggestion", o.candidate as u64 + 1);
            w.arg_str("pattern", &c.pattern);
            w.arg_u64("device", u64::from(c.device));
            w.arg_u64("stream", u64::from(c.stream));
            w.arg_i64("idle_inside_ns", o.idle_ns);
            w.arg_f64("saving_per_occurrence_ns", Some(c.saving_per_occurrence_ns));
            w.arg_i64("total_saving_ns", c.total_saving_ns);
            w.arg_f64("saving_frac", Some(c.saving_frac));
            w.key("kernels");
            w.buf.push(b'[');
            for (i, k) in c.kernels.iter().enumerate() {
                if i > 0 {
                    w.buf.push(b',');
                }
                push_json_str(&mut w.buf, k);
            }
            w.buf.push(b']');
            w.end_args();
            w.end()?;
            stats.advice_slices += 1;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Links between launch calls and activities.

const NONE: u32 = u32::MAX;

/// For each launch call and each activity, its row in the launch table (the
/// first one that is not graph-internal), and whether a flow arrow joins them.
#[derive(Debug)]
struct Links {
    api_row: Vec<u32>,
    activity_row: Vec<u32>,
    /// Launch rows that carry a flow arrow: one per launch call.
    flow: Vec<bool>,
}

impl Links {
    fn build(t: &Trace, l: &LaunchTable) -> Links {
        let mut api_row = vec![NONE; t.api.len()];
        let mut activity_row = vec![NONE; t.activities.len()];
        let mut flow = vec![false; l.len()];
        for r in 0..l.len() {
            activity_row[l.activity[r] as usize] = r as u32;
            if l.graph_internal[r] {
                continue;
            }
            let a = &mut api_row[l.api[r] as usize];
            if *a == NONE {
                // One arrow per launch call: a correlation id is then used by
                // one flow only. Id 0 would be ignored by the legacy viewer
                // (it tests `bind_id` for truth); a matched launch never has it.
                *a = r as u32;
                flow[r] = t.api.correlation[l.api[r] as usize] != 0;
            }
        }
        Links { api_row, activity_row, flow }
    }
}

// ---------------------------------------------------------------------------
// Writing.

/// Formats events into a buffer and hands it to the output in large pieces.
struct EventWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    /// Every interned name, JSON-escaped with its quotes, once.
    names: Vec<Box<[u8]>>,
    first_event: bool,
    /// No argument written yet in the current `args` object.
    first_arg: bool,
    events: u64,
    bytes: u64,
}

const FLUSH_AT: usize = 256 << 10;

impl<W: Write> EventWriter<W> {
    fn new(out: W, t: &Trace) -> Self {
        let names = (0..t.strings.len())
            .map(|i| {
                let mut v = Vec::new();
                push_json_str(&mut v, t.str(boundscope_trace::StrId(i as u32)));
                v.into_boxed_slice()
            })
            .collect();
        EventWriter {
            out,
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            names,
            first_event: true,
            first_arg: true,
            events: 0,
            bytes: 0,
        }
    }

    fn raw(&mut self, s: &str) {
        self.buf.extend_from_slice(s.as_bytes());
    }

    fn flush_if_full(&mut self) -> io::Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.bytes += self.buf.len() as u64;
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// `{"ph":..,"cat":..,"name":..,"pid":..` (and `"tid"` when given) `,"ts":..`
    fn begin(&mut self, ph: &str, cat: Option<&str>, name: Name<'_>, pid: i64, tid: Option<i64>, ts_ns: i64) {
        self.raw(if self.first_event { "\n{\"ph\":\"" } else { ",\n{\"ph\":\"" });
        self.first_event = false;
        self.events += 1;
        self.raw(ph);
        self.raw("\"");
        if let Some(cat) = cat {
            self.raw(",\"cat\":\"");
            self.raw(cat);
            self.raw("\"");
        }
        self.raw(",\"name\":");
        match name {
            Name::Id(id) => {
                let n = &self.names[id as usize];
                self.buf.extend_from_slice(n);
            }
            Name::Text(s) => push_json_str(&mut self.buf, s),
        }
        self.raw(",\"pid\":");
        push_i64(&mut self.buf, pid);
        if let Some(tid) = tid {
            self.raw(",\"tid\":");
            push_i64(&mut self.buf, tid);
        }
        self.raw(",\"ts\":");
        push_us(&mut self.buf, ts_ns);
    }

    fn dur(&mut self, ns: i64) {
        self.raw(",\"dur\":");
        push_us(&mut self.buf, ns);
    }

    /// One end of a flow arrow on the slice being written (flow v2):
    /// `"bind_id":id,"flow_out":true` on the launch call, `"flow_in":true`
    /// on its activity. Viewers bind a v2 end to the slice that carries it,
    /// so slices that touch cannot take each other's arrows.
    fn flow(&mut self, direction: &str, id: u64) {
        self.raw(",\"bind_id\":");
        push_u64(&mut self.buf, id);
        self.raw(",\"");
        self.raw(direction);
        self.raw("\":true");
    }

    fn args(&mut self) {
        self.raw(",\"args\":{");
        self.first_arg = true;
    }

    fn key(&mut self, key: &str) {
        if !self.first_arg {
            self.buf.push(b',');
        }
        self.first_arg = false;
        push_json_str(&mut self.buf, key);
        self.buf.push(b':');
    }

    fn arg_i64(&mut self, key: &str, v: i64) {
        self.key(key);
        push_i64(&mut self.buf, v);
    }

    fn arg_u64(&mut self, key: &str, v: u64) {
        self.key(key);
        push_u64(&mut self.buf, v);
    }

    fn arg_f64(&mut self, key: &str, v: Option<f64>) {
        self.key(key);
        push_f64(&mut self.buf, v);
    }

    fn arg_str(&mut self, key: &str, v: &str) {
        self.key(key);
        push_json_str(&mut self.buf, v);
    }

    fn arg_dims(&mut self, key: &str, v: [u32; 3]) {
        self.key(key);
        self.buf.push(b'[');
        for (i, x) in v.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            push_u64(&mut self.buf, u64::from(*x));
        }
        self.buf.push(b']');
    }

    fn end_args(&mut self) {
        self.buf.push(b'}');
    }

    fn end(&mut self) -> io::Result<()> {
        self.buf.push(b'}');
        self.flush_if_full()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.raw("\n]}\n");
        self.bytes += self.buf.len() as u64;
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.out.flush()
    }
}

/// An event name: an interned string (escaped once) or text.
#[derive(Clone, Copy)]
enum Name<'a> {
    Id(u32),
    Text(&'a str),
}

fn write_header<W: Write>(w: &mut EventWriter<W>, t: &Trace, analysis: &Analysis, bucket_ns: i64) -> io::Result<()> {
    let m = &t.meta;
    // Kineto's convention: absolute time = baseTimeNanoseconds + ts * 1000.
    let base = m.base_time_ns.unwrap_or(0).saturating_add(m.origin_ns);
    w.raw("{\"schemaVersion\":1,\"displayTimeUnit\":\"ns\",\"baseTimeNanoseconds\":");
    push_i64(&mut w.buf, base);
    if let Some(name) = &m.trace_name {
        w.raw(",\"traceName\":");
        push_json_str(&mut w.buf, name);
    }
    if let Some(rank) = m.rank {
        w.raw(",\"distributedInfo\":{\"rank\":");
        push_i64(&mut w.buf, rank);
        w.raw("}");
    }
    if !t.devices.is_empty() {
        w.raw(",\"deviceProperties\":[");
        for (i, d) in t.devices.iter().enumerate() {
            if i > 0 {
                w.raw(",");
            }
            w.raw("{\"id\":");
            push_u64(&mut w.buf, u64::from(d.id));
            w.raw(",\"name\":");
            push_json_str(&mut w.buf, &d.name);
            if let Some(mem) = d.total_mem_bytes {
                w.raw(",\"totalGlobalMem\":");
                push_u64(&mut w.buf, mem);
            }
            if let Some((major, minor)) = d.compute_capability {
                w.raw(",\"computeMajor\":");
                push_u64(&mut w.buf, u64::from(major));
                w.raw(",\"computeMinor\":");
                push_u64(&mut w.buf, u64::from(minor));
            }
            if let Some(sms) = d.sm_count {
                w.raw(",\"numSms\":");
                push_u64(&mut w.buf, u64::from(sms));
            }
            w.raw("}");
        }
        w.raw("]");
    }
    let r = &analysis.report;
    w.raw(",\"otherData\":{\"format\":");
    push_json_str(&mut w.buf, CHROME_FORMAT);
    w.raw(",\"generator\":");
    push_json_str(&mut w.buf, concat!("boundscope ", env!("CARGO_PKG_VERSION")));
    w.raw(",\"source\":");
    push_json_str(&mut w.buf, &r.source);
    w.raw(",\"source_format\":");
    push_json_str(&mut w.buf, &m.source_format);
    w.raw(",\"simulated\":");
    w.raw(if m.simulated { "true" } else { "false" });
    w.raw(",\"time_origin\":\"ts 0 is the trace's first event; absolute ns = baseTimeNanoseconds + ts * 1000\"");
    w.raw(",\"verdict\":");
    push_json_str(&mut w.buf, &format!("{} ({})", r.headline.bound.as_str(), r.headline.basis));
    w.raw(",\"busy_bucket_ns\":");
    push_i64(&mut w.buf, bucket_ns);
    w.raw("},\"traceEvents\":[");
    Ok(())
}

fn write_metadata<W: Write>(w: &mut EventWriter<W>, layout: &Layout) -> io::Result<()> {
    for p in &layout.processes {
        w.begin_meta("process_name", p.pid, None);
        w.arg_str("name", &p.name);
        w.end_args();
        w.end()?;
        if let Some(labels) = &p.labels {
            w.begin_meta("process_labels", p.pid, None);
            w.arg_str("labels", labels);
            w.end_args();
            w.end()?;
        }
        w.begin_meta("process_sort_index", p.pid, None);
        w.arg_i64("sort_index", p.sort_index);
        w.end_args();
        w.end()?;
    }
    for th in &layout.threads {
        w.begin_meta("thread_name", th.pid, Some(th.tid));
        w.arg_str("name", &th.name);
        w.end_args();
        w.end()?;
        w.begin_meta("thread_sort_index", th.pid, Some(th.tid));
        w.arg_i64("sort_index", th.sort_index);
        w.end_args();
        w.end()?;
    }
    Ok(())
}

impl<W: Write> EventWriter<W> {
    /// A metadata event (no timestamp), up to its open `args`.
    fn begin_meta(&mut self, name: &str, pid: i64, tid: Option<i64>) {
        self.raw(if self.first_event { "\n{\"ph\":\"M\",\"name\":" } else { ",\n{\"ph\":\"M\",\"name\":" });
        self.first_event = false;
        self.events += 1;
        push_json_str(&mut self.buf, name);
        self.raw(",\"pid\":");
        push_i64(&mut self.buf, pid);
        if let Some(tid) = tid {
            self.raw(",\"tid\":");
            push_i64(&mut self.buf, tid);
        }
        self.args();
    }
}

/// The verdict of each step (tid 1) and of the whole trace (tid 0), with the
/// numbers it was decided on.
fn write_verdicts<W: Write>(w: &mut EventWriter<W>, layout: &Layout, analysis: &Analysis) -> io::Result<()> {
    let r = &analysis.report;
    let whole = &r.trace_window;
    write_verdict(w, layout.verdict_pid, 0, whole, 0, layout.trace_end)?;
    // Steps may overlap (nested ranges, several ranks); give each a lane.
    // Refs only for their row and lane packing: the class is not used here.
    let mut refs: Vec<Ref> = (0..r.steps.len()).map(|i| Ref::new(Class::HostOp, i)).collect();
    let step_span = |x: Ref| (r.steps[x.row()].start_ns, r.steps[x.row()].end_ns);
    refs.sort_by_key(|&x| (step_span(x).0, std::cmp::Reverse(step_span(x).1), x.row()));
    let (lanes, _) = assign_lanes(&mut refs, step_span);
    for x in refs {
        let s = &r.steps[x.row()];
        // Steps on tid 1; overflow lanes on tids 2, 3, ...: named below.
        let tid = 1 + x.lane() as i64;
        write_verdict(w, layout.verdict_pid, tid, s, s.start_ns, s.end_ns)?;
    }
    let names = std::iter::once("whole trace".to_string()).chain(
        (0..lanes)
            .filter(|_| !r.steps.is_empty())
            .map(|k| if k == 0 { "steps".to_string() } else { format!("steps (overlap {k})") }),
    );
    for (tid, name) in names.enumerate() {
        w.begin_meta("thread_name", layout.verdict_pid, Some(tid as i64));
        w.arg_str("name", &name);
        w.end_args();
        w.end()?;
        // Whole trace first, then the steps and their overflow tracks.
        w.begin_meta("thread_sort_index", layout.verdict_pid, Some(tid as i64));
        w.arg_i64("sort_index", tid as i64);
        w.end_args();
        w.end()?;
    }
    Ok(())
}

fn write_verdict<W: Write>(
    w: &mut EventWriter<W>,
    pid: i64,
    tid: i64,
    m: &WindowMetrics,
    start: i64,
    end: i64,
) -> io::Result<()> {
    w.begin("X", Some(CAT_VERDICT), Name::Text(m.verdict.bound.as_str()), pid, Some(tid), start);
    w.dur((end - start).max(0));
    w.args();
    w.arg_str("window", &m.label);
    if let Some(n) = m.step {
        w.arg_i64("step", n);
    }
    w.arg_f64("busy_frac", m.busy_frac);
    w.arg_u64("kernels", m.kernels);
    w.arg_i64("tklqt_ns", m.tklqt_ns);
    w.arg_f64("mean_launch_to_start_ns", Some(m.mean_launch_to_start_ns));
    w.arg_i64("il_ns", m.il_ns);
    w.arg_i64("gpu_busy_ns", m.gpu_busy_ns);
    w.arg_i64("gpu_idle_ns", m.gpu_idle_ns);
    w.arg_i64("launch_bound_idle_ns", m.launch_bound_idle_ns);
    w.arg_i64("exposed_launch_ns", m.exposed_launch_ns);
    w.arg_i64("host_wait_ns", m.host_wait_ns);
    w.arg_f64("queue_p50_ns", Some(m.queue.p50_ns));
    let depth_gt1 = m.queue_depth.iter().map(|d| d.frac_time_depth_gt1).fold(0.0, f64::max);
    w.arg_f64("max_stream_frac_time_depth_gt1", Some(depth_gt1));
    w.key("evidence");
    w.buf.push(b'[');
    for (i, e) in m.verdict.evidence.iter().enumerate() {
        if i > 0 {
            w.buf.push(b',');
        }
        push_json_str(&mut w.buf, e);
    }
    w.buf.push(b']');
    w.end_args();
    w.end()
}

fn host_category(kind: HostOpKind) -> &'static str {
    match kind {
        HostOpKind::Operator => "cpu_op",
        HostOpKind::Annotation => "user_annotation",
        HostOpKind::Nvtx => "nvtx",
        HostOpKind::Python => "python_function",
        HostOpKind::Other => "host_range",
    }
}

fn activity_category(kind: ActivityKind) -> &'static str {
    match kind {
        ActivityKind::Kernel => "kernel",
        ActivityKind::Memcpy => "gpu_memcpy",
        ActivityKind::Memset => "gpu_memset",
    }
}

/// The per-launch quantities of launch row `r`.
fn launch_args<W: Write>(w: &mut EventWriter<W>, l: &LaunchTable, r: usize) {
    w.arg_i64("launch_to_start_ns", l.launch_to_start_ns[r]);
    w.arg_i64("api_ns", l.api_ns[r]);
    w.arg_i64("queue_ns", l.queue_ns[r]);
    w.arg_i64("exposed_launch_ns", l.exposed_launch_ns[r]);
    w.arg_i64("gap_before_ns", l.gap_before_ns[r]);
}

fn write_group<W: Write>(
    w: &mut EventWriter<W>,
    t: &Trace,
    l: &LaunchTable,
    links: &Links,
    g: &Group,
    stats: &mut ChromeStats,
) -> io::Result<()> {
    for &x in &g.refs {
        let (pid, tid) = g.lanes[x.lane()];
        stats.overflow_slices += u64::from(x.lane() > 0);
        let i = x.row();
        match x.class() {
            Class::HostOp => {
                let h = &t.host_ops;
                w.begin("X", Some(host_category(h.kind[i])), Name::Id(h.name[i].0), pid, Some(tid), h.start_ns[i]);
                w.dur(h.end_ns[i] - h.start_ns[i]);
                if h.external_id[i] != 0 {
                    w.args();
                    w.arg_u64("External id", h.external_id[i]);
                    w.end_args();
                }
                w.end()?;
            }
            Class::Api => {
                let a = &t.api;
                let cat = match a.layer[i] {
                    ApiLayer::Runtime => "cuda_runtime",
                    ApiLayer::Driver => "cuda_driver",
                };
                w.begin("X", Some(cat), Name::Id(a.name[i].0), pid, Some(tid), a.start_ns[i]);
                w.dur(a.end_ns[i] - a.start_ns[i]);
                let r = links.api_row[i];
                if r != NONE && links.flow[r as usize] {
                    // The arrow leaves this slice (flow v2: bound to the slice itself).
                    w.flow("flow_out", a.correlation[i]);
                    stats.flows += 1;
                }
                if a.correlation[i] != 0 || a.external_id[i] != 0 || r != NONE {
                    w.args();
                    if a.correlation[i] != 0 {
                        w.arg_u64("correlation", a.correlation[i]);
                    }
                    if a.external_id[i] != 0 {
                        w.arg_u64("External id", a.external_id[i]);
                    }
                    if r != NONE {
                        launch_args(w, l, r as usize);
                    }
                    w.end_args();
                }
                w.end()?;
            }
            Class::Activity => {
                let a = &t.activities;
                let kind = a.kind[i];
                w.begin("X", Some(activity_category(kind)), Name::Id(a.name[i].0), pid, Some(tid), a.start_ns[i]);
                w.dur(a.end_ns[i] - a.start_ns[i]);
                let r = links.activity_row[i];
                if r != NONE && links.flow[r as usize] {
                    w.flow("flow_in", a.correlation[i]);
                }
                w.args();
                w.arg_u64("device", u64::from(a.device[i]));
                w.arg_u64("stream", u64::from(a.stream[i]));
                if a.correlation[i] != 0 {
                    w.arg_u64("correlation", a.correlation[i]);
                }
                if a.external_id[i] != 0 {
                    w.arg_u64("External id", a.external_id[i]);
                }
                if kind == ActivityKind::Kernel {
                    if a.grid[i] != [0; 3] {
                        w.arg_dims("grid", a.grid[i]);
                    }
                    if a.block[i] != [0; 3] {
                        w.arg_dims("block", a.block[i]);
                    }
                } else {
                    w.arg_u64("bytes", a.bytes[i]);
                }
                if let Some(g) = a.graph_id[i] {
                    w.arg_u64("graph id", u64::from(g));
                }
                // CUPTI latency timestamps: ns on the same clock as ts, like Kineto's.
                if let Some(q) = a.queued_ns[i] {
                    w.arg_i64("queued", q);
                }
                if let Some(s) = a.submitted_ns[i] {
                    w.arg_i64("submitted", s);
                }
                if r != NONE {
                    launch_args(w, l, r as usize);
                    if l.graph_internal[r as usize] {
                        w.key("graph_internal");
                        w.raw("true");
                    }
                }
                w.end_args();
                w.end()?;
            }
            Class::GpuAnnotation => {
                let a = &t.gpu_annotations;
                w.begin("X", Some("gpu_user_annotation"), Name::Id(a.name[i].0), pid, Some(tid), a.start_ns[i]);
                w.dur(a.end_ns[i] - a.start_ns[i]);
                w.args();
                w.arg_u64("device", u64::from(a.device[i]));
                w.arg_u64("stream", u64::from(a.stream[i]));
                w.end_args();
                w.end()?;
            }
            Class::Sync => {
                let a = &t.sync_events;
                w.begin("X", Some("cuda_sync"), Name::Id(a.name[i].0), pid, Some(tid), a.start_ns[i]);
                w.dur(a.end_ns[i] - a.start_ns[i]);
                w.args();
                w.arg_u64("device", u64::from(a.device[i]));
                w.arg_u64("stream", u64::from(a.stream[i]));
                if a.correlation[i] != 0 {
                    w.arg_u64("correlation", a.correlation[i]);
                }
                w.end_args();
                w.end()?;
            }
        }
    }
    Ok(())
}

/// One counter sample: `{"ph":"C",...,"args":{key:value}}`. Perfetto names
/// the track "`name` `key`".
fn counter<W: Write>(
    w: &mut EventWriter<W>,
    cat: Option<&str>,
    name: Name<'_>,
    pid: i64,
    ts: i64,
    key: &str,
    value: f64,
) -> io::Result<()> {
    w.begin("C", cat, name, pid, None, ts);
    w.args();
    w.arg_f64(key, Some(value));
    w.end_args();
    w.end()
}

/// Launches waiting per stream (+1 at a launch call's start, -1 at its
/// activity's start), at every change.
fn write_queue_depth<W: Write>(w: &mut EventWriter<W>, layout: &Layout, depths: &[StreamDepth]) -> io::Result<()> {
    for d in depths {
        let pid = layout.gpu_pid(d.device);
        let name = format!("stream {} queue", d.stream);
        for (t, v) in d.time_ns.iter().zip(&d.depth) {
            counter(w, Some(CAT_DERIVED), Name::Text(&name), pid, *t, "depth", f64::from(*v))?;
        }
    }
    Ok(())
}

/// Fraction of each bucket during which the device ran any activity (union
/// over its streams), written only where it changes.
fn write_busy<W: Write>(w: &mut EventWriter<W>, t: &Trace, layout: &Layout, bucket: i64) -> io::Result<()> {
    let a = &t.activities;
    let end = layout.trace_end;
    if a.is_empty() || end <= 0 {
        return Ok(());
    }
    let n = (end / bucket + 1) as usize;
    for &d in &layout.devices {
        let mut busy = vec![0i64; n];
        let mut add = |s: i64, e: i64| {
            let mut b = s / bucket;
            while b * bucket < e && (b as usize) < n {
                let lo = s.max(b * bucket);
                let hi = e.min((b + 1) * bucket);
                busy[b as usize] += hi - lo;
                b += 1;
            }
        };
        // Activities are in start order: merge overlapping ones as they come.
        let mut cur: Option<(i64, i64)> = None;
        for i in 0..a.len() {
            if a.device[i] != d {
                continue;
            }
            let (s, e) = (a.start_ns[i], a.end_ns[i]);
            match cur {
                Some((cs, ce)) if s <= ce => cur = Some((cs, ce.max(e))),
                Some((cs, ce)) => {
                    add(cs, ce);
                    cur = Some((s, e));
                }
                None => cur = Some((s, e)),
            }
        }
        let Some((cs, ce)) = cur else { continue };
        add(cs, ce);
        let pid = layout.gpu_pid(d);
        let mut last: Option<f64> = None;
        for (b, &ns) in busy.iter().enumerate() {
            let lo = b as i64 * bucket;
            let len = bucket.min(end - lo);
            if len <= 0 {
                break;
            }
            // Four decimals: finer than a pixel on any screen.
            let frac = ((ns as f64 / len as f64) * 1e4).round() / 1e4;
            if last != Some(frac) {
                counter(w, Some(CAT_DERIVED), Name::Text("GPU busy"), pid, lo, "fraction", frac)?;
                last = Some(frac);
            }
        }
    }
    Ok(())
}

/// The trace's own counter samples (NVML, perf), one track per series.
fn write_trace_counters<W: Write>(w: &mut EventWriter<W>, t: &Trace, layout: &Layout) -> io::Result<()> {
    let c = &t.counters;
    let keys: Vec<String> = c
        .series
        .iter()
        .map(|s| {
            let unit = t.str(s.unit);
            if unit.is_empty() { "value".to_string() } else { unit.to_string() }
        })
        .collect();
    let pids: Vec<i64> = c.series.iter().map(|s| layout.counter_pid_of(s.device)).collect();
    for i in 0..c.len() {
        let s = c.series_idx[i] as usize;
        let (Some(series), Some(key), Some(&pid)) = (c.series.get(s), keys.get(s), pids.get(s)) else { continue };
        // JSON has no NaN or infinity: such samples are left out.
        if !c.value[i].is_finite() {
            continue;
        }
        counter(w, None, Name::Id(series.name.0), pid, c.time_ns[i], key, c.value[i])?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Number and string formatting, without allocation.

fn push_u64(buf: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

fn push_i64(buf: &mut Vec<u8>, v: i64) {
    if v < 0 {
        buf.push(b'-');
    }
    push_u64(buf, v.unsigned_abs());
}

/// Nanoseconds as microseconds with a 3-digit fraction: the same text as
/// [`boundscope_trace::time::ns_to_us_text`] (a test holds them equal),
/// written into the buffer because an export formats millions of timestamps.
fn push_us(buf: &mut Vec<u8>, ns: i64) {
    if ns < 0 {
        buf.push(b'-');
    }
    let a = ns.unsigned_abs();
    push_u64(buf, a / 1000);
    let f = a % 1000;
    buf.extend_from_slice(&[b'.', b'0' + (f / 100) as u8, b'0' + (f / 10 % 10) as u8, b'0' + (f % 10) as u8]);
}

/// A finite double as the shortest text that reads back the same; `null`
/// for none or a non-finite value (JSON has no NaN).
fn push_f64(buf: &mut Vec<u8>, v: Option<f64>) {
    match v {
        Some(x) if x.is_finite() => {
            if x == x.trunc() && x.abs() < 1e15 {
                push_i64(buf, x as i64);
            } else {
                let _ = write!(buf, "{x}");
            }
        }
        _ => buf.extend_from_slice(b"null"),
    }
}

/// `s` as a JSON string with its quotes.
fn push_json_str(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        buf.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            let hex = b"0123456789abcdef";
            buf.extend_from_slice(b"\\u00");
            buf.push(hex[(b >> 4) as usize]);
            buf.push(hex[(b & 0xf) as usize]);
        } else {
            buf.extend_from_slice(esc);
        }
        start = i + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
    buf.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use boundscope_trace::time::ns_to_us_text;

    #[test]
    fn microsecond_text_matches_the_trace_crate() {
        for ns in [0, 1, 5, 999, 1000, 1001, 1_234_567, -1, -1500, 4_458_676_522_690_655, i64::MAX, i64::MIN] {
            let mut b = Vec::new();
            push_us(&mut b, ns);
            assert_eq!(String::from_utf8_lossy(&b), ns_to_us_text(ns), "{ns}");
        }
    }

    #[test]
    fn integers() {
        for v in [0i64, 7, -7, 10, 123_456_789, i64::MAX, i64::MIN] {
            let mut b = Vec::new();
            push_i64(&mut b, v);
            assert_eq!(String::from_utf8_lossy(&b), v.to_string());
        }
    }

    #[test]
    fn json_strings_escape() {
        let mut b = Vec::new();
        push_json_str(&mut b, "a\"b\\c\nd\u{1}é<>");
        assert_eq!(String::from_utf8_lossy(&b), r#""a\"b\\c\nd\u0001é<>""#);
    }

    #[test]
    fn doubles() {
        let s = |v| {
            let mut b = Vec::new();
            push_f64(&mut b, v);
            String::from_utf8_lossy(&b).into_owned()
        };
        assert_eq!(s(Some(0.25)), "0.25");
        assert_eq!(s(Some(3.0)), "3");
        assert_eq!(s(Some(f64::NAN)), "null");
        assert_eq!(s(None), "null");
    }

    #[test]
    fn lanes_keep_nesting_and_split_partial_overlaps() {
        // [0,10] contains [2,5]; [8,12] partially overlaps [0,10]; [12,13] follows.
        let spans = [(0, 10), (2, 5), (8, 12), (12, 13), (3, 4)];
        let mut refs: Vec<Ref> = (0..spans.len()).map(|i| Ref::new(Class::HostOp, i)).collect();
        refs.sort_by_key(|r| (spans[r.row()].0, std::cmp::Reverse(spans[r.row()].1)));
        let (n, moved) = assign_lanes(&mut refs, |r| spans[r.row()]);
        let lane_of = |row: usize| refs.iter().find(|r| r.row() == row).map(|r| r.lane());
        assert_eq!(n, 2);
        assert_eq!(moved, 1);
        assert_eq!(lane_of(0), Some(0));
        assert_eq!(lane_of(1), Some(0));
        assert_eq!(lane_of(4), Some(0), "[3,4] nests in [2,5]");
        assert_eq!(lane_of(2), Some(1), "[8,12] overlaps [0,10] partially");
        assert_eq!(lane_of(3), Some(0), "[12,13] starts after [0,10] ended");
    }

    #[test]
    fn bucket_widths_are_1_2_5_steps() {
        assert_eq!(busy_bucket_ns(0), 1_000);
        assert_eq!(busy_bucket_ns(1_000_000), 1_000);
        assert_eq!(busy_bucket_ns(3_000_000), 2_000);
        assert_eq!(busy_bucket_ns(84_620_000_000), 50_000_000);
    }
}
