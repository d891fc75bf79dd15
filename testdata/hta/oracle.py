#!/usr/bin/env python3
"""Independent reference ("oracle") numbers for PyTorch-profiler (Kineto) traces.

Standard library only.  Timestamps are read exactly with
``json.load(..., parse_float=Decimal)``.

Two families of numbers are computed per trace:

1. ``hta_equivalent``: a re-implementation of the rules of
   ``TraceAnalysis.get_cuda_kernel_launch_stats`` from HolisticTraceAnalysis
   (HTA) 0.5.0 (ranks=[r], runtime_cutoff=0, launch_delay_cutoff=0,
   include_memory_events=True, include_last_profiler_step=False).  The rules
   are reproduced including HTA's float64 arithmetic, because HTA rounds
   timestamps *after* converting them to float64 (see ``hta_launch_rows``).
   Its numbers were checked row by row against the output of
   HolisticTraceAnalysis 0.5.0 itself (``--hta-rows DIR`` repeats that check
   against CSV files written from HTA's result DataFrame).

2. ``exact``: metrics in integer nanoseconds without any rounding of the
   trace's timestamps (``ts`` and ``dur`` are microseconds with at most three
   decimals, so ``x * 1000`` is an integer; any value for which it is not is
   counted in ``non_integer_ns_values`` and rounded half-to-even).

Usage:
    python3 oracle.py TRACE.json.gz [TRACE.json.gz ...] [-o summary.json]
                      [--hta-rows DIR]

``--hta-rows DIR`` expects ``DIR/<stem>_hta_rows.csv`` (stem = file name
without ``.json.gz``/``.json``) with the columns
``correlation,cpu_duration,gpu_duration,launch_delay`` of HTA's DataFrame,
and reports whether the HTA-equivalent rows match them exactly (as multisets).
"""

import argparse
import csv
import gzip
import json
import math
import os
import re
import sys
from collections import Counter, defaultdict
from decimal import ROUND_HALF_EVEN, Decimal

# --------------------------------------------------------------------------
# Event classes
# --------------------------------------------------------------------------

# CPU-side runtime / driver API events.  "Runtime" is the old Kineto spelling.
RUNTIME_CATS = {"cuda_runtime", "cuda_driver", "Runtime"}
# GPU kernels ("Kernel" is the old Kineto spelling).
KERNEL_CATS = {"kernel", "Kernel"}
# All GPU activities that occupy a device: kernels, copies and sets.
GPU_ACTIVITY_CATS = KERNEL_CATS | {"gpu_memcpy", "gpu_memset", "Memcpy", "Memset"}

# Known kernel / memory launch API names.  Launch calls are *matched* by
# correlation id (any runtime/driver event whose args.correlation equals that
# of a GPU activity); this list is only used to flag unexpected names.
KNOWN_LAUNCH_NAMES = {
    "cudaLaunchKernel", "cudaLaunchKernelExC", "cudaLaunchCooperativeKernel",
    "cuLaunchKernel", "cuLaunchKernelEx", "cudaGraphLaunch", "cuGraphLaunch",
    "cudaMemcpyAsync", "cudaMemsetAsync", "cudaMemcpy", "cudaMemset",
    "cudaMemcpy2DAsync", "hipLaunchKernel", "hipExtModuleLaunchKernel",
    "hipModuleLaunchKernel", "hipMemcpyAsync", "hipMemcpyWithStream",
    "hipMemsetAsync", "hipGraphLaunch",
}
# Launches of a whole graph: one correlation id, many kernels.
GRAPH_LAUNCH_NAMES = {"cudaGraphLaunch", "cuGraphLaunch", "hipGraphLaunch"}
# Launch calls counted by the "queue" metric (same set as HTA 0.5.0).
QUEUE_LAUNCH_NAMES = {
    "cudaLaunchKernel", "cudaLaunchKernelExC", "cudaMemcpyAsync", "cudaMemsetAsync",
}

STEP_RE = re.compile(r"^ProfilerStep#\d+$")

# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


def load_trace(path):
    """Return the trace document, floats parsed as Decimal (exact)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        doc = json.load(fh, parse_float=Decimal)
    if isinstance(doc, list):  # bare event array
        doc = {"traceEvents": doc}
    return doc


def args_of(ev):
    a = ev.get("args")
    return a if isinstance(a, dict) else {}


# --------------------------------------------------------------------------
# Part 1: HTA 0.5.0 get_cuda_kernel_launch_stats, re-implemented
# --------------------------------------------------------------------------

HTA_LAUNCH_NAMES = {
    # hta/analyzers/cuda_kernel_analysis.py, CudaKernelAnalysis.cuda_kernel_launch_stats
    "cudaLaunchKernel", "cudaLaunchKernelExC",
    "runFunction - job_prep_and_submit_for_execution",  # MTIA
}
HTA_MEMORY_NAMES = {"cudaMemcpyAsync", "cudaMemsetAsync"}
HTA_SYNC_NAMES = {"Event Sync", "Context Sync"}


def _hta_int_arg(a, key):
    """HTA's arg extraction: args.get(key, -1); stream additionally goes
    through int() and becomes -1 when int() raises ValueError
    (e.g. the string "0x0" in ROCm traces)."""
    v = a.get(key, -1)
    if key == "stream":
        try:
            return int(v)
        except ValueError:
            return -1
    return v


def hta_launch_rows(events, drop_last_step=True):
    """Rows (correlation, cpu_duration, gpu_duration, launch_delay) as HTA
    0.5.0 computes them, in microseconds, plus facts about the rules applied.
    drop_last_step=False skips the last-ProfilerStep rule (not an HTA mode
    reachable through get_cuda_kernel_launch_stats; for information only).

    Rules (HTA 0.5.0 source):
      * hta/common/trace_parser.py round_down_time_stamps: only when the "ts"
        column is float64 (some ts is a JSON float, or missing):
        end = ts + dur in float64; ts = ceil(ts); end = floor(end);
        dur = end - ts.
      * _compress_df: drop rows without "dur" or "cat", and cat == "Trace".
      * hta/common/trace.py Trace._filter_irrelevant_gpu_kernels: when the
        symbol table holds at least two distinct names containing
        "ProfilerStep", keep only "CPU" rows (every row that is not
        [stream >= 0 and correlation >= 0] and not named Event/Context Sync)
        with ts < max(ts of such rows named *ProfilerStep*), plus the GPU
        rows whose correlation equals that of a kept CPU row (inner merge).
      * cuda_kernel_launch_stats: correlation ids of rows named
        cudaLaunchKernel / cudaLaunchKernelExC / MTIA runFunction /
        cudaMemcpyAsync / cudaMemsetAsync; inner join of rows with
        stream == -1 and rows with stream != -1 sharing such an id;
        launch_delay = gpu.ts - cpu.ts - cpu.dur, clipped below at 0.
    """
    # pandas builds a float64 "ts" column if any value is a float or missing.
    rounding = any(isinstance(e.get("ts"), Decimal) or e.get("ts") is None
                   for e in events)

    rows = []
    for e in events:
        if e.get("dur") is None or e.get("cat") is None or e.get("cat") == "Trace":
            continue
        ts, dur = e.get("ts"), e["dur"]
        if rounding:
            if ts is None:
                continue  # NaN ts: never selected by any rule below
            tsf = float(ts)               # float64, like pandas
            end = tsf + float(dur)        # float64 addition
            ts_r = math.ceil(tsf)
            dur_r = math.floor(end) - ts_r
        else:
            ts_r = ts
            dur_r = dur if isinstance(dur, int) else float(dur)
        a = args_of(e)
        rows.append({
            "name": e.get("name"), "cat": e.get("cat"), "ts": ts_r, "dur": dur_r,
            "stream": _hta_int_arg(a, "stream"),
            "correlation": _hta_int_arg(a, "correlation"),
        })

    symbols = {r["name"] for r in rows} | {r["cat"] for r in rows}
    step_symbols = {s for s in symbols if isinstance(s, str) and "ProfilerStep" in s}
    step_filter = drop_last_step and len(step_symbols) >= 2
    last_step_start = None
    if step_filter:
        def is_gpu(r):
            return ((r["stream"] >= 0 and r["correlation"] >= 0)
                    or r["name"] in HTA_SYNC_NAMES)
        cpu = [r for r in rows if not is_gpu(r)]
        gpu = [r for r in rows if is_gpu(r)]
        starts = [r["ts"] for r in cpu if r["name"] in step_symbols]
        if starts:
            last_step_start = max(starts)
            cpu = [r for r in cpu if r["ts"] < last_step_start]
        else:
            cpu = []  # max() of nothing is NaN: nothing passes "ts < NaN"
        mult = Counter(r["correlation"] for r in cpu)
        kept_gpu = []
        for r in gpu:
            kept_gpu.extend([r] * mult.get(r["correlation"], 0))
        rows = kept_gpu + cpu

    launch_corr = {r["correlation"] for r in rows
                   if r["name"] in HTA_LAUNCH_NAMES | HTA_MEMORY_NAMES}
    cpu_by_corr = defaultdict(list)
    gpu_rows = []
    for r in rows:
        if r["correlation"] not in launch_corr:
            continue
        if r["stream"] == -1:
            cpu_by_corr[r["correlation"]].append(r)
        else:
            gpu_rows.append(r)
    out = []
    for g in gpu_rows:
        for c in cpu_by_corr.get(g["correlation"], []):
            delay = g["ts"] - c["ts"] - c["dur"]
            out.append((g["correlation"], c["dur"], g["dur"], max(delay, 0)))
    facts = {
        "ns_rounding_applied": rounding,
        "profiler_step_symbols": sorted(step_symbols),
        "last_step_dropped": step_filter,
        "last_step_start_us": last_step_start,
    }
    return out, facts


def pandas_median(values):
    """Median as pandas computes it (mean of the two middle values)."""
    s = sorted(values)
    n = len(s)
    if n == 0:
        return None
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def num(x):
    """JSON-friendly number: integral floats become ints."""
    if isinstance(x, float) and x.is_integer():
        return int(x)
    return x


def hta_summary(rows, facts):
    delays = [r[3] for r in rows]
    return {
        "unit": "us",
        "rows": len(rows),
        "launch_delay_sum": num(sum(delays)) if delays else 0,
        "launch_delay_min": num(min(delays)) if delays else None,
        "launch_delay_max": num(max(delays)) if delays else None,
        "launch_delay_p50": num(pandas_median(delays)) if delays else None,
        **facts,
    }


def compare_with_hta_csv(rows, csv_path):
    """Compare HTA-equivalent rows with HTA's own rows (multiset equality)."""
    with open(csv_path, newline="") as fh:
        theirs = [(int(r["correlation"]), float(r["cpu_duration"]),
                   float(r["gpu_duration"]), float(r["launch_delay"]))
                  for r in csv.DictReader(fh)]
    ours = [(int(c), float(cd), float(gd), float(d)) for c, cd, gd, d in rows]
    a, b = Counter(ours), Counter(theirs)
    return {
        "hta_rows": len(theirs),
        "exact_match": a == b,
        "only_in_oracle": len(list((a - b).elements())),
        "only_in_hta": len(list((b - a).elements())),
    }


# --------------------------------------------------------------------------
# Part 2: exact-nanosecond metrics
# --------------------------------------------------------------------------


class NsConverter:
    """Microseconds (int or Decimal) -> integer nanoseconds, exact.
    Counts values for which us * 1000 is not already an integer."""

    def __init__(self):
        self.non_integer = 0

    def __call__(self, us):
        v = Decimal(us) * 1000
        q = v.to_integral_value(rounding=ROUND_HALF_EVEN)
        if q != v:
            self.non_integer += 1
        return int(q)


def union_length(intervals):
    """Total length of the union of half-open [start, end) intervals."""
    total, cur_s, cur_e = 0, None, None
    for s, e in sorted(intervals):
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        elif e > cur_e:
            cur_e = e
    if cur_e is not None:
        total += cur_e - cur_s
    return total


def exact_metrics(events):
    ns = NsConverter()

    runtime, activities, steps = [], [], []
    for i, e in enumerate(events):
        if e.get("ph") != "X" or e.get("ts") is None:
            continue
        cat, name = e.get("cat"), e.get("name")
        if cat in RUNTIME_CATS or cat in GPU_ACTIVITY_CATS or (
                isinstance(name, str) and STEP_RE.match(name)):
            start = ns(e["ts"])
            end = start + ns(e.get("dur", 0))
            rec = {"i": i, "name": name, "cat": cat, "pid": e.get("pid"),
                   "start": start, "end": end, "args": args_of(e)}
            if cat in RUNTIME_CATS:
                runtime.append(rec)
            elif cat in GPU_ACTIVITY_CATS:
                activities.append(rec)
            else:
                steps.append(rec)

    # GPU activities carry pid = device, so runtime events are matched on
    # the correlation id alone.
    act_corr = {a["args"].get("correlation") for a in activities}
    act_corr.discard(None)
    launch_by_corr = defaultdict(list)
    for r in runtime:
        c = r["args"].get("correlation")
        if c is not None and c in act_corr:
            launch_by_corr[c].append(r)
    shared = {c: rs for c, rs in launch_by_corr.items() if len(rs) > 1}
    shared_cross_pid = sum(1 for rs in shared.values()
                           if len({r["pid"] for r in rs}) > 1)
    # With no shared ids (checked and reported), each id has one launch call.
    launch = {c: min(rs, key=lambda r: (r["start"], r["i"]))
              for c, rs in launch_by_corr.items()}
    launch_names = Counter(r["name"] for r in launch.values())

    kernels = [a for a in activities if a["cat"] in KERNEL_CATS]

    # Head of each graph launch: the first-starting kernel of its correlation id.
    graph_head = {}
    for k in kernels:
        c = k["args"].get("correlation")
        l = launch.get(c)
        if l is not None and l["name"] in GRAPH_LAUNCH_NAMES:
            key = (k["start"], k["i"])
            if c not in graph_head or key < graph_head[c][0]:
                graph_head[c] = (key, k["i"])
    head_ids = {v[1] for v in graph_head.values()}

    def launch_of(a):
        return launch.get(a["args"].get("correlation"))

    def is_head(k):
        l = launch_of(k)
        return l is not None and (l["name"] not in GRAPH_LAUNCH_NAMES
                                  or k["i"] in head_ids)

    matched = unmatched = graph_internal = neg = neg_1us = 0
    tklqt_all = tklqt_heads = 0
    for k in kernels:
        l = launch_of(k)
        if l is None:
            unmatched += 1
            continue
        matched += 1
        lts = k["start"] - l["start"]  # launch call start -> kernel start
        if lts < 0:
            neg += 1
        if lts < -1000:
            neg_1us += 1
        tklqt_all += max(0, lts)
        if is_head(k):
            tklqt_heads += max(0, lts)
        else:
            graph_internal += 1

    # Queue time: launch call end -> activity start, launch names as in HTA.
    queue_ns = queue_count = 0
    for a in activities:
        l = launch_of(a)
        if l is not None and l["name"] in QUEUE_LAUNCH_NAMES:
            queue_ns += max(0, a["start"] - l["end"])
            queue_count += 1

    # GPU busy time per device: union of kernel + memcpy + memset intervals.
    per_dev = defaultdict(list)
    for a in activities:
        dev = a["args"].get("device", a["pid"])
        per_dev[str(dev)].append((a["start"], a["end"]))
    busy = {d: union_length(iv) for d, iv in sorted(per_dev.items())}

    # Per step: kernels whose start lies in [step start, step end).
    step_out = []
    for s in sorted(steps, key=lambda s: (s["start"], s["i"])):
        ks = [k for k in kernels if s["start"] <= k["start"] < s["end"]]
        heads = [k for k in ks if is_head(k)]
        step_out.append({
            "name": s["name"], "cat": s["cat"],
            "start_ns": s["start"], "end_ns": s["end"],
            "kernels": len(ks),
            "kernels_matched": sum(1 for k in ks if launch_of(k) is not None),
            "heads": len(heads),
            "tklqt_heads_ns": sum(max(0, k["start"] - launch_of(k)["start"])
                                  for k in heads),
        })

    return {
        "unit": "ns",
        "launch_calls": len(launch),
        "launch_call_names": dict(sorted(launch_names.items())),
        "launch_call_names_not_in_known_list":
            sorted(n for n in launch_names if n not in KNOWN_LAUNCH_NAMES),
        "correlation_ids_shared_by_several_launch_calls": len(shared),
        "correlation_ids_shared_across_pids": shared_cross_pid,
        "gpu_activities": len(activities),
        "gpu_activities_by_cat": dict(sorted(Counter(a["cat"] for a in activities).items())),
        "kernels": len(kernels),
        "kernels_matched": matched,
        "kernels_unmatched": unmatched,
        "kernels_graph_internal": graph_internal,
        "launch_to_start_negative": neg,
        "launch_to_start_below_minus_1000ns": neg_1us,
        "tklqt_all_ns": tklqt_all,
        "tklqt_heads_ns": tklqt_heads,
        "queue_ns": queue_ns,
        "queue_count": queue_count,
        "kernel_dur_sum_ns": sum(k["end"] - k["start"] for k in kernels),
        "gpu_busy_ns_per_device": busy,
        "gpu_busy_ns_total": sum(busy.values()),
        "steps": step_out,
        "non_integer_ns_values": ns.non_integer,
    }


# --------------------------------------------------------------------------


def stem_of(path):
    base = os.path.basename(path)
    for suffix in (".json.gz", ".json"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("traces", nargs="+")
    ap.add_argument("-o", "--output", default="summary.json")
    ap.add_argument("--hta-rows", metavar="DIR",
                    help="directory with <stem>_hta_rows.csv from HTA 0.5.0")
    ap.add_argument("--write-rows", metavar="DIR",
                    help="also write the HTA-equivalent rows to DIR/<stem>_oracle_rows.csv")
    opts = ap.parse_args(argv)

    summary = {}
    ok = True
    for path in opts.traces:
        stem = stem_of(path)
        events = load_trace(path).get("traceEvents", [])
        rows, facts = hta_launch_rows(events)
        entry = {"hta_equivalent": hta_summary(rows, facts),
                 "exact": exact_metrics(events)}
        # For information: how many rows the last-step rule removed.
        entry["hta_equivalent"]["rows_without_last_step_drop"] = len(
            hta_launch_rows(events, drop_last_step=False)[0])
        if opts.hta_rows:
            cmp = compare_with_hta_csv(rows, os.path.join(opts.hta_rows, f"{stem}_hta_rows.csv"))
            entry["hta_equivalent"]["check_against_hta"] = cmp
            ok = ok and cmp["exact_match"]
        if opts.write_rows:
            with open(os.path.join(opts.write_rows, f"{stem}_oracle_rows.csv"), "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["correlation", "cpu_duration", "gpu_duration", "launch_delay"])
                w.writerows(sorted(rows))
        summary[stem] = entry

    with open(opts.output, "w") as fh:
        json.dump(summary, fh, indent=1, default=str)
        fh.write("\n")
    json.dump(summary, sys.stdout, indent=1, default=str)
    print()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
