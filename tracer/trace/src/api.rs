//! Classification of CUDA runtime/driver and HIP API names: which calls enqueue
//! GPU work, which block the host, and which do neither.
//!
//! One table for every reader (Kineto names, CUPTI callback names), so a call
//! means the same thing whatever the trace source.

use crate::model::{ApiKind, ApiLayer};

/// Strips the per-thread-default-stream and versioned suffixes
/// (`cudaLaunchKernel_ptsz`, `cuMemcpyHtoDAsync_v2`).
fn base_name(name: &str) -> &str {
    let mut n = name;
    for suffix in ["_ptsz", "_ptds", "_v2", "_v3"] {
        if let Some(stripped) = n.strip_suffix(suffix) {
            n = stripped;
        }
    }
    n
}

/// The layer of an API name: `cu*` (not `cuda*`) is the driver API.
pub fn api_layer(name: &str) -> ApiLayer {
    if name.starts_with("cu") && !name.starts_with("cuda") { ApiLayer::Driver } else { ApiLayer::Runtime }
}

/// Classifies a CUDA/HIP API call by name.
pub fn classify_api(name: &str) -> (ApiKind, ApiLayer) {
    let layer = api_layer(name);
    let n = base_name(name);
    let kind = match n {
        "cudaLaunchKernel"
        | "cudaLaunchKernelExC"
        | "cudaLaunchKernelEx"
        | "cudaLaunchCooperativeKernel"
        | "cudaLaunchCooperativeKernelMultiDevice"
        | "cudaLaunch"
        | "cudaLaunchHostFunc"
        | "cuLaunchKernel"
        | "cuLaunchKernelEx"
        | "cuLaunchCooperativeKernel"
        | "cuLaunchCooperativeKernelMultiDevice"
        | "cuLaunchGrid"
        | "cuLaunchGridAsync"
        | "cuLaunchHostFunc"
        | "hipLaunchKernel"
        | "hipExtLaunchKernel"
        | "hipModuleLaunchKernel"
        | "hipExtModuleLaunchKernel"
        | "hipHccModuleLaunchKernel"
        | "hipLaunchCooperativeKernel"
        | "hipModuleLaunchCooperativeKernel" => ApiKind::KernelLaunch,
        "cudaGraphLaunch" | "cuGraphLaunch" | "hipGraphLaunch" => ApiKind::GraphLaunch,
        "cudaStreamSynchronize"
        | "cudaDeviceSynchronize"
        | "cudaEventSynchronize"
        | "cudaThreadSynchronize"
        | "cuStreamSynchronize"
        | "cuCtxSynchronize"
        | "cuEventSynchronize"
        | "hipStreamSynchronize"
        | "hipDeviceSynchronize"
        | "hipEventSynchronize" => ApiKind::Sync,
        _ => classify_memory(n),
    };
    (kind, layer)
}

fn classify_memory(n: &str) -> ApiKind {
    let is_copy = n.starts_with("cudaMemcpy") || n.starts_with("cuMemcpy") || n.starts_with("hipMemcpy");
    let is_set = n.starts_with("cudaMemset") || n.starts_with("cuMemset") || n.starts_with("hipMemset");
    let is_async = n.ends_with("Async");
    match (is_copy, is_set, is_async) {
        (true, _, true) => ApiKind::MemcpyAsync,
        // hipMemcpyWithStream blocks the host until the copy is done.
        (true, _, false) => ApiKind::MemcpySync,
        (_, true, true) => ApiKind::MemsetAsync,
        (_, true, false) => ApiKind::MemsetSync,
        _ => ApiKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launches() {
        assert_eq!(classify_api("cudaLaunchKernel"), (ApiKind::KernelLaunch, ApiLayer::Runtime));
        assert_eq!(classify_api("cudaLaunchKernel_ptsz"), (ApiKind::KernelLaunch, ApiLayer::Runtime));
        assert_eq!(classify_api("cudaLaunchKernelExC"), (ApiKind::KernelLaunch, ApiLayer::Runtime));
        assert_eq!(classify_api("cuLaunchKernel"), (ApiKind::KernelLaunch, ApiLayer::Driver));
        assert_eq!(classify_api("cuLaunchKernelEx"), (ApiKind::KernelLaunch, ApiLayer::Driver));
        assert_eq!(classify_api("hipExtModuleLaunchKernel").0, ApiKind::KernelLaunch);
        assert_eq!(classify_api("cudaGraphLaunch").0, ApiKind::GraphLaunch);
    }

    #[test]
    fn memory_and_sync() {
        assert_eq!(classify_api("cudaMemcpyAsync").0, ApiKind::MemcpyAsync);
        assert_eq!(classify_api("cuMemcpyHtoDAsync_v2"), (ApiKind::MemcpyAsync, ApiLayer::Driver));
        assert_eq!(classify_api("cudaMemcpy").0, ApiKind::MemcpySync);
        assert_eq!(classify_api("hipMemcpyWithStream").0, ApiKind::MemcpySync);
        assert_eq!(classify_api("cudaMemsetAsync").0, ApiKind::MemsetAsync);
        assert_eq!(classify_api("cudaMemset").0, ApiKind::MemsetSync);
        assert_eq!(classify_api("cudaStreamSynchronize").0, ApiKind::Sync);
        assert_eq!(classify_api("cudaEventRecord").0, ApiKind::Other);
        assert_eq!(classify_api("cudaStreamWaitEvent").0, ApiKind::Other);
        assert_eq!(classify_api("cudaMalloc").0, ApiKind::Other);
    }
}
