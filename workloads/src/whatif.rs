//! What-if rewrites of a step [`Program`]: what the step would cost if a
//! chain of kernels were fused, or if the step were captured into a CUDA graph.
//! The sweep runs a rewritten program at the same points as the baseline, so
//! that each piece of advice can be checked by simulation
//! (`docs/simulator.md`, "What-if").
//!
//! - **Fusion of a named pattern** (`fuse:rmsnorm,swiglu`): every occurrence
//!   the lowering recorded ([`Region`]) becomes one operator launching one
//!   kernel (AdamW: `_fused_adamw_`'s chunked launches) with the sum of the
//!   members' FLOPs and the bytes of the chain's external inputs and final
//!   outputs only (the lowering states them per pattern); the members'
//!   Python, dispatch and launch costs are paid once. Operators between the
//!   members that are not part of the pattern (the up projection between
//!   SwiGLU's halves) stay. A pattern fused into a GEMM (bias + residual,
//!   BERT's GELU) becomes that GEMM with an epilogue: the GEMM's name, launch
//!   and FLOPs, and its bytes plus the epilogue's extra input.
//! - **Fusion of given chains** (`fuse:all-suggested`, the advisor's chains
//!   as kernel names): each occurrence of the chain in launch order, not
//!   across a synchronization or a host thread, becomes one kernel. Where the
//!   occurrence is exactly a pattern's kernels it is that pattern's rewrite;
//!   otherwise the intermediates of the patterns it covers whole are removed
//!   and every other member keeps its bytes (the lowering knows no finer
//!   dataflow), operators whose kernels are all in the chain disappear, views
//!   and kernel-less autograd nodes (not AccumulateGrad) between them too,
//!   and the operator of the chain's last kernel launches the fused kernel
//!   (the first kernel's operator does, when it also launches kernels before
//!   the chain and so stays anyway).
//! - **CUDA graphs** (`cuda-graphs`): each run of operators between host-device
//!   transfers and synchronizations that launches kernels is captured: at
//!   replay none of its operators runs on the host (no Python, dispatch or
//!   launch call), and one `CUDAGraph::replay` operator (Python overhead, a
//!   view-class dispatch, one `cudaGraphLaunch` priced as a runtime launch
//!   call) enqueues all its kernels, which run back to back as the stream
//!   allows. The transfers and read-backs outside keep their costs. Kernels
//!   are unchanged (a real decode capture would need a static KV cache).

use std::cell::RefCell;
use std::fmt;

use boundscope_analysis::advice::{Advice, FusionCandidate};
use boundscope_analysis::sweep::{PointOutcome, PointRunner, RanPoint, SeriesInfo, Stage};

use crate::program::{Action, HostClass, HostThread, Kernel, KernelClass, LaunchApi, Op, Program, Region};
use crate::sweep::{SimPointError, SimPoints, analyze_point, failed_point};
use crate::{Shape, SimSpec, run_point_with};

/// An operator pattern the lowering emits and a fused implementation replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pattern {
    /// `LlamaRMSNorm`: to(float32), pow, mean, add, rsqrt, mul, to, mul.
    RmsNorm,
    /// Residual add (and training dropout) feeding `nn.LayerNorm`.
    LayerNorm,
    /// `act_fn(gate_proj(x)) * up_proj(x)`: silu and mul.
    SwiGlu,
    /// GPT-2's `NewGELUActivation` (eight kernels); BERT's `gelu` into its GEMM's epilogue.
    Gelu,
    /// `apply_rotary_pos_emb` on q and k (RoPE).
    Rotary,
    /// Cross entropy: log_softmax and nll_loss.
    Softmax,
    /// A residual add right after a GEMM, into the GEMM's epilogue.
    BiasResidual,
    /// The eight `_foreach_*` ops of `AdamW.step()`, as `AdamW(fused=True)`.
    AdamW,
}

impl Pattern {
    pub const ALL: [Pattern; 8] = [
        Pattern::RmsNorm,
        Pattern::LayerNorm,
        Pattern::SwiGlu,
        Pattern::Gelu,
        Pattern::Rotary,
        Pattern::Softmax,
        Pattern::BiasResidual,
        Pattern::AdamW,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Pattern::RmsNorm => "rmsnorm",
            Pattern::LayerNorm => "layernorm",
            Pattern::SwiGlu => "swiglu",
            Pattern::Gelu => "gelu",
            Pattern::Rotary => "rotary",
            Pattern::Softmax => "softmax",
            Pattern::BiasResidual => "bias-residual",
            Pattern::AdamW => "adamw",
        }
    }

    /// The name, or one of a few common spellings.
    pub fn parse(s: &str) -> Option<Pattern> {
        let s = s.trim().to_ascii_lowercase().replace('_', "-");
        Some(match s.as_str() {
            "rmsnorm" | "rms-norm" => Pattern::RmsNorm,
            "layernorm" | "layer-norm" | "add-layernorm" => Pattern::LayerNorm,
            "swiglu" | "silu-and-mul" | "silu-mul" => Pattern::SwiGlu,
            "gelu" => Pattern::Gelu,
            "rotary" | "rope" => Pattern::Rotary,
            "softmax" | "cross-entropy" | "log-softmax" => Pattern::Softmax,
            "bias-residual" | "residual" => Pattern::BiasResidual,
            "adamw" | "fused-adamw" => Pattern::AdamW,
            _ => return None,
        })
    }

    /// Operator name, kernel name and host class of the fused implementation.
    fn fused(self, backward: bool) -> (&'static str, &'static str, HostClass) {
        let (fwd_op, bwd_op, fwd_k, bwd_k, host) = match self {
            Pattern::RmsNorm => (
                "fused::rms_norm",
                "FusedRmsNormBackward",
                "fused_rms_norm_kernel",
                "fused_rms_norm_backward_kernel",
                HostClass::Reduction,
            ),
            Pattern::LayerNorm => (
                "fused::add_layer_norm",
                "FusedAddLayerNormBackward",
                "fused_add_layer_norm_kernel",
                "fused_add_layer_norm_backward_kernel",
                HostClass::Reduction,
            ),
            Pattern::SwiGlu => (
                "fused::silu_and_mul",
                "FusedSiluAndMulBackward",
                "fused_silu_and_mul_kernel",
                "fused_silu_and_mul_backward_kernel",
                HostClass::Elementwise,
            ),
            Pattern::Gelu => (
                "fused::gelu",
                "FusedGeluBackward",
                "fused_gelu_kernel",
                "fused_gelu_backward_kernel",
                HostClass::Elementwise,
            ),
            Pattern::Rotary => (
                "fused::rotary_embedding",
                "FusedRotaryEmbeddingBackward",
                "fused_rotary_embedding_kernel",
                "fused_rotary_embedding_backward_kernel",
                HostClass::Elementwise,
            ),
            Pattern::Softmax => (
                "fused::cross_entropy",
                "FusedCrossEntropyBackward",
                "fused_cross_entropy_kernel",
                "fused_cross_entropy_backward_kernel",
                HostClass::Reduction,
            ),
            Pattern::BiasResidual => ("fused::gemm_residual", "", "fused_gemm_residual_kernel", "", HostClass::Gemm),
            Pattern::AdamW => (
                "aten::_fused_adamw_",
                "",
                "void at::native::(anonymous namespace)::multi_tensor_apply_kernel<at::native::(anonymous namespace)::TensorListMetadata<4>, at::native::(anonymous namespace)::FusedAdamMathFunctor<float, 4, (at::native::ADAM_MODE)1, false> >",
                "",
                HostClass::Foreach,
            ),
        };
        if backward { (bwd_op, bwd_k, HostClass::Autograd) } else { (fwd_op, fwd_k, host) }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A what-if as `--what-if` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WhatIf {
    /// `fuse:rmsnorm,swiglu`: the named patterns (the first named wins where two overlap).
    Fuse(Vec<Pattern>),
    /// `fuse:all-suggested`: the chains the advisor suggests on the baseline trace.
    FuseSuggested,
    /// `cuda-graphs`: graph capture of every step.
    CudaGraphs,
}

impl WhatIf {
    /// `fuse:P[,P...]`, `fuse:all` (every pattern), `fuse:all-suggested`, `cuda-graphs`.
    pub fn parse(s: &str) -> Result<WhatIf, String> {
        let t = s.trim();
        let valid = || {
            format!(
                "valid what-ifs: cuda-graphs, fuse:all-suggested, fuse:all, fuse:PATTERN[,PATTERN...] with patterns {}",
                Pattern::ALL.map(Pattern::as_str).join(", ")
            )
        };
        if t.eq_ignore_ascii_case("cuda-graphs") || t.eq_ignore_ascii_case("cuda-graph") {
            return Ok(WhatIf::CudaGraphs);
        }
        let Some(rest) = t.strip_prefix("fuse:") else {
            return Err(format!("unknown what-if '{t}'; {}", valid()));
        };
        match rest.trim() {
            "all-suggested" | "suggested" => return Ok(WhatIf::FuseSuggested),
            "all" => return Ok(WhatIf::Fuse(Pattern::ALL.to_vec())),
            _ => {}
        }
        let mut out = Vec::new();
        for name in rest.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let p = Pattern::parse(name).ok_or_else(|| format!("unknown pattern '{name}' in '{t}'; {}", valid()))?;
            if !out.contains(&p) {
                out.push(p);
            }
        }
        if out.is_empty() {
            return Err(format!("'{t}' names no pattern; {}", valid()));
        }
        Ok(WhatIf::Fuse(out))
    }

    /// The label of the what-if's series (`fuse:rmsnorm,swiglu`).
    pub fn label(&self) -> String {
        match self {
            WhatIf::Fuse(ps) if ps[..] == Pattern::ALL[..] => "fuse:all".into(),
            WhatIf::Fuse(ps) => format!("fuse:{}", ps.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(",")),
            WhatIf::FuseSuggested => "fuse:all-suggested".into(),
            WhatIf::CudaGraphs => "cuda-graphs".into(),
        }
    }
}

impl fmt::Display for WhatIf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// What a rewrite changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rewrite {
    /// Per pattern or chain (in the order given): its name and the occurrences rewritten.
    pub applied: Vec<(String, u64)>,
    /// Occurrences left alone because an earlier rewrite had taken one of their operators.
    pub skipped: u64,
    pub ops_before: usize,
    pub ops_after: usize,
    pub kernels_before: usize,
    pub kernels_after: usize,
}

/// What becomes of one operator.
#[derive(Debug, Clone)]
enum Edit {
    Keep,
    Remove,
    Replace { name: u32, host: HostClass, python: bool, kernels: Vec<Kernel> },
}

/// Applies `edits` (one per operator of `src`) into `out` (an emptied copy of `src`).
fn rebuild(src: &Program, mut out: Program, edits: &[Edit]) -> Program {
    for (op, edit) in src.ops.iter().zip(edits) {
        match edit {
            Edit::Remove => {}
            Edit::Keep => match op.action {
                Action::Launch { .. } => {
                    out.launch_interned(op.name, op.host, op.thread, op.python, src.op_kernels(op));
                }
                Action::GraphLaunch { .. } => {
                    let first = out.kernels.len() as u32;
                    out.kernels.extend_from_slice(src.op_kernels(op));
                    let count = out.kernels.len() as u32 - first;
                    out.ops.push(Op { action: Action::GraphLaunch { first, count }, ..*op });
                }
                _ => out.ops.push(*op),
            },
            Edit::Replace { name, host, python, kernels } => {
                out.launch_interned(*name, *host, op.thread, *python, kernels);
            }
        }
    }
    out
}

/// Index of the operator issuing each kernel.
fn kernel_ops(p: &Program) -> Vec<u32> {
    let mut out = vec![0u32; p.kernels.len()];
    for (i, op) in p.ops.iter().enumerate() {
        if let Action::Launch { first, count } | Action::GraphLaunch { first, count } = op.action {
            out[first as usize..(first + count) as usize].iter_mut().for_each(|o| *o = i as u32);
        }
    }
    out
}

/// The kernels of a region's member operators, as indices into `p.kernels`.
fn region_kernels(p: &Program, r: &Region) -> Vec<usize> {
    let mut out = Vec::new();
    for &o in &r.ops {
        if let Action::Launch { first, count } = p.ops[o as usize].action {
            out.extend(first as usize..(first + count) as usize);
        }
    }
    out
}

/// The edits that fuse region `r` of `src` (names interned into `out`).
fn region_edits(src: &Program, out: &mut Program, r: &Region) -> Vec<(usize, Edit)> {
    let members: Vec<&Kernel> = r.ops.iter().flat_map(|&o| src.op_kernels(&src.ops[o as usize])).collect();
    let flops: f64 = members.iter().map(|k| k.flops).sum();
    let n = r.launches.max(1);
    let gemm_op = r
        .ops
        .iter()
        .copied()
        .find(|&o| src.op_kernels(&src.ops[o as usize]).iter().any(|k| k.class == KernelClass::Gemm));
    let (name, host, kernel) = match gemm_op {
        Some(g) => {
            let op = &src.ops[g as usize];
            let gk = src.op_kernels(op).iter().find(|k| k.class == KernelClass::Gemm).copied();
            let gk = gk.unwrap_or(members[0].to_owned());
            (op.name, op.host, Kernel { flops: flops / n as f64, bytes: r.bytes / n as f64, ..gk })
        }
        None => {
            let (op_name, kernel_name, host) = r.pattern.fused(r.backward);
            let op_name =
                if r.backward { format!("autograd::engine::evaluate_function: {op_name}") } else { op_name.into() };
            let class = if members.iter().any(|k| k.class == KernelClass::Attention) {
                KernelClass::Attention
            } else {
                KernelClass::Memory
            };
            let kernel = Kernel {
                name: out.intern(kernel_name),
                api: LaunchApi::Runtime,
                class,
                flops: flops / n as f64,
                bytes: r.bytes / n as f64,
            };
            (out.intern(&op_name), host, kernel)
        }
    };
    let python = r.ops.iter().any(|&o| src.ops[o as usize].python);
    r.ops
        .iter()
        .map(|&o| {
            let edit = if o == r.at {
                Edit::Replace { name, host, python, kernels: vec![kernel; n as usize] }
            } else {
                Edit::Remove
            };
            (o as usize, edit)
        })
        .collect()
}

/// Fuses every occurrence of `patterns` (in that order: where two overlap, the
/// first named takes the operators).
pub fn fuse_patterns(src: &Program, patterns: &[Pattern]) -> (Program, Rewrite) {
    let mut out = src.emptied();
    let mut edits = vec![Edit::Keep; src.ops.len()];
    let mut taken = vec![false; src.ops.len()];
    let mut rw = Rewrite { ops_before: src.ops.len(), kernels_before: src.kernels.len(), ..Rewrite::default() };
    for &pat in patterns {
        let mut regions: Vec<&Region> = src.regions.iter().filter(|r| r.pattern == pat).collect();
        regions.sort_by_key(|r| r.at);
        let mut n = 0;
        for r in regions {
            if r.ops.iter().any(|&o| taken[o as usize]) {
                rw.skipped += 1;
                continue;
            }
            for (o, e) in region_edits(src, &mut out, r) {
                taken[o] = true;
                edits[o] = e;
            }
            n += 1;
        }
        rw.applied.push((pat.as_str().to_string(), n));
    }
    let p = rebuild(src, out, &edits);
    rw.ops_after = p.ops.len();
    rw.kernels_after = p.kernels.len();
    (p, rw)
}

/// Fuses every occurrence of each chain of kernel names (launch order, in the
/// order given: a kernel already fused into an earlier chain is not reused).
pub fn fuse_chains(src: &Program, chains: &[Vec<String>]) -> (Program, Rewrite) {
    let mut out = src.emptied();
    let mut edits = vec![Edit::Keep; src.ops.len()];
    let mut taken = vec![false; src.ops.len()];
    let mut claimed = vec![false; src.kernels.len()];
    let mut rw = Rewrite { ops_before: src.ops.len(), kernels_before: src.kernels.len(), ..Rewrite::default() };
    let op_of = kernel_ops(src);
    // Segments: a chain never crosses a synchronization, a transfer or a change of host thread.
    let mut segment = vec![0u32; src.kernels.len()];
    {
        let mut seg = 0u32;
        let mut thread = None;
        for op in &src.ops {
            match op.action {
                Action::Launch { first, count } => {
                    if thread != Some(op.thread) {
                        seg += 1;
                        thread = Some(op.thread);
                    }
                    segment[first as usize..(first + count) as usize].iter_mut().for_each(|s| *s = seg);
                }
                Action::None => {}
                _ => seg += 1,
            }
        }
    }
    // Regions by their kernel sets: an occurrence equal to one is that pattern's rewrite.
    let region_sets: Vec<(Vec<usize>, &Region)> =
        src.regions.iter().map(|r| (region_kernels(src, r), r)).filter(|(k, _)| !k.is_empty()).collect();
    let mut region_of_kernel: Vec<Vec<usize>> = vec![Vec::new(); src.kernels.len()];
    for (ri, (ks, _)) in region_sets.iter().enumerate() {
        for &k in ks {
            region_of_kernel[k].push(ri);
        }
    }
    for chain in chains {
        let label = chain_label(chain);
        let ids: Option<Vec<u32>> =
            chain.iter().map(|n| src.names.iter().position(|s| s == n).map(|i| i as u32)).collect();
        let (Some(ids), false) = (ids, chain.is_empty()) else {
            rw.applied.push((label, 0));
            continue;
        };
        let len = ids.len();
        let mut n = 0;
        let mut k = 0;
        while k + len <= src.kernels.len() {
            let window = k..k + len;
            let matches = window.clone().all(|j| src.kernels[j].name == ids[j - k] && !claimed[j])
                && window.clone().all(|j| segment[j] == segment[k]);
            if !matches {
                k += 1;
                continue;
            }
            let occ: Vec<usize> = window.clone().collect();
            let e = chain_edits(src, &mut out, &occ, &op_of, &region_sets, &region_of_kernel);
            if e.iter().any(|(o, _)| taken[*o]) {
                rw.skipped += 1;
                k += 1;
                continue;
            }
            for (o, ed) in e {
                taken[o] = true;
                edits[o] = ed;
            }
            window.for_each(|j| claimed[j] = true);
            n += 1;
            k += len;
        }
        rw.applied.push((label, n));
    }
    let p = rebuild(src, out, &edits);
    rw.ops_after = p.ops.len();
    rw.kernels_after = p.kernels.len();
    (p, rw)
}

/// A chain's short label: its kernels' short names joined by `+`.
pub fn chain_label(chain: &[String]) -> String {
    chain.iter().map(|n| short_kernel_name(n)).collect::<Vec<_>>().join("+")
}

/// A kernel name without its template arguments and parameters (`vectorized_elementwise_kernel`).
pub fn short_kernel_name(name: &str) -> &str {
    let cut = name.find(['<', '(']).unwrap_or(name.len());
    let head = &name[..cut];
    let head = head.rsplit("::").next().unwrap_or(head);
    head.rsplit(' ').next().unwrap_or(head)
}

/// The edits that fuse one occurrence (kernel indices `occ`, consecutive).
fn chain_edits(
    src: &Program,
    out: &mut Program,
    occ: &[usize],
    op_of: &[u32],
    region_sets: &[(Vec<usize>, &Region)],
    region_of_kernel: &[Vec<usize>],
) -> Vec<(usize, Edit)> {
    // Exactly a pattern's kernels: the pattern's rewrite.
    for &ri in &region_of_kernel[occ[0]] {
        let (ks, r) = &region_sets[ri];
        if ks.len() == occ.len() && ks.iter().zip(occ).all(|(a, b)| a == b) {
            return region_edits(src, out, r);
        }
    }
    // Bytes: the fused form of every pattern covered whole, every other kernel as it is.
    let inside = |k: usize| k >= occ[0] && k <= occ[occ.len() - 1];
    let mut accounted = vec![false; occ.len()];
    let mut bytes = 0.0;
    for &k in occ {
        for &ri in &region_of_kernel[k] {
            let (ks, r) = &region_sets[ri];
            if ks.iter().all(|&j| inside(j)) && ks.iter().all(|&j| !accounted[j - occ[0]]) {
                ks.iter().for_each(|&j| accounted[j - occ[0]] = true);
                bytes += r.bytes;
            }
        }
    }
    bytes += occ.iter().zip(&accounted).filter(|(_, a)| !**a).map(|(&k, _)| src.kernels[k].bytes).sum::<f64>();
    let members: Vec<&Kernel> = occ.iter().map(|&k| &src.kernels[k]).collect();
    let flops: f64 = members.iter().map(|k| k.flops).sum();
    let kernel = match members.iter().find(|k| k.class == KernelClass::Gemm) {
        Some(g) => Kernel { flops, bytes, ..**g },
        None => {
            let class = if members.iter().any(|k| k.class == KernelClass::Attention) {
                KernelClass::Attention
            } else {
                KernelClass::Memory
            };
            let name = out.intern(&format!("fused_chain_kernel<{}>", occ.len()));
            Kernel { name, api: LaunchApi::Runtime, class, flops, bytes }
        }
    };
    let first_op = op_of[occ[0]] as usize;
    let last_op = op_of[occ[occ.len() - 1]] as usize;
    let covered = |o: usize| {
        !src.op_kernels(&src.ops[o]).is_empty() && {
            let (f, c) = match src.ops[o].action {
                Action::Launch { first, count } => (first as usize, count as usize),
                _ => (0, 0),
            };
            (f..f + c).all(inside)
        }
    };
    let python = (first_op..=last_op).any(|o| src.ops[o].python && (covered(o) || o == last_op));
    let mut edits = Vec::new();
    let thread = src.ops[last_op].thread;
    // The first kernel's operator stays when it also launches kernels before
    // the chain: it launches the fused kernel after them, and the last
    // kernel's operator, all of whose kernels are in the chain, goes.
    let first_launches = first_op != last_op
        && !covered(first_op)
        && covered(last_op)
        && src.ops[first_op].thread == thread
        && kernels_of(src, first_op).all(|(k, _)| k <= occ[occ.len() - 1]);
    for o in first_op..last_op {
        let op = &src.ops[o];
        if op.thread != thread {
            continue;
        }
        // Views between the chain's operators go with them, and so do autograd
        // nodes without a kernel (a fused backward is one node), except
        // AccumulateGrad: a fused module's parameters still get their gradients.
        let hollow = op.action == Action::None
            && (op.host == HostClass::View
                || (op.host == HostClass::Autograd && !src.name(op.name).ends_with("AccumulateGrad")));
        if covered(o) || hollow {
            edits.push((o, Edit::Remove));
        } else if o == first_op {
            // Its kernels before the chain stay with it.
            let mut kept: Vec<Kernel> = kernels_of(src, o).filter(|(k, _)| !inside(*k)).map(|(_, k)| *k).collect();
            if first_launches {
                kept.push(kernel);
            }
            edits.push((o, Edit::Replace { name: op.name, host: op.host, python: op.python, kernels: kept }));
        }
    }
    if first_launches {
        edits.push((last_op, Edit::Remove));
        return edits;
    }
    let last = &src.ops[last_op];
    let mut kernels: Vec<Kernel> = kernels_of(src, last_op).filter(|(k, _)| *k < occ[0]).map(|(_, k)| *k).collect();
    kernels.push(kernel);
    kernels.extend(kernels_of(src, last_op).filter(|(k, _)| *k > occ[occ.len() - 1]).map(|(_, k)| *k));
    let name = if covered(last_op) && first_op != last_op { out.intern("fused::chain") } else { last.name };
    edits.push((last_op, Edit::Replace { name, host: last.host, python, kernels }));
    edits
}

fn kernels_of(src: &Program, o: usize) -> impl Iterator<Item = (usize, &Kernel)> {
    let first = match src.ops[o].action {
        Action::Launch { first, .. } => first as usize,
        _ => 0,
    };
    src.op_kernels(&src.ops[o]).iter().enumerate().map(move |(i, k)| (first + i, k))
}

/// Name of the host operator that replays a captured graph.
pub const GRAPH_REPLAY_OP: &str = "CUDAGraph::replay";

/// Captures every run of kernel-launching operators between transfers and
/// synchronizations into one graph replay.
pub fn cuda_graphs(src: &Program) -> (Program, Rewrite) {
    let mut out = src.emptied();
    let replay = out.intern(GRAPH_REPLAY_OP);
    let mut rw = Rewrite { ops_before: src.ops.len(), kernels_before: src.kernels.len(), ..Rewrite::default() };
    let mut graphs = 0;
    let mut i = 0;
    while i < src.ops.len() {
        let capturable =
            |op: &Op| matches!(op.action, Action::None | Action::Launch { .. } | Action::GraphLaunch { .. });
        if !capturable(&src.ops[i]) {
            out.ops.push(src.ops[i]);
            i += 1;
            continue;
        }
        let start = i;
        while i < src.ops.len() && capturable(&src.ops[i]) {
            i += 1;
        }
        let run = &src.ops[start..i];
        if run.iter().all(|op| src.op_kernels(op).is_empty()) {
            out.ops.extend_from_slice(run);
            continue;
        }
        let first = out.kernels.len() as u32;
        for op in run {
            out.kernels.extend_from_slice(src.op_kernels(op));
        }
        let count = out.kernels.len() as u32 - first;
        out.ops.push(Op {
            name: replay,
            host: HostClass::View,
            thread: HostThread::Main,
            python: true,
            action: Action::GraphLaunch { first, count },
        });
        graphs += 1;
    }
    rw.applied.push(("cuda-graphs".into(), graphs));
    rw.ops_after = out.ops.len();
    rw.kernels_after = out.kernels.len();
    (out, rw)
}

/// The advice that a what-if puts to the test: for each named pattern, the
/// fusion suggestions whose pattern names it (first match in
/// [`Pattern::ALL`] order, so "residual add + LayerNorm" is LayerNorm's).
fn suggestion_pattern(pattern: &str) -> Option<Pattern> {
    let p = pattern.to_ascii_lowercase();
    let keys: [(Pattern, &[&str]); 8] = [
        (Pattern::RmsNorm, &["rmsnorm", "rms norm"]),
        (Pattern::LayerNorm, &["layernorm", "layer norm"]),
        (Pattern::SwiGlu, &["swiglu", "silu"]),
        (Pattern::Gelu, &["gelu"]),
        (Pattern::Rotary, &["rotary", "rope"]),
        (Pattern::Softmax, &["softmax", "cross entropy", "cross-entropy"]),
        (Pattern::BiasResidual, &["residual"]),
        (Pattern::AdamW, &["adamw", "_foreach_"]),
    ];
    keys.iter().find(|(_, ks)| ks.iter().any(|k| p.contains(k))).map(|(pat, _)| *pat)
}

/// The advisor's estimate for `what_if`, per step, from the advice on the
/// baseline trace of `steps` measured steps: the summed saving of the
/// suggestions the what-if applies (named patterns: those whose pattern it
/// names; all suggested: every one), or the CUDA-graph estimate and its upper
/// bound. `None` when the advisor makes no such suggestion.
pub fn advisor_estimate(what_if: &WhatIf, advice: &Advice, steps: usize) -> Option<(f64, Option<f64>)> {
    let steps = steps.max(1) as f64;
    let sum = |pick: &dyn Fn(&FusionCandidate) -> bool| {
        let picked: Vec<&FusionCandidate> = advice.fusion.iter().filter(|c| pick(c)).collect();
        (!picked.is_empty()).then(|| picked.iter().map(|c| c.total_saving_ns as f64).sum::<f64>() / steps)
    };
    match what_if {
        WhatIf::FuseSuggested => sum(&|_| true).map(|s| (s, None)),
        WhatIf::Fuse(ps) => {
            sum(&|c| suggestion_pattern(&c.pattern).is_some_and(|p| ps.contains(&p))).map(|s| (s, None))
        }
        WhatIf::CudaGraphs => {
            advice.cuda_graphs.as_ref().map(|g| (g.saving_per_step_ns, Some(g.lower_bound_per_step_ns)))
        }
    }
}

/// A what-if as a series of the sweep engine: each point simulates the
/// baseline (the same points, seed and steps as [`SimPoints`]), asks the
/// advisor about its trace, applies the what-if to the program (for
/// `fuse:all-suggested`, the chains suggested at that point), simulates the
/// rewritten program and analyzes it like any point. The point's note says
/// what was rewritten, the baseline's step time, the simulated saving and the
/// advisor's estimate from the baseline trace alone.
#[derive(Debug, Clone)]
pub struct WhatIfPoints {
    info: SeriesInfo,
    pub what_if: WhatIf,
    pub baseline: SimPoints,
}

impl WhatIfPoints {
    /// The series is labelled `PLATFORM+WHATIF` (`sim:h100-pcie+cuda-graphs`).
    pub fn new(baseline: SimPoints, what_if: WhatIf) -> WhatIfPoints {
        let b = baseline.series();
        let info = SeriesInfo {
            label: format!("{}+{}", b.label, what_if.label()),
            description: format!("{}, what-if {} (docs/simulator.md, what-if)", b.description, what_if.label()),
            origin: b.origin.clone(),
            simulated: true,
        };
        WhatIfPoints { info, what_if, baseline }
    }

    /// A file-name-safe form of the label without `sim:` (`h100-pcie+fuse-rmsnorm-swiglu`).
    pub fn file_stem(&self) -> String {
        let label = format!("{}+{}", self.baseline.platform.spec.name, self.what_if.label());
        label.chars().map(|c| if c.is_ascii_alphanumeric() || c == '+' || c == '-' { c } else { '-' }).collect()
    }
}

impl PointRunner for WhatIfPoints {
    type Error = SimPointError;

    fn series(&self) -> &SeriesInfo {
        &self.info
    }

    fn run(&mut self, batch: u64, progress: &mut dyn FnMut(Stage)) -> Result<PointOutcome, SimPointError> {
        let base = match self.baseline.run(batch, progress)? {
            PointOutcome::Ran(r) => r,
            failed @ PointOutcome::Failed(_) => return Ok(failed),
        };
        let advice = &base.analysis.report.advice;
        let chains: Vec<Vec<String>> = advice.fusion.iter().map(|c| c.kernels.clone()).collect();
        let estimate = advisor_estimate(&self.what_if, advice, base.step_ns.len());
        let done: RefCell<Option<Rewrite>> = RefCell::new(None);
        let rewrite = |p: Program| {
            let (q, rw) = match &self.what_if {
                WhatIf::Fuse(ps) => fuse_patterns(&p, ps),
                WhatIf::FuseSuggested => fuse_chains(&p, &chains),
                WhatIf::CudaGraphs => cuda_graphs(&p),
            };
            *done.borrow_mut() = Some(rw);
            q
        };
        let b = &self.baseline;
        let (w, id) = (&b.workload, b.platform.id());
        let shape = Shape { batch, seq: b.seq };
        let label = self.what_if.label();
        let sim = SimSpec {
            trace_name: Some(format!("{} batch {batch} seq {} on {id}, {}, what-if {label}", w.name(), b.seq, w.stack)),
            ..b.sim.clone()
        };
        progress(Stage::Simulating);
        let run = match run_point_with(w, shape, &b.platform, &sim, &rewrite) {
            Ok(r) => r,
            Err(e) => return Ok(failed_point(&e)),
        };
        progress(Stage::Analyzing);
        let source = format!("{id}+{label} b{batch}");
        let analysis = match analyze_point(&run.trace, &source, b.launch_floor_ns())? {
            Ok(a) => a,
            Err(failed) => return Ok(failed),
        };
        let (base_ns, ns) = (median_ns(&base.step_ns), median_ns(&run.step_ns));
        let rw = done.borrow_mut().take().unwrap_or_default();
        let mut note = format!("{label}: {}", rewrite_summary(&rw));
        note.push_str(&format!(
            "; baseline {:.3} ms/step, simulated saving {:.3} ms/step",
            base_ns / 1e6,
            (base_ns - ns) / 1e6
        ));
        match estimate {
            Some((e, None)) => note.push_str(&format!(", advisor's estimate (baseline trace) {:.3} ms/step", e / 1e6)),
            Some((e, Some(u))) => note.push_str(&format!(
                ", advisor's estimate (baseline trace) {:.3} ms/step, at least {:.3}",
                e / 1e6,
                u / 1e6
            )),
            None => note.push_str(", the advisor suggests nothing for it at this point"),
        }
        Ok(PointOutcome::Ran(Box::new(RanPoint {
            trace: run.trace,
            analysis,
            step_ns: run.step_ns,
            work_per_step: w.work_per_step(shape),
            warmup_steps: Some(b.sim.warmup_steps),
            trace_file: None,
            note: Some(note),
        })))
    }
}

fn median_ns(steps: &[i64]) -> f64 {
    let mut s = steps.to_vec();
    s.sort_unstable();
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2] as f64,
        n => (s[n / 2 - 1] as f64 + s[n / 2] as f64) / 2.0,
    }
}

/// "49 occurrences (rmsnorm 33, swiglu 16), 694 -> 447 kernels, 1,146 -> 1,004 host ops per step".
fn rewrite_summary(rw: &Rewrite) -> String {
    let total: u64 = rw.applied.iter().map(|a| a.1).sum();
    let parts: Vec<String> = rw.applied.iter().map(|(n, c)| format!("{n} {c}")).collect();
    let what = if rw.applied.len() == 1 && rw.applied[0].0 == "cuda-graphs" {
        format!("{total} graph(s) per step")
    } else if parts.len() <= 3 {
        format!("{total} occurrences rewritten ({})", parts.join(", "))
    } else {
        format!("{total} occurrences of {} chains rewritten", parts.len())
    };
    format!(
        "{what}, {} -> {} kernels and {} -> {} host ops per step",
        rw.kernels_before, rw.kernels_after, rw.ops_before, rw.ops_after
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_ifs_parse_and_name_the_valid_ones() {
        assert_eq!(WhatIf::parse("cuda-graphs"), Ok(WhatIf::CudaGraphs));
        assert_eq!(WhatIf::parse("fuse:all-suggested"), Ok(WhatIf::FuseSuggested));
        assert_eq!(WhatIf::parse("fuse:rmsnorm, swiglu"), Ok(WhatIf::Fuse(vec![Pattern::RmsNorm, Pattern::SwiGlu])));
        assert_eq!(WhatIf::parse("fuse:rope,RMS_norm").map(|w| w.label()), Ok("fuse:rotary,rmsnorm".into()));
        assert_eq!(WhatIf::parse("fuse:all"), Ok(WhatIf::Fuse(Pattern::ALL.to_vec())));
        for bad in ["fuse:", "fuse:nope", "graphs", ""] {
            let e = WhatIf::parse(bad).err().unwrap_or_default();
            assert!(e.contains("valid what-ifs") && e.contains("swiglu"), "{bad}: {e}");
        }
        for p in Pattern::ALL {
            assert_eq!(Pattern::parse(p.as_str()), Some(p));
        }
    }

    #[test]
    fn short_names_drop_templates_and_namespaces() {
        let n = "void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<c10::BFloat16>, at::detail::Array<char*, 3> >(int)";
        assert_eq!(short_kernel_name(n), "vectorized_elementwise_kernel");
        assert_eq!(short_kernel_name("sm90_xmma_gemm_bf16"), "sm90_xmma_gemm_bf16");
        assert_eq!(chain_label(&["a::b<1>".into(), "c(int)".into()]), "b+c");
    }
}
