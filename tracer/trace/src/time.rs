//! Time conversion: the one place where external timestamps become boundscope's
//! integer nanoseconds.
//!
//! Kineto writes `ts`/`dur` in microseconds, as integers or as decimals with a
//! nanosecond fraction (`4458676522690.655`). Going through `f64` would lose the
//! fraction for epoch-sized values (a double holds ~16 significant digits), so
//! the decimal text is converted exactly, rounding half to even past the third
//! fractional digit.

/// Why a number could not be turned into nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeParseError {
    /// Not a JSON number (a string, `null`, an object, ...).
    NotANumber,
    /// A number too large for i64 nanoseconds (about 292 years).
    OutOfRange,
}

impl std::fmt::Display for TimeParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TimeParseError::NotANumber => f.write_str("is not a number"),
            TimeParseError::OutOfRange => f.write_str("is out of range"),
        }
    }
}

/// Converts the text of a JSON number given in microseconds into integer
/// nanoseconds, exactly (no floating point), rounding half to even.
///
/// Accepts the full JSON number grammar: sign, integer part, fraction,
/// exponent (`1.5e3` = 1500 us).
pub fn us_text_to_ns(text: &[u8]) -> Result<i64, TimeParseError> {
    let mut i = 0;
    let negative = text.first() == Some(&b'-');
    if negative {
        i += 1;
    }
    // Decimal digits as an integer mantissa plus a power-of-ten exponent.
    let mut mantissa: i128 = 0;
    let mut exp10: i32 = 0;
    let mut digits = 0usize;
    // Digits beyond what an i128 mantissa needs are only tracked for rounding.
    let mut sticky = false;
    let push = |m: &mut i128, e: &mut i32, d: u8, frac: bool, sticky: &mut bool| {
        if *m < 10_i128.pow(30) {
            *m = *m * 10 + i128::from(d);
            if frac {
                *e -= 1;
            }
        } else {
            if !frac {
                *e += 1;
            }
            if d != 0 {
                *sticky = true;
            }
        }
    };
    while i < text.len() && text[i].is_ascii_digit() {
        push(&mut mantissa, &mut exp10, text[i] - b'0', false, &mut sticky);
        digits += 1;
        i += 1;
    }
    if i < text.len() && text[i] == b'.' {
        i += 1;
        while i < text.len() && text[i].is_ascii_digit() {
            push(&mut mantissa, &mut exp10, text[i] - b'0', true, &mut sticky);
            digits += 1;
            i += 1;
        }
    }
    if digits == 0 {
        return Err(TimeParseError::NotANumber);
    }
    if i < text.len() && (text[i] == b'e' || text[i] == b'E') {
        i += 1;
        let mut exp_negative = false;
        if i < text.len() && (text[i] == b'+' || text[i] == b'-') {
            exp_negative = text[i] == b'-';
            i += 1;
        }
        let mut e: i32 = 0;
        let start = i;
        while i < text.len() && text[i].is_ascii_digit() {
            e = e.saturating_mul(10).saturating_add(i32::from(text[i] - b'0'));
            i += 1;
        }
        if i == start {
            return Err(TimeParseError::NotANumber);
        }
        exp10 = exp10.saturating_add(if exp_negative { -e } else { e });
    }
    if i != text.len() {
        return Err(TimeParseError::NotANumber);
    }
    // microseconds -> nanoseconds
    exp10 = exp10.saturating_add(3);
    let ns = if exp10 >= 0 {
        if exp10 > 38 {
            return if mantissa == 0 { Ok(0) } else { Err(TimeParseError::OutOfRange) };
        }
        mantissa.checked_mul(10_i128.pow(exp10.unsigned_abs())).ok_or(TimeParseError::OutOfRange)?
    } else {
        let shift = exp10.unsigned_abs();
        if shift > 38 {
            0
        } else {
            let div = 10_i128.pow(shift);
            let q = mantissa / div;
            let r = mantissa % div;
            let twice = r * 2;
            let round_up = twice > div || (twice == div && (sticky || q % 2 == 1));
            q + i128::from(round_up)
        }
    };
    let ns = if negative { -ns } else { ns };
    i64::try_from(ns).map_err(|_| TimeParseError::OutOfRange)
}

/// Formats nanoseconds as microseconds with a 3-digit fraction, the Chrome
/// trace convention (`1234567` -> `1234.567`). Exact, no floating point.
pub fn ns_to_us_text(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let a = ns.unsigned_abs();
    format!("{sign}{}.{:03}", a / 1000, a % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_fractions() {
        assert_eq!(us_text_to_ns(b"0"), Ok(0));
        assert_eq!(us_text_to_ns(b"12"), Ok(12_000));
        assert_eq!(us_text_to_ns(b"4458676522690.655"), Ok(4_458_676_522_690_655));
        assert_eq!(us_text_to_ns(b"1712195495505543.2"), Ok(1_712_195_495_505_543_200));
        assert_eq!(us_text_to_ns(b"1.5"), Ok(1500));
        assert_eq!(us_text_to_ns(b"-3.25"), Ok(-3250));
        assert_eq!(us_text_to_ns(b"1712195495519689.0"), Ok(1_712_195_495_519_689_000));
    }

    #[test]
    fn rounds_half_to_even_beyond_ns() {
        assert_eq!(us_text_to_ns(b"0.0005"), Ok(0));
        assert_eq!(us_text_to_ns(b"0.0015"), Ok(2));
        assert_eq!(us_text_to_ns(b"0.00150001"), Ok(2));
        assert_eq!(us_text_to_ns(b"0.0025"), Ok(2));
        assert_eq!(us_text_to_ns(b"0.00251"), Ok(3));
        assert_eq!(us_text_to_ns(b"2.0004999"), Ok(2000));
    }

    #[test]
    fn exponents() {
        assert_eq!(us_text_to_ns(b"1.5e3"), Ok(1_500_000));
        assert_eq!(us_text_to_ns(b"1E-3"), Ok(1));
        assert_eq!(us_text_to_ns(b"1.712195495505543e15"), Ok(1_712_195_495_505_543_000));
    }

    #[test]
    fn exponents_at_the_ends_of_i32_saturate() {
        // Found by the reader property tests: an exponent that saturates at
        // i32::MAX overflowed when microseconds became nanoseconds.
        assert_eq!(us_text_to_ns(b"1e99999999999"), Err(TimeParseError::OutOfRange));
        assert_eq!(us_text_to_ns(b"0e99999999999"), Ok(0));
        assert_eq!(us_text_to_ns(b"1e-99999999999"), Ok(0));
    }

    #[test]
    fn rejects_non_numbers() {
        assert_eq!(us_text_to_ns(b"\"12\""), Err(TimeParseError::NotANumber));
        assert_eq!(us_text_to_ns(b"null"), Err(TimeParseError::NotANumber));
        assert_eq!(us_text_to_ns(b""), Err(TimeParseError::NotANumber));
        assert_eq!(us_text_to_ns(b"1e"), Err(TimeParseError::NotANumber));
        assert_eq!(us_text_to_ns(b"1e400"), Err(TimeParseError::OutOfRange));
        assert_eq!(us_text_to_ns(b"99999999999999999"), Err(TimeParseError::OutOfRange));
    }

    #[test]
    fn formats_microseconds() {
        assert_eq!(ns_to_us_text(1_234_567), "1234.567");
        assert_eq!(ns_to_us_text(5), "0.005");
        assert_eq!(ns_to_us_text(-1500), "-1.500");
    }
}
