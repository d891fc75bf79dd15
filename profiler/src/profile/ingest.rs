//! The ingest: one thread that owns the run file and the live trace
//! (STYLE.md rule 7). Connection readers (one per injected process) and the
//! samplers send it owned messages; it appends every frame to `records.bsw`
//! as it arrives (a crash of the program or of boundscope loses at most the
//! frame being written) and feeds the same frames to the
//! [`RunDecoder`] that reading the run back uses.
//!
//! The profiler's own records (samples, devices, notices, run information)
//! are written as source 0 with their own string table, kept by this thread,
//! so samplers never share ids.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use boundscope_analysis::live::{Closed, LiveAnalyzer, LiveSnapshot};
use boundscope_trace::EventSink;

use boundscope_trace::Trace;
use boundscope_trace::run::{RunDecoder, RunSummary, Window};
use boundscope_wire::*;

/// What the ingest thread hears.
#[derive(Debug)]
pub enum Msg {
    /// A whole frame from an injected process (source already renumbered).
    Target(Frame),
    /// A connection ended; `error` says how when its stream was cut.
    Closed { source: u32, error: Option<String> },
    /// One sample of a counter series on the host clock.
    Sample { name: &'static str, unit: &'static str, device: Option<u32>, time_ns: i64, value: f64 },
    /// A GPU as NVML names it.
    Device { id: u32, name: String, total_mem_bytes: u64, cc: (u16, u16) },
    /// A message for the run's summary.
    Notice { level: u16, code: u16, message: String },
    /// How the program was run.
    RunInfo { rec: RunInfoRec, command: String },
    /// Last message: write the end record (`complete` when nothing was cut short).
    Finish { complete: bool },
}

/// Counts the main thread shows while the program runs.
#[derive(Debug, Default)]
pub struct Live {
    pub frames: AtomicU64,
    pub bytes: AtomicU64,
    pub connections: AtomicU32,
    /// Connections whose reader is still running.
    pub open_connections: AtomicUsize,
}

/// What the ingest leaves behind.
#[derive(Debug)]
pub struct Ingested {
    pub trace: Trace,
    pub summary: RunSummary,
    /// The run file could not be written completely.
    pub write_error: Option<String>,
    /// Connections cut mid-frame: (source, why).
    pub cut: Vec<(u32, String)>,
}

/// A live analysis fed by the ingest as frames arrive (`boundscope top --
/// CMD`): it publishes a snapshot about every `PUBLISH_EVERY` and once more
/// at the end, and sends each to `snapshots`.
#[derive(Debug)]
pub struct LiveTap {
    pub analyzer: LiveAnalyzer,
    pub snapshots: Sender<LiveUpdate>,
}

/// One publish of the live tap: the snapshot and what became final since the last.
#[derive(Debug)]
pub struct LiveUpdate {
    pub snapshot: LiveSnapshot,
    pub closed: Vec<Closed>,
}

/// A stream whose records are this far behind the newest holds no window open.
const IDLE_STREAM_NS: i64 = 2_000_000_000;

/// How often the live tap publishes while records arrive.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);

impl LiveTap {
    fn publish(&mut self, dec: &RunDecoder, end: bool) {
        self.analyzer.set_dropped_records(dec.dropped_records());
        if end {
            self.analyzer.end();
        } else {
            // The oldest stream still going bounds what can still arrive
            // (CUPTI hands records over a flush period late); a stream that
            // has said nothing for IDLE_STREAM holds nothing back.
            let mut w = self.analyzer.awaited_watermark();
            let now = self.analyzer.latest_ns();
            for (_, progress, ended) in dec.source_progress() {
                if !ended && progress >= now.saturating_sub(IDLE_STREAM_NS) {
                    w = w.min(progress);
                }
            }
            self.analyzer.set_watermark(w);
        }
        let snapshot = self.analyzer.publish();
        let closed = self.analyzer.drain_closed();
        self.snapshots.send(LiveUpdate { snapshot, closed }).ok();
    }
}

/// Starts the ingest thread writing to `file` (its stream header already written).
pub fn spawn(
    file: File,
    window: Window,
    live: Arc<Live>,
    tap: Option<LiveTap>,
) -> std::io::Result<(Sender<Msg>, JoinHandle<Ingested>)> {
    let (tx, rx) = channel();
    let h =
        std::thread::Builder::new().name("boundscope-ingest".into()).spawn(move || run(file, window, rx, live, tap))?;
    Ok((tx, h))
}

struct Own {
    strings: HashMap<String, u32>,
    series: HashMap<(&'static str, Option<u32>), u32>,
    seq: u32,
    frame: FrameBuilder,
}

impl Own {
    fn string(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.strings.get(s) {
            return id;
        }
        let id = self.strings.len() as u32 + 1;
        self.strings.insert(s.to_string(), id);
        self.frame.push_string(id, s.as_bytes());
        id
    }
}

fn run(mut file: File, window: Window, rx: Receiver<Msg>, live: Arc<Live>, mut tap: Option<LiveTap>) -> Ingested {
    let mut published = Instant::now();
    let mut dec = RunDecoder::new(window);
    let mut own = Own { strings: HashMap::new(), series: HashMap::new(), seq: 0, frame: FrameBuilder::default() };
    let mut write_error: Option<String> = None;
    let mut cut = Vec::new();
    let mut complete = false;
    let mut write = |bytes: &[u8], write_error: &mut Option<String>| {
        if write_error.is_none()
            && let Err(e) = file.write_all(bytes)
        {
            *write_error = Some(e.to_string());
        }
    };
    'outer: loop {
        let first = if tap.is_some() {
            match rx.recv_timeout(PUBLISH_EVERY) {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(m) => Some(m),
                Err(_) => break,
            }
        };
        let mut next = first;
        while let Some(msg) = next.take() {
            match msg {
                Msg::Target(frame) => {
                    // Keep the order of the file: profiler records so far go first.
                    flush_own(&mut own, &mut dec, &mut tap, &mut |b| write(b, &mut write_error));
                    write(&frame.bytes, &mut write_error);
                    live.frames.fetch_add(1, Ordering::Relaxed);
                    live.bytes.fetch_add(frame.bytes.len() as u64, Ordering::Relaxed);
                    dec.frame_to(&frame, tap.as_mut().map(|t| &mut t.analyzer as &mut dyn EventSink));
                }
                Msg::Closed { source, error } => {
                    if let Some(e) = error {
                        cut.push((source, e));
                    }
                }
                Msg::Sample { name, unit, device, time_ns, value } => {
                    let id = match own.series.get(&(name, device)) {
                        Some(&id) => id,
                        None => {
                            let id = own.series.len() as u32;
                            let (n, u) = (own.string(name), own.string(unit));
                            own.frame.push(&CounterSeriesRec {
                                id,
                                device: device.unwrap_or(NO_DEVICE),
                                name: n,
                                unit: u,
                            });
                            own.series.insert((name, device), id);
                            id
                        }
                    };
                    own.frame.push(&CounterSampleRec { time_ns, value, series: id, _pad: 0 });
                }
                Msg::Device { id, name, total_mem_bytes, cc } => {
                    let name = own.string(&name);
                    own.frame.push(&DeviceRec {
                        total_mem_bytes,
                        id,
                        name,
                        sm_count: 0,
                        cc_major: cc.0,
                        cc_minor: cc.1,
                    });
                }
                Msg::Notice { level, code, message } => {
                    let message = own.string(&message);
                    own.frame.push(&NoticeRec { level, code, message });
                }
                Msg::RunInfo { mut rec, command } => {
                    rec.command = own.string(&command);
                    own.frame.push(&rec);
                }
                Msg::Finish { complete: c } => {
                    complete = c;
                    break 'outer;
                }
            }
            next = rx.try_recv().ok();
        }
        flush_own(&mut own, &mut dec, &mut tap, &mut |b| write(b, &mut write_error));
        if let Some(t) = &mut tap
            && published.elapsed() >= PUBLISH_EVERY
        {
            t.publish(&dec, false);
            published = Instant::now();
        }
    }
    own.frame.push(&EndRec { complete: u32::from(complete), _pad: 0 });
    flush_own(&mut own, &mut dec, &mut tap, &mut |b| write(b, &mut write_error));
    if let Some(t) = &mut tap {
        t.publish(&dec, true);
    }
    file.flush().ok();
    // Torn connections are reported through `cut` and their missing end records.
    let (trace, summary) = dec.finish(None);
    Ingested { trace, summary, write_error, cut }
}

/// Seals the profiler's pending records into a frame, writes it, and decodes it like any other.
fn flush_own(own: &mut Own, dec: &mut RunDecoder, tap: &mut Option<LiveTap>, write: &mut dyn FnMut(&[u8])) {
    if own.frame.is_empty() {
        return;
    }
    let frame = std::mem::take(&mut own.frame);
    let bytes = frame.finish(PROFILER_SOURCE, own.seq);
    own.seq += 1;
    write(&bytes);
    if let Ok(header) = FrameHeader::decode(&bytes, 0) {
        dec.frame_to(&Frame { header, offset: 0, bytes }, tap.as_mut().map(|t| &mut t.analyzer as &mut dyn EventSink));
    }
}

/// Accepts injected processes on `listener` until `stop`; each gets a reader
/// thread and a source id (1, 2, ... in order of connection).
pub fn spawn_acceptor(
    listener: UnixListener,
    tx: Sender<Msg>,
    live: Arc<Live>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    std::thread::Builder::new().name("boundscope-accept".into()).spawn(move || {
        while !stop.load(Ordering::Acquire) {
            match listener.accept() {
                Ok((stream, _)) => {
                    let source = live.connections.fetch_add(1, Ordering::AcqRel) + 1;
                    live.open_connections.fetch_add(1, Ordering::AcqRel);
                    let (tx, live) = (tx.clone(), live.clone());
                    let spawned = std::thread::Builder::new()
                        .name(format!("boundscope-conn-{source}"))
                        .spawn(move || read_connection(stream, source, tx, live));
                    if spawned.is_err() {
                        // The stream is dropped: the collector counts its records as dropped.
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(5)),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    })
}

fn read_connection(stream: UnixStream, source: u32, tx: Sender<Msg>, live: Arc<Live>) {
    stream.set_nonblocking(false).ok();
    let mut r = FrameReader::new(stream);
    let error = loop {
        match r.next_frame() {
            Ok(Some(mut f)) => {
                f.set_source(source);
                if tx.send(Msg::Target(f)).is_err() {
                    break None;
                }
            }
            Ok(None) => break None,
            Err(e) => break Some(e.to_string()),
        }
    };
    tx.send(Msg::Closed { source, error }).ok();
    live.open_connections.fetch_sub(1, Ordering::AcqRel);
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn frames_and_samples_land_in_the_file_and_the_trace() {
        let path = std::env::temp_dir().join(format!("boundscope-ingest-{}.bsw", std::process::id()));
        let mut file = File::create(&path).expect("create");
        let mut head = Vec::new();
        encode_stream_header(&mut head);
        file.write_all(&head).expect("header");
        let live = Arc::new(Live::default());
        let (tx, h) = spawn(file, Window::ALL, live.clone(), None).expect("spawn");
        let mut f = FrameBuilder::default();
        f.push_string(1, b"k");
        f.push(&KernelRec { start_ns: 100, end_ns: 200, name: 1, ..Default::default() });
        f.push(&EndRec { complete: 1, _pad: 0 });
        let bytes = f.finish(9, 0);
        let mut frame = Frame { header: FrameHeader::decode(&bytes, 0).expect("header"), offset: 0, bytes };
        frame.set_source(1);
        tx.send(Msg::Target(frame)).expect("send");
        for i in 0..3 {
            tx.send(Msg::Sample { name: "cpu.task_clock", unit: "cores", device: None, time_ns: 50 + i, value: 0.5 })
                .expect("send");
        }
        tx.send(Msg::Finish { complete: true }).expect("send");
        let out = h.join().expect("ingest");
        assert!(out.write_error.is_none());
        assert_eq!(out.trace.activities.len(), 1);
        assert_eq!(out.trace.counters.len(), 3);
        assert_eq!(out.trace.counters.series.len(), 1);
        assert!(out.summary.complete(), "{:?}", out.summary);
        assert_eq!(live.frames.load(Ordering::Relaxed), 1);
        // The file reads back to the same trace.
        let (t, s) = boundscope_trace::run::read_run(&path).expect("read back");
        assert_eq!((t.activities.len(), t.counters.len()), (1, 3));
        assert!(s.complete());
        let mut raw = Vec::new();
        File::open(&path).and_then(|mut f| f.read_to_end(&mut raw)).expect("read");
        assert_eq!(&raw[..8], b"BNDSCOPE");
        std::fs::remove_file(&path).ok();
    }
}
