//! Names and figures for people: the short label of a (templated,
//! mangled-looking) kernel name, the advice's label, which names PyTorch's
//! generic elementwise and reduce wrappers by the operation inside them, and
//! durations, shares and sizes with readable units. Shared by the text and
//! Markdown reports and the terminal UI, so both print the same figure alike.

/// Nanoseconds with a readable unit: 850 ns, 12.3 us, 4.56 ms, 1.234 s; "-"
/// when not finite.
pub fn fmt_ns(ns: f64) -> String {
    let a = ns.abs();
    if !ns.is_finite() {
        "-".into()
    } else if a < 1_000.0 {
        format!("{ns:.0} ns")
    } else if a < 1_000_000.0 {
        format!("{:.1} us", ns / 1e3)
    } else if a < 1_000_000_000.0 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.3} s", ns / 1e9)
    }
}

/// A fraction as a percentage with one decimal, "-" when absent or not finite.
pub fn fmt_pct(frac: Option<f64>) -> String {
    frac.filter(|f| f.is_finite()).map_or("-".to_string(), |f| format!("{:.1}%", f * 100.0))
}

/// Bytes in decimal units: 950 B, 12.3 kB, 4.5 MB, 1.23 GB.
pub fn fmt_bytes(b: u64) -> String {
    let b = b as f64;
    if b < 1e3 {
        format!("{b:.0} B")
    } else if b < 1e6 {
        format!("{:.1} kB", b / 1e3)
    } else if b < 1e9 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.2} GB", b / 1e9)
    }
}

/// Shortens a (templated) kernel name to `max` characters.
pub fn short_name(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        return name.to_string();
    }
    let head: String = name.chars().take(max.saturating_sub(3)).collect();
    format!("{head}...")
}

/// A kernel's short label: the function name without return type, namespace,
/// template arguments or parameters (`void at::native::vectorized_elementwise_kernel<4, ...>(...)`
/// -> `vectorized_elementwise_kernel`).
pub fn kernel_label(name: &str) -> String {
    let n = name.strip_prefix("void ").unwrap_or(name);
    let cut = n.find(['<', '(']).unwrap_or(n.len());
    let base = n[..cut].rsplit("::").next().unwrap_or(n);
    if base.is_empty() {
        return short_name(name, 40);
    }
    // Generic wrappers (`cutlass::Kernel<...>`) are named by their first template argument.
    if base.len() < 8 && n[cut..].starts_with('<') {
        let arg: String = n[cut + 1..].chars().take_while(|&c| c != ',' && c != '>' && c != '<').collect();
        return short_name(&format!("{base}<{}>", arg.trim()), 40);
    }
    short_name(base, 40)
}

/// Wrappers whose name says nothing of the operation: the advice names such
/// a kernel by the functor or function in its template arguments.
const WRAPPERS: &[&str] =
    &["vectorized_elementwise_kernel", "unrolled_elementwise_kernel", "elementwise_kernel", "reduce_kernel"];
/// Identifiers inside template arguments that are plumbing, not the operation.
const PLUMBING: &[&str] = &[
    "BinaryFunctor",
    "AUnaryFunctor",
    "BUnaryFunctor",
    "UnaryFunctor",
    "gpu_kernel_impl",
    "gpu_kernel_impl_nocast",
    "ReduceOp",
    "func_wrapper_t",
];

/// A kernel's label in the advice: PyTorch's generic elementwise and reduce
/// wrappers are named by the operation inside them
/// (`vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<float>, ...>` -> `CUDAFunctor_add`,
/// `reduce_kernel<512, 1, ReduceOp<float, MeanOps<...>>>` -> `MeanOps`); other kernels by [`kernel_label`].
pub fn advice_kernel_label(name: &str) -> String {
    // `(anonymous namespace)::` would end the function name at its parenthesis.
    let name = &name.replace("(anonymous namespace)::", "");
    let label = kernel_label(name);
    if !WRAPPERS.contains(&label.as_str()) {
        return label;
    }
    let n = name.strip_prefix("void ").unwrap_or(name);
    let args = n.find('<').map_or("", |i| &n[i..]);
    args.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .find(|t| {
            let l = t.to_ascii_lowercase();
            !PLUMBING.contains(t) && (l.contains("functor") || t.ends_with("Ops") || l.contains("kernel"))
        })
        .map_or(label, |t| short_name(t, 40))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_labels() {
        assert_eq!(
            kernel_label("void at::native::vectorized_elementwise_kernel<4, at::native::FillFunctor<float>>(int, X)"),
            "vectorized_elementwise_kernel"
        );
        assert_eq!(kernel_label("sm80_xmma_gemm_f16f16_tn"), "sm80_xmma_gemm_f16f16_tn");
        assert_eq!(
            kernel_label("void cutlass::Kernel<cutlass_80_gemm_64x64>(Params)"),
            "Kernel<cutlass_80_gemm_64x64>"
        );
        assert_eq!(
            kernel_label("ncclKernel_AllReduce_RING_LL_Sum_float(ncclDevComm*)"),
            "ncclKernel_AllReduce_RING_LL_Sum_float"
        );
    }

    #[test]
    fn advice_kernel_labels_name_the_operation() {
        let add = "void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<c10::BFloat16>, at::detail::Array<char*, 3> >(int, at::native::CUDAFunctor_add<c10::BFloat16>, at::detail::Array<char*, 3>)";
        assert_eq!(advice_kernel_label(add), "CUDAFunctor_add");
        let mul = "void at::native::vectorized_elementwise_kernel<4, at::native::BinaryFunctor<c10::BFloat16, c10::BFloat16, c10::BFloat16, at::native::binary_internal::MulFunctor<float> >, at::detail::Array<char*, 3> >(int, at::native::BinaryFunctor<c10::BFloat16, c10::BFloat16, c10::BFloat16, at::native::binary_internal::MulFunctor<float> >, at::detail::Array<char*, 3>)";
        assert_eq!(advice_kernel_label(mul), "MulFunctor");
        let mean = "void at::native::reduce_kernel<512, 1, at::native::ReduceOp<float, at::native::MeanOps<float, float, float, float>, unsigned int, float, 4> >(at::native::ReduceOp<float, at::native::MeanOps<float, float, float, float>, unsigned int, float, 4>)";
        assert_eq!(advice_kernel_label(mean), "MeanOps");
        let pow = "void at::native::vectorized_elementwise_kernel<4, at::native::(anonymous namespace)::pow_tensor_scalar_kernel_impl<float, float>(at::TensorIteratorBase&, float)::{lambda(float)#2}, at::detail::Array<char*, 2> >(int, X)";
        assert_eq!(advice_kernel_label(pow), "pow_tensor_scalar_kernel_impl");
        let copy = "void at::native::elementwise_kernel<128, 4, at::native::gpu_kernel_impl_nocast<at::native::direct_copy_kernel_cuda(at::TensorIteratorBase&)::{lambda()#3}::operator()() const::{lambda()#7}::operator()() const::{lambda(float)#1}> >(X)";
        assert_eq!(advice_kernel_label(copy), "direct_copy_kernel_cuda");
        let ln =
            "void at::native::(anonymous namespace)::vectorized_layer_norm_kernel<c10::BFloat16, float>(int, float)";
        assert_eq!(advice_kernel_label(ln), "vectorized_layer_norm_kernel");
        let cat = "void at::native::(anonymous namespace)::CatArrayBatchedCopy_aligned16_contig<at::native::(anonymous namespace)::OpaqueType<2u>, unsigned int, 4, 64, 64>(X)";
        assert_eq!(advice_kernel_label(cat), "CatArrayBatchedCopy_aligned16_contig");
    }
}
