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

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

use boundscope_trace::Trace;

use crate::profile::{PROGRAM_STATUS_FILE, ProgramStatus};

/// Placeholder for the batch size in the command.
pub const BATCH: &str = "{batch}";
/// Placeholder for the Kineto trace the command writes (Kineto mode).
pub const TRACE: &str = "{trace}";

/// Lines of stderr kept for a failed point.
const TAIL_LINES: usize = 12;

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

    /// Runs the point; `Err` is the reason it failed, ready for the table.
    pub fn run(&self, batch: u64, out: &Path) -> Result<Recorded, String> {
        let stem = format!("{}-b{batch}", self.name);
        let log = out.join("logs").join(format!("{stem}.txt"));
        if self.kineto { self.run_kineto(batch, out, &stem, &log) } else { self.run_profiled(batch, out, &stem, &log) }
    }

    fn run_kineto(&self, batch: u64, out: &Path, stem: &str, log: &Path) -> Result<Recorded, String> {
        let rel = format!("traces/{stem}.json");
        let path = absolute(&out.join(&rel));
        remove_stale(&path)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
        }
        let cmd = self.command_for(batch, &path);
        let ran = run_logged(&cmd, log).map_err(|e| format!("cannot run {}: {e}", show(&cmd)))?;
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

    fn run_profiled(&self, batch: u64, out: &Path, stem: &str, log: &Path) -> Result<Recorded, String> {
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
        let ran = run_logged(&cmd, log).map_err(|e| format!("cannot run boundscope profile: {e}"))?;
        let status: Option<ProgramStatus> =
            std::fs::read_to_string(dir.join(PROGRAM_STATUS_FILE)).ok().and_then(|s| serde_json::from_str(&s).ok());
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

/// A finished child: its status, the last lines of its stderr, and the
/// reason `boundscope profile` gave for recording no GPU activity.
struct Ran {
    status: ExitStatus,
    tail: Vec<String>,
    no_gpu_why: Option<String>,
}

/// Runs `cmd` with stdout and stderr appended to `log` (stdin closed).
fn run_logged(cmd: &[OsString], log: &Path) -> io::Result<Ran> {
    let Some((prog, args)) = cmd.split_first() else {
        return Err(io::Error::other("empty command"));
    };
    if let Some(parent) = log.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let file = Arc::new(Mutex::new(File::create(log)?));
    let mut child =
        Command::new(prog).args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
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
    let status = child.wait()?;
    if let Some(t) = stdout {
        t.join().ok();
    }
    let (tail, no_gpu_why) = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    Ok(Ran { status, tail, no_gpu_why })
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
        let e = t.run(64, &out).err().unwrap_or_default();
        assert!(e.contains("exit status 3") && e.contains("CUDA out of memory at 64"), "{e}");
        let log = std::fs::read_to_string(out.join("logs/cmd-b64.txt")).unwrap_or_default();
        assert!(log.contains("step 64") && log.contains("out of memory"), "{log}");
        // Exiting normally without writing the trace is a failure too.
        let t = target(&["sh", "-c", "true {batch}", "{trace}"], true);
        let e = t.run(2, &out).err().unwrap_or_default();
        assert!(e.contains("wrote no trace"), "{e}");
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
        match t.run(4, &out) {
            Ok(r) => {
                assert_eq!(r.rel, "traces/cmd-b4.json");
                assert!(!r.trace.activities.is_empty());
            }
            Err(e) => panic!("{e}"),
        }
        let _ = std::fs::remove_dir_all(&out);
    }
}
