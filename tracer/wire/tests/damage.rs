//! What a reader makes of damaged streams: a torn last frame, flipped bytes,
//! another version, unknown record kinds from a newer writer.

use boundscope_wire::*;

fn stream(frames: usize) -> Vec<u8> {
    let mut out = Vec::new();
    encode_stream_header(&mut out);
    for seq in 0..frames {
        let mut f = FrameBuilder::default();
        f.push_string(1, b"k");
        f.push(&KernelRec { start_ns: seq as u64, end_ns: seq as u64 + 5, name: 1, ..Default::default() });
        out.extend_from_slice(&f.finish(1, seq as u32));
    }
    out
}

fn read_all(bytes: &[u8]) -> (Vec<Frame>, Option<WireError>) {
    let mut r = FrameReader::new(bytes);
    let mut frames = Vec::new();
    loop {
        match r.next_frame() {
            Ok(Some(f)) => frames.push(f),
            Ok(None) => return (frames, None),
            Err(e) => return (frames, Some(e)),
        }
    }
}

#[test]
fn a_torn_last_frame_keeps_the_frames_before_it() {
    let whole = stream(3);
    for cut in [whole.len() - 1, whole.len() - 50, whole.len() - 100] {
        let (frames, err) = read_all(&whole[..cut]);
        assert_eq!(frames.len(), 2, "cut at {cut}");
        let err = err.expect("truncation reported");
        assert!(err.is_truncation(), "{err}");
        assert_eq!(err.offset, frames[1].offset + frames[1].bytes.len() as u64);
        assert!(err.to_string().contains("writer stopped"), "{err}");
    }
    // Cut exactly between frames: a clean end.
    let (frames, err) = read_all(&whole[..whole.len() - (whole.len() - 16) / 3]);
    assert_eq!(frames.len(), 2);
    assert!(err.is_none());
}

#[test]
fn flipped_payload_byte_fails_the_checksum() {
    let mut s = stream(2);
    let last = s.len() - 3;
    s[last] ^= 0x40;
    let (frames, err) = read_all(&s);
    assert_eq!(frames.len(), 1);
    assert!(matches!(err.map(|e| e.kind), Some(WireErrorKind::Checksum { .. })));
}

#[test]
fn zeroed_tail_is_damage_not_a_frame() {
    let mut s = stream(1);
    s.extend_from_slice(&[0u8; 64]);
    let (frames, err) = read_all(&s);
    assert_eq!(frames.len(), 1);
    assert!(matches!(err.map(|e| e.kind), Some(WireErrorKind::BadFrameMagic)));
}

#[test]
fn other_versions_and_other_files_are_refused() {
    let mut s = stream(1);
    s[8] = 99;
    let err = FrameReader::new(&s[..]).next_frame().expect_err("version");
    assert_eq!(err.kind, WireErrorKind::Version { found: 99 });
    assert!(err.to_string().contains("version 99"));
    let err = FrameReader::new(&b"{\"traceEvents\": []}"[..]).next_frame().expect_err("json");
    assert_eq!(err.kind, WireErrorKind::NotAStream);
    let err = FrameReader::new(&b"BNDS"[..]).next_frame().expect_err("short");
    assert!(err.is_truncation());
}

#[test]
fn unknown_kinds_are_skipped_and_short_bodies_rejected() {
    // A record of kind 999 with a 16-byte body, as a newer writer might send, then a kernel.
    let mut f = FrameBuilder::default();
    f.push(&EndRec { complete: 1, _pad: 0 });
    let mut bytes = f.finish(1, 0);
    let mut payload = bytes.split_off(FRAME_HEADER_LEN);
    payload.splice(0..0, [231u8, 3, 0, 0, 24, 0, 0, 0].into_iter().chain([7u8; 16]));
    let header =
        FrameHeader { source: 1, seq: 0, payload_len: payload.len() as u32, records: 2, checksum: checksum(&payload) };
    header.encode(&mut bytes[..FRAME_HEADER_LEN]);
    bytes.extend_from_slice(&payload);
    let mut s = Vec::new();
    encode_stream_header(&mut s);
    s.extend_from_slice(&bytes);
    let frame = FrameReader::new(&s[..]).next_frame().expect("ok").expect("frame");
    let recs: Vec<Record<'_>> =
        frame.records().map(|r| r.and_then(|(o, raw)| decode_record(raw, o))).collect::<Result<_, _>>().expect("ok");
    assert_eq!(recs, vec![Record::Unknown { kind: 999 }, Record::End(EndRec { complete: 1, _pad: 0 })]);

    // A kernel record whose header claims only 16 bytes.
    let raw = RawRecord { kind: KernelRec::KIND, flags: 0, body: &[0u8; 8] };
    let err = decode_record(raw, 40).expect_err("short");
    assert!(matches!(err.kind, WireErrorKind::ShortRecord { kind: 4, size: 16, needed: 112 }), "{err:?}");
}

#[test]
fn long_strings_are_cut_not_rejected() {
    let long = vec![b'x'; StringRec::MAX_LEN + 100];
    let mut f = FrameBuilder::default();
    f.push_string(9, &long);
    let mut s = Vec::new();
    encode_stream_header(&mut s);
    s.extend_from_slice(&f.finish(1, 0));
    let frame = FrameReader::new(&s[..]).next_frame().expect("ok").expect("frame");
    let (o, raw) = frame.records().next().expect("one").expect("ok");
    match decode_record(raw, o).expect("ok") {
        Record::String(sr) => assert_eq!(sr.text.len(), StringRec::MAX_LEN),
        other => panic!("{other:?}"),
    }
}
