//! The advisor's predicted savings against the simulated ones: each fusion
//! suggestion that `boundscope_analysis::advise` makes on a baseline trace is
//! applied to the program alone (`whatif::fuse_chains`), the same point is
//! simulated again with the same seed, and the step times are compared; the
//! CUDA-graph estimate likewise against `whatif::cuda_graphs`.
//!
//! The table of docs/simulator.md ("What-if", predicted vs simulated) is the
//! output of
//!
//! ```text
//! cargo test -p boundscope-workloads --test whatif_advice -- --ignored --nocapture
//! ```

use boundscope_analysis::advice::FusionCandidate;
use boundscope_analysis::sweep::{Crossing, SweepPoint, TransitionSpec, transition};
use boundscope_analysis::{AdviceSpec, Analysis, AnalysisSpec, WindowSpec, analyze};
use boundscope_workloads::Pattern;
use boundscope_workloads::whatif::{cuda_graphs, fuse_chains, fuse_patterns};
use boundscope_workloads::{Dtype, Platform, Program, Shape, SimSpec, WorkloadSpec, run_point_with};

const STEPS: u32 = 3;
const BATCHES: [u64; 9] = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/// What the sweep analyzes a simulated point with: the platform's own launch floor.
fn analysis_spec(p: &Platform) -> AnalysisSpec {
    let floor_ns = (p.spec.launch.latency_us * 1e3).round() as i64;
    AnalysisSpec {
        window: WindowSpec { include_mem: false, launch_floor_ns: floor_ns },
        advice: AdviceSpec { graph_launch_ns: floor_ns, ..AdviceSpec::default() },
        ..AnalysisSpec::default()
    }
}

/// Median step time (ns) of `w` at `batch` with `rewrite` applied, and its analysis; None when it does not fit.
fn point(
    w: &WorkloadSpec,
    batch: u64,
    p: &Platform,
    rewrite: &dyn Fn(Program) -> Program,
    analyse: bool,
) -> Option<(f64, Option<Analysis>)> {
    let spec = SimSpec { warmup_steps: 1, steps: STEPS, seed: 1, jitter: 0.0, dtype: Dtype::Bf16, trace_name: None };
    let run = run_point_with(w, Shape { batch, seq: w.default_seq() }, p, &spec, rewrite).ok()?;
    let mut steps = run.step_ns.clone();
    steps.sort_unstable();
    let median = steps[steps.len() / 2] as f64;
    let a = analyse.then(|| analyze(&run.trace, "baseline", &analysis_spec(p)).unwrap_or_else(|e| panic!("{e}")));
    Some((median, a))
}

/// The batch of the list nearest (log scale) to where the baseline turns GPU-bound (knee, else busy rule).
fn transition_batch(w: &WorkloadSpec, p: &Platform) -> Option<u64> {
    let mut pts = Vec::new();
    for &batch in &BATCHES {
        let Some((ns, Some(a))) = point(w, batch, p, &|q| q, true) else { break };
        let m = a.report.step_median.unwrap_or_else(|| panic!("no steps"));
        let work = w.work_per_step(Shape { batch, seq: w.default_seq() }) as f64;
        pts.push(SweepPoint {
            batch,
            tklqt_ns: m.tklqt_ns,
            busy_frac: m.busy_frac,
            latency_ms: ns / 1e6,
            throughput: work / (ns / 1e9),
        });
    }
    let t = transition(&pts, &TransitionSpec::default());
    let at = match (&t.knee.crossing, &t.busy.crossing) {
        (_, Crossing::AtFirst { batch }) => *batch as f64,
        (Crossing::Between { batch, .. }, _) => *batch,
        _ => t.busy.crossing.batch()?,
    };
    pts.iter().map(|p| p.batch).min_by(|a, b| {
        let d = |x: u64| ((x as f64).log2() - at.log2()).abs();
        d(*a).total_cmp(&d(*b))
    })
}

#[derive(Debug)]
struct Row {
    workload: String,
    batch: u64,
    what: String,
    /// Occurrences per step the rewrite fused.
    fused: u64,
    predicted_ns: f64,
    /// The advisor's bound on the GPU time saved in GPU-bound windows (not in its saving).
    gpu_bound_ns: f64,
    simulated_ns: f64,
    baseline_ns: f64,
}

impl Row {
    /// predicted / simulated (1.0: exact).
    fn ratio(&self) -> f64 {
        if self.simulated_ns.abs() < 1.0 { f64::NAN } else { self.predicted_ns / self.simulated_ns }
    }
}

/// Baseline, advice, and one what-if per top suggestion (and CUDA graphs) at one point.
fn compare(w: &WorkloadSpec, batch: u64, p: &Platform) -> Vec<Row> {
    let Some((base, Some(a))) = point(w, batch, p, &|q| q, true) else { return Vec::new() };
    let steps = a.report.steps.len().max(1) as f64;
    let mut rows = Vec::new();
    let fusion: Vec<FusionCandidate> = a.report.advice.fusion.clone();
    for c in fusion {
        let chain = c.kernels.clone();
        let fused = std::cell::Cell::new(0);
        let rewrite = |q: Program| {
            let (q, rw) = fuse_chains(&q, std::slice::from_ref(&chain));
            fused.set(rw.applied[0].1);
            q
        };
        let Some((t, _)) = point(w, batch, p, &rewrite, false) else { continue };
        rows.push(Row {
            workload: w.name(),
            batch,
            what: format!("fuse {} ({} kernels)", c.pattern.split(": ").next().unwrap_or(&c.pattern), chain.len()),
            fused: fused.get(),
            predicted_ns: c.total_saving_ns as f64 / steps,
            gpu_bound_ns: c.gpu_removed_per_occurrence_ns * c.counted_occurrences as f64 / steps,
            simulated_ns: base - t,
            baseline_ns: base,
        });
    }
    if let Some(g) = &a.report.advice.cuda_graphs
        && let Some((t, _)) = point(w, batch, p, &|q| cuda_graphs(&q).0, false)
    {
        rows.push(Row {
            workload: w.name(),
            batch,
            what: "cuda-graphs".into(),
            fused: 1,
            predicted_ns: g.saving_per_step_ns,
            gpu_bound_ns: 0.0,
            simulated_ns: base - t,
            baseline_ns: base,
        });
        rows.push(Row {
            workload: w.name(),
            batch,
            what: "cuda-graphs (lower bound: launches only)".into(),
            fused: 1,
            predicted_ns: g.lower_bound_per_step_ns,
            gpu_bound_ns: 0.0,
            simulated_ns: base - t,
            baseline_ns: base,
        });
    }
    if let Some(u) = &a.report.advice.optimizer
        && let Some((t, _)) = point(w, batch, p, &|q| fuse_patterns(&q, &[Pattern::AdamW]).0, false)
    {
        rows.push(Row {
            workload: w.name(),
            batch,
            what: format!("optimizer fused ({} foreach ops)", u.ops_per_step),
            fused: 1,
            predicted_ns: u.saving_per_step_ns,
            gpu_bound_ns: u.gpu_removed_per_step_ns,
            simulated_ns: base - t,
            baseline_ns: base,
        });
    }
    if rows.is_empty()
        && let Some((t, _)) = point(w, batch, p, &|q| fuse_patterns(&q, &Pattern::ALL).0, false)
    {
        // No suggestion: what fusing every pattern would give, for scale.
        rows.push(Row {
            workload: w.name(),
            batch,
            what: "(no suggestion; fuse:all simulated)".into(),
            fused: 0,
            predicted_ns: 0.0,
            gpu_bound_ns: 0.0,
            simulated_ns: base - t,
            baseline_ns: base,
        });
    }
    rows
}

fn platform(name: &str) -> Platform {
    Platform::builtin(name).unwrap_or_else(|e| panic!("{e}"))
}

fn workload(name: &str) -> WorkloadSpec {
    WorkloadSpec::parse(name, Dtype::Bf16).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_suggestion_on_llama_decode_is_simulated() {
    let p = platform("sim:h100-pcie");
    let w = workload("llama-3.2-1b:decode");
    let rows = compare(&w, 1, &p);
    assert!(rows.iter().any(|r| r.what.starts_with("fuse ")), "{rows:?}");
    for r in &rows {
        // Every suggested chain is found in the program, every step, and saves time.
        assert!(r.fused >= 1, "{r:?}");
        assert!(r.simulated_ns > 0.0, "{r:?}");
    }
}

#[test]
fn the_foreach_optimizer_gets_its_fused_form_as_advice() {
    let p = platform("sim:gh200");
    let w = workload("gpt2:train");
    let rows = compare(&w, 1, &p);
    let r = rows.iter().find(|r| r.what.starts_with("optimizer fused")).unwrap_or_else(|| panic!("{rows:?}"));
    assert!(r.what.contains("(8 foreach ops)"), "{r:?}");
    assert!(r.simulated_ns > 0.0, "{r:?}");
    assert!((r.ratio() - 1.0).abs() <= 0.25, "predicted {} vs simulated {}", r.predicted_ns, r.simulated_ns);
}

#[test]
#[ignore = "prints the predicted-vs-simulated table of docs/simulator.md (about a minute)"]
fn predicted_vs_simulated_table() {
    let p = platform(&std::env::var("WHATIF_PLATFORM").unwrap_or_else(|_| "sim:h100-pcie".into()));
    let names = [
        "llama-3.2-1b:decode",
        "llama-3.2-1b:prefill",
        "llama-3.2-1b:train",
        "gpt2:decode",
        "gpt2:prefill",
        "gpt2:train",
        "bert-base:prefill",
        "bert-base:train",
    ];
    println!("platform {}, seq = each workload's default, {STEPS} steps, jitter 0", p.id());
    println!(
        "| workload | batch | baseline ms/step | what-if | fused per step | predicted us/step | GPU time removed us/step | simulated us/step | predicted / simulated |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let (mut within, mut all) = (0, 0);
    for name in names {
        let w = workload(name);
        let tb = transition_batch(&w, &p);
        let mut batches = vec![1];
        if let Some(b) = tb.filter(|&b| b != 1) {
            batches.push(b);
        }
        for batch in batches {
            let rows = compare(&w, batch, &p);
            for r in rows {
                let ratio = r.ratio();
                if !r.what.contains("lower bound") && r.fused > 0 {
                    all += 1;
                    within += usize::from((ratio - 1.0).abs() <= 0.25);
                }
                println!(
                    "| {} | {}{} | {:.3} | {} | {} | {:.1} | {:.1} | {:.1} | {:.2} |",
                    r.workload,
                    r.batch,
                    if Some(r.batch) == tb { " (transition)" } else { "" },
                    r.baseline_ns / 1e6,
                    r.what,
                    r.fused,
                    r.predicted_ns / 1e3,
                    r.gpu_bound_ns / 1e3,
                    r.simulated_ns / 1e3,
                    ratio
                );
            }
        }
    }
    println!("\n{within} of {all} predictions within 25% of the simulated saving");
}

#[test]
fn a_what_if_series_runs_the_baseline_rewrites_and_notes_both() {
    use boundscope_analysis::sweep::{PointOutcome, PointRunner};
    use boundscope_workloads::WhatIf;
    use boundscope_workloads::sweep::SimPoints;
    use boundscope_workloads::whatif::WhatIfPoints;
    let sim = SimSpec { warmup_steps: 1, steps: 2, seed: 1, jitter: 0.0, dtype: Dtype::Bf16, trace_name: None };
    let w = workload("llama-3.2-1b:decode");
    for (what_if, rewritten) in [
        (WhatIf::CudaGraphs, "1 graph(s) per step"),
        (WhatIf::FuseSuggested, "occurrences"),
        (WhatIf::Fuse(vec![boundscope_workloads::Pattern::RmsNorm]), "rmsnorm 33"),
    ] {
        let base = SimPoints::new(w, 1024, platform("sim:h100-pcie"), sim.clone());
        let mut r = WhatIfPoints::new(base.clone(), what_if.clone());
        assert_eq!(r.series().label, format!("sim:h100-pcie+{}", what_if.label()));
        let Ok(PointOutcome::Ran(ran)) = r.run(1, &mut |_| {}) else { panic!("{what_if}: no point") };
        let Ok(PointOutcome::Ran(b)) = base.clone().run(1, &mut |_| {}) else { panic!("baseline") };
        assert!(ran.step_ns[0] < b.step_ns[0], "{what_if}: {:?} vs {:?}", ran.step_ns, b.step_ns);
        let note = ran.note.unwrap_or_default();
        assert!(note.contains(rewritten) && note.contains("advisor's estimate"), "{note}");
        assert_eq!(ran.analysis.report.unmatched.total(), 0, "every kernel has its launch");
    }
}
