//! The Steps screen (one row per step, the `analyze --all-steps` columns)
//! and the Kernels screen (sortable, filterable). Columns that do not fit a
//! narrow terminal are left out, least useful first.

use boundscope_analysis::window::WindowMetrics;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState, Wrap};

use super::{Ctx, block};
use crate::app::{App, KernelCol};
use crate::style::{self, fit};

/// A column: title, width, and how soon it goes when space runs out (higher first).
struct Col {
    title: &'static str,
    width: u16,
    drop: u8,
}

/// Indices of the columns that fit `avail` (one space between columns).
fn fitting(cols: &[Col], avail: u16) -> Vec<usize> {
    let mut keep: Vec<usize> = (0..cols.len()).collect();
    let total = |k: &[usize]| k.iter().map(|&i| cols[i].width + 1).sum::<u16>();
    while total(&keep) > avail && keep.len() > 1 {
        // The rightmost of the most droppable columns goes first.
        let Some(pos) = (0..keep.len()).rev().max_by_key(|&p| (cols[keep[p]].drop, p)) else { break };
        if cols[keep[pos]].drop == 0 {
            break;
        }
        keep.remove(pos);
    }
    keep
}

const STEP_COLS: [Col; 11] = [
    Col { title: "step", width: 6, drop: 0 },
    Col { title: "kernels", width: 7, drop: 1 },
    Col { title: "TKLQT", width: 9, drop: 0 },
    Col { title: "mean l2s", width: 9, drop: 2 },
    Col { title: "AKD", width: 9, drop: 3 },
    Col { title: "IL", width: 9, drop: 1 },
    Col { title: "busy", width: 6, drop: 0 },
    Col { title: "exposed", width: 9, drop: 2 },
    Col { title: "host wait", width: 9, drop: 2 },
    Col { title: "queue p50", width: 9, drop: 1 },
    Col { title: "verdict", width: 12, drop: 0 },
];

fn step_cells(w: &WindowMetrics) -> [String; 11] {
    [
        w.step.map_or_else(|| w.label.clone(), |n| n.to_string()),
        w.kernels.to_string(),
        style::ns_i(w.tklqt_ns),
        style::ns(w.mean_launch_to_start_ns),
        style::ns(w.akd_ns),
        style::ns_i(w.il_ns),
        style::pct(w.busy_frac),
        style::ns_i(w.exposed_launch_ns),
        style::ns_i(w.host_wait_ns),
        style::ns(w.queue.p50_ns),
        w.verdict.bound.as_str().to_string(),
    ]
}

pub(crate) fn steps(app: &App, frame: &mut Frame, area: Rect, ctx: Ctx) {
    let Some(s) = super::snapshot_or_wait(app, frame, area, "Steps", ctx) else { return };
    let theme = ctx.theme;
    if s.steps.is_empty() {
        super::empty(
            frame,
            area,
            "Steps",
            "no final step yet: steps are NVTX boundscope:step ranges or ProfilerStep#N annotations",
            ctx,
        );
        return;
    }
    let (table_area, details_area) = if app.details {
        let [t, d] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(if ctx.full { 10 } else { 7 })]).areas(area);
        (t, Some(d))
    } else {
        (area, None)
    };
    let keep = fitting(&STEP_COLS, table_area.width.saturating_sub(2));
    let header = Row::new(keep.iter().map(|&i| Cell::from(STEP_COLS[i].title))).style(theme.title());
    let bound_col = STEP_COLS.len() - 1;
    let rows: Vec<Row> = s
        .steps
        .iter()
        .map(|w| {
            let cells = step_cells(w);
            Row::new(keep.iter().map(|&i| {
                let c = Cell::from(cells[i].clone());
                if i == bound_col { c.style(theme.bound(w.verdict.bound)) } else { c }
            }))
        })
        .collect();
    let widths: Vec<Constraint> = keep.iter().map(|&i| Constraint::Length(STEP_COLS[i].width)).collect();
    let title = format!(
        "Steps: {} shown of {} final{}",
        s.steps.len(),
        s.steps_total,
        if app.step_sel.is_none() { " (following the newest)" } else { "" }
    );
    let mut footer = None;
    if let Some(m) = &s.step_median {
        let cells = [
            "median".to_string(),
            format!("{:.0}", m.kernels),
            style::ns(m.tklqt_ns),
            style::ns(m.mean_launch_to_start_ns),
            style::ns(m.akd_ns),
            style::ns(m.il_ns),
            style::pct(m.busy_frac),
            style::ns(m.exposed_launch_ns),
            style::ns(m.host_wait_ns),
            style::ns(m.queue_p50_ns),
            format!("{}C {}M {}G", m.cpu_bound_steps, m.transitional_steps, m.gpu_bound_steps),
        ];
        footer = Some(Row::new(keep.iter().map(|&i| Cell::from(cells[i].clone()))).style(theme.key()));
    }
    let mut table =
        Table::new(rows, widths).header(header).row_highlight_style(theme.selected()).block(block(title, theme));
    if let Some(f) = footer {
        table = table.footer(f);
    }
    let mut state = TableState::default().with_selected(app.selected_step());
    frame.render_stateful_widget(table, table_area, &mut state);
    if let (Some(d), Some(i)) = (details_area, app.selected_step()) {
        let w = &s.steps[i];
        let mut lines: Vec<Line> = w.verdict.evidence.iter().map(|e| Line::from(format!("- {e}"))).collect();
        lines.push(Line::from(format!(
            "api p50 {} p95 {} · queue p50 {} p95 {} · sync {} in {} calls · {}",
            style::ns(w.api.p50_ns),
            style::ns(w.api.p95_ns),
            style::ns(w.queue.p50_ns),
            style::ns(w.queue.p95_ns),
            style::ns_i(w.sync_ns),
            w.sync_calls,
            style::at(w.start_ns),
        )));
        let title = format!("{}: {}", w.label, w.verdict.bound.as_str());
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }).block(block(title, theme)), d);
    }
}

pub(crate) fn kernels(app: &App, frame: &mut Frame, area: Rect, ctx: Ctx) {
    let Some(s) = super::snapshot_or_wait(app, frame, area, "Kernels", ctx) else { return };
    let theme = ctx.theme;
    let rows = app.kernel_rows();
    let total_ns: i64 = s.kernels.iter().map(|k| k.total_ns).sum();
    let filter = if app.filter.is_empty() && !app.filter_editing {
        String::new()
    } else {
        format!(" matching '{}': {}", app.filter, rows.len())
    };
    let title = format!("Kernels over the final windows: {} names{filter}", s.kernels.len());
    if s.kernels.is_empty() {
        super::empty(frame, area, "Kernels", "no final window with kernels yet", ctx);
        return;
    }
    let (table_area, details_area) = if app.details {
        let [t, d] = Layout::vertical([Constraint::Min(3), Constraint::Length(6)]).areas(area);
        (t, Some(d))
    } else {
        (area, None)
    };
    let arrow = if ctx.ascii { "v" } else { "▼" };
    let num_w: [u16; 5] = [8, 10, 7, 10, 10];
    let name_w = table_area.width.saturating_sub(2 + num_w.iter().map(|w| w + 1).sum::<u16>()).max(8);
    let head = |c: KernelCol| {
        let t = if app.kernel_sort == c { format!("{}{arrow}", c.title()) } else { c.title().to_string() };
        Cell::from(t).style(if app.kernel_sort == c { theme.key() } else { theme.title() })
    };
    let header = Row::new(vec![
        head(KernelCol::Name),
        head(KernelCol::Count),
        head(KernelCol::Total),
        Cell::from("share").style(theme.title()),
        head(KernelCol::Mean),
        head(KernelCol::LaunchToStart),
    ]);
    let body: Vec<Row> = rows
        .iter()
        .map(|k| {
            let share = if total_ns > 0 { Some(k.total_ns as f64 / total_ns as f64) } else { None };
            Row::new(vec![
                Cell::from(fit(&k.name, name_w as usize)),
                Cell::from(style::count(k.count as f64)),
                Cell::from(style::ns_i(k.total_ns)),
                Cell::from(style::pct(share)),
                Cell::from(style::ns(k.mean_ns)),
                Cell::from(k.mean_launch_to_start_ns.map_or("-".into(), style::ns)),
            ])
        })
        .collect();
    let mut widths = vec![Constraint::Length(name_w)];
    widths.extend(num_w.iter().map(|&w| Constraint::Length(w)));
    let table =
        Table::new(body, widths).header(header).row_highlight_style(theme.selected()).block(block(title, theme));
    let sel = (!rows.is_empty()).then(|| app.kernel_sel.min(rows.len() - 1));
    let mut state = TableState::default().with_selected(sel);
    frame.render_stateful_widget(table, table_area, &mut state);
    if let (Some(d), Some(k)) = (details_area, sel.and_then(|i| rows.get(i))) {
        let lines = vec![
            Line::from(Span::raw(k.name.clone())),
            Line::from(format!(
                "{} launches · {} in total · mean {} · mean launch-to-start {}",
                k.count,
                style::ns_i(k.total_ns),
                style::ns(k.mean_ns),
                k.mean_launch_to_start_ns.map_or("- (no matched launch)".into(), style::ns)
            )),
        ];
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }).block(block("kernel", theme)), d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_tables_drop_the_least_useful_columns_first() {
        let all = fitting(&STEP_COLS, 200);
        assert_eq!(all.len(), STEP_COLS.len());
        let at80 = fitting(&STEP_COLS, 78);
        let titles: Vec<&str> = at80.iter().map(|&i| STEP_COLS[i].title).collect();
        assert!(!titles.contains(&"AKD"));
        assert!(titles.contains(&"verdict") && titles.contains(&"TKLQT") && titles.contains(&"busy"));
        assert!(at80.iter().map(|&i| STEP_COLS[i].width + 1).sum::<u16>() <= 78);
        // Never below the essential columns, however narrow.
        assert_eq!(fitting(&STEP_COLS, 1).len(), 4);
    }
}
