//! Damaged gzip files get messages that say what is wrong: bytes after a
//! whole gzip stream are a warning (the trace is complete), a checksum
//! mismatch is damage, not a cut.

use std::io::Write;
use std::path::{Path, PathBuf};

use boundscope_trace::{ReadErrorKind, WarningKind, read_kineto};

fn shared(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/traces").join(name);
    std::fs::read(p).expect("read shared trace")
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("boundscope-gzip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let p = dir.join(name);
    std::fs::File::create(&p).and_then(|mut f| f.write_all(bytes)).expect("write");
    p
}

#[test]
fn bytes_after_a_whole_gzip_stream_are_a_warning_and_the_trace_is_read() {
    let whole = shared("a100_simple_add.json.gz");
    let expected = read_kineto(&temp_file("whole.json.gz", &whole)).expect("whole file");
    for (name, tail) in [("garbage.json.gz", b"garbage\n".to_vec()), ("padded.json.gz", vec![0u8; 512])] {
        let mut bytes = whole.clone();
        bytes.extend_from_slice(&tail);
        let t = read_kineto(&temp_file(name, &bytes)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(t.activities.len(), expected.activities.len(), "{name}");
        assert_eq!(t.api.len(), expected.api.len(), "{name}");
        assert_eq!(t.diagnostics.count(WarningKind::TrailingData), 1, "{name}");
        let w = &t.diagnostics.warnings()[0];
        let m = &w.first_message;
        assert!(m.contains(&format!("byte offset {}", whole.len())), "{m}");
        assert!(m.contains(&format!("followed by {} byte(s)", tail.len())), "{m}");
        assert!(!m.contains("cut short"), "{m}");
    }
}

#[test]
fn checksum_mismatch_is_told_apart_from_a_cut() {
    let whole = shared("a100_simple_add.json.gz");
    // The member trailer is CRC-32 then length: change the CRC.
    let mut bad = whole.clone();
    let crc_at = bad.len() - 8;
    bad[crc_at] ^= 0xff;
    let e = read_kineto(&temp_file("crc.json.gz", &bad)).expect_err("checksum mismatch");
    assert!(
        matches!(e.kind, ReadErrorKind::GzipChecksum { compressed_offset, .. } if compressed_offset == crc_at as u64),
        "{e:?}"
    );
    let m = e.to_string();
    assert!(m.contains("crc.json.gz") && m.contains("damaged, not cut short") && m.contains("checksum"), "{m}");

    // A cut file still says it was cut.
    let e = read_kineto(&temp_file("cut.json.gz", &whole[..whole.len() - 3])).expect_err("cut");
    assert!(matches!(e.kind, ReadErrorKind::Gzip { .. }), "{e:?}");
    assert!(e.to_string().contains("cut short"), "{e}");
}

#[test]
fn a_damaged_second_member_is_damage() {
    let whole = shared("a100_simple_add.json.gz");
    let mut bytes = whole.clone();
    // Gzip magic, then a header that is no gzip header (compression method 0).
    bytes.extend_from_slice(&[0x1f, 0x8b, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 1, 2, 3]);
    let e = read_kineto(&temp_file("second.json.gz", &bytes)).expect_err("damaged member");
    let ReadErrorKind::GzipDamaged { compressed_offset, .. } = e.kind else { panic!("{e:?}") };
    assert!((whole.len() as u64..=bytes.len() as u64).contains(&compressed_offset), "{compressed_offset}");
}
