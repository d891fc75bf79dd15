//! `boundscope export`: read one trace, analyze it, and write the outputs the
//! user asked for (Chrome trace, CSV, Parquet, plots, Markdown), each through
//! its `Exporter`. Every destination is checked before the trace is read, so
//! an unwritable path fails at once; each file appears complete or not at all.

use std::io::Write;
use std::time::Instant;

use anyhow::Context;
use boundscope_analysis::{AdviceSpec, AnalysisSpec, WindowSpec, analyze};
use boundscope_reports::text::fmt_bytes;
use boundscope_reports::{
    ChromeExporter, CsvExporter, ExportInput, Exporter, MarkdownExporter, ParquetExporter, PlotsExporter,
};
use boundscope_trace::read_trace;

use crate::Failure;
use crate::cli::ExportArgs;

fn exporters(args: &ExportArgs) -> Vec<Box<dyn Exporter>> {
    let mut out: Vec<Box<dyn Exporter>> = Vec::new();
    if let Some(path) = &args.chrome {
        out.push(Box::new(ChromeExporter { path: path.clone() }));
    }
    if let Some(dir) = &args.csv {
        out.push(Box::new(CsvExporter { dir: dir.clone() }));
    }
    if let Some(dir) = &args.parquet {
        out.push(Box::new(ParquetExporter { dir: dir.clone() }));
    }
    if let Some(dir) = &args.plots {
        out.push(Box::new(PlotsExporter { dir: dir.clone() }));
    }
    // After the plots: the report links to them.
    if let Some(path) = &args.markdown {
        out.push(Box::new(MarkdownExporter { path: path.clone(), plots_dir: args.plots.clone() }));
    }
    out
}

pub fn run(args: &ExportArgs) -> Result<(), Failure> {
    crate::analyze_cmd::check_common(args.launch_floor_us, args.top)?;
    let exporters = exporters(args);
    // Fail on an unwritable output before reading gigabytes.
    for e in &exporters {
        e.check_destination().map_err(Failure::input)?;
    }
    let floor_ns = (args.launch_floor_us * 1000.0).round() as i64;
    let spec = AnalysisSpec {
        window: WindowSpec { include_mem: args.include_mem, launch_floor_ns: floor_ns },
        top_k: args.top,
        advice: AdviceSpec { graph_launch_ns: floor_ns, ..AdviceSpec::default() },
    };
    let mut out = std::io::stdout().lock();
    let mut say = |s: String| out.write_all(s.as_bytes()).context("writing to stdout").map_err(Failure::input);

    let path = &args.trace;
    let t0 = Instant::now();
    let trace = read_trace(path).map_err(Failure::input)?;
    let read_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let analysis = analyze(&trace, &path.display().to_string(), &spec)
        .with_context(|| format!("analyzing {}", path.display()))
        .map_err(Failure::internal)?;
    let analyze_s = t1.elapsed().as_secs_f64();
    let r = &analysis.report;
    say(format!(
        "{}: {} kernels, {} memcpy, {} memset, {} launch calls, {} steps; {} ({})\n",
        path.display(),
        r.counts.kernels,
        r.counts.memcpys,
        r.counts.memsets,
        r.counts.launch_calls,
        r.counts.steps,
        r.headline.bound.as_str(),
        r.headline.basis
    ))?;
    say(format!("  read in {read_s:.2} s, analyzed in {analyze_s:.2} s\n"))?;

    let input = ExportInput { trace: &trace, analysis: &analysis };
    for e in &exporters {
        let t = Instant::now();
        let files = e.export(&input).map_err(Failure::export)?;
        let bytes: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
        say(format!(
            "  wrote {} ({} file(s), {}) in {:.2} s\n",
            e.describe(),
            files.len(),
            fmt_bytes(bytes),
            t.elapsed().as_secs_f64()
        ))?;
    }
    for w in &r.warnings {
        eprintln!("boundscope: warning: {}: {w}", r.source);
    }
    Ok(())
}
