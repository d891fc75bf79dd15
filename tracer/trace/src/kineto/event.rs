//! One Kineto event: its borrowed serde form and its interpretation into
//! [`TraceBuilder`] calls.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::value::RawValue;

use crate::builder::{ActivityIn, ApiCallIn, HostOpIn, StreamRangeIn, TraceBuilder};
use crate::diag::{Location, WarningKind};
use crate::model::{ActivityKind, HostOpKind};
use crate::time::us_text_to_ns;

/// A Kineto/Chrome trace event, borrowing from the input.
#[derive(Deserialize)]
pub(crate) struct RawEvent<'a> {
    /// `ph` and `cat` are borrowed: escapes never occur in them, and a
    /// borrowed `&str` keeps the parsed event small.
    #[serde(borrow, default)]
    ph: Option<&'a str>,
    #[serde(borrow, default)]
    cat: Option<&'a str>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pid: Option<Id<'a>>,
    #[serde(borrow, default)]
    tid: Option<Id<'a>>,
    #[serde(borrow, default)]
    ts: Option<&'a RawValue>,
    #[serde(borrow, default)]
    dur: Option<&'a RawValue>,
    #[serde(borrow, default)]
    args: RawArgs<'a>,
}

/// The `args` fields boundscope uses; the rest are skipped.
#[derive(Deserialize, Default)]
struct RawArgs<'a> {
    #[serde(rename = "External id", alias = "external id", default)]
    external_id: OptNum,
    #[serde(default)]
    correlation: OptNum,
    #[serde(default)]
    device: OptNum,
    #[serde(default)]
    stream: OptNum,
    #[serde(default)]
    bytes: OptNum,
    #[serde(default)]
    queued: OptNum,
    #[serde(default)]
    submitted: OptNum,
    #[serde(rename = "graph id", alias = "graph_id", default)]
    graph_id: OptNum,
    #[serde(default)]
    grid: Dims,
    #[serde(default)]
    block: Dims,
    /// `process_name` / `thread_name` metadata.
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
}

/// Counter event (`ph: "C"`): every numeric arg is one series.
#[derive(Deserialize)]
struct CounterEvent<'a> {
    #[serde(borrow, default)]
    args: BTreeMap<Cow<'a, str>, serde_json::Value>,
}

/// An optional lenient integer stored in 8 bytes: `i64::MIN` when absent,
/// `i64::MIN + 1` when present with a value that is no integer (a string
/// such as "default", an object): such a field is ignored with a warning, and
/// the event kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OptNum(i64);

const ABSENT: i64 = i64::MIN;
const INVALID: i64 = i64::MIN + 1;

impl Default for OptNum {
    fn default() -> Self {
        OptNum(ABSENT)
    }
}

impl OptNum {
    fn get(self) -> Option<i64> {
        (self.0 != ABSENT && self.0 != INVALID).then_some(self.0)
    }

    fn invalid(self) -> bool {
        self.0 == INVALID
    }
}

/// Accepts any JSON value: integers, integral floats and decimal or `0x` hex
/// strings become a number, `null` is
/// absent, anything else (consumed whole) is [`INVALID`].
struct LenientNum;

impl<'de> Visitor<'de> for LenientNum {
    type Value = OptNum;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<OptNum, E> {
        Ok(OptNum(if v == ABSENT || v == INVALID { INVALID } else { v }))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<OptNum, E> {
        Ok(i64::try_from(v).map_or(OptNum(INVALID), OptNum))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<OptNum, E> {
        int_of_f64(v).map_or(Ok(OptNum(INVALID)), |n| self.visit_i64(n))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<OptNum, E> {
        int_of_str(v).map_or(Ok(OptNum(INVALID)), |n| self.visit_i64(n))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<OptNum, E> {
        Ok(OptNum(INVALID))
    }
    fn visit_unit<E: de::Error>(self) -> Result<OptNum, E> {
        Ok(OptNum(ABSENT))
    }
    fn visit_none<E: de::Error>(self) -> Result<OptNum, E> {
        Ok(OptNum(ABSENT))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<OptNum, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<OptNum, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(OptNum(INVALID))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<OptNum, A::Error> {
        while map.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
        Ok(OptNum(INVALID))
    }
}

/// An integral float as an integer.
fn int_of_f64(v: f64) -> Option<i64> {
    (v.fract() == 0.0 && v.abs() < 9.0e18).then_some(v as i64)
}

/// A decimal or `0x` hex string as an integer (HIP writes `"stream": "0x0"`).
fn int_of_str(v: &str) -> Option<i64> {
    match v.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

impl<'de> Deserialize<'de> for OptNum {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LenientNum)
    }
}

/// `grid` / `block` dimensions; zeros when absent. Anything but an array of
/// three integers (Triton writes `"grid": "grid(100,)"`) is kept as
/// `invalid`: the field is ignored with a warning, the event kept.
#[derive(Debug, Clone, Copy, Default)]
struct Dims {
    v: [u32; 3],
    invalid: bool,
}

impl<'de> Deserialize<'de> for Dims {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Dims;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Dims, A::Error> {
                let mut dims = Dims::default();
                let mut n = 0;
                while let Some(x) = seq.next_element::<OptNum>()? {
                    match x.get() {
                        Some(x) if n < 3 => dims.v[n] = u32::try_from(x).unwrap_or(0),
                        _ => dims.invalid = true,
                    }
                    n += 1;
                }
                dims.invalid |= n != 3;
                if dims.invalid {
                    dims.v = [0; 3];
                }
                Ok(dims)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Dims, A::Error> {
                while map.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
                Ok(Dims { v: [0; 3], invalid: true })
            }
            fn visit_unit<E: de::Error>(self) -> Result<Dims, E> {
                Ok(Dims::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<Dims, E> {
                Ok(Dims::default())
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Dims, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Dims, E> {
                Ok(Dims { v: [0; 3], invalid: true })
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Dims, E> {
                Ok(Dims { v: [0; 3], invalid: true })
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Dims, E> {
                Ok(Dims { v: [0; 3], invalid: true })
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Dims, E> {
                Ok(Dims { v: [0; 3], invalid: true })
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Dims, E> {
                Ok(Dims { v: [0; 3], invalid: true })
            }
        }
        d.deserialize_any(V)
    }
}

/// A pid or tid: Kineto uses integers, and strings for its own tracks.
enum Id<'a> {
    Int(i64),
    Str(Cow<'a, str>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Id<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Id<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer or a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id<'a>, E> {
                Ok(Id::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id<'a>, E> {
                Ok(Id::Int(v as i64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Id<'a>, E> {
                Ok(Id::Int(v as i64))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Id<'a>, E> {
                Ok(Id::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Id<'a>, E> {
                Ok(Id::Str(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// Why an event was skipped.
#[derive(Debug)]
pub(crate) enum Problem {
    /// The event is not valid JSON or a field has the wrong type.
    Malformed(String),
    /// A field the event's kind needs is absent.
    Missing(String),
}

/// What the reader keeps across events: string pids/tids resolved to
/// numbers, and the `ph` "B" events still waiting for their "E".
#[derive(Default)]
pub(crate) struct IdMap {
    names: rustc_hash::FxHashMap<String, i64>,
    /// (pid, tid) -> begun ranges, innermost last.
    open: rustc_hash::FxHashMap<(i64, i64), Vec<Begun>>,
}

/// A `ph` "B" event waiting for its "E".
struct Begun {
    cat: String,
    name: String,
    start_ns: i64,
    args: Nums,
    location: Option<Location>,
}

impl IdMap {
    fn resolve(&mut self, id: &Option<Id<'_>>) -> i64 {
        match id {
            None => 0,
            Some(Id::Int(v)) => *v,
            Some(Id::Str(s)) => {
                // Kineto names some tracks "stream 7"; keep the number when there is one.
                if let Some(n) = s.rsplit(' ').next().and_then(|t| t.trim().parse::<i64>().ok()) {
                    return n;
                }
                let next = -(self.names.len() as i64) - 1;
                *self.names.entry(s.to_string()).or_insert(next)
            }
        }
    }

    /// Counts the "B" events never ended, at the end of `traceEvents`.
    pub(crate) fn finish(self, b: &mut TraceBuilder) {
        let mut left: Vec<Begun> = self.open.into_values().flatten().collect();
        left.sort_by_key(|r| r.location.map(|l| l.event_index));
        let Some(first) = left.first() else { return };
        let msg = format!(
            "'{}' event '{}' (\"ph\": \"B\") has no matching \"E\" on its thread; skipped (a trace cut short \
             while ranges were open, or a writer that ends ranges elsewhere: write complete \"X\" events with \
             \"dur\")",
            first.cat,
            crate::builder::short(&first.name)
        );
        b.diagnostics_mut().warn_n(WarningKind::UnpairedRange, left.len() as u64, first.location, || msg);
    }
}

fn time_field(v: Option<&RawValue>, field: &str, cat: &str) -> Result<i64, Problem> {
    let raw = v.ok_or_else(|| Problem::Missing(format!("'{cat}' event has no \"{field}\"")))?;
    us_text_to_ns(raw.get().as_bytes()).map_err(|e| Problem::Malformed(format!("\"{field}\": {} {e}", raw.get())))
}

fn u32_of(n: OptNum, fallback: i64) -> u32 {
    u32::try_from(n.get().unwrap_or(fallback)).unwrap_or(u32::MAX)
}

fn u64_of(n: OptNum) -> u64 {
    n.get().map_or(0, |n| u64::try_from(n).unwrap_or(0))
}

/// Feeds one parsed event (whose text is `bytes`) to `b`.
pub(crate) fn interpret(ev: RawEvent<'_>, bytes: &[u8], b: &mut TraceBuilder, ids: &mut IdMap) -> Result<(), Problem> {
    let ph = ev.ph.ok_or_else(|| Problem::Missing("event has no \"ph\"".into()))?;
    if ev.cat.is_some_and(|c| super::DERIVED_CATEGORIES.contains(&c)) {
        // boundscope's own verdict and counter tracks: derived from the events,
        // recomputed on every read, so an export reads back as its source.
        return Ok(());
    }
    match ph {
        "X" => complete_event(ev, b, ids),
        "B" => begin_event(ev, b, ids),
        "E" => end_event(ev, b, ids),
        "M" => {
            let pid = ids.resolve(&ev.pid);
            let name = ev.args.name.as_deref();
            match (ev.name.as_deref(), name) {
                (Some("process_name"), Some(n)) => b.set_process_name(pid, n),
                (Some("thread_name"), Some(n)) => {
                    let tid = ids.resolve(&ev.tid);
                    b.set_thread_name(pid, tid, n);
                }
                _ => {}
            }
            Ok(())
        }
        "C" => {
            let ts = time_field(ev.ts, "ts", "C")?;
            let name = ev.name.as_deref().unwrap_or("counter").to_string();
            let device = match ev.pid {
                Some(Id::Int(p)) => u32::try_from(p).ok(),
                _ => None,
            };
            let c: CounterEvent<'_> = serde_json::from_slice(bytes).map_err(|e| Problem::Malformed(e.to_string()))?;
            for (key, v) in &c.args {
                if let Some(x) = v.as_f64() {
                    let series = if c.args.len() == 1 { name.clone() } else { format!("{name}/{key}") };
                    let s = b.counter_series(&series, "", device);
                    b.counter_sample(s, ts, x);
                }
            }
            Ok(())
        }
        // Flows (s/f/t), instants and async events carry nothing the model needs:
        // correlation ids are in the args of the events they connect.
        _ => Ok(()),
    }
}

/// The numeric `args` of an event, owned (a "B" event keeps them until its "E").
#[derive(Debug, Clone, Copy, Default)]
struct Nums {
    external_id: OptNum,
    correlation: OptNum,
    device: OptNum,
    stream: OptNum,
    bytes: OptNum,
    queued: OptNum,
    submitted: OptNum,
    graph_id: OptNum,
    grid: Dims,
    block: Dims,
}

impl From<&RawArgs<'_>> for Nums {
    fn from(a: &RawArgs<'_>) -> Nums {
        Nums {
            external_id: a.external_id,
            correlation: a.correlation,
            device: a.device,
            stream: a.stream,
            bytes: a.bytes,
            queued: a.queued,
            submitted: a.submitted,
            graph_id: a.graph_id,
            grid: a.grid,
            block: a.block,
        }
    }
}

impl Nums {
    /// Warns once per optional field whose value had the wrong type; the
    /// field reads as absent.
    fn warn_invalid(&self, b: &mut TraceBuilder, cat: &str, name: &str) {
        let ints = [
            ("External id", self.external_id),
            ("correlation", self.correlation),
            ("device", self.device),
            ("stream", self.stream),
            ("bytes", self.bytes),
            ("queued", self.queued),
            ("submitted", self.submitted),
            ("graph id", self.graph_id),
        ];
        let bad = ints.iter().filter(|(_, n)| n.invalid()).map(|(f, _)| (*f, "an integer"));
        let dims = [("grid", self.grid), ("block", self.block)];
        let bad = bad.chain(dims.iter().filter(|(_, d)| d.invalid).map(|(f, _)| (*f, "an array of three integers")));
        for (field, want) in bad {
            b.warn(WarningKind::IgnoredField, || {
                format!(
                    "'{cat}' event '{}': argument \"{field}\" is not {want}; the field is ignored, the event kept",
                    crate::builder::short(name)
                )
            });
        }
    }
}

fn begin_event(ev: RawEvent<'_>, b: &mut TraceBuilder, ids: &mut IdMap) -> Result<(), Problem> {
    let cat = ev.cat.unwrap_or("");
    let start_ns = time_field(ev.ts, "ts", cat)?;
    let key = (ids.resolve(&ev.pid), ids.resolve(&ev.tid));
    let begun = Begun {
        cat: cat.to_string(),
        name: ev.name.as_deref().unwrap_or("").to_string(),
        start_ns,
        args: Nums::from(&ev.args),
        location: b.location(),
    };
    ids.open.entry(key).or_default().push(begun);
    Ok(())
}

/// An "E" ends the innermost open "B" of its thread (the Chrome trace format's
/// rule): the pair becomes one range, as an "X" event would be.
fn end_event(ev: RawEvent<'_>, b: &mut TraceBuilder, ids: &mut IdMap) -> Result<(), Problem> {
    let end_ns = time_field(ev.ts, "ts", ev.cat.unwrap_or(""))?;
    let (pid, tid) = (ids.resolve(&ev.pid), ids.resolve(&ev.tid));
    let Some(begun) = ids.open.get_mut(&(pid, tid)).and_then(Vec::pop) else {
        let name = ev.name.as_deref().unwrap_or("");
        b.warn(WarningKind::UnpairedRange, || {
            format!(
                "an \"E\" (end) event '{}' on pid {pid} tid {tid} has no open \"B\" (begin) event; skipped \
                 (the trace starts inside the range, or its writer pairs ranges differently: write complete \
                 \"X\" events with \"dur\")",
                crate::builder::short(name)
            )
        });
        return Ok(());
    };
    emit(&begun.cat, &begun.name, pid, tid, begun.start_ns, end_ns, &begun.args, b);
    Ok(())
}

fn complete_event(ev: RawEvent<'_>, b: &mut TraceBuilder, ids: &mut IdMap) -> Result<(), Problem> {
    let cat = ev.cat.unwrap_or("");
    if cat == "Trace" {
        // Kineto's record-window span: not an event of the workload.
        return Ok(());
    }
    let start = time_field(ev.ts, "ts", cat)?;
    let dur = time_field(ev.dur, "dur", cat)?;
    let end = start.checked_add(dur).ok_or_else(|| Problem::Malformed("ts + dur overflows".into()))?;
    let name = ev.name.as_deref().unwrap_or("");
    let pid = ids.resolve(&ev.pid);
    let tid = ids.resolve(&ev.tid);
    emit(cat, name, pid, tid, start, end, &Nums::from(&ev.args), b);
    Ok(())
}

/// One range of category `cat` to the builder call its category stands for.
#[allow(clippy::too_many_arguments)]
fn emit(cat: &str, name: &str, pid: i64, tid: i64, start: i64, end: i64, args: &Nums, b: &mut TraceBuilder) {
    args.warn_invalid(b, cat, name);
    let correlation = u64_of(args.correlation);
    let external_id = u64_of(args.external_id);
    let activity = |kind| {
        let mut a = ActivityIn::new(kind, name, u32_of(args.device, pid), u32_of(args.stream, tid), start, end);
        a.correlation = correlation;
        a.external_id = external_id;
        a.bytes = u64_of(args.bytes);
        // Kineto writes 0 when CUPTI latency timestamps were off (always, for PyTorch).
        a.queued_ns = args.queued.get().filter(|&q| q > 0);
        a.submitted_ns = args.submitted.get().filter(|&q| q > 0);
        a.graph_id = args.graph_id.get().and_then(|n| u32::try_from(n).ok()).filter(|&g| g > 0);
        a.grid = args.grid.v;
        a.block = args.block.v;
        a
    };
    let host = |kind| HostOpIn { kind, name, pid, tid, start_ns: start, end_ns: end, external_id };
    match cat {
        "Trace" => {}
        "kernel" | "Kernel" => b.gpu_activity(activity(ActivityKind::Kernel)),
        "gpu_memcpy" | "Memcpy" => b.gpu_activity(activity(ActivityKind::Memcpy)),
        "gpu_memset" | "Memset" => b.gpu_activity(activity(ActivityKind::Memset)),
        "cuda_runtime" | "cuda_driver" | "Runtime" | "Driver" => {
            b.api_call(ApiCallIn { name, pid, tid, start_ns: start, end_ns: end, correlation, external_id })
        }
        "cpu_op" | "Operator" | "operator" => b.host_op(host(HostOpKind::Operator)),
        "user_annotation" | "UserAnnotation" => b.host_op(host(HostOpKind::Annotation)),
        "python_function" => b.host_op(host(HostOpKind::Python)),
        "nvtx" | "NVTX" => b.host_op(host(HostOpKind::Nvtx)),
        "gpu_user_annotation" => b.gpu_annotation(StreamRangeIn {
            name,
            device: u32_of(args.device, pid),
            stream: u32_of(args.stream, tid),
            start_ns: start,
            end_ns: end,
            correlation,
        }),
        "cuda_sync" => b.sync_event(StreamRangeIn {
            name,
            device: u32_of(args.device, pid),
            stream: u32_of(args.stream, tid),
            start_ns: start,
            end_ns: end,
            correlation,
        }),
        _ => b.host_op(host(HostOpKind::Other)),
    }
}
