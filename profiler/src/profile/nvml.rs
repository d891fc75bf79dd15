//! NVML sampling of every GPU: utilization (SM and memory), SM and memory
//! clocks, power, memory used, PCIe throughput. Devices are numbered by NVML
//! index, which is the CUDA device id only when the program sees all GPUs in
//! PCI order (no CUDA_VISIBLE_DEVICES, CUDA_DEVICE_ORDER=PCI_BUS_ID).
//! A reading that fails (an unsupported field on some boards) is skipped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::{Clock, PcieUtilCounter};

use super::clock::host_now_ns;
use super::ingest::Msg;

/// Loads NVML; the error names what was missing (`libnvidia-ml.so.1: cannot open ...`).
pub fn init() -> Result<Nvml, String> {
    Nvml::init().map_err(|e| e.to_string())
}

/// The running NVML sampler.
#[derive(Debug)]
pub struct NvmlSampler {
    thread: JoinHandle<()>,
    stop: Arc<AtomicBool>,
}

impl NvmlSampler {
    pub fn stop(self) {
        self.stop.store(true, Ordering::Release);
        self.thread.join().ok();
    }
}

/// Sends device descriptions, then samples every `interval` until stopped.
pub fn start(nvml: Nvml, interval: Duration, tx: Sender<Msg>) -> std::io::Result<NvmlSampler> {
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let thread = std::thread::Builder::new().name("boundscope-nvml".into()).spawn(move || {
        let n = nvml.device_count().unwrap_or(0);
        let devices: Vec<_> = (0..n).filter_map(|i| nvml.device_by_index(i).ok().map(|d| (i, d))).collect();
        for (i, d) in &devices {
            let cc = d.cuda_compute_capability().map(|c| (c.major as u16, c.minor as u16)).unwrap_or((0, 0));
            tx.send(Msg::Device {
                id: *i,
                name: d.name().unwrap_or_default(),
                total_mem_bytes: d.memory_info().map(|m| m.total).unwrap_or(0),
                cc,
            })
            .ok();
        }
        loop {
            let tick = Instant::now();
            for (i, d) in &devices {
                let dev = Some(*i);
                let t = host_now_ns();
                let send = |name: &'static str, unit: &'static str, value: Option<f64>| {
                    if let Some(value) = value {
                        tx.send(Msg::Sample { name, unit, device: dev, time_ns: t, value }).ok();
                    }
                };
                let util = d.utilization_rates().ok();
                send("gpu.util", "%", util.as_ref().map(|u| f64::from(u.gpu)));
                send("gpu.mem_util", "%", util.as_ref().map(|u| f64::from(u.memory)));
                send("gpu.sm_clock", "MHz", d.clock_info(Clock::SM).ok().map(f64::from));
                send("gpu.mem_clock", "MHz", d.clock_info(Clock::Memory).ok().map(f64::from));
                send("gpu.power", "W", d.power_usage().ok().map(|mw| f64::from(mw) / 1000.0));
                send("gpu.mem_used", "bytes", d.memory_info().ok().map(|m| m.used as f64));
                // NVML reports KB/s over a 20 ms window (each call waits for it).
                send(
                    "gpu.pcie_tx",
                    "bytes/s",
                    d.pcie_throughput(PcieUtilCounter::Send).ok().map(|k| f64::from(k) * 1024.0),
                );
                send(
                    "gpu.pcie_rx",
                    "bytes/s",
                    d.pcie_throughput(PcieUtilCounter::Receive).ok().map(|k| f64::from(k) * 1024.0),
                );
            }
            let rest = interval.saturating_sub(tick.elapsed());
            let end = Instant::now() + rest;
            while Instant::now() < end && !stop2.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(5));
            }
            if stop2.load(Ordering::Acquire) {
                break;
            }
        }
    })?;
    Ok(NvmlSampler { thread, stop })
}
