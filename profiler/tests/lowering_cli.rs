//! `boundscope lowering` as a user runs it: the lowered program's kernels per
//! operator, and held against a trace of the same workload and shape (here a
//! simulated one, which runs exactly the lowered program every step).

mod common;

use common::{boundscope, s, sim_sweep, temp_dir, text};

#[test]
fn a_simulated_trace_launches_what_the_lowering_says_operator_by_operator() {
    let out = temp_dir("lowering-cli", "sim");
    sim_sweep(&out, "gpt2:prefill", "2", "sim:h100-pcie", "3", &[]);
    let trace = out.join("traces/h100-pcie-b2.json.gz");
    let o = boundscope(&["lowering", "--workload", "gpt2:prefill", "--batch", "2", "--against", s(&trace)]);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{}\n{stdout}", text(&o.stderr));
    assert!(stdout.contains("3 step(s)"), "{stdout}");
    let summary = stdout.lines().last().unwrap_or_default();
    let (same, rest) = summary.split_once(" of ").unwrap_or_else(|| panic!("{summary}"));
    let all = rest.split_whitespace().next().unwrap_or_default();
    assert_eq!(same, all, "{stdout}");
    // Another release lowers differently: no longer equal (4.54's
    // `.contiguous()` copies are Llama's; GPT-2's prefill gains cache cats).
    let o = boundscope(&[
        "lowering",
        "--workload",
        "gpt2:prefill",
        "--batch",
        "2",
        "--stack",
        "4.49",
        "--against",
        s(&trace),
    ]);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(stdout.contains("aten::cat"), "{stdout}");
    let summary = stdout.lines().last().unwrap_or_default();
    let (same, rest) = summary.split_once(" of ").unwrap_or_else(|| panic!("{summary}"));
    assert_ne!(same, rest.split_whitespace().next().unwrap_or_default(), "{stdout}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn bad_input_is_an_error_naming_the_fix() {
    let o = boundscope(&["lowering", "--workload", "llama-70b:decode"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("llama-3.2-1b:decode"), "{}", text(&o.stderr));
    let o = boundscope(&["lowering", "--batch", "0"]);
    assert_eq!(o.status.code(), Some(2));
}
