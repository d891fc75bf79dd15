//! The record kinds: one plain struct per kind, its kind number and its
//! fixed body layout (fields in declaration order, little-endian, no implicit
//! padding: explicit `_pad` fields keep every body a multiple of 8 bytes).
//!
//! Times named `*_ns` are on the clock named in each record's doc: CUPTI
//! timestamps stay on CUPTI's clock on the wire, samples of the profiler are
//! on the host's CLOCK_MONOTONIC, and [`ClockAnchorRec`] pairs the two. The
//! reader converts (boundscope-trace `run.rs`), nobody else.

use crate::error::{WireError, WireErrorKind};
use crate::frame::RawRecord;

/// A fixed-size little-endian field.
pub trait Field: Sized + Copy {
    const SIZE: usize;
    fn put(self, out: &mut Vec<u8>);
    /// Reads from `b`, which holds at least `SIZE` bytes.
    fn get(b: &[u8]) -> Self;
}

macro_rules! int_field {
    ($($t:ty),*) => {$(
        impl Field for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn get(b: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(&b[..Self::SIZE]);
                <$t>::from_le_bytes(a)
            }
        }
    )*};
}
int_field!(u8, u16, u32, u64, i32, i64, f64);

/// A record kind with a fixed-size body.
pub trait FixedRecord: Sized {
    /// Kind number in the record header.
    const KIND: u16;
    /// Bytes of the body (after the 8-byte record header).
    const BODY_SIZE: usize;
    fn encode_body(&self, out: &mut Vec<u8>);
    /// Decodes a body of at least `BODY_SIZE` bytes (newer writers may append fields).
    fn decode_body(b: &[u8]) -> Self;
}

macro_rules! records {
    ($(
        $(#[$meta:meta])*
        $variant:ident($name:ident) = $kind:literal { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }
    )*) => {
        $(
            $(#[$meta])*
            #[derive(Debug, Clone, Copy, PartialEq, Default)]
            pub struct $name { $($(#[$fmeta])* pub $field: $ty),* }

            impl FixedRecord for $name {
                const KIND: u16 = $kind;
                const BODY_SIZE: usize = 0 $(+ <$ty as Field>::SIZE)*;
                fn encode_body(&self, out: &mut Vec<u8>) {
                    $(Field::put(self.$field, out);)*
                }
                #[allow(unused_assignments)]
                fn decode_body(b: &[u8]) -> Self {
                    let mut at = 0usize;
                    $(
                        let $field = <$ty as Field>::get(&b[at..]);
                        at += <$ty as Field>::SIZE;
                    )*
                    $name { $($field),* }
                }
            }

            const _: () = assert!(<$name as FixedRecord>::BODY_SIZE % 8 == 0, "record bodies are multiples of 8 bytes");
        )*

        /// A decoded record.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Record<'a> {
            $($variant($name),)*
            /// An interned name: `id` stands for `text` in later records of the same source.
            String(StringRec<'a>),
            /// A kind this version does not know (written by a newer boundscope): skipped.
            Unknown { kind: u16 },
        }

        /// Decodes one record; `offset` is its position, for errors.
        pub fn decode_record<'a>(raw: RawRecord<'a>, offset: u64) -> Result<Record<'a>, WireError> {
            match raw.kind {
                $(
                    $kind => {
                        check_body(raw, <$name as FixedRecord>::BODY_SIZE, offset)?;
                        Ok(Record::$variant(<$name as FixedRecord>::decode_body(raw.body)))
                    }
                )*
                STRING_KIND => StringRec::decode(raw, offset).map(Record::String),
                kind => Ok(Record::Unknown { kind }),
            }
        }
    };
}

fn check_body(raw: RawRecord<'_>, needed: usize, offset: u64) -> Result<(), WireError> {
    if raw.body.len() < needed {
        return Err(WireError::new(
            WireErrorKind::ShortRecord {
                kind: raw.kind,
                size: (raw.body.len() + crate::frame::RECORD_HEADER_LEN) as u32,
                needed: (needed + crate::frame::RECORD_HEADER_LEN) as u32,
            },
            offset,
        ));
    }
    Ok(())
}

records! {
    /// First record of an injected process: who it is and how CUPTI was set up.
    Hello(HelloRec) = 1 {
        pid: u32,
        /// `cuptiGetVersion` (0 when CUPTI could not be loaded).
        cupti_api_version: u32,
        /// Version of CUPTI's kernel record that the collector reads (9, 10, 13; 0 unknown).
        kernel_record_version: u16,
        /// [`HelloRec::LATENCY_TIMESTAMPS`] | [`HelloRec::LAYOUT_VERIFIED`] | [`HelloRec::ACTIVE`].
        flags: u16,
        /// Executable name (string id).
        exe_name: u32,
    }

    /// Pairs CUPTI's clock with the host's CLOCK_MONOTONIC, read back to back.
    ClockAnchor(ClockAnchorRec) = 3 {
        /// `cuptiGetTimestamp`.
        cupti_ns: u64,
        /// CLOCK_MONOTONIC halfway between two reads around `cupti_ns`.
        host_ns: u64,
        /// Time between those two reads: the pairing's uncertainty.
        uncertainty_ns: u32,
        _pad: u32,
    }

    /// A kernel execution (CUPTI CONCURRENT_KERNEL). Times on CUPTI's clock;
    /// `queued_ns`/`submitted_ns` are 0 when latency timestamps were not recorded.
    Kernel(KernelRec) = 4 {
        start_ns: u64,
        end_ns: u64,
        queued_ns: u64,
        submitted_ns: u64,
        graph_node_id: u64,
        correlation: u32,
        device: u32,
        context: u32,
        stream: u32,
        grid_x: i32,
        grid_y: i32,
        grid_z: i32,
        block_x: i32,
        block_y: i32,
        block_z: i32,
        /// CUDA graph id, 0 when not launched from a graph.
        graph_id: u32,
        /// Kernel name (string id).
        name: u32,
        static_shared_bytes: i32,
        dynamic_shared_bytes: i32,
        registers_per_thread: u16,
        launch_type: u8,
        _pad0: u8,
        _pad1: u32,
    }

    /// A memory copy (CUPTI MEMCPY). Times on CUPTI's clock.
    Memcpy(MemcpyRec) = 5 {
        start_ns: u64,
        end_ns: u64,
        bytes: u64,
        graph_node_id: u64,
        correlation: u32,
        device: u32,
        context: u32,
        stream: u32,
        graph_id: u32,
        /// CUpti_ActivityMemcpyKind (1 HtoD, 2 DtoH, 8 DtoD, ...).
        copy_kind: u8,
        src_kind: u8,
        dst_kind: u8,
        flags: u8,
    }

    /// A memory fill (CUPTI MEMSET). Times on CUPTI's clock.
    Memset(MemsetRec) = 6 {
        start_ns: u64,
        end_ns: u64,
        bytes: u64,
        graph_node_id: u64,
        correlation: u32,
        device: u32,
        context: u32,
        stream: u32,
        graph_id: u32,
        value: u32,
        memory_kind: u16,
        flags: u16,
        _pad: u32,
    }

    /// A CUDA runtime or driver API call (CUPTI RUNTIME / DRIVER). Times on CUPTI's clock.
    ApiCall(ApiCallRec) = 7 {
        start_ns: u64,
        end_ns: u64,
        correlation: u32,
        /// CUPTI callback id within `domain`.
        cbid: u32,
        pid: u32,
        tid: u32,
        /// API function name (string id), as CUPTI names it (`cudaLaunchKernel_v7000`).
        name: u32,
        return_value: u32,
        /// [`ApiCallRec::DRIVER`] or [`ApiCallRec::RUNTIME`] (CUPTI callback domains).
        domain: u8,
        _pad0: u8,
        _pad1: u16,
        _pad2: u32,
    }

    /// What a host synchronization waited on (CUPTI SYNCHRONIZATION). Times on CUPTI's clock.
    Sync(SyncRec) = 8 {
        start_ns: u64,
        end_ns: u64,
        correlation: u32,
        context: u32,
        stream: u32,
        cuda_event: u32,
        /// CUpti_ActivitySynchronizationType (1 event, 2 stream wait event, 3 stream, 4 context).
        sync_type: u32,
        _pad: u32,
    }

    /// One NVTX marker event (CUPTI MARKER): a range start, a range end (same
    /// `id`, no name) or an instant. Time on CUPTI's clock.
    Marker(MarkerRec) = 9 {
        time_ns: u64,
        id: u32,
        /// CUpti_ActivityFlag marker bits: 1 instant, 2 start, 4 end.
        flags: u32,
        /// CUpti_ActivityObjectKind: 1 process, 2 thread (obj0 pid, obj1 tid), 3..5 device/context/stream.
        object_kind: u32,
        obj0: u32,
        obj1: u32,
        obj2: u32,
        /// Range name (string id; 0 on ends).
        name: u32,
        /// NVTX domain name (string id; 0 for the default domain).
        domain: u32,
    }

    /// Time CUPTI spent on its own work (CUPTI OVERHEAD). Times on CUPTI's clock.
    Overhead(OverheadRec) = 10 {
        start_ns: u64,
        end_ns: u64,
        /// CUpti_ActivityOverheadKind (1 compiler, 1<<16 buffer flush, 2<<16 instrumentation, ...).
        overhead_kind: u32,
        object_kind: u32,
        obj0: u32,
        obj1: u32,
        correlation: u32,
        _pad: u32,
    }

    /// Links a CUPTI correlation id to a framework's id (CUPTI EXTERNAL_CORRELATION).
    ExternalCorrelation(ExternalCorrelationRec) = 11 {
        external_id: u64,
        correlation: u32,
        external_kind: u32,
    }

    /// Declares a counter series of this source.
    CounterSeries(CounterSeriesRec) = 12 {
        id: u32,
        /// GPU index, or [`crate::NO_DEVICE`].
        device: u32,
        /// Series name (string id), e.g. `gpu_util`.
        name: u32,
        /// Unit (string id), e.g. `%`.
        unit: u32,
    }

    /// One counter value. `time_ns` is on the host's CLOCK_MONOTONIC.
    CounterSample(CounterSampleRec) = 13 {
        time_ns: i64,
        value: f64,
        series: u32,
        _pad: u32,
    }

    /// What the collector of this source did so far (cumulative; the last one counts).
    Stats(StatsRec) = 14 {
        /// Records converted and queued (before queue drops).
        records: u64,
        /// Bytes of frames written to the socket or file.
        bytes: u64,
        frames: u64,
        /// Records lost because the send queue was full.
        dropped_queue_records: u64,
        /// Records CUPTI reported as dropped (`cuptiActivityGetNumDroppedRecords`).
        dropped_cupti_records: u64,
        /// Time spent in CUPTI buffer-completion callbacks (converting records), ns.
        callback_ns: u64,
        /// CPU time of the sender thread, ns.
        sender_cpu_ns: u64,
        /// Records of kinds this collector does not convert.
        unknown_kinds: u64,
        /// Records too short or otherwise unreadable.
        malformed: u64,
        /// CUPTI buffers completed.
        buffers: u64,
        /// Records dropped because CUPTI left their start or end at 0 (incomplete records).
        no_timestamp_records: u64,
        /// Kernels whose queued/submitted times were out of order, and cleared.
        latency_rejected: u64,
        /// Hot runtime/driver query calls left out (cudaGetDevice, cuCtxGetCurrent, ...).
        filtered_api_calls: u64,
    }

    /// A message for the user (why GPU activity is missing, a version warning, ...).
    Notice(NoticeRec) = 15 {
        /// [`NoticeRec::INFO`], [`NoticeRec::WARNING`] or [`NoticeRec::ERROR`].
        level: u16,
        /// Machine-readable reason ([`NoticeRec::NO_CUPTI`], ...).
        code: u16,
        /// The message (string id).
        message: u32,
    }

    /// Last record of a source; a source without one was cut short.
    End(EndRec) = 16 {
        /// 1 when everything collected was written; 0 when the writer gave up early.
        complete: u32,
        _pad: u32,
    }

    /// A GPU as NVML names it.
    Device(DeviceRec) = 17 {
        total_mem_bytes: u64,
        id: u32,
        /// Device name (string id).
        name: u32,
        sm_count: u32,
        cc_major: u16,
        cc_minor: u16,
    }

    /// How the profiler ran the program (source 0, once). Times on CLOCK_MONOTONIC.
    RunInfo(RunInfoRec) = 18 {
        /// When the program was released.
        start_ns: i64,
        /// Events starting before this are left out (`--delay`); `i64::MIN` for none.
        window_start_ns: i64,
        /// Events starting after this are left out (`--duration`); `i64::MAX` for none.
        window_end_ns: i64,
        /// `boundscope:step` ranges to skip before the analyzed steps (`--skip-steps`).
        skip_steps: u32,
        /// Steps to analyze after those (`--steps`); 0 for all.
        max_steps: u32,
        /// Command line (string id).
        command: u32,
        target_pid: u32,
    }
}

impl HelloRec {
    /// Kernel records carry queued/submitted timestamps.
    pub const LATENCY_TIMESTAMPS: u16 = 1;
    /// The CUPTI version's record layouts are ones boundscope checked against CUPTI's headers.
    pub const LAYOUT_VERIFIED: u16 = 2;
    /// CUPTI activity collection is on (subscribe and enable succeeded).
    pub const ACTIVE: u16 = 4;
    /// CUPTI stamps records with the collector's CLOCK_MONOTONIC (timestamp callback).
    pub const HOST_CLOCK: u16 = 8;
}

impl ApiCallRec {
    pub const DRIVER: u8 = 1;
    pub const RUNTIME: u8 = 2;
}

impl MarkerRec {
    pub const INSTANT: u32 = 1;
    pub const START: u32 = 2;
    pub const END: u32 = 4;
}

impl NoticeRec {
    pub const INFO: u16 = 0;
    pub const WARNING: u16 = 1;
    pub const ERROR: u16 = 2;

    /// libcupti could not be found or loaded.
    pub const NO_CUPTI: u16 = 1;
    /// CUPTI refused the subscription (another profiler holds it, or no driver).
    pub const SUBSCRIBE_FAILED: u16 = 2;
    /// An activity kind could not be enabled.
    pub const ENABLE_FAILED: u16 = 3;
    /// CUPTI's record layouts for this version were not verified by boundscope.
    pub const UNVERIFIED_LAYOUT: u16 = 4;
    /// The collector hit an internal error and stopped; the program ran on.
    pub const INTERNAL: u16 = 5;
    /// No GPU (driver) on the machine: only host samples were recorded.
    pub const NO_GPU: u16 = 6;
    /// A sampler (NVML, perf) could not run.
    pub const SAMPLER: u16 = 7;
    /// Which libcupti the collector loaded, and why that one.
    pub const CUPTI_LIBRARY: u16 = 8;
    /// NVTX ranges: how they reach CUPTI, or why they do not.
    pub const NVTX: u16 = 9;
}

/// Record kind of [`StringRec`].
pub const STRING_KIND: u16 = 2;

/// An interned name: `id` (from 1) stands for `text` in this source's later records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StringRec<'a> {
    pub id: u32,
    /// UTF-8 as sent; readers replace invalid sequences.
    pub text: &'a [u8],
}

impl<'a> StringRec<'a> {
    /// Longest text kept; longer names are cut (at a byte boundary).
    pub const MAX_LEN: usize = 64 * 1024;

    /// Body: id u32, length u32, the bytes, zero padding to a multiple of 8.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        let text = &self.text[..self.text.len().min(Self::MAX_LEN)];
        self.id.put(out);
        (text.len() as u32).put(out);
        out.extend_from_slice(text);
        out.resize(out.len() + pad8(text.len()), 0);
    }

    /// Body bytes for a text of `len` bytes.
    pub fn body_size(len: usize) -> usize {
        let len = len.min(Self::MAX_LEN);
        8 + len + pad8(len)
    }

    fn decode(raw: RawRecord<'a>, offset: u64) -> Result<Self, WireError> {
        check_body(raw, 8, offset)?;
        let id = u32::get(raw.body);
        let len = u32::get(&raw.body[4..]) as usize;
        check_body(raw, 8 + len, offset)?;
        Ok(StringRec { id, text: &raw.body[8..8 + len] })
    }
}

/// Zero bytes that pad `len` to a multiple of 8.
pub(crate) fn pad8(len: usize) -> usize {
    (8 - len % 8) % 8
}
