//! The run reader (`records.bsr`, the wire format) on arbitrary bytes: a
//! trace or an error naming the run, never a panic. The reader takes a
//! directory, so each input is written to one scratch run directory.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use boundscope_trace::run::{RUN_RECORDS_FILE, read_run};
use libfuzzer_sys::fuzz_target;

fn run_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("boundscope-fuzz-run-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch run directory");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = run_dir();
    std::fs::write(dir.join(RUN_RECORDS_FILE), data).expect("write the records file");
    if let Err(e) = read_run(dir) {
        assert!(e.to_string().contains("boundscope-fuzz-run-"), "{e}");
    }
});
