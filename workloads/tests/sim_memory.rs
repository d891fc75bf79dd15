//! Memory of a simulated point whose figures are medians over N steps: the
//! whole run in one trace grows with N; taken a step at a time
//! ([`Simulation`]), analyzed and dropped, it does not. Measured with a
//! counting allocator (this test binary only, one test so that nothing else
//! allocates meanwhile).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::borrow::Cow;
use std::sync::atomic::{AtomicIsize, Ordering};

use boundscope_analysis::{AnalysisSpec, analyze, step_median};
use boundscope_workloads::sim::Simulation;
use boundscope_workloads::{Dtype, Platform, Shape, SimSpec, WorkloadSpec, lower, simulate};

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

struct Counting;

fn note(delta: isize) {
    let now = LIVE.fetch_add(delta, Ordering::Relaxed) + delta;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is passed on unchanged to the system allocator; the
// counters are atomics and allocate nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        note(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            note(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Peak heap above the start while `f` runs, in bytes.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let v = f();
    (v, (PEAK.load(Ordering::Relaxed) - base).max(0) as usize)
}

#[test]
fn a_point_taken_a_step_at_a_time_holds_one_step() {
    let w = WorkloadSpec::parse("gpt2:decode", Dtype::Bf16).expect("workload");
    let platform = Platform::builtin("sim:h100-pcie").expect("platform");
    let program = lower(&w, Shape { batch: 1, seq: 128 }, platform.target(Dtype::Bf16)).expect("lower");
    let aspec = AnalysisSpec::default();
    let spec = |steps| SimSpec { warmup_steps: 20, steps, seed: 1, jitter: 0.03, dtype: Dtype::Bf16, trace_name: None };
    let stepwise = |steps| {
        peak_of(|| {
            let mut sim = Simulation::new(Cow::Borrowed(&program), &platform, &spec(steps)).expect("new");
            sim.skip_warmup().expect("warm-up");
            let mut windows = Vec::new();
            while let Some(run) = sim.next_steps(1).expect("step") {
                windows.extend(analyze(&run.trace, "step", &aspec).expect("analyze").report.steps);
            }
            step_median(&windows)
        })
    };
    let whole = |steps| {
        peak_of(|| {
            let run = simulate(&program, &platform, &spec(steps)).expect("simulate");
            analyze(&run.trace, "whole", &aspec).expect("analyze").report.step_median
        })
    };
    let (m20, s20) = stepwise(20);
    let (m200, s200) = stepwise(200);
    let (w200, whole200) = whole(200);
    assert_eq!(m200, w200, "the same medians either way");
    assert!(m20.is_some());
    eprintln!(
        "peak heap: whole run of 20+200 steps {:.1} MiB; a step at a time: 20+20 steps {:.1} MiB, 20+200 steps \
         {:.1} MiB",
        whole200 as f64 / 1048576.0,
        s20 as f64 / 1048576.0,
        s200 as f64 / 1048576.0
    );
    // Bounded by one step's events: more steps cost only the per-step
    // figures kept for the medians (about 1 KiB a step, under 4 KiB allowed),
    // and far less than the whole run (about 100 KiB a step).
    assert!(s200 < s20 + 180 * 4096, "{s20} -> {s200}");
    assert!(s200 * 4 < whole200, "{s200} vs {whole200}");
}
