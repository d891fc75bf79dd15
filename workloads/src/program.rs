//! A step as a kernel-level program: the framework operators the host
//! dispatches, in order, and the GPU work each one enqueues (kernels with their
//! FLOPs and bytes, copies, and the read-backs that make the host wait).
//!
//! A program is independent of the platform: the executor (`sim.rs`) prices
//! host operators and kernels with a platform's parameters. Names are interned
//! once per program so that replaying many steps costs no allocation.

use interner::Interner;

use crate::whatif::Pattern;

/// How the host enqueues a kernel. cuBLAS/cuBLASLt launch GEMMs through the
/// driver API; PyTorch's own kernels through the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchApi {
    /// `cudaLaunchKernel`.
    Runtime,
    /// `cuLaunchKernel`.
    Driver,
}

impl LaunchApi {
    pub fn call_name(self) -> &'static str {
        match self {
            LaunchApi::Runtime => "cudaLaunchKernel",
            LaunchApi::Driver => "cuLaunchKernel",
        }
    }
}

/// Which efficiency curve prices a kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelClass {
    /// Tensor-core matrix multiply: priced by FLOPs (GEMM curve) and bytes.
    Gemm,
    /// Fused attention (flash / memory-efficient): FLOPs (attention curve) and bytes.
    Attention,
    /// Elementwise, reduction, copy, gather: bytes only (memory curve).
    Memory,
}

/// What the host spends on an operator before it launches anything: the
/// platform gives one cost per class (`[host]` in a platform file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostClass {
    /// Metadata-only ops (view, transpose, slice, unsqueeze, expand): no kernel.
    View,
    /// TensorIterator elementwise ops (add, mul, neg, silu, ...).
    Elementwise,
    /// Reductions (mean, sum, argmax, softmax-like).
    Reduction,
    /// Copies that allocate (to, cat, contiguous, clone).
    Copy,
    /// `aten::linear` / `addmm` / `matmul`: dispatcher plus cuBLAS setup.
    Gemm,
    /// `scaled_dot_product_attention`: backend selection plus the fused kernel.
    Attention,
    /// `aten::embedding` (index_select).
    Embedding,
    /// One `torch._foreach_*` optimizer op over all parameters.
    Foreach,
    /// One autograd node evaluated by the engine (C++, no Python).
    Autograd,
    /// Host-to-device copy of inputs, device-to-host read-back, synchronize.
    Transfer,
}

/// A host thread of the simulated process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostThread {
    /// The Python thread running the step.
    Main,
    /// PyTorch's autograd engine thread for the CUDA device (runs backward).
    Autograd,
}

/// One kernel of a program.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Kernel {
    /// Index into [`Program::names`].
    pub name: u32,
    pub api: LaunchApi,
    pub class: KernelClass,
    pub flops: f64,
    /// Bytes read plus bytes written in device memory.
    pub bytes: f64,
}

/// What an operator makes the GPU (and the host) do after its dispatch cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Nothing (view ops, optimizer bookkeeping).
    None,
    /// Launch kernels `first .. first + count` of [`Program::kernels`].
    Launch { first: u32, count: u32 },
    /// Copy `bytes` from pageable host memory to the device (`cudaMemcpyAsync` HtoD).
    CopyToDevice { bytes: u64 },
    /// Copy `bytes` back to the host and wait for it (`.item()`, `.cpu()`):
    /// `cudaMemcpyAsync` DtoH then `cudaStreamSynchronize`, which drains the stream.
    ReadBack { bytes: u64 },
    /// `torch.cuda.synchronize()`: `cudaDeviceSynchronize`.
    Synchronize,
    /// Replay of a captured CUDA graph holding kernels `first .. first + count`:
    /// one `cudaGraphLaunch`, after which the kernels run back to back as the
    /// stream allows (what-if rewrites only, `whatif.rs`).
    GraphLaunch { first: u32, count: u32 },
}

/// One framework operator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Op {
    /// Index into [`Program::names`] (`aten::linear`, `autograd::engine::evaluate_function: MmBackward0`).
    pub name: u32,
    pub host: HostClass,
    pub thread: HostThread,
    /// Pays the per-op Python overhead (forward ops called from Python; not autograd nodes).
    pub python: bool,
    pub action: Action,
}

/// Where the lowering emitted a recognisable operator pattern (RMSNorm,
/// SwiGLU, rotary embedding, ...): the operators a fused implementation would
/// replace, and what the one fused kernel would move. The what-if rewrites
/// (`whatif.rs`) read these; the executor ignores them.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    pub pattern: Pattern,
    /// The backward half of the pattern (autograd nodes), not its forward.
    pub backward: bool,
    /// Member operators (indices into [`Program::ops`]), ascending. Operators
    /// between them that are not members (a GEMM between SwiGLU's two halves)
    /// stay as they are.
    pub ops: Vec<u32>,
    /// The member where the fused operator goes (where all its inputs exist).
    pub at: u32,
    /// Bytes the fused kernels read and write: the chain's external inputs and
    /// final outputs only, no intermediate.
    pub bytes: f64,
    /// Kernels the fused implementation launches (1, or AdamW's chunked launches).
    pub launches: u32,
}

/// One step of a workload.
#[derive(Debug, Clone, Default)]
pub struct Program {
    pub names: Vec<String>,
    pub ops: Vec<Op>,
    pub kernels: Vec<Kernel>,
    /// Fusable patterns the lowering emitted, in no particular order.
    pub regions: Vec<Region>,
    interner: Interner,
}

impl Program {
    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", String::as_str)
    }

    /// Interns `s`.
    pub fn intern(&mut self, s: &str) -> u32 {
        self.interner.intern(s, &mut self.names)
    }

    /// Appends a host-only operator.
    pub fn host_op(&mut self, name: &str, host: HostClass, thread: HostThread, python: bool) {
        let name = self.intern(name);
        self.ops.push(Op { name, host, thread, python, action: Action::None });
    }

    /// Appends an operator with a non-launch action.
    pub fn action_op(&mut self, name: &str, host: HostClass, thread: HostThread, action: Action) {
        let name = self.intern(name);
        self.ops.push(Op { name, host, thread, python: thread == HostThread::Main, action });
    }

    /// Appends an operator that launches already-interned `kernels`.
    pub fn launch_interned(
        &mut self,
        name: u32,
        host: HostClass,
        thread: HostThread,
        python: bool,
        kernels: &[Kernel],
    ) {
        let first = self.kernels.len() as u32;
        self.kernels.extend_from_slice(kernels);
        let action =
            if kernels.is_empty() { Action::None } else { Action::Launch { first, count: kernels.len() as u32 } };
        self.ops.push(Op { name, host, thread, python, action });
    }

    /// Interns the names of `kernels`.
    pub fn intern_kernels(&mut self, kernels: &[KernelIn<'_>]) -> Vec<Kernel> {
        kernels
            .iter()
            .map(|k| Kernel { name: self.intern(k.name), api: k.api, class: k.class, flops: k.flops, bytes: k.bytes })
            .collect()
    }

    /// Appends an operator that launches `kernels`.
    pub fn launch_op(
        &mut self,
        name: &str,
        host: HostClass,
        thread: HostThread,
        python: bool,
        kernels: &[KernelIn<'_>],
    ) {
        let name = self.intern(name);
        let first = self.kernels.len() as u32;
        for k in kernels {
            let kn = self.intern(k.name);
            self.kernels.push(Kernel { name: kn, api: k.api, class: k.class, flops: k.flops, bytes: k.bytes });
        }
        let action =
            if kernels.is_empty() { Action::None } else { Action::Launch { first, count: kernels.len() as u32 } };
        self.ops.push(Op { name, host, thread, python, action });
    }

    /// The kernels operator `op` launches (none for other actions).
    pub fn op_kernels(&self, op: &Op) -> &[Kernel] {
        match op.action {
            Action::Launch { first, count } | Action::GraphLaunch { first, count } => {
                &self.kernels[first as usize..(first + count) as usize]
            }
            _ => &[],
        }
    }

    /// The same names with no operator, kernel or region: the start of a rewrite.
    pub fn emptied(&self) -> Program {
        Program {
            names: self.names.clone(),
            ops: Vec::new(),
            kernels: Vec::new(),
            regions: Vec::new(),
            interner: self.interner.clone(),
        }
    }

    /// Kernels launched per step.
    /// Kernels launched by each operator, summed by operator name: the
    /// lowering's side of a check against a recorded trace
    /// ([`crate::calibrate::launches_per_operator`]).
    pub fn launches_per_operator(&self) -> std::collections::BTreeMap<String, u64> {
        let mut out = std::collections::BTreeMap::new();
        for op in &self.ops {
            if let Action::Launch { count, .. } = op.action {
                *out.entry(self.name(op.name).to_string()).or_default() += u64::from(count);
            }
        }
        out
    }

    pub fn kernel_count(&self) -> usize {
        self.kernels.len()
    }

    /// Total FLOPs and bytes of the step's kernels.
    pub fn totals(&self) -> (f64, f64) {
        self.kernels.iter().fold((0.0, 0.0), |(f, b), k| (f + k.flops, b + k.bytes))
    }
}

/// A kernel as lowering code describes it (name not yet interned).
#[derive(Debug, Clone, Copy)]
pub struct KernelIn<'a> {
    pub name: &'a str,
    pub api: LaunchApi,
    pub class: KernelClass,
    pub flops: f64,
    pub bytes: f64,
}

/// A tiny string interner: names repeat thousands of times per program
/// (every layer launches the same kernels), and the trace builder interns
/// again, so a plain map from name to index is all that is needed.
mod interner {
    use std::collections::HashMap;

    #[derive(Debug, Clone, Default)]
    pub struct Interner {
        index: HashMap<String, u32>,
    }

    impl Interner {
        pub fn intern(&mut self, s: &str, names: &mut Vec<String>) -> u32 {
            if let Some(&i) = self.index.get(s) {
                return i;
            }
            let i = names.len() as u32;
            names.push(s.to_string());
            self.index.insert(s.to_string(), i);
            i
        }
    }
}
