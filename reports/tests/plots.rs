//! The SVG plots' structure: the sweep plot's x axis ends at the largest
//! batch, TKLQT is on a log axis, the launch-to-start histogram has several
//! bins per octave. Set `BOUNDSCOPE_PLOT_DIR` to keep the SVGs for a look.

mod common;

use common::load;

use boundscope_analysis::sweep::Crossing;
use boundscope_reports::plots::{
    BINS_PER_OCTAVE, SweepPlotPoint, SweepSeries, SweepTransition, launch_to_start_svg, sweep_svg,
};

/// How often `t` is the whole text of an SVG `<text>` element (plotters
/// writes it on a line of its own).
fn texts(svg: &str, t: &str) -> usize {
    svg.matches(&format!(">{t}<")).count() + svg.matches(&format!("\n{t}\n")).count()
}

fn keep(name: &str, svg: &str) {
    if let Some(dir) = std::env::var_os("BOUNDSCOPE_PLOT_DIR") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("plot dir");
        std::fs::write(dir.join(name), svg).expect("write svg");
    }
}

/// A sweep in the paper's shape: flat while CPU-bound, then rising.
fn sweep() -> Vec<SweepSeries> {
    // `floor`: the CPU-bound step time, lower on the faster host.
    let pt = |floor: f64, b: u32, busy: f64, tklqt_ms: f64| {
        let lat = floor + f64::from(b.saturating_sub(16)) * 0.9;
        SweepPlotPoint {
            batch: b,
            latency_ms: lat,
            throughput: f64::from(b) / lat * 1e3,
            throughput_unit: "tokens/s".into(),
            tklqt_ms,
            busy_frac: busy,
        }
    };
    vec![
        SweepSeries {
            platform: "H100 PCIe".into(),
            simulated: false,
            points: vec![
                pt(12.0, 1, 0.21, 0.031),
                pt(12.0, 2, 0.22, 0.033),
                pt(12.0, 4, 0.25, 0.034),
                pt(12.0, 8, 0.31, 0.036),
                pt(12.0, 16, 0.48, 0.05),
                pt(12.0, 32, 0.83, 2.4),
                pt(12.0, 64, 0.96, 21.0),
                pt(12.0, 128, 0.99, 64.0),
            ],
            transition: Some(SweepTransition {
                knee: Crossing::Between { batch: 22.6, lower: 16, upper: 32 },
                busy: Crossing::Between { batch: 17.4, lower: 16, upper: 32 },
            }),
        },
        SweepSeries {
            platform: "GH200".into(),
            simulated: true,
            points: vec![
                pt(8.0, 1, 0.12, 0.012),
                pt(8.0, 2, 0.13, 0.012),
                pt(8.0, 4, 0.15, 0.013),
                pt(8.0, 8, 0.2, 0.014),
                pt(8.0, 16, 0.3, 0.02),
                pt(8.0, 32, 0.6, 0.4),
                pt(8.0, 64, 0.91, 9.0),
                pt(8.0, 128, 0.98, 40.0),
            ],
            transition: Some(SweepTransition {
                knee: Crossing::Between { batch: 45.3, lower: 32, upper: 64 },
                busy: Crossing::Between { batch: 27.9, lower: 16, upper: 32 },
            }),
        },
    ]
}

/// A what-if beside its platform: graph replay keeps the GPU busy from
/// batch 1 and TKLQT never reaches the knee.
fn what_if() -> SweepSeries {
    let points = [1u32, 2, 4, 8, 16, 32, 64, 128]
        .into_iter()
        .map(|b| {
            let lat = 2.0 + f64::from(b) * 0.1;
            SweepPlotPoint {
                batch: b,
                latency_ms: lat,
                throughput: f64::from(b) / lat * 1e3,
                throughput_unit: "tokens/s".into(),
                tklqt_ms: 0.002,
                busy_frac: 0.997,
            }
        })
        .collect();
    SweepSeries {
        platform: "GH200+cuda-graphs".into(),
        simulated: true,
        points,
        transition: Some(SweepTransition {
            knee: Crossing::Never { largest: 128 },
            busy: Crossing::AtFirst { batch: 1 },
        }),
    }
}

#[test]
fn sweep_plot() {
    let svg = sweep_svg("Llama-3.2-1B decode sweep", &sweep()).unwrap_or_else(|e| panic!("{e}"));
    keep("sweep.svg", &svg);
    // The largest batch is the last tick; nothing is labelled past it.
    assert!(texts(&svg, "128") > 0, "largest batch labelled");
    assert_eq!(texts(&svg, "256"), 0);
    assert!(svg.contains("TKLQT (ms, log scale)"));
    for t in ["0.1", "1", "10", "100"] {
        assert!(texts(&svg, t) > 0, "log TKLQT tick {t}");
    }
    // Platforms named once each, in the legend.
    assert_eq!(texts(&svg, "H100 PCIe"), 1);
    assert_eq!(texts(&svg, "GH200 (model)"), 1);
}

#[test]
fn sweep_plot_labels_transitions_at_grid_resolution() {
    let mut series = sweep();
    series.push(what_if());
    let svg = sweep_svg("Llama-3.2-1B decode sweep", &series).unwrap_or_else(|e| panic!("{e}"));
    keep("sweep_what_if.svg", &svg);
    // Both rules of every series, the what-if's included, in the legend.
    assert_eq!(texts(&svg, "GPU-bound: TKLQT knee 16-32, busy rule 16-32"), 1);
    assert_eq!(texts(&svg, "GPU-bound: TKLQT knee 32-64, busy rule 16-32"), 1);
    // (SVG escapes "<" and ">".)
    assert_eq!(texts(&svg, "GPU-bound: TKLQT knee &gt; 128, busy rule &lt;= 1"), 1);
    // The shaded interval (the knee's) labelled in each of the four panels;
    // the what-if's transition lies at the smallest batch: no interval to shade.
    assert_eq!(texts(&svg, "16-32"), 4);
    assert_eq!(texts(&svg, "32-64"), 4);
    // No interpolated batch anywhere: the grid cannot tell 22.6 from 17.4.
    assert!(!svg.contains('≈') && !svg.contains('~'), "no interpolated batch label");
}

#[test]
fn launch_to_start_histograms() {
    for name in ["a100_ddp_train.json.gz", "v100_train_cuda_graphs.json.gz", "old_format_inference.json.gz"] {
        let (_, a) = load(name);
        let svg = launch_to_start_svg(&a).unwrap_or_else(|e| panic!("{e}"));
        keep(&format!("launch_to_start_{}.svg", name.trim_end_matches(".json.gz")), &svg);
        // Bars: BINS_PER_OCTAVE per doubling between the shortest and the longest launch.
        let l = &a.launches;
        let us: Vec<f64> = (0..l.len())
            .filter(|&r| !l.graph_internal[r])
            .map(|r| l.launch_to_start_ns[r] as f64 / 1e3)
            .filter(|&v| v > 0.0)
            .collect();
        let (lo, hi) = us.iter().fold((f64::INFINITY, 0f64), |(a, b), &v| (a.min(v.max(0.1)), b.max(v)));
        let octaves = (hi / lo).log2();
        let bars = svg.matches("opacity=\"0.75\" fill=\"#466EAA\"").count();
        let per = f64::from(BINS_PER_OCTAVE);
        assert!(
            bars as f64 >= (octaves * per).floor() && bars as f64 <= (octaves * per).ceil() + 2.0,
            "{name}: {bars} bars over {octaves:.2} doublings"
        );
    }
}
