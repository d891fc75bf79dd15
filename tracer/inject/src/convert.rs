//! CUPTI activity records (raw bytes, as CUPTI lays them out in its buffers)
//! to boundscope wire records. The kind is read as a raw `u32`: a newer
//! libcupti may emit kinds this code does not know, which are counted, not
//! fatal. Fields are read at the offsets of the `cupti-sys` record structs,
//! whose layouts are checked against CUPTI's headers; newer record versions
//! are read through the prefix they share with the oldest supported one.
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

/// What became of one CUPTI record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Converted,
    /// A kind this collector does not convert.
    UnknownKind(u32),
    /// Shorter than its kind's record.
    Malformed,
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
#[derive(Debug, Default)]
pub struct Converter {
    strings: Interner,
    api_names: HashMap<(u32, u32), u32>,
    /// Records converted since the last [`Converter::take_counts`].
    pub converted: u64,
    pub unknown_kinds: u64,
    pub malformed: u64,
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
        let needed = match kind {
            CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL | CUPTI_ACTIVITY_KIND_KERNEL => size_of::<CUpti_ActivityKernel9>(),
            CUPTI_ACTIVITY_KIND_MEMCPY => size_of::<CUpti_ActivityMemcpy6>(),
            CUPTI_ACTIVITY_KIND_MEMSET => size_of::<CUpti_ActivityMemset4>(),
            CUPTI_ACTIVITY_KIND_RUNTIME | CUPTI_ACTIVITY_KIND_DRIVER => size_of::<CUpti_ActivityAPI>(),
            CUPTI_ACTIVITY_KIND_SYNCHRONIZATION => size_of::<CUpti_ActivitySynchronization2>(),
            CUPTI_ACTIVITY_KIND_MARKER => size_of::<CUpti_ActivityMarker2>(),
            CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION => size_of::<CUpti_ActivityExternalCorrelation>(),
            CUPTI_ACTIVITY_KIND_OVERHEAD => size_of::<CUpti_ActivityOverhead3>(),
            other => {
                self.unknown_kinds += 1;
                return Outcome::UnknownKind(other);
            }
        };
        if rec.len() < needed {
            self.malformed += 1;
            return Outcome::Malformed;
        }
        match kind {
            CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL | CUPTI_ACTIVITY_KIND_KERNEL => {
                type K = CUpti_ActivityKernel9;
                let name_ptr = f!(rec, K.name: usize) as *const c_char;
                // SAFETY: the caller guarantees the name pointer.
                let name = unsafe { self.c_string(name_ptr, frame) };
                frame.push(&KernelRec {
                    start_ns: f!(rec, K.start: u64),
                    end_ns: f!(rec, K.end: u64),
                    queued_ns: f!(rec, K.queued: u64),
                    submitted_ns: f!(rec, K.submitted: u64),
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
                type M = CUpti_ActivityMemcpy6;
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
                let name = self.api_name(domain, cbid, frame, names);
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
                type Y = CUpti_ActivitySynchronization2;
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
                type O = CUpti_ActivityOverhead3;
                let obj = offset_of!(O, objectId);
                frame.push(&OverheadRec {
                    start_ns: f!(rec, O.start: u64),
                    end_ns: f!(rec, O.end: u64),
                    overhead_kind: f!(rec, O.overheadKind: u32),
                    object_kind: f!(rec, O.objectKind: u32),
                    obj0: rd!(rec, u32, obj),
                    obj1: rd!(rec, u32, obj + 4),
                    correlation: f!(rec, O.correlationId: u32),
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

    fn api_name(&mut self, domain: u32, cbid: u32, frame: &mut FrameBuilder, names: &dyn ApiNames) -> u32 {
        let id = match self.api_names.get(&(domain, cbid)) {
            Some(&id) => id,
            None => {
                let text = names.api_name(domain, cbid).unwrap_or_else(|| {
                    let layer = if domain == CUPTI_CB_DOMAIN_RUNTIME_API { "runtime" } else { "driver" };
                    format!("{layer} API call #{cbid}")
                });
                let id = self.strings.id(text.as_bytes());
                self.api_names.insert((domain, cbid), id);
                id
            }
        };
        self.strings.define(id, frame);
        id
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

    /// The bytes of a record struct, followed by `extra` bytes (the rest of a buffer).
    fn bytes_of<T: Copy>(v: &T, extra: usize) -> Vec<u8> {
        let mut out = vec![0u8; size_of::<T>() + extra];
        // SAFETY: T is a plain repr(C) record without padding bytes that
        // matter (all-zero init below keeps padding defined); we copy its
        // size_of bytes into a buffer that large.
        unsafe { std::ptr::copy_nonoverlapping(v as *const T as *const u8, out.as_mut_ptr(), size_of::<T>()) };
        out
    }

    fn zeroed<T>() -> T {
        // SAFETY: the CUPTI record structs are integers, arrays and raw
        // pointers, for which all-zero bytes are valid values.
        unsafe { std::mem::zeroed() }
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
        let mut k: CUpti_ActivityKernel9 = zeroed();
        k.kind = CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL;
        k.start = 1_000;
        k.end = 1_800;
        k.queued = 900;
        k.submitted = 950;
        k.deviceId = 1;
        k.contextId = 2;
        k.streamId = 7;
        k.gridX = 64;
        k.gridY = 2;
        k.gridZ = 1;
        k.blockX = 128;
        k.blockY = 1;
        k.blockZ = 1;
        k.correlationId = 42;
        k.graphId = 5;
        k.graphNodeId = 6;
        k.registersPerThread = 32;
        k.staticSharedMemory = 1024;
        k.dynamicSharedMemory = 2048;
        k.launchType = 1;
        k.name = name.as_ptr();
        k
    }

    #[test]
    fn kernel_records_of_every_version_convert_alike() {
        let name = CString::new("ampere_sgemm_128x64_nn").expect("name");
        let k9 = kernel9(&name);
        let mut k10: CUpti_ActivityKernel10 = zeroed();
        let mut k13: CUpti_ActivityKernel13 = zeroed();
        // SAFETY: Kernel10 and Kernel13 begin with Kernel9's members at the
        // same offsets (versions.rs test), so Kernel9's bytes form their prefix.
        unsafe {
            std::ptr::copy_nonoverlapping(
                &k9 as *const _ as *const u8,
                &mut k10 as *mut _ as *mut u8,
                size_of_val(&k9),
            );
            std::ptr::copy_nonoverlapping(
                &k9 as *const _ as *const u8,
                &mut k13 as *mut _ as *mut u8,
                size_of_val(&k9),
            );
        }
        k10.isDeviceLaunched = 1;
        k13.priority = -3;
        let mut outputs = Vec::new();
        for bytes in [bytes_of(&k9, 0), bytes_of(&k10, 0), bytes_of(&k13, 16)] {
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
        let mut api: CUpti_ActivityAPI = zeroed();
        api.kind = CUPTI_ACTIVITY_KIND_RUNTIME;
        api.cbid = 211;
        api.start = 10;
        api.end = 20;
        api.processId = 100;
        api.threadId = 101;
        api.correlationId = 42;
        let mut drv = api;
        drv.kind = CUPTI_ACTIVITY_KIND_DRIVER;
        drv.cbid = 307;
        let mut mc: CUpti_ActivityMemcpy6 = zeroed();
        mc.kind = CUPTI_ACTIVITY_KIND_MEMCPY;
        mc.bytes = 4096;
        mc.start = 30;
        mc.end = 40;
        mc.copyKind = 1;
        mc.streamId = 7;
        mc.correlationId = 43;
        let mut ms: CUpti_ActivityMemset4 = zeroed();
        ms.kind = CUPTI_ACTIVITY_KIND_MEMSET;
        ms.bytes = 512;
        ms.value = 0xff;
        ms.start = 50;
        ms.end = 55;
        let mut sy: CUpti_ActivitySynchronization2 = zeroed();
        sy.kind = CUPTI_ACTIVITY_KIND_SYNCHRONIZATION;
        sy.r#type = 3;
        sy.start = 60;
        sy.end = 70;
        sy.streamId = 7;
        let step = CString::new("boundscope:step").expect("cstr");
        let mut mk: CUpti_ActivityMarker2 = zeroed();
        mk.kind = CUPTI_ACTIVITY_KIND_MARKER;
        mk.flags = CUPTI_ACTIVITY_FLAG_MARKER_START;
        mk.timestamp = 5;
        mk.id = 9;
        mk.objectKind = CUPTI_ACTIVITY_OBJECT_THREAD;
        mk.objectId = [100, 101, 0];
        mk.name = step.as_ptr();
        let mut end = mk;
        end.flags = CUPTI_ACTIVITY_FLAG_MARKER_END;
        end.timestamp = 80;
        end.name = std::ptr::null();
        let mut ov: CUpti_ActivityOverhead3 = zeroed();
        ov.kind = CUPTI_ACTIVITY_KIND_OVERHEAD;
        ov.overheadKind = 1 << 16;
        ov.start = 90;
        ov.end = 95;
        let mut ex: CUpti_ActivityExternalCorrelation = zeroed();
        ex.kind = CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION;
        ex.externalId = 777;
        ex.correlationId = 42;
        ex.externalKind = 1;
        let records = [
            bytes_of(&api, 0),
            bytes_of(&drv, 0),
            bytes_of(&api, 0),
            bytes_of(&mc, 0),
            bytes_of(&ms, 0),
            bytes_of(&sy, 0),
            bytes_of(&mk, 0),
            bytes_of(&end, 0),
            bytes_of(&ov, 0),
            bytes_of(&ex, 0),
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
            let short = &bytes_of(&CUpti_ActivityAPI { ..zeroed() }, 0)[..20];
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
        let k = bytes_of(&kernel9(&name), 0);
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
}
