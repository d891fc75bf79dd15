//! Recoverable oddities found while reading or analyzing a trace: counted per
//! kind, with the first occurrence's location kept so a user can look at it.
//! `--strict` turns any of them into an error.

use std::fmt;

/// Where in a source an event was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Location {
    /// 0-based index of the event in the source (in `traceEvents` for Kineto).
    pub event_index: u64,
    /// Byte offset of the event's first byte in the (decompressed) source.
    pub byte_offset: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "event #{} at byte offset {}", self.event_index, self.byte_offset)
    }
}

/// Kinds of recoverable problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// An event that could not be interpreted (bad JSON inside it, wrong field types).
    MalformedEvent,
    /// An event whose required field is missing.
    MissingField,
    /// An event that ends before it starts.
    NegativeDuration,
    /// Two launch calls with the same correlation id: the later one is ignored for matching.
    DuplicateCorrelation,
    /// GPU activities with no launch call in the trace (e.g. launched before the trace window).
    UnmatchedActivity,
    /// Kernels starting more than 1 us before their launch call: host and GPU clocks disagree.
    ClockSkew,
    /// Data after the end of the JSON document.
    TrailingData,
    /// The record stream of a run ended early (crash or interrupt).
    IncompleteRun,
    /// Records lost by the collector (queue full, CUPTI buffer drops).
    DroppedRecords,
    /// A name far longer than any real one, cut short.
    LongName,
    /// Times no clock can produce (beyond about 146 years from its zero), or a
    /// launch and its kernel implausibly far apart: left out of the figures.
    ClockProblem,
    /// An optional field of an unexpected type or value: the event is kept, the field ignored.
    IgnoredField,
    /// The same GPU activity twice (kind, name, correlation, device, stream,
    /// start and end all equal): counted once.
    DuplicateEvent,
    /// A `ph` "B" (begin) event without its "E" (end) on the same thread, or
    /// an "E" without a "B": nothing to pair it with, skipped.
    UnpairedRange,
}

impl WarningKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WarningKind::MalformedEvent => "malformed event",
            WarningKind::MissingField => "missing field",
            WarningKind::NegativeDuration => "negative duration",
            WarningKind::DuplicateCorrelation => "duplicate correlation id",
            WarningKind::UnmatchedActivity => "unmatched GPU activity",
            WarningKind::ClockSkew => "clock skew suspected",
            WarningKind::TrailingData => "trailing data",
            WarningKind::IncompleteRun => "incomplete run",
            WarningKind::DroppedRecords => "dropped records",
            WarningKind::LongName => "name cut short",
            WarningKind::ClockProblem => "clock problem",
            WarningKind::IgnoredField => "field ignored",
            WarningKind::DuplicateEvent => "duplicate event",
            WarningKind::UnpairedRange => "unpaired begin/end event",
        }
    }
}

/// One kind of warning: how often, and the first occurrence.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Warning {
    pub kind: WarningKind,
    pub count: u64,
    /// Location of the first occurrence, when it has one in the source.
    pub first_location: Option<Location>,
    /// Message for the first occurrence.
    pub first_message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} x{}", self.kind.as_str(), self.count)?;
        if let Some(loc) = self.first_location {
            write!(f, " (first: {loc}: {})", self.first_message)
        } else {
            write!(f, ": {}", self.first_message)
        }
    }
}

/// Counted warnings, in order of first appearance of each kind.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(transparent)]
pub struct Diagnostics {
    warnings: Vec<Warning>,
}

impl Diagnostics {
    /// Counts one occurrence of `kind`; keeps the message of the first.
    pub fn warn(&mut self, kind: WarningKind, location: Option<Location>, message: impl FnOnce() -> String) {
        self.warn_n(kind, 1, location, message);
    }

    /// Counts `n` occurrences of `kind` at once.
    pub fn warn_n(&mut self, kind: WarningKind, n: u64, location: Option<Location>, message: impl FnOnce() -> String) {
        if n == 0 {
            return;
        }
        if let Some(w) = self.warnings.iter_mut().find(|w| w.kind == kind) {
            w.count += n;
        } else {
            self.warnings.push(Warning { kind, count: n, first_location: location, first_message: message() });
        }
    }

    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    pub fn count(&self, kind: WarningKind) -> u64 {
        self.warnings.iter().find(|w| w.kind == kind).map_or(0, |w| w.count)
    }

    pub fn is_empty(&self) -> bool {
        self.warnings.is_empty()
    }

    /// Adds all of `other`'s counts.
    pub fn merge(&mut self, other: &Diagnostics) {
        for w in &other.warnings {
            let msg = w.first_message.clone();
            self.warn_n(w.kind, w.count, w.first_location, || msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_keeps_first() {
        let mut d = Diagnostics::default();
        let loc = Location { event_index: 3, byte_offset: 120 };
        d.warn(WarningKind::NegativeDuration, Some(loc), || "dur -5".into());
        d.warn(WarningKind::NegativeDuration, None, || "dur -7".into());
        d.warn_n(WarningKind::UnmatchedActivity, 4, None, || "4 kernels".into());
        assert_eq!(d.count(WarningKind::NegativeDuration), 2);
        assert_eq!(d.count(WarningKind::UnmatchedActivity), 4);
        assert_eq!(d.warnings()[0].first_message, "dur -5");
        assert_eq!(d.warnings()[0].to_string(), "negative duration x2 (first: event #3 at byte offset 120: dur -5)");
    }
}
