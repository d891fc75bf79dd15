//! Loading the wheels' real libcupti on a machine without an NVIDIA driver:
//! version and timestamp work, subscribing is an error code (not a crash),
//! and a missing library is an error that lists where boundscope looked.

#[allow(dead_code)] // each test reads different fields of the shared helper
mod common;

use std::ffi::OsString;
use std::path::PathBuf;

use cupti_sys::*;

fn lib_file(dir: &std::path::Path) -> PathBuf {
    std::fs::read_dir(dir)
        .expect("lib dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("libcupti.so")))
        .unwrap_or_else(|| panic!("no libcupti in {}", dir.display()))
}

#[test]
fn wheel_libcupti_loads_and_reports_errors_cleanly() {
    let Some(wheels) = common::wheels("wheel_libcupti_loads_and_reports_errors_cleanly") else { return };
    let mut loaded = 0;
    for w in &wheels {
        let path = lib_file(&w.lib);
        match Cupti::open(path.clone().into_os_string(), "test") {
            Ok(c) => {
                loaded += 1;
                assert_eq!(c.api_version, w.api_version, "{}: header and library disagree", w.name);
                let t1 = c.timestamp().expect("cuptiGetTimestamp works without a driver");
                let t2 = c.timestamp().expect("twice");
                assert!(t1 > 0 && t2 >= t1, "{t1} {t2}");
                assert_eq!(
                    c.callback_name(CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000)
                        .as_deref(),
                    Some("cudaLaunchKernel_v7000")
                );
                // No driver here: CUPTI answers with an error code.
                let err = c.subscribe_without_callback().expect_err("no driver on this machine");
                assert!(err.name.starts_with("CUPTI_ERROR_"), "{err}");
                assert!(err.to_string().starts_with("cuptiSubscribe failed: CUPTI_ERROR_"), "{err}");
                assert_eq!(
                    c.result_string(CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED),
                    "CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED"
                );
                println!("{}: {} loaded, subscribe -> {err}", w.name, c.origin());
            }
            // CUPTI 13.5 without a driver fails even cuptiGetVersion: an error, not a crash.
            Err(why) => {
                assert!(w.api_version >= 130_100, "{}: CUPTI {} should load here: {why}", w.name, w.api_version);
                assert!(why.contains("cuptiGetVersion failed"), "{why}");
                println!("{}: not usable without a driver: {why}", w.name);
            }
        }
    }
    assert!(loaded >= 2, "the 12.x and 13.0 wheels must load without a driver");
}

#[test]
fn hot_api_calls_are_found_by_name_in_every_release() {
    let Some(wheels) = common::wheels("hot_api_calls_are_found_by_name_in_every_release") else { return };
    for w in &wheels {
        let Ok(c) = Cupti::open(lib_file(&w.lib).into_os_string(), "test") else { continue };
        let rt = c.callback_ids_named(CUPTI_CB_DOMAIN_RUNTIME_API, &["cudaGetDevice", "cudaLaunchKernel"]);
        let names: Vec<&str> = rt.iter().map(|(_, n)| strip_version(n)).collect();
        assert!(names.contains(&"cudaGetDevice") && names.contains(&"cudaLaunchKernel"), "{}: {rt:?}", w.name);
        let drv = c.callback_ids_named(CUPTI_CB_DOMAIN_DRIVER_API, &["cuCtxGetCurrent"]);
        assert!(!drv.is_empty(), "{}: cuCtxGetCurrent not found", w.name);
        // Fine-grained API record control exists from 12.6 on.
        assert_eq!(
            c.enable_api_record(CUPTI_CB_DOMAIN_RUNTIME_API, rt[0].0, false).is_some(),
            w.api_version >= 24,
            "{}",
            w.name
        );
        println!("{}: {} runtime, {} driver ids named", w.name, rt.len(), drv.len());
    }
}

#[test]
fn search_order_and_missing_library_error() {
    let spec = SearchSpec {
        chosen: Some((PathBuf::from("/chosen/libcupti.so.12"), "nvidia-cuda-cupti-cu12 wheel next to PyTorch".into())),
        env_path: Some(PathBuf::from("/nonexistent/libcupti.so")),
        cuda_home: Some(PathBuf::from("/opt/cuda-x")),
        site_packages: vec![PathBuf::from("/sp")],
    };
    let c: Vec<String> = candidates(&spec).iter().map(|c| c.to_string()).collect();
    // The profiler's choice first, then the one order both the profiler and
    // the collector use: the wheel PyTorch loads goes before the toolkit.
    assert_eq!(
        c,
        vec![
            "/chosen/libcupti.so.12 (nvidia-cuda-cupti-cu12 wheel next to PyTorch)",
            "/nonexistent/libcupti.so (BOUNDSCOPE_CUPTI_PATH)",
            "/sp/nvidia/cu13/lib/libcupti.so.13 (nvidia-cuda-cupti wheel next to PyTorch)",
            "/sp/nvidia/cuda_cupti/lib/libcupti.so.12 (nvidia-cuda-cupti-cu12 wheel next to PyTorch)",
            "/opt/cuda-x/extras/CUPTI/lib64/libcupti.so (CUDA toolkit)",
            "/usr/local/cuda/extras/CUPTI/lib64/libcupti.so (CUDA toolkit)",
            "libcupti.so (dynamic loader path)",
            "libcupti.so.13 (dynamic loader path)",
            "libcupti.so.12 (dynamic loader path)",
        ]
    );
    // A file that is not a library, and nothing else on this machine (no CUDA here).
    let not_lib = std::env::temp_dir().join(format!("boundscope-not-cupti-{}.so", std::process::id()));
    std::fs::write(&not_lib, b"not an ELF file").expect("write");
    let err = Cupti::open(OsString::from(&not_lib), "test").expect_err("not a library");
    assert!(!err.is_empty());
    std::fs::remove_file(&not_lib).ok();
    // Only where no CUPTI was loaded by the other tests of this process (a
    // loaded libcupti.so.12 answers the loader-path lookup by its soname).
    if common::wheel_root().is_none() && !PathBuf::from("/usr/local/cuda").exists() {
        let spec = SearchSpec { env_path: Some(PathBuf::from("/nonexistent/libcupti.so")), ..SearchSpec::default() };
        let e = Cupti::load(&spec).expect_err("no CUPTI on this machine");
        let msg = e.to_string();
        assert!(msg.contains("BOUNDSCOPE_CUPTI_PATH"), "{msg}");
        assert!(msg.contains("/nonexistent/libcupti.so (BOUNDSCOPE_CUPTI_PATH): no such file"), "{msg}");
        assert!(msg.contains("libcupti.so.12 (dynamic loader path)"), "{msg}");
    }
}

#[test]
fn cupti_path_directory_finds_the_wheel_library() {
    let Some(wheels) = common::wheels("cupti_path_directory_finds_the_wheel_library") else { return };
    let w = wheels.iter().find(|w| w.api_version < 130_000).expect("a 12.x wheel");
    let spec = SearchSpec { env_path: Some(w.lib.clone()), ..SearchSpec::default() };
    let c = Cupti::load(&spec).expect("found through BOUNDSCOPE_CUPTI_PATH");
    assert_eq!(c.why, "BOUNDSCOPE_CUPTI_PATH");
    assert!(c.file.starts_with(&w.lib.display().to_string()), "{}", c.file);
    assert_eq!(c.api_version, w.api_version);
}
