//! Every record layout in `records.rs` against the real CUPTI headers of the
//! PyPI wheels: a C program compiled with gcc against each wheel's headers
//! prints sizeof/offsetof of the records that release emits (chosen by
//! `RecordVersions::for_api_version` from the header's CUPTI_API_VERSION, so
//! the version table is checked too), and the test compares them with the
//! Rust structs' size_of/offset_of.
//!
//! The wheels do not ship `cuda.h`; a stub declares the CUDA types the CUPTI
//! headers name. None of the checked records holds a CUDA type by value
//! (only a pointer to `CUaccessPolicyWindow`), so the stub cannot change them.

#[allow(dead_code)] // each test reads different fields of the shared helper
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use cupti_sys::RecordVersions;
use cupti_sys::records::StructLayout;

const STUB_CUDA_H: &str = "#pragma once
#include <stdint.h>
typedef int CUresult;
typedef int CUdevice;
typedef struct CUctx_st *CUcontext;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;
typedef struct CUfunc_st *CUfunction;
typedef struct CUmod_st *CUmodule;
typedef struct CUgraph_st *CUgraph;
typedef struct CUgraphNode_st *CUgraphNode;
typedef struct CUgraphExec_st *CUgraphExec;
typedef struct CUaccessPolicyWindow_st CUaccessPolicyWindow;
typedef unsigned long long CUdeviceptr;
typedef struct CUuuid_st { char bytes[16]; } CUuuid;
typedef int CUdevice_attribute;
typedef int CUgraphNodeType;
typedef int CUstreamAttrID;
typedef union CUstreamAttrValue_u { char opaque[64]; } CUstreamAttrValue;
";

fn c_program(layouts: &[StructLayout]) -> String {
    let mut s =
        String::from("#include <stddef.h>\n#include <stdio.h>\n#include <cupti_activity.h>\nint main(void) {\n");
    for l in layouts {
        s.push_str(&format!("  printf(\"{0} %zu\\n\", sizeof({0}));\n", l.name));
        for (field, _) in l.fields.iter().filter(|(f, _)| !f.starts_with('_')) {
            let field = field.trim_start_matches("r#");
            s.push_str(&format!("  printf(\"{0}.{1} %zu\\n\", offsetof({0}, {1}));\n", l.name, field));
        }
    }
    s.push_str("  return 0;\n}\n");
    s
}

/// Compiles and runs the program against `include`; returns "name" / "name.field" -> bytes.
fn c_layouts(include: &Path, layouts: &[StructLayout], work: &Path) -> BTreeMap<String, usize> {
    std::fs::create_dir_all(work).expect("work dir");
    std::fs::write(work.join("cuda.h"), STUB_CUDA_H).expect("stub");
    std::fs::write(work.join("builtin_types.h"), "#pragma once\n").expect("stub");
    let src = work.join("layout.c");
    let exe = work.join("layout");
    std::fs::write(&src, c_program(layouts)).expect("source");
    let out = Command::new("gcc")
        .arg(format!("-I{}", work.display()))
        .arg(format!("-I{}", include.display()))
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("running gcc (needed when BOUNDSCOPE_CUPTI_WHEELS is set): {e}"));
    assert!(out.status.success(), "gcc against {}:\n{}", include.display(), String::from_utf8_lossy(&out.stderr));
    let run = Command::new(&exe).output().expect("run layout program");
    assert!(run.status.success());
    String::from_utf8_lossy(&run.stdout)
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

#[test]
fn record_layouts_match_the_cupti_headers() {
    let Some(wheels) = common::wheels("record_layouts_match_the_cupti_headers") else { return };
    let work = std::env::temp_dir().join(format!("boundscope-layout-{}", std::process::id()));
    let mut checked = 0;
    for w in &wheels {
        let versions = RecordVersions::for_api_version(w.api_version)
            .unwrap_or_else(|| panic!("{}: CUPTI_API_VERSION {} unsupported", w.name, w.api_version));
        assert!(versions.verified, "{}: CUPTI_API_VERSION {} is not in the verified table", w.name, w.api_version);
        let layouts = versions.layouts();
        let c = c_layouts(&w.include, &layouts, &work.join(&w.name));
        let mut mismatches = Vec::new();
        for l in &layouts {
            match c.get(l.name) {
                Some(&size) if size == l.size => {}
                other => mismatches.push(format!("sizeof({}) C {other:?} Rust {}", l.name, l.size)),
            }
            for (field, off) in l.fields.iter().filter(|(f, _)| !f.starts_with('_')) {
                let key = format!("{}.{}", l.name, field.trim_start_matches("r#"));
                if c.get(&key) != Some(off) {
                    mismatches.push(format!("offsetof({key}) C {:?} Rust {off}", c.get(&key)));
                }
                checked += 1;
            }
        }
        assert!(mismatches.is_empty(), "{} (CUPTI {}):\n  {}", w.name, w.api_version, mismatches.join("\n  "));
        println!("{} (CUPTI_API_VERSION {}): {} records match", w.name, w.api_version, layouts.len());
    }
    std::fs::remove_dir_all(&work).ok();
    assert!(checked > 100, "only {checked} fields compared");
}
