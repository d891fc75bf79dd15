//! Simulated platforms: the parameters of a GPU, its host link, the launch
//! path and the host CPU's eager-PyTorch dispatch costs, read from TOML files
//! (`workloads/platforms/*.toml`, built in; or a user's file) and validated.
//!
//! The files are data, with their sources in comments; `docs/simulator.md`
//! explains each parameter and where its value comes from. A file with a
//! missing, unknown or nonsensical field is rejected with the field named.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;

use crate::lower::Target;
use crate::model::Dtype;

/// The built-in platforms: name (without the `sim:` prefix) and file text.
pub const BUILTIN: [(&str, &str); 5] = [
    ("a100-pcie", include_str!("../platforms/a100-pcie.toml")),
    ("h100-pcie", include_str!("../platforms/h100-pcie.toml")),
    ("gh200", include_str!("../platforms/gh200.toml")),
    ("h200", include_str!("../platforms/h200.toml")),
    ("a100-sxm", include_str!("../platforms/a100-sxm.toml")),
];

/// Prefix of simulated platform names on the command line.
pub const SIM_PREFIX: &str = "sim:";

/// A platform file, as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformSpec {
    /// Short name; the platform is called `sim:<name>`.
    pub name: String,
    pub description: String,
    pub gpu: GpuSpec,
    pub link: LinkSpec,
    pub launch: LaunchSpec,
    pub host: HostSpec,
    /// Where each number comes from, by field path (`gpu.peak_bf16_tflops`):
    /// a text starting with its kind, one of [`SOURCE_KINDS`]
    /// (`"measured: NVIDIA H100 datasheet"`). Optional in a user's file;
    /// every built-in platform gives one for each number.
    #[serde(default)]
    pub sources: BTreeMap<String, String>,
}

/// The kinds of source a `[sources]` entry may name, as its text's prefix:
/// a measurement (datasheet, paper table, trace), a value derived from
/// measurements (say from what), an assumption, or a value fitted to one
/// published end-to-end observation (say which).
pub const SOURCE_KINDS: [&str; 4] = ["measured", "derived", "assumed", "fitted"];

/// Every number of a platform file, by field path, in file order.
pub const NUMERIC_FIELDS: [&str; 32] = [
    "gpu.compute_capability",
    "gpu.sm_count",
    "gpu.memory_gib",
    "gpu.peak_bf16_tflops",
    "gpu.peak_fp16_tflops",
    "gpu.hbm_bandwidth_gbps",
    "gpu.min_kernel_us",
    "gpu.efficiency.gemm_max",
    "gpu.efficiency.gemm_half_gflop",
    "gpu.efficiency.attention_max",
    "gpu.efficiency.attention_half_gflop",
    "gpu.efficiency.memory_max",
    "gpu.efficiency.memory_half_mb",
    "link.bandwidth_gbps",
    "link.latency_us",
    "launch.latency_us",
    "launch.runtime_api_us",
    "launch.driver_api_us",
    "launch.memcpy_api_us",
    "launch.sync_api_us",
    "launch.queue_capacity",
    "host.python_us",
    "host.view_us",
    "host.elementwise_us",
    "host.reduction_us",
    "host.copy_us",
    "host.gemm_us",
    "host.attention_us",
    "host.embedding_us",
    "host.foreach_us",
    "host.autograd_us",
    "host.transfer_us",
];

/// The GPU.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuSpec {
    pub name: String,
    pub compute_capability: [u32; 2],
    pub sm_count: u32,
    pub memory_gib: f64,
    /// Peak dense tensor-core throughput, bf16 inputs, in TFLOP/s (1e12).
    pub peak_bf16_tflops: f64,
    /// Peak dense tensor-core throughput, fp16 inputs, in TFLOP/s.
    pub peak_fp16_tflops: f64,
    /// HBM bandwidth in GB/s (1e9 bytes per second).
    pub hbm_bandwidth_gbps: f64,
    /// Shortest kernel, in microseconds: launch into an idle SM array and retire.
    pub min_kernel_us: f64,
    /// cuBLAS GEMM kernel names on this GPU generation, as profiler traces show them.
    pub gemm_kernel_bf16: String,
    pub gemm_kernel_fp16: String,
    pub efficiency: EfficiencySpec,
}

/// Achieved fraction of peak as a function of work size:
/// `eff(w) = max * w / (w + half)`, for GEMMs and attention by FLOPs, for
/// memory-bound kernels by bytes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EfficiencySpec {
    pub gemm_max: f64,
    pub gemm_half_gflop: f64,
    pub attention_max: f64,
    pub attention_half_gflop: f64,
    pub memory_max: f64,
    pub memory_half_mb: f64,
}

/// The host-to-device link.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    pub kind: String,
    /// Sustained bandwidth of one direction, in GB/s.
    pub bandwidth_gbps: f64,
    /// Fixed cost of one copy (DMA setup, completion), in microseconds.
    pub latency_us: f64,
}

/// The launch path.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchSpec {
    /// Null-kernel launch latency: launch-call start to kernel start on an idle GPU, in us.
    pub latency_us: f64,
    /// Duration of a `cudaLaunchKernel` call, in us.
    pub runtime_api_us: f64,
    /// Duration of a `cuLaunchKernel` call (cuBLAS GEMMs), in us.
    pub driver_api_us: f64,
    /// Duration of a `cudaMemcpyAsync` call, excluding staging, in us.
    pub memcpy_api_us: f64,
    /// Host time of a synchronizing call beyond the wait itself, in us.
    pub sync_api_us: f64,
    /// Launches that may wait on a stream before a launch call blocks.
    pub queue_capacity: u32,
}

/// Host CPU costs of eager PyTorch, in microseconds per operator, before it
/// launches anything (launch calls are priced by `[launch]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    pub cpu: String,
    /// Python interpreter and `nn.Module` call overhead per operator called from Python.
    pub python_us: f64,
    pub view_us: f64,
    pub elementwise_us: f64,
    pub reduction_us: f64,
    pub copy_us: f64,
    pub gemm_us: f64,
    pub attention_us: f64,
    pub embedding_us: f64,
    pub foreach_us: f64,
    pub autograd_us: f64,
    pub transfer_us: f64,
}

/// A platform file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("unknown platform '{given}'; valid choices: {}", valid.join(", "))]
    Unknown { given: String, valid: Vec<String> },
    #[error("cannot read platform file {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("platform file {origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("platform file {origin}: field `{field}` {problem}")]
    Invalid { origin: String, field: String, problem: String },
}

/// A validated platform with its parameters in the executor's units.
#[derive(Debug, Clone, PartialEq)]
pub struct Platform {
    pub spec: PlatformSpec,
    /// Where it came from: "built-in" or the file's path.
    pub origin: String,
}

impl Platform {
    /// `sim:<name>`.
    pub fn id(&self) -> String {
        format!("{SIM_PREFIX}{}", self.spec.name)
    }

    /// Device memory a program can use: the GPU's memory less 1 GiB for the
    /// CUDA context, cuBLAS workspaces and the allocator's slack (assumption).
    pub fn usable_memory_bytes(&self) -> u64 {
        let total = self.spec.gpu.memory_gib * (1u64 << 30) as f64;
        (total as u64).saturating_sub(1 << 30)
    }

    /// The built-in platform `name` (`sim:gh200` or `gh200`).
    pub fn builtin(name: &str) -> Result<Platform, PlatformError> {
        let short = name.strip_prefix(SIM_PREFIX).unwrap_or(name);
        let Some((_, text)) = BUILTIN.iter().find(|(n, _)| n.eq_ignore_ascii_case(short)) else {
            return Err(PlatformError::Unknown { given: name.to_string(), valid: Platform::builtin_ids() });
        };
        Platform::parse(text, &format!("built-in {SIM_PREFIX}{short}"))
    }

    /// `sim:a100-pcie`, ...
    pub fn builtin_ids() -> Vec<String> {
        BUILTIN.iter().map(|(n, _)| format!("{SIM_PREFIX}{n}")).collect()
    }

    /// Reads and validates a platform file.
    pub fn load(path: &Path) -> Result<Platform, PlatformError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PlatformError::Io { path: path.display().to_string(), source: e })?;
        Platform::parse(&text, &path.display().to_string())
    }

    /// Parses and validates platform-file text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Platform, PlatformError> {
        let spec: PlatformSpec = toml::from_str(text).map_err(|e| PlatformError::Parse {
            origin: origin.to_string(),
            message: e.to_string().trim().to_string(),
        })?;
        validate(&spec).map_err(|(field, problem)| PlatformError::Invalid {
            origin: origin.to_string(),
            field: field.to_string(),
            problem,
        })?;
        Ok(Platform { spec, origin: origin.to_string() })
    }

    /// Peak dense FLOP/s for `dtype`, in FLOP per ns.
    pub fn peak_flop_per_ns(&self, dtype: Dtype) -> f64 {
        let tf = match dtype {
            Dtype::Bf16 => self.spec.gpu.peak_bf16_tflops,
            Dtype::Fp16 => self.spec.gpu.peak_fp16_tflops,
        };
        tf * 1e3
    }

    /// The cuBLAS kernel name for `dtype`.
    pub fn gemm_kernel(&self, dtype: Dtype) -> &str {
        match dtype {
            Dtype::Bf16 => &self.spec.gpu.gemm_kernel_bf16,
            Dtype::Fp16 => &self.spec.gpu.gemm_kernel_fp16,
        }
    }

    /// What the lowering needs of this GPU for a `dtype` workload.
    pub fn target(&self, dtype: Dtype) -> Target<'_> {
        Target { gemm_kernel: self.gemm_kernel(dtype), sm_count: self.spec.gpu.sm_count }
    }
}

impl PlatformSpec {
    /// The value of the number at `field` (one of [`NUMERIC_FIELDS`]; the
    /// compute capability as `major.minor / 10`), or `None` for another path.
    pub fn number(&self, field: &str) -> Option<f64> {
        let (g, e, l, n, h) = (&self.gpu, &self.gpu.efficiency, &self.link, &self.launch, &self.host);
        Some(match field {
            "gpu.compute_capability" => f64::from(g.compute_capability[0]) + f64::from(g.compute_capability[1]) / 10.0,
            "gpu.sm_count" => f64::from(g.sm_count),
            "gpu.memory_gib" => g.memory_gib,
            "gpu.peak_bf16_tflops" => g.peak_bf16_tflops,
            "gpu.peak_fp16_tflops" => g.peak_fp16_tflops,
            "gpu.hbm_bandwidth_gbps" => g.hbm_bandwidth_gbps,
            "gpu.min_kernel_us" => g.min_kernel_us,
            "gpu.efficiency.gemm_max" => e.gemm_max,
            "gpu.efficiency.gemm_half_gflop" => e.gemm_half_gflop,
            "gpu.efficiency.attention_max" => e.attention_max,
            "gpu.efficiency.attention_half_gflop" => e.attention_half_gflop,
            "gpu.efficiency.memory_max" => e.memory_max,
            "gpu.efficiency.memory_half_mb" => e.memory_half_mb,
            "link.bandwidth_gbps" => l.bandwidth_gbps,
            "link.latency_us" => l.latency_us,
            "launch.latency_us" => n.latency_us,
            "launch.runtime_api_us" => n.runtime_api_us,
            "launch.driver_api_us" => n.driver_api_us,
            "launch.memcpy_api_us" => n.memcpy_api_us,
            "launch.sync_api_us" => n.sync_api_us,
            "launch.queue_capacity" => f64::from(n.queue_capacity),
            "host.python_us" => h.python_us,
            "host.view_us" => h.view_us,
            "host.elementwise_us" => h.elementwise_us,
            "host.reduction_us" => h.reduction_us,
            "host.copy_us" => h.copy_us,
            "host.gemm_us" => h.gemm_us,
            "host.attention_us" => h.attention_us,
            "host.embedding_us" => h.embedding_us,
            "host.foreach_us" => h.foreach_us,
            "host.autograd_us" => h.autograd_us,
            "host.transfer_us" => h.transfer_us,
            _ => return None,
        })
    }

    /// The platform as a platform file: every field, then the `[sources]`
    /// table. [`Platform::parse`] reads it back to an equal spec.
    pub fn to_toml(&self) -> String {
        let (g, e, l, n, h) = (&self.gpu, &self.gpu.efficiency, &self.link, &self.launch, &self.host);
        let mut t = String::new();
        let q = toml_string;
        let _ = writeln!(t, "name = {}\ndescription = {}\n", q(&self.name), q(&self.description));
        let _ = writeln!(t, "[gpu]\nname = {}", q(&g.name));
        let _ = writeln!(t, "compute_capability = [{}, {}]", g.compute_capability[0], g.compute_capability[1]);
        let _ = writeln!(t, "sm_count = {}", g.sm_count);
        for (k, v) in [
            ("memory_gib", g.memory_gib),
            ("peak_bf16_tflops", g.peak_bf16_tflops),
            ("peak_fp16_tflops", g.peak_fp16_tflops),
            ("hbm_bandwidth_gbps", g.hbm_bandwidth_gbps),
            ("min_kernel_us", g.min_kernel_us),
        ] {
            let _ = writeln!(t, "{k} = {}", toml_float(v));
        }
        let _ =
            writeln!(t, "gemm_kernel_bf16 = {}\ngemm_kernel_fp16 = {}", q(&g.gemm_kernel_bf16), q(&g.gemm_kernel_fp16));
        let _ = writeln!(t, "\n[gpu.efficiency]");
        for (k, v) in [
            ("gemm_max", e.gemm_max),
            ("gemm_half_gflop", e.gemm_half_gflop),
            ("attention_max", e.attention_max),
            ("attention_half_gflop", e.attention_half_gflop),
            ("memory_max", e.memory_max),
            ("memory_half_mb", e.memory_half_mb),
        ] {
            let _ = writeln!(t, "{k} = {}", toml_float(v));
        }
        let _ = writeln!(t, "\n[link]\nkind = {}", q(&l.kind));
        let _ =
            writeln!(t, "bandwidth_gbps = {}\nlatency_us = {}", toml_float(l.bandwidth_gbps), toml_float(l.latency_us));
        let _ = writeln!(t, "\n[launch]");
        for (k, v) in [
            ("latency_us", n.latency_us),
            ("runtime_api_us", n.runtime_api_us),
            ("driver_api_us", n.driver_api_us),
            ("memcpy_api_us", n.memcpy_api_us),
            ("sync_api_us", n.sync_api_us),
        ] {
            let _ = writeln!(t, "{k} = {}", toml_float(v));
        }
        let _ = writeln!(t, "queue_capacity = {}", n.queue_capacity);
        let _ = writeln!(t, "\n[host]\ncpu = {}", q(&h.cpu));
        for field in NUMERIC_FIELDS.iter().filter(|f| f.starts_with("host.")) {
            let v = self.number(field).unwrap_or(0.0);
            let _ = writeln!(t, "{} = {}", &field["host.".len()..], toml_float(v));
        }
        if !self.sources.is_empty() {
            let _ = writeln!(t, "\n[sources]");
            for (k, v) in &self.sources {
                let _ = writeln!(t, "{} = {}", q(k), q(v));
            }
        }
        t
    }
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML float that reads back to the same value (Rust's shortest round-trip form).
fn toml_float(v: f64) -> String {
    let s = format!("{v:?}");
    if s.contains(['.', 'e', 'i', 'n']) { s } else { format!("{s}.0") }
}

/// Upper bounds of the platform parameters: each is about 100 times the
/// largest value of any GPU, link or host CPU today, so that every real or
/// imagined platform fits while values that would overflow the simulator's
/// nanosecond arithmetic (or make no physical sense) are refused.
mod limits {
    /// GiB of device memory (the largest GPUs have under 300).
    pub const MEMORY_GIB: f64 = 65_536.0;
    /// Dense TFLOP/s (about 2,500 for the largest GPUs in bf16).
    pub const TFLOPS: f64 = 1e6;
    /// GB/s of memory or link bandwidth (HBM: under 10,000; links: under 1,000).
    pub const BANDWIDTH_GBPS: f64 = 1e6;
    /// Microseconds of any one fixed cost (launch, API call, dispatch, copy
    /// latency, shortest kernel): real ones are 1 to 100; a second is a bound
    /// no hardware comes near.
    pub const COST_US: f64 = 1e6;
    /// GFLOP or MB of an efficiency ramp's half point.
    pub const RAMP: f64 = 1e9;
    /// Streaming multiprocessors (about 150 today).
    pub const SM_COUNT: u32 = 100_000;
    /// Pending launches per stream (CUDA's queue holds about a thousand).
    pub const QUEUE_CAPACITY: u32 = 1 << 20;
    /// Floors of the rates that divide work (TFLOP/s, GB/s) and of the
    /// efficiency fractions: far below any real device, so that a tiny
    /// value (1e-300) cannot stretch one kernel past the simulator's horizon.
    pub const MIN_TFLOPS: f64 = 0.01;
    pub const MIN_BANDWIDTH_GBPS: f64 = 0.01;
    pub const MIN_FRACTION: f64 = 0.01;
}

/// Checks every number against its physical range; the error names the
/// field, the range and why.
fn validate(s: &PlatformSpec) -> Result<(), (&'static str, String)> {
    fn positive(field: &'static str, v: f64, max: f64, unit: &str) -> Result<(), (&'static str, String)> {
        if v.is_finite() && v > 0.0 && v <= max {
            Ok(())
        } else {
            Err((
                field,
                format!("must be a positive number of {unit} up to {max} (about 100x any hardware today), got {v}"),
            ))
        }
    }
    fn non_negative(field: &'static str, v: f64, max: f64, unit: &str) -> Result<(), (&'static str, String)> {
        if v.is_finite() && (0.0..=max).contains(&v) {
            Ok(())
        } else {
            Err((field, format!("must be between 0 and {max} {unit} (about 100x any hardware today), got {v}")))
        }
    }
    fn fraction(field: &'static str, v: f64) -> Result<(), (&'static str, String)> {
        if v.is_finite() && (MIN_FRACTION..=1.0).contains(&v) {
            Ok(())
        } else {
            Err((field, format!("must be a fraction of peak between {MIN_FRACTION} and 1, got {v}")))
        }
    }
    fn rate(field: &'static str, v: f64, min: f64, max: f64, unit: &str) -> Result<(), (&'static str, String)> {
        if v.is_finite() && (min..=max).contains(&v) {
            Ok(())
        } else {
            Err((
                field,
                format!(
                    "must be a positive number of {unit} between {min} (far below any hardware) and {max} \
                     (about 100x any hardware today), got {v}"
                ),
            ))
        }
    }
    fn text(field: &'static str, v: &str) -> Result<(), (&'static str, String)> {
        if v.trim().is_empty() { Err((field, "must not be empty".to_string())) } else { Ok(()) }
    }
    use limits::*;
    text("name", &s.name)?;
    if !s.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.') {
        return Err(("name", format!("may hold only letters, digits, '-', '_' and '.', got '{}'", s.name)));
    }
    let g = &s.gpu;
    text("gpu.name", &g.name)?;
    if !(1..=20).contains(&g.compute_capability[0]) {
        return Err((
            "gpu.compute_capability",
            format!("major version {} is not a CUDA compute capability", g.compute_capability[0]),
        ));
    }
    if !(1..=SM_COUNT).contains(&g.sm_count) {
        return Err(("gpu.sm_count", format!("must be between 1 and {SM_COUNT}, got {}", g.sm_count)));
    }
    positive("gpu.memory_gib", g.memory_gib, MEMORY_GIB, "GiB")?;
    rate("gpu.peak_bf16_tflops", g.peak_bf16_tflops, MIN_TFLOPS, TFLOPS, "TFLOP/s")?;
    rate("gpu.peak_fp16_tflops", g.peak_fp16_tflops, MIN_TFLOPS, TFLOPS, "TFLOP/s")?;
    rate("gpu.hbm_bandwidth_gbps", g.hbm_bandwidth_gbps, MIN_BANDWIDTH_GBPS, BANDWIDTH_GBPS, "GB/s")?;
    non_negative("gpu.min_kernel_us", g.min_kernel_us, COST_US, "microseconds")?;
    text("gpu.gemm_kernel_bf16", &g.gemm_kernel_bf16)?;
    text("gpu.gemm_kernel_fp16", &g.gemm_kernel_fp16)?;
    let e = &g.efficiency;
    fraction("gpu.efficiency.gemm_max", e.gemm_max)?;
    non_negative("gpu.efficiency.gemm_half_gflop", e.gemm_half_gflop, RAMP, "GFLOP")?;
    fraction("gpu.efficiency.attention_max", e.attention_max)?;
    non_negative("gpu.efficiency.attention_half_gflop", e.attention_half_gflop, RAMP, "GFLOP")?;
    fraction("gpu.efficiency.memory_max", e.memory_max)?;
    non_negative("gpu.efficiency.memory_half_mb", e.memory_half_mb, RAMP, "MB")?;
    text("link.kind", &s.link.kind)?;
    rate("link.bandwidth_gbps", s.link.bandwidth_gbps, MIN_BANDWIDTH_GBPS, BANDWIDTH_GBPS, "GB/s")?;
    non_negative("link.latency_us", s.link.latency_us, COST_US, "microseconds")?;
    let l = &s.launch;
    positive("launch.latency_us", l.latency_us, COST_US, "microseconds")?;
    non_negative("launch.runtime_api_us", l.runtime_api_us, COST_US, "microseconds")?;
    non_negative("launch.driver_api_us", l.driver_api_us, COST_US, "microseconds")?;
    non_negative("launch.memcpy_api_us", l.memcpy_api_us, COST_US, "microseconds")?;
    non_negative("launch.sync_api_us", l.sync_api_us, COST_US, "microseconds")?;
    if !(1..=QUEUE_CAPACITY).contains(&l.queue_capacity) {
        return Err((
            "launch.queue_capacity",
            format!("must be between 1 and {QUEUE_CAPACITY} pending launches, got {}", l.queue_capacity),
        ));
    }
    let h = &s.host;
    text("host.cpu", &h.cpu)?;
    for (field, v) in [
        ("host.python_us", h.python_us),
        ("host.view_us", h.view_us),
        ("host.elementwise_us", h.elementwise_us),
        ("host.reduction_us", h.reduction_us),
        ("host.copy_us", h.copy_us),
        ("host.gemm_us", h.gemm_us),
        ("host.attention_us", h.attention_us),
        ("host.embedding_us", h.embedding_us),
        ("host.foreach_us", h.foreach_us),
        ("host.autograd_us", h.autograd_us),
        ("host.transfer_us", h.transfer_us),
    ] {
        non_negative(field, v, COST_US, "microseconds")?;
    }
    for (field, source) in &s.sources {
        let Some(known) = NUMERIC_FIELDS.iter().find(|f| **f == field.as_str()) else {
            return Err(("sources", format!("names `{field}`, which is not a number of a platform file")));
        };
        let kind = source.split(':').next().unwrap_or("").trim();
        if !SOURCE_KINDS.contains(&kind) || source.split_once(':').is_none_or(|(_, t)| t.trim().is_empty()) {
            return Err((
                known,
                format!(
                    "has the source \"{source}\"; a source is one of {} followed by ': ' and what it rests on",
                    SOURCE_KINDS.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match Platform::parse(text, "test.toml") {
            Ok(_) => String::from("accepted"),
            Err(e) => e.to_string(),
        }
    }

    fn h100_text() -> &'static str {
        BUILTIN[1].1
    }

    #[test]
    fn builtins_parse_and_unknown_names_list_choices() {
        for (name, _) in BUILTIN {
            let p = Platform::builtin(&format!("sim:{name}")).map_err(|e| e.to_string());
            assert_eq!(p.map(|p| p.id()), Ok(format!("sim:{name}")));
        }
        let e = Platform::builtin("sim:b200").err().map(|e| e.to_string()).unwrap_or_default();
        for (name, _) in BUILTIN {
            assert!(e.contains(&format!("sim:{name}")), "{e}");
        }
    }

    /// Every number of a built-in platform says where it comes from.
    #[test]
    fn every_builtin_number_has_a_source() {
        for (name, _) in BUILTIN {
            let p = Platform::builtin(name).map_err(|e| e.to_string());
            let Ok(p) = p else { panic!("{p:?}") };
            for field in NUMERIC_FIELDS {
                assert!(p.spec.number(field).is_some(), "{field}");
                let source = p.spec.sources.get(field).map_or("", String::as_str);
                assert!(
                    SOURCE_KINDS.iter().any(|k| source.starts_with(&format!("{k}: "))),
                    "{name}: {field}: {source:?}"
                );
            }
        }
    }

    #[test]
    fn a_source_must_name_a_field_and_a_kind() {
        let e = err(&format!("{}\n\"gpu.warp_speed\" = \"measured: x\"\n", h100_text()));
        assert!(e.contains("`sources`") && e.contains("gpu.warp_speed"), "{e}");
        let text = h100_text().replace("\"gpu.sm_count\" = \"measured:", "\"gpu.sm_count\" = \"guessed:");
        assert_ne!(text, h100_text());
        let e = err(&text);
        assert!(e.contains("`gpu.sm_count`") && e.contains("measured, derived, assumed, fitted"), "{e}");
    }

    #[test]
    fn negative_bandwidth_names_the_field() {
        let text = h100_text().replace("hbm_bandwidth_gbps = 2000", "hbm_bandwidth_gbps = -2000");
        assert_ne!(text, h100_text(), "the test must change the file");
        let e = err(&text);
        assert!(e.contains("`gpu.hbm_bandwidth_gbps`") && e.contains("positive"), "{e}");
    }

    #[test]
    fn zero_flops_names_the_field() {
        let text = h100_text().replace("peak_bf16_tflops = 756", "peak_bf16_tflops = 0");
        assert_ne!(text, h100_text());
        let e = err(&text);
        assert!(e.contains("`gpu.peak_bf16_tflops`"), "{e}");
    }

    #[test]
    fn efficiency_above_one_names_the_field() {
        let text = h100_text().replace("memory_max = 0.85", "memory_max = 1.5");
        assert_ne!(text, h100_text());
        assert!(err(&text).contains("`gpu.efficiency.memory_max`"));
    }

    #[test]
    fn missing_and_unknown_fields_are_named() {
        let missing: String =
            h100_text().lines().filter(|l| !l.starts_with("latency_us = 2.37")).collect::<Vec<_>>().join("\n");
        assert_ne!(missing.lines().count(), h100_text().lines().count());
        let e = err(&missing);
        assert!(e.contains("latency_us"), "{e}");
        let typo = h100_text().replace("elementwise_us", "elementwse_us");
        let e = err(&typo);
        assert!(e.contains("elementwse_us"), "{e}");
        let e = err(&h100_text().replace("queue_capacity = 1024", "queue_capacity = 0"));
        assert!(e.contains("`launch.queue_capacity`"), "{e}");
    }

    /// Huge but finite values used to overflow the simulator into *faster* steps.
    #[test]
    fn values_beyond_physical_ranges_name_the_field_and_range() {
        for (from, to, field) in [
            ("hbm_bandwidth_gbps = 2000", "hbm_bandwidth_gbps = 1e300", "`gpu.hbm_bandwidth_gbps`"),
            ("peak_bf16_tflops = 756", "peak_bf16_tflops = 1e30", "`gpu.peak_bf16_tflops`"),
            ("elementwise_us", "elementwise_us = 1e18 #", "`host.elementwise_us`"),
            ("queue_capacity = 1024", "queue_capacity = 4000000000", "`launch.queue_capacity`"),
            ("latency_us = 2.37", "latency_us = 1e20", "`launch.latency_us`"),
        ] {
            let text = h100_text().replacen(from, to, 1);
            assert_ne!(text, h100_text(), "{from}");
            let e = err(&text);
            assert!(e.contains(field) && (e.contains("up to") || e.contains("between")), "{from}: {e}");
        }
    }
}
