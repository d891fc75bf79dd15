//! Kernel classes from kernel names: what a kernel does decides whether it
//! can be fused with its neighbours (docs/metrics.md section 5). The rules
//! are substring tests on the lower-cased name, most specific first, written
//! against the names of real profiler traces (cuBLAS, CUTLASS, cuDNN,
//! rocBLAS, flash-attention, PyTorch's own kernels, NCCL, Triton kernels of
//! `torch.compile`) and the simulator's kernel names.

use boundscope_trace::ActivityKind;
use serde::{Deserialize, Serialize};

/// What a kernel does, as far as its name tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KernelClass {
    /// Matrix products and convolutions (cuBLAS, CUTLASS, cuDNN, rocBLAS).
    Gemm,
    /// Fused attention (flash-attention, memory-efficient attention).
    Attention,
    /// One output element from the same elements of its inputs (add, mul,
    /// activations, dropout, optimizer multi-tensor updates).
    Elementwise,
    /// Reductions and normalizations (sum, mean, argmax, softmax, LayerNorm, RMSNorm, BatchNorm).
    Reduction,
    /// Copies, casts, concatenation and layout changes; memcpy and memset activities.
    Copy,
    /// Collective communication (NCCL/RCCL).
    Communication,
    /// Anything else (gathers, sorts, scans, embedding lookups, unknown names).
    Other,
}

impl KernelClass {
    /// Short label for tables.
    pub fn as_str(self) -> &'static str {
        match self {
            KernelClass::Gemm => "GEMM",
            KernelClass::Attention => "attention",
            KernelClass::Elementwise => "elementwise",
            KernelClass::Reduction => "reduction/norm",
            KernelClass::Copy => "copy",
            KernelClass::Communication => "communication",
            KernelClass::Other => "other",
        }
    }
}

const COMMUNICATION: &[&str] =
    &["nccl", "rccl", "all_reduce", "allreduce", "all_gather", "allgather", "reduce_scatter"];
const ATTENTION: &[&str] = &["flash", "fmha", "attention", "attn", "sdpa", "xformers"];
/// Normalizations and softmax: before GEMM, because cuDNN names its batch norms `cudnn::bn_*`.
const NORMALIZATION: &[&str] = &[
    "layer_norm",
    "layernorm",
    "rms_norm",
    "rmsnorm",
    "group_norm",
    "groupnorm",
    "batch_norm",
    "batchnorm",
    "::bn_fw",
    "::bn_bw",
    "gammabetabackward",
    "softmax",
];
const GEMM: &[&str] = &[
    "gemm",
    "gemv",
    "cublas",
    "cutlass",
    "xmma",
    "nvjet",
    "matmul",
    "scudnn",
    "winograd",
    "convolution",
    "convolve",
    "conv2d",
    "conv3d",
    "fprop",
    "dgrad",
    "wgrad",
    "triton_tem",
];
const REDUCTION: &[&str] =
    &["reduce", "argmax", "argmin", "triton_red", "triton_per", "max_pool", "avg_pool", "average_pool", "nll_loss"];
const COPY: &[&str] = &["memcpy", "memset", "copy", "catarray", "concat", "nchwtonhwc", "nhwctonchw"];
const ELEMENTWISE: &[&str] =
    &["elementwise", "multi_tensor_apply", "dropout", "masked_scale", "fillfunctor", "triton_poi", "act_and_mul"];

/// The class of a GPU activity from its kind and name.
pub fn classify(kind: ActivityKind, name: &str) -> KernelClass {
    match kind {
        ActivityKind::Memcpy | ActivityKind::Memset => KernelClass::Copy,
        ActivityKind::Kernel => classify_kernel(name),
    }
}

/// The class of a kernel from its name.
pub fn classify_kernel(name: &str) -> KernelClass {
    let n = name.to_ascii_lowercase();
    let has = |keys: &[&str]| keys.iter().any(|k| n.contains(k));
    if has(COMMUNICATION) {
        KernelClass::Communication
    } else if has(ATTENTION) {
        KernelClass::Attention
    } else if has(NORMALIZATION) {
        KernelClass::Reduction
    } else if has(GEMM) || n.starts_with("cijk_") {
        // cijk_: rocBLAS/Tensile GEMMs (AMD).
        KernelClass::Gemm
    } else if has(REDUCTION) {
        KernelClass::Reduction
    } else if has(COPY) {
        KernelClass::Copy
    } else if has(ELEMENTWISE) {
        KernelClass::Elementwise
    } else {
        KernelClass::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use KernelClass::*;

    /// Names as they appear in the shared traces (H100 BERT and Qwen, A100,
    /// V100, MI250) and in the simulator's programs (workloads/src/lower.rs,
    /// workloads/platforms/*.toml).
    const NAMES: &[(&str, KernelClass)] = &[
        // GEMMs: cuBLAS on Hopper and Ampere, CUTLASS, cuBLAS gemv, rocBLAS, split-K, MAGMA.
        (
            "sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize64x64x64_warpgroupsize1x1x1_execute_segment_k_off_kernel__5x_cublas",
            Gemm,
        ),
        (
            "void cutlass::Kernel2<cutlass_80_wmma_tensorop_bf16_s161616gemm_bf16_32x32_128x2_tn_align8>(cutlass_80_wmma_tensorop_bf16_s161616gemm_bf16_32x32_128x2_tn_align8::Params)",
            Gemm,
        ),
        (
            "void cutlass::Kernel2<cutlass_80_tensorop_bf16_s16816gemm_relu_bf16_64x64_64x6_tn_align8>(cutlass_80_tensorop_bf16_s16816gemm_relu_bf16_64x64_64x6_tn_align8::Params)",
            Gemm,
        ),
        ("ampere_bf16_s16816gemm_bf16_128x128_ldg8_f2f_stages_64x3_tn", Gemm),
        ("ampere_sgemm_32x32_sliced1x4_nn", Gemm),
        ("volta_sgemm_128x64_nt", Gemm),
        (
            "void gemmk1_kernel<float, 256, 5, false, false, false, false, cublasGemvTensorStridedBatched<float const>, cublasGemvTensorStridedBatched<float const>, cublasGemvTensorStridedBatched<float>, float, 0>(cublasGemvParams)",
            Gemm,
        ),
        (
            "void gemv2T_kernel_val<int, int, float, float, float, float, 128, 16, 4, 4, false, false, cublasGemvParams<cublasGemvTensorStridedBatched<float const>, cublasGemvTensorStridedBatched<float const>, cublasGemvTensorStridedBatched<float>, float> >(cublasGemvParams<cublasGemvTensorStridedBatched<float const>, cublasGemvTensorStridedBatched<float const>, cublasGemvTensorStridedBatched<float>, float>, float, float)",
            Gemm,
        ),
        (
            "void cublasLt::splitKreduce_kernel<32, 16, int, float, float, float, float, true, false, false>(cublasLt::cublasSplitKParams<float>, float const*, float const*, float*, float const*, float const*, float const*, float const*, float*, void*, long, float*, int*)",
            Gemm,
        ),
        (
            "Cijk_Ailk_Bjlk_SB_Bias_AS_SAV_UserArgs_MT64x16x16_MI16x16x1_SN_LDSB0_AFC1_AFEM1_AFEM1_ASEM1_CLR1_CADS0_EPS0_GRVWA1_GRVWB1_GSUAMB_ISA90a_IU1_K1",
            Gemm,
        ),
        (
            "void magma_sgemmEx_kernel<float, float, float, false, false, 6, 3, 5, 3, 3>(int, int, int, Tensor, int, Tensor, int, Tensor, int, Tensor, int, int, int, float const*, float const*, float, float, int)",
            Gemm,
        ),
        // Convolutions (cuDNN).
        ("cudnn_infer_volta_scudnn_128x64_relu_medium_nn_v1", Gemm),
        (
            "sm80_xmma_fprop_implicit_gemm_indexed_tf32f32_tf32f32_f32_nhwckrsc_nchw_tilesize128x128x16_stage4_warpsize2x2x1_g1_tensor16x8x8_execute_kernel_cudnn_infer",
            Gemm,
        ),
        (
            "void cudnn::winograd_nonfused::winogradForwardData4x4<float, float>(cudnn::winograd_nonfused::WinogradDataParams<float, float>)",
            Gemm,
        ),
        // Attention: PyTorch's flash-attention 2, flash-decoding's split-KV and combine.
        (
            "void pytorch_flash::flash_fwd_kernel<pytorch_flash::Flash_fwd_kernel_traits<64, 128, 128, 4, false, false, cutlass::bfloat16_t, pytorch_flash::Flash_kernel_traits<64, 128, 128, 4, cutlass::bfloat16_t> >, false, true, false, false, true, true, false, false>(pytorch_flash::Flash_fwd_params)",
            Attention,
        ),
        (
            "void pytorch_flash::flash_fwd_splitkv_combine_kernel<Flash_fwd_kernel_traits<64, 64, 256, 4, false, false, cutlass::bfloat16_t, Flash_kernel_traits<64, 64, 256, 4, cutlass::bfloat16_t> >, 4, 3, true>(pytorch_flash::Flash_fwd_params)",
            Attention,
        ),
        (
            "fmha_cutlassF_f16_aligned_64x64_rf_sm80(PyTorchMemEffAttention::AttentionKernel<cutlass::half_t, cutlass::arch::Sm80, true, 64, 64, 64, true, true>::Params)",
            Attention,
        ),
        // Elementwise: PyTorch's TensorIterator kernels, dropout, multi-tensor optimizer updates.
        (
            "void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<c10::BFloat16>, at::detail::Array<char*, 3> >(int, at::native::CUDAFunctor_add<c10::BFloat16>, at::detail::Array<char*, 3>)",
            Elementwise,
        ),
        (
            "void at::native::vectorized_elementwise_kernel<4, at::native::GeluCUDAKernelImpl(at::TensorIteratorBase&, at::native::GeluType)::{lambda()#2}::operator()() const::{lambda()#4}::operator()() const::{lambda(c10::BFloat16)#1}, at::detail::Array<char*, 2> >(int, at::native::GeluCUDAKernelImpl(at::TensorIteratorBase&, at::native::GeluType)::{lambda()#2}::operator()() const::{lambda()#4}::operator()() const::{lambda(c10::BFloat16)#1}, at::detail::Array<char*, 2>)",
            Elementwise,
        ),
        (
            "void at::native::unrolled_elementwise_kernel<at::native::CUDAFunctor_add<float>, at::detail::Array<char*, 3>, TrivialOffsetCalculator<2, unsigned int>, TrivialOffsetCalculator<1, unsigned int>, at::native::memory::LoadWithCast<2>, at::native::memory::StoreWithCast<1> >(int, at::native::CUDAFunctor_add<float>, at::detail::Array<char*, 3>, TrivialOffsetCalculator<2, unsigned int>, TrivialOffsetCalculator<1, unsigned int>, at::native::memory::LoadWithCast<2>, at::native::memory::StoreWithCast<1>)",
            Elementwise,
        ),
        (
            "void at::native::elementwise_kernel<128, 2, at::native::gpu_kernel_impl<at::native::BinaryFunctor<float, float, float, at::native::binary_internal::MulFunctor<float> > >(at::TensorIteratorBase&, at::native::BinaryFunctor<float, float, float, at::native::binary_internal::MulFunctor<float> > const&)::{lambda(int)#1}>(int, at::native::gpu_kernel_impl<at::native::BinaryFunctor<float, float, float, at::native::binary_internal::MulFunctor<float> > >(at::TensorIteratorBase&, at::native::BinaryFunctor<float, float, float, at::native::binary_internal::MulFunctor<float> > const&)::{lambda(int)#1})",
            Elementwise,
        ),
        (
            "void at::native::(anonymous namespace)::fused_dropout_kernel_vec<float, float, unsigned int, 1, 4, bool>(at::cuda::detail::TensorInfo<float, unsigned int>, at::cuda::detail::TensorInfo<float, unsigned int>, at::cuda::detail::TensorInfo<bool, unsigned int>, unsigned int, float, at::PhiloxCudaState)",
            Elementwise,
        ),
        (
            "void at::native::(anonymous namespace)::multi_tensor_apply_kernel<at::native::(anonymous namespace)::TensorListMetadata<2>, at::native::(anonymous namespace)::BinaryOpListAlphaFunctor<float, 2, 2, 0>, std::plus<float>, float>(at::native::(anonymous namespace)::TensorListMetadata<2>, at::native::(anonymous namespace)::BinaryOpListAlphaFunctor<float, 2, 2, 0>, std::plus<float>, float)",
            Elementwise,
        ),
        (
            "void multi_tensor_apply_kernel<TensorListMetadata<4>, AdamFunctor<float>, float, float, float, float, float, float, adamMode_t, float, int, int>(int, int volatile*, TensorListMetadata<4>, AdamFunctor<float>, float, float, float, float, float, float, adamMode_t, float, int, int)",
            Elementwise,
        ),
        ("triton_poi_fused_add_mul_0", Elementwise),
        // Reductions and normalizations.
        (
            "void at::native::reduce_kernel<512, 1, at::native::ReduceOp<float, at::native::MeanOps<float, float, float, float>, unsigned int, float, 4> >(at::native::ReduceOp<float, at::native::MeanOps<float, float, float, float>, unsigned int, float, 4>)",
            Reduction,
        ),
        (
            "void at::native::reduce_kernel<512, 1, at::native::ReduceOp<float, at::native::ArgMaxOps<float>, unsigned int, long, 4> >(at::native::ReduceOp<float, at::native::ArgMaxOps<float>, unsigned int, long, 4>)",
            Reduction,
        ),
        (
            "void at::native::(anonymous namespace)::vectorized_layer_norm_kernel<c10::BFloat16, float>(int, float, c10::BFloat16 const*, c10::BFloat16 const*, c10::BFloat16 const*, float*, float*, c10::BFloat16*)",
            Reduction,
        ),
        (
            "void at::native::(anonymous namespace)::GammaBetaBackwardCUDAKernel<float, float>(long, long, float const*, float const*, float const*, float const*, float*, float*)",
            Reduction,
        ),
        (
            "void (anonymous namespace)::softmax_warp_forward<float, float, float, 10, true, false>(float*, float const*, int, int, int, bool const*, int, bool)",
            Reduction,
        ),
        (
            "void at::native::(anonymous namespace)::cunn_SoftMaxForward<4, float, float, float, at::native::(anonymous namespace)::LogSoftMaxForwardEpilogue>(float*, float const*, int)",
            Reduction,
        ),
        (
            "void cudnn::bn_fw_tr_1C11_kernel_NCHW<float, float, int, 128, true, 1, true>(cudnnTensorStruct, float const*, cudnnTensorStruct, float*, float const*, float const*, float, float, float*, float*, float*, float*, float, float)",
            Reduction,
        ),
        (
            "void at::native::(anonymous namespace)::max_pool_forward_nchw<float, float>(int, float const*, long, long, long, int, int, int, int, int, int, int, int, int, int, float*, long*)",
            Reduction,
        ),
        // Copies, casts, concatenation; memcpy names.
        (
            "void at::native::elementwise_kernel<128, 4, at::native::gpu_kernel_impl_nocast<at::native::direct_copy_kernel_cuda(at::TensorIteratorBase&)::{lambda()#3}::operator()() const::{lambda()#7}::operator()() const::{lambda(float)#1}> >(at::TensorIteratorBase&, at::native::direct_copy_kernel_cuda(at::TensorIteratorBase&)::{lambda()#3}::operator()() const::{lambda()#7}::operator()() const::{lambda(float)#1} const&)::{lambda(int)#1}>(int, at::native::gpu_kernel_impl_nocast<at::native::direct_copy_kernel_cuda(at::TensorIteratorBase&)::{lambda()#3}::operator()() const::{lambda()#7}::operator()() const::{lambda(float)#1}> >(at::TensorIteratorBase&, at::native::direct_copy_kernel_cuda(at::TensorIteratorBase&)::{lambda()#3}::operator()() const::{lambda()#7}::operator()() const::{lambda(float)#1} const&)::{lambda(int)#1})",
            Copy,
        ),
        (
            "void at::native::(anonymous namespace)::CatArrayBatchedCopy_aligned16_contig<at::native::(anonymous namespace)::OpaqueType<2u>, unsigned int, 4, 64, 64>(at::native::(anonymous namespace)::OpaqueType<2u>*, at::native::(anonymous namespace)::CatArrInputTensorMetadata<at::native::(anonymous namespace)::OpaqueType<2u>, unsigned int, 64, 64>, at::native::(anonymous namespace)::TensorSizeStride<unsigned int, 4u>, int, unsigned int)",
            Copy,
        ),
        (
            "void at::native::vectorized_elementwise_kernel<4, at::native::bfloat16_copy_kernel_cuda(at::TensorIteratorBase&)::{lambda(float)#1}, std::array<char*, 2ul> >(int, at::native::bfloat16_copy_kernel_cuda(at::TensorIteratorBase&)::{lambda(float)#1}, std::array<char*, 2ul>)",
            Copy,
        ),
        (
            "void cudnn::ops::nchwToNhwcKernel<float, float, float, false, true, (cudnnKernelDataType_t)0>(cudnn::ops::nchw2nhwc_params_t<float>, float const*, float*)",
            Copy,
        ),
        ("Memcpy DtoD (Device -> Device)", Copy),
        // Communication.
        ("ncclKernel_AllReduce_RING_LL_Sum_float(ncclDevComm*, unsigned long, ncclWork*)", Communication),
        ("ncclDevKernel_ReduceScatter_Sum_bf16_RING_LL(ncclDevKernelArgsStorage<4096ul>)", Communication),
        // Other: gathers, sorts, scans, index computations.
        (
            "void at::native::(anonymous namespace)::indexSelectLargeIndex<c10::BFloat16, long, unsigned int, 2, 2, -2, true>(at::cuda::detail::TensorInfo<c10::BFloat16, unsigned int>, at::cuda::detail::TensorInfo<c10::BFloat16 const, unsigned int>, at::cuda::detail::TensorInfo<long const, unsigned int>, int, int, unsigned int, unsigned int, long)",
            Other,
        ),
        (
            "void cub::DeviceRadixSortOnesweepKernel<cub::DeviceRadixSortPolicy<long, int, int>::Policy800, false, long, int, int, int>(int*, int*, int*, int const*, long*, long const*, int*, int const*, int, int, int)",
            Other,
        ),
        ("void cask_cudnn_infer::computeOffsetsKernel<false, false>(cask_cudnn_infer::ComputeOffsetsParams)", Other),
    ];

    #[test]
    fn real_kernel_names() {
        for &(name, want) in NAMES {
            assert_eq!(classify_kernel(name), want, "{name}");
        }
    }

    #[test]
    fn memory_activities_are_copies() {
        assert_eq!(classify(ActivityKind::Memset, "Memset (Device)"), Copy);
        assert_eq!(classify(ActivityKind::Memcpy, "anything"), Copy);
        assert_eq!(classify(ActivityKind::Kernel, "Memcpy HtoD (Pageable -> Device)"), Copy);
    }
}
