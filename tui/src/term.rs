//! The terminal loop behind [`run`]: raw mode and the alternate screen,
//! restored on every way out (return, error, panic); one thread reads keys,
//! one forwards feeds, and this thread alone owns the [`App`]. It redraws
//! only when something changed (a feed, a key, a resize), at most 10 times a
//! second, each frame inside synchronized-output markers so that tmux and SSH
//! never show a half-drawn screen.

use std::io::{self, Stdout, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Once};
use std::thread;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event};
use crossterm::terminal::{
    BeginSynchronizedUpdate, EndSynchronizedUpdate, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode,
    enable_raw_mode,
};
use crossterm::{cursor, execute, queue};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::app::{App, Effect, Input, handle};
use crate::feed::{Control, Feed, UiOptions};
use crate::view::render;

/// Shortest time between two frames (10 per second at most).
const FRAME: Duration = Duration::from_millis(100);
/// How often the key thread looks whether the UI has ended.
const KEY_POLL: Duration = Duration::from_millis(150);

/// Whether this process's terminal is in the UI's modes (raw, alternate screen).
static ACTIVE: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

/// Leaves raw mode and the alternate screen, once.
fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let mut out = io::stdout();
        let _ = execute!(out, EndSynchronizedUpdate, LeaveAlternateScreen, cursor::Show);
        let _ = out.flush();
    }
}

/// Restores the terminal when dropped, whatever the way out.
#[derive(Debug)]
struct Guard;

impl Guard {
    fn enter() -> io::Result<Guard> {
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                // The message must land on the normal screen, after the restore.
                restore();
                previous(info);
            }));
        });
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let guard = Guard;
        execute!(io::stdout(), EnterAlternateScreen, cursor::Hide)?;
        Ok(guard)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

enum Msg {
    Feed(Feed),
    FeedClosed,
    Term(Event),
    TermError(io::Error),
}

/// `NO_COLOR` set to anything but the empty string turns colors off.
fn color_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Owns the terminal until the user quits: raw mode, alternate screen, panic
/// hook that restores it. Feeds arrive on `feed`; the user's requests (quit,
/// interrupt the child or the sweep, save a snapshot) leave on `control`.
/// Returns after `q` (confirmed while a child runs) or Ctrl-C without a
/// child or a running sweep; a source that ends leaves the UI up until then.
pub fn run(feed: Receiver<Feed>, control: Sender<Control>, opts: UiOptions) -> io::Result<()> {
    let opts = UiOptions { color: opts.color && color_allowed(), ..opts };
    let guard = Guard::enter()?;
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    terminal.clear()?;

    let (tx, rx) = mpsc::channel::<Msg>();
    let stop = Arc::new(AtomicBool::new(false));
    let keys = {
        let (tx, stop) = (tx.clone(), stop.clone());
        thread::Builder::new().name("boundscope-tui-keys".into()).spawn(move || key_thread(&tx, &stop))?
    };
    thread::Builder::new().name("boundscope-tui-feed".into()).spawn(move || {
        for f in feed {
            if tx.send(Msg::Feed(f)).is_err() {
                return;
            }
        }
        let _ = tx.send(Msg::FeedClosed);
    })?;

    let result = main_loop(&mut terminal, &rx, &control, opts);
    stop.store(true, Ordering::SeqCst);
    let _ = keys.join();
    drop(terminal);
    drop(guard);
    result
}

fn key_thread(tx: &Sender<Msg>, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        let msg = match event::poll(KEY_POLL) {
            Ok(false) => continue,
            Ok(true) => match event::read() {
                Ok(ev) => Msg::Term(ev),
                Err(e) => Msg::TermError(e),
            },
            Err(e) => Msg::TermError(e),
        };
        let failed = matches!(msg, Msg::TermError(_));
        if tx.send(msg).is_err() || failed {
            return;
        }
    }
}

fn main_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    rx: &Receiver<Msg>,
    control: &Sender<Control>,
    opts: UiOptions,
) -> io::Result<()> {
    let mut app = App::new(opts);
    let mut dirty = true;
    let mut last_draw: Option<Instant> = None;
    loop {
        let wait = last_draw.map_or(Duration::ZERO, |t| FRAME.saturating_sub(t.elapsed()));
        if dirty && wait.is_zero() {
            draw(terminal, &app)?;
            dirty = false;
            last_draw = Some(Instant::now());
        }
        let first = if dirty {
            match rx.recv_timeout(wait) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
        } else {
            match rx.recv() {
                Ok(m) => m,
                Err(_) => return Ok(()),
            }
        };
        // Take everything queued before drawing again (bounded, so keys stay prompt).
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(msg) = next.take() {
            match msg {
                Msg::Feed(f) => dirty |= app.apply(f),
                Msg::FeedClosed => {
                    if app.ended.is_none() {
                        dirty |= app.apply(Feed::Ended { message: "the source closed".into() });
                    }
                }
                Msg::Term(ev) => {
                    let input = match ev {
                        Event::Key(k) => Input::Key(k),
                        Event::Resize(w, h) => Input::Resize(w, h),
                        _ => continue,
                    };
                    match handle(&mut app, input) {
                        Effect::None => {}
                        Effect::Redraw => dirty = true,
                        Effect::Send(c) => {
                            // The binary may be gone already; the UI stays usable.
                            let _ = control.send(c);
                            dirty = true;
                        }
                        Effect::Quit => {
                            let _ = control.send(Control::Quit);
                            return Ok(());
                        }
                    }
                }
                Msg::TermError(e) => return Err(e),
            }
            taken += 1;
            if taken < 1000 {
                next = rx.try_recv().ok();
            }
        }
    }
}

fn draw(terminal: &mut Terminal<CrosstermBackend<Stdout>>, app: &App) -> io::Result<()> {
    queue!(terminal.backend_mut(), BeginSynchronizedUpdate)?;
    let drawn = terminal.draw(|f| render(app, f)).map(|_| ());
    execute!(terminal.backend_mut(), EndSynchronizedUpdate)?;
    drawn
}
