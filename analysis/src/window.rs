//! Per-window metrics (METRICS.md section 3) and the CPU-bound / GPU-bound
//! verdict (section 4). A window is the whole trace or one step; events
//! belong to it by start time.

use boundscope_trace::{ActivityKind, Trace};
use serde::{Deserialize, Serialize};

use crate::launches::LaunchTable;
use crate::queue::{DepthSummary, StreamDepth};
use crate::stats::{Dist, union_len_sorted};

/// Options that change how windows are measured and judged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowSpec {
    /// Add memcpy/memset launches to TKLQT (METRICS.md: kernels only by default).
    pub include_mem: bool,
    /// Null-kernel launch latency of the platform: launch-call start to kernel
    /// start for an empty kernel. Queue p50 below twice this counts as "kernels
    /// start as soon as launched".
    pub launch_floor_ns: i64,
}

impl Default for WindowSpec {
    fn default() -> Self {
        // Between the A100 (2.26 us) and GH200 (2.77 us) figures of METRICS.md.
        WindowSpec { include_mem: false, launch_floor_ns: 2_500 }
    }
}

/// The verdict of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// The GPU waits on the host.
    CpuBound,
    /// Work queues on the GPU.
    GpuBound,
    /// Neither clearly.
    Transitional,
    /// No kernels in the window.
    NoGpuWork,
}

impl Bound {
    pub fn as_str(self) -> &'static str {
        match self {
            Bound::CpuBound => "CPU-bound",
            Bound::GpuBound => "GPU-bound",
            Bound::Transitional => "transitional",
            Bound::NoGpuWork => "no GPU work",
        }
    }
}

/// A verdict and the numbers it was decided on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    pub bound: Bound,
    /// One line per input, with its value and the threshold it was held against.
    pub evidence: Vec<String>,
}

/// Every number of one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowMetrics {
    /// "trace" or "step N".
    pub label: String,
    /// The step number, for step windows.
    pub step: Option<i64>,
    pub start_ns: i64,
    pub end_ns: i64,
    /// Kernels starting in the window (graph-internal ones included).
    pub kernels: u64,
    /// Kernels of graph launches other than each launch's first.
    pub graph_internal_kernels: u64,
    pub memcpys: u64,
    pub memsets: u64,
    /// Kernels with a launch call in the trace.
    pub matched_kernels: u64,
    /// TKLQT: sum of launch-to-start (clamped at 0) over matched kernels, graph-internal ones excluded.
    pub tklqt_ns: i64,
    /// TKLQT over every matched kernel, graph-internal ones included (equals `tklqt_ns` without graphs).
    pub tklqt_all_ns: i64,
    /// TKLQT / number of TKLQT terms.
    pub mean_launch_to_start_ns: f64,
    /// AKD: total kernel time / kernels.
    pub akd_ns: f64,
    /// Total kernel time.
    pub kernel_time_ns: i64,
    /// IL: end of the last kernel - start of the first host op (or launch call).
    pub il_ns: i64,
    /// Device whose busy time the window reports (the busiest).
    pub device: Option<u32>,
    /// Union of activity intervals on `device` within IL.
    pub gpu_busy_ns: i64,
    /// IL - kernel time (the paper's; over-counts overlapping kernels).
    pub gpu_idle_paper_ns: i64,
    /// IL - busy (overlap-aware).
    pub gpu_idle_ns: i64,
    /// busy / IL; `None` without kernels.
    pub busy_frac: Option<f64>,
    /// Sum of exposed launch latency (the launch time the GPU waited for), within IL.
    pub exposed_launch_ns: i64,
    /// Sum of the gaps (within IL) that began before the host started the launch call.
    pub host_wait_ns: i64,
    /// Idle time attributable to the host: host-wait gaps plus exposed launch latency of the others.
    pub launch_bound_idle_ns: i64,
    pub launch_to_start: Dist,
    pub api: Dist,
    pub queue: Dist,
    /// Host time blocked in synchronizing calls (stream/device/event sync, blocking copies).
    pub sync_ns: i64,
    pub sync_calls: u64,
    /// Launches that start before their call (host/GPU clock disagreement).
    pub negative_launch_to_start: u64,
    /// Of those, more than 1 us early: clock skew suspected.
    pub clock_skew_launches: u64,
    pub queue_depth: Vec<DepthSummary>,
    pub verdict: Verdict,
}

/// What the window computations share: the trace and its derived tables.
#[derive(Debug)]
pub struct WindowContext<'a> {
    pub trace: &'a Trace,
    pub launches: &'a LaunchTable,
    pub depths: &'a [StreamDepth],
    pub spec: WindowSpec,
}

impl WindowContext<'_> {
    /// Computes the metrics of `[start, end)`.
    pub fn metrics(&self, label: String, step: Option<i64>, start: i64, end: i64) -> WindowMetrics {
        let t = self.trace;
        let a = &t.activities;
        let l = self.launches;
        let spec = self.spec;

        // Activities and launch rows starting in the window.
        let a_lo = a.start_ns.partition_point(|&s| s < start);
        let a_hi = a.start_ns.partition_point(|&s| s < end);
        let l_lo = l.activity.partition_point(|&i| (i as usize) < a_lo);
        let l_hi = l.activity.partition_point(|&i| (i as usize) < a_hi);

        let (mut kernels, mut memcpys, mut memsets) = (0u64, 0u64, 0u64);
        let mut kernel_time = 0i64;
        let mut last_kernel_end: Option<i64> = None;
        for i in a_lo..a_hi {
            match a.kind[i] {
                ActivityKind::Kernel => {
                    kernels += 1;
                    kernel_time = kernel_time.saturating_add(a.end_ns[i].saturating_sub(a.start_ns[i]));
                    last_kernel_end = Some(last_kernel_end.map_or(a.end_ns[i], |e| e.max(a.end_ns[i])));
                }
                ActivityKind::Memcpy => memcpys += 1,
                ActivityKind::Memset => memsets += 1,
            }
        }

        // IL: from the first host op (else the first launch call) to the last kernel's end.
        let first_host = first_start_in(&t.host_ops.start_ns, start, end);
        let first_launch = {
            let lo = t.api.start_ns.partition_point(|&s| s < start);
            let hi = t.api.start_ns.partition_point(|&s| s < end);
            (lo..hi).find(|&i| t.api.kind[i].is_launch()).map(|i| t.api.start_ns[i])
        };
        let il_start = first_host.or(first_launch).or(a.start_ns.get(a_lo).copied().filter(|_| a_lo < a_hi));
        let (il_lo, il_hi) = match (il_start, last_kernel_end) {
            (Some(s), Some(e)) if e > s => (s, e),
            _ => (0, 0),
        };
        let il = il_hi.saturating_sub(il_lo);

        let mut tklqt = 0i64;
        let mut tklqt_all = 0i64;
        let mut terms = 0u64;
        let mut matched_kernels = 0u64;
        let mut graph_internal = 0u64;
        let (mut exposed, mut host_wait, mut launch_bound) = (0i64, 0i64, 0i64);
        let (mut negative, mut skew) = (0u64, 0u64);
        // Launch rows that count as launches in this window (graph-internal ones excluded).
        let mut counted: Vec<u32> = Vec::with_capacity(l_hi - l_lo);
        for r in l_lo..l_hi {
            let i = l.activity[r] as usize;
            let is_kernel = a.kind[i] == ActivityKind::Kernel;
            let raw = l.launch_to_start_ns[r];
            if is_kernel {
                matched_kernels += 1;
                tklqt_all = tklqt_all.saturating_add(raw.max(0));
            }
            if l.graph_internal[r] {
                graph_internal += u64::from(is_kernel);
                continue;
            }
            if is_kernel || spec.include_mem {
                tklqt = tklqt.saturating_add(raw.max(0));
                terms += 1;
            }
            if raw < 0 {
                negative += 1;
                if raw < -1_000 {
                    skew += 1;
                }
            }
            // Only idle time inside this window's IL counts: the gap before a
            // step's first kernel may reach back into the previous step.
            let gap = if il > 0 {
                l.gap_before_ns[r].min(a.start_ns[i].saturating_sub(il_lo).max(0))
            } else {
                l.gap_before_ns[r]
            };
            let exposed_here = raw.clamp(0, gap);
            exposed = exposed.saturating_add(exposed_here);
            if l.host_wait[r] {
                host_wait = host_wait.saturating_add(gap);
                launch_bound = launch_bound.saturating_add(gap);
            } else {
                launch_bound = launch_bound.saturating_add(exposed_here);
            }
            counted.push(r as u32);
        }

        // Busy time per device, clipped to IL; report the busiest device.
        let mut devices: Vec<u32> = a.device[a_lo..a_hi].to_vec();
        devices.sort_unstable();
        devices.dedup();
        let (device, busy) = devices
            .iter()
            .map(|&d| {
                let iv = (a_lo..a_hi).filter(|&i| a.device[i] == d).map(|i| (a.start_ns[i], a.end_ns[i]));
                (d, union_len_sorted(iv, il_lo, il_hi))
            })
            .max_by_key(|&(d, b)| (b, std::cmp::Reverse(d)))
            .map_or((None, 0), |(d, b)| (Some(d), b));

        // Host time blocked in syncs.
        let s_lo = t.api.start_ns.partition_point(|&s| s < start);
        let s_hi = t.api.start_ns.partition_point(|&s| s < end);
        let (mut sync_ns, mut sync_calls) = (0i64, 0u64);
        for i in s_lo..s_hi {
            if t.api.kind[i].is_blocking() {
                sync_ns = sync_ns.saturating_add(t.api.end_ns[i].saturating_sub(t.api.start_ns[i]));
                sync_calls += 1;
            }
        }

        let queue_depth: Vec<DepthSummary> = if il > 0 {
            self.depths.iter().map(|d| d.summarize(il_lo, il_hi)).filter(|s| s.max_depth > 0).collect()
        } else {
            Vec::new()
        };

        let busy_frac = (il > 0).then(|| busy as f64 / il as f64);
        let idle = il.saturating_sub(busy);
        // One scratch buffer serves the three distributions in turn.
        let mut scratch: Vec<i64> = Vec::with_capacity(counted.len());
        let mut dist = |col: &[i64]| {
            scratch.clear();
            scratch.extend(counted.iter().map(|&r| col[r as usize]));
            Dist::of(&mut scratch)
        };
        let launch_to_start = dist(&l.launch_to_start_ns);
        let api = dist(&l.api_ns);
        let queue = dist(&l.queue_ns);
        let mut m = WindowMetrics {
            label,
            step,
            start_ns: start,
            end_ns: end,
            kernels,
            graph_internal_kernels: graph_internal,
            memcpys,
            memsets,
            matched_kernels,
            tklqt_ns: tklqt,
            tklqt_all_ns: tklqt_all,
            mean_launch_to_start_ns: if terms > 0 { tklqt as f64 / terms as f64 } else { 0.0 },
            akd_ns: if kernels > 0 { kernel_time as f64 / kernels as f64 } else { 0.0 },
            kernel_time_ns: kernel_time,
            il_ns: il,
            device,
            gpu_busy_ns: busy,
            gpu_idle_paper_ns: il.saturating_sub(kernel_time),
            gpu_idle_ns: idle,
            busy_frac,
            exposed_launch_ns: exposed,
            host_wait_ns: host_wait,
            launch_bound_idle_ns: launch_bound,
            launch_to_start,
            api,
            queue,
            sync_ns,
            sync_calls,
            negative_launch_to_start: negative,
            clock_skew_launches: skew,
            queue_depth,
            verdict: Verdict { bound: Bound::NoGpuWork, evidence: Vec::new() },
        };
        m.verdict = judge(&m, spec);
        m
    }
}

fn first_start_in(starts: &[i64], lo: i64, hi: i64) -> Option<i64> {
    let i = starts.partition_point(|&s| s < lo);
    starts.get(i).copied().filter(|&s| s < hi)
}

fn us(ns: f64) -> String {
    format!("{:.1} us", ns / 1000.0)
}

/// Thresholds of METRICS.md section 4.
pub const CPU_BOUND_MAX_BUSY: f64 = 0.5;
pub const GPU_BOUND_MIN_BUSY: f64 = 0.9;
/// Share of idle time that must be host-attributable for CPU-bound.
pub const CPU_BOUND_MIN_HOST_IDLE: f64 = 0.5;
/// Share of time the busiest stream must hold more than one waiting launch for GPU-bound.
pub const GPU_BOUND_MIN_DEPTH_GT1: f64 = 0.5;

/// Decides CPU-bound / GPU-bound / transitional, keeping the inputs as evidence.
pub fn judge(m: &WindowMetrics, spec: WindowSpec) -> Verdict {
    let Some(busy) = m.busy_frac else {
        return Verdict { bound: Bound::NoGpuWork, evidence: vec!["no kernels in this window".into()] };
    };
    let floor2 = 2.0 * spec.launch_floor_ns as f64;
    let host_idle = if m.gpu_idle_ns > 0 { m.launch_bound_idle_ns as f64 / m.gpu_idle_ns as f64 } else { 0.0 };
    let depth_gt1 = m.queue_depth.iter().map(|d| d.frac_time_depth_gt1).fold(0.0, f64::max);
    let q50 = m.queue.p50_ns;

    let cpu = [busy < CPU_BOUND_MAX_BUSY, host_idle >= CPU_BOUND_MIN_HOST_IDLE, q50 < floor2];
    let gpu = [busy >= GPU_BOUND_MIN_BUSY, q50 > floor2, depth_gt1 >= GPU_BOUND_MIN_DEPTH_GT1];
    let bound = if cpu.iter().all(|&c| c) {
        Bound::CpuBound
    } else if gpu.iter().all(|&c| c) {
        Bound::GpuBound
    } else {
        Bound::Transitional
    };
    let mark = |ok: bool| if ok { "yes" } else { "no" };
    let evidence = vec![
        format!(
            "GPU busy {:.1}% of IL (CPU-bound below {:.0}%: {}; GPU-bound from {:.0}%: {})",
            busy * 100.0,
            CPU_BOUND_MAX_BUSY * 100.0,
            mark(cpu[0]),
            GPU_BOUND_MIN_BUSY * 100.0,
            mark(gpu[0])
        ),
        format!(
            "{:.1}% of GPU idle time is host wait or exposed launch latency (CPU-bound from {:.0}%: {})",
            host_idle * 100.0,
            CPU_BOUND_MIN_HOST_IDLE * 100.0,
            mark(cpu[1])
        ),
        format!(
            "queue p50 {} vs 2x launch floor {} (CPU-bound below: {}; GPU-bound above: {})",
            us(q50),
            us(floor2),
            mark(cpu[2]),
            mark(gpu[1])
        ),
        format!(
            "busiest stream holds >1 queued launch {:.1}% of the time (GPU-bound from {:.0}%: {})",
            depth_gt1 * 100.0,
            GPU_BOUND_MIN_DEPTH_GT1 * 100.0,
            mark(gpu[2])
        ),
    ];
    Verdict { bound, evidence }
}
