//! The collector's process-wide state and CUPTI's callbacks: the one libcupti
//! of the process ([`library`], shared with NVTX's entry point), setup in
//! [`initialize`], buffer hand-out and conversion, the periodic flush,
//! context teardown, and [`finish`] (activity disabled, forced flush, last
//! stats, end of stream), which the exit paths run on a helper thread.

use std::alloc::Layout;
use std::ffi::c_void;
use std::fs::File;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use boundscope_wire::*;
use cupti_sys::*;

use crate::convert::{Converter, HOT_API_CALLS};
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
    /// Activity kinds enabled, disabled again before the final flush.
    enabled: Mutex<Vec<CUpti_ActivityKind>>,
    /// CUPTI stamps records with [`host_clock_ns`].
    host_clock: AtomicBool,
    finished: AtomicBool,
    /// The process that initialized the collector.
    pub(crate) pid: u32,
    buffer_bytes: usize,
    pub(crate) exit_timeout: Duration,
}

static COLLECTOR: OnceLock<Collector> = OnceLock::new();

pub(crate) fn collector() -> Option<&'static Collector> {
    COLLECTOR.get()
}

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
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

/// The one libcupti of this process, loaded by whichever entry point comes
/// first (CUDA's `InitializeInjection` or NVTX's `InitializeInjectionNvtx2`),
/// so that NVTX ranges always reach the copy that records.
static LIBRARY: OnceLock<Result<&'static Cupti, String>> = OnceLock::new();

pub(crate) fn library() -> Result<&'static Cupti, &'static str> {
    let r = LIBRARY.get_or_init(|| match load_cupti() {
        Ok(c) => Ok(&*Box::leak(Box::new(c))),
        Err(e) => Err(e.to_string()),
    });
    r.as_ref().copied().map_err(String::as_str)
}

/// A libcupti already in the process first (PyTorch links one: a second copy
/// would split the program's NVTX ranges from the recording), then the
/// profiler's choice (`BOUNDSCOPE_CUPTI_FILE`), then the search order.
fn load_cupti() -> Result<Cupti, LoadError> {
    if let Some(c) = Cupti::already_loaded() {
        return Ok(c);
    }
    let mut spec = SearchSpec::from_env();
    spec.site_packages = torch_site_packages();
    Cupti::load(&spec)
}

/// Notices raised before the stream starts (NVTX may initialize before
/// CUDA); `None` once the hello frame has taken them.
static EARLY_NOTICES: Mutex<Option<Vec<(u16, u16, String)>>> = Mutex::new(Some(Vec::new()));

/// Sends a notice with the hello frame, or in a frame of its own once the stream runs.
pub(crate) fn notice(level: u16, code: u16, message: String) {
    let mut early = lock(&EARLY_NOTICES);
    if let Some(v) = early.as_mut() {
        v.push((level, code, message));
        return;
    }
    drop(early);
    if let Some(c) = collector() {
        let mut f = FrameBuilder::default();
        let mut conv = lock(&c.converter);
        let id = conv.string(message.as_bytes(), &mut f);
        f.push(&NoticeRec { level, code, message: id });
        if c.queue.push(f).is_ok() { conv.commit() } else { conv.rollback() }
    }
}

/// `InitializeInjectionNvtx2`: hands NVTX's export table to the libcupti the
/// collector records with. Returns what NVTX expects (0: not initialized).
pub(crate) fn forward_nvtx(get_export_table: *const c_void) -> i32 {
    let cupti = match library() {
        Ok(c) => c,
        Err(e) => {
            notice(NoticeRec::WARNING, NoticeRec::NVTX, format!("NVTX ranges not recorded: {e}"));
            return 0;
        }
    };
    if cupti.api_version == NVTX_BROKEN_API_VERSION {
        let m = format!(
            "NVTX ranges not recorded: CUPTI 13.0.0 (API version {}, {}) crashes as NVTX injection in nvtxNameOsThreadA \
             (NVIDIA/NVTX issue 125); use the CUPTI of CUDA 13.0 update 1 or later (nvidia-cuda-cupti>=13.0.85)",
            cupti.api_version,
            cupti.origin()
        );
        report(&m);
        notice(NoticeRec::WARNING, NoticeRec::NVTX, m);
        return 0;
    }
    // SAFETY: NVTX's own argument, passed through unchanged.
    match unsafe { cupti.forward_nvtx_injection(get_export_table) } {
        Some(rc) => {
            notice(NoticeRec::INFO, NoticeRec::NVTX, format!("NVTX ranges go to {} (rc {rc})", cupti.file));
            rc
        }
        None => {
            notice(
                NoticeRec::WARNING,
                NoticeRec::NVTX,
                format!("NVTX ranges not recorded: {} exports no InitializeInjectionNvtx2", cupti.file),
            );
            0
        }
    }
}

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
    let cupti = match library() {
        Ok(c) => {
            notices.push((NoticeRec::INFO, NoticeRec::CUPTI_LIBRARY, format!("libcupti {}", c.origin())));
            Some(c)
        }
        Err(e) => {
            notices.push((NoticeRec::ERROR, NoticeRec::NO_CUPTI, format!("no GPU activity recorded: {e}")));
            None
        }
    };
    let c = Collector {
        cupti,
        converter: Mutex::new(cupti.map_or_else(Converter::new, |k| Converter::for_versions(&k.versions))),
        queue,
        counters,
        sender: Mutex::new(Some(sender)),
        active: AtomicBool::new(false),
        enabled: Mutex::new(Vec::new()),
        host_clock: AtomicBool::new(false),
        finished: AtomicBool::new(false),
        pid: std::process::id(),
        buffer_bytes: env_usize("BOUNDSCOPE_BUFFER_KB", 4096).clamp(64, 256 * 1024) << 10,
        exit_timeout: Duration::from_millis(env_usize("BOUNDSCOPE_EXIT_TIMEOUT_MS", 3000) as u64),
    };
    let c = COLLECTOR.get_or_init(|| c);
    let flush_ms = env_usize("BOUNDSCOPE_FLUSH_MS", 1000).min(u32::MAX as usize) as u32;
    let mut flags = 0u16;
    if let Some(cupti) = c.cupti {
        match start_activity(c, cupti, flush_ms, &mut notices) {
            Ok(started) => {
                flags |= HelloRec::ACTIVE;
                if started.latency {
                    flags |= HelloRec::LATENCY_TIMESTAMPS;
                }
                if started.host_clock {
                    flags |= HelloRec::HOST_CLOCK;
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
                    "CUPTI API version {} ({}) was not checked by this boundscope; reading the record fields shared with CUPTI 12.0",
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
    send_hello(c, flags, notices);
    crate::exit::install((flush_ms > 0).then(|| Duration::from_millis(u64::from(flush_ms))));
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

/// What [`start_activity`] turned on.
struct Started {
    latency: bool,
    host_clock: bool,
}

/// CUPTI's timestamp callback: CLOCK_MONOTONIC, the clock of perf and NVML samples.
unsafe extern "C" fn host_clock_ns() -> u64 {
    monotonic_ns()
}

/// Subscribes and enables activity, in the order CUPTI's headers ask for:
/// timestamp source and latency timestamps before any kind is enabled (the
/// subscription first, so that a machine without a driver gets one error).
fn start_activity(
    c: &Collector,
    cupti: &Cupti,
    flush_ms: u32,
    notices: &mut Vec<(u16, u16, String)>,
) -> Result<Started, CuptiError> {
    let mut warn = |msg: String| notices.push((NoticeRec::WARNING, NoticeRec::ENABLE_FAILED, msg));
    // OS thread ids, so API records line up with perf and /proc. Optional.
    let _ = cupti.use_system_thread_ids();
    let sub = match cupti.subscribe(Some(on_callback)) {
        Err(e) if e.code == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED => {
            return Err(CuptiError {
                name: format!(
                    "{}: another profiler holds CUPTI (the PyTorch profiler, Nsight Systems/Compute, or a second boundscope); \
                     stop it or profile without it",
                    e.name
                ),
                ..e
            });
        }
        r => r?,
    };
    let want_host_clock = std::env::var("BOUNDSCOPE_HOST_CLOCK").map(|v| v != "0").unwrap_or(true);
    let host_clock = want_host_clock
        && match cupti.register_timestamp_callback(host_clock_ns) {
            Some(Ok(())) => true,
            Some(Err(e)) => {
                warn(format!("{e}; CUPTI times are moved onto CLOCK_MONOTONIC by anchors instead"));
                false
            }
            None => false,
        };
    c.host_clock.store(host_clock, Ordering::Release);
    let want_latency = std::env::var("BOUNDSCOPE_LATENCY").map(|v| v != "0").unwrap_or(true);
    let mut latency = false;
    if want_latency {
        match cupti.enable_latency_timestamps(true) {
            Ok(()) => latency = true,
            Err(e) => warn(format!("{e}; kernels carry no queued/submitted times")),
        }
    }
    if let Err(e) = cupti.register_buffer_callbacks(buffer_requested, buffer_completed) {
        let _ = cupti.unsubscribe(sub);
        return Err(e);
    }
    if let Err(e) = cupti.enable_callback(sub, CUPTI_CB_DOMAIN_RESOURCE, CUPTI_CBID_RESOURCE_CONTEXT_DESTROY_STARTING) {
        warn(format!("{e} (context teardown); records of a destroyed context are flushed at exit only"));
    }
    if flush_ms > 0
        && let Some(Err(e)) = cupti.flush_period(flush_ms)
    {
        warn(format!("{e}; full buffers are still flushed every {flush_ms} ms by the collector"));
    }
    let mut enabled = Vec::new();
    for (i, (kind, what)) in KINDS.iter().enumerate() {
        match cupti.activity_enable(*kind) {
            Ok(()) => enabled.push(*kind),
            Err(e) if i < 2 => {
                for k in &enabled {
                    let _ = cupti.activity_disable(*k);
                }
                let _ = cupti.unsubscribe(sub);
                return Err(CuptiError { name: format!("{} (enabling {what})", e.name), ..e });
            }
            Err(e) => warn(format!("{e} (enabling {what}): not recorded")),
        }
    }
    skip_hot_api_calls(cupti, &enabled);
    *lock(&c.enabled) = enabled;
    Ok(Started { latency, host_clock })
}

/// Asks CUPTI (12.6 on) not to record the hot query calls at all; the
/// converter leaves out any that still arrive.
fn skip_hot_api_calls(cupti: &Cupti, enabled: &[CUpti_ActivityKind]) {
    for (kind, domain) in [
        (CUPTI_ACTIVITY_KIND_RUNTIME, CUPTI_CB_DOMAIN_RUNTIME_API),
        (CUPTI_ACTIVITY_KIND_DRIVER, CUPTI_CB_DOMAIN_DRIVER_API),
    ] {
        if !enabled.contains(&kind) {
            continue;
        }
        for (id, _) in cupti.callback_ids_named(domain, &HOT_API_CALLS) {
            if cupti.enable_api_record(domain, id, false).is_none() {
                return;
            }
        }
    }
}

/// Pairs CUPTI's clock with CLOCK_MONOTONIC (read before and after). With
/// the timestamp callback, CUPTI's clock is CLOCK_MONOTONIC: the anchor is the identity.
fn clock_anchor(c: &Collector, cupti: &Cupti) -> Option<ClockAnchorRec> {
    if c.host_clock.load(Ordering::Acquire) {
        let t = monotonic_ns();
        return Some(ClockAnchorRec { cupti_ns: t, host_ns: t, uncertainty_ns: 0, _pad: 0 });
    }
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

fn send_hello(c: &Collector, flags: u16, mut notices: Vec<(u16, u16, String)>) {
    let mut f = FrameBuilder::default();
    let mut conv = lock(&c.converter);
    // Notices raised earlier (NVTX) go first; later ones get frames of their own.
    let mut early = lock(&EARLY_NOTICES);
    let mut all = early.take().unwrap_or_default();
    all.append(&mut notices);
    for (level, code, msg) in &all {
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
    if let Some(a) = c.cupti.and_then(|k| clock_anchor(c, k)) {
        f.push(&a);
    }
    if c.queue.push(f).is_ok() {
        conv.commit();
    } else {
        conv.rollback();
    }
    drop(early);
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
            && let Some(cupti) = c.cupti
        {
            // SAFETY: CUPTI returns the buffer it got from buffer_requested
            // with `valid` bytes of records; it stays ours until freed below.
            let records = unsafe { cupti.records(buffer, valid) };
            convert_buffer(c, cupti, context, stream_id, records);
        }
    });
    if !buffer.is_null() && size > 0 {
        // SAFETY: allocated in buffer_requested with this size and alignment 8.
        unsafe { std::alloc::dealloc(buffer, Layout::from_size_align_unchecked(size, 8)) };
    }
}

fn convert_buffer(c: &Collector, cupti: &Cupti, context: CUcontext, stream_id: u32, mut records: Records<'_>) {
    let t0 = Instant::now();
    let mut frame = FrameBuilder::default();
    let mut conv = lock(&c.converter);
    if let Some(a) = clock_anchor(c, cupti) {
        frame.push(&a);
    }
    for rec in records.by_ref() {
        // SAFETY: a CUPTI record inside its buffer, converted during the
        // completion callback (its name pointers are alive).
        unsafe { conv.convert(rec, &mut frame, cupti) };
    }
    conv.malformed += records.malformed;
    if let Some(dropped) = cupti.dropped_records(context as usize, stream_id) {
        Counters::add(&c.counters.dropped_cupti_records, dropped as u64);
    }
    let converted = c.counters.take_from(&mut conv);
    Counters::add(&c.counters.buffers, 1);
    match c.queue.push(frame) {
        Ok(()) => conv.commit(),
        Err(_) => {
            conv.rollback();
            Counters::add(&c.counters.dropped_queue_records, converted);
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
            flush(c, true);
        }
    });
}

fn flush(c: &Collector, forced: bool) {
    if let Some(cupti) = c.cupti
        && c.active.load(Ordering::Acquire)
        && !disabled()
    {
        let _ = cupti.flush_all(forced);
    }
}

/// The helper thread's timer: hands over the buffers whose records are all
/// complete, so that records stream while the program runs.
pub(crate) fn periodic_flush() {
    if let Some(c) = collector()
        && !c.finished.load(Ordering::Acquire)
        && std::process::id() == c.pid
    {
        flush(c, false);
    }
}

/// Disables activity, flushes CUPTI (forced), closes the queue and waits
/// (bounded) for the sender to write the end of the stream. Runs once, on
/// the helper thread, from whichever exit path comes first.
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
    if let Some(cupti) = c.cupti
        && c.active.load(Ordering::Acquire)
    {
        // As NVIDIA's injection sample does: no new records while the last
        // buffers are flushed.
        for k in lock(&c.enabled).iter() {
            let _ = cupti.activity_disable(*k);
        }
    }
    flush(c, true);
    c.queue.close();
    let handle = lock(&c.sender).take();
    if let Some(mut h) = handle
        && !h.wait(c.exit_timeout)
    {
        report("the profiler did not take the last records in time; the run may be incomplete");
    }
}
