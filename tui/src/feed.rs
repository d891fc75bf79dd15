//! What the UI is fed and what it sends back: plain data between the binary
//! (event sources, the profiled child, the sweep) and the terminal loop. The
//! UI knows nothing of files or processes; everything it shows arrives here.

use boundscope_analysis::live::LiveSnapshot;

/// One message from the sources to the UI.
#[derive(Debug, Clone, PartialEq)]
pub enum Feed {
    /// Sent first; may be re-sent (a mode change, the child ending).
    Header(Header),
    /// A new publish of the live analysis.
    Snapshot(Box<LiveSnapshot>),
    /// The sources' own figures, about once a second.
    Stats(Stats),
    /// One line of the child's output or one of boundscope's warnings.
    Log { stream: LogStream, line: String },
    /// The state of the sweep, re-sent whole after each change.
    Sweep(Box<SweepView>),
    /// The source finished ("program exited with status 0", "replay
    /// finished"); the UI stays until the user quits.
    Ended { message: String },
}

/// What is being watched.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// The profiled command line, the replayed file, or the simulated workload.
    pub command: String,
    /// The GPU's name, or the simulated platform's.
    pub gpu: String,
    pub mode: Mode,
    /// The figures come from a model of a platform, not a measurement.
    pub simulated: bool,
    /// A child process is running: quitting asks first, Ctrl-C interrupts it.
    pub child_running: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Live,
    Replay {
        speed: String,
    },
    Simulated {
        speed: String,
    },
    /// Point `index` (1-based) of `total`, at batch size `batch`.
    Sweep {
        batch: u64,
        index: usize,
        total: usize,
    },
}

/// The sources' throughput and cost.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Stats {
    pub records_per_s: f64,
    /// boundscope's own CPU use, percent of one core.
    pub cpu_pct: f64,
    /// Wall-clock time between a record's arrival and its analysis.
    pub ingest_lag_ms: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
    /// boundscope's own messages and warnings.
    Boundscope,
}

/// A sweep so far.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SweepView {
    pub workload: String,
    pub platforms: Vec<String>,
    pub points: Vec<SweepPointView>,
    pub transitions: Vec<TransitionView>,
    /// The point running now: (platform, batch).
    pub running: Option<(String, u64)>,
}

/// One (platform, batch) point of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepPointView {
    pub platform: String,
    pub batch: u64,
    pub status: PointStatus,
    /// Median step time.
    pub step_ms: Option<f64>,
    /// Samples (or tokens) per second.
    pub throughput: Option<f64>,
    pub busy_frac: Option<f64>,
    /// Median step TKLQT.
    pub tklqt_ms: Option<f64>,
    /// Why a point failed, or anything else worth a word.
    pub note: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointStatus {
    Pending,
    Running,
    Done,
    Failed,
}

/// Where a platform turns from CPU-bound to GPU-bound, by each rule.
#[derive(Debug, Clone, PartialEq)]
pub struct TransitionView {
    pub platform: String,
    /// Batch size at the TKLQT knee.
    pub knee: Option<f64>,
    /// Batch size where the busy rule flips.
    pub busy_rule: Option<f64>,
    /// The knee and the busy rule at the batch grid's resolution ("16-32",
    /// "<= 1", "> 256"), as every transition is printed.
    pub knee_grid: String,
    pub busy_grid: String,
}

/// From the UI to the binary.
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    /// The user quit (and confirmed ending a running child).
    Quit,
    /// Ctrl-C while a child runs: forward SIGINT to it; during a sweep:
    /// interrupt the running point's program and stop the sweep.
    Interrupt,
    /// Save this snapshot (the one on screen) as JSON and text.
    Save(Box<LiveSnapshot>),
}

/// How the terminal is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UiOptions {
    /// No braille: charts draw with block characters.
    pub ascii: bool,
    /// Colors; `run` also turns them off when `NO_COLOR` is set.
    pub color: bool,
}

impl Default for UiOptions {
    fn default() -> Self {
        UiOptions { ascii: false, color: true }
    }
}
