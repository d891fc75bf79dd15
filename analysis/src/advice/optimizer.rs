//! The optimizer update as one piece of advice: a `foreach` optimizer step
//! (`_multi_tensor_adamw`: one `_foreach_*` op per update term, each
//! launching `multi_tensor_apply` kernels over all parameters) against the
//! fused implementation (`torch.optim.AdamW(fused=True)`: one op, one group
//! of multi-tensor launches). Its launches all belong to framework ops of
//! their own, so no kernel chain finds it; the estimate follows the same two
//! paths as a fusion (docs/metrics.md section 5).

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use boundscope_trace::Trace;

use super::{Issuers, optimizer_around, saving_parts};
use crate::launches::LaunchTable;
use crate::window::WindowMetrics;

/// A `foreach` optimizer step and what its fused form would save.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerAdvice {
    /// The optimizer's class when an `Optimizer.step#<Name>.step` range names
    /// it, else "the optimizer".
    pub optimizer: String,
    /// Judged windows (steps) that run the update.
    pub steps: u64,
    /// `_foreach_*` ops that launch kernels, and their launches, per step (median).
    pub ops_per_step: u64,
    pub launches_per_step: u64,
    /// Host time the fused step removes (from the first update op's start to
    /// the last one's end, the Python between them included, less the op
    /// with the most launches, which the fused op is taken to cost), median
    /// per step.
    pub host_removed_per_step_ns: f64,
    /// Launch-bound GPU idle from the update's first kernel to the end of the
    /// step (or the next sync), median per step: how much removed host time
    /// the GPU would have waited for.
    pub host_room_per_step_ns: f64,
    /// GPU time removed (median per step): the update kernels' time less the
    /// fused kernels', taken as 7/4 of the `addcdiv` term's (the fused AdamW
    /// kernel reads four arrays and writes three; `addcdiv` reads three and
    /// writes one); 0 without an `addcdiv` term.
    pub gpu_removed_per_step_ns: f64,
    /// The estimate, median per step: host time up to the room, then GPU time.
    pub saving_per_step_ns: f64,
    pub remedy: String,
    pub basis: String,
}

/// Per judged window, the update's figures.
#[derive(Debug, Default, Clone, Copy)]
struct Step {
    ops: u64,
    launches: u64,
    host_ns: i64,
    /// Host time of the op with the most launches (the fused op's stand-in).
    kept_ns: i64,
    kept_launches: u64,
    kernel_ns: i64,
    addcdiv_ns: i64,
    first_kernel: i64,
    thread_first: Option<(boundscope_trace::ThreadIdx, i64)>,
    /// From the first update op's start to the last one's end: the ops and
    /// the Python between them.
    span: (i64, i64),
}

/// The optimizer advice, when at least one judged window runs two or more
/// kernel-launching `_foreach_*` ops.
pub(super) fn optimizer_advice(
    trace: &Trace,
    l: &LaunchTable,
    windows: &[WindowMetrics],
    issuers: &Issuers,
) -> Option<OptimizerAdvice> {
    let a = &trace.activities;
    let api = &trace.api;
    let h = &trace.host_ops;
    let foreach: Vec<bool> = h.name.iter().map(|&n| trace.str(n).contains("_foreach_")).collect();
    if !foreach.iter().any(|&f| f) {
        return None;
    }
    let mut starts: Vec<(i64, i64, usize)> =
        windows.iter().enumerate().map(|(i, w)| (w.start_ns, w.end_ns, i)).collect();
    starts.sort_unstable();
    let window_of = |t: i64| -> Option<usize> {
        let k = starts.partition_point(|w| w.0 <= t).checked_sub(1)?;
        (t < starts[k].1).then_some(starts[k].2)
    };
    // Kernel time and first kernel start per update op.
    let mut per_op: FxHashMap<u32, (i64, i64)> = FxHashMap::default();
    for r in 0..l.len() {
        let Some(o) = issuers.op.get(r).copied().flatten() else { continue };
        if !foreach[o as usize] {
            continue;
        }
        let i = l.activity[r] as usize;
        let e = per_op.entry(o).or_insert((0, i64::MAX));
        e.0 += a.dur_ns(i).max(0);
        e.1 = e.1.min(a.start_ns[i]);
    }
    let mut steps: Vec<Step> = vec![Step::default(); windows.len()];
    for (&o, &(kernel_ns, first)) in &per_op {
        let Some(w) = window_of(h.start_ns[o as usize]) else { continue };
        let s = &mut steps[w];
        let launches = u64::from(issuers.launches.get(&o).copied().unwrap_or(0));
        let host = h.end_ns[o as usize] - h.start_ns[o as usize];
        if s.ops == 0 {
            s.span = (h.start_ns[o as usize], h.end_ns[o as usize]);
        }
        s.span = (s.span.0.min(h.start_ns[o as usize]), s.span.1.max(h.end_ns[o as usize]));
        s.ops += 1;
        s.launches += launches;
        s.host_ns += host;
        s.kernel_ns += kernel_ns;
        if trace.str(h.name[o as usize]).contains("addcdiv") {
            s.addcdiv_ns += kernel_ns;
        }
        if launches > s.kept_launches {
            (s.kept_launches, s.kept_ns) = (launches, host);
        }
        if s.first_kernel == 0 || first < s.first_kernel {
            s.first_kernel = first;
            s.thread_first = Some((h.thread[o as usize], h.start_ns[o as usize]));
        }
    }
    // Launch-bound idle per device row, for the room after the update's first kernel.
    let blocking: Vec<(i64, i64)> = {
        let mut v: Vec<(i64, i64)> =
            (0..api.len()).filter(|&i| api.kind[i].is_blocking()).map(|i| (api.end_ns[i], api.start_ns[i])).collect();
        v.sort_unstable();
        v
    };
    let mut lb: Vec<(i64, i64)> = (0..l.len())
        .filter(|&r| !l.graph_internal[r])
        .map(|r| {
            let idle = if l.host_wait[r] { l.gap_before_ns[r] } else { l.exposed_launch_ns[r] };
            (a.start_ns[l.activity[r] as usize], idle.max(0))
        })
        .collect();
    lb.sort_unstable();
    let mut sum = Vec::with_capacity(lb.len() + 1);
    sum.push(0i64);
    for x in &lb {
        sum.push(sum[sum.len() - 1] + x.1);
    }
    // (room, slack): launch-bound idle from `from` to the next sync or
    // `to`, and how long the host waits in that sync.
    let room = |from: i64, to: i64| -> (i64, i64) {
        let k = blocking.partition_point(|b| b.0 <= from);
        let (end, slack) = match blocking.get(k) {
            Some(&(e, s)) if e <= to => (e, e - s),
            _ => (to, 0),
        };
        let i = lb.partition_point(|x| x.0 < from);
        let j = lb.partition_point(|x| x.0 < end);
        (if j > i { sum[j] - sum[i] } else { 0 }, slack)
    };
    let mut figures: Vec<(Step, i64, (i64, i64), i64)> = Vec::new();
    let mut name = None;
    for (w, s) in steps.iter().enumerate() {
        if s.ops < 2 || s.launches == 0 {
            continue;
        }
        // The update ops and the Python between them go; one op stays.
        let host = (s.span.1 - s.span.0 - s.kept_ns).max(s.host_ns - s.kept_ns).max(0);
        let gpu = if s.addcdiv_ns > 0 { (s.kernel_ns - s.addcdiv_ns * 7 / 4).max(0) } else { 0 };
        let r = room(s.first_kernel, windows[w].end_ns);
        if name.is_none() {
            name = s.thread_first.and_then(|(th, t)| optimizer_around(trace, th, t));
        }
        figures.push((*s, host, r, gpu));
    }
    if figures.is_empty() {
        return None;
    }
    let median = |mut v: Vec<i64>| -> f64 {
        v.sort_unstable();
        v[v.len() / 2] as f64
    };
    let saving = |&(_, host, (room, slack), gpu): &(Step, i64, (i64, i64), i64)| -> i64 {
        let (hp, gp) = saving_parts(host, room, gpu, slack);
        hp + gp
    };
    let opt = name.unwrap_or_else(|| "the optimizer".to_string());
    let class = if opt == "the optimizer" { "AdamW".to_string() } else { opt.clone() };
    let ops = median(figures.iter().map(|f| f.0.ops as i64).collect()) as u64;
    let launches = median(figures.iter().map(|f| f.0.launches as i64).collect()) as u64;
    let host = median(figures.iter().map(|f| f.1).collect());
    let room_m = median(figures.iter().map(|f| f.2.0).collect());
    let gpu = median(figures.iter().map(|f| f.3).collect());
    let save = median(figures.iter().map(saving).collect());
    let us = |ns: f64| format!("{:.1} us", ns / 1e3);
    Some(OptimizerAdvice {
        optimizer: opt.clone(),
        steps: figures.len() as u64,
        ops_per_step: ops,
        launches_per_step: launches,
        host_removed_per_step_ns: host,
        host_room_per_step_ns: room_m,
        gpu_removed_per_step_ns: gpu,
        saving_per_step_ns: save,
        remedy: format!(
            "`torch.optim.{class}(..., fused=True)`: the whole update in one op launching one group of multi-tensor \
             kernels per step"
        ),
        basis: format!(
            "in {} step{}, {opt}'s update runs as {ops} `_foreach_*` ops launching {launches} kernels; fused, one op \
             remains (taken to cost what the op with the most launches costs), removing {} of host time per step (the \
             ops and the Python between them), of \
             which the GPU would have waited for up to {} (launch-bound idle from the update's first kernel to the \
             step's end or next sync), and {} of GPU time (the update kernels' time less 7/4 of the `addcdiv` \
             term's: the fused kernel reads four arrays and writes three, `addcdiv` reads three and writes one). \
             Saving: the host time the GPU waited for, and the GPU time beyond the waits left, up to the host's \
             slack (its wait in the step's closing sync): {} per step (median)",
            figures.len(),
            if figures.len() == 1 { "" } else { "s" },
            us(host),
            us(room_m),
            us(gpu),
            us(save),
        ),
    })
}
