//! Number formats and colors. Without colors (`NO_COLOR`, `UiOptions::color`
//! false) every style keeps its modifiers (bold, reversed) and drops its
//! colors, so verdicts and warnings still stand out on a monochrome terminal.

use boundscope_analysis::names;
use boundscope_analysis::window::Bound;
use ratatui::style::{Color, Modifier, Style};

/// Styles of the UI, colored or not.
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    fn fg(self, c: Color) -> Style {
        if self.color { Style::new().fg(c) } else { Style::new() }
    }

    pub fn plain(self) -> Style {
        Style::new()
    }

    pub fn dim(self) -> Style {
        if self.color { Style::new().fg(Color::DarkGray) } else { Style::new() }
    }

    pub fn title(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn key(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    /// Something wrong: dropped records, failed points, stderr.
    pub fn bad(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn warn(self) -> Style {
        self.fg(Color::Yellow)
    }

    pub fn good(self) -> Style {
        self.fg(Color::Green)
    }

    /// The selected row.
    pub fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    pub fn bound(self, b: Bound) -> Style {
        match b {
            Bound::CpuBound => self.fg(Color::Red),
            Bound::GpuBound => self.fg(Color::Green),
            Bound::Transitional => self.fg(Color::Yellow),
            Bound::NoGpuWork => self.dim(),
        }
    }

    /// A badge: the verdict or mode on a colored background, else reversed.
    pub fn badge(self, c: Color) -> Style {
        if self.color {
            Style::new().fg(Color::Black).bg(c).add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }

    pub fn bound_badge(self, b: Bound) -> Style {
        self.badge(match b {
            Bound::CpuBound => Color::Red,
            Bound::GpuBound => Color::Green,
            Bound::Transitional => Color::Yellow,
            Bound::NoGpuWork => Color::Gray,
        })
    }

    /// The colors of a series (charts: one per platform or quantity).
    pub fn series(self, i: usize) -> Style {
        const C: [Color; 6] = [Color::Cyan, Color::Magenta, Color::Green, Color::Yellow, Color::Blue, Color::Red];
        self.fg(C[i % C.len()])
    }
}

/// Like `analyze`'s tables (the same formatting): 850 ns, 12.3 us, 4.56 ms, 1.234 s.
pub fn ns(ns: f64) -> String {
    names::fmt_ns(ns)
}

pub fn ns_i(v: i64) -> String {
    ns(v as f64)
}

pub fn pct(frac: Option<f64>) -> String {
    names::fmt_pct(frac)
}

/// 950, 12.3k, 4.56M.
pub fn count(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() {
        "-".into()
    } else if a < 1e3 {
        format!("{v:.0}")
    } else if a < 1e6 {
        format!("{:.1}k", v / 1e3)
    } else if a < 1e9 {
        format!("{:.2}M", v / 1e6)
    } else {
        format!("{:.2}G", v / 1e9)
    }
}

pub fn bytes(b: u64) -> String {
    names::fmt_bytes(b)
}

/// Seconds since the origin: "t+12.50s".
pub fn at(ns: i64) -> String {
    format!("t+{:.2}s", ns as f64 / 1e9)
}

/// Cuts `s` to `w` columns (counted as chars), marking the cut with "~".
pub fn fit(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n <= w {
        s.to_string()
    } else if w == 0 {
        String::new()
    } else {
        let mut out: String = s.chars().take(w - 1).collect();
        out.push('~');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(ns(850.0), "850 ns");
        assert_eq!(ns(12_345.0), "12.3 us");
        assert_eq!(ns(4_560_000.0), "4.56 ms");
        assert_eq!(ns(f64::NAN), "-");
        assert_eq!(pct(Some(0.234)), "23.4%");
        assert_eq!(pct(None), "-");
        assert_eq!(count(12_300.0), "12.3k");
        assert_eq!(fit("abcdef", 4), "abc~");
        assert_eq!(fit("ab", 4), "ab");
        assert_eq!(fit("ab", 0), "");
    }
}
