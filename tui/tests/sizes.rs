//! Every screen, in several states, drawn at sizes from 1x1 to 300x100
//! (stepped, plus the layout boundaries) without a panic.

mod common;

use boundscope_tui::{App, Feed, Input, UiOptions};
use common::{draw, keys};
use crossterm::event::KeyCode;

/// Widths and heights from 1 to the largest, denser around the layouts'
/// boundaries (60x15, 80x24, 120x40).
fn sizes() -> Vec<(u16, u16)> {
    let ws = [1, 2, 3, 7, 20, 45, 59, 60, 61, 79, 80, 100, 119, 120, 121, 160, 220, 300];
    let hs = [1, 2, 3, 5, 9, 14, 15, 16, 23, 24, 30, 39, 40, 41, 60, 100];
    ws.iter().flat_map(|&w| hs.iter().map(move |&h| (w, h))).collect()
}

fn states() -> Vec<App> {
    let full = common::app();
    let mut paused = full.clone();
    keys(&mut paused, &[Input::char(' '), Input::char('['), Input::char('-'), Input::char('-'), Input::char('?')]);
    let mut details = full.clone();
    details.details = true;
    details.filter_editing = true;
    details.filter = "a very long filter that matches nothing at all".into();
    let mut ascii = common::app_with(common::snapshot("a100_ddp_train.json.gz", 0.3, false));
    ascii.opts = UiOptions { ascii: true, color: true };
    ascii.apply(Feed::Ended { message: "program exited with status 0".into() });
    vec![App::new(UiOptions::default()), full, paused, details, ascii]
}

#[test]
fn every_screen_at_every_size_draws() {
    // Each size is drawn on one screen per state, the screen rotating with
    // the size and the state, so that every screen meets sizes all over the
    // range while the test stays at a few seconds in a debug build; the
    // layout boundaries get every screen.
    for (k, mut app) in states().into_iter().enumerate() {
        for (i, (w, h)) in sizes().into_iter().enumerate() {
            let screen = ((i + k) % 6) as u8;
            keys(&mut app, &[Input::char(char::from(b'1' + screen))]);
            let b = draw(&app, w, h);
            assert_eq!((b.area.width, b.area.height), (w, h));
        }
        for screen in 0..6u8 {
            keys(&mut app, &[Input::char(char::from(b'1' + screen))]);
            for (w, h) in [(1, 1), (59, 14), (60, 15), (80, 24), (119, 39), (120, 40), (300, 100)] {
                draw(&app, w, h);
            }
        }
        // Scrolled far past the ends.
        keys(&mut app, &[Input::key(KeyCode::End), Input::key(KeyCode::PageDown), Input::key(KeyCode::Home)]);
        draw(&app, 80, 24);
    }
}
