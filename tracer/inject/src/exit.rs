//! Exit paths that must end the stream: normal exit (`atexit`), and SIGINT /
//! SIGTERM. Signal handlers chain to the program's own: when the program
//! handles the signal (Python turns SIGINT into KeyboardInterrupt), it is
//! called and the stream ends at exit as usual; when the default action would
//! kill the process, the handler asks a helper thread to finish the stream,
//! waits for it (bounded), restores the default action and re-raises the
//! signal. The handler itself only does async-signal-safe calls (write, poll,
//! sigaction, raise).

use std::io::{Read, Write};
use std::os::fd::IntoRawFd;
use std::os::unix::net::UnixStream;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, Ordering};

use crate::collector::finish;
use crate::guard;

const SIGNALS: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

/// The program's previous actions, indexed like [`SIGNALS`].
static PREVIOUS: [OnceLock<libc::sigaction>; 2] = [OnceLock::new(), OnceLock::new()];
/// Handler -> helper: a byte per signal that needs the stream finished.
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);
/// Helper -> handler: readable once the stream is finished.
static DONE_FD: AtomicI32 = AtomicI32::new(-1);

pub(crate) fn install() {
    // SAFETY: registers a plain extern "C" function.
    unsafe { libc::atexit(on_exit) };
    let (Ok((wake_w, mut wake_r)), Ok((mut done_w, done_r))) = (UnixStream::pair(), UnixStream::pair()) else {
        return;
    };
    let spawned = std::thread::Builder::new().name("boundscope-exit".into()).spawn(move || {
        let mut b = [0u8; 1];
        if wake_r.read(&mut b).unwrap_or(0) == 1 {
            guard("signal flush", (), finish);
            done_w.write_all(&[1]).ok();
        }
    });
    if spawned.is_err() {
        return;
    }
    WAKE_FD.store(wake_w.into_raw_fd(), Ordering::Release);
    DONE_FD.store(done_r.into_raw_fd(), Ordering::Release);
    for (i, sig) in SIGNALS.iter().enumerate() {
        // SAFETY: zeroed sigaction is a valid "no handler, empty mask" value
        // for the fields we then set; sigaction reads/writes valid pointers.
        unsafe {
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = on_signal as *const () as usize;
            new.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut new.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(*sig, &new, &mut old) == 0 {
                PREVIOUS[i].set(old).ok();
            }
        }
    }
}

extern "C" fn on_exit() {
    guard("exit handler", (), finish);
}

extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let Some(i) = SIGNALS.iter().position(|s| *s == sig) else { return };
    let Some(old) = PREVIOUS[i].get() else { return };
    let handler = old.sa_sigaction;
    if handler == libc::SIG_IGN {
        return;
    }
    if handler == libc::SIG_DFL {
        let wake = WAKE_FD.load(Ordering::Acquire);
        let done = DONE_FD.load(Ordering::Acquire);
        // SAFETY: getpid is async-signal-safe. A forked child has no helper
        // thread to finish a stream: it dies at once, as without boundscope.
        let ours = crate::collector::collector().is_some_and(|c| unsafe { libc::getpid() } as u32 == c.pid);
        if ours && wake >= 0 && done >= 0 {
            // SAFETY: write and poll are async-signal-safe; fds are ours and open.
            unsafe {
                libc::write(wake, [1u8].as_ptr().cast(), 1);
                let mut p = libc::pollfd { fd: done, events: libc::POLLIN, revents: 0 };
                libc::poll(&mut p, 1, 5_000);
            }
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
