//! Every screen drawn on ratatui's TestBackend at 80x24 and 120x40 from a
//! deterministic replay, pinned by insta snapshots, and driven by scripted
//! keys (pause, history cursor, zoom, sort, filter, details, help, quit).

mod common;

use boundscope_tui::{Input, Screen};
use common::{app, keys, screen};
use crossterm::event::KeyCode;

fn at_both_sizes(name: &str, app: &boundscope_tui::App) {
    insta::assert_snapshot!(format!("{name}_80x24"), screen(app, 80, 24));
    insta::assert_snapshot!(format!("{name}_120x40"), screen(app, 120, 40));
}

#[test]
fn each_screen_at_80x24_and_120x40() {
    let mut a = app();
    for (i, s) in Screen::ALL.iter().enumerate() {
        keys(&mut a, &[Input::char(char::from(b'1' + i as u8))]);
        assert_eq!(a.screen, *s);
        at_both_sizes(&s.title().to_lowercase(), &a);
    }
}

#[test]
fn paused_history_cursor_and_zoom() {
    let mut a = app();
    keys(&mut a, &[Input::char(' '), Input::char('['), Input::char('['), Input::char('[')]);
    at_both_sizes("overview_paused_cursor", &a);
    keys(&mut a, &[Input::char('-')]);
    at_both_sizes("overview_zoomed_out", &a);
}

#[test]
fn kernels_sorted_by_count_and_filtered() {
    let mut a = app();
    keys(&mut a, &[Input::char('3'), Input::key(KeyCode::Left)]);
    keys(&mut a, &[Input::char('/'), Input::char('g'), Input::char('e'), Input::char('m'), Input::key(KeyCode::Enter)]);
    keys(&mut a, &[Input::char('j'), Input::key(KeyCode::Enter)]);
    at_both_sizes("kernels_by_count_filter_gem_details", &a);
}

#[test]
fn step_details_help_and_quit_question() {
    let mut a = app();
    keys(&mut a, &[Input::char('2'), Input::char('k'), Input::key(KeyCode::Enter)]);
    at_both_sizes("steps_details", &a);
    keys(&mut a, &[Input::char('?')]);
    insta::assert_snapshot!("help_80x24", screen(&a, 80, 24));
    let mut b = common::app();
    b.apply(boundscope_tui::Feed::Header(common::header(true)));
    keys(&mut b, &[Input::char('q')]);
    insta::assert_snapshot!("quit_question_80x24", screen(&b, 80, 24));
}

#[test]
fn small_terminals_get_one_status_line() {
    let a = app();
    insta::assert_snapshot!("status_line_59x14", screen(&a, 59, 14));
}

#[test]
fn finished_replay_with_advice() {
    let mut a = common::app_with(common::snapshot("a100_simple_add.json.gz", 1.0, false));
    a.apply(boundscope_tui::Feed::Ended { message: "replay finished".into() });
    keys(&mut a, &[Input::char('4')]);
    at_both_sizes("advice_finished", &a);
    keys(&mut a, &[Input::char('1')]);
    at_both_sizes("overview_finished_no_nvml", &a);
}

#[test]
fn before_any_feed_every_screen_waits() {
    let mut a = boundscope_tui::App::new(boundscope_tui::UiOptions { ascii: true, color: false });
    insta::assert_snapshot!("empty_overview_80x24", screen(&a, 80, 24));
    keys(&mut a, &[Input::char('5')]);
    insta::assert_snapshot!("empty_sweep_80x24", screen(&a, 80, 24));
}
