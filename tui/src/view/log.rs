//! The log screen.

use ratatui::Frame;
use ratatui::layout::Rect;

use super::Ctx;
use crate::app::App;

pub(crate) fn render(app: &App, frame: &mut Frame, area: Rect, ctx: Ctx) {
    super::snapshot_or_wait(app, frame, area, "log", ctx);
}
