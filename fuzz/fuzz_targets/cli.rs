//! The command-line parser, through the built binary (its clap definitions
//! live in the binary crate): each input byte picks a token from a fixed
//! vocabulary of subcommands, options and awkward values, so an argument
//! vector can never name a real program or an absolute output path. The
//! binary runs in a scratch directory with no standard input and a 5 s
//! deadline; it must exit 0, 1, 2 or 3 (never 101 or a signal), with a
//! message on stderr when it exits 2. `BOUNDSCOPE_BIN` names the binary
//! (default `target/debug/boundscope`, from the repository root).
#![no_main]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;

include!("../../profiler/tests/common/cli_tokens.rs");

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("boundscope-fuzz-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir
    })
}

fn binary() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let p =
            std::env::var_os("BOUNDSCOPE_BIN").map_or_else(|| PathBuf::from("target/debug/boundscope"), PathBuf::from);
        std::fs::canonicalize(&p).unwrap_or_else(|e| panic!("{}: {e} (set BOUNDSCOPE_BIN)", p.display()))
    })
}

fuzz_target!(|data: &[u8]| {
    let args: Vec<&str> = data.iter().take(12).map(|&b| TOKENS[usize::from(b) % TOKENS.len()]).collect();
    let mut child = Command::new(binary())
        .args(&args)
        .current_dir(scratch())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn boundscope");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut err = String::new();
            if let Some(mut s) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut s, &mut err);
            }
            let code = status.code();
            assert!(matches!(code, Some(0..=3)), "{args:?}: {status} {err}");
            if code == Some(2) {
                assert!(!err.trim().is_empty(), "{args:?}: exit 2 without a message");
            }
            return;
        }
        if Instant::now() > deadline {
            // Still working (a sweep or a live view): not a parser fault.
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
});
