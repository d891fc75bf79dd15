//! `libboundscope_inject.so`: the collector that CUDA loads into the profiled
//! program through `CUDA_INJECTION64_PATH` and starts with
//! `InitializeInjection`.
//!
//! It subscribes to CUPTI, enables activity records (kernels with hardware
//! queue timestamps, runtime and driver calls, copies, fills,
//! synchronization, NVTX markers, external correlation, CUPTI overhead),
//! converts each completed CUPTI buffer into one wire frame and queues it; a
//! sender thread writes frames to the Unix socket named by
//! `BOUNDSCOPE_SOCKET` (or the file `BOUNDSCOPE_OUTPUT`). The program is never
//! blocked (a full queue drops and counts) and never taken down: every
//! `extern "C"` entry point runs under `guard`, which catches panics,
//! reports once on stderr with a `boundscope:` prefix, and turns the
//! collector off while the program runs on unprofiled.
//!
//! The same library is `NVTX_INJECTION64_PATH`: its `InitializeInjectionNvtx2`
//! forwards to the one libcupti it loaded (see [`InitializeInjectionNvtx2`]).
//!
//! Only `boundscope-wire`, `cupti-sys` and `libc` are linked in (rule 1).
// FFI with CUPTI and libc: unsafe code is allowed in this crate only (and
// cupti-sys); every block carries a SAFETY note (clippy undocumented_unsafe_blocks).
#![allow(unsafe_code)]

pub mod convert;
#[cfg(feature = "fake-source")]
pub mod fake;
pub mod queue;
pub mod sender;

mod collector;
mod exit;

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

pub use convert::{ApiNames, Converter, Outcome};
pub use queue::{Counters, Queue};
pub use sender::{SenderHandle, SocketSink, spawn_sender};

/// Entry point called by the CUDA driver during `cuInit` when this library
/// is named by `CUDA_INJECTION64_PATH`. Returns 1 (the driver ignores it).
#[unsafe(no_mangle)]
pub extern "C" fn InitializeInjection() -> i32 {
    guard("InitializeInjection", 1, || {
        collector::initialize();
        1
    })
}

/// Entry point called by NVTX when this library is named by
/// `NVTX_INJECTION64_PATH` (which `boundscope profile` sets): forwards NVTX's
/// export table to the libcupti this collector records with, so NVTX ranges
/// always reach the copy that records. Returns 0 when NVTX should run without
/// a tool (no libcupti, or CUPTI 13.0.0, which crashes as NVTX injection).
#[unsafe(no_mangle)]
pub extern "C" fn InitializeInjectionNvtx2(get_export_table: *const std::ffi::c_void) -> i32 {
    guard("InitializeInjectionNvtx2", 0, || collector::forward_nvtx(get_export_table))
}

thread_local! {
    /// Set while boundscope code runs on this thread: its panics stay quiet.
    static IN_BOUNDSCOPE: Cell<bool> = const { Cell::new(false) };
}

/// Set after a panic: every entry point becomes a no-op.
static DISABLED: AtomicBool = AtomicBool::new(false);
static REPORTED_PANIC: AtomicBool = AtomicBool::new(false);
static PANIC_HOOK: Once = Once::new();

pub(crate) fn disabled() -> bool {
    DISABLED.load(Ordering::Acquire)
}

/// Runs `f` for an `extern "C"` entry point: a panic in it is caught,
/// reported once, and disables the collector; `fallback` is returned then.
pub(crate) fn guard<R>(what: &str, fallback: R, f: impl FnOnce() -> R) -> R {
    install_quiet_panic_hook();
    let was = IN_BOUNDSCOPE.with(|c| c.replace(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    IN_BOUNDSCOPE.with(|c| c.set(was));
    match r {
        Ok(v) => v,
        Err(payload) => {
            DISABLED.store(true, Ordering::Release);
            if !REPORTED_PANIC.swap(true, Ordering::AcqRel) {
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                report(&format!(
                    "internal error in {what} ({msg}); profiling stopped, the program continues unprofiled"
                ));
            }
            fallback
        }
    }
}

/// Keeps the default panic message away from the program's stderr for panics
/// caught by [`guard`]; other panics (the program's own, in a Rust program)
/// go to the hook that was there before.
fn install_quiet_panic_hook() {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_BOUNDSCOPE.with(|c| c.get()) {
                previous(info);
            }
        }));
    });
}

/// Writes one line to stderr, prefixed `boundscope:`.
pub(crate) fn report(msg: &str) {
    eprintln!("boundscope: {msg}");
}
