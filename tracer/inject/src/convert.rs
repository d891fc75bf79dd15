//! CUPTI activity records (raw bytes, as CUPTI lays them out in its buffers)
//! to boundscope wire records. The kind is read as a raw `u32`: a newer
//! libcupti may emit kinds this code does not know, which are counted, not
//! fatal. Fields are read at the offsets of the `cupti-sys` record structs,
//! whose layouts are checked against CUPTI's headers; newer record versions
//! are read through the prefix they share with the oldest supported one.
//!
//! Records CUPTI could not finish are dropped and counted, never sent: a
//! kernel, copy, fill, API call or synchronization without a start or an end
//! (a forced flush returns such records; CUPTI marks a kernel it "could not
//! timestamp" with zeros), which would otherwise land 1.7e18 ns from the rest
//! of the trace. Queued/submitted times are kept only in the order the
//! hardware produces them (`0 < queued <= submitted <= start`); others are
//! cleared and counted. Runtime and driver calls that only query state and
//! run by the thousand ([`HOT_API_CALLS`]) are left out and counted.
//!
//! Names (kernels, API functions, NVTX ranges) are interned per process: the
//! first record using a name carries a string record before it in the same
//! frame. When a frame is dropped (queue full) its new names are forgotten
//! and sent again with the next frame that uses them.

use std::collections::HashMap;
use std::ffi::{CStr, c_char};
use std::mem::{offset_of, size_of};

use boundscope_wire::*;
use cupti_sys::records::*;
use cupti_sys::*;

/// Looks up the name of a runtime/driver API callback id (CUPTI's
/// `cuptiGetCallbackName` in the injected library; a table in tests).
pub trait ApiNames {
    fn api_name(&self, domain: u32, cbid: u32) -> Option<String>;
}

impl ApiNames for Cupti {
    fn api_name(&self, domain: u32, cbid: u32) -> Option<String> {
        self.callback_name(domain, cbid)
    }
}

/// Runtime and driver functions that only query or set per-thread state,
/// called around nearly every launch by frameworks: recording them costs
/// more than it tells (Kineto leaves them out too). Names as CUPTI gives them,
/// without the `_vNNNN` suffix. Where CUPTI can (12.6 on), the collector asks
/// it not to record them at all; the converter drops any that still arrive.
pub const HOT_API_CALLS: [&str; 37] = [
    "cudaGetDevice",
    "cudaSetDevice",
    "cudaGetLastError",
    "cudaPeekAtLastError",
    "cudaGetDeviceCount",
    "cudaDeviceGetAttribute",
    "cudaGetDeviceProperties",
    "cudaFuncGetAttributes",
    "cudaStreamIsCapturing",
    "cudaStreamGetCaptureInfo",
    "cudaPointerGetAttributes",
    "cudaOccupancyMaxActiveBlocksPerMultiprocessor",
    "cudaOccupancyMaxActiveBlocksPerMultiprocessorWithFlags",
    "cudaDriverGetVersion",
    "cudaRuntimeGetVersion",
    "cudaGetDriverEntryPoint",
    "cudaGetDriverEntryPointByVersion",
    "cudaGetFuncBySymbol",
    "cuCtxGetCurrent",
    "cuCtxSetCurrent",
    "cuCtxGetDevice",
    "cuCtxGetStreamPriorityRange",
    "cuDevicePrimaryCtxGetState",
    "cuDeviceGet",
    "cuDeviceGetCount",
    "cuDeviceGetAttribute",
    "cuDriverGetVersion",
    "cuKernelGetAttribute",
    "cuKernelGetFunction",
    "cuFuncGetAttribute",
    "cuGetProcAddress",
    "cuGetErrorName",
    "cuGetErrorString",
    "cuModuleGetLoadingMode",
    "cuPointerGetAttribute",
    "cuPointerGetAttributes",
    "cuStreamIsCapturing",
];

/// What became of one CUPTI record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Converted,
    /// A kind this collector does not convert.
    UnknownKind(u32),
    /// Shorter than its kind's record.
    Malformed,
    /// A start or end CUPTI did not fill in (incomplete record): dropped.
    NoTimestamp,
    /// A hot query call ([`HOT_API_CALLS`]): left out.
    Filtered,
}

/// Per-process string table for one stream.
#[derive(Debug, Default)]
struct Interner {
    index: HashMap<Box<[u8]>, u32>,
    /// Text of id `i + 1`.
    texts: Vec<Box<[u8]>>,
    /// Whether id `i + 1` has been sent in a frame that was not dropped.
    defined: Vec<bool>,
    /// Ids first defined in the frame being built.
    pending: Vec<u32>,
}

impl Interner {
    fn id(&mut self, text: &[u8]) -> u32 {
        if let Some(&id) = self.index.get(text) {
            return id;
        }
        self.texts.push(text.into());
        self.defined.push(false);
        let id = self.texts.len() as u32;
        self.index.insert(text.into(), id);
        id
    }

    /// Makes sure `id`'s text precedes its first use in `frame`.
    fn define(&mut self, id: u32, frame: &mut FrameBuilder) {
        let i = id as usize - 1;
        if !self.defined[i] {
            frame.push_string(id, &self.texts[i]);
            self.defined[i] = true;
            self.pending.push(id);
        }
    }
}

/// Converts records and keeps the per-stream state (names, counts).
#[derive(Debug)]
pub struct Converter {
    strings: Interner,
    /// (domain, cbid) -> name id, or `None` for a hot call left out.
    api_names: HashMap<(u32, u32), Option<u32>>,
    /// Overhead records carry a correlation id (`Overhead3`, CUPTI 12.4 on).
    overhead_correlation: bool,
    /// Counts since the collector last moved them to its counters.
    pub converted: u64,
    pub unknown_kinds: u64,
    pub malformed: u64,
    /// Records dropped for a missing start or end.
    pub no_timestamp: u64,
    /// Kernels whose queued/submitted times were out of order and cleared.
    pub latency_rejected: u64,
    /// Hot API calls left out.
    pub filtered_api: u64,
}

impl Default for Converter {
    fn default() -> Self {
        Converter {
            strings: Interner::default(),
            api_names: HashMap::new(),
            overhead_correlation: true,
            converted: 0,
            unknown_kinds: 0,
            malformed: 0,
            no_timestamp: 0,
            latency_rejected: 0,
            filtered_api: 0,
        }
    }
}

/// Queued and submitted times as the hardware produces them: both present
/// and `queued <= submitted <= start`; anything else is (0, 0). CUDA-graph
/// kernels never have them.
pub fn latency_times(queued: u64, submitted: u64, start: u64) -> Option<(u64, u64)> {
    (queued != 0 && queued <= submitted && submitted <= start).then_some((queued, submitted))
}

/// Reads a plain-old-data field of `T` at `offset` (native endianness: these
/// are CUPTI's in-memory records). The caller has checked `rec.len()`.
macro_rules! rd {
    ($rec:expr, $ty:ty, $off:expr) => {{
        let off = $off;
        let mut a = [0u8; size_of::<$ty>()];
        a.copy_from_slice(&$rec[off..off + size_of::<$ty>()]);
        <$ty>::from_ne_bytes(a)
    }};
}

macro_rules! f {
    ($rec:expr, $s:ident . $field:ident : $ty:ty) => {
        rd!($rec, $ty, offset_of!($s, $field))
    };
}

impl Converter {
    pub fn new() -> Self {
        Converter::default()
    }

    /// A converter for the records of this CUPTI release.
    pub fn for_versions(v: &RecordVersions) -> Self {
        Converter { overhead_correlation: v.overhead_has_correlation(), ..Converter::default() }
    }

    /// Interns `text` and defines it in `frame` if needed; returns its id.
    pub fn string(&mut self, text: &[u8], frame: &mut FrameBuilder) -> u32 {
        let id = self.strings.id(text);
        self.strings.define(id, frame);
        id
    }

    /// The frame these names went into was sent: they stay defined.
    pub fn commit(&mut self) {
        self.strings.pending.clear();
    }

    /// The frame was dropped: its names must be sent again.
    pub fn rollback(&mut self) {
        for id in self.strings.pending.drain(..) {
            self.strings.defined[id as usize - 1] = false;
        }
    }

    /// Converts one record into `frame`.
    ///
    /// # Safety
    /// `rec` starts at a CUPTI activity record and extends at least to the end
    /// of that record or of the buffer's valid bytes; pointer members of the
    /// record (names) are null or point to NUL-terminated strings that live
    /// for the duration of the call (CUPTI guarantees this inside the
    /// buffer-completion callback).
    pub unsafe fn convert(&mut self, rec: &[u8], frame: &mut FrameBuilder, names: &dyn ApiNames) -> Outcome {
        if rec.len() < 4 {
            self.malformed += 1;
            return Outcome::Malformed;
        }
        let kind = rd!(rec, u32, 0);
        // The oldest record of each family: every release's record starts with it.
        let needed = match kind {
            CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL | CUPTI_ACTIVITY_KIND_KERNEL => size_of::<CUpti_ActivityKernel9>(),
            CUPTI_ACTIVITY_KIND_MEMCPY => size_of::<CUpti_ActivityMemcpy5>(),
            CUPTI_ACTIVITY_KIND_MEMSET => size_of::<CUpti_ActivityMemset4>(),
            CUPTI_ACTIVITY_KIND_RUNTIME | CUPTI_ACTIVITY_KIND_DRIVER => size_of::<CUpti_ActivityAPI>(),
            CUPTI_ACTIVITY_KIND_SYNCHRONIZATION => size_of::<CUpti_ActivitySynchronization>(),
            CUPTI_ACTIVITY_KIND_MARKER => size_of::<CUpti_ActivityMarker2>(),
            CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION => size_of::<CUpti_ActivityExternalCorrelation>(),
            CUPTI_ACTIVITY_KIND_OVERHEAD => size_of::<CUpti_ActivityOverhead>(),
            other => {
                self.unknown_kinds += 1;
                return Outcome::UnknownKind(other);
            }
        };
        if rec.len() < needed {
            self.malformed += 1;
            return Outcome::Malformed;
        }
        // Start and end sit at the same offsets in every record kind that has them.
        let timed = !matches!(
            kind,
            CUPTI_ACTIVITY_KIND_MARKER | CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION | CUPTI_ACTIVITY_KIND_OVERHEAD
        );
        if timed {
            let (start, end) = start_end(kind, rec);
            if start == 0 || end == 0 || end < start {
                self.no_timestamp += 1;
                return Outcome::NoTimestamp;
            }
        }
        match kind {
            CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL | CUPTI_ACTIVITY_KIND_KERNEL => {
                type K = CUpti_ActivityKernel9;
                let name_ptr = f!(rec, K.name: usize) as *const c_char;
                // SAFETY: the caller guarantees the name pointer.
                let name = unsafe { self.c_string(name_ptr, frame) };
                let start = f!(rec, K.start: u64);
                let (queued, submitted) = (f!(rec, K.queued: u64), f!(rec, K.submitted: u64));
                let latency = latency_times(queued, submitted, start);
                if latency.is_none() && (queued, submitted) != (0, 0) {
                    self.latency_rejected += 1;
                }
                let (queued_ns, submitted_ns) = latency.unwrap_or((0, 0));
                frame.push(&KernelRec {
                    start_ns: start,
                    end_ns: f!(rec, K.end: u64),
                    queued_ns,
                    submitted_ns,
                    graph_node_id: f!(rec, K.graphNodeId: u64),
                    correlation: f!(rec, K.correlationId: u32),
                    device: f!(rec, K.deviceId: u32),
                    context: f!(rec, K.contextId: u32),
                    stream: f!(rec, K.streamId: u32),
                    grid_x: f!(rec, K.gridX: i32),
                    grid_y: f!(rec, K.gridY: i32),
                    grid_z: f!(rec, K.gridZ: i32),
                    block_x: f!(rec, K.blockX: i32),
                    block_y: f!(rec, K.blockY: i32),
                    block_z: f!(rec, K.blockZ: i32),
                    graph_id: f!(rec, K.graphId: u32),
                    name,
                    static_shared_bytes: f!(rec, K.staticSharedMemory: i32),
                    dynamic_shared_bytes: f!(rec, K.dynamicSharedMemory: i32),
                    registers_per_thread: f!(rec, K.registersPerThread: u16),
                    launch_type: f!(rec, K.launchType: u8),
                    ..Default::default()
                });
            }
            CUPTI_ACTIVITY_KIND_MEMCPY => {
                type M = CUpti_ActivityMemcpy5;
                frame.push(&MemcpyRec {
                    start_ns: f!(rec, M.start: u64),
                    end_ns: f!(rec, M.end: u64),
                    bytes: f!(rec, M.bytes: u64),
                    graph_node_id: f!(rec, M.graphNodeId: u64),
                    correlation: f!(rec, M.correlationId: u32),
                    device: f!(rec, M.deviceId: u32),
                    context: f!(rec, M.contextId: u32),
                    stream: f!(rec, M.streamId: u32),
                    graph_id: f!(rec, M.graphId: u32),
                    copy_kind: f!(rec, M.copyKind: u8),
                    src_kind: f!(rec, M.srcKind: u8),
                    dst_kind: f!(rec, M.dstKind: u8),
                    flags: f!(rec, M.flags: u8),
                });
            }
            CUPTI_ACTIVITY_KIND_MEMSET => {
                type S = CUpti_ActivityMemset4;
                frame.push(&MemsetRec {
                    start_ns: f!(rec, S.start: u64),
                    end_ns: f!(rec, S.end: u64),
                    bytes: f!(rec, S.bytes: u64),
                    graph_node_id: f!(rec, S.graphNodeId: u64),
                    correlation: f!(rec, S.correlationId: u32),
                    device: f!(rec, S.deviceId: u32),
                    context: f!(rec, S.contextId: u32),
                    stream: f!(rec, S.streamId: u32),
                    graph_id: f!(rec, S.graphId: u32),
                    value: f!(rec, S.value: u32),
                    memory_kind: f!(rec, S.memoryKind: u16),
                    flags: f!(rec, S.flags: u16),
                    ..Default::default()
                });
            }
            CUPTI_ACTIVITY_KIND_RUNTIME | CUPTI_ACTIVITY_KIND_DRIVER => {
                type A = CUpti_ActivityAPI;
                let domain = if kind == CUPTI_ACTIVITY_KIND_RUNTIME {
                    CUPTI_CB_DOMAIN_RUNTIME_API
                } else {
                    CUPTI_CB_DOMAIN_DRIVER_API
                };
                let cbid = f!(rec, A.cbid: u32);
                let Some(name) = self.api_name(domain, cbid, frame, names) else {
                    self.filtered_api += 1;
                    return Outcome::Filtered;
                };
                frame.push(&ApiCallRec {
                    start_ns: f!(rec, A.start: u64),
                    end_ns: f!(rec, A.end: u64),
                    correlation: f!(rec, A.correlationId: u32),
                    cbid,
                    pid: f!(rec, A.processId: u32),
                    tid: f!(rec, A.threadId: u32),
                    name,
                    return_value: f!(rec, A.returnValue: u32),
                    domain: domain as u8,
                    ..Default::default()
                });
            }
            CUPTI_ACTIVITY_KIND_SYNCHRONIZATION => {
                type Y = CUpti_ActivitySynchronization;
                frame.push(&SyncRec {
                    start_ns: f!(rec, Y.start: u64),
                    end_ns: f!(rec, Y.end: u64),
                    correlation: f!(rec, Y.correlationId: u32),
                    context: f!(rec, Y.contextId: u32),
                    stream: f!(rec, Y.streamId: u32),
                    cuda_event: f!(rec, Y.cudaEventId: u32),
                    sync_type: f!(rec, Y.r#type: u32),
                    _pad: 0,
                });
            }
            CUPTI_ACTIVITY_KIND_MARKER => {
                type R = CUpti_ActivityMarker2;
                let obj = offset_of!(R, objectId);
                // SAFETY: the caller guarantees the name and domain pointers.
                let (name, domain) = unsafe {
                    (
                        self.c_string(f!(rec, R.name: usize) as *const c_char, frame),
                        self.c_string(f!(rec, R.domain: usize) as *const c_char, frame),
                    )
                };
                frame.push(&MarkerRec {
                    time_ns: f!(rec, R.timestamp: u64),
                    id: f!(rec, R.id: u32),
                    flags: f!(rec, R.flags: u32),
                    object_kind: f!(rec, R.objectKind: u32),
                    obj0: rd!(rec, u32, obj),
                    obj1: rd!(rec, u32, obj + 4),
                    obj2: rd!(rec, u32, obj + 8),
                    name,
                    domain,
                });
            }
            CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION => {
                type E = CUpti_ActivityExternalCorrelation;
                frame.push(&ExternalCorrelationRec {
                    external_id: f!(rec, E.externalId: u64),
                    correlation: f!(rec, E.correlationId: u32),
                    external_kind: f!(rec, E.externalKind: u32),
                });
            }
            CUPTI_ACTIVITY_KIND_OVERHEAD => {
                type O = CUpti_ActivityOverhead;
                let obj = offset_of!(O, objectId);
                let corr = offset_of!(CUpti_ActivityOverhead3, correlationId);
                let correlation =
                    if self.overhead_correlation && rec.len() >= corr + 4 { rd!(rec, u32, corr) } else { 0 };
                frame.push(&OverheadRec {
                    start_ns: f!(rec, O.start: u64),
                    end_ns: f!(rec, O.end: u64),
                    overhead_kind: f!(rec, O.overheadKind: u32),
                    object_kind: f!(rec, O.objectKind: u32),
                    obj0: rd!(rec, u32, obj),
                    obj1: rd!(rec, u32, obj + 4),
                    correlation,
                    _pad: 0,
                });
            }
            _ => unreachable!("kinds filtered above"),
        }
        self.converted += 1;
        Outcome::Converted
    }

    /// # Safety
    /// `p` is null or points to a NUL-terminated string.
    unsafe fn c_string(&mut self, p: *const c_char, frame: &mut FrameBuilder) -> u32 {
        if p.is_null() {
            return NO_STRING;
        }
        // SAFETY: non-null and NUL-terminated by the caller's contract.
        let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
        self.string(bytes, frame)
    }

    /// The name id of an API call, or `None` for a hot call left out.
    fn api_name(&mut self, domain: u32, cbid: u32, frame: &mut FrameBuilder, names: &dyn ApiNames) -> Option<u32> {
        let id = match self.api_names.get(&(domain, cbid)) {
            Some(&id) => id,
            None => {
                let text = names.api_name(domain, cbid).unwrap_or_else(|| {
                    let layer = if domain == CUPTI_CB_DOMAIN_RUNTIME_API { "runtime" } else { "driver" };
                    format!("{layer} API call #{cbid}")
                });
                let id = (!HOT_API_CALLS.contains(&strip_version(&text))).then(|| self.strings.id(text.as_bytes()));
                self.api_names.insert((domain, cbid), id);
                id
            }
        };
        let id = id?;
        self.strings.define(id, frame);
        Some(id)
    }
}

/// Start and end of a timed record (kernel, copy, fill, API call,
/// synchronization): every one of them keeps them at the same place.
fn start_end(kind: u32, rec: &[u8]) -> (u64, u64) {
    match kind {
        CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL | CUPTI_ACTIVITY_KIND_KERNEL => {
            type K = CUpti_ActivityKernel9;
            (f!(rec, K.start: u64), f!(rec, K.end: u64))
        }
        CUPTI_ACTIVITY_KIND_MEMCPY => {
            type M = CUpti_ActivityMemcpy5;
            (f!(rec, M.start: u64), f!(rec, M.end: u64))
        }
        CUPTI_ACTIVITY_KIND_MEMSET => {
            type S = CUpti_ActivityMemset4;
            (f!(rec, S.start: u64), f!(rec, S.end: u64))
        }
        CUPTI_ACTIVITY_KIND_SYNCHRONIZATION => {
            type Y = CUpti_ActivitySynchronization;
            (f!(rec, Y.start: u64), f!(rec, Y.end: u64))
        }
        _ => {
            type A = CUpti_ActivityAPI;
            (f!(rec, A.start: u64), f!(rec, A.end: u64))
        }
    }
}

#[cfg(test)]
mod tests {
    //! Buffers laid out like CUPTI's: the `cupti-sys` structs (whose layouts
    //! the layout test pins to the headers) written into byte buffers.
    use std::ffi::CString;

    use super::*;

    struct Table;
    impl ApiNames for Table {
        fn api_name(&self, domain: u32, cbid: u32) -> Option<String> {
            (domain == CUPTI_CB_DOMAIN_RUNTIME_API && cbid == 211).then(|| "cudaLaunchKernel_v7000".to_string())
        }
    }

    /// A record's bytes followed by `extra` zero bytes (the rest of a buffer).
    fn with_tail(mut bytes: Vec<u8>, extra: usize) -> Vec<u8> {
        bytes.resize(bytes.len() + extra, 0);
        bytes
    }

    fn decode_all(frame: FrameBuilder) -> Vec<String> {
        let bytes = frame.finish(1, 0);
        let payload = &bytes[FRAME_HEADER_LEN..];
        RecordIter::new(payload, 0)
            .map(|r| {
                let (o, raw) = r.expect("record");
                format!("{:?}", decode_record(raw, o).expect("decodes"))
            })
            .collect()
    }

    fn kernel9(name: &CString) -> CUpti_ActivityKernel9 {
        CUpti_ActivityKernel9 {
            kind: CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL,
            start: 1_000,
            end: 1_800,
            queued: 900,
            submitted: 950,
            deviceId: 1,
            contextId: 2,
            streamId: 7,
            gridX: 64,
            gridY: 2,
            gridZ: 1,
            blockX: 128,
            blockY: 1,
            blockZ: 1,
            correlationId: 42,
            graphId: 5,
            graphNodeId: 6,
            registersPerThread: 32,
            staticSharedMemory: 1024,
            dynamicSharedMemory: 2048,
            launchType: 1,
            name: name.as_ptr(),
            ..Default::default()
        }
    }

    #[test]
    fn kernel_records_of_every_version_convert_alike() {
        let name = CString::new("ampere_sgemm_128x64_nn").expect("name");
        let k9 = kernel9(&name).to_bytes();
        // Kernel10 and Kernel13 begin with Kernel9's members at the same
        // offsets (versions.rs test): Kernel9's bytes form their prefix.
        let k10 = CUpti_ActivityKernel10 { isDeviceLaunched: 1, ..Default::default() };
        let k13 = CUpti_ActivityKernel13 { priority: -3, ..Default::default() };
        let (mut b10, mut b13) = (k10.to_bytes(), k13.to_bytes());
        b10[..k9.len()].copy_from_slice(&k9);
        b13[..k9.len()].copy_from_slice(&k9);
        let mut outputs = Vec::new();
        for bytes in [k9, b10, with_tail(b13, 16)] {
            let mut c = Converter::new();
            let mut f = FrameBuilder::default();
            // SAFETY: the record's name points to `name`, alive for the call.
            assert_eq!(unsafe { c.convert(&bytes, &mut f, &Table) }, Outcome::Converted);
            outputs.push(decode_all(f));
        }
        assert_eq!(outputs[0], outputs[1]);
        assert_eq!(outputs[0], outputs[2]);
        assert_eq!(
            outputs[0][0],
            "String(StringRec { id: 1, text: [97, 109, 112, 101, 114, 101, 95, 115, 103, 101, 109, 109, 95, 49, 50, 56, 120, 54, 52, 95, 110, 110] })"
        );
        let expected = KernelRec {
            start_ns: 1_000,
            end_ns: 1_800,
            queued_ns: 900,
            submitted_ns: 950,
            graph_node_id: 6,
            correlation: 42,
            device: 1,
            context: 2,
            stream: 7,
            grid_x: 64,
            grid_y: 2,
            grid_z: 1,
            block_x: 128,
            block_y: 1,
            block_z: 1,
            graph_id: 5,
            name: 1,
            static_shared_bytes: 1024,
            dynamic_shared_bytes: 2048,
            registers_per_thread: 32,
            launch_type: 1,
            ..Default::default()
        };
        assert_eq!(outputs[0][1], format!("{:?}", Record::Kernel(expected)));
    }

    #[test]
    fn api_memcpy_memset_sync_marker_overhead_and_correlation() {
        let mut c = Converter::new();
        let mut f = FrameBuilder::default();
        let api = CUpti_ActivityAPI {
            kind: CUPTI_ACTIVITY_KIND_RUNTIME,
            cbid: 211,
            start: 10,
            end: 20,
            processId: 100,
            threadId: 101,
            correlationId: 42,
            ..Default::default()
        };
        let mut drv = api;
        drv.kind = CUPTI_ACTIVITY_KIND_DRIVER;
        drv.cbid = 307;
        let mc = CUpti_ActivityMemcpy6 {
            kind: CUPTI_ACTIVITY_KIND_MEMCPY,
            bytes: 4096,
            start: 30,
            end: 40,
            copyKind: 1,
            streamId: 7,
            correlationId: 43,
            ..Default::default()
        };
        let ms = CUpti_ActivityMemset4 {
            kind: CUPTI_ACTIVITY_KIND_MEMSET,
            bytes: 512,
            value: 0xff,
            start: 50,
            end: 55,
            ..Default::default()
        };
        let mut sy = CUpti_ActivitySynchronization2 { kind: CUPTI_ACTIVITY_KIND_SYNCHRONIZATION, ..Default::default() };
        sy.r#type = 3;
        sy.start = 60;
        sy.end = 70;
        sy.streamId = 7;
        let step = CString::new("boundscope:step").expect("cstr");
        let mk = CUpti_ActivityMarker2 {
            kind: CUPTI_ACTIVITY_KIND_MARKER,
            flags: CUPTI_ACTIVITY_FLAG_MARKER_START,
            timestamp: 5,
            id: 9,
            objectKind: CUPTI_ACTIVITY_OBJECT_THREAD,
            objectId: [100, 101, 0],
            name: step.as_ptr(),
            ..Default::default()
        };
        let mut end = mk;
        end.flags = CUPTI_ACTIVITY_FLAG_MARKER_END;
        end.timestamp = 80;
        end.name = std::ptr::null();
        let ov = CUpti_ActivityOverhead3 {
            kind: CUPTI_ACTIVITY_KIND_OVERHEAD,
            overheadKind: 1 << 16,
            start: 90,
            end: 95,
            ..Default::default()
        };
        let ex = CUpti_ActivityExternalCorrelation {
            kind: CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION,
            externalId: 777,
            correlationId: 42,
            externalKind: 1,
            ..Default::default()
        };
        let records = [
            api.to_bytes(),
            drv.to_bytes(),
            api.to_bytes(),
            mc.to_bytes(),
            ms.to_bytes(),
            sy.to_bytes(),
            mk.to_bytes(),
            end.to_bytes(),
            ov.to_bytes(),
            ex.to_bytes(),
        ];
        for r in &records {
            // SAFETY: pointer members are null or point to `step`.
            assert_eq!(unsafe { c.convert(r, &mut f, &Table) }, Outcome::Converted);
        }
        let out = decode_all(f);
        let kinds: Vec<&str> = out.iter().map(|s| s.split('(').next().unwrap_or("")).collect();
        assert_eq!(
            kinds,
            [
                "String",
                "ApiCall",
                "String",
                "ApiCall",
                "ApiCall",
                "Memcpy",
                "Memset",
                "Sync",
                "String",
                "Marker",
                "Marker",
                "Overhead",
                "ExternalCorrelation"
            ]
        );
        // The runtime name from CUPTI, a placeholder for an unknown driver id, each sent once.
        assert!(out[0].contains(&format!("{:?}", b"cudaLaunchKernel_v7000")), "{}", out[0]);
        assert!(out[2].contains(&format!("{:?}", b"driver API call #307")), "{}", out[2]);
        assert!(out[1].contains("cbid: 211, pid: 100, tid: 101, name: 1") && out[1].contains("domain: 2"));
        assert!(out[4].contains("name: 1"));
        assert!(out[5].contains("bytes: 4096") && out[5].contains("copy_kind: 1"));
        assert!(out[6].contains("value: 255"));
        assert!(out[7].contains("sync_type: 3"));
        assert!(out[9].contains("flags: 2, object_kind: 2, obj0: 100, obj1: 101, obj2: 0, name: 3, domain: 0"));
        assert!(out[10].contains("flags: 4") && out[10].contains("name: 0"));
        assert!(out[11].contains("overhead_kind: 65536"));
        assert!(out[12].contains("external_id: 777, correlation: 42, external_kind: 1"));
    }

    #[test]
    fn unknown_kinds_and_short_records_are_counted() {
        let mut c = Converter::new();
        let mut f = FrameBuilder::default();
        let unknown = [55u32.to_ne_bytes(), [0; 4], [0; 4], [0; 4]].concat();
        // SAFETY: no pointer members are read for these.
        unsafe {
            assert_eq!(c.convert(&unknown, &mut f, &Table), Outcome::UnknownKind(55));
            let short = &CUpti_ActivityAPI::default().to_bytes()[..20];
            let mut short = short.to_vec();
            short[..4].copy_from_slice(&CUPTI_ACTIVITY_KIND_RUNTIME.to_ne_bytes());
            assert_eq!(c.convert(&short, &mut f, &Table), Outcome::Malformed);
            assert_eq!(c.convert(&[1, 2], &mut f, &Table), Outcome::Malformed);
        }
        assert_eq!((c.converted, c.unknown_kinds, c.malformed), (0, 1, 2));
        assert!(f.is_empty());
    }

    #[test]
    fn names_of_dropped_frames_are_sent_again() {
        let name = CString::new("k").expect("cstr");
        let k = kernel9(&name).to_bytes();
        let mut c = Converter::new();
        let mut f1 = FrameBuilder::default();
        // SAFETY: the name pointer points to `name`.
        unsafe { c.convert(&k, &mut f1, &Table) };
        assert_eq!(f1.records(), 2);
        c.rollback(); // f1 was dropped
        let mut f2 = FrameBuilder::default();
        // SAFETY: as above.
        unsafe { c.convert(&k, &mut f2, &Table) };
        assert_eq!(f2.records(), 2, "string sent again");
        c.commit();
        let mut f3 = FrameBuilder::default();
        // SAFETY: as above.
        unsafe { c.convert(&k, &mut f3, &Table) };
        assert_eq!(f3.records(), 1, "string already known to the reader");
    }

    #[test]
    fn records_without_timestamps_are_dropped_and_counted() {
        let name = CString::new("k").expect("cstr");
        let mut c = Converter::new();
        let mut f = FrameBuilder::default();
        let mut k = kernel9(&name);
        (k.start, k.end) = (0, 0);
        let mut late = kernel9(&name);
        late.end = 0;
        let mut api = CUpti_ActivityAPI { kind: CUPTI_ACTIVITY_KIND_RUNTIME, cbid: 211, ..Default::default() };
        api.start = 5;
        let mc = CUpti_ActivityMemcpy6 { kind: CUPTI_ACTIVITY_KIND_MEMCPY, start: 10, ..Default::default() };
        for r in [k.to_bytes(), late.to_bytes(), api.to_bytes(), mc.to_bytes()] {
            // SAFETY: the name pointer points to `name`.
            assert_eq!(unsafe { c.convert(&r, &mut f, &Table) }, Outcome::NoTimestamp);
        }
        assert_eq!((c.converted, c.no_timestamp), (0, 4));
        assert!(f.is_empty(), "nothing sent, not even the kernel's name");
    }

    #[test]
    fn latency_timestamps_are_kept_only_in_hardware_order() {
        assert_eq!(latency_times(900, 950, 1_000), Some((900, 950)));
        assert_eq!(latency_times(950, 950, 950), Some((950, 950)));
        assert_eq!(latency_times(0, 0, 1_000), None, "not recorded (CUDA graphs)");
        assert_eq!(latency_times(0, 950, 1_000), None);
        assert_eq!(latency_times(960, 950, 1_000), None, "queued after submitted");
        assert_eq!(latency_times(900, 1_100, 1_000), None, "submitted after start");
        let name = CString::new("k").expect("cstr");
        let mut c = Converter::new();
        let mut f = FrameBuilder::default();
        let mut bad = kernel9(&name);
        bad.submitted = 2_000;
        let mut graph = kernel9(&name);
        (graph.queued, graph.submitted) = (0, 0);
        for k in [kernel9(&name), bad, graph] {
            // SAFETY: the name pointer points to `name`.
            assert_eq!(unsafe { c.convert(&k.to_bytes(), &mut f, &Table) }, Outcome::Converted);
        }
        assert_eq!(c.latency_rejected, 1, "only the out-of-order one; missing ones are not errors");
        let out = decode_all(f);
        assert!(out[1].contains("queued_ns: 900, submitted_ns: 950"), "{}", out[1]);
        assert!(out[2].contains("queued_ns: 0, submitted_ns: 0"), "{}", out[2]);
        assert!(out[3].contains("queued_ns: 0, submitted_ns: 0"), "{}", out[3]);
    }

    #[test]
    fn hot_query_calls_are_left_out_and_counted() {
        struct Hot;
        impl ApiNames for Hot {
            fn api_name(&self, _domain: u32, cbid: u32) -> Option<String> {
                Some(if cbid == 1 { "cudaGetDevice_v3020" } else { "cudaLaunchKernel_v7000" }.to_string())
            }
        }
        let mut c = Converter::new();
        let mut f = FrameBuilder::default();
        let mut api = CUpti_ActivityAPI { kind: CUPTI_ACTIVITY_KIND_RUNTIME, cbid: 1, ..Default::default() };
        (api.start, api.end) = (10, 20);
        let launch = CUpti_ActivityAPI { cbid: 2, ..api };
        for r in [api, api, launch] {
            // SAFETY: no pointer members.
            unsafe { c.convert(&r.to_bytes(), &mut f, &Hot) };
        }
        assert_eq!((c.converted, c.filtered_api), (1, 2));
        let out = decode_all(f);
        assert_eq!(out.len(), 2, "the launch's name and the launch: {out:?}");
    }

    #[test]
    fn cupti_12_0_to_12_7_records_convert_at_the_end_of_a_buffer() {
        // The smaller Memcpy5, Synchronization and Overhead records of CUPTI
        // 12.1, each the last record of its buffer (nothing after it).
        let v = RecordVersions::for_api_version(18).expect("12.1");
        let mut c = Converter::for_versions(&v);
        let mut f = FrameBuilder::default();
        let mut mc = CUpti_ActivityMemcpy5 { kind: CUPTI_ACTIVITY_KIND_MEMCPY, bytes: 64, ..Default::default() };
        (mc.start, mc.end, mc.correlationId) = (1, 2, 3);
        let mut sy = CUpti_ActivitySynchronization { kind: CUPTI_ACTIVITY_KIND_SYNCHRONIZATION, ..Default::default() };
        (sy.start, sy.end, sy.r#type) = (4, 5, 3);
        let mut ov =
            CUpti_ActivityOverhead { kind: CUPTI_ACTIVITY_KIND_OVERHEAD, overheadKind: 1, ..Default::default() };
        (ov.start, ov.end) = (6, 9);
        for r in [mc.to_bytes(), sy.to_bytes(), ov.to_bytes()] {
            // SAFETY: no pointer members.
            assert_eq!(unsafe { c.convert(&r, &mut f, &Table) }, Outcome::Converted, "{} bytes", r.len());
        }
        let out = decode_all(f);
        assert!(out[0].contains("bytes: 64") && out[0].contains("correlation: 3"), "{}", out[0]);
        assert!(out[1].contains("sync_type: 3"), "{}", out[1]);
        assert!(out[2].contains("start_ns: 6, end_ns: 9") && out[2].contains("correlation: 0"), "{}", out[2]);
    }
}
