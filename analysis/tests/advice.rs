//! Fusion and CUDA-graph advice on traces built by hand, where every chain,
//! gap and saving is known in advance.

use boundscope_analysis::{AnalysisSpec, Bound, analyze};
use boundscope_trace::{ActivityIn, ActivityKind, ApiCallIn, HostOpIn, HostOpKind, Trace, TraceBuilder};

/// An elementwise kernel's name (only fusable kernels form chains).
fn ew(x: &str) -> String {
    format!("void at::native::vectorized_elementwise_kernel<4, {x}>")
}

/// `reps` repetitions of elementwise kernels A, B, C launched 10 us apart (5 us calls);
/// each kernel starts 7 us after its call and runs 1 us, so the GPU idles
/// 9 us before B and before C: 18 us of idle inside each A-B-C chain.
fn abc_trace(reps: i64, with_steps: bool) -> Trace {
    let mut b = TraceBuilder::new("test");
    let mut corr = 1;
    for n in 0..reps {
        let base = n * 100_000;
        if with_steps {
            b.host_op(HostOpIn {
                kind: HostOpKind::Annotation,
                name: &format!("ProfilerStep#{n}"),
                pid: 1,
                tid: 1,
                start_ns: base,
                end_ns: base + 99_000,
                external_id: 0,
            });
        }
        for (k, name) in ["A", "B", "C"].into_iter().map(ew).enumerate() {
            let l = base + 10_000 * k as i64;
            b.api_call(ApiCallIn {
                name: "cudaLaunchKernel",
                pid: 1,
                tid: 1,
                start_ns: l,
                end_ns: l + 5_000,
                correlation: corr,
                external_id: 0,
            });
            let mut a = ActivityIn::new(ActivityKind::Kernel, &name, 0, 7, l + 7_000, l + 8_000);
            a.correlation = corr;
            b.gpu_activity(a);
            corr += 1;
        }
    }
    b.finish()
}

#[test]
fn finds_the_chain_and_its_saving() {
    let t = abc_trace(3, false);
    let a = analyze(&t, "abc", &AnalysisSpec::default()).expect("analysis");
    assert_eq!(a.report.trace_window.verdict.bound, Bound::CpuBound, "{:?}", a.report.trace_window.verdict);
    let f = &a.report.advice.fusion;
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].kernels, vec![ew("A"), ew("B"), ew("C")]);
    assert_eq!(f[0].occurrences, 3);
    assert_eq!(f[0].head_launches, 3);
    assert_eq!(f[0].ps, 1.0);
    // No framework ops: fusing removes the host time from one launch call's
    // end to the next one's end, 10 us for B and for C; the GPU idles 9 us before each.
    assert_eq!(f[0].gpu_idle_per_occurrence_ns, 18_000.0);
    assert_eq!(f[0].total_saving_ns, 3 * 20_000);
    assert_eq!(f[0].saving_per_occurrence_ns, 20_000.0);
    assert!(a.report.advice.cuda_graphs.is_none());
    assert!(a.report.advice.notes.iter().any(|n| n.contains("fewer than two steps")));
}

#[test]
fn identical_cpu_bound_steps_suggest_cuda_graphs() {
    let t = abc_trace(4, true);
    let a = analyze(&t, "abc", &AnalysisSpec::default()).expect("analysis");
    let g = a.report.advice.cuda_graphs.as_ref().expect("graph advice");
    assert_eq!(g.steps, vec![0, 1, 2, 3]);
    assert_eq!(g.kernels_per_step, 3);
    // Exposed launch per step: min(launch-to-start 7 us, gap) for A (its gap
    // inside the step is 7 us), B and C (gaps 9 us): 21 us; minus one 2.5 us graph launch.
    assert_eq!(g.exposed_launch_per_step_ns, 21_000.0);
    assert_eq!(g.lower_bound_per_step_ns, 18_500.0);
    // The estimate removes the host's dispatch too: launch-bound idle time
    // (at least the exposed launch time) less the graph launch.
    assert!(g.saving_per_step_ns >= g.lower_bound_per_step_ns, "{g:?}");
}

#[test]
fn chains_broken_by_a_sync_are_not_fused() {
    let mut b = TraceBuilder::new("test");
    let mut corr = 1;
    for n in 0..3 {
        let base = n * 100_000;
        for (k, name) in ["A", "B"].into_iter().map(ew).enumerate() {
            let l = base + 20_000 * k as i64;
            b.api_call(ApiCallIn {
                name: "cudaLaunchKernel",
                pid: 1,
                tid: 1,
                start_ns: l,
                end_ns: l + 5_000,
                correlation: corr,
                external_id: 0,
            });
            let mut a = ActivityIn::new(ActivityKind::Kernel, &name, 0, 7, l + 7_000, l + 8_000);
            a.correlation = corr;
            b.gpu_activity(a);
            corr += 1;
        }
        // A host sync between A and B.
        b.api_call(ApiCallIn {
            name: "cudaStreamSynchronize",
            pid: 1,
            tid: 1,
            start_ns: base + 9_000,
            end_ns: base + 10_000,
            correlation: 0,
            external_id: 0,
        });
    }
    let a = analyze(&b.finish(), "ab", &AnalysisSpec::default()).expect("analysis");
    assert!(a.report.advice.fusion.is_empty(), "{:?}", a.report.advice.fusion);
}
