//! A stand-in for CUPTI, for tests on machines without a GPU (feature
//! `fake-source`): activity records laid out exactly like CUPTI's (the
//! `cupti-sys` structs, whose layouts are checked against CUPTI's headers)
//! for a made-up decode loop, pushed through the real converter, queue and
//! sender to a socket or file. Nothing here runs in a profiled program.

use std::ffi::CString;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use boundscope_wire::{ClockAnchorRec, FrameBuilder, HelloRec};
use cupti_sys::records::*;
use cupti_sys::*;

use crate::convert::{ApiNames, Converter};
use crate::queue::{Counters, Queue};
use crate::sender::spawn_sender;

/// The fake CUPTI clock runs this far ahead of CLOCK_MONOTONIC, so that a
/// reader that skipped the clock anchors would be visibly wrong.
pub const FAKE_CUPTI_OFFSET_NS: u64 = 5_000_000_000_000;

struct Names;
impl ApiNames for Names {
    fn api_name(&self, domain: u32, cbid: u32) -> Option<String> {
        (domain == CUPTI_CB_DOMAIN_RUNTIME_API && cbid == CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000)
            .then(|| "cudaLaunchKernel_v7000".to_string())
    }
}

/// CUPTI-layout records of `steps` decode steps: per step an NVTX
/// `boundscope:step` range holding `kernels` launches (runtime API record +
/// kernel record with queued/submitted times, 5 us launch-to-start, 5 us
/// kernels every 12 us, GPU idle between them: a CPU-bound loop). Times start at CUPTI time `t0`.
pub fn decode_loop_records(steps: u32, kernels: u32, pid: u32, t0: u64) -> (Vec<Vec<u8>>, Vec<CString>) {
    let names = vec![
        CString::new("boundscope:step").unwrap_or_default(),
        CString::new("void gemv_kernel<float, 128>(float const*, float*)").unwrap_or_default(),
    ];
    let mut out = Vec::new();
    let mut corr = 1u32;
    for s in 0..steps {
        let base = t0 + u64::from(s) * 200_000;
        let start = CUpti_ActivityMarker2 {
            kind: CUPTI_ACTIVITY_KIND_MARKER,
            flags: CUPTI_ACTIVITY_FLAG_MARKER_START,
            timestamp: base,
            id: s + 1,
            objectKind: CUPTI_ACTIVITY_OBJECT_THREAD,
            objectId: [pid, pid, 0],
            name: names[0].as_ptr(),
            ..Default::default()
        };
        out.push(start.to_bytes());
        for k in 0..kernels {
            let launch = base + 1_000 + u64::from(k) * 12_000;
            let api = CUpti_ActivityAPI {
                kind: CUPTI_ACTIVITY_KIND_RUNTIME,
                cbid: CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000,
                start: launch,
                end: launch + 3_000,
                processId: pid,
                threadId: pid,
                correlationId: corr,
                ..Default::default()
            };
            out.push(api.to_bytes());
            let kr = CUpti_ActivityKernel9 {
                kind: CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL,
                queued: launch + 3_100,
                submitted: launch + 3_500,
                start: launch + 5_000,
                end: launch + 10_000,
                streamId: 7,
                correlationId: corr,
                gridX: 32,
                gridY: 1,
                gridZ: 1,
                blockX: 128,
                blockY: 1,
                blockZ: 1,
                name: names[1].as_ptr(),
                ..Default::default()
            };
            out.push(kr.to_bytes());
            corr += 1;
        }
        let mut end = start;
        end.flags = CUPTI_ACTIVITY_FLAG_MARKER_END;
        end.timestamp = base + 1_000 + u64::from(kernels) * 12_000 + 2_000;
        end.name = std::ptr::null();
        out.push(end.to_bytes());
    }
    (out, names)
}

/// Streams a fake run of `steps` steps to `sink` exactly as the injected
/// library would (hello, clock anchor, one frame per "buffer" of records,
/// stats, end), with CUPTI times anchored at `host_now_ns`.
pub fn stream_fake_run(sink: Box<dyn Write + Send>, steps: u32, kernels: u32, host_now_ns: u64) -> std::io::Result<()> {
    let (queue, rx) = Queue::new(64 << 20);
    let queue = Arc::new(queue);
    let counters = Arc::new(Counters::default());
    let mut sender = spawn_sender(sink, rx, queue.clone(), counters.clone(), 1)?;
    let mut conv = Converter::new();
    let pid = std::process::id();
    let cupti_now = host_now_ns + FAKE_CUPTI_OFFSET_NS;
    let mut f = FrameBuilder::default();
    let exe_name = conv.string(b"fake-target", &mut f);
    f.push(&HelloRec {
        pid,
        cupti_api_version: 130_001,
        kernel_record_version: 10,
        flags: HelloRec::ACTIVE | HelloRec::LATENCY_TIMESTAMPS | HelloRec::LAYOUT_VERIFIED,
        exe_name,
    });
    f.push(&ClockAnchorRec { cupti_ns: cupti_now, host_ns: host_now_ns, uncertainty_ns: 0, _pad: 0 });
    queue.push(f).map_err(|_| std::io::Error::other("queue refused the first frame"))?;
    conv.commit();
    let (records, _names) = decode_loop_records(steps, kernels, pid, cupti_now + 1_000_000);
    // Two "buffers", as CUPTI would hand them over.
    let half = records.len() / 2;
    for chunk in [&records[..half], &records[half..]] {
        let mut frame = FrameBuilder::default();
        for r in chunk {
            // SAFETY: pointer members point into `_names`, alive until the end of this function.
            unsafe { conv.convert(r, &mut frame, &Names) };
        }
        Counters::add(&counters.records, conv.converted);
        Counters::add(&counters.buffers, 1);
        conv.converted = 0;
        queue.push(frame).map_err(|_| std::io::Error::other("queue full"))?;
        conv.commit();
    }
    queue.close();
    if sender.wait(Duration::from_secs(10)) { Ok(()) } else { Err(std::io::Error::other("sender did not finish")) }
}
