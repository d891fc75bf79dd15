//! SVG plots, drawn with plotters' SVG backend (text stays `<text>`, so no
//! font files are needed):
//!
//! - one trace: the launch-to-start histogram ([`LAUNCH_TO_START_SVG`], log
//!   buckets in us, [`BINS_PER_OCTAVE`] per doubling, p50/p95 marked) and the
//!   top kernels by total time
//!   ([`TOP_KERNELS_SVG`], horizontal bars);
//! - a batch-size sweep ([`sweep_svg`]): latency, throughput, TKLQT and GPU
//!   busy fraction against batch size on a log2 axis that ends at the
//!   largest batch, TKLQT on a log axis (its flat CPU-bound part is what the
//!   transition is read from), one line per platform named in a legend, with
//!   the CPU-/GPU-bound transition marked.
//!
//! Every plot has a title and axis units, and says so when it has nothing to show.

use std::io::Write;
use std::path::{Path, PathBuf};

use boundscope_analysis::sweep::Crossing;
use boundscope_analysis::{Analysis, KernelStat};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, SegmentValue, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::output::{AtomicFile, ExportError};
use crate::text::short_name;

/// File name of the launch-to-start histogram.
pub const LAUNCH_TO_START_SVG: &str = "launch_to_start.svg";
/// File name of the top-kernels bar chart.
pub const TOP_KERNELS_SVG: &str = "top_kernels.svg";

/// A plot that could not be drawn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlotError(String);

fn perr<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError(e.to_string())
}

const FONT: &str = "sans-serif";
const BAR: RGBColor = RGBColor(70, 110, 170);
const MARK: RGBColor = RGBColor(200, 60, 40);
/// Minor grid lines: left out (the major ones are enough to read values).
const LIGHT: RGBAColor = RGBAColor(0, 0, 0, 0.0);
/// Line colours of a sweep, one per platform (colour-blind-safe Okabe-Ito).
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(230, 159, 0),
    RGBColor(0, 0, 0),
];

/// Writes `svg` to `path` atomically.
fn write_svg(svg: &str, path: &Path) -> Result<(), ExportError> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(svg.as_bytes()).map_err(|e| ExportError::Io { path: path.to_path_buf(), error: e })?;
    f.commit()
}

fn plot_err(path: &Path) -> impl Fn(PlotError) -> ExportError + '_ {
    move |e| ExportError::Plot { path: path.to_path_buf(), message: e.0 }
}

/// Writes the plots of one trace into `dir`: [`LAUNCH_TO_START_SVG`] and [`TOP_KERNELS_SVG`].
pub fn write_trace_plots(analysis: &Analysis, dir: &Path) -> Result<Vec<PathBuf>, ExportError> {
    let p1 = dir.join(LAUNCH_TO_START_SVG);
    write_svg(&launch_to_start_svg(analysis).map_err(plot_err(&p1))?, &p1)?;
    let p2 = dir.join(TOP_KERNELS_SVG);
    write_svg(&top_kernels_svg(&analysis.report.top_kernels.by_total_time).map_err(plot_err(&p2))?, &p2)?;
    Ok(vec![p1, p2])
}

/// Draws `msg` in the middle of an empty plot area.
fn empty_message(area: &DrawingArea<SVGBackend<'_>, Shift>, msg: &str) -> Result<(), PlotError> {
    let (w, h) = area.dim_in_pixel();
    let style = TextStyle::from((FONT, 18).into_font())
        .color(&RGBColor(110, 110, 110))
        .pos(Pos::new(HPos::Center, VPos::Center));
    area.draw(&Text::new(msg.to_string(), (w as i32 / 2, h as i32 / 2), style)).map_err(perr)
}

/// Microseconds for axis labels: "500 ns", "2 us", "1 ms".
fn us_label(us: f64) -> String {
    if us >= 1_000_000.0 {
        format!("{} s", trim(us / 1e6))
    } else if us >= 1_000.0 {
        format!("{} ms", trim(us / 1e3))
    } else if us >= 1.0 {
        format!("{} us", trim(us))
    } else {
        format!("{} ns", trim(us * 1e3))
    }
}

/// A number without a trailing ".0".
fn trim(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map_or(s.clone(), str::to_string)
}

/// Histogram bins per doubling of launch-to-start time: fine enough that a
/// cluster between 5 and 10 us shows its shape, coarse enough that a bin of
/// a few thousand launches is not noise.
pub const BINS_PER_OCTAVE: u32 = 4;

/// Bin edges in us covering `[lo, hi]`: powers of 2^(1/[`BINS_PER_OCTAVE`]),
/// so the edges fall on 1, 2, 4, 8 ... us and every bin is as wide on the
/// log axis.
fn edges_log2(lo: f64, hi: f64) -> Vec<f64> {
    let n = f64::from(BINS_PER_OCTAVE);
    // The small tolerance keeps a value on an edge in the bin it opens.
    let first = (lo.log2() * n + 1e-9).floor() as i32;
    let last = ((hi.log2() * n - 1e-9).ceil() as i32).max(first + 1);
    (first..=last).map(|k| 2f64.powf(f64::from(k) / n)).collect()
}

/// Bucket edges in us at 1-2-5 steps covering `[lo, hi]` (the axis labels).
fn edges_125(lo: f64, hi: f64) -> Vec<f64> {
    let mut decade = 10f64.powf(lo.log10().floor());
    let mut edges = Vec::new();
    'outer: loop {
        for m in [1.0, 2.0, 5.0] {
            let e = decade * m;
            if e > lo * (1.0 + 1e-9) && edges.is_empty() {
                // The edge below `lo` opens the first bucket.
                edges.push(if m == 1.0 {
                    decade / 2.0
                } else if m == 2.0 {
                    decade
                } else {
                    decade * 2.0
                });
            }
            if !edges.is_empty() {
                edges.push(e);
                if e >= hi {
                    break 'outer;
                }
            }
        }
        decade *= 10.0;
    }
    edges
}

/// The distribution of launch-to-start time over the whole trace's launches
/// (graph-internal kernels excluded, as in TKLQT; copies and fills included,
/// as in the summary's launch-to-start row), in [`BINS_PER_OCTAVE`] bins per
/// doubling on a log x axis labelled at 1-2-5 steps, p50 and p95 marked.
pub fn launch_to_start_svg(analysis: &Analysis) -> Result<String, PlotError> {
    let l = &analysis.launches;
    let values: Vec<i64> = (0..l.len()).filter(|&r| !l.graph_internal[r]).map(|r| l.launch_to_start_ns[r]).collect();
    let w = &analysis.report.trace_window;
    let (p50, p95) = (w.launch_to_start.p50_ns / 1e3, w.launch_to_start.p95_ns / 1e3);
    let title = format!("Launch-to-start time per launch, whole trace ({} launches)", values.len());
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 540)).into_drawing_area();
        root.fill(&WHITE).map_err(perr)?;
        if values.is_empty() {
            let area = root.titled(&title, (FONT, 22)).map_err(perr)?;
            empty_message(&area, "no matched launch calls in this trace")?;
            root.present().map_err(perr)?;
            drop(area);
            drop(root);
            return Ok(svg);
        }
        // Launches that start before their call (clock skew) and zero land in the first bucket.
        let us: Vec<f64> = values.iter().map(|&v| (v as f64 / 1e3).max(0.0)).collect();
        let min_pos = us.iter().copied().filter(|&v| v > 0.0).fold(f64::INFINITY, f64::min);
        let max = us.iter().copied().fold(0.0, f64::max);
        let lo = if min_pos.is_finite() { min_pos.max(0.1) } else { 0.1 };
        let edges = edges_log2(lo, max.max(lo * 1.01));
        let mut counts = vec![0u64; edges.len() - 1];
        for &v in &us {
            let b = edges.partition_point(|&e| e <= v).saturating_sub(1).min(counts.len() - 1);
            counts[b] += 1;
        }
        let ymax = counts.iter().copied().max().unwrap_or(1) as f64 * 1.15;
        let (x0, x1) = (edges[0], edges[edges.len() - 1]);
        // Labels at the 1-2-5 values inside the axis, and at its ends when
        // fewer than two fall inside.
        let mut labels: Vec<f64> =
            edges_125(x0, x1).into_iter().filter(|&e| e >= x0 * (1.0 - 1e-9) && e <= x1 * (1.0 + 1e-9)).collect();
        if labels.len() < 2 {
            labels = vec![x0, x1];
        }
        let mut chart = ChartBuilder::on(&root)
            .caption(&title, (FONT, 22))
            .margin(20)
            .x_label_area_size(55)
            .y_label_area_size(75)
            .build_cartesian_2d((x0..x1).log_scale().with_key_points(labels), 0f64..ymax)
            .map_err(perr)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(LIGHT)
            .x_desc(format!(
                "launch-to-start time: kernel start - launch call start (log scale, {BINS_PER_OCTAVE} bins per doubling)"
            ))
            .y_desc("launches")
            .x_label_formatter(&|v| us_label(*v))
            // Counts are whole: no label at a half-step tick (few launches).
            .y_label_formatter(&|v| if v.fract().abs() < 1e-9 { format!("{v:.0}") } else { String::new() })
            .axis_desc_style((FONT, 16))
            .label_style((FONT, 13))
            .draw()
            .map_err(perr)?;
        chart
            .draw_series(counts.iter().enumerate().map(|(i, &c)| {
                let mut r = Rectangle::new([(edges[i], 0.0), (edges[i + 1], c as f64)], BAR.mix(0.75).filled());
                r.set_margin(0, 0, 1, 1);
                r
            }))
            .map_err(perr)?;
        for (q, v, row) in [("p50", p50, 0.97), ("p95", p95, 0.90)] {
            if v <= 0.0 || !v.is_finite() {
                continue;
            }
            let x = v.clamp(x0, x1);
            chart
                .draw_series(DashedLineSeries::new([(x, 0.0), (x, ymax)], 6, 4, MARK.stroke_width(2)))
                .map_err(perr)?;
            // Right of the line, or left of it in the last quarter of the axis
            // so that the label stays inside the plot.
            let along = (x / x0).ln() / (x1 / x0).ln();
            let label = format!("{q} {}", crate::text::fmt_ns(v * 1e3));
            // SVG drops a leading space: keep the text off the line by a
            // step of about 0.6% of the axis width instead.
            let step = (x1 / x0).powf(0.006);
            let (tx, hpos) = if along > 0.75 { (x / step, HPos::Right) } else { (x * step, HPos::Left) };
            chart
                .draw_series(std::iter::once(Text::new(
                    label,
                    (tx, ymax * row),
                    TextStyle::from((FONT, 15).into_font()).color(&MARK).pos(Pos::new(hpos, VPos::Top)),
                )))
                .map_err(perr)?;
        }
        root.present().map_err(perr)?;
    }
    Ok(svg)
}

/// Total time of the top kernels by name, as horizontal bars, longest on top.
pub fn top_kernels_svg(top: &[KernelStat]) -> Result<String, PlotError> {
    let n = top.len();
    let title = format!("Top {n} kernels by total GPU time, whole trace");
    let height = 140 + 38 * n.max(3) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1400, height)).into_drawing_area();
        root.fill(&WHITE).map_err(perr)?;
        if n == 0 {
            let area = root.titled("Top kernels by total GPU time", (FONT, 22)).map_err(perr)?;
            empty_message(&area, "no kernels in this trace")?;
            root.present().map_err(perr)?;
            drop(area);
            drop(root);
            return Ok(svg);
        }
        let max_ns = top.iter().map(|k| k.total_ns).max().unwrap_or(1).max(1) as f64;
        // One unit for the whole axis, chosen by the longest bar.
        let (div, unit) = if max_ns >= 1e9 {
            (1e9, "s")
        } else if max_ns >= 1e6 {
            (1e6, "ms")
        } else if max_ns >= 1e3 {
            (1e3, "us")
        } else {
            (1.0, "ns")
        };
        // Room right of the longest bar for its value label.
        let xmax = max_ns / div * 1.55;
        let names: Vec<String> = top.iter().map(|k| short_name(&k.name, 72)).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(&title, (FONT, 22))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(540)
            .build_cartesian_2d(0f64..xmax, (0..n as i32).into_segmented())
            .map_err(perr)?;
        // Rank 0 at the top: the y axis counts upwards.
        let row = |rank: usize| (n - 1 - rank) as i32;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(LIGHT)
            .x_desc(format!("total kernel time ({unit})"))
            .x_label_formatter(&|v| trim_axis(*v))
            .y_labels(n)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                    let rank = n as i32 - 1 - *i;
                    names.get(rank as usize).cloned().unwrap_or_default()
                }
                SegmentValue::Last => String::new(),
            })
            .axis_desc_style((FONT, 16))
            .label_style((FONT, 13))
            .draw()
            .map_err(perr)?;
        chart
            .draw_series(top.iter().enumerate().map(|(rank, k)| {
                let y = row(rank);
                let mut r = Rectangle::new(
                    [(0.0, SegmentValue::Exact(y)), (k.total_ns as f64 / div, SegmentValue::Exact(y + 1))],
                    BAR.mix(0.8).filled(),
                );
                r.set_margin(5, 5, 0, 0);
                r
            }))
            .map_err(perr)?;
        chart
            .draw_series(top.iter().enumerate().map(|(rank, k)| {
                Text::new(
                    format!(
                        "  {}  ({} calls, mean {})",
                        crate::text::fmt_ns(k.total_ns as f64),
                        k.count,
                        crate::text::fmt_ns(k.mean_ns)
                    ),
                    (k.total_ns as f64 / div, SegmentValue::CenterOf(row(rank))),
                    TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center)),
                )
            }))
            .map_err(perr)?;
        root.present().map_err(perr)?;
    }
    Ok(svg)
}

/// One point of a batch-size sweep, as plotted. Non-finite values are left
/// out of their panel (a run that measured no throughput, say).
#[derive(Debug, Clone, PartialEq)]
pub struct SweepPlotPoint {
    /// Batch size.
    pub batch: u32,
    /// Latency of one step, in ms (the median over the run's steps).
    pub latency_ms: f64,
    /// Throughput, in `throughput_unit`.
    pub throughput: f64,
    /// "tokens/s", "samples/s", ...; the axis takes the first series' unit.
    pub throughput_unit: String,
    /// TKLQT of one step, in ms (the median over the run's steps).
    pub tklqt_ms: f64,
    /// GPU busy fraction, 0..1 (the median over the run's steps).
    pub busy_frac: f64,
}

/// One platform's line in a sweep plot.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSeries {
    /// Name shown at the end of its lines ("H100 PCIe", "GH200").
    pub platform: String,
    /// A simulated platform: labelled "(model)" and drawn dashed.
    pub simulated: bool,
    /// Points in any order; drawn in batch order.
    pub points: Vec<SweepPlotPoint>,
    /// Where the series turns GPU-bound by each rule; `None` for a series
    /// without one (no point ran).
    pub transition: Option<SweepTransition>,
}

impl SweepSeries {
    fn label(&self) -> String {
        if self.simulated { format!("{} (model)", self.platform) } else { self.platform.clone() }
    }
}

/// Where one series turns GPU-bound, by the two rules of
/// `boundscope_analysis::sweep` (docs/metrics.md section 4).
#[derive(Debug, Clone, PartialEq)]
pub struct SweepTransition {
    /// The TKLQT knee.
    pub knee: Crossing,
    /// The busy rule.
    pub busy: Crossing,
}

impl SweepTransition {
    /// The crossing shaded on the panels, chosen as the batch advice chooses
    /// it: the busy rule's when the smallest batch already keeps the GPU
    /// busy, else the knee where it places one, else the busy rule's.
    pub fn marked(&self) -> &Crossing {
        match (&self.knee, &self.busy) {
            (_, Crossing::AtFirst { .. }) => &self.busy,
            (Crossing::Between { .. }, _) => &self.knee,
            _ => &self.busy,
        }
    }
}

/// Writes [`sweep_svg`] to `path` atomically.
pub fn write_sweep_plot(path: &Path, title: &str, series: &[SweepSeries]) -> Result<(), ExportError> {
    let svg = sweep_svg(title, series).map_err(plot_err(path))?;
    write_svg(&svg, path)
}

/// The transition's legend text, by both rules at the batch grid's
/// resolution ([`Crossing::grid`]): "TKLQT knee 16-32, busy rule 16-32". An
/// interpolated batch ("~22") would claim a precision the grid does not have.
pub fn transition_label(t: &SweepTransition) -> String {
    format!("TKLQT knee {}, busy rule {}", t.knee.grid(), t.busy.grid())
}

/// Four panels against batch size (log2 axis): step latency, throughput,
/// TKLQT and GPU busy fraction (with the 50% and 90% verdict thresholds), one
/// line per platform, and each platform's transition as the interval of
/// tried batches it lies in, shaded and labelled "16-32". The legend names
/// each platform with its transition by both rules ([`transition_label`]).
pub fn sweep_svg(title: &str, series: &[SweepSeries]) -> Result<String, PlotError> {
    let batches: Vec<u32> = {
        let mut b: Vec<u32> = series.iter().flat_map(|s| s.points.iter().map(|p| p.batch)).filter(|&b| b > 0).collect();
        b.sort_unstable();
        b.dedup();
        b
    };
    let unit = series
        .iter()
        .flat_map(|s| s.points.iter())
        .map(|p| p.throughput_unit.as_str())
        .find(|u| !u.is_empty())
        .unwrap_or("per s")
        .to_string();
    let mut svg = String::new();
    {
        // The panels keep their size; the legend adds a row per series.
        let legend_px = legend_height(series, &batches);
        let root = SVGBackend::with_string(&mut svg, (1280, 934 + legend_px)).into_drawing_area();
        root.fill(&WHITE).map_err(perr)?;
        let body = root.titled(title, (FONT, 26)).map_err(perr)?;
        if batches.is_empty() {
            empty_message(&body, "no sweep points to plot")?;
            root.present().map_err(perr)?;
            drop(body);
            drop(root);
            return Ok(svg);
        }
        let (top_note, body) = body.split_vertically(legend_px);
        draw_legend(&top_note, series, &batches)?;
        let panels = body.split_evenly((2, 2));
        type Get = fn(&SweepPlotPoint) -> f64;
        let specs: [(&str, String, Get, YAxis); 4] = [
            ("Step latency", "latency (ms)".into(), |p| p.latency_ms, YAxis::Linear),
            ("Throughput", format!("throughput ({unit})"), |p| p.throughput, YAxis::Linear),
            (
                "TKLQT per step (total kernel launch-to-start time)",
                "TKLQT (ms, log scale)".into(),
                |p| p.tklqt_ms,
                YAxis::Log,
            ),
            ("GPU busy fraction", "GPU busy (% of step)".into(), |p| p.busy_frac * 100.0, YAxis::Percent),
        ];
        let (x_lo, x_hi) = sweep_x_range(&batches);
        let bands = transition_bands(series, x_lo, x_hi);
        let rows = bands.iter().map(|b| b.row + 1).max().unwrap_or(0);
        for (area, (name, y_desc, get, axis)) in panels.iter().zip(specs) {
            let values: Vec<f64> =
                series.iter().flat_map(|s| s.points.iter().map(get)).filter(|v| v.is_finite()).collect();
            let y = YScale::new(axis, &values, rows);
            let panel = Panel { name, y_desc: &y_desc, get, series, bands: &bands, x_lo, x_hi, y: &y };
            if y.log {
                let coord = (y.lo..y.hi).log_scale().with_key_points(y.ticks.clone());
                draw_panel(area, &panel, coord)?;
            } else {
                draw_panel(area, &panel, y.lo..y.hi)?;
            }
        }
        root.present().map_err(perr)?;
    }
    Ok(svg)
}

/// The x range of a sweep plot, in log2 of the batch size: from the smallest
/// batch to the largest and no further (half a doubling each side of a
/// single batch). `batches` is sorted and not empty.
fn sweep_x_range(batches: &[u32]) -> (f64, f64) {
    let first = f64::from(batches.first().copied().unwrap_or(1).max(1)).log2();
    let last = f64::from(batches.last().copied().unwrap_or(1).max(1)).log2();
    if last > first { (first, last) } else { (first - 0.5, last + 0.5) }
}

/// Height of one row of transition labels, as a fraction of a panel's y axis
/// (about 18 px of a panel's 320).
const LABEL_ROW: f64 = 0.055;
/// Width of a panel's plotting area in px, for telling whether two labels meet.
const PANEL_PLOT_PX: f64 = 530.0;

/// One series' transition interval, as shaded on every panel.
#[derive(Debug, Clone, PartialEq)]
struct Band {
    /// The series' index (its colour).
    series: usize,
    /// The tried batches that bracket the transition.
    lower: u64,
    upper: u64,
    /// The label's row, counted down from the top of the panel.
    row: usize,
}

impl Band {
    fn label(&self) -> String {
        format!("{}-{}", self.lower, self.upper)
    }
}

/// The bands of the series whose marked transition lies between two tried
/// batches, each label in the highest row where it meets no other label
/// (in log2 units over `x_lo..x_hi`). A transition at the smallest batch or
/// beyond the largest has no interval on the axis: the legend states it.
fn transition_bands(series: &[SweepSeries], x_lo: f64, x_hi: f64) -> Vec<Band> {
    // About 8 px a character at 14 px, and a gap between labels.
    let half_width = |b: &Band| (b.label().chars().count() as f64 * 8.0 + 12.0) / 2.0 * (x_hi - x_lo) / PANEL_PLOT_PX;
    let centre = |b: &Band| ((b.lower as f64).log2() + (b.upper as f64).log2()) / 2.0;
    let mut out: Vec<Band> = Vec::new();
    for (k, s) in series.iter().enumerate() {
        let Some(Crossing::Between { lower, upper, .. }) = s.transition.as_ref().map(SweepTransition::marked) else {
            continue;
        };
        let mut band = Band { series: k, lower: *lower, upper: *upper, row: 0 };
        while out
            .iter()
            .any(|o| o.row == band.row && (centre(o) - centre(&band)).abs() < half_width(o) + half_width(&band))
        {
            band.row += 1;
        }
        out.push(band);
    }
    out
}

/// One panel of a sweep plot.
struct Panel<'a> {
    name: &'a str,
    y_desc: &'a str,
    get: fn(&SweepPlotPoint) -> f64,
    series: &'a [SweepSeries],
    bands: &'a [Band],
    /// The x range, in log2 of the batch size.
    x_lo: f64,
    x_hi: f64,
    y: &'a YScale,
}

/// Draws one sweep panel on `area`, with `y_coord` as its y axis (linear, or
/// logarithmic with its ticks).
fn draw_panel<Y>(area: &DrawingArea<SVGBackend<'_>, Shift>, p: &Panel<'_>, y_coord: Y) -> Result<(), PlotError>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let (x_lo, x_hi, y) = (p.x_lo, p.x_hi, p.y);
    let mut chart = ChartBuilder::on(area)
        .caption(p.name, (FONT, 19))
        .margin(14)
        .margin_right(22)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(x_lo..x_hi, y_coord)
        .map_err(perr)?;
    chart
        .configure_mesh()
        .x_desc("batch size (log2 scale)")
        // As many labels as integer log2 values: plotters then puts one at each.
        .x_labels((x_hi.floor() - x_lo.ceil()) as usize + 1)
        .x_label_formatter(&|x| format!("{}", 2f64.powf(*x).round()))
        .y_desc(p.y_desc)
        .light_line_style(LIGHT)
        .y_label_formatter(&|v| y.label(*v))
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .draw()
        .map_err(perr)?;
    if y.percent {
        // The verdict thresholds of docs/metrics.md section 4.
        for (v, label) in [(50.0, "CPU-bound below 50%"), (90.0, "GPU-bound from 90%")] {
            chart
                .draw_series(DashedLineSeries::new(
                    [(x_lo, v), (x_hi, v)],
                    3,
                    5,
                    RGBColor(150, 150, 150).stroke_width(1),
                ))
                .map_err(perr)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    label,
                    (x_lo + 0.03 * (x_hi - x_lo), v + 1.0),
                    TextStyle::from((FONT, 12).into_font())
                        .color(&RGBColor(120, 120, 120))
                        .pos(Pos::new(HPos::Left, VPos::Bottom)),
                )))
                .map_err(perr)?;
        }
    }
    // The transition intervals under the lines, their labels over them.
    for b in p.bands {
        let color = PALETTE[b.series % PALETTE.len()];
        let (x0, x1) = ((b.lower as f64).log2().max(x_lo), (b.upper as f64).log2().min(x_hi));
        chart
            .draw_series(std::iter::once(Rectangle::new([(x0, y.lo), (x1, y.hi)], color.mix(0.10).filled())))
            .map_err(perr)?;
        for x in [x0, x1] {
            chart
                .draw_series(DashedLineSeries::new([(x, y.lo), (x, y.hi)], 6, 4, color.mix(0.8).stroke_width(1)))
                .map_err(perr)?;
        }
    }
    for (k, s) in p.series.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        let mut pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter(|pt| pt.batch > 0)
            .map(|pt| (f64::from(pt.batch).log2(), (p.get)(pt)))
            .filter(|&(_, v)| y.shows(v))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        if s.simulated {
            chart.draw_series(DashedLineSeries::new(pts.clone(), 8, 5, color.stroke_width(2))).map_err(perr)?;
        } else {
            chart.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2))).map_err(perr)?;
        }
        chart.draw_series(pts.iter().map(|&(x, v)| Circle::new((x, v), 4, color.filled()))).map_err(perr)?;
    }
    for b in p.bands {
        let color = PALETTE[b.series % PALETTE.len()];
        let x = ((b.lower as f64).log2() + (b.upper as f64).log2()) / 2.0;
        chart
            .draw_series(std::iter::once(Text::new(
                b.label(),
                (x.clamp(x_lo, x_hi), y.at(0.985 - LABEL_ROW * b.row as f64)),
                TextStyle::from((FONT, 14).into_font()).color(&color).pos(Pos::new(HPos::Center, VPos::Top)),
            )))
            .map_err(perr)?;
    }
    Ok(())
}

/// Legend rows: one per series, then the notes.
const LEGEND_ROW_PX: u32 = 22;
const LEGEND_NOTE_PX: u32 = 20;

/// The notes under the legend's rows; `batches`: the grid, sorted.
fn legend_notes(series: &[SweepSeries], batches: &[u32]) -> Vec<String> {
    let mut notes = Vec::new();
    if series.iter().any(|s| s.transition.is_some()) {
        let (first, last) = (batches.first().copied().unwrap_or(1), batches.last().copied().unwrap_or(1));
        notes.push(format!(
            "GPU-bound: where the series turns GPU-bound, at the batch grid's resolution: \"A-B\" between the tried \
             batches A and B (shaded), \"<= {first}\" already at the smallest, \"> {last}\" not up to the largest"
        ));
    }
    if series.iter().any(|s| s.simulated) {
        notes.push(
            "(model) = simulated platform: its numbers are model outputs, not measurements; drawn dashed".to_string(),
        );
    }
    notes
}

/// The height of the legend band of [`draw_legend`].
fn legend_height(series: &[SweepSeries], batches: &[u32]) -> u32 {
    series.len() as u32 * LEGEND_ROW_PX + legend_notes(series, batches).len() as u32 * LEGEND_NOTE_PX + 8
}

/// The legend of a sweep plot, in the band under its title: a row per series
/// with its line style, its name and its transition by both rules
/// ([`transition_label`]), then what the notation and "(model)" mean.
fn draw_legend(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    series: &[SweepSeries],
    batches: &[u32],
) -> Result<(), PlotError> {
    let x = 20i32;
    // The transitions in one column, right of the longest name (about 8 px a
    // character at 15 px).
    let names: Vec<String> = series.iter().map(SweepSeries::label).collect();
    let column = x + 38 + names.iter().map(|n| n.chars().count()).max().unwrap_or(0) as i32 * 8 + 24;
    let mut y = LEGEND_ROW_PX as i32 / 2;
    for (k, (s, name)) in series.iter().zip(names).enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        if s.simulated {
            for seg in [(x, x + 8), (x + 14, x + 22), (x + 28, x + 30)] {
                area.draw(&PathElement::new(vec![(seg.0, y), (seg.1, y)], color.stroke_width(2))).map_err(perr)?;
            }
        } else {
            area.draw(&PathElement::new(vec![(x, y), (x + 30, y)], color.stroke_width(2))).map_err(perr)?;
        }
        area.draw(&Circle::new((x + 15, y), 4, color.filled())).map_err(perr)?;
        let style = TextStyle::from((FONT, 15).into_font()).color(&color).pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(name, (x + 38, y), style.clone())).map_err(perr)?;
        if let Some(t) = &s.transition {
            area.draw(&Text::new(format!("GPU-bound: {}", transition_label(t)), (column, y), style)).map_err(perr)?;
        }
        y += LEGEND_ROW_PX as i32;
    }
    y += (LEGEND_NOTE_PX as i32 - LEGEND_ROW_PX as i32) / 2;
    for note in legend_notes(series, batches) {
        let style = TextStyle::from((FONT, 14).into_font())
            .color(&RGBColor(90, 90, 90))
            .pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(note, (x, y), style)).map_err(perr)?;
        y += LEGEND_NOTE_PX as i32;
    }
    Ok(())
}

/// How a sweep panel's y axis maps values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum YAxis {
    /// From 0, with room above the highest point for the transition labels.
    Linear,
    /// Logarithmic, over the positive values (zeros cannot be drawn on it).
    Log,
    /// 0 to 100 %, with the label band above 100.
    Percent,
}

/// A panel's y range (in values, also on a log axis) and the ticks of a log axis.
#[derive(Debug, Clone)]
struct YScale {
    log: bool,
    percent: bool,
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl YScale {
    /// `rows`: rows of transition labels to keep clear above the highest point.
    fn new(axis: YAxis, values: &[f64], rows: usize) -> YScale {
        let max = values.iter().copied().fold(0.0, f64::max);
        let min_pos = values.iter().copied().filter(|&v| v > 0.0).fold(f64::INFINITY, f64::min);
        let linear = |hi: f64| YScale { log: false, percent: false, lo: 0.0, hi, ticks: Vec::new() };
        // The highest point at most this far up the axis: above it, the rows
        // of transition labels (from 0.985 down) and a point's radius.
        let room = |default: f64| default.min(0.965 - LABEL_ROW * rows as f64).max(0.5);
        match axis {
            YAxis::Log if min_pos.is_finite() => {
                let lo = (min_pos / 1.5).log10();
                let top = (max * 1.5).log10().max(lo + 1.0);
                let hi = lo + (top - lo) / room(1.0 / 1.2);
                let ticks = log_ticks(lo, hi).into_iter().map(|t| 10f64.powf(t)).collect();
                YScale { log: true, percent: false, lo: 10f64.powf(lo), hi: 10f64.powf(hi), ticks }
            }
            // The band above 100% holds the labels, clear of the 90% line.
            YAxis::Percent => YScale { percent: true, ..linear((100.0 / room(1.0)).max(118.0)) },
            YAxis::Linear | YAxis::Log => linear(max.max(1e-9) / room(1.0 / 1.15)),
        }
    }

    /// Whether a value can be drawn: finite, and positive on a log axis.
    fn shows(&self, v: f64) -> bool {
        v.is_finite() && (!self.log || v > 0.0)
    }

    /// The value `frac` of the way up the axis.
    fn at(&self, frac: f64) -> f64 {
        if self.log { self.lo * (self.hi / self.lo).powf(frac) } else { self.lo + (self.hi - self.lo) * frac }
    }

    fn label(&self, v: f64) -> String {
        if self.log {
            log_label(v)
        } else if self.percent && v > 100.0 + 1e-9 {
            String::new()
        } else {
            trim_axis(v)
        }
    }
}

/// Ticks (log10 units) at 1, 2, 5 x each power of ten between `lo` and
/// `hi`; only the powers of ten when the axis spans more than three decades.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mults: &[f64] = if hi - lo > 3.0 { &[1.0] } else { &[1.0, 2.0, 5.0] };
    let mut out = Vec::new();
    for d in (lo.floor() as i32)..=(hi.ceil() as i32) {
        for &m in mults {
            let t = f64::from(d) + m.log10();
            if t >= lo - 1e-9 && t <= hi + 1e-9 {
                out.push(t);
            }
        }
    }
    out
}

/// A 1-2-5 tick value as written: "0.02", "0.5", "1", "20".
fn log_label(v: f64) -> String {
    if v >= 1.0 {
        format!("{}", v.round())
    } else {
        let decimals = (-v.log10()).ceil().max(0.0) as usize;
        format!("{v:.decimals$}")
    }
}

/// Axis numbers: integers without a fraction, small values with two digits.
fn trim_axis(v: f64) -> String {
    if v.abs() >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_cover_the_range_in_1_2_5_steps() {
        assert_eq!(edges_125(2.3, 140.0), vec![2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0]);
        // A minimum on an edge opens the first bucket.
        assert_eq!(edges_125(1.0, 1.5), vec![1.0, 2.0]);
        assert_eq!(edges_125(0.1, 0.3), vec![0.1, 0.2, 0.5]);
        assert_eq!(edges_125(7.0, 7.0), vec![5.0, 10.0]);
    }

    #[test]
    fn bins_split_each_doubling() {
        let e = edges_log2(5.0, 10.0);
        assert_eq!(e.len(), 6, "{e:?}");
        assert!((e[0] - 4.7568).abs() < 1e-3 && (e[5] - 11.3137).abs() < 1e-3, "{e:?}");
        // A value on an edge opens its bin; a range inside one bin still gets one.
        assert_eq!(edges_log2(8.0, 16.0), vec![8.0, 2f64.powf(3.25), 2f64.powf(3.5), 2f64.powf(3.75), 16.0]);
        assert_eq!(edges_log2(8.0, 8.0).len(), 2);
        // 61 launches between 5 and 10 us spread over 4 or 5 bins, not one.
        let inside = e.windows(2).filter(|w| w[1] > 5.0 && w[0] < 10.0).count();
        assert!(inside >= 4, "{inside}");
    }

    #[test]
    fn sweep_axis_ends_at_the_largest_batch() {
        assert_eq!(sweep_x_range(&[1, 2, 4, 128]), (0.0, 7.0));
        assert_eq!(sweep_x_range(&[3, 24]), (3f64.log2(), 24f64.log2()));
        assert_eq!(sweep_x_range(&[8]), (2.5, 3.5));
    }

    #[test]
    fn tklqt_axis_is_logarithmic() {
        let y = YScale::new(YAxis::Log, &[0.03, 0.05, 2.4, 64.0], 1);
        assert!(y.log && y.lo < 0.03 && y.hi > 64.0);
        // Decades only over more than three of them.
        let labels: Vec<String> = y.ticks.iter().map(|&t| y.label(t)).collect();
        assert_eq!(labels, ["0.1", "1", "10", "100"]);
        assert!(!y.shows(0.0), "a zero cannot be drawn on a log axis");
        let narrow = YScale::new(YAxis::Log, &[1.0, 3.0], 1);
        let labels: Vec<String> = narrow.ticks.iter().map(|&t| narrow.label(t)).collect();
        assert_eq!(labels, ["1", "2", "5", "10"]);
        // Without a positive value the axis falls back to linear.
        assert!(!YScale::new(YAxis::Log, &[0.0], 0).log);
    }

    fn between(batch: f64, lower: u64, upper: u64) -> Crossing {
        Crossing::Between { batch, lower, upper }
    }

    #[test]
    fn transition_labels_are_grid_intervals() {
        let t = SweepTransition { knee: between(22.6, 16, 32), busy: between(28.5, 16, 32) };
        assert_eq!(transition_label(&t), "TKLQT knee 16-32, busy rule 16-32");
        // A what-if with CUDA graphs: no knee up to the largest batch, busy from the smallest.
        let t = SweepTransition { knee: Crossing::Never { largest: 256 }, busy: Crossing::AtFirst { batch: 1 } };
        assert_eq!(transition_label(&t), "TKLQT knee > 256, busy rule <= 1");
        let t = SweepTransition { knee: Crossing::Undefined { reason: "x".into() }, busy: between(3.2, 2, 4) };
        assert_eq!(transition_label(&t), "TKLQT knee -, busy rule 2-4");
    }

    #[test]
    fn the_shaded_transition_is_the_batch_advices() {
        let knee = between(66.8, 64, 128);
        let t = SweepTransition { knee: knee.clone(), busy: Crossing::Never { largest: 256 } };
        assert_eq!(t.marked(), &knee, "the knee where it places one");
        let t = SweepTransition { knee: knee.clone(), busy: Crossing::AtFirst { batch: 1 } };
        assert_eq!(t.marked(), &Crossing::AtFirst { batch: 1 }, "busy at the smallest batch overrules");
        let t = SweepTransition { knee: Crossing::Never { largest: 256 }, busy: between(178.3, 128, 256) };
        assert_eq!(t.marked(), &between(178.3, 128, 256), "else the busy rule's");
    }

    #[test]
    fn transition_labels_share_a_row_unless_they_meet() {
        let series = |intervals: &[(u64, u64)]| -> Vec<SweepSeries> {
            intervals
                .iter()
                .map(|&(lower, upper)| SweepSeries {
                    platform: format!("{lower}"),
                    simulated: true,
                    points: Vec::new(),
                    transition: Some(SweepTransition {
                        knee: between(lower as f64 * 1.3, lower, upper),
                        busy: Crossing::Never { largest: 256 },
                    }),
                })
                .collect()
        };
        let rows = |b: Vec<Band>| b.iter().map(|b| b.row).collect::<Vec<_>>();
        // Apart on a 1..256 axis: one row; the same interval twice: stacked.
        assert_eq!(rows(transition_bands(&series(&[(16, 32), (64, 128)]), 0.0, 8.0)), [0, 0]);
        assert_eq!(rows(transition_bands(&series(&[(16, 32), (16, 32), (64, 128)]), 0.0, 8.0)), [0, 1, 0]);
        // Neighbours meet on a wide axis (1..65536), not on a narrow one.
        assert_eq!(rows(transition_bands(&series(&[(1024, 2048), (2048, 4096)]), 0.0, 16.0)), [0, 1]);
        assert_eq!(rows(transition_bands(&series(&[(16, 32), (32, 64)]), 0.0, 8.0)), [0, 0]);
    }

    #[test]
    fn sweep_plot_names_platforms_and_transition() {
        let pt = |b: u32, lat: f64, busy: f64| SweepPlotPoint {
            batch: b,
            latency_ms: lat,
            throughput: f64::from(b) / lat * 1e3,
            throughput_unit: "samples/s".into(),
            tklqt_ms: 1.0 + f64::from(b) / 8.0,
            busy_frac: busy,
        };
        let series = vec![
            SweepSeries {
                platform: "H100 PCIe".into(),
                simulated: false,
                points: vec![pt(1, 10.0, 0.2), pt(8, 11.0, 0.4), pt(64, 30.0, 0.95)],
                transition: Some(SweepTransition { knee: between(24.3, 8, 64), busy: between(30.1, 8, 64) }),
            },
            SweepSeries {
                platform: "GH200".into(),
                simulated: true,
                points: vec![pt(1, 8.0, 0.1), pt(8, 9.0, 0.3), pt(64, 20.0, f64::NAN)],
                transition: None,
            },
        ];
        let svg = sweep_svg("Llama prefill sweep", &series).unwrap_or_else(|e| panic!("{e}"));
        assert!(svg.contains("GPU-bound: TKLQT knee 8-64, busy rule 8-64"), "transition in the legend");
        assert!(svg.contains(">8-64<") || svg.contains("\n8-64\n"), "the shaded interval labelled");
        assert!(!svg.contains('≈') && !svg.contains('~'), "no interpolated batch");
        assert!(svg.contains("GH200 (model)"), "simulated label");
        assert!(svg.contains("throughput (samples/s)"));
        assert!(svg.contains("batch size (log2 scale)"));
        assert!(svg.contains(">64<") || svg.contains("64\n"), "log2 ticks labelled as batch sizes");
        let empty = sweep_svg("nothing", &[]).unwrap_or_else(|e| panic!("{e}"));
        assert!(empty.contains("no sweep points to plot"));
    }
}
