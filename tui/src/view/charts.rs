//! Chart helpers: a time chart (a ratatui `Chart` with axes in the full
//! layout, a sparkline beside its label in the compact one) and one-line
//! stacked bars for the idle and launch-to-start splits.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::{self, Marker};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph, Sparkline, SparklineBar};

use super::{Ctx, block};

/// The marker of line charts: braille unless ASCII was asked for.
pub(crate) fn marker(ctx: Ctx) -> Marker {
    if ctx.ascii { Marker::Block } else { Marker::Braille }
}

/// Sparkline bars that are plain ASCII.
const ASCII_BARS: symbols::bar::Set<'static> = symbols::bar::Set {
    full: "#",
    seven_eighths: "#",
    three_quarters: "=",
    five_eighths: "=",
    half: "-",
    three_eighths: "-",
    one_quarter: "_",
    one_eighth: "_",
    empty: " ",
};

/// One series over time.
#[derive(Debug)]
pub(crate) struct Series<'a> {
    pub title: String,
    /// The value shown beside the title ("23.4%").
    pub now: String,
    /// (x in seconds, y), oldest first.
    pub points: &'a [(f64, f64)],
    /// y range's top (the bottom is 0).
    pub y_max: f64,
    pub y_label: fn(f64) -> String,
    pub style: Style,
    /// x of the history cursor.
    pub cursor: Option<f64>,
    /// Shown instead of a chart when there are no points.
    pub missing: Option<String>,
}

/// Draws a series: a chart with axes when `ctx.full`, else label + sparkline.
pub(crate) fn time_series(frame: &mut Frame, area: Rect, s: &Series<'_>, x: [f64; 2], ctx: Ctx) {
    if area.is_empty() {
        return;
    }
    let theme = ctx.theme;
    if let (true, Some(m)) = (s.points.is_empty(), &s.missing) {
        if ctx.full && area.height >= 3 {
            super::empty(frame, area, &s.title, m, ctx);
        } else {
            let line = Line::from(vec![
                Span::styled(format!("{} ", s.title), theme.title()),
                Span::styled(m.clone(), theme.dim()),
            ]);
            frame.render_widget(Paragraph::new(line), area);
        }
        return;
    }
    if ctx.full && area.height >= 5 && area.width >= 20 {
        let cursor_line: Vec<(f64, f64)> = s.cursor.map(|c| vec![(c, 0.0), (c, s.y_max)]).unwrap_or_default();
        let mut sets =
            vec![Dataset::default().data(s.points).graph_type(GraphType::Line).marker(marker(ctx)).style(s.style)];
        if !cursor_line.is_empty() {
            sets.push(
                Dataset::default()
                    .data(&cursor_line)
                    .graph_type(GraphType::Line)
                    .marker(marker(ctx))
                    .style(theme.key()),
            );
        }
        let x_labels = vec![Span::raw(format!("{:.1}s", x[0])), Span::raw(format!("{:.1}s", x[1]))];
        let y_labels = vec![Span::raw((s.y_label)(0.0)), Span::raw((s.y_label)(s.y_max))];
        let chart = Chart::new(sets)
            .block(block(format!("{}  {}", s.title, s.now), theme))
            .x_axis(Axis::default().bounds(x).labels(x_labels).style(theme.dim()))
            .y_axis(Axis::default().bounds([0.0, s.y_max]).labels(y_labels).style(theme.dim()));
        frame.render_widget(chart, area);
        return;
    }
    // Compact: "title  now" on the left, the sparkline of the newest points on the right.
    let label_w = area.width.min(26);
    let [label, spark] = Layout::horizontal([Constraint::Length(label_w), Constraint::Min(0)]).areas(area);
    let text =
        vec![Line::from(Span::styled(s.title.clone(), theme.title())), Line::from(Span::raw(format!("  {}", s.now)))];
    frame.render_widget(Paragraph::new(text), label);
    if spark.is_empty() {
        return;
    }
    let n = spark.width as usize;
    let start = s.points.len().saturating_sub(n);
    let shown = &s.points[start..];
    let max = if s.y_max > 0.0 { s.y_max } else { 1.0 };
    let bars: Vec<SparklineBar> = shown
        .iter()
        .map(|&(px, y)| {
            let v = ((y / max).clamp(0.0, 1.0) * 1000.0).round() as u64;
            let bar = SparklineBar::from(v);
            if s.cursor.is_some_and(|c| (c - px).abs() < 1e-9) { bar.style(Some(theme.key())) } else { bar }
        })
        .collect();
    let mut sl = Sparkline::default().data(bars).max(1000).style(s.style);
    if ctx.ascii {
        sl = sl.bar_set(ASCII_BARS);
    }
    frame.render_widget(sl, spark);
}

/// A share of a whole for a stacked bar.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub label: &'static str,
    pub value: f64,
    pub style: Style,
    /// The fill without colors.
    pub fill: &'static str,
}

/// Fills for the parts of a bar when colors are off (distinct shades).
pub(crate) fn fills(ctx: Ctx) -> [&'static str; 3] {
    if ctx.ascii {
        ["#", "=", "."]
    } else if ctx.theme.color {
        ["█", "█", "█"]
    } else {
        ["█", "▒", "░"]
    }
}

/// A bar `width` wide split by the parts' shares (largest remainders get
/// the leftover columns), or an empty line when the whole is 0.
pub(crate) fn stacked(parts: &[Part], width: usize) -> Line<'static> {
    let total: f64 = parts.iter().map(|p| p.value.max(0.0)).sum();
    if total <= 0.0 || width == 0 {
        return Line::from(" ".repeat(width));
    }
    let exact: Vec<f64> = parts.iter().map(|p| p.value.max(0.0) / total * width as f64).collect();
    let mut cols: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut left = width.saturating_sub(cols.iter().sum());
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())).then(a.cmp(&b)));
    for i in order {
        if left == 0 {
            break;
        }
        cols[i] += 1;
        left -= 1;
    }
    Line::from(parts.iter().zip(cols).map(|(p, n)| Span::styled(p.fill.repeat(n), p.style)).collect::<Vec<_>>())
}
