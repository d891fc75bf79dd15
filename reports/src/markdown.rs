//! The Markdown report (`report.md`) of one trace: the verdict first, the
//! evidence it rests on, then the numbers (windows, launches, queue depth,
//! top kernels, memory, advice, warnings) with the plots embedded by relative
//! links. It says what the terminal summary ([`crate::text::summary`]) says,
//! with the same formatting helpers and the same focus window, as GitHub-
//! flavoured tables.

use std::fmt::Write;

use boundscope_analysis::{TraceReport, WindowMetrics};

use crate::plots::{LAUNCH_TO_START_SVG, TOP_KERNELS_SVG};
use crate::text::{
    ABBREVIATIONS, DISTRIBUTION_HEADER, FUSION_INTRO, SummaryOptions, WINDOW_HEADER, busy_sentence,
    cuda_graph_sentence, distribution_rows, fmt_bytes, fmt_ns, fmt_pct, focus_window, fusion_kernels, fusion_saving,
    graph_internal_sentence, median_row, optimizer_sentence, short_name, window_row,
};

/// Steps listed one per row; longer runs are summarized by the median row
/// (every step is in `steps.csv`).
const MAX_STEP_ROWS: usize = 50;

/// A GitHub-flavoured Markdown table; the first column left-aligned, the rest right-aligned.
fn table(o: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let cell = |s: &str| s.replace('|', "\\|");
    let _ = writeln!(o, "| {} |", header.iter().map(|h| cell(h)).collect::<Vec<_>>().join(" | "));
    let align: Vec<&str> = (0..header.len()).map(|i| if i == 0 { ":---" } else { "---:" }).collect();
    let _ = writeln!(o, "|{}|", align.join("|"));
    for r in rows {
        let _ = writeln!(o, "| {} |", r.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | "));
    }
    o.push('\n');
}

/// A name as inline code (kernel names hold `<`, `*` and `_`).
fn code(name: &str) -> String {
    format!("`{}`", name.replace('`', "'"))
}

/// The report. `plots` is the directory of the plot files relative to the
/// report (forward slashes), or `None` to leave the images out.
pub fn markdown(r: &TraceReport, plots: Option<&str>) -> String {
    let mut o = String::new();
    let c = &r.counts;
    let _ = writeln!(o, "# boundscope report\n");
    let _ = writeln!(o, "- **trace**: {} ({})", code(&r.source), r.format);
    let _ = writeln!(
        o,
        "- **events**: {} kernels, {} memcpy, {} memset, {} launch calls, {} steps",
        c.kernels, c.memcpys, c.memsets, c.launch_calls, c.steps
    );
    if !r.devices.is_empty() {
        // "8 x NVIDIA A100-PG509-200" rather than eight identical entries.
        let mut by_name: Vec<(&str, usize)> = Vec::new();
        for d in &r.devices {
            match by_name.iter_mut().find(|(n, _)| *n == d.name) {
                Some((_, k)) => *k += 1,
                None => by_name.push((&d.name, 1)),
            }
        }
        let devices: Vec<String> = by_name.iter().map(|(n, k)| format!("{k} x {n}")).collect();
        let _ = writeln!(o, "- **devices**: {}", devices.join(", "));
    }
    o.push('\n');
    if r.simulated {
        let _ = writeln!(o, "> **SIMULATED**: every number below is a model output, not a measurement.\n");
    }

    let opts = SummaryOptions::default();
    let focus = focus_window(r, &opts);
    let _ = writeln!(o, "## Verdict: {}\n", r.headline.bound.as_str());
    let _ = writeln!(o, "**{}** ({}). Evidence from {}:\n", r.headline.bound.as_str(), r.headline.basis, focus.label);
    for e in &focus.verdict.evidence {
        let _ = writeln!(o, "- {e}");
    }
    o.push('\n');

    let _ = writeln!(o, "## Windows\n");
    let mut rows = vec![window_row(&r.trace_window)];
    if let Some(m) = &r.step_median {
        rows.push(median_row(m));
    }
    if r.steps.len() <= MAX_STEP_ROWS {
        rows.extend(r.steps.iter().map(window_row));
    }
    table(&mut o, &WINDOW_HEADER, &rows);
    if r.steps.len() > MAX_STEP_ROWS {
        let _ = writeln!(o, "{} steps: one row each in `steps.csv`.\n", r.steps.len());
    }
    let _ = writeln!(o, "{ABBREVIATIONS}.\n");

    launches_section(&mut o, focus);
    if let Some(dir) = plots {
        let _ = writeln!(
            o,
            "![Launch-to-start time per launch, whole trace (log buckets, p50 and p95 marked)]({dir}/{LAUNCH_TO_START_SVG})\n"
        );
    }
    if !focus.queue_depth.is_empty() {
        let _ = writeln!(o, "## Queue depth ({}, over IL)\n", focus.label);
        let rows: Vec<Vec<String>> = focus
            .queue_depth
            .iter()
            .map(|d| {
                vec![
                    format!("GPU {} stream {}", d.device, d.stream),
                    format!("{:.2}", d.mean_depth),
                    d.max_depth.to_string(),
                    fmt_pct(Some(d.frac_time_depth_gt1)),
                ]
            })
            .collect();
        table(&mut o, &["stream", "mean", "max", "time >1"], &rows);
    }

    let top = &r.top_kernels.by_total_time;
    let _ = writeln!(o, "## Top kernels by total time (whole trace)\n");
    if let Some(dir) = plots {
        let _ = writeln!(o, "![Top kernels by total GPU time]({dir}/{TOP_KERNELS_SVG})\n");
    }
    if top.is_empty() {
        let _ = writeln!(o, "No kernels in this trace.\n");
    } else {
        let rows: Vec<Vec<String>> = top
            .iter()
            .map(|k| {
                vec![
                    code(&short_name(&k.name, 80)),
                    k.count.to_string(),
                    fmt_ns(k.total_ns as f64),
                    fmt_ns(k.mean_ns),
                    fmt_ns(k.p50_ns),
                    k.mean_launch_to_start_ns.map_or("-".into(), fmt_ns),
                ]
            })
            .collect();
        table(&mut o, &["kernel", "count", "total", "mean", "p50", "mean l2s"], &rows);
    }

    if !r.memory.is_empty() {
        let _ = writeln!(o, "## Memory (whole trace)\n");
        let rows: Vec<Vec<String>> = r
            .memory
            .iter()
            .map(|m| {
                vec![
                    code(&m.name),
                    m.count.to_string(),
                    fmt_bytes(m.bytes),
                    fmt_ns(m.time_ns as f64),
                    format!("{:.1} GB/s", m.bandwidth_gbps),
                ]
            })
            .collect();
        table(&mut o, &["operation", "count", "bytes", "time", "bandwidth"], &rows);
    }
    advice_section(&mut o, r);
    if !r.warnings.is_empty() {
        let _ = writeln!(o, "## Warnings\n");
        for w in &r.warnings {
            let _ = writeln!(o, "- {w}");
        }
        o.push('\n');
    }
    let _ = writeln!(o, "---\nDefinitions of every number: boundscope's `docs/metrics.md`.");
    o
}

fn launches_section(o: &mut String, w: &WindowMetrics) {
    let _ = writeln!(o, "## Launches ({})\n", w.label);
    table(o, &DISTRIBUTION_HEADER, &distribution_rows(w));
    let _ = writeln!(o, "{}.\n", busy_sentence(w));
    if let Some(g) = graph_internal_sentence(w) {
        let _ = writeln!(o, "{g}.\n");
    }
}

fn advice_section(o: &mut String, r: &TraceReport) {
    let adv = &r.advice;
    if adv.is_empty() {
        return;
    }
    let _ = writeln!(o, "## Advice\n");
    if let Some(g) = &adv.cuda_graphs {
        let _ = writeln!(o, "- **CUDA graphs**: {}.", cuda_graph_sentence(g));
        let _ = writeln!(o, "  - Basis: {}.", g.basis);
        for c in &g.caveats {
            let _ = writeln!(o, "  - Caveat: {c}.");
        }
    }
    if let Some(u) = &adv.optimizer {
        let _ = writeln!(o, "- **Optimizer**: {}.", optimizer_sentence(u));
        let _ = writeln!(o, "  - Remedy: {}", u.remedy);
        let _ = writeln!(o, "  - Basis: {}.", u.basis);
    }
    for n in &adv.notes {
        let _ = writeln!(o, "- {n}");
    }
    o.push('\n');
    if !adv.fusion.is_empty() {
        let _ = writeln!(o, "{FUSION_INTRO}:\n");
        for (i, c) in adv.fusion.iter().enumerate() {
            let _ = writeln!(o, "{}. **{}**", i + 1, c.pattern.replace('_', "\\_"));
            let _ = writeln!(o, "   - Kernels: {}", fusion_kernels(c, code));
            let _ = writeln!(o, "   - {}", upper_first(&fusion_saving(c)));
            let _ = writeln!(o, "   - Remedy: {}", c.remedy);
            let _ = writeln!(o, "   - Basis: {}.", c.basis);
        }
        o.push('\n');
    }
}

/// The text with its first letter in upper case.
fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
}
