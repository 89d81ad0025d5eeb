//! IBANs (ISO 13616): country code, two check digits, then the country's
//! BBAN of fixed length and character classes; the mod-97 check must give 1.
//!
//! Accepted forms: compact (`DE89370400440532013000`) or grouped by four
//! with single spaces or dashes (`DE89 3704 0044 0532 0130 00`), as in
//! Presidio's `iban_recognizer.py`. The whole IBAN is upper case, or (an
//! edgeward addition, since logs lower-case things) entirely lower case;
//! mixed case (`LV80 bANK ...`) is refused as Presidio's tests expect.
//! Must not be glued to letters or digits on either side.

use super::scan::{at, before, Run};
use super::{Kind, Match};

/// (total length, BBAN structure: counts of `n` digits, `a` upper-case
/// letters, `c` letters or digits), from the SWIFT IBAN registry.
fn country(cc: [u8; 2]) -> Option<(usize, &'static str)> {
    Some(match &cc {
        b"AD" => (24, "8n12c"),
        b"AE" => (23, "19n"),
        b"AL" => (28, "8n16c"),
        b"AT" => (20, "16n"),
        b"AZ" => (28, "4a20c"),
        b"BA" => (20, "16n"),
        b"BE" => (16, "12n"),
        b"BG" => (22, "4a6n8c"),
        b"BH" => (22, "4a14c"),
        b"BI" => (27, "23n"),
        b"BR" => (29, "23n1a1c"),
        b"BY" => (28, "4c4n16c"),
        b"CH" => (21, "5n12c"),
        b"CR" => (22, "18n"),
        b"CY" => (28, "8n16c"),
        b"CZ" => (24, "20n"),
        b"DE" => (22, "18n"),
        b"DJ" => (27, "23n"),
        b"DK" => (18, "14n"),
        b"DO" => (28, "4c20n"),
        b"EE" => (20, "16n"),
        b"EG" => (29, "25n"),
        b"ES" => (24, "20n"),
        b"FI" => (18, "14n"),
        b"FK" => (18, "2a12n"),
        b"FO" => (18, "14n"),
        b"FR" => (27, "10n11c2n"),
        b"GB" => (22, "4a14n"),
        b"GE" => (22, "2a16n"),
        b"GI" => (23, "4a15c"),
        b"GL" => (18, "14n"),
        b"GR" => (27, "7n16c"),
        b"GT" => (28, "4c20c"),
        b"HN" => (28, "4a20n"),
        b"HR" => (21, "17n"),
        b"HU" => (28, "24n"),
        b"IE" => (22, "4a14n"),
        b"IL" => (23, "19n"),
        b"IQ" => (23, "4a15n"),
        b"IS" => (26, "22n"),
        b"IT" => (27, "1a10n12c"),
        b"JO" => (30, "4a4n18c"),
        b"KW" => (30, "4a22c"),
        b"KZ" => (20, "3n13c"),
        b"LB" => (28, "4n20c"),
        b"LC" => (32, "4a24c"),
        b"LI" => (21, "5n12c"),
        b"LT" => (20, "16n"),
        b"LU" => (20, "3n13c"),
        b"LV" => (21, "4a13c"),
        b"LY" => (25, "21n"),
        b"MC" => (27, "10n11c2n"),
        b"MD" => (24, "20c"),
        b"ME" => (22, "18n"),
        b"MK" => (19, "3n10c2n"),
        b"MN" => (20, "16n"),
        b"MR" => (27, "23n"),
        b"MT" => (31, "4a5n18c"),
        b"MU" => (30, "4a19n3a"),
        b"NI" => (28, "4a20n"),
        b"NL" => (18, "4a10n"),
        b"NO" => (15, "11n"),
        b"OM" => (23, "3n16c"),
        b"PK" => (24, "4a16c"),
        b"PL" => (28, "24n"),
        b"PS" => (29, "4a21c"),
        b"PT" => (25, "21n"),
        b"QA" => (29, "4a21c"),
        b"RO" => (24, "4a16c"),
        b"RS" => (22, "18n"),
        b"RU" => (33, "14n15c"),
        b"SA" => (24, "2n18c"),
        b"SC" => (31, "4a20n3a"),
        b"SD" => (18, "14n"),
        b"SE" => (24, "20n"),
        b"SI" => (19, "15n"),
        b"SK" => (24, "20n"),
        b"SM" => (27, "1a10n12c"),
        b"SO" => (23, "19n"),
        b"ST" => (25, "21n"),
        b"SV" => (28, "4a20n"),
        b"TL" => (23, "19n"),
        b"TN" => (24, "20n"),
        b"TR" => (26, "6n16c"),
        b"UA" => (29, "6n19c"),
        b"VA" => (22, "18n"),
        b"VG" => (24, "4a16n"),
        b"XK" => (20, "16n"),
        b"YE" => (30, "4a4n18c"),
        _ => return None,
    })
}

/// Longest IBAN (Russia, 33).
const MAX_LEN: usize = 34;

pub(super) fn find(bytes: &[u8], runs: &[Run], out: &mut Vec<Match>) {
    // Candidates from digit runs: an IBAN is two letters, then digits.
    let mut last_end = 0;
    for r in runs {
        if r.start < last_end || r.start < 2 {
            continue;
        }
        let start = r.start - 2;
        if let Some(end) = parse_at(bytes, start) {
            out.push(Match {
                start,
                end,
                kind: Kind::Iban,
            });
            last_end = end;
        }
    }
}

fn parse_at(bytes: &[u8], i: usize) -> Option<usize> {
    let (b0, b1, b2, b3) = (
        at(bytes, i)?,
        at(bytes, i + 1)?,
        at(bytes, i + 2)?,
        at(bytes, i + 3)?,
    );
    if !(b0.is_ascii_alphabetic()
        && b1.is_ascii_alphabetic()
        && b2.is_ascii_digit()
        && b3.is_ascii_digit())
    {
        return None;
    }
    if before(bytes, i).is_some_and(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let lower = b0.is_ascii_lowercase();
    let (len, bban) = country([b0.to_ascii_uppercase(), b1.to_ascii_uppercase()])?;
    let mut buf = [0u8; MAX_LEN];
    let mut count = 0;
    let mut p = i;
    while count < len {
        // An optional single separator between groups of four.
        if count > 0 && count % 4 == 0 && matches!(at(bytes, p), Some(b' ' | b'-')) {
            p += 1;
        }
        let c = at(bytes, p)?;
        if !c.is_ascii_alphanumeric()
            || (c.is_ascii_alphabetic() && c.is_ascii_lowercase() != lower)
        {
            return None;
        }
        *buf.get_mut(count)? = c.to_ascii_uppercase();
        count += 1;
        p += 1;
    }
    if at(bytes, p).is_some_and(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let iban = buf.get(..len)?;
    (bban_matches(iban.get(4..)?, bban) && mod97(iban) == 1).then_some(p)
}

fn bban_matches(bban: &[u8], spec: &str) -> bool {
    let mut chars = bban.iter();
    let mut count = 0usize;
    for s in spec.bytes() {
        if s.is_ascii_digit() {
            count = count * 10 + usize::from(s - b'0');
            continue;
        }
        for _ in 0..count {
            let Some(&c) = chars.next() else { return false };
            let ok = match s {
                b'n' => c.is_ascii_digit(),
                b'a' => c.is_ascii_uppercase(),
                _ => c.is_ascii_alphanumeric(),
            };
            if !ok {
                return false;
            }
        }
        count = 0;
    }
    chars.next().is_none()
}

/// ISO 7064 mod 97-10 over the rearranged IBAN (BBAN, then country code and
/// check digits), letters as 10..35, computed digit by digit.
fn mod97(iban: &[u8]) -> u32 {
    let (head, bban) = iban.split_at(4.min(iban.len()));
    bban.iter().chain(head).fold(0u32, |r, &c| {
        if c.is_ascii_digit() {
            (r * 10 + u32::from(c - b'0')) % 97
        } else {
            (r * 100 + u32::from(c.to_ascii_uppercase().saturating_sub(b'A')) + 10) % 97
        }
    })
}

/// Spans of IBANs in `bytes`, for the card detector's exclusion.
pub(super) fn spans(bytes: &[u8], runs: &[Run]) -> Vec<Match> {
    let mut v = Vec::new();
    find(bytes, runs, &mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans_of(text: &str) -> Vec<(usize, usize)> {
        let runs = super::super::scan::digit_runs(text.as_bytes());
        spans(text.as_bytes(), &runs)
            .iter()
            .map(|m| (m.start, m.end))
            .collect()
    }

    // Follows presidio-analyzer/tests/test_iban_recognizer.py: for every
    // country the valid value compact and grouped, one with a wrong
    // character class and one with a wrong check digit.
    const VALID: &[&str] = &[
        "AL47212110090000000235698741",
        "AD1200012030200359100100",
        "AT611904300234573201",
        "AZ21NABZ00000000137010001944",
        "BH67BMAG00001299123456",
        "BY13NBRB3600900000002Z00AB00",
        "BE68539007547034",
        "BA391290079401028494",
        "BR9700360305000010009795493P1",
        "BG80BNBG96611020345678",
        "CR05015202001026284066",
        "HR1210010051863000160",
        "CY17002001280000001200527600",
        "CZ6508000000192000145399",
        "DK5000400440116243",
        "DO28BAGR00000001212453611324",
        "TL380080012345678910157",
        "EE382200221020145685",
        "FO6264600001631634",
        "FI2112345600000785",
        "FR1420041010050500013M02606",
        "GE29NB0000000101904917",
        "DE89370400440532013000",
        "GI75NWBK000000007099453",
        "GR1601101250000000012300695",
        "GL8964710001000206",
        "GT82TRAJ01020000001210029690",
        "HU42117730161111101800000000",
        "IS140159260076545510730339",
        "IE29AIBK93115212345678",
        "IL620108000000099999999",
        "IT60X0542811101000000123456",
        "JO94CBJO0010000000000131000302",
        "KZ86125KZT5004100100",
        "XK051212012345678906",
        "KW81CBKU0000000000001234560101",
        "LV80BANK0000435195001",
        "LB62099900000001001901229114",
        "LI21088100002324013AA",
        "LT121000011101001000",
        "LU280019400644750000",
        "MT84MALT011000012345MTLCAST001S",
        "MR1300020001010000123456753",
        "MU17BOMM0101101030300200000MUR",
        "MD24AG000225100013104168",
        "MC5811222000010123456789030",
        "ME25505000012345678951",
        "NL91ABNA0417164300",
        "MK07250120000058984",
        "NO9386011117947",
        "PK36SCBL0000001123456702",
        "PS92PALS000000000400123456702",
        "PL61109010140000071219812874",
        "PT50000201231234567890154",
        "QA58DOHB00001234567890ABCDEFG",
        "RO49AAAA1B31007593840000",
        "SM86U0322509800000000270100",
        "SA0380000000608010167519",
        "RS35260005601001611379",
        "SK3112000000198742637541",
        "SI56263300012039086",
        "ES9121000418450200051332",
        "SE4550000000058398257466",
        "CH9300762011623852957",
        "TN5910006035183598478831",
        "TR330006100519786457841326",
        "AE070331234567890123456",
        "GB29NWBK60161331926819",
        "VA59001123000012345678",
        "VG96VPVG0000012345678901",
        "EG380019000500000000263180002",
        "UA213223130000026007233566001",
        "IQ98NBIQ850123456789012",
        "LC55HEMM000100010012001200023015",
        "SC18SSCB11010000000000001497USD",
        "LY83002048000020100120361",
    ];

    fn grouped(iban: &str, sep: char) -> String {
        let mut s = String::new();
        for (i, c) in iban.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                s.push(sep);
            }
            s.push(c);
        }
        s
    }

    /// The same IBAN with the last character changed (a wrong check).
    fn bump_last(iban: &str) -> String {
        let mut b = iban.as_bytes().to_vec();
        let last = b.last_mut().unwrap();
        *last = match *last {
            b'9' => b'0',
            b'Z' => b'A',
            c => c + 1,
        };
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn presidio_valid_ibans_compact_grouped_and_lower_case() {
        for iban in VALID {
            assert_eq!(spans_of(iban), vec![(0, iban.len())], "{iban}");
            let g = grouped(iban, ' ');
            assert_eq!(spans_of(&g), vec![(0, g.len())], "{g}");
            let d = grouped(iban, '-');
            assert_eq!(spans_of(&d), vec![(0, d.len())], "{d}");
            let l = iban.to_ascii_lowercase();
            assert_eq!(spans_of(&l), vec![(0, l.len())], "{l}");
            let bad = bump_last(iban);
            assert_eq!(spans_of(&bad), vec![], "bad check: {bad}");
        }
    }

    #[test]
    fn presidio_invalid_ibans() {
        for t in [
            "AL47 212A 1009 0000 0002 3569 8741",
            "AL47 212A 1009 0000 0002 3569 874",
            "AD12000A2030200359100100",
            "AT61 1904 A002 3457 3201",
            "AZ21NABZ000000001370100019",
            "BH67BMA100001299123456",
            "BE6853900754703",
            "CR05 0152 0200 1026 2840 6A",
            "HR12 001 0051 8630 0016 A",
            "EE38 2200 2210  014 5686",
            "GI75 aWBK 0000 0000 7099 453",
            "KW81 aBKU 0000 0000 0000 1234 5601 01",
            "LV80 bANK 0000 4351 9500 1",
            "G T82 TRAJ 0102 0000 0012 1002 9690",
            "NL91 1BNA 0417 1643 00",
            "QA58 0OHB 0000 1234 5678 90AB CDEF G",
            "SM86 0032 2509 8000 0000 0270 100",
            "AB150120690000003111141",
            "IL15 0120 6900 0000",
            "IL15 0120 6900 0000 3111 0120 6900 0000 3111 141",
            "AM47212110090000000235698740",
            "Slash as iban separator: AL47/2121/1009/0000/0002/3569/8741",
            "Dalla's Pizza | 3843 Peartree Road, Bamblee, SD 20241 440-600-5124",
            "CY17 0020 0128 0000 0012 0052 7601 failed",
            "XDE89370400440532013000",
            "DE893704004405320130001",
        ] {
            assert_eq!(spans_of(t), vec![], "{t}");
        }
    }

    #[test]
    fn presidio_ibans_in_sentences() {
        assert_eq!(
            spans_of("this is an iban VG96 VPVG 0000 0123 4567 8901 in a sentence"),
            vec![(16, 45)]
        );
        assert_eq!(
            spans_of("this is an iban VG96 VPVG 0000 0123 4567 8901 X in a sentence"),
            vec![(16, 45)]
        );
        assert_eq!(
            spans_of("list of ibans: AL47212110090000000235698741, AL47212110090000000235698741"),
            vec![(15, 43), (45, 73)]
        );
        assert_eq!(
            spans_of("Dash as iban separator: AL47-2121-1009-0000-0002-3569-8741"),
            vec![(24, 58)]
        );
        assert_eq!(
            spans_of("AL47212110090000000235698741 ALL CAPS"),
            vec![(0, 28)]
        );
    }
}
