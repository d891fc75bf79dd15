//! Fault injection: every exporter, with the disk "full" after N bytes for
//! N from 0 to past the whole output, fails with the disk-full error (an I/O
//! error, exit code 2 in the CLI) and leaves every file complete or absent:
//! no temporary `.NAME.partial-PID` file and no truncated output.
//!
//! One test function: the write budget is global to the process.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use boundscope_reports::output::fault::set_write_budget;
use boundscope_reports::{
    ChromeExporter, CsvExporter, ExportError, ExportInput, Exporter, MarkdownExporter, ParquetExporter, PlotsExporter,
};
use common::{load, temp_dir};

fn exporters(dir: &Path) -> Vec<(&'static str, Box<dyn Exporter>)> {
    vec![
        ("chrome", Box::new(ChromeExporter { path: dir.join("t.json") })),
        ("chrome-gz", Box::new(ChromeExporter { path: dir.join("t.json.gz") })),
        ("csv", Box::new(CsvExporter { dir: dir.join("csv") })),
        ("parquet", Box::new(ParquetExporter { dir: dir.join("parquet") })),
        ("plots", Box::new(PlotsExporter { dir: dir.join("plots") })),
        ("markdown", Box::new(MarkdownExporter { path: dir.join("report.md"), plots_dir: None })),
    ]
}

/// Every file under `dir`, by path relative to it, with its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).map(Path::to_path_buf).unwrap_or_default();
                out.insert(rel, std::fs::read(&p).unwrap_or_default());
            }
        }
    }
    out
}

#[test]
fn a_full_disk_leaves_every_output_complete_or_absent() {
    let (t, a) = load("a100_simple_add.json.gz");
    let input = ExportInput { trace: &t, analysis: &a };

    set_write_budget(None);
    let reference_dir = temp_dir("full-disk", "reference");
    for (_, e) in exporters(&reference_dir) {
        e.check_destination().unwrap_or_else(|err| panic!("{err}"));
        e.export(&input).unwrap_or_else(|err| panic!("{err}"));
    }
    let reference = files(&reference_dir);
    assert!(reference.len() >= 10, "{:?}", reference.keys());

    let mut failures = 0;
    for (name, _) in exporters(&reference_dir) {
        let total: usize = {
            let dir = temp_dir("full-disk", &format!("{name}-size"));
            let (_, e) = exporters(&dir).into_iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("{name}"));
            e.check_destination().unwrap_or_else(|err| panic!("{err}"));
            e.export(&input).unwrap_or_else(|err| panic!("{err}"));
            files(&dir).values().map(Vec::len).sum()
        };
        // Budgets from nothing to past the whole output: every buffer flush,
        // every file of a multi-file exporter, and the final flush of each.
        let mut budgets: Vec<usize> = (0..=40).map(|i| total * i / 40).collect();
        budgets.extend([1, 100, 4095, 4096, 65_536, total.saturating_sub(1), total + 1]);
        budgets.sort_unstable();
        budgets.dedup();
        for budget in budgets {
            let dir = temp_dir("full-disk", &format!("{name}-{budget}"));
            let (_, e) = exporters(&dir).into_iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("{name}"));
            e.check_destination().unwrap_or_else(|err| panic!("{err}"));
            set_write_budget(Some(budget as u64));
            let result = e.export(&input);
            set_write_budget(None);
            match &result {
                Ok(_) => assert!(budget >= total, "{name} with {budget} of {total} bytes succeeded"),
                Err(ExportError::Io { error, .. }) => {
                    assert_eq!(error.raw_os_error(), Some(28), "{name} at {budget}: {error}");
                    failures += 1;
                }
                Err(other) => panic!("{name} at {budget}: not an I/O error: {other}"),
            }
            for (rel, bytes) in files(&dir) {
                let file = rel.to_string_lossy();
                assert!(!file.contains(".partial-"), "{name} at {budget} left {file}");
                assert!(reference.get(&rel) == Some(&bytes), "{name} at {budget}: {file} is not the complete output");
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    assert!(failures > 100, "{failures}");
    let _ = std::fs::remove_dir_all(&reference_dir);
}
