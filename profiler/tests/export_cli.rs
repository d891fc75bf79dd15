//! `boundscope export` (and `analyze --parquet`) as a user runs them: every
//! output format at once, usage errors, unwritable outputs checked before any
//! work, and a failure half way that leaves no file behind.

use std::path::Path;
use std::process::Command;
mod common;

use common::{boundscope, s, sim_sweep, temp_dir, text, trace};

/// Every entry of `dir`, recursively, relative to it.
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).expect("inside").to_string_lossy().into_owned());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn exports_every_format_at_once() {
    let dir = temp_dir("export", "all");
    let p = trace("a100_ddp_train.json.gz");
    let out = boundscope(&[
        "export",
        s(&p),
        "--chrome",
        s(&dir.join("trace.json.gz")),
        "--csv",
        s(&dir.join("csv")),
        "--parquet",
        s(&dir.join("parquet")),
        "--plots",
        s(&dir.join("plots")),
        "--markdown",
        s(&dir.join("report.md")),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("CPU-bound (3 of 3 steps)"), "{stdout}");
    assert!(stdout.contains("wrote Chrome trace"), "{stdout}");
    assert_eq!(
        listing(&dir),
        [
            "csv",
            "csv/kernels.csv",
            "csv/launches.csv",
            "csv/steps.csv",
            "parquet",
            "parquet/kernels.parquet",
            "parquet/launches.parquet",
            "parquet/steps.parquet",
            "plots",
            "plots/launch_to_start.svg",
            "plots/top_kernels.svg",
            "report.md",
            "trace.json.gz",
        ]
    );
    let md = std::fs::read_to_string(dir.join("report.md")).expect("report");
    assert!(md.contains("](plots/launch_to_start.svg)") && md.contains("](plots/top_kernels.svg)"), "{md}");
    // The export reads back as a trace.
    let back = boundscope(&["analyze", s(&dir.join("trace.json.gz")), "--json"]);
    assert!(back.status.success(), "{}", text(&back.stderr));
    assert!(text(&back.stdout).contains("\"tklqt_ns\": 114152531"), "same TKLQT as the source");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_output_is_required() {
    let out = boundscope(&["export", s(&trace("old_format_inference.json.gz"))]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("--chrome") && err.contains("--markdown"), "{err}");
}

#[test]
fn unwritable_output_fails_before_any_work() {
    // The trace does not even exist: the output is checked first, so the
    // error is about the output, and nothing is read.
    for args in [
        vec!["--chrome", "/nonexistent-dir/out.json.gz"],
        vec!["--csv", "/proc/boundscope-out"],
        vec!["--parquet", "/proc/boundscope-out"],
        vec!["--plots", "/proc/boundscope-out"],
        vec!["--markdown", "/nonexistent-dir/report.md"],
    ] {
        let mut all = vec!["export", "/nonexistent/trace.json"];
        all.extend(&args);
        let out = boundscope(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains(args[1]), "{args:?}: the message names the output: {err}");
        assert!(!err.contains("trace.json"), "{args:?}: nothing was read: {err}");
        assert!(text(&out.stdout).is_empty(), "{args:?}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn a_failure_half_way_leaves_no_file() {
    // A file-size limit makes the write fail part way through (with SIGXFSZ
    // ignored, write() returns EFBIG): the error names the file and neither
    // the file nor its temporary remains.
    let bin = env!("CARGO_BIN_EXE_boundscope");
    for name in ["trace.json", "trace.json.gz"] {
        let dir = temp_dir("export", &format!("half-{name}"));
        let outp = dir.join(name);
        let script = format!(
            "trap '' XFSZ; ulimit -f 256; exec '{bin}' export '{}' --chrome '{}'",
            s(&trace("a100_ddp_train.json.gz")),
            s(&outp)
        );
        let out = Command::new("bash").args(["-c", &script]).output().expect("bash");
        assert_eq!(out.status.code(), Some(2), "{name}: {}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(err.contains(s(&outp)) && err.contains("File too large"), "{name}: {err}");
        assert_eq!(listing(&dir), Vec::<String>::new(), "{name}: nothing left behind");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn analyze_writes_parquet_tables() {
    let dir = temp_dir("export", "analyze-parquet");
    let p = trace("v100_train_ns_timestamps.json.gz");
    let out = boundscope(&["analyze", s(&p), "--parquet", s(&dir)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Parquet tables written to"));
    assert_eq!(listing(&dir), ["kernels.parquet", "launches.parquet", "steps.parquet"]);
    for f in listing(&dir) {
        let bytes = std::fs::read(dir.join(&f)).expect("read");
        assert_eq!(&bytes[..4], b"PAR1", "{f}: a Parquet file");
    }
    let out = boundscope(&["analyze", s(&p), "--parquet", "/proc/boundscope-out"]);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_optimizer_update_is_marked_on_the_advice_track_every_step() {
    let dir = temp_dir("export", "optimizer");
    sim_sweep(&dir, "gpt2:train", "1", "sim:gh200", "2", &["--seq", "64"]);
    let chrome = dir.join("chrome.json");
    let o = boundscope(&["export", s(&dir.join("traces/gh200-b1.json.gz")), "--chrome", s(&chrome)]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&chrome).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    let events = doc["traceEvents"].as_array().cloned().unwrap_or_default();
    let marks: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["name"].as_str().is_some_and(|n| n.starts_with("optimizer: "))).collect();
    assert_eq!(marks.len(), 2, "one per measured step");
    for m in marks {
        assert!(m["args"]["remedy"].as_str().is_some_and(|r| r.contains("fused=True")), "{m}");
        assert!(m["args"]["saving_per_step_ns"].as_f64().is_some_and(|v| v > 0.0), "{m}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
