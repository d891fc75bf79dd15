//! Names a fusable chain for people: the framework ops that issue its
//! kernels, matched against the op sequences of common layers (RMSNorm as
//! Hugging Face writes it, rotary embedding, SwiGLU, optimizer updates, ...),
//! and the remedy that fits the pattern (docs/metrics.md section 5).

use serde::{Deserialize, Serialize};

use super::classify::KernelClass;

/// What kind of fused kernel a chain would become.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainKind {
    /// Elementwise kernels (and copies) only.
    Elementwise,
    /// A reduction or normalization with elementwise kernels around it.
    Normalization,
    /// One GEMM followed by elementwise kernels (bias, activation, residual).
    GemmEpilogue,
}

impl ChainKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChainKind::Elementwise => "elementwise run",
            ChainKind::Normalization => "reduction/norm + elementwise",
            ChainKind::GemmEpilogue => "GEMM epilogue",
        }
    }

    /// The kind of a chain from its kernels' classes.
    pub fn of(classes: &[KernelClass]) -> ChainKind {
        if classes.first() == Some(&KernelClass::Gemm) {
            ChainKind::GemmEpilogue
        } else if classes.contains(&KernelClass::Reduction) {
            ChainKind::Normalization
        } else {
            ChainKind::Elementwise
        }
    }
}

/// Whether `next` may join a chain that starts with a `head` kernel: only
/// what one fused kernel can do. A GEMM may only lead, followed by
/// elementwise kernels (its epilogue); elementwise kernels, reductions and
/// copies chain freely; attention, communication and unknown kernels never
/// join, so no chain runs through two GEMMs or through attention.
pub fn can_extend(head: KernelClass, next: KernelClass) -> bool {
    use KernelClass::*;
    match head {
        Gemm => next == Elementwise,
        Elementwise | Reduction | Copy => matches!(next, Elementwise | Reduction | Copy),
        Attention | Communication | Other => false,
    }
}

/// A chain's name for people and what to do about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Named {
    pub pattern: String,
    pub remedy: String,
    /// A recognized forward pattern: one value flows through the chain, so
    /// a fused kernel keeps the intermediates on chip. Backward chains
    /// (whose nodes also read saved activations) and chains named only by
    /// their kind are not known to.
    pub dataflow: bool,
}

/// The op's base name for matching: without the namespace, the `_foreach_`
/// prefix, the in-place `_` suffix, the autograd wrapper and the
/// `Backward0` suffix, lower case ("aten::_foreach_addcmul_" -> "addcmul",
/// "autograd::engine::evaluate_function: PowBackward0" -> "pow").
fn base(op: &str) -> String {
    let s = op.rsplit_once(": ").map_or(op, |(_, r)| r);
    let s = s.rsplit_once("::").map_or(s, |(_, r)| r);
    let s = s.strip_prefix("_foreach_").unwrap_or(s);
    let s = s.trim_end_matches(|c: char| c.is_ascii_digit());
    let s = s.strip_suffix("Backward").unwrap_or(s);
    let s = s.trim_end_matches('_').trim_start_matches('_');
    s.to_ascii_lowercase()
}

/// Names the chain whose kernels have `classes` and are issued by `ops`
/// (outermost framework op per kernel, when known). `optimizer` is the
/// optimizer whose `Optimizer.step#<name>.step` range encloses the chain.
pub fn name_chain(ops: &[Option<String>], classes: &[KernelClass], optimizer: Option<&str>) -> Named {
    let kind = ChainKind::of(classes);
    // Distinct consecutive op names, as written, and their base names.
    let mut seq: Vec<&str> = Vec::new();
    for o in ops.iter().flatten() {
        if seq.last() != Some(&o.as_str()) {
            seq.push(o);
        }
    }
    let bases: Vec<String> = seq.iter().map(|o| base(o)).collect();
    let has = |b: &str| bases.iter().any(|x| x == b);
    let has_any = |bs: &[&str]| bs.iter().any(|b| has(b));
    let foreach = seq.iter().any(|o| o.contains("_foreach_"));
    let backward = !seq.is_empty() && seq.iter().all(|o| o.contains("Backward"));
    let gemm = kind == ChainKind::GemmEpilogue;
    // What the GEMM head is, for people: a linear layer, a convolution, a matmul.
    let head = match bases.first().map(String::as_str) {
        Some(b) if b.contains("conv") => "convolution",
        Some("linear" | "addmm" | "mm") => "linear",
        Some("matmul" | "bmm" | "baddbmm") => "matmul",
        _ => "GEMM",
    };
    let compile = "`torch.compile` of the module that runs these ops (one generated kernel for the run)";
    let epilogue = "`torch.compile(mode=\"max-autotune\")` of the module fuses the elementwise tail into the GEMM \
                    (Inductor epilogue fusion); cuBLASLt epilogues cover bias + ReLU/GELU";

    let (pattern, remedy): (String, String) = if optimizer.is_some()
        || (has("addcdiv") && has_any(&["addcmul", "lerp"]))
    {
        let opt = optimizer.unwrap_or("Adam/AdamW");
        if foreach {
            (
                format!("{opt} update (foreach: one launch group per update term)"),
                format!("`torch.optim.{opt}(..., fused=True)`: the whole update in one multi-tensor kernel per step"),
            )
        } else {
            (
                format!("{opt} update (per parameter: mul_, add_, addcmul_, sqrt, addcdiv_ for each tensor)"),
                format!(
                    "`torch.optim.{opt}(..., fused=True)` (one kernel for all parameters) or `foreach=True` (one launch \
                     per update term for all parameters)"
                ),
            )
        }
    } else if has("rms_norm") || (has("pow") && has("mean") && has("rsqrt")) {
        // A residual add just before the norm (the eps add comes after the mean).
        let with_add = bases.first().is_some_and(|b| b == "add");
        (
            if with_add { "residual add + RMSNorm".into() } else { "RMSNorm (pow, mean, add, rsqrt, mul, mul)".into() },
            "`torch.nn.RMSNorm` / `F.rms_norm` in place of the Python RMSNorm (one fused kernel in recent PyTorch), or \
             `torch.compile` of the norm module; fused-kernel libraries (Liger Kernel's `LigerRMSNorm`, Apex's \
             `FusedRMSNorm`) do the same"
                .into(),
        )
    } else if has_any(&["layer_norm", "native_layer_norm"]) {
        let p = match (has_any(&["dropout", "native_dropout"]), has("add")) {
            (true, true) => "dropout + residual add + LayerNorm",
            (false, true) => "residual add + LayerNorm",
            (true, false) => "dropout + LayerNorm",
            (false, false) => "LayerNorm + elementwise",
        };
        (
            p.into(),
            "`torch.compile` of the block fuses the add (and dropout) into the LayerNorm kernel; Apex's \
                    `FusedLayerNorm` and Transformer Engine's `LayerNorm` are fused alternatives"
                .into(),
        )
    } else if has_any(&["rotary", "rope", "apply_rotary_pos_emb"]) || (has("neg") && has("cat")) {
        (
            "rotary embedding (x * cos + rotate_half(x) * sin)".into(),
            "a fused rotary kernel (flash-attn's `apply_rotary_emb`, Liger Kernel's `liger_rotary_pos_emb`) or \
             `torch.compile` of the attention module"
                .into(),
        )
    } else if has("cos") && has("sin") {
        (
            "rotary cos/sin tables".into(),
            "compute the cos/sin tables once per sequence length and reuse them, or `torch.compile` the rotary module"
                .into(),
        )
    } else if has("silu") && has("mul") {
        (
            if gemm {
                format!("{head} + SiLU-and-mul (SwiGLU, GEMM epilogue)")
            } else {
                "SiLU-and-mul (SwiGLU)".into()
            },
            "a fused SiLU-and-mul kernel (Liger Kernel's `LigerSwiGLUMLP`, vLLM's `silu_and_mul` after one merged \
             gate/up projection) or `torch.compile` of the MLP"
                .into(),
        )
    } else if has("silu") && gemm {
        (format!("{head} + SiLU (GEMM epilogue)"), epilogue.into())
    } else if has("tanh") && has("pow") {
        (
            "GELU, tanh approximation written out (pow, mul, add, tanh, ...)".into(),
            "`F.gelu(x, approximate=\"tanh\")`: the same function in one kernel".into(),
        )
    } else if has("gelu") {
        if gemm {
            (format!("{head} + GELU (GEMM epilogue)"), epilogue.into())
        } else {
            ("GELU + elementwise".into(), compile.into())
        }
    } else if has_any(&["softmax", "_softmax", "log_softmax", "safe_softmax"]) {
        let masked = has_any(&["add", "masked_fill", "where", "div", "mul"]);
        let dropout = has_any(&["dropout", "native_dropout"]);
        let p = match (masked, dropout) {
            (true, true) => "masked softmax + dropout",
            (true, false) => "masked (scaled) softmax",
            (false, true) => "softmax + dropout",
            (false, false) => "softmax + elementwise",
        };
        (
            p.into(),
            "in attention, `F.scaled_dot_product_attention` replaces the scores, mask, softmax and dropout with one \
             attention kernel; elsewhere `torch.compile` of the module"
                .into(),
        )
    } else if has_any(&["dropout", "native_dropout"]) && has("add") {
        ("dropout + residual add".into(), compile.into())
    } else if gemm && bases.iter().skip(1).all(|b| b == "add") && bases.len() > 1 {
        let remedy = if head == "linear" {
            "pass the residual as the GEMM's C operand (`torch.addmm(residual, x, W.t())`: cuBLAS adds it in the \
             epilogue), or `torch.compile(mode=\"max-autotune\")`"
                .to_string()
        } else {
            epilogue.to_string()
        };
        (format!("{head} + residual add (GEMM epilogue)"), remedy)
    } else if !gemm && bases.len() >= 2 && bases.iter().all(|b| b == "add") {
        ("bias + residual add".into(), compile.into())
    } else if gemm {
        ("GEMM + elementwise epilogue".into(), epilogue.into())
    } else {
        (kind.as_str().to_string(), compile.into())
    };
    let recognized = pattern != kind.as_str() && pattern != "GEMM + elementwise epilogue";
    let dataflow = recognized && !backward && !seq.is_empty();
    let pattern = if backward { format!("{pattern}, backward") } else { pattern };
    let pattern = if seq.is_empty() {
        format!("{pattern} (no framework ops in the trace)")
    } else {
        let shown: Vec<String> = seq
            .iter()
            .map(|o| {
                o.strip_prefix("autograd::engine::evaluate_function: ")
                    .map_or(o.to_string(), |r| format!("{r} (autograd)"))
            })
            .collect();
        format!("{pattern}: {}", shown.join(" -> "))
    };
    Named { pattern, remedy, dataflow }
}

#[cfg(test)]
mod tests {
    use super::*;
    use KernelClass::*;

    fn ops(v: &[&str]) -> Vec<Option<String>> {
        v.iter().map(|s| Some(s.to_string())).collect()
    }

    #[test]
    fn base_names() {
        assert_eq!(base("aten::_foreach_addcmul_"), "addcmul");
        assert_eq!(base("autograd::engine::evaluate_function: PowBackward0"), "pow");
        assert_eq!(base("aten::native_layer_norm"), "native_layer_norm");
        assert_eq!(base("aten::add_"), "add");
        assert_eq!(base("aten::_softmax"), "softmax");
    }

    #[test]
    fn fusability() {
        assert!(can_extend(Gemm, Elementwise));
        assert!(!can_extend(Gemm, Reduction) && !can_extend(Gemm, Gemm));
        assert!(can_extend(Elementwise, Reduction) && can_extend(Reduction, Copy));
        assert!(!can_extend(Elementwise, Gemm) && !can_extend(Elementwise, Attention));
        assert!(!can_extend(Attention, Elementwise) && !can_extend(Other, Elementwise));
    }

    #[test]
    fn patterns_from_simulated_and_real_op_sequences() {
        let ew = |n: usize| vec![Elementwise; n];
        // Hugging Face LlamaRMSNorm as the simulator lowers it.
        let rms = ops(&[
            "aten::to",
            "aten::pow",
            "aten::mean",
            "aten::add",
            "aten::rsqrt",
            "aten::mul",
            "aten::to",
            "aten::mul",
        ]);
        let n = name_chain(
            &rms,
            &[Copy, Elementwise, Reduction, Elementwise, Elementwise, Elementwise, Copy, Elementwise],
            None,
        );
        assert!(n.pattern.starts_with("RMSNorm"), "{n:?}");
        assert!(n.remedy.contains("F.rms_norm"), "{n:?}");
        // BERT on an H100: residual add, then LayerNorm.
        let n = name_chain(&ops(&["aten::add", "aten::layer_norm"]), &[Elementwise, Reduction], None);
        assert_eq!(n.pattern, "residual add + LayerNorm: aten::add -> aten::layer_norm");
        // Rotary embedding: mul, neg, cat, mul, add.
        let n = name_chain(&ops(&["aten::mul", "aten::neg", "aten::cat", "aten::mul", "aten::add"]), &ew(5), None);
        assert!(n.pattern.starts_with("rotary embedding"), "{n:?}");
        // A GEMM and its GELU.
        let n = name_chain(&ops(&["aten::linear", "aten::gelu"]), &[Gemm, Elementwise], None);
        assert!(n.pattern.starts_with("linear + GELU (GEMM epilogue)"), "{n:?}");
        assert!(n.remedy.contains("max-autotune"), "{n:?}");
        // GPT-2's NewGELU.
        let gelu =
            ["aten::pow", "aten::mul", "aten::add", "aten::mul", "aten::tanh", "aten::add", "aten::mul", "aten::mul"];
        let n = name_chain(&ops(&gelu), &ew(8), None);
        assert!(n.remedy.contains("approximate=\"tanh\""), "{n:?}");
        // SwiGLU.
        let n = name_chain(&ops(&["aten::silu", "aten::mul"]), &ew(2), None);
        assert!(n.pattern.starts_with("SiLU-and-mul (SwiGLU)"), "{n:?}");
        // AdamW, foreach (simulator) and per parameter.
        let fe = ["aten::_foreach_mul_", "aten::_foreach_lerp_", "aten::_foreach_addcmul_", "aten::_foreach_addcdiv_"];
        let n = name_chain(&ops(&fe), &ew(4), None);
        assert!(n.pattern.contains("foreach") && n.remedy.contains("fused=True"), "{n:?}");
        let pp = [
            "aten::mul_",
            "aten::lerp_",
            "aten::mul_",
            "aten::addcmul_",
            "aten::sqrt",
            "aten::div",
            "aten::add_",
            "aten::addcdiv_",
        ];
        let n = name_chain(&ops(&pp), &ew(8), Some("AdamW"));
        assert!(n.pattern.starts_with("AdamW update (per parameter") && n.remedy.contains("foreach=True"), "{n:?}");
        // Masked softmax and dropout.
        let n = name_chain(
            &ops(&["aten::add", "aten::softmax", "aten::dropout"]),
            &[Elementwise, Reduction, Elementwise],
            None,
        );
        assert!(
            n.pattern.starts_with("masked softmax + dropout") && n.remedy.contains("scaled_dot_product_attention"),
            "{n:?}"
        );
        // Dropout + add, bias + residual add, and a backward chain.
        let n = name_chain(&ops(&["aten::dropout", "aten::add"]), &ew(2), None);
        assert!(n.pattern.starts_with("dropout + residual add"), "{n:?}");
        let n = name_chain(&ops(&["aten::linear", "aten::add"]), &[Gemm, Elementwise], None);
        assert!(n.pattern.starts_with("linear + residual add") && n.remedy.contains("addmm"), "{n:?}");
        let bw = [
            "autograd::engine::evaluate_function: PowBackward0",
            "autograd::engine::evaluate_function: MeanBackward1",
            "autograd::engine::evaluate_function: RsqrtBackward0",
        ];
        let n = name_chain(&ops(&bw), &ew(3), None);
        assert!(
            n.pattern.starts_with("RMSNorm") && n.pattern.contains(", backward: PowBackward0 (autograd) ->"),
            "{n:?}"
        );
        // A convolution's residual add is not a linear layer's.
        let n = name_chain(&ops(&["aten::conv2d", "aten::add_"]), &[Gemm, Elementwise], None);
        assert!(n.pattern.starts_with("convolution + residual add") && !n.remedy.contains("addmm"), "{n:?}");
        // No pattern: the op sequence; no ops at all: said so.
        let n = name_chain(&ops(&["aten::eq", "aten::all"]), &[Elementwise, Reduction], None);
        assert_eq!(n.pattern, "reduction/norm + elementwise: aten::eq -> aten::all");
        let n = name_chain(&[None, None], &ew(2), None);
        assert_eq!(n.pattern, "elementwise run (no framework ops in the trace)");
    }
}
