//! Batch-size sweeps: where a workload turns from CPU-bound to GPU-bound
//! (METRICS.md section 4, "across a batch-size sweep"), the batch advice of
//! section 5, and the engine that runs a sweep point by point.
//!
//! - this file: the transition rules over [`SweepPoint`]s;
//! - [`record`]: what a sweep records ([`PointRecord`], [`PlatformSweep`],
//!   [`SweepDocument`], the `sweep.json` layout), a record filled from an
//!   [`crate::Analysis`], and `sweep.csv`;
//! - [`engine`]: [`run_sweep`], which runs every (series, batch) point through
//!   a [`PointRunner`] and reports each step as a typed [`SweepEvent`] to one
//!   sink (the terminal, the files and the UI are all sinks).
//!
//! The rules: input is one [`SweepPoint`] per batch size, each holding the
//! median-step metrics of that point. Two rules locate the transition, both
//! interpolated in log2(batch) between the two tried batch sizes that bracket it:
//! - the **TKLQT knee** (the paper's signal): the smallest batch with
//!   `TKLQT(b) >= knee_factor x TKLQT(b1)`, `b1` being the smallest batch tried;
//! - the **busy rule**: the smallest batch with `busy_frac >= 0.5`.
//!
//! They agree when their batches lie within one power of two of each other.
//! A sweep in which neither crosses says so, and so does one that is already
//! GPU-bound at its smallest batch.

pub mod engine;
pub mod record;

pub use engine::{
    FailedPoint, PointOutcome, PointRunner, RanPoint, SeriesInfo, Stage, SweepEvent, SweepSink, point_analysis_spec,
    run_sweep,
};
pub use record::{
    CSV_COLUMNS, PlatformSweep, PointRecord, PointStatus, SWEEP_SCHEMA, SweepDocument, median_i64, step_durations,
    sweep_csv,
};

use serde::{Deserialize, Serialize};

/// The rules' parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransitionSpec {
    /// TKLQT must reach this multiple of its value at the smallest batch (`--knee-factor`).
    pub knee_factor: f64,
    /// Busy fraction at which the busy rule crosses.
    pub busy_threshold: f64,
    /// Latency objective for the batch advice (`--slo-ms`), in ms.
    pub slo_ms: Option<f64>,
}

impl Default for TransitionSpec {
    fn default() -> Self {
        TransitionSpec { knee_factor: 2.0, busy_threshold: 0.5, slo_ms: None }
    }
}

/// One batch size of a sweep: medians over its measured steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepPoint {
    pub batch: u64,
    /// Median-step TKLQT.
    pub tklqt_ns: f64,
    /// Median-step GPU busy fraction (`None`: no kernels).
    pub busy_frac: Option<f64>,
    /// Median step time, in ms.
    pub latency_ms: f64,
    /// Work per second (tokens/s or samples/s) at the median step time.
    pub throughput: f64,
}

/// Where one rule crosses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Crossing {
    /// Already crossed at the smallest batch tried.
    AtFirst { batch: u64 },
    /// Crosses between two tried batches; `batch` is interpolated in log2.
    Between { batch: f64, lower: u64, upper: u64 },
    /// Never crosses up to the largest batch tried.
    Never { largest: u64 },
    /// The rule cannot be applied (no points, TKLQT of 0 at the smallest batch).
    Undefined { reason: String },
}

impl Crossing {
    /// The crossing batch (interpolated), when there is one.
    pub fn batch(&self) -> Option<f64> {
        match self {
            Crossing::AtFirst { batch } => Some(*batch as f64),
            Crossing::Between { batch, .. } => Some(*batch),
            Crossing::Never { .. } | Crossing::Undefined { .. } => None,
        }
    }

    /// The crossing at the resolution of the batch grid: "16-32" (between two
    /// tried batches), "<= 1" (at the smallest), "> 256" (never up to the
    /// largest), "-" (undefined). A transition between 16 and 32 is "16-32",
    /// not an interpolated "~22" that the grid cannot tell apart.
    pub fn grid(&self) -> String {
        match self {
            Crossing::Between { lower, upper, .. } => format!("{lower}-{upper}"),
            Crossing::AtFirst { batch } => format!("<= {batch}"),
            Crossing::Never { largest } => format!("> {largest}"),
            Crossing::Undefined { .. } => "-".into(),
        }
    }

    /// "~36 (between 32 and 64)", "at or below 1", "never (up to 256)".
    pub fn describe(&self) -> String {
        match self {
            Crossing::AtFirst { batch } => format!("at or below batch {batch} (the smallest tried)"),
            Crossing::Between { batch, lower, upper } => {
                format!("batch ~{} (between {lower} and {upper})", fmt_batch(*batch))
            }
            Crossing::Never { largest } => format!("never (up to batch {largest})"),
            Crossing::Undefined { reason } => format!("undefined: {reason}"),
        }
    }
}

fn fmt_batch(b: f64) -> String {
    if b >= 10.0 { format!("{b:.0}") } else { format!("{b:.1}") }
}

/// One rule's verdict and the threshold it used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleResult {
    /// "tklqt_knee" or "busy".
    pub rule: String,
    /// TKLQT in ns (knee: factor x TKLQT at the smallest batch) or the busy fraction.
    pub threshold: f64,
    pub crossing: Crossing,
}

/// Batch sizes to run, with the reasons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchAdvice {
    /// Smallest tried batch at or past the transition: where the GPU stops waiting on the host.
    pub transition_batch: Option<u64>,
    /// Tried batch with the highest throughput.
    pub throughput_optimal_batch: Option<u64>,
    pub throughput_optimal: Option<f64>,
    pub slo_ms: Option<f64>,
    /// Largest tried batch whose median step time is within `slo_ms`.
    pub largest_batch_within_slo: Option<u64>,
    /// The batch to run under `slo_ms`: the highest throughput among the
    /// tried batches whose median step time is within it.
    pub best_batch_within_slo: Option<u64>,
    /// `slo_ms` less the median step time of that batch.
    pub slo_headroom_ms: Option<f64>,
    /// Smallest tried batch that failed for lack of device memory: batches
    /// from there up do not fit.
    pub memory_limit_batch: Option<u64>,
    /// Plain-language lines, one per piece of advice.
    pub notes: Vec<String>,
}

/// The transition of one sweep, by both rules, and the batch advice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    pub knee: RuleResult,
    pub busy: RuleResult,
    /// The rules' batches are within one power of two (or neither crosses).
    pub agree: bool,
    /// One line: where the sweep turns GPU-bound, or why it does not.
    pub summary: String,
    pub advice: BatchAdvice,
}

/// The message of a sweep in which neither rule crosses.
pub const NEVER_CROSSES: &str = "CPU-bound at every batch size tried; try larger batches";

/// Applies both rules and the batch advice to `points` (any order; points
/// with non-finite figures are ignored).
pub fn transition(points: &[SweepPoint], spec: &TransitionSpec) -> Transition {
    transition_with_oom(points, &[], spec)
}

/// [`transition`], knowing the batches that failed for lack of device memory
/// (`PointStatus::OutOfMemory`): the advice then names the memory limit.
pub fn transition_with_oom(points: &[SweepPoint], out_of_memory: &[u64], spec: &TransitionSpec) -> Transition {
    let mut pts: Vec<SweepPoint> = points
        .iter()
        .copied()
        .filter(|p| p.batch > 0 && p.tklqt_ns.is_finite() && p.latency_ms.is_finite() && p.throughput.is_finite())
        .collect();
    pts.sort_by_key(|p| p.batch);
    pts.dedup_by_key(|p| p.batch);

    let knee = knee_rule(&pts, spec.knee_factor);
    let busy = busy_rule(&pts, spec.busy_threshold);
    let agree = match (knee.crossing.batch(), busy.crossing.batch()) {
        (Some(k), Some(b)) => (k.log2() - b.log2()).abs() <= 1.0,
        (None, None) => {
            matches!(knee.crossing, Crossing::Never { .. }) && matches!(busy.crossing, Crossing::Never { .. })
        }
        _ => false,
    };
    let summary = summarize(&knee, &busy, agree);
    let advice = advise(&pts, &knee, &busy, spec.slo_ms, out_of_memory);
    Transition { knee, busy, agree, summary, advice }
}

/// Smallest batch where `value(p) >= threshold`, interpolated in log2(batch).
fn first_crossing(pts: &[SweepPoint], threshold: f64, value: impl Fn(&SweepPoint) -> Option<f64>) -> Crossing {
    let Some(first) = pts.first() else {
        return Crossing::Undefined { reason: "no points".into() };
    };
    let Some(i) = pts.iter().position(|p| value(p).is_some_and(|v| v >= threshold)) else {
        let largest = pts.last().map_or(first.batch, |p| p.batch);
        return Crossing::Never { largest };
    };
    if i == 0 {
        return Crossing::AtFirst { batch: first.batch };
    }
    let (lo, hi) = (&pts[i - 1], &pts[i]);
    let (x0, x1) = ((lo.batch as f64).log2(), (hi.batch as f64).log2());
    let v1 = value(hi).unwrap_or(threshold);
    // A point without a value (no kernels) below the crossing counts as 0.
    let v0 = value(lo).unwrap_or(0.0).min(v1);
    let frac = if v1 > v0 { ((threshold - v0) / (v1 - v0)).clamp(0.0, 1.0) } else { 1.0 };
    Crossing::Between { batch: (x0 + frac * (x1 - x0)).exp2(), lower: lo.batch, upper: hi.batch }
}

fn knee_rule(pts: &[SweepPoint], factor: f64) -> RuleResult {
    let rule = "tklqt_knee".to_string();
    let Some(first) = pts.first() else {
        return RuleResult { rule, threshold: 0.0, crossing: Crossing::Undefined { reason: "no points".into() } };
    };
    if first.tklqt_ns <= 0.0 {
        let reason = format!("TKLQT is 0 at batch {}: no kernel launches to measure", first.batch);
        return RuleResult { rule, threshold: 0.0, crossing: Crossing::Undefined { reason } };
    }
    let threshold = factor * first.tklqt_ns;
    RuleResult { rule, threshold, crossing: first_crossing(pts, threshold, |p| Some(p.tklqt_ns)) }
}

fn busy_rule(pts: &[SweepPoint], threshold: f64) -> RuleResult {
    RuleResult { rule: "busy".into(), threshold, crossing: first_crossing(pts, threshold, |p| p.busy_frac) }
}

fn summarize(knee: &RuleResult, busy: &RuleResult, agree: bool) -> String {
    if let Crossing::AtFirst { batch } = busy.crossing {
        return format!(
            "already past the transition at batch {batch}, the smallest tried (GPU busy >= {:.0}%): try smaller \
             batches to see it; the TKLQT knee, measured against batch {batch}, says {}",
            busy.threshold * 100.0,
            knee.crossing.describe()
        );
    }
    if matches!(knee.crossing, Crossing::Never { .. }) && matches!(busy.crossing, Crossing::Never { .. }) {
        return NEVER_CROSSES.to_string();
    }
    format!(
        "turns GPU-bound at {} by the TKLQT knee and at {} by the busy rule; the rules {}",
        knee.crossing.describe(),
        busy.crossing.describe(),
        if agree { "agree (within one power of two)" } else { "disagree" }
    )
}

fn advise(
    pts: &[SweepPoint],
    knee: &RuleResult,
    busy: &RuleResult,
    slo_ms: Option<f64>,
    out_of_memory: &[u64],
) -> BatchAdvice {
    let mut notes = Vec::new();
    // The knee is the paper's signal; the busy rule stands in when the knee
    // cannot be placed, and overrules it when the smallest batch already
    // keeps the GPU busy (the knee is measured against that batch).
    let crossing = match (&knee.crossing, &busy.crossing) {
        (_, Crossing::AtFirst { batch }) => Some(*batch as f64),
        (Crossing::Between { batch, .. }, _) => Some(*batch),
        _ => busy.crossing.batch(),
    };
    let transition_batch = crossing.and_then(|c| pts.iter().find(|p| p.batch as f64 >= c - 1e-9).map(|p| p.batch));
    match transition_batch {
        Some(b) if matches!(busy.crossing, Crossing::AtFirst { .. }) => notes
            .push(format!("batch {b}, the smallest tried, already keeps the GPU busy: the transition lies below it")),
        Some(b) => notes.push(format!(
            "batch {b} is the smallest tried at or past the transition: below it the GPU waits on the host's \
             launches, so larger batches come almost free"
        )),
        None if !pts.is_empty() => notes.push(NEVER_CROSSES.to_string()),
        None => {}
    }

    let best = pts.iter().fold(None::<&SweepPoint>, |best, p| match best {
        Some(b) if b.throughput >= p.throughput => Some(b),
        _ => Some(p),
    });
    if let Some(b) = best {
        let last = pts.last().map_or(b.batch, |p| p.batch);
        notes.push(if b.batch == last && pts.len() > 1 {
            format!("throughput is highest at batch {}, the largest that ran: it may rise further (with larger batches, or once they fit)", b.batch)
        } else {
            format!("throughput is highest at batch {}", b.batch)
        });
    }

    let mut within = None;
    let (mut best_within, mut headroom) = (None, None);
    if let Some(slo) = slo_ms {
        within = pts.iter().filter(|p| p.latency_ms <= slo).map(|p| p.batch).max();
        // Highest throughput within the objective (ties: the smaller batch, with more headroom).
        let best = pts.iter().filter(|p| p.latency_ms <= slo).fold(None::<&SweepPoint>, |b, p| match b {
            Some(b) if b.throughput >= p.throughput => Some(b),
            _ => Some(p),
        });
        if let Some(b) = best {
            best_within = Some(b.batch);
            headroom = Some(slo - b.latency_ms);
            notes.push(format!(
                "under the {slo} ms objective, batch {} gives the most throughput ({:.1} per second) at a median \
                 step of {:.3} ms: {:.3} ms of headroom",
                b.batch,
                b.throughput,
                b.latency_ms,
                slo - b.latency_ms
            ));
        }
        match within {
            Some(b) if Some(b) != best_within => {
                notes.push(format!("batch {b} is the largest whose median step time is within {slo} ms"))
            }
            Some(_) => {}
            None => {
                if let Some(fast) = pts.iter().min_by(|a, b| a.latency_ms.total_cmp(&b.latency_ms)) {
                    notes.push(format!(
                        "no batch meets the {slo} ms objective; the fastest step is {:.3} ms at batch {}",
                        fast.latency_ms, fast.batch
                    ));
                }
            }
        }
    }
    let mut oom: Vec<u64> = out_of_memory.to_vec();
    oom.sort_unstable();
    let memory_limit_batch = oom.first().copied();
    if let Some(m) = memory_limit_batch {
        let below = pts.iter().filter(|p| p.batch < m).map(|p| p.batch).max();
        notes.push(match below {
            Some(b) => format!(
                "batch {m} failed for lack of device memory: batch {b} is the largest tried below it that ran; \
                 larger batches need less memory per request (shorter sequences, a smaller KV cache, lower \
                 precision) or a larger device"
            ),
            None => format!("batch {m} failed for lack of device memory, and no smaller batch ran"),
        });
    }
    BatchAdvice {
        best_batch_within_slo: best_within,
        slo_headroom_ms: headroom,
        memory_limit_batch,
        transition_batch,
        throughput_optimal_batch: best.map(|b| b.batch),
        throughput_optimal: best.map(|b| b.throughput),
        slo_ms,
        largest_batch_within_slo: within,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BATCHES: [u64; 9] = [1, 2, 4, 8, 16, 32, 64, 128, 256];

    fn series(tklqt: &[f64], busy: &[f64]) -> Vec<SweepPoint> {
        BATCHES
            .iter()
            .zip(tklqt.iter().zip(busy))
            .map(|(&b, (&t, &u))| {
                // Latency: a fixed cost plus a per-sample cost.
                let latency_ms = 5.0 + 0.05 * b as f64;
                SweepPoint { batch: b, tklqt_ns: t, busy_frac: Some(u), latency_ms, throughput: b as f64 / latency_ms }
            })
            .collect()
    }

    fn between(c: &Crossing) -> (f64, u64, u64) {
        match c {
            Crossing::Between { batch, lower, upper } => (*batch, *lower, *upper),
            other => panic!("expected a crossing between two batches, got {other:?}"),
        }
    }

    #[test]
    fn flat_then_rising() {
        let t = [100.0, 101.0, 102.0, 104.0, 110.0, 180.0, 400.0, 900.0, 2000.0];
        let u = [0.10, 0.10, 0.11, 0.12, 0.15, 0.30, 0.60, 0.90, 0.97];
        let r = transition(&series(&t, &u), &TransitionSpec::default());
        // Knee: 200 lies 20/220 of the way from 180 (b=32) to 400 (b=64) -> 2^(5 + 1/11).
        let (b, lo, hi) = between(&r.knee.crossing);
        assert_eq!((lo, hi), (32, 64));
        assert!((b - 2f64.powf(5.0 + 20.0 / 220.0)).abs() < 1e-9, "{b}");
        assert_eq!(r.knee.threshold, 200.0);
        // Busy: 0.5 lies 2/3 of the way from 0.3 (b=32) to 0.6 (b=64).
        let (b, lo, hi) = between(&r.busy.crossing);
        assert_eq!((lo, hi), (32, 64));
        assert!((b - 2f64.powf(5.0 + 2.0 / 3.0)).abs() < 1e-9, "{b}");
        assert!(r.agree);
        assert!(r.summary.contains("agree"), "{}", r.summary);
        assert_eq!(r.advice.transition_batch, Some(64));
        // Throughput b / (5 + 0.05 b) keeps rising: the largest batch wins.
        assert_eq!(r.advice.throughput_optimal_batch, Some(256));
    }

    #[test]
    fn never_crossing_says_try_larger_batches() {
        let t = [100.0, 102.0, 101.0, 105.0, 108.0, 112.0, 120.0, 130.0, 150.0];
        let u = [0.05, 0.06, 0.06, 0.07, 0.09, 0.12, 0.18, 0.25, 0.35];
        let r = transition(&series(&t, &u), &TransitionSpec::default());
        assert_eq!(r.knee.crossing, Crossing::Never { largest: 256 });
        assert_eq!(r.busy.crossing, Crossing::Never { largest: 256 });
        assert!(r.agree);
        assert_eq!(r.summary, NEVER_CROSSES);
        assert_eq!(r.advice.transition_batch, None);
        assert!(r.advice.notes.iter().any(|n| n == NEVER_CROSSES));
    }

    #[test]
    fn noise_below_the_factor_does_not_trigger_the_knee() {
        // +-50% noise around a flat TKLQT, then a real rise.
        let t = [100.0, 150.0, 70.0, 140.0, 60.0, 160.0, 450.0, 900.0, 1800.0];
        let u = [0.2, 0.35, 0.15, 0.3, 0.2, 0.45, 0.55, 0.8, 0.95];
        let r = transition(&series(&t, &u), &TransitionSpec::default());
        let (b, lo, hi) = between(&r.knee.crossing);
        assert_eq!((lo, hi), (32, 64));
        assert!((b - 2f64.powf(5.0 + 40.0 / 290.0)).abs() < 1e-9, "{b}");
        let (_, lo, hi) = between(&r.busy.crossing);
        assert_eq!((lo, hi), (32, 64));
        assert!(r.agree);
        // A larger factor moves the knee later.
        let strict = TransitionSpec { knee_factor: 5.0, ..TransitionSpec::default() };
        let (_, lo, hi) = between(&transition(&series(&t, &u), &strict).knee.crossing);
        assert_eq!((lo, hi), (64, 128));
    }

    #[test]
    fn already_gpu_bound_at_the_first_batch() {
        // Busy from the start; TKLQT rises from the start too (kernels queue).
        let t = [5000.0, 7000.0, 11000.0, 20000.0, 40000.0, 80000.0, 160000.0, 320000.0, 640000.0];
        let u = [0.92, 0.94, 0.95, 0.96, 0.97, 0.98, 0.98, 0.99, 0.99];
        let r = transition(&series(&t, &u), &TransitionSpec::default());
        assert_eq!(r.busy.crossing, Crossing::AtFirst { batch: 1 });
        assert!(r.summary.contains("already past the transition at batch 1"), "{}", r.summary);
        assert_eq!(r.advice.transition_batch, Some(1));
        // The knee lands at 4, two powers of two away: the rules disagree.
        let (_, lo, hi) = between(&r.knee.crossing);
        assert_eq!((lo, hi), (2, 4));
        assert!(!r.agree);
    }

    #[test]
    fn rules_that_disagree_are_reported() {
        // TKLQT rises early (kernels queue behind one long GEMM) while the GPU
        // stays mostly idle until much later.
        let t = [100.0, 120.0, 300.0, 500.0, 800.0, 1000.0, 1500.0, 2000.0, 3000.0];
        let u = [0.1, 0.1, 0.12, 0.15, 0.2, 0.25, 0.3, 0.4, 0.6];
        let r = transition(&series(&t, &u), &TransitionSpec::default());
        assert_eq!(between(&r.knee.crossing).1, 2);
        assert_eq!(between(&r.busy.crossing).1, 128);
        assert!(!r.agree);
        assert!(r.summary.contains("disagree"), "{}", r.summary);
    }

    #[test]
    fn slo_advice_picks_the_largest_batch_within_the_objective() {
        let t = [100.0, 101.0, 102.0, 104.0, 110.0, 180.0, 400.0, 900.0, 2000.0];
        let u = [0.10, 0.10, 0.11, 0.12, 0.15, 0.30, 0.60, 0.90, 0.97];
        let pts = series(&t, &u);
        // Latencies: 5.05 ms at b=1 ... 8.2 at 64, 11.4 at 128, 17.8 at 256.
        let spec = TransitionSpec { slo_ms: Some(10.0), ..TransitionSpec::default() };
        let r = transition(&pts, &spec);
        assert_eq!(r.advice.largest_batch_within_slo, Some(64));
        // Throughput b / (5 + 0.05 b) rises with the batch: the largest within is also the best.
        assert_eq!(r.advice.best_batch_within_slo, Some(64));
        let headroom = r.advice.slo_headroom_ms.unwrap_or(f64::NAN);
        assert!((headroom - (10.0 - 8.2)).abs() < 1e-9, "{headroom}");
        assert!(
            r.advice.notes.iter().any(|n| n.contains("batch 64 gives the most throughput")),
            "{:?}",
            r.advice.notes
        );
        let tight = TransitionSpec { slo_ms: Some(1.0), ..TransitionSpec::default() };
        let r = transition(&pts, &tight);
        assert_eq!(r.advice.largest_batch_within_slo, None);
        assert!(r.advice.notes.iter().any(|n| n.contains("no batch meets the 1 ms objective")), "{:?}", r.advice.notes);
    }

    #[test]
    fn slo_advice_prefers_throughput_to_size() {
        // Batch 8 is within the objective but slower per request than batch 4
        // (a step that jumps in cost): the advice names 4, with its headroom.
        let pt = |batch: u64, latency_ms: f64| SweepPoint {
            batch,
            tklqt_ns: 100.0,
            busy_frac: Some(0.2),
            latency_ms,
            throughput: batch as f64 / (latency_ms / 1e3),
        };
        let pts = [pt(1, 2.0), pt(2, 2.1), pt(4, 2.2), pt(8, 9.5), pt(16, 20.0)];
        let spec = TransitionSpec { slo_ms: Some(10.0), ..TransitionSpec::default() };
        let a = transition(&pts, &spec).advice;
        assert_eq!(a.largest_batch_within_slo, Some(8));
        assert_eq!(a.best_batch_within_slo, Some(4));
        assert!((a.slo_headroom_ms.unwrap_or(f64::NAN) - 7.8).abs() < 1e-9);
        assert!(a.notes.iter().any(|n| n.contains("batch 8 is the largest")), "{:?}", a.notes);
    }

    #[test]
    fn transition_note_says_when_adding_requests_stops_being_almost_free() {
        let t = [100.0, 101.0, 102.0, 104.0, 110.0, 180.0, 400.0, 900.0, 2000.0];
        let u = [0.10, 0.10, 0.11, 0.12, 0.15, 0.30, 0.60, 0.90, 0.97];
        let a = transition(&series(&t, &u), &TransitionSpec::default()).advice;
        assert_eq!(a.transition_batch, Some(64));
        assert!(
            a.notes.iter().any(|n| n.starts_with("batch 64 is the smallest tried at or past the transition")
                && n.contains("almost free")),
            "{:?}",
            a.notes
        );
        assert_eq!(a.memory_limit_batch, None);
    }

    #[test]
    fn memory_limit_from_points_that_did_not_fit() {
        let t = [100.0, 101.0, 102.0, 104.0, 110.0, 180.0];
        let u = [0.10, 0.10, 0.11, 0.12, 0.15, 0.30];
        // Batches 1..32 ran; 64 and 128 failed for lack of memory.
        let r = transition_with_oom(&series(&t, &u), &[128, 64], &TransitionSpec::default());
        assert_eq!(r.advice.memory_limit_batch, Some(64));
        assert!(
            r.advice
                .notes
                .iter()
                .any(|n| n.starts_with("batch 64 failed for lack of device memory: batch 32 is the largest")),
            "{:?}",
            r.advice.notes
        );
        // Throughput is highest at the largest batch that ran: it may rise once larger ones fit.
        assert_eq!(r.advice.throughput_optimal_batch, Some(32));
        assert!(r.advice.notes.iter().any(|n| n.contains("once they fit")), "{:?}", r.advice.notes);
        // Nothing smaller ran.
        let r = transition_with_oom(&[], &[1], &TransitionSpec::default());
        assert!(
            r.advice.notes.iter().any(|n| n == "batch 1 failed for lack of device memory, and no smaller batch ran")
        );
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let r = transition(&[], &TransitionSpec::default());
        assert!(matches!(r.knee.crossing, Crossing::Undefined { .. }));
        assert!(!r.agree);
        let zero = [SweepPoint { batch: 1, tklqt_ns: 0.0, busy_frac: None, latency_ms: 1.0, throughput: 1.0 }];
        let r = transition(&zero, &TransitionSpec::default());
        assert!(matches!(r.knee.crossing, Crossing::Undefined { .. }));
        assert_eq!(r.busy.crossing, Crossing::Never { largest: 1 });
        // Unsorted input is sorted; JSON round-trips.
        let mut pts = series(&[100.0, 101.0, 102.0, 104.0, 110.0, 180.0, 400.0, 900.0, 2000.0], &[0.1; 9]);
        pts.reverse();
        let r = transition(&pts, &TransitionSpec::default());
        assert_eq!(between(&r.knee.crossing).1, 32);
        let json = serde_json::to_string(&r).unwrap_or_default();
        let back: Result<Transition, _> = serde_json::from_str(&json);
        assert_eq!(back.ok(), Some(r));
    }

    #[test]
    fn crossings_at_grid_resolution() {
        assert_eq!(Crossing::Between { batch: 22.6, lower: 16, upper: 32 }.grid(), "16-32");
        assert_eq!(Crossing::AtFirst { batch: 1 }.grid(), "<= 1");
        assert_eq!(Crossing::Never { largest: 256 }.grid(), "> 256");
        assert_eq!(Crossing::Undefined { reason: "x".into() }.grid(), "-");
    }
}
