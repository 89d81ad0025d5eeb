//! US Social Security Numbers, after Presidio's `us_ssn_recognizer.py`.
//!
//! Always found: `AAA-GG-SSSS` with the same separator (`-`, `.` or space)
//! twice. Found only as the [`ContextRule`] for weak forms says (default:
//! with a context word such as `ssn` nearby): nine bare digits, `AAAAA-SSSS`
//! and `AAA-GGSSSS` (Presidio's "very weak" patterns; alone they are
//! ZIP+4 codes and order numbers too often).
//!
//! Never an SSN: area 000, 666 or 900-999, group 00, serial 0000, all one
//! digit, and the well-known invalid examples 123-45-6789, 078-05-1120
//! (Woolworth's wallet card) and 219-09-9999 (an SSA advertisement).

use super::config::ContextRule;
use super::scan::{at, digits_end, has_context, word_at, word_before, Run};
use super::{Kind, Match};

pub(super) struct SsnOptions {
    pub weak: ContextRule,
    pub words: Vec<Vec<u8>>,
}

/// How far before a weak candidate a context word may be.
const CONTEXT_WINDOW: usize = 48;

pub(super) fn find(
    bytes: &[u8],
    runs: &[Run],
    opts: &SsnOptions,
    hint: &[u8],
    out: &mut Vec<Match>,
) {
    let mut last_end = 0;
    for r in runs {
        // Every shape starts with a run of 3, 5 or 9 digits.
        if r.start < last_end || !matches!(r.len(), 3 | 5 | 9) || word_before(bytes, r.start) {
            continue;
        }
        if let Some(end) = shape(bytes, r.start, r.end, opts, hint) {
            out.push(Match {
                start: r.start,
                end,
                kind: Kind::Ssn,
            });
            last_end = end;
        }
    }
}

/// The end of an SSN starting at `start` (first digit run ends at `e1`).
fn shape(bytes: &[u8], start: usize, e1: usize, opts: &SsnOptions, hint: &[u8]) -> Option<usize> {
    let l1 = e1 - start;
    let weak_ok = || match opts.weak {
        ContextRule::Never => false,
        ContextRule::Always => true,
        ContextRule::WithContext => has_context(bytes, start, CONTEXT_WINDOW, &opts.words, hint),
    };
    let sep1 = at(bytes, e1);
    let next_digits = |from: usize| {
        let e = digits_end(bytes, from);
        (e - from, e)
    };
    let mut digits = [0u8; 9];
    let mut len = 0;
    let mut push = |s: usize, e: usize| {
        for &d in bytes.get(s..e).unwrap_or(&[]) {
            if let Some(slot) = digits.get_mut(len) {
                *slot = d;
            }
            len += 1;
        }
    };
    let end = match (l1, sep1) {
        (3, Some(s @ (b'-' | b'.' | b' '))) => {
            let (l2, e2) = next_digits(e1 + 1);
            match (l2, at(bytes, e2)) {
                (2, Some(s2)) if s2 == s => {
                    let (l3, e3) = next_digits(e2 + 1);
                    if l3 != 4 {
                        return None;
                    }
                    push(start, e1);
                    push(e1 + 1, e2);
                    push(e2 + 1, e3);
                    e3
                }
                (6, _) if s == b'-' && weak_ok() => {
                    push(start, e1);
                    push(e1 + 1, e2);
                    e2
                }
                _ => return None,
            }
        }
        (5, Some(b'-')) => {
            let (l2, e2) = next_digits(e1 + 1);
            if l2 != 4 || !weak_ok() {
                return None;
            }
            push(start, e1);
            push(e1 + 1, e2);
            e2
        }
        (9, _) if weak_ok() => {
            push(start, e1);
            e1
        }
        _ => return None,
    };
    if word_at(bytes, end) || len != 9 || !valid(&digits) {
        return None;
    }
    Some(end)
}

fn valid(d: &[u8; 9]) -> bool {
    let area = &d[..3];
    let group = &d[3..5];
    let serial = &d[5..];
    if area == b"000" || area == b"666" || area[0] == b'9' || group == b"00" || serial == b"0000" {
        return false;
    }
    if d.iter().all(|&c| c == d[0]) {
        return false;
    }
    !matches!(d, b"123456789" | b"078051120" | b"219099999")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(weak: ContextRule) -> SsnOptions {
        SsnOptions {
            weak,
            words: vec![b"ssn".to_vec(), b"social".to_vec()],
        }
    }

    fn run(text: &[u8], o: &SsnOptions, hint: &[u8], out: &mut Vec<Match>) {
        find(text, &super::super::scan::digit_runs(text), o, hint, out);
    }

    fn spans_with(text: &str, o: &SsnOptions) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        run(text.as_bytes(), o, b"", &mut out);
        out.iter().map(|m| (m.start, m.end)).collect()
    }

    // Follows presidio-analyzer/tests/test_us_ssn_recognizer.py. Presidio
    // reports the weak forms with a low score; edgeward reports them when
    // the context rule allows (here: always).
    #[test]
    fn presidio_ssn_cases() {
        let always = opts(ContextRule::Always);
        let cases: &[(&str, &[(usize, usize)])] = &[
            ("078-051121 07805-1121", &[(0, 10), (11, 21)]),
            ("078051121", &[(0, 9)]),
            ("078-05-1123", &[(0, 11)]),
            ("078.05.1123", &[(0, 11)]),
            ("078 05 1123", &[(0, 11)]),
            ("abc 078 05 1123 abc", &[(4, 15)]),
            ("0780511201", &[]),
            ("078051120", &[]),
            ("000000000", &[]),
            ("666000000", &[]),
            ("078-05-0000", &[]),
            ("078 00 1123", &[]),
            ("693-09.4444", &[]),
        ];
        for (text, want) in cases {
            assert_eq!(spans_with(text, &always), *want, "{text}");
        }
    }

    #[test]
    fn weak_forms_need_context_by_default() {
        let ctx = opts(ContextRule::WithContext);
        assert_eq!(spans_with("078-05-1123", &ctx), vec![(0, 11)]);
        assert_eq!(spans_with("zip 12345-6789", &ctx), vec![]);
        assert_eq!(spans_with("order 078051121", &ctx), vec![]);
        assert_eq!(spans_with("SSN: 078051121", &ctx), vec![(5, 14)]);
        assert_eq!(
            spans_with("social security number 07805-1121", &ctx),
            vec![(23, 33)]
        );
        let mut out = Vec::new();
        run(b"078051121", &ctx, b"customer_ssn", &mut out);
        assert_eq!(out.len(), 1, "a field name is context");
        let never = opts(ContextRule::Never);
        assert_eq!(spans_with("SSN: 078051121", &never), vec![]);
    }

    #[test]
    fn invalid_numbers() {
        let always = opts(ContextRule::Always);
        for t in [
            "000-12-3456",
            "666-12-3456",
            "900-12-3456",
            "999-12-3456",
            "123-00-4567",
            "123-45-0000",
            "111-11-1111",
            "123-45-6789",
            "078-05-1120",
            "219-09-9999",
            "123-45-67890",
            "a123-45-6789",
            "123-45-6788x",
        ] {
            assert_eq!(spans_with(t, &always), vec![], "{t}");
        }
    }
}
