//! The lowering against a recorded trace: a Qwen1.5-0.5B prefill on an H100
//! (transformers 4.49, torch 2.6; `tests/data/PROVENANCE.md`) launches, operator by
//! operator, the kernels the `transformers-4.49` lowering of the same model
//! and shape predicts. Qwen1.5-0.5B uses the Llama code path (Qwen2 modeling
//! is Llama's with biases on q, k and v), so this checks the RMSNorm, RoPE,
//! SwiGLU, GEMM and SDPA sequences and the 4.48-4.53 stack rules
//! (`.contiguous()` copies, no cache cat on the first update) on real data.

use std::collections::BTreeMap;
use std::path::Path;

use boundscope_trace::{ApiKind, Trace, read_trace};
use boundscope_workloads::calibrate::launches_per_operator;
use boundscope_workloads::model::{Activation, Arch, ModelConfig, Norm, Phase, Positions};
use boundscope_workloads::{Dtype, Shape, Stack, Target, WorkloadSpec, lower};

/// `Qwen/Qwen1.5-0.5B-Chat` config.json: num_hidden_layers 24, hidden_size
/// 1024, num_attention_heads 16, num_key_value_heads 16, intermediate_size
/// 2816, vocab_size 151936, max_position_embeddings 32768, hidden_act
/// "silu"; Qwen2 attention has q/k/v biases. (The recorded step runs no LM
/// head, so whether it is tied does not matter here.)
static QWEN1_5_0_5B: ModelConfig = ModelConfig {
    id: "qwen1.5-0.5b",
    hf_config: "Qwen/Qwen1.5-0.5B-Chat",
    arch: Arch::Llama,
    layers: 24,
    hidden: 1024,
    heads: 16,
    kv_heads: 16,
    head_dim: 64,
    intermediate: 2816,
    vocab: 151_936,
    max_positions: 32_768,
    type_vocab: 0,
    tied_embeddings: false,
    linear_bias: false,
    qkv_bias: true,
    norm: Norm::RmsNorm,
    activation: Activation::Silu,
    positions: Positions::Rope,
    phases: &[Phase::Prefill],
};

fn recorded() -> Trace {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/h100_qwen05b_prefill_b16.json.gz");
    read_trace(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn trace_counts() -> BTreeMap<String, u64> {
    launches_per_operator(&recorded(), ApiKind::KernelLaunch)
}

fn lowered(stack: Stack) -> BTreeMap<String, u64> {
    let w = WorkloadSpec { model: &QWEN1_5_0_5B, phase: Phase::Prefill, dtype: Dtype::Bf16, stack };
    // The trace's SDPA inputs are [16, 16, 559, 64]: batch 16, 559 tokens.
    let p = lower(&w, Shape { batch: 16, seq: 559 }, Target { gemm_kernel: "gemm", sm_count: 132 })
        .unwrap_or_else(|e| panic!("{e}"));
    p.launches_per_operator()
}

/// What the recorded step runs and the lowering does not, and the reverse:
/// the recording is a bare `Qwen2Model` forward (no LM head, so none of
/// `generate()`'s pick: `linear`, `to(float32)`, `argmax`), and it passes an
/// all-ones attention mask that transformers checks (`eq`, `all`) before
/// dropping it. Nothing else may differ.
fn expected_difference(op: &str) -> i64 {
    match op {
        "aten::linear" | "aten::to" | "aten::argmax" => 1,
        "aten::eq" | "aten::all" => -1,
        _ => 0,
    }
}

#[test]
fn the_4_49_lowering_launches_what_the_recorded_h100_prefill_launches() {
    let real = trace_counts();
    let sim = lowered(Stack::Transformers449);
    // The per-layer operators of a 24-layer model are all there: a check that
    // the trace was read and attributed, not only that both sides are empty.
    assert_eq!(real.get("aten::linear"), Some(&168), "{real:?}");
    assert_eq!(real.get("aten::contiguous"), Some(&96), "{real:?}");
    let ops: std::collections::BTreeSet<&String> = real.keys().chain(sim.keys()).collect();
    let mut diffs = Vec::new();
    for op in ops {
        let (r, s) = (real.get(op).copied().unwrap_or(0) as i64, sim.get(op).copied().unwrap_or(0) as i64);
        if s - r != expected_difference(op) {
            diffs.push(format!("{op}: recorded {r}, lowered {s}"));
        }
    }
    assert!(diffs.is_empty(), "per-operator kernel counts differ:\n  {}", diffs.join("\n  "));
}

#[test]
fn every_recorded_gemm_call_also_zeroes_a_workspace() {
    // Not in the lowering: on this stack (cuBLAS 12.4, H100) each `linear`
    // enqueues a `cudaMemsetAsync` before its GEMM kernel, a host call (a few
    // microseconds) and a GPU memset per GEMM that simulated steps leave out
    // (docs/workloads.md, checking against a real trace).
    let memsets = launches_per_operator(&recorded(), ApiKind::MemsetAsync);
    assert_eq!(memsets.get("aten::linear"), Some(&168), "{memsets:?}");
    assert_eq!(memsets.values().sum::<u64>(), 168, "{memsets:?}");
}

#[test]
fn the_other_stacks_miss_the_recorded_counts_where_their_rules_differ() {
    let real = trace_counts();
    let diff = |stack: Stack, op: &str| {
        lowered(stack).get(op).copied().unwrap_or(0) as i64 - real.get(op).copied().unwrap_or(0) as i64
    };
    // 4.45 and 4.56 make no contiguous copies (96 in the trace: q, k, v and
    // the output of 24 layers); 4.54 and 4.56 add two cache cats per layer.
    assert_eq!(diff(Stack::Transformers445, "aten::contiguous"), -96);
    assert_eq!(diff(Stack::Transformers456, "aten::contiguous"), -96);
    assert_eq!(diff(Stack::Transformers454, "aten::cat"), 48);
    assert_eq!(diff(Stack::Transformers456, "aten::cat"), 48);
    // 4.54 copies q and the output, but K and V come out of the cache cat.
    assert_eq!(diff(Stack::Transformers454, "aten::contiguous"), -48);
}
