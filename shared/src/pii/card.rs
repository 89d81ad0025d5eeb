//! Payment card numbers (PANs): the digits must pass the Luhn check AND fall
//! in a real issuer's IIN range with one of that issuer's lengths.
//!
//! Presidio's `credit_card_recognizer.py` uses a loose prefix regex plus
//! Luhn; edgeward checks the issuer table below instead, which is both
//! stricter on random digit runs and covers more issuers (Mastercard
//! 2221-2720, Mir, UnionPay, Maestro, RuPay, Troy, Verve, UATP...).
//!
//! Shapes: one contiguous run of 12-19 digits, or groups of 3-6 digits
//! joined by single spaces or dashes (`4111 1111 1111 1111`,
//! `3714-496353-98431`). NOT a card:
//! - a run that is part of a longer digit run (glued to letters or digits, or
//!   to `.digit` as in a decimal number): only whole runs are candidates;
//! - digits inside an IBAN (the IBAN spans are computed first and excluded);
//! - an epoch timestamp: a 10/13/16/19-digit run whose first ten digits are
//!   a plausible Unix time in seconds (2001-2038); no issuer range overlaps
//!   those, and the rule is kept explicit so an issuer table change cannot
//!   start masking timestamps.
//!
//! In a grouped run the longest group-aligned window that is a card wins
//! (so `4111 1111 1111 1111 2025` masks the card and leaves the year).

use super::scan::{at, before, is_word, Run};
use super::{Kind, Match};

const MIN_LEN: usize = 12;
const MAX_LEN: usize = 19;
/// Groups in one window: a 19-digit PAN in groups of 3 or more has at most 6.
const MAX_WINDOW_GROUPS: usize = 6;

/// (IIN range low, high, number of leading digits compared, min length, max length).
const ISSUERS: &[(u32, u32, u32, usize, usize)] = &[
    (4, 4, 1, 13, 19),             // Visa (13, 16, 19; checked below)
    (51, 55, 2, 16, 16),           // Mastercard
    (2221, 2720, 4, 16, 16),       // Mastercard 2-series
    (34, 34, 2, 15, 15),           // American Express
    (37, 37, 2, 15, 15),           // American Express
    (6011, 6011, 4, 16, 19),       // Discover
    (644, 649, 3, 16, 19),         // Discover
    (65, 65, 2, 16, 19),           // Discover / RuPay / Troy
    (622_126, 622_925, 6, 16, 19), // Discover co-branded UnionPay
    (62, 62, 2, 16, 19),           // UnionPay
    (81, 82, 2, 16, 19),           // UnionPay / RuPay
    (3528, 3589, 4, 16, 19),       // JCB
    (300, 305, 3, 14, 19),         // Diners Club (Carte Blanche)
    (3095, 3095, 4, 14, 19),       // Diners Club
    (36, 36, 2, 14, 19),           // Diners Club International
    (38, 39, 2, 16, 19),           // Diners Club
    (2200, 2204, 4, 16, 19),       // Mir
    (5018, 5018, 4, 12, 19),       // Maestro
    (5020, 5020, 4, 12, 19),       // Maestro
    (5038, 5038, 4, 12, 19),       // Maestro
    (5893, 5893, 4, 12, 19),       // Maestro
    (6304, 6304, 4, 12, 19),       // Maestro
    (6759, 6759, 4, 12, 19),       // Maestro UK
    (6761, 6763, 4, 12, 19),       // Maestro
    (56, 58, 2, 16, 19),           // Maestro
    (5019, 5019, 4, 16, 16),       // Dankort
    (60, 60, 2, 16, 16),           // RuPay
    (508, 508, 3, 16, 16),         // RuPay
    (353, 353, 3, 16, 16),         // RuPay / JCB co-brand
    (356, 356, 3, 16, 16),         // RuPay / JCB co-brand
    (636, 636, 3, 16, 19),         // InterPayment
    (637, 639, 3, 16, 16),         // InstaPayment
    (9792, 9792, 4, 16, 16),       // Troy
    (506_099, 506_198, 6, 16, 19), // Verve
    (650_002, 650_027, 6, 16, 19), // Verve
    (1, 1, 1, 15, 15),             // UATP
];

/// True when `digits` (ASCII digits only) is a card number.
pub(super) fn is_card(digits: &[u8]) -> bool {
    let len = digits.len();
    if !(MIN_LEN..=MAX_LEN).contains(&len) || !luhn(digits) {
        return false;
    }
    ISSUERS.iter().any(|&(lo, hi, width, min, max)| {
        let prefix = leading(digits, width as usize);
        (lo..=hi).contains(&prefix)
            && (min..=max).contains(&len)
            && (lo != 4 || matches!(len, 13 | 16 | 19))
    })
}

fn leading(digits: &[u8], n: usize) -> u32 {
    digits.iter().take(n).fold(0u32, |v, d| {
        v.saturating_mul(10)
            .saturating_add(u32::from(d.wrapping_sub(b'0')))
    })
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d.wrapping_sub(b'0'));
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A Unix time in seconds between 2001-09-09 and 2038-01-19, in ms/us/ns too.
fn is_epoch(digits: &[u8]) -> bool {
    matches!(digits.len(), 10 | 13 | 16 | 19)
        && (1_000_000_000..=2_147_483_647).contains(&leading(digits, 10))
}

/// A digit run may not be glued on this side to word text or `.digit`.
fn glued_left(bytes: &[u8], start: usize) -> bool {
    match before(bytes, start) {
        Some(b) if is_word(b) => true,
        Some(b'.') => before(bytes, start.saturating_sub(1)).is_some_and(|b| b.is_ascii_digit()),
        _ => false,
    }
}

fn glued_right(bytes: &[u8], end: usize) -> bool {
    match at(bytes, end) {
        Some(b) if is_word(b) => true,
        Some(b'.') => at(bytes, end + 1).is_some_and(|b| b.is_ascii_digit()),
        _ => false,
    }
}

pub(super) fn find(bytes: &[u8], runs: &[Run], ibans: &[Match], out: &mut Vec<Match>) {
    let mut k = 0;
    while k < runs.len() {
        // A chain: runs joined by exactly one space or dash.
        let first = k;
        while let (Some(cur), Some(next)) = (runs.get(k), runs.get(k + 1)) {
            if next.start == cur.end + 1 && matches!(at(bytes, cur.end), Some(b' ' | b'-')) {
                k += 1;
            } else {
                break;
            }
        }
        let chain = runs.get(first..=k).unwrap_or(&[]);
        k += 1;
        if chain.iter().map(|g| g.len()).sum::<usize>() < MIN_LEN {
            continue;
        }
        let (Some(head), Some(tail)) = (chain.first(), chain.last()) else {
            continue;
        };
        let left_glued = glued_left(bytes, head.start);
        let right_glued = glued_right(bytes, tail.end);
        scan_groups(bytes, chain, left_glued, right_glued, ibans, out);
    }
}

fn scan_groups(
    bytes: &[u8],
    groups: &[Run],
    left_glued: bool,
    right_glued: bool,
    ibans: &[Match],
    out: &mut Vec<Match>,
) {
    let k = groups.len();
    let mut a = 0;
    let mut digits = [0u8; MAX_LEN];
    while a < k {
        if a == 0 && left_glued {
            a += 1;
            continue;
        }
        let mut found = None;
        let last = (a + MAX_WINDOW_GROUPS - 1).min(k - 1);
        for b in (a..=last).rev() {
            if b + 1 == k && right_glued {
                continue;
            }
            let window = groups.get(a..=b).unwrap_or(&[]);
            if window.len() > 1 && window.iter().any(|g| !(3..=6).contains(&(g.end - g.start))) {
                continue;
            }
            let total: usize = window.iter().map(|g| g.end - g.start).sum();
            if !(MIN_LEN..=MAX_LEN).contains(&total) {
                continue;
            }
            let mut len = 0;
            for g in window {
                for &d in bytes.get(g.start..g.end).unwrap_or(&[]) {
                    if let Some(slot) = digits.get_mut(len) {
                        *slot = d;
                        len += 1;
                    }
                }
            }
            let ds = digits.get(..len).unwrap_or(&[]);
            if (window.len() == 1 && is_epoch(ds)) || !is_card(ds) {
                continue;
            }
            let (s, e) = match (window.first(), window.last()) {
                (Some(f), Some(l)) => (f.start, l.end),
                _ => continue,
            };
            if ibans.iter().any(|m| m.start < e && s < m.end) {
                continue;
            }
            found = Some((b, s, e));
            break;
        }
        match found {
            Some((b, s, e)) => {
                out.push(Match {
                    start: s,
                    end: e,
                    kind: Kind::Card,
                });
                a = b + 1;
            }
            None => a += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::iban;
    use super::*;

    fn spans(text: &str) -> Vec<(usize, usize)> {
        let runs = super::super::scan::digit_runs(text.as_bytes());
        let ibans = iban::spans(text.as_bytes(), &runs);
        let mut out = Vec::new();
        find(text.as_bytes(), &runs, &ibans, &mut out);
        out.iter().map(|m| (m.start, m.end)).collect()
    }

    // Follows presidio-analyzer/tests/test_credit_card_recognizer.py.
    #[test]
    fn presidio_card_cases() {
        let cases: &[(&str, &[(usize, usize)])] = &[
            (
                "4012888888881881 4012-8888-8888-1881 4012 8888 8888 1881",
                &[(0, 16), (17, 36), (37, 56)],
            ),
            ("1748503543012", &[]),
            ("122000000000003", &[(0, 15)]),
            ("my credit card: 122000000000003", &[(16, 31)]),
            ("371449635398431", &[(0, 15)]),
            ("5555555555554444", &[(0, 16)]),
            ("5019717010103742", &[(0, 16)]),
            ("30569309025904", &[(0, 14)]),
            ("6011000400000000", &[(0, 16)]),
            ("3528000700000000", &[(0, 16)]),
            ("6759649826438453", &[(0, 16)]),
            ("4111111111111111", &[(0, 16)]),
            ("4917300800000000", &[(0, 16)]),
            ("4484070000000000", &[(0, 16)]),
            ("4012-8888-8888-1882", &[]),
            ("my credit card number is 4012-8888-8888-1882", &[]),
            ("36168002586008", &[]),
            ("my credit card number is 36168002586008", &[]),
        ];
        for (text, want) in cases {
            assert_eq!(spans(text), *want, "{text}");
        }
    }

    #[test]
    fn issuers_beyond_presidio() {
        for pan in [
            "2221000000000009",    // Mastercard 2-series
            "2720999999999996",    // Mastercard 2-series, top of range
            "2200000000000004",    // Mir
            "6200000000000005",    // UnionPay
            "6250941006528599",    // UnionPay 16
            "6304000000000000",    // Maestro
            "3782 822463 10005",   // Amex grouped 4-6-5
            "3056 930902 5904",    // Diners grouped 4-6-4
            "6011 0009 9013 9424", // Discover
            "4111111111111111110", // Visa 19
        ] {
            assert_eq!(spans(pan).len(), 1, "{pan}");
        }
    }

    #[test]
    fn luhn_valid_but_not_a_card() {
        for t in [
            // Luhn-valid digits with no issuer at that length.
            "5555555555554",        // Mastercard prefix, 13 digits
            "2721000000000004",     // just past the Mastercard 2-series
            "99999999999999999999", // 20 digits
            // Part of a longer digit run.
            "x4111111111111111",
            "41111111111111113",
            "04111111111111111",
            "4111111111111111.25",
            "3.4111111111111111",
            "id_4111111111111111",
            // Epoch values: seconds, ms, us, ns.
            "1700000001",
            "1700000000004",
            "1700000000000001",
            "1700000000000000004",
        ] {
            assert_eq!(spans(t), vec![], "{t}");
        }
    }

    #[test]
    fn iban_digits_are_not_cards() {
        // The BBAN of this (valid) IBAN contains a Luhn-valid Visa number.
        let bban = "4111111111111111";
        let iban = make_iban("DE", &format!("{bban}00"));
        assert!(!ibans_of(&iban).is_empty(), "{iban}");
        let grouped: String = iban
            .chars()
            .collect::<Vec<_>>()
            .chunks(4)
            .map(|c| c.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(spans(&iban), vec![]);
        assert_eq!(spans(&grouped), vec![], "{grouped}");
        // The same digits alone are a card.
        assert_eq!(spans("4111 1111 1111 1111"), vec![(0, 19)]);
    }

    fn ibans_of(s: &str) -> Vec<Match> {
        iban::spans(s.as_bytes(), &super::super::scan::digit_runs(s.as_bytes()))
    }

    fn make_iban(cc: &str, bban: &str) -> String {
        for check in 0..100 {
            let s = format!("{cc}{check:02}{bban}");
            if ibans_of(&s).len() == 1 {
                return s;
            }
        }
        panic!("no check digits");
    }

    #[test]
    fn grouped_runs_take_the_card_window() {
        // Card followed by a year: the card is masked, the year stays.
        assert_eq!(spans("4111 1111 1111 1111 2025"), vec![(0, 19)]);
        // Card then CVV: same.
        assert_eq!(spans("4111111111111111 123"), vec![(0, 16)]);
        // A phone number before a card on one line.
        assert_eq!(spans("call 555 0100 4111-1111-1111-1111"), vec![(14, 33)]);
        // Groups of 1-2 digits are not a card grouping.
        assert_eq!(spans("4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1"), vec![]);
    }
}
