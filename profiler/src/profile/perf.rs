//! Linux perf counters of the profiled program: task-clock, context
//! switches, CPU migrations and page faults, plus cycles and instructions
//! where the machine has a hardware PMU (VMs often have none: then they are
//! reported unavailable, not an error).
//!
//! Counters are opened on the launched process before it is released, with
//! `inherit` (every thread and child it creates is counted; reads include
//! them) and `enable_on_exec` (counting starts when the held launcher execs
//! the program). Context switches and migrations happen in the kernel, so
//! they need `exclude_kernel(false)`, which an unprivileged user is refused
//! under `perf_event_paranoid >= 2` (EACCES): those are then unavailable.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use perf_event::events::{Event, Hardware, Software};
use perf_event::{Builder, Counter};

use super::clock::host_now_ns;
use super::ingest::Msg;

/// One counter to open: series name, unit of its rate, and how to scale a delta.
struct Spec {
    name: &'static str,
    unit: &'static str,
    /// Needs kernel-side counting to mean anything.
    kernel: bool,
    /// Rate per second (false: task-clock, reported as CPUs busy).
    per_second: bool,
}

/// A counter that could not be opened, and why.
#[derive(Debug, Clone)]
pub struct Unavailable {
    pub name: &'static str,
    pub why: String,
}

/// Totals of one counter over the run.
#[derive(Debug, Clone)]
pub struct Total {
    pub name: &'static str,
    pub value: u64,
}

/// Opened counters, not yet sampling.
pub struct PerfCounters {
    counters: Vec<(Spec, Counter)>,
    pub unavailable: Vec<Unavailable>,
}

impl std::fmt::Debug for PerfCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.counters.iter().map(|(s, _)| s.name).collect();
        f.debug_struct("PerfCounters").field("counters", &names).field("unavailable", &self.unavailable).finish()
    }
}

fn open(event: impl Event + Clone, pid: i32, spec: &Spec, on_exec: bool) -> Result<Counter, String> {
    let build = |kernel: bool| {
        let mut b = Builder::new(event.clone());
        b.observe_pid(pid).any_cpu().inherit(true).exclude_kernel(!kernel).exclude_hv(true);
        if on_exec {
            b.enable_on_exec(true);
        }
        b.build()
    };
    match build(true) {
        Ok(c) => Ok(c),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && !spec.kernel => {
            build(false).map_err(|e| e.to_string())
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(format!(
            "{e}: counting it needs kernel-side events (run as root or lower /proc/sys/kernel/perf_event_paranoid to 1)"
        )),
        Err(e) if e.raw_os_error() == Some(2) => Err(format!("{e}: no hardware PMU on this machine (common in VMs)")),
        Err(e) => Err(e.to_string()),
    }
}

impl PerfCounters {
    /// Opens the counters on process `pid`. With `on_exec`, they start counting
    /// when `pid` execs (the held launcher turning into the program); else at once.
    pub fn open(pid: i32, on_exec: bool) -> PerfCounters {
        let mut counters = Vec::new();
        let mut unavailable = Vec::new();
        let sw = [
            (Software::TASK_CLOCK, Spec { name: "cpu.task_clock", unit: "cpus", kernel: false, per_second: false }),
            (
                Software::CONTEXT_SWITCHES,
                Spec { name: "cpu.context_switches", unit: "/s", kernel: true, per_second: true },
            ),
            (Software::CPU_MIGRATIONS, Spec { name: "cpu.migrations", unit: "/s", kernel: true, per_second: true }),
            (Software::PAGE_FAULTS, Spec { name: "cpu.page_faults", unit: "/s", kernel: false, per_second: true }),
        ];
        for (ev, spec) in sw {
            match open(ev, pid, &spec, on_exec) {
                Ok(c) => counters.push((spec, c)),
                Err(why) => unavailable.push(Unavailable { name: spec.name, why }),
            }
        }
        let hw = [
            (Hardware::CPU_CYCLES, Spec { name: "cpu.cycles", unit: "/s", kernel: false, per_second: true }),
            (Hardware::INSTRUCTIONS, Spec { name: "cpu.instructions", unit: "/s", kernel: false, per_second: true }),
        ];
        for (ev, spec) in hw {
            match open(ev, pid, &spec, on_exec) {
                Ok(c) => counters.push((spec, c)),
                Err(why) => unavailable.push(Unavailable { name: spec.name, why }),
            }
        }
        if !on_exec {
            for (_, c) in &mut counters {
                c.enable().ok();
            }
        }
        PerfCounters { counters, unavailable }
    }

    /// Names of the counters that opened.
    pub fn available(&self) -> Vec<&'static str> {
        self.counters.iter().map(|(s, _)| s.name).collect()
    }

    /// Samples every `interval` until `stop`; returns the totals.
    pub fn start(self, interval: Duration, tx: Sender<Msg>, stop: Arc<AtomicBool>) -> std::io::Result<PerfSampler> {
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new().name("boundscope-perf".into()).spawn(move || {
            let mut counters = self.counters;
            let mut last: Vec<u64> = counters.iter_mut().map(|(_, c)| c.read().unwrap_or(0)).collect();
            let mut last_t = Instant::now();
            loop {
                let stopping = sleep_until_stop(interval, &stop2);
                let now = Instant::now();
                let wall_ns = now.duration_since(last_t).as_nanos().max(1) as f64;
                let time_ns = host_now_ns();
                for (i, (spec, c)) in counters.iter_mut().enumerate() {
                    let Ok(v) = c.read() else { continue };
                    let delta = v.saturating_sub(last[i]) as f64;
                    last[i] = v;
                    let value = if spec.per_second { delta * 1e9 / wall_ns } else { delta / wall_ns };
                    let msg = Msg::Sample { name: spec.name, unit: spec.unit, device: None, time_ns, value };
                    if tx.send(msg).is_err() {
                        break;
                    }
                }
                last_t = now;
                if stopping {
                    break;
                }
            }
            counters.iter().zip(last).map(|((s, _), v)| Total { name: s.name, value: v }).collect()
        })?;
        Ok(PerfSampler { thread, stop })
    }
}

/// Sleeps `d` in small steps; true when `stop` was set.
fn sleep_until_stop(d: Duration, stop: &AtomicBool) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if stop.load(Ordering::Acquire) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5).min(d));
    }
    stop.load(Ordering::Acquire)
}

/// The running perf sampler.
#[derive(Debug)]
pub struct PerfSampler {
    thread: JoinHandle<Vec<Total>>,
    stop: Arc<AtomicBool>,
}

impl PerfSampler {
    /// Stops after one last sample; returns the run's totals.
    pub fn stop(self) -> Vec<Total> {
        self.stop.store(true, Ordering::Release);
        self.thread.join().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::sync::mpsc::channel;

    use super::*;

    /// A real child spinning on a CPU: task-clock must see it busy.
    #[test]
    fn counts_a_busy_child_process() {
        let mut child =
            Command::new("sh").arg("-c").arg("i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done").spawn().expect("sh");
        let counters = PerfCounters::open(child.id() as i32, false);
        if counters.available().is_empty() {
            // perf_event_open refused entirely (a locked-down container): say so, do not pass silently.
            println!("perf unavailable here: {:?}", counters.unavailable);
            assert!(!counters.unavailable.is_empty());
            child.wait().ok();
            return;
        }
        assert!(counters.available().contains(&"cpu.task_clock"), "{counters:?}");
        let (tx, rx) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = counters.start(Duration::from_millis(20), tx, stop).expect("start");
        child.wait().expect("wait");
        let totals = sampler.stop();
        let task_clock = totals.iter().find(|t| t.name == "cpu.task_clock").map_or(0, |t| t.value);
        assert!(task_clock > 10_000_000, "the child ran > 10 ms of CPU, counted {task_clock} ns");
        let samples: Vec<(&str, f64)> = rx
            .try_iter()
            .filter_map(|m| match m {
                Msg::Sample { name, value, .. } => Some((name, value)),
                _ => None,
            })
            .collect();
        let busy: Vec<f64> = samples.iter().filter(|(n, _)| *n == "cpu.task_clock").map(|(_, v)| *v).collect();
        assert!(busy.len() >= 2, "{samples:?}");
        assert!(busy.iter().any(|v| *v > 0.3), "the spinning child kept a CPU busy: {busy:?}");
        assert!(busy.iter().all(|v| *v < 2.5), "one shell uses at most one CPU here: {busy:?}");
    }

    #[test]
    fn a_missing_process_is_reported_not_fatal() {
        let c = PerfCounters::open(i32::MAX - 1, false);
        assert!(c.available().is_empty());
        assert!(c.unavailable.iter().any(|u| u.name == "cpu.task_clock"));
    }
}
