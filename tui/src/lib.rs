//! boundscope's terminal UI (`boundscope top`, `boundscope sweep --tui`).
//!
//! The binary wires event sources to [`run`] through one channel of [`Feed`]
//! messages and gets [`Control`] messages back; this crate knows nothing of
//! files or processes and depends on the analysis types only. Inside, one
//! thread owns the [`App`] state: [`App::apply`] takes feeds, [`handle`] takes
//! keys and returns an [`Effect`], and [`render`] draws from `&App`, so every
//! screen is tested on ratatui's `TestBackend` like a function.

pub mod app;
pub mod feed;
pub mod style;
mod term;
pub mod view;

pub use app::{App, Effect, Input, KernelCol, Screen, handle};
pub use feed::{
    Control, Feed, Header, LogStream, Mode, PointStatus, Stats, SweepPointView, SweepView, TransitionView, UiOptions,
};
pub use term::run;
pub use view::render;
