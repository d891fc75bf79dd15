//! Fitting a platform's host and launch parameters to recorded traces
//! (`boundscope calibrate`): what eager PyTorch costs on the machine that
//! recorded them, in the simulator's own terms (`docs/simulator.md`).
//!
//! From each trace, on every host thread:
//! - the **top-level operators** (`cpu_op` ranges not inside another one on
//!   the same thread), each given a host class by its name
//!   ([`host_class_of`]); an operator's dispatch cost is its duration less
//!   the launch calls inside it, which is what the simulator spends before
//!   (and between) its launches. An operator that launches nothing counts as
//!   a view (metadata only) unless it is an optimizer or autograd node;
//!   operators that wait for the GPU (a synchronizing call inside) are left out;
//! - the **launch calls**: `cudaLaunchKernel` durations give
//!   `launch.runtime_api_us`; the library launches (`cuLaunchKernel*`,
//!   `cudaLaunchKernelExC`, through which cuBLAS/cuBLASLt launch GEMMs) give
//!   `launch.driver_api_us`; `cudaMemcpyAsync` calls of device-to-host copies
//!   (no staging inside) give `launch.memcpy_api_us`;
//! - the **launch latency** from queue-free launches: kernels whose stream was
//!   idle when their launch call began, so that launch-call start to kernel
//!   start is the null-kernel latency the simulator models;
//! - the **Python overhead**: the gaps between consecutive top-level operators
//!   of the thread with the most of them (the Python thread), per operator,
//!   and summed per step where the trace has steps;
//! - **kernel durations** by class (GEMM, attention, other), as a
//!   distribution: the trace model keeps no input shapes, so FLOPs and bytes
//!   are unknown and no efficiency is fitted.
//!
//! Each parameter is the median of its observations (robust to the odd
//! preempted call); its residuals (observation less fit) are summarised by
//! their median absolute value and 90th percentile, with the number of
//! observations behind it.

use std::collections::{BTreeMap, HashMap};

use boundscope_trace::{ActivityKind, ApiKind, HostOpKind, Trace};

use crate::platform::PlatformSpec;
use crate::program::HostClass;

/// One fitted parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// Field path in a platform file (`host.gemm_us`).
    pub field: &'static str,
    /// The fitted value (median), in microseconds.
    pub value_us: f64,
    /// Observations behind it.
    pub n: usize,
    /// Median of |observation - fit|, in microseconds.
    pub mad_us: f64,
    /// 90th percentile of |observation - fit|, in microseconds.
    pub p90_abs_residual_us: f64,
    /// 10th and 90th percentile of the observations.
    pub p10_us: f64,
    pub p90_us: f64,
}

/// The duration distribution of one kernel class, in microseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelDistribution {
    pub class: &'static str,
    pub n: usize,
    pub min_us: f64,
    pub p10_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub total_us: f64,
}

/// What a set of traces says about its machine.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Calibration {
    /// Fitted parameters, in [`crate::platform::NUMERIC_FIELDS`] order.
    pub fits: Vec<Fit>,
    /// Host-op durations (less launch calls) per operator name: count and
    /// median, the evidence behind the class fits, most frequent first.
    pub ops: Vec<(String, &'static str, usize, f64)>,
    /// Top-level operators no class rule matched (name, count): not fitted.
    pub unclassified: Vec<(String, usize)>,
    /// Python time per step (sum of the gaps between operators), median, in
    /// us, and the number of steps; `None` without steps.
    pub python_per_step_us: Option<(f64, usize)>,
    pub kernels: Vec<KernelDistribution>,
    /// Launch calls seen per API name (count, median duration in us).
    pub launch_calls: Vec<(String, usize, f64)>,
}

impl Calibration {
    /// The fit of `field`, if there were observations.
    pub fn fit(&self, field: &str) -> Option<&Fit> {
        self.fits.iter().find(|f| f.field == field)
    }

    /// `base` with every fitted host and launch field replaced and its
    /// source set to `measured: <source>` (GPU and link fields stay those of
    /// the base, with the base's sources).
    pub fn apply(&self, base: &PlatformSpec, source: &str) -> PlatformSpec {
        let mut out = base.clone();
        for f in &self.fits {
            let v = f.value_us;
            let (h, l) = (&mut out.host, &mut out.launch);
            let slot = match f.field {
                "host.python_us" => &mut h.python_us,
                "host.view_us" => &mut h.view_us,
                "host.elementwise_us" => &mut h.elementwise_us,
                "host.reduction_us" => &mut h.reduction_us,
                "host.copy_us" => &mut h.copy_us,
                "host.gemm_us" => &mut h.gemm_us,
                "host.attention_us" => &mut h.attention_us,
                "host.embedding_us" => &mut h.embedding_us,
                "host.foreach_us" => &mut h.foreach_us,
                "host.autograd_us" => &mut h.autograd_us,
                "host.transfer_us" => &mut h.transfer_us,
                "launch.latency_us" => &mut l.latency_us,
                "launch.runtime_api_us" => &mut l.runtime_api_us,
                "launch.driver_api_us" => &mut l.driver_api_us,
                "launch.memcpy_api_us" => &mut l.memcpy_api_us,
                _ => continue,
            };
            *slot = round3(v);
            out.sources.insert(
                f.field.to_string(),
                format!("measured: {source} (median of {} events, |residual| median {:.2} us)", f.n, f.mad_us),
            );
        }
        out
    }
}

fn round3(v: f64) -> f64 {
    (v * 1e3).round() / 1e3
}

/// The simulator's host class of a framework operator, from its name; `None`
/// when no rule matches (the operator is reported, not fitted).
pub fn host_class_of(name: &str) -> Option<HostClass> {
    let n = name.to_ascii_lowercase();
    if n.starts_with("autograd::engine") || n.ends_with("backward0") || n.ends_with("backward1") {
        return Some(HostClass::Autograd);
    }
    if n.contains("_foreach_") || n.starts_with("optimizer.") {
        return Some(HostClass::Foreach);
    }
    if n == "torch.cuda.synchronize" {
        return Some(HostClass::Transfer);
    }
    let base = n.strip_prefix("aten::")?;
    let class = match base {
        "scaled_dot_product_attention"
        | "_scaled_dot_product_flash_attention"
        | "_scaled_dot_product_efficient_attention"
        | "_scaled_dot_product_cudnn_attention"
        | "_flash_attention_forward"
        | "_efficient_attention_forward" => HostClass::Attention,
        "linear" | "addmm" | "mm" | "bmm" | "matmul" | "baddbmm" | "addbmm" => HostClass::Gemm,
        "embedding" | "index_select" => HostClass::Embedding,
        "item" | "_local_scalar_dense" | "cpu" => HostClass::Transfer,
        "view" | "reshape" | "_reshape_alias" | "transpose" | "t" | "permute" | "slice" | "select" | "unsqueeze"
        | "squeeze" | "expand" | "expand_as" | "as_strided" | "_unsafe_view" | "split" | "split_with_sizes"
        | "chunk" | "unbind" | "narrow" | "detach" | "alias" | "flatten" | "unflatten" | "view_as" | "empty"
        | "empty_like" | "empty_strided" | "resize_" | "lift_fresh" | "numel" | "size" | "stride" => HostClass::View,
        "to" | "_to_copy" | "copy_" | "cat" | "contiguous" | "clone" | "pad" | "constant_pad_nd" | "stack" => {
            HostClass::Copy
        }
        "layer_norm" | "native_layer_norm" | "rms_norm" | "_fused_rms_norm" | "mean" | "sum" | "softmax"
        | "_softmax" | "log_softmax" | "_log_softmax" | "argmax" | "argmin" | "max" | "min" | "nll_loss"
        | "nll_loss_nd" | "cross_entropy_loss" | "var" | "var_mean" | "norm" | "linalg_vector_norm" | "cumsum"
        | "any" | "all" | "topk" => HostClass::Reduction,
        _ => HostClass::Elementwise,
    };
    Some(class)
}

/// The field of a host class.
pub fn host_field(class: HostClass) -> &'static str {
    match class {
        HostClass::View => "host.view_us",
        HostClass::Elementwise => "host.elementwise_us",
        HostClass::Reduction => "host.reduction_us",
        HostClass::Copy => "host.copy_us",
        HostClass::Gemm => "host.gemm_us",
        HostClass::Attention => "host.attention_us",
        HostClass::Embedding => "host.embedding_us",
        HostClass::Foreach => "host.foreach_us",
        HostClass::Autograd => "host.autograd_us",
        HostClass::Transfer => "host.transfer_us",
    }
}

/// Kernel class for the duration table: GEMM, attention or the rest.
fn kernel_class(name: &str) -> &'static str {
    let n = name.to_ascii_lowercase();
    if ["flash", "fmha", "attention", "attn", "sdpa"].iter().any(|k| n.contains(k)) {
        "attention"
    } else if ["gemm", "gemv", "cublas", "cutlass", "xmma", "nvjet", "matmul"].iter().any(|k| n.contains(k)) {
        "GEMM"
    } else {
        "other (memory-bound)"
    }
}

/// Launch calls of the GEMM libraries (cuBLAS, cuBLASLt) or the driver.
fn is_library_launch(name: &str) -> bool {
    name.starts_with("cuLaunchKernel") || name == "cudaLaunchKernelExC" || name == "cudaLaunchKernelExC_v11060"
}

/// Observations gathered from the traces, in ns.
#[derive(Debug, Default)]
struct Samples {
    by_field: BTreeMap<&'static str, Vec<f64>>,
    by_op: HashMap<(String, &'static str), Vec<f64>>,
    unclassified: HashMap<String, usize>,
    step_python: Vec<f64>,
    kernels: BTreeMap<&'static str, Vec<f64>>,
    calls: BTreeMap<String, Vec<f64>>,
}

impl Samples {
    fn push(&mut self, field: &'static str, ns: f64) {
        self.by_field.entry(field).or_default().push(ns);
    }
}

/// Fits the host and launch parameters to `traces` (all from one machine).
pub fn calibrate(traces: &[&Trace]) -> Calibration {
    let mut s = Samples::default();
    for t in traces {
        gather(t, &mut s);
    }
    let mut fits = Vec::new();
    for field in crate::platform::NUMERIC_FIELDS {
        if let Some(v) = s.by_field.get(field).filter(|v| !v.is_empty()) {
            fits.push(fit(field, v));
        }
    }
    let mut ops: Vec<(String, &'static str, usize, f64)> = s
        .by_op
        .into_iter()
        .map(|((name, field), mut v)| {
            let n = v.len();
            (name, field, n, quantile(&mut v, 0.5) / 1e3)
        })
        .collect();
    ops.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    let mut unclassified: Vec<(String, usize)> = s.unclassified.into_iter().collect();
    unclassified.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let python_per_step_us = if s.step_python.is_empty() {
        None
    } else {
        let n = s.step_python.len();
        Some((quantile(&mut s.step_python, 0.5) / 1e3, n))
    };
    let kernels = s
        .kernels
        .into_iter()
        .map(|(class, mut v)| {
            let total = v.iter().sum::<f64>() / 1e3;
            KernelDistribution {
                class,
                n: v.len(),
                min_us: quantile(&mut v, 0.0) / 1e3,
                p10_us: quantile(&mut v, 0.1) / 1e3,
                p50_us: quantile(&mut v, 0.5) / 1e3,
                p90_us: quantile(&mut v, 0.9) / 1e3,
                total_us: total,
            }
        })
        .collect();
    let launch_calls = s
        .calls
        .into_iter()
        .map(|(name, mut v)| {
            let n = v.len();
            (name, n, quantile(&mut v, 0.5) / 1e3)
        })
        .collect();
    Calibration { fits, ops, unclassified, python_per_step_us, kernels, launch_calls }
}

fn fit(field: &'static str, v: &[f64]) -> Fit {
    let mut v: Vec<f64> = v.iter().map(|x| x / 1e3).collect();
    let median = quantile(&mut v, 0.5);
    let mut res: Vec<f64> = v.iter().map(|x| (x - median).abs()).collect();
    Fit {
        field,
        value_us: median,
        n: v.len(),
        mad_us: quantile(&mut res, 0.5),
        p90_abs_residual_us: quantile(&mut res, 0.9),
        p10_us: quantile(&mut v, 0.1),
        p90_us: quantile(&mut v, 0.9),
    }
}

/// The `q`-quantile (nearest rank) of `v`; 0 when empty.
fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i.min(v.len() - 1)]
}

/// One top-level operator.
#[derive(Debug, Clone, Copy)]
struct TopOp {
    start: i64,
    end: i64,
    name: usize,
}

/// Host API calls per thread, by start.
fn calls_by_thread(t: &Trace) -> HashMap<u32, Vec<usize>> {
    let mut calls: HashMap<u32, Vec<usize>> = HashMap::new();
    for i in 0..t.api.start_ns.len() {
        calls.entry(t.api.thread[i].0).or_default().push(i);
    }
    for v in calls.values_mut() {
        v.sort_by_key(|&i| t.api.start_ns[i]);
    }
    calls
}

/// The top-level operators of every host thread (operators not inside
/// another one on the same thread), by thread id, each list by start.
fn top_level_ops(t: &Trace) -> BTreeMap<u32, Vec<TopOp>> {
    let mut ops_by_thread: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for i in 0..t.host_ops.start_ns.len() {
        if t.host_ops.kind[i] == HostOpKind::Operator {
            ops_by_thread.entry(t.host_ops.thread[i].0).or_default().push(i);
        }
    }
    ops_by_thread
        .into_iter()
        .map(|(th, mut idx)| {
            idx.sort_by_key(|&i| (t.host_ops.start_ns[i], std::cmp::Reverse(t.host_ops.end_ns[i])));
            let mut top: Vec<TopOp> = Vec::new();
            let mut open_end = i64::MIN;
            for i in idx {
                let (a, b) = (t.host_ops.start_ns[i], t.host_ops.end_ns[i]);
                if a < open_end {
                    continue;
                }
                open_end = b;
                top.push(TopOp { start: a, end: b, name: i });
            }
            (th, top)
        })
        .collect()
}

/// Calls of `kind` (kernel launches, or memsets, ...) inside each top-level
/// operator, summed by operator name (`aten::linear` -> 168): with
/// [`ApiKind::KernelLaunch`], the per-operator kernel counts a recorded trace
/// shows, to hold against a lowering's
/// ([`crate::Program::launches_per_operator`]). Calls outside any operator
/// are counted under `""`.
pub fn launches_per_operator(t: &Trace, kind: ApiKind) -> BTreeMap<String, u64> {
    calls_per_operator(t, kind, |_| true)
}

/// [`launches_per_operator`] per step: over the trace's steps (NVTX
/// `boundscope:step` or `ProfilerStep#N`; the whole trace when it has none),
/// divided by their number, which is returned beside it.
pub fn launches_per_operator_per_step(t: &Trace, kind: ApiKind) -> (BTreeMap<String, f64>, usize) {
    let mut steps: Vec<(i64, i64)> = t.steps.iter().map(|s| (s.start_ns, s.end_ns)).collect();
    steps.sort_unstable();
    let in_step = |at: i64| {
        steps.is_empty() || {
            let k = steps.partition_point(|s| s.0 <= at);
            k > 0 && at < steps[k - 1].1
        }
    };
    let counts = calls_per_operator(t, kind, in_step);
    let n = steps.len().max(1);
    (counts.into_iter().map(|(op, c)| (op, c as f64 / n as f64)).collect(), n)
}

/// Calls of `kind` starting where `keep` says, by top-level operator name.
fn calls_per_operator(t: &Trace, kind: ApiKind, keep: impl Fn(i64) -> bool) -> BTreeMap<String, u64> {
    let calls = calls_by_thread(t);
    let tops = top_level_ops(t);
    let mut out: BTreeMap<String, u64> = BTreeMap::new();
    for (th, calls) in &calls {
        let top = tops.get(th).map_or(&[][..], Vec::as_slice);
        // A call inside another of its kind (the driver's `cuLaunchKernel`
        // under `cudaLaunchKernelExC`) is the same launch.
        let mut outer_end = i64::MIN;
        for &c in calls {
            if t.api.kind[c] != kind {
                continue;
            }
            let at = t.api.start_ns[c];
            if at < outer_end {
                continue;
            }
            outer_end = t.api.end_ns[c];
            if !keep(at) {
                continue;
            }
            // The last operator starting at or before the call, if it covers it.
            let i = top.partition_point(|o| o.start <= at);
            let name = match i.checked_sub(1).map(|i| top[i]) {
                Some(op) if at < op.end => t.str(t.host_ops.name[op.name]),
                _ => "",
            };
            *out.entry(name.to_string()).or_default() += 1;
        }
    }
    out
}

fn gather(t: &Trace, s: &mut Samples) {
    let calls_by_thread = calls_by_thread(t);
    let mut python_thread: Option<(u32, Vec<TopOp>)> = None;
    for (th, top) in top_level_ops(t) {
        let calls = calls_by_thread.get(&th).map_or(&[][..], Vec::as_slice);
        for op in &top {
            let name = t.str(t.host_ops.name[op.name]);
            let Some(class) = host_class_of(name) else {
                *s.unclassified.entry(name.to_string()).or_default() += 1;
                continue;
            };
            let first = calls.partition_point(|&c| t.api.start_ns[c] < op.start);
            let mut launch_ns = 0i64;
            let mut launched = false;
            let mut blocking = false;
            for &c in &calls[first..] {
                if t.api.start_ns[c] >= op.end {
                    break;
                }
                let kind = t.api.kind[c];
                if kind.is_blocking() || kind == ApiKind::MemcpyAsync && class == HostClass::Transfer {
                    blocking = true;
                }
                if kind.is_launch() {
                    launched = true;
                    launch_ns += t.api.end_ns[c].min(op.end) - t.api.start_ns[c];
                }
            }
            if blocking || class == HostClass::Transfer {
                // Waits for the GPU or stages copies: not a dispatch cost.
                continue;
            }
            // An operator that enqueues nothing only touched metadata (a view,
            // dropout in eval, `to` to its own dtype): the simulator's view cost.
            let class = match class {
                HostClass::Foreach | HostClass::Autograd | HostClass::View => class,
                _ if !launched => HostClass::View,
                _ => class,
            };
            let field = host_field(class);
            let cost = (op.end - op.start - launch_ns).max(0) as f64;
            s.push(field, cost);
            s.by_op.entry((name.to_string(), field)).or_default().push(cost);
        }
        if python_thread.as_ref().is_none_or(|(_, p)| p.len() < top.len()) {
            python_thread = Some((th, top));
        }
    }
    if let Some((_, top)) = python_thread {
        python_gaps(t, &top, s);
    }
    launches(t, s);
}

/// Gaps between consecutive top-level operators of the Python thread.
fn python_gaps(t: &Trace, top: &[TopOp], s: &mut Samples) {
    let in_step = |at: i64| t.steps.iter().position(|st| st.start_ns <= at && at < st.end_ns);
    let mut per_step = vec![0.0f64; t.steps.len()];
    for w in top.windows(2) {
        let gap = (w[1].start - w[0].end) as f64;
        if gap < 0.0 {
            continue;
        }
        // Only gaps inside one step (or anywhere, without steps).
        let (a, b) = (in_step(w[0].end), in_step(w[1].start));
        if !t.steps.is_empty() && (a.is_none() || a != b) {
            continue;
        }
        s.push("host.python_us", gap);
        if let Some(i) = a {
            per_step[i] += gap;
        }
    }
    if !t.steps.is_empty() {
        s.step_python.extend(per_step);
    }
}

/// Launch-call durations, queue-free launch latencies and kernel durations.
fn launches(t: &Trace, s: &mut Samples) {
    let mut by_corr: HashMap<u64, usize> = HashMap::new();
    for i in 0..t.api.start_ns.len() {
        let kind = t.api.kind[i];
        if kind.is_launch() && t.api.correlation[i] != 0 {
            by_corr.insert(t.api.correlation[i], i);
        }
        let name = t.str(t.api.name[i]);
        if matches!(kind, ApiKind::KernelLaunch | ApiKind::GraphLaunch) {
            let dur = (t.api.end_ns[i] - t.api.start_ns[i]) as f64;
            s.calls.entry(name.to_string()).or_default().push(dur);
            if kind == ApiKind::KernelLaunch {
                let field = if is_library_launch(name) { "launch.driver_api_us" } else { "launch.runtime_api_us" };
                s.push(field, dur);
            }
        }
    }
    // Activities per (device, stream), by start.
    let mut streams: HashMap<(u32, u32), Vec<usize>> = HashMap::new();
    for i in 0..t.activities.start_ns.len() {
        streams.entry((t.activities.device[i], t.activities.stream[i])).or_default().push(i);
    }
    let mut keys: Vec<(u32, u32)> = streams.keys().copied().collect();
    keys.sort_unstable();
    for key in keys {
        let mut acts = streams.remove(&key).unwrap_or_default();
        acts.sort_by_key(|&i| t.activities.start_ns[i]);
        let mut prev_end: Option<i64> = None;
        for &a in &acts {
            let (start, end) = (t.activities.start_ns[a], t.activities.end_ns[a]);
            let kind = t.activities.kind[a];
            let name = t.str(t.activities.name[a]);
            if kind == ActivityKind::Kernel {
                s.kernels.entry(kernel_class(name)).or_default().push((end - start) as f64);
            }
            if let Some(&c) = by_corr.get(&t.activities.correlation[a]) {
                let call_start = t.api.start_ns[c];
                let queue_free = prev_end.is_some_and(|p| p <= call_start);
                if kind == ActivityKind::Kernel && t.api.kind[c] == ApiKind::KernelLaunch && queue_free {
                    s.push("launch.latency_us", (start - call_start) as f64);
                }
                if kind == ActivityKind::Memcpy && t.api.kind[c] == ApiKind::MemcpyAsync && is_device_to_host(name) {
                    s.push("launch.memcpy_api_us", (t.api.end_ns[c] - call_start) as f64);
                }
            }
            prev_end = Some(prev_end.map_or(end, |p| p.max(end)));
        }
    }
}

fn is_device_to_host(name: &str) -> bool {
    name.contains("DtoH") || name.contains("Device -> Pageable") || name.contains("Device -> Pinned")
}

/// The fit as a text table: parameter, fitted value, the base platform's
/// value, observations and residuals.
pub fn render(c: &Calibration, base: &PlatformSpec, base_id: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:>9} {:>10} {:>7} {:>9} {:>10} {:>9} {:>9}",
        "parameter", "fit (us)", base_id, "events", "|res| p50", "|res| p90", "p10", "p90"
    );
    for f in &c.fits {
        let b = base.number(f.field).map_or_else(|| "-".to_string(), |v| format!("{v:.2}"));
        let _ = writeln!(
            out,
            "{:<24} {:>9.2} {:>10} {:>7} {:>9.2} {:>10.2} {:>9.2} {:>9.2}",
            f.field, f.value_us, b, f.n, f.mad_us, f.p90_abs_residual_us, f.p10_us, f.p90_us
        );
    }
    let fitted: Vec<&str> = c.fits.iter().map(|f| f.field).collect();
    let missing: Vec<&str> = crate::platform::NUMERIC_FIELDS
        .iter()
        .copied()
        .filter(|f| (f.starts_with("host.") || f.starts_with("launch.")) && !fitted.contains(f))
        .collect();
    if !missing.is_empty() {
        let _ = writeln!(out, "not fitted (no events; the base's values kept): {}", missing.join(", "));
    }
    if let Some((us, n)) = c.python_per_step_us {
        let _ = writeln!(out, "Python between operators per step: {us:.1} us (median of {n} steps)");
    }
    let _ = writeln!(out, "\nlaunch calls:");
    for (name, n, med) in &c.launch_calls {
        let _ = writeln!(out, "  {name:<28} {n:>7} calls, median {med:.2} us");
    }
    let _ = writeln!(out, "\nkernel durations (no shapes in the trace model: distributions, no efficiency fit):");
    for k in &c.kernels {
        let _ = writeln!(
            out,
            "  {:<22} {:>7} kernels  min {:>8.2}  p10 {:>8.2}  p50 {:>8.2}  p90 {:>9.2}  total {:>10.1} us",
            k.class, k.n, k.min_us, k.p10_us, k.p50_us, k.p90_us, k.total_us
        );
    }
    let _ = writeln!(out, "\nmost frequent operators (dispatch cost less launch calls, median):");
    for (name, field, n, med) in c.ops.iter().take(12) {
        let _ = writeln!(out, "  {name:<40} {field:<20} {n:>6} x {med:>7.2} us");
    }
    if !c.unclassified.is_empty() {
        let names: Vec<String> = c.unclassified.iter().take(8).map(|(n, k)| format!("{n} ({k})")).collect();
        let _ = writeln!(out, "operators of no class (not fitted): {}", names.join(", "));
    }
    out
}
