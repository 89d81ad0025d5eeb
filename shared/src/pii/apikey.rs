//! Secrets with a documented shape: provider API keys, PEM private keys, and
//! passwords in URL userinfo (`postgres://app:s3cret@db/...`).
//!
//! API keys are found at token starts (the byte before is not a letter or
//! digit) by a dispatch on the first byte, then a prefix and a body of a
//! known alphabet and length: one pass over the text, no regex.

use super::scan::{at, before, lit_iter, starts_with};
use super::{Kind, Match};

#[derive(Clone, Copy)]
enum Body {
    /// `[A-Za-z0-9]`
    Alnum,
    /// `[A-Za-z0-9_]`
    AlnumUnderscore,
    /// `[A-Za-z0-9_-]`
    UrlSafe,
    /// `[A-Za-z0-9-]`
    AlnumDash,
    /// `[A-Z0-9]`
    UpperAlnum,
    /// `[a-f0-9]`
    LowerHex,
    /// `[A-Za-z0-9+/=]` (base64)
    Base64,
    /// `[A-Za-z0-9/]` (a Slack webhook path)
    Path,
}

impl Body {
    fn accepts(self, b: u8) -> bool {
        match self {
            Body::Alnum => b.is_ascii_alphanumeric(),
            Body::AlnumUnderscore => b.is_ascii_alphanumeric() || b == b'_',
            Body::UrlSafe => b.is_ascii_alphanumeric() || b == b'_' || b == b'-',
            Body::AlnumDash => b.is_ascii_alphanumeric() || b == b'-',
            Body::UpperAlnum => b.is_ascii_uppercase() || b.is_ascii_digit(),
            Body::LowerHex => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
            Body::Base64 => b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=',
            Body::Path => b.is_ascii_alphanumeric() || b == b'/',
        }
    }
}

/// A key shape: prefix, body alphabet, body length range. With `exact`
/// (min == max) a longer body means it is something else.
struct Shape {
    prefix: &'static [u8],
    body: Body,
    min: usize,
    max: usize,
    /// Mask only the body (the prefix is a parameter name, e.g. `AccountKey=`).
    body_only: bool,
}

const fn shape(prefix: &'static [u8], body: Body, min: usize, max: usize) -> Shape {
    Shape {
        prefix,
        body,
        min,
        max,
        body_only: false,
    }
}

const OPEN: usize = usize::MAX;

/// The shortest key any shape accepts (`xoxb-` and ten characters).
pub(super) const MIN_KEY_LEN: usize = 15;

/// Shapes by first byte of the prefix. Sources: each provider's docs on key
/// formats (Stripe, AWS IAM, GitHub, Slack, Google, GitLab, npm, PyPI,
/// SendGrid, Shopify, DigitalOcean, Hugging Face, Anthropic, OpenAI, Square,
/// Postman, Azure Storage).
fn shapes(first: u8) -> &'static [Shape] {
    const S: &[Shape] = &[
        shape(b"sk_live_", Body::Alnum, 10, OPEN),
        shape(b"sk_test_", Body::Alnum, 10, OPEN),
        shape(b"sk-ant-", Body::UrlSafe, 20, OPEN),
        shape(b"sk-proj-", Body::UrlSafe, 20, OPEN),
        shape(b"sk-svcacct-", Body::UrlSafe, 20, OPEN),
        shape(b"shpat_", Body::LowerHex, 32, 32),
        shape(b"shpss_", Body::LowerHex, 32, 32),
        shape(b"shpca_", Body::LowerHex, 32, 32),
        shape(b"shppa_", Body::LowerHex, 32, 32),
        shape(b"sq0atp-", Body::UrlSafe, 22, OPEN),
        shape(b"sq0csp-", Body::UrlSafe, 22, OPEN),
    ];
    const R: &[Shape] = &[
        shape(b"rk_live_", Body::Alnum, 10, OPEN),
        shape(b"rk_test_", Body::Alnum, 10, OPEN),
    ];
    const W: &[Shape] = &[shape(b"whsec_", Body::Alnum, 20, OPEN)];
    const UA: &[Shape] = &[
        shape(b"AKIA", Body::UpperAlnum, 16, 16),
        shape(b"ASIA", Body::UpperAlnum, 16, 16),
        shape(b"ABIA", Body::UpperAlnum, 16, 16),
        shape(b"ACCA", Body::UpperAlnum, 16, 16),
        shape(b"AIza", Body::UrlSafe, 35, 35),
        Shape {
            prefix: b"AccountKey=",
            body: Body::Base64,
            min: 40,
            max: OPEN,
            body_only: true,
        },
    ];
    const G: &[Shape] = &[
        shape(b"ghp_", Body::Alnum, 36, OPEN),
        shape(b"gho_", Body::Alnum, 36, OPEN),
        shape(b"ghu_", Body::Alnum, 36, OPEN),
        shape(b"ghs_", Body::Alnum, 36, OPEN),
        shape(b"ghr_", Body::Alnum, 36, OPEN),
        shape(b"github_pat_", Body::AlnumUnderscore, 22, OPEN),
        shape(b"glpat-", Body::UrlSafe, 20, OPEN),
        shape(b"glrt-", Body::UrlSafe, 20, OPEN),
        shape(b"gldt-", Body::UrlSafe, 20, OPEN),
        shape(b"glptt-", Body::UrlSafe, 20, OPEN),
    ];
    const UG: &[Shape] = &[shape(b"GOCSPX-", Body::UrlSafe, 28, OPEN)];
    const X: &[Shape] = &[
        shape(b"xoxb-", Body::AlnumDash, 10, OPEN),
        shape(b"xoxp-", Body::AlnumDash, 10, OPEN),
        shape(b"xoxa-", Body::AlnumDash, 10, OPEN),
        shape(b"xoxr-", Body::AlnumDash, 10, OPEN),
        shape(b"xoxs-", Body::AlnumDash, 10, OPEN),
        shape(b"xoxe-", Body::AlnumDash, 10, OPEN),
        shape(b"xapp-", Body::AlnumDash, 10, OPEN),
    ];
    const N: &[Shape] = &[shape(b"npm_", Body::Alnum, 36, 36)];
    const P: &[Shape] = &[shape(b"pypi-AgEIcHlwaS5vcmc", Body::UrlSafe, 50, OPEN)];
    const UP: &[Shape] = &[shape(b"PMAK-", Body::AlnumDash, 40, OPEN)];
    const D: &[Shape] = &[
        shape(b"dop_v1_", Body::LowerHex, 64, 64),
        shape(b"doo_v1_", Body::LowerHex, 64, 64),
    ];
    const H: &[Shape] = &[
        shape(b"hf_", Body::Alnum, 30, OPEN),
        Shape {
            prefix: b"hooks.slack.com/services/",
            body: Body::Path,
            min: 20,
            max: OPEN,
            body_only: true,
        },
    ];
    const Y: &[Shape] = &[shape(b"ya29.", Body::UrlSafe, 20, OPEN)];
    match first {
        b's' => S,
        b'r' => R,
        b'w' => W,
        b'A' => UA,
        b'g' => G,
        b'G' => UG,
        b'x' => X,
        b'n' => N,
        b'p' => P,
        b'P' => UP,
        b'd' => D,
        b'h' => H,
        b'y' => Y,
        _ => &[],
    }
}

#[cfg(test)]
mod shape_tests {
    use super::*;

    #[test]
    fn every_shape_has_an_anchor() {
        for b in 0..=255u8 {
            for sh in shapes(b) {
                let p = sh.prefix;
                assert_eq!(p.first(), Some(&b));
                assert!(p.len() + sh.min >= MIN_KEY_LEN, "{p:?}");
                let dash = p.iter().position(|&c| c == b'_' || c == b'-');
                let by_dash = dash.is_some_and(|d| {
                    d > 0 && d <= MAX_ANCHOR_OFFSET && p[..d].iter().all(u8::is_ascii_alphanumeric)
                });
                let by_a = p[0] == b'A'
                    && matches!(p.get(1), Some(b'K' | b'S' | b'B' | b'C' | b'I' | b'c'));
                let by_dot = p.starts_with(b"ya29.") || p.starts_with(b"hooks.slack.com/");
                assert!(
                    by_dash || by_a || by_dot,
                    "no anchor for {:?}",
                    String::from_utf8_lossy(p)
                );
            }
        }
    }
}

pub(super) fn find_api_keys(bytes: &[u8], out: &mut Vec<Match>) {
    // Every prefix has an anchor found with memchr instead of a per-byte
    // loop: its first `_` or `-` (a few letters into the token), or a
    // leading `A` + one of `KSBCIc` (AWS, Google, Azure), or the `.` of
    // `ya29.` / `hooks.slack.com`. `tests::every_shape_has_an_anchor`
    // keeps the table and these anchors in step.
    // Anchors inside a key already found may start another candidate; the
    // overlap is merged by `resolve`.
    let try_at = |s: usize, out: &mut Vec<Match>| {
        if before(bytes, s).is_some_and(|p| p.is_ascii_alphanumeric()) {
            return;
        }
        let Some(&b) = bytes.get(s) else { return };
        if let Some(m) = key_at(bytes, s, shapes(b)) {
            out.push(m);
        }
    };
    for p in memchr::memchr2_iter(b'_', b'-', bytes) {
        let mut s = p;
        while s > 0
            && p - s < MAX_ANCHOR_OFFSET
            && before(bytes, s).is_some_and(|b| b.is_ascii_alphanumeric())
        {
            s -= 1;
        }
        // `A`-anchored shapes are tried by the next loop.
        if s < p && !a_anchor(bytes, s) {
            try_at(s, out);
        }
    }
    for p in memchr::memchr_iter(b'A', bytes) {
        if a_anchor(bytes, p) {
            try_at(p, out);
        }
    }
    for p in memchr::memchr_iter(b'.', bytes) {
        if let Some(s) = p
            .checked_sub(4)
            .filter(|&s| starts_with(bytes, s, b"ya29."))
        {
            try_at(s, out);
        } else if let Some(s) = p
            .checked_sub(5)
            .filter(|&s| starts_with(bytes, s, b"hooks.slack.com/"))
        {
            try_at(s, out);
        }
    }
}

fn a_anchor(bytes: &[u8], p: usize) -> bool {
    at(bytes, p) == Some(b'A')
        && matches!(
            at(bytes, p + 1),
            Some(b'K' | b'S' | b'B' | b'C' | b'I' | b'c')
        )
}

/// The farthest a prefix's first `_` / `-` is from its start (`github_pat_`: 6).
const MAX_ANCHOR_OFFSET: usize = 10;

fn key_at(bytes: &[u8], i: usize, list: &[Shape]) -> Option<Match> {
    for sh in list {
        if !starts_with(bytes, i, sh.prefix) {
            continue;
        }
        let body = i + sh.prefix.len();
        let mut e = body;
        // Read at most one byte past `max`: enough to see a run too long.
        while e - body <= sh.max && at(bytes, e).is_some_and(|c| sh.body.accepts(c)) {
            e += 1;
        }
        let len = e - body;
        // Fixed-length shapes: a longer run of the same alphabet is not this key.
        if len < sh.min || len > sh.max {
            continue;
        }
        let start = if sh.body_only { body } else { i };
        return Some(Match {
            start,
            end: e,
            kind: Kind::ApiKey,
        });
    }
    None
}

pub(super) fn find_private_keys(bytes: &[u8], out: &mut Vec<Match>) {
    let mut last_end = 0;
    for s in lit_iter(bytes, b"-----BEGIN ", 5) {
        if s < last_end {
            continue;
        }
        // The label ends at the next "-----" on the same line.
        let head = bytes.get(s + 11..).unwrap_or(&[]);
        let Some(label_len) = memchr::memmem::find(head, b"-----") else {
            continue;
        };
        let label = head.get(..label_len).unwrap_or(&[]);
        if label.len() > 40
            || !(label.ends_with(b"PRIVATE KEY") || label.ends_with(b"PRIVATE KEY BLOCK"))
        {
            continue;
        }
        let body_from = s + 11 + label_len + 5;
        // Up to the end of the matching END line, or (never fail open) to the
        // end of the text when the block was cut off.
        let end = bytes
            .get(body_from..)
            .and_then(|rest| memchr::memmem::find(rest, b"-----END "))
            .and_then(|e| {
                let after = body_from + e + 9;
                bytes
                    .get(after..)
                    .and_then(|r| memchr::memmem::find(r, b"-----"))
                    .map(|d| after + d + 5)
            })
            .unwrap_or(bytes.len());
        out.push(Match {
            start: s,
            end,
            kind: Kind::PrivateKey,
        });
        last_end = end;
    }
}

/// `scheme://user:password@host`: the password.
pub(super) fn find_url_passwords(bytes: &[u8], out: &mut Vec<Match>) {
    for s in lit_iter(bytes, b"://", 1) {
        let auth = s + 3;
        // The authority ends at the first of these.
        let rest = bytes.get(auth..).unwrap_or(&[]);
        let auth_len = rest
            .iter()
            .position(|&b| {
                matches!(
                    b,
                    b'/' | b'?'
                        | b'#'
                        | b' '
                        | b'\t'
                        | b'\r'
                        | b'\n'
                        | b'"'
                        | b'\''
                        | b'<'
                        | b'>'
                        | b'\\'
                )
            })
            .unwrap_or(rest.len());
        let authority = rest.get(..auth_len).unwrap_or(&[]);
        let Some(at_sign) = memchr::memrchr(b'@', authority) else {
            continue;
        };
        let userinfo = authority.get(..at_sign).unwrap_or(&[]);
        let Some(colon) = memchr::memchr(b':', userinfo) else {
            continue;
        };
        if colon + 1 < at_sign {
            out.push(Match {
                start: auth + colon + 1,
                end: auth + at_sign,
                kind: Kind::UrlPassword,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: fn(&[u8], &mut Vec<Match>), text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        f(text.as_bytes(), &mut out);
        out.iter().map(|m| (m.start, m.end)).collect()
    }

    fn whole(f: fn(&[u8], &mut Vec<Match>), key: &str) {
        let t = format!("key: {key}, next");
        assert_eq!(run(f, &t), vec![(5, 5 + key.len())], "{key}");
    }

    #[test]
    fn documented_key_shapes() {
        let a36 = "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8";
        assert_eq!(a36.len(), 36);
        for key in [
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc".to_string(),
            "sk_test_4eC39HqLyjWDarjtT1zdp7dc".to_string(),
            "rk_live_51H8aBcDeFgHiJkLmNoPqRsT".to_string(),
            "AKIAIOSFODNN7EXAMPLE".to_string(),
            "ASIAIOSFODNN7EXAMPLE".to_string(),
            format!("ghp_{a36}"),
            format!("gho_{a36}"),
            format!("ghu_{a36}"),
            format!("ghs_{a36}"),
            format!("ghr_{a36}"),
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123".to_string(),
            "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx".to_string(),
            "xoxp-123456789012-123456789012-123456789012-abcdef0123456789abcdef0123456789".to_string(),
            "xoxa-2-123456789012-abcdef".to_string(),
            "xoxr-123456789012-abcdef".to_string(),
            "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY".to_string(),
            "glpat-xxxxxxxxxxxxxxxxxxxx".to_string(),
            format!("npm_{a36}"),
            "dop_v1_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".to_string(),
            "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH".to_string(),
            "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789".to_string(),
            "shpat_0123456789abcdef0123456789abcdef".to_string(),
        ] {
            whole(find_api_keys, &key);
        }
        // Only the value after the parameter name / host path.
        let azure = "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;EndpointSuffix=core";
        let m = run(find_api_keys, azure);
        assert_eq!(m.len(), 1);
        assert!(azure[m[0].0..m[0].1].starts_with("Eby8"));
        assert!(azure[m[0].0..m[0].1].ends_with("GMGw=="));
        let hook = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX";
        let m = run(find_api_keys, hook);
        assert_eq!(m.len(), 1);
        assert_eq!(
            &hook[m[0].0..m[0].1],
            "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
        );
    }

    #[test]
    fn near_misses_are_not_keys() {
        for t in [
            "sk_live_short",
            "XAKIAIOSFODNN7EXAMPLE",
            "AKIAIOSFODNN7EXAMPLE1",
            "AKIAiosfodnn7example",
            "ghp_tooShort",
            "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBW",
            "skeleton_key_live",
            "xoxb-",
        ] {
            assert_eq!(run(find_api_keys, t), vec![], "{t}");
        }
    }

    #[test]
    fn private_keys() {
        let pem =
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----";
        let t = format!("key={pem} rest");
        assert_eq!(run(find_private_keys, &t), vec![(4, 4 + pem.len())]);
        let json_escaped = "\"-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----\"";
        assert_eq!(
            run(find_private_keys, json_escaped),
            vec![(1, json_escaped.len() - 1)]
        );
        let cut = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA";
        assert_eq!(run(find_private_keys, cut), vec![(0, cut.len())]);
        assert_eq!(
            run(
                find_private_keys,
                "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
            ),
            vec![]
        );
        assert_eq!(run(find_private_keys, "-----BEGIN PUBLIC KEY-----"), vec![]);
    }

    #[test]
    fn url_passwords() {
        let t = "dsn=postgres://app:s3cr%40t@db.internal:5432/prod";
        assert_eq!(run(find_url_passwords, t), vec![(19, 27)]);
        // An unencoded @ in the password: up to the last @ of the authority.
        let t = "redis://:p@ss@cache:6379";
        assert_eq!(run(find_url_passwords, t), vec![(9, 13)]);
        for not in [
            "https://example.com/a@b",
            "https://user@example.com/",
            "https://host:8080/x",
            "ftp://a:@h/",
        ] {
            assert_eq!(run(find_url_passwords, not), vec![], "{not}");
        }
    }
}
