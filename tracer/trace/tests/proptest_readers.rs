//! Property tests of the readers on damaged real inputs: shared Kineto traces
//! (plain and gzip) and a record stream written in the wire format, each
//! truncated, with bytes flipped and garbage inserted. Whatever the damage,
//! a reader returns a trace or an error naming the file; it never panics.
//! Case counts are set per test (`cases`); `PROPTEST_CASES` overrides them.
//!
//! Memory: a counting allocator (this test binary only) keeps each thread's
//! heap peak, and every read must stay within 64x its input plus 16 MiB.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use boundscope_trace::run::{RUN_RECORDS_FILE, read_run};
use boundscope_trace::{read_kineto, read_kineto_bytes, read_kineto_chunked};
use boundscope_wire::*;
use proptest::prelude::*;

thread_local! {
    /// Live heap bytes allocated by this thread (less those it freed), and their peak.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    // try_with: nothing to count while a thread is being torn down.
    let _ = LIVE.try_with(|l| {
        let now = l.get() + delta;
        l.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

/// Counts each thread's heap (proptest runs tests on several threads).
struct Counting;

// SAFETY: every call is passed on unchanged to the system allocator; the
// counters are const-initialized thread-locals of plain integers, which
// allocate nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        note(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            note(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` and checks that this thread's heap grew by at most 64x `input`
/// bytes plus 16 MiB (plus `extra`) at any point while it ran (what it
/// returns included).
fn within_memory_bound<T>(input: usize, extra: usize, f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let v = f();
    let peak = (PEAK.with(Cell::get) - base).max(0) as usize;
    let bound = 64 * input + (16 << 20) + extra;
    prop_assert!(peak <= bound, "peak heap {peak} bytes over the bound {bound} for {input} input bytes");
    Ok(v)
}

fn shared(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/traces").join(name);
    std::fs::read(p).expect("read shared trace")
}

/// The small shared traces, gzip and decompressed.
fn seeds() -> &'static [(Vec<u8>, Vec<u8>)] {
    static SEEDS: OnceLock<Vec<(Vec<u8>, Vec<u8>)>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        ["old_format_inference.json.gz", "cpu_only.json.gz", "mi250_train_hip.json.gz"]
            .iter()
            .map(|n| {
                let gz = shared(n);
                let mut plain = Vec::new();
                flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut plain).expect("gunzip");
                (gz, plain)
            })
            .collect()
    })
}

/// A run of 3 steps as the collector and the profiler write it: hello,
/// clock anchor, names, NVTX step ranges, launches, kernels, a memcpy,
/// stats, counters, run information with step selection, end records.
fn run_seed() -> &'static [u8] {
    static SEED: OnceLock<Vec<u8>> = OnceLock::new();
    SEED.get_or_init(|| {
        let mut out = Vec::new();
        encode_stream_header(&mut out);
        let mut p = FrameBuilder::default();
        p.push_string(1, b"python3 train.py");
        p.push(&RunInfoRec {
            start_ns: 1_000,
            window_start_ns: i64::MIN,
            window_end_ns: i64::MAX,
            skip_steps: 1,
            max_steps: 1,
            command: 1,
            target_pid: 77,
        });
        p.push_string(2, b"gpu_util");
        p.push_string(3, b"%");
        p.push(&CounterSeriesRec { id: 0, device: 0, name: 2, unit: 3 });
        p.push(&CounterSampleRec { time_ns: 5_000, value: 40.0, series: 0, _pad: 0 });
        out.extend(p.finish(PROFILER_SOURCE, 0));
        let mut t = FrameBuilder::default();
        t.push_string(1, b"python3");
        t.push(&HelloRec {
            pid: 77,
            cupti_api_version: 130001,
            kernel_record_version: 10,
            flags: HelloRec::ACTIVE | HelloRec::LATENCY_TIMESTAMPS,
            exe_name: 1,
        });
        t.push(&ClockAnchorRec { cupti_ns: 2_000_000, host_ns: 2_000, uncertainty_ns: 30, _pad: 0 });
        t.push_string(2, b"cudaLaunchKernel_v7000");
        t.push_string(3, b"gemv_kernel");
        t.push_string(4, b"boundscope:step");
        out.extend(t.finish(1, 0));
        for s in 0..3u32 {
            let mut t = FrameBuilder::default();
            let base = 2_000_000 + 10_000 + u64::from(s) * 10_000;
            let marker = |time_ns, flags| MarkerRec {
                time_ns,
                id: s + 1,
                flags,
                object_kind: 2,
                obj0: 77,
                obj1: 78,
                obj2: 0,
                name: 4,
                domain: 0,
            };
            t.push(&marker(base, MarkerRec::START));
            t.push(&ApiCallRec {
                start_ns: base + 100,
                end_ns: base + 600,
                correlation: s + 10,
                cbid: 211,
                pid: 77,
                tid: 78,
                name: 2,
                domain: ApiCallRec::RUNTIME,
                ..Default::default()
            });
            t.push(&KernelRec {
                start_ns: base + 2_000,
                end_ns: base + 5_000,
                queued_ns: base + 700,
                submitted_ns: base + 900,
                correlation: s + 10,
                stream: 7,
                name: 3,
                grid_x: 8,
                block_x: 128,
                ..Default::default()
            });
            t.push(&MemcpyRec { start_ns: base + 6_000, end_ns: base + 7_000, bytes: 4096, ..Default::default() });
            t.push(&marker(base + 9_000, MarkerRec::END));
            out.extend(t.finish(1, s + 1));
        }
        let mut t = FrameBuilder::default();
        t.push(&ExternalCorrelationRec { external_id: 555, correlation: 10, external_kind: 1 });
        t.push(&StatsRec { records: 12, ..Default::default() });
        t.push(&EndRec { complete: 1, _pad: 0 });
        out.extend(t.finish(1, 4));
        let mut e = FrameBuilder::default();
        e.push(&EndRec { complete: 1, _pad: 0 });
        out.extend(e.finish(PROFILER_SOURCE, 1));
        out
    })
}

/// One change to an input; positions are fractions of its length so that
/// each applies to any input.
#[derive(Debug, Clone)]
enum Damage {
    Truncate(f64),
    Flip(f64, u8),
    Insert(f64, Vec<u8>),
    Remove(f64, usize),
}

fn damage() -> impl Strategy<Value = Damage> {
    let garbage = prop_oneof![
        proptest::collection::vec(any::<u8>(), 1..16),
        // JSON-ish garbage reaches deeper than random bytes.
        proptest::sample::select(vec![
            b"{".to_vec(),
            b"}".to_vec(),
            b"]".to_vec(),
            b"\"".to_vec(),
            b",".to_vec(),
            b"\\".to_vec(),
            b"null".to_vec(),
            b"1e999".to_vec(),
            b"-9223372036854775809".to_vec(),
            br#"{"ph":"B","ts":1}"#.to_vec(),
            br#"{"ph":"E","ts":0}"#.to_vec(),
            br#""grid":"grid(100,)""#.to_vec(),
            vec![0xff, 0xfe],
            vec![0x1f, 0x8b],
        ]),
    ];
    prop_oneof![
        1 => (0.0..1.0f64).prop_map(Damage::Truncate),
        3 => (0.0..1.0f64, 1..=255u8).prop_map(|(at, x)| Damage::Flip(at, x)),
        2 => (0.0..1.0f64, garbage).prop_map(|(at, g)| Damage::Insert(at, g)),
        1 => (0.0..1.0f64, 1..64usize).prop_map(|(at, n)| Damage::Remove(at, n)),
    ]
}

fn apply(mut bytes: Vec<u8>, damages: &[Damage]) -> Vec<u8> {
    for d in damages {
        let at = |f: f64, len: usize| ((f * len as f64) as usize).min(len);
        match d {
            Damage::Truncate(f) => bytes.truncate(at(*f, bytes.len())),
            Damage::Flip(f, x) => {
                if !bytes.is_empty() {
                    let i = at(*f, bytes.len() - 1);
                    bytes[i] ^= x;
                }
            }
            Damage::Insert(f, g) => {
                let i = at(*f, bytes.len());
                bytes.splice(i..i, g.iter().copied());
            }
            Damage::Remove(f, n) => {
                let i = at(*f, bytes.len());
                let end = (i + n).min(bytes.len());
                bytes.drain(i..end);
            }
        }
    }
    bytes
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("boundscope-proptest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir.join(name)
}

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(n),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(cases(1024))]

    #[test]
    fn kineto_json_damage_gives_a_trace_or_an_error(
        seed in 0..3usize,
        damages in proptest::collection::vec(damage(), 1..5),
        chunk in prop_oneof![Just(usize::MAX), 1..64usize, 64..4096usize],
    ) {
        let bytes = apply(seeds()[seed].1.clone(), &damages);
        let label = Path::new("damaged.json");
        let r = within_memory_bound(bytes.len(), 0, || if chunk == usize::MAX {
            read_kineto_bytes(&bytes, label)
        } else {
            read_kineto_chunked(&bytes, chunk, label)
        })?;
        if let Err(e) = r {
            prop_assert!(e.to_string().starts_with("damaged.json: "), "{}", e);
        }
    }
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn gzip_damage_gives_a_trace_or_an_error(
        seed in 0..3usize,
        damages in proptest::collection::vec(damage(), 1..4),
    ) {
        let bytes = apply(seeds()[seed].0.clone(), &damages);
        let path = scratch("damaged.json.gz");
        std::fs::write(&path, &bytes).expect("write");
        // Bounded by the decompressed size (the seed's, plus what the damage inserted).
        let input = seeds()[seed].1.len() + bytes.len();
        if let Err(e) = within_memory_bound(input, 0, || read_kineto(&path))? {
            prop_assert!(e.to_string().contains("damaged.json.gz"), "{}", e);
        }
    }
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn run_stream_damage_gives_a_trace_or_an_error(damages in proptest::collection::vec(damage(), 1..5)) {
        let bytes = apply(run_seed().to_vec(), &damages);
        let dir = scratch("run");
        std::fs::create_dir_all(&dir).expect("run dir");
        std::fs::write(dir.join(RUN_RECORDS_FILE), &bytes).expect("write");
        // The frame reader grows a frame's buffer 1 MiB at a time as bytes
        // arrive, so a damaged length costs at most one such piece.
        if let Err(e) = within_memory_bound(bytes.len(), 1 << 20, || read_run(&dir))? {
            prop_assert!(e.to_string().contains("run"), "{}", e);
        }
    }
}

#[test]
fn undamaged_seeds_read() {
    for (gz, plain) in seeds() {
        read_kineto_bytes(plain, Path::new("seed.json")).expect("plain seed");
        let path = scratch("seed.json.gz");
        std::fs::write(&path, gz).expect("write");
        read_kineto(&path).expect("gzip seed");
    }
    let dir = scratch("seed-run");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join(RUN_RECORDS_FILE), run_seed()).expect("write");
    // fuzz/seed.sh asks for the run seed as a seed of the run_reader fuzz target.
    if let Some(out) = std::env::var_os("BOUNDSCOPE_FUZZ_SEED_DIR") {
        std::fs::write(PathBuf::from(out).join("run.bsr"), run_seed()).expect("write the fuzz seed");
    }
    let (t, summary) = read_run(&dir).expect("run seed");
    assert!(summary.complete(), "{summary:?}");
    assert_eq!(t.activities.len(), 2, "step selection keeps step 1: its kernel and memcpy");
    assert!(t.diagnostics.is_empty(), "{:?}", t.diagnostics);
}
