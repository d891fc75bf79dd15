//! One Kineto event: its borrowed serde form and its interpretation into
//! [`TraceBuilder`] calls.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::value::RawValue;

use crate::builder::{ActivityIn, ApiCallIn, HostOpIn, StreamRangeIn, TraceBuilder};
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

/// A lenient integer: JSON integers, integral floats, and decimal or `0x` hex
/// strings (HIP writes `"stream": "0x0"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Num(i64);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
                Ok(Num(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
                i64::try_from(v).map(Num).map_err(|_| E::custom(format!("integer {v} is too large")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
                if v.fract() == 0.0 && v.abs() < 9.0e18 {
                    Ok(Num(v as i64))
                } else {
                    Err(E::custom(format!("expected an integer, found {v}")))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Num, E> {
                let parsed = match v.strip_prefix("0x") {
                    Some(hex) => i64::from_str_radix(hex, 16).ok(),
                    None => v.parse().ok(),
                };
                parsed.map(Num).ok_or_else(|| E::custom(format!("expected an integer, found \"{v}\"")))
            }
        }
        d.deserialize_any(V)
    }
}

/// An optional lenient integer stored in 8 bytes (`i64::MIN` = absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OptNum(i64);

impl Default for OptNum {
    fn default() -> Self {
        OptNum(i64::MIN)
    }
}

impl OptNum {
    fn get(self) -> Option<i64> {
        (self.0 != i64::MIN).then_some(self.0)
    }
}

impl<'de> Deserialize<'de> for OptNum {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Option::<Num>::deserialize(d).map(|n| n.map_or(OptNum::default(), |n| OptNum(n.0)))
    }
}

/// `grid` / `block` dimensions; zeros when absent.
#[derive(Debug, Clone, Copy, Default)]
struct Dims([u32; 3]);

impl<'de> Deserialize<'de> for Dims {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = <[Num; 3]>::deserialize(d)?;
        Ok(Dims(v.map(|n| u32::try_from(n.0).unwrap_or(0))))
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

/// How the reader resolves string pids/tids to numbers.
#[derive(Default)]
pub(crate) struct IdMap {
    names: rustc_hash::FxHashMap<String, i64>,
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
    let args = ev.args;
    let pid = ids.resolve(&ev.pid);
    let tid = ids.resolve(&ev.tid);
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
        a.grid = args.grid.0;
        a.block = args.block.0;
        a
    };
    let host = |kind| HostOpIn { kind, name, pid, tid, start_ns: start, end_ns: end, external_id };
    match cat {
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
    Ok(())
}
