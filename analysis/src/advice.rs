//! Advice (METRICS.md section 5): kernel chains worth fusing, ranked by the
//! GPU idle time they expose, and whether CUDA graphs would pay off. Batch-size
//! advice needs a sweep and lives with the sweep rules.
//!
//! Every suggestion carries its estimated saving (time and share of the
//! windows it applies to) and the evidence it rests on. Savings only count in
//! CPU-bound windows: when the GPU is the bottleneck, hiding launch latency
//! does not shorten the step.

use boundscope_trace::{ActivityKind, ApiKind, HostOpKind, StrId, Trace};
use rustc_hash::{FxHashMap, FxHashSet, FxHasher};
use serde::{Deserialize, Serialize};
use std::hash::Hasher;

use crate::launches::LaunchTable;
use crate::window::{Bound, WindowMetrics};

/// Knobs of the advice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdviceSpec {
    /// Smallest proximity score of a fusion candidate (`--min-ps`).
    pub min_ps: f64,
    /// Longest chain considered (2..=this).
    pub max_chain: usize,
    /// Fusion candidates reported.
    pub top: usize,
    /// Cost of one graph launch, subtracted from a CUDA-graph saving.
    pub graph_launch_ns: i64,
}

impl Default for AdviceSpec {
    fn default() -> Self {
        AdviceSpec { min_ps: 0.9, max_chain: 4, top: 5, graph_launch_ns: 2_500 }
    }
}

/// A chain of kernels that (almost) always follow each other on one stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FusionCandidate {
    /// Kernel names in launch order.
    pub kernels: Vec<String>,
    pub device: u32,
    pub stream: u32,
    /// Times the chain occurs (whole trace).
    pub occurrences: u64,
    /// Launches of its first kernel on that stream.
    pub head_launches: u64,
    /// Proximity score: occurrences / head launches (1.0: the head is always followed by the chain).
    pub ps: f64,
    /// Occurrences inside CPU-bound windows, where fusing saves time, that
    /// share no launch with a higher-ranked suggestion.
    pub cpu_bound_occurrences: u64,
    /// GPU idle time inside the chain (gaps before its 2nd..Lth kernels), mean per CPU-bound occurrence.
    pub saving_per_occurrence_ns: f64,
    /// Summed over the CPU-bound occurrences.
    pub total_saving_ns: i64,
    /// total saving / IL of the CPU-bound windows.
    pub saving_frac: f64,
    /// Framework op that issues the chain's first kernel (via External id), when known.
    pub host_op: Option<String>,
}

/// Whether capturing a step into a CUDA graph would pay off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphAdvice {
    /// Consecutive CPU-bound steps that launch the identical kernel sequence.
    pub steps: Vec<i64>,
    pub kernels_per_step: u64,
    /// Median exposed launch time of those steps.
    pub exposed_launch_per_step_ns: f64,
    /// exposed launch - one graph launch (the METRICS.md estimate).
    pub saving_per_step_ns: f64,
    /// saving / median IL of those steps.
    pub saving_frac: f64,
    /// Median launch-bound idle time (host wait included): what a graph could
    /// save at most, if the host's dispatch work disappears with it.
    pub upper_bound_per_step_ns: f64,
}

/// All advice for one trace.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Advice {
    pub fusion: Vec<FusionCandidate>,
    pub cuda_graphs: Option<GraphAdvice>,
    /// Why some advice was not given.
    pub notes: Vec<String>,
}

/// Chain key: up to 4 kernel names and the chain length.
type ChainKey = ([u32; 4], u8);
/// A stream, as (device, stream).
type StreamKey = (u32, u32);
/// A counted chain with its proximity score and head launches.
type Found<'a> = ((StreamKey, ChainKey), &'a ChainStats, f64, u64);

#[derive(Default)]
struct ChainStats {
    count: u64,
    cpu_count: u64,
    cpu_saving: i64,
    first_row: u32,
    /// Every occurrence, in launch order: position of its first launch in the
    /// launch-ordered rows, its saving, and whether it starts in a CPU-bound window.
    occ: Vec<Occurrence>,
}

/// One occurrence of a chain: (position of its first launch, saving, in a CPU-bound window).
type Occurrence = (u32, i64, bool);

/// A selected chain: its occurrences that no higher-ranked suggestion claimed.
struct Picked<'a> {
    found: Found<'a>,
    cpu_count: u64,
    cpu_saving: i64,
}

/// Computes the advice from a trace, its launch table and its judged windows
/// (the steps, or the whole trace when there are none).
pub fn advise(trace: &Trace, l: &LaunchTable, windows: &[WindowMetrics], spec: &AdviceSpec) -> Advice {
    if windows.iter().all(|w| w.verdict.bound == Bound::NoGpuWork) {
        let what =
            if windows.iter().any(|w| w.step.is_some()) { "no step runs a kernel" } else { "the trace runs no kernel" };
        return Advice {
            fusion: Vec::new(),
            cuda_graphs: None,
            notes: vec![format!("no GPU work: {what}, so there is no launch advice (fusion, CUDA graphs)")],
        };
    }
    let mut notes = Vec::new();
    let cpu_windows: Vec<&WindowMetrics> = windows.iter().filter(|w| w.verdict.bound == Bound::CpuBound).collect();
    if cpu_windows.is_empty() {
        notes.push("no CPU-bound window: launch overhead is hidden behind GPU work, so fusion and CUDA graphs would not shorten it".into());
    }
    let fusion = fusion_candidates(trace, l, &cpu_windows, spec);
    let cuda_graphs = graph_advice(trace, l, windows, spec, &mut notes);
    Advice { fusion, cuda_graphs, notes }
}

fn in_windows(t: i64, windows: &[&WindowMetrics]) -> bool {
    windows.iter().any(|w| t >= w.start_ns && t < w.end_ns)
}

fn fusion_candidates(
    trace: &Trace,
    l: &LaunchTable,
    cpu: &[&WindowMetrics],
    spec: &AdviceSpec,
) -> Vec<FusionCandidate> {
    let a = &trace.activities;
    let api = &trace.api;
    let max_chain = spec.max_chain.clamp(2, 4);
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
    let syncs: Vec<i64> = (0..api.len()).filter(|&i| api.kind[i].is_blocking()).map(|i| api.start_ns[i]).collect();
    let sync_between = |t0: i64, t1: i64| {
        let i = syncs.partition_point(|&s| s <= t0);
        i < syncs.len() && syncs[i] < t1
    };

    let mut heads: FxHashMap<((u32, u32), u32), u64> = FxHashMap::default();
    let mut chains: FxHashMap<((u32, u32), ChainKey), ChainStats> = FxHashMap::default();
    let mut seg_start = 0;
    for j in 0..=rows.len() {
        let boundary = j == rows.len()
            || (j > seg_start && {
                let (p, c) = (rows[j - 1], rows[j]);
                stream_of(p) != stream_of(c)
                    || sync_between(api.start_ns[l.api[p as usize] as usize], api.start_ns[l.api[c as usize] as usize])
            });
        if !boundary {
            continue;
        }
        let seg = &rows[seg_start..j];
        for (k, &r) in seg.iter().enumerate() {
            let s = stream_of(r);
            let name = a.name[l.activity[r as usize] as usize].0;
            *heads.entry((s, name)).or_default() += 1;
            let start = a.start_ns[l.activity[r as usize] as usize];
            let counts = in_windows(start, cpu);
            for len in 2..=max_chain {
                if k + len > seg.len() {
                    break;
                }
                let mut key = [u32::MAX; 4];
                let mut saving = 0i64;
                for (m, &rr) in seg[k..k + len].iter().enumerate() {
                    key[m] = a.name[l.activity[rr as usize] as usize].0;
                    if m > 0 {
                        saving += l.gap_before_ns[rr as usize];
                    }
                }
                let st = chains
                    .entry((s, (key, len as u8)))
                    .or_insert_with(|| ChainStats { first_row: r, ..Default::default() });
                st.count += 1;
                st.occ.push(((seg_start + k) as u32, saving, counts));
                if counts {
                    st.cpu_count += 1;
                    st.cpu_saving += saving;
                }
            }
        }
        seg_start = j;
    }

    let cpu_il: i64 = cpu.iter().map(|w| w.il_ns).sum();
    let mut found: Vec<Found<'_>> = chains
        .iter()
        .filter_map(|(k, st)| {
            let head = *heads.get(&(k.0, k.1.0[0]))?;
            let ps = st.count as f64 / head as f64;
            (st.count >= 2 && ps >= spec.min_ps && st.cpu_saving > 0).then_some((*k, st, ps, head))
        })
        .collect();
    found.sort_by_key(|x| x.0);
    // Non-overlapping selection: repeatedly take the chain whose occurrences
    // not yet claimed (no launch in a suggestion already taken, and not
    // overlapping an earlier occurrence of itself) save the most in CPU-bound
    // windows (ties: the longer chain, then the first key), and claim those
    // launches. No launch belongs to two suggestions, so the savings add up to
    // at most the GPU idle time inside the chains.
    let mut claimed = vec![false; rows.len()];
    let usable = |c: &Found<'_>, claimed: &[bool]| -> Vec<Occurrence> {
        let len = c.0.1.1 as usize;
        let mut next_free = 0usize;
        let mut out = Vec::new();
        for &(p, saving, cpu) in &c.1.occ {
            let p = p as usize;
            if p >= next_free && !claimed[p..p + len].iter().any(|&x| x) {
                next_free = p + len;
                out.push((p as u32, saving, cpu));
            }
        }
        out
    };
    let mut kept: Vec<Picked<'_>> = Vec::new();
    while kept.len() < spec.top {
        let mut best: Option<(usize, i64, Vec<Occurrence>)> = None;
        for (ci, c) in found.iter().enumerate() {
            let occ = usable(c, &claimed);
            let saving: i64 = occ.iter().filter(|o| o.2).map(|o| o.1).sum();
            let better = match &best {
                None => saving > 0,
                Some((bi, bs, _)) => saving > *bs || (saving == *bs && c.0.1.1 > found[*bi].0.1.1),
            };
            if better {
                best = Some((ci, saving, occ));
            }
        }
        let Some((ci, saving, occ)) = best else { break };
        let len = found[ci].0.1.1 as usize;
        for &(p, _, _) in &occ {
            claimed[p as usize..p as usize + len].iter_mut().for_each(|x| *x = true);
        }
        let cpu_count = occ.iter().filter(|o| o.2).count() as u64;
        kept.push(Picked { found: found.remove(ci), cpu_count, cpu_saving: saving });
    }
    let ext_wanted: FxHashSet<u64> = kept
        .iter()
        .map(|k| api.external_id[l.api[k.found.1.first_row as usize] as usize])
        .filter(|&e| e != 0)
        .collect();
    let mut op_of: FxHashMap<u64, StrId> = FxHashMap::default();
    let h = &trace.host_ops;
    for i in 0..h.len() {
        if h.kind[i] == HostOpKind::Operator && ext_wanted.contains(&h.external_id[i]) {
            op_of.entry(h.external_id[i]).or_insert(h.name[i]);
        }
    }
    kept.into_iter()
        .map(|Picked { found: (((device, stream), (key, len)), st, ps, head), cpu_count, cpu_saving }| {
            let ext = api.external_id[l.api[st.first_row as usize] as usize];
            FusionCandidate {
                kernels: key[..len as usize].iter().map(|&n| trace.str(StrId(n)).to_string()).collect(),
                device,
                stream,
                occurrences: st.count,
                head_launches: head,
                ps,
                cpu_bound_occurrences: cpu_count,
                saving_per_occurrence_ns: cpu_saving as f64 / cpu_count.max(1) as f64,
                total_saving_ns: cpu_saving,
                saving_frac: if cpu_il > 0 { cpu_saving as f64 / cpu_il as f64 } else { 0.0 },
                host_op: op_of.get(&ext).map(|&n| trace.str(n).to_string()),
            }
        })
        .collect()
}

fn graph_advice(
    trace: &Trace,
    l: &LaunchTable,
    windows: &[WindowMetrics],
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
    let a = &trace.activities;
    let api = &trace.api;
    // Fingerprint of each step's kernel sequence in launch order.
    let fingerprint = |w: &WindowMetrics| -> (u64, u64) {
        // Launch rows are in activity (start) order: the step is one range of them.
        let a_lo = a.start_ns.partition_point(|&s| s < w.start_ns) as u32;
        let a_hi = a.start_ns.partition_point(|&s| s < w.end_ns) as u32;
        let lo = l.activity.partition_point(|&i| i < a_lo);
        let hi = l.activity.partition_point(|&i| i < a_hi);
        let mut rows: Vec<usize> =
            (lo..hi).filter(|&r| a.kind[l.activity[r] as usize] == ActivityKind::Kernel).collect();
        rows.sort_by_key(|&r| api.start_ns[l.api[r] as usize]);
        let mut h = FxHasher::default();
        for &r in &rows {
            h.write_u32(a.name[l.activity[r] as usize].0);
        }
        (h.finish(), rows.len() as u64)
    };
    let prints: Vec<(u64, u64)> = steps.iter().map(|w| fingerprint(w)).collect();
    // Longest run of consecutive CPU-bound steps with the same sequence.
    let mut best: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < steps.len() {
        let mut j = i;
        while j + 1 < steps.len()
            && prints[j + 1] == prints[i]
            && steps[j + 1].verdict.bound == Bound::CpuBound
            && steps[i].verdict.bound == Bound::CpuBound
        {
            j += 1;
        }
        if j > i && prints[i].1 > 0 && best.is_none_or(|(bi, bj)| j - i > bj - bi) {
            best = Some((i, j));
        }
        i = j + 1;
    }
    let Some((i, j)) = best else {
        notes.push(
            "no two consecutive CPU-bound steps launch the same kernel sequence: a CUDA graph would need re-capture"
                .into(),
        );
        return None;
    };
    let run = &steps[i..=j];
    let med = |f: &dyn Fn(&WindowMetrics) -> f64| {
        crate::stats::median_f64(&mut run.iter().map(|w| f(w)).collect::<Vec<_>>()).unwrap_or(0.0)
    };
    let exposed = med(&|w| w.exposed_launch_ns as f64);
    let saving = (exposed - spec.graph_launch_ns as f64).max(0.0);
    let il = med(&|w| w.il_ns as f64);
    Some(GraphAdvice {
        steps: run.iter().filter_map(|w| w.step).collect(),
        kernels_per_step: prints[i].1,
        exposed_launch_per_step_ns: exposed,
        saving_per_step_ns: saving,
        saving_frac: if il > 0.0 { saving / il } else { 0.0 },
        upper_bound_per_step_ns: med(&|w| w.launch_bound_idle_ns as f64),
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

    /// One ProfilerStep per sequence, 100 us apart. Kernel k of a step is
    /// launched at 10k us (5 us calls), starts 7 us after its call and runs
    /// 1 us: the GPU idles 9 us between two kernels of a step. Each step ends
    /// with a stream synchronize, so no chain crosses steps.
    fn steps_trace(seqs: &[&[&str]]) -> Trace {
        let mut b = TraceBuilder::new("test");
        let mut corr = 1;
        for (n, seq) in seqs.iter().enumerate() {
            let base = n as i64 * STEP;
            b.host_op(HostOpIn {
                kind: HostOpKind::Annotation,
                name: &format!("ProfilerStep#{n}"),
                pid: 1,
                tid: 1,
                start_ns: base,
                end_ns: base + 99_000,
                external_id: 0,
            });
            for (k, name) in seq.iter().enumerate() {
                let l = base + 10_000 * k as i64;
                let call = ApiCallIn {
                    name: "cudaLaunchKernel",
                    pid: 1,
                    tid: 1,
                    start_ns: l,
                    end_ns: l + 5_000,
                    correlation: corr,
                    external_id: 0,
                };
                b.api_call(call);
                let mut a = ActivityIn::new(ActivityKind::Kernel, name, 0, 7, l + 7_000, l + 8_000);
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

    /// The judged windows (the steps, else the whole trace) and the advice.
    fn run(t: &Trace) -> (Vec<WindowMetrics>, Advice) {
        let (l, _) = build_launch_table(t, &mut Diagnostics::default());
        let depths = stream_depths(t, &l);
        let ctx = WindowContext { trace: t, launches: &l, depths: &depths, spec: WindowSpec::default() };
        let mut windows: Vec<WindowMetrics> =
            t.steps.iter().map(|s| ctx.metrics(String::new(), Some(s.number), s.start_ns, s.end_ns)).collect();
        if windows.is_empty() {
            windows.push(ctx.metrics("trace".into(), None, i64::MIN, i64::MAX));
        }
        let advice = advise(t, &l, &windows, &AdviceSpec::default());
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
        assert_eq!(f[0].kernels, vec!["B", "C"]);
        assert_eq!((f[0].occurrences, f[0].head_launches, f[0].ps), (3, 3, 1.0));
        assert_eq!(f[0].cpu_bound_occurrences, 3);
        // The GPU idles 9 us before C.
        assert_eq!(f[0].saving_per_occurrence_ns, 9_000.0);
        assert_eq!(f[0].total_saving_ns, 27_000);
        let cpu_il: i64 = windows.iter().map(|w| w.il_ns).sum();
        assert_eq!(f[0].saving_frac, 27_000.0 / cpu_il as f64);

        // Four times A-B-C: the longest chain is reported, A-B and B-C are inside it.
        let abc: &[&str] = &["A", "B", "C"];
        let t = steps_trace(&[abc; 4]);
        let (_, advice) = run(&t);
        let f = &advice.fusion;
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].kernels, vec!["A", "B", "C"]);
        assert_eq!(f[0].total_saving_ns, 4 * 18_000);
    }

    #[test]
    fn chains_do_not_overlap_and_savings_do_not_exceed_the_idle_time() {
        // Nine kernels per step, always in the same order: every window of 2..4
        // of them has PS 1.0. Shifted windows (B-C-D-E, C-D-E-F, ...) would
        // count the same gaps again; only disjoint chains are suggested.
        let seq: &[&str] = &["A", "B", "C", "D", "E", "F", "G", "H", "I"];
        let t = steps_trace(&[seq; 4]);
        let (windows, advice) = run(&t);
        assert!(windows.iter().all(|w| w.verdict.bound == Bound::CpuBound));
        let f = &advice.fusion;
        let names: Vec<Vec<String>> = f.iter().map(|c| c.kernels.clone()).collect();
        assert_eq!(names, vec![vec!["A", "B", "C", "D"], vec!["E", "F", "G", "H"]]);
        for c in f {
            assert_eq!(c.cpu_bound_occurrences, 4);
            assert_eq!(c.total_saving_ns, 4 * 27_000);
        }
        // No kernel name (each launched once per step) is in two suggestions.
        let mut all: Vec<&String> = f.iter().flat_map(|c| &c.kernels).collect();
        all.sort();
        assert!(all.windows(2).all(|w| w[0] != w[1]), "{all:?}");
        // Together they save at most the GPU idle time between the step's kernels (8 gaps of 9 us).
        let total: i64 = f.iter().map(|c| c.total_saving_ns).sum();
        assert!(total <= 4 * 8 * 9_000, "{total}");
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
        assert_eq!(g.saving_per_step_ns, 18_500.0);
        // IL: step start to C's end, 28 us.
        assert_eq!(g.saving_frac, 18_500.0 / 28_000.0);
        // Upper bound: every gap is host wait (each call starts after the GPU
        // went idle): 9 + 9 us in step 0, 7 + 9 + 9 us after; median 25 us.
        assert_eq!(g.upper_bound_per_step_ns, 25_000.0);
    }

    #[test]
    fn differing_steps_get_no_graph_estimate() {
        let t = steps_trace(&[&["A", "B"], &["B", "A"], &["A", "B"]]);
        let (_, advice) = run(&t);
        assert!(advice.cuda_graphs.is_none());
        assert!(advice.notes.iter().any(|n| n.contains("no two consecutive CPU-bound steps")), "{:?}", advice.notes);
    }

    #[test]
    fn no_gpu_work_gives_no_launch_advice() {
        let mut b = TraceBuilder::new("test");
        for n in 0..3 {
            b.host_op(HostOpIn {
                kind: HostOpKind::Annotation,
                name: &format!("ProfilerStep#{n}"),
                pid: 1,
                tid: 1,
                start_ns: n * STEP,
                end_ns: n * STEP + 50_000,
                external_id: 0,
            });
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
