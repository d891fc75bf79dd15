//! `boundscope top --headless`: the live analysis as JSON lines on stdout,
//! each flushed as it is written (docs/live-json.md). One `start` line, then
//! a `window` line per closed window and a `step` line per closed step as
//! they become final, and at the end one `summary` line whose figures are the
//! whole-trace window of `boundscope analyze --json` on the same run.

use std::io::Write;

use anyhow::Context;
use boundscope_analysis::live::{Closed, LIVE_SCHEMA, LiveTotals};
use boundscope_analysis::{StepMedian, WindowMetrics};
use serde::Serialize;

use super::{TopSpec, drive, whole_run};
use crate::Failure;

#[derive(Serialize)]
pub struct Start<'a> {
    pub schema: &'static str,
    pub kind: &'static str,
    pub source: &'a str,
    pub gpu: &'a str,
    pub simulated: bool,
    pub window_ns: i64,
    pub speed: String,
}

#[derive(Serialize)]
pub struct Window<'a> {
    pub schema: &'static str,
    /// "window" or "step".
    pub kind: &'static str,
    #[serde(flatten)]
    pub metrics: &'a WindowMetrics,
}

#[derive(Serialize)]
pub struct Summary<'a> {
    pub schema: &'static str,
    pub kind: &'static str,
    pub source: &'a str,
    pub totals: LiveTotals,
    pub steps: u64,
    pub step_median: Option<&'a StepMedian>,
    /// The whole run as one window (equal to `analyze --json`'s `trace_window`).
    #[serde(flatten)]
    pub trace_window: &'a WindowMetrics,
}

pub fn line(out: &mut (impl Write + ?Sized), v: &impl Serialize) -> anyhow::Result<()> {
    serde_json::to_writer(&mut *out, v)?;
    out.write_all(b"\n")?;
    out.flush().context("writing to stdout")
}

/// One `window` or `step` line per window and step that became final.
pub fn write_closed(out: &mut (impl Write + ?Sized), closed: &[Closed]) -> anyhow::Result<()> {
    for c in closed {
        let (kind, metrics) = match c {
            Closed::Window(m) => ("window", m),
            Closed::Step(m) => ("step", m),
        };
        line(out, &Window { schema: LIVE_SCHEMA, kind, metrics })?;
    }
    Ok(())
}

pub fn run(spec: TopSpec, out: &mut impl Write) -> Result<(), Failure> {
    let TopSpec { source, label, gpu, simulated, speed, live, .. } = spec;
    let start = Start {
        schema: LIVE_SCHEMA,
        kind: "start",
        source: &label,
        gpu: &gpu,
        simulated,
        window_ns: live.window_ns,
        speed: speed.label(),
    };
    line(out, &start).map_err(Failure::input)?;
    let mut totals = LiveTotals::default();
    let mut steps = 0;
    let source = drive(source, live, speed, |analyzer, snap| {
        totals = snap.totals;
        steps = snap.steps_total;
        write_closed(out, &analyzer.drain_closed())?;
        Ok(true)
    })
    .map_err(Failure::input)?;
    let Some(report) = whole_run(source, &live, &label).map_err(Failure::internal)? else {
        return Ok(());
    };
    let summary = Summary {
        schema: LIVE_SCHEMA,
        kind: "summary",
        source: &label,
        totals,
        steps,
        step_median: report.step_median.as_ref(),
        trace_window: &report.trace_window,
    };
    line(out, &summary).map_err(Failure::input)
}
