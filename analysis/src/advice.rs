//! Advice (docs/metrics.md section 5): kernel chains worth fusing, named for
//! the framework ops that issue them, with a remedy and an estimated saving
//! whose model is stated; and whether CUDA graphs would pay off, with what
//! the estimate assumes and why a graph would not apply. Batch-size advice
//! needs a sweep and lives with the sweep rules.
//!
//! Savings are counted where they shorten a step: in CPU-bound windows,
//! fusing removes launches and the host dispatch of the ops that issue them;
//! in GPU-bound windows it can remove at most the chain's intermediate memory
//! traffic, which is reported as a bound and not counted.

mod classify;
mod optimizer;
mod patterns;

pub use classify::{KernelClass, classify, classify_kernel};
pub use optimizer::OptimizerAdvice;
pub use patterns::{ChainKind, can_extend, name_chain};

use boundscope_trace::{ActivityKind, ApiKind, HostOpKind, ThreadIdx, Trace};
use rustc_hash::{FxHashMap, FxHasher};
use serde::{Deserialize, Serialize};
use std::hash::Hasher;

use crate::launches::LaunchTable;
use crate::window::{Bound, WindowMetrics};

/// Knobs of the advice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdviceSpec {
    /// Smallest proximity score of a fusion candidate (`--min-ps`).
    pub min_ps: f64,
    /// Longest chain considered: chains grow while their proximity score
    /// holds; this only bounds the work on pathological traces.
    pub max_chain: usize,
    /// Fusion candidates reported.
    pub top: usize,
    /// Cost of one graph launch, subtracted from a CUDA-graph saving.
    pub graph_launch_ns: i64,
}

impl Default for AdviceSpec {
    fn default() -> Self {
        AdviceSpec { min_ps: 0.9, max_chain: 256, top: 5, graph_launch_ns: 2_500 }
    }
}

/// A chain of kernels that (almost) always follow each other on one stream
/// and that one fused kernel could replace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FusionCandidate {
    /// Kernel names in launch order.
    pub kernels: Vec<String>,
    /// The class of each kernel (same order).
    pub classes: Vec<KernelClass>,
    /// The framework op issuing each kernel (the outermost `cpu_op` around
    /// the one its launch's External id names), when known.
    pub ops: Vec<Option<String>>,
    /// What the fused kernel would be.
    pub kind: ChainKind,
    /// The pattern recognized from the op sequence, else the kind, then the ops.
    pub pattern: String,
    /// What to do, concrete for the pattern.
    pub remedy: String,
    pub device: u32,
    pub stream: u32,
    /// Times the chain occurs (whole trace).
    pub occurrences: u64,
    /// Launches of its first kernel on that stream.
    pub head_launches: u64,
    /// Proximity score: occurrences / head launches (1.0: the head is always followed by the chain).
    pub ps: f64,
    /// Occurrences inside CPU-bound windows that share no launch with a
    /// higher-ranked suggestion.
    pub cpu_bound_occurrences: u64,
    /// Launch calls one fusion removes (kernels - 1).
    pub launches_removed: u64,
    /// Host time one occurrence's fusion removes, as measured (mean over the
    /// counted occurrences, before the cap).
    pub host_removed_per_occurrence_ns: f64,
    /// GPU idle time inside the chain (gaps before its 2nd..Lth kernels), mean per counted occurrence.
    pub gpu_idle_per_occurrence_ns: f64,
    /// Launch-bound GPU idle time from the chain's second kernel to the end
    /// of its window, mean per counted occurrence: how much of the removed
    /// host time the GPU would otherwise have waited for.
    pub host_room_per_occurrence_ns: f64,
    /// GPU time one fusion removes (estimated from the kernel times), mean
    /// per counted occurrence.
    pub gpu_removed_per_occurrence_ns: f64,
    /// The estimated saving, mean per counted occurrence.
    pub saving_per_occurrence_ns: f64,
    /// Summed over the counted occurrences (those in judged windows), capped
    /// per window (docs/metrics.md section 5).
    pub total_saving_ns: i64,
    /// The part of `total_saving_ns` on the host path (host time the GPU
    /// waited for); the rest is GPU time removed.
    pub host_path_saving_ns: i64,
    /// total saving / IL of the judged windows.
    pub saving_frac: f64,
    /// Occurrences inside GPU-bound windows (not claimed by a higher-ranked suggestion).
    pub gpu_bound_occurrences: u64,
    /// Occurrences counted in the saving: those inside judged windows.
    pub counted_occurrences: u64,
    /// One sentence: the model behind the saving and what it rests on.
    pub basis: String,
    /// Framework op that issues the chain's first kernel, when known (`ops[0]`).
    pub host_op: Option<String>,
}

/// Whether capturing a step into a CUDA graph would pay off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphAdvice {
    /// The qualifying steps: consecutive, CPU-bound, launching the identical
    /// kernel sequence with the same grid sizes, no host sync between their
    /// first and last launch.
    pub steps: Vec<i64>,
    pub kernels_per_step: u64,
    /// Median exposed launch time of those steps.
    pub exposed_launch_per_step_ns: f64,
    /// The estimate: median launch-bound idle time (host wait included) less
    /// one graph launch, since replaying a captured step removes the host's
    /// dispatch of it along with its launches.
    pub saving_per_step_ns: f64,
    /// saving / median IL of those steps.
    pub saving_frac: f64,
    /// Exposed launch time less one graph launch: what goes if only the
    /// launch latency goes and the host's dispatch work stays.
    pub lower_bound_per_step_ns: f64,
    /// One sentence: what the estimate assumes and which steps qualify.
    pub basis: String,
    /// What could keep a graph from paying off as estimated.
    pub caveats: Vec<String>,
}

/// All advice for one trace.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Advice {
    pub fusion: Vec<FusionCandidate>,
    pub cuda_graphs: Option<GraphAdvice>,
    /// A `foreach` optimizer update and its fused form.
    pub optimizer: Option<OptimizerAdvice>,
    /// Why some advice was not given, and what no suggestion covers.
    pub notes: Vec<String>,
}

impl Advice {
    /// No suggestion and no note: nothing to show.
    pub fn is_empty(&self) -> bool {
        self.fusion.is_empty() && self.cuda_graphs.is_none() && self.optimizer.is_none() && self.notes.is_empty()
    }
}

/// A stream, as (device, stream).
type StreamKey = (u32, u32);

/// Computes the advice from a trace, its launch table and its judged windows
/// (the steps, or the whole trace when there are none).
pub fn advise(trace: &Trace, l: &LaunchTable, windows: &[WindowMetrics], spec: &AdviceSpec) -> Advice {
    if windows.iter().all(|w| w.verdict.bound == Bound::NoGpuWork) {
        // One window without a step number is the whole trace (`analyze`);
        // several are the time windows a live view judges.
        let what = if windows.iter().any(|w| w.step.is_some()) {
            "no step runs a kernel"
        } else if windows.len() > 1 {
            "no window judged runs a kernel"
        } else {
            "the trace runs no kernel"
        };
        return Advice {
            fusion: Vec::new(),
            cuda_graphs: None,
            optimizer: None,
            notes: vec![format!("no GPU work: {what}, so there is no launch advice (fusion, CUDA graphs)")],
        };
    }
    let mut notes = Vec::new();
    if !windows.iter().any(|w| w.verdict.bound == Bound::CpuBound) {
        notes.push(
            "no CPU-bound window: launch overhead is hidden behind GPU work, so CUDA graphs would not shorten it and \
             fusion only by the GPU time it removes"
                .into(),
        );
    }
    let issuers = Issuers::new(trace, l);
    let room = HostRoom::new(trace, l);
    let fusion = fusion_candidates(trace, l, windows, &issuers, &room, spec, &mut notes);
    let cuda_graphs = graph_advice(trace, l, windows, &issuers, spec, &mut notes);
    let optimizer = optimizer::optimizer_advice(trace, l, windows, &issuers, &room);
    Advice { fusion, cuda_graphs, optimizer, notes }
}

/// The room the host path has (docs/metrics.md section 5): the launch-bound
/// GPU idle time on each device (the gap before an activity when it began
/// before the host started the launch call, else its exposed launch
/// latency), by activity start with prefix sums, and the blocking calls
/// (where the host waits for the GPU, and the room ends). Built once for the
/// fusion and optimizer estimates.
struct HostRoom {
    idle: FxHashMap<u32, (Vec<i64>, Vec<i64>)>,
    /// Blocking calls as (start, end), by start.
    syncs: Vec<(i64, i64)>,
}

impl HostRoom {
    fn new(trace: &Trace, l: &LaunchTable) -> HostRoom {
        let (a, api) = (&trace.activities, &trace.api);
        let mut by_dev: FxHashMap<u32, Vec<(i64, i64)>> = FxHashMap::default();
        for r in 0..l.len() {
            if l.graph_internal[r] {
                continue;
            }
            let i = l.activity[r] as usize;
            let idle = if l.host_wait[r] { l.gap_before_ns[r] } else { l.exposed_launch_ns[r] };
            by_dev.entry(a.device[i]).or_default().push((a.start_ns[i], idle.max(0)));
        }
        let idle = by_dev
            .into_iter()
            .map(|(d, mut v)| {
                v.sort_unstable();
                let starts = v.iter().map(|x| x.0).collect();
                let mut sum = Vec::with_capacity(v.len() + 1);
                sum.push(0i64);
                for x in &v {
                    sum.push(sum[sum.len() - 1] + x.1);
                }
                (d, (starts, sum))
            })
            .collect();
        let mut syncs: Vec<(i64, i64)> =
            (0..api.len()).filter(|&i| api.kind[i].is_blocking()).map(|i| (api.start_ns[i], api.end_ns[i])).collect();
        syncs.sort_unstable();
        HostRoom { idle, syncs }
    }

    /// Whether a blocking call starts after `t0` and before `t1`.
    fn sync_between(&self, t0: i64, t1: i64) -> bool {
        let i = self.syncs.partition_point(|s| s.0 <= t0);
        i < self.syncs.len() && self.syncs[i].0 < t1
    }

    /// (room, slack, end) on `device`: the launch-bound idle from `from` to
    /// `end`, where the host next blocks on the GPU after `after` (its last
    /// launch), or `to` when that comes first; and how long the host waits in
    /// that blocking call (0 when `to` comes first).
    fn room(&self, device: u32, from: i64, after: i64, to: i64) -> (i64, i64, i64) {
        let k = self.syncs.partition_point(|s| s.0 <= after);
        let (end, slack) = match self.syncs.get(k) {
            Some(&(s, e)) if e <= to => (e, e - s),
            _ => (to, 0),
        };
        let idle = self.idle.get(&device).map_or(0, |(starts, sum)| {
            let i = starts.partition_point(|&t| t < from);
            let j = starts.partition_point(|&t| t < end);
            if j > i { sum[j] - sum[i] } else { 0 }
        });
        (idle, slack, end)
    }
}

/// Which framework op issues each launch: the outermost `Operator` host op
/// around the op that the launch call's External id names (else, without an
/// External id, around the launch call on its thread).
struct Issuers {
    /// Per launch-table row (None: unknown, or graph-internal).
    op: Vec<Option<u32>>,
    /// Launch rows (graph-internal ones excluded) per op.
    launches: FxHashMap<u32, u32>,
    /// Outermost operators per thread, by start.
    roots: FxHashMap<ThreadIdx, Vec<u32>>,
    has_ops: bool,
}

impl Issuers {
    fn new(trace: &Trace, l: &LaunchTable) -> Issuers {
        let h = &trace.host_ops;
        let api = &trace.api;
        let mut per_thread: FxHashMap<ThreadIdx, Vec<u32>> = FxHashMap::default();
        for i in 0..h.len() {
            if h.kind[i] == HostOpKind::Operator {
                per_thread.entry(h.thread[i]).or_default().push(i as u32);
            }
        }
        let mut root = vec![u32::MAX; h.len()];
        let mut roots: FxHashMap<ThreadIdx, Vec<u32>> = FxHashMap::default();
        for (t, mut v) in per_thread {
            v.sort_by_key(|&i| (h.start_ns[i as usize], std::cmp::Reverse(h.end_ns[i as usize])));
            let mut stack: Vec<u32> = Vec::new();
            let mut rs = Vec::new();
            for i in v {
                let (s, e) = (h.start_ns[i as usize], h.end_ns[i as usize]);
                while let Some(&top) = stack.last() {
                    if h.start_ns[top as usize] <= s && h.end_ns[top as usize] >= e {
                        break;
                    }
                    stack.pop();
                }
                let r = stack.first().map_or(i, |&b| root[b as usize]);
                root[i as usize] = r;
                if r == i {
                    rs.push(i);
                }
                stack.push(i);
            }
            roots.insert(t, rs);
        }
        // Only the External ids that launch calls carry are looked up: index
        // those (a training trace has millions of ops, a fraction of which launch).
        let mut by_ext: FxHashMap<u64, u32> = FxHashMap::default();
        for r in 0..l.len() {
            let x = api.external_id[l.api[r] as usize];
            if x != 0 && !l.graph_internal[r] {
                by_ext.insert(x, u32::MAX);
            }
        }
        for i in 0..h.len() {
            if h.kind[i] == HostOpKind::Operator
                && h.external_id[i] != 0
                && let Some(slot) = by_ext.get_mut(&h.external_id[i])
                && *slot == u32::MAX
            {
                *slot = root[i];
            }
        }
        by_ext.retain(|_, v| *v != u32::MAX);
        let mut op = Vec::with_capacity(l.len());
        let mut launches: FxHashMap<u32, u32> = FxHashMap::default();
        for r in 0..l.len() {
            if l.graph_internal[r] {
                op.push(None);
                continue;
            }
            let c = l.api[r] as usize;
            let found = by_ext.get(&api.external_id[c]).copied().or_else(|| {
                let rs = roots.get(&api.thread[c])?;
                let t = api.start_ns[c];
                let k = rs.partition_point(|&i| h.start_ns[i as usize] <= t).checked_sub(1)?;
                (h.end_ns[rs[k] as usize] >= t).then_some(rs[k])
            });
            if let Some(o) = found {
                *launches.entry(o).or_default() += 1;
            }
            op.push(found);
        }
        Issuers { op, launches, roots, has_ops: !root.is_empty() && root.iter().any(|&r| r != u32::MAX) }
    }
}

/// One occurrence of a chain and what fusing it would change.
#[derive(Debug, Clone, Copy)]
struct Occ {
    /// Position of its first launch in the launch-ordered rows.
    pos: u32,
    /// Judged window holding its first kernel's start.
    window: Option<u32>,
    bound: Option<Bound>,
    /// Host time fusing removes (measured, before the cap).
    host_ns: i64,
    /// Framework ops whose dispatch goes.
    ops_removed: u32,
    /// GPU idle time before the 2nd..Lth kernels.
    gaps_ns: i64,
    /// Launch-bound GPU idle on the device from the 2nd kernel's start to
    /// the window's end: the room the host path has.
    room_ns: i64,
    /// GPU time fusing removes (estimated from kernel times).
    gpu_ns: i64,
    /// Host slack: how long the host waits in the sync that ends the room
    /// (0 when the window ends first).
    slack_ns: i64,
    /// Device, start of the 2nd kernel and end of the room: the occurrences
    /// of one (device, end) share the room after them.
    device: u32,
    from_ns: i64,
    room_end_ns: i64,
}

impl Occ {
    /// The saving on the host path and on the GPU path (model of
    /// docs/metrics.md section 5).
    fn parts(&self) -> (i64, i64) {
        if self.window.is_none() {
            return (0, 0);
        }
        saving_parts(self.host_ns, self.room_ns, self.gpu_ns, self.slack_ns)
    }
}

/// What removing `host` of host time and `gpu` of GPU time from one point
/// of a step saves, on the host path and on the GPU path, when the GPU still
/// waits `room` on the host after that point and the host then waits `slack`
/// on the GPU (in the sync that ends the step): the host time counts as far
/// as the GPU waited for it; the GPU time counts once it exceeds the waits
/// left, and until the GPU would catch up with the host (the host's slack
/// plus the host time removed beyond the waits).
pub(crate) fn saving_parts(host: i64, room: i64, gpu: i64, slack: i64) -> (i64, i64) {
    let (h, room, g, slack) = (host.max(0), room.max(0), gpu.max(0), slack.max(0));
    let host_part = h.min(room);
    let waits_left = room - host_part;
    let gpu_part = (g - waits_left).max(0).min(slack + (h - host_part));
    (host_part, gpu_part)
}

/// A chain found in the trace.
struct Chain {
    stream: StreamKey,
    len: usize,
    /// A recognized forward pattern: the GPU estimate assumes one value flowing through.
    flows: bool,
    head_launches: u64,
    occ: Vec<Occ>,
}

impl Chain {
    /// What ranks a chain: its estimated saving over the given occurrences.
    fn rank(occ: &[Occ]) -> i64 {
        occ.iter()
            .map(|o| {
                let (h, g) = o.parts();
                h + g
            })
            .sum()
    }
}

fn fusion_candidates(
    trace: &Trace,
    l: &LaunchTable,
    windows: &[WindowMetrics],
    issuers: &Issuers,
    host_room: &HostRoom,
    spec: &AdviceSpec,
    notes: &mut Vec<String>,
) -> Vec<FusionCandidate> {
    let a = &trace.activities;
    let api = &trace.api;
    let h = &trace.host_ops;
    // Kernel launches per stream, in launch order.
    let mut rows: Vec<u32> = (0..l.len() as u32)
        .filter(|&r| a.kind[l.activity[r as usize] as usize] == ActivityKind::Kernel && !l.graph_internal[r as usize])
        .collect();
    let stream_of = |r: u32| {
        let i = l.activity[r as usize] as usize;
        (a.device[i], a.stream[i])
    };
    rows.sort_by_key(|&r| (stream_of(r), api.start_ns[l.api[r as usize] as usize]));
    // Blocking calls end a chain: work after a sync cannot be fused with work before it.
    let n = rows.len();
    // Exclusive end of the segment (one stream, one launching thread, no sync
    // inside) of each position. A change of launching thread ends a chain
    // too: the forward's last kernels and the backward's first (launched by
    // the autograd engine's thread) are no one kernel anyone can write.
    let mut seg_end = vec![n as u32; n];
    let mut start = 0;
    for j in 1..=n {
        let boundary = j == n || {
            let (p, c) = (rows[j - 1], rows[j]);
            let (pc, cc) = (l.api[p as usize] as usize, l.api[c as usize] as usize);
            stream_of(p) != stream_of(c)
                || api.thread[pc] != api.thread[cc]
                || host_room.sync_between(api.start_ns[pc], api.start_ns[cc])
        };
        if boundary {
            seg_end[start..j].iter_mut().for_each(|e| *e = j as u32);
            start = j;
        }
    }
    let names: Vec<u32> = rows.iter().map(|&r| a.name[l.activity[r as usize] as usize].0).collect();
    let mut class_of: FxHashMap<u32, KernelClass> = FxHashMap::default();
    let classes: Vec<KernelClass> = names
        .iter()
        .map(|&nm| *class_of.entry(nm).or_insert_with(|| classify_kernel(trace.str(boundscope_trace::StrId(nm)))))
        .collect();
    let mut heads: FxHashMap<(StreamKey, u32), u64> = FxHashMap::default();
    for (p, &r) in rows.iter().enumerate() {
        *heads.entry((stream_of(r), names[p])).or_default() += 1;
    }

    // Chains grow one kernel at a time while they stay fusable and their
    // proximity score holds. A chain is a key interned from (its prefix's
    // key, its last kernel name): equal keys are equal name sequences.
    let mut intern: FxHashMap<(u32, u32), u32> = FxHashMap::default();
    let mut stream_ids: FxHashMap<StreamKey, u32> = FxHashMap::default();
    let mut cur: Vec<(u32, u32)> = Vec::new();
    let mut count_of: FxHashMap<u32, usize> = FxHashMap::default();
    for p in 0..n {
        let head_ok = matches!(
            classes[p],
            KernelClass::Gemm | KernelClass::Elementwise | KernelClass::Reduction | KernelClass::Copy
        );
        if head_ok && p + 1 < seg_end[p] as usize {
            let sid = {
                let next = stream_ids.len() as u32;
                *stream_ids.entry(stream_of(rows[p])).or_insert(next)
            };
            let next = intern.len() as u32;
            let k = *intern.entry((u32::MAX - sid, names[p])).or_insert(next);
            cur.push((p as u32, k));
        }
    }
    // (key, stream, len, positions, parent key)
    let mut found: Vec<(u32, StreamKey, usize, Vec<u32>, u32)> = Vec::new();
    let mut index_of: FxHashMap<u32, usize> = FxHashMap::default();
    let mut dominated: Vec<bool> = Vec::new();
    for len in 2..=spec.max_chain.max(2) {
        // Grouped by (prefix key, next name); only the chains kept get a key
        // of their own, so memory follows the chains that hold, not every
        // position's one-off extension.
        let mut groups: FxHashMap<(u32, u32), Vec<u32>> = FxHashMap::default();
        for &(p, k) in &cur {
            let q = p as usize + len - 1;
            if q >= seg_end[p as usize] as usize || !can_extend(classes[p as usize], classes[q]) {
                continue;
            }
            groups.entry((k, names[q])).or_default().push(p);
        }
        let mut groups: Vec<((u32, u32), Vec<u32>)> = groups.into_iter().collect();
        groups.sort_by_key(|g| g.1[0]);
        let mut next = Vec::new();
        for ((parent, last), ps) in groups {
            let p0 = ps[0] as usize;
            let s = stream_of(rows[p0]);
            let head = heads.get(&(s, names[p0])).copied().unwrap_or(1);
            if ps.len() < 2 || (ps.len() as f64 / head as f64) < spec.min_ps {
                continue;
            }
            let next_key = intern.len() as u32;
            let nk = *intern.entry((parent, last)).or_insert(next_key);
            // A chain whose one-longer extension occurs exactly as often is
            // never better than that extension: drop it.
            if let Some(&pi) = index_of.get(&parent)
                && count_of.get(&parent) == Some(&ps.len())
            {
                dominated[pi] = true;
                // A dominated chain is never measured: free its positions.
                found[pi].3 = Vec::new();
            }
            count_of.insert(nk, ps.len());
            index_of.insert(nk, found.len());
            dominated.push(false);
            next.extend(ps.iter().map(|&p| (p, nk)));
            found.push((nk, s, len, ps, parent));
        }
        cur = next;
        if cur.is_empty() {
            break;
        }
    }

    // Measure every occurrence of the chains kept.
    let mut starts: Vec<(i64, i64, u32)> =
        windows.iter().enumerate().map(|(i, w)| (w.start_ns, w.end_ns, i as u32)).collect();
    starts.sort_unstable();
    let window_of = |t: i64| -> Option<u32> {
        let k = starts.partition_point(|w| w.0 <= t).checked_sub(1)?;
        (t < starts[k].1).then_some(starts[k].2)
    };
    // Gradient accumulation nodes stay after a fusion (they belong to the
    // parameters, not to the chain): host time they take between the chain's
    // ops is not removed.
    let accumulate: Vec<bool> = h.name.iter().map(|&n| trace.str(n).contains("AccumulateGrad")).collect();
    let staying_between = |thread: boundscope_trace::ThreadIdx, from: i64, to: i64| -> i64 {
        let lo = h.start_ns.partition_point(|&x| x < from);
        let hi = h.start_ns.partition_point(|&x| x < to);
        (lo..hi)
            .filter(|&i| accumulate[i] && h.thread[i] == thread)
            .map(|i| h.end_ns[i].min(to) - h.start_ns[i])
            .sum::<i64>()
            .max(0)
    };
    // The shortest kernel on each device: what any kernel costs at least
    // (launch into an idle SM array and retire), which each kernel fused away
    // saves even when the fused kernel moves every member's bytes.
    let mut floor: FxHashMap<u32, i64> = FxHashMap::default();
    for &r in &rows {
        let i = l.activity[r as usize] as usize;
        let d = a.dur_ns(i).max(0);
        floor.entry(a.device[i]).and_modify(|m| *m = (*m).min(d)).or_insert(d);
    }
    let measure = |p: usize, len: usize, flows: bool| -> Occ {
        let rs = &rows[p..p + len];
        let act = |r: u32| l.activity[r as usize] as usize;
        let call = |r: u32| l.api[r as usize] as usize;
        let window = window_of(a.start_ns[act(rs[0])]);
        let bound = window.map(|w| windows[w as usize].verdict.bound);
        let gaps_ns: i64 = rs[1..].iter().map(|&r| l.gap_before_ns[r as usize]).sum();
        let durs: Vec<i64> = rs.iter().map(|&r| a.dur_ns(act(r))).collect();
        // GPU time removed: a GEMM epilogue's elementwise kernels go (their
        // reads and writes move into the GEMM). A recognized forward pattern
        // carries one value through: the fused kernel reads what the first
        // kernel reads and writes what the last one writes, taken as the
        // mean of their times (never below the shortest member), and the
        // rest, the intermediates' traffic, goes. Otherwise the dataflow is
        // unknown and only each removed kernel's floor (the device's shortest
        // kernel) is counted.
        let device = a.device[act(rs[0])];
        let gpu_ns = if classes[p] == KernelClass::Gemm {
            durs[1..].iter().sum()
        } else if flows {
            let fused = ((durs[0] + durs[len - 1]) / 2).max(durs.iter().copied().min().unwrap_or(0));
            (durs.iter().sum::<i64>() - fused).max(0)
        } else {
            (len as i64 - 1) * floor.get(&device).copied().unwrap_or(0)
        };
        // The room ends at the window's end, or where the host next blocks on
        // the GPU: work launched after a sync is not moved by host time
        // removed before it.
        let last_call = api.start_ns[call(rs[len - 1])];
        let from_ns = a.start_ns[act(rs[1])];
        let (room_ns, slack_ns, room_end_ns) =
            window.map_or((0, 0, i64::MIN), |w| host_room.room(device, from_ns, last_call, windows[w as usize].end_ns));
        // Host time removed: for kernel k >= 2, its own op's dispatch and the
        // host time since the previous kernel's op (Python, views) when the
        // op issues nothing else; only its launch call when its op also
        // issues other kernels; without ops, the host time since the
        // previous launch call ended. The first kernel's op stays: it becomes
        // the fused op.
        let mut in_chain: FxHashMap<u32, u32> = FxHashMap::default();
        for &r in rs {
            if let Some(o) = issuers.op[r as usize] {
                *in_chain.entry(o).or_default() += 1;
            }
        }
        let whole = |o: u32| issuers.launches.get(&o) == in_chain.get(&o);
        let (mut host_ns, mut ops_removed) = (0i64, 0u32);
        for k in 1..len {
            let (prev, r) = (rs[k - 1], rs[k]);
            let (po, o) = (issuers.op[prev as usize], issuers.op[r as usize]);
            let (pc, c) = (call(prev), call(r));
            let same_thread = api.thread[pc] == api.thread[c];
            let prev_end = match po {
                Some(q) if whole(q) => h.end_ns[q as usize],
                _ => api.end_ns[pc],
            };
            let removed = match o {
                Some(q) if po == Some(q) => api.end_ns[c] - api.start_ns[c],
                Some(q) if whole(q) => {
                    ops_removed += 1;
                    let (s, e) = (h.start_ns[q as usize], h.end_ns[q as usize]);
                    if same_thread && prev_end <= s {
                        e - prev_end - staying_between(api.thread[c], prev_end, s)
                    } else {
                        e - s
                    }
                }
                Some(_) => api.end_ns[c] - api.start_ns[c],
                None if same_thread && prev_end <= api.start_ns[c] => api.end_ns[c] - prev_end,
                None => api.end_ns[c] - api.start_ns[c],
            };
            host_ns += removed.max(0);
        }
        Occ {
            pos: p as u32,
            window,
            bound,
            host_ns,
            ops_removed,
            gaps_ns,
            room_ns,
            gpu_ns,
            slack_ns,
            device,
            from_ns,
            room_end_ns,
        }
    };
    // Kernels all launched by one framework operator are that operator's own
    // implementation (a LayerNorm backward's two kernels, the launches of one
    // `_foreach_*` op over disjoint tensor lists): no fusion of operators
    // reaches inside it, so it is no suggestion.
    let one_op = |p: usize, len: usize| {
        let first = issuers.op[rows[p] as usize];
        first.is_some() && rows[p..p + len].iter().all(|&r| issuers.op[r as usize] == first)
    };
    // Whether a chain's first occurrence is a recognized forward pattern (its
    // GPU estimate assumes one value flowing through it).
    let dataflow = |p: usize, len: usize| {
        let rs = &rows[p..p + len];
        let ops: Vec<Option<String>> =
            rs.iter().map(|&r| issuers.op[r as usize].map(|o| trace.str(h.name[o as usize]).to_string())).collect();
        let c = l.api[rs[0] as usize] as usize;
        let optimizer = optimizer_around(trace, api.thread[c], api.start_ns[c]);
        name_chain(&ops, &classes[p..p + len], optimizer.as_deref()).dataflow
    };
    let mut chains: Vec<Chain> = found
        .iter()
        .zip(&dominated)
        .filter(|((_, _, len, ps, _), d)| !**d && !one_op(ps[0] as usize, *len))
        .map(|((_, s, len, ps, _), _)| {
            let p0 = ps[0] as usize;
            let flows = dataflow(p0, *len);
            Chain {
                stream: *s,
                len: *len,
                flows,
                head_launches: heads.get(&(*s, names[p0])).copied().unwrap_or(0),
                occ: ps.iter().map(|&p| measure(p as usize, *len, flows)).collect(),
            }
        })
        .collect();

    // Non-overlapping selection: repeatedly take the chain whose occurrences
    // not yet claimed (no launch in a suggestion already taken, and not
    // overlapping an earlier occurrence of itself) rank highest (ties: the
    // longer chain, then the first found), and claim those launches.
    let mut claimed = vec![false; n];
    let usable = |c: &Chain, claimed: &[bool]| -> Vec<Occ> {
        let mut next_free = 0usize;
        let mut out = Vec::new();
        for o in &c.occ {
            let p = o.pos as usize;
            if p >= next_free && !claimed[p..p + c.len].iter().any(|&x| x) {
                next_free = p + c.len;
                out.push(*o);
            }
        }
        out
    };
    let mut kept: Vec<(Chain, Vec<Occ>)> = Vec::new();
    while kept.len() < spec.top {
        let mut best: Option<(usize, i64, Vec<Occ>)> = None;
        for (ci, c) in chains.iter().enumerate() {
            let occ = usable(c, &claimed);
            let rank = Chain::rank(&occ);
            let better = match &best {
                None => rank > 0,
                Some((bi, br, _)) => rank > *br || (rank == *br && c.len > chains[*bi].len),
            };
            if better {
                best = Some((ci, rank, occ));
            }
        }
        let Some((ci, _, occ)) = best else { break };
        let c = chains.remove(ci);
        for o in &occ {
            claimed[o.pos as usize..o.pos as usize + c.len].iter_mut().for_each(|x| *x = true);
        }
        kept.push((c, occ));
    }

    // The caps: in each window, all suggestions together remove at most its
    // launch-bound GPU idle time on the host path (the idle the host causes;
    // a step is never shorter than its GPU work) and at most its GPU busy
    // time on the GPU path.
    // A suggestion's occurrences share the room after them: the host time
    // removed from all its occurrences after a point shortens the step by at
    // most the launch-bound idle after that point. Taken from the latest
    // occurrence back, each gets the room its later ones left. (Each
    // suggestion is estimated as if applied alone; the per-window caps below
    // bound them together.)
    let parts: Vec<Vec<(i64, i64)>> = kept
        .iter()
        .map(|(_, occ)| {
            let mut order: Vec<usize> = (0..occ.len()).filter(|&i| occ[i].window.is_some()).collect();
            order.sort_unstable_by_key(|&i| {
                let o = &occ[i];
                (o.device, o.room_end_ns, std::cmp::Reverse(o.from_ns))
            });
            let mut out = vec![(0i64, 0i64); occ.len()];
            let (mut group, mut claimed) = (None, 0i64);
            for i in order {
                let o = occ[i];
                if group != Some((o.device, o.room_end_ns)) {
                    group = Some((o.device, o.room_end_ns));
                    claimed = 0;
                }
                let (hp, gp) = Occ { room_ns: (o.room_ns - claimed).max(0), ..o }.parts();
                claimed += hp;
                out[i] = (hp, gp);
            }
            out
        })
        .collect();
    let (mut raw_host, mut raw_gpu) = (vec![0i64; windows.len()], vec![0i64; windows.len()]);
    for (k, (_, occ)) in kept.iter().enumerate() {
        for (i, o) in occ.iter().enumerate() {
            if let Some(w) = o.window {
                let (h, g) = parts[k][i];
                raw_host[w as usize] += h;
                raw_gpu[w as usize] += g;
            }
        }
    }
    let ratio = |cap: i64, r: i64| if r > cap { cap.max(0) as f64 / r as f64 } else { 1.0 };
    let scale: Vec<(f64, f64)> = windows
        .iter()
        .enumerate()
        .map(|(i, w)| (ratio(w.launch_bound_idle_ns, raw_host[i]), ratio(w.gpu_busy_ns, raw_gpu[i])))
        .collect();
    let judged_il: i64 = windows.iter().map(|w| w.il_ns).sum();
    let launch_bound: i64 =
        windows.iter().filter(|w| w.verdict.bound == Bound::CpuBound).map(|w| w.launch_bound_idle_ns).sum();
    let mut covered_gaps = 0i64;

    let out: Vec<FusionCandidate> = kept
        .into_iter()
        .zip(parts)
        .map(|((c, occ), pk)| {
            let counted: Vec<&Occ> = occ.iter().filter(|o| o.window.is_some()).collect();
            let cpu = occ.iter().filter(|o| o.bound == Some(Bound::CpuBound)).count();
            let gpu = occ.iter().filter(|o| o.bound == Some(Bound::GpuBound)).count();
            let (mut host_part, mut gpu_part, mut raw_parts) = (0i64, 0i64, 0i64);
            for (o, &(hp, gp)) in occ.iter().zip(&pk) {
                let Some(w) = o.window else { continue };
                let (sh, sg) = scale[w as usize];
                host_part += (hp as f64 * sh).floor() as i64;
                gpu_part += (gp as f64 * sg).floor() as i64;
                raw_parts += hp + gp;
            }
            let total = host_part + gpu_part;
            let raw_total: i64 = counted.iter().map(|o| o.host_ns).sum();
            let gaps: i64 = counted.iter().map(|o| o.gaps_ns).sum();
            let room: i64 = counted.iter().map(|o| o.room_ns).sum();
            let gpu_removed: i64 = counted.iter().map(|o| o.gpu_ns).sum();
            covered_gaps += occ.iter().filter(|o| o.bound == Some(Bound::CpuBound)).map(|o| o.gaps_ns).sum::<i64>();
            let nc = counted.len().max(1) as f64;
            // The occurrence shown: the one whose op sequence is the most common.
            let op_ids = |o: &Occ| -> Vec<Option<u32>> {
                rows[o.pos as usize..o.pos as usize + c.len]
                    .iter()
                    .map(|&r| issuers.op[r as usize].map(|q| h.name[q as usize].0))
                    .collect()
            };
            let mut seqs: FxHashMap<Vec<Option<u32>>, (usize, usize)> = FxHashMap::default();
            for (k, o) in occ.iter().enumerate() {
                seqs.entry(op_ids(o)).or_insert((0, k)).0 += 1;
            }
            let shown = seqs.values().max_by_key(|&&(count, k)| (count, std::cmp::Reverse(k))).map_or(0, |&(_, k)| k);
            let first = occ.get(shown).map_or(0, |o| o.pos as usize);
            let rs = &rows[first..first + c.len];
            let op_name = |r: u32| issuers.op[r as usize].map(|o| trace.str(h.name[o as usize]).to_string());
            let ops: Vec<Option<String>> = rs.iter().map(|&r| op_name(r)).collect();
            let cls: Vec<KernelClass> = classes[first..first + c.len].to_vec();
            let optimizer = optimizer_around(
                trace,
                api.thread[l.api[rs[0] as usize] as usize],
                api.start_ns[l.api[rs[0] as usize] as usize],
            );
            let named = name_chain(&ops, &cls, optimizer.as_deref());
            let kind = ChainKind::of(&cls);
            let ops_removed = counted.first().map_or(0, |o| o.ops_removed);
            let basis = if counted.is_empty() {
                "no occurrence inside a judged window, so no saving is counted".to_string()
            } else {
                let mut b = format!(
                    "in {} occurrence{} ({cpu} in CPU-bound windows, {gpu} in GPU-bound ones), fusing {} kernels into \
                     one removes {} launch call{} and the host dispatch of {} op{}: {} of host time per occurrence, \
                     measured from the trace (those ops, their launch calls and the host time between them; the \
                     first op stays), of which the GPU would have waited for up to {} (launch-bound GPU idle from \
                     the chain's second kernel to the end of its window or the next sync, shared with the later \
                     occurrences; {} inside the chain); and \
                     about {} of GPU time ({}). Saving: the host time the GPU waited for, and the GPU time beyond the \
                     waits left, up to the host's slack: {} host + {} GPU per occurrence",
                    counted.len(),
                    plural(counted.len()),
                    c.len,
                    c.len - 1,
                    plural(c.len - 1),
                    ops_removed,
                    plural(ops_removed as usize),
                    fmt_us(raw_total as f64 / nc),
                    fmt_us(room as f64 / nc),
                    fmt_us(gaps as f64 / nc),
                    fmt_us(gpu_removed as f64 / nc),
                    if kind == ChainKind::GemmEpilogue {
                        "the epilogue kernels' time: their reads and writes move into the GEMM"
                    } else if c.flows {
                        "the members' kernel time less the mean of the first and last kernels': the fused kernel \
                         reads what the first reads and writes what the last writes"
                    } else {
                        "the floor of each kernel fused away, the device's shortest kernel: what flows between \
                         these kernels is not known, so no intermediate traffic is counted"
                    },
                    fmt_us(host_part as f64 / nc),
                    fmt_us(gpu_part as f64 / nc),
                );
                if total < raw_parts {
                    b.push_str(&format!(
                        "; capped at the windows' launch-bound GPU idle (host path) and busy (GPU path) time ({:.0}% kept)",
                        100.0 * total as f64 / raw_parts.max(1) as f64
                    ));
                }
                b
            };
            let (device, stream) = c.stream;
            let occurrences = c.occ.len() as u64;
            FusionCandidate {
                kernels: rs.iter().map(|&r| trace.str(a.name[l.activity[r as usize] as usize]).to_string()).collect(),
                classes: cls,
                host_op: ops[0].clone(),
                ops,
                kind,
                pattern: named.pattern,
                remedy: named.remedy,
                device,
                stream,
                occurrences,
                head_launches: c.head_launches,
                ps: occurrences as f64 / c.head_launches.max(1) as f64,
                cpu_bound_occurrences: cpu as u64,
                launches_removed: c.len as u64 - 1,
                host_removed_per_occurrence_ns: raw_total as f64 / nc,
                gpu_idle_per_occurrence_ns: gaps as f64 / nc,
                host_room_per_occurrence_ns: room as f64 / nc,
                gpu_removed_per_occurrence_ns: gpu_removed as f64 / nc,
                saving_per_occurrence_ns: total as f64 / nc,
                total_saving_ns: total,
                host_path_saving_ns: host_part,
                saving_frac: if judged_il > 0 { total as f64 / judged_il as f64 } else { 0.0 },
                gpu_bound_occurrences: gpu as u64,
                counted_occurrences: counted.len() as u64,
                basis,
            }
        })
        .collect();
    if launch_bound > 0 && launch_bound - covered_gaps > launch_bound / 2 {
        notes.push(format!(
            "{} of the {} launch-bound GPU idle time in CPU-bound windows lies outside the suggested chains (between \
             GEMMs, attention and other kernels no fused kernel can join): CUDA graphs (`torch.cuda.graphs`, or \
             `torch.compile(mode=\"reduce-overhead\")`) remove those launches whatever the kernels",
            fmt_us((launch_bound - covered_gaps) as f64),
            fmt_us(launch_bound as f64)
        ));
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// "12.3 us", "4.56 ms".
fn fmt_us(ns: f64) -> String {
    if ns.abs() >= 1e6 { format!("{:.2} ms", ns / 1e6) } else { format!("{:.1} us", ns / 1e3) }
}

/// The optimizer whose `Optimizer.step#<Name>.step` range (PyTorch's
/// profiler annotation) encloses time `t` on `thread`.
fn optimizer_around(trace: &Trace, thread: ThreadIdx, t: i64) -> Option<String> {
    let h = &trace.host_ops;
    let hi = h.start_ns.partition_point(|&s| s <= t);
    (0..hi).rev().filter(|&i| h.thread[i] == thread && h.end_ns[i] >= t).find_map(|i| {
        let n = trace.str(h.name[i]);
        let rest = n.strip_prefix("Optimizer.step#")?;
        Some(rest.split('.').next().unwrap_or(rest).to_string())
    })
}

/// One step's launches, as the CUDA-graph advice sees them.
struct StepLaunches {
    /// Fingerprint of the kernel names in launch order, and of names and grids.
    names: u64,
    grids: u64,
    kernels: u64,
    /// Blocking calls between the first and last launch call, and the first one's name.
    syncs_inside: u64,
    first_sync: Option<String>,
    /// Longest host stretch between the first and last launch during which
    /// no launching thread is in a framework op or an API call (None without ops).
    longest_outside_ns: Option<i64>,
}

fn step_launches(trace: &Trace, l: &LaunchTable, issuers: &Issuers, w: &WindowMetrics) -> StepLaunches {
    let a = &trace.activities;
    let api = &trace.api;
    let h = &trace.host_ops;
    // Launch rows are in activity (start) order: the step is one range of them.
    let a_lo = a.start_ns.partition_point(|&s| s < w.start_ns) as u32;
    let a_hi = a.start_ns.partition_point(|&s| s < w.end_ns) as u32;
    let lo = l.activity.partition_point(|&i| i < a_lo);
    let hi = l.activity.partition_point(|&i| i < a_hi);
    let mut rows: Vec<usize> = (lo..hi).filter(|&r| a.kind[l.activity[r] as usize] == ActivityKind::Kernel).collect();
    rows.sort_by_key(|&r| api.start_ns[l.api[r] as usize]);
    let (mut hn, mut hg) = (FxHasher::default(), FxHasher::default());
    for &r in &rows {
        let i = l.activity[r] as usize;
        hn.write_u32(a.name[i].0);
        hg.write_u32(a.name[i].0);
        for g in a.grid[i] {
            hg.write_u32(g);
        }
    }
    let mut s = StepLaunches {
        names: hn.finish(),
        grids: hg.finish(),
        kernels: rows.len() as u64,
        syncs_inside: 0,
        first_sync: None,
        longest_outside_ns: None,
    };
    let (Some(&first), Some(&last)) = (rows.first(), rows.last()) else { return s };
    let (c0, c1) = (l.api[first] as usize, l.api[last] as usize);
    let (t0, t1) = (api.start_ns[c0], api.start_ns[c1]);
    let i0 = api.start_ns.partition_point(|&t| t <= t0);
    let i1 = api.start_ns.partition_point(|&t| t < t1);
    for i in i0..i1 {
        if api.kind[i].is_blocking() {
            s.syncs_inside += 1;
            s.first_sync.get_or_insert_with(|| trace.str(api.name[i]).to_string());
        }
    }
    if issuers.has_ops {
        // Every thread that launches in the step: the main thread waits in
        // `backward()` while the autograd thread launches, which is no CPU work.
        let mut threads: Vec<ThreadIdx> = rows.iter().map(|&r| api.thread[l.api[r] as usize]).collect();
        threads.sort_unstable();
        threads.dedup();
        let end = api.end_ns[c1];
        let mut iv: Vec<(i64, i64)> = threads
            .iter()
            .filter_map(|t| issuers.roots.get(t))
            .flatten()
            .map(|&o| (h.start_ns[o as usize], h.end_ns[o as usize]))
            .filter(|&(s, e)| e > t0 && s < end)
            .collect();
        let j0 = api.start_ns.partition_point(|&t| t < t0);
        let j1 = api.start_ns.partition_point(|&t| t < end);
        iv.extend((j0..j1).filter(|&j| threads.contains(&api.thread[j])).map(|j| (api.start_ns[j], api.end_ns[j])));
        iv.sort_unstable();
        let (mut reach, mut longest) = (t0, 0i64);
        for (s0, e0) in iv {
            if s0 > reach {
                longest = longest.max(s0.min(end) - reach);
            }
            reach = reach.max(e0);
            if reach >= end {
                break;
            }
        }
        longest = longest.max(end - reach.min(end));
        s.longest_outside_ns = Some(longest);
    }
    s
}

fn graph_advice(
    trace: &Trace,
    l: &LaunchTable,
    windows: &[WindowMetrics],
    issuers: &Issuers,
    spec: &AdviceSpec,
    notes: &mut Vec<String>,
) -> Option<GraphAdvice> {
    let steps: Vec<&WindowMetrics> = windows.iter().filter(|w| w.step.is_some()).collect();
    if steps.len() < 2 {
        notes.push("fewer than two steps: cannot tell whether iterations repeat, so no CUDA-graph estimate".into());
        return None;
    }
    if trace.api.kind.contains(&ApiKind::GraphLaunch) {
        notes.push("the trace already launches CUDA graphs".into());
    }
    let info: Vec<StepLaunches> = steps.iter().map(|w| step_launches(trace, l, issuers, w)).collect();
    let cpu = |i: usize| steps[i].verdict.bound == Bound::CpuBound;
    let qualifies = |i: usize| cpu(i) && info[i].kernels > 0 && info[i].syncs_inside == 0;
    // Longest run of consecutive qualifying steps with the same kernels and grids.
    let mut best: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < steps.len() {
        let mut j = i;
        while qualifies(i) && j + 1 < steps.len() && qualifies(j + 1) && info[j + 1].grids == info[i].grids {
            j += 1;
        }
        if j > i && best.is_none_or(|(bi, bj)| j - i > bj - bi) {
            best = Some((i, j));
        }
        i = j + 1;
    }
    // Why steps do not qualify or differ: dynamic shapes, syncs inside.
    let mut reasons = Vec::new();
    let n_cpu = (0..steps.len()).filter(|&i| cpu(i)).count();
    let synced: Vec<usize> = (0..steps.len()).filter(|&i| cpu(i) && info[i].syncs_inside > 0).collect();
    if let Some(&k) = synced.first() {
        reasons.push(format!(
            "{} of {} CPU-bound steps block the host between their first and last launch (step {}: {} call{}, {}): \
             a CUDA graph cannot hold a host sync; capture the stretches between syncs, or remove the sync \
             (`.item()`, `.cpu()`, printing a tensor)",
            synced.len(),
            n_cpu,
            steps[k].step.unwrap_or(0),
            info[k].syncs_inside,
            plural(info[k].syncs_inside as usize),
            info[k].first_sync.as_deref().unwrap_or("sync")
        ));
    }
    let pairs: Vec<usize> = (0..steps.len().saturating_sub(1)).filter(|&i| cpu(i) && cpu(i + 1)).collect();
    if let Some(&k) = pairs.iter().find(|&&k| info[k].names != info[k + 1].names) {
        reasons.push(format!(
            "consecutive CPU-bound steps launch different kernel sequences (step {}: {} kernels, step {}: {}): \
             dynamic shapes or data-dependent control flow; a graph replays one fixed sequence (pad to a few fixed \
             shapes and capture one graph per shape)",
            steps[k].step.unwrap_or(0),
            info[k].kernels,
            steps[k + 1].step.unwrap_or(0),
            info[k + 1].kernels
        ));
    } else if let Some(&k) = pairs.iter().find(|&&k| info[k].grids != info[k + 1].grids) {
        reasons.push(format!(
            "steps {} and {} launch the same kernels with different grid sizes: dynamic shapes; a graph replays \
             fixed launch configurations (pad inputs to a few fixed shapes and capture one graph per shape)",
            steps[k].step.unwrap_or(0),
            steps[k + 1].step.unwrap_or(0)
        ));
    }
    let Some((i, j)) = best else {
        notes.push(
            "no two consecutive CPU-bound steps launch the same kernel sequence: a CUDA graph would need re-capture"
                .into(),
        );
        notes.extend(reasons);
        return None;
    };
    let run = &steps[i..=j];
    let med = |f: &dyn Fn(&WindowMetrics) -> f64| {
        crate::stats::median_f64(&mut run.iter().map(|w| f(w)).collect::<Vec<_>>()).unwrap_or(0.0)
    };
    let g = spec.graph_launch_ns as f64;
    let exposed = med(&|w| w.exposed_launch_ns as f64);
    let lower = (exposed - g).max(0.0);
    let saving = (med(&|w| w.launch_bound_idle_ns as f64) - g).max(lower);
    let il = med(&|w| w.il_ns as f64);
    let (first, last) = (run[0].step.unwrap_or(0), run[run.len() - 1].step.unwrap_or(0));
    let basis = format!(
        "assumes the host dispatch of the captured step (framework ops and launch calls) disappears and one graph \
         launch ({}) remains: the step shrinks by its launch-bound idle time less that launch, {} per step; \
         if only the launch latency went, by the exposed launch time less one graph launch, {}. Steps {first}..{last} \
         qualify: consecutive, CPU-bound, the same {} kernels with the same grid sizes, no host sync between the \
         first and last launch",
        fmt_us(g),
        fmt_us(saving),
        fmt_us(lower),
        info[i].kernels
    );
    let mut caveats = reasons;
    let mut outside: Vec<f64> = (i..=j).filter_map(|k| info[k].longest_outside_ns).map(|x| x as f64).collect();
    if let Some(o) = crate::stats::median_f64(&mut outside)
        && il > 0.0
        && o > 0.1 * il
    {
        caveats.push(format!(
            "CPU work between launches: the launching threads spend up to {} at a stretch outside framework ops \
             between two launches ({:.0}% of the step): a graph replays GPU work only, so that host work stays, and \
             if it decides what to launch the step cannot be captured whole",
            fmt_us(o),
            100.0 * o / il
        ));
    }
    Some(GraphAdvice {
        steps: run.iter().filter_map(|w| w.step).collect(),
        kernels_per_step: info[i].kernels,
        exposed_launch_per_step_ns: exposed,
        saving_per_step_ns: saving,
        saving_frac: if il > 0.0 { saving / il } else { 0.0 },
        lower_bound_per_step_ns: lower,
        basis,
        caveats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launches::build_launch_table;
    use crate::queue::stream_depths;
    use crate::window::{WindowContext, WindowSpec};
    use boundscope_trace::{ActivityIn, ApiCallIn, Diagnostics, HostOpIn, TraceBuilder};

    const STEP: i64 = 100_000;

    /// A `ProfilerStep#n` range on pid 1, tid 1.
    pub(crate) fn step_range(b: &mut TraceBuilder, n: i64, start_ns: i64, end_ns: i64) {
        b.host_op(HostOpIn {
            kind: HostOpKind::Annotation,
            name: &format!("ProfilerStep#{n}"),
            pid: 1,
            tid: 1,
            start_ns,
            end_ns,
            external_id: 0,
        });
    }

    /// One `cudaLaunchKernel` on pid 1, thread `tid`, over `call`, with
    /// `(correlation, external id)`, and its kernel `name` on device 0 stream 7 over `run`.
    pub(crate) fn launch(
        b: &mut TraceBuilder,
        tid: i64,
        call: (i64, i64),
        ids: (u64, u64),
        name: &str,
        run: (i64, i64),
    ) {
        b.api_call(ApiCallIn {
            name: "cudaLaunchKernel",
            pid: 1,
            tid,
            start_ns: call.0,
            end_ns: call.1,
            correlation: ids.0,
            external_id: ids.1,
        });
        let mut a = ActivityIn::new(ActivityKind::Kernel, name, 0, 7, run.0, run.1);
        a.correlation = ids.0;
        b.gpu_activity(a);
    }

    /// Kernel names for the tests: a GEMM, an attention kernel, a LayerNorm,
    /// a gather (other), or else an elementwise kernel named after the letter.
    fn kname(s: &str) -> String {
        match s {
            g if g.starts_with("GEMM") => format!("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_{g}_cublas"),
            "FLASH" => "void pytorch_flash::flash_fwd_kernel<>(pytorch_flash::Flash_fwd_params)".into(),
            "NORM" => "void at::native::(anonymous namespace)::vectorized_layer_norm_kernel<float, float>()".into(),
            "IDX" => "void at::native::(anonymous namespace)::indexSelectLargeIndex<>()".into(),
            x => format!("vectorized_elementwise_kernel<{x}>"),
        }
    }

    fn knames(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| kname(s)).collect()
    }

    /// One ProfilerStep per sequence, 100 us apart. Kernel k of a step is
    /// launched at 10k us (5 us calls), starts 7 us after its call and runs
    /// 1 us: the GPU idles 9 us between two kernels of a step. Each step ends
    /// with a stream synchronize, so no chain crosses steps. With `ops`, each
    /// launch runs inside its own framework op (`aten::op<k>`, 1 us before the
    /// call to its end, linked by External id): 6 us of host time per op.
    fn build(seqs: &[&[&str]], ops: bool) -> Trace {
        let mut b = TraceBuilder::new("test");
        let mut corr = 1;
        for (n, seq) in seqs.iter().enumerate() {
            let base = n as i64 * STEP;
            step_range(&mut b, n as i64, base, base + 99_000);
            for (k, name) in seq.iter().enumerate() {
                let l = base + 10_000 * k as i64 + 1_000;
                let ext = if ops { corr } else { 0 };
                if ops {
                    b.host_op(HostOpIn {
                        kind: HostOpKind::Operator,
                        name: &format!("aten::op{k}"),
                        pid: 1,
                        tid: 1,
                        start_ns: l - 1_000,
                        end_ns: l + 5_000,
                        external_id: ext,
                    });
                }
                let call = ApiCallIn {
                    name: "cudaLaunchKernel",
                    pid: 1,
                    tid: 1,
                    start_ns: l,
                    end_ns: l + 5_000,
                    correlation: corr,
                    external_id: ext,
                };
                b.api_call(call);
                let kn = kname(name);
                let mut a = ActivityIn::new(ActivityKind::Kernel, &kn, 0, 7, l + 7_000, l + 8_000);
                a.correlation = corr;
                b.gpu_activity(a);
                corr += 1;
            }
            let sync = base + 90_000;
            b.api_call(ApiCallIn {
                name: "cudaStreamSynchronize",
                pid: 1,
                tid: 1,
                start_ns: sync,
                end_ns: sync + 1_000,
                correlation: 0,
                external_id: 0,
            });
        }
        b.finish()
    }

    fn steps_trace(seqs: &[&[&str]]) -> Trace {
        build(seqs, false)
    }

    /// The judged windows (the steps, else the whole trace) and the advice.
    fn run(t: &Trace) -> (Vec<WindowMetrics>, Advice) {
        run_with(t, &AdviceSpec::default())
    }

    /// Also the optimizer advice's tests' judge (`advice/optimizer.rs`).
    pub(crate) fn run_with(t: &Trace, spec: &AdviceSpec) -> (Vec<WindowMetrics>, Advice) {
        let (l, _) = build_launch_table(t, &mut Diagnostics::default());
        let depths = stream_depths(t, &l);
        let ctx = WindowContext { trace: t, launches: &l, depths: &depths, spec: WindowSpec::default() };
        let mut windows: Vec<WindowMetrics> =
            t.steps.iter().map(|s| ctx.metrics(String::new(), Some(s.number), s.start_ns, s.end_ns)).collect();
        if windows.is_empty() {
            windows.push(ctx.metrics("trace".into(), None, i64::MIN, i64::MAX));
        }
        let advice = advise(t, &l, &windows, spec);
        (windows, advice)
    }

    #[test]
    fn chain_selection_keeps_high_ps_chains_and_drops_covered_ones() {
        // A-B-C three times, then A-Z once: A leads to B-C only 3 times of 4
        // (PS 0.75, below 0.9), B-C always (PS 1.0), A-Z once (too rare).
        let t = steps_trace(&[&["A", "B", "C"], &["A", "B", "C"], &["A", "B", "C"], &["A", "Z"]]);
        let (windows, advice) = run(&t);
        assert!(windows.iter().all(|w| w.verdict.bound == Bound::CpuBound), "{windows:?}");
        let f = &advice.fusion;
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].kernels, knames(&["B", "C"]));
        assert_eq!(f[0].classes, vec![KernelClass::Elementwise; 2]);
        assert_eq!((f[0].occurrences, f[0].head_launches, f[0].ps), (3, 3, 1.0));
        assert_eq!((f[0].cpu_bound_occurrences, f[0].launches_removed), (3, 1));
        // No framework ops: the host time removed is the host time from the
        // end of B's launch call to the end of C's (10 us); the GPU idles 9 us before C.
        assert_eq!(f[0].host_removed_per_occurrence_ns, 10_000.0);
        assert_eq!(f[0].gpu_idle_per_occurrence_ns, 9_000.0);
        assert_eq!(f[0].saving_per_occurrence_ns, 10_000.0);
        assert_eq!(f[0].total_saving_ns, 30_000);
        let cpu_il: i64 = windows.iter().map(|w| w.il_ns).sum();
        assert_eq!(f[0].saving_frac, 30_000.0 / cpu_il as f64);
        assert_eq!(f[0].ops, vec![None, None]);
        assert!(f[0].pattern.ends_with("(no framework ops in the trace)"), "{}", f[0].pattern);
        assert!(f[0].basis.contains("removes 1 launch call"), "{}", f[0].basis);

        // Four times A-B-C: the longest chain is reported, A-B and B-C are inside it.
        let abc: &[&str] = &["A", "B", "C"];
        let t = steps_trace(&[abc; 4]);
        let (_, advice) = run(&t);
        let f = &advice.fusion;
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].kernels, knames(&["A", "B", "C"]));
        assert_eq!(f[0].total_saving_ns, 4 * 20_000);
    }

    #[test]
    fn chains_grow_while_the_score_holds_and_do_not_overlap() {
        // Nine kernels per step, always in the same order: the whole run is
        // one chain (no fixed maximum length), not shifted windows of it.
        let seq: &[&str] = &["A", "B", "C", "D", "E", "F", "G", "H", "I"];
        let t = steps_trace(&[seq; 4]);
        let (windows, advice) = run(&t);
        assert!(windows.iter().all(|w| w.verdict.bound == Bound::CpuBound));
        let f = &advice.fusion;
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].kernels, knames(seq));
        assert_eq!((f[0].cpu_bound_occurrences, f[0].launches_removed), (4, 8));
        // With a bound of 4 kernels, disjoint chains of 4: A-D and E-H.
        let (_, advice) = run_with(&t, &AdviceSpec { max_chain: 4, ..AdviceSpec::default() });
        let names: Vec<Vec<String>> = advice.fusion.iter().map(|c| c.kernels.clone()).collect();
        assert_eq!(names, vec![knames(&["A", "B", "C", "D"]), knames(&["E", "F", "G", "H"])]);
        // Together they save at most the GPU idle time of the windows.
        let total: i64 = advice.fusion.iter().map(|c| c.total_saving_ns).sum();
        let idle: i64 = windows.iter().map(|w| w.gpu_idle_ns).sum();
        assert!(total <= idle, "{total} > {idle}");
    }

    #[test]
    fn chains_never_run_through_two_gemms_or_attention() {
        // BERT's layer: GEMM, add, LayerNorm, GEMM, GELU, GEMM, FLASH, GEMM, A.
        let seq: &[&str] = &["GEMM1", "add", "NORM", "GEMM2", "gelu", "IDX", "FLASH", "GEMM3", "A"];
        let t = steps_trace(&[seq; 4]);
        let (_, advice) = run(&t);
        let f = &advice.fusion;
        assert!(!f.is_empty());
        for c in f {
            let gemms = c.classes.iter().filter(|&&k| k == KernelClass::Gemm).count();
            assert!(gemms <= 1 && !c.classes.contains(&KernelClass::Attention), "{c:?}");
            assert!(!c.classes.contains(&KernelClass::Other), "{c:?}");
            // A GEMM only leads, followed by elementwise kernels (its epilogue).
            if gemms == 1 {
                assert_eq!(c.classes[0], KernelClass::Gemm);
                assert!(c.classes[1..].iter().all(|&k| k == KernelClass::Elementwise), "{c:?}");
                assert_eq!(c.kind, ChainKind::GemmEpilogue);
            }
        }
        let names: Vec<Vec<String>> = f.iter().map(|c| c.kernels.clone()).collect();
        assert!(names.contains(&knames(&["GEMM2", "gelu"])), "{names:?}");
        assert!(names.contains(&knames(&["GEMM3", "A"])), "{names:?}");
        // GEMM1 -> add and add -> LayerNorm share the add: one of them only.
        let a = names.contains(&knames(&["GEMM1", "add"]));
        assert!(a != names.contains(&knames(&["add", "NORM"])), "{names:?}");
    }

    #[test]
    fn host_dispatch_of_the_ops_is_the_saving_and_savings_are_capped() {
        // Each launch in its own op (6 us: 1 us before the call, the 5 us
        // call); ops 10 us apart. Fusing A-B-C removes ops 1 and 2 and the
        // host time since the previous op ended: (10 - 6) + 6 = 10 us each.
        let abc: &[&str] = &["A", "B", "C"];
        let t = build(&[abc; 4], true);
        let (windows, advice) = run(&t);
        let f = &advice.fusion;
        assert_eq!(f.len(), 1, "{f:?}");
        let c = &f[0];
        assert_eq!(c.ops, vec![Some("aten::op0".into()), Some("aten::op1".into()), Some("aten::op2".into())]);
        assert_eq!(c.host_op.as_deref(), Some("aten::op0"));
        assert_eq!(c.host_removed_per_occurrence_ns, 20_000.0);
        assert!(c.basis.contains("host dispatch of 2 ops"), "{}", c.basis);
        assert!(c.pattern.starts_with("elementwise run: aten::op0 -> aten::op1 -> aten::op2"), "{}", c.pattern);
        // Below the GPU idle time of each window: not capped.
        assert_eq!(c.total_saving_ns, 4 * 20_000);
        assert!(windows.iter().all(|w| w.gpu_idle_ns >= 20_000));

        // Windows whose GPU idle time is below the measured host time (as
        // when host work overlaps GPU work): the savings are scaled down so
        // that together they remove at most that idle time.
        let (l, _) = build_launch_table(&t, &mut Diagnostics::default());
        let mut small = windows.clone();
        for w in &mut small {
            w.gpu_idle_ns = 15_000;
            w.launch_bound_idle_ns = 15_000;
        }
        let advice = advise(&t, &l, &small, &AdviceSpec::default());
        let c = &advice.fusion[0];
        assert_eq!(c.host_removed_per_occurrence_ns, 20_000.0);
        // Per occurrence the GPU waited 18 us for the host after the chain's
        // first kernel (two 9 us gaps): 18 us on the host path, capped to the
        // window's 15 us of idle; the 2 us of host time beyond that would
        // let the GPU path count: 3 kernels of 1 us fused into one of 1 us.
        assert_eq!(c.host_room_per_occurrence_ns, 18_000.0);
        assert_eq!(c.gpu_removed_per_occurrence_ns, 2_000.0);
        assert_eq!(c.total_saving_ns, 4 * (15_000 + 2_000));
        assert!(c.basis.contains("capped at the windows' launch-bound GPU idle (host path)"), "{}", c.basis);
        assert!(c.basis.contains("15.0 us host + 2.0 us GPU per occurrence"), "{}", c.basis);
    }

    #[test]
    fn savings_follow_the_critical_path() {
        // (host, room, gpu, slack) -> (host part, GPU part)
        // The GPU waits longer than the host time removed: all of it counts,
        // and the GPU time removed is absorbed by the waits left.
        assert_eq!(saving_parts(10, 50, 5, 100), (10, 0));
        // GPU time beyond the waits left counts.
        assert_eq!(saving_parts(10, 12, 5, 100), (10, 3));
        // The GPU never waits: GPU time counts, up to the host's slack.
        assert_eq!(saving_parts(10, 0, 30, 100), (0, 30));
        assert_eq!(saving_parts(10, 0, 300, 100), (0, 110));
        // More host time than waits: the waits go, then the GPU time.
        assert_eq!(saving_parts(40, 10, 25, 0), (10, 25));
        assert_eq!(saving_parts(40, 10, 50, 0), (10, 30));
        // Negative inputs (clock skew) count as zero.
        assert_eq!(saving_parts(-5, -5, -5, -5), (0, 0));
    }

    #[test]
    fn cuda_graph_estimate_over_the_longest_identical_run() {
        let t = steps_trace(&[&["A", "B", "C"], &["A", "B", "C"], &["A", "B", "C"], &["A", "Z"]]);
        let (windows, advice) = run(&t);
        let g = advice.cuda_graphs.expect("graph advice");
        assert_eq!(g.steps, vec![0, 1, 2]);
        assert_eq!(g.kernels_per_step, 3);
        // Exposed per step: step 0 has no gap before A (the device's first
        // kernel): 0 + 7 + 7 us; steps 1 and 2 add A's 7 us gap inside the
        // step: 21 us. Median 21 us, minus one 2.5 us graph launch.
        let exposed: Vec<i64> = windows.iter().map(|w| w.exposed_launch_ns).collect();
        assert_eq!(exposed[..3], [14_000, 21_000, 21_000]);
        assert_eq!(g.exposed_launch_per_step_ns, 21_000.0);
        assert_eq!(g.lower_bound_per_step_ns, 18_500.0);
        // The estimate: every gap is host wait (each call starts after the
        // GPU went idle): 9 + 9 us in step 0, 8 + 9 + 9 us after; median
        // 26 us, less one graph launch. IL: step start to C's end, 29 us.
        assert_eq!(g.saving_per_step_ns, 23_500.0);
        assert_eq!(g.saving_frac, 23_500.0 / 29_000.0);
        assert!(g.basis.starts_with("assumes the host dispatch of the captured step"), "{}", g.basis);
        assert!(g.basis.contains("Steps 0..2 qualify"), "{}", g.basis);
        // Step 3 differs: named as dynamic shapes or control flow.
        assert_eq!(g.caveats.len(), 1, "{:?}", g.caveats);
        assert!(g.caveats[0].contains("step 2: 3 kernels, step 3: 2"), "{:?}", g.caveats);
    }

    #[test]
    fn differing_steps_get_no_graph_estimate() {
        let t = steps_trace(&[&["A", "B"], &["B", "A"], &["A", "B"]]);
        let (_, advice) = run(&t);
        assert!(advice.cuda_graphs.is_none());
        assert!(advice.notes.iter().any(|n| n.contains("no two consecutive CPU-bound steps")), "{:?}", advice.notes);
        assert!(
            advice.notes.iter().any(|n| n.contains("different kernel sequences") && n.contains("dynamic shapes")),
            "{:?}",
            advice.notes
        );
    }

    /// Steps of kernels A, B, C with the given grid x per step and, for the
    /// steps listed, a stream synchronize between B and C.
    fn graph_trace(grids: &[u32], synced: &[usize]) -> Trace {
        let mut b = TraceBuilder::new("test");
        let mut corr = 1;
        for (n, &g) in grids.iter().enumerate() {
            let base = n as i64 * STEP;
            step_range(&mut b, n as i64, base, base + 99_000);
            for k in 0..3i64 {
                let l = base + 10_000 * k;
                b.api_call(ApiCallIn {
                    name: "cudaLaunchKernel",
                    pid: 1,
                    tid: 1,
                    start_ns: l,
                    end_ns: l + 5_000,
                    correlation: corr,
                    external_id: 0,
                });
                let kn = kname(["A", "B", "C"][k as usize]);
                let mut a = ActivityIn::new(ActivityKind::Kernel, &kn, 0, 7, l + 7_000, l + 8_000);
                a.correlation = corr;
                a.grid = [g, 1, 1];
                b.gpu_activity(a);
                corr += 1;
            }
            if synced.contains(&n) {
                b.api_call(ApiCallIn {
                    name: "cudaStreamSynchronize",
                    pid: 1,
                    tid: 1,
                    start_ns: base + 16_000,
                    end_ns: base + 17_000,
                    correlation: 0,
                    external_id: 0,
                });
            }
        }
        b.finish()
    }

    #[test]
    fn graph_advice_names_why_steps_do_not_qualify() {
        // The same kernels with a grid that changes every step: dynamic shapes.
        let (_, advice) = run(&graph_trace(&[64, 128, 256, 512], &[]));
        assert!(advice.cuda_graphs.is_none());
        assert!(
            advice.notes.iter().any(|n| n.contains("different grid sizes") && n.contains("dynamic shapes")),
            "{:?}",
            advice.notes
        );
        // A host sync inside steps 1 and 2: only steps 3..4 qualify, the reason is named.
        let (_, advice) = run(&graph_trace(&[64; 5], &[0, 1, 2]));
        let g = advice.cuda_graphs.expect("graph advice");
        assert_eq!(g.steps, vec![3, 4]);
        assert!(
            g.caveats
                .iter()
                .any(|c| c.contains("3 of 5 CPU-bound steps block the host") && c.contains("cudaStreamSynchronize")),
            "{:?}",
            g.caveats
        );
        // Every step synchronizes inside: no estimate, the reason in the notes.
        let (_, advice) = run(&graph_trace(&[64; 3], &[0, 1, 2]));
        assert!(advice.cuda_graphs.is_none());
        assert!(advice.notes.iter().any(|n| n.contains("cannot hold a host sync")), "{:?}", advice.notes);
    }

    #[test]
    fn graph_advice_warns_of_cpu_work_between_launches() {
        // Ops cover each launch; between B and C the thread runs 60 us outside any op.
        let mut b = TraceBuilder::new("test");
        let mut corr = 1;
        for n in 0..3i64 {
            let base = n * 200_000;
            step_range(&mut b, n, base, base + 190_000);
            for (k, at) in [0i64, 10_000, 80_000].into_iter().enumerate() {
                let l = base + at;
                b.host_op(HostOpIn {
                    kind: HostOpKind::Operator,
                    name: "aten::mul",
                    pid: 1,
                    tid: 1,
                    start_ns: l,
                    end_ns: l + 6_000,
                    external_id: corr,
                });
                launch(
                    &mut b,
                    1,
                    (l + 1_000, l + 5_000),
                    (corr, corr),
                    &kname(["A", "B", "C"][k]),
                    (l + 7_000, l + 8_000),
                );
                corr += 1;
            }
        }
        let (_, advice) = run(&b.finish());
        let g = advice.cuda_graphs.expect("graph advice");
        assert!(
            g.caveats.iter().any(|c| c.starts_with("CPU work between launches") && c.contains("64.0 us")),
            "{:?}",
            g.caveats
        );
    }

    #[test]
    fn kernels_of_one_operator_are_no_suggestion() {
        // One op launches A then B every step (its own implementation, like a
        // LayerNorm backward): no fusion of operators reaches inside it.
        let mut b = TraceBuilder::new("test");
        let mut corr = 1;
        for n in 0..3i64 {
            let base = n * 200_000;
            step_range(&mut b, n, base, base + 190_000);
            let ext = 1_000 + n as u64;
            b.host_op(HostOpIn {
                kind: HostOpKind::Operator,
                name: "aten::native_layer_norm_backward",
                pid: 1,
                tid: 1,
                start_ns: base,
                end_ns: base + 30_000,
                external_id: ext,
            });
            for (k, at) in [0i64, 20_000].into_iter().enumerate() {
                let l = base + at;
                launch(&mut b, 1, (l + 1_000, l + 5_000), (corr, ext), &kname(["A", "B"][k]), (l + 7_000, l + 8_000));
                corr += 1;
            }
        }
        let (_, advice) = run(&b.finish());
        assert!(advice.fusion.is_empty(), "{:?}", advice.fusion);
    }

    #[test]
    fn a_change_of_launching_thread_ends_a_chain() {
        // A launched by the main thread, B by another (the autograd engine's):
        // always back to back on the stream, but no one kernel can hold both.
        let mut b = TraceBuilder::new("test");
        let mut corr = 1;
        for n in 0..3i64 {
            let base = n * 200_000;
            step_range(&mut b, n, base, base + 190_000);
            for (k, (tid, at)) in [(1i64, 0i64), (2, 20_000)].into_iter().enumerate() {
                let l = base + at;
                launch(&mut b, tid, (l + 1_000, l + 5_000), (corr, 0), &kname(["A", "B"][k]), (l + 7_000, l + 8_000));
                corr += 1;
            }
        }
        let (_, advice) = run(&b.finish());
        assert!(advice.fusion.is_empty(), "{:?}", advice.fusion);
    }

    #[test]
    fn gradient_accumulation_between_chain_ops_is_not_removed() {
        // Per step: aten::add launches A, an AccumulateGrad node runs 10 us,
        // then aten::mul launches B. Fusing A and B removes mul's dispatch and
        // the host time since add, but not the accumulation node, which stays.
        let mut b = TraceBuilder::new("test");
        let mut corr = 1;
        for n in 0..3i64 {
            let base = n * 200_000;
            step_range(&mut b, n, base, base + 190_000);
            b.host_op(HostOpIn {
                kind: HostOpKind::Operator,
                name: "torch::autograd::AccumulateGrad",
                pid: 1,
                tid: 1,
                start_ns: base + 7_000,
                end_ns: base + 17_000,
                external_id: 0,
            });
            for (k, (op, at)) in [("aten::add", 0i64), ("aten::mul", 20_000)].into_iter().enumerate() {
                let l = base + at;
                b.host_op(HostOpIn {
                    kind: HostOpKind::Operator,
                    name: op,
                    pid: 1,
                    tid: 1,
                    start_ns: l,
                    end_ns: l + 6_000,
                    external_id: corr,
                });
                launch(&mut b, 1, (l + 1_000, l + 5_000), (corr, corr), &kname(["A", "B"][k]), (l + 7_000, l + 8_000));
                corr += 1;
            }
        }
        let (_, advice) = run(&b.finish());
        let c = advice.fusion.first().expect("the A -> B chain");
        // mul's op ends at 26 us, add's at 6 us: 20 us, less the 10 us node.
        assert_eq!(c.host_removed_per_occurrence_ns, 10_000.0, "{c:?}");
    }

    #[test]
    fn no_gpu_work_gives_no_launch_advice() {
        let mut b = TraceBuilder::new("test");
        for n in 0..3 {
            step_range(&mut b, n, n * STEP, n * STEP + 50_000);
        }
        let (windows, advice) = run(&b.finish());
        assert_eq!(windows.len(), 3);
        assert!(windows.iter().all(|w| w.verdict.bound == Bound::NoGpuWork && w.il_ns == 50_000));
        assert!(advice.fusion.is_empty() && advice.cuda_graphs.is_none());
        assert_eq!(
            advice.notes,
            vec!["no GPU work: no step runs a kernel, so there is no launch advice (fusion, CUDA graphs)".to_string()]
        );

        // Without steps: the whole trace.
        let mut b = TraceBuilder::new("test");
        b.host_op(HostOpIn {
            kind: HostOpKind::Operator,
            name: "aten::empty",
            pid: 1,
            tid: 1,
            start_ns: 0,
            end_ns: 1_000,
            external_id: 0,
        });
        let (_, advice) = run(&b.finish());
        assert_eq!(advice.notes.len(), 1);
        assert!(advice.notes[0].starts_with("no GPU work: the trace runs no kernel"), "{:?}", advice.notes);
    }
}
