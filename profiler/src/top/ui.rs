//! The terminal face of `boundscope top`: the source runs on its own thread
//! (it owns the live analysis, STYLE.md rule 7) and sends snapshots and
//! figures through one channel; the UI (`boundscope-tui`) owns the terminal
//! on the main thread and sends back what the user asked for.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::time::Instant;

use anyhow::anyhow;
use boundscope_tui::{Control, Feed, Header, LogStream, Mode, Stats, UiOptions};

use super::{TopSpec, drive, save_snapshot};
use crate::Failure;

pub fn run(spec: TopSpec, ascii: bool, out_dir: std::path::PathBuf) -> Result<(), Failure> {
    let (feed_tx, feed_rx) = channel::<Feed>();
    let (ctl_tx, ctl_rx) = channel::<Control>();
    let stop = Arc::new(AtomicBool::new(false));
    let mode = match &spec.source {
        super::Source::Replay(_) => Mode::Replay { speed: spec.speed.label() },
        super::Source::Sim(_) => Mode::Simulated { speed: spec.speed.label() },
    };
    let header = Header {
        command: spec.label.clone(),
        gpu: spec.gpu.clone(),
        mode,
        simulated: spec.simulated,
        child_running: false,
    };
    feed_tx.send(Feed::Header(header)).ok();
    let worker = {
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("boundscope-live".into())
            .spawn(move || feed_source(spec, feed_tx, ctl_rx, stop, out_dir))
            .map_err(|e| Failure::internal(anyhow!("starting the live thread: {e}")))?
    };
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let ui = boundscope_tui::run(feed_rx, ctl_tx, UiOptions { ascii, color });
    stop.store(true, Ordering::Relaxed);
    let source = worker.join().map_err(|_| Failure::internal(anyhow!("the live thread panicked")))?;
    ui.map_err(|e| Failure::internal(anyhow!("terminal: {e}")))?;
    source.map_err(Failure::input)
}

/// The live thread: drives the source, forwards snapshots and figures, and
/// serves the UI's requests, until the source ends or the UI quits.
fn feed_source(
    spec: TopSpec,
    feed: Sender<Feed>,
    control: Receiver<Control>,
    stop: Arc<AtomicBool>,
    out_dir: std::path::PathBuf,
) -> anyhow::Result<()> {
    let mut cpu = CpuClock::new();
    let mut last_stats = Instant::now();
    let mut last_events = 0u64;
    let result = drive(spec.source, spec.live, spec.speed, |analyzer, snap| {
        // The UI shows the snapshot; the closed windows are for JSON lines.
        analyzer.drain_closed();
        loop {
            match control.try_recv() {
                Ok(Control::Quit | Control::Interrupt) | Err(TryRecvError::Disconnected) => return Ok(false),
                Ok(Control::Save(s)) => {
                    let line = match save_snapshot(&out_dir, &s) {
                        Ok(p) => format!("snapshot saved: {}", p.display()),
                        Err(e) => format!("snapshot not saved: {e:#}"),
                    };
                    feed.send(Feed::Log { stream: LogStream::Boundscope, line }).ok();
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let dt = last_stats.elapsed().as_secs_f64();
        if dt >= 1.0 {
            let events = snap.totals.events;
            let stats =
                Stats { records_per_s: (events - last_events) as f64 / dt, cpu_pct: cpu.percent(), ingest_lag_ms: 0.0 };
            feed.send(Feed::Stats(stats)).ok();
            last_events = events;
            last_stats = Instant::now();
        }
        Ok(feed.send(Feed::Snapshot(Box::new(snap))).is_ok())
    });
    let message = match &result {
        Ok(_) if stop.load(Ordering::Relaxed) => return Ok(()),
        Ok(_) => "source finished: every window is final (q quits)".to_string(),
        Err(e) => format!("source failed: {e:#}"),
    };
    feed.send(Feed::Ended { message }).ok();
    result.map(|_| ())
}

/// boundscope's own CPU use, from /proc/self/stat (utime + stime).
pub(super) struct CpuClock {
    at: Instant,
    ticks: Option<u64>,
}

impl CpuClock {
    pub(super) fn new() -> CpuClock {
        CpuClock { at: Instant::now(), ticks: self_ticks() }
    }

    /// Percent of one core since the last call.
    pub(super) fn percent(&mut self) -> f64 {
        let now = self_ticks();
        let hz = rustix::param::clock_ticks_per_second() as f64;
        let dt = self.at.elapsed().as_secs_f64();
        let pct = match (self.ticks, now) {
            (Some(a), Some(b)) if dt > 0.0 && hz > 0.0 => (b.saturating_sub(a)) as f64 / hz / dt * 100.0,
            _ => 0.0,
        };
        self.at = Instant::now();
        self.ticks = now;
        pct
    }
}

fn self_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start after ')'.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after ')'.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}
