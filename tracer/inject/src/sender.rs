//! The sender thread: the only code that touches the socket or file. It
//! writes the stream header, then each queued frame (numbered in order) and a
//! stats frame after it, and when the queue closes a last stats frame and the
//! end record. A write error stops writing; the records still arriving are
//! counted as dropped, and the program is never blocked by it.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use boundscope_wire::{EndRec, FrameBuilder, StatsRec, encode_stream_header};

use crate::queue::{Counters, Queue};

/// The running sender.
#[derive(Debug)]
pub struct SenderHandle {
    done: mpsc::Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

impl SenderHandle {
    /// Waits for the stream to be finished (after [`Queue::close`]); false on timeout.
    pub fn wait(&mut self, timeout: Duration) -> bool {
        let finished = matches!(self.done.recv_timeout(timeout), Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected));
        if finished && let Some(t) = self.thread.take() {
            t.join().ok();
        }
        finished
    }
}

/// Starts the sender writing to `sink`, with frames numbered as `source`.
pub fn spawn_sender(
    sink: Box<dyn Write + Send>,
    rx: mpsc::Receiver<FrameBuilder>,
    queue: Arc<Queue>,
    counters: Arc<Counters>,
    source: u32,
) -> std::io::Result<SenderHandle> {
    let (done_tx, done) = mpsc::channel();
    let thread = std::thread::Builder::new().name("boundscope-send".into()).spawn(move || {
        let mut s = Sender { sink, counters, source, seq: 0, bytes: 0, frames: 0, broken: false };
        let mut head = Vec::new();
        encode_stream_header(&mut head);
        s.write(&head);
        for frame in rx {
            queue.taken(frame.len());
            let records = u64::from(frame.records());
            if s.broken {
                Counters::add(&s.counters.dropped_queue_records, records);
                continue;
            }
            s.send(frame);
            s.send_stats();
        }
        s.send_stats();
        let mut end = FrameBuilder::with_capacity(64);
        end.push(&EndRec { complete: u32::from(!s.broken), _pad: 0 });
        s.send(end);
        s.sink.flush().ok();
        done_tx.send(()).ok();
    })?;
    Ok(SenderHandle { done, thread: Some(thread) })
}

struct Sender {
    sink: Box<dyn Write + Send>,
    counters: Arc<Counters>,
    source: u32,
    seq: u32,
    bytes: u64,
    frames: u64,
    broken: bool,
}

impl Sender {
    fn write(&mut self, bytes: &[u8]) {
        if self.broken {
            return;
        }
        match self.sink.write_all(bytes) {
            Ok(()) => self.bytes += bytes.len() as u64,
            Err(_) => self.broken = true,
        }
    }

    fn send(&mut self, frame: FrameBuilder) {
        let bytes = frame.finish(self.source, self.seq);
        self.seq = self.seq.wrapping_add(1);
        self.frames += 1;
        self.write(&bytes);
    }

    fn send_stats(&mut self) {
        let c = &self.counters;
        let mut f = FrameBuilder::with_capacity(128);
        f.push(&StatsRec {
            records: c.records.load(Ordering::Relaxed),
            bytes: self.bytes,
            frames: self.frames,
            dropped_queue_records: c.dropped_queue_records.load(Ordering::Relaxed),
            dropped_cupti_records: c.dropped_cupti_records.load(Ordering::Relaxed),
            callback_ns: c.callback_ns.load(Ordering::Relaxed),
            sender_cpu_ns: thread_cpu_ns(),
            unknown_kinds: c.unknown_kinds.load(Ordering::Relaxed),
            malformed: c.malformed.load(Ordering::Relaxed),
            buffers: c.buffers.load(Ordering::Relaxed),
            no_timestamp_records: c.no_timestamp.load(Ordering::Relaxed),
            latency_rejected: c.latency_rejected.load(Ordering::Relaxed),
            filtered_api_calls: c.filtered_api.load(Ordering::Relaxed),
        });
        self.send(f);
    }
}

/// A socket written with `MSG_NOSIGNAL`: a profiler that went away must not
/// kill the program with SIGPIPE (C programs keep its default action).
#[derive(Debug)]
pub struct SocketSink(pub std::os::unix::net::UnixStream);

impl Write for SocketSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use std::os::fd::AsRawFd;
        loop {
            // SAFETY: sends from a valid buffer of `buf.len()` bytes on an open socket.
            let n = unsafe { libc::send(self.0.as_raw_fd(), buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// CPU time of the calling thread.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixStream;

    use boundscope_wire::*;

    use super::*;

    #[test]
    fn frames_go_out_in_order_and_the_stream_ends_complete() {
        let (a, b) = UnixStream::pair().expect("socket pair");
        let (queue, rx) = Queue::new(1 << 20);
        let queue = Arc::new(queue);
        let counters = Arc::new(Counters::default());
        let mut h = spawn_sender(Box::new(a), rx, queue.clone(), counters.clone(), 1).expect("spawn");
        for i in 0..3u64 {
            let mut f = FrameBuilder::default();
            f.push(&KernelRec { start_ns: i, end_ns: i + 1, ..Default::default() });
            Counters::add(&counters.records, 1);
            queue.push(f).expect("room");
        }
        queue.close();
        assert!(h.wait(Duration::from_secs(5)));
        let mut r = FrameReader::new(b);
        let mut kernels = Vec::new();
        let mut seqs = Vec::new();
        let mut last_stats = None;
        let mut end = None;
        while let Some(frame) = r.next_frame().expect("whole stream") {
            seqs.push(frame.header.seq);
            for rec in frame.records() {
                let (o, raw) = rec.expect("record");
                match decode_record(raw, o).expect("decodes") {
                    Record::Kernel(k) => kernels.push(k.start_ns),
                    Record::Stats(s) => last_stats = Some(s),
                    Record::End(e) => end = Some(e),
                    other => panic!("{other:?}"),
                }
            }
        }
        assert_eq!(kernels, [0, 1, 2]);
        assert_eq!(seqs, (0..8).collect::<Vec<u32>>(), "3 data + 3 stats + final stats + end");
        let s = last_stats.expect("stats");
        assert_eq!((s.records, s.frames, s.dropped_queue_records), (3, 6, 0));
        assert_eq!(end.map(|e| e.complete), Some(1));
    }

    #[test]
    fn a_closed_socket_turns_into_counted_drops() {
        let (a, b) = UnixStream::pair().expect("socket pair");
        drop(b);
        let (queue, rx) = Queue::new(1 << 20);
        let queue = Arc::new(queue);
        let counters = Arc::new(Counters::default());
        let mut h = spawn_sender(Box::new(SocketSink(a)), rx, queue.clone(), counters.clone(), 1).expect("spawn");
        for _ in 0..4 {
            let mut f = FrameBuilder::default();
            f.push(&EndRec::default());
            queue.push(f).expect("room");
        }
        queue.close();
        assert!(h.wait(Duration::from_secs(5)), "a dead reader does not hang the sender");
        assert!(Counters::get(&counters.dropped_queue_records) >= 3);
    }
}
