//! Email addresses, also with the `@` percent-encoded (`bob%40example.com`,
//! as in query strings).
//!
//! Found from each `@` / `%40` outwards: the local part to the left, the
//! domain to the right. Rules (after Presidio's `email_recognizer.py`):
//! - domain: at least two dot-separated labels of letters/digits (non-ASCII
//!   letters too), hyphens only inside a label (`xn--` punycode allowed); the
//!   last label (TLD) has at least two characters and no digits, or is
//!   punycode. Presidio checks the TLD against the public-suffix list; we do
//!   not ship that list, so `info@presidio.site` and `a@b.invalidtld` are
//!   both found (masking errs on the side of hiding).
//! - local part: letters, digits, non-ASCII, and `. _ % + - ! $ * ^ ~`.
//!   Presidio also allows `/ = ? & # ' { | }` and backtick; we stop at them
//!   because in logs and URLs they delimit (`?email=bob@x.com` masks
//!   `bob@x.com`, not `email=bob@x.com`). Leading dots are not part of it.
//! - `user:secret@host` right after `scheme://` is URL userinfo, not an
//!   email (the `url_password` detector masks the secret).

use super::scan::{at, before};
use super::{Kind, Match};

/// RFC 5321 caps the local part at 64 octets; walking further left than this
/// bounds the work per `@` (a pathological `%40%40...` input stays linear).
const MAX_LOCAL: usize = 128;

fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || b >= 0x80
        || matches!(
            b,
            b'.' | b'_' | b'%' | b'+' | b'-' | b'!' | b'$' | b'*' | b'^' | b'~'
        )
}

fn is_label(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

pub(super) fn find(bytes: &[u8], out: &mut Vec<Match>) {
    let mut last_end = 0;
    for at_sign in memchr::memchr_iter(b'@', bytes) {
        if at_sign < last_end {
            continue;
        }
        if let Some(m) = candidate(bytes, at_sign, 1) {
            last_end = m.end;
            out.push(m);
        }
    }
    last_end = 0;
    for pct in memchr::memchr_iter(b'%', bytes) {
        if pct < last_end {
            continue;
        }
        let Some(sep_len) = encoded_at_len(bytes, pct) else {
            continue;
        };
        if let Some(m) = candidate(bytes, pct, sep_len) {
            last_end = m.end;
            out.push(m);
        }
    }
}

/// The length of an `@` percent-encoded once or more at `pct`: `%40`, and
/// `%2540`, `%252540`, ... (a URL carried in a query parameter, encoded
/// again at each hop), ASCII case-insensitive; `None` when it is not one.
fn encoded_at_len(bytes: &[u8], pct: usize) -> Option<usize> {
    let mut j = pct.checked_add(1)?;
    // Each `25` is one more round of encoding of the `%`; the `%` itself
    // bounds nothing, so the walk is linear in the run.
    while bytes.get(j..j.checked_add(2)?) == Some(b"25") {
        j = j.checked_add(2)?;
    }
    (bytes.get(j..j.checked_add(2)?) == Some(b"40")).then(|| j + 2 - pct)
}

/// The address around the separator at `sep` (`sep_len` bytes long).
fn candidate(bytes: &[u8], sep: usize, sep_len: usize) -> Option<Match> {
    let start = local_start(bytes, sep)?;
    if is_url_userinfo(bytes, start) {
        return None;
    }
    let end = domain_end(bytes, sep.checked_add(sep_len)?)?;
    Some(Match {
        start,
        end,
        kind: Kind::Email,
    })
}

fn local_start(bytes: &[u8], sep: usize) -> Option<usize> {
    let floor = sep.saturating_sub(MAX_LOCAL);
    let mut s = sep;
    while s > floor && before(bytes, s).is_some_and(is_local) {
        s -= 1;
    }
    while s < sep && at(bytes, s) == Some(b'.') {
        s += 1;
    }
    (s < sep).then_some(s)
}

/// `scheme://user:pass@host`: the local part would start right after a `:`
/// that follows `//` with no `/` or space between.
fn is_url_userinfo(bytes: &[u8], local_start: usize) -> bool {
    if before(bytes, local_start) != Some(b':') {
        return false;
    }
    let head = bytes.get(..local_start.saturating_sub(1)).unwrap_or(&[]);
    for (i, &b) in head.iter().enumerate().rev() {
        match b {
            b'/' => return head.get(i.wrapping_sub(1)) == Some(&b'/'),
            b' ' | b'\t' | b'\n' | b'\r' | b'"' | b'\'' | b'<' | b'>' | b'@' => return false,
            _ => {}
        }
    }
    false
}

/// End of a valid domain starting at `from`, or `None`.
fn domain_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut p = from;
    let mut labels = 0usize;
    let mut end = None;
    loop {
        let label_start = p;
        let Some(label_end) = label_end(bytes, p) else {
            break;
        };
        labels += 1;
        p = label_end;
        if labels >= 2 && is_tld(bytes.get(label_start..label_end).unwrap_or(&[])) {
            end = Some(p);
        }
        if at(bytes, p) == Some(b'.') && at(bytes, p + 1).is_some_and(is_label) {
            p += 1;
        } else {
            break;
        }
    }
    // `bob@example.com_x` (glued to more word text) is still masked: the
    // address is there whatever follows it.
    end
}

/// A label: alnum (or non-ASCII) runs joined by hyphens, starting and ending
/// with alnum.
fn label_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut p = from;
    if !at(bytes, p).is_some_and(is_label) {
        return None;
    }
    loop {
        while at(bytes, p).is_some_and(is_label) {
            p += 1;
        }
        let mut q = p;
        while at(bytes, q) == Some(b'-') {
            q += 1;
        }
        if q > p && at(bytes, q).is_some_and(is_label) {
            p = q;
        } else {
            return Some(p);
        }
    }
}

fn is_tld(label: &[u8]) -> bool {
    if label.len() >= 4
        && label
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"xn--"))
    {
        return true;
    }
    label.len() >= 2 && label.iter().all(|&b| b.is_ascii_alphabetic() || b >= 0x80)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        find(text.as_bytes(), &mut out);
        let out = super::super::resolve::resolve(out);
        out.iter().map(|m| (m.start, m.end)).collect()
    }

    // Follows presidio-analyzer/tests/test_email_recognizer.py.
    #[test]
    fn presidio_email_cases() {
        let cases: &[(&str, &[(usize, usize)])] = &[
            ("info@presidio.site", &[(0, 18)]),
            ("my email address is info@presidio.site", &[(20, 38)]),
            (
                "try one of these emails: info@presidio.site or anotherinfo@presidio.site",
                &[(25, 43), (47, 72)],
            ),
            ("user@xn--80ak6aa92e.com", &[(0, 23)]),
            ("a@xn--d1acufc.xn--p1ai", &[(0, 22)]),
            ("my email is user@xn--80ak6aa92e.com today", &[(12, 35)]),
            ("my email is info@presidio.", &[]),
            ("this is not an email: hello-world here", &[]),
        ];
        for (text, want) in cases {
            assert_eq!(spans(text), *want, "{text}");
        }
    }

    #[test]
    fn percent_encoded_and_query_forms() {
        let t = "/reset?email=bob%40example.com&x=1";
        assert_eq!(spans(t), vec![(13, 30)]);
        let t = "/reset?email=bob.smith+tag@example.co.uk&x=1";
        assert_eq!(spans(t), vec![(13, 40)]);
        // Encoded twice and more (a URL in a query parameter, encoded at each hop).
        let t = "/reset?email=bob%2540example.com&x=1";
        assert_eq!(spans(t), vec![(13, 32)]);
        let t = "/r/bob%252540example.com";
        assert_eq!(spans(t), vec![(3, 24)]);
        assert_eq!(spans("%25%2525%252540"), vec![]);
        assert_eq!(spans("bob%2541example.com"), vec![]);
        let t = "\"user\":\"o.reilly@exämple.de\"";
        let s = spans(t);
        assert_eq!(s.len(), 1);
        assert_eq!(&t[s[0].0..s[0].1], "o.reilly@exämple.de");
    }

    #[test]
    fn non_emails() {
        for t in [
            "user@localhost",
            "SSH to user@2001:db8::1",
            "a@b.c",
            "@example.com",
            "x@-bad.com",
            "postgres://app:s3cret@db.example.com/prod",
            "version 1.2@3.4",
            "@@@@",
            "%40%40%40",
        ] {
            assert_eq!(spans(t), vec![], "{t}");
        }
        // mailto: is an address, not URL userinfo.
        assert_eq!(spans("mailto:bob@example.com"), vec![(7, 22)]);
        // Trailing dot and leading dots are not part of the address.
        assert_eq!(spans("write to ..bob@example.com."), vec![(11, 26)]);
    }
}
