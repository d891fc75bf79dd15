//! `boundscope calibrate`: fits a recorded trace, prints the fit with its
//! events and residuals, writes a platform file that reads back with the
//! fitted fields marked as measured; a trace without kernel launches (CPU
//! only) is refused (exit 2).

mod common;

use common::{boundscope, s, temp_dir, text, trace};

#[test]
fn calibrating_a_recorded_trace_writes_a_platform_file_with_measured_sources() {
    let dir = temp_dir("calibrate", "v100");
    let out = dir.join("v100-host.toml");
    let o = boundscope(&[
        "calibrate",
        s(&trace("v100_train_ns_timestamps.json.gz")),
        "--base",
        "sim:h100-pcie",
        "--out",
        s(&out),
    ]);
    let stdout = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{}", text(&o.stderr));
    for want in ["launch.runtime_api_us", "host.elementwise_us", "events", "|res| p50", "kernel durations"] {
        assert!(stdout.contains(want), "{want}: {stdout}");
    }
    let written = std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("{e}"));
    let p = boundscope_workloads::Platform::parse(&written, "written").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.spec.name, "h100-pcie-calibrated");
    let source = p.spec.sources.get("launch.runtime_api_us").cloned().unwrap_or_default();
    assert!(source.starts_with("measured: trace v100_train_ns_timestamps.json.gz"), "{source}");
    // GPU fields are the base's, with the base's sources.
    let base = boundscope_workloads::Platform::builtin("sim:h100-pcie").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.spec.gpu, base.spec.gpu);
    assert_eq!(p.spec.sources.get("gpu.peak_bf16_tflops"), base.spec.sources.get("gpu.peak_bf16_tflops"));
}

#[test]
fn a_trace_without_kernel_launches_is_refused() {
    let o = boundscope(&["calibrate", s(&trace("cpu_only.json.gz"))]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("nothing to fit"), "{}", text(&o.stderr));
}
