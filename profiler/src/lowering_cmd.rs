//! `boundscope lowering`: the kernels one step of a reference workload
//! launches, operator by operator, as the lowering gives them for a
//! `transformers` release (docs/workloads.md), and, with `--against`, the
//! same counts in a recorded trace or run, per step, side by side: the check
//! of a lowering against a real GPU run.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::anyhow;
use boundscope_trace::{ApiKind, read_trace};
use boundscope_workloads::calibrate::launches_per_operator_per_step;
use boundscope_workloads::{Dtype, Platform, Shape, Stack, WorkloadSpec, lower};
use clap::Args;

use crate::Failure;

/// Largest batch `lowering` takes (the lowering is instant; this bounds the byte counts).
const MAX_BATCH: u64 = 65_536;

#[derive(Debug, Args)]
pub struct LoweringArgs {
    /// Workload as MODEL:PHASE (llama-3.2-1b, gpt2, bert-base; prefill, decode, train).
    #[arg(long, value_name = "MODEL:PHASE", default_value = "llama-3.2-1b:decode")]
    pub workload: String,
    /// Batch size, 1 to 65536.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub batch: u64,
    /// Prompt length (prefill, train) or KV-cache length (decode); default: the workload's.
    #[arg(long, value_name = "N")]
    pub seq: Option<u64>,
    /// Element type: bf16 or fp16.
    #[arg(long, value_name = "DTYPE", default_value = "bf16")]
    pub dtype: String,
    /// transformers release whose code paths to follow: a stack (transformers-4.45, -4.49,
    /// -4.54, -4.56) or a release number (4.50.2: the stack that covers it) [default:
    /// transformers-4.56].
    #[arg(long, value_name = "STACK")]
    pub stack: Option<String>,
    /// GPU to lower for (its SM count sets flash attention's split-KV decision; its GEMM
    /// kernel names appear in the program): a built-in simulated platform.
    #[arg(long, value_name = "sim:NAME", default_value = "sim:h100-pcie")]
    pub platform: String,
    /// A recorded trace (.json, .json.gz) or `boundscope profile` run of the same workload
    /// and shape: its kernel launches per operator per step, beside the lowering's.
    #[arg(long, value_name = "TRACE|RUN")]
    pub against: Option<PathBuf>,
}

pub fn run(args: &LoweringArgs) -> Result<(), Failure> {
    print!("{}", report(args).map_err(Failure::input)?);
    Ok(())
}

/// The report `run` prints.
fn report(args: &LoweringArgs) -> anyhow::Result<String> {
    if !(1..=MAX_BATCH).contains(&args.batch) {
        return Err(anyhow!("--batch must be from 1 to {MAX_BATCH}, got {}", args.batch));
    }
    let dtype = Dtype::parse(&args.dtype)?;
    let stack = args.stack.as_deref().map(Stack::parse).transpose()?.unwrap_or_default();
    let w = WorkloadSpec::parse(&args.workload, dtype)
        .map_err(|e| anyhow!("{e}\n  workloads: {}", WorkloadSpec::all_names().join(", ")))?
        .with_stack(stack);
    let platform = Platform::builtin(&args.platform)?;
    let shape = Shape { batch: args.batch, seq: args.seq.unwrap_or_else(|| w.default_seq()) };
    let program = lower(&w, shape, platform.target(dtype))?;
    let lowered = program.launches_per_operator();

    let mut o = String::new();
    let _ = writeln!(
        o,
        "{} batch {} seq {}, {} ({}), lowered for {} ({} SMs): {} kernels per step",
        w.name(),
        shape.batch,
        shape.seq,
        stack.id(),
        stack.describe(),
        platform.id(),
        platform.spec.gpu.sm_count,
        program.kernel_count()
    );
    let Some(path) = &args.against else {
        let _ = writeln!(o, "\n{:<64} {:>8}", "operator", "kernels");
        for (op, n) in &lowered {
            let _ = writeln!(o, "{op:<64} {n:>8}");
        }
        return Ok(o);
    };
    let trace = read_trace(path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let (recorded, steps) = launches_per_operator_per_step(&trace, ApiKind::KernelLaunch);
    if recorded.is_empty() {
        return Err(anyhow!(
            "{}: no kernel launch calls (with framework operators around them) to compare: record the run with \
             `boundscope profile` or a PyTorch profiler trace with CPU and CUDA activities",
            path.display()
        ));
    }
    let _ = writeln!(o, "against {}: {steps} step(s), kernel launches per operator per step", path.display());
    let _ = writeln!(o, "\n{:<64} {:>8} {:>10} {:>8}", "operator", "lowered", "recorded", "differ");
    let ops: BTreeSet<&String> = lowered.keys().chain(recorded.keys()).collect();
    let (mut same, mut total_rec) = (0usize, 0.0f64);
    for op in &ops {
        let l = lowered.get(*op).copied().unwrap_or(0) as f64;
        let r = recorded.get(*op).copied().unwrap_or(0.0);
        total_rec += r;
        let differ = (l - r).abs() > 1e-9;
        same += usize::from(!differ);
        let name = if op.is_empty() { "(outside any operator)" } else { op.as_str() };
        let _ = writeln!(
            o,
            "{name:<64} {l:>8} {r:>10.2} {:>8}",
            if differ { format!("{:+.2}", l - r) } else { String::new() }
        );
    }
    let _ = writeln!(
        o,
        "\n{same} of {} operators launch the same number of kernels; {} lowered against {total_rec:.2} recorded per step",
        ops.len(),
        program.kernel_count()
    );
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> LoweringArgs {
        LoweringArgs {
            workload: "llama-3.2-1b:decode".into(),
            batch: 1,
            seq: None,
            dtype: "bf16".into(),
            stack: None,
            platform: "sim:h100-pcie".into(),
            against: None,
        }
    }

    #[test]
    fn the_default_lowering_lists_its_operators() {
        let r = report(&args()).unwrap_or_else(|e| panic!("{e:#}"));
        assert!(r.contains("transformers-4.56") && r.contains("678 kernels per step"), "{r}");
        assert!(r.contains("aten::linear") && r.contains("aten::scaled_dot_product_attention"), "{r}");
        let mut a = args();
        a.stack = Some("4.46.3".into());
        let r = report(&a).unwrap_or_else(|e| panic!("{e:#}"));
        // repeat_kv: two copies per layer more.
        assert!(r.contains("transformers-4.45") && r.contains("710 kernels per step"), "{r}");
    }

    #[test]
    fn bad_input_names_the_fix() {
        let mut a = args();
        a.batch = 0;
        assert!(report(&a).is_err_and(|e| e.to_string().contains("--batch must be from 1")));
        let mut a = args();
        a.stack = Some("4.10".into());
        assert!(report(&a).is_err_and(|e| e.to_string().contains("transformers-4.45")));
        let mut a = args();
        a.platform = "sim:b300".into();
        assert!(report(&a).is_err_and(|e| e.to_string().contains("sim:h100-pcie")));
        let mut a = args();
        a.against = Some(PathBuf::from("/nonexistent/trace.json"));
        assert!(report(&a).is_err_and(|e| e.to_string().contains("/nonexistent/trace.json")));
    }
}
