//! Property tests over platform files: the shipped files of
//! `workloads/platforms/` edited at random (values replaced by extreme,
//! non-finite or ill-typed ones, scaled, lines removed, duplicated or
//! garbled, keys renamed, the text cut short). `Platform::parse` never
//! panics: it returns an error that names the file, or a valid platform on
//! which a program simulates to finite, positive step times.
//!
//! proptest is not a dependency of this crate; the cases come from a seeded
//! PCG generator (the crate's own), so a failure names its case and
//! reproduces exactly. `PLATFORM_CASES` sets the number of cases.

use std::path::Path;

use boundscope_workloads::program::{Action, HostClass, HostThread, KernelClass, KernelIn, LaunchApi};
use boundscope_workloads::{
    Dtype, Platform, PointError, Program, Shape, SimError, SimSpec, WorkloadSpec, run_point, simulate,
};
use rand_core::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

fn platform_files() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("platforms");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("platforms directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| (p.display().to_string(), std::fs::read_to_string(&p).expect("read platform file")))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    files
}

fn small_program() -> Program {
    let mut p = Program::default();
    let gemm = KernelIn { name: "gemm", api: LaunchApi::Driver, class: KernelClass::Gemm, flops: 2e9, bytes: 1e6 };
    p.launch_op("aten::linear", HostClass::Gemm, HostThread::Main, true, &[gemm]);
    let attn =
        KernelIn { name: "attn", api: LaunchApi::Runtime, class: KernelClass::Attention, flops: 1e8, bytes: 4e6 };
    p.launch_op("aten::sdpa", HostClass::Attention, HostThread::Autograd, false, &[attn]);
    let add = KernelIn { name: "add", api: LaunchApi::Runtime, class: KernelClass::Memory, flops: 0.0, bytes: 3e6 };
    p.launch_op("aten::add", HostClass::Elementwise, HostThread::Main, true, &[add]);
    p.action_op("aten::copy_", HostClass::Copy, HostThread::Main, Action::CopyToDevice { bytes: 1 << 20 });
    p.action_op("aten::item", HostClass::Transfer, HostThread::Main, Action::ReadBack { bytes: 8 });
    p.action_op("sync", HostClass::View, HostThread::Main, Action::Synchronize);
    p
}

const VALUES: &[&str] = &[
    "0",
    "-1",
    "-0.0",
    "1e-300",
    "1e300",
    "1.7976931348623157e308",
    "nan",
    "inf",
    "-inf",
    "+inf",
    "9223372036854775807",
    "18446744073709551616",
    "4294967296",
    "0.0000001",
    "\"x\"",
    "\"\"",
    "true",
    "[]",
    "[1, 2, 3]",
    "{ a = 1 }",
    "1_000_000",
    "0x10",
];

/// One random edit of the text of a platform file.
fn edit(text: &str, rng: &mut Pcg64Mcg) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let pick = |rng: &mut Pcg64Mcg, n: usize| (rng.next_u64() % n.max(1) as u64) as usize;
    let assignments: Vec<usize> =
        (0..lines.len()).filter(|&i| lines[i].contains('=') && !lines[i].trim_start().starts_with('#')).collect();
    let Some(&i) = assignments.get(pick(rng, assignments.len())) else {
        // Nothing left to edit (the text was cut short): add garbage.
        return format!("{text}\n[gpu");
    };
    let key = lines[i].split('=').next().unwrap_or("").trim().to_string();
    match rng.next_u64() % 9 {
        // An extreme, non-finite or ill-typed value.
        0 | 1 => lines[i] = format!("{key} = {}", VALUES[pick(rng, VALUES.len())]),
        // The value scaled by 10^-4 .. 10^4.
        2 | 3 => {
            let value = lines[i].split('=').nth(1).unwrap_or("").split('#').next().unwrap_or("").trim().to_string();
            if let Ok(v) = value.parse::<f64>() {
                let scale = 10f64.powf((rng.next_u64() % 8001) as f64 / 1000.0 - 4.0);
                lines[i] = format!("{key} = {:e}", v * scale);
            }
        }
        4 => {
            lines.remove(i);
        }
        5 => lines.insert(i, lines[i].clone()),
        6 => lines[i] = format!("{key}_typo = 1"),
        7 => {
            let garbage = ["[gpu", "= 3", "x =", "[[gpu]]", "[launch]", "\u{feff}name = 1", "\"", "a.b.c = 1"];
            lines.insert(i, garbage[pick(rng, garbage.len())].to_string());
        }
        _ => {
            let joined = lines.join("\n");
            let mut cut = pick(rng, joined.len());
            while !joined.is_char_boundary(cut) {
                cut -= 1;
            }
            return joined[..cut].to_string();
        }
    }
    lines.join("\n")
}

fn cases() -> u64 {
    std::env::var("PLATFORM_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1500)
}

#[test]
fn edited_platform_files_give_an_error_or_finite_positive_steps() {
    let files = platform_files();
    let program = small_program();
    let gpt2 = WorkloadSpec::parse("gpt2:decode", Dtype::Bf16).expect("workload");
    let (mut valid, mut refused, mut lowered, mut past_horizon) = (0u32, 0u32, 0u32, 0u32);
    for case in 0..cases() {
        let mut rng = Pcg64Mcg::seed_from_u64(case);
        let (_, original) = &files[(rng.next_u64() % files.len() as u64) as usize];
        let mut text = original.clone();
        for _ in 0..1 + rng.next_u64() % 3 {
            text = edit(&text, &mut rng);
        }
        let platform = match Platform::parse(&text, "edited.toml") {
            Ok(p) => p,
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.starts_with("platform file edited.toml: ") && msg.len() > 30, "case {case}: {msg}");
                refused += 1;
                continue;
            }
        };
        valid += 1;
        let dtype = if rng.next_u64() % 2 == 0 { Dtype::Bf16 } else { Dtype::Fp16 };
        let spec = SimSpec { warmup_steps: 1, steps: 3, seed: case, jitter: 0.05, dtype, trace_name: None };
        // Every field within its range, several near their extremes at once,
        // can still add up to more than the simulator's horizon: a clear
        // error, never a wrapped (shorter) step.
        let run = match simulate(&program, &platform, &spec) {
            Ok(run) => run,
            Err(SimError::PastHorizon { .. }) => {
                past_horizon += 1;
                continue;
            }
            Err(e) => panic!("case {case}: {e}\n{text}"),
        };
        assert_eq!(run.step_ns.len(), 3, "case {case}");
        assert!(run.step_ns.iter().all(|&s| s > 0 && s < (1 << 61)), "case {case}: {:?}\n{text}", run.step_ns);
        // Every few valid cases, a whole lowered workload as a sweep runs it.
        if valid % 16 == 1 {
            let spec = SimSpec { steps: 1, ..spec };
            match run_point(&gpt2, Shape { batch: 4, seq: 128 }, &platform, &spec) {
                Ok(run) => assert!(run.step_ns.iter().all(|&s| s > 0), "case {case}: {:?}", run.step_ns),
                Err(PointError::OutOfMemory { .. }) => {}
                Err(e) => panic!("case {case}: {e}\n{text}"),
            }
            lowered += 1;
        }
    }
    // Both outcomes are exercised, not only one.
    assert!(valid > 100 && refused > 100, "valid {valid}, refused {refused}");
    assert!(past_horizon * 20 < valid, "{past_horizon} of {valid} valid platforms ran past the horizon");
    eprintln!(
        "{} cases: {valid} valid platforms ({lowered} also with gpt2:decode, {past_horizon} past the horizon), \
         {refused} refused",
        cases()
    );
}

#[test]
fn the_shipped_platform_files_are_valid() {
    for (path, text) in platform_files() {
        Platform::parse(&text, &path).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Found by the test above: an efficiency of 1e-300 passed the range check
/// (a fraction in (0, 1]) and stretched one kernel past the horizon. Rates
/// that divide work now have floors far below any real device.
#[test]
fn tiny_rates_and_fractions_are_refused_with_their_range() {
    let (_, h100) = platform_files().into_iter().find(|(p, _)| p.ends_with("h100-pcie.toml")).expect("h100");
    // The first `key = ...` line gets the tiny value, whatever the file says now.
    let set = |key: &str, value: &str| -> String {
        let mut done = false;
        h100.lines()
            .map(|l| {
                if !done && l.trim_start().starts_with(&format!("{key} = ")) {
                    done = true;
                    format!("{key} = {value}")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    for (key, tiny, field) in [
        ("memory_max", "1e-300", "`gpu.efficiency.memory_max`"),
        ("gemm_max", "0.001", "`gpu.efficiency.gemm_max`"),
        ("hbm_bandwidth_gbps", "1e-9", "`gpu.hbm_bandwidth_gbps`"),
        ("peak_bf16_tflops", "1e-300", "`gpu.peak_bf16_tflops`"),
        ("bandwidth_gbps", "0.0001", "`link.bandwidth_gbps`"),
    ] {
        let text = set(key, tiny);
        assert!(text.contains(&format!("{key} = {tiny}")), "{key}");
        let e = Platform::parse(&text, "tiny.toml").map(|_| ()).expect_err(key).to_string();
        assert!(e.contains(field) && e.contains("between"), "{key}: {e}");
    }
}
