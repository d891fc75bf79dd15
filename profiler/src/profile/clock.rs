//! The host clock of a run: CLOCK_MONOTONIC in ns, the clock every sampler
//! stamps its samples with and the one the injected library pairs CUPTI's
//! clock with (clock anchors). Converting CUPTI times onto it happens in one
//! place only, when records are read (`boundscope_trace::run::SourceClock`).

use rustix::time::{ClockId, clock_gettime};

/// CLOCK_MONOTONIC now, in ns.
pub fn host_now_ns() -> i64 {
    let t = clock_gettime(ClockId::Monotonic);
    t.tv_sec * 1_000_000_000 + t.tv_nsec
}
