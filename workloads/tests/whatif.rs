//! What-if rewrites (`workloads/src/whatif.rs`): fusing a pattern keeps the
//! step's work, removes exactly the pattern's intermediates, launches and host
//! operators; graph capture keeps every kernel and leaves one replay per
//! captured run; and a rewritten step is never slower than its baseline.

use boundscope_workloads::program::{Action, HostThread, KernelClass, Program, Region};
use boundscope_workloads::whatif::{GRAPH_REPLAY_OP, Pattern, cuda_graphs, fuse_chains, fuse_patterns};
use boundscope_workloads::{Dtype, Platform, Shape, SimSpec, Target, WorkloadSpec, lower, simulate};

/// Every model and phase, at a small shape that keeps the tests quick.
const WORKLOADS: [(&str, u64, u64); 8] = [
    ("llama-3.2-1b:decode", 2, 256),
    ("llama-3.2-1b:prefill", 2, 64),
    ("llama-3.2-1b:train", 1, 64),
    ("gpt2:decode", 2, 256),
    ("gpt2:prefill", 2, 64),
    ("gpt2:train", 1, 64),
    ("bert-base:prefill", 2, 64),
    ("bert-base:train", 1, 64),
];

fn program(workload: &str, batch: u64, seq: u64) -> Program {
    let w = WorkloadSpec::parse(workload, Dtype::Bf16).unwrap_or_else(|e| panic!("{e}"));
    lower(&w, Shape { batch, seq }, Target { gemm_kernel: "gemm", sm_count: 132 }).unwrap_or_else(|e| panic!("{e}"))
}

fn region_kernels(p: &Program, r: &Region) -> Vec<usize> {
    r.ops
        .iter()
        .flat_map(|&o| match p.ops[o as usize].action {
            Action::Launch { first, count } => (first as usize..(first + count) as usize).collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn count(p: &Program, pattern: Pattern, backward: bool) -> usize {
    p.regions.iter().filter(|r| r.pattern == pattern && r.backward == backward).count()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn the_lowering_marks_the_patterns_each_model_runs() {
    let p = program("llama-3.2-1b:decode", 1, 1024);
    // 2 norms per layer and the final one; RoPE, SwiGLU once per layer; two
    // GEMMs (o_proj, down_proj) feed a residual add per layer.
    assert_eq!(count(&p, Pattern::RmsNorm, false), 33);
    assert_eq!(count(&p, Pattern::Rotary, false), 16);
    assert_eq!(count(&p, Pattern::SwiGlu, false), 16);
    assert_eq!(count(&p, Pattern::BiasResidual, false), 32);
    for pat in [Pattern::LayerNorm, Pattern::Gelu, Pattern::Softmax, Pattern::AdamW] {
        assert_eq!(count(&p, pat, false), 0, "{pat}");
    }
    assert!(p.regions.iter().all(|r| !r.backward));
    // GPT-2: the residual add before ln_2, before the next layer's ln_1 and before ln_f.
    let g = program("gpt2:decode", 1, 512);
    assert_eq!(count(&g, Pattern::LayerNorm, false), 12 + 11 + 1);
    assert_eq!(count(&g, Pattern::Gelu, false), 12);
    assert_eq!(count(&g, Pattern::BiasResidual, false), 24);
    // Training: backward halves of the elementwise patterns, the loss, AdamW.
    let t = program("llama-3.2-1b:train", 1, 64);
    assert_eq!(count(&t, Pattern::RmsNorm, true), 33);
    assert_eq!(count(&t, Pattern::Rotary, true), 16);
    assert_eq!(count(&t, Pattern::SwiGlu, true), 16);
    assert_eq!((count(&t, Pattern::Softmax, false), count(&t, Pattern::Softmax, true)), (1, 1));
    assert_eq!(count(&t, Pattern::AdamW, false), 1);
    for r in t.regions.iter().filter(|r| r.backward) {
        assert!(r.ops.iter().all(|&o| t.ops[o as usize].thread == HostThread::Autograd), "{r:?}");
    }
    // BERT: GELU into the GEMM epilogue (12 layers and the MLM head), add + LayerNorm.
    let b = program("bert-base:train", 1, 64);
    assert_eq!(count(&b, Pattern::Gelu, false), 13);
    assert_eq!(count(&b, Pattern::LayerNorm, false), 24);
    // Every region's members exist, are ascending, and hold `at`.
    for (w, batch, seq) in WORKLOADS {
        let p = program(w, batch, seq);
        for r in &p.regions {
            assert!(r.ops.windows(2).all(|x| x[0] < x[1]) && r.ops.contains(&r.at), "{w}: {r:?}");
            assert!(r.ops.len() >= 2 && r.bytes > 0.0 && r.launches >= 1, "{w}: {r:?}");
        }
    }
}

#[test]
fn fusing_keeps_the_flops_and_drops_exactly_the_intermediates_launches_and_ops() {
    for (w, batch, seq) in WORKLOADS {
        let p = program(w, batch, seq);
        let (f0, b0) = p.totals();
        for pat in Pattern::ALL {
            let (q, rw) = fuse_patterns(&p, &[pat]);
            let regions: Vec<&Region> = p.regions.iter().filter(|r| r.pattern == pat).collect();
            assert_eq!(rw.applied, vec![(pat.as_str().to_string(), regions.len() as u64)], "{w} {pat}");
            assert_eq!(rw.skipped, 0);
            let kernels_in: usize = regions.iter().map(|r| region_kernels(&p, r).len()).sum();
            let launches: usize = regions.iter().map(|r| r.launches as usize).sum();
            assert_eq!(p.kernel_count() - q.kernel_count(), kernels_in - launches, "{w} {pat}: kernel count");
            let ops_in: usize = regions.iter().map(|r| r.ops.len()).sum();
            assert_eq!(p.ops.len() - q.ops.len(), ops_in - regions.len(), "{w} {pat}: host operators");
            assert_eq!((rw.kernels_before, rw.kernels_after), (p.kernel_count(), q.kernel_count()));
            let (f1, b1) = q.totals();
            assert!(close(f0, f1), "{w} {pat}: FLOPs {f0} -> {f1}");
            let intermediates: f64 = regions
                .iter()
                .map(|r| region_kernels(&p, r).iter().map(|&k| p.kernels[k].bytes).sum::<f64>() - r.bytes)
                .sum();
            assert!(close(b0 - b1, intermediates), "{w} {pat}: bytes {b0} -> {b1}, intermediates {intermediates}");
            if !regions.is_empty() {
                assert!(intermediates > 0.0, "{w} {pat}: a fused chain moves fewer bytes");
            }
            // Synchronizations and transfers are untouched.
            let actions = |p: &Program| {
                p.ops.iter().filter(|o| !matches!(o.action, Action::None | Action::Launch { .. })).count()
            };
            assert_eq!(actions(&p), actions(&q));
        }
    }
}

#[test]
fn rmsnorm_and_swiglu_on_llama_decode_by_hand() {
    // Batch 1, hidden 2048, bf16: one RMSNorm moves x = 2048 elements
    // through eight kernels; fused it reads x and the weight and writes y.
    let p = program("llama-3.2-1b:decode", 1, 1024);
    let (q, _) = fuse_patterns(&p, &[Pattern::RmsNorm, Pattern::SwiGlu]);
    // 678 kernels: 33 norms lose 7 each, 16 SwiGLUs lose 1 each.
    assert_eq!(p.kernel_count(), 678);
    assert_eq!(q.kernel_count(), 678 - 33 * 7 - 16);
    let norm = q.names.iter().position(|n| n == "fused_rms_norm_kernel").map(|i| i as u32);
    let k = q.kernels.iter().find(|k| Some(k.name) == norm).unwrap_or_else(|| panic!("no fused norm"));
    let (x, h, e) = (2048.0, 2048.0, 2.0);
    assert_eq!(k.bytes, 2.0 * x * e + h * e);
    assert_eq!(k.class, KernelClass::Memory);
    let unfused: f64 =
        x * (e + 4.0) + 8.0 * x + (4.0 * x + 4.0) + 8.0 + 8.0 + (8.0 * x + 4.0) + x * (4.0 + e) + (2.0 * x * e + h * e);
    let r = p.regions.iter().find(|r| r.pattern == Pattern::RmsNorm).unwrap_or_else(|| panic!("no norm"));
    let members: f64 = region_kernels(&p, r).iter().map(|&k| p.kernels[k].bytes).sum();
    assert_eq!(members, unfused);
    // The fused SwiGLU runs after the up projection: gate GEMM, up GEMM, fused, down GEMM.
    let swiglu = q.names.iter().position(|n| n == "fused_silu_and_mul_kernel").map(|i| i as u32);
    let at = q.kernels.iter().position(|k| Some(k.name) == swiglu).unwrap_or_else(|| panic!("no swiglu"));
    let classes: Vec<KernelClass> = q.kernels[at - 2..=at + 1].iter().map(|k| k.class).collect();
    assert_eq!(classes, [KernelClass::Gemm, KernelClass::Gemm, KernelClass::Memory, KernelClass::Gemm]);
}

#[test]
fn an_overlap_goes_to_the_pattern_named_first() {
    // GPT-2 eval: the residual add before a LayerNorm is also a GEMM's epilogue.
    let p = program("gpt2:prefill", 2, 64);
    let (_, a) = fuse_patterns(&p, &[Pattern::LayerNorm, Pattern::BiasResidual]);
    let (_, b) = fuse_patterns(&p, &[Pattern::BiasResidual, Pattern::LayerNorm]);
    assert_eq!(a.applied[0].1, 24);
    assert_eq!(a.applied[1].1 + a.skipped, 24);
    assert_eq!(b.applied[0].1, 24);
    assert!(b.skipped > 0, "{b:?}");
}

#[test]
fn a_chain_of_kernel_names_fuses_like_its_pattern_or_by_its_kernels() {
    let p = program("llama-3.2-1b:decode", 1, 1024);
    let names = |ks: &[usize]| ks.iter().map(|&k| p.name(p.kernels[k].name).to_string()).collect::<Vec<_>>();
    // The kernels of one RMSNorm: the same rewrite as the pattern.
    let norm = p.regions.iter().find(|r| r.pattern == Pattern::RmsNorm).unwrap_or_else(|| panic!("no norm"));
    let chain = names(&region_kernels(&p, norm));
    let (a, rw) = fuse_chains(&p, std::slice::from_ref(&chain));
    let (b, _) = fuse_patterns(&p, &[Pattern::RmsNorm]);
    assert_eq!(rw.applied[0].1, 33);
    assert_eq!((a.kernel_count(), a.ops.len()), (b.kernel_count(), b.ops.len()));
    assert!(close(a.totals().1, b.totals().1));
    // The cache update's two cats (keys, values; no pattern): one kernel per
    // layer less; the second cat's operator launches the fused kernel.
    let cat = "CatArrayBatchedCopy";
    let cache_cat = (0..p.kernels.len())
        .find(|&k| {
            p.name(p.kernels[k].name).contains(cat)
                && k + 1 < p.kernels.len()
                && p.name(p.kernels[k + 1].name).contains(cat)
        })
        .unwrap_or_else(|| panic!("no cache cats"));
    let chain = names(&[cache_cat, cache_cat + 1]);
    let (c, rw) = fuse_chains(&p, &[chain]);
    assert_eq!(rw.applied[0].1, 16);
    assert_eq!(c.kernel_count(), p.kernel_count() - 16);
    assert_eq!(c.ops.len(), p.ops.len() - 16);
    assert!(close(c.totals().0, p.totals().0));
    assert!(close(c.totals().1, p.totals().1), "no pattern covered: bytes kept");
    let cats = |q: &Program| q.kernels.iter().filter(|k| q.name(k.name).contains(cat)).count();
    assert_eq!(cats(&c), cats(&p) - 32);
    // A chain of names the program never launches: nothing happens.
    let (d, rw) = fuse_chains(&p, &[vec!["nope".into(), "never".into()]]);
    assert_eq!((rw.applied[0].1, d.kernel_count()), (0, p.kernel_count()));
}

#[test]
fn graph_capture_keeps_the_kernels_and_replays_each_run_once() {
    for (w, batch, seq) in WORKLOADS {
        let p = program(w, batch, seq);
        let (g, rw) = cuda_graphs(&p);
        assert_eq!(g.kernel_count(), p.kernel_count(), "{w}");
        assert!(close(g.totals().1, p.totals().1));
        let replays = g.ops.iter().filter(|o| matches!(o.action, Action::GraphLaunch { .. })).count();
        assert_eq!(rw.applied, vec![("cuda-graphs".to_string(), replays as u64)]);
        // Decode and prefill: one graph between the input copy and the read-back;
        // training: forward, backward and optimizer in one.
        assert_eq!(replays, 1, "{w}");
        assert!(g.ops.iter().all(|o| !matches!(o.action, Action::Launch { .. })), "{w}: an eager launch is left");
        assert!(g.ops.iter().any(|o| g.name(o.name) == GRAPH_REPLAY_OP));
        // Left on the host: the replay, the transfers and synchronizations, host-only ops outside the graph.
        let transfers = p.ops.iter().filter(|o| !matches!(o.action, Action::None | Action::Launch { .. })).count();
        assert_eq!(g.ops.len(), transfers + 1, "{w}");
    }
}

fn step_ns(p: &Program, platform: &Platform) -> i64 {
    let spec = SimSpec { warmup_steps: 0, steps: 1, seed: 1, jitter: 0.0, dtype: Dtype::Bf16, trace_name: None };
    simulate(p, platform, &spec).unwrap_or_else(|e| panic!("{e}")).step_ns[0]
}

#[test]
fn a_fused_or_graphed_step_is_never_slower() {
    for platform in ["sim:h100-pcie", "sim:gh200"] {
        let platform = Platform::builtin(platform).unwrap_or_else(|e| panic!("{e}"));
        for (w, batch, seq) in WORKLOADS {
            for b in [batch, batch * 16] {
                let p = program(w, b, seq);
                let base = step_ns(&p, &platform);
                let mut variants: Vec<(String, Program)> =
                    Pattern::ALL.iter().map(|&pat| (pat.to_string(), fuse_patterns(&p, &[pat]).0)).collect();
                variants.push(("all".into(), fuse_patterns(&p, &Pattern::ALL).0));
                variants.push(("cuda-graphs".into(), cuda_graphs(&p).0));
                for (what, q) in variants {
                    let t = step_ns(&q, &platform);
                    assert!(t <= base, "{w} batch {b} on {}: {what} {t} ns > baseline {base} ns", platform.id());
                }
            }
        }
    }
}

#[test]
fn a_chain_whose_first_operator_launches_more_is_launched_by_that_operator() {
    // BERT training's loss backward: NllLossBackward0 launches a fill and
    // the nll backward kernel, LogSoftmaxBackward0 the softmax backward.
    // Fusing the last two: NllLossBackward0 stays (for its fill) and launches
    // the fused kernel after it; LogSoftmaxBackward0 goes.
    let p = program("bert-base:train", 1, 64);
    let nll =
        p.kernels.iter().position(|k| p.name(k.name).contains("nll_loss_backward")).unwrap_or_else(|| panic!("no nll"));
    let names = |ks: &[usize]| ks.iter().map(|&k| p.name(p.kernels[k].name).to_string()).collect::<Vec<_>>();
    let chain = names(&[nll, nll + 1]);
    assert!(chain[1].contains("SoftMaxBackward"), "{chain:?}");
    let (q, rw) = fuse_chains(&p, &[chain]);
    assert_eq!(rw.applied[0].1, 1);
    assert_eq!(q.kernel_count(), p.kernel_count() - 1);
    assert_eq!(q.ops.len(), p.ops.len() - 1);
    let op = |prog: &Program, name: &str| prog.ops.iter().filter(|o| prog.name(o.name).ends_with(name)).count();
    assert_eq!(op(&q, "LogSoftmaxBackward0"), op(&p, "LogSoftmaxBackward0") - 1);
    let owner =
        q.ops.iter().find(|o| q.name(o.name).ends_with("NllLossBackward0")).unwrap_or_else(|| panic!("no node"));
    let ks: Vec<&str> = q.op_kernels(owner).iter().map(|k| q.name(k.name)).collect();
    assert_eq!(ks.len(), 2, "{ks:?}");
    assert!(ks[0].contains("FillFunctor") && ks[1].starts_with("fused_chain_kernel"), "{ks:?}");
}
