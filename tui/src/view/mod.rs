//! Drawing: `render(&App, &mut Frame)` and one module per screen. Nothing
//! here changes state. Layouts by terminal size: full from 120x40, compact
//! from 60x15, one status line below that; every area is clipped, so any
//! size (even 1x1) draws without panicking.

use boundscope_analysis::live::LiveSnapshot;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::app::{App, Screen};
use crate::feed::Mode;
use crate::style::{self, Theme};

mod advice;
mod charts;
mod log;
mod overview;
mod sweep;
mod tables;

/// Below this the screen is one status line.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 15;
/// From this the full layout.
pub const FULL_WIDTH: u16 = 120;
pub const FULL_HEIGHT: u16 = 40;

/// What every screen's drawing needs besides the state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx {
    pub theme: Theme,
    pub ascii: bool,
    pub full: bool,
}

/// Draws the whole screen from the state.
pub fn render(app: &App, frame: &mut Frame) {
    let area = frame.area();
    if area.width == 0 || area.height == 0 {
        return;
    }
    let theme = Theme { color: app.opts.color };
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        frame.render_widget(Paragraph::new(status_line(app, theme)), area);
        return;
    }
    let full = area.width >= FULL_WIDTH && area.height >= FULL_HEIGHT;
    let ctx = Ctx { theme, ascii: app.opts.ascii, full };
    let [tabs, header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(if full { 2 } else { 1 }),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(tab_line(app, theme)), tabs);
    frame.render_widget(Paragraph::new(header_lines(app, ctx)), header);
    match app.screen {
        Screen::Overview => overview::render(app, frame, body, ctx),
        Screen::Steps => tables::steps(app, frame, body, ctx),
        Screen::Kernels => tables::kernels(app, frame, body, ctx),
        Screen::Advice => advice::render(app, frame, body, ctx),
        Screen::Sweep => sweep::render(app, frame, body, ctx),
        Screen::Log => log::render(app, frame, body, ctx),
    }
    frame.render_widget(Paragraph::new(footer_line(app, theme)), footer);
    if app.help {
        help(frame, area, theme);
    }
}

fn tab_line(app: &App, theme: Theme) -> Line<'static> {
    let mut spans = Vec::new();
    for (i, s) in Screen::ALL.iter().enumerate() {
        let style = if *s == app.screen { theme.badge(Color::Cyan) } else { theme.plain() };
        spans.push(Span::styled(format!(" {} {} ", i + 1, s.title()), style));
    }
    spans.push(Span::styled("  ? keys", theme.dim()));
    Line::from(spans)
}

/// The mode badge: LIVE, REPLAY 4x, SIMULATED 1x, SWEEP b=32 [5/9], PAUSED.
pub(crate) fn mode_label(app: &App) -> String {
    if app.paused {
        return if app.held_count > 0 { format!("PAUSED +{}", app.held_count) } else { "PAUSED".into() };
    }
    match app.header.as_ref().map(|h| &h.mode) {
        None => "WAITING".into(),
        Some(Mode::Live) => "LIVE".into(),
        Some(Mode::Replay { speed }) => format!("REPLAY {speed}"),
        Some(Mode::Simulated { speed }) => format!("SIMULATED {speed}"),
        Some(Mode::Sweep { batch, index, total }) => format!("SWEEP b={batch} [{index}/{total}]"),
    }
}

fn mode_badge(app: &App, theme: Theme) -> Span<'static> {
    let c = if app.paused { Color::Yellow } else { Color::Cyan };
    Span::styled(format!(" {} ", mode_label(app)), theme.badge(c))
}

fn stat_spans(app: &App, theme: Theme, spans: &mut Vec<Span<'static>>) {
    let sep = || Span::styled(" · ", theme.dim());
    if let Some(s) = &app.stats {
        spans.push(Span::raw(format!("{} rec/s", style::count(s.records_per_s))));
        spans.push(sep());
    }
    let dropped = app.snapshot.as_ref().map_or(0, |s| s.totals.dropped_records);
    spans.push(Span::styled(format!("dropped {dropped}"), if dropped > 0 { theme.bad() } else { theme.plain() }));
    if let Some(s) = &app.stats {
        spans.push(sep());
        spans.push(Span::raw(format!("lag {:.0} ms", s.ingest_lag_ms)));
        spans.push(sep());
        spans.push(Span::raw(format!("cpu {:.1}%", s.cpu_pct)));
    }
}

fn header_lines(app: &App, ctx: Ctx) -> Vec<Line<'static>> {
    let theme = ctx.theme;
    let sep = || Span::styled(" · ", theme.dim());
    let mut first = vec![mode_badge(app, theme)];
    if app.ended.is_some() {
        first.push(Span::raw(" "));
        first.push(Span::styled(" ENDED ", theme.badge(Color::Gray)));
    }
    first.push(Span::raw(" "));
    let (command, gpu, simulated) = match &app.header {
        Some(h) => (h.command.clone(), h.gpu.clone(), h.simulated),
        None => ("waiting for the source".into(), String::new(), false),
    };
    let gpu = if simulated { format!("{gpu} (simulated)") } else { gpu };
    if ctx.full {
        first.push(Span::styled(command, theme.title()));
        if !gpu.is_empty() {
            first.push(sep());
            first.push(Span::raw(gpu));
        }
        let mut second = vec![Span::raw(" ")];
        stat_spans(app, theme, &mut second);
        if let Some(s) = &app.snapshot {
            let t = &s.totals;
            second.push(sep());
            second.push(Span::raw(format!("late {}", t.late_events)));
            second.push(sep());
            second.push(Span::raw(format!("kernels {}", style::count(t.kernels as f64))));
            second.push(sep());
            second.push(Span::raw(format!("steps {}", s.steps_total)));
            second.push(sep());
            second.push(Span::raw(format!("watermark {}", style::at(s.watermark_ns))));
            if s.finished {
                second.push(sep());
                second.push(Span::styled("all windows final", theme.good()));
            }
        }
        vec![Line::from(first), Line::from(second)]
    } else {
        stat_spans(app, theme, &mut first);
        first.push(sep());
        first.push(Span::styled(command, theme.title()));
        if !gpu.is_empty() {
            first.push(sep());
            first.push(Span::raw(gpu));
        }
        vec![Line::from(first)]
    }
}

fn footer_line(app: &App, theme: Theme) -> Line<'static> {
    if app.confirm_quit {
        return Line::from(vec![
            Span::styled(" end the running program? ", theme.bad()),
            Span::styled("y", theme.key()),
            Span::raw("/"),
            Span::styled("n", theme.key()),
        ]);
    }
    if app.filter_editing {
        return Line::from(vec![
            Span::styled(" filter kernels: ", theme.key()),
            Span::raw(format!("{}_", app.filter)),
            Span::styled("   Enter keep · Esc clear", theme.dim()),
        ]);
    }
    if let Some(n) = &app.notice {
        return Line::from(Span::styled(format!(" {n}"), theme.warn()));
    }
    let mut spans = Vec::new();
    if let Some(m) = &app.ended {
        spans.push(Span::styled(format!(" {m} "), theme.warn()));
        spans.push(Span::styled("·", theme.dim()));
    }
    let keys: &[(&str, &str)] = match app.screen {
        _ if app.paused => &[("[ ]", "window"), ("+ -", "zoom"), ("Space", "resume"), ("s", "save"), ("q", "quit")],
        Screen::Overview => {
            &[("Space", "pause"), ("+ -", "zoom"), ("s", "save"), ("Tab", "screen"), ("?", "keys"), ("q", "quit")]
        }
        Screen::Steps => &[("j k", "step"), ("Enter", "details"), ("Space", "pause"), ("?", "keys"), ("q", "quit")],
        Screen::Kernels => &[("<- ->", "sort"), ("/", "filter"), ("j k", "move"), ("Enter", "name"), ("q", "quit")],
        Screen::Advice | Screen::Sweep => &[("j k", "scroll"), ("Tab", "screen"), ("?", "keys"), ("q", "quit")],
        Screen::Log => &[("j k", "scroll"), ("G", "newest"), ("Tab", "screen"), ("?", "keys"), ("q", "quit")],
    };
    for (k, what) in keys {
        spans.push(Span::styled(format!(" {k}"), theme.key()));
        spans.push(Span::raw(format!(" {what}")));
    }
    Line::from(spans)
}

/// The one line shown below 60x15.
fn status_line(app: &App, theme: Theme) -> Line<'static> {
    let mut spans = vec![Span::styled(mode_label(app), theme.badge(Color::Cyan)), Span::raw(" ")];
    match app.snapshot.as_ref().and_then(|s| s.current()) {
        Some((w, provisional)) => {
            spans.push(Span::styled(w.verdict.bound.as_str(), theme.bound(w.verdict.bound)));
            spans.push(Span::raw(format!(
                "{} busy {} TKLQT {}",
                if provisional { "?" } else { "" },
                style::pct(w.busy_frac),
                style::ns_i(w.tklqt_ns)
            )));
        }
        None => spans.push(Span::raw("no window yet")),
    }
    let dropped = app.snapshot.as_ref().map_or(0, |s| s.totals.dropped_records);
    if dropped > 0 {
        spans.push(Span::styled(format!(" dropped {dropped}"), theme.bad()));
    }
    if app.confirm_quit {
        spans.push(Span::styled(" end program? y/n", theme.bad()));
    } else {
        spans.push(Span::styled(" q quit", theme.dim()));
    }
    Line::from(spans)
}

/// The key table (also in docs/tui.md).
pub const KEYS: [(&str, &str); 17] = [
    ("1-6, Tab", "screens: Overview Steps Kernels Advice Sweep Log"),
    ("?", "this help (Esc closes)"),
    ("q", "quit (asks first while a program runs)"),
    ("Ctrl-C", "interrupt the running program or sweep, else quit"),
    ("j k, arrows", "move / scroll"),
    ("PgUp PgDn", "move by ten"),
    ("g G, Home End", "oldest / newest"),
    ("Enter", "details of the step or kernel"),
    ("Esc", "close details, leave the window cursor, clear filter"),
    ("<- ->", "kernel table: sort column"),
    ("/", "kernel table: filter by name"),
    ("Space", "pause the view (data keeps arriving)"),
    ("[ ]", "while paused: older / newer window"),
    ("+ -", "zoom the time charts in / out"),
    ("s", "save the snapshot on screen"),
    ("y n", "answer the quit question"),
    ("", "numbers: docs/metrics.md; panels: docs/tui.md"),
];

fn help(frame: &mut Frame, area: Rect, theme: Theme) {
    let w = area.width.min(72);
    let h = area.height.min(KEYS.len() as u16 + 2);
    let r = Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h };
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| Line::from(vec![Span::styled(format!(" {k:<14}"), theme.key()), Span::raw(*what)]))
        .collect();
    frame.render_widget(Clear, r);
    frame.render_widget(Paragraph::new(lines).block(Block::bordered().title(Span::styled(" keys ", theme.title()))), r);
}

/// A bordered block with a styled title.
pub(crate) fn block(title: impl Into<String>, theme: Theme) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.dim())
        .title(Span::styled(format!(" {} ", title.into()), theme.title()))
}

/// A message in place of a panel that has nothing to show yet.
pub(crate) fn empty(frame: &mut Frame, area: Rect, title: &str, message: &str, ctx: Ctx) {
    frame.render_widget(
        Paragraph::new(Line::from(Span::styled(message.to_string(), ctx.theme.dim())))
            .wrap(Wrap { trim: true })
            .block(block(title, ctx.theme)),
        area,
    );
}

/// The snapshot, or a message saying none came yet.
pub(crate) fn snapshot_or_wait<'a>(
    app: &'a App,
    frame: &mut Frame,
    area: Rect,
    title: &str,
    ctx: Ctx,
) -> Option<&'a LiveSnapshot> {
    match &app.snapshot {
        Some(s) => Some(s),
        None => {
            empty(frame, area, title, "waiting for the first snapshot of the live analysis", ctx);
            None
        }
    }
}
