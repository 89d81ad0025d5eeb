//! Phone numbers. Presidio's `phone_recognizer.py` drives Google's
//! libphonenumber per region; edgeward has no numbering-plan tables and uses
//! shape rules instead:
//!
//! - international: `+` and 7-15 digits (E.164), in groups separated by
//!   single spaces, dashes or dots, an area code possibly in parentheses:
//!   `+1 415 555 0132`, `+44 (20) 7123 4567`, `+33 1 42 68 53 00`;
//! - national, with separators: 7-12 digits in at least two groups, the
//!   groups after the first of two or more digits: `(415) 555-0132`,
//!   `090-1234-5678`, `09-7625400`, `020 7123 4567`. When spaces are the only
//!   separators, two groups count only if the first starts with a trunk `0`
//!   (`030 1234567`): `200 1532` in an access log line is a status and a size.
//! - bare digit runs of 7-15 digits are ambiguous (ids, amounts): found only
//!   as [`ContextRule`] says, by default with a context word (`phone`, `tel`,
//!   `mobile`, `call`, ...) within 48 bytes before it or in the field name.
//!
//! Never a phone number: the SSN layout `AAA-GG-SSSS` (left to the SSN
//! detector, so an invalid SSN stays unmasked), dates (`2024-05-01`, `01.05.2024`) and what starts
//! with one (`2024-05-01 12:00`), times (a number followed by `:digit`),
//! dotted quads (IPv4), dot-grouped thousands (`1.000.000`), runs glued to
//! letters, and pieces of a longer digit chain (a candidate may start or end
//! inside a chain only at a space).

use super::config::ContextRule;
use super::scan::{at, before, digits_end, has_context, is_word, Run};
use super::{Kind, Match};

pub(super) struct PhoneOptions {
    pub bare: ContextRule,
    pub words: Vec<Vec<u8>>,
}

const CONTEXT_WINDOW: usize = 48;
/// Groups in one candidate: 15 digits at most, so 15 groups at most.
const MAX_WINDOW_GROUPS: usize = 15;

#[derive(Clone, Copy, Debug)]
struct Group {
    start: usize,
    end: usize,
    digits: usize,
    /// The separator before this group (0 for the first, b'(' for `(...)`
    /// directly after the previous group).
    sep: u8,
    paren: bool,
}

pub(super) fn find(
    bytes: &[u8],
    runs: &[Run],
    opts: &PhoneOptions,
    hint: &[u8],
    out: &mut Vec<Match>,
) {
    let mut groups: Vec<Group> = Vec::new();
    // Runs before this position belong to a chain already searched.
    let mut done = 0;
    for (k, r) in runs.iter().enumerate() {
        if r.start < done || !enough_digits_nearby(runs, k) {
            continue;
        }
        // A number starts at its first digit, or at `+` / `(` just before it.
        let s = match before(bytes, r.start) {
            Some(b'+' | b'(') => r.start - 1,
            _ => r.start,
        };
        let intl = at(bytes, s) == Some(b'+');
        let prev = before(bytes, s);
        if prev.is_some_and(|b| is_word(b) || b == b'+') {
            continue;
        }
        // Inside a chain of digit groups: only the chain's start is a start.
        if matches!(prev, Some(b' ' | b'-' | b'.' | b')'))
            && before(bytes, s.saturating_sub(1)).is_some_and(|b| b.is_ascii_digit())
        {
            continue;
        }
        let from = if intl { s + 1 } else { s };
        groups.clear();
        let chain_end = parse_chain(bytes, from, &mut groups);
        done = chain_end;
        // No phone number has fewer than seven digits.
        if groups.iter().map(|g| g.digits).sum::<usize>() < 7 {
            continue;
        }
        if intl {
            if let Some(e) = intl_window(bytes, &groups) {
                out.push(Match {
                    start: s,
                    end: e,
                    kind: Kind::Phone,
                });
            }
        } else {
            national_windows(bytes, &groups, opts, hint, out);
        }
    }
}

/// A cheap bound before parsing: the runs that could chain with run `k`
/// (each starting within three bytes of the previous one's end: `) `, `-`,
/// ` (`) hold at least seven digits.
fn enough_digits_nearby(runs: &[Run], k: usize) -> bool {
    let mut total = 0;
    let mut j = k;
    while let Some(r) = runs.get(j) {
        total += r.len();
        if total >= 7 {
            return true;
        }
        match runs.get(j + 1) {
            Some(next) if next.start <= r.end + 3 => j += 1,
            _ => return false,
        }
    }
    false
}

fn is_digit(bytes: &[u8], i: usize) -> bool {
    at(bytes, i).is_some_and(|b| b.is_ascii_digit())
}

/// Reads digit groups from `from`; returns the end of the last group.
fn parse_chain(bytes: &[u8], from: usize, groups: &mut Vec<Group>) -> usize {
    let mut p = from;
    let mut sep = 0u8;
    while let Some(g) = read_group(bytes, p, sep) {
        groups.push(g);
        p = g.end;
        // What joins the next group, if one follows.
        match at(bytes, p) {
            Some(c @ (b' ' | b'-' | b'.'))
                if is_digit(bytes, p + 1) || at(bytes, p + 1) == Some(b'(') =>
            {
                sep = c;
                p += 1;
            }
            // `+44(20)7123...`
            Some(b'(') => sep = b'(',
            // `(415)555-0132` (after a plain group a digit cannot follow:
            // runs are maximal).
            Some(d) if d.is_ascii_digit() && g.paren => sep = b')',
            _ => break,
        }
    }
    groups.last().map_or(from, |g| g.end)
}

/// One group at `p`: a digit run, or up to five digits in parentheses.
fn read_group(bytes: &[u8], p: usize, sep: u8) -> Option<Group> {
    if at(bytes, p) == Some(b'(') {
        let ds = p + 1;
        let de = digits_end(bytes, ds);
        if de == ds || de - ds > 5 || at(bytes, de) != Some(b')') {
            return None;
        }
        return Some(Group {
            start: p,
            end: de + 1,
            digits: de - ds,
            sep,
            paren: true,
        });
    }
    let de = digits_end(bytes, p);
    (de > p).then_some(Group {
        start: p,
        end: de,
        digits: de - p,
        sep,
        paren: false,
    })
}

/// True when the text at `end` lets a number end there: not glued to word
/// text, not followed by `.digit` / `:digit` (decimals, times).
fn ends_cleanly(bytes: &[u8], end: usize) -> bool {
    match at(bytes, end) {
        Some(b) if is_word(b) => false,
        Some(b'.' | b':' | b',') => !is_digit(bytes, end + 1),
        Some(b'-') => !is_digit(bytes, end + 1),
        _ => true,
    }
}

fn intl_window(bytes: &[u8], groups: &[Group]) -> Option<usize> {
    // Longest prefix of groups with 7..=15 digits that ends cleanly, or ends
    // before a space (`+1 415 555 0132 2024` masks the number).
    let mut total = 0;
    let mut best = None;
    for (idx, g) in groups.iter().enumerate().take(MAX_WINDOW_GROUPS) {
        total += g.digits;
        if total > 15 {
            break;
        }
        let last = idx + 1 == groups.len();
        let next_sep = groups.get(idx + 1).map(|n| n.sep);
        if total >= 7 && ((last && ends_cleanly(bytes, g.end)) || next_sep == Some(b' ')) {
            best = Some(g.end);
        }
    }
    best
}

/// Every national number in the chain, leftmost-longest first.
fn national_windows(
    bytes: &[u8],
    groups: &[Group],
    opts: &PhoneOptions,
    hint: &[u8],
    out: &mut Vec<Match>,
) {
    let k = groups.len();
    let chain_clean = groups.last().is_some_and(|g| ends_cleanly(bytes, g.end));
    let mut a = 0;
    while a < k {
        match national_at(bytes, groups, a, chain_clean, opts, hint) {
            Some((b, s, e)) => {
                out.push(Match {
                    start: s,
                    end: e,
                    kind: Kind::Phone,
                });
                a = b + 1;
            }
            None => a += 1,
        }
    }
}

/// The longest window of groups starting at group `a`: (last group, start, end).
fn national_at(
    bytes: &[u8],
    groups: &[Group],
    a: usize,
    chain_clean: bool,
    opts: &PhoneOptions,
    hint: &[u8],
) -> Option<(usize, usize, usize)> {
    let k = groups.len();
    let ga = groups.get(a)?;
    let last_b = (a + MAX_WINDOW_GROUPS - 1).min(k.checked_sub(1)?);
    for b in (a..=last_b).rev() {
        let window = groups.get(a..=b)?;
        let last = window.last()?;
        // A window may start or end inside a chain only at a space, and only
        // if it does not group its own digits with spaces (`2024
        // 415-555-0132` holds a number; `4111 1111 1111 1111` holds none).
        let inner_space = window.iter().skip(1).any(|g| g.sep == b' ');
        let starts_ok = a == 0 || (ga.sep == b' ' && !inner_space);
        let ends_ok = if b + 1 == k {
            chain_clean
        } else {
            !inner_space && groups.get(b + 1).is_some_and(|n| n.sep == b' ')
        };
        if starts_ok && ends_ok && national_ok(bytes, window, opts, hint) {
            return Some((b, ga.start, last.end));
        }
    }
    None
}

fn national_ok(bytes: &[u8], w: &[Group], opts: &PhoneOptions, hint: &[u8]) -> bool {
    let total: usize = w.iter().map(|g| g.digits).sum();
    let Some(first) = w.first() else { return false };
    if w.len() == 1 {
        // A bare run (a lone `(415)` is not a number).
        return !first.paren
            && (7..=15).contains(&total)
            && match opts.bare {
                ContextRule::Never => false,
                ContextRule::Always => true,
                ContextRule::WithContext => {
                    has_context(bytes, first.start, CONTEXT_WINDOW, &opts.words, hint)
                }
            };
    }
    if !(7..=12).contains(&total) || w.iter().skip(1).any(|g| g.digits < 2) {
        return false;
    }
    let all = |c: u8| w.iter().skip(1).all(|g| g.sep == c);
    if all(b' ')
        && w.len() == 2
        && !first.paren
        && group_digits(bytes, first).first() != Some(&b'0')
    {
        return false;
    }
    if starts_with_date(bytes, w) {
        return false;
    }
    if is_ssn_shape(w) {
        return false;
    }
    if all(b'.') {
        // A decimal, a dotted quad (IPv4-like) or thousands grouping.
        if w.len() == 2 {
            return false;
        }
        if w.len() == 4 && w.iter().all(|g| g.digits <= 3) {
            return false;
        }
        if first.digits <= 3 && w.iter().skip(1).all(|g| g.digits == 3) {
            return false;
        }
    }
    if (all(b' ') || all(b'.'))
        && first.digits < 3
        && w.len() >= 3
        && w.iter().skip(1).all(|g| g.digits == 3)
    {
        // `1 000 000`, `12 345 678`: an amount.
        return false;
    }
    true
}

/// `AAA-GG-SSSS` (one separator twice, no parentheses): the US SSN layout.
/// It is the SSN detector's to judge; no national numbering plan writes a
/// nine-digit number as 3-2-4, so an SSN that fails the SSN checks
/// (`078-05-1120`, area 666) stays as it is instead of being masked as a
/// phone number.
fn is_ssn_shape(w: &[Group]) -> bool {
    match w {
        [a, b, c] => {
            !a.paren
                && !b.paren
                && !c.paren
                && (a.digits, b.digits, c.digits) == (3, 2, 4)
                && b.sep == c.sep
        }
        _ => false,
    }
}

/// The digits of a group (without its parentheses).
fn group_digits<'a>(bytes: &'a [u8], g: &Group) -> &'a [u8] {
    let (s, e) = if g.paren {
        (g.start + 1, g.end.saturating_sub(1))
    } else {
        (g.start, g.end)
    };
    bytes.get(s..e).unwrap_or(&[])
}

/// `2024-05-01`, `01.05.2024`, `2024 05 01`: a date (same separator twice,
/// month 1-12, day 1-31).
fn starts_with_date(bytes: &[u8], w: &[Group]) -> bool {
    let (Some(a), Some(b), Some(c)) = (w.first(), w.get(1), w.get(2)) else {
        return false;
    };
    if a.paren || b.paren || c.paren || b.sep != c.sep {
        return false;
    }
    let num = |g: &Group| {
        group_digits(bytes, g).iter().fold(0u32, |v, d| {
            v.saturating_mul(10)
                .saturating_add(u32::from(d.wrapping_sub(b'0')))
        })
    };
    let (x, y, z) = (num(a), num(b), num(c));
    let md = |m: u32, d: u32| (1..=12).contains(&m) && (1..=31).contains(&d);
    match (a.digits, b.digits, c.digits) {
        (4, 2, 2) => md(y, z),
        (2, 2, 4) => md(y, x) || md(x, y),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(bare: ContextRule) -> PhoneOptions {
        PhoneOptions {
            bare,
            words: ["phone", "tel", "mobile", "cell", "call", "fax", "sms"]
                .iter()
                .map(|w| w.as_bytes().to_vec())
                .collect(),
        }
    }

    fn spans(text: &str) -> Vec<(usize, usize)> {
        spans_with(text, &opts(ContextRule::WithContext))
    }

    fn run(text: &[u8], o: &PhoneOptions, hint: &[u8], out: &mut Vec<Match>) {
        find(text, &super::super::scan::digit_runs(text), o, hint, out);
    }

    fn spans_with(text: &str, o: &PhoneOptions) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        run(text.as_bytes(), o, b"", &mut out);
        out.iter().map(|m| (m.start, m.end)).collect()
    }

    // Follows presidio-analyzer/tests/test_phone_recognizer.py.
    #[test]
    fn presidio_phone_cases() {
        let cases: &[(&str, &[(usize, usize)])] = &[
            (
                "My US number is (415) 555-0132, and my international one is +1 415 555 0132",
                &[(16, 30), (60, 75)],
            ),
            ("My Israeli number is 09-7625400", &[(21, 31)]),
            ("_: (415)555-0132", &[(3, 16)]),
            ("United States: (415)555-0132", &[(15, 28)]),
            ("US: 415-555-0132", &[(4, 16)]),
            ("_: +55 11 98456 5666", &[(3, 20)]),
            ("Brazil: +55 11 98456 5666", &[(8, 25)]),
            ("BR: +55 11 98456 5666", &[(4, 21)]),
            ("My Japanese number is 090-1234-5678", &[(22, 35)]),
            (
                "My US number is (415) 555-0132, and my international one is415-555-0132",
                &[(16, 30)],
            ),
            (
                "My US number is (415) 555-0132, and my international one is 91-415-555-0132",
                &[(16, 30), (60, 75)],
            ),
            (
                "My US number is (415) 555-0132, and my international one is +91 4155550132",
                &[(16, 30), (60, 74)],
            ),
            (
                "My US number is (415) 555-0132, and my international one is +44 (20) 7123 4567",
                &[(16, 30), (60, 78)],
            ),
            (
                "My US number is (415) 555-0132, and my international one is +49 30 1234567",
                &[(16, 30), (60, 74)],
            ),
            (
                "My US number is (415) 555-0132, and my international one is +39 06 678 4343",
                &[(16, 30), (60, 75)],
            ),
            (
                "My US number is (415) 555-0132, and my international one is +30 21 0 1234567",
                &[(16, 30), (60, 76)],
            ),
            (
                "My US number is (415) 555-0132, and my international one is +33 1 42 68 53 00",
                &[(16, 30), (60, 77)],
            ),
        ];
        for (text, want) in cases {
            assert_eq!(spans(text), *want, "{text}");
        }
    }

    #[test]
    fn bare_digit_runs_follow_the_context_rule() {
        // Presidio finds this with its CN region; edgeward needs context.
        assert_eq!(spans("My CN number is 13812345678"), vec![]);
        assert_eq!(spans("call me: 13812345678"), vec![(9, 20)]);
        assert_eq!(spans("tel=4155550132&x=1"), vec![(4, 14)]);
        assert_eq!(
            spans_with("id 13812345678", &opts(ContextRule::Always)),
            vec![(3, 14)]
        );
        assert_eq!(
            spans_with("phone 13812345678", &opts(ContextRule::Never)),
            vec![]
        );
        let mut out = Vec::new();
        run(
            b"4155550132",
            &opts(ContextRule::WithContext),
            b"mobileNumber",
            &mut out,
        );
        assert_eq!(out.len(), 1, "field name as context");
    }

    #[test]
    fn more_phone_shapes() {
        assert_eq!(spans("+1-415-555-0132"), vec![(0, 15)]);
        assert_eq!(spans("+1.415.555.0132"), vec![(0, 15)]);
        assert_eq!(spans("+14155550132"), vec![(0, 12)]);
        assert_eq!(spans("(+44 20 7123 4567)"), vec![(1, 17)]);
        assert_eq!(spans("+44 (0)20 7123 4567"), vec![(0, 19)]);
        assert_eq!(spans("415.555.0132"), vec![(0, 12)]);
        assert_eq!(spans("030 1234567"), vec![(0, 11)]);
        assert_eq!(spans("01 42 68 53 00"), vec![(0, 14)]);
        assert_eq!(spans("on 2024-05-01 415-555-0132"), vec![(14, 26)]);
        assert_eq!(spans("on 05/01/2024 415-555-0132"), vec![(14, 26)]);
        // Past 15 digits the number ends at the last space that keeps it valid.
        assert_eq!(spans("+1 415 555 0132 1234 5678 9012"), vec![(0, 20)]);
    }

    #[test]
    fn not_phone_numbers() {
        for t in [
            "2024-05-01",
            "2024-05-01 12:34:56",
            "01.05.2024",
            "192.168.100.200",
            "1.000.000",
            "1 000 000",
            "\"GET / HTTP/1.1\" 200 1532 0.003",
            "10.0.19041.1",
            "v1.2.3",
            "415-555",
            "+123",
            "a+14155550132",
            "1+4155550132",
            "x415-555-0132",
            "415-555-0132x",
            "12:34:56",
            "4111 1111 1111 1111",
            "price 3.14159265",
            "550e8400-e29b-41d4-a716-446655440000",
            "13812345678",
        ] {
            assert_eq!(spans(t), vec![], "{t}");
        }
    }
}
