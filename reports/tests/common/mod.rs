//! Helpers shared by the reports tests: the shared traces, read and
//! analyzed, and scratch directories.
// Each test binary uses its own subset.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use boundscope_analysis::{Analysis, AnalysisSpec, analyze};
use boundscope_trace::{Trace, read_kineto};

/// Every trace of `testdata/traces/`.
pub const TRACES: [&str; 7] = [
    "a100_simple_add.json.gz",
    "a100_ddp_train.json.gz",
    "v100_train_ns_timestamps.json.gz",
    "v100_train_cuda_graphs.json.gz",
    "mi250_train_hip.json.gz",
    "old_format_inference.json.gz",
    "cpu_only.json.gz",
];

pub fn trace_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/traces").join(name)
}

/// An empty scratch directory `bs-<group>-<pid>-<name>` under the temp dir.
pub fn temp_dir(group: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bs-{group}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Reads and analyzes a shared trace; `name` (not the full path) is its source label.
pub fn load(name: &str) -> (Trace, Analysis) {
    let t = read_kineto(&trace_path(name)).unwrap_or_else(|e| panic!("{e}"));
    let a = analyze(&t, name, &AnalysisSpec::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
    (t, a)
}
