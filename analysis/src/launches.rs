//! The per-launch table (METRICS.md section 2): one row per GPU activity that
//! was matched to its launch call by correlation id, with the launch-to-start,
//! API, queue, gap and exposed-launch quantities.

use boundscope_trace::{ActivityKind, ApiKind, Trace, WarningKind};
use rustc_hash::FxHashMap;

/// Per-launch quantities, one row per matched GPU activity, in activity start order.
#[derive(Debug, Default, Clone)]
pub struct LaunchTable {
    /// Row of the activity in `trace.activities`.
    pub activity: Vec<u32>,
    /// Row of the launch call in `trace.api`.
    pub api: Vec<u32>,
    /// `k.start - l.start`, raw (negative under clock skew): the TKLQT term.
    pub launch_to_start_ns: Vec<i64>,
    /// `l.end - l.start`.
    pub api_ns: Vec<i64>,
    /// `max(0, k.start - l.end)`.
    pub queue_ns: Vec<i64>,
    /// GPU idle time just before the activity on its device (any stream).
    pub gap_before_ns: Vec<i64>,
    /// `min(launch_to_start, gap_before)`: the launch latency the GPU waited for.
    pub exposed_launch_ns: Vec<i64>,
    /// The gap started before the host even began the launch call.
    pub host_wait: Vec<bool>,
    /// An activity of a CUDA graph launch other than its first-starting kernel:
    /// it has no launch of its own, so it adds no TKLQT, queue or exposed-launch term.
    pub graph_internal: Vec<bool>,
}

/// Counts of activities that could not be matched.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unmatched {
    pub kernels: u64,
    pub memcpy: u64,
    pub memset: u64,
}

impl Unmatched {
    pub fn total(&self) -> u64 {
        self.kernels + self.memcpy + self.memset
    }
}

impl LaunchTable {
    pub fn len(&self) -> usize {
        self.activity.len()
    }

    pub fn is_empty(&self) -> bool {
        self.activity.is_empty()
    }

    /// `launch_to_start_ns` clamped at 0, the contribution to TKLQT.
    pub fn tklqt_term(&self, row: usize) -> i64 {
        if self.graph_internal[row] { 0 } else { self.launch_to_start_ns[row].max(0) }
    }
}

/// `gap_before_ns` of every activity: idle time on its device since the end of
/// all earlier-starting activities (0 for a device's first activity).
pub fn gaps_before(trace: &Trace) -> Vec<i64> {
    let a = &trace.activities;
    let mut prev_end: FxHashMap<u32, i64> = FxHashMap::default();
    let mut gaps = Vec::with_capacity(a.len());
    for i in 0..a.len() {
        let start = a.start_ns[i];
        let e = prev_end.entry(a.device[i]).or_insert(i64::MIN);
        gaps.push(if *e == i64::MIN { 0 } else { start.saturating_sub(*e).max(0) });
        *e = (*e).max(a.end_ns[i]);
    }
    gaps
}

/// Matches activities to launch calls and computes the per-launch quantities.
/// Returns the table and the unmatched counts; duplicate correlation ids are
/// counted as warnings in `diag`.
pub fn build_launch_table(trace: &Trace, diag: &mut boundscope_trace::Diagnostics) -> (LaunchTable, Unmatched) {
    let api = &trace.api;
    let a = &trace.activities;
    // Index only the correlation ids that activities use (far fewer than API calls).
    const NONE: u32 = u32::MAX;
    let mut by_corr: FxHashMap<u64, u32> = FxHashMap::default();
    by_corr.reserve(a.len());
    for &c in &a.correlation {
        if c != 0 {
            by_corr.insert(c, NONE);
        }
    }
    let mut duplicates = 0u64;
    let mut first_dup = None;
    for i in 0..api.len() {
        let c = api.correlation[i];
        if c == 0 {
            continue;
        }
        if let Some(slot) = by_corr.get_mut(&c) {
            if *slot == NONE {
                *slot = i as u32;
            } else {
                duplicates += 1;
                first_dup.get_or_insert(c);
            }
        }
    }
    if let Some(c) = first_dup {
        diag.warn_n(WarningKind::DuplicateCorrelation, duplicates, None, || {
            format!("correlation id {c} is used by more than one API call; activities match the first")
        });
    }

    let gaps = gaps_before(trace);
    let mut t = LaunchTable::default();
    let mut unmatched = Unmatched::default();
    let (mut implausible, mut first_implausible) = (0u64, None);
    // Correlation ids of graph launches whose first kernel was already seen.
    let mut graph_heads: FxHashMap<u64, ()> = FxHashMap::default();
    for i in 0..a.len() {
        let Some(&l) = by_corr.get(&a.correlation[i]).filter(|&&l| l != NONE) else {
            match a.kind[i] {
                ActivityKind::Kernel => unmatched.kernels += 1,
                ActivityKind::Memcpy => unmatched.memcpy += 1,
                ActivityKind::Memset => unmatched.memset += 1,
            }
            continue;
        };
        let li = l as usize;
        let (l_start, l_end) = (api.start_ns[li], api.end_ns[li]);
        let k_start = a.start_ns[i];
        // Saturating: a launch and its kernel ~292 years apart would wrap, and are implausible anyway.
        let l2s = k_start.saturating_sub(l_start);
        if l2s.unsigned_abs() > MAX_LAUNCH_GAP_NS.unsigned_abs() {
            implausible += 1;
            first_implausible.get_or_insert((i, li, l2s));
            continue;
        }
        // The first-starting kernel of a graph launch stands for the launch; its
        // other kernels and its copy/fill nodes are graph-internal.
        let graph_internal = api.kind[li] == ApiKind::GraphLaunch
            && (a.kind[i] != ActivityKind::Kernel || graph_heads.insert(a.correlation[i], ()).is_some());
        let gap = gaps[i];
        let (exposed, host_wait) = if graph_internal {
            (0, false)
        } else {
            // gap > 0 means prev_end = k.start - gap; the host had not begun the
            // launch when the GPU went idle iff l.start > prev_end.
            (l2s.clamp(0, gap), gap > 0 && l_start > k_start - gap)
        };
        t.activity.push(i as u32);
        t.api.push(l);
        t.launch_to_start_ns.push(l2s);
        t.api_ns.push(l_end.saturating_sub(l_start));
        t.queue_ns.push(k_start.saturating_sub(l_end).max(0));
        t.gap_before_ns.push(gap);
        t.exposed_launch_ns.push(exposed);
        t.host_wait.push(host_wait);
        t.graph_internal.push(graph_internal);
    }
    if let Some((i, li, l2s)) = first_implausible {
        diag.warn_n(WarningKind::ClockProblem, implausible, None, || {
            format!(
                "{} '{}' (correlation {}) starts {:.1} s {} its launch call '{}': host and GPU clocks are not \
                 one clock; such activities are left out of per-launch figures (they still count in busy time)",
                a.kind[i].as_str(),
                short_name(trace.str(a.name[i])),
                a.correlation[i],
                l2s.unsigned_abs() as f64 / 1e9,
                if l2s > 0 { "after" } else { "before" },
                trace.str(api.name[li])
            )
        });
    }
    (t, unmatched)
}

/// Largest plausible distance between a launch call's start and its
/// activity's start (one hour): a kernel may queue behind long work, but a
/// launch an hour or more from its kernel means the host and GPU timestamps
/// are not on one clock (or are damaged).
pub const MAX_LAUNCH_GAP_NS: i64 = 3_600 * 1_000_000_000;

fn short_name(name: &str) -> &str {
    let mut end = name.len().min(80);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use boundscope_trace::{ActivityIn, ApiCallIn, Diagnostics, TraceBuilder};

    fn api(b: &mut TraceBuilder, name: &str, start_ns: i64, end_ns: i64, correlation: u64) {
        b.api_call(ApiCallIn { name, pid: 1, tid: 1, start_ns, end_ns, correlation, external_id: 0 });
    }

    fn act(b: &mut TraceBuilder, kind: ActivityKind, stream: u32, start_ns: i64, end_ns: i64, correlation: u64) {
        let mut a = ActivityIn::new(kind, "k", 0, stream, start_ns, end_ns);
        a.correlation = correlation;
        b.gpu_activity(a);
    }

    /// Row of the launch table by activity start.
    fn row(t: &Trace, l: &LaunchTable, start_ns: i64) -> usize {
        (0..l.len()).find(|&r| t.activities.start_ns[l.activity[r] as usize] == start_ns).expect("row")
    }

    #[test]
    fn per_launch_quantities_on_a_hand_built_trace() {
        use ActivityKind::{Kernel, Memcpy};
        let mut b = TraceBuilder::new("test");
        // K1: the device's first activity.
        api(&mut b, "cudaLaunchKernel", 0, 5_000, 1);
        act(&mut b, Kernel, 7, 7_000, 10_000, 1);
        // K2: the GPU idles from 10 us; the call starts at 20 us (host wait).
        api(&mut b, "cudaLaunchKernel", 20_000, 24_000, 2);
        act(&mut b, Kernel, 7, 30_000, 31_000, 2);
        // K3: another stream, starts while K2 runs (no gap); driver API counts too.
        api(&mut b, "cuLaunchKernel", 25_000, 26_000, 3);
        act(&mut b, Kernel, 8, 30_500, 33_000, 3);
        // A graph launch with two kernels: the first stands for the launch.
        api(&mut b, "cudaGraphLaunch", 40_000, 42_000, 4);
        act(&mut b, Kernel, 7, 45_000, 46_000, 4);
        act(&mut b, Kernel, 7, 46_500, 47_000, 4);
        // A kernel 1 us before its call (clock skew); the call began after the GPU went idle.
        api(&mut b, "cudaLaunchKernel", 50_000, 51_000, 5);
        act(&mut b, Kernel, 7, 49_000, 49_500, 5);
        // An async copy launched while the GPU runs (the call starts before the gap): exposed, not host wait.
        api(&mut b, "cudaMemcpyAsync", 49_200, 49_800, 6);
        act(&mut b, Memcpy, 7, 52_000, 53_000, 6);
        // A kernel without a launch call in the trace.
        act(&mut b, Kernel, 7, 60_000, 61_000, 99);
        let t = b.finish();
        let mut diag = Diagnostics::default();
        let (l, unmatched) = build_launch_table(&t, &mut diag);
        assert_eq!(unmatched, Unmatched { kernels: 1, memcpy: 0, memset: 0 });
        assert_eq!(l.len(), 7);

        // (activity start, launch-to-start, api, queue, gap, exposed, host wait, graph-internal)
        type Row = (i64, i64, i64, i64, i64, i64, bool, bool);
        let want: &[Row] = &[
            (7_000, 7_000, 5_000, 2_000, 0, 0, false, false),
            (30_000, 10_000, 4_000, 6_000, 20_000, 10_000, true, false),
            (30_500, 5_500, 1_000, 4_500, 0, 0, false, false),
            (45_000, 5_000, 2_000, 3_000, 12_000, 5_000, true, false),
            (46_500, 6_500, 2_000, 4_500, 500, 0, false, true),
            (49_000, -1_000, 1_000, 0, 2_000, 0, true, false),
            (52_000, 2_800, 600, 2_200, 2_500, 2_500, false, false),
        ];
        for &(start, l2s, api_ns, queue, gap, exposed, host_wait, internal) in want {
            let r = row(&t, &l, start);
            let got = (
                l.launch_to_start_ns[r],
                l.api_ns[r],
                l.queue_ns[r],
                l.gap_before_ns[r],
                l.exposed_launch_ns[r],
                l.host_wait[r],
                l.graph_internal[r],
            );
            assert_eq!(got, (l2s, api_ns, queue, gap, exposed, host_wait, internal), "activity at {start}");
        }
        // TKLQT terms: clamped at 0, none for graph-internal kernels.
        assert_eq!(l.tklqt_term(row(&t, &l, 49_000)), 0);
        assert_eq!(l.tklqt_term(row(&t, &l, 46_500)), 0);
        assert_eq!(l.tklqt_term(row(&t, &l, 30_000)), 10_000);
        // Rows are in activity start order.
        assert!(l.activity.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn gaps_are_per_device_across_streams() {
        let mut b = TraceBuilder::new("test");
        for (dev, stream, s, e) in [(0, 7, 0, 10), (1, 7, 5, 8), (0, 8, 4, 20), (0, 7, 25, 30), (1, 9, 30, 31)] {
            b.gpu_activity(ActivityIn::new(ActivityKind::Kernel, "k", dev, stream, s, e));
        }
        let t = b.finish();
        // Device 0: 0-10, 4-20 (overlaps: 0), 25-30 (gap 5); device 1: 5-8 (first), 30-31 (gap 22).
        assert_eq!(gaps_before(&t), vec![0, 0, 0, 5, 22]);
    }

    #[test]
    fn implausible_launches_are_left_out() {
        let mut b = TraceBuilder::new("test");
        api(&mut b, "cudaLaunchKernel", 0, 1_000, 1);
        act(&mut b, ActivityKind::Kernel, 7, MAX_LAUNCH_GAP_NS + 10, MAX_LAUNCH_GAP_NS + 20, 1);
        let t = b.finish();
        let mut diag = Diagnostics::default();
        let (l, unmatched) = build_launch_table(&t, &mut diag);
        assert!(l.is_empty());
        assert_eq!(unmatched.total(), 0);
    }
}
