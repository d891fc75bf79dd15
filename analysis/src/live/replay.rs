//! Replaying a finished [`Trace`] into a [`LiveAnalyzer`]: events in start
//! order (a merge of the trace's sorted tables, no extra index), so the
//! watermark is simply the next event's start; and the [`Pacer`] that maps
//! wall-clock time to trace time (real time, N x, or as fast as possible).

use boundscope_trace::{ActivityIn, ApiCallIn, EventSink, HostOpIn, Trace};
use rustc_hash::FxHashMap;

use super::LiveAnalyzer;

/// How fast a replay or a simulated run goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// `factor` seconds of trace time per wall-clock second (1.0: real time).
    Times(f64),
    /// As fast as the analysis goes.
    Max,
}

impl Speed {
    /// Parses `1`, `4`, `0.5`, `4x` or `max`.
    pub fn parse(s: &str) -> Result<Speed, String> {
        if s.trim().eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        let t = s.trim().trim_end_matches(['x', 'X']);
        match t.parse::<f64>() {
            Ok(f) if (0.01..=10_000.0).contains(&f) => Ok(Speed::Times(f)),
            _ => Err(format!("speed '{s}' is not valid: give a factor from 0.01 to 10000 (1 is real time) or 'max'")),
        }
    }

    /// "4x", "max".
    pub fn label(self) -> String {
        match self {
            Speed::Times(f) => format!("{f}x"),
            Speed::Max => "max".into(),
        }
    }
}

/// Maps elapsed wall-clock time to a trace-time target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pacer {
    pub speed: Speed,
    /// Trace time at which the replay started.
    pub start_ns: i64,
}

impl Pacer {
    /// The trace time the replay should have reached after `elapsed_ns` of
    /// wall-clock time (paused time excluded by the caller).
    pub fn target_ns(&self, elapsed_ns: i64) -> i64 {
        match self.speed {
            Speed::Max => i64::MAX,
            Speed::Times(f) => self.start_ns.saturating_add((elapsed_ns as f64 * f) as i64),
        }
    }
}

/// A trace fed into a live analysis in start order.
#[derive(Debug)]
pub struct TraceReplay {
    trace: Trace,
    /// Added to every time (a simulated run continues where its last chunk ended).
    offset_ns: i64,
    /// Added to every non-zero correlation and External id (keeps chunks of
    /// one run apart: each numbers its ids from the same start).
    id_offset: u64,
    api: usize,
    act: usize,
    host: usize,
    counter: usize,
    series: FxHashMap<u32, u32>,
    /// Correlation ids that GPU activities carry, sorted: a launch call
    /// whose id is not here will never get one.
    activity_corr: Vec<u64>,
}

impl TraceReplay {
    pub fn new(trace: Trace, offset_ns: i64) -> TraceReplay {
        let mut activity_corr: Vec<u64> = trace.activities.correlation.iter().copied().filter(|&c| c != 0).collect();
        activity_corr.sort_unstable();
        activity_corr.dedup();
        TraceReplay {
            activity_corr,
            trace,
            offset_ns,
            id_offset: 0,
            api: 0,
            act: 0,
            host: 0,
            counter: 0,
            series: FxHashMap::default(),
        }
    }

    /// Shifts the correlation and External ids by `offset` (a run made of
    /// several traces). Both must move: the advice finds the framework op
    /// that issues a launch by its External id, and a second chunk's ids
    /// would otherwise name the first chunk's ops.
    pub fn with_id_offset(mut self, offset: u64) -> TraceReplay {
        self.id_offset = offset;
        self
    }

    /// The largest correlation or External id of the trace, shifted: the
    /// offset for a trace that follows this one.
    pub fn max_id(&self) -> u64 {
        let t = &self.trace;
        t.api
            .correlation
            .iter()
            .chain(&t.activities.correlation)
            .chain(&t.api.external_id)
            .chain(&t.activities.external_id)
            .chain(&t.host_ops.external_id)
            .copied()
            .max()
            .unwrap_or(0)
            + self.id_offset
    }

    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Gives the trace back (for the analysis of the whole run at the end).
    pub fn into_trace(self) -> Trace {
        self.trace
    }

    /// Start of the next event, `None` when every event was fed.
    pub fn next_start(&self) -> Option<i64> {
        self.next().map(|(_, s)| s)
    }

    /// Trace time of the last event's end (with the offset).
    pub fn end_ns(&self) -> i64 {
        self.trace.end_ns().saturating_add(self.offset_ns)
    }

    pub fn done(&self) -> bool {
        self.next().is_none()
    }

    /// (table, start) of the next event: API calls, activities, host ops,
    /// counter samples, in that order at equal starts.
    fn next(&self) -> Option<(u8, i64)> {
        let t = &self.trace;
        let o = self.offset_ns;
        [
            t.api.start_ns.get(self.api).map(|&s| (0u8, s)),
            t.activities.start_ns.get(self.act).map(|&s| (1, s)),
            t.host_ops.start_ns.get(self.host).map(|&s| (2, s)),
            t.counters.time_ns.get(self.counter).map(|&s| (3, s)),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|&(k, s)| (s, k))
        .map(|(k, s)| (k, s.saturating_add(o)))
    }

    /// Feeds the events starting before `until` (at most `max_events`) into
    /// `sink`. Returns the number of events fed.
    pub fn feed_until(&mut self, until: i64, sink: &mut impl EventSink, max_events: usize) -> usize {
        let mut n = 0;
        while n < max_events {
            let Some((table, start)) = self.next() else { break };
            if start >= until {
                break;
            }
            self.feed_one(table, sink);
            n += 1;
        }
        n
    }

    /// [`Self::feed_until`] into a live analysis, then moves its watermark to
    /// the next event's start (every earlier event has been fed).
    pub fn feed_live(&mut self, until: i64, live: &mut LiveAnalyzer, max_events: usize) -> usize {
        let n = self.feed_until(until, live, max_events);
        if let Some(next) = self.next_start() {
            live.set_watermark(next);
        }
        n
    }

    fn feed_one(&mut self, table: u8, live: &mut impl EventSink) {
        let t = &self.trace;
        let o = self.offset_ns;
        let shift = self.id_offset;
        let shifted = |c: u64| if c == 0 { 0 } else { c + shift };
        let thread =
            |idx: boundscope_trace::ThreadIdx| t.threads.get(idx.0 as usize).map_or((0, 0), |th| (th.pid, th.tid));
        match table {
            0 => {
                let (i, c) = (self.api, &t.api);
                let (pid, tid) = thread(c.thread[i]);
                live.api_call(ApiCallIn {
                    name: t.str(c.name[i]),
                    pid,
                    tid,
                    start_ns: c.start_ns[i] + o,
                    end_ns: c.end_ns[i] + o,
                    correlation: shifted(c.correlation[i]),
                    external_id: shifted(c.external_id[i]),
                });
                if c.correlation[i] != 0 && self.activity_corr.binary_search(&c.correlation[i]).is_err() {
                    live.no_activity_expected(shifted(c.correlation[i]));
                }
                self.api += 1;
            }
            1 => {
                let (i, a) = (self.act, &t.activities);
                live.gpu_activity(ActivityIn {
                    kind: a.kind[i],
                    name: t.str(a.name[i]),
                    device: a.device[i],
                    stream: a.stream[i],
                    start_ns: a.start_ns[i] + o,
                    end_ns: a.end_ns[i] + o,
                    correlation: shifted(a.correlation[i]),
                    external_id: shifted(a.external_id[i]),
                    bytes: a.bytes[i],
                    queued_ns: a.queued_ns[i].map(|q| q + o),
                    submitted_ns: a.submitted_ns[i].map(|q| q + o),
                    graph_id: a.graph_id[i],
                    grid: a.grid[i],
                    block: a.block[i],
                });
                self.act += 1;
            }
            2 => {
                let (i, h) = (self.host, &t.host_ops);
                let (pid, tid) = thread(h.thread[i]);
                live.host_op(HostOpIn {
                    kind: h.kind[i],
                    name: t.str(h.name[i]),
                    pid,
                    tid,
                    start_ns: h.start_ns[i] + o,
                    end_ns: h.end_ns[i] + o,
                    external_id: shifted(h.external_id[i]),
                });
                self.host += 1;
            }
            _ => {
                let (i, c) = (self.counter, &t.counters);
                let idx = c.series_idx[i];
                let series = match self.series.get(&idx) {
                    Some(&s) => s,
                    None => {
                        let s = &c.series[idx as usize];
                        let id = live.counter_series(t.str(s.name), t.str(s.unit), s.device);
                        self.series.insert(idx, id);
                        id
                    }
                };
                live.counter_sample(series, c.time_ns[i] + o, c.value[i]);
                self.counter += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_parse_with_ranges() {
        assert_eq!(Speed::parse("4"), Ok(Speed::Times(4.0)));
        assert_eq!(Speed::parse("4x"), Ok(Speed::Times(4.0)));
        assert_eq!(Speed::parse("MAX"), Ok(Speed::Max));
        assert!(Speed::parse("0").is_err());
        assert!(Speed::parse("1e9").is_err());
        assert!(Speed::parse("fast").is_err());
        let p = Pacer { speed: Speed::Times(2.0), start_ns: 100 };
        assert_eq!(p.target_ns(50), 200);
        assert_eq!(Pacer { speed: Speed::Max, start_ns: 0 }.target_ns(1), i64::MAX);
    }
}
