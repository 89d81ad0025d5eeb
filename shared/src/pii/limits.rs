//! The size cap: what is scanned of a value longer than `max_value_bytes`.
//!
//! Truncation scans a little past the cap (`SCAN_MARGIN`), so that a value
//! straddling the cap is still detected, and cuts before any such value.
//! Independently of detection the cut first backs up to the last delimiter
//! (whitespace or one of `, ; " ' < > ( ) [ ] { } | &`), so a value that
//! straddles the cap (half a card number, the first two parts of a JWT) is
//! cut away whole instead of surviving as an undetectable fragment. A value
//! with no delimiter before the cap keeps nothing but the marker. Then a
//! trailing chain of digits and digit separators is cut too, since digits
//! grouped by spaces (`4111 1111 ...`) span several tokens.

use serde::Deserialize;

/// What happens to a value over the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Oversize {
    /// Scan and keep the head, then `[TRUNCATED:<n> bytes]`.
    #[default]
    Truncate,
    /// Replace the whole value with `[DROPPED:<n> bytes]`.
    Drop,
}

/// What happens to input that is not UTF-8 (a header value, a body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NonUtf8 {
    /// Replace the whole value with `[REDACTED:non_utf8]`.
    #[default]
    Redact,
    /// Replace invalid sequences with U+FFFD, then scan as text.
    Lossy,
}

pub(super) const NON_UTF8_MARK: &str = "[REDACTED:non_utf8]";

/// How far past the cap a truncated value is scanned: longer than the
/// values that straddle a cut in practice (JWTs, keys, cards...).
pub(super) const SCAN_MARGIN: usize = 4096;

pub(super) enum Prepared<'a> {
    Whole(&'a str),
    /// Keep `text[..cut]` (before masking) of `window`, the scanned part.
    Cut {
        window: &'a str,
        cut: usize,
        original_len: usize,
    },
    Dropped {
        original_len: usize,
    },
}

pub(super) fn prepare(text: &str, cap: usize, policy: Oversize) -> Prepared<'_> {
    if text.len() <= cap {
        return Prepared::Whole(text);
    }
    match policy {
        Oversize::Drop => Prepared::Dropped {
            original_len: text.len(),
        },
        Oversize::Truncate => Prepared::Cut {
            window: head(text, cap.saturating_add(SCAN_MARGIN)),
            cut: cut(text, cap).len(),
            original_len: text.len(),
        },
    }
}

fn is_delimiter(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b',' | b';'
                | b'"'
                | b'\''
                | b'<'
                | b'>'
                | b'('
                | b')'
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'|'
                | b'&'
        )
}

/// The longest prefix of `text` of at most `n` bytes.
fn head(text: &str, n: usize) -> &str {
    let mut end = n.min(text.len());
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or("")
}

/// The head of `text` up to `cap` bytes, ending just after a delimiter.
fn cut(text: &str, cap: usize) -> &str {
    let head = head(text, cap).as_bytes();
    let mut keep = head
        .iter()
        .rposition(|&b| is_delimiter(b))
        .map_or(0, |p| p + 1);
    while keep > 0
        && head.get(keep - 1).is_some_and(|&b| {
            b.is_ascii_digit() || matches!(b, b' ' | b'\t' | b'-' | b'.' | b'(' | b')' | b'+')
        })
    {
        keep -= 1;
    }
    // `keep` is just after an ASCII byte: a char boundary.
    text.get(..keep).unwrap_or("")
}

pub(super) fn truncated_mark(original_len: usize) -> String {
    format!("[TRUNCATED:{original_len} bytes]")
}

pub(super) fn dropped_mark(original_len: usize) -> String {
    format!("[DROPPED:{original_len} bytes]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_backs_up_to_a_delimiter() {
        assert_eq!(cut("card 4111 1111 1111 1111", 12), "card");
        assert_eq!(
            cut("name bob, phone +1 415 555 0132", 24),
            "name bob, phone"
        );
        assert_eq!(cut("aaaaaaaaaa", 5), "");
        assert_eq!(cut("é é é", 4), "é");
        assert_eq!(cut("ab", 10), "");
    }

    #[test]
    fn policies() {
        assert!(matches!(
            prepare("short", 10, Oversize::Drop),
            Prepared::Whole("short")
        ));
        assert!(matches!(
            prepare("0123456789ab", 10, Oversize::Drop),
            Prepared::Dropped { original_len: 12 }
        ));
        assert!(matches!(
            prepare("abcde fghijk", 10, Oversize::Truncate),
            Prepared::Cut {
                window: "abcde fghijk",
                cut: 5,
                original_len: 12
            }
        ));
    }
}
