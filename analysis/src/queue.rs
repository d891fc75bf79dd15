//! Queue depth per stream (METRICS.md section 3): +1 at a launch call's start,
//! -1 at its activity's start. Kept as a step function with running integrals
//! so that any window's summary is two binary searches away.

use boundscope_trace::Trace;
use rustc_hash::FxHashMap;

use crate::launches::LaunchTable;

/// The depth step function of one stream.
#[derive(Debug, Clone)]
pub struct StreamDepth {
    pub device: u32,
    pub stream: u32,
    /// Times at which the depth changes, ascending.
    pub time_ns: Vec<i64>,
    /// Depth from `time_ns[i]` until `time_ns[i + 1]`.
    pub depth: Vec<i32>,
    /// Integral of depth over `[time_ns[0], time_ns[i]]`, in depth x ns.
    cum_area: Vec<i64>,
    /// Time spent at depth > 1 over `[time_ns[0], time_ns[i]]`.
    cum_gt1: Vec<i64>,
}

/// Queue-depth figures of one stream over a window.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepthSummary {
    pub device: u32,
    pub stream: u32,
    /// Time-weighted mean depth over the window.
    pub mean_depth: f64,
    pub max_depth: i32,
    /// Fraction of the window with more than one launch waiting.
    pub frac_time_depth_gt1: f64,
}

impl StreamDepth {
    fn new(device: u32, stream: u32, mut events: Vec<(i64, i32)>) -> StreamDepth {
        // At equal times count arrivals before departures, so a zero-latency
        // launch never shows a negative depth.
        events.sort_unstable_by_key(|&(t, d)| (t, -d));
        let mut time_ns = Vec::with_capacity(events.len());
        let mut depth = Vec::with_capacity(events.len());
        let mut cur = 0i32;
        for (t, d) in events {
            cur += d;
            if time_ns.last() == Some(&t) {
                if let Some(last) = depth.last_mut() {
                    *last = cur;
                }
            } else {
                time_ns.push(t);
                depth.push(cur);
            }
        }
        let mut cum_area = Vec::with_capacity(time_ns.len());
        let mut cum_gt1 = Vec::with_capacity(time_ns.len());
        let (mut area, mut gt1) = (0i64, 0i64);
        for i in 0..time_ns.len() {
            if i > 0 {
                let dt = time_ns[i] - time_ns[i - 1];
                area += i64::from(depth[i - 1].max(0)) * dt;
                if depth[i - 1] > 1 {
                    gt1 += dt;
                }
            }
            cum_area.push(area);
            cum_gt1.push(gt1);
        }
        StreamDepth { device, stream, time_ns, depth, cum_area, cum_gt1 }
    }

    /// Depth at time `t`.
    fn depth_at(&self, t: i64) -> i32 {
        match self.time_ns.partition_point(|&x| x <= t) {
            0 => 0,
            i => self.depth[i - 1],
        }
    }

    /// (area, time at depth>1) over `[time_ns[0], t]`.
    fn integrals_at(&self, t: i64) -> (i64, i64) {
        match self.time_ns.partition_point(|&x| x <= t) {
            0 => (0, 0),
            i => {
                let dt = t - self.time_ns[i - 1];
                let d = self.depth[i - 1];
                (self.cum_area[i - 1] + i64::from(d.max(0)) * dt, self.cum_gt1[i - 1] + if d > 1 { dt } else { 0 })
            }
        }
    }

    /// Summary over `[lo, hi)`.
    pub fn summarize(&self, lo: i64, hi: i64) -> DepthSummary {
        let span = (hi - lo).max(0);
        let (a0, g0) = self.integrals_at(lo);
        let (a1, g1) = self.integrals_at(hi);
        let from = self.time_ns.partition_point(|&x| x < lo);
        let to = self.time_ns.partition_point(|&x| x < hi);
        let max_inside = self.depth[from..to].iter().copied().max().unwrap_or(0);
        let max_depth = max_inside.max(self.depth_at(lo));
        let (mean_depth, frac) =
            if span > 0 { ((a1 - a0) as f64 / span as f64, (g1 - g0) as f64 / span as f64) } else { (0.0, 0.0) };
        DepthSummary { device: self.device, stream: self.stream, mean_depth, max_depth, frac_time_depth_gt1: frac }
    }
}

/// Depth functions of every stream that has matched launches.
pub fn stream_depths(trace: &Trace, launches: &LaunchTable) -> Vec<StreamDepth> {
    let a = &trace.activities;
    let mut per_stream: FxHashMap<(u32, u32), Vec<(i64, i32)>> = FxHashMap::default();
    for r in 0..launches.len() {
        if launches.graph_internal[r] {
            continue;
        }
        let i = launches.activity[r] as usize;
        let ev = per_stream.entry((a.device[i], a.stream[i])).or_default();
        ev.push((trace.api.start_ns[launches.api[r] as usize], 1));
        ev.push((a.start_ns[i], -1));
    }
    let mut out: Vec<StreamDepth> = per_stream.into_iter().map(|((d, s), ev)| StreamDepth::new(d, s, ev)).collect();
    out.sort_by_key(|s| (s.device, s.stream));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_integrals() {
        // Two launches at 0 and 10; kernels start at 20 and 30.
        let s = StreamDepth::new(0, 7, vec![(0, 1), (10, 1), (20, -1), (30, -1)]);
        assert_eq!(s.depth, vec![1, 2, 1, 0]);
        let w = s.summarize(0, 40);
        assert_eq!(w.max_depth, 2);
        // area = 1*10 + 2*10 + 1*10 = 40 over 40 ns
        assert!((w.mean_depth - 1.0).abs() < 1e-12);
        assert!((w.frac_time_depth_gt1 - 0.25).abs() < 1e-12);
        let w = s.summarize(15, 25);
        assert!((w.mean_depth - 1.5).abs() < 1e-12);
        assert_eq!(w.max_depth, 2);
    }
}
