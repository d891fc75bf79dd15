//! `boundscope sweep` as a user runs it: a simulated sweep with its files and
//! table, bad input listing the valid choices, and a sweep of the user's own
//! command whose points fail (no GPU here; out of memory at a large batch)
//! and are recorded with their reasons.

mod common;

use common::{boundscope, key_paths, s, temp_dir, text};

#[test]
fn simulated_sweep_writes_its_files_and_names_the_transition() {
    let out = temp_dir("sweep-cli", "sim");
    let o = boundscope(&[
        "sweep",
        "--batch",
        "1,8,64,256",
        "--platform",
        "sim:h100-pcie",
        "--steps",
        "2",
        "--warmup",
        "1",
        "--out",
        s(&out),
    ]);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{}\n{stdout}", text(&o.stderr));
    assert!(
        stdout.contains("MODEL OUTPUT") && stdout.contains("TKLQT knee") && stdout.contains("busy rule"),
        "{stdout}"
    );
    for f in ["sweep.csv", "sweep.json", "sweep.svg", "traces/h100-pcie-b256.json.gz"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let csv = std::fs::read_to_string(out.join("sweep.csv")).expect("sweep.csv");
    insta::assert_snapshot!("sweep_csv_header", csv.lines().next().unwrap_or_default());
    assert_eq!(csv.lines().count(), 5);
    // The exported trace of a point, analyzed by `boundscope analyze`, gives the point's figures.
    let t = boundscope(&["analyze", "--json", s(&out.join("traces/h100-pcie-b256.json.gz"))]);
    assert!(t.status.success(), "{}", text(&t.stderr));
    let analyzed: serde_json::Value = serde_json::from_slice(&t.stdout).expect("analyze --json");
    let median = &analyzed["traces"][0]["step_median"];
    let sweep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).expect("sweep.json")).expect("json");
    insta::assert_snapshot!("sweep_json_key_paths", key_paths(&sweep).join("\n"));
    let point = &sweep["platforms"][0]["points"][3];
    assert_eq!(point["batch"], 256);
    // The document says what each point was asked to run, and each point what it ran.
    assert_eq!(sweep["schema"], "boundscope.sweep/2");
    assert_eq!((&sweep["steps"], &sweep["warmup"]), (&serde_json::json!(2), &serde_json::json!(1)));
    assert_eq!((&point["status"], &point["steps"], &point["warmup_steps"]), (&"ok".into(), &2.into(), &1.into()));
    for (m, p) in
        [("tklqt_ns", "tklqt_ns"), ("kernels", "kernels_per_step"), ("busy_frac", "busy_frac"), ("steps", "steps")]
    {
        assert!(median[m].is_number(), "{m}: {median}");
        assert_eq!(median[m], point[p], "{m}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn bad_sweep_input_lists_the_valid_choices() {
    let o = boundscope(&["sweep", "--workload", "llama-70b:decode"]);
    assert_eq!(o.status.code(), Some(2));
    let e = text(&o.stderr);
    assert!(e.contains("llama-3.2-1b:decode") && e.contains("gpt2:prefill"), "{e}");
    let o = boundscope(&["sweep", "--batch", "1..x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("malformed --batch '1..x'"));
    let o = boundscope(&["sweep", "--platform", "sim:tpu"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("sim:gh200"));
}

#[test]
fn a_command_sweep_records_each_failed_point_with_its_reason() {
    let out = temp_dir("sweep-cli", "cmd");
    // Batch 4 runs out of memory; batch 1 runs but launches no kernels (no GPU here).
    let script = "if [ $0 -ge 4 ]; then echo 'RuntimeError: CUDA out of memory' >&2; exit 7; fi";
    let o = boundscope(&["sweep", "--batch", "1,4", "--out", s(&out), "--", "sh", "-c", script, "{batch}"]);
    let stdout = text(&o.stdout);
    let stderr = text(&o.stderr);
    // No point succeeded: the table is printed, and the exit code says so.
    assert_eq!(o.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("no point of the sweep succeeded"), "{stderr}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).expect("sweep.json")).expect("json");
    let points = doc["platforms"][0]["points"].as_array().expect("points");
    assert_eq!(points.len(), 2);
    // Every step of the program after no warm-up was asked for, not the reference workload's 5 and 2.
    assert!(doc["steps"].is_null() && doc["warmup"] == 0, "{doc}");
    assert!(points.iter().all(|p| p["status"] == "failed" && p["warmup_steps"].is_null()), "{doc}");
    assert_eq!(doc["platforms"][0]["simulated"], false);
    let e1 = points[0]["error"].as_str().unwrap_or_default();
    assert!(e1.contains("no GPU activity recorded"), "{e1}");
    let e4 = points[1]["error"].as_str().unwrap_or_default();
    assert!(e4.contains("exit status 7") && e4.contains("CUDA out of memory"), "{e4}");
    // Each point was profiled into its own run directory, readable afterwards.
    assert!(out.join("runs/cmd-b4/program.json").is_file());
    assert!(out.join("logs/cmd-b4.txt").is_file());
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn the_tui_needs_a_terminal() {
    // The test's stdout is a pipe: the sweep refuses before running a point.
    let out = temp_dir("sweep-cli", "tui");
    let o = boundscope(&["sweep", "--tui", "--platform", "sim:gh200", "--batch", "1", "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(2));
    let e = text(&o.stderr);
    assert!(e.contains("--tui needs a terminal") && e.contains("leave --tui out"), "{e}");
    assert!(!out.join("sweep.json").exists());
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn the_ispass25_preset_prints_transitions_at_grid_resolution() {
    let out = temp_dir("sweep", "preset");
    let o = boundscope(&["sweep", "--preset", "ispass25", "--no-traces", "--out", s(&out)]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    let block = stdout.split("PRESET ispass25").nth(1).expect("the preset summary");
    let rows: Vec<&str> = block.lines().filter(|l| l.trim_start().starts_with("sim:")).collect();
    assert_eq!(rows.len(), 6, "{block}");
    for r in rows {
        // "knee 8-16   busy 16-32": a grid interval, a bound, never an interpolated "~22".
        assert!(!r.contains('~'), "{r}");
        assert!(r.contains("knee") && r.contains("busy"), "{r}");
    }
    for w in ["bert-base-prefill", "llama-3.2-1b-prefill"] {
        assert!(out.join(w).join("sweep.json").is_file(), "{w}");
    }
    // A preset fixes the workload and platforms.
    let o = boundscope(&["sweep", "--preset", "ispass25", "--workload", "gpt2:decode"]);
    assert_eq!(o.status.code(), Some(2));
    let o = boundscope(&["sweep", "--preset", "nope", "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("unknown preset 'nope'; presets: ispass25"), "{}", text(&o.stderr));
}
