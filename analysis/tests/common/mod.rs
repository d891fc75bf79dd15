//! Helpers shared by the analysis tests.

use std::path::{Path, PathBuf};

/// Every real trace of `testdata/traces` and `../shared/traces`, sorted
/// within each folder.
pub fn shared_traces() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["../testdata/traces", "../../shared/traces"] {
        let d = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        let mut v: Vec<PathBuf> =
            rd.flatten().map(|e| e.path()).filter(|p| p.to_string_lossy().ends_with(".json.gz")).collect();
        v.sort();
        out.extend(v);
    }
    assert!(out.len() >= 7, "shared traces missing: {out:?}");
    out
}
