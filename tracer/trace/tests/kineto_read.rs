//! The Kineto reader on every shared trace and on broken input.
//!
//! Expected table sizes were counted independently from the JSON (events by
//! `cat`, see testdata/traces/PROVENANCE.md), not taken from this reader.

use std::io::Write;
use std::path::{Path, PathBuf};

use boundscope_trace::{ApiKind, ReadErrorKind, WarningKind, read_kineto, read_kineto_bytes};

fn trace_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/traces").join(name)
}

struct Expect {
    file: &'static str,
    api: usize,
    kernels: usize,
    memcpy: usize,
    memset: usize,
    steps: usize,
}

const EXPECT: &[Expect] = &[
    Expect { file: "a100_simple_add.json.gz", api: 331, kernels: 79, memcpy: 16, memset: 3, steps: 0 },
    Expect { file: "a100_ddp_train.json.gz", api: 8740, kernels: 2700, memcpy: 960, memset: 114, steps: 3 },
    Expect { file: "v100_train_ns_timestamps.json.gz", api: 15329, kernels: 4350, memcpy: 1600, memset: 145, steps: 5 },
    Expect { file: "v100_train_cuda_graphs.json.gz", api: 21167, kernels: 9876, memcpy: 4856, memset: 900, steps: 6 },
    Expect { file: "mi250_train_hip.json.gz", api: 21, kernels: 14, memcpy: 2, memset: 0, steps: 2 },
    Expect { file: "old_format_inference.json.gz", api: 8, kernels: 4, memcpy: 0, memset: 0, steps: 0 },
    Expect { file: "cpu_only.json.gz", api: 0, kernels: 0, memcpy: 0, memset: 0, steps: 1 },
];

#[test]
fn reads_every_shared_trace() {
    use boundscope_trace::ActivityKind::*;
    for e in EXPECT {
        let t = read_kineto(&trace_path(e.file)).unwrap_or_else(|err| panic!("{err}"));
        let count = |k| t.activities.kind.iter().filter(|&&x| x == k).count();
        assert_eq!(t.api.len(), e.api, "{}", e.file);
        assert_eq!(count(Kernel), e.kernels, "{}", e.file);
        assert_eq!(count(Memcpy), e.memcpy, "{}", e.file);
        assert_eq!(count(Memset), e.memset, "{}", e.file);
        assert_eq!(t.steps.len(), e.steps, "{}", e.file);
        assert!(t.diagnostics.is_empty(), "{}: {:?}", e.file, t.diagnostics);
        // Sorted and origin-relative.
        assert!(t.activities.start_ns.windows(2).all(|w| w[0] <= w[1]));
        assert!(t.api.start_ns.first().is_none_or(|&s| s >= 0));
    }
}

#[test]
fn keeps_nanosecond_fractions_of_float_timestamps() {
    // a100_ddp_train: first cpu_op "autograd::engine::evaluate_function: DivBackward1"
    // at ts 4458676522690.655 us, dur 156.777 us.
    let t = read_kineto(&trace_path("a100_ddp_train.json.gz")).unwrap_or_else(|e| panic!("{e}"));
    let name = t.strings.get("autograd::engine::evaluate_function: DivBackward1").expect("op name");
    let i = (0..t.host_ops.len())
        .find(|&i| t.host_ops.name[i] == name && t.host_ops.start_ns[i] + t.meta.origin_ns == 4_458_676_522_690_655)
        .expect("op at its exact ns start");
    assert_eq!(t.host_ops.dur_ns(i), 156_777);
}

#[test]
fn classifies_hip_and_graph_launches() {
    let t = read_kineto(&trace_path("mi250_train_hip.json.gz")).unwrap_or_else(|e| panic!("{e}"));
    let launches = t.api.kind.iter().filter(|&&k| k == ApiKind::KernelLaunch).count();
    assert_eq!(launches, 14); // 12 hipLaunchKernel + 2 hipExtModuleLaunchKernel
    let t = read_kineto(&trace_path("v100_train_cuda_graphs.json.gz")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.api.kind.iter().filter(|&&k| k == ApiKind::GraphLaunch).count(), 12);
}

#[test]
fn driver_api_launches_are_launch_calls() {
    let json = br#"{"traceEvents": [
      {"ph": "X", "cat": "cuda_driver", "name": "cuLaunchKernel", "pid": 1, "tid": 1, "ts": 10, "dur": 3, "args": {"correlation": 5}},
      {"ph": "X", "cat": "kernel", "name": "gemm", "pid": 0, "tid": 7, "ts": 20, "dur": 4, "args": {"correlation": 5, "device": 0, "stream": 7}}
    ]}"#;
    let t = read_kineto_bytes(json, Path::new("mem.json")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.api.kind, vec![ApiKind::KernelLaunch]);
    assert_eq!(t.api.layer, vec![boundscope_trace::ApiLayer::Driver]);
    assert_eq!(t.activities.start_ns, vec![10_000]);
}

fn read_str(s: &str) -> Result<boundscope_trace::Trace, boundscope_trace::ReadError> {
    read_kineto_bytes(s.as_bytes(), Path::new("bad.json"))
}

#[test]
fn empty_and_non_json_files_are_errors() {
    let e = read_str("").expect_err("error");
    assert!(matches!(e.kind, ReadErrorKind::Empty), "{e}");
    assert!(e.to_string().starts_with("bad.json: the file is empty"), "{e}");
    let e = read_str("  \n").expect_err("error");
    assert!(matches!(e.kind, ReadErrorKind::Empty), "{e}");
    let e = read_str("<html>").expect_err("error");
    assert!(matches!(e.kind, ReadErrorKind::NotJson { offset: 0, .. }), "{e}");
    assert!(e.to_string().contains("'<'"), "{e}");
    let e = read_str(r#"{"schemaVersion": 1}"#).expect_err("error");
    assert!(matches!(e.kind, ReadErrorKind::NoTraceEvents), "{e}");
}

#[test]
fn document_cut_mid_event_names_the_event_and_offset() {
    let whole = r#"{"traceEvents": [{"ph": "X", "cat": "cpu_op", "name": "a", "pid": 1, "tid": 1, "ts": 1, "dur": 2}, {"ph": "X", "cat": "cpu_op", "name": "b", "pid": 1, "tid": 1, "ts": 5, "dur": 2}]}"#;
    let second = whole.find(r#"{"ph": "X", "cat": "cpu_op", "name": "b""#).expect("second event");
    let cut = &whole[..second + 30];
    let e = read_str(cut).expect_err("error");
    match e.kind {
        ReadErrorKind::Truncated { offset, ref context } => {
            assert_eq!(offset, second as u64);
            assert_eq!(context, "event #1");
        }
        ref k => panic!("unexpected {k:?}"),
    }
    assert!(e.to_string().contains("cut short"), "{e}");
    // Cut between events, and cut inside the header.
    let e = read_str(&whole[..second]).expect_err("error");
    assert!(matches!(e.kind, ReadErrorKind::Truncated { .. }), "{e}");
    let e = read_str(r#"{"traceEvents"#).expect_err("error");
    assert!(matches!(e.kind, ReadErrorKind::Truncated { .. }), "{e}");
}

#[test]
fn malformed_events_are_skipped_and_located() {
    let json = r#"{"traceEvents": [
      {"ph": "X", "cat": "cpu_op", "name": "ok", "pid": 1, "tid": 1, "ts": 1, "dur": 2},
      {"ph": "X", "cat": "cpu_op", "name": "no dur", "pid": 1, "tid": 1, "ts": 1},
      {"ph": "X", "cat": "kernel", "name": "bad ts", "pid": 0, "tid": 7, "ts": "soon", "dur": 2},
      {"ph": "X", "cat": "kernel", "name": "bad corr", "pid": 0, "tid": 7, "ts": 3, "dur": 2, "args": {"correlation": [1]}},
      {"ph": "X", "cat": "cpu_op", "name": "negative", "pid": 1, "tid": 1, "ts": 10, "dur": -4},
      17,
      {"ph": "X", "cat": "cpu_op", "name": "ok2", "pid": 1, "tid": 1, "ts": 20, "dur": 2}
    ]}"#;
    let t = read_str(json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.host_ops.len(), 2);
    // An optional argument of the wrong type is ignored, its event kept.
    assert_eq!(t.activities.len(), 1);
    let d = &t.diagnostics;
    assert_eq!(d.count(WarningKind::MissingField), 1);
    assert_eq!(d.count(WarningKind::MalformedEvent), 2);
    assert_eq!(d.count(WarningKind::IgnoredField), 1);
    assert_eq!(d.count(WarningKind::NegativeDuration), 1);
    let missing = d.warnings().iter().find(|w| w.kind == WarningKind::MissingField).expect("missing");
    let loc = missing.first_location.expect("location");
    assert_eq!(loc.event_index, 1);
    assert_eq!(loc.byte_offset as usize, json.find(r#"{"ph": "X", "cat": "cpu_op", "name": "no dur""#).unwrap_or(0));
    let malformed = d.warnings().iter().find(|w| w.kind == WarningKind::MalformedEvent).expect("malformed");
    assert_eq!(malformed.first_location.map(|l| l.event_index), Some(2));
    assert!(malformed.first_message.contains("\"ts\""), "{}", malformed.first_message);
    let neg = d.warnings().iter().find(|w| w.kind == WarningKind::NegativeDuration).expect("neg");
    assert_eq!(neg.first_location.map(|l| l.event_index), Some(4));
}

#[test]
fn escaped_names_and_string_ids() {
    let json = r#"{"traceEvents": [
      {"ph": "X", "cat": "kernel", "name": "void f<\"q\">(\u00e9)", "pid": 0, "tid": "stream 7", "ts": 1, "dur": 2, "args": {"stream": "0x7", "device": "0"}},
      {"ph": "M", "name": "thread_name", "pid": 1, "tid": 3, "args": {"name": "main"}}
    ]}"#;
    let t = read_str(json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.str(t.activities.name[0]), "void f<\"q\">(\u{e9})");
    assert_eq!(t.activities.stream, vec![7]);
    assert_eq!(t.threads[0].name.map(|n| t.str(n)), Some("main"));
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bs-trace-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    let mut f = std::fs::File::create(&p).expect("create");
    f.write_all(bytes).expect("write");
    p
}

#[test]
fn truncated_gzip_is_an_error_naming_the_file() {
    let whole = std::fs::read(trace_path("a100_simple_add.json.gz")).expect("read");
    let p = temp_file("cut.json.gz", &whole[..whole.len() / 2]);
    let e = read_kineto(&p).expect_err("error");
    assert!(matches!(e.kind, ReadErrorKind::Gzip { .. } | ReadErrorKind::Truncated { .. }), "{e}");
    assert!(e.to_string().contains("cut.json.gz"), "{e}");
    // Corrupt bytes in the middle of the deflate stream.
    let mut bad = whole.clone();
    for b in &mut bad[200..260] {
        *b ^= 0x5a;
    }
    let p = temp_file("corrupt.json.gz", &bad);
    let e = read_kineto(&p).expect_err("error");
    assert!(e.to_string().contains("corrupt.json.gz"), "{e}");
    let e = read_kineto(Path::new("/nonexistent/x.json")).expect_err("error");
    assert!(matches!(e.kind, ReadErrorKind::Io(_)), "{e}");
}

#[test]
fn plain_and_gzip_files_read_the_same() {
    let gz = trace_path("a100_simple_add.json.gz");
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(std::fs::File::open(&gz).expect("open")), &mut plain)
        .expect("gunzip");
    let p = temp_file("simple_add.json", &plain);
    let a = read_kineto(&gz).unwrap_or_else(|e| panic!("{e}"));
    let b = read_kineto(&p).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.activities.start_ns, b.activities.start_ns);
    assert_eq!(a.api.end_ns, b.api.end_ns);
}

#[test]
fn events_straddling_chunk_boundaries_read_the_same() {
    // Decimal timestamps, escapes and nested args cut at every possible place.
    let json = br#"{"schemaVersion": 1, "traceEvents": [
      {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1, "ts": 4458676522690.655, "dur": 3.125, "args": {"correlation": 5, "External id": 9}},
      {"ph": "X", "cat": "kernel", "name": "k\"1\"", "pid": 0, "tid": 7, "ts": 4458676522700.5, "dur": 4e0, "args": {"correlation": 5, "device": 0, "stream": 7, "grid": [1, 2, 3], "block": [4, 5, 6]}},
      {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "pid": 1, "tid": 1, "ts": 4458676522689.1, "dur": 20.25}
    ], "deviceProperties": [{"id": 0, "name": "GPU"}]}"#;
    let whole = read_kineto_bytes(json, Path::new("w.json")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(whole.activities.len(), 1);
    for chunk in 1..=64 {
        let t = boundscope_trace::read_kineto_chunked(json, chunk, Path::new("c.json"))
            .unwrap_or_else(|e| panic!("chunk {chunk}: {e}"));
        assert!(t.diagnostics.is_empty(), "chunk {chunk}: {:?}", t.diagnostics);
        assert_eq!(t.api.start_ns, whole.api.start_ns, "chunk {chunk}");
        assert_eq!(t.api.end_ns, whole.api.end_ns, "chunk {chunk}");
        assert_eq!(t.activities.start_ns, whole.activities.start_ns, "chunk {chunk}");
        assert_eq!(t.activities.grid, whole.activities.grid, "chunk {chunk}");
        assert_eq!(t.host_ops.end_ns, whole.host_ops.end_ns, "chunk {chunk}");
        assert_eq!(t.devices.len(), 1, "chunk {chunk}");
        assert_eq!(t.str(t.activities.name[0]), "k\"1\"");
    }
}

#[test]
fn skips_boundscope_derived_events() {
    // What `boundscope export --chrome` adds beside the workload's events: a
    // verdict bar and derived counters. Reading the export back must see only
    // the workload (one kernel here), with no extra host op or counter.
    let doc = br#"{"traceEvents":[
      {"ph":"X","cat":"kernel","name":"k","pid":0,"tid":7,"ts":10.000,"dur":2.000,"args":{"device":0,"stream":7}},
      {"ph":"X","cat":"boundscope_verdict","name":"CPU-bound","pid":9,"tid":1,"ts":0.000,"dur":50.000,"args":{}},
      {"ph":"C","cat":"boundscope_derived","name":"stream 7 queue","pid":0,"ts":1.000,"args":{"depth":1}},
      {"ph":"C","cat":"boundscope_derived","name":"GPU busy","pid":0,"ts":0.000,"args":{"fraction":0.5}},
      {"ph":"C","name":"nvml power","pid":0,"ts":11.000,"args":{"W":300}}
    ]}"#;
    let t = read_kineto_bytes(doc, Path::new("export.json")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.activities.len(), 1);
    assert!(t.host_ops.is_empty(), "verdict bars must not become host ops");
    assert_eq!(t.counters.series.len(), 1, "only the workload's own counter");
    assert_eq!(t.str(t.counters.series[0].name), "nvml power");
    // The derived counter at ts 0 must not move the origin either.
    assert_eq!(t.meta.origin_ns, 10_000);
}
