//! Events a Kineto trace may hold that would otherwise give silently wrong
//! figures: a kernel present twice, `ph` "B"/"E" pairs, optional arguments of
//! an unexpected type. Each is counted in the diagnostics.

use std::path::Path;

use boundscope_trace::{ActivityKind, HostOpKind, Trace, WarningKind, read_kineto_bytes};

fn read(events: &str) -> Trace {
    let json = format!(r#"{{"traceEvents": [{events}]}}"#);
    read_kineto_bytes(json.as_bytes(), Path::new("t.json")).unwrap_or_else(|e| panic!("{e}"))
}

const LAUNCH: &str = r#"{"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1,
    "ts": 100, "dur": 5, "args": {"correlation": 7}}"#;
const KERNEL: &str = r#"{"ph": "X", "cat": "kernel", "name": "gemm", "pid": 0, "tid": 7, "ts": 110, "dur": 20,
    "args": {"correlation": 7, "device": 0, "stream": 7, "grid": [4, 1, 1], "block": [128, 1, 1]}}"#;

#[test]
fn a_kernel_present_twice_counts_once_with_a_warning() {
    let t = read(&format!("{LAUNCH}, {KERNEL}, {KERNEL}, {KERNEL}"));
    assert_eq!(t.activities.len(), 1);
    assert_eq!(t.diagnostics.count(WarningKind::DuplicateEvent), 2);
    let w = t.diagnostics.warnings().iter().find(|w| w.kind == WarningKind::DuplicateEvent).expect("warning");
    assert!(w.first_message.contains("'gemm'") && w.first_message.contains("stream 7"), "{}", w.first_message);

    // Same start and end on another stream, or another correlation: two kernels.
    let other_stream = KERNEL.replace(r#""stream": 7"#, r#""stream": 8"#);
    let other_corr = KERNEL.replace(r#""correlation": 7"#, r#""correlation": 8"#);
    let t = read(&format!("{KERNEL}, {other_stream}, {other_corr}"));
    assert_eq!(t.activities.len(), 3);
    assert_eq!(t.diagnostics.count(WarningKind::DuplicateEvent), 0);
}

#[test]
fn many_kernels_with_one_start_and_end_are_checked_in_linear_time() {
    // 20,000 kernels sharing start and end, on distinct streams, plus one copy of each.
    let mut ev = Vec::new();
    for s in 0..20_000 {
        let k = KERNEL.replace(r#""stream": 7"#, &format!(r#""stream": {s}"#));
        ev.push(k.clone());
        ev.push(k);
    }
    let t = read(&ev.join(","));
    assert_eq!(t.activities.len(), 20_000);
    assert_eq!(t.diagnostics.count(WarningKind::DuplicateEvent), 20_000);
}

#[test]
fn begin_end_pairs_become_ranges() {
    let t = read(
        r#"{"ph": "B", "cat": "cpu_op", "name": "outer", "pid": 1, "tid": 1, "ts": 10},
           {"ph": "B", "cat": "user_annotation", "name": "ProfilerStep#3", "pid": 1, "tid": 1, "ts": 12},
           {"ph": "B", "cat": "cpu_op", "name": "other thread", "pid": 1, "tid": 2, "ts": 13},
           {"ph": "E", "pid": 1, "tid": 1, "ts": 20},
           {"ph": "E", "pid": 1, "tid": 1, "ts": 30},
           {"ph": "B", "cat": "kernel", "name": "k", "pid": 0, "tid": 7, "ts": 15, "args": {"correlation": 3}},
           {"ph": "E", "pid": 0, "tid": 7, "ts": 18},
           {"ph": "E", "pid": 1, "tid": 2, "ts": 40}"#,
    );
    assert!(t.diagnostics.is_empty(), "{:?}", t.diagnostics);
    assert_eq!(t.host_ops.len(), 3);
    let outer = (0..3).find(|&i| t.str(t.host_ops.name[i]) == "outer").expect("outer");
    assert_eq!(t.host_ops.end_ns[outer] - t.host_ops.start_ns[outer], 20_000);
    assert_eq!(t.steps.len(), 1);
    assert_eq!(t.steps[0].end_ns - t.steps[0].start_ns, 8_000, "the inner B ends at the first E");
    assert_eq!(t.host_ops.kind.iter().filter(|&&k| k == HostOpKind::Annotation).count(), 1);
    assert_eq!(t.activities.kind, vec![ActivityKind::Kernel]);
    assert_eq!(t.activities.correlation, vec![3]);
}

#[test]
fn unpaired_begin_and_end_events_are_counted_with_what_to_do() {
    let t = read(
        r#"{"ph": "E", "pid": 1, "tid": 1, "ts": 5},
           {"ph": "B", "cat": "cpu_op", "name": "never ends", "pid": 1, "tid": 1, "ts": 10},
           {"ph": "B", "cat": "cpu_op", "name": "nor this", "pid": 1, "tid": 3, "ts": 11}"#,
    );
    assert!(t.host_ops.is_empty());
    assert_eq!(t.diagnostics.count(WarningKind::UnpairedRange), 3);
    let w = &t.diagnostics.warnings()[0];
    assert_eq!(w.first_location.map(|l| l.event_index), Some(0));
    assert!(w.first_message.contains("\"X\" events"), "{}", w.first_message);
}

#[test]
fn optional_arguments_of_an_unexpected_type_are_ignored_and_the_event_kept() {
    // A Triton launch names its grid in a string; HIP writes streams as hex strings.
    let triton = r#"{"ph": "X", "cat": "kernel", "name": "triton_poi_fused_0", "pid": 0, "tid": 7, "ts": 110,
        "dur": 20, "args": {"correlation": 7, "device": 0, "stream": "0x7", "grid": "grid(100,)",
        "block": [128, 1], "bytes": true, "queued": {"at": 1}, "graph id": null}}"#;
    let t = read(&format!("{LAUNCH}, {triton}"));
    assert_eq!(t.activities.len(), 1);
    assert_eq!(t.activities.stream, vec![7]);
    assert_eq!(t.activities.correlation, vec![7]);
    assert_eq!(t.activities.grid, vec![[0, 0, 0]]);
    assert_eq!(t.activities.block, vec![[0, 0, 0]]);
    assert_eq!(t.activities.queued_ns, vec![None]);
    let d = &t.diagnostics;
    assert_eq!(d.count(WarningKind::IgnoredField), 4, "{d:?}");
    assert_eq!(d.count(WarningKind::MalformedEvent), 0);
    let w = d.warnings().iter().find(|w| w.kind == WarningKind::IgnoredField).expect("warning");
    assert_eq!(w.first_location.map(|l| l.event_index), Some(1));
    assert!(w.first_message.contains("\"bytes\"") && w.first_message.contains("triton_poi"), "{}", w.first_message);

    // Grids as exact floats and strings of digits still read.
    let k = KERNEL.replace("[4, 1, 1]", r#"[4.0, "2", 1]"#);
    let t = read(&k);
    assert_eq!(t.activities.grid, vec![[4, 2, 1]]);
    assert!(t.diagnostics.is_empty(), "{:?}", t.diagnostics);
}
