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
