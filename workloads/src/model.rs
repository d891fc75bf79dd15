//! The reference models as data: one [`ModelConfig`] per model, copied from
//! its published Hugging Face configuration (`config.json` of the named
//! checkpoint), and the workload names users type (`llama-3.2-1b:decode`).
//!
//! Nothing here knows about kernels; `lower.rs` turns a config, a phase and a
//! shape into the operator sequence eager PyTorch executes.

use std::fmt;

use serde::Serialize;

use crate::WorkloadError;
use crate::stack::Stack;

/// Which Hugging Face modeling file the model follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// `transformers/models/llama/modeling_llama.py`: RMSNorm, RoPE, SiLU-gated MLP, GQA.
    Llama,
    /// `transformers/models/gpt2/modeling_gpt2.py`: LayerNorm, learned positions, `gelu_new`, Conv1D.
    Gpt2,
    /// `transformers/models/bert/modeling_bert.py`: encoder only, post-LayerNorm, GELU.
    Bert,
}

/// Normalization layer of each block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Norm {
    /// `LlamaRMSNorm`, written in Python: several elementwise and reduction kernels.
    RmsNorm,
    /// `nn.LayerNorm`: one fused kernel.
    LayerNorm,
}

/// MLP activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `silu` (`nn.SiLU`), one kernel, gating an `up_proj` product.
    Silu,
    /// `gelu_new` (`NewGELUActivation`): the tanh approximation written in Python, eight kernels.
    GeluNew,
    /// `gelu` (`nn.functional.gelu`), one kernel.
    Gelu,
}

/// How positions enter the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Positions {
    /// Rotary embedding applied to queries and keys in every layer.
    Rope,
    /// A learned position-embedding table added to the token embeddings.
    Learned,
}

/// A published model configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelConfig {
    /// The name users type (`llama-3.2-1b`).
    pub id: &'static str,
    /// The Hugging Face checkpoint whose `config.json` the numbers come from.
    pub hf_config: &'static str,
    pub arch: Arch,
    pub layers: u64,
    pub hidden: u64,
    pub heads: u64,
    /// Key/value heads (grouped-query attention when below `heads`).
    pub kv_heads: u64,
    pub head_dim: u64,
    pub intermediate: u64,
    pub vocab: u64,
    /// Longest sequence the position scheme allows.
    pub max_positions: u64,
    /// Token-type vocabulary (BERT's segment embeddings); 0 without.
    pub type_vocab: u64,
    /// The output projection shares the token-embedding matrix.
    pub tied_embeddings: bool,
    /// Linear layers carry biases.
    pub linear_bias: bool,
    /// The query, key and value projections carry biases even where the
    /// other linear layers do not (Qwen2's attention layout).
    pub qkv_bias: bool,
    pub norm: Norm,
    pub activation: Activation,
    pub positions: Positions,
    /// Phases the model supports (an encoder has no decode).
    pub phases: &'static [Phase],
}

/// `meta-llama/Llama-3.2-1B` config.json: num_hidden_layers 16, hidden_size
/// 2048, num_attention_heads 32, num_key_value_heads 8, head_dim 64,
/// intermediate_size 8192, vocab_size 128256, max_position_embeddings 131072,
/// tie_word_embeddings true, attention_bias false, mlp_bias false,
/// hidden_act "silu", rope_scaling rope_type "llama3".
pub const LLAMA_3_2_1B: ModelConfig = ModelConfig {
    id: "llama-3.2-1b",
    hf_config: "meta-llama/Llama-3.2-1B",
    arch: Arch::Llama,
    layers: 16,
    hidden: 2048,
    heads: 32,
    kv_heads: 8,
    head_dim: 64,
    intermediate: 8192,
    vocab: 128_256,
    max_positions: 131_072,
    type_vocab: 0,
    tied_embeddings: true,
    linear_bias: false,
    qkv_bias: false,
    norm: Norm::RmsNorm,
    activation: Activation::Silu,
    positions: Positions::Rope,
    phases: &[Phase::Prefill, Phase::Decode, Phase::Train],
};

/// `openai-community/gpt2` config.json: n_layer 12, n_embd 768, n_head 12,
/// n_inner null (4 x n_embd = 3072), vocab_size 50257, n_positions 1024,
/// activation_function "gelu_new"; the LM head is tied to `wte`.
pub const GPT2: ModelConfig = ModelConfig {
    id: "gpt2",
    hf_config: "openai-community/gpt2",
    arch: Arch::Gpt2,
    layers: 12,
    hidden: 768,
    heads: 12,
    kv_heads: 12,
    head_dim: 64,
    intermediate: 3072,
    vocab: 50_257,
    max_positions: 1024,
    type_vocab: 0,
    tied_embeddings: true,
    linear_bias: true,
    qkv_bias: true,
    norm: Norm::LayerNorm,
    activation: Activation::GeluNew,
    positions: Positions::Learned,
    phases: &[Phase::Prefill, Phase::Decode, Phase::Train],
};

/// `google-bert/bert-base-uncased` config.json: num_hidden_layers 12,
/// hidden_size 768, num_attention_heads 12, intermediate_size 3072,
/// vocab_size 30522, max_position_embeddings 512, type_vocab_size 2,
/// hidden_act "gelu". Encoder only: no decode phase.
pub const BERT_BASE: ModelConfig = ModelConfig {
    id: "bert-base",
    hf_config: "google-bert/bert-base-uncased",
    arch: Arch::Bert,
    layers: 12,
    hidden: 768,
    heads: 12,
    kv_heads: 12,
    head_dim: 64,
    intermediate: 3072,
    vocab: 30_522,
    max_positions: 512,
    type_vocab: 2,
    tied_embeddings: true,
    linear_bias: true,
    qkv_bias: true,
    norm: Norm::LayerNorm,
    activation: Activation::Gelu,
    positions: Positions::Learned,
    phases: &[Phase::Prefill, Phase::Train],
};

/// Every reference model, in the order help texts list them.
pub const MODELS: [&ModelConfig; 3] = [&LLAMA_3_2_1B, &GPT2, &BERT_BASE];

impl ModelConfig {
    /// The model named `id` (case-insensitive), or an error listing the valid names.
    pub fn by_id(id: &str) -> Result<&'static ModelConfig, WorkloadError> {
        MODELS.iter().copied().find(|m| m.id.eq_ignore_ascii_case(id)).ok_or_else(|| WorkloadError::UnknownModel {
            given: id.to_string(),
            valid: MODELS.iter().map(|m| m.id).collect(),
        })
    }

    /// Parameter tensors as (count of tensors, elements each), for the optimizer
    /// and gradient accumulation. Sums to the published parameter counts
    /// (Llama-3.2-1B 1.236e9, GPT-2 124.4e6, BERT-base 109.5e6 plus the MLM head).
    pub fn parameter_tensors(&self) -> Vec<(u64, u64)> {
        let h = self.hidden;
        let kv = self.kv_heads * self.head_dim;
        let q = self.heads * self.head_dim;
        let i = self.intermediate;
        let l = self.layers;
        let b = u64::from(self.linear_bias);
        let mut t = vec![(1, self.vocab * h)];
        if self.positions == Positions::Learned {
            t.push((1, self.max_positions * h));
        }
        if self.type_vocab > 0 {
            t.push((1, self.type_vocab * h));
        }
        // Norm weights (and LayerNorm biases).
        let norm_tensors = if self.norm == Norm::LayerNorm { 2 } else { 1 };
        match self.arch {
            Arch::Llama => {
                if self.qkv_bias {
                    t.push((l, q));
                    t.push((2 * l, kv));
                }
                t.push((l, h * q));
                t.push((2 * l, h * kv));
                t.push((l, q * h));
                t.push((3 * l, h * i));
                t.push((2 * l * norm_tensors, h));
                t.push((norm_tensors, h));
            }
            Arch::Gpt2 => {
                t.push((l, h * 3 * h));
                t.push((l, 3 * h * b));
                t.push((l, h * h));
                t.push((l * b + 2 * l * norm_tensors + norm_tensors, h));
                t.push((l, h * i));
                t.push((l, i * b));
                t.push((l, i * h));
                t.push((l, h * b));
            }
            Arch::Bert => {
                // Embedding LayerNorm, per layer q/k/v/o, intermediate, output, two LayerNorms.
                t.push((norm_tensors, h));
                t.push((4 * l, h * h));
                t.push((4 * l * b, h));
                t.push((l, h * i));
                t.push((l * b, i));
                t.push((l, i * h));
                t.push((l * b, h));
                t.push((2 * l * norm_tensors, h));
                // MLM head: transform dense + bias, LayerNorm, decoder bias (decoder weight is tied).
                t.push((1, h * h));
                t.push((1 + norm_tensors, h));
                t.push((1, self.vocab));
            }
        }
        if !self.tied_embeddings {
            t.push((1, self.vocab * h));
        }
        t.retain(|&(n, e)| n > 0 && e > 0);
        t
    }

    /// Total parameters.
    pub fn parameters(&self) -> u64 {
        self.parameter_tensors().iter().map(|(n, e)| n * e).sum()
    }
}

/// What one step of the workload does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// One forward pass over `batch x seq` prompt tokens, then the first token is picked and read back.
    Prefill,
    /// One new token per sequence against a KV cache of `seq` tokens, picked and read back.
    Decode,
    /// Forward, loss, backward and an AdamW step over `batch x seq` tokens; the loss is read back.
    Train,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Phase::Prefill, Phase::Decode, Phase::Train];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Prefill => "prefill",
            Phase::Decode => "decode",
            Phase::Train => "train",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Element type of weights and activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dtype {
    Bf16,
    Fp16,
}

impl Dtype {
    pub const ALL: [Dtype; 2] = [Dtype::Bf16, Dtype::Fp16];

    pub fn bytes(self) -> u64 {
        2
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Dtype::Bf16 => "bf16",
            Dtype::Fp16 => "fp16",
        }
    }

    /// The C++ type PyTorch kernel names carry (`c10::BFloat16`).
    pub fn c10(self) -> &'static str {
        match self {
            Dtype::Bf16 => "c10::BFloat16",
            Dtype::Fp16 => "c10::Half",
        }
    }

    /// The CUTLASS type flash-attention kernel names carry.
    pub fn cutlass(self) -> &'static str {
        match self {
            Dtype::Bf16 => "cutlass::bfloat16_t",
            Dtype::Fp16 => "cutlass::half_t",
        }
    }

    pub fn parse(s: &str) -> Result<Dtype, WorkloadError> {
        Dtype::ALL.into_iter().find(|d| d.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| WorkloadError::UnknownDtype {
            given: s.to_string(),
            valid: Dtype::ALL.iter().map(|d| d.as_str()).collect(),
        })
    }
}

/// A model and a phase: what `--workload llama-3.2-1b:decode` names.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WorkloadSpec {
    pub model: &'static ModelConfig,
    pub phase: Phase,
    pub dtype: Dtype,
    /// The `transformers` / PyTorch release whose code paths the lowering follows.
    pub stack: Stack,
}

/// Device memory of one step, in bytes ([`WorkloadSpec::memory_estimate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryEstimate {
    pub weights: u64,
    /// Gradients and optimizer states (training).
    pub optimizer: u64,
    pub kv_cache: u64,
    pub activations: u64,
}

impl MemoryEstimate {
    pub fn total(&self) -> u64 {
        self.weights + self.optimizer + self.kv_cache + self.activations
    }
}

impl WorkloadSpec {
    /// Parses `MODEL:PHASE` (`llama-3.2-1b:decode`); the phase defaults to decode
    /// for decoders and prefill for encoders. Errors list the valid choices.
    pub fn parse(s: &str, dtype: Dtype) -> Result<WorkloadSpec, WorkloadError> {
        let (model, phase) = match s.split_once(':') {
            Some((m, p)) => (m.trim(), Some(p.trim())),
            None => (s.trim(), None),
        };
        let model = ModelConfig::by_id(model)?;
        let phase = match phase {
            None => model.phases.iter().copied().find(|&p| p == Phase::Decode).unwrap_or(model.phases[0]),
            Some(p) => {
                let parsed = Phase::ALL.into_iter().find(|x| x.as_str().eq_ignore_ascii_case(p));
                match parsed {
                    Some(x) if model.phases.contains(&x) => x,
                    _ => {
                        return Err(WorkloadError::UnknownPhase {
                            model: model.id,
                            given: p.to_string(),
                            valid: model.phases.iter().map(|p| p.as_str()).collect(),
                        });
                    }
                }
            }
        };
        Ok(WorkloadSpec { model, phase, dtype, stack: Stack::default() })
    }

    /// Every valid `MODEL:PHASE` name.
    pub fn all_names() -> Vec<String> {
        MODELS.iter().flat_map(|m| m.phases.iter().map(move |p| format!("{}:{}", m.id, p.as_str()))).collect()
    }

    /// The same workload lowered for `stack`.
    pub fn with_stack(self, stack: Stack) -> WorkloadSpec {
        WorkloadSpec { stack, ..self }
    }

    /// `llama-3.2-1b:decode`.
    pub fn name(&self) -> String {
        format!("{}:{}", self.model.id, self.phase.as_str())
    }

    /// Default `--seq`: a short prompt for prefill (128), a KV cache of 1024
    /// for decode (half the position limit where that is less), and 512-token
    /// sequences for decoder training (BERT: 128, as in GLUE fine-tuning).
    pub fn default_seq(&self) -> u64 {
        let m = self.model;
        match self.phase {
            Phase::Decode => 1024.min(m.max_positions / 2),
            Phase::Prefill => 128.min(m.max_positions),
            Phase::Train if m.arch == Arch::Bert => 128.min(m.max_positions),
            Phase::Train => 512.min(m.max_positions),
        }
    }

    /// What throughput counts: samples for the encoder, tokens otherwise.
    pub fn throughput_unit(&self) -> &'static str {
        if self.model.arch == Arch::Bert { "samples/s" } else { "tokens/s" }
    }

    /// Units of work one step completes at `batch` x `seq`, in [`Self::throughput_unit`].
    pub fn work_per_step(&self, shape: Shape) -> u64 {
        if self.model.arch == Arch::Bert {
            return shape.batch;
        }
        match self.phase {
            Phase::Decode => shape.batch,
            Phase::Prefill | Phase::Train => shape.batch * shape.seq,
        }
    }

    /// Device memory one step needs at `shape`, roughly: weights; for
    /// training, gradients and the two AdamW states (kept in the weights'
    /// dtype, as `run_workload.py` does) and the activations saved for the
    /// backward pass; for inference, the KV cache and one layer's working set.
    /// A model for telling which points cannot fit (docs/simulator.md), not a
    /// prediction of PyTorch's allocator.
    pub fn memory_estimate(&self, shape: Shape) -> MemoryEstimate {
        let m = self.model;
        let b = self.dtype.bytes();
        let tokens = shape.batch * shape.seq;
        let kv_dim = m.kv_heads * m.head_dim;
        let weights = m.parameters() * b;
        // Per token per layer: the tensors a decoder layer keeps for backward
        // (norm inputs, q/k/v, attention output, MLP inputs and activations).
        let per_token_layer = (6 * m.hidden + 2 * kv_dim + 4 * m.intermediate) * b;
        let (optimizer, activations, kv_cache) = match self.phase {
            Phase::Train => {
                // Logits in the dtype and their fp32 copy for the loss.
                let logits = tokens * m.vocab * (b + 4);
                (3 * weights, tokens * per_token_layer * m.layers + logits, 0)
            }
            Phase::Prefill | Phase::Decode => {
                let new_tokens = if self.phase == Phase::Decode { shape.batch } else { tokens };
                let cache_len = if m.arch == Arch::Bert { 0 } else { shape.seq + 1 };
                // One layer's working set, and the last position's logits in fp32.
                (
                    0,
                    new_tokens * per_token_layer + shape.batch * m.vocab * 4,
                    2 * m.layers * kv_dim * b * shape.batch * cache_len,
                )
            }
        };
        MemoryEstimate { weights, optimizer, kv_cache, activations }
    }

    /// Checks a shape against the model's limits.
    pub fn check_shape(&self, shape: Shape) -> Result<(), WorkloadError> {
        if shape.batch == 0 {
            return Err(WorkloadError::BadShape("batch size must be at least 1".into()));
        }
        if shape.seq == 0 {
            return Err(WorkloadError::BadShape("--seq must be at least 1".into()));
        }
        // Decode appends one token to a cache of `seq`.
        let longest = if self.phase == Phase::Decode { shape.seq + 1 } else { shape.seq };
        if longest > self.model.max_positions {
            return Err(WorkloadError::BadShape(format!(
                "{} handles at most {} positions; --seq {} {} too long",
                self.model.id,
                self.model.max_positions,
                shape.seq,
                if self.phase == Phase::Decode { "(plus the decoded token) is" } else { "is" }
            )));
        }
        Ok(())
    }
}

/// Batch size and sequence length of one sweep point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Shape {
    pub batch: u64,
    /// Prompt length (prefill, train) or KV-cache length (decode).
    pub seq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_counts_match_published_sizes() {
        // Llama-3.2-1B: 1.23581e9 (tied). GPT-2: 124.44e6. BERT-base encoder
        // 109.48e6 + MLM head transform 0.59e6 + decoder bias 30522.
        let llama = LLAMA_3_2_1B.parameters() as f64;
        assert!((llama - 1.2358e9).abs() / 1.2358e9 < 0.001, "{llama}");
        let gpt2 = GPT2.parameters() as f64;
        assert!((gpt2 - 124.44e6).abs() / 124.44e6 < 0.001, "{gpt2}");
        let bert = BERT_BASE.parameters() as f64;
        let want = 109.48e6 - 768.0 * 768.0 - 768.0 + 768.0 * 768.0 + 768.0 * 3.0 + 30522.0;
        assert!((bert - want).abs() / want < 0.002, "{bert} vs {want}");
    }

    #[test]
    fn workload_names_parse_and_errors_list_choices() {
        let w = WorkloadSpec::parse("llama-3.2-1b:decode", Dtype::Bf16).map_err(|e| e.to_string());
        assert_eq!(w.map(|w| w.name()), Ok("llama-3.2-1b:decode".to_string()));
        let e = WorkloadSpec::parse("llama-7b:decode", Dtype::Bf16).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("llama-3.2-1b") && e.contains("gpt2") && e.contains("bert-base"), "{e}");
        let e = WorkloadSpec::parse("bert-base:decode", Dtype::Bf16).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("prefill") && e.contains("train") && e.contains("decode"), "{e}");
        assert_eq!(WorkloadSpec::parse("bert-base", Dtype::Bf16).map(|w| w.phase).ok(), Some(Phase::Prefill));
        let too_long = WorkloadSpec::parse("gpt2:prefill", Dtype::Bf16)
            .map(|w| w.check_shape(Shape { batch: 1, seq: 2048 }).is_err())
            .unwrap_or(false);
        assert!(too_long);
    }
}
