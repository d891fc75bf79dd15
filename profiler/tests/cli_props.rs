//! The command-line parser on random argument vectors, through the built
//! binary (the clap definitions live in the binary crate). Each vector is
//! drawn from a fixed vocabulary of subcommands, options and awkward values
//! (negative, huge, non-finite, empty, malformed ranges, unknown names), so a
//! vector can never name a real program or an absolute output path. The
//! binary runs in a scratch directory with no standard input and a deadline;
//! it must exit 0, 1, 2 or 3 (never 101, never a signal), with a message on
//! stderr when it exits 2.
//!
//! proptest is not a dependency of this crate: the vectors come from a seeded
//! generator, so a failure names its case and reproduces. `CLI_CASES` sets the
//! number of cases (default 400, under 10 s in debug). The same
//! vocabulary drives the `cli` fuzz target (fuzz/fuzz_targets/cli.rs).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

include!("common/cli_tokens.rs");

/// splitmix64: small, seeded, good enough to pick tokens.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("boundscope-cli-props-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

#[test]
fn random_argument_vectors_exit_with_a_documented_code() {
    let cases: u64 = std::env::var("CLI_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(400);
    let dir = scratch();
    let mut by_code = [0u32; 4];
    let mut still_running = 0u32;
    for case in 0..cases {
        let mut rng = Rng(case);
        let n = 1 + rng.next() % 7;
        // A subcommand first most of the time, so that its options are reached.
        let mut args: Vec<&str> = Vec::new();
        if !rng.next().is_multiple_of(4) {
            args.push(["analyze", "export", "sweep", "profile", "top"][(rng.next() % 5) as usize]);
        }
        for _ in 0..n {
            args.push(TOKENS[(rng.next() % TOKENS.len() as u64) as usize]);
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_boundscope"))
            .args(&args)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn boundscope");
        let deadline = Instant::now() + Duration::from_secs(3);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break Some(status);
            }
            if Instant::now() > deadline {
                // Working (a default sweep, a live view): past the parser.
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let Some(status) = status else {
            still_running += 1;
            continue;
        };
        let mut err = String::new();
        if let Some(mut s) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut s, &mut err);
        }
        let code = status.code();
        match code {
            Some(c @ 0..=3) => by_code[c as usize] += 1,
            _ => panic!("case {case}: {args:?} ended with {status}: {err}"),
        }
        if code == Some(2) {
            assert!(!err.trim().is_empty(), "case {case}: {args:?} exit 2 without a message");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("{cases} argument vectors: exit 0/1/2/3 = {by_code:?}, {still_running} still working at 3 s (stopped)");
    assert_eq!(by_code[1], 0, "exit 1 is a bug: {by_code:?}");
    assert!(by_code[2] > 0);
}
