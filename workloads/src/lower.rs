//! Lowering: a model, a phase and a shape become the [`Program`] of one step,
//! the operator sequence eager PyTorch runs for the Hugging Face
//! `transformers` modeling code, with the kernels each operator launches.
//!
//! Where each sequence comes from, and how to check it against a recorded
//! trace, is written down in `docs/workloads.md`. In short:
//! - `LlamaRMSNorm` is Python: to(float32), pow, mean, add, rsqrt, mul,
//!   to(dtype), mul: eight kernels. `nn.LayerNorm` is one fused kernel.
//! - RoPE (`apply_rotary_pos_emb`, `rotate_half`) is mul, neg, cat, mul, add
//!   per tensor; the cos/sin tables are built once per forward.
//! - Linear layers are one cuBLAS GEMM each, launched with `cuLaunchKernel`
//!   (biases ride in the cuBLASLt epilogue); every other kernel is PyTorch's
//!   own, launched with `cudaLaunchKernel`.
//! - Attention is `scaled_dot_product_attention` with the flash backend (no
//!   mask: prefill is `is_causal`, decode has one query): one kernel, or a
//!   split-KV kernel and a combine kernel when PyTorch's split heuristic
//!   finds the grid too small for the GPU ([`crate::stack::flash_splits`]).
//! - The KV cache is `DynamicCache`: `torch.cat` of the old cache and the new
//!   keys (values), which reads and rewrites the whole cache every step.
//! - What changed between `transformers` releases (grouped-query attention by
//!   `repeat_kv` copies or inside SDPA, `.contiguous()` copies before SDPA,
//!   the first cache update) follows the workload's [`Stack`].
//! - Prefill and decode end like `generate()`'s greedy step: logits of the last
//!   position only, `.float()`, `argmax`, and a read-back to the host that
//!   drains the stream. Training ends with `loss.item()`.
//! - Training runs the model in the chosen dtype (`model.to(dtype)`), the
//!   causal-LM (or masked-LM) loss, autograd's backward nodes on the engine
//!   thread, and `torch.optim.AdamW`'s default foreach implementation.

use std::rc::Rc;

use crate::WorkloadError;
use crate::model::{Activation, Arch, Dtype, ModelConfig, Norm, Phase, Positions, Shape, WorkloadSpec};
use crate::program::{Action, HostClass, HostThread, Kernel, KernelClass, KernelIn, LaunchApi, Program, Region};
use crate::stack::{Stack, flash_splits};
use crate::whatif::Pattern;

/// What the lowering needs to know of the GPU it lowers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    /// The cuBLAS GEMM kernel name for the workload's dtype (names differ
    /// between GPU generations).
    pub gemm_kernel: &'a str,
    /// Streaming multiprocessors: flash attention's split heuristic depends on them.
    pub sm_count: u32,
}

/// Lowers one step of `w` at `shape` for the GPU `target`.
pub fn lower(w: &WorkloadSpec, shape: Shape, target: Target<'_>) -> Result<Program, WorkloadError> {
    w.check_shape(shape)?;
    let mut l = Lower::new(w, target);
    match w.model.arch {
        Arch::Llama | Arch::Gpt2 => l.decoder(shape),
        Arch::Bert => l.bert(shape),
    }
    Ok(l.p)
}

/// multi_tensor_apply: elements per chunk, chunks per launch, and the most
/// tensors one launch takes for a list depth of 1..=5 (ATen's
/// `MultiTensorApply.cuh`).
const MTA_CHUNK: f64 = 65_536.0;
const MTA_BLOCKS: f64 = 320.0;
const MTA_MAX_TENSORS: [f64; 5] = [110.0, 64.0, 48.0, 36.0, 30.0];

/// Kernel names, in the form PyTorch 2.x and flash-attention 2 give them in
/// profiler traces (template arguments abridged where they only encode tile
/// shapes); `docs/workloads.md` lists the patterns to match real traces with.
#[derive(Debug)]
struct Names {
    add: String,
    mul: String,
    mul_scalar: String,
    add_scalar: String,
    neg: String,
    pow: String,
    rsqrt: String,
    silu: String,
    silu_bw: String,
    gelu: String,
    gelu_bw: String,
    tanh: String,
    tanh_bw: String,
    cos: String,
    sin: String,
    copy: String,
    cat: String,
    fill: String,
    mean: String,
    sum: String,
    argmax: String,
    arange: String,
    index_select: String,
    embedding_bw: String,
    sort: String,
    layer_norm: String,
    layer_norm_bw_input: String,
    layer_norm_bw_gamma: String,
    dropout: String,
    dropout_bw: String,
    flash_fwd: String,
    flash_splitkv: String,
    flash_combine: String,
    flash_bwd_dot: String,
    flash_bwd: String,
    flash_bwd_convert: String,
    log_softmax: String,
    log_softmax_bw: String,
    nll: String,
    nll_bw: String,
    gemm: String,
    gemm_f32: String,
}

impl Names {
    fn new(dt: Dtype, gemm: &str) -> Names {
        let t = dt.c10();
        let ct = dt.cutlass();
        let vec = |f: &str, arity: u32| {
            format!(
                "void at::native::vectorized_elementwise_kernel<4, {f}, at::detail::Array<char*, {arity}> >(int, {f}, at::detail::Array<char*, {arity}>)"
            )
        };
        let lambda = |op: &str, ty: &str| {
            format!(
                "at::native::{op}(at::TensorIteratorBase&)::{{lambda()#2}}::operator()() const::{{lambda()#4}}::operator()() const::{{lambda({ty})#1}}"
            )
        };
        let reduce = |ops: &str, out: &str| {
            format!(
                "void at::native::reduce_kernel<512, 1, at::native::ReduceOp<float, at::native::{ops}, unsigned int, {out}, 4> >(at::native::ReduceOp<float, at::native::{ops}, unsigned int, {out}, 4>)"
            )
        };
        let flash_traits = format!(
            "Flash_fwd_kernel_traits<64, 128, 64, 4, false, false, {ct}, Flash_kernel_traits<64, 128, 64, 4, {ct}> >"
        );
        Names {
            add: vec(&format!("at::native::CUDAFunctor_add<{t}>"), 3),
            mul: vec(&format!("at::native::BinaryFunctor<{t}, {t}, {t}, at::native::binary_internal::MulFunctor<float> >"), 3),
            mul_scalar: vec(&format!("at::native::AUnaryFunctor<{t}, {t}, {t}, at::native::binary_internal::MulFunctor<float> >"), 2),
            add_scalar: vec(&format!("at::native::CUDAFunctorOnSelf_add<{t}>"), 2),
            neg: vec(&lambda("neg_kernel_cuda", t), 2),
            pow: vec("at::native::(anonymous namespace)::pow_tensor_scalar_kernel_impl<float, float>(at::TensorIteratorBase&, float)::{lambda(float)#2}", 2),
            rsqrt: vec(&lambda("rsqrt_kernel_cuda", "float"), 2),
            silu: vec(&lambda("(anonymous namespace)::silu_kernel", t), 2),
            silu_bw: vec(&lambda("(anonymous namespace)::silu_backward_kernel", t), 3),
            gelu: vec(&lambda("GeluCUDAKernelImpl", t), 2),
            gelu_bw: vec(&lambda("GeluBackwardCUDAKernelImpl", t), 3),
            tanh: vec(&lambda("tanh_kernel_cuda", t), 2),
            tanh_bw: vec(&lambda("tanh_backward_kernel_cuda", t), 3),
            cos: vec(&lambda("cos_kernel_cuda", "float"), 2),
            sin: vec(&lambda("sin_kernel_cuda", "float"), 2),
            copy: format!(
                "void at::native::elementwise_kernel<128, 4, at::native::gpu_kernel_impl_nocast<at::native::direct_copy_kernel_cuda(at::TensorIteratorBase&)::{{lambda()#3}}::operator()() const::{{lambda()#7}}::operator()() const::{{lambda({t})#1}}>(at::TensorIteratorBase&, at::native::direct_copy_kernel_cuda(at::TensorIteratorBase&)::{{lambda()#3}}::operator()() const::{{lambda()#7}}::operator()() const::{{lambda({t})#1}} const&)::{{lambda(int)#1}}>(int, at::native::gpu_kernel_impl_nocast<at::native::direct_copy_kernel_cuda(at::TensorIteratorBase&)::{{lambda()#3}}::operator()() const::{{lambda()#7}}::operator()() const::{{lambda({t})#1}}>(at::TensorIteratorBase&, at::native::direct_copy_kernel_cuda(at::TensorIteratorBase&)::{{lambda()#3}}::operator()() const::{{lambda()#7}}::operator()() const::{{lambda({t})#1}} const&)::{{lambda(int)#1}})"
            ),
            cat: "void at::native::(anonymous namespace)::CatArrayBatchedCopy_aligned16_contig<at::native::(anonymous namespace)::OpaqueType<2u>, unsigned int, 4, 64, 64>(at::native::(anonymous namespace)::OpaqueType<2u>*, at::native::(anonymous namespace)::CatArrInputTensorMetadata<at::native::(anonymous namespace)::OpaqueType<2u>, unsigned int, 64, 64>, at::native::(anonymous namespace)::TensorSizeStride<unsigned int, 4u>, int, unsigned int)".into(),
            fill: vec(&format!("at::native::FillFunctor<{t}>"), 1),
            mean: reduce("MeanOps<float, float, float, float>", "float"),
            sum: reduce("func_wrapper_t<float, at::native::sum_functor<float, float, float>::operator()(at::TensorIterator&)::{lambda(float, float)#1}>", t),
            argmax: reduce("ArgMaxOps<float>", "long"),
            arange: "void at::native::elementwise_kernel_with_index<int, at::native::arange_cuda_out(c10::Scalar const&, c10::Scalar const&, c10::Scalar const&, at::Tensor&)::{lambda()#1}::operator()() const::{lambda()#4}::operator()() const::{lambda(long)#1}>(int, at::native::arange_cuda_out(c10::Scalar const&, c10::Scalar const&, c10::Scalar const&, at::Tensor&)::{lambda()#1}::operator()() const::{lambda()#4}::operator()() const::{lambda(long)#1}, at::native::arange_cuda_out(c10::Scalar const&, c10::Scalar const&, c10::Scalar const&, at::Tensor&)::{lambda()#1}::operator()() const::{lambda()#4}::operator()() const::{lambda(long)#1}::result_type*)".into(),
            index_select: format!("void at::native::(anonymous namespace)::indexSelectLargeIndex<{t}, long, unsigned int, 2, 2, -2, true>(at::cuda::detail::TensorInfo<{t}, unsigned int>, at::cuda::detail::TensorInfo<{t} const, unsigned int>, at::cuda::detail::TensorInfo<long const, unsigned int>, int, int, unsigned int, unsigned int, long)"),
            embedding_bw: format!("void at::native::(anonymous namespace)::compute_grad_weight<{t}, long>(long const*, {t} const*, long const*, long, long, long, float*)"),
            sort: "void at_cuda_detail::cub::DeviceRadixSortOnesweepKernel<at_cuda_detail::cub::DeviceRadixSortPolicy<long, long, unsigned int>::Policy900, false, long, long, unsigned int, int, at_cuda_detail::cub::detail::identity_decomposer_t>(int*, unsigned int*, int*, int const*, long*, long const*, long*, long const*, int, int, int, at_cuda_detail::cub::detail::identity_decomposer_t)".into(),
            layer_norm: format!("void at::native::(anonymous namespace)::vectorized_layer_norm_kernel<{t}, float>(int, float, {t} const*, {t} const*, {t} const*, float*, float*, {t}*)"),
            layer_norm_bw_input: format!("void at::native::(anonymous namespace)::layer_norm_grad_input_kernel_vectorized<{t}, float>({t} const*, {t} const*, float const*, float const*, {t} const*, {t}*, int)"),
            layer_norm_bw_gamma: format!("void at::native::(anonymous namespace)::GammaBetaBackwardCUDAKernelTemplate<{t}, float, 32u, 32u, 128u, true, false>(long, long, {t} const*, {t} const*, float const*, float const*, {t}*, {t}*)"),
            dropout: format!("void at::native::(anonymous namespace)::fused_dropout_kernel_vec<{t}, float, unsigned int, 1, 4, bool>(at::cuda::detail::TensorInfo<{t} const, unsigned int>, at::cuda::detail::TensorInfo<{t}, unsigned int>, at::cuda::detail::TensorInfo<bool, unsigned int>, unsigned int, float, at::PhiloxCudaState)"),
            dropout_bw: vec(&format!("at::native::(anonymous namespace)::masked_scale_kernel<bool, {t}, float>(at::Tensor&, at::Tensor const&, at::Tensor const&, float)::{{lambda({t}, bool)#1}}"), 3),
            flash_fwd: format!("void pytorch_flash::flash_fwd_kernel<{flash_traits}, false, true, false, false, true, true, false, false>(pytorch_flash::Flash_fwd_params)"),
            flash_splitkv: format!("void pytorch_flash::flash_fwd_splitkv_kernel<Flash_fwd_kernel_traits<64, 64, 256, 4, false, false, {ct}, Flash_kernel_traits<64, 64, 256, 4, {ct}> >, false, false, false, false, true, false, true, false>(pytorch_flash::Flash_fwd_params)"),
            flash_combine: format!("void pytorch_flash::flash_fwd_splitkv_combine_kernel<Flash_fwd_kernel_traits<64, 64, 256, 4, false, false, {ct}, Flash_kernel_traits<64, 64, 256, 4, {ct}> >, 4, 3, true>(pytorch_flash::Flash_fwd_params)"),
            flash_bwd_dot: format!("void pytorch_flash::flash_bwd_dot_do_o_kernel<true, Flash_bwd_kernel_traits<64, 128, 128, 8, 2, 4, 2, false, false, {ct}, Flash_kernel_traits<64, 128, 128, 8, {ct}> > >(pytorch_flash::Flash_bwd_params)"),
            flash_bwd: format!("void pytorch_flash::flash_bwd_dq_dk_dv_loop_seqk_parallel_kernel<Flash_bwd_kernel_traits<64, 128, 128, 8, 2, 4, 2, false, false, {ct}, Flash_kernel_traits<64, 128, 128, 8, {ct}> >, false, true, false, false, false, true, false>(pytorch_flash::Flash_bwd_params)"),
            flash_bwd_convert: format!("void pytorch_flash::flash_bwd_convert_dq_kernel<Flash_bwd_kernel_traits<64, 128, 128, 8, 2, 4, 2, false, false, {ct}, Flash_kernel_traits<64, 128, 128, 8, {ct}> > >(pytorch_flash::Flash_bwd_params, int)"),
            log_softmax: "void at::native::(anonymous namespace)::cunn_SoftMaxForward<4, float, float, float, at::native::(anonymous namespace)::LogSoftMaxForwardEpilogue>(float*, float const*, int)".into(),
            log_softmax_bw: "void at::native::(anonymous namespace)::cunn_SoftMaxBackward<4, float, float, float, at::native::(anonymous namespace)::LogSoftMaxBackwardEpilogue>(float*, float const*, float const*, long)".into(),
            nll: "void at::native::(anonymous namespace)::nll_loss_forward_reduce_cuda_kernel_2d<float, float, long>(float*, float*, float const*, long const*, float const*, bool, long, long, long, long)".into(),
            nll_bw: "void at::native::(anonymous namespace)::nll_loss_backward_reduce_cuda_kernel_2d<float, long>(float*, float const*, long const*, float const*, float const*, bool, int, int, long, long)".into(),
            gemm: gemm.to_string(),
            // The RoPE frequency product is a float32 batched GEMM.
            gemm_f32: "ampere_sgemm_32x32_sliced1x4_nn".into(),
        }
    }
}

/// One autograd node waiting for the backward pass: its name and kernels.
#[derive(Debug)]
struct GradNode {
    name: u32,
    kernels: Vec<Kernel>,
}

struct Lower {
    p: Program,
    m: &'static ModelConfig,
    phase: Phase,
    e: f64,
    train: bool,
    n: Rc<Names>,
    /// Backward nodes in forward order (run in reverse).
    tape: Vec<GradNode>,
    /// Backward halves of patterns, as tape indices until the tape is emitted.
    tape_regions: Vec<TapeRegion>,
    /// The residual add (and training dropout) just emitted, which a LayerNorm
    /// right after it would take into a fused add + LayerNorm.
    pre_norm: PreNorm,
    /// The last forward GEMM operator and the operator count right after it.
    last_gemm: Option<(usize, usize)>,
    stack: Stack,
    sm_count: u32,
}

/// A pattern's backward half: tape indices of its nodes and the fused bytes.
#[derive(Debug)]
struct TapeRegion {
    pattern: Pattern,
    nodes: Vec<usize>,
    bytes: f64,
}

/// Forward operators and tape length at a point of the lowering.
#[derive(Debug, Clone, Copy)]
struct Mark {
    op: usize,
    tape: usize,
}

#[derive(Debug, Default)]
struct PreNorm {
    ops: Vec<usize>,
    /// Operator count right after the run's last member.
    end: usize,
    /// A dropout kernel is in the run (its mask is one more output).
    dropout: bool,
}

fn mem(name: &str, bytes: f64) -> KernelIn<'_> {
    KernelIn { name, api: LaunchApi::Runtime, class: KernelClass::Memory, flops: 0.0, bytes }
}

impl Lower {
    fn new(w: &WorkloadSpec, target: Target<'_>) -> Lower {
        Lower {
            p: Program::default(),
            m: w.model,
            phase: w.phase,
            e: w.dtype.bytes() as f64,
            train: w.phase == Phase::Train,
            n: Rc::new(Names::new(w.dtype, target.gemm_kernel)),
            tape: Vec::new(),
            tape_regions: Vec::new(),
            pre_norm: PreNorm::default(),
            last_gemm: None,
            stack: w.stack,
            sm_count: target.sm_count,
        }
    }

    fn mark(&self) -> Mark {
        Mark { op: self.p.ops.len(), tape: self.tape.len() }
    }

    /// Records the forward operators `ops` as one occurrence of `pattern`,
    /// fused at `at` into `launches` kernels moving `bytes`.
    fn region(&mut self, pattern: Pattern, ops: Vec<usize>, at: usize, bytes: f64, launches: u32) {
        let ops = ops.into_iter().map(|o| o as u32).collect();
        self.p.regions.push(Region { pattern, backward: false, ops, at: at as u32, bytes, launches });
    }

    /// The forward operators since `from` as one occurrence of `pattern`
    /// (fused at the last of them), and in training the autograd nodes
    /// recorded since `from` as its backward half (`bwd_bytes`; None: the
    /// backward is left as it is). AccumulateGrad nodes stay out: a fused
    /// module's parameters still get theirs.
    fn span_region(&mut self, pattern: Pattern, from: Mark, fwd_bytes: f64, bwd_bytes: Option<f64>) {
        let end = self.p.ops.len();
        if end > from.op + 1 {
            self.region(pattern, (from.op..end).collect(), end - 1, fwd_bytes, 1);
        }
        if let Some(bytes) = bwd_bytes.filter(|_| self.train) {
            let acc = self.p.intern("autograd::engine::evaluate_function: torch::autograd::AccumulateGrad");
            let nodes: Vec<usize> = (from.tape..self.tape.len()).filter(|&i| self.tape[i].name != acc).collect();
            if nodes.len() > 1 {
                self.tape_regions.push(TapeRegion { pattern, nodes, bytes });
            }
        }
    }

    /// Adds forward operator `op` (a residual add or a training dropout) to the
    /// run that a following LayerNorm may absorb.
    fn pre_norm_member(&mut self, op: usize, dropout: bool) {
        if self.pre_norm.end != op {
            self.pre_norm = PreNorm::default();
        }
        self.pre_norm.ops.push(op);
        self.pre_norm.dropout |= dropout;
        self.pre_norm.end = self.p.ops.len();
    }

    /// A forward operator called from Python.
    fn op(&mut self, name: &str, host: HostClass, kernels: &[KernelIn<'_>]) {
        self.p.launch_op(name, host, HostThread::Main, true, kernels);
    }

    /// Records the backward node of the operator just emitted (training only).
    fn grad(&mut self, node: &str, kernels: &[KernelIn<'_>]) {
        if !self.train {
            return;
        }
        let name = self.p.intern(&format!("autograd::engine::evaluate_function: {node}"));
        let kernels = self.p.intern_kernels(kernels);
        self.tape.push(GradNode { name, kernels });
    }

    /// Records the AccumulateGrad nodes of `count` parameters fed by the next grad node.
    /// They are pushed before that node so that, run in reverse, they follow it.
    fn accumulate_grad(&mut self, count: u32) {
        for _ in 0..count {
            self.grad("torch::autograd::AccumulateGrad", &[]);
        }
    }

    /// A view of a tensor that requires grad: no kernel; in training an autograd node.
    fn view(&mut self, name: &str, node: &str) {
        self.op(name, HostClass::View, &[]);
        self.grad(node, &[]);
    }

    /// A view of a tensor without grad (positions, cos/sin tables).
    fn view_nograd(&mut self, name: &str) {
        self.op(name, HostClass::View, &[]);
    }

    /// The GEMM of `[m, k] x [k, n]` (plus bias), named `name`.
    fn gemm<'n>(&self, name: &'n str, m: f64, k: f64, n: f64, bias: bool) -> KernelIn<'n> {
        let bytes = (m * k + k * n + m * n + if bias { n } else { 0.0 }) * self.e;
        KernelIn { name, api: LaunchApi::Driver, class: KernelClass::Gemm, flops: 2.0 * m * k * n, bytes }
    }

    /// `nn.Linear` (or GPT-2's `Conv1D` = `addmm`) over `m` rows: `k` -> `n`.
    /// `param` is false for the tied LM head, whose weight is the embedding's.
    fn linear(&mut self, op: &str, m: f64, k: f64, n: f64, bias: bool, param: bool) {
        let names = Rc::clone(&self.n);
        let fwd = self.gemm(&names.gemm, m, k, n, bias);
        let at = self.p.ops.len();
        self.op(op, HostClass::Gemm, &[fwd]);
        self.last_gemm = Some((at, self.p.ops.len()));
        if self.train {
            if param {
                self.accumulate_grad(1 + u32::from(bias));
            }
            let dx = self.gemm(&names.gemm, m, n, k, false);
            let dw = self.gemm(&names.gemm, n, m, k, false);
            let mut ks = vec![dx, dw];
            if bias {
                ks.push(mem(&names.sum, (m * n + n) * self.e));
            }
            let node = if bias { "AddmmBackward0" } else { "MmBackward0" };
            self.grad(node, &ks);
        }
    }

    /// An elementwise op over `elems` elements moving `bytes_per_elem` bytes
    /// per element (inputs read plus output written); `bw` backward kernels of
    /// the same size.
    fn ew(&mut self, op: &str, kernel: &str, elems: f64, bytes_per_elem: f64, node: &str, bw: u32) {
        let k = mem(kernel, elems * bytes_per_elem);
        self.op(op, HostClass::Elementwise, &[k]);
        if self.train {
            let ks: Vec<KernelIn<'_>> = (0..bw).map(|_| k).collect();
            self.grad(node, &ks);
        }
    }

    /// A copy of `elems` elements (to, contiguous, clone) from `from` to `to` bytes per element.
    fn copy(&mut self, op: &str, elems: f64, from: f64, to: f64, node: &str, bw: u32) {
        let names = Rc::clone(&self.n);
        let name = &names.copy;
        let k = mem(name, elems * (from + to));
        self.op(op, HostClass::Copy, &[k]);
        if self.train {
            let ks: Vec<KernelIn<'_>> = (0..bw).map(|_| k).collect();
            self.grad(node, &ks);
        }
    }

    /// Inputs copied from pageable host memory (token ids; labels when training).
    fn inputs(&mut self, tokens: f64) {
        let tensors = if self.train { 2 } else { 1 };
        for _ in 0..tensors {
            self.p.action_op(
                "aten::to",
                HostClass::Transfer,
                HostThread::Main,
                Action::CopyToDevice { bytes: (tokens * 8.0) as u64 },
            );
        }
    }

    /// `nn.Embedding` lookup of `rows` rows of width `h` from a `table`-row table.
    fn embedding(&mut self, rows: f64, h: f64, table: f64) {
        let e = self.e;
        let names = Rc::clone(&self.n);
        let k = mem(&names.index_select, rows * (h * 2.0 * e + 8.0));
        let (fill, sort, bw) = (&names.fill, &names.sort, &names.embedding_bw);
        self.op("aten::embedding", HostClass::Embedding, &[k]);
        if self.train {
            self.accumulate_grad(1);
            // embedding_dense_backward: zero the table's gradient, sort the
            // indices (cub radix sort, two passes), accumulate rows.
            let ks = [
                mem(fill, table * h * e),
                mem(sort, rows * 16.0),
                mem(sort, rows * 16.0),
                mem(bw, rows * h * 2.0 * e + table * h * 4.0),
            ];
            self.grad("EmbeddingBackward0", &ks);
        }
    }

    fn dropout(&mut self, elems: f64) {
        if self.train {
            let names = Rc::clone(&self.n);
            let (d, dbw) = (&names.dropout, &names.dropout_bw);
            let k = mem(d, elems * (2.0 * self.e + 1.0));
            let at = self.p.ops.len();
            self.op("aten::dropout", HostClass::Elementwise, &[k]);
            self.pre_norm_member(at, true);
            self.grad("NativeDropoutBackward0", &[mem(dbw, elems * (2.0 * self.e + 1.0))]);
        } else {
            // Eval-mode nn.Dropout returns its input: Python and dispatch only.
            self.op("aten::dropout", HostClass::View, &[]);
        }
    }

    /// `x + residual`: in training, the residual stream's gradient is the sum
    /// of two paths, which autograd accumulates with one add.
    fn residual_add(&mut self, elems: f64) {
        let names = Rc::clone(&self.n);
        let add = &names.add;
        let e = self.e;
        let at = self.p.ops.len();
        // A GEMM right before (views between, no kernel) can take the add into
        // its epilogue (cuBLASLt: C = residual, beta = 1).
        if let Some((g, end)) = self.last_gemm
            && self.p.ops[end..at].iter().all(|o| o.action == Action::None)
        {
            let gemm_bytes: f64 = self.p.op_kernels(&self.p.ops[g]).iter().map(|k| k.bytes).sum();
            self.region(Pattern::BiasResidual, vec![g, at], g, gemm_bytes + elems * e, 1);
        }
        self.op("aten::add", HostClass::Elementwise, &[mem(add, elems * 3.0 * e)]);
        self.pre_norm_member(at, false);
        self.grad("AddBackward0", &[mem(add, elems * 3.0 * e)]);
    }

    /// `LlamaRMSNorm` over `rows` rows of width `h`.
    fn rms_norm(&mut self, rows: f64, h: f64) {
        let e = self.e;
        let x = rows * h;
        let from = self.mark();
        self.copy("aten::to", x, e, 4.0, "ToCopyBackward0", 1);
        let names = Rc::clone(&self.n);
        let (pow, mean, adds, rsqrt, mul, sum, muls) =
            (&names.pow, &names.mean, &names.add_scalar, &names.rsqrt, &names.mul, &names.sum, &names.mul_scalar);
        self.ew("aten::pow", pow, x, 8.0, "PowBackward0", 2);
        self.op("aten::mean", HostClass::Reduction, &[mem(mean, x * 4.0 + rows * 4.0)]);
        self.grad("MeanBackward1", &[mem(muls, x * 8.0)]);
        self.ew("aten::add", adds, rows, 8.0, "AddBackward0", 0);
        self.ew("aten::rsqrt", rsqrt, rows, 8.0, "RsqrtBackward0", 2);
        // hidden * rsqrt(var): a broadcast multiply; its backward needs a row sum.
        self.op("aten::mul", HostClass::Elementwise, &[mem(mul, x * 8.0 + rows * 4.0)]);
        self.grad("MulBackward0", &[mem(mul, x * 12.0), mem(sum, x * 8.0)]);
        self.copy("aten::to", x, 4.0, e, "ToCopyBackward0", 1);
        // weight * hidden: the weight's gradient is a column sum over all rows.
        self.op("aten::mul", HostClass::Elementwise, &[mem(mul, x * 2.0 * e + h * e)]);
        if self.train {
            self.accumulate_grad(1);
        }
        self.grad("MulBackward0", &[mem(mul, x * 3.0 * e), mem(sum, x * e + h * e)]);
        // Fused: read x and the weight, write y (training: and the float32
        // 1/rms per row); backward reads dy, x, weight and 1/rms, writes dx and dw.
        let rstd = if self.train { rows * 4.0 } else { 0.0 };
        self.span_region(
            Pattern::RmsNorm,
            from,
            2.0 * x * e + h * e + rstd,
            Some(3.0 * x * e + 2.0 * h * e + rows * 4.0),
        );
    }

    /// `nn.LayerNorm` over `rows` rows of width `h`: one kernel.
    fn layer_norm(&mut self, rows: f64, h: f64) {
        let e = self.e;
        let x = rows * h;
        let names = Rc::clone(&self.n);
        let (ln, bi, bg) = (&names.layer_norm, &names.layer_norm_bw_input, &names.layer_norm_bw_gamma);
        let at = self.p.ops.len();
        self.op("aten::layer_norm", HostClass::Reduction, &[mem(ln, x * 2.0 * e + rows * 8.0)]);
        if self.pre_norm.end == at && !self.pre_norm.ops.is_empty() {
            // Fused add (+ dropout) + LayerNorm: read the branch and the
            // residual, write the new residual stream and the normalized rows
            // (and the dropout mask); the backward keeps its kernels.
            let mask = if self.pre_norm.dropout { x } else { 0.0 };
            let mut ops = std::mem::take(&mut self.pre_norm.ops);
            ops.push(at);
            self.region(Pattern::LayerNorm, ops, at, 4.0 * x * e + rows * 8.0 + mask, 1);
        }
        if self.train {
            self.accumulate_grad(2);
        }
        self.grad("NativeLayerNormBackward0", &[mem(bi, x * 3.0 * e), mem(bg, x * 2.0 * e)]);
    }

    fn norm(&mut self, rows: f64, h: f64) {
        match self.m.norm {
            Norm::RmsNorm => self.rms_norm(rows, h),
            Norm::LayerNorm => self.layer_norm(rows, h),
        }
    }

    /// `LlamaRotaryEmbedding.forward`: the cos/sin tables of the positions, once per forward.
    fn rope_tables(&mut self, b: f64, t: f64) {
        let half = self.m.head_dim as f64 / 2.0;
        let names = Rc::clone(&self.n);
        let (copy, cat, cos, sin, muls, gemm_f32) =
            (&names.copy, &names.cat, &names.cos, &names.sin, &names.mul_scalar, &names.gemm_f32);
        let e = self.e;
        self.view_nograd("aten::expand");
        self.op("aten::to", HostClass::Copy, &[mem(copy, b * t * 12.0)]);
        let freqs = KernelIn {
            name: gemm_f32,
            api: LaunchApi::Driver,
            class: KernelClass::Gemm,
            flops: 2.0 * b * half * t,
            bytes: (b * half + b * t + b * half * t) * 4.0,
        };
        self.op("aten::matmul", HostClass::Gemm, &[freqs]);
        self.view_nograd("aten::transpose");
        let table = b * t * 2.0 * half;
        self.op("aten::cat", HostClass::Copy, &[mem(cat, table * 8.0)]);
        self.op("aten::cos", HostClass::Elementwise, &[mem(cos, table * 8.0)]);
        self.op("aten::mul", HostClass::Elementwise, &[mem(muls, table * 8.0)]);
        self.op("aten::sin", HostClass::Elementwise, &[mem(sin, table * 8.0)]);
        self.op("aten::mul", HostClass::Elementwise, &[mem(muls, table * 8.0)]);
        self.op("aten::to", HostClass::Copy, &[mem(copy, table * (4.0 + e))]);
        self.op("aten::to", HostClass::Copy, &[mem(copy, table * (4.0 + e))]);
    }

    /// `apply_rotary_pos_emb` on one tensor of `x` elements:
    /// `x * cos + rotate_half(x) * sin`, `rotate_half` = cat(-x2, x1).
    fn rope_apply(&mut self, x: f64) {
        let e = self.e;
        let names = Rc::clone(&self.n);
        let (mul, neg, cat, add, fill, copy) =
            (&names.mul, &names.neg, &names.cat, &names.add, &names.fill, &names.copy);
        // x * cos (cos broadcast over heads: its reads are negligible).
        self.op("aten::mul", HostClass::Elementwise, &[mem(mul, x * 2.0 * e)]);
        self.grad("MulBackward0", &[mem(mul, x * 2.0 * e)]);
        // Slices of x feed rotate_half: each slice's backward writes zeros then the slice.
        for _ in 0..2 {
            self.op("aten::slice", HostClass::View, &[]);
            self.grad("SliceBackward0", &[mem(fill, x * e), mem(copy, x * e)]);
        }
        self.ew("aten::neg", neg, x / 2.0, 2.0 * e, "NegBackward0", 1);
        self.op("aten::cat", HostClass::Copy, &[mem(cat, x * 2.0 * e)]);
        self.grad("CatBackward0", &[]);
        self.op("aten::mul", HostClass::Elementwise, &[mem(mul, x * 2.0 * e)]);
        self.grad("MulBackward0", &[mem(mul, x * 2.0 * e)]);
        // The sum; in training x's three uses are accumulated with two adds.
        self.op("aten::add", HostClass::Elementwise, &[mem(add, x * 3.0 * e)]);
        self.grad("AddBackward0", &[mem(add, x * 3.0 * e), mem(add, x * 3.0 * e)]);
    }

    /// `DynamicCache.update`: `torch.cat` of the cache (`past` positions) and
    /// the `t` new ones, for keys and for values. On an empty cache (prefill)
    /// the releases before 4.54 store the new tensors without a kernel.
    /// Returns whether K and V now come out of a `cat` (contiguous).
    fn cache_update(&mut self, b: f64, past: f64, t: f64) -> bool {
        if past == 0.0 && !self.stack.cat_on_empty_cache() {
            return false;
        }
        let kv = (self.m.kv_heads * self.m.head_dim) as f64;
        let bytes = b * kv * (past + t + past + t) * self.e;
        let names = Rc::clone(&self.n);
        let cat = &names.cat;
        self.op("aten::cat", HostClass::Copy, &[mem(cat, bytes)]);
        self.op("aten::cat", HostClass::Copy, &[mem(cat, bytes)]);
        true
    }

    /// `repeat_kv` on the keys or the values of `s` positions: unsqueeze,
    /// expand to every query head, and a reshape that copies (it reads the KV
    /// heads and writes one copy per query head). Its backward sums the
    /// copies back onto the KV heads.
    fn repeat_kv(&mut self, b: f64, s: f64) {
        let m = self.m;
        let (hq, hkv, d, e) = (m.heads as f64, m.kv_heads as f64, m.head_dim as f64, self.e);
        let names = Rc::clone(&self.n);
        let (copy, sum) = (&names.copy, &names.sum);
        self.view("aten::unsqueeze", "UnsqueezeBackward0");
        self.op("aten::expand", HostClass::View, &[]);
        self.grad("ExpandBackward0", &[mem(sum, b * s * d * (hq + hkv) * e)]);
        self.op("aten::reshape", HostClass::Copy, &[mem(copy, b * s * d * (hq + hkv) * e)]);
        self.grad("UnsafeViewBackward0", &[]);
    }

    /// `sdpa_attention_forward`'s `.contiguous()` calls on q, k and v
    /// (transformers 4.48-4.55): a copy for each input not already laid out as
    /// `[batch, heads, seq, head_dim]`. With one query per sequence every
    /// input already is; K and V are after a cache `cat` or a `repeat_kv`
    /// reshape. The copies' backward passes the gradient through (no kernel).
    fn contiguous_qkv(&mut self, n: f64, kv_contiguous: bool, t: f64) {
        let m = self.m;
        let (hq, hkv) = ((m.heads * m.head_dim) as f64, (m.kv_heads * m.head_dim) as f64);
        let e = self.e;
        let copies: [(f64, bool); 3] =
            [(hq, t > 1.0), (hkv, t > 1.0 && !kv_contiguous), (hkv, t > 1.0 && !kv_contiguous)];
        for (width, copies_data) in copies {
            if copies_data {
                self.copy("aten::contiguous", n * width, e, e, "CloneBackward0", 0);
            } else {
                self.op("aten::contiguous", HostClass::View, &[]);
            }
        }
    }

    /// `scaled_dot_product_attention` with the flash backend: `t` queries per
    /// sequence against `s` keys of `kv_heads` heads (the model's KV heads, or
    /// every query head after `repeat_kv`).
    fn sdpa(&mut self, b: f64, t: f64, s: f64, causal: bool, kv_heads: u64) {
        let m = self.m;
        let (hq, hkv, d) = (m.heads as f64, kv_heads as f64, m.head_dim as f64);
        let e = self.e;
        let mut flops = 4.0 * b * hq * t * s * d;
        if causal {
            flops *= 0.5;
        }
        let q_bytes = b * hq * t * d * e;
        let kv_bytes = 2.0 * b * hkv * s * d * e;
        let bytes = 2.0 * q_bytes + kv_bytes;
        let names = Rc::clone(&self.n);
        let (fwd, splitkv, combine, bdot, bwd, bconv) = (
            &names.flash_fwd,
            &names.flash_splitkv,
            &names.flash_combine,
            &names.flash_bwd_dot,
            &names.flash_bwd,
            &names.flash_bwd_convert,
        );
        // The grid flash sees: one query of grouped-query attention is
        // regrouped as the KV heads' query groups (`seqlenq_ngroups_swapped`).
        let (grid_heads, grid_queries) =
            if t <= 1.0 && kv_heads < m.heads { (kv_heads, m.heads / kv_heads) } else { (m.heads, t as u64) };
        // Split-KV is not implemented with dropout (training of GPT-2 and BERT).
        let splits = if self.train {
            1
        } else {
            flash_splits(b as u64, grid_heads, grid_queries, s as u64, m.head_dim, self.sm_count)
        };
        if splits > 1 {
            // The keys are split across blocks and a second kernel combines
            // the partial outputs and log-sum-exps (float32).
            let partial = f64::from(splits) * b * hq * t * (d + 1.0) * 4.0;
            let ks = [
                KernelIn { name: splitkv, api: LaunchApi::Runtime, class: KernelClass::Attention, flops, bytes },
                mem(combine, partial + q_bytes),
            ];
            self.op("aten::scaled_dot_product_attention", HostClass::Attention, &ks);
        } else {
            let k = KernelIn { name: fwd, api: LaunchApi::Runtime, class: KernelClass::Attention, flops, bytes };
            self.op("aten::scaled_dot_product_attention", HostClass::Attention, &[k]);
        }
        // Backward: five matrix products against the forward's two (2.5x the
        // FLOPs), reading q, k, v, o, dO and writing dq, dk, dv.
        self.grad(
            "ScaledDotProductFlashAttentionBackward0",
            &[
                mem(bdot, 2.0 * q_bytes + b * hq * t * 4.0),
                KernelIn {
                    name: bwd,
                    api: LaunchApi::Runtime,
                    class: KernelClass::Attention,
                    flops: 2.5 * flops,
                    bytes: 2.0 * bytes + b * hq * t * d * 4.0,
                },
                mem(bconv, b * hq * t * d * (4.0 + e)),
            ],
        );
    }

    /// A decoder's attention over `s` keys for `t` new queries per sequence
    /// (`n` rows), after the cache update: the stack's grouped-query and
    /// contiguity rules, SDPA, and the output merged back into rows.
    fn attention(&mut self, b: f64, t: f64, s: f64, n: f64, kv_from_cat: bool) {
        let m = self.m;
        // The releases' shared `sdpa_attention_forward` is the Llama path; GPT-2
        // (heads = KV heads) keeps its own SDPA class without contiguous calls.
        let llama = m.arch == Arch::Llama;
        let repeat = llama && self.stack.repeat_kv() && m.heads > m.kv_heads;
        if repeat {
            self.repeat_kv(b, s);
            self.repeat_kv(b, s);
        }
        let copies = llama && self.stack.contiguous_qkv();
        if copies {
            self.contiguous_qkv(n, kv_from_cat || repeat, t);
        }
        self.sdpa(b, t, s, t > 1.0, if repeat { m.heads } else { m.kv_heads });
        self.merge_heads(n * (m.heads * m.head_dim) as f64, copies && t > 1.0);
    }

    /// Attention output back to `[b, t, heads * head_dim]`: transpose, then
    /// `.contiguous()`. Flash writes its output in the layout of the query it
    /// was given: a query made contiguous as `[b, heads, t, head_dim]`
    /// (`copies`) leaves the transposed output strided and the call copies;
    /// otherwise the output is already `[b, t, heads, head_dim]` and the call
    /// returns it as it is.
    fn merge_heads(&mut self, elems: f64, copies: bool) {
        self.view("aten::transpose", "TransposeBackward0");
        if copies {
            let e = self.e;
            self.copy("aten::contiguous", elems, e, e, "CloneBackward0", 0);
        } else {
            self.op("aten::contiguous", HostClass::View, &[]);
        }
        self.view("aten::reshape", "ViewBackward0");
    }

    /// Llama or GPT-2: prefill, decode or train.
    fn decoder(&mut self, s: Shape) {
        let m = self.m;
        let b = s.batch as f64;
        let seq = s.seq as f64;
        let (t, past) = if self.phase == Phase::Decode { (1.0, seq) } else { (seq, 0.0) };
        let n = b * t;
        let h = m.hidden as f64;
        let hq = (m.heads * m.head_dim) as f64;
        let hkv = (m.kv_heads * m.head_dim) as f64;
        let i = m.intermediate as f64;
        let v = m.vocab as f64;
        let e = self.e;
        let bias = m.linear_bias;
        let linear_op = if m.arch == Arch::Gpt2 { "aten::addmm" } else { "aten::linear" };
        let names = Rc::clone(&self.n);
        let arange = &names.arange;
        let add = &names.add;

        // Decode's input ids are the previous step's picks, already on the device.
        if self.phase != Phase::Decode {
            self.inputs(n);
        }
        self.embedding(n, h, v);
        // cache_position / position_ids.
        self.op("aten::arange", HostClass::Elementwise, &[mem(arange, t * 8.0)]);
        self.view_nograd("aten::unsqueeze");
        match m.positions {
            Positions::Rope => self.rope_tables(b, t),
            Positions::Learned => {
                self.embedding(t, h, m.max_positions as f64);
                self.op("aten::add", HostClass::Elementwise, &[mem(add, n * 3.0 * e)]);
                self.grad("AddBackward0", &[]);
                self.dropout(n * h);
            }
        }

        for _ in 0..m.layers {
            self.norm(n, h);
            if m.arch == Arch::Gpt2 {
                // Conv1D c_attn: view, addmm, view; split into q, k, v; split heads.
                self.view("aten::view", "ViewBackward0");
                self.linear(linear_op, n, h, hq + 2.0 * hkv, bias, true);
                self.view("aten::view", "ViewBackward0");
                self.view("aten::split", "SplitBackward0");
            } else {
                let qkv_bias = bias || m.qkv_bias;
                self.linear(linear_op, n, h, hq, qkv_bias, true);
                self.linear(linear_op, n, h, hkv, qkv_bias, true);
                self.linear(linear_op, n, h, hkv, qkv_bias, true);
            }
            for _ in 0..3 {
                self.view("aten::view", "ViewBackward0");
                self.view("aten::transpose", "TransposeBackward0");
            }
            if m.positions == Positions::Rope {
                let from = self.mark();
                self.view_nograd("aten::unsqueeze");
                self.view_nograd("aten::unsqueeze");
                self.rope_apply(n * hq);
                self.rope_apply(n * hkv);
                // Fused (q and k in one kernel): read q and k, write them rotated; the same backward.
                let qk = 2.0 * n * (hq + hkv) * e;
                self.span_region(Pattern::Rotary, from, qk, Some(qk));
            }
            let kv_from_cat = !self.train && self.cache_update(b, past, t);
            self.attention(b, t, past + t, n, kv_from_cat);
            if m.arch == Arch::Gpt2 {
                self.view("aten::view", "ViewBackward0");
            }
            self.linear(linear_op, n, hq, h, bias, true);
            if m.arch == Arch::Gpt2 {
                self.dropout(n * h);
            }
            self.residual_add(n * h);
            self.norm(n, h);
            self.mlp(n, h, i, linear_op);
            self.residual_add(n * h);
        }
        self.norm(n, h);
        // The LM head: generate() asks for the last position's logits only.
        self.view("aten::slice", "SliceBackward0");
        let rows = if self.train { n } else { b };
        self.linear("aten::linear", rows, h, v, false, !m.tied_embeddings);
        if self.train {
            self.causal_lm_loss(n, v);
            self.backward_and_step();
        } else {
            self.pick_next_token(b, v);
        }
    }

    /// The MLP of one block over `n` rows.
    fn mlp(&mut self, n: f64, h: f64, i: f64, linear_op: &str) {
        let names = Rc::clone(&self.n);
        let bias = self.m.linear_bias;
        let e = self.e;
        match self.m.activation {
            Activation::Silu => {
                // down_proj(act_fn(gate_proj(x)) * up_proj(x))
                let (silu, silu_bw, mul) = (&names.silu, &names.silu_bw, &names.mul);
                self.linear(linear_op, n, h, i, bias, true);
                let silu_at = self.mark();
                self.op("aten::silu", HostClass::Elementwise, &[mem(silu, n * i * 2.0 * e)]);
                self.grad("SiluBackward0", &[mem(silu_bw, n * i * 3.0 * e)]);
                self.linear(linear_op, n, h, i, bias, true);
                let mul_at = self.mark();
                self.ew("aten::mul", mul, n * i, 3.0 * e, "MulBackward0", 2);
                // Fused silu(gate) * up after both GEMMs: read gate and up, write
                // the product; backward reads dy, gate and up, writes dgate and
                // dup, before the up projection's backward needs dup.
                self.region(Pattern::SwiGlu, vec![silu_at.op, mul_at.op], mul_at.op, 3.0 * n * i * e, 1);
                if self.train {
                    let nodes = vec![silu_at.tape, mul_at.tape];
                    self.tape_regions.push(TapeRegion { pattern: Pattern::SwiGlu, nodes, bytes: 5.0 * n * i * e });
                }
                self.linear(linear_op, n, i, h, bias, true);
            }
            Activation::GeluNew => {
                // Conv1D c_fc, NewGELUActivation (written in Python), Conv1D c_proj, dropout.
                self.view("aten::view", "ViewBackward0");
                self.linear(linear_op, n, h, i, bias, true);
                self.view("aten::view", "ViewBackward0");
                self.gelu_new(n * i);
                self.view("aten::view", "ViewBackward0");
                self.linear(linear_op, n, i, h, bias, true);
                self.view("aten::view", "ViewBackward0");
                self.dropout(n * h);
            }
            Activation::Gelu => {
                let (gelu, gelu_bw) = (&names.gelu, &names.gelu_bw);
                self.linear(linear_op, n, h, i, bias, true);
                self.gelu_epilogue(n * i);
                self.op("aten::gelu", HostClass::Elementwise, &[mem(gelu, n * i * 2.0 * e)]);
                self.grad("GeluBackward0", &[mem(gelu_bw, n * i * 3.0 * e)]);
                self.linear(linear_op, n, i, h, bias, true);
            }
        }
    }

    /// `NewGELUActivation`: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))).
    fn gelu_new(&mut self, x: f64) {
        let from = self.mark();
        self.gelu_new_ops(x);
        // Fused: read x, write y; backward reads dy and x, writes dx.
        let e = self.e;
        self.span_region(Pattern::Gelu, from, 2.0 * x * e, Some(3.0 * x * e));
    }

    /// `aten::gelu` right after its GEMM (about to be emitted) as a cuBLASLt
    /// GELU epilogue: the GEMM writes the activation (training: and the
    /// pre-activation for the backward, GELU_AUX) and no separate kernel runs.
    fn gelu_epilogue(&mut self, elems: f64) {
        let at = self.p.ops.len();
        if let Some((g, _)) = self.last_gemm.filter(|&(_, end)| end == at) {
            let gemm_bytes: f64 = self.p.op_kernels(&self.p.ops[g]).iter().map(|k| k.bytes).sum();
            let aux = if self.train { elems * self.e } else { 0.0 };
            self.region(Pattern::Gelu, vec![g, at], g, gemm_bytes + aux, 1);
        }
    }

    fn gelu_new_ops(&mut self, x: f64) {
        let e = self.e;
        let names = Rc::clone(&self.n);
        let (pow, muls, add, adds, tanh, tanh_bw, mul) =
            (&names.pow, &names.mul_scalar, &names.add, &names.add_scalar, &names.tanh, &names.tanh_bw, &names.mul);
        self.ew("aten::pow", pow, x, 2.0 * e, "PowBackward0", 2);
        self.ew("aten::mul", muls, x, 2.0 * e, "MulBackward0", 1);
        self.ew("aten::add", add, x, 3.0 * e, "AddBackward0", 0);
        self.ew("aten::mul", muls, x, 2.0 * e, "MulBackward0", 1);
        self.op("aten::tanh", HostClass::Elementwise, &[mem(tanh, x * 2.0 * e)]);
        self.grad("TanhBackward0", &[mem(tanh_bw, x * 3.0 * e)]);
        self.ew("aten::add", adds, x, 2.0 * e, "AddBackward0", 0);
        self.ew("aten::mul", muls, x, 2.0 * e, "MulBackward0", 1);
        // The final product; x's three uses are accumulated with two adds.
        self.op("aten::mul", HostClass::Elementwise, &[mem(mul, x * 3.0 * e)]);
        self.grad(
            "MulBackward0",
            &[mem(mul, x * 3.0 * e), mem(mul, x * 3.0 * e), mem(add, x * 3.0 * e), mem(add, x * 3.0 * e)],
        );
    }

    /// generate()'s greedy step: last position's logits to float32, argmax, and
    /// the picks read back to the host (the stream drains there).
    fn pick_next_token(&mut self, b: f64, v: f64) {
        let e = self.e;
        let names = Rc::clone(&self.n);
        let (copy, argmax) = (&names.copy, &names.argmax);
        self.view_nograd("aten::select");
        self.op("aten::to", HostClass::Copy, &[mem(copy, b * v * (e + 4.0))]);
        self.op("aten::argmax", HostClass::Reduction, &[mem(argmax, b * v * 4.0 + b * 8.0)]);
        self.p.action_op(
            "aten::to",
            HostClass::Transfer,
            HostThread::Main,
            Action::ReadBack { bytes: (b * 8.0) as u64 },
        );
    }

    /// `ForCausalLMLoss`: logits.float(), labels padded and shifted, cross entropy.
    fn causal_lm_loss(&mut self, n: f64, v: f64) {
        let e = self.e;
        self.copy("aten::to", n * v, e, 4.0, "ToCopyBackward0", 1);
        let names = Rc::clone(&self.n);
        let (fill, copy) = (&names.fill, &names.copy);
        self.op("aten::pad", HostClass::Copy, &[mem(fill, n * 8.0), mem(copy, n * 16.0)]);
        self.view_nograd("aten::slice");
        self.op("aten::contiguous", HostClass::Copy, &[mem(copy, n * 16.0)]);
        self.view("aten::view", "ViewBackward0");
        self.view_nograd("aten::view");
        self.cross_entropy(n, v, 4.0);
    }

    /// `nn.functional.cross_entropy` over `n` rows of `v` classes of `eb` bytes:
    /// log_softmax then nll_loss.
    fn cross_entropy(&mut self, n: f64, v: f64, eb: f64) {
        let names = Rc::clone(&self.n);
        let (ls, lsb, nll, nllb, fill) =
            (&names.log_softmax, &names.log_softmax_bw, &names.nll, &names.nll_bw, &names.fill);
        let from = self.mark();
        self.op("aten::log_softmax", HostClass::Reduction, &[mem(ls, n * v * 2.0 * eb)]);
        self.grad("LogSoftmaxBackward0", &[mem(lsb, n * v * 3.0 * eb)]);
        self.op("aten::nll_loss", HostClass::Reduction, &[mem(nll, n * (eb + 8.0) + 8.0)]);
        self.grad("NllLossBackward0", &[mem(fill, n * v * eb), mem(nllb, n * (eb + 8.0))]);
        // Fused cross entropy: read the logits and labels, write the loss and
        // the row log-sum-exp; backward reads logits, labels and log-sum-exp,
        // writes the logits' gradient.
        self.span_region(Pattern::Softmax, from, n * v * eb + 16.0 * n + 8.0, Some(2.0 * n * v * eb + 12.0 * n));
    }

    /// `loss.backward()`, `optimizer.step()` (AdamW, foreach), `zero_grad()`, `loss.item()`.
    fn backward_and_step(&mut self) {
        let names = Rc::clone(&self.n);
        let fill = &names.fill;
        // The implicit gradient of the scalar loss.
        self.op("aten::ones_like", HostClass::Elementwise, &[mem(fill, 4.0)]);
        let tape = std::mem::take(&mut self.tape);
        let base = self.p.ops.len();
        for node in tape.iter().rev() {
            self.p.launch_interned(node.name, HostClass::Autograd, HostThread::Autograd, false, &node.kernels);
        }
        // Tape index i runs as operator base + (len - 1 - i); a backward half
        // is fused where its first node runs.
        let op_of = |i: usize| (base + tape.len() - 1 - i) as u32;
        for r in std::mem::take(&mut self.tape_regions) {
            let mut ops: Vec<u32> = r.nodes.iter().map(|&i| op_of(i)).collect();
            ops.sort_unstable();
            let at = ops[0];
            self.p.regions.push(Region { pattern: r.pattern, backward: true, ops, at, bytes: r.bytes, launches: 1 });
        }
        if self.m.tied_embeddings {
            // The tied embedding collects two gradients (LM head and lookup): one add.
            let add = &names.add;
            let bytes = (self.m.vocab * self.m.hidden) as f64 * 3.0 * self.e;
            self.p.launch_op(
                "autograd::engine::evaluate_function: torch::autograd::AccumulateGrad",
                HostClass::Autograd,
                HostThread::Autograd,
                false,
                &[mem(add, bytes)],
            );
        }
        self.adamw();
        self.p.host_op("Optimizer.zero_grad#AdamW.zero_grad", HostClass::Foreach, HostThread::Main, true);
        self.p.action_op("aten::item", HostClass::Transfer, HostThread::Main, Action::ReadBack { bytes: 4 });
    }

    /// `torch.optim.AdamW` with its default `foreach` implementation
    /// (`_multi_tensor_adamw`): one `_foreach_*` op per update term, each
    /// launching `multi_tensor_apply` kernels over all parameters.
    fn adamw(&mut self) {
        let params = self.m.parameter_tensors();
        let tensors: f64 = params.iter().map(|&(n, _)| n as f64).sum();
        let numel: f64 = params.iter().map(|&(n, e)| (n * e) as f64).sum();
        let chunks: f64 = params.iter().map(|&(n, e)| n as f64 * (e as f64 / MTA_CHUNK).ceil()).sum();
        // Step counters are CPU tensors (capturable=False): no kernels.
        self.p.host_op("aten::_foreach_add_", HostClass::Foreach, HostThread::Main, true);
        // (op, functor, list depth, arrays touched)
        let terms: [(&str, &str, usize, f64); 8] = [
            ("aten::_foreach_mul_", "BinaryOpScalarFunctor", 1, 2.0),
            ("aten::_foreach_lerp_", "TernaryOpScalarFunctor", 2, 3.0),
            ("aten::_foreach_mul_", "BinaryOpScalarFunctor", 1, 2.0),
            ("aten::_foreach_addcmul_", "PointwiseOpScalarFunctor", 2, 3.0),
            ("aten::_foreach_sqrt", "UnaryOpFunctor", 2, 2.0),
            ("aten::_foreach_div_", "BinaryOpScalarListFunctor", 1, 2.0),
            ("aten::_foreach_add_", "BinaryOpScalarFunctor", 1, 2.0),
            ("aten::_foreach_addcdiv_", "PointwiseOpScalarListFunctor", 3, 4.0),
        ];
        let from = self.p.ops.len();
        for (op, functor, depth, arrays) in terms {
            let launches = (tensors / MTA_MAX_TENSORS[depth - 1]).ceil().max((chunks / MTA_BLOCKS).ceil()).max(1.0);
            let name = format!(
                "void at::native::(anonymous namespace)::multi_tensor_apply_kernel<at::native::(anonymous namespace)::TensorListMetadata<{depth}>, at::native::(anonymous namespace)::{functor}<float, {depth}, {r}, {w}> >(at::native::(anonymous namespace)::TensorListMetadata<{depth}>, at::native::(anonymous namespace)::{functor}<float, {depth}, {r}, {w}>)",
                r = depth,
                w = 1,
            );
            let per = numel * arrays * self.e / launches;
            let ks: Vec<KernelIn<'_>> = (0..launches as usize).map(|_| mem(&name, per)).collect();
            self.p.launch_op(op, HostClass::Foreach, HostThread::Main, true, &ks);
        }
        // AdamW(fused=True): one `_fused_adamw_` over four lists (params,
        // grads, exp_avg, exp_avg_sq) reads four arrays and writes three.
        let launches = (tensors / MTA_MAX_TENSORS[3]).ceil().max((chunks / MTA_BLOCKS).ceil()).max(1.0);
        let end = self.p.ops.len();
        self.region(Pattern::AdamW, (from..end).collect(), end - 1, numel * 7.0 * self.e, launches as u32);
    }

    /// BERT: prefill is `BertModel` (encoder and pooler) then
    /// `torch.cuda.synchronize()`; train is `BertForMaskedLM`.
    fn bert(&mut self, s: Shape) {
        let m = self.m;
        let b = s.batch as f64;
        let t = s.seq as f64;
        let n = b * t;
        let h = m.hidden as f64;
        let i = m.intermediate as f64;
        let v = m.vocab as f64;
        let e = self.e;
        let names = Rc::clone(&self.n);
        let add = &names.add;
        self.inputs(n);
        self.embedding(n, h, v);
        // token_type_ids: a registered buffer, sliced and expanded.
        self.view_nograd("aten::slice");
        self.view_nograd("aten::expand");
        self.embedding(n, h, m.type_vocab as f64);
        self.op("aten::add", HostClass::Elementwise, &[mem(add, n * h * 3.0 * e)]);
        self.grad("AddBackward0", &[]);
        self.view_nograd("aten::slice");
        self.embedding(t, h, m.max_positions as f64);
        self.op("aten::add_", HostClass::Elementwise, &[mem(add, n * h * 3.0 * e)]);
        self.grad("AddBackward0", &[]);
        self.layer_norm(n, h);
        self.dropout(n * h);
        for _ in 0..m.layers {
            for _ in 0..3 {
                self.linear("aten::linear", n, h, h, true, true);
                self.view("aten::view", "ViewBackward0");
                self.view("aten::transpose", "TransposeBackward0");
            }
            self.sdpa(b, t, t, false, m.kv_heads);
            self.merge_heads(n * h, false);
            // BertSelfOutput: dense, dropout, LayerNorm(x + input).
            self.linear("aten::linear", n, h, h, true, true);
            self.dropout(n * h);
            self.residual_add(n * h);
            self.layer_norm(n, h);
            // BertIntermediate and BertOutput.
            self.mlp(n, h, i, "aten::linear");
            self.dropout(n * h);
            self.residual_add(n * h);
            self.layer_norm(n, h);
        }
        if self.train {
            // BertForMaskedLM's head: transform (dense, gelu, LayerNorm), tied decoder with bias.
            let (gelu, gelu_bw) = (&names.gelu, &names.gelu_bw);
            self.linear("aten::linear", n, h, h, true, true);
            self.gelu_epilogue(n * h);
            self.op("aten::gelu", HostClass::Elementwise, &[mem(gelu, n * h * 2.0 * e)]);
            self.grad("GeluBackward0", &[mem(gelu_bw, n * h * 3.0 * e)]);
            self.layer_norm(n, h);
            self.accumulate_grad(1);
            self.linear("aten::linear", n, h, v, true, false);
            self.view("aten::view", "ViewBackward0");
            self.view_nograd("aten::view");
            self.cross_entropy(n, v, e);
            self.backward_and_step();
        } else {
            let tanh = &names.tanh;
            self.view_nograd("aten::select");
            self.linear("aten::linear", b, h, h, true, true);
            self.op("aten::tanh", HostClass::Elementwise, &[mem(tanh, b * h * 2.0 * e)]);
            self.p.action_op("torch.cuda.synchronize", HostClass::Transfer, HostThread::Main, Action::Synchronize);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BERT_BASE, GPT2, LLAMA_3_2_1B};

    fn program(model: &'static ModelConfig, phase: Phase, batch: u64, seq: u64) -> Program {
        lowered(model, phase, batch, seq, Stack::default(), 132)
    }

    fn lowered(model: &'static ModelConfig, phase: Phase, batch: u64, seq: u64, stack: Stack, sms: u32) -> Program {
        let w = WorkloadSpec { model, phase, dtype: Dtype::Bf16, stack };
        match lower(&w, Shape { batch, seq }, Target { gemm_kernel: "gemm", sm_count: sms }) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }

    /// Launches whose kernel name contains `pattern`.
    fn named(p: &Program, pattern: &str) -> usize {
        count(p, |k| p.names[k.name as usize].contains(pattern))
    }

    fn count(p: &Program, pred: impl Fn(&Kernel) -> bool) -> usize {
        p.kernels.iter().filter(|k| pred(k)).count()
    }

    #[test]
    fn llama_decode_launches_the_eager_kernel_sequence() {
        let p = program(&LLAMA_3_2_1B, Phase::Decode, 1, 1024);
        // Per layer: 2 RMSNorms x 8, 7 GEMMs, RoPE 2 x 5, 2 cache cats, SDPA 2
        // (split-KV + combine), 2 residual adds, SiLU and mul. The output's
        // `.contiguous()` moves nothing (flash wrote it as [b, t, heads, d]).
        let per_layer = 16 + 7 + 10 + 2 + 2 + 2 + 2;
        // Embedding, arange, RoPE tables (9), final norm (8), LM head, to(float), argmax.
        let outside = 1 + 1 + 9 + 8 + 1 + 2;
        assert_eq!(p.kernel_count(), 16 * per_layer + outside);
        // Every GEMM goes through the driver API; nothing else does.
        let gemms = count(&p, |k| k.class == KernelClass::Gemm);
        assert_eq!(gemms, 16 * 7 + 1 + 1);
        assert_eq!(count(&p, |k| k.api == LaunchApi::Driver), gemms);
        // The step ends with one read-back.
        let readbacks = p.ops.iter().filter(|o| matches!(o.action, Action::ReadBack { .. })).count();
        assert_eq!(readbacks, 1);
        assert!(matches!(p.ops.last().map(|o| o.action), Some(Action::ReadBack { bytes: 8 })));
    }

    #[test]
    fn each_stack_lowers_llama_attention_by_its_own_rules() {
        use Stack::*;
        let layers = LLAMA_3_2_1B.layers as usize;
        // (stack, per-layer copies, cats, flash kernels) for a 128-token prefill at batch 1.
        // 4.45: two repeat_kv copies, the cache stored without a cat.
        // 4.49: the same, plus .contiguous() of q and of the output (K and V
        //       come out of repeat_kv already contiguous).
        // 4.54: K and V from the cache cat; q and the output still copied.
        // 4.56: the cache cat only.
        let want = [(Transformers445, 2, 0), (Transformers449, 4, 0), (Transformers454, 2, 2), (Transformers456, 0, 2)];
        for (stack, copies, cats) in want {
            let p = lowered(&LLAMA_3_2_1B, Phase::Prefill, 1, 128, stack, 132);
            let base = program(&LLAMA_3_2_1B, Phase::Prefill, 1, 128);
            // Copies and cats outside the layers (RoPE tables, the pick) are the
            // same in every stack: count against the default's.
            let extra_copies = named(&p, "direct_copy") as i64 - named(&base, "direct_copy") as i64;
            let extra_cats = named(&p, "CatArrayBatchedCopy") as i64 - named(&base, "CatArrayBatchedCopy") as i64;
            assert_eq!(extra_copies, (copies * layers) as i64, "{stack}");
            assert_eq!(extra_cats, ((cats as i64 - 2) * layers as i64), "{stack}");
            assert_eq!(named(&p, "flash_fwd_kernel"), layers, "{stack}");
        }
    }

    #[test]
    fn repeat_kv_copies_the_cache_per_query_head_in_decode() {
        let old = lowered(&LLAMA_3_2_1B, Phase::Decode, 4, 1024, Stack::Transformers445, 114);
        let new = lowered(&LLAMA_3_2_1B, Phase::Decode, 4, 1024, Stack::Transformers456, 114);
        let layers = LLAMA_3_2_1B.layers as usize;
        assert_eq!(named(&old, "direct_copy") - named(&new, "direct_copy"), 2 * layers);
        // The copies write every KV position once per query head (4x for 32 / 8
        // heads) and attention reads the expanded K and V.
        let m = &LLAMA_3_2_1B;
        let kv_bytes = (4 * 1025 * m.kv_heads * m.head_dim * 2) as f64;
        let attn = |p: &Program| -> f64 {
            p.kernels.iter().filter(|k| k.class == KernelClass::Attention).map(|k| k.bytes).sum::<f64>()
        };
        let grew = attn(&old) - attn(&new);
        let expected = 2.0 * kv_bytes * 3.0 * layers as f64;
        assert!((grew - expected).abs() / expected < 1e-9, "{grew} vs {expected}");
    }

    #[test]
    fn flash_decoding_splits_only_while_the_grid_is_small() {
        // enable_gqa: 8 KV heads per sequence; 114 SMs split up to batch 22.
        let split =
            |batch, stack| named(&lowered(&LLAMA_3_2_1B, Phase::Decode, batch, 1024, stack, 114), "splitkv_kernel");
        let layers = LLAMA_3_2_1B.layers as usize;
        assert_eq!(split(22, Stack::Transformers456), layers);
        assert_eq!(split(23, Stack::Transformers456), 0);
        // repeat_kv: 32 heads of one query each, up to batch 5.
        assert_eq!(split(5, Stack::Transformers445), layers);
        assert_eq!(split(6, Stack::Transformers445), 0);
        // Without a split there is no combine kernel either.
        let p = lowered(&LLAMA_3_2_1B, Phase::Decode, 23, 1024, Stack::Transformers456, 114);
        assert_eq!(named(&p, "splitkv_combine"), 0);
        assert_eq!(named(&p, "flash_fwd_kernel"), layers);
    }

    #[test]
    fn gpt2_and_bert_attention_does_not_depend_on_the_stack_beyond_the_cache() {
        for stack in Stack::ALL {
            for (model, phase) in [(&GPT2, Phase::Decode), (&BERT_BASE, Phase::Prefill), (&GPT2, Phase::Train)] {
                let p = lowered(model, phase, 2, 128, stack, 132);
                let base = program(model, phase, 2, 128);
                assert_eq!(named(&p, "direct_copy"), named(&base, "direct_copy"), "{stack} {}", model.id);
            }
        }
    }

    #[test]
    fn llama_decode_bytes_are_dominated_by_weights_and_cache() {
        // Batch 1: every weight is read once (2 bytes each, the tied matrix
        // twice: lookup rows are few, the LM head reads it all).
        let p = program(&LLAMA_3_2_1B, Phase::Decode, 1, 1024);
        let gemm_bytes: f64 = p.kernels.iter().filter(|k| k.class == KernelClass::Gemm).map(|k| k.bytes).sum();
        let weights = (LLAMA_3_2_1B.parameters() as f64) * 2.0;
        assert!((gemm_bytes - weights).abs() / weights < 0.01, "{gemm_bytes} vs {weights}");
        // The cache grows the bytes linearly with batch.
        let b8 = program(&LLAMA_3_2_1B, Phase::Decode, 8, 1024).totals().1;
        let b16 = program(&LLAMA_3_2_1B, Phase::Decode, 16, 1024).totals().1;
        let b32 = program(&LLAMA_3_2_1B, Phase::Decode, 32, 1024).totals().1;
        assert!(((b32 - b16) - 2.0 * (b16 - b8)).abs() / (b32 - b16) < 0.01);
    }

    #[test]
    fn prefill_flops_match_two_flops_per_parameter_per_token() {
        // Prefill GEMM FLOPs: 2 x (non-embedding parameters) x tokens, plus the
        // LM head over one position per sequence.
        let (b, t) = (4u64, 256u64);
        let p = program(&LLAMA_3_2_1B, Phase::Prefill, b, t);
        let gemm: f64 = p.kernels.iter().filter(|k| k.class == KernelClass::Gemm).map(|k| k.flops).sum();
        let m = &LLAMA_3_2_1B;
        let emb = (m.vocab * m.hidden) as f64;
        let norms = ((2 * m.layers + 1) * m.hidden) as f64;
        let body = m.parameters() as f64 - emb - norms;
        let want = 2.0 * body * (b * t) as f64 + 2.0 * emb * b as f64;
        // The RoPE frequency GEMM is tiny.
        assert!((gemm - want).abs() / want < 0.001, "{gemm} vs {want}");
    }

    #[test]
    fn training_adds_backward_on_the_autograd_thread_and_an_optimizer() {
        let fwd = program(&GPT2, Phase::Prefill, 2, 128);
        let train = program(&GPT2, Phase::Train, 2, 128);
        let autograd = train.ops.iter().filter(|o| o.thread == HostThread::Autograd).count();
        assert!(autograd > fwd.ops.len() / 2, "{autograd} backward ops");
        let bw_gemm = train
            .ops
            .iter()
            .filter(|o| o.thread == HostThread::Autograd)
            .filter_map(|o| match o.action {
                Action::Launch { first, count } => Some((first, count)),
                _ => None,
            })
            .map(|(f, c)| {
                train.kernels[f as usize..(f + c) as usize].iter().filter(|k| k.class == KernelClass::Gemm).count()
            })
            .sum::<usize>();
        // Two GEMMs (input and weight gradients) per forward GEMM.
        let fwd_gemm = 12 * 4 + 1;
        assert_eq!(bw_gemm, 2 * fwd_gemm);
        let foreach = train.ops.iter().filter(|o| o.host == HostClass::Foreach).count();
        assert_eq!(foreach, 1 + 8 + 1);
        assert!(matches!(train.ops.last().map(|o| o.action), Some(Action::ReadBack { bytes: 4 })));
        // AccumulateGrad nodes: one per parameter tensor (the tied LM head has none).
        let acc_name = train.names.iter().position(|n| n.ends_with("torch::autograd::AccumulateGrad"));
        let acc = train.ops.iter().filter(|o| Some(o.name as usize) == acc_name && o.action == Action::None).count();
        let tensors: u64 = GPT2.parameter_tensors().iter().map(|t| t.0).sum();
        assert_eq!(acc as u64, tensors);
    }

    #[test]
    fn bert_prefill_ends_with_a_device_synchronize() {
        let p = program(&BERT_BASE, Phase::Prefill, 8, 128);
        assert!(matches!(p.ops.last().map(|o| o.action), Some(Action::Synchronize)));
        // 12 layers x (4 + 2) GEMMs + pooler; no cache cats in an encoder.
        assert_eq!(count(&p, |k| k.class == KernelClass::Gemm), 12 * 6 + 1);
        let cats = p.names.iter().position(|n| n.contains("CatArrayBatchedCopy"));
        assert!(cats.is_none());
    }
}
