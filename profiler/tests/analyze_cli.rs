//! `boundscope analyze` as a user runs it: exit codes, messages, and the
//! layout of every output format (snapshots).

mod common;

use common::{boundscope, key_paths, temp_dir, text, trace};

use boundscope_analysis::TraceReport;
use serde::Deserialize;

/// The `--json` document; unknown fields anywhere fail the parse.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    schema: String,
    traces: Vec<TraceReport>,
}

#[test]
fn every_shared_trace_analyzes() {
    for name in [
        "a100_simple_add.json.gz",
        "a100_ddp_train.json.gz",
        "v100_train_ns_timestamps.json.gz",
        "v100_train_cuda_graphs.json.gz",
        "mi250_train_hip.json.gz",
        "old_format_inference.json.gz",
        "cpu_only.json.gz",
    ] {
        let p = trace(name);
        let out = boundscope(&["analyze", p.to_str().expect("path")]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let s = text(&out.stdout);
        assert!(s.contains("VERDICT: "), "{name}: {s}");
    }
}

#[test]
fn text_summary_layout() {
    let p = trace("old_format_inference.json.gz");
    let out = boundscope(&["analyze", p.to_str().expect("path"), "--top", "3"]);
    assert!(out.status.success());
    let s = text(&out.stdout).replace(p.to_str().expect("path"), "TRACE");
    insta::assert_snapshot!("summary_old_format_inference", s);
}

#[test]
fn json_document_follows_the_schema() {
    let p = trace("a100_ddp_train.json.gz");
    let out = boundscope(&["analyze", p.to_str().expect("path"), "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc: Document = serde_json::from_slice(&out.stdout).expect("schema");
    assert_eq!(doc.schema, "boundscope.analysis/3");
    assert_eq!(doc.traces.len(), 1);
    let r = &doc.traces[0];
    assert_eq!(r.steps.len(), 3);
    assert_eq!(r.trace_window.tklqt_ns, 114_152_531);
    // Pin the key layout: any added, removed or renamed field shows here.
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    insta::assert_snapshot!("json_key_paths", key_paths(&v).join("\n"));
}

#[test]
fn csv_tables_have_stable_headers() {
    let dir = temp_dir("cli", "csv");
    let p = trace("a100_ddp_train.json.gz");
    let out = boundscope(&["analyze", p.to_str().expect("path"), "--csv", dir.to_str().expect("dir")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut headers = String::new();
    for f in ["launches.csv", "kernels.csv", "steps.csv"] {
        let body = std::fs::read_to_string(dir.join(f)).expect("csv written");
        let mut lines = body.lines();
        headers.push_str(&format!("{f}: {}\n", lines.next().unwrap_or("")));
        let rows = lines.count();
        match f {
            "launches.csv" => assert_eq!(rows, 3774),
            "steps.csv" => assert_eq!(rows, 4),
            _ => assert!(rows > 10),
        }
    }
    insta::assert_snapshot!("csv_headers", headers);
}

#[test]
fn several_traces_side_by_side() {
    let dir = temp_dir("cli", "multi");
    let a = trace("a100_ddp_train.json.gz");
    let b = trace("v100_train_ns_timestamps.json.gz");
    let out = boundscope(&[
        "analyze",
        a.to_str().expect("path"),
        b.to_str().expect("path"),
        "--csv",
        dir.to_str().expect("dir"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("SIDE BY SIDE"));
    let header = s.lines().find(|l| l.trim_start().starts_with("metric")).expect("comparison table");
    assert!(header.contains("a100_ddp_train") && header.contains("v100_train_ns_timestamps"), "{header}");
    assert!(dir.join("a100_ddp_train/launches.csv").exists());
    assert!(dir.join("v100_train_ns_timestamps/steps.csv").exists());
}

#[test]
fn step_selection() {
    let p = trace("a100_ddp_train.json.gz");
    let out = boundscope(&["analyze", p.to_str().expect("path"), "--step", "5"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("evidence from step 5"));
    let out = boundscope(&["analyze", p.to_str().expect("path"), "--step", "9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no step 9; the trace has steps 4, 5, 6"), "{}", text(&out.stderr));
}

#[test]
fn bad_input_exits_2_with_the_file_named() {
    let dir = temp_dir("cli", "bad");
    let empty = dir.join("empty.json");
    std::fs::write(&empty, b"").expect("write");
    let out = boundscope(&["analyze", empty.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("empty.json: the file is empty"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let gz = std::fs::read(trace("a100_ddp_train.json.gz")).expect("read");
    let cut = dir.join("cut.json.gz");
    std::fs::write(&cut, &gz[..gz.len() / 3]).expect("write");
    let out = boundscope(&["analyze", cut.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("cut.json.gz") && err.contains("cut short"), "{err}");

    let out = boundscope(&["analyze", "/nonexistent/trace.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent/trace.json: cannot read the file"));
}

#[test]
fn unwritable_output_fails_before_reading() {
    let p = trace("a100_ddp_train.json.gz");
    let out = boundscope(&["analyze", p.to_str().expect("path"), "--csv", "/proc/boundscope-out"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/proc/boundscope-out"), "{}", text(&out.stderr));
}

#[test]
fn strict_turns_warnings_into_exit_3() {
    let p = trace("v100_train_cuda_graphs.json.gz");
    let out = boundscope(&["analyze", p.to_str().expect("path")]);
    assert!(out.status.success());
    assert!(text(&out.stderr).contains("warning:") && text(&out.stderr).contains("unmatched GPU activity x614"));
    let out = boundscope(&["analyze", p.to_str().expect("path"), "--strict"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("--strict"));
}
