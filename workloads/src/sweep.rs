//! A batch-size sweep on a simulated platform: [`SimPoints`] runs one point
//! of the sweep engine (`boundscope_analysis::sweep::run_sweep`) by lowering
//! the workload at the point's shape, simulating it on the platform, and
//! analyzing the simulated trace as a recorded one is analyzed. A point the
//! platform cannot hold (the memory model) or cannot simulate is a failed
//! point, and the sweep goes on.

use boundscope_analysis::analyze;
use boundscope_analysis::sweep::{
    FailedPoint, PointOutcome, PointRunner, PointStatus, RanPoint, SeriesInfo, Stage, point_analysis_spec,
};

use crate::{Platform, PointError, Shape, SimSpec, WorkloadSpec, run_point};

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
}

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
        SimPoints { info, workload, seq, platform, sim }
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
            trace_name: Some(format!("{} batch {batch} seq {} on {id}", w.name(), self.seq)),
            ..self.sim.clone()
        };
        progress(Stage::Simulating);
        let run = match run_point(w, shape, &self.platform, &sim) {
            Ok(r) => r,
            Err(e) => {
                let status = match e {
                    PointError::OutOfMemory { .. } => PointStatus::OutOfMemory,
                    _ => PointStatus::Failed,
                };
                return Ok(PointOutcome::Failed(FailedPoint { status, error: e.to_string(), trace_file: None }));
            }
        };
        progress(Stage::Analyzing);
        let source = format!("{id} b{batch}");
        let analysis = analyze(&run.trace, &source, &point_analysis_spec(self.launch_floor_ns()))
            .map_err(|e| SimPointError { point: source.clone(), message: e.to_string() })?;
        if analysis.report.step_median.is_none() {
            let error = "the simulated trace has no measured steps".to_string();
            return Ok(PointOutcome::Failed(FailedPoint { status: PointStatus::Failed, error, trace_file: None }));
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dtype;

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
