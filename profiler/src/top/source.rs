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
    /// Correlation and External ids of the next chunk start after this.
    id_base: u64,
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
            id_base: 0,
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
            keep.push((offset_ns, self.id_base, run.trace.clone()));
        }
        let replay = TraceReplay::new(run.trace, offset_ns).with_id_offset(self.id_base);
        self.id_base = replay.max_id();
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
    for (offset, ids, t) in chunks {
        simulated |= t.meta.simulated;
        for d in &t.devices {
            b.add_device(d.clone());
        }
        TraceReplay::new(t, offset).with_id_offset(ids).feed_until(i64::MAX, &mut b, usize::MAX);
    }
    b.meta_mut().simulated = simulated;
    b.meta_mut().trace_name = name;
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use boundscope_analysis::live::{LiveSnapshot, LiveSpec, Speed};
    use boundscope_workloads::Dtype;

    /// `top --platform sim:h100-pcie --workload llama-3.2-1b:decode --batch 1
    /// --steps 60`: three simulated chunks, each numbering its correlation and
    /// External ids from the start. The run is shorter than the retention, so
    /// the live advice at the end must be the advice of `analyze` on the whole
    /// run, with the RMSNorm chain's basis counting the dispatch of its 6 ops.
    #[test]
    fn simulated_chunks_give_the_advice_of_the_whole_run() {
        let dtype = Dtype::parse("bf16").expect("dtype");
        let workload = WorkloadSpec::parse("llama-3.2-1b:decode", dtype).expect("workload");
        let shape = Shape { batch: 1, seq: workload.default_seq() };
        let platform = Platform::builtin("sim:h100-pcie").expect("platform");
        let sim = SimSpec { warmup_steps: 2, steps: 1, seed: 1, jitter: 0.05, dtype, trace_name: None };
        let source = SimSource::new(workload, shape, platform, sim, Some(60), true).expect("simulate");
        let spec = LiveSpec::default();
        let mut last: Option<LiveSnapshot> = None;
        let source = super::super::drive(Source::Sim(Box::new(source)), spec, Speed::Max, |live, snap| {
            live.drain_closed();
            last = Some(snap);
            Ok(true)
        })
        .expect("drive");
        let snap = last.expect("a snapshot");
        assert!(snap.finished);
        let batch = super::super::whole_run(source, &spec, "sim").expect("analyze").expect("the whole run");
        assert_eq!(batch.steps.len(), 60);
        assert!(snap.advice_basis.starts_with("60 steps from"), "{}", snap.advice_basis);
        let live = snap.advice.expect("live advice");
        let norm = live.fusion.iter().find(|f| f.pattern.starts_with("RMSNorm")).expect("an RMSNorm suggestion");
        assert!(norm.basis.contains("the host dispatch of 6 ops"), "{}", norm.basis);
        assert_eq!(live, batch.advice);
    }
}
