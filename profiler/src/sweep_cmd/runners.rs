//! The sweep engine's runners for each kind of target: a simulated platform
//! ([`SimTarget`]: the workloads crate's runner, plus the Chrome trace of each
//! point, since the point's record names that file and `sweep.json` is
//! rewritten as soon as the point ends) and a real program ([`CommandPoints`]:
//! one child process per point, see [`super::command`]).

use std::path::PathBuf;

use anyhow::{Context, anyhow};
use boundscope_analysis::analyze;
use boundscope_analysis::sweep::{
    FailedPoint, PointOutcome, PointRunner, PointStatus, RanPoint, SeriesInfo, Stage, point_analysis_spec,
    step_durations,
};
use boundscope_workloads::sweep::SimPoints;
use boundscope_workloads::whatif::{WhatIf, WhatIfPoints};
use boundscope_workloads::{Platform, Shape, WorkloadSpec};

use super::command::Interrupt;
use super::{CommandTarget, REAL_LAUNCH_FLOOR_US, SweepSpec};
use crate::Failure;

/// A simulated platform, each point exported as a Chrome trace when asked.
pub struct SimTarget {
    points: SimPoints,
    /// The output directory, when traces are written.
    export: Option<PathBuf>,
}

impl SimTarget {
    pub fn new(spec: &SweepSpec, platform: &Platform) -> Result<SimTarget, Failure> {
        let Some(workload) = spec.workload else {
            return Err(Failure::internal(anyhow!("a simulated platform needs a reference workload")));
        };
        let mut points = SimPoints::new(workload, spec.seq, platform.clone(), spec.sim.clone());
        points.stream = spec.stream_points;
        Ok(SimTarget { points, export: spec.write_traces.then(|| spec.out.clone()) })
    }
}

impl PointRunner for SimTarget {
    type Error = Failure;

    fn series(&self) -> &SeriesInfo {
        self.points.series()
    }

    fn run(&mut self, batch: u64, progress: &mut dyn FnMut(Stage)) -> Result<PointOutcome, Failure> {
        let mut outcome = self.points.run(batch, progress).map_err(Failure::internal)?;
        if let (PointOutcome::Ran(ran), Some(out)) = (&mut outcome, &self.export) {
            progress(Stage::Exporting);
            let rel = format!("traces/{}-b{batch}.json.gz", self.points.platform.spec.name);
            boundscope_reports::chrome::write_chrome_trace(&ran.trace, &ran.analysis, &out.join(&rel))
                .map_err(Failure::input)?;
            ran.trace_file = Some(rel);
        }
        Ok(outcome)
    }
}

/// A what-if beside a simulated platform (`sim:h100-pcie+cuda-graphs`),
/// each point exported as a Chrome trace when asked.
pub struct WhatIfTarget {
    points: WhatIfPoints,
    /// The output directory, when traces are written.
    export: Option<PathBuf>,
}

impl WhatIfTarget {
    pub fn new(spec: &SweepSpec, platform: &Platform, what_if: WhatIf) -> Result<WhatIfTarget, Failure> {
        let Some(workload) = spec.workload else {
            return Err(Failure::internal(anyhow!("a what-if needs a reference workload")));
        };
        let base = SimPoints::new(workload, spec.seq, platform.clone(), spec.sim.clone());
        Ok(WhatIfTarget {
            points: WhatIfPoints::new(base, what_if),
            export: spec.write_traces.then(|| spec.out.clone()),
        })
    }
}

impl PointRunner for WhatIfTarget {
    type Error = Failure;

    fn series(&self) -> &SeriesInfo {
        self.points.series()
    }

    fn run(&mut self, batch: u64, progress: &mut dyn FnMut(Stage)) -> Result<PointOutcome, Failure> {
        let mut outcome = self.points.run(batch, progress).map_err(Failure::internal)?;
        if let (PointOutcome::Ran(ran), Some(out)) = (&mut outcome, &self.export) {
            progress(Stage::Exporting);
            let rel = format!("traces/{}-b{batch}.json.gz", self.points.file_stem());
            boundscope_reports::chrome::write_chrome_trace(&ran.trace, &ran.analysis, &out.join(&rel))
                .map_err(Failure::input)?;
            ran.trace_file = Some(rel);
        }
        Ok(outcome)
    }
}

/// A real program run once per point: the reference runner on the local GPU
/// or the user's command.
pub struct CommandPoints {
    info: SeriesInfo,
    target: CommandTarget,
    out: PathBuf,
    /// The reference workload, for its work per step (else one sample per batch element).
    workload: Option<WorkloadSpec>,
    seq: u64,
    /// Stops the running point's program (the terminal UI's Ctrl-C).
    interrupt: Option<Interrupt>,
}

impl CommandPoints {
    pub fn new(spec: &SweepSpec, target: &CommandTarget, interrupt: Option<Interrupt>) -> CommandPoints {
        let info = SeriesInfo {
            label: target.name.clone(),
            description: target.description.clone(),
            origin: "this machine".into(),
            simulated: false,
        };
        CommandPoints {
            info,
            target: target.clone(),
            out: spec.out.clone(),
            workload: spec.workload,
            seq: spec.seq,
            interrupt,
        }
    }
}

impl PointRunner for CommandPoints {
    type Error = Failure;

    fn series(&self) -> &SeriesInfo {
        &self.info
    }

    /// A point whose program fails, is interrupted, or records no GPU work
    /// is a failed point.
    fn run(&mut self, batch: u64, progress: &mut dyn FnMut(Stage)) -> Result<PointOutcome, Failure> {
        progress(Stage::Running);
        let recorded = match self.target.run(batch, &self.out, self.interrupt.as_ref()) {
            Ok(r) => r,
            Err(error) => {
                return Ok(PointOutcome::Failed(FailedPoint { status: PointStatus::Failed, error, trace_file: None }));
            }
        };
        progress(Stage::Analyzing);
        let floor_ns = (REAL_LAUNCH_FLOOR_US * 1e3).round() as i64;
        let analysis = analyze(&recorded.trace, &recorded.rel, &point_analysis_spec(floor_ns))
            .with_context(|| format!("analyzing {}", recorded.rel))
            .map_err(Failure::internal)?;
        let (step_ns, note) = step_durations(&analysis);
        // The steps `boundscope profile --skip-steps` left out; none when the
        // run has no step marks (the whole run is the one step); unknown when
        // the program's own profiler schedule chose what it recorded.
        let warmup_steps = match (self.target.kineto, &note) {
            (true, _) => None,
            (false, Some(_)) => Some(0),
            (false, None) => Some(self.target.skip_steps),
        };
        let shape = Shape { batch, seq: self.seq };
        Ok(PointOutcome::Ran(Box::new(RanPoint {
            trace: recorded.trace,
            analysis,
            step_ns,
            work_per_step: self.workload.as_ref().map_or(batch, |w| w.work_per_step(shape)),
            warmup_steps,
            trace_file: Some(recorded.rel),
            note,
        })))
    }
}
