//! The helper thread and the exit paths that must end the stream: normal
//! exit (`atexit`), and SIGINT / SIGTERM.
//!
//! One helper thread (`boundscope-flush`) owns the slow CUPTI calls: every
//! period (`BOUNDSCOPE_FLUSH_MS`, default 1000) it hands over the completed
//! buffers, so records reach the profiler while the program runs and a killed
//! program loses at most the last period; asked to finish, it disables
//! activity, flushes and ends the stream. Whoever asks (the atexit handler, a
//! signal handler) waits for it at most `BOUNDSCOPE_EXIT_TIMEOUT_MS`: a dying
//! CUDA context that hangs the flush cannot hang the program's exit.
//!
//! Signal handlers chain to the program's own and change nothing it chose:
//! an ignored signal stays ignored (no handler is installed), the previous
//! flags and mask are kept (no `SA_RESTART` for a program that did not ask
//! for it: a Python program blocked in `accept()` still gets its
//! KeyboardInterrupt at once), `SA_ONSTACK` is added. When the program
//! handles the signal, its handler is called and the stream ends at exit as
//! usual; when the default action would kill the process, the handler asks
//! the helper to finish, waits (bounded), restores the default action and
//! re-raises. The handler only makes async-signal-safe calls (getpid, write,
//! poll, read, sigaction, raise).

use std::io::Read;
use std::os::fd::{AsRawFd, IntoRawFd};
use std::os::unix::net::UnixStream;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::Duration;

use crate::collector::{collector, finish, periodic_flush};
use crate::{guard, report};

const SIGNALS: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

/// The program's previous actions, indexed like [`SIGNALS`].
static PREVIOUS: [OnceLock<libc::sigaction>; 2] = [OnceLock::new(), OnceLock::new()];
/// Requester -> helper: one byte per request to finish the stream.
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);
/// Helper -> requester: one byte per request served.
static DONE_FD: AtomicI32 = AtomicI32::new(-1);
/// How long a requester waits for the helper, ms.
static DEADLINE_MS: AtomicU32 = AtomicU32::new(3000);

/// The flags of boundscope's handler, given the program's: its own kept,
/// `SA_SIGINFO` (boundscope's handler takes three arguments; the program's
/// is still called the way it asked) and `SA_ONSTACK` added.
pub fn chained_flags(previous: libc::c_int) -> libc::c_int {
    previous | libc::SA_SIGINFO | libc::SA_ONSTACK
}

pub(crate) fn install(flush_period: Option<Duration>) {
    if let Some(c) = collector() {
        let ms = c.exit_timeout.as_millis().min(u128::from(u32::MAX - 200)) as u32;
        DEADLINE_MS.store(ms + 200, Ordering::Release);
    }
    // SAFETY: registers a plain extern "C" function.
    unsafe { libc::atexit(on_exit) };
    if let (Ok((wake_w, wake_r)), Ok((done_w, done_r))) = (UnixStream::pair(), UnixStream::pair())
        && wake_r.set_read_timeout(flush_period).is_ok()
        && std::thread::Builder::new().name("boundscope-flush".into()).spawn(move || helper(wake_r, done_w)).is_ok()
    {
        WAKE_FD.store(wake_w.into_raw_fd(), Ordering::Release);
        DONE_FD.store(done_r.into_raw_fd(), Ordering::Release);
    }
    for (i, sig) in SIGNALS.iter().enumerate() {
        // SAFETY: an all-zero sigaction is a valid value ("default action, no
        // flags, empty mask") to be filled by the query; sigaction reads and
        // writes through valid pointers.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(*sig, std::ptr::null(), &mut old) != 0 || old.sa_sigaction == libc::SIG_IGN {
                continue;
            }
            let mut new = old;
            new.sa_sigaction = on_signal as *const () as usize;
            new.sa_flags = chained_flags(old.sa_flags);
            let mut previous: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(*sig, &new, &mut previous) == 0 {
                PREVIOUS[i].set(previous).ok();
            }
        }
    }
}

/// The helper: a periodic flush on every read timeout, the end of the
/// stream on every request (served once; later requests are answered at once).
fn helper(mut wake: UnixStream, done: UnixStream) {
    let mut b = [0u8; 1];
    loop {
        match wake.read(&mut b) {
            Ok(1) => {
                guard("exit flush", (), finish);
                // SAFETY: writes one byte from a valid buffer on our socket.
                unsafe { libc::write(done.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
            }
            Ok(_) => return,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                guard("periodic flush", (), periodic_flush);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Asks the helper to finish the stream and waits for it at most the
/// deadline; false when it did not answer in time. Async-signal-safe.
fn request_finish() -> bool {
    let (wake, done) = (WAKE_FD.load(Ordering::Acquire), DONE_FD.load(Ordering::Acquire));
    if wake < 0 || done < 0 {
        return false;
    }
    let deadline = DEADLINE_MS.load(Ordering::Acquire) as libc::c_int;
    // SAFETY: write, poll and read on our own open sockets, from and into valid buffers.
    unsafe {
        if libc::write(wake, [1u8].as_ptr().cast(), 1) != 1 {
            return false;
        }
        let mut p = libc::pollfd { fd: done, events: libc::POLLIN, revents: 0 };
        if libc::poll(&mut p, 1, deadline) != 1 {
            return false;
        }
        let mut b = 0u8;
        libc::read(done, (&mut b as *mut u8).cast(), 1) == 1
    }
}

/// Whether this process is the one the collector started in (a forked child
/// inherits the state but not the helper thread). Async-signal-safe.
fn ours() -> bool {
    // SAFETY: getpid is async-signal-safe and has no preconditions.
    collector().is_some_and(|c| unsafe { libc::getpid() } as u32 == c.pid)
}

extern "C" fn on_exit() {
    guard("exit handler", (), || {
        if !ours() {
            return;
        }
        if WAKE_FD.load(Ordering::Acquire) < 0 {
            // No helper thread could be started: finish here.
            finish();
        } else if !request_finish() {
            report(
                "the last records were not flushed within BOUNDSCOPE_EXIT_TIMEOUT_MS; the program exits without them",
            );
        }
    });
}

extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let Some(i) = SIGNALS.iter().position(|s| *s == sig) else { return };
    let Some(old) = PREVIOUS[i].get() else { return };
    let handler = old.sa_sigaction;
    if handler == libc::SIG_IGN {
        return;
    }
    if handler == libc::SIG_DFL {
        if ours() {
            request_finish();
        }
        // SAFETY: restores the default action and re-raises: the process ends
        // as it would have without boundscope (the signal is delivered once
        // this handler returns).
        unsafe {
            libc::sigaction(sig, old, std::ptr::null_mut());
            libc::raise(sig);
        }
        return;
    }
    // SAFETY: `handler` is the program's own handler function, installed with
    // these flags; calling it is what the kernel would have done.
    unsafe {
        if old.sa_flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) = std::mem::transmute(handler);
            f(sig, info, ctx);
        } else {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(handler);
            f(sig);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_flags_keep_the_programs_and_add_onstack_only() {
        // Python installs its handlers without SA_RESTART: it must stay off.
        let f = chained_flags(0);
        assert_eq!(f & libc::SA_RESTART, 0);
        assert_ne!(f & libc::SA_ONSTACK, 0);
        let g = chained_flags(libc::SA_RESTART | libc::SA_NODEFER);
        assert_ne!(g & libc::SA_RESTART, 0, "kept where the program asked for it");
        assert_ne!(g & libc::SA_NODEFER, 0);
    }
}
