//! Scalar types, constants and callback signatures from the CUPTI headers.
//! C enums are declared as `u32` with constants: CUPTI may hand back values a
//! Rust enum would not know, and reading those must not be undefined behaviour.

use std::ffi::{c_char, c_void};

/// `CUptiResult`.
pub type CUptiResult = u32;
pub const CUPTI_SUCCESS: CUptiResult = 0;
pub const CUPTI_ERROR_INVALID_PARAMETER: CUptiResult = 1;
pub const CUPTI_ERROR_MAX_LIMIT_REACHED: CUptiResult = 12;
pub const CUPTI_ERROR_NOT_INITIALIZED: CUptiResult = 15;
pub const CUPTI_ERROR_INVALID_KIND: CUptiResult = 21;
pub const CUPTI_ERROR_NOT_SUPPORTED: CUptiResult = 27;
pub const CUPTI_ERROR_INSUFFICIENT_PRIVILEGES: CUptiResult = 35;
pub const CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED: CUptiResult = 39;
pub const CUPTI_ERROR_UNKNOWN: CUptiResult = 999;

/// `CUpti_ActivityKind`.
pub type CUpti_ActivityKind = u32;
pub const CUPTI_ACTIVITY_KIND_MEMCPY: CUpti_ActivityKind = 1;
pub const CUPTI_ACTIVITY_KIND_MEMSET: CUpti_ActivityKind = 2;
pub const CUPTI_ACTIVITY_KIND_KERNEL: CUpti_ActivityKind = 3;
pub const CUPTI_ACTIVITY_KIND_DRIVER: CUpti_ActivityKind = 4;
pub const CUPTI_ACTIVITY_KIND_RUNTIME: CUpti_ActivityKind = 5;
pub const CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL: CUpti_ActivityKind = 10;
pub const CUPTI_ACTIVITY_KIND_MARKER: CUpti_ActivityKind = 12;
pub const CUPTI_ACTIVITY_KIND_OVERHEAD: CUpti_ActivityKind = 17;
pub const CUPTI_ACTIVITY_KIND_SYNCHRONIZATION: CUpti_ActivityKind = 38;
pub const CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION: CUpti_ActivityKind = 39;

/// `CUpti_ActivityFlag` bits of marker records.
pub const CUPTI_ACTIVITY_FLAG_MARKER_INSTANTANEOUS: u32 = 1 << 0;
pub const CUPTI_ACTIVITY_FLAG_MARKER_START: u32 = 1 << 1;
pub const CUPTI_ACTIVITY_FLAG_MARKER_END: u32 = 1 << 2;
/// `cuptiActivityFlushAll` flag: also flush buffers that are not full.
pub const CUPTI_ACTIVITY_FLAG_FLUSH_FORCED: u32 = 1 << 0;

/// `CUpti_ActivityObjectKind`.
pub const CUPTI_ACTIVITY_OBJECT_PROCESS: u32 = 1;
pub const CUPTI_ACTIVITY_OBJECT_THREAD: u32 = 2;

/// `CUPTI_TIMESTAMP_UNKNOWN`: a queued/submitted time that was not recorded.
pub const CUPTI_TIMESTAMP_UNKNOWN: u64 = 0;

/// `CUpti_CallbackDomain`.
pub type CUpti_CallbackDomain = u32;
pub const CUPTI_CB_DOMAIN_DRIVER_API: CUpti_CallbackDomain = 1;
pub const CUPTI_CB_DOMAIN_RUNTIME_API: CUpti_CallbackDomain = 2;
pub const CUPTI_CB_DOMAIN_RESOURCE: CUpti_CallbackDomain = 3;

/// `CUpti_CallbackId`.
pub type CUpti_CallbackId = u32;
pub const CUPTI_CBID_RESOURCE_CONTEXT_DESTROY_STARTING: CUpti_CallbackId = 2;
/// `CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000`, used by tests of name lookup.
pub const CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000: CUpti_CallbackId = 211;

/// `CUpti_ActivityThreadIdType`: report OS thread ids (gettid) in records.
pub const CUPTI_ACTIVITY_THREAD_ID_TYPE_SYSTEM: u32 = 1;

/// `CUpti_ExternalCorrelationKind`.
pub type CUpti_ExternalCorrelationKind = u32;

/// `CUpti_SubscriberHandle`.
pub type CUpti_SubscriberHandle = *mut c_void;
/// `CUcontext`.
pub type CUcontext = *mut c_void;

/// `CUpti_CallbackFunc`.
pub type CUpti_CallbackFunc = unsafe extern "C" fn(
    userdata: *mut c_void,
    domain: CUpti_CallbackDomain,
    cbid: CUpti_CallbackId,
    cbdata: *const c_void,
);
/// `CUpti_BuffersCallbackRequestFunc`: CUPTI asks for an empty buffer.
pub type CUpti_BuffersCallbackRequestFunc =
    unsafe extern "C" fn(buffer: *mut *mut u8, size: *mut usize, max_num_records: *mut usize);
/// `CUpti_BuffersCallbackCompleteFunc`: CUPTI returns a filled buffer.
pub type CUpti_BuffersCallbackCompleteFunc =
    unsafe extern "C" fn(context: CUcontext, stream_id: u32, buffer: *mut u8, size: usize, valid_size: usize);

/// `CUpti_TimestampCallbackFunc`: CUPTI asks the client for the time, in ns.
pub type CUpti_TimestampCallbackFunc = unsafe extern "C" fn() -> u64;

/// Largest callback id tried when looking callback ids up by name (the
/// driver domain has about 800 in CUDA 13).
pub const MAX_CALLBACK_ID: u32 = 2048;

/// `CUpti_ResourceData` (the `cbdata` of resource-domain callbacks), up to the context.
#[repr(C)]
#[derive(Debug)]
pub struct CUpti_ResourceData {
    pub context: CUcontext,
    pub resourceHandle: *mut c_void,
    pub resourceDescriptor: *mut c_void,
}

/// Function-pointer types of the CUPTI entry points, named as in the headers.
pub mod fns {
    use super::*;

    pub type cuptiGetVersion = unsafe extern "C" fn(version: *mut u32) -> CUptiResult;
    pub type cuptiGetResultString = unsafe extern "C" fn(result: CUptiResult, str: *mut *const c_char) -> CUptiResult;
    pub type cuptiGetTimestamp = unsafe extern "C" fn(timestamp: *mut u64) -> CUptiResult;
    pub type cuptiSubscribe = unsafe extern "C" fn(
        subscriber: *mut CUpti_SubscriberHandle,
        callback: Option<CUpti_CallbackFunc>,
        userdata: *mut c_void,
    ) -> CUptiResult;
    pub type cuptiUnsubscribe = unsafe extern "C" fn(subscriber: CUpti_SubscriberHandle) -> CUptiResult;
    pub type cuptiEnableCallback = unsafe extern "C" fn(
        enable: u32,
        subscriber: CUpti_SubscriberHandle,
        domain: CUpti_CallbackDomain,
        cbid: CUpti_CallbackId,
    ) -> CUptiResult;
    pub type cuptiGetCallbackName =
        unsafe extern "C" fn(domain: CUpti_CallbackDomain, cbid: u32, name: *mut *const c_char) -> CUptiResult;
    pub type cuptiActivityEnable = unsafe extern "C" fn(kind: CUpti_ActivityKind) -> CUptiResult;
    pub type cuptiActivityDisable = unsafe extern "C" fn(kind: CUpti_ActivityKind) -> CUptiResult;
    pub type cuptiActivityEnableLatencyTimestamps = unsafe extern "C" fn(enable: u8) -> CUptiResult;
    pub type cuptiActivityFlushAll = unsafe extern "C" fn(flag: u32) -> CUptiResult;
    pub type cuptiActivityRegisterCallbacks = unsafe extern "C" fn(
        requested: Option<CUpti_BuffersCallbackRequestFunc>,
        completed: Option<CUpti_BuffersCallbackCompleteFunc>,
    ) -> CUptiResult;
    pub type cuptiActivityGetNumDroppedRecords =
        unsafe extern "C" fn(context: CUcontext, stream_id: u32, dropped: *mut usize) -> CUptiResult;
    pub type cuptiActivityGetNextRecord =
        unsafe extern "C" fn(buffer: *mut u8, valid_size: usize, record: *mut *mut u8) -> CUptiResult;
    pub type cuptiActivityPushExternalCorrelationId =
        unsafe extern "C" fn(kind: CUpti_ExternalCorrelationKind, id: u64) -> CUptiResult;
    pub type cuptiActivityPopExternalCorrelationId =
        unsafe extern "C" fn(kind: CUpti_ExternalCorrelationKind, last_id: *mut u64) -> CUptiResult;
    pub type cuptiSetThreadIdType = unsafe extern "C" fn(kind: u32) -> CUptiResult;
    pub type cuptiActivityFlushPeriod = unsafe extern "C" fn(time_ms: u32) -> CUptiResult;
    pub type cuptiActivityRegisterTimestampCallback =
        unsafe extern "C" fn(func: Option<CUpti_TimestampCallbackFunc>) -> CUptiResult;
    pub type cuptiActivityEnableRuntimeApi = unsafe extern "C" fn(cbid: CUpti_CallbackId, enable: u8) -> CUptiResult;
    pub type cuptiActivityEnableDriverApi = unsafe extern "C" fn(cbid: CUpti_CallbackId, enable: u8) -> CUptiResult;
    /// NVTX's injection entry point, which libcupti exports: NVTX hands it
    /// `NvtxGetExportTableFunc_t` and the tool fills NVTX's callback tables.
    pub type InitializeInjectionNvtx2 = unsafe extern "C" fn(get_export_table: *const c_void) -> i32;
    pub type cuptiFinalize = unsafe extern "C" fn() -> CUptiResult;
}
