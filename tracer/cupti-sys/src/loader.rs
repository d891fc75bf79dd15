//! Finding and loading `libcupti` at run time, and safe wrappers around the
//! CUPTI calls boundscope makes.
//!
//! One search order, used by both `boundscope profile` (which picks the file
//! and passes it to the collector in `BOUNDSCOPE_CUPTI_FILE`) and the
//! collector (docs/profile.md): the profiler's choice, `BOUNDSCOPE_CUPTI_PATH`
//! (a file or a directory), the `nvidia-cuda-cupti` wheel next to PyTorch
//! (`site-packages/nvidia/cu13/lib`, `site-packages/nvidia/cuda_cupti/lib`: the
//! copy PyTorch itself loads), the CUDA toolkit
//! (`$CUDA_HOME/extras/CUPTI/lib64`, `/usr/local/cuda/extras/CUPTI/lib64`),
//! then the dynamic loader's own path. Libraries are opened by absolute path
//! where one is known: inside an injected process `LD_LIBRARY_PATH` can no
//! longer be changed. A library that loads but does not answer
//! `cuptiGetVersion` is skipped, and every attempt is kept for the error.

use std::ffi::{CStr, OsString, c_char, c_void};
use std::fmt;
use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};

use libloading::Library;

use crate::types::{fns, *};
use crate::versions::{MIN_API_VERSION, RecordVersions};

/// The variable in which `boundscope profile` passes its choice to the collector.
pub const CHOSEN_FILE_ENV: &str = "BOUNDSCOPE_CUPTI_FILE";
/// The variable saying why the profiler chose that file.
pub const CHOSEN_WHY_ENV: &str = "BOUNDSCOPE_CUPTI_WHY";

/// Where to look for libcupti.
#[derive(Debug, Clone, Default)]
pub struct SearchSpec {
    /// The file `boundscope profile` chose (`BOUNDSCOPE_CUPTI_FILE`) and why.
    pub chosen: Option<(PathBuf, String)>,
    /// `BOUNDSCOPE_CUPTI_PATH`: a library file, or a directory holding one.
    pub env_path: Option<PathBuf>,
    /// `$CUDA_HOME`.
    pub cuda_home: Option<PathBuf>,
    /// `site-packages` directories of a PyTorch install (where `nvidia/` wheels live).
    pub site_packages: Vec<PathBuf>,
}

impl SearchSpec {
    /// `BOUNDSCOPE_CUPTI_PATH` and `CUDA_HOME` from the environment; no site-packages.
    pub fn from_env() -> SearchSpec {
        let get = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let chosen = get(CHOSEN_FILE_ENV).map(|p| {
            let why = std::env::var(CHOSEN_WHY_ENV).unwrap_or_default();
            (p, why)
        });
        SearchSpec {
            chosen,
            env_path: get("BOUNDSCOPE_CUPTI_PATH"),
            cuda_home: get("CUDA_HOME"),
            site_packages: Vec::new(),
        }
    }

    /// The first candidate that is an existing file, and why it was chosen:
    /// what `boundscope profile` passes to the collector.
    pub fn first_file(&self) -> Option<(PathBuf, String)> {
        candidates(self).into_iter().find_map(|c| match c {
            Candidate::Path { path, origin } if path.is_file() => Some((path, origin)),
            _ => None,
        })
    }
}

/// Library file names, newest first.
const SONAMES: [&str; 3] = ["libcupti.so", "libcupti.so.13", "libcupti.so.12"];

/// One place to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Candidate {
    /// An absolute path, and which rule produced it.
    Path { path: PathBuf, origin: String },
    /// A file name for the dynamic loader's search path.
    Soname(&'static str),
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Candidate::Path { path, origin } => write!(f, "{} ({origin})", path.display()),
            Candidate::Soname(s) => write!(f, "{s} (dynamic loader path)"),
        }
    }
}

/// The places to try, in order.
pub fn candidates(spec: &SearchSpec) -> Vec<Candidate> {
    let mut out = Vec::new();
    let path = |path: PathBuf, origin: &str| Candidate::Path { path, origin: origin.to_string() };
    if let Some((p, why)) = &spec.chosen {
        let origin = if why.is_empty() { "chosen by boundscope profile".to_string() } else { why.clone() };
        out.push(Candidate::Path { path: p.clone(), origin });
    }
    if let Some(p) = &spec.env_path {
        if p.is_dir() {
            for s in SONAMES {
                out.push(path(p.join(s), "BOUNDSCOPE_CUPTI_PATH"));
            }
        } else {
            out.push(path(p.clone(), "BOUNDSCOPE_CUPTI_PATH"));
        }
    }
    for sp in &spec.site_packages {
        out.push(path(sp.join("nvidia/cu13/lib/libcupti.so.13"), "nvidia-cuda-cupti wheel next to PyTorch"));
        out.push(path(sp.join("nvidia/cuda_cupti/lib/libcupti.so.12"), "nvidia-cuda-cupti-cu12 wheel next to PyTorch"));
    }
    let toolkit = spec.cuda_home.iter().cloned().chain([PathBuf::from("/usr/local/cuda")]);
    for home in toolkit {
        out.push(path(home.join("extras/CUPTI/lib64/libcupti.so"), "CUDA toolkit"));
    }
    out.extend(SONAMES.map(Candidate::Soname));
    out
}

/// libcupti could not be loaded from anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// Each place tried and why it did not do.
    pub attempts: Vec<(String, String)>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no usable libcupti (set BOUNDSCOPE_CUPTI_PATH to its file or directory); tried:")?;
        for (what, why) in &self.attempts {
            write!(f, "\n  {what}: {why}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// A CUPTI call that did not return `CUPTI_SUCCESS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CuptiError {
    pub call: &'static str,
    pub code: CUptiResult,
    /// `cuptiGetResultString`, or the number.
    pub name: String,
}

impl fmt::Display for CuptiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {} ({})", self.call, self.name, self.code)
    }
}

impl std::error::Error for CuptiError {}

/// A loaded libcupti and the entry points boundscope uses. Function pointers
/// are valid for the life of the process: the library is never unloaded
/// (CUPTI may call back into registered callbacks at any time until exit).
/// Every CUPTI call goes through a method here; only walking a buffer and
/// forwarding NVTX's export table need the caller's promise (`unsafe fn`).
#[derive(Debug)]
pub struct Cupti {
    _lib: ManuallyDrop<Library>,
    /// The file (or soname) loaded.
    pub file: String,
    /// Why this one: the search rule that produced it.
    pub why: String,
    /// `cuptiGetVersion`.
    pub api_version: u32,
    /// The record layouts of this release.
    pub versions: RecordVersions,
    get_result_string: fns::cuptiGetResultString,
    get_timestamp: fns::cuptiGetTimestamp,
    subscribe: fns::cuptiSubscribe,
    unsubscribe: fns::cuptiUnsubscribe,
    enable_callback: fns::cuptiEnableCallback,
    get_callback_name: fns::cuptiGetCallbackName,
    activity_enable: fns::cuptiActivityEnable,
    activity_disable: fns::cuptiActivityDisable,
    enable_latency: fns::cuptiActivityEnableLatencyTimestamps,
    flush_all: fns::cuptiActivityFlushAll,
    register_callbacks: fns::cuptiActivityRegisterCallbacks,
    get_num_dropped: fns::cuptiActivityGetNumDroppedRecords,
    get_next_record: fns::cuptiActivityGetNextRecord,
    set_thread_id_type: Option<fns::cuptiSetThreadIdType>,
    flush_period: Option<fns::cuptiActivityFlushPeriod>,
    register_timestamp_callback: Option<fns::cuptiActivityRegisterTimestampCallback>,
    enable_runtime_api: Option<fns::cuptiActivityEnableRuntimeApi>,
    enable_driver_api: Option<fns::cuptiActivityEnableDriverApi>,
    nvtx_injection: Option<fns::InitializeInjectionNvtx2>,
}

// SAFETY: the struct holds a library handle and plain function pointers into
// it; CUPTI's entry points may be called from any thread.
unsafe impl Send for Cupti {}
// SAFETY: as above; nothing in the struct is mutated after loading.
unsafe impl Sync for Cupti {}

/// A `cuptiSubscribe` handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscriber(usize);

impl Cupti {
    /// Loads from the first candidate of `spec` that works.
    pub fn load(spec: &SearchSpec) -> Result<Cupti, LoadError> {
        let mut attempts = Vec::new();
        for c in candidates(spec) {
            let r = match &c {
                Candidate::Path { path, .. } if !path.exists() => Err("no such file".to_string()),
                Candidate::Path { path, origin } => Cupti::open(path.as_os_str().to_owned(), origin),
                Candidate::Soname(s) => Cupti::open(OsString::from(s), "dynamic loader path"),
            };
            match r {
                Ok(c) => return Ok(c),
                Err(why) => attempts.push((c.to_string(), why)),
            }
        }
        Err(LoadError { attempts })
    }

    /// A libcupti the process has already loaded (PyTorch links one), so that
    /// the collector does not bring in a second, different copy.
    pub fn already_loaded() -> Option<Cupti> {
        for s in ["libcupti.so.13", "libcupti.so.12", "libcupti.so"] {
            // SAFETY: RTLD_NOLOAD only returns a handle to a library that is
            // already mapped and initialized; nothing new is run.
            let lib = unsafe {
                libloading::os::unix::Library::open(Some(s), libc_flags::RTLD_NOLOAD | libc_flags::RTLD_LAZY)
            };
            if let Ok(lib) = lib {
                let file = mapped_file("/libcupti.so").unwrap_or_else(|| s.to_string());
                if let Ok(c) = Cupti::from_library(lib.into(), file, "already loaded by the program".into()) {
                    return Some(c);
                }
            }
        }
        None
    }

    /// Loads one file (or soname) and checks that it answers `cuptiGetVersion`.
    pub fn open(path: OsString, origin: &str) -> Result<Cupti, String> {
        // SAFETY: loading libcupti runs its initializers, which only set up
        // CUPTI's own state (no driver call happens before cuptiSubscribe).
        let lib = unsafe { Library::new(&path) }.map_err(|e| e.to_string())?;
        Cupti::from_library(lib, Path::new(&path).display().to_string(), origin.to_string())
    }

    /// "FILE (WHY)".
    pub fn origin(&self) -> String {
        format!("{} ({})", self.file, self.why)
    }

    fn from_library(lib: Library, file: String, why: String) -> Result<Cupti, String> {
        macro_rules! sym {
            ($name:ident) => {{
                let name = concat!(stringify!($name), "\0").as_bytes();
                // SAFETY: the symbol has the signature of the CUPTI header (types.rs); the pointer is copied out and stays valid because the library is never unloaded.
                let s = unsafe { lib.get::<fns::$name>(name) };
                *s.map_err(|e| format!("not a CUPTI library: {e}"))?
            }};
        }
        macro_rules! optional {
            ($name:ident) => {{
                let name = concat!(stringify!($name), "\0").as_bytes();
                // SAFETY: as for `sym!`; a missing symbol is None (older releases).
                let s = unsafe { lib.get::<fns::$name>(name) };
                s.ok().map(|s| *s)
            }};
        }
        let get_version = sym!(cuptiGetVersion);
        let get_result_string = sym!(cuptiGetResultString);
        let mut api_version = 0u32;
        // SAFETY: cuptiGetVersion writes one u32 through a valid pointer.
        let rc = unsafe { get_version(&mut api_version) };
        if rc != CUPTI_SUCCESS {
            let name = result_name(get_result_string, rc);
            return Err(format!("cuptiGetVersion failed: {name} ({rc}); this CUPTI may need a newer NVIDIA driver"));
        }
        let versions = RecordVersions::for_api_version(api_version).ok_or_else(|| {
            format!(
                "CUPTI API version {api_version} is older than CUDA 12.0 (version {MIN_API_VERSION}); \
                 boundscope reads CUPTI 12.x and 13.x"
            )
        })?;
        Ok(Cupti {
            file,
            why,
            api_version,
            versions,
            get_result_string,
            get_timestamp: sym!(cuptiGetTimestamp),
            subscribe: sym!(cuptiSubscribe),
            unsubscribe: sym!(cuptiUnsubscribe),
            enable_callback: sym!(cuptiEnableCallback),
            get_callback_name: sym!(cuptiGetCallbackName),
            activity_enable: sym!(cuptiActivityEnable),
            activity_disable: sym!(cuptiActivityDisable),
            enable_latency: sym!(cuptiActivityEnableLatencyTimestamps),
            flush_all: sym!(cuptiActivityFlushAll),
            register_callbacks: sym!(cuptiActivityRegisterCallbacks),
            get_num_dropped: sym!(cuptiActivityGetNumDroppedRecords),
            get_next_record: sym!(cuptiActivityGetNextRecord),
            set_thread_id_type: optional!(cuptiSetThreadIdType),
            flush_period: optional!(cuptiActivityFlushPeriod),
            register_timestamp_callback: optional!(cuptiActivityRegisterTimestampCallback),
            enable_runtime_api: optional!(cuptiActivityEnableRuntimeApi),
            enable_driver_api: optional!(cuptiActivityEnableDriverApi),
            nvtx_injection: optional!(InitializeInjectionNvtx2),
            _lib: ManuallyDrop::new(lib),
        })
    }

    /// `Ok` for `CUPTI_SUCCESS`, else the call's name and the result's name.
    pub fn check(&self, call: &'static str, rc: CUptiResult) -> Result<(), CuptiError> {
        if rc == CUPTI_SUCCESS {
            return Ok(());
        }
        Err(CuptiError { call, code: rc, name: self.result_string(rc) })
    }

    /// `cuptiGetResultString`, or the number when CUPTI does not know it.
    pub fn result_string(&self, rc: CUptiResult) -> String {
        result_name(self.get_result_string, rc)
    }

    /// `cuptiGetTimestamp`: the clock of activity records, in ns.
    pub fn timestamp(&self) -> Result<u64, CuptiError> {
        let mut t = 0u64;
        // SAFETY: writes one u64 through a valid pointer.
        let rc = unsafe { (self.get_timestamp)(&mut t) };
        self.check("cuptiGetTimestamp", rc).map(|()| t)
    }

    /// `cuptiGetCallbackName`: the API function name of a runtime/driver callback id.
    pub fn callback_name(&self, domain: CUpti_CallbackDomain, cbid: u32) -> Option<String> {
        let mut p: *const c_char = std::ptr::null();
        // SAFETY: CUPTI writes a pointer to a static NUL-terminated string, or leaves it null.
        let rc = unsafe { (self.get_callback_name)(domain, cbid, &mut p) };
        if rc != CUPTI_SUCCESS || p.is_null() {
            return None;
        }
        // SAFETY: non-null, NUL-terminated, owned by CUPTI for the life of the library.
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }

    /// Callback ids of `domain` whose function name (without CUPTI's `_vNNNN`
    /// suffix) is one of `names`, found by asking CUPTI for every id's name.
    pub fn callback_ids_named(&self, domain: CUpti_CallbackDomain, names: &[&str]) -> Vec<(u32, String)> {
        (1..MAX_CALLBACK_ID)
            .filter_map(|id| {
                let n = self.callback_name(domain, id)?;
                names.contains(&strip_version(&n)).then_some((id, n))
            })
            .collect()
    }

    /// `cuptiSubscribe` with `callback` for the callback API.
    pub fn subscribe(&self, callback: Option<CUpti_CallbackFunc>) -> Result<Subscriber, CuptiError> {
        let mut h: CUpti_SubscriberHandle = std::ptr::null_mut();
        // SAFETY: writes one handle through a valid pointer; the callback has
        // the CUpti_CallbackFunc signature (or is null: activity API only).
        let rc = unsafe { (self.subscribe)(&mut h, callback, std::ptr::null_mut()) };
        self.check("cuptiSubscribe", rc).map(|()| Subscriber(h as usize))
    }

    /// `cuptiSubscribe` with no callback function (activity API only) — used by
    /// the load test to show that a missing driver is an error code, not a crash.
    pub fn subscribe_without_callback(&self) -> Result<Subscriber, CuptiError> {
        self.subscribe(None)
    }

    /// `cuptiUnsubscribe`.
    pub fn unsubscribe(&self, s: Subscriber) -> Result<(), CuptiError> {
        // SAFETY: a handle cuptiSubscribe returned.
        let rc = unsafe { (self.unsubscribe)(s.0 as CUpti_SubscriberHandle) };
        self.check("cuptiUnsubscribe", rc)
    }

    /// `cuptiEnableCallback(1, ...)`.
    pub fn enable_callback(
        &self,
        s: Subscriber,
        domain: CUpti_CallbackDomain,
        cbid: CUpti_CallbackId,
    ) -> Result<(), CuptiError> {
        // SAFETY: plain values; the handle is one cuptiSubscribe returned.
        let rc = unsafe { (self.enable_callback)(1, s.0 as CUpti_SubscriberHandle, domain, cbid) };
        self.check("cuptiEnableCallback", rc)
    }

    /// `cuptiActivityEnable`.
    pub fn activity_enable(&self, kind: CUpti_ActivityKind) -> Result<(), CuptiError> {
        // SAFETY: plain value.
        let rc = unsafe { (self.activity_enable)(kind) };
        self.check("cuptiActivityEnable", rc)
    }

    /// `cuptiActivityDisable`.
    pub fn activity_disable(&self, kind: CUpti_ActivityKind) -> Result<(), CuptiError> {
        // SAFETY: plain value.
        let rc = unsafe { (self.activity_disable)(kind) };
        self.check("cuptiActivityDisable", rc)
    }

    /// `cuptiActivityEnableLatencyTimestamps`.
    pub fn enable_latency_timestamps(&self, on: bool) -> Result<(), CuptiError> {
        // SAFETY: plain value.
        let rc = unsafe { (self.enable_latency)(u8::from(on)) };
        self.check("cuptiActivityEnableLatencyTimestamps", rc)
    }

    /// `cuptiActivityFlushAll`: `forced` also returns buffers with incomplete records.
    pub fn flush_all(&self, forced: bool) -> Result<(), CuptiError> {
        let flag = if forced { CUPTI_ACTIVITY_FLAG_FLUSH_FORCED } else { 0 };
        // SAFETY: plain value; CUPTI calls the registered completion callback.
        let rc = unsafe { (self.flush_all)(flag) };
        self.check("cuptiActivityFlushAll", rc)
    }

    /// `cuptiActivityFlushPeriod`; `None` where this release lacks it.
    pub fn flush_period(&self, ms: u32) -> Option<Result<(), CuptiError>> {
        let f = self.flush_period?;
        // SAFETY: plain value.
        let rc = unsafe { f(ms) };
        Some(self.check("cuptiActivityFlushPeriod", rc))
    }

    /// `cuptiActivityRegisterCallbacks`.
    pub fn register_buffer_callbacks(
        &self,
        requested: CUpti_BuffersCallbackRequestFunc,
        completed: CUpti_BuffersCallbackCompleteFunc,
    ) -> Result<(), CuptiError> {
        // SAFETY: both functions have the signatures CUPTI calls them with.
        let rc = unsafe { (self.register_callbacks)(Some(requested), Some(completed)) };
        self.check("cuptiActivityRegisterCallbacks", rc)
    }

    /// `cuptiActivityRegisterTimestampCallback`; `None` where this release lacks it.
    pub fn register_timestamp_callback(&self, f: CUpti_TimestampCallbackFunc) -> Option<Result<(), CuptiError>> {
        let reg = self.register_timestamp_callback?;
        // SAFETY: `f` has the CUpti_TimestampCallbackFunc signature.
        let rc = unsafe { reg(Some(f)) };
        Some(self.check("cuptiActivityRegisterTimestampCallback", rc))
    }

    /// `cuptiActivityEnableRuntimeApi` / `cuptiActivityEnableDriverApi` for one
    /// callback id; `None` where this release lacks them (before 12.6).
    pub fn enable_api_record(
        &self,
        domain: CUpti_CallbackDomain,
        cbid: u32,
        on: bool,
    ) -> Option<Result<(), CuptiError>> {
        let (f, call) = match domain {
            CUPTI_CB_DOMAIN_RUNTIME_API => (self.enable_runtime_api?, "cuptiActivityEnableRuntimeApi"),
            CUPTI_CB_DOMAIN_DRIVER_API => (self.enable_driver_api?, "cuptiActivityEnableDriverApi"),
            _ => return None,
        };
        // SAFETY: plain values.
        let rc = unsafe { f(cbid, u8::from(on)) };
        Some(self.check(call, rc))
    }

    /// `cuptiSetThreadIdType(SYSTEM)`: OS thread ids in records; `None` where absent.
    pub fn use_system_thread_ids(&self) -> Option<Result<(), CuptiError>> {
        let f = self.set_thread_id_type?;
        // SAFETY: plain value.
        let rc = unsafe { f(CUPTI_ACTIVITY_THREAD_ID_TYPE_SYSTEM) };
        Some(self.check("cuptiSetThreadIdType", rc))
    }

    /// `cuptiActivityGetNumDroppedRecords` for a buffer's context (the
    /// handle's address, as CUPTI passed it to the completion callback) and stream.
    pub fn dropped_records(&self, context: usize, stream_id: u32) -> Option<usize> {
        let mut n = 0usize;
        // SAFETY: writes one usize through a valid pointer; CUPTI only uses
        // the context handle as a key (it may be null).
        let rc = unsafe { (self.get_num_dropped)(context as CUcontext, stream_id, &mut n) };
        (rc == CUPTI_SUCCESS).then_some(n)
    }

    /// Whether this libcupti exports `InitializeInjectionNvtx2`.
    pub fn has_nvtx_injection(&self) -> bool {
        self.nvtx_injection.is_some()
    }

    /// Calls this libcupti's `InitializeInjectionNvtx2`; `None` where it has none.
    ///
    /// # Safety
    /// `get_export_table` is the `NvtxGetExportTableFunc_t` NVTX passed to the
    /// collector's own `InitializeInjectionNvtx2`.
    pub unsafe fn forward_nvtx_injection(&self, get_export_table: *const c_void) -> Option<i32> {
        let f = self.nvtx_injection?;
        // SAFETY: the caller passes NVTX's own argument through unchanged.
        Some(unsafe { f(get_export_table) })
    }

    /// The records of a completed buffer, each as the bytes from its start to
    /// the end of the buffer's valid part; a walk that CUPTI ends with an
    /// error other than "no more records" counts one in `malformed`.
    ///
    /// # Safety
    /// `buffer` is a buffer CUPTI handed to the completion callback with
    /// `valid` bytes of records, alive and unchanged while the iterator and
    /// the slices it yields are used.
    pub unsafe fn records<'a>(&'a self, buffer: *mut u8, valid: usize) -> Records<'a> {
        Records { cupti: self, buffer, valid, current: std::ptr::null_mut(), done: buffer.is_null(), malformed: 0 }
    }
}

/// Iterator over the records of one CUPTI buffer (see [`Cupti::records`]).
#[derive(Debug)]
pub struct Records<'a> {
    cupti: &'a Cupti,
    buffer: *mut u8,
    valid: usize,
    current: *mut u8,
    done: bool,
    /// The walk ended on an error or a record outside the buffer.
    pub malformed: u64,
}

impl<'a> Iterator for Records<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.done {
            return None;
        }
        // SAFETY: CUPTI walks its own buffer (valid by the constructor's
        // contract); `current` is the out-pointer it advances.
        let rc = unsafe { (self.cupti.get_next_record)(self.buffer, self.valid, &mut self.current) };
        if rc != CUPTI_SUCCESS {
            if rc != CUPTI_ERROR_MAX_LIMIT_REACHED {
                self.malformed += 1;
            }
            self.done = true;
            return None;
        }
        let offset = (self.current as usize).wrapping_sub(self.buffer as usize);
        if offset >= self.valid {
            self.malformed += 1;
            self.done = true;
            return None;
        }
        // SAFETY: the record lies inside the valid part of the buffer, which
        // outlives 'a by the constructor's contract.
        Some(unsafe { std::slice::from_raw_parts(self.current, self.valid - offset) })
    }
}

/// The function name without CUPTI's version suffix: `cudaGetDevice_v3020` -> `cudaGetDevice`.
pub fn strip_version(name: &str) -> &str {
    match name.rfind("_v") {
        Some(i) if i + 2 < name.len() && name[i + 2..].bytes().all(|b| b.is_ascii_digit()) => &name[..i],
        _ => name,
    }
}

/// The first file mapped into this process whose path contains `needle`.
fn mapped_file(needle: &str) -> Option<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().find_map(|l| {
        let i = l.find('/')?;
        l[i..].contains(needle).then(|| l[i..].to_string())
    })
}

fn result_name(f: fns::cuptiGetResultString, rc: CUptiResult) -> String {
    let mut p: *const c_char = std::ptr::null();
    // SAFETY: CUPTI writes a pointer to a static NUL-terminated string, or leaves it null.
    let ok = unsafe { f(rc, &mut p) } == CUPTI_SUCCESS && !p.is_null();
    if ok {
        // SAFETY: non-null, NUL-terminated, owned by CUPTI for the life of the library.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    } else {
        format!("CUPTI error {rc}")
    }
}

/// Whether an NVIDIA driver (`libcuda.so.1`) can be loaded here; the error
/// says what the loader reported.
pub fn probe_driver() -> Result<(), String> {
    // SAFETY: loading libcuda runs its initializers, which only register the
    // library; no device is opened until cuInit, which is not called. The
    // handle is dropped (unloaded) at once.
    let lib = unsafe { Library::new("libcuda.so.1") };
    lib.map(drop).map_err(|e| e.to_string())
}

/// dlopen flags (the values of glibc's `<dlfcn.h>` on Linux).
mod libc_flags {
    pub const RTLD_LAZY: i32 = 0x0001;
    pub const RTLD_NOLOAD: i32 = 0x0004;
}
