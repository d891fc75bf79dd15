//! The launch-to-activity arrows of the Chrome trace export, read back the way
//! a viewer binds them, on every shared trace: each arrow must leave the
//! launch call it belongs to and reach that call's GPU activity.
//!
//! Both flow encodings are bound here as the legacy Chrome trace viewer
//! (catapult's `trace_event_importer`) binds them, so the test holds whatever
//! encoding the exporter writes:
//!
//! - v1 (`ph: "s"` / `ph: "f"` with `bp: "e"`): each end goes to the deepest
//!   slice of its track whose closed interval `[ts, ts + dur]` holds the
//!   event's `ts`, the earlier one when two touch (`findSliceAtTs`). Where a
//!   launch call ends exactly where the next one starts, the arrow leaves the
//!   wrong call.
//! - v2 (`bind_id` with `flow_out` / `flow_in` on the `X` slices themselves):
//!   each end is the slice that carries it. Perfetto binds v2 the same way.
//!
//! Either way, the viewer meets the ends in time order (ties: file order) and
//! drops an arrow whose end comes before its start.

mod common;

use common::{TRACES, load};

use std::collections::BTreeMap;

use boundscope_analysis::Analysis;
use boundscope_reports::chrome::write_chrome_json;
use boundscope_trace::Trace;
use serde_json::Value;

fn ns(v: &Value) -> i64 {
    (v.as_f64().unwrap_or_else(|| panic!("number, got {v}")) * 1000.0).round() as i64
}

/// One `X` slice of the export.
#[derive(Debug, Clone, Copy)]
struct Slice {
    start: i64,
    end: i64,
    /// Index in `traceEvents`.
    event: usize,
}

/// A track's slices as the legacy viewer nests them.
#[derive(Debug, Default)]
struct Track {
    slices: Vec<Slice>,
    /// Per slice (by position in `slices`), its children; `top` the roots.
    children: Vec<Vec<usize>>,
    top: Vec<usize>,
}

impl Track {
    fn build(&mut self) {
        self.slices.sort_by_key(|s| (s.start, std::cmp::Reverse(s.end), s.event));
        self.children = vec![Vec::new(); self.slices.len()];
        let mut open: Vec<usize> = Vec::new();
        for i in 0..self.slices.len() {
            let s = self.slices[i];
            while open.last().is_some_and(|&p| !(self.slices[p].start <= s.start && s.end <= self.slices[p].end)) {
                open.pop();
            }
            match open.last() {
                Some(&p) => self.children[p].push(i),
                None => self.top.push(i),
            }
            open.push(i);
        }
    }

    /// catapult's `findIndexInSortedClosedIntervals`: the interval holding
    /// `ts`, the earlier of two that touch at it.
    fn closed_find(&self, list: &[usize], ts: i64) -> Option<usize> {
        let i = list.partition_point(|&k| self.slices[k].start < ts);
        let holds = |k: usize| self.slices[k].start <= ts && ts <= self.slices[k].end;
        if i > 0 && holds(list[i - 1]) {
            return Some(list[i - 1]);
        }
        if i < list.len() && holds(list[i]) {
            return Some(list[i]);
        }
        None
    }

    /// catapult's `SliceGroup.findSliceAtTs`: the deepest slice at `ts`.
    fn slice_at(&self, ts: i64) -> Option<usize> {
        let mut cur = self.closed_find(&self.top, ts)?;
        while let Some(k) = self.closed_find(&self.children[cur], ts) {
            cur = k;
        }
        Some(self.slices[cur].event)
    }
}

/// The slices (event indices) each arrow binds to, by flow id, as the viewer
/// binds them; `dropped` counts arrows it would not draw.
#[derive(Debug, Default)]
struct Bound {
    arrows: BTreeMap<u64, (Option<usize>, Option<usize>)>,
    dropped: u64,
}

fn bind(events: &[Value]) -> Bound {
    let mut tracks: BTreeMap<(i64, i64), Track> = BTreeMap::new();
    for (k, e) in events.iter().enumerate() {
        if e["ph"] == "X" {
            let (s, d) = (ns(&e["ts"]), ns(&e["dur"]));
            let key = (e["pid"].as_i64().unwrap_or(0), e["tid"].as_i64().unwrap_or(0));
            tracks.entry(key).or_default().slices.push(Slice { start: s, end: s + d, event: k });
        }
    }
    for t in tracks.values_mut() {
        t.build();
    }
    // (ts, file order, flow id, is the start, bound slice)
    let mut ends: Vec<(i64, usize, u64, bool, Option<usize>)> = Vec::new();
    for (k, e) in events.iter().enumerate() {
        let key = || (e["pid"].as_i64().unwrap_or(0), e["tid"].as_i64().unwrap_or(0));
        match e["ph"].as_str() {
            Some("s" | "f") => {
                let id = e["id"].as_u64().unwrap_or_else(|| panic!("flow id: {e}"));
                let at = tracks.get(&key()).and_then(|t| t.slice_at(ns(&e["ts"])));
                ends.push((ns(&e["ts"]), k, id, e["ph"] == "s", at));
            }
            Some("X") if e.get("bind_id").is_some() => {
                let id = e["bind_id"].as_u64().unwrap_or_else(|| panic!("numeric bind_id: {e}"));
                // catapult ignores a bind_id that is not truthy.
                assert_ne!(id, 0, "bind_id 0 is ignored by the legacy viewer: {e}");
                let (out, inn) = (e["flow_out"] == true, e["flow_in"] == true);
                assert!(out != inn, "a slice is one end of an arrow here: {e}");
                ends.push((ns(&e["ts"]), k, id, out, Some(k)));
            }
            _ => {}
        }
    }
    ends.sort_by_key(|x| (x.0, x.1));
    let mut b = Bound::default();
    for (_, _, id, is_start, at) in ends {
        let arrow = b.arrows.entry(id).or_insert((None, None));
        if is_start {
            assert!(arrow.0.is_none(), "flow {id} started twice");
            arrow.0 = Some(at.unwrap_or(usize::MAX));
        } else if arrow.0.is_none() {
            // An end before its start: the viewer warns and draws nothing.
            b.dropped += 1;
            arrow.1 = Some(usize::MAX);
        } else {
            assert!(arrow.1.is_none(), "flow {id} ended twice");
            arrow.1 = Some(at.unwrap_or(usize::MAX));
        }
    }
    b
}

/// The arrows the export should draw: per correlation id, the launch call's
/// start and the start, device and stream of its activity (the first one
/// that is not graph-internal, as the exporter links them).
fn intended(t: &Trace, a: &Analysis) -> BTreeMap<u64, (i64, i64, u32, u32)> {
    let l = &a.launches;
    let mut seen = vec![false; t.api.len()];
    let mut m = BTreeMap::new();
    for r in 0..l.len() {
        let (api, act) = (l.api[r] as usize, l.activity[r] as usize);
        if l.graph_internal[r] || seen[api] {
            continue;
        }
        seen[api] = true;
        let x = &t.activities;
        let prev =
            m.insert(t.api.correlation[api], (t.api.start_ns[api], x.start_ns[act], x.device[act], x.stream[act]));
        assert!(prev.is_none(), "correlation {} names two launch calls", t.api.correlation[api]);
    }
    m
}

/// Checks every arrow of `name`'s export; returns (arrows, wrongly bound, dropped).
fn check(name: &str) -> (usize, usize, u64) {
    let (t, a) = load(name);
    let mut json = Vec::new();
    write_chrome_json(&t, &a, &mut json).unwrap_or_else(|e| panic!("{e}"));
    let doc: Value = serde_json::from_slice(&json).unwrap_or_else(|e| panic!("{name}: {e}"));
    let events = doc["traceEvents"].as_array().expect("traceEvents");
    let bound = bind(events);
    let want = intended(&t, &a);
    assert_eq!(
        bound.arrows.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{name}: one arrow per launch"
    );
    let (mut wrong, mut wrong_from, mut wrong_to) = (0, 0, 0);
    let mut examples = Vec::new();
    for (id, (from, to)) in &bound.arrows {
        let (api_start, act_start, device, stream) = want[id];
        let from_ok = from.and_then(|k| events.get(k)).is_some_and(|e| {
            matches!(e["cat"].as_str(), Some("cuda_runtime" | "cuda_driver"))
                && e["args"]["correlation"] == *id
                && ns(&e["ts"]) == api_start
        });
        let dropped = *to == Some(usize::MAX);
        let to_ok = to.and_then(|k| events.get(k)).is_some_and(|e| {
            matches!(e["cat"].as_str(), Some("kernel" | "gpu_memcpy" | "gpu_memset"))
                && e["args"]["correlation"] == *id
                && ns(&e["ts"]) == act_start
                && e["args"]["device"] == device
                && e["args"]["stream"] == stream
        });
        let bound_right = from_ok && to_ok;
        if !dropped && !bound_right {
            wrong += 1;
            wrong_from += usize::from(!from_ok);
            wrong_to += usize::from(!to_ok);
            if examples.len() < 3 {
                let show = |k: &Option<usize>| k.and_then(|k| events.get(k)).map(Value::to_string);
                examples.push(format!("flow {id}: from {:?} to {:?}", show(from), show(to)));
            }
        }
    }
    if wrong > 0 {
        eprintln!("{name}: {wrong_from} leave the wrong slice, {wrong_to} reach the wrong slice, e.g. {examples:#?}");
    }
    (want.len(), wrong, bound.dropped)
}

#[test]
fn every_arrow_joins_its_launch_call_and_its_activity() {
    let mut failed = Vec::new();
    for name in TRACES {
        let (arrows, wrong, dropped) = check(name);
        eprintln!("{name}: {arrows} arrows, {wrong} bound to the wrong slice, {dropped} end before they start");
        if wrong > 0 {
            failed.push(format!("{name}: {wrong} of {arrows}"));
        }
    }
    assert!(failed.is_empty(), "arrows bound to the wrong slice: {failed:?}");
}
