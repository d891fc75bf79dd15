//! The Kineto JSON reader on arbitrary bytes, whole and in small chunks
//! (every way an event can straddle a read boundary): a trace or an error
//! naming the input, never a panic.
#![no_main]

use std::path::Path;

use boundscope_trace::{read_kineto_bytes, read_kineto_chunked};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let label = Path::new("fuzz.json");
    let check = |r: Result<boundscope_trace::Trace, boundscope_trace::ReadError>| {
        if let Err(e) = r {
            assert!(e.to_string().starts_with("fuzz.json: "), "{e}");
        }
    };
    check(read_kineto_bytes(data, label));
    // The first byte picks a chunk size of 1..=64 for the rest.
    if let Some((&c, rest)) = data.split_first() {
        check(read_kineto_chunked(rest, usize::from(c % 64) + 1, label));
    }
});
