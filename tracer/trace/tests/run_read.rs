//! Reading boundscope runs: a stream written the way the injected library and
//! the profiler write it, read back through `read_trace` into a Trace; the
//! clock conversion, NVTX steps, counters, drops, a torn tail, step selection.

use std::path::{Path, PathBuf};

use boundscope_trace::run::{RUN_RECORDS_FILE, read_run};
use boundscope_trace::*;
use boundscope_wire::*;

/// CUPTI time = host time + this, in the synthetic target.
const CUPTI_AHEAD: u64 = 1_700_000_000_000_000_000;

fn cupti(host_ns: u64) -> u64 {
    host_ns + CUPTI_AHEAD
}

/// A target (source 1) running `steps` steps of one launch + one kernel each,
/// and the profiler (source 0) with a counter; `complete` adds the end records.
fn run_stream(steps: u64, skip: u32, max: u32, complete: bool) -> Vec<u8> {
    let mut out = Vec::new();
    encode_stream_header(&mut out);
    let mut p = FrameBuilder::default();
    p.push_string(1, b"python3 decode.py");
    p.push(&RunInfoRec {
        start_ns: 1_000,
        window_start_ns: i64::MIN,
        window_end_ns: i64::MAX,
        skip_steps: skip,
        max_steps: max,
        command: 1,
        target_pid: 77,
    });
    p.push_string(2, b"gpu_util");
    p.push_string(3, b"%");
    p.push(&CounterSeriesRec { id: 0, device: 0, name: 2, unit: 3 });
    p.push(&CounterSampleRec { time_ns: 5_000, value: 40.0, series: 0, _pad: 0 });
    out.extend(p.finish(PROFILER_SOURCE, 0));

    let mut t = FrameBuilder::default();
    t.push_string(1, b"python3");
    t.push(&HelloRec {
        pid: 77,
        cupti_api_version: 130001,
        kernel_record_version: 10,
        flags: HelloRec::ACTIVE | HelloRec::LATENCY_TIMESTAMPS | HelloRec::LAYOUT_VERIFIED,
        exe_name: 1,
    });
    t.push(&ClockAnchorRec { cupti_ns: cupti(2_000), host_ns: 2_000, uncertainty_ns: 30, _pad: 0 });
    t.push_string(2, b"cudaLaunchKernel_v7000");
    t.push_string(3, b"gemv_kernel");
    t.push_string(4, b"boundscope:step");
    for s in 0..steps {
        let base = 10_000 + s * 10_000;
        t.push(&MarkerRec {
            time_ns: cupti(base),
            id: s as u32 + 1,
            flags: MarkerRec::START,
            object_kind: 2,
            obj0: 77,
            obj1: 78,
            obj2: 0,
            name: 4,
            domain: 0,
        });
        t.push(&ApiCallRec {
            start_ns: cupti(base + 100),
            end_ns: cupti(base + 600),
            correlation: s as u32 + 10,
            cbid: 211,
            pid: 77,
            tid: 78,
            name: 2,
            domain: ApiCallRec::RUNTIME,
            ..Default::default()
        });
        t.push(&KernelRec {
            start_ns: cupti(base + 2_000),
            end_ns: cupti(base + 5_000),
            queued_ns: cupti(base + 700),
            submitted_ns: cupti(base + 900),
            correlation: s as u32 + 10,
            stream: 7,
            name: 3,
            grid_x: 8,
            grid_y: 1,
            grid_z: 1,
            block_x: 128,
            block_y: 1,
            block_z: 1,
            ..Default::default()
        });
        t.push(&MarkerRec {
            time_ns: cupti(base + 9_000),
            id: s as u32 + 1,
            flags: MarkerRec::END,
            ..Default::default()
        });
    }
    t.push(&ExternalCorrelationRec { external_id: 555, correlation: 10, external_kind: 1 });
    t.push(&OverheadRec { start_ns: cupti(3_000), end_ns: cupti(3_400), overhead_kind: 1 << 16, ..Default::default() });
    t.push(&StatsRec { records: 4 * steps, dropped_queue_records: 2, dropped_cupti_records: 1, ..Default::default() });
    if complete {
        t.push(&EndRec { complete: 1, _pad: 0 });
    }
    out.extend(t.finish(1, 0));
    if complete {
        let mut e = FrameBuilder::default();
        e.push(&EndRec { complete: 1, _pad: 0 });
        out.extend(e.finish(PROFILER_SOURCE, 1));
    }
    out
}

fn write_run(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("boundscope-run-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join(RUN_RECORDS_FILE), bytes).expect("write");
    dir
}

fn cleanup(dir: &Path) {
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_run_reads_into_one_trace_on_the_host_clock() {
    let dir = write_run("whole", &run_stream(3, 0, 0, true));
    let t = read_trace(&dir).expect("run directory through read_trace");
    assert_eq!(t.meta.source_format, "boundscope-run");
    assert_eq!(t.api.len(), 3);
    assert_eq!(t.api.kind[0], ApiKind::KernelLaunch, "{}", t.str(t.api.name[0]));
    assert_eq!(t.str(t.api.name[0]), "cudaLaunchKernel");
    assert_eq!(t.api.external_id[0], 555);
    assert_eq!(t.activities.len(), 3);
    // Origin: the counter sample at host 5000 ns; the first step starts at host 10000.
    assert_eq!(t.meta.origin_ns, 5_000);
    assert_eq!(t.activities.start_ns[0], 10_000 + 2_000 - 5_000);
    assert_eq!(t.activities.queued_ns[0], Some(10_000 + 700 - 5_000));
    assert_eq!(t.activities.submitted_ns[0], Some(10_000 + 900 - 5_000));
    assert_eq!(t.activities.grid[0], [8, 1, 1]);
    // One matched launch: kernel start - launch start = 1900 ns on one clock.
    assert_eq!(t.activities.start_ns[0] - t.api.start_ns[0], 1_900);
    assert_eq!(t.steps.len(), 3);
    assert_eq!(t.steps[1], Step { number: 1, start_ns: 20_000 - 5_000, end_ns: 29_000 - 5_000 });
    assert_eq!(t.counters.len(), 1);
    assert_eq!(t.str(t.counters.series[0].name), "gpu_util");
    assert_eq!(t.processes.iter().find(|p| p.pid == 77).and_then(|p| p.name).map(|n| t.str(n)), Some("python3"));
    assert_eq!(t.diagnostics.count(WarningKind::DroppedRecords), 3);
    assert_eq!(t.diagnostics.count(WarningKind::IncompleteRun), 0);
    let (_, summary) = read_run(&dir).expect("summary");
    assert!(summary.complete());
    assert_eq!(summary.command, "python3 decode.py");
    assert_eq!(summary.sources.len(), 1);
    let s = &summary.sources[0];
    assert_eq!((s.kernels, s.kernels_with_latency), (3, 3));
    assert_eq!(s.overhead_ns, vec![("CUPTI buffer flush".to_string(), 400)]);
    cleanup(&dir);
}

#[test]
fn an_interrupted_run_is_readable_and_marked_incomplete() {
    // The target was killed (no end record) and the profiler too (no end record).
    let dir = write_run("killed", &run_stream(2, 0, 0, false));
    let t = read_trace(&dir).expect("readable");
    assert_eq!(t.activities.len(), 2);
    assert_eq!(t.diagnostics.count(WarningKind::IncompleteRun), 1);
    let w = t.diagnostics.warnings().iter().find(|w| w.kind == WarningKind::IncompleteRun).expect("warning");
    assert!(w.first_message.contains("pid 77"), "{}", w.first_message);
    cleanup(&dir);

    // A torn last frame: the profiler frame is whole, the target's is cut.
    let mut bytes = run_stream(2, 0, 0, false);
    bytes.truncate(bytes.len() - 40);
    let dir = write_run("torn", &bytes);
    let (t, summary) = read_run(&dir).expect("readable");
    assert_eq!(t.activities.len(), 0, "the torn frame's records are lost");
    assert_eq!(t.counters.len(), 1, "the whole frame before it is kept");
    let cut = summary.cut_short.expect("cut short");
    assert!(cut.contains("writer stopped"), "{cut}");
    assert_eq!(t.diagnostics.count(WarningKind::IncompleteRun), 1);
    cleanup(&dir);
}

#[test]
fn step_selection_keeps_the_chosen_steps_only() {
    let dir = write_run("steps", &run_stream(4, 1, 2, true));
    let t = read_trace(&dir).expect("readable");
    assert_eq!(t.steps.len(), 2, "{:?}", t.steps);
    assert_eq!(t.activities.len(), 2);
    assert_eq!(t.api.len(), 2);
    assert_eq!(t.counters.len(), 0, "the sample lies before the selected steps");
    // Origin is the first kept event: step 1's start (host 20000).
    assert_eq!(t.meta.origin_ns, 20_000);
    cleanup(&dir);
}

#[test]
fn not_a_run_says_so() {
    let dir = std::env::temp_dir().join(format!("boundscope-run-{}-empty", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let e = read_trace(&dir).expect_err("empty dir");
    assert!(e.to_string().contains("not a boundscope run"), "{e}");
    let mut other = Vec::new();
    encode_stream_header(&mut other);
    other[8] = 7;
    std::fs::write(dir.join(RUN_RECORDS_FILE), &other).expect("write");
    let e = read_trace(&dir).expect_err("other version");
    assert!(e.to_string().contains("format version 7"), "{e}");
    cleanup(&dir);
}

#[test]
fn correlation_ids_of_different_processes_do_not_collide() {
    // Two ranks, both numbering their first launch 1.
    let mut out = Vec::new();
    encode_stream_header(&mut out);
    for (source, pid, t) in [(1u32, 100u32, 1_000u64), (2, 200, 50_000)] {
        let mut f = FrameBuilder::default();
        f.push_string(1, b"cudaLaunchKernel_v7000");
        f.push_string(2, b"k");
        f.push(&ApiCallRec {
            start_ns: t,
            end_ns: t + 10,
            correlation: 1,
            pid,
            tid: pid,
            name: 1,
            ..Default::default()
        });
        f.push(&KernelRec { start_ns: t + 100, end_ns: t + 200, correlation: 1, name: 2, ..Default::default() });
        f.push(&EndRec { complete: 1, _pad: 0 });
        out.extend(f.finish(source, 0));
    }
    let dir = write_run("ranks", &out);
    let t = read_trace(&dir).expect("readable");
    assert_eq!(t.api.correlation, vec![(1 << 32) | 1, (2 << 32) | 1]);
    assert_eq!(t.activities.correlation, t.api.correlation, "each kernel keeps its own process's launch");
    cleanup(&dir);
}

#[test]
fn frame_sequence_gaps_and_record_count_disagreements_are_warned() {
    let frame = |seq: u32, declared: Option<u32>| {
        let mut f = FrameBuilder::default();
        f.push_string(1, b"k");
        f.push(&KernelRec {
            start_ns: 100 + u64::from(seq),
            end_ns: 200,
            correlation: seq + 1,
            name: 1,
            ..Default::default()
        });
        let mut bytes = f.finish(1, seq);
        if let Some(n) = declared {
            // The record count is outside the checksum, which covers the payload.
            bytes[16..20].copy_from_slice(&n.to_le_bytes());
        }
        bytes
    };
    let mut out = Vec::new();
    encode_stream_header(&mut out);
    // Frames 0, 1, then 4 (2 and 3 lost), then 4 again (written twice).
    for (seq, declared) in [(0, None), (1, Some(5)), (4, None), (4, None)] {
        out.extend(frame(seq, declared));
    }
    let dir = write_run("seq", &out);
    let (t, _) = read_run(&dir).expect("readable");
    assert_eq!(t.activities.len(), 3, "every record held is read (the repeated frame's kernel once)");
    let d = &t.diagnostics;
    let gap = d.warnings().iter().find(|w| w.kind == WarningKind::IncompleteRun).expect("gap warning");
    assert!(gap.first_message.contains("sequence number 4, expected 2"), "{}", gap.first_message);
    assert!(gap.count >= 3, "2 frames missing + 1 repeated: {gap:?}");
    let count = d.warnings().iter().find(|w| w.kind == WarningKind::MalformedEvent).expect("count warning");
    assert!(count.first_message.contains("declares 5 record(s) but holds 2"), "{}", count.first_message);
    assert_eq!(count.count, 1);
    cleanup(&dir);

    // A whole run has neither warning.
    let dir = write_run("seq-whole", &run_stream(2, 0, 0, true));
    let t = read_trace(&dir).expect("readable");
    assert_eq!(t.diagnostics.count(WarningKind::MalformedEvent) + t.diagnostics.count(WarningKind::IncompleteRun), 0);
    cleanup(&dir);
}
