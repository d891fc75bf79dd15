//! The Advice screen: CUDA-graph and fusion suggestions with their savings
//! and the windows they rest on, or what they are still missing.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{Ctx, block};
use boundscope_analysis::names;

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
            "fusion is judged in any final window; CUDA graphs need two or more consecutive CPU-bound steps with the same kernels",
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
                    " ({} of the step: its host dispatch and launches go), at least {} if only the launch latency went",
                    style::pct(Some(g.saving_frac)),
                    style::ns(g.lower_bound_per_step_ns)
                )),
            ]));
            lines.push(Line::from(vec![Span::styled("  basis ", theme.dim()), Span::raw(g.basis.clone())]));
            for c in &g.caveats {
                lines.push(Line::from(vec![Span::styled("  caveat ", theme.warn()), Span::raw(c.clone())]));
            }
        }
        None => lines.push(Line::from(Span::styled("  no suggestion (see the notes below)", theme.dim()))),
    }
    if let Some(u) = &a.optimizer {
        lines.push(Line::from(""));
        lines.push(head("Optimizer"));
        lines.push(Line::from(vec![
            Span::raw(format!(
                "  {}'s update: {} foreach ops, {} launches per step; fused, saves ",
                u.optimizer, u.ops_per_step, u.launches_per_step
            )),
            Span::styled(format!("{} per step", style::ns(u.saving_per_step_ns)), theme.good()),
        ]));
        lines.push(Line::from(vec![Span::styled("  remedy ", theme.dim()), Span::raw(u.remedy.clone())]));
        lines.push(Line::from(vec![Span::styled("  basis ", theme.dim()), Span::raw(u.basis.clone())]));
    }
    lines.push(Line::from(""));
    lines.push(head("Kernel fusion (fusable chains that almost always follow each other, best saving first)"));
    if a.fusion.is_empty() {
        lines.push(Line::from(Span::styled("  no candidate", theme.dim())));
    }
    for (i, f) in a.fusion.iter().enumerate() {
        // What a person acts on: the pattern, the kernels (named by their
        // operation, with their class), the saving with its basis, the remedy.
        // The pattern names the ops that issue the chain (or is their sequence).
        lines.push(Line::from(vec![
            Span::styled(format!("  {}. ", i + 1), theme.key()),
            Span::styled(f.pattern.clone(), theme.title()),
        ]));
        let kernels: Vec<String> = f
            .kernels
            .iter()
            .enumerate()
            .map(|(k, name)| {
                let class = f.classes.get(k).map_or("?", |c| c.as_str());
                format!("{} ({class})", names::advice_kernel_label(name))
            })
            .collect();
        lines.push(Line::from(vec![Span::styled("     kernels ", theme.dim()), Span::raw(kernels.join(arrow))]));
        lines.push(Line::from(vec![
            Span::raw("     "),
            Span::styled(format!("saves {}", style::ns_i(f.total_saving_ns)), theme.good()),
            Span::raw(format!(
                " ({} of IL; {} x {} occurrences) · GPU {} stream {} · PS {:.2}",
                style::pct(Some(f.saving_frac)),
                style::ns(f.saving_per_occurrence_ns),
                f.counted_occurrences,
                f.device,
                f.stream,
                f.ps
            )),
        ]));
        lines.push(Line::from(vec![Span::styled("     remedy ", theme.dim()), Span::raw(f.remedy.clone())]));
        lines.push(Line::from(vec![Span::styled("     basis ", theme.dim()), Span::raw(f.basis.clone())]));
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
