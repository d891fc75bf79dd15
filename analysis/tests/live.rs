//! The live analysis against the batch analysis: replaying a trace through
//! [`LiveAnalyzer`] (small chunks, a short retention so that pruning runs all
//! the time) gives, once the source ends, the per-step figures of
//! `boundscope analyze` field for field, and per time window the figures the
//! batch code computes for the same window on the whole trace; its advice is
//! the batch advice over the same steps. Also: windows become final in order,
//! a late record lands in its window, memory stays bounded.

mod common;

use boundscope_analysis::advice::{FusionCandidate, advise};
use boundscope_analysis::live::{Closed, LiveAnalyzer, LiveSpec, TraceReplay};
use boundscope_analysis::{AnalysisSpec, WindowContext, WindowMetrics, analyze, launches, queue};
use boundscope_trace::{
    ActivityIn, ActivityKind, ApiCallIn, Diagnostics, HostOpIn, HostOpKind, Trace, TraceBuilder, read_trace,
};

/// Replays `trace` in chunks of `chunk_ns` trace time, publishing after each.
/// Returns the final windows, the final steps, the most rows retained at
/// once, and how many windows became final before the source ended.
fn replay(trace: Trace, spec: LiveSpec, chunk_ns: i64) -> (Vec<WindowMetrics>, Vec<WindowMetrics>, usize, usize) {
    let mut live = LiveAnalyzer::new(spec, "test");
    live.set_origin(0);
    let mut r = TraceReplay::new(trace, 0);
    let (mut windows, mut steps) = (Vec::new(), Vec::new());
    let mut until = r.next_start().unwrap_or(0);
    let mut max_retained = 0;
    let mut last_seq = 0;
    while !r.done() {
        until += chunk_ns;
        r.feed_live(until, &mut live, usize::MAX);
        let snap = live.publish();
        assert!(snap.seq > last_seq);
        last_seq = snap.seq;
        max_retained = max_retained.max(live.retained_rows());
        collect(&mut live, &mut windows, &mut steps);
    }
    let before_end = windows.len();
    live.end();
    let snap = live.publish();
    assert!(snap.finished);
    collect(&mut live, &mut windows, &mut steps);
    (windows, steps, max_retained, before_end)
}

fn collect(live: &mut LiveAnalyzer, windows: &mut Vec<WindowMetrics>, steps: &mut Vec<WindowMetrics>) {
    for c in live.drain_closed() {
        match c {
            Closed::Window(w) => windows.push(w),
            Closed::Step(s) => steps.push(s),
        }
    }
}

fn short_retention() -> LiveSpec {
    LiveSpec { window_ns: 10_000_000, min_retain_ns: 1_000, ..LiveSpec::default() }
}

#[test]
fn live_steps_equal_analyze_on_every_shared_trace() {
    for path in common::shared_traces() {
        let trace = read_trace(&path).expect("read");
        let batch = analyze(&trace, "t", &AnalysisSpec::default()).expect("analyze").report;
        let (_, steps, _, _) = replay(trace, short_retention(), 2_000_000);
        assert_eq!(steps.len(), batch.steps.len(), "{}", path.display());
        for (l, b) in steps.iter().zip(&batch.steps) {
            assert_eq!(l, b, "{}: {}", path.display(), b.label);
        }
    }
}

#[test]
fn live_windows_equal_batch_windows() {
    for path in common::shared_traces() {
        let trace = read_trace(&path).expect("read");
        let mut diag = Diagnostics::default();
        let (lt, _) = launches::build_launch_table(&trace, &mut diag);
        let depths = queue::stream_depths(&trace, &lt);
        let spec = short_retention();
        let ctx = WindowContext { trace: &trace, launches: &lt, depths: &depths, spec: spec.window };
        let end = trace.end_ns();
        let (windows, _, _, before_end) = replay(trace.clone(), spec, 4_000_000);
        // Every window from the origin to the last event, in order, once.
        let expected = end / spec.window_ns + 1;
        assert_eq!(windows.len() as i64, expected, "{}", path.display());
        // Windows become final while the replay goes on, not only at its end
        // (launch calls the trace has no kernel for hold nothing open).
        assert!(
            before_end + 4 >= windows.len(),
            "{}: {before_end} of {} final before the end",
            path.display(),
            windows.len()
        );
        for (k, w) in windows.iter().enumerate() {
            let s = k as i64 * spec.window_ns;
            assert_eq!(w.start_ns, s);
            let b = ctx.metrics(w.label.clone(), None, s, s + spec.window_ns);
            assert_eq!(w, &b, "{} window {k}", path.display());
        }
    }
}

#[test]
fn memory_stays_flat_over_a_long_run() {
    // 20 s of 10 ms steps, 20 kernels each: the retained trace stays near the
    // retention margin (1 s) plus the open window, however long the run.
    let mut live = LiveAnalyzer::new(LiveSpec::default(), "test");
    live.set_origin(0);
    let mut corr = 0u64;
    let (mut max_retained, mut total) = (0usize, 0usize);
    for step in 0..2_000i64 {
        let s = step * 10_000_000;
        live.host_op(HostOpIn {
            kind: HostOpKind::Nvtx,
            name: "boundscope:step",
            pid: 1,
            tid: 1,
            start_ns: s,
            end_ns: s + 9_900_000,
            external_id: 0,
        });
        for k in 0..20i64 {
            corr += 1;
            let t = s + k * 400_000;
            live.api_call(call(corr, t));
            live.gpu_activity(kernel(corr, t + 10_000, 100_000));
            total += 2;
        }
        total += 1;
        live.set_watermark(s + 10_000_000);
        if step % 10 == 9 {
            let snap = live.publish();
            assert!(snap.history.iter().all(|tier| tier.len() <= LiveSpec::default().history));
            max_retained = max_retained.max(live.retained_rows());
        }
    }
    live.end();
    let snap = live.publish();
    assert_eq!(snap.steps_total, 2_000);
    assert_eq!(snap.totals.kernels, 40_000);
    // About 1.3 s of events (retention + window + a step) of the 20 s.
    assert!(max_retained < total / 10, "retained {max_retained} of {total}");
}

fn call(corr: u64, start: i64) -> ApiCallIn<'static> {
    ApiCallIn {
        name: "cudaLaunchKernel",
        pid: 1,
        tid: 1,
        start_ns: start,
        end_ns: start + 2_000,
        correlation: corr,
        external_id: 0,
    }
}

fn kernel(corr: u64, start: i64, dur: i64) -> ActivityIn<'static> {
    let mut k = ActivityIn::new(ActivityKind::Kernel, "k", 0, 7, start, start + dur);
    k.correlation = corr;
    k
}

#[test]
fn late_buffer_lands_in_its_window_and_windows_close_in_order() {
    // Windows of 1 ms. Launch calls arrive as they happen; their kernels
    // arrive later in one buffer (as CUPTI delivers them).
    let spec = LiveSpec { window_ns: 1_000_000, ..LiveSpec::default() };
    let mut live = LiveAnalyzer::new(spec, "test");
    live.set_origin(0);
    for i in 0..4u64 {
        live.api_call(call(i + 1, i as i64 * 1_000_000 + 100_000));
    }
    // Host side has reached 3.5 ms, but three launches still await their kernels.
    live.host_op(HostOpIn {
        kind: HostOpKind::Operator,
        name: "aten::add",
        pid: 1,
        tid: 1,
        start_ns: 3_400_000,
        end_ns: 3_500_000,
        external_id: 0,
    });
    live.set_watermark(live.awaited_watermark());
    let snap = live.publish();
    assert!(live.drain_closed().is_empty(), "no window may close while its kernels are awaited");
    assert!(snap.last_window.is_none());
    assert!(!snap.provisional.is_empty());
    assert!(snap.provisional.iter().all(|w| w.kernels == 0));

    // The buffer arrives: each kernel starts 50 us after its call returns.
    for i in 0..4u64 {
        live.gpu_activity(kernel(i + 1, i as i64 * 1_000_000 + 152_000, 10_000));
    }
    live.set_watermark(live.awaited_watermark());
    live.publish();
    let closed = live.drain_closed();
    let starts: Vec<i64> = closed
        .iter()
        .map(|c| match c {
            Closed::Window(w) => w.start_ns,
            Closed::Step(s) => s.start_ns,
        })
        .collect();
    assert_eq!(starts, vec![0, 1_000_000, 2_000_000], "final in order, the 4th still open");
    for c in &closed {
        let Closed::Window(w) = c else { panic!("no steps here") };
        assert_eq!((w.kernels, w.matched_kernels, w.tklqt_ns), (1, 1, 52_000), "{}", w.label);
    }
    assert_eq!(live.publish().totals.late_events, 0);

    // A record for a window already final is counted as late.
    live.gpu_activity(kernel(99, 10_000, 1_000));
    assert_eq!(live.publish().totals.late_events, 1);
    live.end();
    let last = live.publish();
    assert!(last.finished);
    assert_eq!(last.kernels.iter().map(|k| k.count).sum::<u64>(), 4);
}

#[test]
fn a_kernel_before_its_launch_call_holds_nothing_open() {
    // A source may hand over a buffer's GPU records before its API records.
    let spec = LiveSpec { window_ns: 1_000_000, ..LiveSpec::default() };
    let mut live = LiveAnalyzer::new(spec, "test");
    live.set_origin(0);
    live.gpu_activity(kernel(1, 150_000, 10_000));
    live.api_call(call(1, 100_000));
    live.api_call(call(2, 5_000_000));
    live.gpu_activity(kernel(2, 5_050_000, 10_000));
    live.set_watermark(live.awaited_watermark());
    live.publish();
    let closed = live.drain_closed();
    assert_eq!(closed.len(), 5, "windows 0..5 are final: {closed:?}");
}

#[test]
fn steps_from_nvtx_ranges_are_numbered_in_order() {
    let mut live = LiveAnalyzer::new(LiveSpec::default(), "test");
    for n in 0..3i64 {
        let s = n * 10_000_000;
        live.host_op(HostOpIn {
            kind: HostOpKind::Nvtx,
            name: "boundscope:step",
            pid: 1,
            tid: 1,
            start_ns: s,
            end_ns: s + 9_000_000,
            external_id: 0,
        });
        live.api_call(call(n as u64 + 1, s + 1_000));
        live.gpu_activity(kernel(n as u64 + 1, s + 10_000, 5_000_000));
    }
    live.end();
    let snap = live.publish();
    let numbers: Vec<Option<i64>> = snap.steps.iter().map(|s| s.step).collect();
    assert_eq!(numbers, vec![Some(0), Some(1), Some(2)]);
    assert_eq!(snap.steps_total, 3);
    assert!(snap.step_median.is_some());
}

/// A decode-like step: per layer, an RMSNorm written out in framework ops
/// (each op one kernel, linked to its launch call by External id, 1 us of
/// Python between ops), then attention (which no chain joins). The host
/// takes 10 us per op against 2 us kernels: CPU-bound.
const NORM_OPS: [(&str, &str); 7] = [
    ("aten::pow", "void at::native::vectorized_elementwise_kernel<4, at::native::pow_tensor_scalar_kernel>"),
    ("aten::mean", "void at::native::reduce_kernel<512, 1, at::native::ReduceOp<float, at::native::MeanOps<float>>>"),
    ("aten::add", "void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<float>>"),
    ("aten::rsqrt", "void at::native::vectorized_elementwise_kernel<4, at::native::rsqrt_kernel_cuda>"),
    ("aten::mul", "void at::native::vectorized_elementwise_kernel<4, at::native::BinaryFunctor<MulFunctor>>"),
    ("aten::to", "void at::native::unrolled_elementwise_kernel<at::native::direct_copy_kernel_cuda>"),
    ("aten::mul", "void at::native::vectorized_elementwise_kernel<4, at::native::BinaryFunctor<MulFunctor>>"),
];
const DECODE_LAYERS: i64 = 4;
const DECODE_STEP_NS: i64 = 500_000;

/// Emits steps `first..first + n` into `b`, `DECODE_STEP_NS` apart from
/// `t0`, numbering correlation and External ids from `id0`; returns the next id.
fn emit_decode(b: &mut TraceBuilder, first: i64, n: i64, t0: i64, id0: u64) -> u64 {
    let mut id = id0;
    for k in 0..n {
        let base = t0 + k * DECODE_STEP_NS;
        b.host_op(HostOpIn {
            kind: HostOpKind::Annotation,
            name: &format!("ProfilerStep#{}", first + k),
            pid: 1,
            tid: 1,
            start_ns: base,
            end_ns: base + DECODE_STEP_NS - 10_000,
            external_id: 0,
        });
        let mut t = base + 5_000;
        for _ in 0..DECODE_LAYERS {
            let attention = [("aten::scaled_dot_product_attention", "void pytorch_flash::flash_fwd_kernel<>()")];
            for (op, kernel) in NORM_OPS.iter().chain(&attention) {
                b.host_op(HostOpIn {
                    kind: HostOpKind::Operator,
                    name: op,
                    pid: 1,
                    tid: 1,
                    start_ns: t,
                    end_ns: t + 10_000,
                    external_id: id,
                });
                b.api_call(ApiCallIn {
                    name: "cudaLaunchKernel",
                    pid: 1,
                    tid: 1,
                    start_ns: t + 5_000,
                    end_ns: t + 8_000,
                    correlation: id,
                    external_id: id,
                });
                let mut a = ActivityIn::new(ActivityKind::Kernel, kernel, 0, 7, t + 12_000, t + 14_000);
                a.correlation = id;
                b.gpu_activity(a);
                id += 1;
                t += 11_000;
            }
        }
    }
    id
}

/// A fusion suggestion without its whole-trace figures (`occurrences`,
/// `head_launches`, `ps`), which a live view counts over the trace it still
/// holds: what remains counts over the judged steps only (the basis names the
/// ops whose dispatch goes).
fn judged_part(f: &FusionCandidate) -> FusionCandidate {
    FusionCandidate { occurrences: 0, head_launches: 0, ps: 0.0, ..f.clone() }
}

#[test]
fn live_advice_over_simulated_chunks_has_the_batch_basis() {
    // A simulated run reaches the live analysis in chunks, each simulated on
    // its own and numbering its correlation and External ids from 1, as
    // `top --platform sim:...` feeds it; the batch trace numbers them once.
    // The live advice over the steps still held equals the batch advice over
    // the same steps of the whole run, exactly (same events, same code): every
    // field but the whole-trace counts, pattern, kernels, ops, the ops whose
    // dispatch goes, CPU-bound occurrences, host time and saving. Before the
    // ids were kept apart, a later chunk's launches named the earlier chunk's
    // ops and the basis read "the host dispatch of 0 ops".
    const CHUNKS: i64 = 10;
    const PER_CHUNK: i64 = 4;
    let chunk_ns = PER_CHUNK * DECODE_STEP_NS;
    let mut whole = TraceBuilder::new("test");
    let mut next_id = 1;
    for c in 0..CHUNKS {
        next_id = emit_decode(&mut whole, c * PER_CHUNK, PER_CHUNK, c * chunk_ns, next_id);
    }
    let whole = whole.finish();

    // Retention of 2 ms: the live analysis holds a handful of the 40 steps.
    let spec = LiveSpec { window_ns: 1_000_000, min_retain_ns: 2_000_000, ..LiveSpec::default() };
    let mut live = LiveAnalyzer::new(spec, "test");
    live.set_origin(0);
    let mut ids = 0;
    for c in 0..CHUNKS {
        let mut chunk = TraceBuilder::new("test");
        emit_decode(&mut chunk, c * PER_CHUNK, PER_CHUNK, 0, 1);
        let mut r = TraceReplay::new(chunk.finish(), c * chunk_ns).with_id_offset(ids);
        ids = r.max_id();
        let mut until = c * chunk_ns;
        while !r.done() {
            until += 200_000;
            r.feed_live(until, &mut live, usize::MAX);
            live.publish();
        }
    }
    live.end();
    let snap = live.publish();
    let live_advice = snap.advice.expect("live advice");
    let (from, to) = snap.advice_span_ns.expect("advice span");
    assert!(snap.advice_basis.contains("occurrences and PS count only the trace still held"), "{}", snap.advice_basis);

    let batch = analyze(&whole, "t", &AnalysisSpec::default()).expect("analyze").report;
    let judged: Vec<WindowMetrics> =
        batch.steps.iter().filter(|s| s.start_ns >= from && s.end_ns <= to).cloned().collect();
    assert!(judged.len() >= 3 && judged.len() < batch.steps.len(), "{} of {} steps", judged.len(), batch.steps.len());
    let (lt, _) = launches::build_launch_table(&whole, &mut Diagnostics::default());
    let batch_advice = advise(&whole, &lt, &judged, &AnalysisSpec::default().advice);

    let norm = &batch_advice.fusion[0];
    assert!(norm.pattern.starts_with("RMSNorm"), "{}", norm.pattern);
    assert!(norm.basis.contains("the host dispatch of 6 ops"), "{}", norm.basis);
    assert_eq!(norm.cpu_bound_occurrences, DECODE_LAYERS as u64 * judged.len() as u64);
    let lp: Vec<_> = live_advice.fusion.iter().map(judged_part).collect();
    let bp: Vec<_> = batch_advice.fusion.iter().map(judged_part).collect();
    assert_eq!(lp, bp);
    assert_eq!(live_advice.cuda_graphs, batch_advice.cuda_graphs);
    assert_eq!(live_advice.notes, batch_advice.notes);
}

#[test]
fn live_advice_equals_batch_advice_over_the_same_steps_on_every_shared_trace() {
    // A retention longer than any shared trace: the live analysis holds the
    // whole trace, so its advice (over every final step, else every final
    // time window) must equal the batch advice over the same windows, every
    // field, though it was published every 50 ms of trace time along the way.
    for path in common::shared_traces() {
        let trace = read_trace(&path).expect("read");
        let spec = LiveSpec { window_ns: 10_000_000, min_retain_ns: 1_000_000_000_000, ..LiveSpec::default() };
        let mut live = LiveAnalyzer::new(spec, "test");
        live.set_origin(0);
        let mut r = TraceReplay::new(trace.clone(), 0);
        let mut until = r.next_start().unwrap_or(0);
        while !r.done() {
            until += 50_000_000;
            r.feed_live(until, &mut live, usize::MAX);
            live.publish();
        }
        live.end();
        let snap = live.publish();
        let (Some(la), Some((from, to))) = (snap.advice, snap.advice_span_ns) else {
            panic!("{}: no live advice", path.display())
        };
        assert!(!snap.advice_basis.contains("still held"), "{}: {}", path.display(), snap.advice_basis);
        let (lt, _) = launches::build_launch_table(&trace, &mut Diagnostics::default());
        let depths = queue::stream_depths(&trace, &lt);
        let ctx = WindowContext { trace: &trace, launches: &lt, depths: &depths, spec: spec.window };
        // Every step, as `analyze` judges; without steps, the time windows.
        let judged: Vec<WindowMetrics> = if trace.steps.is_empty() {
            (from / spec.window_ns..to / spec.window_ns)
                .map(|k| {
                    let s = k * spec.window_ns;
                    ctx.metrics(format!("t+{:.2}s", s as f64 / 1e9), None, s, s + spec.window_ns)
                })
                .collect()
        } else {
            let b = analyze(&trace, "t", &AnalysisSpec::default()).expect("analyze").report;
            assert_eq!((b.steps[0].start_ns, b.steps[b.steps.len() - 1].end_ns), (from, to), "{}", path.display());
            assert_eq!(b.advice, la, "{}", path.display());
            b.steps
        };
        assert_eq!(advise(&trace, &lt, &judged, &spec.advice), la, "{}", path.display());
    }
}
