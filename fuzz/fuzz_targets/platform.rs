//! Platform files: `Platform::parse` on arbitrary text (seed it with
//! `workloads/platforms/`). Either an error that names the file, or a valid
//! platform on which a small program simulates to finite, positive step times
//! (or stops at the simulator's horizon with an error, never a wrap).
#![no_main]

use boundscope_workloads::program::{Action, HostClass, HostThread, KernelClass, KernelIn, LaunchApi};
use boundscope_workloads::{Dtype, Platform, Program, SimError, SimSpec, simulate};
use libfuzzer_sys::fuzz_target;

fn program() -> Program {
    let mut p = Program::default();
    let gemm = KernelIn { name: "gemm", api: LaunchApi::Driver, class: KernelClass::Gemm, flops: 2e9, bytes: 1e6 };
    p.launch_op("aten::linear", HostClass::Gemm, HostThread::Main, true, &[gemm]);
    let add = KernelIn { name: "add", api: LaunchApi::Runtime, class: KernelClass::Memory, flops: 0.0, bytes: 3e6 };
    p.launch_op("aten::add", HostClass::Elementwise, HostThread::Main, true, &[add]);
    p.action_op("aten::copy_", HostClass::Copy, HostThread::Main, Action::CopyToDevice { bytes: 1 << 20 });
    p.action_op("aten::item", HostClass::Transfer, HostThread::Main, Action::ReadBack { bytes: 8 });
    p
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let platform = match Platform::parse(text, "fuzz.toml") {
        Ok(p) => p,
        Err(e) => {
            assert!(e.to_string().contains("fuzz.toml"), "{e}");
            return;
        }
    };
    let spec = SimSpec { warmup_steps: 1, steps: 2, seed: 1, jitter: 0.05, dtype: Dtype::Bf16, trace_name: None };
    match simulate(&program(), &platform, &spec) {
        Ok(run) => assert!(run.step_ns.iter().all(|&s| s > 0), "{:?}", run.step_ns),
        Err(SimError::PastHorizon { .. }) => {}
        Err(e) => panic!("{e}"),
    }
    let _ = platform.usable_memory_bytes();
});
