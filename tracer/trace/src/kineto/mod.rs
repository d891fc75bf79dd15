//! Reader for PyTorch profiler / Kineto traces (`.json`, `.json.gz`), and for
//! any Chrome trace JSON with the same event shapes.
//!
//! Streamed: a thread decompresses into chunks (`source.rs`), this thread cuts
//! `traceEvents` into single events with a structural scan (`scan.rs`) and
//! parses each with serde_json into borrowed fields (`event.rs`). The whole
//! document is never in memory and never a `serde_json::Value`.
//!
//! Malformed single events are skipped and counted (with the first one's event
//! index and byte offset); a document that is not JSON, is empty, or ends early
//! is an error.

mod event;
mod scan;
mod source;

use std::path::Path;

use serde::Deserialize;

use crate::builder::TraceBuilder;
use crate::diag::{Location, WarningKind};
use crate::error::{ReadError, ReadErrorKind, describe_byte};
use crate::model::{DeviceInfo, Trace};
use event::{IdMap, Problem, RawEvent, interpret};
use scan::{Scan, skip_ws, value_end};
use source::{ChunkSource, GzipFault, SourceError};

/// Categories of the events that boundscope's Chrome trace export derives from
/// the analysis (verdict bars, queue-depth and busy-fraction counters). The
/// reader skips them: they are not workload events.
pub const DERIVED_CATEGORIES: [&str; 2] = ["boundscope_verdict", "boundscope_derived"];

/// Reads a Kineto trace file into a [`Trace`].
pub fn read_kineto(path: &Path) -> Result<Trace, ReadError> {
    let err = |kind| ReadError::new(path, kind);
    let src = ChunkSource::open(path).map_err(|e| err(ReadErrorKind::Io(e)))?;
    let mut r = Reader { src, buf: Vec::new(), pos: 0, base: 0, eof: false, gzip_trailing: None };
    let mut b = TraceBuilder::new("kineto");
    parse_document(&mut r, &mut b).map_err(err)?;
    Ok(b.finish())
}

/// Reads uncompressed Kineto JSON from memory; `label` names it in errors.
pub fn read_kineto_bytes(bytes: &[u8], label: &Path) -> Result<Trace, ReadError> {
    read_kineto_chunked(bytes, bytes.len().max(1), label)
}

/// Reads uncompressed Kineto JSON from memory handed to the parser in chunks
/// of `chunk` bytes: exercises every way an event can straddle a chunk boundary.
pub fn read_kineto_chunked(bytes: &[u8], chunk: usize, label: &Path) -> Result<Trace, ReadError> {
    let mut r = Reader::from_bytes(bytes, chunk);
    let mut b = TraceBuilder::new("kineto");
    parse_document(&mut r, &mut b).map_err(|k| ReadError::new(label, k))?;
    Ok(b.finish())
}

/// A growable window over the decompressed byte stream.
struct Reader {
    src: ChunkSource,
    /// Bytes not yet consumed start at `pos`; `buf[i]` is at absolute offset `base + i`
    /// (`base` may be negative: the front of a chunk is free room).
    buf: Vec<u8>,
    pos: usize,
    base: i64,
    eof: bool,
    /// Bytes after the last whole gzip member: (decompressed bytes before
    /// them, their offset in the file, how many).
    gzip_trailing: Option<(u64, u64, u64)>,
}

impl Reader {
    fn from_bytes(bytes: &[u8], chunk: usize) -> Reader {
        Reader {
            src: ChunkSource::from_slices(bytes, chunk),
            buf: Vec::new(),
            pos: 0,
            base: 0,
            eof: false,
            gzip_trailing: None,
        }
    }

    fn offset(&self, i: usize) -> u64 {
        (self.base + i as i64).max(0) as u64
    }

    /// Appends the next chunk, dropping bytes before `keep`. Returns false at the end.
    fn refill(&mut self, keep: usize) -> Result<bool, ReadErrorKind> {
        if self.eof {
            return Ok(false);
        }
        match self.src.next_chunk() {
            None => {
                self.eof = true;
                Ok(false)
            }
            Some(Ok(mut chunk)) => {
                let leftover = &self.buf[keep.min(self.buf.len())..];
                let keep_abs = self.base + keep as i64;
                let in_pos = self.pos.saturating_sub(keep);
                if leftover.len() <= chunk.start {
                    // Put the unfinished bytes in the chunk's free room: no copy of the chunk.
                    let s = chunk.start - leftover.len();
                    chunk.data[s..chunk.start].copy_from_slice(leftover);
                    let old = std::mem::replace(&mut self.buf, chunk.data);
                    self.src.recycle(old);
                    self.base = keep_abs - s as i64;
                    self.pos = s + in_pos;
                } else {
                    // An event larger than the free room: grow this buffer in place.
                    // `Vec` doubles its capacity, so an event of n bytes costs O(n)
                    // copying however many chunks it spans (a fresh buffer per
                    // chunk would copy it once per chunk: quadratic).
                    let keep = keep.min(self.buf.len());
                    self.buf.drain(..keep);
                    self.buf.extend_from_slice(&chunk.data[chunk.start..]);
                    self.src.recycle(chunk.data);
                    self.base = keep_abs;
                    self.pos = in_pos;
                }
                Ok(true)
            }
            Some(Err(SourceError::Io(e))) => Err(ReadErrorKind::Io(e)),
            Some(Err(SourceError::Gzip { decompressed_bytes, compressed_offset, fault, source })) => Err(match fault {
                GzipFault::CutShort => ReadErrorKind::Gzip { decompressed_bytes, source },
                // The offset is past the member's 8-byte trailer (CRC-32, length).
                GzipFault::Checksum => ReadErrorKind::GzipChecksum {
                    decompressed_bytes,
                    compressed_offset: compressed_offset.saturating_sub(8),
                },
                GzipFault::Damaged => ReadErrorKind::GzipDamaged { decompressed_bytes, compressed_offset, source },
            }),
            Some(Err(SourceError::TrailingBytes { decompressed_bytes, compressed_offset, trailing_bytes })) => {
                self.eof = true;
                self.gzip_trailing = Some((decompressed_bytes, compressed_offset, trailing_bytes));
                Ok(false)
            }
        }
    }

    /// Refills, keeping the bytes from `pos` on, until at least `want` of them
    /// are buffered or the data ends. Returns false if nothing was added.
    fn refill_to(&mut self, want: usize) -> Result<bool, ReadErrorKind> {
        let mut added = false;
        while self.buf.len() - self.pos < want {
            if !self.refill(self.pos)? {
                break;
            }
            added = true;
        }
        Ok(added)
    }

    /// The next non-whitespace byte (not consumed), or `None` at the end.
    fn peek(&mut self) -> Result<Option<u8>, ReadErrorKind> {
        loop {
            self.pos = skip_ws(&self.buf, self.pos);
            if self.pos < self.buf.len() {
                return Ok(Some(self.buf[self.pos]));
            }
            let keep = self.pos;
            if !self.refill(keep)? {
                return Ok(None);
            }
        }
    }

    /// The next complete value as `buf[start..end]`; `pos` moves past it.
    fn value(&mut self, context: &dyn Fn() -> String) -> Result<(usize, usize), ReadErrorKind> {
        if self.peek()?.is_none() {
            return Err(ReadErrorKind::Truncated { offset: self.offset(self.pos), context: context() });
        }
        loop {
            match value_end(&self.buf, self.pos, self.eof) {
                Scan::Complete(end) => {
                    let start = self.pos;
                    self.pos = end;
                    return Ok((start, end));
                }
                Scan::Invalid(i) => {
                    return Err(ReadErrorKind::Syntax {
                        offset: self.offset(i),
                        context: context(),
                        message: format!("{} cannot start a JSON value", describe_byte(self.buf.get(i).copied())),
                    });
                }
                Scan::Incomplete => {
                    // Double what is buffered before scanning again (linear in the value's size).
                    let want = (self.buf.len() - self.pos).saturating_mul(2).max(1);
                    if !self.refill_to(want)? {
                        if let Scan::Complete(end) = value_end(&self.buf, self.pos, true) {
                            let start = self.pos;
                            self.pos = end;
                            return Ok((start, end));
                        }
                        return Err(ReadErrorKind::Truncated { offset: self.offset(self.pos), context: context() });
                    }
                }
            }
        }
    }

    /// Consumes `byte` (after whitespace) or fails with what was found instead.
    fn expect(&mut self, byte: u8, context: &dyn Fn() -> String) -> Result<(), ReadErrorKind> {
        match self.peek()? {
            Some(b) if b == byte => {
                self.pos += 1;
                Ok(())
            }
            None => Err(ReadErrorKind::Truncated { offset: self.offset(self.pos), context: context() }),
            found => Err(ReadErrorKind::Syntax {
                offset: self.offset(self.pos),
                context: context(),
                message: format!("expected '{}', found {}", byte as char, describe_byte(found)),
            }),
        }
    }
}

/// Header fields of a Kineto document that boundscope keeps.
#[derive(Deserialize)]
struct RawDevice {
    id: u32,
    #[serde(default)]
    name: String,
    #[serde(rename = "totalGlobalMem", default)]
    total_global_mem: Option<u64>,
    #[serde(rename = "computeMajor", default)]
    compute_major: Option<u32>,
    #[serde(rename = "computeMinor", default)]
    compute_minor: Option<u32>,
    #[serde(rename = "numSms", default)]
    num_sms: Option<u32>,
}

#[derive(Deserialize)]
struct RawDistributed {
    #[serde(default)]
    rank: Option<i64>,
}

fn parse_document(r: &mut Reader, b: &mut TraceBuilder) -> Result<(), ReadErrorKind> {
    // Skip a UTF-8 byte-order mark.
    if r.peek()?.is_none() {
        return Err(ReadErrorKind::Empty);
    }
    if r.buf[r.pos..].starts_with(&[0xef, 0xbb, 0xbf]) {
        r.pos += 3;
    }
    match r.peek()? {
        Some(b'{') => r.pos += 1,
        None => return Err(ReadErrorKind::Empty),
        found => return Err(ReadErrorKind::NotJson { offset: r.offset(r.pos), found: describe_byte(found) }),
    }
    let top = || "the top-level object".to_string();
    let mut saw_events = false;
    let mut first = true;
    loop {
        match r.peek()? {
            Some(b'}') => {
                r.pos += 1;
                break;
            }
            None => return Err(ReadErrorKind::Truncated { offset: r.offset(r.pos), context: top() }),
            _ => {}
        }
        if !first {
            r.expect(b',', &top)?;
        }
        first = false;
        let (ks, ke) = r.value(&top)?;
        let key: String = serde_json::from_slice(&r.buf[ks..ke]).map_err(|e| ReadErrorKind::Syntax {
            offset: r.offset(ks),
            context: top(),
            message: format!("expected a key: {e}"),
        })?;
        r.expect(b':', &top)?;
        if key == "traceEvents" {
            parse_events(r, b)?;
            saw_events = true;
        } else {
            let ctx = || format!("the \"{key}\" field");
            let (vs, ve) = r.value(&ctx)?;
            let offset = r.offset(vs);
            header_field(&key, &r.buf[vs..ve], offset, b);
        }
    }
    if !saw_events {
        return Err(ReadErrorKind::NoTraceEvents);
    }
    if let Some(found) = r.peek()? {
        let offset = r.offset(r.pos);
        b.diagnostics_mut().warn(WarningKind::TrailingData, None, || {
            format!(
                "data after the end of the JSON document at byte offset {offset} ({}) was ignored",
                describe_byte(Some(found))
            )
        });
    }
    if let Some((decompressed, offset, n)) = r.gzip_trailing {
        b.diagnostics_mut().warn(WarningKind::TrailingData, None, || {
            format!(
                "the gzip data ends whole at byte offset {offset} of the file ({decompressed} bytes decompressed), \
                 followed by {n} byte(s) that are not gzip (padding or data appended to the file); they were \
                 ignored and the trace read is complete"
            )
        });
    }
    Ok(())
}

fn header_field(key: &str, bytes: &[u8], offset: u64, b: &mut TraceBuilder) {
    let bad = |b: &mut TraceBuilder, e: serde_json::Error| {
        b.diagnostics_mut().warn(WarningKind::MalformedEvent, None, || {
            format!("header field \"{key}\" at byte offset {offset} is malformed ({e}); ignored")
        });
    };
    match key {
        "deviceProperties" => match serde_json::from_slice::<Vec<RawDevice>>(bytes) {
            Ok(devs) => {
                for d in devs {
                    b.add_device(DeviceInfo {
                        id: d.id,
                        name: d.name,
                        total_mem_bytes: d.total_global_mem,
                        compute_capability: d.compute_major.zip(d.compute_minor),
                        sm_count: d.num_sms,
                    });
                }
            }
            Err(e) => bad(b, e),
        },
        "baseTimeNanoseconds" => match serde_json::from_slice::<i64>(bytes) {
            Ok(v) => b.meta_mut().base_time_ns = Some(v),
            Err(e) => bad(b, e),
        },
        "distributedInfo" => match serde_json::from_slice::<RawDistributed>(bytes) {
            Ok(d) => b.meta_mut().rank = d.rank,
            Err(e) => bad(b, e),
        },
        "traceName" => {
            if let Ok(name) = serde_json::from_slice::<String>(bytes) {
                b.meta_mut().trace_name = Some(name);
            }
        }
        _ => {}
    }
}

fn parse_events(r: &mut Reader, b: &mut TraceBuilder) -> Result<(), ReadErrorKind> {
    let list = || "the \"traceEvents\" array".to_string();
    r.expect(b'[', &list)?;
    let mut ids = IdMap::default();
    let mut index: u64 = 0;
    loop {
        match r.peek()? {
            Some(b']') => {
                r.pos += 1;
                ids.finish(b);
                return Ok(());
            }
            None => {
                return Err(ReadErrorKind::Truncated {
                    offset: r.offset(r.pos),
                    context: format!("the \"traceEvents\" array after event #{index}"),
                });
            }
            _ => {}
        }
        if index > 0 {
            let ctx = || format!("the \"traceEvents\" array after event #{}", index - 1);
            r.expect(b',', &ctx)?;
        }
        if r.peek()?.is_none() {
            return Err(ReadErrorKind::Truncated { offset: r.offset(r.pos), context: format!("event #{index}") });
        }
        let location = Location { event_index: index, byte_offset: r.offset(r.pos) };
        b.set_location(location);
        if let Err(p) = next_event(r, b, &mut ids, index)? {
            let (kind, msg) = match p {
                Problem::Malformed(m) => (WarningKind::MalformedEvent, m),
                Problem::Missing(m) => (WarningKind::MissingField, m),
            };
            b.warn(kind, || format!("{msg}; event skipped"));
        }
        index += 1;
    }
}

/// Parses the element at `r.pos`, feeds it to `b`, and moves past it.
/// serde_json finds the end of a well-formed event itself; only a bad one needs
/// the structural scan to be skipped. The inner result is the event's problem,
/// if it was skipped.
fn next_event(
    r: &mut Reader,
    b: &mut TraceBuilder,
    ids: &mut IdMap,
    index: u64,
) -> Result<Result<(), Problem>, ReadErrorKind> {
    let ctx = |_: &Reader| format!("event #{index}");
    loop {
        let start = r.pos;
        let mut stream = serde_json::Deserializer::from_slice(&r.buf[start..]).into_iter::<RawEvent<'_>>();
        match stream.next() {
            Some(Ok(ev)) => {
                let end = start + stream.byte_offset();
                let outcome = interpret(ev, &r.buf[start..end], b, ids);
                r.pos = end;
                return Ok(outcome);
            }
            Some(Err(e)) if e.is_eof() => {
                // Re-parsing after every chunk would make an event spanning many
                // chunks quadratic: at least double what is buffered each time.
                r.pos = start;
                let want = (r.buf.len() - start).saturating_mul(2).max(1);
                if !r.refill_to(want)? {
                    return Err(ReadErrorKind::Truncated { offset: r.offset(r.pos), context: ctx(r) });
                }
            }
            Some(Err(e)) => {
                // serde_json reports some cuts (a number ending in '.', say) as
                // syntax errors: only an event complete in the buffer is malformed.
                if !r.eof && value_end(&r.buf, start, false) == Scan::Incomplete {
                    r.pos = start;
                    let want = (r.buf.len() - start).saturating_mul(2).max(1);
                    if !r.refill_to(want)? {
                        return Err(ReadErrorKind::Truncated { offset: r.offset(r.pos), context: ctx(r) });
                    }
                    continue;
                }
                let c = ctx(r);
                r.value(&|| c.clone())?;
                return Ok(Err(Problem::Malformed(e.to_string())));
            }
            None => return Err(ReadErrorKind::Truncated { offset: r.offset(r.pos), context: ctx(r) }),
        }
    }
}
