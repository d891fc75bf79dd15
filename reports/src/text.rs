//! Plain-text summaries with aligned tables, for a terminal or a log. No
//! terminal control codes: the caller decides where the text goes.

use std::fmt::Write;

use boundscope_analysis::advice::{FusionCandidate, GraphAdvice, OptimizerAdvice};
use boundscope_analysis::{StepMedian, TraceReport, WindowMetrics};

pub use boundscope_analysis::names::{advice_kernel_label, fmt_bytes, fmt_ns, fmt_pct, kernel_label, short_name};

/// A table with a header row; the first column is left-aligned, the others right-aligned.
#[derive(Debug, Default)]
pub struct TextTable {
    rows: Vec<Vec<String>>,
}

impl TextTable {
    pub fn new(header: &[&str]) -> Self {
        TextTable { rows: vec![header.iter().map(|s| s.to_string()).collect()] }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self, indent: &str) -> String {
        let cols = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..cols)
            .map(|c| self.rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for r in &self.rows {
            out.push_str(indent);
            for (c, cell) in r.iter().enumerate() {
                if c == 0 {
                    let _ = write!(out, "{cell:<w$}", w = widths[c]);
                } else {
                    let _ = write!(out, "  {cell:>w$}", w = widths[c]);
                }
            }
            let trimmed = out.trim_end().len();
            out.truncate(trimmed);
            out.push('\n');
        }
        out
    }
}

/// What the column names of the windows table stand for.
pub(crate) const ABBREVIATIONS: &str = "TKLQT = total kernel launch-to-start time; l2s = launch-to-start; \
     AKD = mean kernel duration; IL = inference latency; busy = GPU busy / IL";

pub(crate) const WINDOW_HEADER: [&str; 12] = [
    "window",
    "verdict",
    "kernels",
    "TKLQT",
    "mean l2s",
    "AKD",
    "IL",
    "busy",
    "exposed",
    "host wait",
    "queue p50",
    "sync",
];

pub(crate) fn window_row(w: &WindowMetrics) -> Vec<String> {
    vec![
        w.label.clone(),
        w.verdict.bound.as_str().to_string(),
        w.kernels.to_string(),
        fmt_ns(w.tklqt_ns as f64),
        fmt_ns(w.mean_launch_to_start_ns),
        fmt_ns(w.akd_ns),
        fmt_ns(w.il_ns as f64),
        fmt_pct(w.busy_frac),
        fmt_ns(w.exposed_launch_ns as f64),
        fmt_ns(w.host_wait_ns as f64),
        fmt_ns(w.queue.p50_ns),
        fmt_ns(w.sync_ns as f64),
    ]
}

pub(crate) fn median_row(m: &StepMedian) -> Vec<String> {
    vec![
        format!("median of {} steps", m.steps),
        format!("{}C/{}T/{}G", m.cpu_bound_steps, m.transitional_steps, m.gpu_bound_steps),
        format!("{:.0}", m.kernels),
        fmt_ns(m.tklqt_ns),
        fmt_ns(m.mean_launch_to_start_ns),
        fmt_ns(m.akd_ns),
        fmt_ns(m.il_ns),
        fmt_pct(m.busy_frac),
        fmt_ns(m.exposed_launch_ns),
        fmt_ns(m.host_wait_ns),
        fmt_ns(m.queue_p50_ns),
        fmt_ns(m.sync_ns),
    ]
}

/// What to include in a single-trace summary.
#[derive(Debug, Clone, Copy, Default)]
pub struct SummaryOptions {
    /// Print one row per step.
    pub all_steps: bool,
    /// Focus on this step: its verdict and evidence come first.
    pub step: Option<i64>,
    /// Rows of the top-kernels table.
    pub top_k: usize,
}

/// The window whose evidence a summary shows: the chosen step, else the
/// median-TKLQT step, else the whole trace.
/// Rows of the launch-distribution table: launch-to-start, API call, queue.
pub(crate) const DISTRIBUTION_HEADER: [&str; 6] = ["quantity", "count", "sum", "p50", "p95", "max"];

pub(crate) fn distribution_rows(w: &WindowMetrics) -> Vec<Vec<String>> {
    [("launch-to-start", &w.launch_to_start), ("API call", &w.api), ("queue", &w.queue)]
        .into_iter()
        .map(|(name, d)| {
            vec![
                name.to_string(),
                d.count.to_string(),
                fmt_ns(d.sum_ns as f64),
                fmt_ns(d.p50_ns),
                fmt_ns(d.p95_ns),
                fmt_ns(d.max_ns as f64),
            ]
        })
        .collect()
}

/// "GPU busy .. of IL .. (idle .., paper idle ..); exposed launch .., host wait ..; sync .. in .. calls".
pub(crate) fn busy_sentence(w: &WindowMetrics) -> String {
    format!(
        "GPU busy {} of IL {} (idle {}, paper idle {}); exposed launch {}, host wait {}; sync {} in {} calls",
        fmt_ns(w.gpu_busy_ns as f64),
        fmt_ns(w.il_ns as f64),
        fmt_ns(w.gpu_idle_ns as f64),
        fmt_ns(w.gpu_idle_paper_ns as f64),
        fmt_ns(w.exposed_launch_ns as f64),
        fmt_ns(w.host_wait_ns as f64),
        fmt_ns(w.sync_ns as f64),
        w.sync_calls
    )
}

/// The note on graph-internal kernels, when the window has any.
pub(crate) fn graph_internal_sentence(w: &WindowMetrics) -> Option<String> {
    (w.graph_internal_kernels > 0).then(|| {
        format!(
            "{} kernels ran inside CUDA graphs without a launch of their own (graph-internal; TKLQT over all matched \
             kernels: {})",
            w.graph_internal_kernels,
            fmt_ns(w.tklqt_all_ns as f64)
        )
    })
}

/// The CUDA-graph suggestion as one sentence.
pub(crate) fn cuda_graph_sentence(g: &GraphAdvice) -> String {
    format!(
        "steps {}..{} launch the same {} kernels while CPU-bound; capturing a step saves ~{} per step ({} of IL; \
         its host dispatch and launches go, one graph launch stays), at least {} (exposed launch {} minus one \
         graph launch) if the host's dispatch work stayed",
        g.steps.first().copied().unwrap_or(0),
        g.steps.last().copied().unwrap_or(0),
        g.kernels_per_step,
        fmt_ns(g.saving_per_step_ns),
        fmt_pct(Some(g.saving_frac)),
        fmt_ns(g.lower_bound_per_step_ns),
        fmt_ns(g.exposed_launch_per_step_ns)
    )
}

pub(crate) const FUSION_INTRO: &str = "Kernel fusion, best first (docs/metrics.md section 5: fusing removes launches \
     and the host dispatch of the ops that issue them, which counts where the GPU waits on the host, and the \
     intermediates' GPU time, which counts where the GPU is the critical path)";

/// A suggestion's kernels: label and class of each, in launch order.
pub(crate) fn fusion_kernels(c: &FusionCandidate, code: impl Fn(&str) -> String) -> String {
    c.kernels
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let class = c.classes.get(i).map_or("?", |k| k.as_str());
            format!("{} ({class})", code(&advice_kernel_label(k)))
        })
        .collect::<Vec<_>>()
        .join(" -> ")
}

/// The optimizer advice in one line: what runs and what fusing it saves.
pub(crate) fn optimizer_sentence(u: &OptimizerAdvice) -> String {
    let host = u.host_removed_per_step_ns.min(u.host_room_per_step_ns).min(u.saving_per_step_ns);
    format!(
        "{}'s update runs as {} foreach ops ({} launches) per step; fused, it saves {} per step ({} on the host \
         path, {} on the GPU path), median over {} steps",
        u.optimizer,
        u.ops_per_step,
        u.launches_per_step,
        fmt_ns(u.saving_per_step_ns),
        fmt_ns(host),
        fmt_ns(u.saving_per_step_ns - host),
        u.steps
    )
}

/// A suggestion's saving: total, share, per occurrence, where.
pub(crate) fn fusion_saving(c: &FusionCandidate) -> String {
    let mut s = if c.counted_occurrences > 0 {
        format!(
            "saves {} ({} of IL): {} x {} occurrences ({} CPU-bound, {} GPU-bound)",
            fmt_ns(c.total_saving_ns as f64),
            fmt_pct(Some(c.saving_frac)),
            fmt_ns(c.saving_per_occurrence_ns),
            c.counted_occurrences,
            c.cpu_bound_occurrences,
            c.gpu_bound_occurrences
        )
    } else {
        "no saving counted (no occurrence in a judged window)".to_string()
    };
    s.push_str(&format!(
        "; GPU {} stream {}, PS {:.2}, {} times in the trace",
        c.device, c.stream, c.ps, c.occurrences
    ));
    s
}

pub(crate) fn focus_window<'a>(r: &'a TraceReport, opts: &SummaryOptions) -> &'a WindowMetrics {
    if let Some(n) = opts.step
        && let Some(w) = r.steps.iter().find(|w| w.step == Some(n))
    {
        return w;
    }
    let mut with_work: Vec<&WindowMetrics> = r.steps.iter().filter(|w| w.kernels > 0).collect();
    if with_work.is_empty() {
        return &r.trace_window;
    }
    with_work.sort_by_key(|w| w.tklqt_ns);
    with_work[with_work.len() / 2]
}

/// The summary of one trace: verdict first, then the numbers behind it.
pub fn summary(r: &TraceReport, opts: &SummaryOptions) -> String {
    let mut o = String::new();
    let c = &r.counts;
    let _ = writeln!(
        o,
        "{}  ({}{}; {} kernels, {} memcpy, {} memset, {} launch calls, {} steps)",
        r.source,
        r.format,
        if r.simulated { ", SIMULATED: model output, not a measurement" } else { "" },
        c.kernels,
        c.memcpys,
        c.memsets,
        c.launch_calls,
        c.steps
    );
    let focus = focus_window(r, opts);
    let (bound, basis) = match opts.step {
        Some(_) => (focus.verdict.bound, focus.label.clone()),
        None => (r.headline.bound, r.headline.basis.clone()),
    };
    let _ = writeln!(o, "\nVERDICT: {}  ({basis})", bound.as_str().to_uppercase());
    let _ = writeln!(o, "  evidence from {}:", focus.label);
    for e in &focus.verdict.evidence {
        let _ = writeln!(o, "    - {e}");
    }

    let _ = writeln!(o, "\nWINDOWS");
    let mut t = TextTable::new(&WINDOW_HEADER);
    t.row(window_row(&r.trace_window));
    if let Some(m) = &r.step_median {
        t.row(median_row(m));
    }
    for w in &r.steps {
        if opts.all_steps || opts.step == w.step {
            t.row(window_row(w));
        }
    }
    o.push_str(&t.render("  "));
    let _ = writeln!(o, "  ({ABBREVIATIONS})");

    let w = focus;
    let _ = writeln!(o, "\nLAUNCHES ({})", w.label);
    let mut t = TextTable::new(&DISTRIBUTION_HEADER);
    for row in distribution_rows(w) {
        t.row(row);
    }
    o.push_str(&t.render("  "));
    let _ = writeln!(o, "  {}", busy_sentence(w));
    if let Some(g) = graph_internal_sentence(w) {
        let _ = writeln!(o, "  {g}");
    }
    if !w.queue_depth.is_empty() {
        let _ = writeln!(o, "\nQUEUE DEPTH ({}, over IL)", w.label);
        let mut t = TextTable::new(&["stream", "mean", "max", "time >1"]);
        for d in &w.queue_depth {
            t.row(vec![
                format!("GPU {} stream {}", d.device, d.stream),
                format!("{:.2}", d.mean_depth),
                d.max_depth.to_string(),
                fmt_pct(Some(d.frac_time_depth_gt1)),
            ]);
        }
        o.push_str(&t.render("  "));
    }

    let top = &r.top_kernels.by_total_time;
    if !top.is_empty() {
        let _ = writeln!(o, "\nTOP KERNELS by total time (whole trace)");
        let mut t = TextTable::new(&["kernel", "count", "total", "mean", "p50", "mean l2s"]);
        for k in top.iter().take(opts.top_k.max(1)) {
            t.row(vec![
                short_name(&k.name, 60),
                k.count.to_string(),
                fmt_ns(k.total_ns as f64),
                fmt_ns(k.mean_ns),
                fmt_ns(k.p50_ns),
                k.mean_launch_to_start_ns.map_or("-".into(), fmt_ns),
            ]);
        }
        o.push_str(&t.render("  "));
    }
    if !r.memory.is_empty() {
        let _ = writeln!(o, "\nMEMORY (whole trace)");
        let mut t = TextTable::new(&["operation", "count", "bytes", "time", "bandwidth"]);
        for m in &r.memory {
            t.row(vec![
                short_name(&m.name, 40),
                m.count.to_string(),
                fmt_bytes(m.bytes),
                fmt_ns(m.time_ns as f64),
                format!("{:.1} GB/s", m.bandwidth_gbps),
            ]);
        }
        o.push_str(&t.render("  "));
    }
    advice_section(&mut o, r);
    if !r.warnings.is_empty() {
        let _ = writeln!(o, "\nWARNINGS");
        for w in &r.warnings {
            let _ = writeln!(o, "  - {w}");
        }
    }
    o
}

/// Fusion candidates and the CUDA-graph estimate, savings first.
fn advice_section(o: &mut String, r: &TraceReport) {
    let adv = &r.advice;
    if adv.is_empty() {
        return;
    }
    let _ = writeln!(o, "\nADVICE");
    if let Some(g) = &adv.cuda_graphs {
        let _ = writeln!(o, "  CUDA graphs: {}", cuda_graph_sentence(g));
        let _ = writeln!(o, "    basis: {}", g.basis);
        for c in &g.caveats {
            let _ = writeln!(o, "    caveat: {c}");
        }
    }
    if let Some(u) = &adv.optimizer {
        let _ = writeln!(o, "  Optimizer: {}", optimizer_sentence(u));
        let _ = writeln!(o, "    remedy: {}", u.remedy);
        let _ = writeln!(o, "    basis: {}", u.basis);
    }
    if !adv.fusion.is_empty() {
        let _ = writeln!(o, "  {FUSION_INTRO}:");
        for (i, c) in adv.fusion.iter().enumerate() {
            let _ = writeln!(o, "  {}. {}", i + 1, c.pattern);
            let _ = writeln!(o, "       kernels: {}", fusion_kernels(c, |k| k.to_string()));
            let _ = writeln!(o, "       {}", fusion_saving(c));
            let _ = writeln!(o, "       remedy: {}", c.remedy);
            let _ = writeln!(o, "       basis: {}", c.basis);
        }
    }
    for n in &adv.notes {
        let _ = writeln!(o, "  note: {n}");
    }
}

/// Several traces side by side: one column per trace.
pub fn comparison(reports: &[TraceReport], labels: &[String]) -> String {
    let mut header: Vec<&str> = vec!["metric"];
    header.extend(labels.iter().map(String::as_str));
    let mut t = TextTable::new(&header);
    let focus: Vec<(&WindowMetrics, Option<&StepMedian>)> =
        reports.iter().map(|r| (&r.trace_window, r.step_median.as_ref())).collect();
    let row =
        |t: &mut TextTable, name: &str, f: &dyn Fn(&TraceReport, &WindowMetrics, Option<&StepMedian>) -> String| {
            let mut cells = vec![name.to_string()];
            cells.extend(reports.iter().zip(&focus).map(|(r, (w, m))| f(r, w, *m)));
            t.row(cells);
        };
    row(&mut t, "verdict", &|r, _, _| r.headline.bound.as_str().to_string());
    row(&mut t, "verdict basis", &|r, _, _| r.headline.basis.clone());
    row(&mut t, "steps", &|r, _, _| r.counts.steps.to_string());
    row(&mut t, "kernels (trace)", &|r, _, _| r.counts.kernels.to_string());
    row(&mut t, "TKLQT (trace)", &|_, w, _| fmt_ns(w.tklqt_ns as f64));
    row(&mut t, "TKLQT (median step)", &|_, _, m| m.map_or("-".into(), |m| fmt_ns(m.tklqt_ns)));
    row(&mut t, "mean launch-to-start", &|_, w, _| fmt_ns(w.mean_launch_to_start_ns));
    row(&mut t, "AKD", &|_, w, _| fmt_ns(w.akd_ns));
    row(&mut t, "IL (median step)", &|_, w, m| m.map_or(fmt_ns(w.il_ns as f64), |m| fmt_ns(m.il_ns)));
    row(&mut t, "busy (median step)", &|_, w, m| fmt_pct(m.and_then(|m| m.busy_frac).or(w.busy_frac)));
    row(&mut t, "busy (trace)", &|_, w, _| fmt_pct(w.busy_frac));
    row(&mut t, "exposed launch (trace)", &|_, w, _| fmt_ns(w.exposed_launch_ns as f64));
    row(&mut t, "host wait (trace)", &|_, w, _| fmt_ns(w.host_wait_ns as f64));
    row(&mut t, "API p50", &|_, w, _| fmt_ns(w.api.p50_ns));
    row(&mut t, "queue p50", &|_, w, _| fmt_ns(w.queue.p50_ns));
    row(&mut t, "queue p95", &|_, w, _| fmt_ns(w.queue.p95_ns));
    row(&mut t, "sync (trace)", &|_, w, _| fmt_ns(w.sync_ns as f64));
    row(&mut t, "unmatched activities", &|r, _, _| r.unmatched.total().to_string());
    row(&mut t, "warnings", &|r, _, _| r.warnings.iter().map(|w| w.count).sum::<u64>().to_string());
    t.render("  ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(fmt_ns(999.0), "999 ns");
        assert_eq!(fmt_ns(2_260.0), "2.3 us");
        assert_eq!(fmt_ns(3_500_000.0), "3.50 ms");
        assert_eq!(fmt_ns(2.5e9), "2.500 s");
        assert_eq!(fmt_pct(Some(0.1234)), "12.3%");
        assert_eq!(fmt_pct(None), "-");
    }

    #[test]
    fn table_aligns() {
        let mut t = TextTable::new(&["a", "bb"]);
        t.row(vec!["long name".into(), "1".into()]);
        assert_eq!(t.render(""), "a          bb\nlong name   1\n");
    }
}
