//! Deterministic inputs for the screen tests: shared traces replayed through
//! the live analysis in fixed chunks of trace time (no wall clock), a fixed
//! header, stats, log and sweep, and text dumps of rendered buffers.

#![allow(dead_code)]

use std::path::Path;

use boundscope_analysis::live::{LiveAnalyzer, LiveSnapshot, LiveSpec, TraceReplay};
use boundscope_tui::{
    App, Feed, Header, Input, LogStream, Mode, PointStatus, Stats, SweepPointView, SweepView, TransitionView,
    UiOptions, handle, render,
};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;

/// Replays a shared trace with 10 ms windows, publishing every 20 ms of
/// trace time, up to `fraction` of it (1.0: to the end, then ends the
/// source). With `nvml`, a gpu.util series follows the GPU busy share.
pub fn snapshot(name: &str, fraction: f64, nvml: bool) -> LiveSnapshot {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/traces").join(name);
    let trace = boundscope_trace::read_trace(&path).expect("shared trace");
    let spec = LiveSpec { window_ns: 10_000_000, give_up_ns: 50_000_000, ..LiveSpec::default() };
    let mut live = LiveAnalyzer::new(spec, "test");
    live.set_origin(0);
    let stop = (trace.end_ns() as f64 * fraction) as i64;
    let mut replay = TraceReplay::new(trace, 0);
    let series = nvml.then(|| live.counter_series("gpu.util", "%", Some(0)));
    let mut until = 0i64;
    let mut snap = live.publish();
    while !replay.done() && until < stop {
        until += 20_000_000;
        replay.feed_live(until.min(stop), &mut live, usize::MAX);
        if let Some(s) = series {
            for k in 0..4 {
                let t = until - 20_000_000 + k * 5_000_000;
                live.counter_sample(s, t, 40.0 + ((t / 5_000_000) % 12) as f64 * 5.0);
            }
        }
        snap = live.publish();
    }
    if fraction >= 1.0 {
        live.end();
        snap = live.publish();
    }
    snap
}

pub fn header(child_running: bool) -> Header {
    Header {
        command: "python train.py --batch-size 32".into(),
        gpu: "Tesla V100-SXM2-16GB".into(),
        mode: Mode::Replay { speed: "4x".into() },
        simulated: false,
        child_running,
    }
}

pub fn sweep() -> SweepView {
    let platforms = vec!["sim:h100-pcie".to_string(), "sim:gh200".to_string()];
    let mut points = Vec::new();
    for (pi, p) in platforms.iter().enumerate() {
        for (i, b) in [1u64, 4, 16, 64, 256].into_iter().enumerate() {
            let k = pi * 5 + i;
            let status = match k {
                9 => PointStatus::Pending,
                8 => PointStatus::Running,
                4 => PointStatus::Failed,
                _ => PointStatus::Done,
            };
            let done = status == PointStatus::Done;
            let bf = b as f64;
            points.push(SweepPointView {
                platform: p.clone(),
                batch: b,
                status,
                step_ms: done.then(|| 8.0 + bf * 0.05 * (pi + 1) as f64),
                throughput: done.then(|| bf * 1000.0 / (8.0 + bf * 0.05 * (pi + 1) as f64)),
                busy_frac: done.then(|| (0.2 + bf.log2() * 0.1).min(0.97)),
                tklqt_ms: done.then_some(2.0 + bf * 0.3),
                note: if status == PointStatus::Failed {
                    "exit status 1: CUDA out of memory".into()
                } else {
                    String::new()
                },
            });
        }
    }
    SweepView {
        workload: "llama-3.2-1b:decode".into(),
        transitions: vec![
            TransitionView {
                platform: platforms[0].clone(),
                knee: Some(24.0),
                busy_rule: Some(32.0),
                knee_grid: "16-32".into(),
                busy_grid: "16-32".into(),
            },
            TransitionView {
                platform: platforms[1].clone(),
                knee: Some(40.0),
                busy_rule: None,
                knee_grid: "32-64".into(),
                busy_grid: "> 64".into(),
            },
        ],
        platforms,
        points,
        running: Some(("sim:gh200".into(), 64)),
    }
}

/// An app fed like a replay of v100_train_ns_timestamps at 60%: header,
/// stats, a snapshot with NVML samples, log lines and a sweep.
pub fn app_with(snap: LiveSnapshot) -> App {
    let mut app = App::new(UiOptions { ascii: false, color: false });
    app.apply(Feed::Header(header(false)));
    app.apply(Feed::Stats(Stats { records_per_s: 123_456.0, cpu_pct: 2.5, ingest_lag_ms: 12.0 }));
    app.apply(Feed::Snapshot(Box::new(snap)));
    for i in 0..40 {
        let stream = match i % 7 {
            3 => LogStream::Stderr,
            6 => LogStream::Boundscope,
            _ => LogStream::Stdout,
        };
        app.apply(Feed::Log { stream, line: format!("iteration {i}: loss {:.3}", 2.0 / (i + 1) as f64) });
    }
    app.apply(Feed::Sweep(Box::new(sweep())));
    app
}

pub fn app() -> App {
    app_with(snapshot("v100_train_ns_timestamps.json.gz", 0.6, true))
}

pub fn keys(app: &mut App, keys: &[Input]) {
    for k in keys {
        handle(app, *k);
    }
}

pub fn draw(app: &App, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    t.draw(|f| render(app, f)).expect("draw");
    t.backend().buffer().clone()
}

/// The buffer's text, one line per row, trailing spaces cut.
pub fn text(b: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..b.area.height {
        let mut line = String::new();
        for x in 0..b.area.width {
            line.push_str(b[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub fn screen(app: &App, w: u16, h: u16) -> String {
    text(&draw(app, w, h))
}
