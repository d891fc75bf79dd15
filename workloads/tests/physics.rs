//! The simulated sweeps must show the physics of the model's mechanisms,
//! judged by the same analysis a real trace gets. These tests check
//! directions, never a published figure (docs/simulator.md compares the
//! model's predictions with the published ones, gap included):
//! - TKLQT is flat while the host is the bottleneck and rises once kernels queue;
//! - a larger batch never lowers the GPU's busy fraction;
//! - a faster host moves the transition to smaller batches, a slower one to larger;
//! - a faster GPU moves it to larger batches and finishes large batches sooner;
//! - a longer launch latency raises TKLQT at small batches.
//!
//! Variants of a platform scale one group of its parameters and nothing else.

use boundscope_analysis::sweep::{Crossing, SweepPoint, Transition, TransitionSpec, transition};
use boundscope_analysis::{AnalysisSpec, Bound, analyze};
use boundscope_workloads::platform::BUILTIN;
use boundscope_workloads::{Dtype, Platform, Shape, SimSpec, WorkloadSpec, run_point};

const BATCHES: [u64; 9] = [1, 2, 4, 8, 16, 32, 64, 128, 256];

#[derive(Debug)]
struct Point {
    batch: u64,
    bound: Bound,
    /// Kernels per step (median step).
    kernels: f64,
    sweep: SweepPoint,
}

fn builtin(name: &str) -> Platform {
    Platform::builtin(name).unwrap_or_else(|e| panic!("{e}"))
}

fn sweep(workload: &str, p: &Platform, batches: &[u64]) -> Vec<Point> {
    let w = WorkloadSpec::parse(workload, Dtype::Bf16).unwrap_or_else(|e| panic!("{e}"));
    let spec = SimSpec { warmup_steps: 1, steps: 3, seed: 1, jitter: 0.02, dtype: Dtype::Bf16, trace_name: None };
    batches
        .iter()
        .map(|&batch| {
            let shape = Shape { batch, seq: w.default_seq() };
            let run = run_point(&w, shape, p, &spec).unwrap_or_else(|e| panic!("{e}"));
            let a = analyze(&run.trace, &p.id(), &AnalysisSpec::default()).unwrap_or_else(|e| panic!("{e}"));
            let r = &a.report;
            assert!(r.simulated);
            assert_eq!(r.counts.steps, 3, "warm-up steps must not count as steps");
            assert_eq!(r.unmatched.total(), 0, "every simulated kernel has its launch call");
            assert!(r.warnings.is_empty(), "{:?}", r.warnings);
            let m = r.step_median.as_ref().unwrap_or_else(|| panic!("no steps"));
            let mut steps = run.step_ns.clone();
            steps.sort_unstable();
            let latency_ms = steps[steps.len() / 2] as f64 / 1e6;
            let sweep = SweepPoint {
                batch,
                tklqt_ns: m.tklqt_ns,
                busy_frac: m.busy_frac,
                latency_ms,
                throughput: w.work_per_step(shape) as f64 / (latency_ms / 1e3),
            };
            Point { batch, bound: r.headline.bound, kernels: m.kernels as f64, sweep }
        })
        .collect()
}

fn rules(points: &[Point]) -> Transition {
    let pts: Vec<SweepPoint> = points.iter().map(|p| p.sweep).collect();
    transition(&pts, &TransitionSpec::default())
}

fn crossing(c: &Crossing, what: &str) -> f64 {
    c.batch().unwrap_or_else(|| panic!("{what}: no crossing ({c:?})"))
}

/// `p` with every host cost (Python, dispatch, launch and sync calls) times `f`.
fn host_scaled(p: &Platform, f: f64) -> Platform {
    let mut q = p.clone();
    let h = &mut q.spec.host;
    for v in [
        &mut h.python_us,
        &mut h.view_us,
        &mut h.elementwise_us,
        &mut h.reduction_us,
        &mut h.copy_us,
        &mut h.gemm_us,
        &mut h.attention_us,
        &mut h.embedding_us,
        &mut h.foreach_us,
        &mut h.autograd_us,
        &mut h.transfer_us,
    ] {
        *v *= f;
    }
    let l = &mut q.spec.launch;
    for v in [&mut l.runtime_api_us, &mut l.driver_api_us, &mut l.memcpy_api_us, &mut l.sync_api_us] {
        *v *= f;
    }
    q.spec.name = format!("{}-host-x{f}", p.spec.name);
    q
}

/// `p` with its GPU's peak FLOP/s and HBM bandwidth times `f`.
fn gpu_scaled(p: &Platform, f: f64) -> Platform {
    let mut q = p.clone();
    let g = &mut q.spec.gpu;
    g.peak_bf16_tflops *= f;
    g.peak_fp16_tflops *= f;
    g.hbm_bandwidth_gbps *= f;
    q.spec.name = format!("{}-gpu-x{f}", p.spec.name);
    q
}

#[test]
fn tklqt_is_flat_while_cpu_bound_then_rises_on_every_platform() {
    for (name, _) in BUILTIN {
        let p = builtin(name);
        let pts = sweep("llama-3.2-1b:decode", &p, &BATCHES);
        let t: Vec<f64> = pts.iter().map(|p| p.sweep.tklqt_ns).collect();
        // Small batches: every launch costs about the launch floor.
        assert_eq!(pts[0].bound, Bound::CpuBound, "{name}: batch 1 must be CPU-bound");
        for i in 1..3 {
            assert!((t[i] / t[0] - 1.0).abs() < 0.05, "{name}: TKLQT not flat at small batches: {t:?}");
        }
        // Then it only grows (jitter of 2% allowed), and by a lot, except
        // where the step launches fewer kernels: flash attention stops
        // splitting the keys once the batch fills the GPU, and one combine
        // kernel per layer (and the GPU time it took) leaves the step.
        let mut fewer = 0;
        for i in 1..t.len() {
            if pts[i].kernels < pts[i - 1].kernels {
                fewer += 1;
                continue;
            }
            assert!(t[i] >= t[i - 1] * 0.97, "{name}: TKLQT fell from batch {} on: {t:?}", pts[i - 1].batch);
        }
        assert!(fewer <= 1, "{name}: the kernel count fell {fewer} times");
        assert!(t[8] > 10.0 * t[0], "{name}: TKLQT never rose: {t:?}");
        // The knee lies where the GPU starts to be the busier side.
        let r = rules(&pts);
        let knee = crossing(&r.knee.crossing, name);
        let first_not_cpu = pts.iter().find(|p| p.bound != Bound::CpuBound).map_or(512, |p| p.batch);
        assert!(knee >= 2.0 && knee <= 2.0 * first_not_cpu as f64, "{name}: knee {knee}, {pts:?}");
    }
}

#[test]
fn more_batch_never_lowers_gpu_busy() {
    for (name, _) in BUILTIN {
        for workload in ["llama-3.2-1b:decode", "llama-3.2-1b:prefill"] {
            let pts = sweep(workload, &builtin(name), &BATCHES);
            let busy: Vec<f64> = pts.iter().map(|p| p.sweep.busy_frac.unwrap_or(0.0)).collect();
            for i in 1..busy.len() {
                assert!(
                    busy[i] >= busy[i - 1] - 0.02,
                    "{name} {workload}: busy fell at batch {}: {busy:?}",
                    pts[i].batch
                );
            }
            assert!(busy[8] > busy[0] + 0.3, "{name} {workload}: {busy:?}");
        }
    }
}

#[test]
fn a_faster_host_moves_the_transition_to_smaller_batches() {
    for workload in ["llama-3.2-1b:decode", "llama-3.2-1b:prefill"] {
        let base = builtin("sim:h100-pcie");
        let at = |p: &Platform| crossing(&rules(&sweep(workload, p, &BATCHES)).busy.crossing, &p.id());
        let (fast, same, slow) = (at(&host_scaled(&base, 0.5)), at(&base), at(&host_scaled(&base, 2.0)));
        assert!(
            fast < same && same < slow,
            "{workload}: busy crossing fast host {fast}, base {same}, slow host {slow}"
        );
        // And a slower host is slower per step while CPU-bound.
        let b1 = |p: &Platform| sweep(workload, p, &[1])[0].sweep.latency_ms;
        assert!(b1(&host_scaled(&base, 2.0)) > 1.5 * b1(&base));
    }
}

#[test]
fn a_faster_gpu_moves_the_transition_to_larger_batches_and_finishes_large_batches_sooner() {
    for workload in ["llama-3.2-1b:decode", "llama-3.2-1b:prefill"] {
        let base = builtin("sim:h100-pcie");
        let fast = gpu_scaled(&base, 2.0);
        let (rb, rf) = (rules(&sweep(workload, &base, &BATCHES)), rules(&sweep(workload, &fast, &BATCHES)));
        let (b, f) = (crossing(&rb.busy.crossing, "base"), crossing(&rf.busy.crossing, "fast GPU"));
        assert!(f > b, "{workload}: busy crossing base {b}, faster GPU {f}");
    }
    let base = builtin("sim:h100-pcie");
    let at = |p: &Platform| sweep("llama-3.2-1b:prefill", p, &[256])[0].sweep.latency_ms;
    let (b, f) = (at(&base), at(&gpu_scaled(&base, 2.0)));
    // GPU-bound: most of the step scales with the GPU.
    assert!(f < 0.7 * b, "batch 256 prefill: base {b} ms, faster GPU {f} ms");
}

#[test]
fn a_longer_launch_latency_raises_tklqt_at_small_batches() {
    let base = builtin("sim:h100-pcie");
    let mut slow = base.clone();
    slow.spec.launch.latency_us *= 2.0;
    let t = |p: &Platform| sweep("llama-3.2-1b:decode", p, &[1])[0].sweep.tklqt_ns;
    let (b, s) = (t(&base), t(&slow));
    // Most launches of a CPU-bound step wait about the latency (the rest queue
    // briefly behind a longer kernel): TKLQT grows by well over a third.
    assert!(s > 1.35 * b, "TKLQT at batch 1: base {b} ns, doubled latency {s} ns");
}

#[test]
fn every_workload_simulates_and_its_kernels_are_all_matched() {
    for w in WorkloadSpec::all_names() {
        let pts = sweep(&w, &builtin("sim:h100-pcie"), &[1, 8]);
        assert!(pts.iter().all(|p| p.sweep.tklqt_ns > 0.0 && p.sweep.latency_ms > 0.0), "{w}: {pts:?}");
        assert!(pts[1].sweep.throughput > pts[0].sweep.throughput, "{w}: {pts:?}");
    }
}

/// A step that needs more memory than the platform has is refused with the
/// figures (a failed point in a sweep), and the estimate grows with the batch.
#[test]
fn steps_that_do_not_fit_in_memory_are_refused() {
    let w = WorkloadSpec::parse("llama-3.2-1b:train", Dtype::Bf16).unwrap_or_else(|e| panic!("{e}"));
    let p = builtin("sim:h100-pcie");
    let spec = SimSpec { warmup_steps: 0, steps: 1, seed: 1, jitter: 0.0, dtype: Dtype::Bf16, trace_name: None };
    let at = |batch| w.memory_estimate(Shape { batch, seq: 512 }).total();
    assert!(at(2) > at(1), "activations grow with the batch");
    assert_eq!(at(64) - at(32), 2 * (at(32) - at(16)), "linearly");
    // Batch 4 fits in 80 GB; batch 128 (64k tokens: ~97 GB of saved activations
    // and ~50 GB of logits) does not.
    assert!(run_point(&w, Shape { batch: 4, seq: 512 }, &p, &spec).is_ok());
    let e = run_point(&w, Shape { batch: 128, seq: 512 }, &p, &spec).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("out of memory (model)") && e.contains("sim:h100-pcie has 79.0 GiB usable"), "{e}");
    // Decode at the default sweep's largest point fits: weights and a 1k-token KV cache.
    let d = WorkloadSpec::parse("llama-3.2-1b:decode", Dtype::Bf16).unwrap_or_else(|e| panic!("{e}"));
    let need = d.memory_estimate(Shape { batch: 256, seq: 1024 });
    assert_eq!(need.kv_cache, 2 * 16 * 512 * 2 * 256 * 1025);
    assert!(need.total() < p.usable_memory_bytes());
}
