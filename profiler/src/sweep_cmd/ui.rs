//! `boundscope sweep --tui`: the sweep, point by point, in the terminal UI.
//!
//! The sweep runs on its own thread (it owns the engine and the files,
//! STYLE.md rule 7) and turns each engine event into feeds for the UI: the
//! header names the running point (`SWEEP b=32 [5/9]`), the whole
//! [`SweepView`] is re-sent after each change, and each finished point's
//! trace is replayed through the live analysis so that the Overview, Steps,
//! Kernels and Advice screens show that point (a simulated point paced to
//! about a second, a real one at once: it has already run). The UI owns the
//! terminal on the main thread. Quitting it (`q`) stops the sweep after the
//! current point, whose files are then complete; Ctrl-C ([`Control::Interrupt`])
//! interrupts the program of a command point while it runs (the point is
//! recorded as failed, "interrupted") and stops the sweep, the UI staying up
//! to show it. The sweep thread is inside the point while its program runs,
//! so a relay thread between the UI and the sweep sets the [`Interrupt`] the
//! point's runner watches.

use std::ops::ControlFlow;
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use boundscope_analysis::live::{LiveAnalyzer, LiveSnapshot, LiveSpec, Pacer, Speed, TraceReplay};
use boundscope_analysis::sweep::{PointRecord, SweepDocument, SweepEvent, Transition};
use boundscope_trace::Trace;
use boundscope_tui::{
    Control, Feed, Header, LogStream, Mode, PointStatus, SweepPointView, SweepView, TransitionView, UiOptions,
};

use super::command::{INTERRUPTED, Interrupt};
use super::{REAL_LAUNCH_FLOOR_US, SweepSpec, Target, progress_line, run_sweep_interruptible};
use crate::Failure;

/// About how long the replay of a simulated point lasts on screen.
const REPLAY_WALL: Duration = Duration::from_secs(1);
/// How often a replay publishes a snapshot (the UI redraws at most 10 times a second).
const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// Windows per replayed point: enough points for the time charts.
const WINDOWS_PER_POINT: i64 = 40;

/// Runs the sweep under the UI; returns the document and whether the user
/// stopped the sweep before its end.
pub fn run(spec: &SweepSpec, ascii: bool) -> Result<(SweepDocument, bool), Failure> {
    let (feed_tx, feed_rx) = channel::<Feed>();
    let (ui_tx, ui_rx) = channel::<Control>();
    let (ctl_tx, ctl_rx) = channel::<Control>();
    let interrupt = Interrupt::default();
    {
        let interrupt = interrupt.clone();
        std::thread::Builder::new()
            .name("boundscope-sweep-ctl".into())
            .spawn(move || relay(&ui_rx, &ctl_tx, &interrupt))
            .map_err(|e| Failure::internal(anyhow!("starting the sweep's control thread: {e}")))?;
    }
    let worker = {
        let spec = spec.clone();
        std::thread::Builder::new()
            .name("boundscope-sweep".into())
            .spawn(move || feed_sweep(&spec, &feed_tx, &ctl_rx, &interrupt))
            .map_err(|e| Failure::internal(anyhow!("starting the sweep thread: {e}")))?
    };
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    // Returns when the user quits; dropping the control sender tells the sweep.
    let ui = boundscope_tui::run(feed_rx, ui_tx, UiOptions { ascii, color });
    if !worker.is_finished() {
        eprintln!("boundscope: the sweep stops after the point running now (its files stay complete)");
    }
    let result = worker.join().map_err(|_| Failure::internal(anyhow!("the sweep thread panicked")))?;
    ui.map_err(|e| Failure::internal(anyhow!("terminal: {e}")))?;
    result
}

/// Passes the UI's requests on to the sweep thread, setting `interrupt` on
/// Ctrl-C first: the sweep thread may be waiting for a point's program.
/// Ends when the UI is gone (its sender dropped), which the sweep then sees.
fn relay(ui: &Receiver<Control>, sweep: &Sender<Control>, interrupt: &Interrupt) {
    for c in ui {
        if c == Control::Interrupt {
            interrupt.request();
        }
        if sweep.send(c).is_err() {
            return;
        }
    }
}

/// The sweep thread: runs the sweep, feeding the UI, until it ends, the UI
/// quits or `interrupt` is requested.
fn feed_sweep(
    spec: &SweepSpec,
    feed: &Sender<Feed>,
    control: &Receiver<Control>,
    interrupt: &Interrupt,
) -> Result<(SweepDocument, bool), Failure> {
    let mut state = UiState::new(spec);
    let mut quit = false;
    let result = run_sweep_interruptible(spec, Some(interrupt), &mut |event, doc| {
        quit |= quit_asked(control, feed, &spec.out) || interrupt.requested();
        for f in state.apply(event, doc) {
            feed.send(f).ok();
        }
        if let SweepEvent::PointFinished { series, run, .. } = event
            && !quit
        {
            let (live, speed) = state.replay_settings(*series, &run.trace);
            quit |= !replay(run.trace.clone(), live, speed, &mut |snap| {
                feed.send(Feed::Snapshot(Box::new(snap))).ok();
                !quit_asked(control, feed, &spec.out)
            });
            // The row turns done once its replay has been shown.
            feed.send(Feed::Sweep(Box::new(state.view.clone()))).ok();
        }
        if quit { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    });
    let message = match &result {
        Ok(doc) => {
            let (ran, failed) = (doc.points().count(), doc.points().filter(|p| !p.status.is_ok()).count());
            let cut = doc.points().find(|p| p.error.as_deref().is_some_and(|e| e.starts_with(INTERRUPTED)));
            let what = match cut {
                Some(p) => format!("sweep stopped by Ctrl-C: {} batch {}'s program interrupted", p.platform, p.batch),
                None if quit => "sweep stopped".to_string(),
                None => "sweep finished".to_string(),
            };
            format!("{what}: {ran} points ({failed} failed) in {}; q quits and prints the table", spec.out.display())
        }
        Err(f) => format!("sweep failed: {:#}", f.error),
    };
    feed.send(Feed::Log { stream: LogStream::Boundscope, line: message.clone() }).ok();
    feed.send(Feed::Ended { message }).ok();
    result.map(|doc| (doc, quit))
}

/// Whether the UI asked to stop (or is gone); answers its other requests.
fn quit_asked(control: &Receiver<Control>, feed: &Sender<Feed>, out: &std::path::Path) -> bool {
    loop {
        match control.try_recv() {
            Ok(Control::Quit | Control::Interrupt) | Err(TryRecvError::Disconnected) => return true,
            Ok(Control::Save(snap)) => {
                // The live overview of the point on screen, next to sweep.json.
                let line = match crate::top::save_snapshot(out, &snap) {
                    Ok(p) => format!("snapshot saved: {}", p.display()),
                    Err(e) => format!("snapshot not saved: {e:#}"),
                };
                feed.send(Feed::Log { stream: LogStream::Boundscope, line }).ok();
            }
            Err(TryRecvError::Empty) => return false,
        }
    }
}

/// What the sweep thread keeps for the UI: the view it re-sends, and each
/// series' label, kind and launch floor.
struct UiState {
    view: SweepView,
    workload: String,
    series: Vec<(String, bool, i64)>,
}

impl UiState {
    fn new(spec: &SweepSpec) -> UiState {
        let series: Vec<(String, bool, i64)> = spec
            .targets
            .iter()
            .map(|t| {
                let floor_us = match t {
                    Target::Sim(p) => p.spec.launch.latency_us,
                    Target::Run(_) => REAL_LAUNCH_FLOOR_US,
                };
                (t.id(), t.simulated(), (floor_us * 1e3).round() as i64)
            })
            .collect();
        let workload = match &spec.workload {
            Some(w) => format!("{} (seq {}, {})", w.name(), spec.seq, w.dtype.as_str()),
            None => spec
                .targets
                .iter()
                .find_map(|t| match t {
                    Target::Run(c) => Some(super::command_line(&c.template)),
                    Target::Sim(_) => None,
                })
                .unwrap_or_default(),
        };
        let points =
            series.iter().flat_map(|(label, ..)| spec.batches.iter().map(move |&b| pending(label, b))).collect();
        let view = SweepView {
            workload: workload.clone(),
            platforms: series.iter().map(|s| s.0.clone()).collect(),
            points,
            transitions: Vec::new(),
            running: None,
        };
        UiState { view, workload, series }
    }

    fn row(&mut self, label: &str, batch: u64) -> Option<&mut SweepPointView> {
        self.view.points.iter_mut().find(|p| p.platform == label && p.batch == batch)
    }

    /// The feeds one event gives.
    fn apply(&mut self, event: &SweepEvent<'_>, doc: &SweepDocument) -> Vec<Feed> {
        let label = |s: usize| doc.platforms.get(s).map_or_else(String::new, |p| p.platform.clone());
        let mut out = Vec::new();
        match event {
            SweepEvent::PointStarted { series, batch, index, total } => {
                let (name, simulated, floor_ns) = self.series.get(*series).cloned().unwrap_or_default();
                out.push(Feed::Header(Header {
                    command: self.workload.clone(),
                    gpu: name.clone(),
                    mode: Mode::Sweep { batch: *batch, index: *index, total: *total },
                    simulated,
                    child_running: false,
                }));
                // The screens other than Sweep show the running point only.
                out.push(Feed::Snapshot(Box::new(LiveAnalyzer::new(live_spec(floor_ns, 0), "sweep").publish())));
                if let Some(r) = self.row(&name, *batch) {
                    (r.status, r.note) = (PointStatus::Running, String::new());
                }
                self.view.running = Some((name, *batch));
            }
            SweepEvent::Progress { series, batch, stage } => {
                if let Some(r) = self.row(&label(*series), *batch) {
                    r.note = stage.as_str().to_string();
                }
            }
            SweepEvent::PointFinished { record, .. } | SweepEvent::PointFailed { record, .. } => {
                if let Some(line) = progress_line(event) {
                    out.push(Feed::Log { stream: LogStream::Boundscope, line: line.trim_start().to_string() });
                }
                let finished = matches!(event, SweepEvent::PointFinished { .. });
                if let Some(r) = self.row(&record.platform, record.batch) {
                    *r = point_view(record);
                    // A finished point stays running while its replay is shown.
                    if finished {
                        r.status = PointStatus::Running;
                        r.note = "replaying its trace".into();
                    }
                }
                if finished {
                    // Sent now (the figures); the thread marks it done after the replay.
                    out.push(Feed::Sweep(Box::new(self.view.clone())));
                    if let Some(r) = self.row(&record.platform, record.batch) {
                        *r = point_view(record);
                    }
                    self.view.running = None;
                    return out;
                }
                self.view.running = None;
            }
            SweepEvent::TransitionUpdated { series, transition } => {
                let t = transition_view(&label(*series), transition);
                match self.view.transitions.iter_mut().find(|v| v.platform == t.platform) {
                    Some(v) => *v = t,
                    None => self.view.transitions.push(t),
                }
            }
        }
        out.push(Feed::Sweep(Box::new(self.view.clone())));
        out
    }

    /// The live analysis and pace for the replay of a point of `series`.
    fn replay_settings(&self, series: usize, trace: &Trace) -> (LiveSpec, Speed) {
        let (_, simulated, floor_ns) = self.series.get(series).cloned().unwrap_or_default();
        let span_ns = trace.end_ns().max(1);
        let speed = if simulated {
            Speed::Times((span_ns as f64 / REPLAY_WALL.as_nanos() as f64).clamp(0.001, 10_000.0))
        } else {
            Speed::Max
        };
        (live_spec(floor_ns, span_ns), speed)
    }
}

fn pending(platform: &str, batch: u64) -> SweepPointView {
    SweepPointView {
        platform: platform.to_string(),
        batch,
        status: PointStatus::Pending,
        step_ms: None,
        throughput: None,
        busy_frac: None,
        tklqt_ms: None,
        note: String::new(),
    }
}

fn point_view(r: &PointRecord) -> SweepPointView {
    if !r.status.is_ok() {
        let note = r.error.clone().unwrap_or_else(|| r.status.as_str().to_string());
        return SweepPointView { status: PointStatus::Failed, note, ..pending(&r.platform, r.batch) };
    }
    SweepPointView {
        platform: r.platform.clone(),
        batch: r.batch,
        status: PointStatus::Done,
        step_ms: Some(r.latency_ms),
        throughput: Some(r.throughput),
        busy_frac: r.busy_frac,
        tklqt_ms: Some(r.tklqt_ns / 1e6),
        note: r.note.clone().unwrap_or_default(),
    }
}

fn transition_view(platform: &str, t: &Transition) -> TransitionView {
    TransitionView {
        platform: platform.to_string(),
        knee: t.knee.crossing.batch(),
        busy_rule: t.busy.crossing.batch(),
        knee_grid: t.knee.crossing.grid(),
        busy_grid: t.busy.crossing.grid(),
    }
}

/// The live analysis of one point: windows of about a fortieth of its trace,
/// queue times judged against the platform's launch floor.
fn live_spec(floor_ns: i64, span_ns: i64) -> LiveSpec {
    let mut live = LiveSpec { window_ns: (span_ns / WINDOWS_PER_POINT).max(100_000), ..LiveSpec::default() };
    live.window.launch_floor_ns = floor_ns;
    live.advice.graph_launch_ns = floor_ns;
    live
}

/// Replays `trace` through a live analysis at `speed`, handing each snapshot
/// to `on_snapshot` until the trace ends or it returns false; returns false
/// when it was stopped.
fn replay(trace: Trace, spec: LiveSpec, speed: Speed, on_snapshot: &mut dyn FnMut(LiveSnapshot) -> bool) -> bool {
    let mut replay = TraceReplay::new(trace, 0);
    let Some(start_ns) = replay.next_start() else { return true };
    let mut live = LiveAnalyzer::new(spec, "sweep point");
    live.set_origin(start_ns);
    let pacer = Pacer { speed, start_ns };
    let began = Instant::now();
    loop {
        replay.feed_live(pacer.target_ns(began.elapsed().as_nanos() as i64), &mut live, usize::MAX);
        let done = replay.done();
        if done {
            live.end();
        }
        let snap = live.publish();
        // Only the snapshot is shown: drop the closed windows' copies.
        live.drain_closed();
        if !on_snapshot(snap) {
            return false;
        }
        if done {
            return true;
        }
        std::thread::sleep(PUBLISH_EVERY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep_cmd::{SweepArgs, run_sweep, spec_from_args};

    /// Sweep arguments for a `--tui` run into `out` (no traces, no jitter).
    fn tui_args(out: &std::path::Path, workload: Option<&str>) -> SweepArgs {
        SweepArgs {
            workload: workload.map(str::to_string),
            batch: "1".into(),
            seq: None,
            steps: Some(2),
            warmup: Some(1),
            platforms: Vec::new(),
            platform_files: Vec::new(),
            dtype: "bf16".into(),
            stack: None,
            seed: 1,
            jitter: 0.0,
            knee_factor: 2.0,
            slo_ms: None,
            out: out.to_path_buf(),
            what_if: Vec::new(),
            no_traces: true,
            command: Vec::new(),
            tui: true,
            ascii: false,
            preset: None,
        }
    }

    /// Whether `pid` is a live process (not gone, not a zombie).
    fn alive(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| Some(s.get(s.rfind(')')? + 1..)?.split_whitespace().next()?.to_string()))
            .is_some_and(|state| state != "Z" && state != "X")
    }

    #[test]
    fn ctrl_c_interrupts_the_running_points_program_and_stops_the_sweep() {
        let out = std::env::temp_dir().join(format!("bs-sweep-ui-int-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        assert!(std::fs::create_dir_all(&out).is_ok());
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/traces/a100_ddp_train.json.gz");
        let pid_file = out.join("sleep.pid");
        // Batch 1 writes its trace at once; batch 2 is a program that would
        // run 30 s, with a background job (which ignores SIGINT, as a
        // non-interactive shell's jobs do) in its process group.
        let script = "if [ $1 -eq 1 ]; then gzip -dc \"$0\" > \"$2\"; exit; fi; \
                      echo $$ > \"$3.sh\"; sleep 30 & echo $! > \"$3.tmp\"; mv \"$3.tmp\" \"$3\"; wait";
        let command = ["sh", "-c", script, &src.to_string_lossy(), "{batch}", "{trace}", &pid_file.to_string_lossy()]
            .map(std::ffi::OsString::from)
            .to_vec();
        let args = SweepArgs { batch: "1..4".into(), steps: None, warmup: None, command, ..tui_args(&out, None) };
        let spec = match spec_from_args(&args) {
            Ok(s) => s,
            Err(e) => panic!("{e:#}"),
        };
        let (feed_tx, feed_rx) = channel::<Feed>();
        let (ui_tx, ui_rx) = channel::<Control>();
        let (ctl_tx, ctl_rx) = channel::<Control>();
        let interrupt = Interrupt::default();
        let relayed = {
            let interrupt = interrupt.clone();
            std::thread::spawn(move || relay(&ui_rx, &ctl_tx, &interrupt))
        };
        // Ctrl-C in the UI once batch 2's program runs.
        let user = {
            let pid_file = pid_file.clone();
            std::thread::spawn(move || {
                let read = |p: &std::path::Path| std::fs::read_to_string(p).ok()?.trim().parse::<i32>().ok();
                let deadline = Instant::now() + Duration::from_secs(20);
                let pids = loop {
                    if let (Some(sh), Some(sleep)) = (read(&pid_file.with_extension("pid.sh")), read(&pid_file)) {
                        break Some((sh, sleep));
                    }
                    if Instant::now() > deadline {
                        break None;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                };
                ui_tx.send(Control::Interrupt).ok();
                let sent = Instant::now();
                // The UI stays up until the user quits.
                std::thread::sleep(Duration::from_millis(200));
                drop(ui_tx);
                (pids, sent)
            })
        };
        let result = feed_sweep(&spec, &feed_tx, &ctl_rx, &interrupt);
        let returned = Instant::now();
        let (pids, sent) = user.join().unwrap_or_else(|_| panic!("the user thread panicked"));
        assert!(relayed.join().is_ok());
        let Some((sh, sleep)) = pids else { panic!("batch 2's program did not start: {:?}", result.err()) };
        let took = returned.saturating_duration_since(sent);
        let left: Vec<i32> = [sh, sleep].into_iter().filter(|&p| alive(p)).collect();
        for &p in &left {
            if let Some(p) = rustix::process::Pid::from_raw(p) {
                rustix::process::kill_process(p, rustix::process::Signal::KILL).ok();
            }
        }
        assert!(left.is_empty(), "still running after the sweep returned: {left:?}");
        assert!(took < Duration::from_secs(3), "the sweep took {took:?} to stop after Ctrl-C");

        let (doc, stopped) = match result {
            Ok(r) => r,
            Err(f) => panic!("{:#}", f.error),
        };
        assert!(stopped, "the sweep says it was stopped");
        let pts = &doc.platforms[0].points;
        assert_eq!(pts.iter().map(|p| (p.batch, p.status.as_str())).collect::<Vec<_>>(), [(1, "ok"), (2, "failed")]);
        let e = pts[1].error.as_deref().unwrap_or_default();
        assert!(e.starts_with("interrupted (Ctrl-C) after") && e.contains("the sweep stopped here"), "{e}");
        // sweep.json has the interrupted point.
        let json = std::fs::read_to_string(out.join("sweep.json")).unwrap_or_default();
        assert!(json.contains("interrupted (Ctrl-C)"), "{json}");

        // The Sweep screen's row and the Log say so.
        let feeds: Vec<Feed> = feed_rx.try_iter().collect();
        let last_view = feeds.iter().rev().find_map(|f| match f {
            Feed::Sweep(v) => Some(v.clone()),
            _ => None,
        });
        let row = last_view.as_ref().and_then(|v| v.points.iter().find(|p| p.batch == 2).cloned());
        assert!(
            row.as_ref().is_some_and(|r| r.status == PointStatus::Failed && r.note.starts_with("interrupted")),
            "{row:?}"
        );
        let logs: Vec<&str> = feeds
            .iter()
            .filter_map(|f| match f {
                Feed::Log { line, .. } => Some(line.as_str()),
                _ => None,
            })
            .collect();
        assert!(logs.iter().any(|l| l.contains("batch     2: failed: interrupted")), "{logs:?}");
        assert!(
            logs.last().is_some_and(|l| l.starts_with("sweep stopped by Ctrl-C: cmd batch 2's program interrupted")),
            "{logs:?}"
        );
        let _ = std::fs::remove_dir_all(&out);
    }

    #[test]
    fn the_view_follows_the_events() {
        let out = std::env::temp_dir().join(format!("bs-sweep-ui-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let args = SweepArgs {
            batch: "1,4".into(),
            platforms: vec!["sim:h100-pcie".into()],
            ..tui_args(&out, Some("llama-3.2-1b:decode"))
        };
        let spec = match spec_from_args(&args) {
            Ok(s) => s,
            Err(e) => panic!("{e:#}"),
        };
        assert!(boundscope_reports::ensure_writable_dir(&out).is_ok());
        let mut state = UiState::new(&spec);
        assert_eq!(state.view.points.iter().map(|p| p.status).collect::<Vec<_>>(), [PointStatus::Pending; 2]);
        let mut kinds = Vec::new();
        let got = run_sweep(&spec, &mut |event, doc| {
            for f in state.apply(event, doc) {
                kinds.push(match f {
                    Feed::Header(h) => format!("header {:?}", h.mode),
                    Feed::Snapshot(_) => "snapshot".into(),
                    Feed::Sweep(v) => format!(
                        "sweep {}",
                        v.points.iter().map(|p| format!("{:?}", p.status)).collect::<Vec<_>>().join(",")
                    ),
                    Feed::Log { line, .. } => format!("log {}", line.split(':').next().unwrap_or_default()),
                    other => format!("{other:?}"),
                });
            }
            ControlFlow::Continue(())
        });
        assert!(got.is_ok());
        let first_point = [
            "header Sweep { batch: 1, index: 1, total: 2 }",
            "snapshot",
            "sweep Running,Pending",
            "sweep Running,Pending",
            "sweep Running,Pending",
            "log [sim",
            "sweep Running,Pending",
            "sweep Done,Pending",
        ];
        assert_eq!(kinds[..first_point.len()], first_point);
        assert_eq!(kinds.last().map(String::as_str), Some("sweep Done,Done"));
        assert_eq!(state.view.transitions.len(), 1);
        assert!(state.view.running.is_none());
        let _ = std::fs::remove_dir_all(&out);
    }

    #[test]
    fn a_replay_publishes_until_the_trace_ends_or_it_is_stopped() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/traces/a100_ddp_train.json.gz");
        let trace = match boundscope_trace::read_trace(&src) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        };
        let span = trace.end_ns();
        let mut n = 0;
        assert!(replay(trace.clone(), live_spec(2_500, span), Speed::Max, &mut |s| {
            n += 1;
            s.totals.kernels > 0
        }));
        assert_eq!(n, 1, "at full speed one snapshot, the final one");
        let mut n = 0;
        let paced = Speed::Times(span as f64 / 0.5e9);
        assert!(!replay(trace, live_spec(2_500, span), paced, &mut |_| {
            n += 1;
            n < 2
        }));
        assert_eq!(n, 2);
    }
}
