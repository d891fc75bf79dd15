//! The sweep engine: runs every batch size of every series through that
//! series' [`PointRunner`], turns each outcome into a [`PointRecord`],
//! updates the series' transition, and tells one sink about each step as a
//! [`SweepEvent`]. The engine owns the [`SweepDocument`]; it writes no file
//! and prints nothing (the binary's sinks do: the terminal lines, `sweep.csv`
//! and `sweep.json`, the terminal UI).
//!
//! A series is a platform, or a labelled variant of one (a rewritten program
//! on the same platform, say `sim:h100-pcie+fuse:rmsnorm`): the engine only
//! sees a label and a runner. A point that fails is recorded with its reason
//! and the sweep goes on; an `Err` from a runner or the sink is a failure of
//! the tool itself and ends the sweep.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use boundscope_trace::Trace;

use super::record::{PlatformSweep, PointRecord, PointStatus, SweepDocument};
use super::{SweepPoint, Transition, TransitionSpec, transition_with_oom};
use crate::{AdviceSpec, Analysis, AnalysisSpec, WindowSpec};

/// How a sweep point is analyzed on a platform whose null-kernel launch
/// latency is `launch_floor_ns`: queue times are judged against that floor,
/// memory copies are left out of the window figures.
pub fn point_analysis_spec(launch_floor_ns: i64) -> AnalysisSpec {
    AnalysisSpec {
        window: WindowSpec { include_mem: false, launch_floor_ns },
        advice: AdviceSpec { graph_launch_ns: launch_floor_ns, ..AdviceSpec::default() },
        ..AnalysisSpec::default()
    }
}

/// What a series is, as `sweep.json` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesInfo {
    /// The label in tables and files: `sim:gh200`, `gpu`, `cmd`, ...
    pub label: String,
    pub description: String,
    /// Where its parameters came from (built in, a file, this machine).
    pub origin: String,
    /// Its figures are the output of a model, not a measurement.
    pub simulated: bool,
}

/// What a point is doing, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Simulating the workload on a platform model.
    Simulating,
    /// Running the program (and recording it).
    Running,
    /// Analyzing the point's trace.
    Analyzing,
    /// Writing the point's trace.
    Exporting,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Simulating => "simulating",
            Stage::Running => "running the program",
            Stage::Analyzing => "analyzing",
            Stage::Exporting => "writing its trace",
        }
    }
}

/// A point that ran and was analyzed.
#[derive(Debug, Clone)]
pub struct RanPoint {
    /// The point's trace (for an export or a replay).
    pub trace: Trace,
    pub analysis: Analysis,
    /// Wall time of each measured step; the point's latency is their median.
    pub step_ns: Vec<i64>,
    /// Work units (tokens or samples) per step, for the throughput.
    pub work_per_step: u64,
    /// Warm-up steps run and left out (`None`: not known).
    pub warmup_steps: Option<u32>,
    /// Where the trace was written, relative to the sweep's output directory.
    pub trace_file: Option<String>,
    /// How the figures were taken when that is not the usual way.
    pub note: Option<String>,
}

/// A point that did not run, or ran without usable figures.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedPoint {
    /// [`PointStatus::Failed`] or [`PointStatus::OutOfMemory`].
    pub status: PointStatus,
    /// Why, ready for a table.
    pub error: String,
    /// What the point left behind (a run directory), if anything.
    pub trace_file: Option<String>,
}

/// How one point ended.
#[derive(Debug, Clone)]
pub enum PointOutcome {
    Ran(Box<RanPoint>),
    Failed(FailedPoint),
}

/// Runs the points of one series.
pub trait PointRunner {
    /// A failure of the tool itself (not of the point): it ends the sweep.
    type Error;

    /// The series this runner fills.
    fn series(&self) -> &SeriesInfo;

    /// Runs the point at `batch`, reporting the stages it goes through.
    fn run(&mut self, batch: u64, progress: &mut dyn FnMut(Stage)) -> Result<PointOutcome, Self::Error>;
}

/// One step of a sweep. For each point, in order: `PointStarted`, any
/// `Progress`, `PointFinished` or `PointFailed` (the document given with it
/// already holds the record), `TransitionUpdated`.
#[derive(Debug)]
pub enum SweepEvent<'a> {
    PointStarted {
        /// Index of the series in the document's `platforms`.
        series: usize,
        batch: u64,
        /// 1-based position of the point in the whole sweep.
        index: usize,
        total: usize,
    },
    Progress {
        series: usize,
        batch: u64,
        stage: Stage,
    },
    PointFinished {
        series: usize,
        record: &'a PointRecord,
        run: &'a RanPoint,
        elapsed: Duration,
    },
    PointFailed {
        series: usize,
        record: &'a PointRecord,
        elapsed: Duration,
    },
    /// Both rules over the series' points so far (after every point, failed ones too).
    TransitionUpdated {
        series: usize,
        transition: &'a Transition,
    },
}

/// Where the engine reports: every event with the document as it stands;
/// `Break` asks to stop after the current point, `Err` ends the sweep.
pub type SweepSink<'s, E> = dyn FnMut(&SweepEvent<'_>, &SweepDocument) -> Result<ControlFlow<()>, E> + 's;

/// Runs every batch of `doc.batches` on every runner, series by series, in
/// order; `doc` holds the sweep's settings (its `platforms` are replaced by
/// one per runner). The sink gets every event with the document as it stands;
/// a `Break` from it stops the sweep once the current point is recorded.
/// Returns the document with every point that ran.
pub fn run_sweep<E>(
    mut doc: SweepDocument,
    rules: &TransitionSpec,
    runners: &mut [&mut dyn PointRunner<Error = E>],
    sink: &mut SweepSink<'_, E>,
) -> Result<SweepDocument, E> {
    doc.platforms = runners
        .iter()
        .map(|r| {
            let s = r.series();
            PlatformSweep {
                platform: s.label.clone(),
                description: s.description.clone(),
                origin: s.origin.clone(),
                simulated: s.simulated,
                points: Vec::new(),
                transition: None,
            }
        })
        .collect();
    let batches = doc.batches.clone();
    let total = runners.len() * batches.len();
    let mut index = 0;
    let mut stop = false;
    for (series, runner) in runners.iter_mut().enumerate() {
        for &batch in &batches {
            if stop {
                return Ok(doc);
            }
            index += 1;
            let mut send = |e: &SweepEvent<'_>, doc: &SweepDocument| -> Result<(), E> {
                stop |= sink(e, doc)?.is_break();
                Ok(())
            };
            send(&SweepEvent::PointStarted { series, batch, index, total }, &doc)?;
            let started = Instant::now();
            let mut sink_error = None;
            let outcome = runner.run(batch, &mut |stage| {
                if sink_error.is_none()
                    && let Err(e) = send(&SweepEvent::Progress { series, batch, stage }, &doc)
                {
                    sink_error = Some(e);
                }
            })?;
            if let Some(e) = sink_error {
                return Err(e);
            }
            let elapsed = started.elapsed();
            let info = runner.series();
            let mut record =
                PointRecord::blank(info.label.clone(), batch, doc.seq, &doc.throughput_unit, info.simulated);
            let ran = match outcome {
                PointOutcome::Ran(ran) => {
                    record.trace.clone_from(&ran.trace_file);
                    record.note.clone_from(&ran.note);
                    record.warmup_steps = ran.warmup_steps;
                    match record.fill(&ran.analysis, &ran.step_ns, ran.work_per_step) {
                        Ok(()) => Some(ran),
                        Err(e) => {
                            (record.status, record.error) = (PointStatus::Failed, Some(e));
                            None
                        }
                    }
                }
                PointOutcome::Failed(f) => {
                    (record.status, record.error, record.trace) = (f.status, Some(f.error), f.trace_file);
                    None
                }
            };
            let ps = &mut doc.platforms[series];
            ps.points.push(record);
            let pts: Vec<SweepPoint> = ps.points.iter().filter_map(PointRecord::sweep_point).collect();
            // Points that did not fit in memory bound the batch advice from above.
            let oom: Vec<u64> =
                ps.points.iter().filter(|p| p.status == PointStatus::OutOfMemory).map(|p| p.batch).collect();
            let updated = transition_with_oom(&pts, &oom, rules);
            let record = &doc.platforms[series].points[doc.platforms[series].points.len() - 1];
            match &ran {
                Some(run) => send(&SweepEvent::PointFinished { series, record, run, elapsed }, &doc)?,
                None => send(&SweepEvent::PointFailed { series, record, elapsed }, &doc)?,
            }
            doc.platforms[series].transition = Some(updated);
            if let Some(transition) = &doc.platforms[series].transition {
                send(&SweepEvent::TransitionUpdated { series, transition }, &doc)?;
            }
        }
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::record::SWEEP_SCHEMA;
    use crate::{AnalysisSpec, analyze};
    use boundscope_trace::TraceBuilder;

    /// A runner that fails where told and otherwise returns an empty trace's analysis.
    struct Fake {
        info: SeriesInfo,
        fail_at: Vec<u64>,
        oom_from: u64,
        ran: Vec<u64>,
    }

    impl Fake {
        fn new(label: &str, fail_at: &[u64], oom_from: u64) -> Fake {
            let info = SeriesInfo {
                label: label.into(),
                description: format!("{label} (fake)"),
                origin: "test".into(),
                simulated: true,
            };
            Fake { info, fail_at: fail_at.to_vec(), oom_from, ran: Vec::new() }
        }
    }

    impl PointRunner for Fake {
        type Error = String;

        fn series(&self) -> &SeriesInfo {
            &self.info
        }

        fn run(&mut self, batch: u64, progress: &mut dyn FnMut(Stage)) -> Result<PointOutcome, String> {
            self.ran.push(batch);
            progress(Stage::Simulating);
            if batch >= self.oom_from {
                let error = format!("out of memory at batch {batch}");
                return Ok(PointOutcome::Failed(FailedPoint {
                    status: PointStatus::OutOfMemory,
                    error,
                    trace_file: None,
                }));
            }
            if self.fail_at.contains(&batch) {
                let error = "the program failed".to_string();
                return Ok(PointOutcome::Failed(FailedPoint { status: PointStatus::Failed, error, trace_file: None }));
            }
            progress(Stage::Analyzing);
            let trace = TraceBuilder::new("test").finish();
            let analysis = analyze(&trace, "fake", &AnalysisSpec::default()).map_err(|e| e.to_string())?;
            Ok(PointOutcome::Ran(Box::new(RanPoint {
                trace,
                analysis,
                step_ns: vec![3_000_000, 1_000_000, 2_000_000],
                work_per_step: batch,
                warmup_steps: Some(2),
                trace_file: Some(format!("traces/{}-b{batch}.json.gz", self.info.label)),
                note: None,
            })))
        }
    }

    fn doc(batches: &[u64]) -> SweepDocument {
        SweepDocument {
            schema: SWEEP_SCHEMA,
            note: String::new(),
            workload: "fake".into(),
            model_config: String::new(),
            stack: None,
            dtype: String::new(),
            seq: 7,
            batches: batches.to_vec(),
            steps: Some(3),
            warmup: Some(2),
            seed: 1,
            jitter: 0.0,
            knee_factor: 2.0,
            slo_ms: None,
            throughput_unit: "samples/s".into(),
            platforms: Vec::new(),
        }
    }

    /// One line per event: "started a 2 [1/4]", "finished a 2", ...
    fn describe(e: &SweepEvent<'_>, doc: &SweepDocument) -> String {
        let label = |s: usize| doc.platforms[s].platform.clone();
        match e {
            SweepEvent::PointStarted { series, batch, index, total } => {
                format!("started {} {batch} [{index}/{total}]", label(*series))
            }
            SweepEvent::Progress { series, batch, stage } => format!("{} {} {batch}", stage.as_str(), label(*series)),
            SweepEvent::PointFinished { series, record, .. } => format!("finished {} {}", label(*series), record.batch),
            SweepEvent::PointFailed { series, record, .. } => {
                format!("failed {} {} {}", label(*series), record.batch, record.status.as_str())
            }
            SweepEvent::TransitionUpdated { series, .. } => format!("transition {}", label(*series)),
        }
    }

    #[test]
    fn events_come_in_order_and_a_failed_point_does_not_stop_the_sweep() {
        let (mut a, mut b) = (Fake::new("a", &[2], u64::MAX), Fake::new("b", &[], 4));
        let mut log = Vec::new();
        let mut points_seen = Vec::new();
        let got =
            run_sweep::<String>(doc(&[1, 2, 4]), &TransitionSpec::default(), &mut [&mut a, &mut b], &mut |e, d| {
                log.push(describe(e, d));
                // Finished and failed points are in the document the sink gets with them.
                if let SweepEvent::PointFinished { series, .. } | SweepEvent::PointFailed { series, .. } = e {
                    points_seen.push(d.platforms[*series].points.len());
                }
                Ok(ControlFlow::Continue(()))
            });
        let doc = match got {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        let want = [
            "started a 1 [1/6]",
            "simulating a 1",
            "analyzing a 1",
            "finished a 1",
            "transition a",
            "started a 2 [2/6]",
            "simulating a 2",
            "failed a 2 failed",
            "transition a",
            "started a 4 [3/6]",
            "simulating a 4",
            "analyzing a 4",
            "finished a 4",
            "transition a",
            "started b 1 [4/6]",
            "simulating b 1",
            "analyzing b 1",
            "finished b 1",
            "transition b",
            "started b 2 [5/6]",
            "simulating b 2",
            "analyzing b 2",
            "finished b 2",
            "transition b",
            "started b 4 [6/6]",
            "simulating b 4",
            "failed b 4 out_of_memory",
            "transition b",
        ];
        assert_eq!(log, want);
        assert_eq!(points_seen, [1, 2, 3, 1, 2, 3]);
        let statuses: Vec<PointStatus> = doc.points().map(|p| p.status).collect();
        let (ok, failed, oom) = (PointStatus::Ok, PointStatus::Failed, PointStatus::OutOfMemory);
        assert_eq!(statuses, [ok, failed, ok, ok, ok, oom]);
        assert_eq!(doc.platforms.iter().map(|p| p.description.as_str()).collect::<Vec<_>>(), ["a (fake)", "b (fake)"]);
        assert!(doc.platforms.iter().all(|p| p.transition.is_some()));
    }

    #[test]
    fn records_hold_what_ran() {
        let mut a = Fake::new("a", &[], 4);
        let got = run_sweep::<String>(doc(&[2, 4]), &TransitionSpec::default(), &mut [&mut a], &mut |_, _| {
            Ok(ControlFlow::Continue(()))
        });
        let Ok(doc) = got else { panic!("sweep failed") };
        let ok = &doc.platforms[0].points[0];
        assert_eq!((ok.platform.as_str(), ok.batch, ok.seq, ok.status), ("a", 2, 7, PointStatus::Ok));
        // The warm-up the runner reports, the median of the step times, work per step over it.
        assert_eq!(ok.warmup_steps, Some(2));
        assert_eq!(ok.latency_ms, 2.0);
        assert_eq!(ok.throughput, 1000.0);
        assert_eq!(ok.trace.as_deref(), Some("traces/a-b2.json.gz"));
        assert!(ok.simulated && ok.error.is_none() && ok.throughput_unit == "samples/s");
        let oom = &doc.platforms[0].points[1];
        assert_eq!((oom.status, oom.warmup_steps, oom.steps), (PointStatus::OutOfMemory, None, 0));
        assert_eq!(oom.error.as_deref(), Some("out of memory at batch 4"));
        assert_eq!(doc.steps, Some(3));
        assert_eq!(doc.warmup, Some(2));
    }

    #[test]
    fn a_break_stops_after_the_current_point() {
        let mut a = Fake::new("a", &[], u64::MAX);
        let mut log = Vec::new();
        let got = run_sweep::<String>(doc(&[1, 2, 4, 8]), &TransitionSpec::default(), &mut [&mut a], &mut |e, d| {
            log.push(describe(e, d));
            // Asked to stop while batch 2 runs.
            Ok(if matches!(e, SweepEvent::Progress { batch: 2, .. }) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            })
        });
        let Ok(doc) = got else { panic!("sweep failed") };
        assert_eq!(a.ran, [1, 2]);
        assert_eq!(doc.platforms[0].points.len(), 2);
        assert_eq!(log.last().map(String::as_str), Some("transition a"));
    }

    #[test]
    fn errors_of_the_sink_end_the_sweep() {
        let mut a = Fake::new("a", &[], u64::MAX);
        let got = run_sweep::<String>(doc(&[1, 2]), &TransitionSpec::default(), &mut [&mut a], &mut |e, _| match e {
            SweepEvent::TransitionUpdated { .. } => Err("disk full".into()),
            _ => Ok(ControlFlow::Continue(())),
        });
        assert_eq!(got.err().as_deref(), Some("disk full"));
        assert_eq!(a.ran, [1]);
    }
}
