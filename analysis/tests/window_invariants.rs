//! Invariants of every window on every shared trace: the idle time
//! attributed to the host never exceeds the GPU's idle time, exposed launch
//! latency never exceeds it either, and busy never exceeds IL.

mod common;

use boundscope_analysis::{AnalysisSpec, analyze};
use boundscope_trace::read_trace;

#[test]
fn idle_shares_never_exceed_idle_time() {
    let mut checked = 0;
    for p in common::shared_traces() {
        let t = read_trace(&p).expect("read");
        let r = analyze(&t, "t", &AnalysisSpec::default()).expect("analyze").report;
        for w in std::iter::once(&r.trace_window).chain(&r.steps) {
            let at = format!("{} {}", p.display(), w.label);
            assert!(w.gpu_busy_ns <= w.il_ns || w.kernels == 0, "{at}: busy > IL");
            assert!(
                w.launch_bound_idle_ns <= w.gpu_idle_ns,
                "{at}: launch-bound {} > idle {}",
                w.launch_bound_idle_ns,
                w.gpu_idle_ns
            );
            assert!(w.host_wait_ns <= w.launch_bound_idle_ns, "{at}: host wait > launch-bound");
            assert!(w.exposed_launch_ns <= w.gpu_idle_ns, "{at}: exposed > idle");
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} windows");
}
