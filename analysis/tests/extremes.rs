//! The analysis on extreme but readable traces: launches and kernels
//! implausibly far apart, times near the edges of the accepted range. No
//! wrapped arithmetic and no sentinel values in the report.

use boundscope_analysis::{AnalysisSpec, analyze, launches::MAX_LAUNCH_GAP_NS};
use boundscope_trace::{ActivityIn, ActivityKind, ApiCallIn, MAX_ABS_TIME_NS, Trace, TraceBuilder, WarningKind};

fn launch(b: &mut TraceBuilder, corr: u64, call_ns: i64, kernel: (&str, i64, i64)) {
    b.api_call(ApiCallIn {
        name: "cudaLaunchKernel",
        pid: 1,
        tid: 1,
        start_ns: call_ns,
        end_ns: call_ns + 4_000,
        correlation: corr,
        external_id: 0,
    });
    let mut a = ActivityIn::new(ActivityKind::Kernel, kernel.0, 0, 7, kernel.1, kernel.2);
    a.correlation = corr;
    b.gpu_activity(a);
}

/// `n` kernels with names `k{i % names}`; durations vary with `i`.
fn named_trace(n: usize, names: usize) -> Trace {
    let mut b = TraceBuilder::new("test");
    for i in 0..n {
        let t = i as i64 * 20_000;
        let dur = 1_000 + (i as i64 * 7_919) % 5_000;
        launch(
            &mut b,
            i as u64 + 1,
            t,
            (&format!("k{}", i % names), t + 6_000 + (i as i64 % 3) * 500, t + 6_000 + dur),
        );
    }
    b.finish()
}

#[test]
fn implausibly_distant_launch_is_a_clock_problem_left_out_of_per_launch_figures() {
    let mut b = TraceBuilder::new("test");
    launch(&mut b, 1, 0, ("good", 6_000, 7_000));
    // A kernel starting ~100 years after its launch call (both times in range).
    let far = 100 * 365 * 24 * 3_600 * 1_000_000_000i64;
    launch(&mut b, 2, 10_000, ("far", far, far + 1_000));
    // And one starting 2 hours before its call.
    launch(&mut b, 3, 2 * MAX_LAUNCH_GAP_NS + 50_000, ("early", 50_000, 51_000));
    let t = b.finish();
    let a = analyze(&t, "far", &AnalysisSpec::default()).unwrap_or_else(|e| panic!("{e}"));
    let r = &a.report;
    assert_eq!(a.launches.len(), 1);
    assert_eq!(r.trace_window.tklqt_ns, 6_000);
    assert_eq!(r.trace_window.kernels, 3);
    assert_eq!(r.trace_window.matched_kernels, 1);
    let w = r.warnings.iter().find(|w| w.kind == WarningKind::ClockProblem).unwrap_or_else(|| panic!("{r:?}"));
    assert_eq!(w.count, 2);
    // The first in kernel start order.
    assert!(w.first_message.contains("'early' (correlation 3)") && w.first_message.contains("7200.0 s before"), "{w}");
    // Real bounds, not sentinels.
    assert_eq!((r.trace_window.start_ns, r.trace_window.end_ns), (0, far + 1_000));
    for m in [r.trace_window.il_ns, r.trace_window.gpu_busy_ns, r.trace_window.gpu_idle_ns] {
        assert!(m >= 0, "{m}");
    }
}

#[test]
fn whole_trace_window_reports_its_real_bounds() {
    let t = named_trace(10, 3);
    let a = analyze(&t, "bounds", &AnalysisSpec::default()).unwrap_or_else(|e| panic!("{e}"));
    let w = &a.report.trace_window;
    assert_eq!(w.start_ns, 0);
    assert_eq!(w.end_ns, t.activities.end_ns.iter().copied().max().unwrap_or(0));
    let empty = TraceBuilder::new("test").finish();
    let a = analyze(&empty, "empty", &AnalysisSpec::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((a.report.trace_window.start_ns, a.report.trace_window.end_ns), (0, 0));
}

/// Events at both ends of the accepted range: every difference fits, every
/// sum saturates; beyond it, events are skipped with a clock-problem warning.
#[test]
fn times_at_the_edges_of_the_range_do_not_wrap() {
    let mut b = TraceBuilder::new("test");
    launch(&mut b, 1, -MAX_ABS_TIME_NS, ("first", -MAX_ABS_TIME_NS + 5_000, -MAX_ABS_TIME_NS + 6_000));
    launch(&mut b, 2, MAX_ABS_TIME_NS - 10_000, ("last", MAX_ABS_TIME_NS - 5_000, MAX_ABS_TIME_NS));
    launch(&mut b, 3, MAX_ABS_TIME_NS - 10_000, ("beyond", MAX_ABS_TIME_NS - 5_000, i64::MAX));
    let t = b.finish();
    assert_eq!(t.activities.len(), 2);
    assert_eq!(t.diagnostics.count(WarningKind::ClockProblem), 1);
    assert_eq!(t.activities.end_ns.last().copied(), Some(2 * MAX_ABS_TIME_NS));
    let a = analyze(&t, "edges", &AnalysisSpec::default()).unwrap_or_else(|e| panic!("{e}"));
    let w = &a.report.trace_window;
    assert_eq!(w.tklqt_ns, 10_000);
    assert!(w.il_ns > 0 && w.gpu_busy_ns == 6_000 && w.gpu_idle_ns > 0, "{w:?}");
    assert!(w.queue_depth.iter().all(|d| d.mean_depth.is_finite() && d.mean_depth >= 0.0));
    assert_eq!(w.end_ns, 2 * MAX_ABS_TIME_NS);
}
