//! The live analysis on simulated runs: replaying a simulated point through
//! `LiveAnalyzer` gives, once the replay ends, the steps `analyze` computes
//! on the same trace, field for field, for every reference workload and
//! phase on two platforms (prefill, decode and training steps of different
//! lengths, with and without queueing).

use boundscope_analysis::live::{Closed, LiveAnalyzer, LiveSpec, TraceReplay};
use boundscope_analysis::{AnalysisSpec, WindowSpec, analyze};
use boundscope_workloads::{Dtype, Platform, Shape, SimSpec, WorkloadSpec, run_point};

#[test]
fn live_steps_equal_analyze_on_simulated_runs() {
    let dtype = Dtype::parse("bf16").expect("dtype");
    for platform in ["sim:h100-pcie", "sim:gh200"] {
        let platform = Platform::builtin(platform).expect("platform");
        let floor_ns = (platform.spec.launch.latency_us * 1e3).round() as i64;
        let window = WindowSpec { include_mem: false, launch_floor_ns: floor_ns };
        for name in WorkloadSpec::all_names() {
            let workload = WorkloadSpec::parse(&name, dtype).expect("workload");
            for batch in [1, 16] {
                let shape = Shape { batch, seq: workload.default_seq().min(256) };
                let sim = SimSpec { warmup_steps: 1, steps: 3, seed: 7, jitter: 0.05, dtype, trace_name: None };
                let Ok(run) = run_point(&workload, shape, &platform, &sim) else { continue };
                let spec = AnalysisSpec { window, ..AnalysisSpec::default() };
                let batch_steps = analyze(&run.trace, "sim", &spec).expect("analyze").report.steps;

                // Windows of 1 ms and a short retention: pruning runs all along.
                let live_spec = LiveSpec { window_ns: 1_000_000, min_retain_ns: 1_000, window, ..LiveSpec::default() };
                let mut live = LiveAnalyzer::new(live_spec, "sim");
                live.set_origin(0);
                let mut replay = TraceReplay::new(run.trace, 0);
                let mut until = 0;
                let mut steps = Vec::new();
                while !replay.done() {
                    until += 500_000;
                    replay.feed_live(until, &mut live, usize::MAX);
                    live.publish();
                    steps.extend(live.drain_closed().into_iter().filter_map(|c| match c {
                        Closed::Step(s) => Some(s),
                        Closed::Window(_) => None,
                    }));
                }
                live.end();
                live.publish();
                steps.extend(live.drain_closed().into_iter().filter_map(|c| match c {
                    Closed::Step(s) => Some(s),
                    Closed::Window(_) => None,
                }));
                assert_eq!(steps, batch_steps, "{name} batch {batch} on {}", platform.id());
            }
        }
    }
}
