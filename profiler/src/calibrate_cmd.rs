//! `boundscope calibrate TRACE_OR_RUN... --out FILE`: fit a simulated
//! platform's host and launch parameters to recorded traces of one machine
//! (`workloads::calibrate`), print the fit with its residuals and the number
//! of events behind each parameter, and write a platform file: the base
//! platform with the fitted fields replaced, their sources marked
//! `measured: <traces>`.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use boundscope_trace::read_trace;
use boundscope_workloads::Platform;
use boundscope_workloads::calibrate::{calibrate, render};
use clap::Args;

use crate::Failure;

#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Trace files (.json or .json.gz) or `boundscope profile` run directories, all from one machine.
    #[arg(required = true, value_name = "TRACE_OR_RUN")]
    pub traces: Vec<PathBuf>,
    /// Platform the fit starts from: `sim:NAME` (built in) or a platform file. Its GPU, link and
    /// unfitted fields are kept.
    #[arg(long, value_name = "PLATFORM", default_value = "sim:h100-pcie")]
    pub base: String,
    /// Write the calibrated platform file here (usable with `sweep --platform-file`).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Name of the written platform (`sim:NAME`); default: the base's name with `-calibrated`.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

pub fn run(args: &CalibrateArgs) -> Result<(), Failure> {
    let base = if args.base.starts_with(boundscope_workloads::platform::SIM_PREFIX) {
        Platform::builtin(&args.base)
    } else {
        Platform::load(Path::new(&args.base))
    }
    .map_err(Failure::input)?;
    let mut traces = Vec::with_capacity(args.traces.len());
    for path in &args.traces {
        traces.push(read_trace(path).map_err(|e| Failure::input(anyhow!("{}: {e}", path.display())))?);
    }
    let refs: Vec<_> = traces.iter().collect();
    let c = calibrate(&refs);
    if c.fits.is_empty() || c.launch_calls.is_empty() {
        return Err(Failure::input(anyhow!(
            "no kernel launch calls in {} trace(s): nothing to fit (calibrate needs the cpu_op events and CUDA \
             launch calls of a GPU run)",
            traces.len()
        )));
    }
    let names: Vec<String> = args
        .traces
        .iter()
        .map(|p| p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned()))
        .collect();
    let source = format!("trace {}", names.join(", "));
    println!("calibration of {} on {} trace(s): {}", base.id(), traces.len(), names.join(", "));
    println!("{}", render(&c, &base.spec, &base.id()));
    if let Some(out) = &args.out {
        let mut spec = c.apply(&base.spec, &source);
        spec.name = args.name.clone().unwrap_or_else(|| format!("{}-calibrated", base.spec.name));
        spec.description = format!("{} (host and launch fitted to {})", base.spec.description, names.join(", "));
        let text = format!(
            "# {} -- written by `boundscope calibrate` from {}.\n# Fitted fields are marked `measured:` in [sources]; \
             the rest are those of {}.\n\n{}",
            spec.name,
            names.join(", "),
            base.id(),
            spec.to_toml()
        );
        // What is written must read back.
        Platform::parse(&text, &out.display().to_string()).map_err(Failure::internal)?;
        std::fs::write(out, text).map_err(|e| Failure::input(anyhow!("cannot write {}: {e}", out.display())))?;
        println!("wrote {} (sim:{})", out.display(), spec.name);
    }
    Ok(())
}
