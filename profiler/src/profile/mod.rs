//! `boundscope profile -- CMD`: run a program with CUPTI injected (when a GPU
//! driver is present) and perf/NVML samplers attached, stream its records
//! into a run directory as they arrive, then analyze the run like
//! `boundscope analyze DIR` would and write the summary, CSV tables and
//! Chrome trace next to the records.
//!
//! Order of events: private socket directory; GPU plan (driver, injected
//! library, the libcupti the collector is to load, NVML); the program
//! launched held; perf counters attached to its pid; samplers started; run
//! information written; program released; wait (Ctrl-C: the program gets it too; a second one stops
//! waiting; `--duration`: the program is interrupted); connections drained;
//! end record; analysis and outputs. Layout and variables: docs/profile.md.

pub mod clock;
pub mod ingest;
pub mod launch;
pub mod nvml;
pub mod perf;
mod report;

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use boundscope_analysis::{AdviceSpec, AnalysisSpec, WindowSpec, analyze};
use boundscope_reports::text::{SummaryOptions, summary};
use boundscope_reports::{chrome, csv};
use boundscope_trace::run::{RUN_RECORDS_FILE, Window, read_run};
use boundscope_wire::{NoticeRec, RunInfoRec, encode_stream_header};
use clap::Args;
use rustix::process::Signal;

use crate::Failure;
use clock::host_now_ns;
use ingest::{Live, Msg};

/// `boundscope profile` arguments.
#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// Run directory to write: records.bsw (as records arrive), summary.txt,
    /// launches.csv, kernels.csv, steps.csv, trace.json.gz.
    #[arg(long, value_name = "DIR", default_value = "boundscope-run")]
    pub out: PathBuf,
    /// Leave out the first SECONDS after the program starts (warm-up).
    #[arg(long, value_name = "SECONDS")]
    pub delay: Option<f64>,
    /// Record for SECONDS (after --delay), then interrupt the program (SIGINT, then SIGTERM after 5 s).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Skip the first N `boundscope:step` NVTX ranges (warm-up steps).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub skip_steps: u32,
    /// Analyze N `boundscope:step` ranges after the skipped ones (default: all).
    #[arg(long, value_name = "N")]
    pub steps: Option<u32>,
    /// NVML sampling interval.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    pub nvml_interval_ms: u64,
    /// perf counter sampling interval.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    pub perf_interval_ms: u64,
    /// Do not inject CUPTI nor sample NVML, even when a GPU is present (perf only).
    #[arg(long)]
    pub no_gpu: bool,
    /// Rows in the top-kernels tables.
    #[arg(long, value_name = "K", default_value_t = 10)]
    pub top: usize,
    /// Null-kernel launch latency of the platform in us (the CPU/GPU-bound queue threshold is twice this).
    #[arg(long, value_name = "US", default_value_t = 2.5)]
    pub launch_floor_us: f64,
    /// The program and its arguments, after `--`.
    #[arg(required = true, last = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// Hidden `__gate` arguments (the held launcher; see `launch.rs`).
#[derive(Debug, Args)]
pub struct GateArgs {
    pub release: PathBuf,
    #[arg(last = true)]
    pub command: Vec<OsString>,
}

pub fn gate(args: &GateArgs) -> std::process::ExitCode {
    std::process::ExitCode::from(launch::gate(&args.release, &args.command))
}

/// What the GPU side of the run will be.
struct GpuPlan {
    /// `CUDA_INJECTION64_PATH`.
    inject: Option<PathBuf>,
    /// Why GPU activity cannot be recorded, when it cannot.
    why_not: Option<String>,
    /// The libcupti the collector is to load, and why that one.
    cupti: Option<(PathBuf, String)>,
    nvml: Option<nvml_wrapper::Nvml>,
    nvml_error: Option<String>,
}

fn plan_gpu(args: &ProfileArgs) -> GpuPlan {
    let mut p = GpuPlan { inject: None, why_not: None, cupti: None, nvml: None, nvml_error: None };
    if args.no_gpu {
        p.why_not = Some("--no-gpu was given".into());
        return p;
    }
    if let Err(e) = cupti_sys::probe_driver() {
        p.why_not = Some(format!("no NVIDIA driver found (libcuda.so.1 could not be loaded: {e})"));
        p.nvml_error = nvml::init().err();
        return p;
    }
    match nvml::init() {
        Ok(n) => p.nvml = Some(n),
        Err(e) => p.nvml_error = Some(e),
    }
    match inject_library() {
        Ok(path) => p.inject = Some(path),
        Err(e) => p.why_not = Some(e),
    }
    // One search order for the profiler and the collector (cupti-sys): the
    // file chosen here is passed on, so both mean the same library.
    let mut spec = cupti_sys::SearchSpec::from_env();
    spec.chosen = None;
    spec.site_packages = torch_site_packages();
    p.cupti = spec.first_file();
    p
}

/// `BOUNDSCOPE_INJECT_PATH`, else `libboundscope_inject.so` next to this binary.
fn inject_library() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("BOUNDSCOPE_INJECT_PATH").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() { Ok(p) } else { Err(format!("BOUNDSCOPE_INJECT_PATH={} does not exist", p.display())) };
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate the boundscope binary: {e}"))?;
    let p = exe.with_file_name("libboundscope_inject.so");
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "{} is missing (build it with `cargo build -p boundscope-inject` next to boundscope, or set BOUNDSCOPE_INJECT_PATH)",
            p.display()
        ))
    }
}

/// `site-packages` of the PyTorch that `python3` would import, without importing it.
fn torch_site_packages() -> Vec<PathBuf> {
    let out = Command::new("python3")
        .args(["-c", "import importlib.util as u, os; s = u.find_spec('torch'); print(os.path.dirname(os.path.dirname(s.origin)) if s and s.origin else '')"])
        .stderr(std::process::Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let s = String::from_utf8_lossy(&o.stdout).trim().to_string();
            if s.is_empty() { Vec::new() } else { vec![PathBuf::from(s)] }
        }
        _ => Vec::new(),
    }
}

/// Longest `--delay` or `--duration`: 30 days, longer than any profiling
/// session, and far inside what clock arithmetic holds.
const MAX_SECONDS: f64 = 30.0 * 24.0 * 3600.0;

fn secs(v: Option<f64>, what: &str) -> Result<Option<Duration>, Failure> {
    match v {
        None => Ok(None),
        Some(s) if s.is_finite() && (0.0..=MAX_SECONDS).contains(&s) => Ok(Some(Duration::from_secs_f64(s))),
        Some(s) if s.is_finite() && s > MAX_SECONDS => Err(Failure::input(anyhow!(
            "{what} must be at most {MAX_SECONDS} seconds (30 days), got {s}; for a program that runs longer, \
             leave it out and stop the program yourself"
        ))),
        Some(_) => Err(Failure::input(anyhow!("{what} must be a non-negative number of seconds"))),
    }
}

/// How a profile session talks to its surroundings.
pub struct SessionOptions {
    /// The program's stdout and stderr go to this file (appended) instead of
    /// the terminal, and its stdin is empty: a UI owns the terminal.
    pub child_log: Option<PathBuf>,
    /// A live analysis fed as records arrive.
    pub tap: Option<ingest::LiveTap>,
    /// Where boundscope's own messages go while the program runs.
    pub notify: Box<dyn Fn(&str) + Send>,
}

impl std::fmt::Debug for SessionOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionOptions").field("child_log", &self.child_log).finish_non_exhaustive()
    }
}

impl SessionOptions {
    /// `boundscope profile`: the program shares the terminal; messages go to stderr.
    pub fn terminal() -> SessionOptions {
        SessionOptions { child_log: None, tap: None, notify: Box::new(|m| eprintln!("boundscope: {m}")) }
    }
}

/// How waiting for the program ended.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// The program's status; `None` when waiting was abandoned.
    pub status: Option<ExitStatus>,
    /// boundscope stopped waiting (a second interrupt).
    pub abandoned: bool,
}

/// What a finished session produced.
#[derive(Debug)]
pub struct Finished {
    /// The summary (analysis and the profile section), as summary.txt holds it.
    pub text: String,
    /// "Run written to DIR: files".
    pub footer: String,
    /// The analysis' warnings, one line each.
    pub warnings: Vec<String>,
    pub status: Option<ExitStatus>,
    /// The analysis of the run (what summary.txt says, as data).
    pub report: boundscope_analysis::TraceReport,
}

/// A running `boundscope profile`, split into [`Session::start`],
/// [`Session::poll`] (one step of waiting, for a UI loop) and
/// [`Session::finish`]; [`run`] drives them for the terminal.
pub struct Session {
    out: PathBuf,
    records: PathBuf,
    command: Vec<OsString>,
    command_line: String,
    delay: Option<Duration>,
    duration: Option<Duration>,
    skip_steps: u32,
    steps: Option<u32>,
    top: usize,
    launch_floor_us: f64,
    gpu_why_not: Option<String>,
    nvml_error: Option<String>,
    dir: launch::PrivateDir,
    tx: std::sync::mpsc::Sender<Msg>,
    ingest: std::thread::JoinHandle<ingest::Ingested>,
    stop_accept: Arc<AtomicBool>,
    acceptor: std::thread::JoinHandle<()>,
    live: Arc<Live>,
    perf: perf::PerfSampler,
    perf_names: Vec<&'static str>,
    perf_unavailable: Vec<perf::Unavailable>,
    nvml: Option<nvml::NvmlSampler>,
    interrupted: Arc<AtomicBool>,
    terminated: Arc<AtomicBool>,
    child: std::process::Child,
    group: launch::ProcessGroup,
    released_at: Instant,
    stop_at: Option<Instant>,
    waiter: Waiter,
    notify: Box<dyn Fn(&str) + Send>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("out", &self.out).field("command", &self.command_line).finish_non_exhaustive()
    }
}

pub fn run(args: &ProfileArgs) -> Result<(), Failure> {
    let mut session = Session::start(args, SessionOptions::terminal())?;
    let outcome = loop {
        if let Some(o) = session.poll() {
            break o;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let done = session.finish(outcome)?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(done.text.as_bytes())
        .and_then(|()| stdout.write_all(done.footer.as_bytes()))
        .context("writing to stdout")
        .map_err(Failure::input)?;
    for w in &done.warnings {
        eprintln!("boundscope: warning: {w}");
    }
    if let Some(s) = done.status
        && !s.success()
    {
        eprintln!("boundscope: the program {s}");
    }
    Ok(())
}

impl Session {
    /// Creates the run directory, starts the ingest and the samplers, and
    /// releases the program.
    pub fn start(args: &ProfileArgs, opts: SessionOptions) -> Result<Session, Failure> {
        let SessionOptions { child_log, tap, notify } = opts;
        let delay = secs(args.delay, "--delay")?;
        let duration = secs(args.duration, "--duration")?;
        if !(args.launch_floor_us.is_finite() && args.launch_floor_us > 0.0) {
            return Err(Failure::input(anyhow!("--launch-floor-us must be a positive number of microseconds")));
        }
        if args.nvml_interval_ms == 0 || args.perf_interval_ms == 0 {
            return Err(Failure::input(anyhow!("sampling intervals must be at least 1 ms")));
        }
        let out = &args.out;
        std::fs::create_dir_all(out)
            .with_context(|| format!("creating the run directory {}", out.display()))
            .map_err(Failure::input)?;
        let records = out.join(RUN_RECORDS_FILE);
        let mut file = File::options()
            .write(true)
            .create_new(true)
            .open(&records)
            .with_context(|| {
                format!(
                    "creating {} (a directory that already holds a run is not overwritten: choose another --out)",
                    records.display()
                )
            })
            .map_err(Failure::input)?;
        let mut head = Vec::new();
        encode_stream_header(&mut head);
        file.write_all(&head).with_context(|| format!("writing {}", records.display())).map_err(Failure::input)?;
        let log = match &child_log {
            Some(p) => Some(
                File::options()
                    .create(true)
                    .append(true)
                    .open(p)
                    .with_context(|| format!("creating the program's log {}", p.display()))
                    .map_err(Failure::input)?,
            ),
            None => None,
        };

        let gpu = plan_gpu(args);
        if let Some(why) = &gpu.why_not {
            notify(&format!("no GPU activity can be recorded: {why}; running the program with perf sampling only"));
        }

        let dir =
            launch::PrivateDir::create().context("creating the private socket directory").map_err(Failure::input)?;
        let socket = dir.socket_path("s").map_err(Failure::input)?;
        let listener = UnixListener::bind(&socket)
            .with_context(|| format!("listening on {}", socket.display()))
            .map_err(Failure::internal)?;

        let live = Arc::new(Live::default());
        // The window is fixed at release time; until then keep everything.
        let (tx, ingest) = ingest::spawn(file, Window::ALL, live.clone(), tap).map_err(Failure::internal)?;
        let stop_accept = Arc::new(AtomicBool::new(false));
        let acceptor = ingest::spawn_acceptor(listener, tx.clone(), live.clone(), stop_accept.clone())
            .map_err(Failure::internal)?;

        // The socket is always offered: any process speaking the wire format may
        // connect (the injected library when CUDA loads it; test doubles).
        let mut env: Vec<(OsString, OsString)> = vec![("BOUNDSCOPE_SOCKET".into(), socket.clone().into())];
        if let Some(lib) = &gpu.inject {
            env.push(("CUDA_INJECTION64_PATH".into(), lib.clone().into()));
            if let Some((file, why)) = &gpu.cupti {
                env.push((cupti_sys::CHOSEN_FILE_ENV.into(), file.clone().into()));
                env.push((cupti_sys::CHOSEN_WHY_ENV.into(), format!("{why}, chosen by boundscope profile").into()));
            }
            if std::env::var_os("NVTX_INJECTION64_PATH").is_none() {
                // NVTX ranges reach CUPTI only through NVTX's injection hook; the
                // collector forwards it to the libcupti it records with, so the
                // ranges never go to a second, idle copy.
                env.push(("NVTX_INJECTION64_PATH".into(), lib.clone().into()));
            }
        }
        for why in [gpu.why_not.as_ref(), gpu.nvml_error.as_ref()].into_iter().flatten() {
            tx.send(Msg::Notice { level: NoticeRec::WARNING, code: NoticeRec::NO_GPU, message: why.clone() }).ok();
        }

        let exe = std::env::current_exe().context("locating the boundscope binary").map_err(Failure::internal)?;
        let held = launch::spawn_held(&exe, &dir, &args.command, &env, Duration::from_secs(30), log.as_ref())
            .context("starting the program")
            .map_err(Failure::input)?;
        let pid = held.pid() as i32;

        let perf = perf::PerfCounters::open(pid, true);
        for u in &perf.unavailable {
            tx.send(Msg::Notice {
                level: NoticeRec::INFO,
                code: NoticeRec::SAMPLER,
                message: format!("perf {}: {}", u.name, u.why),
            })
            .ok();
        }
        let perf_names = perf.available();
        let perf_unavailable = perf.unavailable.clone();
        let stop_perf = Arc::new(AtomicBool::new(false));
        let perf = perf
            .start(Duration::from_millis(args.perf_interval_ms), tx.clone(), stop_perf)
            .map_err(Failure::internal)?;
        let nvml = match gpu.nvml {
            Some(n) => Some(
                nvml::start(n, Duration::from_millis(args.nvml_interval_ms), tx.clone()).map_err(Failure::internal)?,
            ),
            None => None,
        };

        // The program runs in a process group of its own, which the terminal's
        // Ctrl-C does not reach: Ctrl-C and SIGTERM to boundscope are passed on
        // to the program's whole group (a UI sets the same flag through
        // `interrupt`).
        let interrupted = Arc::new(AtomicBool::new(false));
        let terminated = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(signal_hook::consts::SIGINT, interrupted.clone())
            .and_then(|_| signal_hook::flag::register(signal_hook::consts::SIGTERM, terminated.clone()))
            .context("installing the Ctrl-C handler")
            .map_err(Failure::internal)?;

        let start_ns = host_now_ns();
        let window_start = delay.map_or(i64::MIN, |d| start_ns + d.as_nanos() as i64);
        let window_end = match duration {
            Some(d) => window_start.max(start_ns) + d.as_nanos() as i64,
            None => i64::MAX,
        };
        let command_line = args.command.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ");
        tx.send(Msg::RunInfo {
            rec: RunInfoRec {
                start_ns,
                window_start_ns: window_start,
                window_end_ns: window_end,
                skip_steps: args.skip_steps,
                max_steps: args.steps.unwrap_or(0),
                command: 0,
                target_pid: pid as u32,
            },
            command: command_line.clone(),
        })
        .ok();
        let released_at = Instant::now();
        let child = held.release().context("releasing the program").map_err(Failure::internal)?;
        let stop_at = duration.map(|d| released_at + delay.unwrap_or_default() + d);
        Ok(Session {
            out: out.clone(),
            records,
            command: args.command.clone(),
            command_line,
            delay,
            duration,
            skip_steps: args.skip_steps,
            steps: args.steps,
            top: args.top,
            launch_floor_us: args.launch_floor_us,
            gpu_why_not: gpu.why_not,
            nvml_error: gpu.nvml_error,
            dir,
            tx,
            ingest,
            stop_accept,
            acceptor,
            live,
            perf,
            perf_names,
            perf_unavailable,
            nvml,
            interrupted,
            terminated,
            child,
            group: launch::ProcessGroup(pid),
            released_at,
            stop_at,
            waiter: Waiter::default(),
            notify,
        })
    }

    /// The command line, as the run records it.
    pub fn command_line(&self) -> &str {
        &self.command_line
    }

    /// Asks the program to stop, as Ctrl-C does: the first call interrupts
    /// its process group, a second one stops waiting.
    pub fn interrupt(&self) {
        self.interrupted.store(true, Ordering::Release);
    }

    /// One step of waiting (never blocks): `Some` once the program ended or
    /// waiting was abandoned. Signals and `--duration` are handled here.
    pub fn poll(&mut self) -> Option<Outcome> {
        let (interrupted, terminated) = (self.interrupted.clone(), self.terminated.clone());
        self.waiter.step(&mut self.child, self.group, &interrupted, &terminated, self.stop_at, &*self.notify)
    }

    /// Ends what the program left behind, drains the connections, analyzes
    /// the run and writes its files.
    pub fn finish(self, outcome: Outcome) -> Result<Finished, Failure> {
        let Session {
            out,
            records,
            command,
            command_line,
            delay,
            duration,
            skip_steps,
            steps,
            top,
            launch_floor_us,
            gpu_why_not,
            nvml_error,
            dir,
            tx,
            ingest,
            stop_accept,
            acceptor,
            live,
            perf,
            perf_names,
            perf_unavailable,
            nvml,
            group,
            released_at,
            notify,
            ..
        } = self;
        let Outcome { status, abandoned } = outcome;
        let out = &out;
        let wall = released_at.elapsed();
        // Whatever the program started and left running (a shell's background
        // job, a launcher's workers) would outlive boundscope with the
        // collector's environment: end it, and say what it was.
        let left = group.end(Duration::from_secs(if abandoned { 1 } else { 5 }));
        if !left.is_empty() {
            notify(&format!(
                "{} process(es) started by the program were still running after it ended: {}; ended them \
                 (SIGTERM, then SIGKILL)",
                left.len(),
                launch::describe(&left)
            ));
        }
        let command_line_args: Vec<String> = command.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        if let Err(e) = write_program_status(out, &command_line_args, status, abandoned, wall) {
            notify(&format!("warning: {e:#}"));
        }

        // Let late connections arrive, then drain the open ones (bounded).
        std::thread::sleep(Duration::from_millis(50));
        stop_accept.store(true, Ordering::Release);
        acceptor.join().ok();
        let drain_until = Instant::now() + Duration::from_secs(5);
        while live.open_connections.load(Ordering::Acquire) > 0 && Instant::now() < drain_until && !abandoned {
            std::thread::sleep(Duration::from_millis(10));
        }
        let perf_totals = perf.stop();
        if let Some(n) = nvml {
            n.stop();
        }
        tx.send(Msg::Finish { complete: !abandoned }).ok();
        drop(tx);
        let ingested = ingest.join().map_err(|_| Failure::internal(anyhow!("the ingest thread panicked")))?;
        drop(dir);
        if let Some(e) = &ingested.write_error {
            notify(&format!("warning: writing {} failed ({e}); the run file is incomplete", records.display()));
        }

        // With a time window or step selection, read the run back: the same
        // selection `boundscope analyze DIR` applies.
        let (trace, run_summary) = if delay.is_some() || duration.is_some() || skip_steps > 0 || steps.is_some() {
            read_run(out).map_err(Failure::input)?
        } else {
            (ingested.trace, ingested.summary)
        };

        let floor_ns = (launch_floor_us * 1000.0).round() as i64;
        let spec = AnalysisSpec {
            window: WindowSpec { include_mem: false, launch_floor_ns: floor_ns },
            top_k: top,
            advice: AdviceSpec { graph_launch_ns: floor_ns, ..AdviceSpec::default() },
        };
        let analysis = analyze(&trace, &out.display().to_string(), &spec)
            .with_context(|| format!("analyzing {}", out.display()))
            .map_err(Failure::internal)?;
        let ctx = report::Context {
            command: &command_line,
            status,
            wall,
            gpu_why_not: gpu_why_not.as_deref(),
            nvml_error: nvml_error.as_deref(),
            perf_available: &perf_names,
            perf_unavailable: &perf_unavailable,
            perf_totals: &perf_totals,
            cut: &ingested.cut,
        };
        let mut text = summary(&analysis.report, &SummaryOptions { all_steps: false, step: None, top_k: top });
        text.push('\n');
        text.push_str(&report::profile_section(&trace, &run_summary, &ctx));

        let mut written = vec![RUN_RECORDS_FILE.to_string()];
        if out.join(PROGRAM_STATUS_FILE).is_file() {
            written.push(PROGRAM_STATUS_FILE.into());
        }
        write_text(&out.join("summary.txt"), &text).map_err(Failure::input)?;
        written.push("summary.txt".into());
        match csv::write_analysis_csv(&trace, &analysis, out) {
            Ok(files) => {
                written.extend(files.iter().filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned())))
            }
            Err(e) => notify(&format!("warning: CSV tables not written: {e}")),
        }
        match chrome::write_chrome_trace(&trace, &analysis, &out.join("trace.json.gz")) {
            Ok(_) => written.push("trace.json.gz".into()),
            Err(e) => notify(&format!("warning: trace.json.gz not written: {e}")),
        }
        let footer = format!("\nRun written to {}: {}\n", out.display(), written.join(", "));
        let warnings = analysis.report.warnings.iter().map(|w| w.to_string()).collect();
        Ok(Finished { text, footer, warnings, status, report: analysis.report })
    }
}

/// Name of the file in a run directory that says how the program ended.
pub const PROGRAM_STATUS_FILE: &str = "program.json";

/// How the profiled program ended, as `program.json` holds it (docs/profile.md).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProgramStatus {
    pub command: Vec<String>,
    /// Exit code when the program exited normally.
    pub exit_code: Option<i32>,
    /// Signal number when a signal ended it.
    pub signal: Option<i32>,
    /// boundscope stopped waiting before the program ended (second Ctrl-C).
    pub abandoned: bool,
    /// From release to exit.
    pub wall_s: f64,
}

impl ProgramStatus {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// "exit status 3", "killed by signal 9", "still running when boundscope stopped waiting".
    pub fn describe(&self) -> String {
        match (self.exit_code, self.signal) {
            (Some(c), _) => format!("exit status {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            (None, None) => "still running when boundscope stopped waiting".into(),
        }
    }
}

fn write_program_status(
    out: &Path,
    command: &[String],
    status: Option<ExitStatus>,
    abandoned: bool,
    wall: Duration,
) -> anyhow::Result<()> {
    use std::os::unix::process::ExitStatusExt;
    let s = ProgramStatus {
        command: command.to_vec(),
        exit_code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        abandoned,
        wall_s: wall.as_secs_f64(),
    };
    let mut json = serde_json::to_string_pretty(&s).context("serializing program.json")?;
    json.push('\n');
    write_text(&out.join(PROGRAM_STATUS_FILE), &json)
}

fn write_text(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// The state of waiting for the program: Ctrl-C (or SIGTERM) is passed on
/// to its process group; a second one stops waiting. At `stop_at` the group
/// is interrupted, then terminated after 5 s and killed after 10 s.
#[derive(Debug, Default)]
struct Waiter {
    signals: u32,
    stopping_since: Option<Instant>,
    /// 0: interrupted, 1: terminated, 2: killed.
    escalated: u8,
}

impl Waiter {
    /// One step: the program's status (None when abandoned) once waiting ends.
    fn step(
        &mut self,
        child: &mut std::process::Child,
        group: launch::ProcessGroup,
        interrupted: &AtomicBool,
        terminated: &AtomicBool,
        stop_at: Option<Instant>,
        notify: &dyn Fn(&str),
    ) -> Option<Outcome> {
        match child.try_wait() {
            Ok(Some(s)) => return Some(Outcome { status: Some(s), abandoned: false }),
            Ok(None) => {}
            Err(_) => return Some(Outcome { status: None, abandoned: true }),
        }
        let term = terminated.swap(false, Ordering::AcqRel);
        if term {
            interrupted.store(true, Ordering::Release);
        }
        if interrupted.swap(false, Ordering::AcqRel) {
            self.signals += 1;
            if self.signals == 1 {
                group.signal(if term { Signal::TERM } else { Signal::INT });
                notify("interrupted; waiting for the program to finish its records (interrupt again to stop waiting)");
            } else {
                notify("stopped waiting; the run is marked incomplete");
                group.signal(Signal::TERM);
                return Some(Outcome { status: None, abandoned: true });
            }
        }
        let now = Instant::now();
        if let Some(t) = stop_at
            && now >= t
        {
            let since = *self.stopping_since.get_or_insert_with(|| {
                notify("--duration reached; interrupting the program");
                group.signal(Signal::INT);
                now
            });
            let waited = now.duration_since(since);
            let step = if waited > Duration::from_secs(10) { 2 } else { u8::from(waited > Duration::from_secs(5)) };
            if step > self.escalated {
                group.signal(if step == 2 { Signal::KILL } else { Signal::TERM });
                self.escalated = step;
            }
        }
        None
    }
}
