//! `boundscope profile` end to end without a GPU: the launcher, the socket,
//! the ingest, the run file and reading it back, with a fake target that
//! sends CUPTI-layout records through the injected library's real converter
//! and sender (`boundscope_inject::fake`). Plus the perf-only path and the
//! error paths a user meets.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use boundscope_inject::SocketSink;
use boundscope_inject::fake::stream_fake_run;

fn boundscope(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_boundscope"));
    c.args(args).envs(env.iter().copied());
    c.output().expect("run boundscope")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn out_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bs-profile-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

const FAKE_ENV: &str = "BOUNDSCOPE_TEST_FAKE_TARGET";

/// Not a test of its own: the program `boundscope profile` runs in the tests
/// below (this test binary, re-run with FAKE_ENV set). It plays an injected
/// process: connects to BOUNDSCOPE_SOCKET and streams 6 steps of 4 kernels.
#[test]
fn fake_target_helper() {
    if std::env::var_os(FAKE_ENV).is_none() {
        return;
    }
    let socket = std::env::var_os("BOUNDSCOPE_SOCKET").expect("boundscope sets BOUNDSCOPE_SOCKET");
    let stream = UnixStream::connect(&socket).expect("connect to the profiler");
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let now = (t.tv_sec * 1_000_000_000 + t.tv_nsec) as u64;
    stream_fake_run(Box::new(SocketSink(stream)), 6, 4, now).expect("stream the fake run");
}

fn fake_target_args(out: &Path, extra: &[&str]) -> Vec<String> {
    let exe = std::env::current_exe().expect("test exe");
    let mut v = vec!["profile".to_string(), "--out".into(), out.display().to_string()];
    v.extend(extra.iter().map(|s| s.to_string()));
    v.extend([
        "--".to_string(),
        exe.display().to_string(),
        "--exact".into(),
        "fake_target_helper".into(),
        "--quiet".into(),
    ]);
    v
}

#[test]
fn profile_records_a_fake_target_and_analyze_reads_the_run_back() {
    let out = out_dir("fake");
    let args = fake_target_args(&out, &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = boundscope(&args, &[(FAKE_ENV, "1")]);
    let (stdout, stderr) = (text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("24 kernels (24 with queued/submitted timestamps, 100.0%), 24 API calls"), "{stdout}");
    assert!(stdout.contains("launches matched   24 of 24 kernels"), "{stdout}");
    assert!(stdout.contains("6 steps"), "{stdout}");
    assert!(
        stdout.contains("API version 130001, kernel record v10 (layout verified), latency timestamps on"),
        "{stdout}"
    );
    assert!(stdout.contains("dropped            0 (send queue full 0, CUPTI 0)"), "{stdout}");
    assert!(stdout.contains("run complete       yes"), "{stdout}");
    for f in ["records.bsw", "summary.txt", "launches.csv", "kernels.csv", "steps.csv", "trace.json.gz"] {
        assert!(out.join(f).is_file(), "{f} missing in {}", out.display());
    }
    // The same run read back: same numbers.
    let a = boundscope(&["analyze", out.to_str().expect("utf8"), "--json"], &[]);
    assert!(a.status.success(), "{}", text(&a.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&a.stdout).expect("json");
    let t = &doc["traces"][0];
    assert_eq!(t["trace_window"]["kernels"], 24, "{t}");
    assert_eq!(t["trace_window"]["matched_kernels"], 24, "{t}");
    assert_eq!(t["steps"].as_array().map(Vec::len), Some(6));
    // Launch to start is 5 us in every launch: both sides went through the clock anchor alike.
    let l2s = &t["trace_window"]["launch_to_start"];
    assert_eq!(l2s["p50_ns"].as_f64(), Some(5_000.0), "{l2s}");
    assert_eq!(l2s["max_ns"].as_i64(), Some(5_000), "{l2s}");
    let summary = std::fs::read_to_string(out.join("summary.txt")).expect("summary");
    assert!(summary.contains("BOUNDSCOPE OVERHEAD"));
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn step_selection_applies_live_and_when_read_back() {
    let out = out_dir("steps");
    let args = fake_target_args(&out, &["--skip-steps", "2", "--steps", "3"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = boundscope(&args, &[(FAKE_ENV, "1")]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("12 kernels"), "{}", text(&o.stdout));
    let a = boundscope(&["analyze", out.to_str().expect("utf8"), "--json"], &[]);
    let doc: serde_json::Value = serde_json::from_slice(&a.stdout).expect("json");
    assert_eq!(doc["traces"][0]["trace_window"]["kernels"], 12);
    assert_eq!(doc["traces"][0]["steps"].as_array().map(Vec::len), Some(3));
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn without_a_gpu_the_program_runs_with_perf_only_and_says_why() {
    let out = out_dir("nogpu");
    let o = boundscope(
        &["profile", "--out", out.to_str().expect("utf8"), "--", "sh", "-c", "echo hello from the program; exit 3"],
        &[],
    );
    let (stdout, stderr) = (text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "profiling worked even though the program failed: {stderr}");
    assert!(stdout.starts_with("hello from the program\n"), "{stdout}");
    assert!(stderr.contains("boundscope: the program exit status: 3"), "{stderr}");
    let has_driver =
        ["/usr/lib/x86_64-linux-gnu/libcuda.so.1", "/usr/lib64/libcuda.so.1"].iter().any(|p| Path::new(p).exists());
    if !has_driver {
        assert!(
            stderr.contains("boundscope: no GPU activity can be recorded: no NVIDIA driver found (libcuda.so.1"),
            "{stderr}"
        );
        assert!(stdout.contains("GPU activity       not recorded: no NVIDIA driver found"), "{stdout}");
    }
    assert!(stdout.contains("cpu.task_clock"), "perf sampled the program: {stdout}");
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn user_errors_are_clear() {
    // An existing run is never overwritten.
    let out = out_dir("twice");
    let o = boundscope(&["profile", "--out", out.to_str().expect("utf8"), "--", "true"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = boundscope(&["profile", "--out", out.to_str().expect("utf8"), "--", "true"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("already holds a run is not overwritten"), "{}", text(&o.stderr));
    std::fs::remove_dir_all(&out).ok();

    // A program that does not exist: the gate says so, the run still ends cleanly.
    let out = out_dir("missing");
    let o = boundscope(&["profile", "--out", out.to_str().expect("utf8"), "--", "/nonexistent/program"], &[]);
    let stderr = text(&o.stderr);
    assert!(stderr.contains("boundscope: cannot run /nonexistent/program"), "{stderr}");
    assert!(stderr.contains("exit status: 127"), "{stderr}");
    std::fs::remove_dir_all(&out).ok();

    // No command.
    let o = boundscope(&["profile", "--out", "x"], &[]);
    assert_eq!(o.status.code(), Some(2));
    let o = boundscope(&["profile", "--delay=-1", "--", "true"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--delay must be a non-negative number of seconds"));
}

/// Processes of process group `pgid` still running (zombies left out), from /proc.
fn group_members(pgid: i32) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some(close) = stat.rfind(')') else { continue };
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        if fields.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid) && fields[0] != "Z" {
            found.push(format!("{pid} {}", &stat[..close + 1]));
        }
    }
    found
}

/// `pgrep -g PGID` once the group's last zombies are reaped (orphans are
/// reaped by init, a moment after they die), within 5 s.
fn pgrep_group(pgid: i32) -> String {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let o = Command::new("pgrep").args(["-g", &pgid.to_string()]).output().map(|o| text(&o.stdout));
        let found = o.unwrap_or_default();
        if found.is_empty() || std::time::Instant::now() > until {
            return found;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn duration_leaves_no_process_of_the_program_behind() {
    // The shell's background job ignores SIGINT (as in any non-interactive
    // shell), so --duration's interrupt alone would leave it running.
    let out = out_dir("group");
    let pid_file = out.with_extension("pid");
    let script = format!("echo $$ > {}; sleep 30 & exec sleep 30", pid_file.display());
    let started = std::time::Instant::now();
    let o = boundscope(
        &["profile", "--duration", "1", "--out", out.to_str().expect("utf8"), "--", "sh", "-c", &script],
        &[],
    );
    let stderr = text(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "ended on its deadline: {stderr}");
    let pgid: i32 = std::fs::read_to_string(&pid_file).expect("pid file").trim().parse().expect("pid");
    assert!(group_members(pgid).is_empty(), "left behind: {:?}\n{stderr}", group_members(pgid));
    assert_eq!(pgrep_group(pgid), "", "pgrep -g {pgid}");
    assert!(stderr.contains("1 process(es) started by the program were still running"), "{stderr}");
    assert!(stderr.contains("(sleep)"), "{stderr}");
    std::fs::remove_dir_all(&out).ok();
    std::fs::remove_file(&pid_file).ok();

    // The plain case: a shell whose only child is the program.
    let out = out_dir("group-plain");
    let script = format!("echo $$ > {}; sleep 20; true", pid_file.display());
    let o = boundscope(
        &["profile", "--duration", "1", "--out", out.to_str().expect("utf8"), "--", "sh", "-c", &script],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let pgid: i32 = std::fs::read_to_string(&pid_file).expect("pid file").trim().parse().expect("pid");
    assert!(group_members(pgid).is_empty(), "left behind: {:?}", group_members(pgid));
    std::fs::remove_dir_all(&out).ok();
    std::fs::remove_file(&pid_file).ok();
}

#[test]
fn duration_and_delay_have_an_upper_bound() {
    for opt in ["--duration", "--delay"] {
        let o = boundscope(&["profile", opt, "1e30", "--out", "never-written", "--", "true"], &[]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
        assert!(text(&o.stderr).contains(&format!("{opt} must be at most 2592000 seconds")), "{}", text(&o.stderr));
    }
    assert!(!Path::new("never-written").exists());
}
