//! The software stack a lowering follows: which Hugging Face `transformers`
//! release (and the PyTorch it runs on) decides the attention and cache code
//! paths, and so which kernels a step launches.
//!
//! The releases differ in three places that change the kernel sequence of the
//! reference models (the rest of the modeling code, RMSNorm, RoPE, MLPs and
//! the loss, is the same across them):
//!
//! | rule | 4.45-4.47 | 4.48-4.53 | 4.54-4.55 | 4.56 and newer |
//! |---|---|---|---|---|
//! | grouped-query attention | `repeat_kv` copies K and V to every query head before SDPA | the same | `enable_gqa=True` (no mask, torch >= 2.5) | the same |
//! | `.contiguous()` on q, k, v before SDPA | only with a mask | always (`sdpa_attention_forward`) | always | removed |
//! | first cache update (prefill) | appends the tensors (no kernel) | appends | `DynamicLayer`: `torch.cat` onto an empty tensor | the same |
//!
//! Sources, in the `transformers` tree: 4.45's
//! `models/llama/modeling_llama.py` (`LlamaSdpaAttention.forward`:
//! `repeat_kv`, then `.contiguous()` under `causal_mask is not None`) and
//! `cache_utils.py` (`DynamicCache.update` appends when the layer has no
//! cache yet); `integrations/sdpa_attention.py` from 4.48 (unconditional
//! `query.contiguous()`, `key.contiguous()`, `value.contiguous()`); pull
//! request 39412 (in 4.54: `use_gqa_in_sdpa`, `enable_gqa`); pull request
//! 39106 (in 4.54: per-layer caches whose `update` always concatenates);
//! pull request 40315 (in 4.56: the contiguous calls removed). The 4.48-4.53
//! rules are checked against a recorded trace (transformers 4.49, torch 2.6,
//! H100): `workloads/tests/real_trace_lowering.rs`.
//!
//! What follows from the rules, per layer of an eager step (`docs/workloads.md`):
//! - `repeat_kv` (query heads > KV heads): two copies that write the keys and
//!   values once per query head, and attention reads the expanded tensors;
//! - `.contiguous()`: a copy for every input whose layout is not already
//!   `[batch, heads, seq, head_dim]` (the RoPE outputs and the transposed
//!   value projection, when a step has more than one query), and then the
//!   flash output follows the query's layout, so the final
//!   `transpose(1, 2).contiguous()` copies too; without it the flash output is
//!   already `[batch, seq, heads, head_dim]` and that call moves nothing.

use std::fmt;

use serde::Serialize;

use crate::WorkloadError;

/// A `transformers` release range whose eager code paths a lowering follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
pub enum Stack {
    /// transformers 4.45-4.47 (per-model `*SdpaAttention` classes), torch 2.4-2.5.
    #[serde(rename = "transformers-4.45")]
    Transformers445,
    /// transformers 4.48-4.53 (`sdpa_attention_forward`), torch 2.5-2.7.
    #[serde(rename = "transformers-4.49")]
    Transformers449,
    /// transformers 4.54-4.55 (GQA inside SDPA, per-layer caches), torch 2.6-2.8.
    #[serde(rename = "transformers-4.54")]
    Transformers454,
    /// transformers 4.56 and newer (no contiguous copies), torch 2.8 and newer.
    #[default]
    #[serde(rename = "transformers-4.56")]
    Transformers456,
}

impl Stack {
    pub const ALL: [Stack; 4] =
        [Stack::Transformers445, Stack::Transformers449, Stack::Transformers454, Stack::Transformers456];

    /// The name users type (`--stack transformers-4.45`).
    pub fn id(self) -> &'static str {
        match self {
            Stack::Transformers445 => "transformers-4.45",
            Stack::Transformers449 => "transformers-4.49",
            Stack::Transformers454 => "transformers-4.54",
            Stack::Transformers456 => "transformers-4.56",
        }
    }

    /// The releases the stack stands for, as help texts and records print it.
    pub fn describe(self) -> &'static str {
        match self {
            Stack::Transformers445 => "transformers 4.45-4.47, torch 2.4-2.5",
            Stack::Transformers449 => "transformers 4.48-4.53, torch 2.5-2.7",
            Stack::Transformers454 => "transformers 4.54-4.55, torch 2.6-2.8",
            Stack::Transformers456 => "transformers 4.56 and newer, torch 2.8 and newer",
        }
    }

    /// K and V are expanded to every query head (`repeat_kv`) before SDPA;
    /// otherwise SDPA gets `enable_gqa=True` and reads the KV heads as they are.
    pub fn repeat_kv(self) -> bool {
        matches!(self, Stack::Transformers445 | Stack::Transformers449)
    }

    /// `sdpa_attention_forward` calls `.contiguous()` on q, k and v.
    pub fn contiguous_qkv(self) -> bool {
        matches!(self, Stack::Transformers449 | Stack::Transformers454)
    }

    /// The first cache update concatenates onto an empty tensor (two `cat`
    /// kernels per layer in prefill) rather than storing the new tensors.
    pub fn cat_on_empty_cache(self) -> bool {
        matches!(self, Stack::Transformers454 | Stack::Transformers456)
    }

    /// Parses a stack name (`transformers-4.45`), or a `transformers`
    /// release (`4.50`, `4.57.1`, `transformers-5.2.0`) as the stack that
    /// covers it; errors list the valid names.
    pub fn parse(s: &str) -> Result<Stack, WorkloadError> {
        let s = s.trim();
        let bare = s.strip_prefix("transformers-").unwrap_or(s);
        Stack::for_release(bare).ok_or_else(|| WorkloadError::UnknownStack {
            given: s.to_string(),
            valid: Stack::ALL.iter().map(|k| k.id()).collect(),
        })
    }

    /// The stack that covers a `transformers` release (`4.49.0` ->
    /// `transformers-4.49`, `5.0.0` -> `transformers-4.56`); None for a
    /// release older than 4.45 or text that is no release.
    pub fn for_release(version: &str) -> Option<Stack> {
        let mut parts = version.trim().split(['.', '+']);
        let major: u32 = parts.next()?.parse().ok()?;
        let minor: u32 = parts.next()?.chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()?;
        match (major, minor) {
            (4, 45..=47) => Some(Stack::Transformers445),
            (4, 48..=53) => Some(Stack::Transformers449),
            (4, 54..=55) => Some(Stack::Transformers454),
            (4, 56..) => Some(Stack::Transformers456),
            (5.., _) => Some(Stack::Transformers456),
            _ => None,
        }
    }
}

impl fmt::Display for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// How many parts flash attention splits the keys into for one call
/// (`num_splits_heuristic` in PyTorch's `flash_attn/flash_api.cpp`, as
/// `set_params_splitkv` calls it): none while the batch x heads x query-block
/// grid fills 80% of twice the SM count (128 threads per block); otherwise the
/// fewest splits, up to 128 and one per 256-key block (head_dim <= 64), whose
/// wave efficiency reaches 85% of the best. A split count above 1 runs the
/// split-KV kernel and a combine kernel instead of the one forward kernel.
///
/// `heads` and `queries` are as the kernel sees them: a one-query GQA call is
/// regrouped as `kv_heads` heads of `heads / kv_heads` queries.
pub fn flash_splits(batch: u64, heads: u64, queries: u64, keys: u64, head_dim: u64, sm_count: u32) -> u32 {
    let block_n: u64 = if head_dim <= 64 {
        256
    } else if head_dim <= 128 {
        128
    } else {
        64
    };
    let n_blocks = keys.div_ceil(block_n).max(1);
    let m_blocks = queries.div_ceil(64).max(1);
    let grid = batch.saturating_mul(heads).saturating_mul(m_blocks);
    let slots = 2 * u64::from(sm_count.max(1));
    if grid as f64 >= 0.8 * slots as f64 {
        return 1;
    }
    let max_splits = 128.min(slots).min(n_blocks);
    // A split count is eligible when it changes the blocks per split.
    let eligible = |s: u64| s == 1 || n_blocks.div_ceil(s) != n_blocks.div_ceil(s - 1);
    let efficiency = |s: u64| {
        let waves = (grid * s) as f64 / slots as f64;
        if waves > 0.0 { waves / waves.ceil() } else { 0.0 }
    };
    let best = (1..=max_splits).filter(|&s| eligible(s)).map(efficiency).fold(0.0, f64::max);
    (1..=max_splits).find(|&s| eligible(s) && efficiency(s) >= 0.85 * best).unwrap_or(1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_with_or_without_the_prefix() {
        for s in Stack::ALL {
            assert_eq!(Stack::parse(s.id()), Ok(s));
        }
        assert_eq!(Stack::parse("4.45"), Ok(Stack::Transformers445));
        assert_eq!(Stack::parse(" transformers-4.54 "), Ok(Stack::Transformers454));
        // A release picks the stack that covers it.
        assert_eq!(Stack::parse("4.50"), Ok(Stack::Transformers449));
        assert_eq!(Stack::parse("transformers-5.2.0"), Ok(Stack::Transformers456));
        for bad in ["4.44", "3.0", "latest", "4", ""] {
            let err = Stack::parse(bad).unwrap_err().to_string();
            assert!(err.contains("transformers-4.45") && err.contains("transformers-4.56"), "{err}");
        }
        assert_eq!(Stack::default(), Stack::Transformers456);
    }

    #[test]
    fn releases_map_to_the_stack_that_covers_them() {
        use Stack::*;
        let cases = [
            ("4.45.2", Some(Transformers445)),
            ("4.47.1", Some(Transformers445)),
            ("4.48.0", Some(Transformers449)),
            ("4.49.0", Some(Transformers449)),
            ("4.53.3", Some(Transformers449)),
            ("4.54.0", Some(Transformers454)),
            ("4.55.4", Some(Transformers454)),
            ("4.56.0", Some(Transformers456)),
            ("4.57.1", Some(Transformers456)),
            ("5.0.0", Some(Transformers456)),
            ("4.50.0.dev0", Some(Transformers449)),
            ("4.44.2", None),
            ("x.y", None),
        ];
        for (v, want) in cases {
            assert_eq!(Stack::for_release(v), want, "{v}");
        }
    }

    #[test]
    fn each_rule_changes_where_the_releases_say() {
        use Stack::*;
        let rules = |s: Stack| (s.repeat_kv(), s.contiguous_qkv(), s.cat_on_empty_cache());
        assert_eq!(rules(Transformers445), (true, false, false));
        assert_eq!(rules(Transformers449), (true, true, false));
        assert_eq!(rules(Transformers454), (false, true, true));
        assert_eq!(rules(Transformers456), (false, false, true));
    }

    #[test]
    fn flash_splits_only_when_the_grid_leaves_the_gpu_idle() {
        // Llama-3.2-1B decode with enable_gqa: 8 KV heads x 1 query block per
        // sequence on 114 SMs (228 slots, 80% = 182.4): splits up to batch 22.
        assert!(flash_splits(1, 8, 4, 1025, 64, 114) > 1);
        assert!(flash_splits(22, 8, 4, 1025, 64, 114) > 1);
        assert_eq!(flash_splits(23, 8, 4, 1025, 64, 114), 1);
        // With repeat_kv, 32 heads of one query: up to batch 5.
        assert!(flash_splits(5, 32, 1, 1025, 64, 114) > 1);
        assert_eq!(flash_splits(6, 32, 1, 1025, 64, 114), 1);
        // Batch 1, 8 heads, 1025 keys (5 blocks of 256): 8 of 228 slots; the
        // best efficiency is at 5 splits (40 / 228) and nothing smaller reaches 85% of it.
        assert_eq!(flash_splits(1, 8, 4, 1025, 64, 114), 5);
        // A short prompt has one key block: nothing to split.
        assert_eq!(flash_splits(1, 32, 128, 128, 64, 114), 1);
        // Degenerate inputs do not panic.
        assert_eq!(flash_splits(0, 0, 0, 0, 64, 0), 1);
    }
}
