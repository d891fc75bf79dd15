//! The hand-off between CUPTI's callbacks and the sender thread, and the
//! counters both sides keep. Pushing never blocks: the queue holds at most a
//! byte budget of frames, and a frame that does not fit is dropped and its
//! records counted (STYLE.md rule 2).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};

use boundscope_wire::FrameBuilder;

/// Counts shared by the callbacks and the sender (cumulative).
#[derive(Debug, Default)]
pub struct Counters {
    /// Records converted (queued or not).
    pub records: AtomicU64,
    pub dropped_queue_records: AtomicU64,
    pub dropped_cupti_records: AtomicU64,
    pub callback_ns: AtomicU64,
    pub unknown_kinds: AtomicU64,
    pub malformed: AtomicU64,
    pub buffers: AtomicU64,
    /// Records dropped for a missing start or end.
    pub no_timestamp: AtomicU64,
    /// Kernels whose queued/submitted times were cleared (out of order).
    pub latency_rejected: AtomicU64,
    /// Hot API calls left out.
    pub filtered_api: AtomicU64,
}

impl Counters {
    /// Moves a converter's counts here and zeroes them; returns the records converted.
    pub fn take_from(&self, conv: &mut crate::convert::Converter) -> u64 {
        let converted = std::mem::take(&mut conv.converted);
        Counters::add(&self.records, converted);
        Counters::add(&self.unknown_kinds, std::mem::take(&mut conv.unknown_kinds));
        Counters::add(&self.malformed, std::mem::take(&mut conv.malformed));
        Counters::add(&self.no_timestamp, std::mem::take(&mut conv.no_timestamp));
        Counters::add(&self.latency_rejected, std::mem::take(&mut conv.latency_rejected));
        Counters::add(&self.filtered_api, std::mem::take(&mut conv.filtered_api));
        converted
    }
}

impl Counters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// A bounded, non-blocking queue of frames.
#[derive(Debug)]
pub struct Queue {
    tx: Mutex<Option<mpsc::Sender<FrameBuilder>>>,
    budget_bytes: usize,
    queued_bytes: AtomicUsize,
}

impl Queue {
    /// A queue holding up to `budget_bytes` of frames, and its receiving end.
    pub fn new(budget_bytes: usize) -> (Queue, mpsc::Receiver<FrameBuilder>) {
        let (tx, rx) = mpsc::channel();
        (Queue { tx: Mutex::new(Some(tx)), budget_bytes, queued_bytes: AtomicUsize::new(0) }, rx)
    }

    /// Queues `frame`, or hands it back when the budget is used up or the queue is closed.
    pub fn push(&self, frame: FrameBuilder) -> Result<(), FrameBuilder> {
        let len = frame.len();
        let reserved = self.queued_bytes.fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
            // One frame is always let through, however large, so that a huge
            // buffer cannot be refused forever.
            (q == 0 || q + len <= self.budget_bytes).then_some(q + len)
        });
        if reserved.is_err() {
            return Err(frame);
        }
        let tx = match self.tx.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        match tx {
            Some(tx) => tx.send(frame).map_err(|e| {
                self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
                e.0
            }),
            None => {
                self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
                Err(frame)
            }
        }
    }

    /// The sender took `len` bytes off the queue.
    pub fn taken(&self, len: usize) {
        self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
    }

    /// No more frames: the sender finishes the stream once the queue is empty.
    pub fn close(&self) {
        match self.tx.lock() {
            Ok(mut g) => *g = None,
            Err(p) => *p.into_inner() = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: usize) -> FrameBuilder {
        let mut f = FrameBuilder::default();
        f.push_string(1, &vec![b'x'; n]);
        f
    }

    #[test]
    fn full_queue_hands_frames_back_without_blocking() {
        let (q, rx) = Queue::new(1000);
        assert!(q.push(frame(600)).is_ok());
        // Over budget: refused at once (no receiver is reading).
        let t = std::time::Instant::now();
        assert!(q.push(frame(600)).is_err());
        assert!(t.elapsed().as_millis() < 100);
        let f = rx.recv().expect("first frame");
        q.taken(f.len());
        assert!(q.push(frame(600)).is_ok(), "room again once the sender took one");
        q.close();
        assert!(q.push(frame(10)).is_err(), "closed");
        assert!(rx.recv().is_ok());
        assert!(rx.recv().is_err(), "closed and drained");
    }

    #[test]
    fn one_oversized_frame_gets_through_an_empty_queue() {
        let (q, _rx) = Queue::new(10);
        assert!(q.push(frame(100)).is_ok());
        assert!(q.push(frame(1)).is_err());
    }
}
