//! boundscope's numbers on every shared trace against numbers computed
//! without it (testdata/hta/README.md):
//! - per-launch `queue_ns` restricted to the launches Holistic Trace Analysis
//!   0.5.0 reports reproduces its `get_cuda_kernel_launch_stats` rows exactly,
//!   once HTA's own rounding and last-step rule are applied;
//! - exact-nanosecond TKLQT, queue time, kernel time and per-step TKLQT equal
//!   those of the independent oracle (testdata/hta/oracle.py).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use boundscope_analysis::{AnalysisSpec, analyze};
use boundscope_trace::time::ns_to_us_text;
use boundscope_trace::{Trace, profiler_step_number, read_kineto};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata").join(rel)
}

/// Exact figures from testdata/hta/oracle_summary.json (oracle.py), in ns.
struct Oracle {
    trace: &'static str,
    kernels: u64,
    unmatched_kernels: u64,
    graph_internal: u64,
    tklqt_all_ns: i64,
    tklqt_heads_ns: i64,
    /// Sum and count of max(0, k.start - l.end) over cudaLaunchKernel,
    /// cudaLaunchKernelExC, cudaMemcpyAsync and cudaMemsetAsync launches.
    queue_ns: i64,
    queue_count: u64,
    kernel_dur_sum_ns: i64,
    /// (step number, kernels starting in it, TKLQT of its graph-head kernels)
    steps: &'static [(i64, u64, i64)],
}

const ORACLE: &[Oracle] = &[
    Oracle {
        trace: "a100_ddp_train",
        kernels: 2700,
        unmatched_kernels: 0,
        graph_internal: 0,
        tklqt_all_ns: 114_152_531,
        tklqt_heads_ns: 114_152_531,
        queue_ns: 103_192_251,
        queue_count: 3774,
        kernel_dur_sum_ns: 162_532_340,
        steps: &[(4, 900, 38_414_707), (5, 900, 36_999_039), (6, 900, 38_738_785)],
    },
    Oracle {
        trace: "a100_simple_add",
        kernels: 79,
        unmatched_kernels: 0,
        graph_internal: 0,
        tklqt_all_ns: 4_230_680_000,
        tklqt_heads_ns: 4_230_680_000,
        queue_ns: 10_264_000,
        queue_count: 98,
        kernel_dur_sum_ns: 10_728_000,
        steps: &[],
    },
    Oracle {
        trace: "cpu_only",
        kernels: 0,
        unmatched_kernels: 0,
        graph_internal: 0,
        tklqt_all_ns: 0,
        tklqt_heads_ns: 0,
        queue_ns: 0,
        queue_count: 0,
        kernel_dur_sum_ns: 0,
        steps: &[(551, 0, 0)],
    },
    Oracle {
        trace: "mi250_train_hip",
        kernels: 14,
        unmatched_kernels: 0,
        graph_internal: 0,
        tklqt_all_ns: 6_730_880,
        tklqt_heads_ns: 6_730_880,
        queue_ns: 0,
        queue_count: 0,
        kernel_dur_sum_ns: 110_881,
        steps: &[(1, 14, 6_730_880), (2, 0, 0)],
    },
    Oracle {
        trace: "old_format_inference",
        kernels: 4,
        unmatched_kernels: 0,
        graph_internal: 0,
        tklqt_all_ns: 49_000,
        tklqt_heads_ns: 49_000,
        queue_ns: 3_000,
        queue_count: 4,
        kernel_dur_sum_ns: 30_000,
        steps: &[],
    },
    Oracle {
        trace: "v100_train_cuda_graphs",
        kernels: 9876,
        unmatched_kernels: 546,
        graph_internal: 4452,
        tklqt_all_ns: 372_943_841_000,
        tklqt_heads_ns: 193_101_191_000,
        queue_ns: 389_462_704_000,
        queue_count: 9972,
        kernel_dur_sum_ns: 801_858_000,
        steps: &[
            (1009, 1274, 8_410_466_000),
            (1010, 1609, 39_203_574_000),
            (1011, 2297, 55_555_952_000),
            (1012, 1007, 1_340_233_000),
            (1013, 1393, 29_028_834_000),
            (1014, 2263, 59_475_801_000),
        ],
    },
    Oracle {
        trace: "v100_train_ns_timestamps",
        kernels: 4350,
        unmatched_kernels: 0,
        graph_internal: 0,
        tklqt_all_ns: 291_962_840_657,
        tklqt_heads_ns: 291_962_840_657,
        queue_ns: 418_637_223_421,
        queue_count: 6095,
        kernel_dur_sum_ns: 468_153_602,
        steps: &[
            (101, 285, 3_389_270_008),
            (102, 624, 23_284_047_655),
            (103, 870, 66_299_182_122),
            (104, 870, 67_349_460_426),
            (105, 870, 67_310_618_288),
        ],
    },
];

const HTA_LAUNCH_NAMES: [&str; 4] = ["cudaLaunchKernel", "cudaLaunchKernelExC", "cudaMemcpyAsync", "cudaMemsetAsync"];

fn load(name: &str) -> Trace {
    read_kineto(&data(&format!("traces/{name}.json.gz"))).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn exact_nanosecond_figures_match_the_oracle() {
    for o in ORACLE {
        let trace = load(o.trace);
        let a = analyze(&trace, o.trace, &AnalysisSpec::default()).unwrap_or_else(|e| panic!("{e}"));
        let w = &a.report.trace_window;
        assert_eq!(w.kernels, o.kernels, "{}: kernels", o.trace);
        assert_eq!(a.report.unmatched.kernels, o.unmatched_kernels, "{}: unmatched", o.trace);
        assert_eq!(w.graph_internal_kernels, o.graph_internal, "{}: graph-internal", o.trace);
        assert_eq!(w.tklqt_all_ns, o.tklqt_all_ns, "{}: TKLQT over all matched kernels", o.trace);
        assert_eq!(w.tklqt_ns, o.tklqt_heads_ns, "{}: TKLQT", o.trace);
        assert_eq!(w.kernel_time_ns, o.kernel_dur_sum_ns, "{}: kernel time", o.trace);

        let l = &a.launches;
        let (mut queue, mut count) = (0i64, 0u64);
        for r in 0..l.len() {
            let name = trace.str(trace.api.name[l.api[r] as usize]);
            if HTA_LAUNCH_NAMES.contains(&name) {
                queue += l.queue_ns[r];
                count += 1;
            }
        }
        assert_eq!((queue, count), (o.queue_ns, o.queue_count), "{}: queue time", o.trace);

        let steps: Vec<(i64, u64, i64)> =
            a.report.steps.iter().map(|s| (s.step.unwrap_or(-1), s.kernels, s.tklqt_ns)).collect();
        assert_eq!(steps, o.steps, "{}: steps", o.trace);
    }
}

/// One row of HTA's `get_cuda_kernel_launch_stats` (microseconds).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
struct HtaRow {
    correlation: u64,
    cpu_duration: f64,
    gpu_duration: f64,
    launch_delay: f64,
}

fn hta_rows(trace: &str) -> Vec<HtaRow> {
    let f = std::fs::File::open(data(&format!("hta/{trace}.launch_stats.csv.gz"))).expect("HTA rows");
    let mut text = String::new();
    flate2::read::GzDecoder::new(f).read_to_string(&mut text).expect("gunzip");
    let mut rows: Vec<HtaRow> = text
        .lines()
        .skip(1)
        .map(|line| {
            let v: Vec<&str> = line.split(',').collect();
            let f = |i: usize| v[i].parse::<f64>().expect("number");
            HtaRow {
                correlation: v[0].parse().expect("correlation"),
                cpu_duration: f(1),
                gpu_duration: f(2),
                launch_delay: f(3),
            }
        })
        .collect();
    rows.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    rows
}

/// A boundscope ns time as HTA holds it: the float64 of the microsecond text.
fn hta_float_us(trace: &Trace, rel_ns: i64) -> f64 {
    ns_to_us_text(trace.meta.origin_ns + rel_ns).parse().expect("float")
}

#[test]
fn queue_times_reproduce_hta_launch_delays() {
    for o in ORACLE {
        let trace = load(o.trace);
        let a = analyze(&trace, o.trace, &AnalysisSpec::default()).unwrap_or_else(|e| panic!("{e}"));
        // HTA's last-step rule: with two or more distinct ProfilerStep names, drop
        // launches starting at or after the (rounded) start of the last one. Its
        // "CPU rows" include gpu_user_annotation ranges.
        let mut step_starts: BTreeMap<i64, f64> = BTreeMap::new();
        for s in &trace.steps {
            step_starts.entry(s.number).or_insert(f64::MIN);
        }
        let mut cutoff = f64::MIN;
        for s in &trace.steps {
            cutoff = cutoff.max(hta_float_us(&trace, s.start_ns).ceil());
        }
        let g = &trace.gpu_annotations;
        for i in 0..g.len() {
            if let Some(n) = profiler_step_number(trace.str(g.name[i])) {
                step_starts.entry(n).or_insert(f64::MIN);
                cutoff = cutoff.max(hta_float_us(&trace, g.start_ns[i]).ceil());
            }
        }
        let drop_last = step_starts.len() >= 2;

        let l = &a.launches;
        let mut ours = Vec::new();
        for r in 0..l.len() {
            let li = l.api[r] as usize;
            if !HTA_LAUNCH_NAMES.contains(&trace.str(trace.api.name[li])) {
                continue;
            }
            let ai = l.activity[r] as usize;
            let ls = hta_float_us(&trace, trace.api.start_ns[li]);
            let l_dur: f64 = ns_to_us_text(trace.api.end_ns[li] - trace.api.start_ns[li]).parse().expect("dur");
            let k_start = hta_float_us(&trace, trace.activities.start_ns[ai]);
            let k_dur: f64 = ns_to_us_text(trace.activities.dur_ns(ai)).parse().expect("dur");
            let (l_ts, l_end) = (ls.ceil(), (ls + l_dur).floor());
            let (k_ts, k_end) = (k_start.ceil(), (k_start + k_dur).floor());
            if drop_last && l_ts >= cutoff {
                continue;
            }
            // Our exact queue time, rounded as HTA rounds, is HTA's launch delay.
            let rounded_queue = (k_ts - l_end).max(0.0);
            let exact_queue_us = l.queue_ns[r] as f64 / 1000.0;
            assert!(
                (rounded_queue - exact_queue_us).abs() <= 2.0,
                "{}: correlation {}: rounding moved queue time by more than 2 us",
                o.trace,
                trace.activities.correlation[ai]
            );
            ours.push(HtaRow {
                correlation: trace.activities.correlation[ai],
                cpu_duration: l_end - l_ts,
                gpu_duration: k_end - k_ts,
                launch_delay: rounded_queue,
            });
        }
        ours.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
        let hta = hta_rows(o.trace);
        assert_eq!(ours.len(), hta.len(), "{}: number of launches", o.trace);
        assert_eq!(ours, hta, "{}: HTA rows", o.trace);
    }
}
