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
        // Without kernels, IL is the program's run time in the window: from the
        // first host op (else launch call) to the last end of any event starting
        // in it, cut at the window's end (an outer host op may span the whole
        // run), so that a host-only window is not a window of length 0.
        let il_end = match last_kernel_end {
            Some(e) => Some(e),
            None if first_host.is_some() || first_launch.is_some() => last_event_end(t, start, end).map(|e| e.min(end)),
            None => None,
        };
        let il_start = first_host.or(first_launch).or(a.start_ns.get(a_lo).copied().filter(|_| a_lo < a_hi));
        let (il_lo, il_hi) = match (il_start, il_end) {
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
            // step's first kernel may reach back into the previous step, and
            // a copy that starts after the last kernel ends lies past IL's end.
            // The exposed launch latency is the gap's tail, clipped the same way.
            let (gap, exposed_here) = if il > 0 {
                let s = a.start_ns[i];
                let g = l.gap_before_ns[r];
                let inside = |from: i64| s.min(il_hi).saturating_sub(from.max(il_lo)).max(0);
                (inside(s.saturating_sub(g)), inside(s.saturating_sub(raw.clamp(0, g))))
            } else {
                let g = l.gap_before_ns[r];
                (g, raw.clamp(0, g))
            };
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

        // A window without kernels has no busy fraction, whatever its IL.
        let busy_frac = (kernels > 0 && il > 0).then(|| busy as f64 / il as f64);
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

/// Latest end of the host ops, API calls and GPU activities that start in `[lo, hi)`.
fn last_event_end(t: &Trace, lo: i64, hi: i64) -> Option<i64> {
    fn max_end(starts: &[i64], ends: &[i64], lo: i64, hi: i64) -> Option<i64> {
        let i = starts.partition_point(|&s| s < lo);
        let j = starts.partition_point(|&s| s < hi);
        ends[i..j].iter().copied().max()
    }
    [
        max_end(&t.host_ops.start_ns, &t.host_ops.end_ns, lo, hi),
        max_end(&t.api.start_ns, &t.api.end_ns, lo, hi),
        max_end(&t.activities.start_ns, &t.activities.end_ns, lo, hi),
    ]
    .into_iter()
    .flatten()
    .max()
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
/// GPU busy share below which a window is CPU-bound whatever the other inputs:
/// the GPU idles at least 95% of the time, so the host is the bottleneck even
/// when its idle time is not launch time.
pub const CPU_BOUND_IDLE_GPU_BUSY: f64 = 0.05;

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
    let all_cpu = cpu.iter().all(|&c| c);
    // The idle-GPU rule decides only where the three conditions do not.
    let idle_gpu = !all_cpu && busy < CPU_BOUND_IDLE_GPU_BUSY;
    let bound = if all_cpu || idle_gpu {
        Bound::CpuBound
    } else if gpu.iter().all(|&c| c) {
        Bound::GpuBound
    } else {
        Bound::Transitional
    };
    let mark = |ok: bool| if ok { "yes" } else { "no" };
    let mut busy_line = format!(
        "GPU busy {:.1}% of IL (CPU-bound below {:.0}%: {}; GPU-bound from {:.0}%: {})",
        busy * 100.0,
        CPU_BOUND_MAX_BUSY * 100.0,
        mark(cpu[0]),
        GPU_BOUND_MIN_BUSY * 100.0,
        mark(gpu[0])
    );
    let mut idle_line = format!(
        "{:.1}% of GPU idle time is host wait or exposed launch latency (CPU-bound from {:.0}%: {})",
        host_idle * 100.0,
        CPU_BOUND_MIN_HOST_IDLE * 100.0,
        mark(cpu[1])
    );
    if idle_gpu {
        busy_line.push_str(&format!(
            "; below {:.0}% the window is CPU-bound whatever the other inputs",
            CPU_BOUND_IDLE_GPU_BUSY * 100.0
        ));
        if !cpu[1] {
            idle_line.push_str(": the host is the bottleneck, but not through launches");
        }
    }
    let evidence = vec![
        busy_line,
        idle_line,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launches::build_launch_table;
    use crate::queue::stream_depths;
    use boundscope_trace::{ActivityIn, ApiCallIn, Diagnostics, HostOpIn, HostOpKind, TraceBuilder};

    const IL: i64 = 1_000_000;

    /// A window of IL 1 ms with the four verdict inputs set directly.
    fn window(busy_ns: i64, launch_bound_ns: i64, queue_p50_ns: f64, depth_gt1: f64) -> WindowMetrics {
        let queue = Dist { count: 10, p50_ns: queue_p50_ns, ..Dist::default() };
        WindowMetrics {
            label: "test".into(),
            step: None,
            start_ns: 0,
            end_ns: IL,
            kernels: 10,
            graph_internal_kernels: 0,
            memcpys: 0,
            memsets: 0,
            matched_kernels: 10,
            tklqt_ns: 0,
            tklqt_all_ns: 0,
            mean_launch_to_start_ns: 0.0,
            akd_ns: 0.0,
            kernel_time_ns: busy_ns,
            il_ns: IL,
            device: Some(0),
            gpu_busy_ns: busy_ns,
            gpu_idle_paper_ns: IL - busy_ns,
            gpu_idle_ns: IL - busy_ns,
            busy_frac: Some(busy_ns as f64 / IL as f64),
            exposed_launch_ns: launch_bound_ns,
            host_wait_ns: 0,
            launch_bound_idle_ns: launch_bound_ns,
            launch_to_start: queue,
            api: queue,
            queue,
            sync_ns: 0,
            sync_calls: 0,
            negative_launch_to_start: 0,
            clock_skew_launches: 0,
            queue_depth: vec![DepthSummary {
                device: 0,
                stream: 7,
                mean_depth: 1.0,
                max_depth: 3,
                frac_time_depth_gt1: depth_gt1,
            }],
            verdict: Verdict { bound: Bound::NoGpuWork, evidence: Vec::new() },
        }
    }

    #[test]
    fn verdict_over_every_regime_and_its_edges() {
        use Bound::*;
        // Launch floor 2.5 us: the queue threshold is 5 us.
        let spec = WindowSpec::default();
        // (case, busy ns of 1 ms, launch-bound idle ns, queue p50 ns, depth>1 share, verdict)
        let table: &[(&str, i64, i64, f64, f64, Bound)] = &[
            ("clear CPU-bound", 300_000, 560_000, 1_000.0, 0.0, CpuBound),
            ("busy just below 0.5", 499_999, 400_000, 1_000.0, 0.0, CpuBound),
            ("busy exactly 0.5", 500_000, 400_000, 1_000.0, 0.0, Transitional),
            ("host-idle share exactly 0.5", 400_000, 300_000, 1_000.0, 0.0, CpuBound),
            ("host-idle share just below 0.5", 400_000, 299_999, 1_000.0, 0.0, Transitional),
            ("queue p50 just below 2x floor", 300_000, 560_000, 4_999.0, 0.0, CpuBound),
            ("queue p50 at 2x floor, CPU side", 300_000, 560_000, 5_000.0, 0.0, Transitional),
            ("clear GPU-bound", 980_000, 0, 50_000.0, 0.9, GpuBound),
            ("busy exactly 0.9", 900_000, 0, 50_000.0, 0.9, GpuBound),
            ("busy just below 0.9", 899_999, 0, 50_000.0, 0.9, Transitional),
            ("queue p50 just above 2x floor", 950_000, 0, 5_001.0, 0.9, GpuBound),
            ("queue p50 at 2x floor, GPU side", 950_000, 0, 5_000.0, 0.9, Transitional),
            ("depth>1 share exactly 0.5", 950_000, 0, 50_000.0, 0.5, GpuBound),
            ("depth>1 share just below 0.5", 950_000, 0, 50_000.0, 0.499, Transitional),
            ("between the regimes", 700_000, 300_000, 1_000.0, 0.0, Transitional),
            ("idle but not launch-bound", 300_000, 100_000, 1_000.0, 0.0, Transitional),
            ("busy under 5%, not launch-bound", 49_999, 0, 50_000.0, 0.0, CpuBound),
            ("busy under 5%, launch-bound, long queue", 10_000, 900_000, 50_000.0, 0.9, CpuBound),
            ("busy exactly 5%, not launch-bound", 50_000, 0, 1_000.0, 0.0, Transitional),
            ("busy 0", 0, 0, 0.0, 0.0, CpuBound),
        ];
        for &(case, busy, lb, q50, depth, want) in table {
            let v = judge(&window(busy, lb, q50, depth), spec);
            assert_eq!(v.bound, want, "{case}: {:?}", v.evidence);
            assert_eq!(v.evidence.len(), 4, "{case}");
        }
    }

    #[test]
    fn no_kernels_is_no_gpu_work() {
        let mut w = window(0, 0, 0.0, 0.0);
        w.kernels = 0;
        w.busy_frac = None;
        let v = judge(&w, WindowSpec::default());
        assert_eq!(v.bound, Bound::NoGpuWork);
        assert_eq!(v.evidence, vec!["no kernels in this window".to_string()]);
    }

    #[test]
    fn idle_gpu_evidence_names_the_host_but_not_launches() {
        let spec = WindowSpec::default();
        let v = judge(&window(1_000, 0, 0.0, 0.0), spec);
        assert_eq!(v.bound, Bound::CpuBound);
        assert!(v.evidence[0].contains("below 5% the window is CPU-bound whatever the other inputs"), "{v:?}");
        assert!(v.evidence[1].ends_with("the host is the bottleneck, but not through launches"), "{v:?}");
        // Launch-bound idle time: the idle-GPU rule decides, launches are not ruled out.
        let v = judge(&window(1_000, 900_000, 50_000.0, 0.0), spec);
        assert_eq!(v.bound, Bound::CpuBound);
        assert!(v.evidence[0].contains("whatever the other inputs"), "{v:?}");
        assert!(!v.evidence[1].contains("not through launches"), "{v:?}");
        // When the three CPU-bound conditions hold, the evidence is as before.
        let v = judge(&window(1_000, 900_000, 1_000.0, 0.0), spec);
        assert_eq!(v.bound, Bound::CpuBound);
        assert_eq!(v.evidence[0], "GPU busy 0.1% of IL (CPU-bound below 50%: yes; GPU-bound from 90%: no)");
        assert!(!v.evidence[1].contains("not through launches"), "{v:?}");
    }

    fn host_op(b: &mut TraceBuilder, name: &str, start_ns: i64, end_ns: i64) {
        b.host_op(HostOpIn { kind: HostOpKind::Operator, name, pid: 1, tid: 1, start_ns, end_ns, external_id: 0 });
    }

    fn api(b: &mut TraceBuilder, name: &str, start_ns: i64, end_ns: i64, correlation: u64) {
        b.api_call(ApiCallIn { name, pid: 1, tid: 1, start_ns, end_ns, correlation, external_id: 0 });
    }

    fn kernel(b: &mut TraceBuilder, name: &str, stream: u32, start_ns: i64, end_ns: i64, correlation: u64) {
        let mut a = ActivityIn::new(ActivityKind::Kernel, name, 0, stream, start_ns, end_ns);
        a.correlation = correlation;
        b.gpu_activity(a);
    }

    fn measure(t: &Trace, windows: &[(i64, i64)]) -> Vec<WindowMetrics> {
        let (l, _) = build_launch_table(t, &mut Diagnostics::default());
        let depths = stream_depths(t, &l);
        let ctx = WindowContext { trace: t, launches: &l, depths: &depths, spec: WindowSpec::default() };
        windows.iter().map(|&(s, e)| ctx.metrics("w".into(), None, s, e)).collect()
    }

    #[test]
    fn il_without_kernels_is_the_programs_run_time() {
        // A host op, then a launch call whose kernel never ran in the trace, then a sync.
        let mut b = TraceBuilder::new("test");
        host_op(&mut b, "aten::add", 0, 4_000);
        api(&mut b, "cudaLaunchKernel", 1_000, 3_000, 1);
        api(&mut b, "cudaStreamSynchronize", 5_000, 9_000, 0);
        let t = b.finish();
        let w = measure(&t, &[(i64::MIN, i64::MAX), (0, 6_000), (2_000, 9_000), (20_000, 30_000)]);
        // Whole trace: first host op (0) to the sync's end.
        assert_eq!(w[0].il_ns, 9_000);
        assert_eq!(w[0].gpu_busy_ns, 0);
        assert_eq!(w[0].gpu_idle_ns, 9_000);
        assert_eq!(w[0].busy_frac, None);
        assert_eq!(w[0].verdict.bound, Bound::NoGpuWork);
        assert_eq!(w[0].sync_calls, 1);
        // Cut at the window's end.
        assert_eq!(w[1].il_ns, 6_000);
        // Only a sync starts in [2000, 9000): no host op or launch call, so no IL.
        assert_eq!(w[2].il_ns, 0);
        // Nothing at all.
        assert_eq!(w[3].il_ns, 0);
        assert_eq!(w[3].verdict.bound, Bound::NoGpuWork);
    }

    #[test]
    fn one_kernel_in_an_idle_ms_is_cpu_bound() {
        // 1 ms of host work; one 1 us kernel at its end, the device's first activity.
        let mut b = TraceBuilder::new("test");
        host_op(&mut b, "python work", 0, 1_000_000);
        api(&mut b, "cudaLaunchKernel", 990_000, 995_000, 1);
        kernel(&mut b, "k", 7, 998_000, 999_000, 1);
        let t = b.finish();
        let w = &measure(&t, &[(i64::MIN, i64::MAX)])[0];
        assert_eq!(w.il_ns, 999_000);
        assert_eq!(w.gpu_busy_ns, 1_000);
        assert_eq!(w.launch_bound_idle_ns, 0);
        assert_eq!(w.verdict.bound, Bound::CpuBound, "{:?}", w.verdict);
        assert!(w.verdict.evidence[1].contains("not through launches"), "{:?}", w.verdict);
    }

    #[test]
    fn window_sums_over_a_hand_built_trace() {
        // K1: call 0-5, kernel 7-10 us (first on the device: no gap).
        // K2: call 20-24, kernel 30-31 us: gap 20 us, host wait (the call began after K1 ended).
        // K3: call 25-26, kernel 30.5-33 us on another stream, overlapping K2: no gap.
        // Graph: call 40-42, kernels 45-46 (head: gap 12 us, host wait) and 46.5-47 (internal).
        let mut b = TraceBuilder::new("test");
        host_op(&mut b, "aten::op", 0, 42_000);
        api(&mut b, "cudaLaunchKernel", 0, 5_000, 1);
        kernel(&mut b, "K1", 7, 7_000, 10_000, 1);
        api(&mut b, "cudaLaunchKernel", 20_000, 24_000, 2);
        kernel(&mut b, "K2", 7, 30_000, 31_000, 2);
        api(&mut b, "cudaLaunchKernel", 25_000, 26_000, 3);
        kernel(&mut b, "K3", 8, 30_500, 33_000, 3);
        api(&mut b, "cudaGraphLaunch", 40_000, 42_000, 4);
        kernel(&mut b, "G1", 7, 45_000, 46_000, 4);
        kernel(&mut b, "G2", 7, 46_500, 47_000, 4);
        let t = b.finish();
        let w = &measure(&t, &[(i64::MIN, i64::MAX)])[0];
        assert_eq!(w.kernels, 5);
        assert_eq!(w.matched_kernels, 5);
        assert_eq!(w.graph_internal_kernels, 1);
        assert_eq!(w.tklqt_ns, 7_000 + 10_000 + 5_500 + 5_000);
        assert_eq!(w.tklqt_all_ns, w.tklqt_ns + 6_500);
        assert_eq!(w.launch_to_start.count, 4);
        assert_eq!(w.mean_launch_to_start_ns, 27_500.0 / 4.0);
        assert_eq!(w.kernel_time_ns, 3_000 + 1_000 + 2_500 + 1_000 + 500);
        assert_eq!(w.il_ns, 47_000);
        // Busy: 7-10, 30-33, 45-46, 46.5-47.
        assert_eq!(w.gpu_busy_ns, 3_000 + 3_000 + 1_000 + 500);
        assert_eq!(w.gpu_idle_ns, 47_000 - 7_500);
        assert_eq!(w.gpu_idle_paper_ns, 47_000 - 8_000);
        // Exposed: K2 min(10, 20) + G1 min(5, 12); K1, the device's first
        // activity, has no gap (the idle time before it is not a gap).
        assert_eq!(w.exposed_launch_ns, 10_000 + 5_000);
        // Host-wait gaps: K2 (20 us) and G1 (12 us); K3 and K1 add no exposed time.
        assert_eq!(w.host_wait_ns, 32_000);
        assert_eq!(w.launch_bound_idle_ns, 32_000);
        assert_eq!(w.api.sum_ns, 5_000 + 4_000 + 1_000 + 2_000);
        assert_eq!(w.queue.sum_ns, 2_000 + 6_000 + 4_500 + 3_000);
        assert_eq!(w.verdict.bound, Bound::CpuBound, "{:?}", w.verdict);
    }

    #[test]
    fn a_copy_after_the_last_kernel_adds_no_idle_past_il() {
        // A kernel [10, 20) launched at 5, then a copy [50, 60) launched at
        // 40 (after the kernel ended: host wait). IL ends with the kernel at
        // 20, so the copy's gap (20..50) lies past IL and counts nothing.
        let mut b = TraceBuilder::new("test");
        let call = |name: &'static str, start: i64, corr: u64| ApiCallIn {
            name,
            pid: 1,
            tid: 1,
            start_ns: start,
            end_ns: start + 2,
            correlation: corr,
            external_id: 0,
        };
        b.api_call(call("cudaLaunchKernel", 5, 1));
        b.api_call(call("cudaMemcpyAsync", 40, 2));
        let mut k = ActivityIn::new(ActivityKind::Kernel, "k", 0, 7, 10, 20);
        k.correlation = 1;
        b.gpu_activity(k);
        let mut c = ActivityIn::new(ActivityKind::Memcpy, "Memcpy DtoH", 0, 7, 50, 60);
        c.correlation = 2;
        b.gpu_activity(c);
        let t = b.finish();
        let mut diag = boundscope_trace::Diagnostics::default();
        let (l, _) = crate::launches::build_launch_table(&t, &mut diag);
        let d = crate::queue::stream_depths(&t, &l);
        let ctx = WindowContext { trace: &t, launches: &l, depths: &d, spec: WindowSpec::default() };
        let m = ctx.metrics("w".into(), None, i64::MIN, i64::MAX);
        assert_eq!(m.il_ns, 15);
        assert_eq!(m.gpu_busy_ns, 10);
        assert_eq!(m.gpu_idle_ns, 5);
        assert!(m.launch_bound_idle_ns <= m.gpu_idle_ns, "{m:?}");
        assert!(m.host_wait_ns <= m.gpu_idle_ns, "{m:?}");
    }
}
