//! Round trip of `boundscope calibrate`: traces a simulated platform produced
//! give back that platform's host and launch parameters within 5%, and a
//! platform built from the fit simulates the same step times within 5%.

use boundscope_trace::Trace;
use boundscope_workloads::calibrate::calibrate;
use boundscope_workloads::{Dtype, Platform, Shape, SimSpec, WorkloadSpec, run_point};

fn trace(workload: &str, batch: u64, platform: &Platform, seed: u64) -> (Trace, Vec<i64>) {
    let w = WorkloadSpec::parse(workload, Dtype::Bf16).unwrap_or_else(|e| panic!("{e}"));
    let spec = SimSpec { warmup_steps: 1, steps: 3, seed, jitter: 0.03, dtype: Dtype::Bf16, trace_name: None };
    let run = run_point(&w, Shape { batch, seq: w.default_seq() }, platform, &spec).unwrap_or_else(|e| panic!("{e}"));
    (run.trace, run.step_ns)
}

#[test]
fn calibrating_on_simulated_traces_recovers_the_host_and_launch_parameters() {
    for name in ["sim:h100-pcie", "sim:gh200"] {
        let p = Platform::builtin(name).unwrap_or_else(|e| panic!("{e}"));
        // Inference (Python thread) and a training step (autograd and optimizer ops).
        let runs =
            [trace("llama-3.2-1b:decode", 1, &p, 1), trace("bert-base", 2, &p, 2), trace("gpt2:train", 1, &p, 3)];
        let traces: Vec<&Trace> = runs.iter().map(|(t, _)| t).collect();
        let c = calibrate(&traces);
        eprintln!("{name}:\n{}", boundscope_workloads::calibrate::render(&c, &p.spec, name));
        for field in [
            "host.python_us",
            "host.view_us",
            "host.elementwise_us",
            "host.reduction_us",
            "host.copy_us",
            "host.gemm_us",
            "host.attention_us",
            "host.embedding_us",
            "host.foreach_us",
            "host.autograd_us",
            "launch.latency_us",
            "launch.runtime_api_us",
            "launch.driver_api_us",
            "launch.memcpy_api_us",
        ] {
            let want = p.spec.number(field).unwrap_or_else(|| panic!("{field}"));
            let fit = c.fit(field).unwrap_or_else(|| panic!("{name}: {field} not fitted"));
            assert!(fit.n >= 3, "{name}: {field}: {} events", fit.n);
            let err = (fit.value_us - want).abs() / want;
            assert!(
                err < 0.05,
                "{name}: {field}: fitted {:.3} us, platform {want} us ({:.1}%)",
                fit.value_us,
                err * 100.0
            );
        }
        // A platform from the fit reproduces the original's step times.
        let fitted =
            Platform::parse(&c.apply(&p.spec, "round trip").to_toml(), "fitted").unwrap_or_else(|e| panic!("{e}"));
        for (workload, batch) in [("llama-3.2-1b:decode", 1), ("llama-3.2-1b:decode", 64), ("bert-base", 8)] {
            let median = |steps: Vec<i64>| {
                let mut s = steps;
                s.sort_unstable();
                s[s.len() / 2] as f64
            };
            let a = median(trace(workload, batch, &p, 9).1);
            let b = median(trace(workload, batch, &fitted, 9).1);
            assert!((a / b - 1.0).abs() < 0.05, "{name} {workload} b{batch}: {a} ns vs {b} ns on the fitted platform");
        }
    }
}

#[test]
fn every_builtin_platform_writes_back_to_itself() {
    for id in Platform::builtin_ids() {
        let p = Platform::builtin(&id).unwrap_or_else(|e| panic!("{e}"));
        let back = Platform::parse(&p.spec.to_toml(), "written").unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(back.spec, p.spec, "{id}");
    }
}
