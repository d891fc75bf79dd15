//! The collector's process-wide state and CUPTI's callbacks: setup in
//! [`initialize`], buffer hand-out and conversion, context teardown, and
//! [`finish`] (flush, last stats, end of stream), which the exit paths call.

use std::alloc::Layout;
use std::ffi::c_void;
use std::fs::File;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use boundscope_wire::*;
use cupti_sys::*;

use crate::convert::Converter;
use crate::queue::{Counters, Queue};
use crate::sender::{SenderHandle, SocketSink, spawn_sender};
use crate::{disabled, guard, report};

/// Source id the collector writes; the profiler renumbers connections.
const SOURCE: u32 = 1;

pub(crate) struct Collector {
    cupti: Option<&'static Cupti>,
    converter: Mutex<Converter>,
    queue: Arc<Queue>,
    counters: Arc<Counters>,
    sender: Mutex<Option<SenderHandle>>,
    /// CUPTI activity is enabled.
    active: AtomicBool,
    finished: AtomicBool,
    subscriber: AtomicUsize,
    /// The process that initialized the collector.
    pub(crate) pid: u32,
    buffer_bytes: usize,
    exit_timeout: Duration,
}

static COLLECTOR: OnceLock<Collector> = OnceLock::new();

pub(crate) fn collector() -> Option<&'static Collector> {
    COLLECTOR.get()
}

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

/// Activity kinds to enable; the first two are required.
const KINDS: [(CUpti_ActivityKind, &str); 9] = [
    (CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, "kernels"),
    (CUPTI_ACTIVITY_KIND_RUNTIME, "runtime API calls"),
    (CUPTI_ACTIVITY_KIND_DRIVER, "driver API calls"),
    (CUPTI_ACTIVITY_KIND_MEMCPY, "memory copies"),
    (CUPTI_ACTIVITY_KIND_MEMSET, "memory sets"),
    (CUPTI_ACTIVITY_KIND_SYNCHRONIZATION, "synchronization"),
    (CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION, "external correlation"),
    (CUPTI_ACTIVITY_KIND_MARKER, "NVTX markers"),
    (CUPTI_ACTIVITY_KIND_OVERHEAD, "CUPTI overhead"),
];

/// Sets everything up. Problems are reported once on stderr and as notice
/// records; the program always continues.
pub(crate) fn initialize() {
    if COLLECTOR.get().is_some() {
        return;
    }
    let sink: Box<dyn Write + Send> = match open_sink() {
        Ok(Some(s)) => s,
        Ok(None) => {
            report(
                "BOUNDSCOPE_SOCKET and BOUNDSCOPE_OUTPUT are not set; not profiling (run the program under `boundscope profile`)",
            );
            return;
        }
        Err(e) => {
            report(&format!("{e}; not profiling, the program continues"));
            return;
        }
    };
    let (queue, rx) = Queue::new(env_usize("BOUNDSCOPE_QUEUE_MB", 64) << 20);
    let queue = Arc::new(queue);
    let counters = Arc::new(Counters::default());
    let sender = match spawn_sender(sink, rx, queue.clone(), counters.clone(), SOURCE) {
        Ok(h) => h,
        Err(e) => {
            report(&format!("cannot start the sender thread ({e}); not profiling"));
            return;
        }
    };
    let mut notices: Vec<(u16, u16, String)> = Vec::new();
    let cupti = match load_cupti() {
        Ok(c) => Some(&*Box::leak(Box::new(c))),
        Err(e) => {
            notices.push((NoticeRec::ERROR, NoticeRec::NO_CUPTI, format!("no GPU activity recorded: {e}")));
            None
        }
    };
    let c = Collector {
        cupti,
        converter: Mutex::new(Converter::new()),
        queue,
        counters,
        sender: Mutex::new(Some(sender)),
        active: AtomicBool::new(false),
        finished: AtomicBool::new(false),
        subscriber: AtomicUsize::new(0),
        pid: std::process::id(),
        buffer_bytes: env_usize("BOUNDSCOPE_BUFFER_KB", 4096).clamp(64, 256 * 1024) << 10,
        exit_timeout: Duration::from_millis(env_usize("BOUNDSCOPE_EXIT_TIMEOUT_MS", 3000) as u64),
    };
    let c = COLLECTOR.get_or_init(|| c);
    let mut flags = 0u16;
    if let Some(cupti) = c.cupti {
        match start_activity(c, cupti, &mut notices) {
            Ok(latency) => {
                flags |= HelloRec::ACTIVE;
                if latency {
                    flags |= HelloRec::LATENCY_TIMESTAMPS;
                }
                c.active.store(true, Ordering::Release);
            }
            Err(e) => {
                notices.push((NoticeRec::ERROR, NoticeRec::SUBSCRIBE_FAILED, format!("no GPU activity recorded: {e}")))
            }
        }
        if cupti.versions.verified {
            flags |= HelloRec::LAYOUT_VERIFIED;
        } else {
            notices.push((
                NoticeRec::WARNING,
                NoticeRec::UNVERIFIED_LAYOUT,
                format!(
                    "CUPTI API version {} ({}) was not checked by this boundscope; reading the record fields shared with CUPTI 12.x",
                    cupti.api_version, cupti.versions.release
                ),
            ));
        }
    }
    for (level, _, msg) in &notices {
        if *level >= NoticeRec::WARNING {
            report(msg);
        }
    }
    send_hello(c, flags, &notices);
    crate::exit::install();
}

fn open_sink() -> Result<Option<Box<dyn Write + Send>>, String> {
    if let Some(p) = std::env::var_os("BOUNDSCOPE_SOCKET").filter(|v| !v.is_empty()) {
        let s = UnixStream::connect(&p).map_err(|e| {
            format!("cannot connect to the profiler at BOUNDSCOPE_SOCKET={} ({e})", PathBuf::from(&p).display())
        })?;
        return Ok(Some(Box::new(SocketSink(s))));
    }
    if let Some(p) = std::env::var_os("BOUNDSCOPE_OUTPUT").filter(|v| !v.is_empty()) {
        let f = File::create(&p)
            .map_err(|e| format!("cannot create BOUNDSCOPE_OUTPUT={} ({e})", PathBuf::from(&p).display()))?;
        return Ok(Some(Box::new(f)));
    }
    Ok(None)
}

/// A libcupti already in the process first (PyTorch links one), then the search order.
fn load_cupti() -> Result<Cupti, LoadError> {
    if let Some(c) = Cupti::already_loaded() {
        return Ok(c);
    }
    let mut spec = SearchSpec::from_env();
    spec.site_packages = torch_site_packages();
    Cupti::load(&spec)
}

/// `site-packages` directories of a PyTorch loaded in this process (from
/// /proc/self/maps: `.../site-packages/torch/lib/libtorch*.so`).
fn torch_site_packages() -> Vec<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let mut out: Vec<PathBuf> = Vec::new();
    for line in maps.lines() {
        if let Some(i) = line.find("/torch/lib/") {
            let start = line.find('/').unwrap_or(i);
            let sp = PathBuf::from(&line[start..i]);
            if !out.contains(&sp) {
                out.push(sp);
            }
        }
    }
    out
}

/// Subscribes and enables activity; returns whether latency timestamps are on.
fn start_activity(c: &Collector, cupti: &Cupti, notices: &mut Vec<(u16, u16, String)>) -> Result<bool, CuptiError> {
    // SAFETY (all calls below): CUPTI entry points called with the argument
    // types of their declarations; pointers passed are to live locals.
    if let Some(set_tid) = cupti.cuptiSetThreadIdType {
        // OS thread ids, so API records line up with perf and /proc. Optional.
        // SAFETY: see above.
        let _ = unsafe { set_tid(CUPTI_ACTIVITY_THREAD_ID_TYPE_SYSTEM) };
    }
    let mut sub: CUpti_SubscriberHandle = std::ptr::null_mut();
    // SAFETY: see above; `on_callback` has the CUpti_CallbackFunc signature.
    let rc = unsafe { (cupti.cuptiSubscribe)(&mut sub, Some(on_callback), std::ptr::null_mut()) };
    if rc == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED {
        return Err(CuptiError {
            call: "cuptiSubscribe",
            code: rc,
            name: format!(
                "{}: another profiler holds CUPTI (the PyTorch profiler, Nsight Systems/Compute, or a second boundscope); \
                 stop it or profile without it",
                cupti.result_string(rc)
            ),
        });
    }
    cupti.check("cuptiSubscribe", rc)?;
    c.subscriber.store(sub as usize, Ordering::Release);
    // SAFETY: see above; the functions have the CUPTI buffer callback signatures.
    let rc = unsafe { (cupti.cuptiActivityRegisterCallbacks)(Some(buffer_requested), Some(buffer_completed)) };
    if let Err(e) = cupti.check("cuptiActivityRegisterCallbacks", rc) {
        // SAFETY: see above.
        unsafe { (cupti.cuptiUnsubscribe)(sub) };
        return Err(e);
    }
    // SAFETY: see above.
    let rc = unsafe {
        (cupti.cuptiEnableCallback)(1, sub, CUPTI_CB_DOMAIN_RESOURCE, CUPTI_CBID_RESOURCE_CONTEXT_DESTROY_STARTING)
    };
    if let Err(e) = cupti.check("cuptiEnableCallback(context destroy)", rc) {
        notices.push((NoticeRec::WARNING, NoticeRec::ENABLE_FAILED, format!("{e}; records are flushed at exit only")));
    }
    let want_latency = std::env::var("BOUNDSCOPE_LATENCY").map(|v| v != "0").unwrap_or(true);
    let mut latency = false;
    if want_latency {
        // SAFETY: see above.
        let rc = unsafe { (cupti.cuptiActivityEnableLatencyTimestamps)(1) };
        match cupti.check("cuptiActivityEnableLatencyTimestamps", rc) {
            Ok(()) => latency = true,
            Err(e) => notices.push((
                NoticeRec::WARNING,
                NoticeRec::ENABLE_FAILED,
                format!("{e}; kernels carry no queued/submitted times"),
            )),
        }
    }
    for (i, (kind, what)) in KINDS.iter().enumerate() {
        // SAFETY: see above.
        let rc = unsafe { (cupti.cuptiActivityEnable)(*kind) };
        if let Err(e) = cupti.check("cuptiActivityEnable", rc) {
            if i < 2 {
                for (k, _) in &KINDS[..i] {
                    // SAFETY: see above.
                    unsafe { (cupti.cuptiActivityDisable)(*k) };
                }
                // SAFETY: see above.
                unsafe { (cupti.cuptiUnsubscribe)(sub) };
                return Err(CuptiError { name: format!("{} (enabling {what})", e.name), ..e });
            }
            notices.push((
                NoticeRec::WARNING,
                NoticeRec::ENABLE_FAILED,
                format!("{e} (enabling {what}): not recorded"),
            ));
        }
    }
    Ok(latency)
}

/// Pairs CUPTI's clock with CLOCK_MONOTONIC (read before and after).
fn clock_anchor(cupti: &Cupti) -> Option<ClockAnchorRec> {
    let t0 = monotonic_ns();
    let cupti_ns = cupti.timestamp().ok()?;
    let t1 = monotonic_ns();
    Some(ClockAnchorRec {
        cupti_ns,
        host_ns: t0 / 2 + t1 / 2,
        uncertainty_ns: (t1 - t0).min(u64::from(u32::MAX)) as u32,
        _pad: 0,
    })
}

pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn send_hello(c: &Collector, flags: u16, notices: &[(u16, u16, String)]) {
    let mut f = FrameBuilder::default();
    let mut conv = match c.converter.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    for (level, code, msg) in notices {
        let message = conv.string(msg.as_bytes(), &mut f);
        f.push(&NoticeRec { level: *level, code: *code, message });
    }
    let exe = std::fs::read_to_string("/proc/self/comm").unwrap_or_default();
    let exe_name = conv.string(exe.trim().as_bytes(), &mut f);
    let (api, kernel) = c.cupti.map_or((0, 0), |k| (k.api_version, k.versions.kernel.number()));
    f.push(&HelloRec {
        pid: std::process::id(),
        cupti_api_version: api,
        kernel_record_version: kernel,
        flags,
        exe_name,
    });
    if let Some(a) = c.cupti.and_then(clock_anchor) {
        f.push(&a);
    }
    if c.queue.push(f).is_ok() {
        conv.commit();
    } else {
        conv.rollback();
    }
}

/// CUPTI asks for an empty buffer.
unsafe extern "C" fn buffer_requested(buffer: *mut *mut u8, size: *mut usize, max_num_records: *mut usize) {
    guard("buffer request", (), || {
        let bytes = collector().map_or(1 << 20, |c| c.buffer_bytes);
        let layout = Layout::from_size_align(bytes, 8).ok();
        // SAFETY: a non-zero size with alignment 8; null on failure is handled.
        let p = layout.map_or(std::ptr::null_mut(), |l| unsafe { std::alloc::alloc(l) });
        // SAFETY: CUPTI passes valid out-pointers.
        unsafe {
            *buffer = p;
            *size = if p.is_null() { 0 } else { bytes };
            *max_num_records = 0;
        }
    });
}

/// CUPTI hands back a filled buffer: convert, queue, free. Nothing blocks.
unsafe extern "C" fn buffer_completed(context: CUcontext, stream_id: u32, buffer: *mut u8, size: usize, valid: usize) {
    guard("buffer completion", (), || {
        if let Some(c) = collector()
            && !disabled()
            && !buffer.is_null()
            && let Some(cupti) = c.cupti
        {
            // SAFETY: CUPTI returns the buffer it got from buffer_requested with `valid` bytes of records.
            unsafe { convert_buffer(c, cupti, context, stream_id, buffer, valid) };
        }
    });
    if !buffer.is_null() && size > 0 {
        // SAFETY: allocated in buffer_requested with this size and alignment 8.
        unsafe { std::alloc::dealloc(buffer, Layout::from_size_align_unchecked(size, 8)) };
    }
}

/// # Safety
/// `buffer` holds `valid` bytes of CUPTI activity records.
unsafe fn convert_buffer(
    c: &Collector,
    cupti: &Cupti,
    context: CUcontext,
    stream_id: u32,
    buffer: *mut u8,
    valid: usize,
) {
    let t0 = Instant::now();
    let mut frame = FrameBuilder::with_capacity(valid / 2 + 256);
    let mut conv = match c.converter.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    if let Some(a) = clock_anchor(cupti) {
        frame.push(&a);
    }
    let mut record: *mut u8 = std::ptr::null_mut();
    loop {
        // SAFETY: CUPTI walks its own buffer; `record` is an out-pointer.
        let rc = unsafe { (cupti.cuptiActivityGetNextRecord)(buffer, valid, &mut record) };
        if rc != CUPTI_SUCCESS {
            if rc != CUPTI_ERROR_MAX_LIMIT_REACHED {
                conv.malformed += 1;
            }
            break;
        }
        let offset = (record as usize).wrapping_sub(buffer as usize);
        if offset >= valid {
            conv.malformed += 1;
            break;
        }
        // SAFETY: the record lies inside the valid part of the buffer.
        let rec = unsafe { std::slice::from_raw_parts(record, valid - offset) };
        // SAFETY: a CUPTI record inside its buffer, converted during the completion callback.
        unsafe { conv.convert(rec, &mut frame, cupti) };
    }
    let mut dropped = 0usize;
    // SAFETY: out-pointer to a local.
    if unsafe { (cupti.cuptiActivityGetNumDroppedRecords)(context, stream_id, &mut dropped) } == CUPTI_SUCCESS {
        Counters::add(&c.counters.dropped_cupti_records, dropped as u64);
    }
    let records = conv.converted;
    Counters::add(&c.counters.records, records);
    Counters::add(&c.counters.unknown_kinds, conv.unknown_kinds);
    Counters::add(&c.counters.malformed, conv.malformed);
    Counters::add(&c.counters.buffers, 1);
    conv.converted = 0;
    conv.unknown_kinds = 0;
    conv.malformed = 0;
    match c.queue.push(frame) {
        Ok(()) => conv.commit(),
        Err(_) => {
            conv.rollback();
            Counters::add(&c.counters.dropped_queue_records, records);
        }
    }
    drop(conv);
    Counters::add(&c.counters.callback_ns, t0.elapsed().as_nanos() as u64);
}

/// Callback API: flush when a context is being destroyed (its records would
/// otherwise be lost with it).
unsafe extern "C" fn on_callback(
    _userdata: *mut c_void,
    domain: CUpti_CallbackDomain,
    cbid: CUpti_CallbackId,
    _data: *const c_void,
) {
    guard("context teardown callback", (), || {
        if domain == CUPTI_CB_DOMAIN_RESOURCE
            && cbid == CUPTI_CBID_RESOURCE_CONTEXT_DESTROY_STARTING
            && let Some(c) = collector()
        {
            flush(c, CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
        }
    });
}

fn flush(c: &Collector, flag: u32) {
    if let Some(cupti) = c.cupti
        && c.active.load(Ordering::Acquire)
        && !disabled()
    {
        // SAFETY: plain call; CUPTI invokes buffer_completed for pending buffers.
        unsafe { (cupti.cuptiActivityFlushAll)(flag) };
    }
}

/// Flushes CUPTI, closes the queue and waits (bounded) for the sender to
/// write the end of the stream. Runs once, from whichever exit path comes first.
pub(crate) fn finish() {
    let Some(c) = collector() else { return };
    // A forked child inherits this state but not the sender thread: its
    // records (if any) are not ours to finish, and waiting would only delay its exit.
    if std::process::id() != c.pid {
        return;
    }
    if c.finished.swap(true, Ordering::AcqRel) {
        return;
    }
    flush(c, CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
    c.queue.close();
    let handle = match c.sender.lock() {
        Ok(mut g) => g.take(),
        Err(p) => p.into_inner().take(),
    };
    if let Some(mut h) = handle
        && !h.wait(c.exit_timeout)
    {
        report("the profiler did not take the last records in time; the run may be incomplete");
    }
}
