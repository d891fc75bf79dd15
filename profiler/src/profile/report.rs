//! The part of the profile summary that only a recorded run has: what was
//! collected and how, and boundscope's own cost on the program (records,
//! bytes, drops, time in CUPTI callbacks, CUPTI's overhead records).

use std::collections::HashSet;
use std::fmt::Write;
use std::process::ExitStatus;
use std::time::Duration;

use boundscope_reports::text::{fmt_bytes, fmt_ns};
use boundscope_trace::run::RunSummary;
use boundscope_trace::{ActivityKind, HostOpKind, Trace};
use boundscope_wire::{HelloRec, NoticeRec};

use super::perf::{Total, Unavailable};

/// Facts about the run that the record stream does not hold.
pub struct Context<'a> {
    pub command: &'a str,
    pub status: Option<ExitStatus>,
    pub wall: Duration,
    pub gpu_why_not: Option<&'a str>,
    pub nvml_error: Option<&'a str>,
    pub perf_available: &'a [&'static str],
    pub perf_unavailable: &'a [Unavailable],
    pub perf_totals: &'a [Total],
    pub cut: &'a [(u32, String)],
}

fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The PROFILE and BOUNDSCOPE OVERHEAD sections.
pub fn profile_section(trace: &Trace, run: &RunSummary, ctx: &Context<'_>) -> String {
    let mut s = String::new();
    let wall_ns = ctx.wall.as_nanos() as f64;
    let _ = writeln!(s, "PROFILE");
    let _ = writeln!(s, "  command            {}", ctx.command);
    let status = match ctx.status {
        Some(st) => st.to_string(),
        None => "still running when boundscope stopped waiting".into(),
    };
    let _ = writeln!(s, "  program            {status}, {} after release", fmt_ns(wall_ns));
    if let Some(why) = ctx.gpu_why_not {
        let _ = writeln!(s, "  GPU activity       not recorded: {why}");
    }
    for src in &run.sources {
        let who = match &src.hello {
            Some(h) => format!("pid {} ({})", h.pid, src.exe),
            None => format!("connection {}", src.source),
        };
        match src.hello {
            Some(h) if h.flags & HelloRec::ACTIVE != 0 => {
                let _ = writeln!(
                    s,
                    "  CUPTI              {who}: API version {}, kernel record v{}{}, latency timestamps {}, clock {}",
                    h.cupti_api_version,
                    h.kernel_record_version,
                    if h.flags & HelloRec::LAYOUT_VERIFIED != 0 {
                        " (layout verified)"
                    } else {
                        " (layout NOT verified)"
                    },
                    if h.flags & HelloRec::LATENCY_TIMESTAMPS != 0 { "on" } else { "off" },
                    if h.flags & HelloRec::HOST_CLOCK != 0 {
                        "CLOCK_MONOTONIC (timestamp callback)"
                    } else {
                        "CUPTI's, anchored to CLOCK_MONOTONIC"
                    },
                );
            }
            _ => {
                let _ = writeln!(s, "  CUPTI              {who}: not active");
            }
        }
        for (level, _, msg) in &src.notices {
            let tag = match *level {
                NoticeRec::ERROR => "error",
                NoticeRec::WARNING => "warning",
                _ => "note",
            };
            let _ = writeln!(s, "    {tag}: {msg}");
        }
    }
    if run.sources.is_empty() && ctx.gpu_why_not.is_none() {
        let _ = writeln!(
            s,
            "  CUPTI              no process connected: the program never initialized CUDA (or CUDA did not load the collector)"
        );
    }

    let a = &trace.activities;
    let kernels = a.kind.iter().filter(|k| **k == ActivityKind::Kernel).count() as u64;
    let memcpy = a.kind.iter().filter(|k| **k == ActivityKind::Memcpy).count() as u64;
    let memset = a.kind.iter().filter(|k| **k == ActivityKind::Memset).count() as u64;
    let with_latency = (0..a.len())
        .filter(|&i| a.kind[i] == ActivityKind::Kernel && a.queued_ns[i].is_some() && a.submitted_ns[i].is_some())
        .count();
    let launches: HashSet<u64> = trace.api.correlation.iter().copied().filter(|c| *c != 0).collect();
    let matched =
        (0..a.len()).filter(|&i| a.kind[i] == ActivityKind::Kernel && launches.contains(&a.correlation[i])).count();
    let nvtx = trace.host_ops.kind.iter().filter(|k| **k == HostOpKind::Nvtx).count() as u64;
    let _ = writeln!(
        s,
        "  recorded           {} kernels ({} with queued/submitted timestamps{}), {} API calls, {} memcpy, {} memset, {} sync records, {} NVTX ranges, {} steps",
        count(kernels),
        count(with_latency as u64),
        if kernels > 0 { format!(", {:.1}%", 100.0 * with_latency as f64 / kernels as f64) } else { String::new() },
        count(trace.api.len() as u64),
        count(memcpy),
        count(memset),
        count(trace.sync_events.len() as u64),
        count(nvtx),
        trace.steps.len()
    );
    if kernels > 0 {
        let _ = writeln!(
            s,
            "  launches matched   {} of {} kernels have their launch call ({:.1}%)",
            count(matched as u64),
            count(kernels),
            100.0 * matched as f64 / kernels as f64
        );
    }
    if !trace.api.is_empty() {
        let mut by_name: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
        for &n in &trace.api.name {
            *by_name.entry(trace.str(n)).or_default() += 1;
        }
        let mut by_name: Vec<(&str, u64)> = by_name.into_iter().collect();
        by_name.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let shown: Vec<String> = by_name.iter().take(8).map(|(n, c)| format!("{n} {}", count(*c))).collect();
        let more = if by_name.len() > 8 { format!(", {} more names", by_name.len() - 8) } else { String::new() };
        let _ = writeln!(s, "  API calls by name  {}{more}", shown.join(", "));
    }
    let series: Vec<String> = trace
        .counters
        .series
        .iter()
        .map(|c| trace.str(c.name).to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let _ = writeln!(
        s,
        "  samples            {} counter samples: {}",
        count(trace.counters.len() as u64),
        if series.is_empty() { "none".into() } else { series.join(", ") }
    );
    if let Some(e) = ctx.nvml_error {
        let _ = writeln!(s, "  NVML               unavailable: {e}");
    }
    if ctx.perf_available.is_empty() {
        let _ = writeln!(s, "  perf               no counters could be opened");
    }
    for u in ctx.perf_unavailable {
        let _ = writeln!(s, "  perf {:<14} unavailable: {}", u.name.trim_start_matches("cpu."), u.why);
    }
    let totals: Vec<String> = ctx
        .perf_totals
        .iter()
        .map(|t| match t.name {
            "cpu.task_clock" => format!("task-clock {} of CPU", fmt_ns(t.value as f64)),
            n => format!("{} {}", n.trim_start_matches("cpu.").replace('_', "-"), count(t.value)),
        })
        .collect();
    if !totals.is_empty() {
        let _ = writeln!(s, "  perf totals        {}", totals.join(", "));
    }

    let _ = writeln!(s, "\nBOUNDSCOPE OVERHEAD (its own cost on the program)");
    if run.sources.is_empty() {
        let _ = writeln!(s, "  none inside the program: no collector ran in it; perf and NVML sampled it from outside");
        return s;
    }
    let frames: u64 = run.sources.iter().map(|x| x.frames).sum();
    let bytes: u64 = run.sources.iter().map(|x| x.bytes).sum();
    let _ = writeln!(
        s,
        "  streamed           {} from the program in {} frames; run file {}",
        fmt_bytes(bytes),
        count(frames),
        fmt_bytes(run.bytes)
    );
    let mut records = 0;
    let (mut dq, mut dc, mut cb_ns, mut send_ns, mut buffers, mut unknown, mut malformed) = (0, 0, 0, 0, 0, 0, 0);
    let (mut no_ts, mut lat_bad, mut hot) = (0, 0, 0);
    for st in run.sources.iter().filter_map(|x| x.stats) {
        no_ts += st.no_timestamp_records;
        lat_bad += st.latency_rejected;
        hot += st.filtered_api_calls;
        records += st.records;
        dq += st.dropped_queue_records;
        dc += st.dropped_cupti_records;
        cb_ns += st.callback_ns;
        send_ns += st.sender_cpu_ns;
        buffers += st.buffers;
        unknown += st.unknown_kinds;
        malformed += st.malformed;
    }
    let _ = writeln!(
        s,
        "  records            {} converted in {} CUPTI buffers ({} of unconverted kinds, {} unreadable)",
        count(records),
        count(buffers),
        count(unknown),
        count(malformed)
    );
    let _ = writeln!(s, "  dropped            {} (send queue full {}, CUPTI {})", count(dq + dc), count(dq), count(dc));
    let _ = writeln!(
        s,
        "  left out           {} incomplete records (no start or end), {} hot query API calls (cudaGetDevice, cuCtxGetCurrent, ...); {} kernels' queued/submitted times cleared (out of order)",
        count(no_ts),
        count(hot),
        count(lat_bad)
    );
    let pct = |ns: u64| if wall_ns > 0.0 { 100.0 * ns as f64 / wall_ns } else { 0.0 };
    let _ = writeln!(
        s,
        "  buffer callbacks   {} ({:.2}% of the program's wall time; on CUPTI's thread)",
        fmt_ns(cb_ns as f64),
        pct(cb_ns)
    );
    let _ = writeln!(s, "  sender thread      {} of CPU", fmt_ns(send_ns as f64));
    let mut overhead: Vec<(String, u64)> = Vec::new();
    for src in &run.sources {
        for (k, ns) in &src.overhead_ns {
            match overhead.iter_mut().find(|(n, _)| n == k) {
                Some(e) => e.1 += ns,
                None => overhead.push((k.clone(), *ns)),
            }
        }
    }
    if overhead.is_empty() {
        let _ = writeln!(s, "  CUPTI overhead     no overhead records");
    } else {
        let list: Vec<String> = overhead.iter().map(|(k, ns)| format!("{k} {}", fmt_ns(*ns as f64))).collect();
        let _ = writeln!(s, "  CUPTI overhead     {}", list.join(", "));
    }
    let complete = if run.complete() && ctx.cut.is_empty() {
        "yes".to_string()
    } else {
        let mut why: Vec<String> = ctx.cut.iter().map(|(src, e)| format!("connection {src} cut: {e}")).collect();
        if !run.profiler_complete {
            why.push("boundscope stopped waiting before the program ended".into());
        }
        for x in run.sources.iter().filter(|x| !x.ended) {
            why.push(format!(
                "{} ended without its end record",
                x.hello.map_or(format!("connection {}", x.source), |h| format!("pid {}", h.pid))
            ));
        }
        format!("no: {}", why.join("; "))
    };
    let _ = writeln!(s, "  run complete       {complete}");
    s
}
