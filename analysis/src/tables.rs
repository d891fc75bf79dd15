//! polars tables of an analysis: per-launch rows, per-kernel-name summary,
//! per-step summary. Column names carry their units (`_ns`, `_bytes`, `_frac`).

use boundscope_trace::{ActivityKind, StrId, Trace};
use polars::prelude::*;
use rustc_hash::FxHashMap;

use crate::launches::LaunchTable;
use crate::window::WindowMetrics;

/// One row per matched GPU activity with its per-launch quantities.
pub fn launches_frame(trace: &Trace, l: &LaunchTable, steps: &[(i64, i64, i64)]) -> PolarsResult<DataFrame> {
    let a = &trace.activities;
    let api = &trace.api;
    let n = l.len();
    let act = |f: &dyn Fn(usize) -> i64| -> Vec<i64> { l.activity.iter().map(|&i| f(i as usize)).collect() };
    let call = |f: &dyn Fn(usize) -> i64| -> Vec<i64> { l.api.iter().map(|&i| f(i as usize)).collect() };
    let step_of = |t: i64| -> Option<i64> {
        let i = steps.partition_point(|&(_, s, _)| s <= t);
        (i > 0 && t < steps[i - 1].2).then(|| steps[i - 1].0)
    };
    let mut names = Vec::with_capacity(n);
    let mut api_names = Vec::with_capacity(n);
    let mut kinds = Vec::with_capacity(n);
    let mut api_kinds = Vec::with_capacity(n);
    let mut correlation = Vec::with_capacity(n);
    let mut external = Vec::with_capacity(n);
    let mut device = Vec::with_capacity(n);
    let mut stream = Vec::with_capacity(n);
    let mut step = Vec::with_capacity(n);
    for r in 0..n {
        let i = l.activity[r] as usize;
        let li = l.api[r] as usize;
        names.push(trace.str(a.name[i]));
        api_names.push(trace.str(api.name[li]));
        kinds.push(a.kind[i].as_str());
        api_kinds.push(api.kind[li].as_str());
        correlation.push(a.correlation[i]);
        external.push(api.external_id[li]);
        device.push(a.device[i]);
        stream.push(a.stream[i]);
        step.push(step_of(a.start_ns[i]));
    }
    DataFrame::new_infer_height(vec![
        Column::new("correlation".into(), correlation),
        Column::new("kind".into(), kinds),
        Column::new("name".into(), names),
        Column::new("api_name".into(), api_names),
        Column::new("api_kind".into(), api_kinds),
        Column::new("external_id".into(), external),
        Column::new("device".into(), device),
        Column::new("stream".into(), stream),
        Column::new("step".into(), step),
        Column::new("launch_start_ns".into(), call(&|i| api.start_ns[i])),
        Column::new("launch_end_ns".into(), call(&|i| api.end_ns[i])),
        Column::new("start_ns".into(), act(&|i| a.start_ns[i])),
        Column::new("end_ns".into(), act(&|i| a.end_ns[i])),
        Column::new("dur_ns".into(), act(&|i| a.end_ns[i] - a.start_ns[i])),
        Column::new("bytes".into(), l.activity.iter().map(|&i| a.bytes[i as usize]).collect::<Vec<u64>>()),
        Column::new("launch_to_start_ns".into(), l.launch_to_start_ns.clone()),
        Column::new("api_ns".into(), l.api_ns.clone()),
        Column::new("queue_ns".into(), l.queue_ns.clone()),
        Column::new("gap_before_ns".into(), l.gap_before_ns.clone()),
        Column::new("exposed_launch_ns".into(), l.exposed_launch_ns.clone()),
        Column::new("host_wait".into(), l.host_wait.clone()),
        Column::new("graph_internal".into(), l.graph_internal.clone()),
        // Hardware latency split, when CUPTI latency timestamps were recorded.
        Column::new(
            "submit_ns".into(),
            l.activity
                .iter()
                .map(|&i| a.queued_ns[i as usize].zip(a.submitted_ns[i as usize]).map(|(q, s)| s - q))
                .collect::<Vec<Option<i64>>>(),
        ),
        Column::new(
            "dispatch_ns".into(),
            l.activity
                .iter()
                .map(|&i| a.submitted_ns[i as usize].map(|s| a.start_ns[i as usize] - s))
                .collect::<Vec<Option<i64>>>(),
        ),
    ])
}

/// Per-kernel-name summary: every kernel (matched or not), grouped by name.
/// Columns: name, count, total_ns, mean_ns, min_ns, max_ns, p50_ns,
/// matched, mean_launch_to_start_ns; sorted by total time, descending.
///
/// Grouped by hand in O(n log n) over the kernels, whatever the number of
/// distinct names: torch.compile and Triton traces carry tens of thousands,
/// and a per-group dataframe costs far more than the group's few rows.
pub fn kernels_frame(trace: &Trace, l: &LaunchTable) -> PolarsResult<DataFrame> {
    let groups = kernel_groups(trace, l);
    if groups.is_empty() {
        return empty_kernels_frame();
    }
    DataFrame::new_infer_height(vec![
        Column::new("name".into(), groups.iter().map(|g| trace.str(g.name)).collect::<Vec<&str>>()),
        Column::new("count".into(), groups.iter().map(|g| g.count).collect::<Vec<u64>>()),
        Column::new("total_ns".into(), groups.iter().map(|g| g.total_ns).collect::<Vec<i64>>()),
        Column::new("mean_ns".into(), groups.iter().map(|g| g.mean_ns).collect::<Vec<f64>>()),
        Column::new("min_ns".into(), groups.iter().map(|g| g.min_ns).collect::<Vec<i64>>()),
        Column::new("max_ns".into(), groups.iter().map(|g| g.max_ns).collect::<Vec<i64>>()),
        Column::new("p50_ns".into(), groups.iter().map(|g| g.p50_ns).collect::<Vec<f64>>()),
        Column::new("matched".into(), groups.iter().map(|g| g.matched).collect::<Vec<u64>>()),
        Column::new(
            "mean_launch_to_start_ns".into(),
            groups.iter().map(|g| g.mean_launch_to_start_ns).collect::<Vec<Option<f64>>>(),
        ),
    ])
}

/// The figures of one kernel name (one row of [`kernels_frame`]).
#[derive(Debug, Clone, PartialEq)]
pub struct KernelGroup {
    pub name: StrId,
    pub count: u64,
    /// Sum of durations, saturating (never wraps).
    pub total_ns: i64,
    pub mean_ns: f64,
    pub min_ns: i64,
    pub max_ns: i64,
    /// Median duration (mean of the two middle ones for an even count).
    pub p50_ns: f64,
    /// Kernels with a launch call of their own (graph-internal ones excluded).
    pub matched: u64,
    /// Mean launch-to-start (clamped at 0) over the matched ones.
    pub mean_launch_to_start_ns: Option<f64>,
}

/// Every kernel grouped by name, sorted by total time (descending), then name id.
pub fn kernel_groups(trace: &Trace, l: &LaunchTable) -> Vec<KernelGroup> {
    let a = &trace.activities;
    // Dense group index per name id, in order of first appearance.
    let mut group_of: FxHashMap<StrId, u32> = FxHashMap::default();
    let mut kernel_group: Vec<u32> = Vec::new();
    let mut names: Vec<StrId> = Vec::new();
    let mut l2s: Vec<Option<i64>> = Vec::new();
    // Launch rows are in activity order: walk both together.
    let mut r = 0;
    for i in 0..a.len() {
        while r < l.len() && (l.activity[r] as usize) < i {
            r += 1;
        }
        if a.kind[i] != ActivityKind::Kernel {
            continue;
        }
        let next = names.len() as u32;
        let g = *group_of.entry(a.name[i]).or_insert(next);
        if g == next {
            names.push(a.name[i]);
        }
        kernel_group.push(g);
        let matched = r < l.len() && l.activity[r] as usize == i && !l.graph_internal[r];
        l2s.push(matched.then(|| l.launch_to_start_ns[r].max(0)));
    }
    // Counting sort of the kernels by group: each group's durations end up contiguous.
    let mut start = vec![0usize; names.len() + 1];
    for &g in &kernel_group {
        start[g as usize + 1] += 1;
    }
    for g in 0..names.len() {
        start[g + 1] += start[g];
    }
    let mut fill = start.clone();
    let mut durs = vec![0i64; kernel_group.len()];
    let mut l2s_sum = vec![(0i128, 0u64); names.len()];
    let mut k = 0;
    for i in 0..a.len() {
        if a.kind[i] != ActivityKind::Kernel {
            continue;
        }
        let g = kernel_group[k] as usize;
        durs[fill[g]] = a.end_ns[i].saturating_sub(a.start_ns[i]);
        fill[g] += 1;
        if let Some(v) = l2s[k] {
            l2s_sum[g].0 += i128::from(v);
            l2s_sum[g].1 += 1;
        }
        k += 1;
    }
    let mut out: Vec<KernelGroup> = names
        .iter()
        .enumerate()
        .map(|(g, &name)| {
            let d = &mut durs[start[g]..start[g + 1]];
            d.sort_unstable();
            let n = d.len();
            let total: i128 = d.iter().map(|&x| i128::from(x)).sum();
            let p50 = if n % 2 == 1 { d[n / 2] as f64 } else { (d[n / 2 - 1] as f64 + d[n / 2] as f64) / 2.0 };
            let (l2s_total, matched) = l2s_sum[g];
            KernelGroup {
                name,
                count: n as u64,
                total_ns: i64::try_from(total).unwrap_or(i64::MAX),
                mean_ns: total as f64 / n as f64,
                min_ns: d[0],
                max_ns: d[n - 1],
                p50_ns: p50,
                matched,
                mean_launch_to_start_ns: (matched > 0).then(|| l2s_total as f64 / matched as f64),
            }
        })
        .collect();
    out.sort_by(|x, y| y.total_ns.cmp(&x.total_ns).then(x.name.cmp(&y.name)));
    out
}

fn empty_kernels_frame() -> PolarsResult<DataFrame> {
    DataFrame::new_infer_height(vec![
        Column::new("name".into(), Vec::<&str>::new()),
        Column::new("count".into(), Vec::<u64>::new()),
        Column::new("total_ns".into(), Vec::<i64>::new()),
        Column::new("mean_ns".into(), Vec::<f64>::new()),
        Column::new("min_ns".into(), Vec::<i64>::new()),
        Column::new("max_ns".into(), Vec::<i64>::new()),
        Column::new("p50_ns".into(), Vec::<f64>::new()),
        Column::new("matched".into(), Vec::<u64>::new()),
        Column::new("mean_launch_to_start_ns".into(), Vec::<Option<f64>>::new()),
    ])
}

/// One row per window (steps, or the whole trace), flat: the columns of
/// [`WindowMetrics`] with distributions spelled out.
pub fn windows_frame(windows: &[WindowMetrics]) -> PolarsResult<DataFrame> {
    let col_i = |name: &str, f: &dyn Fn(&WindowMetrics) -> i64| {
        Column::new(name.into(), windows.iter().map(f).collect::<Vec<i64>>())
    };
    let col_u = |name: &str, f: &dyn Fn(&WindowMetrics) -> u64| {
        Column::new(name.into(), windows.iter().map(f).collect::<Vec<u64>>())
    };
    let col_f = |name: &str, f: &dyn Fn(&WindowMetrics) -> f64| {
        Column::new(name.into(), windows.iter().map(f).collect::<Vec<f64>>())
    };
    DataFrame::new_infer_height(vec![
        Column::new("window".into(), windows.iter().map(|w| w.label.as_str()).collect::<Vec<&str>>()),
        Column::new("step".into(), windows.iter().map(|w| w.step).collect::<Vec<Option<i64>>>()),
        col_i("start_ns", &|w| w.start_ns),
        col_i("end_ns", &|w| w.end_ns),
        Column::new("verdict".into(), windows.iter().map(|w| w.verdict.bound.as_str()).collect::<Vec<&str>>()),
        col_u("kernels", &|w| w.kernels),
        col_u("matched_kernels", &|w| w.matched_kernels),
        col_u("graph_internal_kernels", &|w| w.graph_internal_kernels),
        col_u("memcpys", &|w| w.memcpys),
        col_u("memsets", &|w| w.memsets),
        col_i("tklqt_ns", &|w| w.tklqt_ns),
        col_i("tklqt_all_ns", &|w| w.tklqt_all_ns),
        col_f("mean_launch_to_start_ns", &|w| w.mean_launch_to_start_ns),
        col_f("akd_ns", &|w| w.akd_ns),
        col_i("kernel_time_ns", &|w| w.kernel_time_ns),
        col_i("il_ns", &|w| w.il_ns),
        col_i("gpu_busy_ns", &|w| w.gpu_busy_ns),
        col_i("gpu_idle_ns", &|w| w.gpu_idle_ns),
        col_i("gpu_idle_paper_ns", &|w| w.gpu_idle_paper_ns),
        Column::new("busy_frac".into(), windows.iter().map(|w| w.busy_frac).collect::<Vec<Option<f64>>>()),
        col_i("exposed_launch_ns", &|w| w.exposed_launch_ns),
        col_i("host_wait_ns", &|w| w.host_wait_ns),
        col_i("launch_bound_idle_ns", &|w| w.launch_bound_idle_ns),
        col_i("api_sum_ns", &|w| w.api.sum_ns),
        col_f("api_p50_ns", &|w| w.api.p50_ns),
        col_f("api_p95_ns", &|w| w.api.p95_ns),
        col_i("queue_sum_ns", &|w| w.queue.sum_ns),
        col_f("queue_p50_ns", &|w| w.queue.p50_ns),
        col_f("queue_p95_ns", &|w| w.queue.p95_ns),
        col_f("launch_to_start_p50_ns", &|w| w.launch_to_start.p50_ns),
        col_f("launch_to_start_p95_ns", &|w| w.launch_to_start.p95_ns),
        col_i("sync_ns", &|w| w.sync_ns),
        col_u("sync_calls", &|w| w.sync_calls),
        col_f("max_stream_frac_time_depth_gt1", &|w| {
            w.queue_depth.iter().map(|d| d.frac_time_depth_gt1).fold(0.0, f64::max)
        }),
        col_u("clock_skew_launches", &|w| w.clock_skew_launches),
    ])
}
