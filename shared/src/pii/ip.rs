//! IPv4 and IPv6 addresses, after Presidio's `ip_recognizer.py`.
//!
//! IPv4: four dot-separated decimal octets 0-255 (one to three digits),
//! optionally `/0`-`/32`; not glued to word text (`192.168.1.1.1` finds the
//! first four octets, as Presidio does).
//!
//! IPv6: every RFC 4291 text form: eight groups of 1-4 hex digits, `::`
//! compression (once), an IPv4 tail (`::ffff:192.0.2.1`, `64:ff9b::1.2.3.4`,
//! `0:0:0:0:0:FFFF:129.144.52.38`), a zone (`fe80::1%eth0`) and a prefix
//! length `/0`-`/128`. Not preceded by a word byte or `:`, not followed by a
//! word byte, `:` or `.digit`, so `std::cout`, MAC addresses, times and
//! `2001::db8::1` are not addresses. An invalid prefix length leaves the
//! address itself found (`2001:db8::/9999` finds `2001:db8::`).
//!
//! Edgeward differs from Presidio in one case: the unspecified address `::`
//! alone (and `::/0`) is not reported: it identifies nobody, and `::` is
//! common punctuation in logs.

use super::scan::{at, before, digits_end, is_word};
use super::{Kind, Match};

pub(super) fn find_v4(bytes: &[u8], out: &mut Vec<Match>) {
    let mut skip_to = 0;
    for dot in memchr::memchr_iter(b'.', bytes) {
        if dot < skip_to {
            continue;
        }
        // The first octet ends at this dot.
        let mut s = dot;
        while s > 0 && dot - s < 3 && before(bytes, s).is_some_and(|b| b.is_ascii_digit()) {
            s -= 1;
        }
        if s == dot || before(bytes, s).is_some_and(|b| is_word(b) || b == b'.') {
            continue;
        }
        if let Some(end) = parse_v4(bytes, s, true) {
            out.push(Match {
                start: s,
                end,
                kind: Kind::Ipv4,
            });
            skip_to = end;
        }
    }
}

/// A dotted quad at `s`, plus a valid `/prefix` when `with_prefix`; returns
/// the end. The byte after it must not be a word byte.
fn parse_v4(bytes: &[u8], s: usize, with_prefix: bool) -> Option<usize> {
    let end = quad_end(bytes, s)?;
    if at(bytes, end).is_some_and(is_word) {
        return None;
    }
    Some(if with_prefix {
        prefix_end(bytes, end, 32).unwrap_or(end)
    } else {
        end
    })
}

/// The end of four octets at `s`, ignoring what follows.
fn quad_end(bytes: &[u8], s: usize) -> Option<usize> {
    let mut p = s;
    for i in 0..4 {
        if i > 0 {
            if at(bytes, p) != Some(b'.') {
                return None;
            }
            p += 1;
        }
        let e = digits_end(bytes, p);
        if e == p || e - p > 3 || decimal(bytes.get(p..e)?) > 255 {
            return None;
        }
        p = e;
    }
    Some(p)
}

fn decimal(ds: &[u8]) -> u32 {
    ds.iter().fold(0u32, |v, d| {
        v.saturating_mul(10)
            .saturating_add(u32::from(d.wrapping_sub(b'0')))
    })
}

/// `/N` with N <= `max` at `p`, not followed by a word byte; its end.
fn prefix_end(bytes: &[u8], p: usize, max: u32) -> Option<usize> {
    if at(bytes, p) != Some(b'/') {
        return None;
    }
    let e = digits_end(bytes, p + 1);
    let len = e - (p + 1);
    if len == 0
        || len > 3
        || decimal(bytes.get(p + 1..e)?) > max
        || at(bytes, e).is_some_and(is_word)
    {
        return None;
    }
    Some(e)
}

pub(super) fn find_v6(bytes: &[u8], out: &mut Vec<Match>) {
    let mut skip_to = 0;
    for colon in memchr::memchr_iter(b':', bytes) {
        if colon < skip_to {
            continue;
        }
        // The candidate starts at the hex group before this colon, if any.
        let mut s = colon;
        while s > 0 && colon - s < 4 && before(bytes, s).is_some_and(|b| b.is_ascii_hexdigit()) {
            s -= 1;
        }
        if before(bytes, s).is_some_and(|b| is_word(b) || b == b':') {
            continue;
        }
        if let Some(end) = parse_v6(bytes, s) {
            out.push(Match {
                start: s,
                end,
                kind: Kind::Ipv6,
            });
            skip_to = end;
        }
    }
}

fn parse_v6(bytes: &[u8], s: usize) -> Option<usize> {
    let mut p = s;
    let mut groups = 0usize;
    let mut compressed = false;
    if starts(bytes, p, b"::") {
        compressed = true;
        p += 2;
    }
    loop {
        let e = hex_end(bytes, p);
        let len = e - p;
        if len == 0 {
            // Only right after `::` may no group follow.
            if !(compressed && ends_with_double_colon(bytes, p)) {
                return None;
            }
            break;
        }
        let decimal_run = bytes
            .get(p..e)
            .is_some_and(|r| r.iter().all(u8::is_ascii_digit));
        if decimal_run
            && at(bytes, e) == Some(b'.')
            && at(bytes, e + 1).is_some_and(|b| b.is_ascii_digit())
        {
            // An IPv4 tail: decimal, at most six groups before it.
            let q = quad_end(bytes, p)?;
            if groups > 6 {
                return None;
            }
            groups += 2;
            p = q;
            break;
        }
        if len > 4 {
            return None;
        }
        groups += 1;
        p = e;
        if starts(bytes, p, b"::") {
            if compressed {
                return None;
            }
            compressed = true;
            p += 2;
            continue;
        }
        if at(bytes, p) == Some(b':') && at(bytes, p + 1).is_some_and(|b| b.is_ascii_hexdigit()) {
            p += 1;
            continue;
        }
        break;
    }
    let valid = if compressed { groups <= 7 } else { groups == 8 };
    if !valid || groups == 0 {
        return None;
    }
    // Zone index.
    if at(bytes, p) == Some(b'%') {
        let z = p + 1;
        let ze = {
            let mut j = z;
            while at(bytes, j).is_some_and(|b| b.is_ascii_alphanumeric()) {
                j += 1;
            }
            j
        };
        if ze > z {
            p = ze;
        }
    }
    if let Some(e) = prefix_end(bytes, p, 128) {
        p = e;
    }
    match at(bytes, p) {
        Some(b) if is_word(b) || b == b':' => None,
        Some(b'.') if at(bytes, p + 1).is_some_and(|b| b.is_ascii_digit()) => None,
        _ => Some(p),
    }
}

fn starts(bytes: &[u8], p: usize, s: &[u8]) -> bool {
    bytes.get(p..).is_some_and(|r| r.starts_with(s))
}

fn ends_with_double_colon(bytes: &[u8], p: usize) -> bool {
    p >= 2 && bytes.get(p - 2..p) == Some(b"::")
}

fn hex_end(bytes: &[u8], p: usize) -> usize {
    let mut j = p;
    // Read one past four so an over-long group is seen.
    while j - p < 5 && at(bytes, j).is_some_and(|b| b.is_ascii_hexdigit()) {
        j += 1;
    }
    j
}

#[cfg(test)]
mod tests {
    use super::super::resolve::resolve;
    use super::*;

    fn spans(text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        find_v4(text.as_bytes(), &mut out);
        find_v6(text.as_bytes(), &mut out);
        resolve(out).iter().map(|m| (m.start, m.end)).collect()
    }

    // Follows presidio-analyzer/tests/test_ip_recognizer.py (all its tables).
    #[test]
    fn presidio_ip_cases() {
        let cases: &[(&str, &[(usize, usize)])] = &[
            ("microsoft.com 192.168.0.1", &[(14, 25)]),
            ("my ip: 192.168.0", &[]),
            (
                "microsoft.com 684D:1111:222:3333:4444:5555:6:77",
                &[(14, 47)],
            ),
            ("my ip: 684D:1111:222:3333:4444:5555:6:77", &[(7, 40)]),
            ("684D:1111:222:3333:4444:5555:77", &[]),
            ("2345:0425:2CA1:0000:0000:0567:5673:23b5", &[(0, 39)]),
            ("2345:0425:2CA1::0567:5673:23b5", &[(0, 30)]),
            ("2400:c401::5054:ff:fe1b:b031", &[(0, 28)]),
            ("my ip: ::1", &[(7, 10)]),
            ("connecting from ::1", &[(16, 19)]),
            ("fe80::1", &[(0, 7)]),
            ("2001:db8::8a2e:370:7334", &[(0, 23)]),
            ("2001:db8:85a3::8a2e:370", &[(0, 23)]),
            ("2001:db8::1", &[(0, 11)]),
            ("fe80::1%eth0", &[(0, 12)]),
            ("A099::09C0:876A:130B", &[(0, 20)]),
            ("Server IP: 2001:db8::1", &[(11, 22)]),
            ("Connect to [2001:db8::1]:8080", &[(12, 23)]),
            ("my ip is 2400:c401::5054:ff:fe1b:b031", &[(9, 37)]),
            ("Gateway: fe80::1 on interface", &[(9, 16)]),
            ("Visit http://[2001:db8::1]/path", &[(14, 25)]),
            ("SSH to user@2001:db8::1", &[(12, 23)]),
            ("::ffff:192.0.2.1", &[(0, 16)]),
            ("::ffff:10.0.0.1", &[(0, 15)]),
            ("::ffff:172.16.0.1", &[(0, 17)]),
            ("::ffff:127.0.0.1", &[(0, 16)]),
            ("::ffff:255.255.255.255", &[(0, 22)]),
            ("::ffff:0.0.0.0", &[(0, 14)]),
            ("::ffff:0:192.168.1.1", &[(0, 20)]),
            ("::ffff:0000:10.0.0.1", &[(0, 20)]),
            ("Mapped: ::ffff:192.168.1.1", &[(8, 26)]),
            ("Connect to ::ffff:10.0.0.1 now", &[(11, 26)]),
            ("[::ffff:192.168.1.1]:80", &[(1, 19)]),
            ("::192.168.1.1", &[(0, 13)]),
            ("::10.0.0.1", &[(0, 10)]),
            ("::ffff:256.0.0.1", &[]),
            ("::ffff:192.168.1", &[]),
            ("2001:db8::192.168.1.1", &[(0, 21)]),
            ("2001:db8:1::192.0.2.1", &[(0, 21)]),
            ("64:ff9b::192.0.2.1", &[(0, 18)]),
            ("2001:db8:85a3::8a2e:192.168.0.1", &[(0, 31)]),
            ("0:0:0:0:0:FFFF:129.144.52.38", &[(0, 28)]),
            ("2001:db8:0:0:0:0:192.168.1.1", &[(0, 28)]),
            ("NAT64: 64:ff9b::198.51.100.1", &[(7, 28)]),
            ("Tunnel to 2001:db8::10.0.0.1", &[(10, 28)]),
            ("2001:db8::256.1.1.1", &[]),
            ("IPv4: 192.168.1.1, IPv6: 2001:db8::1", &[(6, 17), (25, 36)]),
            (
                "Primary: 10.0.0.1, Secondary: 172.16.0.1",
                &[(9, 17), (30, 40)],
            ),
            (
                "IPs: 192.168.1.1, 10.0.0.1, 2001:db8::1",
                &[(5, 16), (18, 26), (28, 39)],
            ),
            ("MAC address aa:bb:cc:dd:ee:ff", &[]),
            ("Time 12:34:56", &[]),
            ("Ratio 1:2:3:4", &[]),
            ("CSS color #ff00aa", &[]),
            ("Version 1.2.3", &[]),
            ("Port 80:443", &[]),
            ("abc:def:ghi", &[]),
            ("123:abc", &[]),
            ("file:///path/to/file", &[]),
            ("std::cout", &[]),
            ("MyClass::toString", &[]),
            (":::", &[]),
            ("IP192.168.1.1text", &[]),
            ("text192.168.1.1", &[]),
            ("(192.168.1.1)", &[(1, 12)]),
            ("'2001:db8::1'", &[(1, 12)]),
            ("IP: 192.168.1.1.", &[(4, 15)]),
            ("192.168.1.1,", &[(0, 11)]),
            ("[2001:db8::1]", &[(1, 12)]),
            ("Server IP: 2400:c401::5054:ff:fe1b:b031.", &[(11, 39)]),
            ("2001:db8::1.", &[(0, 11)]),
            ("fe80::1text", &[]),
            ("text2001:db8::1", &[]),
            ("192.168.1.1.1", &[(0, 11)]),
            ("256.256.256.256", &[]),
            ("192.168.1.256", &[]),
            ("gggg:hhhh::1234", &[]),
            ("192.168.1", &[]),
            ("300.168.1.1", &[]),
            ("12345:db8::1", &[]),
            ("2001::db8::1", &[]),
            ("2001::25de::cade", &[]),
            ("192.168.2.1@eth0", &[(0, 11)]),
            ("text::ffff:192.0.2.1", &[(11, 20)]),
            ("foo2001:db8::10.0.0.1", &[(13, 21)]),
            ("localhost 127.0.0.1", &[(10, 19)]),
            ("Broadcast 255.255.255.255", &[(10, 25)]),
            ("Private 10.0.0.0", &[(8, 16)]),
            ("Link-local 169.254.1.1", &[(11, 22)]),
            ("Subnet 172.16.0.0", &[(7, 17)]),
            ("Default 0.0.0.0", &[(8, 15)]),
            ("Loopback ::1", &[(9, 12)]),
            ("Multicast ff02::1", &[(10, 17)]),
            ("192.168.1.0/24", &[(0, 14)]),
            ("10.0.0.0/8", &[(0, 10)]),
            ("0.0.0.0/0", &[(0, 9)]),
            ("192.168.1.1/32", &[(0, 14)]),
            ("2001:db8::/32", &[(0, 13)]),
            ("fe80::/10", &[(0, 9)]),
            ("::1/128", &[(0, 7)]),
            ("fe80::1%eth0/64", &[(0, 15)]),
            ("2001:db8::%eth0/128", &[(0, 19)]),
            ("::ffff:192.168.1.0/96", &[(0, 21)]),
            ("64:ff9b::192.0.2.0/96", &[(0, 21)]),
            ("Subnet: 192.168.1.0/24", &[(8, 22)]),
            ("Prefix: 2001:db8::/32", &[(8, 21)]),
            ("Route is 10.0.0.0/8.", &[(9, 19)]),
            ("Use 2001:db8::/32.", &[(4, 17)]),
            ("10.0.0.0/123", &[(0, 8)]),
            ("2001:db8::/9999", &[(0, 10)]),
        ];
        for (text, want) in cases {
            assert_eq!(spans(text), *want, "{text}");
        }
    }

    // Presidio reports the unspecified address `::` (score 0.1); edgeward
    // does not (see the module comment).
    #[test]
    fn unspecified_address_is_not_reported() {
        assert_eq!(spans("Use local ipv6 ::"), vec![]);
        assert_eq!(spans("src=:: dst=::1"), vec![(11, 14)]);
        assert_eq!(spans("::/0"), vec![]);
    }

    #[test]
    fn kinds() {
        let mut out = Vec::new();
        find_v4(b"::ffff:10.0.0.1", &mut out);
        find_v6(b"::ffff:10.0.0.1", &mut out);
        let r = resolve(out);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].kind, Kind::Ipv6);
    }
}
