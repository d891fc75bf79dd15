//! Cost bounds of the Kineto reader on extreme (but well-formed) input: an
//! event far larger than a read chunk costs time linear in its size, and a
//! name far longer than any real one is cut with a warning.

use std::path::Path;
use std::time::{Duration, Instant};

use boundscope_trace::{MAX_NAME_BYTES, WarningKind, read_kineto_chunked};

fn doc_with_name(name_len: usize) -> Vec<u8> {
    let mut s = String::from(r#"{"traceEvents": [{"ph": "X", "cat": "kernel", "name": ""#);
    s.push_str(&"k".repeat(name_len));
    s.push_str(r#"", "pid": 0, "tid": 7, "ts": 10, "dur": 5, "args": {"device": 0, "stream": 7}},"#);
    s.push_str(r#"{"ph": "X", "cat": "kernel", "name": "short", "pid": 0, "tid": 7, "ts": 20, "dur": 5}]}"#);
    s.into_bytes()
}

#[test]
fn huge_name_is_cut_with_a_warning() {
    let doc = doc_with_name(MAX_NAME_BYTES * 4);
    let t = read_kineto_chunked(&doc, 4096, Path::new("long.json")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.activities.len(), 2);
    let longest = (0..t.activities.len()).map(|i| t.str(t.activities.name[i]).len()).max();
    assert_eq!(longest, Some(MAX_NAME_BYTES));
    assert_eq!(t.diagnostics.count(WarningKind::LongName), 1);
    let w = &t.diagnostics.warnings()[0];
    assert!(w.first_message.contains(&format!("{} bytes", MAX_NAME_BYTES * 4)), "{}", w.first_message);
    assert_eq!(w.first_location.map(|l| l.event_index), Some(0));
}

#[test]
fn name_at_the_limit_is_kept_whole() {
    let doc = doc_with_name(MAX_NAME_BYTES);
    let t = read_kineto_chunked(&doc, 1000, Path::new("limit.json")).unwrap_or_else(|e| panic!("{e}"));
    assert!(t.diagnostics.is_empty(), "{:?}", t.diagnostics);
}

/// A multi-byte character straddling the cut is not split.
#[test]
fn cut_respects_utf8() {
    let mut name = "k".repeat(MAX_NAME_BYTES - 1);
    name.push_str(&"é".repeat(10));
    let doc = format!(
        r#"{{"traceEvents": [{{"ph": "X", "cat": "cpu_op", "name": "{name}", "pid": 1, "tid": 1, "ts": 1, "dur": 1}}]}}"#
    );
    let t = read_kineto_chunked(doc.as_bytes(), 7000, Path::new("utf8.json")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.str(t.host_ops.name[0]).len(), MAX_NAME_BYTES - 1);
}

/// 16 MiB in one event, handed over in 64 KiB chunks: 256 chunks. Re-parsing
/// the event after every chunk (the old behaviour) parses about 2 GB; growing
/// the buffer geometrically parses about 32 MB.
#[test]
fn event_spanning_many_chunks_costs_linear_time() {
    let doc = doc_with_name(16 << 20);
    let t0 = Instant::now();
    let t = read_kineto_chunked(&doc, 64 << 10, Path::new("big.json")).unwrap_or_else(|e| panic!("{e}"));
    let took = t0.elapsed();
    assert_eq!(t.activities.len(), 2);
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

/// The same for an event that is skipped as malformed (found by the
/// structural scan rather than serde_json) and for a large header field.
#[test]
fn large_malformed_event_and_header_are_skipped_in_linear_time() {
    let big = "x".repeat(8 << 20);
    let doc = format!(
        r#"{{"junk": "{big}", "traceEvents": [{{"ph": "X", "cat": "kernel", "name": "{big}", "ts": "bad"}},
        {{"ph": "X", "cat": "kernel", "name": "k", "pid": 0, "tid": 7, "ts": 1, "dur": 1}}]}}"#
    );
    let t0 = Instant::now();
    let t = read_kineto_chunked(doc.as_bytes(), 32 << 10, Path::new("junk.json")).unwrap_or_else(|e| panic!("{e}"));
    assert!(t0.elapsed() < Duration::from_secs(10), "took {:?}", t0.elapsed());
    assert_eq!(t.activities.len(), 1);
    assert_eq!(t.diagnostics.count(WarningKind::MalformedEvent), 1);
}
