//! The in-memory trace: one columnar table per event class, interned names,
//! and integer nanoseconds relative to the trace origin.
//!
//! Every table keeps one `Vec` per column (fast to scan, cheap to hand to a
//! dataframe) and is sorted by start time once the [`crate::TraceBuilder`]
//! finishes. Row `i` of a table is the `i`-th element of each of its columns.

use crate::diag::Diagnostics;
use crate::strings::{StrId, StringTable};

/// Index of a host thread in [`Trace::threads`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ThreadIdx(pub u32);

/// What a host API call does to the GPU (decided from its name by
/// [`crate::api::classify_api`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ApiKind {
    /// Enqueues one kernel (cudaLaunchKernel, cuLaunchKernel, hipLaunchKernel, ...).
    KernelLaunch,
    /// Enqueues a CUDA graph: many kernels share its correlation id.
    GraphLaunch,
    /// Asynchronous copy (cudaMemcpyAsync, ...).
    MemcpyAsync,
    /// Asynchronous fill (cudaMemsetAsync, ...).
    MemsetAsync,
    /// Copy that blocks the host until done (cudaMemcpy, ...): a launch and a sync.
    MemcpySync,
    /// Fill that blocks the host (cudaMemset, ...).
    MemsetSync,
    /// Host blocks on the GPU (cudaStreamSynchronize, cudaDeviceSynchronize, ...).
    Sync,
    /// Anything else (cudaEventRecord, cudaMalloc, ...).
    Other,
}

impl ApiKind {
    /// True for calls that enqueue GPU work.
    pub fn is_launch(self) -> bool {
        !matches!(self, ApiKind::Sync | ApiKind::Other)
    }

    /// True for calls during which the host waits for the GPU.
    pub fn is_blocking(self) -> bool {
        matches!(self, ApiKind::Sync | ApiKind::MemcpySync | ApiKind::MemsetSync)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ApiKind::KernelLaunch => "kernel_launch",
            ApiKind::GraphLaunch => "graph_launch",
            ApiKind::MemcpyAsync => "memcpy_async",
            ApiKind::MemsetAsync => "memset_async",
            ApiKind::MemcpySync => "memcpy_sync",
            ApiKind::MemsetSync => "memset_sync",
            ApiKind::Sync => "sync",
            ApiKind::Other => "other",
        }
    }
}

/// Which API a call belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ApiLayer {
    /// CUDA runtime (`cuda*`) or HIP (`hip*`).
    Runtime,
    /// CUDA driver (`cu*`): cuBLAS/cuBLASLt launch GEMMs this way.
    Driver,
}

impl ApiLayer {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiLayer::Runtime => "runtime",
            ApiLayer::Driver => "driver",
        }
    }
}

/// Kind of work executed on a GPU stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActivityKind {
    Kernel,
    Memcpy,
    Memset,
}

impl ActivityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::Kernel => "kernel",
            ActivityKind::Memcpy => "memcpy",
            ActivityKind::Memset => "memset",
        }
    }
}

/// Kind of host-side range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HostOpKind {
    /// Framework operator (Kineto `cpu_op`, e.g. `aten::mm`).
    Operator,
    /// User range (Kineto `user_annotation`, `record_function`, ProfilerStep#N).
    Annotation,
    /// NVTX push/pop or start/end range.
    Nvtx,
    /// Python function (Kineto `python_function`).
    Python,
    /// Any other host range.
    Other,
}

impl HostOpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HostOpKind::Operator => "operator",
            HostOpKind::Annotation => "annotation",
            HostOpKind::Nvtx => "nvtx",
            HostOpKind::Python => "python",
            HostOpKind::Other => "other",
        }
    }
}

/// Host API calls of the CUDA runtime/driver (or HIP): launches, syncs and the rest.
#[derive(Debug, Default, Clone)]
pub struct ApiCalls {
    pub kind: Vec<ApiKind>,
    pub layer: Vec<ApiLayer>,
    pub name: Vec<StrId>,
    pub thread: Vec<ThreadIdx>,
    pub start_ns: Vec<i64>,
    pub end_ns: Vec<i64>,
    /// CUPTI correlation id linking the call to its GPU activities (0: none).
    pub correlation: Vec<u64>,
    /// Framework op id (Kineto `External id`; 0: none).
    pub external_id: Vec<u64>,
}

/// Kernels, copies and fills executed on GPU streams.
#[derive(Debug, Default, Clone)]
pub struct GpuActivities {
    pub kind: Vec<ActivityKind>,
    pub name: Vec<StrId>,
    pub device: Vec<u32>,
    pub stream: Vec<u32>,
    pub start_ns: Vec<i64>,
    pub end_ns: Vec<i64>,
    pub correlation: Vec<u64>,
    pub external_id: Vec<u64>,
    /// Bytes moved (memcpy/memset), 0 for kernels.
    pub bytes: Vec<u64>,
    /// Hardware latency timestamps (CUPTI `queued`/`submitted`), when recorded.
    pub queued_ns: Vec<Option<i64>>,
    pub submitted_ns: Vec<Option<i64>>,
    /// CUDA graph id for kernels launched as part of a graph.
    pub graph_id: Vec<Option<u32>>,
    pub grid: Vec<[u32; 3]>,
    pub block: Vec<[u32; 3]>,
}

/// Host ranges: framework operators, user annotations, NVTX ranges.
#[derive(Debug, Default, Clone)]
pub struct HostOps {
    pub kind: Vec<HostOpKind>,
    pub name: Vec<StrId>,
    pub thread: Vec<ThreadIdx>,
    pub start_ns: Vec<i64>,
    pub end_ns: Vec<i64>,
    pub external_id: Vec<u64>,
}

/// Ranges drawn on GPU streams by the framework (Kineto `gpu_user_annotation`).
#[derive(Debug, Default, Clone)]
pub struct GpuAnnotations {
    pub name: Vec<StrId>,
    pub device: Vec<u32>,
    pub stream: Vec<u32>,
    pub start_ns: Vec<i64>,
    pub end_ns: Vec<i64>,
}

/// CUPTI synchronization records (Kineto `cuda_sync`): what a host sync waited on.
#[derive(Debug, Default, Clone)]
pub struct SyncEvents {
    pub name: Vec<StrId>,
    pub device: Vec<u32>,
    pub stream: Vec<u32>,
    pub start_ns: Vec<i64>,
    pub end_ns: Vec<i64>,
    pub correlation: Vec<u64>,
}

/// One counter series (NVML GPU utilization, perf context switches, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct CounterSeries {
    pub name: StrId,
    /// Unit of the values ("%", "MHz", "W", "bytes", "count", ...).
    pub unit: StrId,
    /// Device the series belongs to, if any.
    pub device: Option<u32>,
}

/// Counter samples of all series, one row per sample.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    pub series: Vec<CounterSeries>,
    pub series_idx: Vec<u32>,
    pub time_ns: Vec<i64>,
    pub value: Vec<f64>,
}

/// A host thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadInfo {
    pub pid: i64,
    pub tid: i64,
    pub name: Option<StrId>,
}

/// A process seen in the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: i64,
    pub name: Option<StrId>,
}

/// A GPU named by the trace (Kineto `deviceProperties`, NVML).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceInfo {
    pub id: u32,
    pub name: String,
    pub total_mem_bytes: Option<u64>,
    pub compute_capability: Option<(u32, u32)>,
    pub sm_count: Option<u32>,
}

/// One training/inference step: a `ProfilerStep#N` annotation or an NVTX
/// `boundscope:step` range.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Step {
    /// N of `ProfilerStep#N`; the ordinal (0-based) for NVTX steps.
    pub number: i64,
    pub start_ns: i64,
    pub end_ns: i64,
}

/// Where a trace came from and what its header said.
#[derive(Debug, Clone, Default)]
pub struct TraceMeta {
    /// What produced the trace ("kineto", "boundscope-run", "simulated:...").
    pub source_format: String,
    /// Absolute time of the trace's time zero on the source clock, in ns.
    pub origin_ns: i64,
    /// Kineto `baseTimeNanoseconds`, if present.
    pub base_time_ns: Option<i64>,
    /// Kineto `distributedInfo.rank`, if present.
    pub rank: Option<i64>,
    /// Free-form name of the trace (Kineto `traceName`).
    pub trace_name: Option<String>,
    /// Set on results of the simulated platforms: every number is a model output.
    pub simulated: bool,
}

/// A whole trace, ready for analysis. Times are ns since [`TraceMeta::origin_ns`].
#[derive(Debug, Default, Clone)]
pub struct Trace {
    pub meta: TraceMeta,
    pub strings: StringTable,
    pub processes: Vec<ProcessInfo>,
    pub threads: Vec<ThreadInfo>,
    pub devices: Vec<DeviceInfo>,
    pub api: ApiCalls,
    pub activities: GpuActivities,
    pub host_ops: HostOps,
    pub gpu_annotations: GpuAnnotations,
    pub sync_events: SyncEvents,
    pub counters: Counters,
    pub steps: Vec<Step>,
    pub diagnostics: Diagnostics,
}

impl Trace {
    /// Resolves an interned name.
    pub fn str(&self, id: StrId) -> &str {
        self.strings.resolve(id)
    }

    /// End of the last event, in ns since the origin.
    pub fn end_ns(&self) -> i64 {
        [
            self.api.end_ns.iter().max(),
            self.activities.end_ns.iter().max(),
            self.host_ops.end_ns.iter().max(),
            self.counters.time_ns.iter().max(),
        ]
        .into_iter()
        .flatten()
        .copied()
        .max()
        .unwrap_or(0)
    }

    /// Name of a thread for display: its own name, else `pid/tid`.
    pub fn thread_label(&self, t: ThreadIdx) -> String {
        match self.threads.get(t.0 as usize) {
            Some(ThreadInfo { name: Some(n), tid, .. }) => format!("{} ({tid})", self.str(*n)),
            Some(ThreadInfo { pid, tid, .. }) => format!("thread {tid} (pid {pid})"),
            None => format!("thread #{}", t.0),
        }
    }
}

/// Reorders `v` so that `v'[i] = v[perm[i]]`.
pub(crate) fn permute<T: Copy>(v: &mut Vec<T>, perm: &[u32]) {
    debug_assert_eq!(v.len(), perm.len());
    let out: Vec<T> = perm.iter().map(|&i| v[i as usize]).collect();
    *v = out;
}

/// Permutation that sorts rows by (start, end), stable; `None` when already sorted.
pub(crate) fn sort_permutation(start: &[i64], end: &[i64]) -> Option<Vec<u32>> {
    let sorted = start.windows(2).zip(end.windows(2)).all(|(s, e)| (s[0], e[0]) <= (s[1], e[1]));
    if sorted {
        return None;
    }
    let mut perm: Vec<u32> = (0..start.len() as u32).collect();
    perm.sort_by_key(|&i| (start[i as usize], end[i as usize]));
    Some(perm)
}

macro_rules! impl_table {
    ($t:ty, [$($col:ident),*]) => {
        impl $t {
            pub fn len(&self) -> usize {
                self.start_ns.len()
            }

            pub fn is_empty(&self) -> bool {
                self.start_ns.is_empty()
            }

            pub(crate) fn sort_by_start(&mut self) {
                if let Some(perm) = sort_permutation(&self.start_ns, &self.end_ns) {
                    $(permute(&mut self.$col, &perm);)*
                }
            }

            pub(crate) fn shift(&mut self, by: i64) {
                for t in self.start_ns.iter_mut().chain(self.end_ns.iter_mut()) {
                    *t -= by;
                }
            }

            pub(crate) fn shrink(&mut self) {
                $(self.$col.shrink_to_fit();)*
            }

            /// Duration of row `i` in ns.
            pub fn dur_ns(&self, i: usize) -> i64 {
                self.end_ns[i] - self.start_ns[i]
            }

            /// Keeps the rows for which `keep(i)` holds, in order (incremental
            /// consumers drop what no open window can need any more).
            pub fn retain_rows(&mut self, mut keep: impl FnMut(usize) -> bool) {
                let mask: Vec<bool> = (0..self.len()).map(&mut keep).collect();
                $(retain_mask(&mut self.$col, &mask);)*
            }
        }
    };
}

fn retain_mask<T>(v: &mut Vec<T>, mask: &[bool]) {
    let mut i = 0;
    v.retain(|_| {
        let k = mask[i];
        i += 1;
        k
    });
}

impl_table!(ApiCalls, [kind, layer, name, thread, start_ns, end_ns, correlation, external_id]);
impl_table!(
    GpuActivities,
    [
        kind,
        name,
        device,
        stream,
        start_ns,
        end_ns,
        correlation,
        external_id,
        bytes,
        queued_ns,
        submitted_ns,
        graph_id,
        grid,
        block
    ]
);
impl_table!(HostOps, [kind, name, thread, start_ns, end_ns, external_id]);
impl_table!(GpuAnnotations, [name, device, stream, start_ns, end_ns]);
impl_table!(SyncEvents, [name, device, stream, start_ns, end_ns, correlation]);

impl GpuActivities {
    /// Shifts the optional hardware timestamps along with start/end.
    pub(crate) fn shift_latency(&mut self, by: i64) {
        for t in self.queued_ns.iter_mut().chain(self.submitted_ns.iter_mut()).flatten() {
            *t -= by;
        }
    }
}

impl Counters {
    pub fn len(&self) -> usize {
        self.time_ns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.time_ns.is_empty()
    }

    /// Keeps the samples for which `keep(i)` holds, in order.
    pub fn retain_rows(&mut self, mut keep: impl FnMut(usize) -> bool) {
        let mask: Vec<bool> = (0..self.len()).map(&mut keep).collect();
        retain_mask(&mut self.series_idx, &mask);
        retain_mask(&mut self.time_ns, &mask);
        retain_mask(&mut self.value, &mask);
    }

    pub(crate) fn sort_by_time(&mut self) {
        if let Some(perm) = sort_permutation(&self.time_ns, &self.time_ns) {
            permute(&mut self.series_idx, &perm);
            permute(&mut self.time_ns, &perm);
            permute(&mut self.value, &perm);
        }
    }
}
