//! `boundscope analyze`: read traces, analyze, print a summary or JSON, write CSV.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use boundscope_analysis::{AdviceSpec, AnalysisSpec, REPORT_SCHEMA, TraceReport, WindowSpec, analyze};
use boundscope_reports::text::{SummaryOptions, comparison, summary};
use boundscope_reports::{csv, ensure_writable_dir, parquet};
use boundscope_trace::read_trace;
use serde::Serialize;

use crate::Failure;
use crate::cli::AnalyzeArgs;

/// The JSON document of `boundscope analyze --json`.
#[derive(Serialize)]
struct AnalyzeDocument<'a> {
    schema: &'static str,
    traces: &'a [TraceReport],
}

pub fn run(args: &AnalyzeArgs) -> Result<(), Failure> {
    if !(0.0..=1.0).contains(&args.min_ps) {
        return Err(Failure::input(anyhow::anyhow!("--min-ps must be between 0 and 1")));
    }
    check_common(args.launch_floor_us, args.top)?;
    // Fail on an unwritable output before reading gigabytes.
    if let Some(dir) = &args.csv {
        ensure_writable_dir(dir).map_err(Failure::input)?;
    }
    if let Some(dir) = &args.parquet {
        ensure_writable_dir(dir).map_err(Failure::input)?;
    }
    let spec = AnalysisSpec {
        window: WindowSpec {
            include_mem: args.include_mem,
            launch_floor_ns: (args.launch_floor_us * 1000.0).round() as i64,
        },
        top_k: args.top,
        advice: AdviceSpec {
            min_ps: args.min_ps,
            graph_launch_ns: (args.launch_floor_us * 1000.0).round() as i64,
            ..AdviceSpec::default()
        },
    };
    let labels = labels(&args.traces);
    let mut reports = Vec::with_capacity(args.traces.len());
    for (path, label) in args.traces.iter().zip(&labels) {
        let trace = read_trace(path).map_err(Failure::input)?;
        let mut analysis = analyze(&trace, &path.display().to_string(), &spec)
            .with_context(|| format!("analyzing {}", path.display()))
            .map_err(Failure::internal)?;
        if let Some(n) = args.step {
            if !analysis.report.steps.iter().any(|s| s.step == Some(n)) {
                let have: Vec<String> =
                    analysis.report.steps.iter().filter_map(|s| s.step).map(|n| n.to_string()).collect();
                return Err(Failure::input(anyhow::anyhow!(
                    "{}: no step {n}; the trace has {}",
                    path.display(),
                    if have.is_empty() { "no steps".to_string() } else { format!("steps {}", have.join(", ")) }
                )));
            }
            analysis.report.steps.retain(|s| s.step == Some(n));
        }
        if let Some(dir) = &args.csv {
            let dir = if args.traces.len() > 1 { dir.join(label) } else { dir.clone() };
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("creating {}", dir.display()))
                .map_err(Failure::input)?;
            csv::write_analysis_csv(&trace, &analysis, &dir).map_err(Failure::export)?;
        }
        if let Some(dir) = &args.parquet {
            let dir = if args.traces.len() > 1 { dir.join(label) } else { dir.clone() };
            ensure_writable_dir(&dir).map_err(Failure::input)?;
            parquet::write_analysis_parquet(&trace, &analysis, &dir).map_err(Failure::export)?;
        }
        reports.push(analysis.report);
    }

    let mut out = std::io::stdout().lock();
    let write =
        |out: &mut dyn Write, s: &str| out.write_all(s.as_bytes()).context("writing to stdout").map_err(Failure::input);
    if args.json {
        let doc = AnalyzeDocument { schema: REPORT_SCHEMA, traces: &reports };
        let mut s = serde_json::to_string_pretty(&doc).map_err(Failure::internal)?;
        s.push('\n');
        write(&mut out, &s)?;
    } else {
        let opts = SummaryOptions { all_steps: args.all_steps, step: args.step, top_k: args.top };
        for (i, r) in reports.iter().enumerate() {
            if i > 0 {
                write(&mut out, &format!("\n{}\n\n", "=".repeat(100)))?;
            }
            write(&mut out, &summary(r, &opts))?;
        }
        if reports.len() > 1 {
            write(&mut out, &format!("\n{}\nSIDE BY SIDE\n", "=".repeat(100)))?;
            write(&mut out, &comparison(&reports, &labels))?;
        }
        if let Some(dir) = &args.csv {
            write(&mut out, &format!("\nCSV tables written to {}\n", dir.display()))?;
        }
        if let Some(dir) = &args.parquet {
            write(&mut out, &format!("\nParquet tables written to {}\n", dir.display()))?;
        }
    }

    if args.strict {
        let problems: Vec<String> =
            reports.iter().flat_map(|r| r.warnings.iter().map(move |w| format!("{}: {w}", r.source))).collect();
        if !problems.is_empty() {
            return Err(Failure::strict(anyhow::anyhow!(
                "--strict: {} kind(s) of warnings:\n  {}",
                problems.len(),
                problems.join("\n  ")
            )));
        }
    } else {
        for r in &reports {
            for w in &r.warnings {
                eprintln!("boundscope: warning: {}: {w}", r.source);
            }
        }
    }
    Ok(())
}

/// Largest `--launch-floor-us`: a null-kernel launch takes a few microseconds;
/// a second is far beyond any platform.
const MAX_LAUNCH_FLOOR_US: f64 = 1e6;
/// Largest `--top`: the tables, chart and report list that many names.
const MAX_TOP: usize = 10_000;

/// Checks the options `analyze` and `export` share, before any work.
pub(crate) fn check_common(launch_floor_us: f64, top: usize) -> Result<(), Failure> {
    if !(launch_floor_us.is_finite() && launch_floor_us > 0.0 && launch_floor_us <= MAX_LAUNCH_FLOOR_US) {
        return Err(Failure::input(anyhow::anyhow!(
            "--launch-floor-us must be a positive number of microseconds up to {MAX_LAUNCH_FLOOR_US} (null-kernel \
             launches take 2 to 3 us), got {launch_floor_us}"
        )));
    }
    if top > MAX_TOP {
        return Err(Failure::input(anyhow::anyhow!("--top must be at most {MAX_TOP}, got {top}")));
    }
    Ok(())
}

/// Short unique labels for traces (file stems, numbered on collision).
fn labels(paths: &[PathBuf]) -> Vec<String> {
    let stem = |p: &Path| {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "trace".into());
        name.trim_end_matches(".gz").trim_end_matches(".json").to_string()
    };
    let mut out: Vec<String> = Vec::new();
    for p in paths {
        let base = stem(p);
        let mut label = base.clone();
        let mut n = 2;
        while out.contains(&label) {
            label = format!("{base}-{n}");
            n += 1;
        }
        out.push(label);
    }
    out
}
