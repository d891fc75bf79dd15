//! Finds the CUPTI wheels that `.ci/run` installs (BOUNDSCOPE_CUPTI_WHEELS:
//! one `pip install --target` directory per wheel under it).

use std::path::{Path, PathBuf};

/// One installed wheel: its include and lib directories and its CUPTI_API_VERSION.
#[derive(Debug)]
pub struct Wheel {
    pub name: String,
    pub include: PathBuf,
    pub lib: PathBuf,
    pub api_version: u32,
}

/// BOUNDSCOPE_CUPTI_WHEELS, else `target/cupti-wheels` (where .ci/run installs them) when it exists.
pub fn wheel_root() -> Option<PathBuf> {
    let installed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/cupti-wheels");
    match std::env::var_os("BOUNDSCOPE_CUPTI_WHEELS") {
        Some(root) => Some(PathBuf::from(root)),
        None => installed.is_dir().then_some(installed),
    }
}

/// The wheels under BOUNDSCOPE_CUPTI_WHEELS (else target/cupti-wheels), or `None` (with the reason
/// printed) when neither is there.
pub fn wheels(test: &str) -> Option<Vec<Wheel>> {
    let Some(root) = wheel_root() else {
        println!(
            "{test}: skipped: BOUNDSCOPE_CUPTI_WHEELS is not set and target/cupti-wheels does not exist \
             (.ci/run installs the nvidia-cuda-cupti wheels there and sets it)"
        );
        return None;
    };
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("BOUNDSCOPE_CUPTI_WHEELS={}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    dirs.sort();
    for d in dirs {
        for sub in ["nvidia/cuda_cupti", "nvidia/cu13"] {
            let base = d.join(sub);
            let include = base.join("include");
            if include.join("cupti_activity.h").exists() {
                let api_version = header_api_version(&include.join("cupti_version.h"));
                let name = d.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                out.push(Wheel { name, include, lib: base.join("lib"), api_version });
            }
        }
    }
    assert!(
        out.len() >= 2,
        "BOUNDSCOPE_CUPTI_WHEELS={} holds {} CUPTI wheel(s); expected the 12.x and 13.x wheels",
        root.display(),
        out.len()
    );
    Some(out)
}

fn header_api_version(path: &Path) -> u32 {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .find_map(|l| l.trim().strip_prefix("#define CUPTI_API_VERSION")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{}: no CUPTI_API_VERSION", path.display()))
}
