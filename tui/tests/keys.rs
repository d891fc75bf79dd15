//! `handle`: keys to effects, pause and the history cursor, zoom, sort and
//! filter, quitting with and without a running program.

mod common;

use boundscope_tui::{App, Control, Effect, Feed, Input, KernelCol, Mode, Screen, UiOptions, handle};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

fn app_running(child: bool) -> App {
    let mut a = common::app();
    a.apply(Feed::Header(common::header(child)));
    a
}

#[test]
fn quit_asks_only_while_a_program_runs() {
    let mut a = app_running(false);
    assert_eq!(handle(&mut a, Input::char('q')), Effect::Quit);

    let mut a = app_running(true);
    assert_eq!(handle(&mut a, Input::char('q')), Effect::Redraw);
    assert!(a.confirm_quit);
    assert_eq!(handle(&mut a, Input::char('x')), Effect::None);
    assert_eq!(handle(&mut a, Input::char('n')), Effect::Redraw);
    assert!(!a.confirm_quit);
    handle(&mut a, Input::char('q'));
    assert_eq!(handle(&mut a, Input::char('y')), Effect::Quit);

    // Once the program has ended, q quits at once.
    let mut a = app_running(true);
    a.apply(Feed::Ended { message: "program exited with status 0".into() });
    assert_eq!(handle(&mut a, Input::char('q')), Effect::Quit);
}

#[test]
fn ctrl_c_interrupts_a_running_program_else_quits() {
    let mut a = app_running(true);
    assert_eq!(handle(&mut a, Input::ctrl('c')), Effect::Send(Control::Interrupt));
    assert!(a.notice.is_some());
    let mut a = app_running(false);
    assert_eq!(handle(&mut a, Input::ctrl('c')), Effect::Quit);
    // Also while typing a filter.
    let mut a = app_running(false);
    handle(&mut a, Input::char('/'));
    assert_eq!(handle(&mut a, Input::ctrl('c')), Effect::Quit);
}

#[test]
fn ctrl_c_interrupts_a_running_sweep_and_q_quits_at_once() {
    let mut a = common::app();
    let mut h = common::header(false);
    h.mode = Mode::Sweep { batch: 32, index: 5, total: 9 };
    a.apply(Feed::Header(h));
    // q does not ask: the sweep ends after the running point.
    assert_eq!(handle(&mut a.clone(), Input::char('q')), Effect::Quit);
    // Ctrl-C interrupts the point's program and stops the sweep; the UI stays.
    assert_eq!(handle(&mut a, Input::ctrl('c')), Effect::Send(Control::Interrupt));
    assert!(a.notice.as_deref().is_some_and(|n| n.contains("sweep stops")), "{:?}", a.notice);
    // Once the sweep has ended, Ctrl-C quits.
    a.apply(Feed::Ended { message: "sweep stopped".into() });
    assert_eq!(handle(&mut a, Input::ctrl('c')), Effect::Quit);
}

#[test]
fn screens_by_number_and_tab() {
    let mut a = App::new(UiOptions::default());
    assert_eq!(handle(&mut a, Input::char('4')), Effect::Redraw);
    assert_eq!(a.screen, Screen::Advice);
    handle(&mut a, Input::key(KeyCode::Tab));
    assert_eq!(a.screen, Screen::Sweep);
    handle(&mut a, Input::key(KeyCode::Tab));
    handle(&mut a, Input::key(KeyCode::Tab));
    assert_eq!(a.screen, Screen::Overview);
    handle(&mut a, Input::key(KeyCode::BackTab));
    assert_eq!(a.screen, Screen::Log);
    assert_eq!(handle(&mut a, Input::char('?')), Effect::Redraw);
    assert!(a.help);
    assert_eq!(handle(&mut a, Input::key(KeyCode::Esc)), Effect::Redraw);
    assert!(!a.help);
}

#[test]
fn pause_holds_snapshots_and_resume_shows_the_newest() {
    let mut a = common::app();
    let seq = a.snapshot.as_ref().map(|s| s.seq);
    handle(&mut a, Input::char(' '));
    assert!(a.paused);
    let mut newer = (**a.snapshot.as_ref().expect("snapshot")).clone();
    newer.seq += 10;
    assert!(!a.apply(Feed::Snapshot(Box::new(newer.clone()))), "no redraw for a held snapshot");
    assert!(!a.apply(Feed::Snapshot(Box::new(newer))));
    assert_eq!(a.snapshot.as_ref().map(|s| s.seq), seq);
    assert_eq!(a.held_count, 2);
    // Stats and log lines still arrive.
    assert!(a.apply(Feed::Stats(Default::default())));
    handle(&mut a, Input::char(' '));
    assert!(!a.paused);
    assert_eq!(a.snapshot.as_ref().map(|s| s.seq), seq.map(|s| s + 10));
    assert_eq!(a.held_count, 0);
}

#[test]
fn history_cursor_moves_only_while_paused_and_stays_in_range() {
    let mut a = common::app();
    let len = a.tier().map_or(0, <[_]>::len);
    assert!(len > 3);
    handle(&mut a, Input::char('['));
    assert_eq!(a.cursor, None);
    assert!(a.notice.as_deref().is_some_and(|n| n.contains("Space")));
    handle(&mut a, Input::char(' '));
    handle(&mut a, Input::char('['));
    assert_eq!(a.cursor, Some(0));
    let newest = a.cursor_point().map(|p| p.start_ns);
    assert_eq!(newest, a.tier().and_then(|t| t.last()).map(|p| p.start_ns));
    for _ in 0..len + 5 {
        handle(&mut a, Input::char('['));
    }
    assert_eq!(a.cursor, Some(len - 1));
    assert_eq!(a.cursor_point().map(|p| p.start_ns), a.tier().and_then(|t| t.first()).map(|p| p.start_ns));
    handle(&mut a, Input::char(']'));
    assert_eq!(a.cursor, Some(len - 2));
    handle(&mut a, Input::key(KeyCode::Esc));
    assert_eq!(a.cursor, None);
    // Resuming leaves the cursor.
    handle(&mut a, Input::char('['));
    handle(&mut a, Input::char(' '));
    assert_eq!((a.paused, a.cursor), (false, None));
}

#[test]
fn zoom_picks_a_tier_and_keeps_the_cursor_on_the_same_moment() {
    let mut a = common::app();
    let tiers = a.snapshot.as_ref().map_or(0, |s| s.history.len());
    handle(&mut a, Input::char('+'));
    assert_eq!(a.zoom, 0);
    for _ in 0..10 {
        handle(&mut a, Input::char('-'));
    }
    assert_eq!(a.zoom, tiers - 1);
    handle(&mut a, Input::char('+'));
    assert_eq!(a.zoom, tiers - 2);
    let mut a = common::app();
    handle(&mut a, Input::char(' '));
    for _ in 0..12 {
        handle(&mut a, Input::char('['));
    }
    let t = a.cursor_point().map(|p| p.start_ns).expect("cursor");
    handle(&mut a, Input::char('-'));
    assert_eq!(a.zoom, 1);
    let p = *a.cursor_point().expect("cursor after zoom");
    assert!(p.start_ns <= t && t < p.end_ns, "{t} not in {}..{}", p.start_ns, p.end_ns);
}

#[test]
fn kernel_sort_and_filter() {
    let mut a = common::app();
    handle(&mut a, Input::char('3'));
    assert_eq!(a.kernel_sort, KernelCol::Total);
    let totals: Vec<i64> = a.kernel_rows().iter().map(|k| k.total_ns).collect();
    assert!(totals.windows(2).all(|w| w[0] >= w[1]));
    handle(&mut a, Input::key(KeyCode::Right));
    assert_eq!(a.kernel_sort, KernelCol::Mean);
    handle(&mut a, Input::key(KeyCode::Left));
    handle(&mut a, Input::key(KeyCode::Left));
    assert_eq!(a.kernel_sort, KernelCol::Count);
    let counts: Vec<u64> = a.kernel_rows().iter().map(|k| k.count).collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]));
    handle(&mut a, Input::key(KeyCode::Left));
    handle(&mut a, Input::key(KeyCode::Left));
    assert_eq!(a.kernel_sort, KernelCol::LaunchToStart, "wraps around");

    // While typing, q is text, not quit.
    let all = a.kernel_rows().len();
    handle(&mut a, Input::char('/'));
    for c in "GEMMq".chars() {
        assert_eq!(handle(&mut a, Input::char(c)), Effect::Redraw);
    }
    assert_eq!(a.filter, "GEMMq");
    assert!(a.kernel_rows().is_empty());
    handle(&mut a, Input::key(KeyCode::Backspace));
    handle(&mut a, Input::key(KeyCode::Enter));
    assert!(!a.filter_editing);
    let matched = a.kernel_rows();
    assert!(!matched.is_empty() && matched.len() < all);
    assert!(matched.iter().all(|k| k.name.to_lowercase().contains("gemm")));
    for _ in 0..1000 {
        handle(&mut a, Input::char('j'));
    }
    assert_eq!(a.kernel_sel, a.kernel_rows().len() - 1);
    handle(&mut a, Input::key(KeyCode::Esc));
    assert!(a.filter.is_empty());
    assert_eq!(a.kernel_rows().len(), all);
}

#[test]
fn steps_follow_the_newest_until_moved() {
    let mut a = common::app();
    handle(&mut a, Input::char('2'));
    let n = a.snapshot.as_ref().map_or(0, |s| s.steps.len());
    assert_eq!(a.selected_step(), Some(n - 1));
    handle(&mut a, Input::char('k'));
    assert_eq!(a.step_sel, Some(n - 2));
    handle(&mut a, Input::key(KeyCode::End));
    assert_eq!(a.step_sel, None);
    handle(&mut a, Input::key(KeyCode::Enter));
    assert!(a.details);
    handle(&mut a, Input::key(KeyCode::Esc));
    assert!(!a.details);
}

#[test]
fn save_sends_the_snapshot_on_screen() {
    let mut a = App::new(UiOptions::default());
    assert_eq!(handle(&mut a, Input::char('s')), Effect::Redraw);
    assert!(a.notice.is_some());
    let mut a = common::app();
    handle(&mut a, Input::char(' '));
    let shown = a.snapshot.clone().expect("snapshot");
    let mut newer = (*shown).clone();
    newer.seq += 1;
    a.apply(Feed::Snapshot(Box::new(newer)));
    assert_eq!(handle(&mut a, Input::char('s')), Effect::Send(Control::Save(shown)));
}

#[test]
fn log_scrolls_back_and_stays_put_as_lines_arrive() {
    let mut a = common::app();
    handle(&mut a, Input::char('6'));
    handle(&mut a, Input::char('k'));
    handle(&mut a, Input::char('k'));
    assert_eq!(a.log_back, 2);
    a.apply(Feed::Log { stream: boundscope_tui::LogStream::Stdout, line: "new".into() });
    assert_eq!(a.log_back, 3);
    handle(&mut a, Input::char('G'));
    assert_eq!(a.log_back, 0);
}

#[test]
fn resize_redraws_and_key_releases_are_ignored() {
    let mut a = App::new(UiOptions::default());
    assert_eq!(handle(&mut a, Input::Resize(80, 24)), Effect::Redraw);
    let mut release = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
    release.kind = KeyEventKind::Release;
    assert_eq!(handle(&mut a, Input::Key(release)), Effect::None);
    assert_eq!(handle(&mut a, Input::key(KeyCode::F(1))), Effect::None);
}
