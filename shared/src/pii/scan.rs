//! Byte-level helpers shared by the hand-written scanners. Every detector
//! works on the UTF-8 bytes of the text and only ever starts or ends a match
//! next to an ASCII byte (or at an end of the text), so match offsets are
//! always `char` boundaries: bytes >= 0x80 are treated alike, lead and
//! continuation bytes together.

/// The byte before `i`, if any.
#[inline]
pub(super) fn before(bytes: &[u8], i: usize) -> Option<u8> {
    i.checked_sub(1).and_then(|j| bytes.get(j).copied())
}

/// The byte at `i`, if any.
#[inline]
pub(super) fn at(bytes: &[u8], i: usize) -> Option<u8> {
    bytes.get(i).copied()
}

/// A maximal run of ASCII digits, `bytes[start..end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Run {
    pub start: usize,
    pub end: usize,
}

impl Run {
    pub(super) fn len(self) -> usize {
        self.end - self.start
    }
}

/// Every digit run of `bytes` (the masker computes them in its profile
/// pass; this is the same for the detectors' own tests).
#[cfg(test)]
pub(super) fn digit_runs(bytes: &[u8]) -> Vec<Run> {
    let mut runs = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in bytes.iter().enumerate() {
        match (c.is_ascii_digit(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push(Run { start: s, end: i });
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push(Run {
            start: s,
            end: bytes.len(),
        });
    }
    runs
}

/// Like regex's `\w`: ASCII letters, digits, `_`, and any non-ASCII byte
/// (letters of other scripts).
#[inline]
pub(super) fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// True when the byte before `i` is a word byte (a match may not start here).
#[inline]
pub(super) fn word_before(bytes: &[u8], i: usize) -> bool {
    before(bytes, i).is_some_and(is_word)
}

/// True when the byte at `i` is a word byte (a match may not end here).
#[inline]
pub(super) fn word_at(bytes: &[u8], i: usize) -> bool {
    at(bytes, i).is_some_and(is_word)
}

#[inline]
pub(super) fn is_digit_at(bytes: &[u8], i: usize) -> bool {
    at(bytes, i).is_some_and(|b| b.is_ascii_digit())
}

/// End of the run of ASCII digits starting at `i` (== `i` when none).
#[inline]
pub(super) fn digits_end(bytes: &[u8], i: usize) -> usize {
    let mut j = i;
    while is_digit_at(bytes, j) {
        j += 1;
    }
    j
}

/// True when `bytes[i..]` starts with `needle`, ASCII case-insensitively.
#[inline]
pub(super) fn starts_with_ci(bytes: &[u8], i: usize, needle: &[u8]) -> bool {
    bytes
        .get(i..)
        .and_then(|rest| rest.get(..needle.len()))
        .is_some_and(|s| s.eq_ignore_ascii_case(needle))
}

/// True when `bytes[i..]` starts with `needle`.
#[inline]
pub(super) fn starts_with(bytes: &[u8], i: usize, needle: &[u8]) -> bool {
    // Byte by byte: the needles are short, and a memcmp call costs more.
    needle
        .iter()
        .enumerate()
        .all(|(k, &c)| bytes.get(i + k) == Some(&c))
}

/// Positions of `needle` in `hay`, found through its byte at `pivot` (pick
/// the rarest): memchr needs no set-up, where building a memmem searcher
/// costs more than scanning a short JSON value.
pub(super) fn lit_iter<'a>(
    hay: &'a [u8],
    needle: &'a [u8],
    pivot: usize,
) -> impl Iterator<Item = usize> + 'a {
    let b = needle.get(pivot).copied().unwrap_or(0);
    memchr::memchr_iter(b, hay)
        .filter_map(move |p| p.checked_sub(pivot))
        .filter(move |&s| starts_with(hay, s, needle))
}

/// Positions of `needle` (lower-case ASCII) in `hay`, ASCII case-insensitively.
pub(super) fn find_ci_iter<'a>(
    hay: &'a [u8],
    needle: &'a [u8],
) -> impl Iterator<Item = usize> + 'a {
    let first = needle.first().copied().unwrap_or(0);
    memchr::memchr2_iter(first.to_ascii_lowercase(), first.to_ascii_uppercase(), hay)
        .filter(move |&i| starts_with_ci(hay, i, needle))
}

/// True when `hay` contains `needle` (lower-case ASCII), ASCII case-insensitively.
pub(super) fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    find_ci_iter(hay, needle).next().is_some()
}

/// Context words: does any of `words` appear within `window` bytes before
/// `start`, or in the `hint` (the field or parameter name the text came from)?
pub(super) fn has_context(
    bytes: &[u8],
    start: usize,
    window: usize,
    words: &[Vec<u8>],
    hint: &[u8],
) -> bool {
    let from = start.saturating_sub(window);
    let near = bytes.get(from..start).unwrap_or(&[]);
    words
        .iter()
        .any(|w| contains_ci(near, w) || contains_ci(hint, w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_insensitive_search_and_context() {
        let hay = b"My PHONE is 123";
        assert!(contains_ci(hay, b"phone"));
        assert!(!contains_ci(hay, b"mobile"));
        let words = vec![b"phone".to_vec()];
        assert!(has_context(hay, 12, 40, &words, b""));
        assert!(!has_context(hay, 3, 40, &words, b""));
        assert!(has_context(hay, 3, 40, &words, b"user_phone"));
        assert_eq!(find_ci_iter(b"aXbxc", b"x").collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(
            lit_iter(b"eyJ xeyJeyJ", b"eyJ", 2).collect::<Vec<_>>(),
            vec![0, 5, 8]
        );
        assert_eq!(lit_iter(b"J", b"eyJ", 2).count(), 0);
    }

    #[test]
    fn boundaries_never_index_out_of_range() {
        assert_eq!(before(b"", 0), None);
        assert_eq!(at(b"a", 5), None);
        assert!(!word_before(b"a", 0));
        assert!(word_at("é".as_bytes(), 1));
        assert_eq!(digits_end(b"12a", 0), 2);
        assert_eq!(
            digit_runs(b"a12 3"),
            vec![Run { start: 1, end: 3 }, Run { start: 4, end: 5 }]
        );
        assert!(!starts_with_ci(b"ab", 1, b"bc"));
    }
}
