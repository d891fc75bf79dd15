//! A simulation taken a step at a time ([`Simulation`]) gives the steps that
//! [`simulate`] gives in one trace: the same events at the same times, the
//! same step durations, and (analyzed step by step, per-step figures kept and
//! traces dropped) the same medians that the analysis of the whole trace
//! gives. Warm-up steps skipped leave no event behind.

use std::borrow::Cow;

use boundscope_analysis::{AnalysisSpec, analyze, step_median};
use boundscope_workloads::sim::{Simulation, WARMUP_NVTX_NAME};
use boundscope_workloads::{Dtype, Platform, Shape, SimSpec, WorkloadSpec, lower, simulate};

fn setup(steps: u32, warmup: u32) -> (boundscope_workloads::Program, Platform, SimSpec) {
    let w = WorkloadSpec::parse("gpt2:decode", Dtype::Bf16).expect("workload");
    let platform = Platform::builtin("sim:h100-pcie").expect("platform");
    let program = lower(&w, Shape { batch: 2, seq: 128 }, platform.target(Dtype::Bf16)).expect("lower");
    let spec = SimSpec { warmup_steps: warmup, steps, seed: 3, jitter: 0.03, dtype: Dtype::Bf16, trace_name: None };
    (program, platform, spec)
}

#[test]
fn steps_taken_one_at_a_time_are_the_steps_of_the_whole_run() {
    let (program, platform, spec) = setup(9, 3);
    let whole = simulate(&program, &platform, &spec).expect("simulate");
    let per_step = whole.trace.activities.len() / 12;
    let mut sim = Simulation::new(Cow::Borrowed(&program), &platform, &spec).expect("new");
    sim.skip_warmup().expect("warm-up");
    assert_eq!(sim.steps_left(), 9);
    let mut step_ns = Vec::new();
    let mut starts = Vec::new();
    let mut chunks = 0;
    // Chunks of 1, 2, 3, ... steps: the last one is cut to what is left.
    while let Some(run) = sim.next_steps(chunks + 1).expect("steps") {
        chunks += 1;
        let t = &run.trace;
        assert_eq!(t.steps.len(), run.step_ns.len());
        // This chunk's events, after the previous step's last launch (context, in no step).
        assert_eq!(t.activities.len(), 1 + per_step * run.step_ns.len(), "only this chunk's events");
        assert!(t.activities.end_ns[0] <= t.steps[0].start_ns);
        assert!(t.strings.get(WARMUP_NVTX_NAME).is_none(), "no warm-up event kept");
        // Times relative to the chunk's first step (each trace has its own zero).
        let first = whole.trace.steps[step_ns.len()].start_ns;
        starts.extend(t.activities.start_ns[1..].iter().map(|s| s - t.steps[0].start_ns + first));
        step_ns.extend(run.step_ns);
    }
    assert_eq!(chunks, 4);
    assert_eq!(step_ns, whole.step_ns);
    assert_eq!(starts, whole.trace.activities.start_ns[3 * per_step..]);
    assert!(sim.next_steps(1).expect("done").is_none());
}

#[test]
fn medians_of_steps_analyzed_one_at_a_time_equal_the_whole_trace_medians() {
    let (program, platform, spec) = setup(7, 2);
    let aspec = AnalysisSpec::default();
    let whole = simulate(&program, &platform, &spec).expect("simulate");
    let whole = analyze(&whole.trace, "whole", &aspec).expect("analyze");
    let mut sim = Simulation::new(Cow::Owned(program), &platform, &spec).expect("new");
    sim.skip_warmup().expect("warm-up");
    let mut windows = Vec::new();
    while let Some(run) = sim.next_steps(1).expect("step") {
        let a = analyze(&run.trace, "step", &aspec).expect("analyze step");
        windows.extend(a.report.steps);
    }
    assert_eq!(step_median(&windows), whole.report.step_median);
    // Every figure of every step; times from each trace's own zero, and each
    // one-step trace numbers its step 0.
    let rebased = |ws: &[boundscope_analysis::WindowMetrics]| {
        ws.iter()
            .enumerate()
            .map(|(i, w)| {
                let mut w = w.clone();
                (w.start_ns, w.end_ns) = (0, w.end_ns - w.start_ns);
                (w.label, w.step) = (format!("step {i}"), Some(i as i64));
                w
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(rebased(&windows), rebased(&whole.report.steps));
}
