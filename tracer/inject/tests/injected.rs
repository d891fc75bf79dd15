//! The real `libboundscope_inject.so` in a foreign process (Python through
//! ctypes, as CUDA would call it): every failure is one `boundscope:` line on
//! stderr, the program exits normally, and the stream still ends properly.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use boundscope_wire::*;

fn cdylib() -> PathBuf {
    // Cargo builds the cdylib of this test run next to the test binary
    // (target/debug/deps/); target/debug/ gets a copy only from `cargo build`.
    let exe = std::env::current_exe().expect("test exe");
    exe.parent().expect("deps dir").join("libboundscope_inject.so")
}

/// Runs `InitializeInjection` in a python3 process with `env`; `None` when there is no python3.
fn run_injected(env: &[(&str, &str)]) -> Option<Output> {
    let lib = cdylib();
    assert!(lib.exists(), "{} not built", lib.display());
    let script = format!(
        "import ctypes, sys\nrc = ctypes.CDLL({:?}).InitializeInjection()\nprint('program continues', rc)\n",
        lib.display().to_string()
    );
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(script);
    for k in ["BOUNDSCOPE_SOCKET", "BOUNDSCOPE_OUTPUT", "BOUNDSCOPE_CUPTI_PATH", "CUDA_HOME"] {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    match cmd.output() {
        Ok(o) => Some(o),
        Err(e) => {
            println!("skipped: python3 not runnable here ({e})");
            None
        }
    }
}

fn records(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).expect("output file");
    let mut r = FrameReader::new(&bytes[..]);
    let mut out = Vec::new();
    let mut strings = std::collections::HashMap::new();
    while let Some(f) = r.next_frame().expect("a whole stream") {
        for rec in f.records() {
            let (o, raw) = rec.expect("record");
            match decode_record(raw, o).expect("decodes") {
                Record::String(s) => {
                    strings.insert(s.id, String::from_utf8_lossy(s.text).into_owned());
                }
                Record::Notice(n) => out.push(format!("notice {} {}: {}", n.level, n.code, strings[&n.message])),
                Record::Hello(h) => out.push(format!("hello cupti={} flags={}", h.cupti_api_version, h.flags)),
                Record::End(e) => out.push(format!("end complete={}", e.complete)),
                _ => {}
            }
        }
    }
    out
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("boundscope-inject-{}-{name}", std::process::id()))
}

#[test]
fn without_cupti_the_program_runs_on_and_the_stream_says_why() {
    let out = tmp("nocupti.bsw");
    let Some(o) = run_injected(&[
        ("BOUNDSCOPE_OUTPUT", out.to_str().expect("utf8")),
        ("BOUNDSCOPE_CUPTI_PATH", "/nonexistent/libcupti.so"),
    ]) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("program continues 1"));
    if Path::new("/usr/local/cuda/extras/CUPTI/lib64/libcupti.so").exists() {
        println!("skipped the no-CUPTI half: this machine has a CUDA toolkit");
        return;
    }
    assert!(stderr.starts_with("boundscope: no GPU activity recorded: no usable libcupti"), "{stderr}");
    assert_eq!(stderr.matches("boundscope:").count(), 1, "reported once: {stderr}");
    assert!(stderr.contains("/nonexistent/libcupti.so (BOUNDSCOPE_CUPTI_PATH): no such file"), "{stderr}");
    let recs = records(&out);
    assert_eq!(recs.len(), 3, "{recs:?}");
    assert!(recs[0].starts_with("notice 2 1: no GPU activity recorded: no usable libcupti"), "{recs:?}");
    assert_eq!(recs[1..], ["hello cupti=0 flags=0", "end complete=1"]);
    std::fs::remove_file(&out).ok();
}

#[test]
fn cupti_without_a_driver_is_a_reported_error() {
    let Some(root) = std::env::var_os("BOUNDSCOPE_CUPTI_WHEELS") else {
        println!("skipped: BOUNDSCOPE_CUPTI_WHEELS is not set (.ci/run sets it)");
        return;
    };
    let lib = PathBuf::from(root).join("nvidia-cuda-cupti-cu12-12.9.79/nvidia/cuda_cupti/lib");
    assert!(lib.exists(), "{}", lib.display());
    let out = tmp("nodriver.bsw");
    let Some(o) = run_injected(&[
        ("BOUNDSCOPE_OUTPUT", out.to_str().expect("utf8")),
        ("BOUNDSCOPE_CUPTI_PATH", lib.to_str().expect("utf8")),
    ]) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("boundscope: no GPU activity recorded: cuptiSubscribe failed: CUPTI_ERROR_"), "{stderr}");
    let recs = records(&out);
    // Which file was loaded, and why.
    assert_eq!(recs[0], format!("notice 0 8: libcupti {}/libcupti.so.12 (BOUNDSCOPE_CUPTI_PATH)", lib.display()));
    assert!(recs[1].starts_with("notice 2 2: no GPU activity recorded: cuptiSubscribe failed"), "{recs:?}");
    // CUPTI 12.9 loaded (API 28), activity not active, layout verified.
    assert_eq!(recs[2..], [format!("hello cupti=28 flags={}", HelloRec::LAYOUT_VERIFIED), "end complete=1".into()]);
    std::fs::remove_file(&out).ok();
}

#[test]
fn no_profiler_to_talk_to_is_one_line_and_no_harm() {
    let Some(o) = run_injected(&[("BOUNDSCOPE_SOCKET", "/nonexistent/boundscope.sock")]) else { return };
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success());
    assert!(
        stderr.starts_with(
            "boundscope: cannot connect to the profiler at BOUNDSCOPE_SOCKET=/nonexistent/boundscope.sock"
        )
    );
    let Some(o) = run_injected(&[]) else { return };
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("BOUNDSCOPE_SOCKET and BOUNDSCOPE_OUTPUT are not set"));
}

#[test]
fn a_forked_child_exits_at_once() {
    // The child inherits the collector but not its sender thread: its exit
    // must not wait for a stream it does not own.
    let out = tmp("fork.bsw");
    let lib = cdylib();
    let script = format!(
        "import ctypes, os, sys, time\n\
         ctypes.CDLL({:?}).InitializeInjection()\n\
         pid = os.fork()\n\
         if pid == 0:\n    sys.exit(0)\n\
         t = time.time(); os.waitpid(pid, 0)\n\
         print('child_exit_s=%.3f' % (time.time() - t))\n",
        lib.display().to_string()
    );
    let o = match Command::new("python3")
        .arg("-c")
        .arg(script)
        .env("BOUNDSCOPE_OUTPUT", &out)
        .env("BOUNDSCOPE_CUPTI_PATH", "/nonexistent/libcupti.so")
        .env_remove("BOUNDSCOPE_SOCKET")
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            println!("skipped: python3 not runnable here ({e})");
            return;
        }
    };
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let secs: f64 = stdout.trim().trim_start_matches("child_exit_s=").parse().expect("seconds");
    assert!(secs < 1.0, "the forked child took {secs} s to exit");
    // The parent's stream still ends properly.
    assert_eq!(records(&out).last().map(String::as_str), Some("end complete=1"));
    std::fs::remove_file(&out).ok();
}

#[test]
fn ctrl_c_still_interrupts_a_blocking_accept() {
    // Python installs its SIGINT handler without SA_RESTART, so a blocked
    // accept() returns EINTR and KeyboardInterrupt is raised at once. The
    // collector's chained handler must not turn SA_RESTART on (the accept
    // would then be restarted and never raise).
    let out = tmp("sigint.bsw");
    let sock = tmp("sigint.sock");
    let script = format!(
        "import ctypes, os, signal, socket, threading, time\n\
         ctypes.CDLL({:?}).InitializeInjection()\n\
         s = socket.socket(socket.AF_UNIX); s.bind({:?}); s.listen()\n\
         main = threading.main_thread().ident\n\
         threading.Timer(0.3, lambda: signal.pthread_kill(main, signal.SIGINT)).start()\n\
         t = time.time()\n\
         try:\n    s.accept()\nexcept KeyboardInterrupt:\n    print('interrupted_after_s=%.3f' % (time.time() - t))\n",
        cdylib().display().to_string(),
        sock.display().to_string()
    );
    let child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .env("BOUNDSCOPE_OUTPUT", &out)
        .env("BOUNDSCOPE_CUPTI_PATH", "/nonexistent/libcupti.so")
        .env_remove("BOUNDSCOPE_SOCKET")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        println!("skipped: python3 not runnable here");
        return;
    };
    let t = std::time::Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if t.elapsed() > std::time::Duration::from_secs(10) {
            child.kill().ok();
            panic!("the blocked accept() was not interrupted by SIGINT within 10 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let o = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let secs: f64 = stdout.trim().trim_start_matches("interrupted_after_s=").parse().expect("seconds");
    assert!(secs < 2.0, "KeyboardInterrupt after {secs} s");
    assert_eq!(records(&out).last().map(String::as_str), Some("end complete=1"));
    std::fs::remove_file(&out).ok();
    std::fs::remove_file(&sock).ok();
}
