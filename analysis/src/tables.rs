//! polars tables of an analysis: per-launch rows, per-kernel-name summary,
//! per-step summary. Column names carry their units (`_ns`, `_bytes`, `_frac`).

use boundscope_trace::{ActivityKind, Trace};
use polars::prelude::*;

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
pub fn kernels_frame(trace: &Trace, l: &LaunchTable) -> PolarsResult<DataFrame> {
    let a = &trace.activities;
    let (mut name_id, mut dur, mut l2s) = (Vec::new(), Vec::new(), Vec::new());
    // Launch rows are in activity order: walk both together.
    let mut r = 0;
    for i in 0..a.len() {
        while r < l.len() && (l.activity[r] as usize) < i {
            r += 1;
        }
        if a.kind[i] != ActivityKind::Kernel {
            continue;
        }
        let matched = r < l.len() && l.activity[r] as usize == i && !l.graph_internal[r];
        name_id.push(a.name[i].0);
        dur.push(a.end_ns[i] - a.start_ns[i]);
        l2s.push(matched.then(|| l.launch_to_start_ns[r].max(0)));
    }
    let df = DataFrame::new_infer_height(vec![
        Column::new("name_id".into(), name_id),
        Column::new("dur_ns".into(), dur),
        Column::new("l2s_ns".into(), l2s),
    ])?;
    if df.height() == 0 {
        return empty_kernels_frame();
    }
    let summary = df.group_by(["name_id"])?.apply(|g| {
        let dur = g.column("dur_ns")?.as_materialized_series();
        let l2s = g.column("l2s_ns")?.as_materialized_series();
        let count = g.height() as u64;
        let total: i64 = dur.sum()?;
        let matched = (l2s.len() - l2s.null_count()) as u64;
        DataFrame::new_infer_height(vec![
            g.column("name_id")?.head(Some(1)),
            Column::new("count".into(), [count]),
            Column::new("total_ns".into(), [total]),
            Column::new("mean_ns".into(), [total as f64 / count as f64]),
            Column::new("min_ns".into(), [dur.min::<i64>()?.unwrap_or(0)]),
            Column::new("max_ns".into(), [dur.max::<i64>()?.unwrap_or(0)]),
            Column::new("p50_ns".into(), [dur.median().unwrap_or(0.0)]),
            Column::new("matched".into(), [matched]),
            Column::new("mean_launch_to_start_ns".into(), [l2s.mean()]),
        ])
    })?;
    let summary = summary
        .sort(["total_ns", "name_id"], SortMultipleOptions::default().with_order_descending_multi([true, false]))?;
    let ids = summary.column("name_id")?.u32()?;
    let names: Vec<&str> = ids.iter().map(|id| id.map_or("", |id| trace.str(boundscope_trace::StrId(id)))).collect();
    let mut out = summary.drop("name_id")?;
    out.insert_column(0, Column::new("name".into(), names))?;
    Ok(out)
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
