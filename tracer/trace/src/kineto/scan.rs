//! Structural scanning of JSON text: finds where a value ends without parsing
//! it, so the reader can cut `traceEvents` into single events and hand each to
//! serde_json as one borrowed slice (fast) while never holding the whole
//! document.

use memchr::{memchr2, memchr3};

/// Result of looking for the end of a JSON value in a buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Scan {
    /// The value ends just before this index.
    Complete(usize),
    /// The buffer ends inside the value: more bytes are needed.
    Incomplete,
    /// The bytes at this index cannot start or continue a JSON value.
    Invalid(usize),
}

/// Finds the end of the JSON value starting at `buf[start]`. `at_eof` says
/// no more bytes will follow `buf` (a number may then end at the buffer end).
pub(crate) fn value_end(buf: &[u8], start: usize, at_eof: bool) -> Scan {
    match buf.get(start) {
        None => Scan::Incomplete,
        Some(b'{') => nested_end(buf, start, b'{', b'}'),
        Some(b'[') => nested_end(buf, start, b'[', b']'),
        Some(b'"') => match string_end(buf, start + 1) {
            Some(end) => Scan::Complete(end),
            None => Scan::Incomplete,
        },
        Some(b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => {
            let rest = &buf[start..];
            match rest.iter().position(|&b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n')) {
                Some(len) => Scan::Complete(start + len),
                None if at_eof => Scan::Complete(buf.len()),
                None => Scan::Incomplete,
            }
        }
        Some(_) => Scan::Invalid(start),
    }
}

/// End (index after the closing quote) of a string whose content starts at `from`.
pub(crate) fn string_end(buf: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let i = from + memchr2(b'"', b'\\', &buf[from..])?;
        if buf[i] == b'"' {
            return Some(i + 1);
        }
        // Skip the escaped byte (a \uXXXX escape has no quote or backslash after 'u').
        from = i + 2;
        if from > buf.len() {
            return None;
        }
    }
}

/// Matching close of an object or array. Only the delimiters of the value's
/// own kind are counted: JSON nesting is proper, so `{`/`}` depth alone finds
/// the end of an object even when it contains arrays.
fn nested_end(buf: &[u8], start: usize, open: u8, close: u8) -> Scan {
    let mut depth: u32 = 0;
    let mut i = start;
    loop {
        let Some(off) = memchr3(b'"', open, close, &buf[i..]) else {
            return Scan::Incomplete;
        };
        i += off;
        match buf[i] {
            b'"' => match string_end(buf, i + 1) {
                Some(end) => {
                    i = end;
                    continue;
                }
                None => return Scan::Incomplete,
            },
            b if b == open => depth += 1,
            _ => {
                depth -= 1;
                if depth == 0 {
                    return Scan::Complete(i + 1);
                }
            }
        }
        i += 1;
    }
}

/// Index of the first non-whitespace byte at or after `from`.
pub(crate) fn skip_ws(buf: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < buf.len() && matches!(buf[i], b' ' | b'\t' | b'\r' | b'\n') {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_with_nested_arrays_and_strings() {
        let s = br#"{"a": [1, {"b": "}"}], "c": "\"{"} , next"#;
        let end = s.windows(3).position(|w| w == b"} ,").map(|i| i + 1);
        assert_eq!(Some(value_end(s, 0, false)), end.map(Scan::Complete));
    }

    #[test]
    fn incomplete_and_invalid() {
        assert_eq!(value_end(br#"{"a": "x"#, 0, false), Scan::Incomplete);
        assert_eq!(value_end(br#"{"a": {}"#, 0, false), Scan::Incomplete);
        assert_eq!(value_end(b"123", 0, false), Scan::Incomplete);
        assert_eq!(value_end(b"123", 0, true), Scan::Complete(3));
        assert_eq!(value_end(b"123,", 0, false), Scan::Complete(3));
        assert_eq!(value_end(b"<html>", 0, false), Scan::Invalid(0));
        assert_eq!(value_end(br#""a\\"b"#, 0, false), Scan::Complete(5));
        assert_eq!(value_end(br#""a\"b"#, 0, false), Scan::Incomplete);
    }

    #[test]
    fn arrays() {
        let s = b"[[1],[2,[3]]] x";
        assert_eq!(value_end(s, 0, false), Scan::Complete(13));
    }
}
