//! The per-kernel-name summary on traces with many distinct names
//! (torch.compile and Triton traces carry tens of thousands): the same figures
//! as a naive group-by, at a cost that does not grow with the number of names.

use std::collections::BTreeMap;
use std::time::Instant;

use boundscope_analysis::tables::{kernel_groups, kernels_frame};
use boundscope_analysis::{AnalysisSpec, LaunchTable, analyze};
use boundscope_trace::{ActivityIn, ActivityKind, ApiCallIn, Diagnostics, Trace, TraceBuilder};

fn launch(b: &mut TraceBuilder, corr: u64, call_ns: i64, kernel: (&str, i64, i64)) {
    b.api_call(ApiCallIn {
        name: "cudaLaunchKernel",
        pid: 1,
        tid: 1,
        start_ns: call_ns,
        end_ns: call_ns + 4_000,
        correlation: corr,
        external_id: 0,
    });
    let mut a = ActivityIn::new(ActivityKind::Kernel, kernel.0, 0, 7, kernel.1, kernel.2);
    a.correlation = corr;
    b.gpu_activity(a);
}

/// `n` kernels with names `k{i % names}`; durations vary with `i`.
fn named_trace(n: usize, names: usize) -> Trace {
    let mut b = TraceBuilder::new("test");
    for i in 0..n {
        let t = i as i64 * 20_000;
        let dur = 1_000 + (i as i64 * 7_919) % 5_000;
        launch(
            &mut b,
            i as u64 + 1,
            t,
            (&format!("k{}", i % names), t + 6_000 + (i as i64 % 3) * 500, t + 6_000 + dur),
        );
    }
    b.finish()
}

fn launch_table(t: &Trace) -> LaunchTable {
    boundscope_analysis::launches::build_launch_table(t, &mut Diagnostics::default()).0
}

#[test]
fn kernel_groups_match_a_naive_group_by() {
    let t = named_trace(5_000, 37);
    let l = launch_table(&t);
    let groups = kernel_groups(&t, &l);
    let a = &t.activities;
    let mut naive: BTreeMap<&str, Vec<(i64, i64)>> = BTreeMap::new();
    for r in 0..l.len() {
        let i = l.activity[r] as usize;
        naive.entry(t.str(a.name[i])).or_default().push((a.end_ns[i] - a.start_ns[i], l.launch_to_start_ns[r]));
    }
    assert_eq!(groups.len(), naive.len());
    for g in &groups {
        let rows = &naive[t.str(g.name)];
        let mut d: Vec<i64> = rows.iter().map(|r| r.0).collect();
        d.sort_unstable();
        let total: i64 = d.iter().sum();
        let n = d.len();
        let p50 = if n % 2 == 1 { d[n / 2] as f64 } else { (d[n / 2 - 1] + d[n / 2]) as f64 / 2.0 };
        let l2s: i64 = rows.iter().map(|r| r.1.max(0)).sum();
        assert_eq!((g.count, g.total_ns, g.min_ns, g.max_ns), (n as u64, total, d[0], d[n - 1]));
        assert_eq!(g.p50_ns, p50);
        assert_eq!(g.mean_ns, total as f64 / n as f64);
        assert_eq!(g.mean_launch_to_start_ns, Some(l2s as f64 / n as f64));
        assert_eq!(g.matched, n as u64);
    }
    // Sorted by total time, descending; the frame has the same rows.
    assert!(groups.windows(2).all(|w| w[0].total_ns >= w[1].total_ns));
    let df = kernels_frame(&t, &l).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(df.height(), groups.len());
}

/// Grouping used to cost a dataframe per name: 50,000 names took 200 times
/// as long as 10 names for the same events. Now both are one sort.
#[test]
fn many_distinct_names_cost_about_what_few_do() {
    let spec = AnalysisSpec::default();
    let time = |names: usize| {
        let t = named_trace(100_000, names);
        let t0 = Instant::now();
        let a = analyze(&t, "names", &spec).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.report.top_kernels.by_total_time.len(), 10);
        t0.elapsed().as_secs_f64()
    };
    let few = time(10);
    let many = time(50_000);
    // Generous against noise on a shared machine; the old cost was 200x.
    assert!(many < 5.0 * few + 0.5, "10 names: {few:.2} s, 50,000 names: {many:.2} s");
}
