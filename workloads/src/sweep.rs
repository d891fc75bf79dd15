//! A batch-size sweep on a simulated platform: [`SimPoints`] runs one point
//! of the sweep engine (`boundscope_analysis::sweep::run_sweep`) by lowering
//! the workload at the point's shape, simulating it on the platform, and
//! analyzing the simulated trace as a recorded one is analyzed. A point the
//! platform cannot hold (the memory model) or cannot simulate is a failed
//! point, and the sweep goes on.

use std::borrow::Cow;

use boundscope_analysis::sweep::{
    FailedPoint, PointOutcome, PointRunner, PointStatus, RanPoint, SeriesInfo, Stage, point_analysis_spec,
};
use boundscope_analysis::{analyze, headline, step_median};

use crate::sim::Simulation;
use crate::{Platform, PointError, Shape, SimSpec, WorkloadSpec, lower, run_point};

/// The points of one workload on one simulated platform.
#[derive(Debug, Clone)]
pub struct SimPoints {
    info: SeriesInfo,
    pub workload: WorkloadSpec,
    /// Prompt or KV-cache length of every point.
    pub seq: u64,
    pub platform: Platform,
    /// Warm-up and measured steps, seed, jitter, dtype (its `trace_name` is set per point).
    pub sim: SimSpec,
    /// Simulate and analyze a point a few steps at a time, keeping only the
    /// per-step figures (memory bounded by a few steps, not by `--steps`);
    /// the point's trace is then only its last steps, so a caller that
    /// exports or replays the trace leaves this off.
    pub stream: bool,
}

/// Steps simulated and analyzed at once when a point streams.
const STREAM_STEPS: u32 = 16;

/// The analysis of a simulated trace failed: a defect, not a property of the point.
#[derive(Debug, thiserror::Error)]
#[error("analyzing the simulated trace of {point}: {message}")]
pub struct SimPointError {
    pub point: String,
    pub message: String,
}

impl SimPoints {
    /// The series is labelled with the platform's id (`sim:h100-pcie`).
    pub fn new(workload: WorkloadSpec, seq: u64, platform: Platform, sim: SimSpec) -> SimPoints {
        let info = SeriesInfo {
            label: platform.id(),
            description: platform.spec.description.clone(),
            origin: platform.origin.clone(),
            simulated: true,
        };
        SimPoints { info, workload, seq, platform, sim, stream: false }
    }

    /// The platform's null-kernel launch latency: queue times are judged against it.
    pub fn launch_floor_ns(&self) -> i64 {
        (self.platform.spec.launch.latency_us * 1e3).round() as i64
    }
}

impl PointRunner for SimPoints {
    type Error = SimPointError;

    fn series(&self) -> &SeriesInfo {
        &self.info
    }

    fn run(&mut self, batch: u64, progress: &mut dyn FnMut(Stage)) -> Result<PointOutcome, SimPointError> {
        let (w, id) = (&self.workload, self.platform.id());
        let shape = Shape { batch, seq: self.seq };
        let sim = SimSpec {
            trace_name: Some(format!("{} batch {batch} seq {} on {id}, {}", w.name(), self.seq, w.stack)),
            ..self.sim.clone()
        };
        progress(Stage::Simulating);
        if self.stream {
            return self.run_streamed(batch, &sim, progress);
        }
        let run = match run_point(w, shape, &self.platform, &sim) {
            Ok(r) => r,
            Err(e) => return Ok(failed_point(&e)),
        };
        progress(Stage::Analyzing);
        let analysis = match analyze_point(&run.trace, &format!("{id} b{batch}"), self.launch_floor_ns())? {
            Ok(a) => a,
            Err(failed) => return Ok(failed),
        };
        Ok(PointOutcome::Ran(Box::new(RanPoint {
            trace: run.trace,
            analysis,
            step_ns: run.step_ns,
            work_per_step: w.work_per_step(shape),
            warmup_steps: Some(self.sim.warmup_steps),
            trace_file: None,
            note: None,
        })))
    }
}

impl SimPoints {
    /// [`PointRunner::run`] a few steps at a time: warm-up steps leave no
    /// events, each batch of steps is analyzed and dropped, and the point's
    /// medians and verdict are taken over every measured step's figures.
    fn run_streamed(
        &self,
        batch: u64,
        sim: &SimSpec,
        progress: &mut dyn FnMut(Stage),
    ) -> Result<PointOutcome, SimPointError> {
        let (w, id) = (&self.workload, self.platform.id());
        let shape = Shape { batch, seq: self.seq };
        let failed = |status: PointStatus, error: String| {
            Ok(PointOutcome::Failed(FailedPoint { status, error, trace_file: None }))
        };
        let need = w.memory_estimate(shape);
        if need.total() > self.platform.usable_memory_bytes() {
            let e = PointError::OutOfMemory {
                need_gib: need.total() as f64 / GIB,
                have_gib: self.platform.usable_memory_bytes() as f64 / GIB,
                platform: id,
            };
            return Ok(failed_point(&e));
        }
        let program = match lower(w, shape, self.platform.target(sim.dtype)) {
            Ok(p) => p,
            Err(e) => return Ok(failed_point(&e.into())),
        };
        let source = format!("{id} b{batch}");
        let err = |e: &dyn std::fmt::Display| SimPointError { point: source.clone(), message: e.to_string() };
        let mut run = match Simulation::new(Cow::Owned(program), &self.platform, sim) {
            Ok(r) => r,
            Err(e) => return Ok(failed_point(&e.into())),
        };
        run.skip_warmup().map_err(|e| err(&e))?;
        let spec = point_analysis_spec(self.launch_floor_ns());
        let (mut steps, mut step_ns) = (Vec::new(), Vec::new());
        let mut last = None;
        progress(Stage::Analyzing);
        while let Some(part) = run.next_steps(STREAM_STEPS).map_err(|e| err(&e))? {
            let analysis = analyze(&part.trace, &source, &spec).map_err(|e| err(&e))?;
            steps.extend(analysis.report.steps.iter().cloned());
            step_ns.extend(part.step_ns);
            last = Some((part.trace, analysis));
        }
        let median = step_median(&steps);
        let (Some((trace, mut analysis)), Some(m)) = (last, median) else {
            return failed(PointStatus::Failed, "the simulated trace has no measured steps".into());
        };
        analysis.report.headline = headline(Some(&m), &analysis.report.trace_window);
        analysis.report.step_median = Some(m);
        analysis.report.steps = steps;
        Ok(PointOutcome::Ran(Box::new(RanPoint {
            trace,
            analysis,
            step_ns,
            work_per_step: w.work_per_step(shape),
            warmup_steps: Some(sim.warmup_steps),
            trace_file: None,
            note: None,
        })))
    }
}

/// The outcome of a point that could not be simulated: out of memory (the
/// model's estimate) or failed.
pub(crate) fn failed_point(e: &PointError) -> PointOutcome {
    let status = match e {
        PointError::OutOfMemory { .. } => PointStatus::OutOfMemory,
        _ => PointStatus::Failed,
    };
    PointOutcome::Failed(FailedPoint { status, error: e.to_string(), trace_file: None })
}

/// Analyzes a simulated point's trace as a recorded one is analyzed; a trace
/// without measured steps is a failed point (the inner `Err`).
pub(crate) fn analyze_point(
    trace: &boundscope_trace::Trace,
    source: &str,
    launch_floor_ns: i64,
) -> Result<Result<boundscope_analysis::Analysis, PointOutcome>, SimPointError> {
    let analysis = analyze(trace, source, &point_analysis_spec(launch_floor_ns))
        .map_err(|e| SimPointError { point: source.to_string(), message: e.to_string() })?;
    if analysis.report.step_median.is_none() {
        let error = "the simulated trace has no measured steps".to_string();
        return Ok(Err(PointOutcome::Failed(FailedPoint { status: PointStatus::Failed, error, trace_file: None })));
    }
    Ok(Ok(analysis))
}

/// Bytes in a GiB, for the out-of-memory message.
const GIB: f64 = (1u64 << 30) as f64;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dtype;

    #[test]
    fn a_streamed_point_has_the_figures_of_a_whole_one() {
        let Ok(w) = WorkloadSpec::parse("gpt2:decode", Dtype::Bf16) else { panic!("workload") };
        let Ok(p) = Platform::builtin("sim:h100-pcie") else { panic!("platform") };
        let sim = SimSpec { warmup_steps: 3, steps: 40, seed: 5, jitter: 0.03, dtype: Dtype::Bf16, trace_name: None };
        let mut whole = SimPoints::new(w, 256, p, sim);
        let mut streamed = whole.clone();
        streamed.stream = true;
        let (Ok(PointOutcome::Ran(a)), Ok(PointOutcome::Ran(b))) =
            (whole.run(4, &mut |_| {}), streamed.run(4, &mut |_| {}))
        else {
            panic!("both points run");
        };
        assert_eq!(a.step_ns, b.step_ns);
        assert_eq!(a.analysis.report.step_median, b.analysis.report.step_median);
        assert_eq!(a.analysis.report.headline, b.analysis.report.headline);
        // The streamed point keeps only its last steps' events.
        assert!(b.trace.activities.len() * 2 < a.trace.activities.len());
        match streamed.run(1 << 20, &mut |_| {}) {
            Ok(PointOutcome::Failed(f)) => assert_eq!(f.status, PointStatus::OutOfMemory),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_point_runs_and_one_too_large_is_out_of_memory() {
        let Ok(w) = WorkloadSpec::parse("llama-3.2-1b:decode", Dtype::Bf16) else { panic!("workload") };
        let Ok(p) = Platform::builtin("sim:h100-pcie") else { panic!("platform") };
        let sim = SimSpec { warmup_steps: 1, steps: 2, seed: 1, jitter: 0.0, dtype: Dtype::Bf16, trace_name: None };
        let mut r = SimPoints::new(w, 1024, p, sim);
        assert_eq!(r.series().label, "sim:h100-pcie");
        let mut stages = Vec::new();
        match r.run(1, &mut |s| stages.push(s)) {
            Ok(PointOutcome::Ran(ran)) => {
                assert_eq!(ran.warmup_steps, Some(1));
                assert_eq!(ran.step_ns.len(), 2);
                assert_eq!(ran.analysis.report.step_median.map(|m| m.steps), Some(2));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(stages, [Stage::Simulating, Stage::Analyzing]);
        match r.run(1 << 20, &mut |_| {}) {
            Ok(PointOutcome::Failed(f)) => {
                assert_eq!(f.status, PointStatus::OutOfMemory);
                assert!(f.error.starts_with("out of memory (model)"), "{}", f.error);
            }
            other => panic!("{other:?}"),
        }
    }
}
