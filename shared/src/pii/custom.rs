//! User-defined patterns (the `regex` crate, cargo feature `pii-regex`).
//!
//! Compiled once at configure time with bounded sizes; the `regex` crate
//! guarantees linear-time search, so a pattern cannot be made to backtrack
//! catastrophically by crafted input. A pattern that can match the empty
//! string is refused (it would "find" something everywhere).
//!
//! The crate is built with `std`, `unicode-perl` (`\w`, `\d`, `\s`) and
//! `unicode-case` (`(?i)`), without the `perf-*` features and the other
//! Unicode tables. What it adds to a release wasm32-wasip1 module (a tiny
//! cdylib compiling one pattern and searching with it, LTO, against the same
//! cdylib without regex, regex 1.13.2, measured 2026-12-01):
//!
//! | features | opt-level 3 | opt-level "s" |
//! |---|---|---|
//! | `std` only (no `\w`, no `(?i)` in Unicode mode) | +353 KB | +280 KB |
//! | `std, unicode-perl, unicode-case` (this build) | +437 KB | +348 KB |
//! | `std, unicode` (all tables) | +670 KB | +575 KB |
//! | `std, perf, unicode-perl, unicode-case` | +817 KB | +661 KB |
//! | defaults (`std, perf, unicode`) | +1051 KB | +888 KB |
//! | `regex-lite` 0.1 instead, for comparison | +70 KB | |
//!
//! Without `perf-*` the search runs on the PikeVM / bounded backtracker:
//! slower per byte than regex's lazy DFA, but user patterns are meant to be
//! few and specific. That is why the whole thing sits behind the
//! `pii-regex` feature: a filter that needs no user patterns pays nothing.

#[cfg(feature = "pii-regex")]
use super::Kind;
use super::Match;

/// Compiled program size limit per pattern (regex's default is 10 MiB).
#[cfg(feature = "pii-regex")]
const SIZE_LIMIT: usize = 1 << 20;

#[derive(Debug)]
pub(super) struct Pattern {
    #[cfg(feature = "pii-regex")]
    re: regex::Regex,
}

impl Pattern {
    /// Compiles `source`; the error says why, for the caller to name the field.
    #[cfg(feature = "pii-regex")]
    pub(super) fn compile(source: &str) -> Result<Pattern, String> {
        let re = regex::RegexBuilder::new(source)
            .size_limit(SIZE_LIMIT)
            .build()
            .map_err(|e| e.to_string())?;
        if re.is_match("") {
            return Err(
                "the pattern matches the empty string; it must match at least one character".into(),
            );
        }
        Ok(Pattern { re })
    }

    #[cfg(not(feature = "pii-regex"))]
    pub(super) fn compile(_source: &str) -> Result<Pattern, String> {
        Err("this build has no regex support (edgeward-core feature `pii-regex` is off)".into())
    }

    #[cfg(feature = "pii-regex")]
    pub(super) fn find(&self, text: &str, index: u16, out: &mut Vec<Match>) {
        for m in self.re.find_iter(text) {
            if !m.is_empty() {
                out.push(Match {
                    start: m.start(),
                    end: m.end(),
                    kind: Kind::Custom(index),
                });
            }
        }
    }

    #[cfg(not(feature = "pii-regex"))]
    pub(super) fn find(&self, _text: &str, _index: u16, _out: &mut Vec<Match>) {}
}

#[cfg(all(test, feature = "pii-regex"))]
mod tests {
    use super::*;

    #[test]
    fn patterns_find_and_refuse_empty_matches() {
        let p = Pattern::compile(r"ORD-\d{8}").unwrap();
        let mut out = Vec::new();
        p.find("orders ORD-12345678 and ORD-87654321", 2, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(
            (out[0].start, out[0].end, out[0].kind),
            (7, 19, Kind::Custom(2))
        );
        assert!(Pattern::compile("a*").unwrap_err().contains("empty string"));
        assert!(Pattern::compile("(").is_err());
        assert!(Pattern::compile(r"(?i)secret-\w+").is_ok());
        // Far past the program size limit.
        assert!(Pattern::compile(r"\w{5000}").is_err());
    }
}
