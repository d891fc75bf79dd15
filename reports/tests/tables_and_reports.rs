//! Parquet tables (schema pinned, same rows as CSV), the Markdown report
//! (layout pinned) and the trace plots, on the shared traces.

mod common;

use common::{load, temp_dir};

use std::path::Path;

use boundscope_reports::markdown::markdown;
use boundscope_reports::parquet::write_analysis_parquet;
use boundscope_reports::plots::{LAUNCH_TO_START_SVG, TOP_KERNELS_SVG, launch_to_start_svg, top_kernels_svg};
use boundscope_reports::{
    CsvExporter, ExportInput, Exporter, MarkdownExporter, PlotsExporter, csv::write_analysis_csv,
};
use polars::prelude::*;

fn read_parquet(p: &Path) -> DataFrame {
    let f = std::fs::File::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    ParquetReader::new(f).finish().unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn parquet_tables_have_a_stable_schema_and_the_csv_rows() {
    let dir = temp_dir("reports", "parquet");
    let (t, a) = load("a100_ddp_train.json.gz");
    let written = write_analysis_parquet(&t, &a, &dir).unwrap_or_else(|e| panic!("{e}"));
    write_analysis_csv(&t, &a, &dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(written.len(), 3);
    let mut schema = String::new();
    for stem in ["launches", "kernels", "steps"] {
        let df = read_parquet(&dir.join(format!("{stem}.parquet")));
        let csv_rows = std::fs::read_to_string(dir.join(format!("{stem}.csv"))).expect("csv").lines().count() - 1;
        assert_eq!(df.height(), csv_rows, "{stem}: same rows as the CSV");
        schema.push_str(&format!("{stem}.parquet ({} columns)\n", df.width()));
        for (name, dtype) in df.schema().iter() {
            schema.push_str(&format!("  {name}: {dtype}\n"));
        }
    }
    // Values survive with their types: the per-launch figures of the analysis.
    let launches = read_parquet(&dir.join("launches.parquet"));
    assert_eq!(launches.height(), 3774);
    let l2s: Vec<i64> =
        launches.column("launch_to_start_ns").expect("col").i64().expect("i64").into_no_null_iter().collect();
    assert_eq!(l2s, a.launches.launch_to_start_ns);
    insta::assert_snapshot!("parquet_schema", schema);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn markdown_report_layout() {
    let (_, a) = load("a100_ddp_train.json.gz");
    let md = markdown(&a.report, Some("plots"));
    assert!(md.contains("![Top kernels by total GPU time](plots/top_kernels.svg)"));
    insta::assert_snapshot!("markdown_a100_ddp_train", md);
}

#[test]
fn markdown_says_what_the_terminal_summary_says() {
    let (_, a) = load("v100_train_ns_timestamps.json.gz");
    let md = markdown(&a.report, None);
    let text = boundscope_reports::text::summary(&a.report, &Default::default());
    // The verdict, its evidence and the window rows are the same text.
    let verdict = format!("## Verdict: {}", a.report.headline.bound.as_str());
    assert!(md.contains(&verdict), "{md}");
    for line in text.lines().filter(|l| l.trim_start().starts_with("- ")) {
        let evidence = line.trim_start().trim_start_matches("- ");
        assert!(md.contains(evidence), "evidence missing from the report: {evidence}");
    }
    let median = text.lines().find(|l| l.trim_start().starts_with("median of")).expect("median row");
    let cells: Vec<&str> = median.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
    let md_row = md.lines().find(|l| l.starts_with("| median of")).expect("markdown median row");
    let md_cells: Vec<&str> = md_row.trim_matches('|').split(" | ").map(str::trim).collect();
    assert_eq!(cells, md_cells);
    assert!(!md.contains("!["), "no images without a plots directory");
}

#[test]
fn markdown_exporter_links_plots_that_exist() {
    let dir = temp_dir("reports", "md");
    let (t, a) = load("v100_train_cuda_graphs.json.gz");
    let input = ExportInput { trace: &t, analysis: &a };
    // Plots drawn beside the report when no plots directory is given.
    let md = MarkdownExporter { path: dir.join("report.md"), plots_dir: None };
    md.check_destination().unwrap_or_else(|e| panic!("{e}"));
    let files = md.export(&input).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(files.len(), 3);
    let text = std::fs::read_to_string(dir.join("report.md")).expect("report");
    let links: Vec<&str> = text.lines().filter_map(|l| l.split("](").nth(1)).map(|l| l.trim_end_matches(')')).collect();
    assert_eq!(links, vec!["report-plots/launch_to_start.svg", "report-plots/top_kernels.svg"]);
    for l in &links {
        assert!(dir.join(l).is_file(), "{l}");
    }
    // With --plots elsewhere, the links point there.
    let plots = dir.join("figs");
    let p = PlotsExporter { dir: plots.clone() };
    p.check_destination().unwrap_or_else(|e| panic!("{e}"));
    p.export(&input).unwrap_or_else(|e| panic!("{e}"));
    let sub = dir.join("sub");
    std::fs::create_dir_all(&sub).expect("dir");
    let md = MarkdownExporter { path: sub.join("r.md"), plots_dir: Some(plots) };
    md.export(&input).unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(sub.join("r.md")).expect("report");
    assert!(text.contains("](../figs/top_kernels.svg)"), "{text}");
    let csv = CsvExporter { dir: dir.join("csv") };
    csv.check_destination().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(csv.export(&input).map(|f| f.len()).ok(), Some(3));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn trace_plots_have_titles_units_and_marks() {
    let (_, a) = load("a100_ddp_train.json.gz");
    let h = launch_to_start_svg(&a).unwrap_or_else(|e| panic!("{e}"));
    assert!(h.starts_with("<svg"));
    assert!(h.contains("Launch-to-start time per launch, whole trace (3774 launches)"));
    assert!(h.contains("(log scale)") && h.contains(">launches<") || h.contains("launches\n"));
    assert!(h.contains("p50 12.3 us"), "p50 marked with the summary's value");
    let bars = top_kernels_svg(&a.report.top_kernels.by_total_time).unwrap_or_else(|e| panic!("{e}"));
    assert!(bars.contains("Top 10 kernels by total GPU time"));
    assert!(bars.contains("total kernel time (ms)"));
    assert!(bars.contains("ncclKernel_AllReduce_RING_LL_Sum_float"), "longest kernel labelled");
    // A trace without GPU work still gets both plots, saying so.
    let (_, cpu) = load("cpu_only.json.gz");
    assert!(launch_to_start_svg(&cpu).unwrap_or_default().contains("no matched launch calls"));
    assert!(top_kernels_svg(&cpu.report.top_kernels.by_total_time).unwrap_or_default().contains("no kernels"));
    assert_eq!((LAUNCH_TO_START_SVG, TOP_KERNELS_SVG), ("launch_to_start.svg", "top_kernels.svg"));
}

#[test]
fn docs_list_every_column_of_every_table() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/tables.md")).expect("docs");
    let (t, a) = load("a100_ddp_train.json.gz");
    for stem in boundscope_reports::tables::TABLES {
        let heading = format!("## `{stem}`");
        let start = doc.find(&heading).unwrap_or_else(|| panic!("docs/tables.md has no section {heading}"));
        let section = doc[start + heading.len()..].split("\n## ").next().unwrap_or("");
        let df = boundscope_reports::tables::analysis_frame(&t, &a, stem).expect("frame");
        for name in df.get_column_names() {
            assert!(section.contains(&format!("`{name}`")), "docs/tables.md, {heading}: column `{name}` undocumented");
        }
    }
}
