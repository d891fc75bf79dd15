//! `boundscope profile` end to end through stand-ins at the C ABI, on a
//! machine without a GPU: a stand-in `libcuda.so.1` whose `cuInit` loads
//! `CUDA_INJECTION64_PATH` and calls `InitializeInjection` as the driver does,
//! a stand-in `libcupti.so.13` that implements the calls the collector makes
//! and delivers records in CUPTI 13.0's layouts through the registered buffer
//! callbacks, and a small C program that "launches" kernels in NVTX steps
//! through its own NVTX entry (which loads `NVTX_INJECTION64_PATH` and calls
//! `InitializeInjectionNvtx2`). Everything between them is the real thing:
//! the launcher, the injected collector (`libboundscope_inject.so`), its CUPTI
//! calls, buffers, converter, helper and sender threads, the socket, the
//! ingest, the run directory and the analysis.
//!
//! The stand-ins (`tests/standins/*.c`) are compiled with `cc` into a
//! temporary directory by these tests: they never ship and no search path of
//! boundscope finds them (the tests point `BOUNDSCOPE_CUPTI_PATH` and
//! `LD_LIBRARY_PATH` at them explicitly).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

struct Standins {
    dir: PathBuf,
    inject: PathBuf,
}

/// Compiles the stand-ins once per test run; `None` (with the reason
/// printed) where there is no C compiler or no collector library.
fn standins() -> Option<&'static Standins> {
    static S: OnceLock<Option<Standins>> = OnceLock::new();
    S.get_or_init(|| {
        let exe = std::env::current_exe().expect("test exe");
        let deps = exe.parent().expect("deps dir");
        let inject = [deps.join("libboundscope_inject.so"), deps.join("../libboundscope_inject.so")]
            .into_iter()
            .find(|p| p.is_file());
        let Some(inject) = inject else {
            println!("skipped: libboundscope_inject.so not built (cargo build -p boundscope-inject)");
            return None;
        };
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standins");
        let dir = std::env::temp_dir().join(format!("bs-standins-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("stand-in dir");
        let cc = |args: &[&str]| -> bool {
            match Command::new("cc").args(args).current_dir(&dir).output() {
                Ok(o) if o.status.success() => true,
                Ok(o) => panic!("cc {args:?}:\n{}", String::from_utf8_lossy(&o.stderr)),
                Err(e) => {
                    println!("skipped: no C compiler (cc: {e})");
                    false
                }
            }
        };
        let s = |f: &str| src.join(f).display().to_string();
        let (cuda, cupti, prog) = (s("cuda.c"), s("cupti.c"), s("prog.c"));
        let ok = cc(&["-Wall", "-shared", "-fPIC", "-o", "libcuda.so.1", "-Wl,-soname,libcuda.so.1", &cuda, "-ldl"])
            && cc(&[
                "-Wall",
                "-shared",
                "-fPIC",
                "-o",
                "libcupti.so.13",
                "-Wl,-soname,libcupti.so.13",
                &cupti,
                "-ldl",
                "-lpthread",
            ])
            && cc(&["-Wall", "-o", "prog", &prog, "./libcuda.so.1", "-Wl,-rpath,$ORIGIN", "-ldl"]);
        ok.then_some(Standins { dir, inject })
    })
    .as_ref()
}

/// `boundscope profile --out OUT [extra] -- prog ARGS` with the stand-ins in place.
fn profile(s: &Standins, name: &str, extra: &[&str], prog_args: &[&str], env: &[(&str, &str)]) -> (Output, PathBuf) {
    let out = std::env::temp_dir().join(format!("bs-standin-run-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let mut c = Command::new(env!("CARGO_BIN_EXE_boundscope"));
    c.arg("profile").arg("--out").arg(&out).args(extra).arg("--").arg(s.dir.join("prog")).args(prog_args);
    c.env("LD_LIBRARY_PATH", &s.dir)
        .env("BOUNDSCOPE_CUPTI_PATH", &s.dir)
        .env("BOUNDSCOPE_INJECT_PATH", &s.inject)
        .env_remove("NVTX_INJECTION64_PATH")
        .env_remove("BOUNDSCOPE_CUPTI_FILE")
        .envs(env.iter().copied());
    (c.output().expect("run boundscope"), out)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `boundscope analyze OUT --json`: the first trace's document.
fn analyze(out: &Path) -> serde_json::Value {
    let o = Command::new(env!("CARGO_BIN_EXE_boundscope"))
        .args(["analyze", out.to_str().expect("utf-8"), "--json"])
        .output()
        .expect("analyze");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    doc["traces"][0].clone()
}

#[test]
fn a_program_is_profiled_end_to_end_with_exact_counts() {
    let Some(s) = standins() else { return };
    let (o, out) = profile(s, "e2e", &[], &["6", "4"], &[]);
    let (stdout, stderr) = (text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.starts_with("prog: 6 steps of 4 kernels\n"), "{stdout}");
    // Which libcupti, and why: the profiler's choice, passed to the collector.
    let lib = s.dir.join("libcupti.so.13");
    assert!(
        stdout.contains(&format!(
            "note: libcupti {} (BOUNDSCOPE_CUPTI_PATH, chosen by boundscope profile)",
            lib.display()
        )),
        "{stdout}"
    );
    // NVTX went through the collector to the same libcupti.
    assert!(stdout.contains(&format!("note: NVTX ranges go to {}", lib.display())), "{stdout}");
    assert!(
        stdout.contains("API version 130001, kernel record v10 (layout verified), latency timestamps on, clock CLOCK_MONOTONIC (timestamp callback)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("24 kernels (24 with queued/submitted timestamps, 100.0%), 24 API calls, 0 memcpy, 0 memset, 0 sync records, 6 NVTX ranges, 6 steps"),
        "{stdout}"
    );
    assert!(stdout.contains("launches matched   24 of 24 kernels"), "{stdout}");
    // The 24 cudaGetDevice calls are left out and counted; what remains, by name.
    assert!(stdout.contains("API calls by name  cudaLaunchKernel 24\n"), "{stdout}");
    assert!(
        stdout.contains("left out           0 incomplete records (no start or end), 24 hot query API calls"),
        "{stdout}"
    );
    assert!(stdout.contains("run complete       yes"), "{stdout}");
    let t = analyze(&out);
    assert_eq!(t["trace_window"]["kernels"], 24, "{t}");
    assert_eq!(t["trace_window"]["matched_kernels"], 24, "{t}");
    assert_eq!(t["steps"].as_array().map(Vec::len), Some(6));
    // Every kernel starts 5 us after its launch call began, on one clock.
    let l2s = &t["trace_window"]["launch_to_start"];
    assert_eq!((l2s["p50_ns"].as_f64(), l2s["max_ns"].as_i64()), (Some(5_000.0), Some(5_000)), "{l2s}");
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn records_without_timestamps_are_dropped_and_counted() {
    let Some(s) = standins() else { return };
    let (o, out) = profile(s, "zero", &[], &["6", "4"], &[("STANDIN_ZERO_KERNELS", "3")]);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(stdout.contains("21 kernels (21 with queued/submitted timestamps, 100.0%)"), "{stdout}");
    assert!(stdout.contains("left out           3 incomplete records (no start or end)"), "{stdout}");
    // The trace origin is not dragged 1.7e18 ns away: launch to start stays 5 us.
    let t = analyze(&out);
    assert_eq!(t["trace_window"]["kernels"], 21);
    assert_eq!(t["trace_window"]["launch_to_start"]["max_ns"].as_i64(), Some(5_000));
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn a_killed_program_keeps_what_was_flushed_before() {
    let Some(s) = standins() else { return };
    // 20 steps of 50 ms; SIGKILL after step 12 (about 0.6 s); flush every 100 ms.
    let (o, out) = profile(s, "kill", &[], &["20", "4", "50", "kill", "12"], &[("BOUNDSCOPE_FLUSH_MS", "100")]);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(stdout.contains("killed by signal") || stdout.contains("signal: 9"), "{stdout}");
    let t = analyze(&out);
    let kernels = t["trace_window"]["kernels"].as_u64().expect("kernels");
    println!("{kernels} of 48 kernels kept after SIGKILL");
    // At most the last flush period (two steps here, with slack for a busy machine) is lost.
    assert!((32..=48).contains(&kernels), "{kernels} kernels of the 48 launched before the kill");
    assert!(stdout.contains("ended without its end record"), "{stdout}");
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn sigint_with_the_default_action_still_ends_the_stream() {
    let Some(s) = standins() else { return };
    let (o, out) = profile(s, "sigint", &[], &["10", "4", "0", "sigint", "5"], &[]);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(stdout.contains("signal: 2"), "the program died of SIGINT as it would have: {stdout}");
    assert!(stdout.contains("20 kernels") && stdout.contains(" 5 steps"), "{stdout}");
    assert!(stdout.contains("run complete       yes"), "{stdout}");
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn a_forked_child_exits_at_once_and_the_parent_records_everything() {
    let Some(s) = standins() else { return };
    let t = Instant::now();
    let (o, out) = profile(s, "fork", &[], &["4", "4", "0", "fork"], &[]);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(stdout.contains("16 kernels") && stdout.contains(" 4 steps"), "{stdout}");
    assert!(stdout.contains("run complete       yes"), "{stdout}");
    assert!(t.elapsed() < Duration::from_secs(20), "took {:?}", t.elapsed());
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn a_second_cupti_subscriber_gets_the_clear_message() {
    let Some(s) = standins() else { return };
    let (o, out) = profile(s, "second", &[], &["2", "2"], &[("STANDIN_SECOND_SUBSCRIBER", "1")]);
    let (stdout, stderr) = (text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "{stderr}");
    let msg = "CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED: another profiler holds CUPTI";
    assert!(
        stderr.contains(&format!("boundscope: no GPU activity recorded: cuptiSubscribe failed: {msg}")),
        "{stderr}"
    );
    assert!(stdout.contains("(prog): not active") && stdout.contains(msg), "{stdout}");
    assert!(stdout.starts_with("prog: 2 steps of 2 kernels"), "the program ran on: {stdout}");
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn cupti_13_0_0_is_refused_for_nvtx_and_kernels_are_still_recorded() {
    let Some(s) = standins() else { return };
    let (o, out) = profile(s, "cupti1300", &[], &["3", "2"], &[("STANDIN_CUPTI_VERSION", "130000")]);
    let (stdout, stderr) = (text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("boundscope: NVTX ranges not recorded: CUPTI 13.0.0 (API version 130000"), "{stderr}");
    assert!(stdout.contains("6 kernels") && stdout.contains(" 0 steps"), "{stdout}");
    assert!(stdout.contains("layout NOT verified"), "{stdout}");
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn a_hanging_exit_flush_does_not_hang_the_program() {
    let Some(s) = standins() else { return };
    let t = Instant::now();
    let (o, out) =
        profile(s, "hang", &[], &["2", "2"], &[("STANDIN_HANG_FLUSH", "1"), ("BOUNDSCOPE_EXIT_TIMEOUT_MS", "500")]);
    let (stdout, stderr) = (text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "{stderr}");
    assert!(stdout.contains("exit status: 0"), "the program exited normally: {stdout}");
    assert!(
        stderr.contains("boundscope: the last records were not flushed within BOUNDSCOPE_EXIT_TIMEOUT_MS"),
        "{stderr}"
    );
    assert!(t.elapsed() < Duration::from_secs(15), "took {:?}", t.elapsed());
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn without_the_timestamp_callback_anchors_put_cupti_times_on_the_host_clock() {
    let Some(s) = standins() else { return };
    // The stand-in's own clock runs 5000 s ahead of CLOCK_MONOTONIC.
    let (o, out) = profile(s, "anchors", &[], &["4", "4"], &[("BOUNDSCOPE_HOST_CLOCK", "0")]);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(stdout.contains("clock CUPTI's, anchored to CLOCK_MONOTONIC"), "{stdout}");
    let t = analyze(&out);
    assert_eq!(t["trace_window"]["kernels"], 16);
    assert_eq!(t["trace_window"]["launch_to_start"]["max_ns"].as_i64(), Some(5_000));
    // Steps (NVTX, CUPTI clock) and perf samples (host clock) share one
    // timeline: the steps fall inside the program's run, not 5000 s away.
    let steps = t["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 4);
    let last_end = steps.iter().filter_map(|s| s["end_ns"].as_i64()).max().unwrap_or(i64::MAX);
    assert!(last_end < 60_000_000_000, "steps end {last_end} ns after the trace origin");
    std::fs::remove_dir_all(&out).ok();
}

/// `boundscope top --headless --run-dir OUT -- prog ARGS` with the stand-ins in place.
fn top_headless(s: &Standins, name: &str, prog_args: &[&str]) -> (Output, PathBuf) {
    let out = std::env::temp_dir().join(format!("bs-standin-top-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let mut c = Command::new(env!("CARGO_BIN_EXE_boundscope"));
    c.args(["top", "--headless", "--window", "20", "--run-dir"]).arg(&out).arg("--").arg(s.dir.join("prog"));
    c.args(prog_args)
        .env("LD_LIBRARY_PATH", &s.dir)
        .env("BOUNDSCOPE_CUPTI_PATH", &s.dir)
        .env("BOUNDSCOPE_INJECT_PATH", &s.inject)
        .env_remove("NVTX_INJECTION64_PATH")
        .env_remove("BOUNDSCOPE_CUPTI_FILE");
    (c.output().expect("run boundscope"), out)
}

#[test]
fn top_follows_a_program_live_and_ends_with_the_runs_own_figures() {
    let Some(s) = standins() else { return };
    let (o, out) = top_headless(s, "live", &["6", "4"]);
    let stderr = text(&o.stderr);
    assert!(o.status.success(), "stderr:\n{stderr}");
    let lines: Vec<serde_json::Value> =
        text(&o.stdout).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(lines.first().map(|l| l["kind"].clone()), Some("start".into()), "{lines:?}");
    let summary = lines.last().expect("summary");
    assert_eq!(summary["kind"], "summary");
    // The live steps, streamed as they became final, are the run's steps.
    let steps: Vec<&serde_json::Value> = lines.iter().filter(|l| l["kind"] == "step").collect();
    assert_eq!(steps.len(), 6, "{}", text(&o.stdout));
    assert_eq!(summary["kernels"], 24);
    assert_eq!(summary["totals"]["kernels"], 24);
    let run = analyze(&out);
    for (live, batch) in steps.iter().zip(run["steps"].as_array().expect("steps")) {
        for key in ["kernels", "tklqt_ns", "il_ns", "gpu_busy_ns", "exposed_launch_ns", "queue"] {
            assert_eq!(live[key], batch[key], "step {}: {key}", batch["label"]);
        }
    }
    assert_eq!(summary["tklqt_ns"], run["trace_window"]["tklqt_ns"]);
}
