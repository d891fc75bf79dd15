//! Launching the program held (STYLE.md rule 12): a private directory (mode
//! 0700) holds the record socket and a release socket; the child is this
//! binary's hidden `__gate` command, which connects to the release socket
//! and waits. Once the perf counters are attached to its pid and the
//! samplers run, the profiler writes "go" and the gate `exec`s the program
//! (same pid, same environment, so perf counting starts exactly at the exec).
//! If the profiler goes away first, the gate exits without running anything.
//!
//! The gate starts a process group of its own (its pid is the group id), so
//! every process the program starts (a shell's children, a launcher's
//! workers) can be signalled together and none is left behind: see
//! [`ProcessGroup`].

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};

/// Longest Unix socket path (sun_path is 108 bytes with its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// A directory only this user can enter, removed on drop.
#[derive(Debug)]
pub struct PrivateDir {
    pub path: PathBuf,
}

impl PrivateDir {
    /// Creates `$TMPDIR/boundscope-<pid>-<n>` with mode 0700 (never reusing an existing one).
    pub fn create() -> io::Result<PrivateDir> {
        let base = std::env::temp_dir();
        for n in 0..1000u32 {
            let path = base.join(format!("boundscope-{}-{n}", std::process::id()));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(PrivateDir { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other(format!("no free boundscope-* directory name in {}", base.display())))
    }

    /// Path of socket `name` inside, checked against the socket path limit.
    pub fn socket_path(&self, name: &str) -> io::Result<PathBuf> {
        let p = self.path.join(name);
        if p.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(io::Error::other(format!(
                "socket path {} is longer than {MAX_SOCKET_PATH} bytes; set TMPDIR to a shorter directory",
                p.display()
            )));
        }
        Ok(p)
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.path).ok();
    }
}

/// A launched, held program.
#[derive(Debug)]
pub struct Held {
    pub child: Child,
    gate: UnixStream,
}

impl Held {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lets the program run.
    pub fn release(mut self) -> io::Result<Child> {
        self.gate.write_all(b"go")?;
        Ok(self.child)
    }
}

/// Starts `command` held behind the gate, with `env` added to its environment.
/// `gate_exe` is this binary (the gate is its `__gate` command).
pub fn spawn_held(
    gate_exe: &Path,
    dir: &PrivateDir,
    command: &[OsString],
    env: &[(OsString, OsString)],
    timeout: Duration,
    log: Option<&std::fs::File>,
) -> io::Result<Held> {
    let release_path = dir.socket_path("g")?;
    let listener = UnixListener::bind(&release_path)?;
    listener.set_nonblocking(true)?;
    let mut cmd = Command::new(gate_exe);
    cmd.arg("__gate").arg(&release_path).arg("--").args(command).envs(env.iter().map(|(k, v)| (k, v))).process_group(0);
    // A UI owns the terminal: the program writes to the log and reads nothing.
    if let Some(f) = log {
        cmd.stdin(std::process::Stdio::null()).stdout(f.try_clone()?).stderr(f.try_clone()?);
    }
    let mut child =
        cmd.spawn().map_err(|e| io::Error::new(e.kind(), format!("starting {}: {e}", gate_exe.display())))?;
    let deadline = Instant::now() + timeout;
    loop {
        match listener.accept() {
            Ok((gate, _)) => {
                gate.set_nonblocking(false)?;
                return Ok(Held { child, gate });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if let Some(status) = child.try_wait()? {
                    return Err(io::Error::other(format!("the launcher exited before the program started ({status})")));
                }
                if Instant::now() > deadline {
                    child.kill().ok();
                    child.wait().ok();
                    return Err(io::Error::other("the launcher did not check in within the time limit"));
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => return Err(e),
        }
    }
}

/// The process group the program runs in (its first process's pid).
#[derive(Debug, Clone, Copy)]
pub struct ProcessGroup(pub i32);

/// A process still running in the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Survivor {
    pub pid: i32,
    /// Its command name (`/proc/PID/comm`).
    pub name: String,
}

impl ProcessGroup {
    /// Sends `signal` to every process of the group; false when none is left.
    pub fn signal(self, signal: Signal) -> bool {
        Pid::from_raw(self.0).is_some_and(|p| kill_process_group(p, signal).is_ok())
    }

    /// The processes of the group still running, from `/proc` (zombies,
    /// which hold nothing but a table entry, are left out).
    pub fn members(self) -> Vec<Survivor> {
        let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
        let mut found: Vec<Survivor> = dir
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter_map(|pid| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
                let open = stat.find('(')?;
                let close = stat.rfind(')')?;
                let mut rest = stat.get(close + 1..)?.split_whitespace();
                let state = rest.next()?;
                let pgrp: i32 = rest.nth(1)?.parse().ok()?;
                (pgrp == self.0 && state != "Z" && state != "X")
                    .then(|| Survivor { pid, name: stat[open + 1..close].to_string() })
            })
            .collect();
        found.sort_by_key(|s| s.pid);
        found
    }

    /// Ends what is left of the group: SIGTERM, then SIGKILL once `grace` has
    /// passed; waits at most `grace` plus one second in all. Returns the
    /// processes that were running when it started (empty when none was).
    pub fn end(self, grace: Duration) -> Vec<Survivor> {
        let left = self.members();
        if left.is_empty() {
            return left;
        }
        self.signal(Signal::TERM);
        let start = Instant::now();
        let mut killed = false;
        while !self.members().is_empty() {
            let waited = start.elapsed();
            if waited > grace + Duration::from_secs(1) {
                break;
            }
            if waited > grace && !killed {
                self.signal(Signal::KILL);
                killed = true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        left
    }
}

/// "pid 12 (sleep), pid 15 (python3)".
pub fn describe(survivors: &[Survivor]) -> String {
    survivors.iter().map(|s| format!("pid {} ({})", s.pid, s.name)).collect::<Vec<_>>().join(", ")
}

/// The `__gate` command: wait for "go" on `release`, then become `command`.
/// Returns only on failure, with the exit code to use.
pub fn gate(release: &Path, command: &[OsString]) -> u8 {
    let Some((prog, args)) = command.split_first() else {
        eprintln!("boundscope: nothing to run");
        return 2;
    };
    let mut s = match UnixStream::connect(release) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("boundscope: cannot reach the profiler at {} ({e}); not starting the program", release.display());
            return 1;
        }
    };
    let mut go = [0u8; 2];
    if s.read_exact(&mut go).is_err() || &go != b"go" {
        eprintln!("boundscope: the profiler went away before starting the program; not starting it");
        return 1;
    }
    drop(s);
    let err = Command::new(prog).args(args).exec();
    eprintln!("boundscope: cannot run {}: {err}", PathBuf::from(prog).display());
    // Shells' conventions: 127 not found, 126 found but not runnable.
    if err.kind() == io::ErrorKind::NotFound { 127 } else { 126 }
}
