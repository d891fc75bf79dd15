//! The Overview screen: the verdict card with its strongest evidence, time
//! charts over the history tier the zoom picks, the splits of GPU idle time
//! and of launch-to-start time, and the queue depth per stream.

use boundscope_analysis::live::{LiveSnapshot, WindowPoint};
use boundscope_analysis::queue::DepthSummary;
use boundscope_analysis::window::{Bound, WindowMetrics};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::charts::{self, Part, Series};
use super::{Ctx, block};
use crate::app::App;
use crate::style::{self, fit};

/// The numbers of what the card and the splits show: the current window or
/// step, or (paused, `[` `]`) one history point.
#[derive(Debug)]
pub(crate) struct Focus<'a> {
    pub label: String,
    pub bound: Bound,
    /// Provisional window, or the number of windows a point merges.
    pub note: Option<String>,
    pub evidence: Vec<String>,
    pub busy_frac: Option<f64>,
    pub idle_ns: i64,
    pub host_wait_ns: i64,
    pub launch_bound_idle_ns: i64,
    pub api_sum_ns: i64,
    pub queue_sum_ns: i64,
    /// p50 / p95 of API and queue time (windows only).
    pub api_q: Option<(f64, f64, f64, f64)>,
    pub depth: Option<&'a [DepthSummary]>,
}

/// The three pieces of evidence that decided the verdict: for CPU-bound the
/// busy, idle-share and queue lines (its three conditions); for GPU-bound
/// busy, queue and depth; for transitional, busy and the two lines of the
/// nearer side. Lines are recognised by their wording, in `judge`'s order.
pub(crate) fn strongest(w: &WindowMetrics) -> Vec<String> {
    let ev = &w.verdict.evidence;
    let find = |key: &str| ev.iter().find(|e| e.contains(key)).cloned();
    let (busy, idle, queue, depth) = (find("GPU busy"), find("GPU idle"), find("queue p50"), find("busiest stream"));
    let near_gpu = w.busy_frac.is_some_and(|b| b >= 0.7);
    let picked: Vec<String> = match w.verdict.bound {
        Bound::CpuBound => [busy, idle, queue].into_iter().flatten().collect(),
        Bound::GpuBound => [busy, queue, depth].into_iter().flatten().collect(),
        Bound::Transitional if near_gpu => [busy, queue, depth].into_iter().flatten().collect(),
        Bound::Transitional => [busy, idle, queue].into_iter().flatten().collect(),
        Bound::NoGpuWork => Vec::new(),
    };
    if picked.is_empty() { ev.iter().take(3).cloned().collect() } else { picked }
}

fn of_window(w: &WindowMetrics, provisional: bool) -> Focus<'_> {
    let kind = if w.step.is_some() { "step" } else { "window" };
    let label = if w.step.is_some() { w.label.clone() } else { format!("window {}", w.label) };
    Focus {
        label,
        bound: w.verdict.bound,
        note: provisional.then(|| format!("provisional {kind}: later records may still change it")),
        evidence: strongest(w),
        busy_frac: w.busy_frac,
        idle_ns: w.gpu_idle_ns,
        host_wait_ns: w.host_wait_ns,
        launch_bound_idle_ns: w.launch_bound_idle_ns,
        api_sum_ns: w.api.sum_ns,
        queue_sum_ns: w.queue.sum_ns,
        api_q: Some((w.api.p50_ns, w.api.p95_ns, w.queue.p50_ns, w.queue.p95_ns)),
        depth: Some(&w.queue_depth),
    }
}

fn of_point(p: &WindowPoint) -> Focus<'static> {
    let idle = p.il_ns.saturating_sub(p.gpu_busy_ns);
    let host_share = if idle > 0 { p.launch_bound_idle_ns as f64 / idle as f64 } else { 0.0 };
    Focus {
        label: format!("{} .. {}", style::at(p.start_ns), style::at(p.end_ns)),
        bound: p.bound(),
        note: Some(format!(
            "{} window{}: {} CPU-bound, {} transitional, {} GPU-bound",
            p.windows,
            if p.windows == 1 { "" } else { "s" },
            p.cpu_bound,
            p.transitional,
            p.gpu_bound
        )),
        evidence: vec![
            format!(
                "GPU busy {} of IL ({} of {})",
                style::pct(p.busy_frac()),
                style::ns_i(p.gpu_busy_ns),
                style::ns_i(p.il_ns)
            ),
            format!("{:.1}% of GPU idle time is host wait or exposed launch latency", host_share * 100.0),
            format!("queue p50 up to {}; {} kernels, {} launches", style::ns(p.queue_p50_ns), p.kernels, p.launches),
        ],
        busy_frac: p.busy_frac(),
        idle_ns: idle,
        host_wait_ns: p.host_wait_ns,
        launch_bound_idle_ns: p.launch_bound_idle_ns,
        api_sum_ns: p.api_sum_ns,
        queue_sum_ns: p.queue_sum_ns,
        api_q: None,
        depth: None,
    }
}

/// What the card shows: the cursor's point while paused, else the current verdict.
pub(crate) fn focus<'a>(app: &'a App, s: &'a LiveSnapshot) -> Option<Focus<'a>> {
    if let Some(p) = app.cursor_point() {
        return Some(of_point(p));
    }
    s.current().map(|(w, provisional)| of_window(w, provisional))
}

pub(crate) fn render(app: &App, frame: &mut Frame, area: Rect, ctx: Ctx) {
    let Some(s) = super::snapshot_or_wait(app, frame, area, "Overview", ctx) else { return };
    let f = focus(app, s);
    if ctx.full {
        let [left, right] = Layout::horizontal([Constraint::Length(52), Constraint::Min(0)]).areas(area);
        let [card, idle, l2s, depth] = Layout::vertical([
            Constraint::Length(11),
            Constraint::Length(6),
            Constraint::Length(5),
            Constraint::Min(0),
        ])
        .areas(left);
        verdict_card(frame, card, f.as_ref(), ctx);
        idle_split(frame, idle, f.as_ref(), ctx);
        l2s_split(frame, l2s, f.as_ref(), ctx);
        depth_table(frame, depth, f.as_ref(), s, ctx);
        charts_area(app, s, frame, right, ctx);
    } else {
        let streams = f.as_ref().and_then(|f| f.depth).map_or(1, |d| d.len().clamp(1, 3)) as u16;
        let [card, charts, splits, depth] = Layout::vertical([
            Constraint::Length(5),
            Constraint::Min(4),
            Constraint::Length(2),
            Constraint::Length(streams + 1),
        ])
        .areas(area);
        verdict_card(frame, card, f.as_ref(), ctx);
        charts_area(app, s, frame, charts, ctx);
        let [idle, l2s] = Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(splits);
        idle_split(frame, idle, f.as_ref(), ctx);
        l2s_split(frame, l2s, f.as_ref(), ctx);
        depth_table(frame, depth, f.as_ref(), s, ctx);
    }
}

fn verdict_card(frame: &mut Frame, area: Rect, f: Option<&Focus<'_>>, ctx: Ctx) {
    let theme = ctx.theme;
    let Some(f) = f else {
        super::empty(frame, area, "Verdict", "no window has closed yet", ctx);
        return;
    };
    let title = Line::from(vec![
        Span::raw(" "),
        Span::styled(format!(" {} ", f.bound.as_str()), theme.bound_badge(f.bound)),
        Span::styled(format!(" {} ", f.label), theme.title()),
    ]);
    let inner_w = area.width.saturating_sub(4) as usize;
    let mut lines = Vec::new();
    if let Some(n) = &f.note {
        let n = if ctx.full { n.clone() } else { fit(n, inner_w + 2) };
        lines.push(Line::from(Span::styled(n, theme.warn())));
    }
    for e in &f.evidence {
        // Compact: one line each, cut; full: wrapped.
        let text = if ctx.full { format!("- {e}") } else { fit(&format!("- {e}"), inner_w + 2) };
        lines.push(Line::from(text));
    }
    let b = ratatui::widgets::Block::bordered().border_style(theme.dim()).title(title);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(b), area);
}

fn idle_split(frame: &mut Frame, area: Rect, f: Option<&Focus<'_>>, ctx: Ctx) {
    let theme = ctx.theme;
    let Some(f) = f else { return };
    let exposed_only = f.launch_bound_idle_ns.saturating_sub(f.host_wait_ns).max(0);
    let other = f.idle_ns.saturating_sub(f.launch_bound_idle_ns).max(0);
    let fl = charts::fills(ctx);
    let parts = [
        Part { label: "exposed launch", value: exposed_only as f64, style: theme.series(0), fill: fl[0] },
        Part { label: "host wait", value: f.host_wait_ns as f64, style: theme.series(1), fill: fl[1] },
        Part { label: "other", value: other as f64, style: theme.dim(), fill: fl[2] },
    ];
    let share = |v: f64| if f.idle_ns > 0 { v / f.idle_ns as f64 } else { 0.0 };
    if ctx.full && area.height >= 4 {
        let w = area.width.saturating_sub(2) as usize;
        let mut lines = vec![charts::stacked(&parts, w)];
        for p in &parts {
            lines.push(Line::from(vec![
                Span::styled(p.fill.to_string(), p.style),
                Span::raw(format!(
                    " {:<15}{:>10}  {:>6}",
                    p.label,
                    style::ns(p.value),
                    style::pct(Some(share(p.value)))
                )),
            ]));
        }
        let title = format!("GPU idle {} (busy {})", style::ns_i(f.idle_ns), style::pct(f.busy_frac));
        frame.render_widget(Paragraph::new(lines).block(block(title, theme)), area);
    } else {
        let label = format!("idle {} ", style::ns_i(f.idle_ns));
        let legend = format!(
            " exp {} · host {} · other {}",
            style::pct(Some(share(parts[0].value))),
            style::pct(Some(share(parts[1].value))),
            style::pct(Some(share(parts[2].value)))
        );
        one_line_split(frame, area, &label, &parts, &legend, ctx);
    }
}

fn l2s_split(frame: &mut Frame, area: Rect, f: Option<&Focus<'_>>, ctx: Ctx) {
    let theme = ctx.theme;
    let Some(f) = f else { return };
    let fl = charts::fills(ctx);
    let parts = [
        Part { label: "API", value: f.api_sum_ns as f64, style: theme.series(2), fill: fl[0] },
        Part { label: "queue", value: f.queue_sum_ns as f64, style: theme.series(3), fill: fl[1] },
    ];
    let total = (f.api_sum_ns + f.queue_sum_ns) as f64;
    let share = |v: f64| if total > 0.0 { v / total } else { 0.0 };
    if ctx.full && area.height >= 3 {
        let w = area.width.saturating_sub(2) as usize;
        let mut lines = vec![charts::stacked(&parts, w)];
        for (i, p) in parts.iter().enumerate() {
            let q = f.api_q.map_or(String::new(), |q| {
                let (p50, p95) = if i == 0 { (q.0, q.1) } else { (q.2, q.3) };
                format!("  p50 {} p95 {}", style::ns(p50), style::ns(p95))
            });
            lines.push(Line::from(vec![
                Span::styled(p.fill.to_string(), p.style),
                Span::raw(format!(" {:<6}{:>6}{q}", p.label, style::pct(Some(share(p.value))))),
            ]));
        }
        frame.render_widget(Paragraph::new(lines).block(block("launch to start: API / queue", theme)), area);
    } else {
        let legend = format!(
            " API {} · queue {}{}",
            style::pct(Some(share(parts[0].value))),
            style::pct(Some(share(parts[1].value))),
            f.api_q.map_or(String::new(), |q| format!(" (q p50 {})", style::ns(q.2)))
        );
        one_line_split(frame, area, "l2s ", &parts, &legend, ctx);
    }
}

/// "label [bar] legend" on one line, the bar taking what the text leaves.
fn one_line_split(frame: &mut Frame, area: Rect, label: &str, parts: &[Part], legend: &str, ctx: Ctx) {
    let w = area.width as usize;
    let label = format!("{label:<12}");
    let bar_w = w.saturating_sub(label.chars().count() + legend.chars().count()).min(30);
    let mut spans = vec![Span::styled(label, ctx.theme.title())];
    spans.extend(charts::stacked(parts, bar_w).spans);
    spans.push(Span::raw(legend.to_string()));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn depth_table(frame: &mut Frame, area: Rect, f: Option<&Focus<'_>>, s: &LiveSnapshot, ctx: Ctx) {
    let theme = ctx.theme;
    if area.is_empty() {
        return;
    }
    let mut lines = Vec::new();
    match f.and_then(|f| f.depth) {
        None if f.is_some() => {
            lines.push(Line::from(Span::styled("per-stream depth: only for the current window (Esc)", theme.dim())))
        }
        None => {}
        Some([]) => lines.push(Line::from(Span::styled("no launch waited in a queue", theme.dim()))),
        Some(d) => {
            let mut d: Vec<&DepthSummary> = d.iter().collect();
            d.sort_by(|a, b| {
                b.mean_depth.total_cmp(&a.mean_depth).then((a.device, a.stream).cmp(&(b.device, b.stream)))
            });
            lines.push(Line::from(Span::styled(
                format!("{:<16}{:>7}{:>5}{:>8}", "stream", "mean", "max", "time>1"),
                theme.dim(),
            )));
            for x in d {
                lines.push(Line::from(format!(
                    "{:<16}{:>7.2}{:>5}{:>8}",
                    format!("GPU {} stream {}", x.device, x.stream),
                    x.mean_depth,
                    x.max_depth,
                    style::pct(Some(x.frac_time_depth_gt1))
                )));
            }
        }
    }
    if ctx.full {
        let t = &s.totals;
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled("run so far", theme.title())));
        lines.push(Line::from(format!(
            "launches {} kernels {} copies {}",
            style::count(t.launch_calls as f64),
            style::count(t.kernels as f64),
            style::count(t.memcpys as f64),
        )));
        lines.push(Line::from(format!("copied {}", style::bytes(t.memcpy_bytes))));
        lines.push(Line::from(format!(
            "events {} late {} steps {} window {}",
            style::count(t.events as f64),
            t.late_events,
            s.steps_total,
            style::ns_i(s.window_ns)
        )));
        if !s.warnings.is_empty() {
            lines.push(Line::from(Span::styled(
                format!("{} analysis warnings (Log screen)", s.warnings.len()),
                theme.warn(),
            )));
        }
        frame.render_widget(Paragraph::new(lines).block(block("queue depth per stream", theme)), area);
    } else {
        frame.render_widget(Paragraph::new(lines), area);
    }
}

/// The four time charts, stacked.
fn charts_area(app: &App, s: &LiveSnapshot, frame: &mut Frame, area: Rect, ctx: Ctx) {
    let theme = ctx.theme;
    let tier: &[WindowPoint] = app.tier().unwrap_or(&[]);
    let span = app.tier_ns().unwrap_or(s.window_ns);
    // As many points as the chart has columns (two per column in braille).
    let per_col = if ctx.full && !ctx.ascii { 2 } else { 1 };
    let cols = area.width.saturating_sub(if ctx.full { 10 } else { 26 }) as usize * per_col;
    let first = tier.len().saturating_sub(cols.max(1));
    let shown = &tier[first..];
    let x = |p: &WindowPoint| p.start_ns as f64 / 1e9;
    let busy: Vec<(f64, f64)> = shown.iter().map(|p| (x(p), p.busy_frac().unwrap_or(0.0) * 100.0)).collect();
    let tklqt: Vec<(f64, f64)> = shown.iter().map(|p| (x(p), p.tklqt_ns as f64 / 1e6)).collect();
    let rate: Vec<(f64, f64)> = shown.iter().map(|p| (x(p), p.launch_rate())).collect();
    let x0 = shown.first().map_or(0.0, x);
    let x1 = shown.last().map_or(1.0, |p| p.end_ns as f64 / 1e9).max(x0 + 1e-3);
    let util = s.counters.iter().find(|c| c.name == "gpu.util");
    let util_pts: Vec<(f64, f64)> = util
        .map(|c| {
            c.recent
                .iter()
                .map(|&(t, v)| (t as f64 / 1e9, v))
                .filter(|&(t, _)| !ctx.full || (t >= x0 && t <= x1))
                .collect()
        })
        .unwrap_or_default();
    let cursor = app.cursor_point().map(x);
    let ymax = |v: &[(f64, f64)]| nice_max(v.iter().map(|p| p.1).fold(0.0, f64::max));
    let zoom = format!("{} per point", style::ns_i(span));
    let last = |v: &[(f64, f64)]| v.last().map(|p| p.1);
    let extras: Vec<String> = ["gpu.power", "gpu.sm_clock", "gpu.mem_util"]
        .iter()
        .filter_map(|n| s.counters.iter().find(|c| c.name == *n))
        .map(|c| format!("{} {:.0} {}", c.name.trim_start_matches("gpu."), c.last, c.unit))
        .collect();
    let series = [
        Series {
            title: if ctx.full { format!("GPU busy % ({zoom})") } else { "GPU busy %".into() },
            now: last(&busy).map_or("-".into(), |v| format!("{v:.1}%")),
            points: &busy,
            y_max: 100.0,
            y_label: |v| format!("{v:.0}%"),
            style: theme.series(0),
            cursor,
            missing: Some("no final window yet".into()),
        },
        Series {
            title: format!("TKLQT per {}", style::ns_i(span)),
            now: last(&tklqt).map_or("-".into(), |v| style::ns(v * 1e6)),
            points: &tklqt,
            y_max: ymax(&tklqt),
            y_label: |v| style::ns(v * 1e6),
            style: theme.series(1),
            cursor,
            missing: Some("no final window yet".into()),
        },
        Series {
            title: "launch rate /s".into(),
            now: last(&rate).map_or("-".into(), style::count),
            points: &rate,
            y_max: ymax(&rate),
            y_label: style::count,
            style: theme.series(2),
            cursor,
            missing: Some("no final window yet".into()),
        },
        Series {
            title: "NVML gpu.util %".into(),
            now: util.map_or("-".into(), |c| {
                let mut v = format!("{:.0}%", c.last);
                for e in &extras {
                    v.push_str("  ");
                    v.push_str(e);
                }
                v
            }),
            points: &util_pts,
            y_max: 100.0,
            y_label: |v| format!("{v:.0}%"),
            style: theme.series(3),
            cursor,
            missing: Some(if util.is_some() {
                "no gpu.util sample in this time range".into()
            } else {
                "NVML: no GPU samples (needs an NVIDIA driver)".into()
            }),
        },
    ];
    // Without NVML samples the compact layout gives its line one row.
    let rows = if util_pts.is_empty() && !ctx.full {
        Layout::vertical([
            Constraint::Ratio(1, 3),
            Constraint::Ratio(1, 3),
            Constraint::Ratio(1, 3),
            Constraint::Length(1),
        ])
        .split(area)
    } else {
        Layout::vertical([Constraint::Ratio(1, 4); 4]).split(area)
    };
    for (r, s) in rows.iter().zip(&series) {
        charts::time_series(frame, *r, s, [x0, x1], ctx);
    }
}

/// A round chart top at or above `v` (1, 2, 5 x 10^k).
fn nice_max(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let e = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * e >= v {
            return m * e;
        }
    }
    10.0 * e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_maxima() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(3.2), 5.0);
        assert_eq!(nice_max(120.0), 200.0);
        assert_eq!(nice_max(f64::NAN), 1.0);
    }
}
