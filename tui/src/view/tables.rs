//! The Steps and Kernels screens.

use ratatui::Frame;
use ratatui::layout::Rect;

use super::Ctx;
use crate::app::App;

pub(crate) fn steps(app: &App, frame: &mut Frame, area: Rect, ctx: Ctx) {
    super::snapshot_or_wait(app, frame, area, "Steps", ctx);
}

pub(crate) fn kernels(app: &App, frame: &mut Frame, area: Rect, ctx: Ctx) {
    super::snapshot_or_wait(app, frame, area, "Kernels", ctx);
}
