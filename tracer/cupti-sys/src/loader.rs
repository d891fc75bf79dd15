//! Finding and loading `libcupti` at run time.
//!
//! Search order (docs/profile.md): `BOUNDSCOPE_CUPTI_PATH` (a file or a
//! directory), the CUDA toolkit (`$CUDA_HOME/extras/CUPTI/lib64`,
//! `/usr/local/cuda/extras/CUPTI/lib64`), the `nvidia-cuda-cupti` wheel next to
//! PyTorch (`site-packages/nvidia/cu13/lib`, `site-packages/nvidia/cuda_cupti/lib`),
//! then the dynamic loader's own path. Libraries are opened by absolute path
//! where one is known: inside an injected process `LD_LIBRARY_PATH` can no
//! longer be changed. A library that loads but does not answer
//! `cuptiGetVersion` is skipped, and every attempt is kept for the error.

use std::ffi::{CStr, OsString, c_char};
use std::fmt;
use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};

use libloading::Library;

use crate::types::{fns, *};
use crate::versions::{MIN_API_VERSION, RecordVersions};

/// Where to look for libcupti.
#[derive(Debug, Clone, Default)]
pub struct SearchSpec {
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
        SearchSpec { env_path: get("BOUNDSCOPE_CUPTI_PATH"), cuda_home: get("CUDA_HOME"), site_packages: Vec::new() }
    }
}

/// Library file names, newest first.
const SONAMES: [&str; 3] = ["libcupti.so", "libcupti.so.13", "libcupti.so.12"];

/// One place to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Candidate {
    /// An absolute path, and which rule produced it.
    Path { path: PathBuf, origin: &'static str },
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
    if let Some(p) = &spec.env_path {
        if p.is_dir() {
            for s in SONAMES {
                out.push(Candidate::Path { path: p.join(s), origin: "BOUNDSCOPE_CUPTI_PATH" });
            }
        } else {
            out.push(Candidate::Path { path: p.clone(), origin: "BOUNDSCOPE_CUPTI_PATH" });
        }
    }
    let toolkit = spec.cuda_home.iter().cloned().chain([PathBuf::from("/usr/local/cuda")]);
    for home in toolkit {
        out.push(Candidate::Path { path: home.join("extras/CUPTI/lib64/libcupti.so"), origin: "CUDA toolkit" });
    }
    for sp in &spec.site_packages {
        out.push(Candidate::Path {
            path: sp.join("nvidia/cu13/lib/libcupti.so.13"),
            origin: "nvidia-cuda-cupti wheel",
        });
        out.push(Candidate::Path {
            path: sp.join("nvidia/cuda_cupti/lib/libcupti.so.12"),
            origin: "nvidia-cuda-cupti-cu12 wheel",
        });
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
#[derive(Debug)]
pub struct Cupti {
    _lib: ManuallyDrop<Library>,
    /// Where it was loaded from.
    pub origin: String,
    /// `cuptiGetVersion`.
    pub api_version: u32,
    /// The record layouts of this release.
    pub versions: RecordVersions,
    pub cuptiGetVersion: fns::cuptiGetVersion,
    pub cuptiGetResultString: fns::cuptiGetResultString,
    pub cuptiGetTimestamp: fns::cuptiGetTimestamp,
    pub cuptiSubscribe: fns::cuptiSubscribe,
    pub cuptiUnsubscribe: fns::cuptiUnsubscribe,
    pub cuptiEnableCallback: fns::cuptiEnableCallback,
    pub cuptiGetCallbackName: fns::cuptiGetCallbackName,
    pub cuptiActivityEnable: fns::cuptiActivityEnable,
    pub cuptiActivityDisable: fns::cuptiActivityDisable,
    pub cuptiActivityEnableLatencyTimestamps: fns::cuptiActivityEnableLatencyTimestamps,
    pub cuptiActivityFlushAll: fns::cuptiActivityFlushAll,
    pub cuptiActivityRegisterCallbacks: fns::cuptiActivityRegisterCallbacks,
    pub cuptiActivityGetNumDroppedRecords: fns::cuptiActivityGetNumDroppedRecords,
    pub cuptiActivityGetNextRecord: fns::cuptiActivityGetNextRecord,
    pub cuptiActivityPushExternalCorrelationId: fns::cuptiActivityPushExternalCorrelationId,
    pub cuptiActivityPopExternalCorrelationId: fns::cuptiActivityPopExternalCorrelationId,
    pub cuptiFinalize: fns::cuptiFinalize,
    /// Present in every supported release, but optional: only used to ask for OS thread ids.
    pub cuptiSetThreadIdType: Option<fns::cuptiSetThreadIdType>,
}

// SAFETY: the struct holds a library handle and plain function pointers into
// it; CUPTI's entry points may be called from any thread.
unsafe impl Send for Cupti {}
// SAFETY: as above; nothing in the struct is mutated after loading.
unsafe impl Sync for Cupti {}

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
            if let Ok(lib) = lib
                && let Ok(c) = Cupti::from_library(lib.into(), format!("{s} (already loaded by the program)"))
            {
                return Some(c);
            }
        }
        None
    }

    /// Loads one file (or soname) and checks that it answers `cuptiGetVersion`.
    pub fn open(path: OsString, origin: &str) -> Result<Cupti, String> {
        // SAFETY: loading libcupti runs its initializers, which only set up
        // CUPTI's own state (no driver call happens before cuptiSubscribe).
        let lib = unsafe { Library::new(&path) }.map_err(|e| e.to_string())?;
        Cupti::from_library(lib, format!("{} ({origin})", Path::new(&path).display()))
    }

    fn from_library(lib: Library, origin: String) -> Result<Cupti, String> {
        macro_rules! sym {
            ($name:ident) => {{
                let name = concat!(stringify!($name), "\0").as_bytes();
                // SAFETY: the symbol has the signature of the CUPTI header (types.rs); the pointer is copied out and stays valid because the library is never unloaded.
                let s = unsafe { lib.get::<fns::$name>(name) };
                *s.map_err(|e| format!("not a CUPTI library: {e}"))?
            }};
        }
        let cuptiGetVersion = sym!(cuptiGetVersion);
        let cuptiGetResultString = sym!(cuptiGetResultString);
        let cuptiGetTimestamp = sym!(cuptiGetTimestamp);
        let cuptiSubscribe = sym!(cuptiSubscribe);
        let cuptiUnsubscribe = sym!(cuptiUnsubscribe);
        let cuptiEnableCallback = sym!(cuptiEnableCallback);
        let cuptiGetCallbackName = sym!(cuptiGetCallbackName);
        let cuptiActivityEnable = sym!(cuptiActivityEnable);
        let cuptiActivityDisable = sym!(cuptiActivityDisable);
        let cuptiActivityEnableLatencyTimestamps = sym!(cuptiActivityEnableLatencyTimestamps);
        let cuptiActivityFlushAll = sym!(cuptiActivityFlushAll);
        let cuptiActivityRegisterCallbacks = sym!(cuptiActivityRegisterCallbacks);
        let cuptiActivityGetNumDroppedRecords = sym!(cuptiActivityGetNumDroppedRecords);
        let cuptiActivityGetNextRecord = sym!(cuptiActivityGetNextRecord);
        let cuptiActivityPushExternalCorrelationId = sym!(cuptiActivityPushExternalCorrelationId);
        let cuptiActivityPopExternalCorrelationId = sym!(cuptiActivityPopExternalCorrelationId);
        let cuptiFinalize = sym!(cuptiFinalize);
        // SAFETY: as for the required symbols above.
        let set_tid = unsafe { lib.get::<fns::cuptiSetThreadIdType>(b"cuptiSetThreadIdType\0") };
        let cuptiSetThreadIdType = set_tid.ok().map(|s| *s);

        let mut api_version = 0u32;
        // SAFETY: cuptiGetVersion writes one u32 through a valid pointer.
        let rc = unsafe { cuptiGetVersion(&mut api_version) };
        if rc != CUPTI_SUCCESS {
            let name = result_name(cuptiGetResultString, rc);
            return Err(format!("cuptiGetVersion failed: {name} ({rc}); this CUPTI may need a newer NVIDIA driver"));
        }
        let versions = RecordVersions::for_api_version(api_version).ok_or_else(|| {
            format!(
                "CUPTI API version {api_version} is older than CUDA 12.0 (version {MIN_API_VERSION}); \
                 boundscope reads CUPTI 12.x and 13.x"
            )
        })?;
        Ok(Cupti {
            _lib: ManuallyDrop::new(lib),
            origin,
            api_version,
            versions,
            cuptiGetVersion,
            cuptiGetResultString,
            cuptiGetTimestamp,
            cuptiSubscribe,
            cuptiUnsubscribe,
            cuptiEnableCallback,
            cuptiGetCallbackName,
            cuptiActivityEnable,
            cuptiActivityDisable,
            cuptiActivityEnableLatencyTimestamps,
            cuptiActivityFlushAll,
            cuptiActivityRegisterCallbacks,
            cuptiActivityGetNumDroppedRecords,
            cuptiActivityGetNextRecord,
            cuptiActivityPushExternalCorrelationId,
            cuptiActivityPopExternalCorrelationId,
            cuptiFinalize,
            cuptiSetThreadIdType,
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
        result_name(self.cuptiGetResultString, rc)
    }

    /// `cuptiGetTimestamp`: the clock of activity records, in ns.
    pub fn timestamp(&self) -> Result<u64, CuptiError> {
        let mut t = 0u64;
        // SAFETY: writes one u64 through a valid pointer.
        let rc = unsafe { (self.cuptiGetTimestamp)(&mut t) };
        self.check("cuptiGetTimestamp", rc).map(|()| t)
    }

    /// `cuptiGetCallbackName`: the API function name of a runtime/driver callback id.
    pub fn callback_name(&self, domain: CUpti_CallbackDomain, cbid: u32) -> Option<String> {
        let mut p: *const c_char = std::ptr::null();
        // SAFETY: CUPTI writes a pointer to a static NUL-terminated string, or leaves it null.
        let rc = unsafe { (self.cuptiGetCallbackName)(domain, cbid, &mut p) };
        if rc != CUPTI_SUCCESS || p.is_null() {
            return None;
        }
        // SAFETY: non-null, NUL-terminated, owned by CUPTI for the life of the library.
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }

    /// `cuptiSubscribe` with no callback function (activity API only) — used by
    /// the load test to show that a missing driver is an error code, not a crash.
    pub fn subscribe_without_callback(&self) -> Result<CUpti_SubscriberHandle, CuptiError> {
        let mut h: CUpti_SubscriberHandle = std::ptr::null_mut();
        // SAFETY: writes one handle through a valid pointer; a null callback is allowed.
        let rc = unsafe { (self.cuptiSubscribe)(&mut h, None, std::ptr::null_mut()) };
        self.check("cuptiSubscribe", rc).map(|()| h)
    }
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
