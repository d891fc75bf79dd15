//! Sweep points that run a real program: the user's own command
//! (`boundscope sweep --batch 1..64 -- python serve.py --batch-size {batch}`)
//! or the reference runner `workloads/python/run_workload.py` on the local
//! GPU (`--platform gpu`).
//!
//! Each point runs once, in one of two ways:
//! - profiled (the default): `boundscope profile --out DIR -- CMD` in a
//!   child process, so a crash of one point cannot take the sweep down; the
//!   run directory is read back like `boundscope analyze DIR`, and its
//!   `program.json` says how the program ended;
//! - Kineto: when the command contains `{trace}`, it runs as is and is
//!   expected to write a PyTorch-profiler trace to that path (for machines
//!   where CUPTI cannot be injected).
//!
//! Whatever the program prints goes to `logs/<name>-b<batch>.txt`; a point
//! whose program fails keeps its exit status and the tail of its stderr.
//!
//! Under the terminal UI a point can be interrupted ([`Interrupt`], Ctrl-C):
//! the UI owns the terminal in raw mode, so no SIGINT reaches the program and
//! the sweep passes the request on itself. A Kineto-mode program then runs in
//! a process group of its own, which is interrupted, terminated after
//! [`TERM_AFTER`] and killed after [`KILL_AFTER`]; `boundscope profile` is
//! interrupted as Ctrl-C would (it passes that on to the program's group),
//! then a second time (it ends the group and stops waiting). Either way the
//! point is recorded as failed, "interrupted", and nothing of it is left
//! running.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use boundscope_trace::Trace;

use crate::profile::launch::ProcessGroup;
use crate::profile::{PROGRAM_STATUS_FILE, ProgramStatus};

/// Placeholder for the batch size in the command.
pub const BATCH: &str = "{batch}";
/// Placeholder for the Kineto trace the command writes (Kineto mode).
pub const TRACE: &str = "{trace}";

/// Lines of stderr kept for a failed point.
const TAIL_LINES: usize = 12;

/// After an interrupt: when a program still running is terminated (SIGTERM)...
pub const TERM_AFTER: Duration = Duration::from_secs(5);
/// ... and when it is killed (SIGKILL), as `boundscope profile --duration` does.
pub const KILL_AFTER: Duration = Duration::from_secs(10);
/// After an interrupt: when `boundscope profile` itself is killed if it has
/// not ended (it ends the program's group, then writes its files).
const PROFILER_KILL_AFTER: Duration = Duration::from_secs(30);
/// How often an interruptible point checks its child and the request.
const POLL: Duration = Duration::from_millis(20);

/// A request to interrupt the point running now (Ctrl-C in the sweep's UI).
/// Clones share one flag; once made, the request stays made: the sweep stops.
#[derive(Debug, Clone, Default)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    pub fn request(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn requested(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// The start of a point's error when it was interrupted.
pub const INTERRUPTED: &str = "interrupted";

/// A program run at every batch size.
#[derive(Debug, Clone)]
pub struct CommandTarget {
    /// Short name used in file names and tables: `gpu` or `cmd`.
    pub name: String,
    pub description: String,
    /// The command, with [`BATCH`] (and in Kineto mode [`TRACE`]) in its arguments.
    pub template: Vec<OsString>,
    /// The command writes a Kineto trace to `{trace}`; run it without injection.
    pub kineto: bool,
    /// `boundscope profile --skip-steps`: warm-up steps left out.
    pub skip_steps: u32,
    /// `boundscope profile --steps`: steps analyzed after the skipped ones.
    pub max_steps: Option<u32>,
}

/// A point's recorded trace and where it lies, relative to the sweep's output directory.
pub struct Recorded {
    pub trace: Trace,
    pub rel: String,
}

impl CommandTarget {
    /// Checks the template: a program, `{batch}` somewhere in it.
    pub fn check(&self) -> Result<(), String> {
        if self.template.is_empty() {
            return Err("no command after `--`".into());
        }
        if !self.template.iter().any(|a| a.to_string_lossy().contains(BATCH)) {
            return Err(format!(
                "the command must say where the batch size goes with {BATCH}, e.g. \
                 `boundscope sweep --batch 1..64 -- python serve.py --batch-size {BATCH}`"
            ));
        }
        Ok(())
    }

    /// The command line for `batch`, with `trace` for `{trace}`.
    pub fn command_for(&self, batch: u64, trace: &Path) -> Vec<OsString> {
        let trace = trace.to_string_lossy();
        self.template
            .iter()
            .map(|a| match a.to_str() {
                Some(s) if s.contains('{') => s.replace(BATCH, &batch.to_string()).replace(TRACE, &trace).into(),
                _ => a.clone(),
            })
            .collect()
    }

    /// Runs the point; `Err` is the reason it failed, ready for the table
    /// (starting with [`INTERRUPTED`] when `interrupt` stopped it).
    pub fn run(&self, batch: u64, out: &Path, interrupt: Option<&Interrupt>) -> Result<Recorded, String> {
        let stem = format!("{}-b{batch}", self.name);
        let log = out.join("logs").join(format!("{stem}.txt"));
        if self.kineto {
            self.run_kineto(batch, out, &stem, &log, interrupt)
        } else {
            self.run_profiled(batch, out, &stem, &log, interrupt)
        }
    }

    fn run_kineto(
        &self,
        batch: u64,
        out: &Path,
        stem: &str,
        log: &Path,
        interrupt: Option<&Interrupt>,
    ) -> Result<Recorded, String> {
        let rel = format!("traces/{stem}.json");
        let path = absolute(&out.join(&rel));
        remove_stale(&path)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
        }
        let cmd = self.command_for(batch, &path);
        let stop = interrupt.map(|i| (i, Stopping::Group));
        let ran = run_logged(&cmd, log, stop).map_err(|e| format!("cannot run {}: {e}", show(&cmd)))?;
        if let Some(after) = ran.interrupted {
            return Err(interrupted(after, &format!("the program: {}", describe_status(ran.status)), log));
        }
        if !ran.status.success() {
            return Err(program_failed(&describe_status(ran.status), &ran, log));
        }
        if !path.is_file() {
            return Err(format!(
                "the command exited normally but wrote no trace to {} (it gets the path in place of {TRACE})",
                path.display()
            ));
        }
        let trace = boundscope_trace::read_trace(&path).map_err(|e| format!("reading the point's trace: {e}"))?;
        Ok(Recorded { trace, rel })
    }

    fn run_profiled(
        &self,
        batch: u64,
        out: &Path,
        stem: &str,
        log: &Path,
        interrupt: Option<&Interrupt>,
    ) -> Result<Recorded, String> {
        let rel = format!("runs/{stem}");
        let dir = out.join(&rel);
        // A run directory left by an earlier sweep into the same --out is
        // replaced (profile never overwrites a run).
        if dir.join(boundscope_trace::run::RUN_RECORDS_FILE).exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| format!("removing the earlier run {}: {e}", dir.display()))?;
        }
        let exe = std::env::current_exe().map_err(|e| format!("cannot locate the boundscope binary: {e}"))?;
        let mut cmd: Vec<OsString> = vec![exe.into(), "profile".into(), "--out".into(), dir.clone().into()];
        cmd.extend(["--skip-steps".into(), self.skip_steps.to_string().into()]);
        if let Some(n) = self.max_steps {
            cmd.extend(["--steps".into(), n.to_string().into()]);
        }
        cmd.push("--".into());
        cmd.extend(self.command_for(batch, Path::new("")));
        let stop = interrupt.map(|i| (i, Stopping::Profiler));
        let ran = run_logged(&cmd, log, stop).map_err(|e| format!("cannot run boundscope profile: {e}"))?;
        let status: Option<ProgramStatus> =
            std::fs::read_to_string(dir.join(PROGRAM_STATUS_FILE)).ok().and_then(|s| serde_json::from_str(&s).ok());
        if let Some(after) = ran.interrupted {
            // How the program ended, which the profiler recorded; else how the profiler did.
            let how = status.as_ref().map_or_else(
                || format!("boundscope profile: {}", describe_status(ran.status)),
                |s| format!("the program: {}", s.describe()),
            );
            return Err(interrupted(after, &how, log));
        }
        let Some(status) = status else {
            return Err(format!(
                "boundscope profile failed ({}) before the program ended: {}",
                describe_status(ran.status),
                tail_text(&ran.tail, log)
            ));
        };
        if !status.success() {
            return Err(program_failed(&status.describe(), &ran, log));
        }
        let trace = boundscope_trace::read_trace(&dir).map_err(|e| format!("reading the point's run: {e}"))?;
        if trace.activities.is_empty() {
            let why = ran.no_gpu_why.as_deref().unwrap_or("the program launched no kernels");
            return Err(format!("no GPU activity recorded ({why})"));
        }
        Ok(Recorded { trace, rel })
    }
}

/// The error of an interrupted point; `how`: how the program ended.
fn interrupted(after: Duration, how: &str, log: &Path) -> String {
    format!(
        "{INTERRUPTED} (Ctrl-C) after {:.1} s; the sweep stopped here ({how}; output so far in {})",
        after.as_secs_f64(),
        log.display()
    )
}

fn program_failed(status: &str, ran: &Ran, log: &Path) -> String {
    format!("the program failed: {status}; stderr: {}", tail_text(&ran.tail, log))
}

fn tail_text(tail: &[String], log: &Path) -> String {
    if tail.is_empty() {
        format!("(empty; full output in {})", log.display())
    } else {
        format!("{} (full output in {})", tail.join(" | "), log.display())
    }
}

fn describe_status(s: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => s.to_string(),
    }
}

fn show(cmd: &[OsString]) -> String {
    cmd.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn remove_stale(path: &Path) -> Result<(), String> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("removing the earlier trace {}: {e}", path.display())),
    }
}

/// A finished child: its status, the last lines of its stderr, the reason
/// `boundscope profile` gave for recording no GPU activity, and how long
/// after its start it was interrupted.
struct Ran {
    status: ExitStatus,
    tail: Vec<String>,
    no_gpu_why: Option<String>,
    interrupted: Option<Duration>,
}

/// How an interruptible child is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stopping {
    /// The program itself, in a process group of its own: the group is
    /// interrupted, terminated, then killed, and what the program left
    /// running in it is ended once it exits.
    Group,
    /// `boundscope profile` (in boundscope's group): interrupted, which it
    /// passes on to the program's group; interrupted again, which ends that
    /// group and stops its waiting; then the program's group killed; then
    /// the profiler itself.
    Profiler,
}

/// Runs `cmd` with stdout and stderr appended to `log` (stdin closed); with
/// `stop`, stops it as [`Stopping`] says once the interrupt is requested.
fn run_logged(cmd: &[OsString], log: &Path, stop: Option<(&Interrupt, Stopping)>) -> io::Result<Ran> {
    let Some((prog, args)) = cmd.split_first() else {
        return Err(io::Error::other("empty command"));
    };
    if let Some(parent) = log.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let file = Arc::new(Mutex::new(File::create(log)?));
    let mut command = Command::new(prog);
    command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some((_, Stopping::Group)) = stop {
        command.process_group(0);
    }
    let mut child = command.spawn()?;
    let stdout = child.stdout.take().map(|s| {
        let file = file.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(s).split(b'\n').map_while(Result::ok) {
                append(&file, &line);
            }
        })
    });
    let stderr = child.stderr.take().map(|s| {
        let file = file.clone();
        std::thread::spawn(move || {
            let mut tail = VecDeque::with_capacity(TAIL_LINES);
            let mut why = None;
            for line in BufReader::new(s).split(b'\n').map_while(Result::ok) {
                append(&file, &line);
                let text = String::from_utf8_lossy(&line).trim_end().to_string();
                if why.is_none()
                    && let Some((_, w)) = text.split_once("no GPU activity can be recorded: ")
                {
                    why = Some(w.split("; running the program").next().unwrap_or(w).to_string());
                }
                // The tail is the program's: boundscope profile's own lines are in the log.
                if text.is_empty() || text.starts_with("boundscope:") {
                    continue;
                }
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(text);
            }
            (Vec::from(tail), why)
        })
    });
    let (status, interrupted) = match stop {
        None => (child.wait()?, None),
        Some((interrupt, how)) => wait_interruptible(&mut child, interrupt, how)?,
    };
    if let Some((_, Stopping::Group)) = stop {
        // Whatever the program started and left running in its group (a
        // shell's background job) would outlive the point.
        let grace = if interrupted.is_some() { Duration::from_secs(1) } else { TERM_AFTER };
        ProcessGroup(child.id() as i32).end(grace);
    }
    if let Some(t) = stdout {
        t.join().ok();
    }
    let (tail, no_gpu_why) = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    Ok(Ran { status, tail, no_gpu_why, interrupted })
}

/// Waits for `child`, stopping it as `how` says from the moment `interrupt`
/// is requested; returns its status and, when it was interrupted, how long
/// after the wait began. A child that ends before the request is seen ran
/// to its end.
fn wait_interruptible(
    child: &mut Child,
    interrupt: &Interrupt,
    how: Stopping,
) -> io::Result<(ExitStatus, Option<Duration>)> {
    let began = Instant::now();
    let pid = child.id() as i32;
    let mut since: Option<Instant> = None;
    let mut steps_taken = 0;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok((status, since.map(|t| t.duration_since(began))));
        }
        if since.is_none() && interrupt.requested() {
            since = Some(Instant::now());
        }
        if let Some(t) = since {
            let waited = t.elapsed();
            // When each step of stopping is due, from the request on.
            let due_at: &[Duration] = match how {
                Stopping::Group => &[Duration::ZERO, TERM_AFTER, KILL_AFTER],
                Stopping::Profiler => &[Duration::ZERO, TERM_AFTER, KILL_AFTER, PROFILER_KILL_AFTER],
            };
            let due = due_at.iter().filter(|&&d| waited >= d).count();
            while steps_taken < due {
                stop_step(how, pid, steps_taken);
                steps_taken += 1;
            }
        }
        std::thread::sleep(POLL);
    }
}

/// Step `step` (0: at the request) of stopping the child `pid`.
fn stop_step(how: Stopping, pid: i32, step: usize) {
    let signal_child = |signal: Signal| {
        if let Some(p) = Pid::from_raw(pid) {
            kill_process(p, signal).ok();
        }
    };
    match (how, step) {
        (Stopping::Group, _) => {
            let signal = [Signal::INT, Signal::TERM].get(step).copied().unwrap_or(Signal::KILL);
            ProcessGroup(pid).signal(signal);
        }
        // The profiler passes the first interrupt on to the program's group;
        // the second one makes it end that group and stop waiting.
        (Stopping::Profiler, 0 | 1) => signal_child(Signal::INT),
        (Stopping::Profiler, k) => {
            for group in child_groups(pid) {
                group.signal(Signal::KILL);
            }
            if k > 2 {
                signal_child(Signal::KILL);
            }
        }
    }
}

/// The process groups that children of `pid` lead: the program `boundscope
/// profile` started (in a group of its own), from `/proc`.
fn child_groups(pid: i32) -> Vec<ProcessGroup> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut groups: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
            // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
            let mut rest = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
            let ppid: i32 = rest.nth(1)?.parse().ok()?;
            let pgrp: i32 = rest.next()?.parse().ok()?;
            (ppid == pid && pgrp == p).then_some(pgrp)
        })
        .collect();
    groups.sort_unstable();
    groups.dedup();
    groups.into_iter().map(ProcessGroup).collect()
}

fn append(file: &Mutex<File>, line: &[u8]) {
    if let Ok(mut f) = file.lock() {
        // The log is a convenience: a full disk must not stop the point.
        f.write_all(line).and_then(|()| f.write_all(b"\n")).ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(template: &[&str], kineto: bool) -> CommandTarget {
        CommandTarget {
            name: "cmd".into(),
            description: String::new(),
            template: template.iter().map(OsString::from).collect(),
            kineto,
            skip_steps: 0,
            max_steps: None,
        }
    }

    #[test]
    fn placeholders_are_substituted() {
        let t = target(&["serve", "--batch-size={batch}", "--out", "{trace}", "x{batch}y"], true);
        let got = t.command_for(16, Path::new("/o/t.json"));
        let got: Vec<String> = got.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(got, ["serve", "--batch-size=16", "--out", "/o/t.json", "x16y"]);
        assert!(t.check().is_ok());
        let e = target(&["serve", "--batch-size", "8"], false).check().err().unwrap_or_default();
        assert!(e.contains("{batch}") && e.contains("--batch-size {batch}"), "{e}");
    }

    #[test]
    fn a_failing_command_keeps_its_status_and_stderr_tail() {
        let out = std::env::temp_dir().join(format!("bs-sweep-cmd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let t = target(
            &["sh", "-c", "echo step {batch}; echo 'CUDA out of memory at {batch}' >&2; exit 3", "{trace}"],
            true,
        );
        let e = t.run(64, &out, None).err().unwrap_or_default();
        assert!(e.contains("exit status 3") && e.contains("CUDA out of memory at 64"), "{e}");
        let log = std::fs::read_to_string(out.join("logs/cmd-b64.txt")).unwrap_or_default();
        assert!(log.contains("step 64") && log.contains("out of memory"), "{log}");
        // Exiting normally without writing the trace is a failure too.
        let t = target(&["sh", "-c", "true {batch}", "{trace}"], true);
        let e = t.run(2, &out, None).err().unwrap_or_default();
        assert!(e.contains("wrote no trace"), "{e}");
        let _ = std::fs::remove_dir_all(&out);
    }

    #[test]
    fn an_interrupted_program_that_ignores_sigint_is_terminated() {
        let out = std::env::temp_dir().join(format!("bs-sweep-stubborn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        assert!(std::fs::create_dir_all(&out).is_ok());
        let pid_file = out.join("pid");
        let t = target(
            &[
                "sh",
                "-c",
                "trap '' INT; echo $$ > \"$0.tmp\"; mv \"$0.tmp\" \"$0\"; sleep 30; echo {batch}",
                &pid_file.to_string_lossy(),
                "{trace}",
            ],
            true,
        );
        let interrupt = Interrupt::default();
        let pid = std::thread::scope(|s| {
            let asked = s.spawn(|| {
                let deadline = Instant::now() + Duration::from_secs(20);
                loop {
                    if let Some(pid) =
                        std::fs::read_to_string(&pid_file).ok().and_then(|p| p.trim().parse::<i32>().ok())
                    {
                        interrupt.request();
                        return Some((pid, Instant::now()));
                    }
                    if Instant::now() > deadline {
                        return None;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            });
            let e = t.run(8, &out, Some(&interrupt)).err().unwrap_or_default();
            let (pid, at) = asked.join().ok().flatten().unwrap_or_else(|| panic!("the program did not start: {e}"));
            // Ignored SIGINT: SIGTERM after TERM_AFTER ends it.
            let took = at.elapsed();
            assert!(took >= TERM_AFTER && took < TERM_AFTER + Duration::from_secs(3), "{took:?}");
            assert!(e.starts_with(INTERRUPTED) && e.contains("killed by signal 15"), "{e}");
            pid
        });
        assert!(ProcessGroup(pid).members().is_empty(), "the program's group is gone");
        let _ = std::fs::remove_dir_all(&out);
    }

    #[test]
    fn a_kineto_point_reads_the_trace_the_command_writes() {
        let out = std::env::temp_dir().join(format!("bs-sweep-kin-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/traces/a100_ddp_train.json.gz");
        let t = target(
            &["sh", "-c", "test {batch} = 4 && gzip -dc \"$0\" > \"$1\"", &src.to_string_lossy(), "{trace}"],
            true,
        );
        match t.run(4, &out, None) {
            Ok(r) => {
                assert_eq!(r.rel, "traces/cmd-b4.json");
                assert!(!r.trace.activities.is_empty());
            }
            Err(e) => panic!("{e}"),
        }
        let _ = std::fs::remove_dir_all(&out);
    }
}
