//! Pins the byte layout of WIRE_VERSION: a stream holding one record of every
//! kind must encode to the committed fixture, byte for byte, and decode back
//! to the same values. A deliberate layout change bumps WIRE_VERSION and
//! regenerates the fixture with `BOUNDSCOPE_BLESS=1 cargo test -p boundscope-wire`.

use std::path::PathBuf;

use boundscope_wire::*;

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/wire-v{WIRE_VERSION}.bin"))
}

/// Distinct, recognizable values in every field, so a swapped or resized field changes the bytes.
fn sample_records() -> Vec<Record<'static>> {
    vec![
        Record::Hello(HelloRec {
            pid: 4242,
            cupti_api_version: 130001,
            kernel_record_version: 10,
            flags: HelloRec::LATENCY_TIMESTAMPS | HelloRec::LAYOUT_VERIFIED | HelloRec::ACTIVE,
            exe_name: 1,
        }),
        Record::String(StringRec { id: 1, text: b"python3" }),
        Record::String(StringRec { id: 2, text: b"void gemm<128, 64>(float*)" }),
        Record::ClockAnchor(ClockAnchorRec {
            cupti_ns: 1_795_878_418_734_309_224,
            host_ns: 9_484_990_000_123,
            uncertainty_ns: 85,
            _pad: 0,
        }),
        Record::Kernel(KernelRec {
            start_ns: 1_000_000_100,
            end_ns: 1_000_000_900,
            queued_ns: 1_000_000_010,
            submitted_ns: 1_000_000_050,
            graph_node_id: 0x0102_0304_0506_0708,
            correlation: 77,
            device: 1,
            context: 2,
            stream: 7,
            grid_x: 128,
            grid_y: 2,
            grid_z: 1,
            block_x: 256,
            block_y: 1,
            block_z: -1,
            graph_id: 3,
            name: 2,
            static_shared_bytes: 4096,
            dynamic_shared_bytes: 49152,
            registers_per_thread: 96,
            launch_type: 1,
            _pad0: 0,
            _pad1: 0,
        }),
        Record::Memcpy(MemcpyRec {
            start_ns: 2_000,
            end_ns: 3_000,
            bytes: 1 << 20,
            graph_node_id: 9,
            correlation: 78,
            device: 0,
            context: 1,
            stream: 13,
            graph_id: 0,
            copy_kind: 1,
            src_kind: 2,
            dst_kind: 3,
            flags: 1,
        }),
        Record::Memset(MemsetRec {
            start_ns: 4_000,
            end_ns: 4_500,
            bytes: 65_536,
            graph_node_id: 0,
            correlation: 79,
            device: 0,
            context: 1,
            stream: 13,
            graph_id: 0,
            value: 0xab,
            memory_kind: 3,
            flags: 1,
            _pad: 0,
        }),
        Record::ApiCall(ApiCallRec {
            start_ns: 900,
            end_ns: 1_400,
            correlation: 77,
            cbid: 211,
            pid: 4242,
            tid: 4243,
            name: 3,
            return_value: 0,
            domain: ApiCallRec::RUNTIME,
            _pad0: 0,
            _pad1: 0,
            _pad2: 0,
        }),
        Record::String(StringRec { id: 3, text: b"cudaLaunchKernel_v7000" }),
        Record::Sync(SyncRec {
            start_ns: 5_000,
            end_ns: 6_000,
            correlation: 80,
            context: 1,
            stream: 7,
            cuda_event: 0,
            sync_type: 3,
            _pad: 0,
        }),
        Record::Marker(MarkerRec {
            time_ns: 700,
            id: 5,
            flags: MarkerRec::START,
            object_kind: 2,
            obj0: 4242,
            obj1: 4243,
            obj2: 0,
            name: 4,
            domain: 0,
        }),
        Record::String(StringRec { id: 4, text: b"boundscope:step" }),
        Record::Overhead(OverheadRec {
            start_ns: 7_000,
            end_ns: 7_300,
            overhead_kind: 1 << 16,
            object_kind: 2,
            obj0: 4242,
            obj1: 4244,
            correlation: 0,
            _pad: 0,
        }),
        Record::ExternalCorrelation(ExternalCorrelationRec { external_id: 123_456, correlation: 77, external_kind: 1 }),
        Record::CounterSeries(CounterSeriesRec { id: 0, device: NO_DEVICE, name: 5, unit: 6 }),
        Record::CounterSample(CounterSampleRec { time_ns: -5, value: 0.25, series: 0, _pad: 0 }),
        Record::Stats(StatsRec {
            records: 10,
            bytes: 2048,
            frames: 2,
            dropped_queue_records: 1,
            dropped_cupti_records: 2,
            callback_ns: 3_000,
            sender_cpu_ns: 4_000,
            unknown_kinds: 3,
            malformed: 4,
            buffers: 5,
            no_timestamp_records: 6,
            latency_rejected: 7,
            filtered_api_calls: 8,
        }),
        Record::Notice(NoticeRec { level: NoticeRec::WARNING, code: NoticeRec::UNVERIFIED_LAYOUT, message: 7 }),
        Record::Device(DeviceRec {
            total_mem_bytes: 150_000_000_000,
            id: 0,
            name: 8,
            sm_count: 132,
            cc_major: 9,
            cc_minor: 0,
        }),
        Record::RunInfo(RunInfoRec {
            start_ns: 100,
            window_start_ns: i64::MIN,
            window_end_ns: i64::MAX,
            skip_steps: 2,
            max_steps: 10,
            command: 9,
            target_pid: 4242,
        }),
        Record::End(EndRec { complete: 1, _pad: 0 }),
    ]
}

fn push(f: &mut FrameBuilder, r: &Record<'_>) {
    match r {
        Record::Hello(x) => f.push(x),
        Record::String(s) => f.push_string(s.id, s.text),
        Record::ClockAnchor(x) => f.push(x),
        Record::Kernel(x) => f.push(x),
        Record::Memcpy(x) => f.push(x),
        Record::Memset(x) => f.push(x),
        Record::ApiCall(x) => f.push(x),
        Record::Sync(x) => f.push(x),
        Record::Marker(x) => f.push(x),
        Record::Overhead(x) => f.push(x),
        Record::ExternalCorrelation(x) => f.push(x),
        Record::CounterSeries(x) => f.push(x),
        Record::CounterSample(x) => f.push(x),
        Record::Stats(x) => f.push(x),
        Record::Notice(x) => f.push(x),
        Record::End(x) => f.push(x),
        Record::Device(x) => f.push(x),
        Record::RunInfo(x) => f.push(x),
        Record::Unknown { .. } => unreachable!("not in the sample"),
    }
}

/// The sample as a stream: the records split over two frames of two sources.
fn encode_sample() -> Vec<u8> {
    let records = sample_records();
    let mut out = Vec::new();
    encode_stream_header(&mut out);
    let (a, b) = records.split_at(9);
    let mut f = FrameBuilder::default();
    a.iter().for_each(|r| push(&mut f, r));
    out.extend_from_slice(&f.finish(1, 0));
    let mut f = FrameBuilder::default();
    b.iter().for_each(|r| push(&mut f, r));
    out.extend_from_slice(&f.finish(PROFILER_SOURCE, 0));
    out
}

#[test]
fn encoding_matches_the_committed_fixture() {
    let bytes = encode_sample();
    let path = fixture_path();
    if std::env::var_os("BOUNDSCOPE_BLESS").is_some() {
        std::fs::write(&path, &bytes).expect("write fixture");
    }
    let golden = std::fs::read(&path).unwrap_or_else(|e| {
        panic!("{}: {e}; generate it with BOUNDSCOPE_BLESS=1 after bumping WIRE_VERSION", path.display())
    });
    assert_eq!(
        bytes.len(),
        golden.len(),
        "the encoding of wire version {WIRE_VERSION} changed size: bump WIRE_VERSION and bless a new fixture"
    );
    if let Some(i) = bytes.iter().zip(&golden).position(|(a, b)| a != b) {
        panic!(
            "the encoding of wire version {WIRE_VERSION} changed at byte {i}: bump WIRE_VERSION and bless a new fixture"
        );
    }
}

#[test]
fn fixture_decodes_to_the_sample() {
    let golden = std::fs::read(fixture_path()).expect("fixture");
    let mut reader = FrameReader::new(&golden[..]);
    let mut decoded = Vec::new();
    let mut sources = Vec::new();
    while let Some(frame) = reader.next_frame().expect("whole frames") {
        sources.push(frame.header.source);
        let mut n = 0;
        for rec in frame.records() {
            let (offset, raw) = rec.expect("record header");
            let r = decode_record(raw, offset).expect("record body");
            decoded.push(format!("{r:?}"));
            n += 1;
        }
        assert_eq!(n, frame.header.records);
    }
    let expected: Vec<String> = sample_records().iter().map(|r| format!("{r:?}")).collect();
    assert_eq!(decoded, expected);
    assert_eq!(sources, vec![1, PROFILER_SOURCE]);
}

#[test]
fn record_sizes_are_pinned() {
    // Bytes per record, header included: the budget of the injected library's buffers.
    assert_eq!(KernelRec::BODY_SIZE + 8, 112);
    assert_eq!(ApiCallRec::BODY_SIZE + 8, 56);
    assert_eq!(MemcpyRec::BODY_SIZE + 8, 64);
    assert_eq!(MarkerRec::BODY_SIZE + 8, 48);
    assert_eq!(StringRec::body_size(7) + 8, 24);
    assert_eq!(StringRec::body_size(8) + 8, 24);
    assert_eq!(StringRec::body_size(9) + 8, 32);
}
