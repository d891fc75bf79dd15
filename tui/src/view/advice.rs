//! The Advice screen: CUDA-graph and fusion suggestions with their savings
//! and the windows they rest on, or what they are still missing.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{Ctx, block};
use crate::app::App;
use crate::style;

pub(crate) fn render(app: &App, frame: &mut Frame, area: Rect, ctx: Ctx) {
    let Some(s) = super::snapshot_or_wait(app, frame, area, "Advice", ctx) else { return };
    let theme = ctx.theme;
    let arrow = if ctx.ascii { " -> " } else { " → " };
    let mut lines: Vec<Line> = Vec::new();
    let head = |t: &str| Line::from(Span::styled(t.to_string(), theme.title()));
    let Some(a) = &s.advice else {
        lines.push(Line::from(Span::styled(
            "no advice yet: it is computed from final windows (steps when there are any), at most once per second \
             of trace time",
            theme.dim(),
        )));
        lines.push(Line::from(
            "fusion needs CPU-bound windows; CUDA graphs need two or more consecutive CPU-bound steps with the same kernels",
        ));
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }).block(block("Advice", theme)), area);
        return;
    };
    lines.push(Line::from(vec![Span::styled("based on ", theme.dim()), Span::raw(s.advice_basis.clone())]));
    lines.push(Line::from(""));
    lines.push(head("CUDA graphs"));
    match &a.cuda_graphs {
        Some(g) => {
            let (first, last) = (g.steps.first().copied().unwrap_or(0), g.steps.last().copied().unwrap_or(0));
            lines.push(Line::from(format!(
                "  capture the step: steps {first}..{last} ({} consecutive CPU-bound steps) launch the same {} kernels",
                g.steps.len(),
                g.kernels_per_step
            )));
            lines.push(Line::from(vec![
                Span::raw("  saves "),
                Span::styled(format!("{} per step", style::ns(g.saving_per_step_ns)), theme.good()),
                Span::raw(format!(
                    " ({} of the step; exposed launch {} less one graph launch), up to {} if host dispatch goes too",
                    style::pct(Some(g.saving_frac)),
                    style::ns(g.exposed_launch_per_step_ns),
                    style::ns(g.upper_bound_per_step_ns)
                )),
            ]));
        }
        None => lines.push(Line::from(Span::styled("  no suggestion (see the notes below)", theme.dim()))),
    }
    lines.push(Line::from(""));
    lines.push(head("Kernel fusion (chains that almost always follow each other, by GPU idle time saved)"));
    if a.fusion.is_empty() {
        lines.push(Line::from(Span::styled("  no candidate", theme.dim())));
    }
    for (i, f) in a.fusion.iter().enumerate() {
        lines.push(Line::from(vec![
            Span::styled(format!("  {}. ", i + 1), theme.key()),
            Span::raw(f.kernels.join(arrow)),
        ]));
        lines.push(Line::from(vec![
            Span::raw(format!("     GPU {} stream {} · x{} · PS {:.2} · ", f.device, f.stream, f.occurrences, f.ps)),
            Span::styled(format!("saves {} total", style::ns_i(f.total_saving_ns)), theme.good()),
            Span::raw(format!(
                " ({} each, {} of CPU-bound IL){}",
                style::ns(f.saving_per_occurrence_ns),
                style::pct(Some(f.saving_frac)),
                f.host_op.as_ref().map_or(String::new(), |o| format!(" · issued by {o}"))
            )),
        ]));
    }
    if !a.notes.is_empty() {
        lines.push(Line::from(""));
        lines.push(head("Notes"));
        for n in &a.notes {
            lines.push(Line::from(format!("  - {n}")));
        }
    }
    let p = Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .scroll((app.advice_scroll.min(u16::MAX as usize) as u16, 0))
        .block(block("Advice (docs/metrics.md section 5)", theme));
    frame.render_widget(p, area);
}
