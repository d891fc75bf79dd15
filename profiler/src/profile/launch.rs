//! Launching the program held (STYLE.md rule 12): a private directory (mode
//! 0700) holds the record socket and a release socket; the child is this
//! binary's hidden `__gate` command, which connects to the release socket
//! and waits. Once the perf counters are attached to its pid and the
//! samplers run, the profiler writes "go" and the gate `exec`s the program
//! (same pid, same environment, so perf counting starts exactly at the exec).
//! If the profiler goes away first, the gate exits without running anything.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

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
) -> io::Result<Held> {
    let release_path = dir.socket_path("g")?;
    let listener = UnixListener::bind(&release_path)?;
    listener.set_nonblocking(true)?;
    let mut child = Command::new(gate_exe)
        .arg("__gate")
        .arg(&release_path)
        .arg("--")
        .args(command)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("starting {}: {e}", gate_exe.display())))?;
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
