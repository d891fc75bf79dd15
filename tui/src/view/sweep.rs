//! The Sweep screen: step time, throughput, GPU busy and TKLQT against batch
//! size on a log2 axis, one line per platform, the transition markers (TKLQT
//! knee, busy rule), the running point in miniature, a status row per point.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Cell, Chart, Dataset, GraphType, Paragraph, Row, Table};

use super::charts::marker;
use super::{Ctx, block};
use crate::app::App;
use crate::feed::{PointStatus, SweepPointView, SweepView};
use crate::style::{self, Theme};

type Metric = (&'static str, fn(&SweepPointView) -> Option<f64>, fn(f64) -> String);

const METRICS: [Metric; 4] = [
    ("step time", |p| p.step_ms, |v| format!("{v:.1}ms")),
    ("throughput /s", |p| p.throughput, style::count),
    ("GPU busy %", |p| p.busy_frac.map(|b| b * 100.0), |v| format!("{v:.0}%")),
    ("TKLQT per step", |p| p.tklqt_ms, |v| format!("{v:.1}ms")),
];

pub(crate) fn render(app: &App, frame: &mut Frame, area: Rect, ctx: Ctx) {
    let Some(sw) = &app.sweep else {
        super::empty(frame, area, "Sweep", "no sweep in this session (boundscope sweep --tui shows one here)", ctx);
        return;
    };
    let theme = ctx.theme;
    // Charts take what the status rows leave (at least 5 rows of them).
    let rows = (sw.points.len() as u16 + 3).clamp(5, if ctx.full { 14 } else { 7 });
    let [info, charts, table] =
        Layout::vertical([Constraint::Length(2), Constraint::Min(0), Constraint::Length(rows)]).areas(area);
    frame.render_widget(Paragraph::new(info_lines(app, sw, theme)), info);
    let [top, bottom] = Layout::vertical([Constraint::Ratio(1, 2); 2]).areas(charts);
    let [a, b] = Layout::horizontal([Constraint::Ratio(1, 2); 2]).areas(top);
    let [c, d] = Layout::horizontal([Constraint::Ratio(1, 2); 2]).areas(bottom);
    for (r, m) in [a, b, c, d].into_iter().zip(METRICS) {
        metric_chart(frame, r, sw, m, ctx);
    }
    status_table(app, frame, table, sw, theme);
}

fn info_lines(app: &App, sw: &SweepView, theme: Theme) -> Vec<Line<'static>> {
    let done = sw.points.iter().filter(|p| matches!(p.status, PointStatus::Done | PointStatus::Failed)).count();
    let mut first = vec![
        Span::styled(sw.workload.clone(), theme.title()),
        Span::raw(format!(" · {} of {} points · ", done, sw.points.len())),
    ];
    for (i, t) in sw.transitions.iter().enumerate() {
        first.push(Span::styled(format!("{} ", t.platform), theme.series(i)));
        first.push(Span::raw(format!("knee {}, busy {}  ", t.knee_grid, t.busy_grid)));
    }
    let second = match (&sw.running, app.snapshot.as_ref().and_then(|s| s.current())) {
        (Some((p, b)), Some((w, _))) => Line::from(vec![
            Span::raw(format!("running {p} b={b}: ")),
            Span::styled(w.verdict.bound.as_str(), theme.bound(w.verdict.bound)),
            Span::raw(format!(" · busy {} · TKLQT {} ({})", style::pct(w.busy_frac), style::ns_i(w.tklqt_ns), w.label)),
        ]),
        (Some((p, b)), None) => Line::from(format!("running {p} b={b}: no window yet")),
        (None, _) => Line::from(Span::styled("no point running", theme.dim())),
    };
    vec![Line::from(first), second]
}

fn log2(b: u64) -> f64 {
    (b.max(1) as f64).log2()
}

fn metric_chart(frame: &mut Frame, area: Rect, sw: &SweepView, m: Metric, ctx: Ctx) {
    let theme = ctx.theme;
    let (title, get, label) = m;
    let series: Vec<Vec<(f64, f64)>> = sw
        .platforms
        .iter()
        .map(|pl| {
            let mut v: Vec<(f64, f64)> = sw
                .points
                .iter()
                .filter(|p| &p.platform == pl && p.status == PointStatus::Done)
                .filter_map(|p| get(p).map(|y| (log2(p.batch), y)))
                .collect();
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            v
        })
        .collect();
    let x0 = sw.points.iter().map(|p| log2(p.batch)).fold(f64::INFINITY, f64::min);
    let x1 = sw.points.iter().map(|p| log2(p.batch)).fold(f64::NEG_INFINITY, f64::max);
    let (x0, x1) = if x0.is_finite() && x1 > x0 { (x0, x1) } else { (0.0, 1.0) };
    let y_max = series.iter().flatten().map(|p| p.1).fold(0.0, f64::max).max(1e-9) * 1.1;
    let markers: Vec<Vec<(f64, f64)>> = sw
        .transitions
        .iter()
        .flat_map(|t| [t.knee, t.busy_rule])
        .map(|b| b.filter(|&v| v > 0.0).map_or(Vec::new(), |v| vec![(v.log2(), 0.0), (v.log2(), y_max)]))
        .collect();
    let mut sets: Vec<Dataset> = series
        .iter()
        .enumerate()
        .map(|(i, d)| Dataset::default().data(d).graph_type(GraphType::Line).marker(marker(ctx)).style(theme.series(i)))
        .collect();
    for (j, d) in markers.iter().enumerate() {
        let platform = sw.platforms.iter().position(|p| Some(p) == sw.transitions.get(j / 2).map(|t| &t.platform));
        sets.push(
            Dataset::default()
                .data(d)
                .graph_type(GraphType::Line)
                .marker(marker(ctx))
                .style(platform.map_or(theme.dim(), |i| theme.series(i))),
        );
    }
    let xl = |v: f64| Span::raw(format!("{}", 2f64.powf(v).round()));
    let chart = Chart::new(sets)
        .block(block(format!("{title} vs batch (log2)"), theme))
        .x_axis(Axis::default().bounds([x0, x1]).labels(vec![xl(x0), xl((x0 + x1) / 2.0), xl(x1)]).style(theme.dim()))
        .y_axis(
            Axis::default()
                .bounds([0.0, y_max])
                .labels(vec![Span::raw(label(0.0)), Span::raw(label(y_max))])
                .style(theme.dim()),
        );
    frame.render_widget(chart, area);
}

fn status_table(app: &App, frame: &mut Frame, area: Rect, sw: &SweepView, theme: Theme) {
    let header =
        Row::new(["platform", "batch", "status", "step", "throughput", "busy", "TKLQT", "note"]).style(theme.title());
    let f = |v: Option<f64>, unit: &str| v.map_or("-".to_string(), |v| format!("{v:.2}{unit}"));
    // Not scrolled by hand: follow the running point once it is below the rows shown.
    let shown = usize::from(area.height.saturating_sub(3)).max(1);
    let running = sw.points.iter().position(|p| p.status == PointStatus::Running);
    let skip = match running {
        Some(i) if app.sweep_scroll == 0 && i >= shown => i + 1 - shown,
        _ => app.sweep_scroll,
    };
    let rows: Vec<Row> = sw
        .points
        .iter()
        .skip(skip)
        .map(|p| {
            let (status, st) = match p.status {
                PointStatus::Pending => ("pending", theme.dim()),
                PointStatus::Running => ("running", theme.key()),
                PointStatus::Done => ("done", theme.good()),
                PointStatus::Failed => ("FAILED", theme.bad()),
            };
            Row::new(vec![
                Cell::from(p.platform.clone()),
                Cell::from(p.batch.to_string()),
                Cell::from(status).style(st),
                Cell::from(f(p.step_ms, " ms")),
                Cell::from(p.throughput.map_or("-".into(), style::count)),
                Cell::from(style::pct(p.busy_frac)),
                Cell::from(f(p.tklqt_ms, " ms")),
                Cell::from(p.note.clone()),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(16),
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(7),
        Constraint::Length(10),
        Constraint::Min(0),
    ];
    frame.render_widget(Table::new(rows, widths).header(header).block(block("points", theme)), area);
}
