//! `boundscope top --headless` end to end: the JSON lines of a replay equal
//! `boundscope analyze --json` on the same trace (every step field for field,
//! the summary's window fields against `trace_window`), a simulated run
//! streams its steps, and bad options fail up front with exit code 2.

mod common;

use common::{boundscope, text, trace};
use serde_json::{Map, Value};

fn lines(stdout: &[u8]) -> Vec<Map<String, Value>> {
    text(stdout)
        .lines()
        .map(|l| match serde_json::from_str::<Value>(l) {
            Ok(Value::Object(m)) => m,
            other => panic!("not a JSON object line: {l} ({other:?})"),
        })
        .collect()
}

/// `m` without the line's own keys, to compare with an `analyze` window.
fn window_fields(m: &Map<String, Value>, drop: &[&str]) -> Map<String, Value> {
    let mut m = m.clone();
    for k in ["schema", "kind"].iter().chain(drop) {
        m.remove(*k);
    }
    m
}

#[test]
fn headless_replay_equals_analyze_on_every_shared_trace() {
    for name in [
        "a100_ddp_train",
        "a100_simple_add",
        "cpu_only",
        "mi250_train_hip",
        "old_format_inference",
        "v100_train_cuda_graphs",
        "v100_train_ns_timestamps",
    ] {
        let path = trace(&format!("{name}.json.gz"));
        let p = path.to_str().expect("utf-8 path");
        let out = boundscope(&["top", "--replay", p, "--speed", "max", "--headless"]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let lines = lines(&out.stdout);
        let kinds: Vec<&str> = lines.iter().map(|l| l["kind"].as_str().unwrap_or("?")).collect();
        assert_eq!(kinds.first(), Some(&"start"), "{name}");
        assert_eq!(kinds.last(), Some(&"summary"), "{name}");
        assert!(lines.iter().all(|l| l["schema"] == "boundscope.live/1"));

        let a = boundscope(&["analyze", p, "--json"]);
        assert!(a.status.success());
        let doc: Value = serde_json::from_slice(&a.stdout).expect("analyze json");
        let report = &doc["traces"][0];
        let steps: Vec<Map<String, Value>> =
            lines.iter().filter(|l| l["kind"] == "step").map(|l| window_fields(l, &[])).collect();
        let batch: Vec<Map<String, Value>> =
            report["steps"].as_array().expect("steps").iter().map(|s| s.as_object().expect("step").clone()).collect();
        assert_eq!(steps, batch, "{name}: steps");

        let summary = lines.last().expect("summary");
        let whole = window_fields(summary, &["source", "totals", "steps", "step_median"]);
        assert_eq!(&whole, report["trace_window"].as_object().expect("trace_window"), "{name}: summary");
        assert_eq!(summary["step_median"], report["step_median"], "{name}");
        assert_eq!(summary["totals"]["kernels"], report["counts"]["kernels"], "{name}");
        // Windows come in order and tile the run.
        let starts: Vec<i64> =
            lines.iter().filter(|l| l["kind"] == "window").map(|l| l["start_ns"].as_i64().unwrap_or(-1)).collect();
        assert!(starts.windows(2).all(|w| w[1] - w[0] == 250_000_000), "{name}: {starts:?}");
    }
}

#[test]
fn headless_simulated_run_streams_its_steps() {
    let out = boundscope(&[
        "top",
        "--platform",
        "sim:gh200",
        "--workload",
        "gpt2:decode",
        "--batch",
        "4",
        "--steps",
        "12",
        "--speed",
        "max",
        "--headless",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines = lines(&out.stdout);
    assert_eq!(lines[0]["simulated"], true);
    let steps: Vec<i64> =
        lines.iter().filter(|l| l["kind"] == "step").map(|l| l["step"].as_i64().unwrap_or(-1)).collect();
    assert_eq!(steps, (0..12).collect::<Vec<i64>>());
    let summary = lines.last().expect("summary");
    assert_eq!(summary["kind"], "summary");
    assert_eq!(summary["steps"], 12);
    assert_eq!(summary["step_median"]["steps"], 12);
}

#[test]
fn top_options_have_ranges() {
    for (args, needle) in [
        (vec!["top", "--platform", "sim:h100-pcie", "--batch", "0", "--headless"], "--batch must be from 1"),
        (vec!["top", "--platform", "sim:h100-pcie", "--steps", "0", "--headless"], "--steps must be from 1"),
        (vec!["top", "--platform", "sim:h100-pcie", "--window", "0", "--headless"], "--window must be from 1"),
        (vec!["top", "--platform", "sim:h100-pcie", "--speed", "0", "--headless"], "speed '0' is not valid"),
        (vec!["top", "--platform", "sim:nope", "--headless"], "sim:nope"),
        (vec!["top", "--headless"], "nothing to watch"),
        (vec!["top", "--replay", "/nonexistent/trace.json.gz", "--headless"], "/nonexistent/trace.json.gz"),
    ] {
        let out = boundscope(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out.stderr).contains(needle), "{args:?}: {}", text(&out.stderr));
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
