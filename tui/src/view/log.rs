//! The Log screen: the program's output and boundscope's messages, newest
//! at the bottom, with the analysis's warnings on top.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{Ctx, block};
use crate::app::App;
use crate::feed::LogStream;

pub(crate) fn render(app: &App, frame: &mut Frame, area: Rect, ctx: Ctx) {
    let theme = ctx.theme;
    let warnings = app.snapshot.as_ref().map_or(&[][..], |s| &s.warnings[..]);
    let warn_h = if warnings.is_empty() { 0 } else { (warnings.len() as u16 + 2).min(area.height / 3) };
    let [warn_area, log_area] = Layout::vertical([Constraint::Length(warn_h), Constraint::Min(0)]).areas(area);
    if warn_h > 0 {
        let lines: Vec<Line> = warnings.iter().map(|w| Line::from(Span::styled(w.to_string(), theme.warn()))).collect();
        frame.render_widget(
            Paragraph::new(lines).wrap(Wrap { trim: true }).block(block("analysis warnings", theme)),
            warn_area,
        );
    }
    let title = if app.log_back > 0 {
        format!("Log: {} lines, {} back from the newest (G: newest)", app.log.len(), app.log_back)
    } else {
        format!("Log: {} lines", app.log.len())
    };
    let inner_h = log_area.height.saturating_sub(2) as usize;
    let end = app.log.len().saturating_sub(app.log_back);
    let start = end.saturating_sub(inner_h);
    let lines: Vec<Line> = app
        .log
        .range(start..end)
        .map(|(stream, line)| match stream {
            LogStream::Stdout => Line::from(format!("  {line}")),
            LogStream::Stderr => {
                Line::from(vec![Span::styled("! ", theme.bad()), Span::styled(line.clone(), theme.warn())])
            }
            LogStream::Boundscope => {
                Line::from(vec![Span::styled("boundscope: ", theme.title()), Span::raw(line.clone())])
            }
        })
        .collect();
    let p = if lines.is_empty() {
        Paragraph::new(Line::from(Span::styled("no output yet", theme.dim())))
    } else {
        Paragraph::new(lines)
    };
    frame.render_widget(p.block(block(title, theme)), log_area);
}
