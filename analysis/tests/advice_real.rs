//! Advice on the real shared traces: every suggestion is one fusable chain
//! (classes as the classifier gives them, never two GEMMs, never attention),
//! the savings of all suggestions together stay within the GPU idle time
//! (host path) and busy time (GPU path) of the judged windows, and on the H100 BERT trace (host ops with External
//! ids) the chains are named after the framework ops that issue them.

mod common;

use boundscope_analysis::advice::{ChainKind, KernelClass, classify_kernel};
use boundscope_analysis::{AnalysisSpec, analyze};
use boundscope_trace::read_trace;

#[test]
fn suggestions_on_every_shared_trace_are_fusable_and_bounded() {
    for p in common::shared_traces() {
        let t = read_trace(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let a = analyze(&t, "t", &AnalysisSpec::default()).unwrap_or_else(|e| panic!("{e}"));
        let r = &a.report;
        let judged = if r.steps.is_empty() { std::slice::from_ref(&r.trace_window) } else { &r.steps[..] };
        // The host path removes at most the launch-bound GPU idle time, the
        // GPU path at most the GPU busy time, of the judged windows.
        let idle: i64 = judged.iter().map(|w| w.launch_bound_idle_ns).sum();
        let busy: i64 = judged.iter().map(|w| w.gpu_busy_ns).sum();
        let host: i64 = r.advice.fusion.iter().map(|c| c.host_path_saving_ns).sum();
        let gpu: i64 = r.advice.fusion.iter().map(|c| c.total_saving_ns - c.host_path_saving_ns).sum();
        assert!(host <= idle, "{}: host-path savings {host} > idle {idle}", p.display());
        assert!((0..=busy).contains(&gpu), "{}: GPU-path savings {gpu} > busy {busy}", p.display());

        for c in &r.advice.fusion {
            let want: Vec<KernelClass> = c.kernels.iter().map(|k| classify_kernel(k)).collect();
            assert_eq!(c.classes, want, "{}", p.display());
            assert_eq!((c.kernels.len(), c.ops.len()), (c.classes.len(), c.classes.len()));
            let gemms = c.classes.iter().filter(|&&k| k == KernelClass::Gemm).count();
            assert!(gemms <= 1, "{}: {c:?}", p.display());
            assert!(
                !c.classes
                    .iter()
                    .any(|k| matches!(k, KernelClass::Attention | KernelClass::Communication | KernelClass::Other)),
                "{c:?}"
            );
            if gemms == 1 {
                assert_eq!((c.classes[0], c.kind), (KernelClass::Gemm, ChainKind::GemmEpilogue), "{c:?}");
            }
            assert_eq!(c.launches_removed, c.kernels.len() as u64 - 1);
            assert!(!c.remedy.is_empty() && !c.basis.is_empty() && !c.pattern.is_empty());
            assert!(c.ps >= 0.9 && c.occurrences >= 2, "{c:?}");
        }
    }
}

#[test]
fn bert_on_an_h100_is_named_after_its_ops() {
    let Some(p) = common::shared_traces().into_iter().find(|p| p.to_string_lossy().contains("h100_bertsmall_b1"))
    else {
        eprintln!("h100_bertsmall_b1.json.gz not present: skipped");
        return;
    };
    let t = read_trace(&p).unwrap_or_else(|e| panic!("{e}"));
    let a = analyze(&t, "bert", &AnalysisSpec::default()).unwrap_or_else(|e| panic!("{e}"));
    let f = &a.report.advice.fusion;
    assert!(!f.is_empty());
    // Every kernel of every suggestion has its op (External id links them all).
    assert!(f.iter().all(|c| c.ops.iter().all(Option::is_some)), "{f:?}");
    let patterns: Vec<&str> = f.iter().map(|c| c.pattern.as_str()).collect();
    assert!(patterns.contains(&"residual add + LayerNorm: aten::add -> aten::layer_norm"), "{patterns:?}");
    assert!(patterns.contains(&"linear + GELU (GEMM epilogue): aten::linear -> aten::gelu"), "{patterns:?}");
    // The GEMM -> add -> LayerNorm -> GEMM regions are not one chain any more;
    // what no chain covers is left to CUDA graphs.
    assert!(a.report.advice.notes.iter().any(|n| n.contains("CUDA graphs")), "{:?}", a.report.advice.notes);
}
