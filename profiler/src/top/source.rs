//! The event sources of `boundscope top`, behind one interface: a replay of a
//! finished trace (a Kineto file or a run directory) and a simulated platform
//! run generated chunk by chunk. Both hand events to the live analysis in
//! start order through [`TraceReplay`]; the pacing is the caller's.

use anyhow::{Result, anyhow};
use boundscope_analysis::live::{LiveAnalyzer, TraceReplay};
use boundscope_trace::Trace;
use boundscope_workloads::{Platform, Shape, SimSpec, WorkloadSpec, run_point};

/// What feeds the live analysis.
#[derive(Debug)]
pub enum Source {
    Replay(Box<TraceReplay>),
    Sim(Box<SimSource>),
}

/// A simulated platform run, generated `CHUNK_STEPS` steps at a time so that
/// it can go on for as long as the user watches.
#[derive(Debug)]
pub struct SimSource {
    pub workload: WorkloadSpec,
    pub shape: Shape,
    pub platform: Platform,
    pub sim: SimSpec,
    /// Steps still to generate (`None`: until stopped).
    pub steps_left: Option<u64>,
    chunk: Option<TraceReplay>,
    chunks: u64,
    /// Every chunk's trace, when the whole run is wanted at the end (`--headless`).
    pub keep: Option<Vec<(i64, u64, Trace)>>,
    /// Correlation ids of the next chunk start after this.
    corr_base: u64,
}

/// Steps per simulated chunk.
const CHUNK_STEPS: u64 = 20;

impl SimSource {
    pub fn new(
        workload: WorkloadSpec,
        shape: Shape,
        platform: Platform,
        sim: SimSpec,
        steps: Option<u64>,
        keep: bool,
    ) -> Result<SimSource> {
        let mut s = SimSource {
            workload,
            shape,
            platform,
            sim,
            steps_left: steps,
            chunk: None,
            chunks: 0,
            keep: keep.then(Vec::new),
            corr_base: 0,
        };
        s.next_chunk(0)?;
        Ok(s)
    }

    /// Simulates the next chunk, to start at `offset_ns`.
    fn next_chunk(&mut self, offset_ns: i64) -> Result<()> {
        let n = match self.steps_left {
            Some(0) => {
                self.chunk = None;
                return Ok(());
            }
            Some(left) => left.min(CHUNK_STEPS),
            None => CHUNK_STEPS,
        };
        let sim = SimSpec {
            // Warm-up only before the first chunk; a new seed per chunk.
            warmup_steps: if self.chunks == 0 { self.sim.warmup_steps } else { 0 },
            steps: n as u32,
            seed: self.sim.seed.wrapping_add(self.chunks),
            ..self.sim.clone()
        };
        let run = run_point(&self.workload, self.shape, &self.platform, &sim).map_err(|e| anyhow!("{e}"))?;
        if let Some(left) = &mut self.steps_left {
            *left -= n;
        }
        self.chunks += 1;
        if let Some(keep) = &mut self.keep {
            keep.push((offset_ns, self.corr_base, run.trace.clone()));
        }
        let replay = TraceReplay::new(run.trace, offset_ns).with_correlation_offset(self.corr_base);
        self.corr_base = replay.max_correlation();
        self.chunk = Some(replay);
        Ok(())
    }
}

impl Source {
    /// Trace time of the first event.
    pub fn start_ns(&self) -> i64 {
        match self {
            Source::Replay(r) => r.next_start().unwrap_or(0),
            Source::Sim(s) => s.chunk.as_ref().and_then(|c| c.next_start()).unwrap_or(0),
        }
    }

    /// Feeds events starting before `until` (at most `max`); returns how many.
    pub fn pump(&mut self, until: i64, live: &mut LiveAnalyzer, max: usize) -> Result<usize> {
        match self {
            Source::Replay(r) => Ok(r.feed_live(until, live, max)),
            Source::Sim(s) => {
                let mut fed = 0;
                while fed < max {
                    let Some(chunk) = &mut s.chunk else { break };
                    fed += chunk.feed_live(until, live, max - fed);
                    if !chunk.done() {
                        break;
                    }
                    // A microsecond after the chunk's last event, the next begins.
                    let next = chunk.end_ns() + 1_000;
                    s.next_chunk(next)?;
                    if let Some(c) = &s.chunk
                        && let Some(t) = c.next_start()
                    {
                        live.set_watermark(t);
                    }
                }
                Ok(fed)
            }
        }
    }

    /// Every event was fed.
    pub fn done(&self) -> bool {
        match self {
            Source::Replay(r) => r.done(),
            Source::Sim(s) => s.chunk.is_none(),
        }
    }

    /// The whole run as one trace, for the closing summary: the replayed
    /// trace, or the simulated chunks joined (when they were kept).
    pub fn into_trace(self) -> Option<Trace> {
        match self {
            Source::Replay(r) => Some(r.into_trace()),
            Source::Sim(s) => s.keep.map(join_chunks),
        }
    }
}

/// Joins simulated chunks into one trace through the one trace builder.
fn join_chunks(chunks: Vec<(i64, u64, Trace)>) -> Trace {
    let mut b = boundscope_trace::TraceBuilder::new("simulated");
    let mut simulated = false;
    let name = chunks.first().and_then(|(_, _, t)| t.meta.trace_name.clone());
    for (offset, corr, t) in chunks {
        simulated |= t.meta.simulated;
        for d in &t.devices {
            b.add_device(d.clone());
        }
        TraceReplay::new(t, offset).with_correlation_offset(corr).feed_until(i64::MAX, &mut b, usize::MAX);
    }
    b.meta_mut().simulated = simulated;
    b.meta_mut().trace_name = name;
    b.finish()
}
