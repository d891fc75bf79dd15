//! `boundscope top -- CMD`: profile a program live. The profile session
//! (`profile::Session`) runs it exactly as `boundscope profile` does and
//! writes the same run directory; its ingest feeds a live analysis as frames
//! arrive. The program's output goes to `program.log` in the run directory
//! (stdout belongs to the UI or to the JSON lines) and, with the UI, to its
//! Log screen; Ctrl-C (a key in raw mode) is passed on to the program. With
//! `--headless`, the same JSON lines as a replay.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use boundscope_analysis::live::{LIVE_SCHEMA, LiveAnalyzer, LiveSpec};
use boundscope_tui::{Control, Feed, Header, LogStream, Mode, Stats, UiOptions};

use super::{TopArgs, headless, save_snapshot};
use crate::Failure;
use crate::profile::ingest::{LiveTap, LiveUpdate};
use crate::profile::{Outcome, ProfileArgs, Session, SessionOptions};

/// Name of the program's output inside the run directory (UI mode).
pub const PROGRAM_LOG: &str = "program.log";

fn profile_args(args: &TopArgs) -> ProfileArgs {
    ProfileArgs {
        out: args.run_dir.clone(),
        delay: None,
        duration: args.duration,
        skip_steps: 0,
        steps: None,
        nvml_interval_ms: 100,
        perf_interval_ms: 100,
        no_gpu: false,
        top: 10,
        launch_floor_us: args.launch_floor_us,
        command: args.command.iter().map(Into::into).collect(),
    }
}

pub fn run(args: &TopArgs, live: LiveSpec) -> Result<(), Failure> {
    let (snap_tx, snap_rx) = channel::<LiveUpdate>();
    let tap = LiveTap { analyzer: LiveAnalyzer::new(live, "live"), snapshots: snap_tx };
    let pargs = profile_args(args);
    std::fs::create_dir_all(&pargs.out)
        .map_err(|e| Failure::input(anyhow!("creating {}: {e}", pargs.out.display())))?;
    // stdout belongs to the UI or to the JSON lines: the program writes to its log.
    let log = pargs.out.join(PROGRAM_LOG);
    if args.headless {
        let opts =
            SessionOptions { child_log: Some(log), tap: Some(tap), notify: Box::new(|m| eprintln!("boundscope: {m}")) };
        return run_headless(&pargs, opts, &snap_rx, live);
    }
    let (feed_tx, feed_rx) = channel::<Feed>();
    let (ctl_tx, ctl_rx) = channel::<Control>();
    let notify_tx = std::sync::Mutex::new(feed_tx.clone());
    let opts = SessionOptions {
        child_log: Some(log.clone()),
        tap: Some(tap),
        notify: Box::new(move |m| {
            if let Ok(tx) = notify_tx.lock() {
                tx.send(Feed::Log { stream: LogStream::Boundscope, line: m.to_string() }).ok();
            }
        }),
    };
    let session = Session::start(&pargs, opts)?;
    let header = Header {
        command: session.command_line().to_string(),
        gpu: "this machine's GPU (names arrive with NVML)".into(),
        mode: Mode::Live,
        simulated: false,
        child_running: true,
    };
    feed_tx.send(Feed::Header(header.clone())).ok();
    let out_dir = args.out.clone();
    let worker = std::thread::Builder::new()
        .name("boundscope-session".into())
        .spawn(move || drive_session(session, header, &snap_rx, &feed_tx, &ctl_rx, &log, &out_dir))
        .map_err(|e| Failure::internal(anyhow!("starting the session thread: {e}")))?;
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let ui = boundscope_tui::run(feed_rx, ctl_tx, UiOptions { ascii: args.ascii, color });
    let finished = worker.join().map_err(|_| Failure::internal(anyhow!("the session thread panicked")))?;
    ui.map_err(|e| Failure::internal(anyhow!("terminal: {e}")))?;
    let done = finished?;
    // The terminal is ours again: the summary, as `boundscope profile` prints it.
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(done.text.as_bytes())
        .and_then(|()| stdout.write_all(done.footer.as_bytes()))
        .map_err(|e| Failure::input(anyhow!("writing to stdout: {e}")))?;
    Ok(())
}

/// The session thread: polls the program, forwards live snapshots, the
/// program's output and the UI's requests, then finishes the run.
fn drive_session(
    mut session: Session,
    mut header: Header,
    snaps: &Receiver<LiveUpdate>,
    feed: &Sender<Feed>,
    control: &Receiver<Control>,
    log: &Path,
    out_dir: &Path,
) -> Result<crate::profile::Finished, Failure> {
    let mut tail = LogTail::new(log.to_path_buf());
    let mut cpu = super::ui::CpuClock::new();
    let mut lag_ms = 0.0;
    let mut last_stats = Instant::now();
    let mut last_events = 0u64;
    let mut events = 0u64;
    let mut quitting = false;
    let outcome: Outcome = loop {
        if let Some(o) = session.poll() {
            break o;
        }
        loop {
            match control.try_recv() {
                Ok(Control::Interrupt) => session.interrupt(),
                Ok(Control::Quit) | Err(TryRecvError::Disconnected) => {
                    // The user chose to end the program: interrupt it once,
                    // and stop waiting if it does not end within 10 s.
                    if !quitting {
                        session.interrupt();
                        quitting = true;
                    }
                    break;
                }
                Ok(Control::Save(s)) => {
                    let line = match save_snapshot(out_dir, &s) {
                        Ok(p) => format!("snapshot saved: {}", p.display()),
                        Err(e) => format!("snapshot not saved: {e:#}"),
                    };
                    feed.send(Feed::Log { stream: LogStream::Boundscope, line }).ok();
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        while let Ok(u) = snaps.try_recv() {
            events = u.snapshot.totals.events;
            // Ingest lag: now against the newest record's time (both CLOCK_MONOTONIC).
            let newest = u.snapshot.origin_ns.saturating_add(u.snapshot.latest_ns);
            lag_ms = (crate::profile::clock::host_now_ns() - newest).max(0) as f64 / 1e6;
            feed.send(Feed::Snapshot(Box::new(u.snapshot))).ok();
        }
        for line in tail.read() {
            feed.send(Feed::Log { stream: LogStream::Stdout, line }).ok();
        }
        let dt = last_stats.elapsed().as_secs_f64();
        if dt >= 1.0 {
            let stats = Stats {
                records_per_s: (events - last_events) as f64 / dt,
                cpu_pct: cpu.percent(),
                ingest_lag_ms: lag_ms,
            };
            feed.send(Feed::Stats(stats)).ok();
            last_events = events;
            last_stats = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    header.child_running = false;
    feed.send(Feed::Header(header)).ok();
    let status =
        outcome.status.map_or_else(|| "still running when boundscope stopped waiting".into(), |s| s.to_string());
    feed.send(Feed::Log {
        stream: LogStream::Boundscope,
        line: format!("the program ended: {status}; analyzing the run"),
    })
    .ok();
    let done = session.finish(outcome);
    for line in tail.read() {
        feed.send(Feed::Log { stream: LogStream::Stdout, line }).ok();
    }
    while let Ok(u) = snaps.try_recv() {
        feed.send(Feed::Snapshot(Box::new(u.snapshot))).ok();
    }
    let message = match &done {
        Ok(d) => format!("the program ended ({status}); {}", d.footer.trim()),
        Err(e) => format!("the run could not be finished: {:#}", e.error),
    };
    feed.send(Feed::Ended { message }).ok();
    done
}

/// New complete lines of a growing file.
struct LogTail {
    path: PathBuf,
    pos: u64,
    partial: String,
}

impl LogTail {
    fn new(path: PathBuf) -> LogTail {
        LogTail { path, pos: 0, partial: String::new() }
    }

    fn read(&mut self) -> Vec<String> {
        let Ok(mut f) = std::fs::File::open(&self.path) else { return Vec::new() };
        if f.seek(SeekFrom::Start(self.pos)).is_err() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        // At most 1 MiB a call: a chatty program cannot stall the loop.
        if f.take(1 << 20).read_to_end(&mut buf).is_err() {
            return Vec::new();
        }
        self.pos += buf.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&buf));
        let mut lines: Vec<String> = self.partial.split('\n').map(str::to_string).collect();
        self.partial = lines.pop().unwrap_or_default();
        lines
    }
}

fn run_headless(
    pargs: &ProfileArgs,
    opts: SessionOptions,
    snaps: &Receiver<LiveUpdate>,
    live: LiveSpec,
) -> Result<(), Failure> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut session = Session::start(pargs, opts)?;
    let label = session.command_line().to_string();
    let start = headless::Start {
        schema: LIVE_SCHEMA,
        kind: "start",
        source: &label,
        gpu: "this machine's GPU",
        simulated: false,
        window_ns: live.window_ns,
        speed: "live".into(),
    };
    headless::line(&mut out, &start).map_err(Failure::input)?;
    let mut totals = Default::default();
    let mut steps = 0;
    let mut write = |u: LiveUpdate, out: &mut dyn Write| -> anyhow::Result<()> {
        totals = u.snapshot.totals;
        steps = u.snapshot.steps_total;
        headless::write_closed(out, &u.closed)
    };
    let outcome = loop {
        if let Some(o) = session.poll() {
            break o;
        }
        while let Ok(u) = snaps.try_recv() {
            write(u, &mut out).map_err(Failure::input)?;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let done = session.finish(outcome)?;
    while let Ok(u) = snaps.try_recv() {
        write(u, &mut out).map_err(Failure::input)?;
    }
    let summary = headless::Summary {
        schema: LIVE_SCHEMA,
        kind: "summary",
        source: &label,
        totals,
        steps,
        step_median: done.report.step_median.as_ref(),
        trace_window: &done.report.trace_window,
    };
    headless::line(&mut out, &summary).map_err(Failure::input)
}
