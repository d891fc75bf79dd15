//! [`EventSink`]: where a source puts typed events. The [`TraceBuilder`] is
//! the sink of every reader; the live analysis wraps one and is a sink too,
//! so replays and simulated runs feed either without a second interpretation.

use crate::builder::{ActivityIn, ApiCallIn, HostOpIn, TraceBuilder};

/// A consumer of typed events (the methods of [`TraceBuilder`]).
pub trait EventSink {
    fn api_call(&mut self, c: ApiCallIn<'_>);
    fn gpu_activity(&mut self, a: ActivityIn<'_>);
    fn host_op(&mut self, o: HostOpIn<'_>);
    /// The index of a counter series, created on first sight.
    fn counter_series(&mut self, name: &str, unit: &str, device: Option<u32>) -> u32;
    fn counter_sample(&mut self, series: u32, time_ns: i64, value: f64);
    /// A hint from a source that knows its future (a replay): no GPU activity
    /// will arrive for the launch call with this correlation id.
    fn no_activity_expected(&mut self, _correlation: u64) {}
}

impl EventSink for TraceBuilder {
    fn api_call(&mut self, c: ApiCallIn<'_>) {
        TraceBuilder::api_call(self, c);
    }

    fn gpu_activity(&mut self, a: ActivityIn<'_>) {
        TraceBuilder::gpu_activity(self, a);
    }

    fn host_op(&mut self, o: HostOpIn<'_>) {
        TraceBuilder::host_op(self, o);
    }

    fn counter_series(&mut self, name: &str, unit: &str, device: Option<u32>) -> u32 {
        TraceBuilder::counter_series(self, name, unit, device)
    }

    fn counter_sample(&mut self, series: u32, time_ns: i64, value: f64) {
        TraceBuilder::counter_sample(self, series, time_ns, value);
    }
}
