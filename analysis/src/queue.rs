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
    /// `events` are (time, 0 for +1 or 1 for -1), so that sorting orders them
    /// by time, arrivals before departures at equal times (a zero-latency
    /// launch never shows a negative depth). (Packing both into `time * 2 + 1`
    /// would wrap for times beyond 2^62 ns.)
    fn new(device: u32, stream: u32, mut events: Vec<(i64, u8)>) -> StreamDepth {
        events.sort_unstable();
        let mut time_ns: Vec<i64> = Vec::with_capacity(events.len());
        let mut depth: Vec<i32> = Vec::with_capacity(events.len());
        let mut cur = 0i32;
        for (t, departure) in events {
            cur = cur.saturating_add(if departure == 0 { 1 } else { -1 });
            if time_ns.last() == Some(&t) {
                if let Some(last) = depth.last_mut() {
                    *last = cur;
                }
            } else {
                time_ns.push(t);
                depth.push(cur);
            }
        }
        StreamDepth { device, stream, time_ns, depth }
    }

    /// Summary over `[lo, hi)`, walking only the changes inside it.
    pub fn summarize(&self, lo: i64, hi: i64) -> DepthSummary {
        let span = hi.saturating_sub(lo).max(0);
        let first = self.time_ns.partition_point(|&x| x <= lo);
        // Depth in force at `lo`.
        let mut d = if first == 0 { 0 } else { self.depth[first - 1] };
        // The area (depth x time) in i128: a deep queue over a long window overflows an i64.
        let (mut t, mut area, mut gt1, mut max_depth) = (lo, 0i128, 0i64, d);
        for i in first..self.time_ns.len() {
            let next = self.time_ns[i].min(hi);
            if next <= t {
                if self.time_ns[i] >= hi {
                    break;
                }
                d = self.depth[i];
                max_depth = max_depth.max(d);
                continue;
            }
            let dt = next.saturating_sub(t);
            area += i128::from(d.max(0)) * i128::from(dt);
            if d > 1 {
                gt1 = gt1.saturating_add(dt);
            }
            t = next;
            if self.time_ns[i] >= hi {
                break;
            }
            d = self.depth[i];
            max_depth = max_depth.max(d);
        }
        if t < hi {
            let dt = hi.saturating_sub(t);
            area += i128::from(d.max(0)) * i128::from(dt);
            if d > 1 {
                gt1 = gt1.saturating_add(dt);
            }
        }
        let (mean_depth, frac) =
            if span > 0 { (area as f64 / span as f64, gt1 as f64 / span as f64) } else { (0.0, 0.0) };
        DepthSummary { device: self.device, stream: self.stream, mean_depth, max_depth, frac_time_depth_gt1: frac }
    }
}

/// Depth functions of every stream that has matched launches.
pub fn stream_depths(trace: &Trace, launches: &LaunchTable) -> Vec<StreamDepth> {
    let a = &trace.activities;
    let mut per_stream: FxHashMap<(u32, u32), Vec<(i64, u8)>> = FxHashMap::default();
    for r in 0..launches.len() {
        if launches.graph_internal[r] {
            continue;
        }
        let i = launches.activity[r] as usize;
        let ev = per_stream.entry((a.device[i], a.stream[i])).or_default();
        ev.push((trace.api.start_ns[launches.api[r] as usize], 0));
        ev.push((a.start_ns[i], 1));
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
        let s = StreamDepth::new(0, 7, vec![(0, 0), (10, 0), (20, 1), (30, 1)]);
        assert_eq!(s.depth, vec![1, 2, 1, 0]);
        let w = s.summarize(0, 40);
        assert_eq!(w.max_depth, 2);
        // area = 1*10 + 2*10 + 1*10 = 40 over 40 ns
        assert!((w.mean_depth - 1.0).abs() < 1e-12);
        assert!((w.frac_time_depth_gt1 - 0.25).abs() < 1e-12);
        let w = s.summarize(15, 25);
        assert!((w.mean_depth - 1.5).abs() < 1e-12);
        assert_eq!(w.max_depth, 2);
        // Before any launch, and a window starting exactly on a change.
        assert_eq!(s.summarize(-10, 0).max_depth, 0);
        let w = s.summarize(10, 20);
        assert_eq!((w.max_depth, w.frac_time_depth_gt1), (2, 1.0));
        // Equal times: arrival counted before departure.
        let z = StreamDepth::new(0, 1, vec![(5, 1), (5, 0)]);
        assert!(z.depth.iter().all(|&d| d >= 0));
        // Times past 2^62 ns and a window spanning the whole i64 range.
        let far = StreamDepth::new(0, 1, vec![(i64::MAX - 10, 0), (i64::MAX - 5, 0), (i64::MAX - 1, 1)]);
        let w = far.summarize(i64::MIN, i64::MAX);
        assert_eq!(w.max_depth, 2);
        assert!(w.mean_depth >= 0.0 && w.mean_depth < 1e-9);
    }
}
