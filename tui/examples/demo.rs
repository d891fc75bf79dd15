//! A development aid, not part of boundscope: replays a shared trace in a
//! loop, paced at real time, into the terminal UI, to look at the screens
//! as a person would (`cargo run -p boundscope-tui --example demo`).
//!
//! Arguments: `[TRACE.json.gz] [--speed X] [--window-ms N] [--ascii]`.
//! `s` logs the save request instead of writing anything.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use boundscope_analysis::live::{LiveAnalyzer, LiveSpec, Pacer, Speed, TraceReplay};
use boundscope_tui::{Control, Feed, Header, LogStream, Mode, Stats, UiOptions};

fn main() -> std::io::Result<()> {
    let mut path =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/traces/v100_train_ns_timestamps.json.gz").to_string();
    let (mut speed, mut window_ms, mut ascii) = (Speed::Times(1.0), 10i64, false);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--speed" => speed = args.next().and_then(|s| Speed::parse(&s).ok()).unwrap_or(speed),
            "--window-ms" => window_ms = args.next().and_then(|s| s.parse().ok()).unwrap_or(window_ms),
            "--ascii" => ascii = true,
            _ => path = a,
        }
    }
    let trace = boundscope_trace::read_trace(std::path::Path::new(&path))
        .map_err(|e| std::io::Error::other(format!("{path}: {e}")))?;
    let (feed_tx, feed_rx) = mpsc::channel();
    let (control_tx, control_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let send = |f: Feed| feed_tx.send(f).is_ok();
        let header = Header {
            command: format!("replay {}", path.rsplit('/').next().unwrap_or(&path)),
            gpu: "recorded trace".into(),
            mode: Mode::Replay { speed: speed.label() },
            simulated: false,
            child_running: false,
        };
        send(Feed::Header(header));
        // A short give-up: a launch whose kernel is not in the trace would
        // otherwise hold every later window open for 10 s.
        let spec = LiveSpec { window_ns: window_ms * 1_000_000, give_up_ns: 50_000_000, ..LiveSpec::default() };
        let mut live = LiveAnalyzer::new(spec, "demo");
        live.set_origin(0);
        let pacer = Pacer { speed, start_ns: 0 };
        let started = Instant::now();
        let mut round = 1u32;
        let mut replay = TraceReplay::new(trace.clone(), 0);
        let (mut fed, mut last_stats) = (0usize, Instant::now());
        loop {
            std::thread::sleep(Duration::from_millis(50));
            while let Ok(c) = control_rx.try_recv() {
                let line = match c {
                    Control::Quit => return,
                    Control::Interrupt => "interrupt requested (nothing to interrupt in the demo)".to_string(),
                    Control::Save(s) => format!("save requested for snapshot #{} (the demo writes nothing)", s.seq),
                };
                send(Feed::Log { stream: LogStream::Boundscope, line });
            }
            let target = pacer.target_ns(started.elapsed().as_nanos() as i64);
            fed += replay.feed_live(target, &mut live, 200_000);
            if replay.done() {
                let offset = replay.end_ns() + 1_000_000;
                round += 1;
                send(Feed::Log {
                    stream: LogStream::Stdout,
                    line: format!("round {round} of the trace starts at t+{:.3}s", offset as f64 / 1e9),
                });
                // Each round gets its own correlation and External ids.
                let ids = replay.max_id() + 1;
                replay = TraceReplay::new(trace.clone(), offset).with_id_offset(ids);
            }
            let snap = live.publish();
            live.drain_closed();
            if !send(Feed::Snapshot(Box::new(snap))) {
                return;
            }
            if last_stats.elapsed() >= Duration::from_secs(1) {
                let secs = last_stats.elapsed().as_secs_f64();
                send(Feed::Stats(Stats { records_per_s: fed as f64 / secs, cpu_pct: 0.0, ingest_lag_ms: 0.0 }));
                (fed, last_stats) = (0, Instant::now());
            }
        }
    });
    boundscope_tui::run(feed_rx, control_tx, UiOptions { ascii, color: true })
}
