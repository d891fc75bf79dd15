//! The fusion suggestions on the Chrome trace export's advice tracks, on
//! every shared trace: each occurrence is a slice on its stream's advice
//! track that spans exactly the chain's kernels, in order; no kernel launch
//! belongs to two occurrences; every suggestion that saves time is drawn.

mod common;

use common::{TRACES, load};

use std::collections::{BTreeMap, BTreeSet};

use boundscope_reports::chrome::write_chrome_json;
use serde_json::Value;

fn ns(v: &Value) -> i64 {
    (v.as_f64().unwrap_or_else(|| panic!("number, got {v}")) * 1000.0).round() as i64
}

/// A kernel as exported: (start, end, name, GPU pid).
type Kernel<'a> = (i64, i64, &'a str, i64);

fn track(e: &Value) -> (i64, i64) {
    (e["pid"].as_i64().expect("pid"), e["tid"].as_i64().expect("tid"))
}

#[test]
fn fusion_occurrences_span_their_chains() {
    let mut drawn_total = 0;
    for name in TRACES {
        let (t, a) = load(name);
        let mut json = Vec::new();
        write_chrome_json(&t, &a, &mut json).unwrap_or_else(|e| panic!("{e}"));
        let doc: Value = serde_json::from_slice(&json).unwrap_or_else(|e| panic!("{name}: {e}"));
        let events = doc["traceEvents"].as_array().expect("traceEvents");

        let thread_name: BTreeMap<(i64, i64), &str> = events
            .iter()
            .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
            .map(|e| (track(e), e["args"]["name"].as_str().expect("name")))
            .collect();
        // Kernels per (device, stream), in start order: (start, end, name, GPU pid).
        let mut kernels: BTreeMap<(u64, u64), Vec<Kernel<'_>>> = BTreeMap::new();
        for e in events.iter().filter(|e| e["ph"] == "X" && e["cat"] == "kernel") {
            let key = (e["args"]["device"].as_u64().expect("device"), e["args"]["stream"].as_u64().expect("stream"));
            let s = ns(&e["ts"]);
            kernels.entry(key).or_default().push((s, s + ns(&e["dur"]), e["name"].as_str().expect("name"), track(e).0));
        }
        for v in kernels.values_mut() {
            v.sort();
        }

        let fusion = &a.report.advice.fusion;
        let mut per_suggestion = vec![0u64; fusion.len()];
        let mut used: BTreeSet<(u64, u64, i64)> = BTreeSet::new();
        let mut optimizer_slices = 0;
        for e in events.iter().filter(|e| e["ph"] == "X" && e["cat"] == "boundscope_derived") {
            if e["name"].as_str().is_some_and(|n| n.starts_with("optimizer: ")) {
                // The optimizer update's span in a step: on its stream's advice
                // track, covering update kernels only of that stream.
                let u = a.report.advice.optimizer.as_ref().unwrap_or_else(|| panic!("{name}: no optimizer advice"));
                let tn = thread_name.get(&track(e)).copied().unwrap_or_default();
                assert!(tn.starts_with(&format!("GPU {} stream {} advice", u.device, u.stream)), "{name}: {tn:?}");
                let (s, end) = (ns(&e["ts"]), ns(&e["ts"]) + ns(&e["dur"]));
                assert!(u.spans_ns.iter().any(|&[a0, a1]| (a0 - s).abs() <= 1 && (a1 - end).abs() <= 1), "{name}: {e}");
                optimizer_slices += 1;
                continue;
            }
            let rank = e["args"]["suggestion"].as_u64().unwrap_or_else(|| panic!("{name}: {e}")) as usize;
            let c = &fusion[rank - 1];
            per_suggestion[rank - 1] += 1;
            let (device, stream) = (u64::from(c.device), u64::from(c.stream));
            assert_eq!((e["args"]["device"].as_u64(), e["args"]["stream"].as_u64()), (Some(device), Some(stream)));
            let names: Vec<&str> =
                e["args"]["kernels"].as_array().expect("kernels").iter().filter_map(Value::as_str).collect();
            assert_eq!(names, c.kernels, "{name}: the slice names the suggestion's kernels");
            assert!(e["name"].as_str().is_some_and(|n| n.starts_with(&format!("fuse #{rank}: "))), "{name}: {e}");
            let tn = thread_name.get(&track(e)).copied().unwrap_or_default();
            assert!(tn.starts_with(&format!("GPU {device} stream {stream} advice")), "{name}: on track {tn:?}");

            let (s, end) = (ns(&e["ts"]), ns(&e["ts"]) + ns(&e["dur"]));
            let inside: Vec<&Kernel<'_>> =
                kernels[&(device, stream)].iter().filter(|k| k.0 >= s && k.1 <= end).collect();
            let inside_names: Vec<&str> = inside.iter().map(|k| k.2).collect();
            assert_eq!(inside_names, c.kernels, "{name}: the slice [{s}, {end}] spans exactly the chain");
            assert_eq!(
                (inside[0].0, inside[inside.len() - 1].1),
                (s, end),
                "{name}: from the first start to the last end"
            );
            assert!(inside.iter().all(|k| k.3 == track(e).0), "{name}: in the GPU's process");
            for k in inside {
                assert!(used.insert((device, stream, k.0)), "{name}: a kernel in two occurrences");
            }
        }
        for (c, n) in fusion.iter().zip(&per_suggestion) {
            eprintln!(
                "{name}: {} kernels on stream {}: {n} occurrences drawn ({} counted, {} CPU-bound)",
                c.kernels.len(),
                c.stream,
                c.occurrences,
                c.cpu_bound_occurrences
            );
            if c.total_saving_ns > 0 {
                assert!(*n > 0, "{name}: a suggestion that saves time has no occurrence drawn");
            }
        }
        let spans = a.report.advice.optimizer.as_ref().map_or(0, |u| u.spans_ns.len());
        assert_eq!(optimizer_slices, spans, "{name}: one optimizer slice per step");
        drawn_total += per_suggestion.iter().sum::<u64>();
    }
    assert!(drawn_total > 0, "some shared trace has fusion suggestions");
}
