//! The UI's state and its input handling. Exactly one thread owns an [`App`]:
//! feeds change it through [`App::apply`], keys through [`handle`], and the
//! view draws from `&App` alone (`render`), so every screen can be tested as
//! a function of the state.

use std::collections::VecDeque;

use boundscope_analysis::live::{KernelRow, LiveSnapshot, WindowPoint};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::feed::{Control, Feed, Header, LogStream, Mode, Stats, SweepView, UiOptions};

/// Log lines kept (oldest dropped first).
pub const LOG_CAPACITY: usize = 10_000;

/// The screens, in tab order (keys 1-6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Overview,
    Steps,
    Kernels,
    Advice,
    Sweep,
    Log,
}

impl Screen {
    pub const ALL: [Screen; 6] =
        [Screen::Overview, Screen::Steps, Screen::Kernels, Screen::Advice, Screen::Sweep, Screen::Log];

    pub fn title(self) -> &'static str {
        match self {
            Screen::Overview => "Overview",
            Screen::Steps => "Steps",
            Screen::Kernels => "Kernels",
            Screen::Advice => "Advice",
            Screen::Sweep => "Sweep",
            Screen::Log => "Log",
        }
    }

    fn index(self) -> usize {
        Screen::ALL.iter().position(|&s| s == self).unwrap_or(0)
    }
}

/// Columns of the kernel table that it can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelCol {
    Name,
    Count,
    Total,
    Mean,
    LaunchToStart,
}

impl KernelCol {
    pub const ALL: [KernelCol; 5] =
        [KernelCol::Name, KernelCol::Count, KernelCol::Total, KernelCol::Mean, KernelCol::LaunchToStart];

    pub fn title(self) -> &'static str {
        match self {
            KernelCol::Name => "kernel",
            KernelCol::Count => "count",
            KernelCol::Total => "total",
            KernelCol::Mean => "mean",
            KernelCol::LaunchToStart => "mean l2s",
        }
    }
}

/// One input event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Key(KeyEvent),
    Resize(u16, u16),
}

impl Input {
    /// A plain key press (tests and scripted input).
    pub fn key(code: KeyCode) -> Input {
        Input::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    pub fn char(c: char) -> Input {
        Input::key(KeyCode::Char(c))
    }

    pub fn ctrl(c: char) -> Input {
        Input::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
    }
}

/// What handling an input asks of the terminal loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    None,
    Redraw,
    Send(Control),
    Quit,
}

/// Everything the screens show and the view choices the keys make.
#[derive(Debug, Clone)]
pub struct App {
    pub opts: UiOptions,
    pub header: Option<Header>,
    /// The snapshot on screen (frozen while paused).
    pub snapshot: Option<Box<LiveSnapshot>>,
    pub stats: Option<Stats>,
    pub log: VecDeque<(LogStream, String)>,
    pub sweep: Option<Box<SweepView>>,
    /// The source's closing message.
    pub ended: Option<String>,
    pub screen: Screen,
    pub help: bool,
    /// "end the running program? y/n" is showing.
    pub confirm_quit: bool,
    pub paused: bool,
    /// Newest snapshot and sweep that arrived while paused, and how many snapshots.
    pub held_snapshot: Option<Box<LiveSnapshot>>,
    pub held_sweep: Option<Box<SweepView>>,
    pub held_count: u64,
    /// While paused: the history point looked at, counted back from the newest (0).
    pub cursor: Option<usize>,
    /// History tier of the time charts (0: one point per window).
    pub zoom: usize,
    pub kernel_sort: KernelCol,
    pub filter: String,
    pub filter_editing: bool,
    /// Selected rows (`None`: follow the newest / the first).
    pub step_sel: Option<usize>,
    pub kernel_sel: usize,
    /// Details of the selected step or kernel.
    pub details: bool,
    /// Lines scrolled back from the newest log line (0: follow).
    pub log_back: usize,
    pub advice_scroll: usize,
    pub sweep_scroll: usize,
    /// A one-off message for the footer (cleared by the next key).
    pub notice: Option<String>,
}

impl App {
    pub fn new(opts: UiOptions) -> App {
        App {
            opts,
            header: None,
            snapshot: None,
            stats: None,
            log: VecDeque::new(),
            sweep: None,
            ended: None,
            screen: Screen::Overview,
            help: false,
            confirm_quit: false,
            paused: false,
            held_snapshot: None,
            held_sweep: None,
            held_count: 0,
            cursor: None,
            zoom: 0,
            kernel_sort: KernelCol::Total,
            filter: String::new(),
            filter_editing: false,
            step_sel: None,
            kernel_sel: 0,
            details: false,
            log_back: 0,
            advice_scroll: 0,
            sweep_scroll: 0,
            notice: None,
        }
    }

    /// Applies one feed message; returns whether the screen changed.
    pub fn apply(&mut self, feed: Feed) -> bool {
        match feed {
            Feed::Header(h) => {
                self.header = Some(h);
                true
            }
            Feed::Snapshot(s) => {
                if self.paused {
                    // Held for when the view resumes; the header's count moves with the next Stats.
                    self.held_snapshot = Some(s);
                    self.held_count += 1;
                    false
                } else {
                    self.snapshot = Some(s);
                    true
                }
            }
            Feed::Stats(s) => {
                self.stats = Some(s);
                true
            }
            Feed::Log { stream, line } => {
                if self.log.len() >= LOG_CAPACITY {
                    self.log.pop_front();
                }
                // Keep a scrolled-back view on the same lines.
                if self.log_back > 0 {
                    self.log_back += 1;
                }
                self.log.push_back((stream, line));
                self.screen == Screen::Log || self.log_back == 0 && self.screen == Screen::Overview
            }
            Feed::Sweep(s) => {
                if self.paused {
                    self.held_sweep = Some(s);
                    false
                } else {
                    self.sweep = Some(s);
                    true
                }
            }
            Feed::Ended { message } => {
                self.ended = Some(message);
                if let Some(h) = &mut self.header {
                    h.child_running = false;
                }
                true
            }
        }
    }

    /// The history tier the charts show (the zoom, within the tiers there are).
    pub fn tier(&self) -> Option<&[WindowPoint]> {
        let s = self.snapshot.as_ref()?;
        let t = self.zoom.min(s.history.len().checked_sub(1)?);
        s.history.get(t).map(Vec::as_slice)
    }

    /// Trace ns one point of the shown tier spans.
    pub fn tier_ns(&self) -> Option<i64> {
        let s = self.snapshot.as_ref()?;
        let t = self.zoom.min(s.tier_ns.len().checked_sub(1)?);
        s.tier_ns.get(t).copied()
    }

    /// The history point under the cursor, while paused.
    pub fn cursor_point(&self) -> Option<&WindowPoint> {
        let c = self.cursor?;
        let tier = self.tier()?;
        tier.len().checked_sub(c + 1).and_then(|i| tier.get(i))
    }

    /// The kernel rows after the filter, in the chosen order.
    pub fn kernel_rows(&self) -> Vec<&KernelRow> {
        let Some(s) = &self.snapshot else { return Vec::new() };
        let needle = self.filter.to_lowercase();
        let mut rows: Vec<&KernelRow> =
            s.kernels.iter().filter(|k| needle.is_empty() || k.name.to_lowercase().contains(&needle)).collect();
        let by = self.kernel_sort;
        rows.sort_by(|a, b| {
            let o = match by {
                KernelCol::Name => a.name.cmp(&b.name),
                KernelCol::Count => b.count.cmp(&a.count),
                KernelCol::Total => b.total_ns.cmp(&a.total_ns),
                KernelCol::Mean => b.mean_ns.total_cmp(&a.mean_ns),
                KernelCol::LaunchToStart => {
                    b.mean_launch_to_start_ns.unwrap_or(-1.0).total_cmp(&a.mean_launch_to_start_ns.unwrap_or(-1.0))
                }
            };
            o.then_with(|| a.name.cmp(&b.name))
        });
        rows
    }

    fn step_count(&self) -> usize {
        self.snapshot.as_ref().map_or(0, |s| s.steps.len())
    }

    /// The selected step's index (the newest when following).
    pub fn selected_step(&self) -> Option<usize> {
        let n = self.step_count();
        if n == 0 {
            return None;
        }
        Some(self.step_sel.map_or(n - 1, |i| i.min(n - 1)))
    }

    fn child_running(&self) -> bool {
        self.header.as_ref().is_some_and(|h| h.child_running)
    }

    /// A sweep is under way: Ctrl-C interrupts its running point and stops
    /// it, while `q` quits at once (the sweep then ends after that point).
    fn sweep_running(&self) -> bool {
        self.ended.is_none() && self.header.as_ref().is_some_and(|h| matches!(h.mode, Mode::Sweep { .. }))
    }

    fn toggle_pause(&mut self) {
        self.paused = !self.paused;
        if !self.paused {
            self.cursor = None;
            if let Some(s) = self.held_snapshot.take() {
                self.snapshot = Some(s);
            }
            if let Some(s) = self.held_sweep.take() {
                self.sweep = Some(s);
            }
            self.held_count = 0;
        }
    }

    /// Moves the history cursor `older` points back (negative: newer).
    fn step_cursor(&mut self, older: isize) {
        if !self.paused {
            self.notice = Some("[ and ] step through windows while paused: press Space first".into());
            return;
        }
        let len = self.tier().map_or(0, <[WindowPoint]>::len);
        if len == 0 {
            self.notice = Some("no final window yet".into());
            return;
        }
        self.cursor = match (self.cursor, older > 0) {
            (None, true) => Some(0),
            (None, false) => None,
            (Some(c), true) => Some((c + older.unsigned_abs()).min(len - 1)),
            (Some(c), false) => c.checked_sub(older.unsigned_abs()),
        };
    }

    /// Changes the tier; the cursor stays on the same moment.
    fn set_zoom(&mut self, zoom: usize) {
        let tiers = self.snapshot.as_ref().map_or(1, |s| s.history.len().max(1));
        let zoom = zoom.min(tiers - 1);
        if zoom == self.zoom {
            return;
        }
        let at = self.cursor_point().map(|p| p.start_ns);
        self.zoom = zoom;
        if let (Some(t), Some(tier)) = (at, self.tier()) {
            let i = tier.iter().rposition(|p| p.start_ns <= t).unwrap_or(0);
            self.cursor = Some(tier.len() - 1 - i);
        }
    }

    fn move_selection(&mut self, delta: isize) {
        match self.screen {
            Screen::Steps => {
                let n = self.step_count();
                if n == 0 {
                    return;
                }
                let cur = self.selected_step().unwrap_or(0);
                let next = cur.saturating_add_signed(delta).min(n - 1);
                // Back at the newest row: follow new steps again.
                self.step_sel = if next == n - 1 { None } else { Some(next) };
            }
            Screen::Kernels => {
                let n = self.kernel_rows().len();
                self.kernel_sel = self.kernel_sel.saturating_add_signed(delta).min(n.saturating_sub(1));
            }
            Screen::Log => {
                let max = self.log.len().saturating_sub(1);
                self.log_back = self.log_back.saturating_add_signed(-delta).min(max);
            }
            Screen::Advice => self.advice_scroll = self.advice_scroll.saturating_add_signed(delta).min(500),
            Screen::Sweep => {
                let n = self.sweep.as_ref().map_or(0, |s| s.points.len());
                self.sweep_scroll = self.sweep_scroll.saturating_add_signed(delta).min(n.saturating_sub(1));
            }
            Screen::Overview => {}
        }
    }

    fn jump_to_end(&mut self, newest: bool) {
        match self.screen {
            Screen::Steps => self.step_sel = if newest { None } else { Some(0) },
            Screen::Log => self.log_back = if newest { 0 } else { self.log.len().saturating_sub(1) },
            _ => self.move_selection(if newest { isize::MAX / 2 } else { -(isize::MAX / 2) }),
        }
    }
}

/// Applies one input; returns what the terminal loop should do.
pub fn handle(app: &mut App, input: Input) -> Effect {
    let key = match input {
        Input::Resize(..) => return Effect::Redraw,
        Input::Key(k) if k.kind == KeyEventKind::Release => return Effect::None,
        Input::Key(k) => k,
    };
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(key.code, KeyCode::Char('c')) {
        app.confirm_quit = false;
        return if app.child_running() {
            app.notice = Some("interrupt sent to the program (q quits)".into());
            Effect::Send(Control::Interrupt)
        } else if app.sweep_running() {
            app.notice = Some("interrupting the running point; the sweep stops (q quits)".into());
            Effect::Send(Control::Interrupt)
        } else {
            Effect::Quit
        };
    }
    let had_notice = app.notice.take().is_some();
    if app.confirm_quit {
        return match key.code {
            KeyCode::Char('y' | 'Y') => Effect::Quit,
            KeyCode::Char('n' | 'N') | KeyCode::Esc | KeyCode::Char('q') => {
                app.confirm_quit = false;
                Effect::Redraw
            }
            _ => Effect::None,
        };
    }
    if app.filter_editing {
        match key.code {
            KeyCode::Enter => app.filter_editing = false,
            KeyCode::Esc => {
                app.filter_editing = false;
                app.filter.clear();
            }
            KeyCode::Backspace => {
                app.filter.pop();
            }
            KeyCode::Char(c) if !ctrl => app.filter.push(c),
            _ => return Effect::None,
        }
        app.kernel_sel = 0;
        return Effect::Redraw;
    }
    if app.help {
        return match key.code {
            KeyCode::Esc | KeyCode::Enter | KeyCode::Char('?') => {
                app.help = false;
                Effect::Redraw
            }
            KeyCode::Char('q') => quit(app),
            _ => Effect::None,
        };
    }
    match key.code {
        KeyCode::Char('q') => quit(app),
        KeyCode::Char('?') => {
            app.help = true;
            Effect::Redraw
        }
        KeyCode::Char(c @ '1'..='6') => {
            app.screen = Screen::ALL[c as usize - '1' as usize];
            app.details = false;
            Effect::Redraw
        }
        KeyCode::Tab => {
            app.screen = Screen::ALL[(app.screen.index() + 1) % Screen::ALL.len()];
            app.details = false;
            Effect::Redraw
        }
        KeyCode::BackTab => {
            app.screen = Screen::ALL[(app.screen.index() + Screen::ALL.len() - 1) % Screen::ALL.len()];
            app.details = false;
            Effect::Redraw
        }
        KeyCode::Char('j') | KeyCode::Down => {
            app.move_selection(1);
            Effect::Redraw
        }
        KeyCode::Char('k') | KeyCode::Up => {
            app.move_selection(-1);
            Effect::Redraw
        }
        KeyCode::PageDown => {
            app.move_selection(10);
            Effect::Redraw
        }
        KeyCode::PageUp => {
            app.move_selection(-10);
            Effect::Redraw
        }
        KeyCode::Char('g') | KeyCode::Home => {
            app.jump_to_end(false);
            Effect::Redraw
        }
        KeyCode::Char('G') | KeyCode::End => {
            app.jump_to_end(true);
            Effect::Redraw
        }
        KeyCode::Left | KeyCode::Right if app.screen == Screen::Kernels => {
            let n = KernelCol::ALL.len();
            let i = KernelCol::ALL.iter().position(|&c| c == app.kernel_sort).unwrap_or(0);
            let i = if key.code == KeyCode::Left { (i + n - 1) % n } else { (i + 1) % n };
            app.kernel_sort = KernelCol::ALL[i];
            app.kernel_sel = 0;
            Effect::Redraw
        }
        KeyCode::Char('/') => {
            app.screen = Screen::Kernels;
            app.filter_editing = true;
            app.kernel_sel = 0;
            Effect::Redraw
        }
        KeyCode::Enter if matches!(app.screen, Screen::Steps | Screen::Kernels) => {
            app.details = !app.details;
            Effect::Redraw
        }
        KeyCode::Esc => {
            if app.details {
                app.details = false;
            } else if app.cursor.is_some() {
                app.cursor = None;
            } else if app.screen == Screen::Kernels && !app.filter.is_empty() {
                app.filter.clear();
            } else if app.paused {
                app.toggle_pause();
            } else {
                return if had_notice { Effect::Redraw } else { Effect::None };
            }
            Effect::Redraw
        }
        KeyCode::Char(' ') => {
            app.toggle_pause();
            Effect::Redraw
        }
        KeyCode::Char('[') => {
            app.step_cursor(1);
            Effect::Redraw
        }
        KeyCode::Char(']') => {
            app.step_cursor(-1);
            Effect::Redraw
        }
        KeyCode::Char('+' | '=') => {
            app.set_zoom(app.zoom.saturating_sub(1));
            Effect::Redraw
        }
        KeyCode::Char('-' | '_') => {
            app.set_zoom(app.zoom + 1);
            Effect::Redraw
        }
        KeyCode::Char('s') => match &app.snapshot {
            Some(s) => {
                app.notice = Some(format!("snapshot #{} sent to be saved", s.seq));
                Effect::Send(Control::Save(s.clone()))
            }
            None => {
                app.notice = Some("nothing to save yet: no snapshot has arrived".into());
                Effect::Redraw
            }
        },
        _ => {
            if had_notice {
                Effect::Redraw
            } else {
                Effect::None
            }
        }
    }
}

fn quit(app: &mut App) -> Effect {
    if app.child_running() {
        app.confirm_quit = true;
        Effect::Redraw
    } else {
        Effect::Quit
    }
}
