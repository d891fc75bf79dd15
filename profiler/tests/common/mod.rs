//! Helpers shared by the CLI tests: run the built binary, find the shared
//! traces, make scratch directories.
// Each test binary uses its own subset.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A trace of `testdata/traces/`.
pub fn trace(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/traces").join(name)
}

/// Runs the built `boundscope` with `args`.
pub fn boundscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_boundscope")).args(args).output().expect("run boundscope")
}

/// `boundscope sweep` of `workload` on one simulated `platform` into `out`
/// (1 warm-up step, then `steps`), extra arguments after; asserts it succeeded.
#[allow(dead_code)]
pub fn sim_sweep(out: &Path, workload: &str, batch: &str, platform: &str, steps: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "sweep",
        "--workload",
        workload,
        "--batch",
        batch,
        "--platform",
        platform,
        "--steps",
        steps,
        "--warmup",
        "1",
        "--out",
        s(out),
    ];
    args.extend_from_slice(extra);
    let o = boundscope(&args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    o
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An empty scratch directory `bs-<group>-<pid>-<name>` under the temp dir.
pub fn temp_dir(group: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bs-{group}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// A path as the `&str` argument the CLI takes.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Every key path of a JSON document (`a.b[].c`), sorted, once each: a
/// snapshot of them shows any added, removed or renamed field.
pub fn key_paths(v: &serde_json::Value) -> Vec<String> {
    fn walk(v: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    out.push(p.clone());
                    walk(v, &p, out);
                }
            }
            serde_json::Value::Array(a) => {
                for v in a {
                    walk(v, &format!("{prefix}[]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, "", &mut out);
    out.sort();
    out.dedup();
    out
}
