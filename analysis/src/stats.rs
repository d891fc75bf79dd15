//! Small numeric helpers: distributions with percentiles, interval unions.

/// Sum, count and percentiles of a set of nanosecond values.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dist {
    pub count: u64,
    pub sum_ns: i64,
    /// Percentiles by linear interpolation between closest ranks (numpy's default); 0 when empty.
    pub p50_ns: f64,
    pub p95_ns: f64,
    pub max_ns: i64,
}

impl Dist {
    /// Builds the distribution; sorts `values` in place.
    pub fn of(values: &mut [i64]) -> Dist {
        if values.is_empty() {
            return Dist::default();
        }
        values.sort_unstable();
        Dist {
            count: values.len() as u64,
            sum_ns: values.iter().fold(0i64, |s, &v| s.saturating_add(v)),
            p50_ns: percentile_sorted(values, 0.50),
            p95_ns: percentile_sorted(values, 0.95),
            max_ns: values[values.len() - 1],
        }
    }
}

/// Percentile `q` (0..=1) of sorted values, interpolating linearly.
pub fn percentile_sorted(sorted: &[i64], q: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        1 => sorted[0] as f64,
        n => {
            let pos = q * (n - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = pos.ceil() as usize;
            let frac = pos - lo as f64;
            // In f64: the difference of two extreme values would wrap an i64.
            sorted[lo] as f64 + (sorted[hi] as f64 - sorted[lo] as f64) * frac
        }
    }
}

/// Median of `values` (sorted in place); `None` when empty.
pub fn median_f64(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 })
}

/// Length of the union of intervals given in start order, clipped to `[lo, hi)`.
pub fn union_len_sorted(intervals: impl Iterator<Item = (i64, i64)>, lo: i64, hi: i64) -> i64 {
    let mut total = 0;
    let mut cur: Option<(i64, i64)> = None;
    for (s, e) in intervals {
        let (s, e) = (s.max(lo), e.min(hi));
        if e <= s {
            continue;
        }
        match cur {
            Some((cs, ce)) if s <= ce => cur = Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total = saturating_len(total, cs, ce);
                cur = Some((s, e));
            }
            None => cur = Some((s, e)),
        }
    }
    if let Some((cs, ce)) = cur {
        total = saturating_len(total, cs, ce);
    }
    total
}

fn saturating_len(total: i64, start: i64, end: i64) -> i64 {
    total.saturating_add(end.saturating_sub(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate() {
        let mut v = vec![40, 10, 30, 20];
        let d = Dist::of(&mut v);
        assert_eq!(d.count, 4);
        assert_eq!(d.sum_ns, 100);
        assert_eq!(d.p50_ns, 25.0);
        assert!((d.p95_ns - 38.5).abs() < 1e-9);
        assert_eq!(d.max_ns, 40);
        assert_eq!(Dist::of(&mut []), Dist::default());
    }

    #[test]
    fn union_merges_overlaps_and_clips() {
        let iv = [(0, 10), (5, 15), (20, 30), (25, 26), (40, 50)];
        assert_eq!(union_len_sorted(iv.into_iter(), i64::MIN, i64::MAX), 15 + 10 + 10);
        assert_eq!(union_len_sorted(iv.into_iter(), 8, 45), 7 + 10 + 5);
    }

    #[test]
    fn extreme_values_saturate_instead_of_wrapping() {
        let mut v = vec![i64::MAX, i64::MAX, i64::MIN + 1];
        let d = Dist::of(&mut v);
        assert_eq!(d.sum_ns, i64::MAX);
        assert!(d.p50_ns > 9.0e18 && d.p95_ns > 9.0e18);
        let iv = [(i64::MIN + 1, 0), (1, i64::MAX)];
        assert_eq!(union_len_sorted(iv.into_iter(), i64::MIN, i64::MAX), i64::MAX);
    }

    #[test]
    fn median_even_and_odd() {
        assert_eq!(median_f64(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median_f64(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median_f64(&mut []), None);
    }
}
