//! The Chrome trace export on every shared trace: it reads back through
//! boundscope's own Kineto reader with the same per-launch figures and window
//! metrics as its source, it follows Perfetto's structural rules (flow pairs,
//! proper nesting per track, named tracks), and its layout is pinned by a
//! snapshot of a small export.

mod common;

use common::{TRACES, load, temp_dir};

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use boundscope_analysis::{Analysis, AnalysisSpec, analyze};
use boundscope_reports::chrome::{CHROME_FORMAT, write_chrome_json, write_chrome_trace};
use boundscope_reports::{ExportError, StreamedFile};
use boundscope_trace::{Trace, read_kineto, read_kineto_bytes};
use serde_json::Value;

fn export(t: &Trace, a: &Analysis) -> Vec<u8> {
    let mut out = Vec::new();
    write_chrome_json(t, a, &mut out).unwrap_or_else(|e| panic!("{e}"));
    out
}

/// Per-launch figures keyed by correlation id; a graph launch's kernels share
/// one id, so each id maps to the sorted list of its activities' figures.
type LaunchRow = (String, i64, i64, i64, i64, i64, i64, i64, bool);

fn launch_figures(t: &Trace, a: &Analysis) -> BTreeMap<u64, Vec<LaunchRow>> {
    let l = &a.launches;
    let act = &t.activities;
    let mut m: BTreeMap<u64, Vec<LaunchRow>> = BTreeMap::new();
    for r in 0..l.len() {
        let i = l.activity[r] as usize;
        m.entry(act.correlation[i]).or_default().push((
            act.kind[i].as_str().to_string(),
            act.start_ns[i],
            act.end_ns[i],
            l.launch_to_start_ns[r],
            l.api_ns[r],
            l.queue_ns[r],
            l.exposed_launch_ns[r],
            l.gap_before_ns[r],
            l.graph_internal[r],
        ));
    }
    for v in m.values_mut() {
        v.sort();
    }
    m
}

#[test]
fn export_reads_back_with_the_same_figures() {
    for name in TRACES {
        let (t, a) = load(name);
        let json = export(&t, &a);
        let back = read_kineto_bytes(&json, Path::new(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(back.diagnostics.is_empty(), "{name}: the export reads back without warnings: {:?}", back.diagnostics);
        let b = analyze(&back, name, &AnalysisSpec::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.meta.origin_ns, 0, "{name}: ts 0 is the first event");
        assert_eq!(back.meta.base_time_ns, Some(t.meta.base_time_ns.unwrap_or(0) + t.meta.origin_ns), "{name}");

        // Per launch: launch_to_start_ns, api_ns, queue_ns (and the rest) per correlation id.
        let (src, got) = (launch_figures(&t, &a), launch_figures(&back, &b));
        assert_eq!(src.len(), got.len(), "{name}: matched correlation ids");
        for (corr, rows) in &src {
            assert_eq!(got.get(corr), Some(rows), "{name}: correlation {corr}");
        }

        // Window metrics and everything derived from them.
        let (ra, rb) = (&a.report, &b.report);
        assert_eq!(rb.trace_window, ra.trace_window, "{name}: whole-trace window");
        assert_eq!(rb.steps, ra.steps, "{name}: step windows");
        assert_eq!(rb.step_median, ra.step_median, "{name}");
        assert_eq!(rb.headline, ra.headline, "{name}");
        assert_eq!(rb.top_kernels, ra.top_kernels, "{name}");
        assert_eq!(rb.memory, ra.memory, "{name}");
        assert_eq!(rb.unmatched, ra.unmatched, "{name}");
        assert_eq!(rb.advice, ra.advice, "{name}");
        assert_eq!(rb.devices, ra.devices, "{name}");
        let mut cb = rb.counts;
        // Overflow tracks read back as threads of their own.
        cb.threads = ra.counts.threads;
        assert_eq!(cb, ra.counts, "{name}");
        // Derived counters (queue depth, busy) are skipped; the trace's own counters come back.
        assert_eq!(back.counters.len(), t.counters.len(), "{name}");
    }
}

#[test]
fn gzip_export_reads_back() {
    let dir = temp_dir("chrome", "gz");
    let (t, a) = load("a100_ddp_train.json.gz");
    let p = dir.join("ddp.json.gz");
    let stats = write_chrome_trace(&t, &a, &p).unwrap_or_else(|e| panic!("{e}"));
    let bytes = std::fs::read(&p).expect("written");
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
    assert!((bytes.len() as u64) < stats.json_bytes / 4, "compressed");
    let back = read_kineto(&p).unwrap_or_else(|e| panic!("{e}"));
    let b = analyze(&back, "x", &AnalysisSpec::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.report.trace_window.tklqt_ns, a.report.trace_window.tklqt_ns);
    assert_eq!(b.launches.len(), a.launches.len());
    // Nothing else in the directory: the temporary file was renamed.
    let names: Vec<String> =
        std::fs::read_dir(&dir).expect("dir").flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, vec!["ddp.json.gz".to_string()]);
    let _ = std::fs::remove_dir_all(&dir);
}

fn ns(v: &Value) -> i64 {
    // Relative microseconds with 3 decimals: a double holds them exactly enough to round.
    (v.as_f64().expect("number") * 1000.0).round() as i64
}

fn id(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("integer id, got {v}"))
}

/// A pid or tid: viewers read them as 32-bit integers.
fn pid_tid(v: &Value) -> i64 {
    let x = id(v);
    assert!(i32::try_from(x).is_ok(), "pid/tid {x} does not fit 32 bits");
    x
}

/// Perfetto's rules, checked on the parsed export.
fn check_structure(name: &str, json: &[u8]) -> Value {
    let doc: Value = serde_json::from_slice(json).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
    assert_eq!(doc["displayTimeUnit"], "ns", "{name}");
    assert_eq!(doc["schemaVersion"], 1, "{name}");
    assert_eq!(doc["otherData"]["format"], CHROME_FORMAT, "{name}");
    let events = doc["traceEvents"].as_array().unwrap_or_else(|| panic!("{name}: traceEvents"));

    let mut process_names = BTreeSet::new();
    let mut thread_names = BTreeSet::new();
    let mut used_pids = BTreeSet::new();
    let mut used_threads = BTreeSet::new();
    let mut slices: BTreeMap<(i64, i64), Vec<(i64, i64)>> = BTreeMap::new();
    let mut process_sorts = BTreeSet::new();
    let mut thread_sorts = BTreeSet::new();
    let mut flow_out: BTreeMap<i64, String> = BTreeMap::new();
    let mut flow_in: BTreeMap<i64, String> = BTreeMap::new();
    for e in events {
        let ph = e["ph"].as_str().unwrap_or_else(|| panic!("{name}: event without ph: {e}"));
        let pid = pid_tid(&e["pid"]);
        match ph {
            "M" => match e["name"].as_str() {
                Some("process_name") => {
                    process_names.insert(pid);
                }
                Some("thread_name") => {
                    thread_names.insert((pid, pid_tid(&e["tid"])));
                }
                Some("process_sort_index") => {
                    assert!(e["args"]["sort_index"].is_i64(), "{name}: {e}");
                    process_sorts.insert(pid);
                }
                Some("thread_sort_index") => {
                    assert!(e["args"]["sort_index"].is_i64(), "{name}: {e}");
                    thread_sorts.insert((pid, pid_tid(&e["tid"])));
                }
                _ => {}
            },
            "X" => {
                let key = (pid, pid_tid(&e["tid"]));
                let (s, d) = (ns(&e["ts"]), ns(&e["dur"]));
                assert!(s >= 0 && d >= 0, "{name}: {e}");
                used_pids.insert(pid);
                used_threads.insert(key);
                slices.entry(key).or_default().push((s, s + d));
                let cat = e["cat"].as_str();
                if matches!(cat, Some("kernel" | "gpu_memcpy" | "gpu_memset")) {
                    assert!(e["args"]["device"].is_u64() && e["args"]["stream"].is_u64(), "{name}: {e}");
                }
                // Flow v2: the launch call carries flow_out, its activity flow_in.
                if e.get("bind_id").is_some() {
                    let fid = id(&e["bind_id"]);
                    assert!(fid > 0, "{name}: bind_id 0 is ignored by the legacy viewer");
                    let (map, want) = if e["flow_out"] == true {
                        assert!(e.get("flow_in").is_none(), "{name}: {e}");
                        (&mut flow_out, "cuda")
                    } else {
                        assert_eq!(e["flow_in"], true, "{name}: a bind_id needs flow_in or flow_out: {e}");
                        (&mut flow_in, "gpu")
                    };
                    let c = cat.unwrap_or_default();
                    assert!(c.starts_with(want) || (want == "gpu" && c == "kernel"), "{name}: flow end on {e}");
                    assert_eq!(e["args"]["correlation"], fid, "{name}: bind_id is the correlation id: {e}");
                    let prev = map.insert(fid, e.to_string());
                    assert!(prev.is_none(), "{name}: flow id {fid} used twice");
                }
            }
            "C" => {
                used_pids.insert(pid);
                let args = e["args"].as_object().unwrap_or_else(|| panic!("{name}: {e}"));
                assert!(args.values().all(Value::is_number), "{name}: counter values are numbers: {e}");
            }
            other => panic!("{name}: unexpected phase {other}"),
        }
    }
    // Every arrow has both ends (reports/tests/chrome_flows.rs checks which slices they are).
    assert_eq!(flow_out.keys().collect::<Vec<_>>(), flow_in.keys().collect::<Vec<_>>(), "{name}: flow pairs");
    // Proper nesting on every track.
    for (key, mut v) in slices {
        v.sort_by_key(|&(s, e)| (s, std::cmp::Reverse(e)));
        let mut open: Vec<i64> = Vec::new();
        for (s, e) in v {
            while open.last().is_some_and(|&end| end <= s) {
                open.pop();
            }
            if let Some(&end) = open.last() {
                assert!(e <= end, "{name}: slice [{s}, {e}] on {key:?} overlaps one ending at {end}");
            }
            open.push(e);
        }
    }
    for p in &used_pids {
        assert!(process_names.contains(p), "{name}: pid {p} has no process_name");
    }
    for p in &used_pids {
        assert!(process_sorts.contains(p), "{name}: pid {p} has no process_sort_index");
    }
    for t in &used_threads {
        assert!(thread_names.contains(t), "{name}: track {t:?} has no thread_name");
        assert!(thread_sorts.contains(t), "{name}: track {t:?} has no thread_sort_index");
    }
    doc
}

#[test]
fn every_export_follows_the_structural_rules() {
    for name in TRACES {
        let (t, a) = load(name);
        let doc = check_structure(name, &export(&t, &a));
        let events = doc["traceEvents"].as_array().expect("events");
        let count = |f: &dyn Fn(&Value) -> bool| events.iter().filter(|e| f(e)).count();
        // One flow per launch call that has a (non-graph-internal) activity.
        let launch_calls: BTreeSet<u32> =
            (0..a.launches.len()).filter(|&r| !a.launches.graph_internal[r]).map(|r| a.launches.api[r]).collect();
        assert_eq!(count(&|e| e["flow_out"] == true), launch_calls.len(), "{name}: flows");
        // One verdict bar per step plus the whole trace.
        let verdicts = count(&|e| e["cat"] == "boundscope_verdict");
        assert_eq!(verdicts, a.report.steps.len() + 1, "{name}: verdict bars");
        // Every kernel, copy and fill is there.
        let gpu = count(&|e| matches!(e["cat"].as_str(), Some("kernel" | "gpu_memcpy" | "gpu_memset")));
        assert_eq!(gpu, t.activities.len(), "{name}");
    }
}

#[test]
fn gpu_tracks_move_when_a_host_pid_equals_a_device_id() {
    // A host process with pid 0 next to device 0: the GPU process moves, its
    // args keep the real device and stream.
    let doc = br#"{"traceEvents":[
      {"ph":"X","cat":"cuda_runtime","name":"cudaLaunchKernel","pid":0,"tid":1,"ts":0,"dur":5,"args":{"correlation":1}},
      {"ph":"X","cat":"kernel","name":"k","pid":0,"tid":7,"ts":10,"dur":2,"args":{"device":0,"stream":7,"correlation":1}},
      {"ph":"X","cat":"kernel","name":"k2","pid":0,"tid":7,"ts":11,"dur":4,"args":{"device":0,"stream":7}}
    ]}"#;
    let t = read_kineto_bytes(doc, Path::new("collide.json")).unwrap_or_else(|e| panic!("{e}"));
    let a = analyze(&t, "collide.json", &AnalysisSpec::default()).unwrap_or_else(|e| panic!("{e}"));
    let json = export(&t, &a);
    let doc = check_structure("collide", &json);
    let events = doc["traceEvents"].as_array().expect("events");
    let kernels: Vec<&Value> = events.iter().filter(|e| e["cat"] == "kernel").collect();
    assert_eq!(kernels.len(), 2);
    for k in &kernels {
        assert_ne!(k["pid"], 0, "GPU pid moved off the host pid");
        assert_eq!(k["args"]["device"], 0);
        assert_eq!(k["args"]["stream"], 7);
    }
    // k2 overlaps k partially: it is on an overflow track of the same stream.
    assert_ne!(kernels[0]["tid"], kernels[1]["tid"]);
    let overflow = events
        .iter()
        .find(|e| e["name"] == "thread_name" && e["tid"] == kernels[1]["tid"] && e["pid"] == kernels[1]["pid"])
        .expect("overflow track named");
    assert_eq!(overflow["args"]["name"], "GPU 0 stream 7 (overlap 1)");
    // And it still reads back as the same two kernels on device 0, stream 7.
    let back = read_kineto_bytes(&json, Path::new("collide")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.activities.device, vec![0, 0]);
    assert_eq!(back.activities.stream, vec![7, 7]);
}

#[test]
fn small_export_layout() {
    let (t, a) = load("old_format_inference.json.gz");
    let json = String::from_utf8(export(&t, &a)).expect("utf-8");
    let json = json.replace(env!("CARGO_PKG_VERSION"), "VERSION");
    insta::assert_snapshot!("chrome_old_format_inference", json);
}

/// A writer that fails after `left` bytes, like a full disk.
struct FailAfter {
    left: usize,
}

impl Write for FailAfter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() > self.left {
            return Err(std::io::Error::other("disk full"));
        }
        self.left -= buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failing_writer_stops_the_export_with_its_error() {
    let (t, a) = load("a100_ddp_train.json.gz");
    let err = write_chrome_json(&t, &a, FailAfter { left: 1 << 20 }).expect_err("fails half way");
    assert_eq!(err.to_string(), "disk full");
}

#[test]
fn an_unfinished_file_leaves_nothing_behind() {
    let dir = temp_dir("chrome", "unfinished");
    for name in ["half.json", "half.json.gz"] {
        let p = dir.join(name);
        let mut f = StreamedFile::create(&p).unwrap_or_else(|e| panic!("{e}"));
        // More than one compressor buffer, so the gzip thread has written some.
        for _ in 0..3000 {
            f.write_all(&[b'x'; 1000]).expect("write");
        }
        drop(f);
        let left: Vec<_> = std::fs::read_dir(&dir).expect("dir").flatten().map(|e| e.file_name()).collect();
        assert!(left.is_empty(), "{name}: {left:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unwritable_destination_is_an_io_error_naming_the_file() {
    let (t, a) = load("old_format_inference.json.gz");
    let p = Path::new("/nonexistent-dir/out.json.gz");
    match write_chrome_trace(&t, &a, p) {
        Err(e @ ExportError::Io { .. }) => assert!(e.to_string().contains("/nonexistent-dir/out.json.gz"), "{e}"),
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

#[test]
fn a_simulated_trace_says_so() {
    let (mut t, a) = load("old_format_inference.json.gz");
    t.meta.simulated = true;
    let doc: Value = serde_json::from_slice(&export(&t, &a)).expect("json");
    assert_eq!(doc["otherData"]["simulated"], true);
    let labels: Vec<&str> = doc["traceEvents"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["name"] == "process_labels")
        .filter_map(|e| e["args"]["labels"].as_str())
        .collect();
    assert!(labels.contains(&"CPU (model)"), "{labels:?}");
    assert!(labels.contains(&"simulated"), "GPU process labelled: {labels:?}");
}
