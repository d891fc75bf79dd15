//! Reader of boundscope runs: the record stream (`records.bsw`, boundscope
//! wire format) that `boundscope profile` writes as records arrive, read back
//! into the same [`TraceBuilder`] the live ingest feeds. [`RunDecoder`] is
//! that one interpretation, used both live (frame by frame) and here.
//!
//! Clocks: CUPTI records carry CUPTI's clock; the profiler's samples carry
//! the host's CLOCK_MONOTONIC. Each injected process sends clock anchors
//! (pairs read back to back), and [`SourceClock::to_host_ns`] moves CUPTI
//! times onto CLOCK_MONOTONIC with the latest anchor of that process. That is
//! the only clock conversion of a run.
//!
//! A run cut short (the program or boundscope killed) ends with a torn frame
//! or without end records: everything before is read, and the trace carries
//! an `incomplete run` warning saying where it stopped.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use boundscope_wire::*;

use crate::builder::{ActivityIn, ApiCallIn, HostOpIn, STEP_NVTX_NAME, StreamRangeIn, TraceBuilder};
use crate::diag::WarningKind;
use crate::error::{ReadError, ReadErrorKind};
use crate::model::{ActivityKind, DeviceInfo, HostOpKind, Trace};
use crate::sink::EventSink;

/// File name of the record stream inside a run directory.
pub const RUN_RECORDS_FILE: &str = "records.bsw";

/// `source_format` of traces read from runs.
pub const RUN_SOURCE_FORMAT: &str = "boundscope-run";

/// True when `path` is a run directory or a record stream file.
pub fn is_run(path: &Path) -> bool {
    if path.is_dir() {
        return path.join(RUN_RECORDS_FILE).is_file();
    }
    let mut magic = [0u8; 8];
    File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && magic == STREAM_MAGIC
}

/// Events kept by time: those starting in `[start_ns, end_ns]` on CLOCK_MONOTONIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start_ns: i64,
    pub end_ns: i64,
}

impl Window {
    pub const ALL: Window = Window { start_ns: i64::MIN, end_ns: i64::MAX };

    fn contains(&self, t: i64) -> bool {
        t >= self.start_ns && t <= self.end_ns
    }
}

/// What the collector of one process reported about itself.
#[derive(Debug, Clone, Default)]
pub struct SourceSummary {
    pub source: u32,
    pub hello: Option<HelloRec>,
    pub exe: String,
    /// Last cumulative stats.
    pub stats: Option<StatsRec>,
    /// (level, code, message).
    pub notices: Vec<(u16, u16, String)>,
    /// An end record was seen.
    pub ended: bool,
    /// The end record said the stream was whole.
    pub complete: bool,
    /// CUPTI overhead records: total ns per overhead kind name.
    pub overhead_ns: Vec<(String, u64)>,
    pub frames: u64,
    pub bytes: u64,
    /// Kernels with queued/submitted timestamps.
    pub kernels_with_latency: u64,
    pub kernels: u64,
}

/// Everything a run says besides its events.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    /// The profiler's own record (source 0), if present.
    pub run: Option<RunInfoRec>,
    pub command: String,
    /// Injected processes, in order of first appearance.
    pub sources: Vec<SourceSummary>,
    /// The profiler ended the file properly.
    pub profiler_complete: bool,
    /// Why reading stopped early (torn or damaged frame), if it did.
    pub cut_short: Option<String>,
    /// Bytes of the record stream.
    pub bytes: u64,
}

impl RunSummary {
    /// Records lost anywhere (send queue full, CUPTI buffers).
    pub fn dropped_records(&self) -> u64 {
        self.sources.iter().filter_map(|s| s.stats).map(|s| s.dropped_queue_records + s.dropped_cupti_records).sum()
    }

    /// The whole run was written and every process ended its stream.
    pub fn complete(&self) -> bool {
        self.profiler_complete && self.cut_short.is_none() && self.sources.iter().all(|s| s.ended)
    }
}

/// The clock of one injected process.
#[derive(Debug, Clone, Copy, Default)]
pub struct SourceClock {
    /// CLOCK_MONOTONIC minus CUPTI time, from the latest anchor.
    offset_ns: Option<i64>,
}

impl SourceClock {
    /// CUPTI time to CLOCK_MONOTONIC ns (identity until an anchor arrives).
    pub fn to_host_ns(&self, cupti_ns: u64) -> i64 {
        (cupti_ns as i64).wrapping_add(self.offset_ns.unwrap_or(0))
    }

    fn anchor(&mut self, a: &ClockAnchorRec) {
        self.offset_ns = Some((a.host_ns as i64).wrapping_sub(a.cupti_ns as i64));
    }
}

#[derive(Debug, Default)]
struct Source {
    summary: SourceSummary,
    strings: HashMap<u32, String>,
    clock: SourceClock,
    /// NVTX ranges started and not yet ended: id -> (start, name, pid, tid).
    open_ranges: HashMap<u32, (i64, String, i64, i64)>,
    /// correlation -> external id.
    external: HashMap<u32, u64>,
    /// API calls wait for their external correlation records until the end.
    api: Vec<ApiCallRec>,
    /// Calls of `api` already handed to a live tap (which does not wait).
    tapped_api: usize,
    /// Latest host time this source's records have reached (record ends,
    /// markers, clock anchors): how far its stream has come.
    progress_ns: i64,
    /// counter series id of this source -> builder series.
    series: HashMap<u32, u32>,
    overhead: HashMap<u32, u64>,
    pid: i64,
    /// Sequence number the next frame of this source should carry.
    next_seq: Option<u32>,
}

impl Source {
    fn str(&self, id: u32) -> &str {
        if id == NO_STRING { "" } else { self.strings.get(&id).map_or("<unknown name>", String::as_str) }
    }
}

/// Feeds the records of a run, frame by frame, into a [`TraceBuilder`].
#[derive(Debug)]
pub struct RunDecoder {
    builder: TraceBuilder,
    window: Window,
    sources: Vec<(u32, Source)>,
    run: Option<RunInfoRec>,
    command: String,
    profiler_complete: bool,
    /// Step ranges seen (host clock), for step selection.
    steps: Vec<(i64, i64)>,
    bytes: u64,
}

impl RunDecoder {
    /// A decoder keeping events that start inside `window`.
    pub fn new(window: Window) -> Self {
        RunDecoder {
            builder: TraceBuilder::new(RUN_SOURCE_FORMAT),
            window,
            sources: Vec::new(),
            run: None,
            command: String::new(),
            profiler_complete: false,
            steps: Vec::new(),
            bytes: 0,
        }
    }

    fn source(&mut self, id: u32) -> &mut Source {
        let i = match self.sources.iter().position(|(s, _)| *s == id) {
            Some(i) => i,
            None => {
                let mut s = Source::default();
                s.summary.source = id;
                self.sources.push((id, s));
                self.sources.len() - 1
            }
        };
        &mut self.sources[i].1
    }

    /// Interprets one frame; records it cannot decode are counted as malformed.
    pub fn frame(&mut self, frame: &Frame) {
        self.frame_to(frame, None);
    }

    /// [`Self::frame`], also handing every event it keeps to `tap` as it is
    /// decoded (the live analysis of `boundscope top`). The tap gets API calls
    /// at the end of each frame, without waiting for their external
    /// correlation records (those only name framework ops, which live
    /// figures do not use); the trace gets them at [`Self::finish`] as always.
    pub fn frame_to(&mut self, frame: &Frame, mut tap: Option<&mut dyn EventSink>) {
        self.bytes += frame.bytes.len() as u64;
        let sid = frame.header.source;
        let seq = frame.header.seq;
        let expected = {
            let s = self.source(sid);
            s.summary.frames += 1;
            s.summary.bytes += frame.bytes.len() as u64;
            s.next_seq.replace(seq.wrapping_add(1)).unwrap_or(0)
        };
        if seq != expected {
            // Frames lost (a gap) or written twice / out of order (a step back).
            let missing = u64::from(seq.wrapping_sub(expected)).min(u64::from(expected.wrapping_sub(seq))).max(1);
            let offset = frame.offset;
            self.builder.diagnostics_mut().warn_n(WarningKind::IncompleteRun, missing, None, || {
                format!(
                    "record stream: frame at byte offset {offset} of source {sid} has sequence number {seq}, \
                     expected {expected}: frames are missing or out of order, so figures may lack records"
                )
            });
        }
        let mut decoded: u32 = 0;
        let mut broken = false;
        for rec in frame.records() {
            let r = rec.and_then(|(o, raw)| decode_record(raw, o).map(|r| (o, r)));
            match r {
                Ok((_, r)) => {
                    decoded = decoded.saturating_add(1);
                    self.record(sid, r, &mut tap);
                }
                Err(e) => {
                    self.builder.warn(WarningKind::MalformedEvent, || format!("record stream: {e}"));
                    broken = true;
                    break;
                }
            }
        }
        let declared = frame.header.records;
        if !broken && decoded != declared {
            let offset = frame.offset;
            self.builder.warn(WarningKind::MalformedEvent, || {
                format!(
                    "record stream: frame at byte offset {offset} of source {sid} declares {declared} record(s) \
                     but holds {decoded}; the records it holds were read"
                )
            });
        }
        if let Some(tap) = tap {
            self.tap_api(sid, tap);
        }
    }

    /// Hands the API calls of source `sid` not yet tapped to `tap`.
    fn tap_api(&mut self, sid: u32, tap: &mut dyn EventSink) {
        let window = self.window;
        let s = self.source(sid);
        for a in &s.api[s.tapped_api..] {
            let start = s.clock.to_host_ns(a.start_ns);
            if window.contains(start) {
                tap.api_call(ApiCallIn {
                    name: api_name(s.str(a.name)),
                    pid: i64::from(a.pid),
                    tid: i64::from(a.tid),
                    start_ns: start,
                    end_ns: s.clock.to_host_ns(a.end_ns),
                    correlation: correlation(sid, a.correlation),
                    external_id: s.external.get(&a.correlation).copied().unwrap_or(0),
                });
            }
        }
        s.tapped_api = s.api.len();
    }

    fn record(&mut self, sid: u32, r: Record<'_>, tap: &mut Option<&mut dyn EventSink>) {
        let window = self.window;
        match r {
            Record::String(s) => {
                let text = String::from_utf8_lossy(s.text).into_owned();
                self.source(sid).strings.insert(s.id, text);
            }
            Record::Hello(h) => {
                let s = self.source(sid);
                s.pid = i64::from(h.pid);
                s.summary.exe = s.str(h.exe_name).to_string();
                s.summary.hello = Some(h);
            }
            Record::ClockAnchor(a) => {
                let s = self.source(sid);
                s.clock.anchor(&a);
                s.progress_ns = s.progress_ns.max(a.host_ns as i64);
            }
            Record::Kernel(k) => {
                let s = self.source(sid);
                let start = s.clock.to_host_ns(k.start_ns);
                s.progress_ns = s.progress_ns.max(s.clock.to_host_ns(k.end_ns));
                s.summary.kernels += 1;
                if k.queued_ns != 0 && k.submitted_ns != 0 {
                    s.summary.kernels_with_latency += 1;
                }
                if !window.contains(start) {
                    return;
                }
                let at = |t: u64| (t != 0).then(|| s.clock.to_host_ns(t));
                let mut a = ActivityIn::new(
                    ActivityKind::Kernel,
                    s.str(k.name),
                    k.device,
                    k.stream,
                    start,
                    s.clock.to_host_ns(k.end_ns),
                );
                a.correlation = correlation(sid, k.correlation);
                a.queued_ns = at(k.queued_ns);
                a.submitted_ns = at(k.submitted_ns);
                a.graph_id = (k.graph_id != 0).then_some(k.graph_id);
                a.grid = [k.grid_x, k.grid_y, k.grid_z].map(|v| v.max(0) as u32);
                a.block = [k.block_x, k.block_y, k.block_z].map(|v| v.max(0) as u32);
                let name = a.name.to_string();
                let a = ActivityIn { name: &name, ..a };
                if let Some(t) = tap {
                    t.gpu_activity(a);
                }
                self.builder.gpu_activity(a);
            }
            Record::Memcpy(m) => {
                let s = self.source(sid);
                let start = s.clock.to_host_ns(m.start_ns);
                if !window.contains(start) {
                    return;
                }
                let name = format!("Memcpy {}", copy_kind_name(m.copy_kind));
                let mut a = ActivityIn::new(
                    ActivityKind::Memcpy,
                    &name,
                    m.device,
                    m.stream,
                    start,
                    s.clock.to_host_ns(m.end_ns),
                );
                a.correlation = correlation(sid, m.correlation);
                a.bytes = m.bytes;
                a.graph_id = (m.graph_id != 0).then_some(m.graph_id);
                if let Some(t) = tap {
                    t.gpu_activity(a);
                }
                self.builder.gpu_activity(a);
            }
            Record::Memset(m) => {
                let s = self.source(sid);
                let start = s.clock.to_host_ns(m.start_ns);
                if !window.contains(start) {
                    return;
                }
                let mut a = ActivityIn::new(
                    ActivityKind::Memset,
                    "Memset",
                    m.device,
                    m.stream,
                    start,
                    s.clock.to_host_ns(m.end_ns),
                );
                a.correlation = correlation(sid, m.correlation);
                a.bytes = m.bytes;
                a.graph_id = (m.graph_id != 0).then_some(m.graph_id);
                if let Some(t) = tap {
                    t.gpu_activity(a);
                }
                self.builder.gpu_activity(a);
            }
            Record::ApiCall(a) => {
                let s = self.source(sid);
                s.progress_ns = s.progress_ns.max(s.clock.to_host_ns(a.end_ns));
                s.api.push(a);
            }
            Record::ExternalCorrelation(x) => {
                self.source(sid).external.insert(x.correlation, x.external_id);
            }
            Record::Sync(y) => {
                let s = self.source(sid);
                let start = s.clock.to_host_ns(y.start_ns);
                if !window.contains(start) {
                    return;
                }
                let r = StreamRangeIn {
                    name: sync_type_name(y.sync_type),
                    device: 0,
                    stream: y.stream,
                    start_ns: start,
                    end_ns: s.clock.to_host_ns(y.end_ns),
                    correlation: correlation(sid, y.correlation),
                };
                self.builder.sync_event(r);
            }
            Record::Marker(m) => self.marker(sid, m, tap),
            Record::Overhead(o) => {
                let s = self.source(sid);
                *s.overhead.entry(o.overhead_kind).or_default() += o.end_ns.saturating_sub(o.start_ns);
            }
            Record::CounterSeries(c) => {
                let s = self.source(sid);
                let (name, unit) = (s.str(c.name).to_string(), s.str(c.unit).to_string());
                let device = (c.device != NO_DEVICE).then_some(c.device);
                let idx = self.builder.counter_series(&name, &unit, device);
                if let Some(t) = tap {
                    // Series ids agree: both sinks number series in order of first sight.
                    t.counter_series(&name, &unit, device);
                }
                self.source(sid).series.insert(c.id, idx);
            }
            Record::CounterSample(c) => {
                if !window.contains(c.time_ns) {
                    return;
                }
                if let Some(&idx) = self.source(sid).series.get(&c.series) {
                    if let Some(t) = tap {
                        t.counter_sample(idx, c.time_ns, c.value);
                    }
                    self.builder.counter_sample(idx, c.time_ns, c.value);
                }
            }
            Record::Stats(st) => self.source(sid).summary.stats = Some(st),
            Record::Notice(n) => {
                let s = self.source(sid);
                let msg = s.str(n.message).to_string();
                s.summary.notices.push((n.level, n.code, msg));
            }
            Record::End(e) => {
                if sid == PROFILER_SOURCE {
                    self.profiler_complete = e.complete == 1;
                }
                let s = self.source(sid);
                s.summary.ended = true;
                s.summary.complete = e.complete == 1;
            }
            Record::Device(d) => {
                let name = self.source(sid).str(d.name).to_string();
                self.builder.add_device(DeviceInfo {
                    id: d.id,
                    name,
                    total_mem_bytes: (d.total_mem_bytes != 0).then_some(d.total_mem_bytes),
                    compute_capability: (d.cc_major != 0).then_some((u32::from(d.cc_major), u32::from(d.cc_minor))),
                    sm_count: (d.sm_count != 0).then_some(d.sm_count),
                });
            }
            Record::RunInfo(r) => {
                self.command = self.source(sid).str(r.command).to_string();
                self.run = Some(r);
            }
            Record::Unknown { kind } => {
                self.builder.warn(WarningKind::MalformedEvent, || {
                    format!("record kind {kind} is unknown to this boundscope (written by a newer one?); skipped")
                });
            }
        }
    }

    fn marker(&mut self, sid: u32, m: MarkerRec, tap: &mut Option<&mut dyn EventSink>) {
        let window = self.window;
        let s = self.source(sid);
        let t = s.clock.to_host_ns(m.time_ns);
        s.progress_ns = s.progress_ns.max(t);
        if m.flags & MarkerRec::START != 0 {
            let (pid, tid) = if m.object_kind == 1 || m.object_kind == 2 {
                (i64::from(m.obj0), i64::from(m.obj1))
            } else {
                (s.pid, 0)
            };
            let name = s.str(m.name).to_string();
            s.open_ranges.insert(m.id, (t, name, pid, tid));
        } else if m.flags & MarkerRec::END != 0 {
            let Some((start, name, pid, tid)) = s.open_ranges.remove(&m.id) else { return };
            if name == STEP_NVTX_NAME {
                self.steps.push((start, t));
            }
            if window.contains(start) {
                let op = HostOpIn {
                    kind: HostOpKind::Nvtx,
                    name: &name,
                    pid,
                    tid,
                    start_ns: start,
                    end_ns: t,
                    external_id: 0,
                };
                if let Some(tap) = tap {
                    tap.host_op(op);
                }
                self.builder.host_op(op);
            }
        }
    }

    /// `boundscope:step` ranges seen so far (CLOCK_MONOTONIC), in order of their end.
    pub fn step_ranges(&self) -> &[(i64, i64)] {
        &self.steps
    }

    /// How far each injected process's stream has come: (source, latest
    /// host time of its records, whether it ended its stream). A live view's
    /// watermark is the oldest of the streams still going.
    pub fn source_progress(&self) -> impl Iterator<Item = (u32, i64, bool)> + '_ {
        self.sources
            .iter()
            .filter(|(sid, _)| *sid != PROFILER_SOURCE)
            .map(|(sid, s)| (*sid, s.progress_ns, s.summary.ended))
    }

    /// Records the injected processes reported lost so far (their latest stats).
    pub fn dropped_records(&self) -> u64 {
        self.sources
            .iter()
            .filter_map(|(_, s)| s.summary.stats)
            .map(|st| st.dropped_queue_records + st.dropped_cupti_records)
            .sum()
    }

    /// The run's own record, once seen.
    pub fn run_info(&self) -> Option<&RunInfoRec> {
        self.run.as_ref()
    }

    /// Adds the API calls, the end-of-run checks, and builds the trace.
    pub fn finish(mut self, cut_short: Option<String>) -> (Trace, RunSummary) {
        let window = self.window;
        let mut summaries = Vec::new();
        let sources = std::mem::take(&mut self.sources);
        let mut unended_ranges = 0usize;
        for (sid, mut s) in sources {
            for a in std::mem::take(&mut s.api) {
                let start = s.clock.to_host_ns(a.start_ns);
                if !window.contains(start) {
                    continue;
                }
                let name = api_name(s.str(a.name));
                self.builder.api_call(ApiCallIn {
                    name,
                    pid: i64::from(a.pid),
                    tid: i64::from(a.tid),
                    start_ns: start,
                    end_ns: s.clock.to_host_ns(a.end_ns),
                    correlation: correlation(sid, a.correlation),
                    external_id: s.external.get(&a.correlation).copied().unwrap_or(0),
                });
            }
            unended_ranges += s.open_ranges.len();
            let mut overhead: Vec<(String, u64)> =
                s.overhead.iter().map(|(k, ns)| (overhead_kind_name(*k).to_string(), *ns)).collect();
            overhead.sort();
            s.summary.overhead_ns = overhead;
            if s.pid != 0 && !s.summary.exe.is_empty() {
                let pid = s.pid;
                let exe = s.summary.exe.clone();
                self.builder.set_process_name(pid, &exe);
            }
            if sid != PROFILER_SOURCE {
                summaries.push(s.summary);
            }
        }
        if unended_ranges > 0 {
            self.builder.warn(WarningKind::MalformedEvent, || {
                format!("{unended_ranges} NVTX range(s) started but never ended in the run; left out")
            });
        }
        let summary = RunSummary {
            run: self.run,
            command: self.command,
            sources: summaries,
            profiler_complete: self.profiler_complete,
            cut_short,
            bytes: self.bytes,
        };
        let dropped = summary.dropped_records();
        if dropped > 0 {
            self.builder.diagnostics_mut().warn_n(WarningKind::DroppedRecords, dropped, None, || {
                format!("{dropped} record(s) lost while profiling (send queue full or CUPTI buffers dropped)")
            });
        }
        if let Some(why) = &summary.cut_short {
            let why = why.clone();
            self.builder.warn(WarningKind::IncompleteRun, || format!("the run was cut short: {why}"));
        } else if !summary.complete() {
            let unended: Vec<String> = summary
                .sources
                .iter()
                .filter(|s| !s.ended)
                .map(|s| s.hello.map_or(format!("source {}", s.source), |h| format!("pid {}", h.pid)))
                .collect();
            self.builder.warn(WarningKind::IncompleteRun, || {
                if unended.is_empty() {
                    "the profiler did not finish the run (interrupted?); records up to the interruption are kept".into()
                } else {
                    format!(
                        "the record stream of {} ended without its end record (the process was killed?); \
                         its last buffer may be missing",
                        unended.join(", ")
                    )
                }
            });
        }
        (self.builder.finish(), summary)
    }
}

/// CUPTI correlation ids count per process; in a run of several processes
/// (one per rank) they collide, so each source gets its own range:
/// `source << 32 | id` (0 stays "none").
fn correlation(source: u32, id: u32) -> u64 {
    if id == 0 { 0 } else { (u64::from(source) << 32) | u64::from(id) }
}

/// CUPTI names runtime functions with their introducing version
/// (`cudaLaunchKernel_v7000`); the trace uses the plain name.
fn api_name(name: &str) -> &str {
    if let Some(i) = name.rfind("_v") {
        let digits = &name[i + 2..];
        if digits.len() >= 4 && digits.bytes().all(|b| b.is_ascii_digit()) {
            return &name[..i];
        }
    }
    name
}

fn copy_kind_name(k: u8) -> &'static str {
    match k {
        1 => "HtoD",
        2 => "DtoH",
        3 => "HtoA",
        4 => "AtoH",
        5 => "AtoA",
        6 => "AtoD",
        7 => "DtoA",
        8 => "DtoD",
        9 => "HtoH",
        10 => "PtoP",
        _ => "unknown",
    }
}

fn sync_type_name(t: u32) -> &'static str {
    match t {
        1 => "Event Sync",
        2 => "Stream Wait Event",
        3 => "Stream Sync",
        4 => "Context Sync",
        _ => "Sync",
    }
}

/// Name of a CUpti_ActivityOverheadKind.
pub fn overhead_kind_name(k: u32) -> &'static str {
    match k {
        1 => "driver compiler",
        0x1_0000 => "CUPTI buffer flush",
        0x2_0000 => "CUPTI instrumentation",
        0x3_0000 => "CUPTI resource",
        0x4_0000 => "runtime-triggered module loading",
        0x5_0000 => "lazy function loading",
        0x6_0000 => "command buffer full",
        0x7_0000 => "activity buffer request",
        0x8_0000 => "UVM activity init",
        _ => "other",
    }
}

/// The record stream of a run directory (or the file itself).
pub fn records_path(path: &Path) -> PathBuf {
    if path.is_dir() { path.join(RUN_RECORDS_FILE) } else { path.to_path_buf() }
}

/// Reads a run directory or record stream file.
///
/// When the run asks for step selection (`--skip-steps`/`--steps`), the
/// stream is read twice: once for the step ranges, once for the events in
/// the selected steps.
pub fn read_run(path: &Path) -> Result<(Trace, RunSummary), ReadError> {
    let file = records_path(path);
    if path.is_dir() && !file.is_file() {
        return Err(ReadError::new(
            path,
            ReadErrorKind::Run(format!(
                "a directory without {RUN_RECORDS_FILE}: not a boundscope run (boundscope profile --out DIR writes one)"
            )),
        ));
    }
    // Pass 1: the run's own record and the step ranges.
    let mut first = RunDecoder::new(Window::ALL);
    let cut = decode_file(&file, &mut first)?;
    let mut window = Window::ALL;
    if let Some(r) = first.run_info() {
        window = Window { start_ns: r.window_start_ns, end_ns: r.window_end_ns };
        if r.skip_steps > 0 || r.max_steps > 0 {
            let mut steps = first.step_ranges().to_vec();
            steps.sort();
            let skip = r.skip_steps as usize;
            let take = if r.max_steps == 0 { usize::MAX } else { r.max_steps as usize };
            let chosen: Vec<(i64, i64)> = steps.into_iter().skip(skip).take(take).collect();
            if let (Some(a), Some(b)) = (chosen.first(), chosen.last()) {
                window = Window { start_ns: window.start_ns.max(a.0), end_ns: window.end_ns.min(b.1) };
            }
        }
    }
    if window == Window::ALL {
        return Ok(first.finish(cut));
    }
    let mut second = RunDecoder::new(window);
    let cut = decode_file(&file, &mut second)?;
    Ok(second.finish(cut))
}

/// Feeds every whole frame of `file` to `dec`; returns why reading stopped early, if it did.
fn decode_file(file: &Path, dec: &mut RunDecoder) -> Result<Option<String>, ReadError> {
    let f = File::open(file).map_err(|e| ReadError::new(file, ReadErrorKind::Io(e)))?;
    let mut r = FrameReader::new(BufReader::with_capacity(1 << 20, f));
    loop {
        match r.next_frame() {
            Ok(Some(frame)) => dec.frame(&frame),
            Ok(None) => return Ok(None),
            Err(e) => match e.kind {
                WireErrorKind::NotAStream | WireErrorKind::Version { .. } => {
                    return Err(ReadError::new(file, ReadErrorKind::Run(e.to_string())));
                }
                WireErrorKind::Io(_) => return Err(ReadError::new(file, ReadErrorKind::Run(e.to_string()))),
                _ => return Ok(Some(e.to_string())),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_names_lose_cupti_version_suffixes_only() {
        assert_eq!(api_name("cudaLaunchKernel_v7000"), "cudaLaunchKernel");
        assert_eq!(api_name("cudaLaunchKernel_ptsz_v7000"), "cudaLaunchKernel_ptsz");
        assert_eq!(api_name("cudaMemcpyAsync_v3020"), "cudaMemcpyAsync");
        assert_eq!(api_name("cuMemcpyHtoDAsync_v2"), "cuMemcpyHtoDAsync_v2");
        assert_eq!(api_name("cuLaunchKernel"), "cuLaunchKernel");
    }

    #[test]
    fn clock_moves_by_the_latest_anchor() {
        let mut c = SourceClock::default();
        assert_eq!(c.to_host_ns(500), 500);
        c.anchor(&ClockAnchorRec { cupti_ns: 1_000_000, host_ns: 400, uncertainty_ns: 0, _pad: 0 });
        assert_eq!(c.to_host_ns(1_000_100), 500);
        c.anchor(&ClockAnchorRec { cupti_ns: 2_000_000, host_ns: 1_000_410, uncertainty_ns: 0, _pad: 0 });
        assert_eq!(c.to_host_ns(2_000_000), 1_000_410);
    }
}
