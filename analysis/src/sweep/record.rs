//! What a sweep records: one [`PointRecord`] per (series, batch) point, one
//! [`PlatformSweep`] per series with its transition, and the whole
//! [`SweepDocument`] (`sweep.json`, schema [`SWEEP_SCHEMA`]); a record filled
//! from the [`Analysis`] of its trace; and `sweep.csv` ([`sweep_csv`], one row
//! per point). docs/tables.md describes every field.

use serde::{Deserialize, Serialize};

use super::{SweepPoint, Transition};
use crate::{Analysis, Bound, step_median};

/// Version of the `sweep.json` layout; bump on any incompatible change.
///
/// 2: `status` may be `out_of_memory`; each point has `warmup_steps`; the
/// document's `steps` and `warmup` are what each point was asked to run
/// (`null`: every step the program ran, or the program's own profiler
/// schedule).
pub const SWEEP_SCHEMA: &str = "boundscope.sweep/2";

/// How a point ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PointStatus {
    /// It ran and was analyzed: its figures are in the record.
    Ok,
    /// It did not run, or ran without usable figures; `error` says why.
    Failed,
    /// The step would not fit in the device's memory (for a simulated
    /// platform, by the memory model); `error` has the figures.
    OutOfMemory,
}

impl PointStatus {
    /// The name `sweep.csv` and `sweep.json` use.
    pub fn as_str(self) -> &'static str {
        match self {
            PointStatus::Ok => "ok",
            PointStatus::Failed => "failed",
            PointStatus::OutOfMemory => "out_of_memory",
        }
    }

    pub fn is_ok(self) -> bool {
        self == PointStatus::Ok
    }
}

/// One point of a sweep, as `sweep.csv` and `sweep.json` hold it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PointRecord {
    /// The series: a platform (`sim:h100-pcie`, `gpu`, `cmd`), or a labelled
    /// variant of one.
    pub platform: String,
    pub batch: u64,
    pub seq: u64,
    pub status: PointStatus,
    /// Measured steps behind the medians.
    pub steps: u64,
    /// Warm-up steps run before them and left out (`None`: not known, e.g.
    /// the program's own profiler schedule chose the recorded steps).
    pub warmup_steps: Option<u32>,
    pub kernels_per_step: f64,
    pub tklqt_ns: f64,
    pub mean_launch_to_start_ns: f64,
    pub akd_ns: f64,
    pub il_ns: f64,
    pub gpu_busy_ns: f64,
    pub busy_frac: Option<f64>,
    pub exposed_launch_ns: f64,
    pub host_wait_ns: f64,
    pub queue_p50_ns: f64,
    pub sync_ns: f64,
    /// The majority verdict over the point's steps.
    pub verdict: Option<Bound>,
    /// Median step time.
    pub latency_ms: f64,
    pub throughput: f64,
    pub throughput_unit: String,
    pub simulated: bool,
    /// The point's trace (a Chrome trace, a Kineto file or a run directory), relative to the
    /// output directory.
    pub trace: Option<String>,
    /// How the figures were taken when that is not the usual way (no step marks: the whole run).
    pub note: Option<String>,
    pub error: Option<String>,
}

impl PointRecord {
    /// A point without figures: every figure zero, status failed until filled.
    pub fn blank(platform: String, batch: u64, seq: u64, unit: &str, simulated: bool) -> PointRecord {
        PointRecord {
            platform,
            batch,
            seq,
            status: PointStatus::Failed,
            steps: 0,
            warmup_steps: None,
            kernels_per_step: 0.0,
            tklqt_ns: 0.0,
            mean_launch_to_start_ns: 0.0,
            akd_ns: 0.0,
            il_ns: 0.0,
            gpu_busy_ns: 0.0,
            busy_frac: None,
            exposed_launch_ns: 0.0,
            host_wait_ns: 0.0,
            queue_p50_ns: 0.0,
            sync_ns: 0.0,
            verdict: None,
            latency_ms: 0.0,
            throughput: 0.0,
            throughput_unit: unit.to_string(),
            simulated,
            trace: None,
            note: None,
            error: None,
        }
    }

    /// The point as the transition rules take it; `None` unless it is ok.
    pub fn sweep_point(&self) -> Option<SweepPoint> {
        self.status.is_ok().then_some(SweepPoint {
            batch: self.batch,
            tklqt_ns: self.tklqt_ns,
            busy_frac: self.busy_frac,
            latency_ms: self.latency_ms,
            throughput: self.throughput,
        })
    }

    /// Fills the figures from the analysis of the point's trace: medians over
    /// its steps (the whole trace as one step when it has none), the median of
    /// `step_ns` as the latency, and `work` units per step for the throughput.
    /// Sets the status to ok; `Err` is why the figures cannot be taken.
    pub fn fill(&mut self, analysis: &Analysis, step_ns: &[i64], work: u64) -> Result<(), String> {
        let r = &analysis.report;
        let whole;
        let m = match &r.step_median {
            Some(m) => m,
            None => {
                whole = step_median(std::slice::from_ref(&r.trace_window)).ok_or("the trace has no window")?;
                &whole
            }
        };
        let mut sorted = step_ns.to_vec();
        sorted.sort_unstable();
        let latency_ns = median_i64(&sorted);
        self.status = PointStatus::Ok;
        self.steps = m.steps;
        self.kernels_per_step = m.kernels;
        self.tklqt_ns = m.tklqt_ns;
        self.mean_launch_to_start_ns = m.mean_launch_to_start_ns;
        self.akd_ns = m.akd_ns;
        self.il_ns = m.il_ns;
        self.gpu_busy_ns = m.gpu_busy_ns;
        self.busy_frac = m.busy_frac;
        self.exposed_launch_ns = m.exposed_launch_ns;
        self.host_wait_ns = m.host_wait_ns;
        self.queue_p50_ns = m.queue_p50_ns;
        self.sync_ns = m.sync_ns;
        self.verdict = Some(r.headline.bound);
        self.latency_ms = latency_ns / 1e6;
        self.throughput = if latency_ns > 0.0 { work as f64 / (latency_ns / 1e9) } else { 0.0 };
        Ok(())
    }
}

/// The step durations of a recorded trace, and a note when it has no step
/// marks (then the whole trace is one step).
pub fn step_durations(analysis: &Analysis) -> (Vec<i64>, Option<String>) {
    let r = &analysis.report;
    if r.steps.is_empty() {
        let note = "no step marks (NVTX boundscope:step or ProfilerStep#N): the whole run is one step";
        (vec![r.trace_window.end_ns - r.trace_window.start_ns], Some(note.to_string()))
    } else {
        (r.steps.iter().map(|w| w.end_ns - w.start_ns).collect(), None)
    }
}

/// The median of sorted values (0 for none).
pub fn median_i64(sorted: &[i64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2] as f64,
        n => (sorted[n / 2 - 1] as f64 + sorted[n / 2] as f64) / 2.0,
    }
}

/// One series of a sweep: a platform (or a labelled variant of one) at every batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlatformSweep {
    pub platform: String,
    pub description: String,
    /// Where the platform's parameters came from (built in, or a file).
    pub origin: String,
    pub simulated: bool,
    pub points: Vec<PointRecord>,
    /// Both rules over the points so far.
    pub transition: Option<Transition>,
}

/// The `sweep.json` document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepDocument {
    pub schema: &'static str,
    pub note: String,
    /// `MODEL:PHASE`, or the command line of a command sweep.
    pub workload: String,
    /// The Hugging Face configuration the model's shape comes from.
    pub model_config: String,
    pub dtype: String,
    /// The `transformers` release whose code paths the simulated lowering
    /// follows (`transformers-4.56`); `None` when no series is simulated
    /// (a real run records the versions it found in its own run directory).
    pub stack: Option<String>,
    pub seq: u64,
    pub batches: Vec<u64>,
    /// Measured steps each point was asked to run (`None`: every step the
    /// program ran after its warm-up). What each point ran is in its record.
    pub steps: Option<u32>,
    /// Warm-up steps each point was asked to run first (`None`: the
    /// program's own profiler schedule decides).
    pub warmup: Option<u32>,
    pub seed: u64,
    pub jitter: f64,
    pub knee_factor: f64,
    pub slo_ms: Option<f64>,
    pub throughput_unit: String,
    pub platforms: Vec<PlatformSweep>,
}

impl SweepDocument {
    /// Every point so far, series by series.
    pub fn points(&self) -> impl Iterator<Item = &PointRecord> {
        self.platforms.iter().flat_map(|p| p.points.iter())
    }
}

/// Columns of `sweep.csv`; units in the names.
pub const CSV_COLUMNS: [&str; 25] = [
    "platform",
    "batch",
    "seq",
    "status",
    "steps",
    "warmup_steps",
    "kernels_per_step",
    "tklqt_ns",
    "mean_launch_to_start_ns",
    "akd_ns",
    "il_ns",
    "gpu_busy_ns",
    "busy_frac",
    "exposed_launch_ns",
    "host_wait_ns",
    "queue_p50_ns",
    "sync_ns",
    "verdict",
    "latency_ms",
    "throughput",
    "throughput_unit",
    "simulated",
    "trace",
    "note",
    "error",
];

/// `sweep.csv`: one row per point, every series, in the order they ran.
pub fn sweep_csv(doc: &SweepDocument) -> String {
    fn field(s: &str) -> String {
        if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
    }
    let mut out = CSV_COLUMNS.join(",");
    out.push('\n');
    for p in doc.points() {
        let row = [
            field(&p.platform),
            p.batch.to_string(),
            p.seq.to_string(),
            p.status.as_str().to_string(),
            p.steps.to_string(),
            p.warmup_steps.map_or(String::new(), |w| w.to_string()),
            p.kernels_per_step.to_string(),
            p.tklqt_ns.to_string(),
            format!("{:.3}", p.mean_launch_to_start_ns),
            format!("{:.3}", p.akd_ns),
            p.il_ns.to_string(),
            p.gpu_busy_ns.to_string(),
            p.busy_frac.map_or(String::new(), |b| format!("{b:.6}")),
            p.exposed_launch_ns.to_string(),
            p.host_wait_ns.to_string(),
            p.queue_p50_ns.to_string(),
            p.sync_ns.to_string(),
            p.verdict.map_or(String::new(), |v| v.as_str().to_string()),
            format!("{:.6}", p.latency_ms),
            format!("{:.3}", p.throughput),
            field(&p.throughput_unit),
            p.simulated.to_string(),
            field(p.trace.as_deref().unwrap_or("")),
            field(p.note.as_deref().unwrap_or("")),
            field(p.error.as_deref().unwrap_or("")),
        ];
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_are_the_file_names() {
        for (s, name) in
            [(PointStatus::Ok, "ok"), (PointStatus::Failed, "failed"), (PointStatus::OutOfMemory, "out_of_memory")]
        {
            assert_eq!(s.as_str(), name);
            assert_eq!(serde_json::to_string(&s).ok(), Some(format!("\"{name}\"")));
        }
    }

    #[test]
    fn csv_quotes_fields_and_leaves_unknowns_empty() {
        let mut r = PointRecord::blank("cmd".into(), 4, 0, "samples/s", false);
        r.error = Some("exit status 1; stderr: a, \"b\"".into());
        let doc = SweepDocument {
            schema: SWEEP_SCHEMA,
            note: String::new(),
            workload: "w".into(),
            model_config: String::new(),
            stack: None,
            dtype: String::new(),
            seq: 0,
            batches: vec![4],
            steps: None,
            warmup: None,
            seed: 0,
            jitter: 0.0,
            knee_factor: 2.0,
            slo_ms: None,
            throughput_unit: "samples/s".into(),
            platforms: vec![PlatformSweep {
                platform: "cmd".into(),
                description: String::new(),
                origin: String::new(),
                simulated: false,
                points: vec![r],
                transition: None,
            }],
        };
        let csv = sweep_csv(&doc);
        let row = csv.lines().nth(1).unwrap_or_default();
        assert!(row.starts_with("cmd,4,0,failed,0,,0,"), "{row}");
        assert!(row.ends_with(",false,,,\"exit status 1; stderr: a, \"\"b\"\"\""), "{row}");
        assert_eq!(csv.lines().next().map(|h| h.split(',').count()), Some(CSV_COLUMNS.len()));
    }
}
