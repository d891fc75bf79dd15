//! Fixed-capacity history of final windows for charts: a ring of the finest
//! windows and coarser tiers (8x, 64x, 512x the window) for zooming out, so a
//! run of hours keeps flat memory. Coarser points add the sums of the points
//! they cover; their fractions are recomputed from those sums.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::window::{Bound, WindowMetrics};

/// Windows merged into one point of the next tier.
pub const TIER_FACTOR: usize = 8;
/// Tiers kept: the window, 8x, 64x and 512x it.
pub const TIERS: usize = 4;

/// One point of a time chart: the sums of one or more final windows.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct WindowPoint {
    /// Relative to the origin.
    pub start_ns: i64,
    pub end_ns: i64,
    /// Windows merged into this point.
    pub windows: u32,
    pub kernels: u64,
    /// Launch calls starting in the point.
    pub launches: u64,
    pub tklqt_ns: i64,
    /// TKLQT terms (for the mean launch-to-start).
    pub tklqt_terms: u64,
    pub kernel_time_ns: i64,
    pub il_ns: i64,
    pub gpu_busy_ns: i64,
    pub exposed_launch_ns: i64,
    pub host_wait_ns: i64,
    /// Idle time attributable to the host (host wait + other exposed launch).
    pub launch_bound_idle_ns: i64,
    pub api_sum_ns: i64,
    pub queue_sum_ns: i64,
    /// Largest queue p50 of the windows merged.
    pub queue_p50_ns: f64,
    pub memcpys: u64,
    /// Windows of each verdict.
    pub cpu_bound: u32,
    pub gpu_bound: u32,
    pub transitional: u32,
}

impl WindowPoint {
    pub fn of(m: &WindowMetrics, launches: u64) -> WindowPoint {
        let b = m.verdict.bound;
        WindowPoint {
            start_ns: m.start_ns,
            end_ns: m.end_ns,
            windows: 1,
            kernels: m.kernels,
            launches,
            tklqt_ns: m.tklqt_ns,
            tklqt_terms: m.launch_to_start.count,
            kernel_time_ns: m.kernel_time_ns,
            il_ns: m.il_ns,
            gpu_busy_ns: m.gpu_busy_ns,
            exposed_launch_ns: m.exposed_launch_ns,
            host_wait_ns: m.host_wait_ns,
            launch_bound_idle_ns: m.launch_bound_idle_ns,
            api_sum_ns: m.api.sum_ns,
            queue_sum_ns: m.queue.sum_ns,
            queue_p50_ns: m.queue.p50_ns,
            memcpys: m.memcpys,
            cpu_bound: u32::from(b == Bound::CpuBound),
            gpu_bound: u32::from(b == Bound::GpuBound),
            transitional: u32::from(b == Bound::Transitional),
        }
    }

    /// Adds `o` (a later point) into `self`.
    pub fn merge(&mut self, o: &WindowPoint) {
        if self.windows == 0 {
            *self = *o;
            return;
        }
        self.end_ns = o.end_ns;
        self.windows += o.windows;
        self.kernels += o.kernels;
        self.launches += o.launches;
        self.tklqt_ns += o.tklqt_ns;
        self.tklqt_terms += o.tklqt_terms;
        self.kernel_time_ns += o.kernel_time_ns;
        self.il_ns += o.il_ns;
        self.gpu_busy_ns += o.gpu_busy_ns;
        self.exposed_launch_ns += o.exposed_launch_ns;
        self.host_wait_ns += o.host_wait_ns;
        self.launch_bound_idle_ns += o.launch_bound_idle_ns;
        self.api_sum_ns += o.api_sum_ns;
        self.queue_sum_ns += o.queue_sum_ns;
        self.queue_p50_ns = self.queue_p50_ns.max(o.queue_p50_ns);
        self.memcpys += o.memcpys;
        self.cpu_bound += o.cpu_bound;
        self.gpu_bound += o.gpu_bound;
        self.transitional += o.transitional;
    }

    /// GPU busy over IL, `None` without kernels.
    pub fn busy_frac(&self) -> Option<f64> {
        (self.kernels > 0 && self.il_ns > 0).then(|| self.gpu_busy_ns as f64 / self.il_ns as f64)
    }

    /// Launch calls per second of trace time.
    pub fn launch_rate(&self) -> f64 {
        let span = (self.end_ns - self.start_ns).max(1);
        self.launches as f64 * 1e9 / span as f64
    }

    pub fn mean_launch_to_start_ns(&self) -> f64 {
        if self.tklqt_terms > 0 { self.tklqt_ns as f64 / self.tklqt_terms as f64 } else { 0.0 }
    }

    /// The verdict most of the merged windows had (ties: transitional).
    pub fn bound(&self) -> Bound {
        let best = self.cpu_bound.max(self.gpu_bound).max(self.transitional);
        if best == 0 {
            Bound::NoGpuWork
        } else if self.cpu_bound == best && self.gpu_bound < best && self.transitional < best {
            Bound::CpuBound
        } else if self.gpu_bound == best && self.cpu_bound < best && self.transitional < best {
            Bound::GpuBound
        } else {
            Bound::Transitional
        }
    }
}

/// The tiers of final windows.
#[derive(Debug, Clone)]
pub struct History {
    window_ns: i64,
    capacity: usize,
    tiers: Vec<VecDeque<WindowPoint>>,
    /// Per coarser tier, the point being filled and how many points it holds.
    filling: Vec<(WindowPoint, usize)>,
}

impl History {
    pub fn new(window_ns: i64, capacity: usize) -> History {
        History {
            window_ns,
            capacity: capacity.max(1),
            tiers: vec![VecDeque::new(); TIERS],
            filling: vec![(WindowPoint::default(), 0); TIERS - 1],
        }
    }

    /// Adds the next final window.
    pub fn push(&mut self, p: WindowPoint) {
        let mut carry = Some(p);
        for tier in 0..TIERS {
            let Some(p) = carry.take() else { break };
            let ring = &mut self.tiers[tier];
            if ring.len() >= self.capacity {
                ring.pop_front();
            }
            ring.push_back(p);
            if tier + 1 < TIERS {
                let (acc, n) = &mut self.filling[tier];
                acc.merge(&p);
                *n += 1;
                if *n == TIER_FACTOR {
                    carry = Some(std::mem::take(acc));
                    *n = 0;
                }
            }
        }
    }

    /// Every tier, finest first, each oldest first; a coarser tier ends with
    /// the point still being filled, so the newest windows show at every zoom.
    pub fn tiers(&self) -> Vec<Vec<WindowPoint>> {
        (0..TIERS)
            .map(|t| {
                let mut v: Vec<WindowPoint> = self.tiers[t].iter().copied().collect();
                if t > 0 && self.filling[t - 1].1 > 0 {
                    v.push(self.filling[t - 1].0);
                }
                v
            })
            .collect()
    }

    /// Trace ns one point of each tier spans.
    pub fn tier_ns(&self) -> Vec<i64> {
        let mut ns = self.window_ns;
        (0..TIERS)
            .map(|_| {
                let n = ns;
                ns = ns.saturating_mul(TIER_FACTOR as i64);
                n
            })
            .collect()
    }

    /// Points held in all tiers (bounded by `TIERS * capacity`).
    pub fn len(&self) -> usize {
        self.tiers.iter().map(VecDeque::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(i: i64, kernels: u64, bound: Bound) -> WindowPoint {
        WindowPoint {
            start_ns: i * 10,
            end_ns: (i + 1) * 10,
            windows: 1,
            kernels,
            il_ns: 10,
            gpu_busy_ns: 5,
            cpu_bound: u32::from(bound == Bound::CpuBound),
            gpu_bound: u32::from(bound == Bound::GpuBound),
            ..WindowPoint::default()
        }
    }

    #[test]
    fn tiers_merge_and_stay_bounded() {
        let mut h = History::new(10, 16);
        for i in 0..10_000 {
            h.push(point(i, 1, Bound::CpuBound));
        }
        assert!(h.len() <= TIERS * 16);
        let tiers = h.tiers();
        // The finest tier holds the last 16 windows.
        assert_eq!(tiers[0].len(), 16);
        assert_eq!(tiers[0].last().map(|p| p.end_ns), Some(100_000));
        // A full point of tier 1 covers 8 windows and sums them.
        let p = tiers[1][0];
        assert_eq!((p.windows, p.kernels, p.end_ns - p.start_ns), (8, 8, 80));
        assert_eq!(p.busy_frac(), Some(0.5));
        assert_eq!(p.bound(), Bound::CpuBound);
        assert_eq!(h.tier_ns(), vec![10, 80, 640, 5120]);
    }

    #[test]
    fn merged_verdict_is_the_majority() {
        let mut p = point(0, 1, Bound::CpuBound);
        p.merge(&point(1, 1, Bound::GpuBound));
        assert_eq!(p.bound(), Bound::Transitional);
        p.merge(&point(2, 1, Bound::GpuBound));
        assert_eq!(p.bound(), Bound::GpuBound);
        assert_eq!(WindowPoint::default().bound(), Bound::NoGpuWork);
    }
}
