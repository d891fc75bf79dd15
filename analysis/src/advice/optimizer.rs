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

use super::{HostRoom, Issuers, optimizer_around, saving_parts};
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
    /// Where the update runs: the stream of its first kernel, and per step
    /// the update kernels' span (first start, last end), for timelines.
    pub device: u32,
    pub stream: u32,
    pub spans_ns: Vec<[i64; 2]>,
}

/// An update op's kernels: their time, the first one's start and stream, the
/// last one's end, and the last launch call's start.
#[derive(Debug, Clone, Copy)]
struct OpKernels {
    time_ns: i64,
    first_ns: i64,
    stream: (u32, u32),
    last_end_ns: i64,
    last_call_ns: i64,
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
    first_kernel: Option<i64>,
    thread_first: Option<(boundscope_trace::ThreadIdx, i64)>,
    /// From the first update op's start to the last one's end: the ops and
    /// the Python between them.
    span: (i64, i64),
    /// The update kernels' span, and the stream of the first.
    kernels: Option<(i64, i64)>,
    stream: (u32, u32),
    /// The last update launch call's start: the room ends at the first sync after it.
    last_call: i64,
}

/// The optimizer advice, when at least one judged window runs two or more
/// kernel-launching `_foreach_*` ops.
pub(super) fn optimizer_advice(
    trace: &Trace,
    l: &LaunchTable,
    windows: &[WindowMetrics],
    issuers: &Issuers,
    host_room: &HostRoom,
) -> Option<OptimizerAdvice> {
    let a = &trace.activities;
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
    let mut per_op: FxHashMap<u32, OpKernels> = FxHashMap::default();
    for r in 0..l.len() {
        let Some(o) = issuers.op.get(r).copied().flatten() else { continue };
        if !foreach[o as usize] {
            continue;
        }
        let i = l.activity[r] as usize;
        let e = per_op.entry(o).or_insert(OpKernels {
            time_ns: 0,
            first_ns: i64::MAX,
            stream: (0, 0),
            last_end_ns: i64::MIN,
            last_call_ns: i64::MIN,
        });
        e.time_ns += a.dur_ns(i).max(0);
        if a.start_ns[i] < e.first_ns {
            (e.first_ns, e.stream) = (a.start_ns[i], (a.device[i], a.stream[i]));
        }
        e.last_end_ns = e.last_end_ns.max(a.end_ns[i]);
        e.last_call_ns = e.last_call_ns.max(trace.api.start_ns[l.api[r] as usize]);
    }
    let mut steps: Vec<Step> = vec![Step::default(); windows.len()];
    for (&o, k) in &per_op {
        let (kernel_ns, first, last) = (k.time_ns, k.first_ns, k.last_end_ns);
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
        if s.first_kernel.is_none_or(|f| first < f) {
            s.first_kernel = Some(first);
            s.thread_first = Some((h.thread[o as usize], h.start_ns[o as usize]));
            s.stream = k.stream;
        }
        s.kernels = Some(s.kernels.map_or((first, last), |(f, e)| (f.min(first), e.max(last))));
        s.last_call = s.last_call.max(k.last_call_ns);
    }
    let mut figures: Vec<(Step, i64, (i64, i64), i64)> = Vec::new();
    let mut name = None;
    for (w, s) in steps.iter().enumerate() {
        if s.ops < 2 || s.launches == 0 {
            continue;
        }
        // The update ops and the Python between them go; one op stays.
        let host = (s.span.1 - s.span.0 - s.kept_ns).max(s.host_ns - s.kept_ns).max(0);
        let gpu = if s.addcdiv_ns > 0 { (s.kernel_ns - s.addcdiv_ns * 7 / 4).max(0) } else { 0 };
        let from = s.first_kernel.unwrap_or(windows[w].start_ns);
        let (room, slack, _) = host_room.room(s.stream.0, from, s.last_call, windows[w].end_ns);
        let r = (room, slack);
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
    let (device, stream) = figures[0].0.stream;
    let spans_ns: Vec<[i64; 2]> = figures.iter().filter_map(|f| f.0.kernels).map(|(s, e)| [s, e]).collect();
    Some(OptimizerAdvice {
        device,
        stream,
        spans_ns,
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

#[cfg(test)]
mod tests {
    use crate::advice::tests::{launch, run_with, step_range};
    use crate::advice::{Advice, AdviceSpec};
    use boundscope_trace::{ApiCallIn, HostOpIn, HostOpKind, TraceBuilder};

    /// One ProfilerStep (0..1 ms) running `ops` (name, kernel count) as
    /// framework ops 20 us apart, each 10 us long with its launches inside;
    /// each kernel runs 30 us as soon as the GPU is free (so they queue),
    /// then the host syncs at 900 us until the GPU is done.
    fn step(ops: &[(&str, u32)]) -> Advice {
        let mut b = TraceBuilder::new("test");
        step_range(&mut b, 0, 0, 1_000_000);
        let (mut corr, mut gpu_free) = (1u64, 0i64);
        for (i, &(name, kernels)) in ops.iter().enumerate() {
            let start = 10_000 + 20_000 * i as i64;
            b.host_op(HostOpIn {
                kind: HostOpKind::Operator,
                name,
                pid: 1,
                tid: 1,
                start_ns: start,
                end_ns: start + 10_000,
                external_id: corr,
            });
            for k in 0..kernels {
                let call = start + 1_000 + 2_000 * i64::from(k);
                let s = gpu_free.max(call + 3_000);
                let ids = (corr, corr - u64::from(k));
                launch(&mut b, 1, (call, call + 1_000), ids, "multi_tensor_apply_kernel", (s, s + 30_000));
                gpu_free = s + 30_000;
                corr += 1;
            }
        }
        b.api_call(ApiCallIn {
            name: "cudaStreamSynchronize",
            pid: 1,
            tid: 1,
            start_ns: 900_000,
            end_ns: 950_000,
            correlation: 0,
            external_id: 0,
        });
        run_with(&b.finish(), &AdviceSpec::default()).1
    }

    #[test]
    fn a_foreach_update_is_estimated_on_both_paths() {
        let a = step(&[("aten::_foreach_mul_", 2), ("aten::_foreach_addcdiv_", 2), ("aten::_foreach_add_", 2)]);
        let u = a.optimizer.unwrap_or_else(|| panic!("no optimizer advice: {:?}", a.notes));
        assert_eq!((u.steps, u.ops_per_step, u.launches_per_step), (1, 3, 6));
        // The three ops span 10..60 us; the op kept (the first with the most
        // launches) takes 10 us: 40 us of host time goes.
        assert_eq!(u.host_removed_per_step_ns, 40_000.0);
        // Six queued 30 us kernels (180 us) less 7/4 of addcdiv's 60 us.
        assert_eq!(u.gpu_removed_per_step_ns, 75_000.0);
        // The kernels queue back to back: the GPU never waits on the host,
        // and the host waits in the sync, so the GPU time counts.
        assert_eq!(u.host_room_per_step_ns, 0.0);
        assert_eq!(u.saving_per_step_ns, 75_000.0);
        assert!(u.remedy.contains("fused=True") && u.basis.contains("3 `_foreach_*` ops"), "{u:?}");
        assert_eq!(u.optimizer, "the optimizer");
    }

    #[test]
    fn no_update_or_one_op_gives_no_optimizer_advice() {
        assert!(step(&[("aten::mul", 2), ("aten::add", 2)]).optimizer.is_none());
        assert!(step(&[("aten::_foreach_mul_", 2), ("aten::add", 2)]).optimizer.is_none());
    }
}
