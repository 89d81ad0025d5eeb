//! Bearer-style credentials: JWTs (JWS and JWE compact forms) anywhere, and
//! the credential after a `Bearer` or `Basic` scheme word in free text.
//!
//! - JWT: a header part starting `eyJ` (base64url of `{"`), at least 10
//!   characters, then `.payload` (2 or more) and `.signature` (possibly empty:
//!   an unsecured `alg: none` token ends with a dot); a JWE's two further
//!   parts are included. Not glued to base64url characters on the left.
//! - `Bearer <token68>` (also `Bearer%20...` and `Bearer+...` in URLs): the
//!   match is the token only, so the scheme word stays readable. Not a
//!   credential: an auth-param (`Bearer realm="api"`, as in
//!   `WWW-Authenticate`) and a short all-lowercase word (`invalid Bearer
//!   token` in an error message).
//! - `Basic <base64>` whose decoded bytes contain `:` (user:password).

use super::scan::{at, before, find_ci_iter, lit_iter, starts_with};
use super::{Kind, Match};
use base64::engine::general_purpose::GeneralPurpose;
use base64::engine::{DecodePaddingMode, GeneralPurposeConfig};
use base64::Engine;

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn is_token68(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'%')
}

fn b64url_end(bytes: &[u8], p: usize) -> usize {
    let mut j = p;
    while at(bytes, j).is_some_and(is_b64url) {
        j += 1;
    }
    j
}

pub(super) fn find_jwt(bytes: &[u8], out: &mut Vec<Match>) {
    let mut last_end = 0;
    for s in lit_iter(bytes, b"eyJ", 2) {
        if s < last_end || before(bytes, s).is_some_and(is_b64url) {
            continue;
        }
        if let Some(end) = jwt_end(bytes, s) {
            out.push(Match {
                start: s,
                end,
                kind: Kind::Jwt,
            });
            last_end = end;
        }
    }
}

fn jwt_end(bytes: &[u8], s: usize) -> Option<usize> {
    let h = b64url_end(bytes, s);
    if h - s < 10 || at(bytes, h) != Some(b'.') {
        return None;
    }
    let p = b64url_end(bytes, h + 1);
    if p - (h + 1) < 2 || at(bytes, p) != Some(b'.') {
        return None;
    }
    let mut end = b64url_end(bytes, p + 1);
    // JWE: five parts; only take the extra two when both are there.
    if at(bytes, end) == Some(b'.') {
        let e4 = b64url_end(bytes, end + 1);
        if at(bytes, e4) == Some(b'.') {
            let e5 = b64url_end(bytes, e4 + 1);
            if e5 > e4 + 1 {
                end = e5;
            }
        }
    }
    Some(end)
}

/// After a scheme word at `after`: skip the separator (spaces, tabs, `%20`,
/// one `+`); the token's start, if there is a separator.
fn skip_separator(bytes: &[u8], after: usize) -> Option<usize> {
    let mut p = after;
    loop {
        match at(bytes, p) {
            Some(b' ' | b'\t') => p += 1,
            Some(b'%') if starts_with(bytes, p, b"%20") => p += 3,
            Some(b'+') if p == after => p += 1,
            _ => break,
        }
    }
    (p > after).then_some(p)
}

pub(super) fn find_bearer(bytes: &[u8], out: &mut Vec<Match>) {
    for s in find_ci_iter(bytes, b"bearer") {
        if before(bytes, s).is_some_and(|b| b.is_ascii_alphanumeric()) {
            continue;
        }
        let Some(t) = skip_separator(bytes, s + 6) else {
            continue;
        };
        let mut e = t;
        while at(bytes, e).is_some_and(is_token68) {
            e += 1;
        }
        while at(bytes, e) == Some(b'=') {
            e += 1;
        }
        if e == t {
            continue;
        }
        let token = bytes.get(t..e).unwrap_or(&[]);
        let auth_param = token.last() == Some(&b'=') && at(bytes, e) == Some(b'"');
        let word = token.len() <= 10 && token.iter().all(|b| b.is_ascii_lowercase());
        if !auth_param && !word {
            out.push(Match {
                start: t,
                end: e,
                kind: Kind::Bearer,
            });
        }
    }
}

const BASE64_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Credentials longer than this are not decoded to be checked (they are far
/// past any user:password pair).
const MAX_BASIC: usize = 4096;

pub(super) fn find_basic(bytes: &[u8], out: &mut Vec<Match>) {
    for s in find_ci_iter(bytes, b"basic") {
        if before(bytes, s).is_some_and(|b| b.is_ascii_alphanumeric()) {
            continue;
        }
        let Some(t) = skip_separator(bytes, s + 5) else {
            continue;
        };
        let mut e = t;
        while at(bytes, e).is_some_and(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/') {
            e += 1;
        }
        while at(bytes, e) == Some(b'=') {
            e += 1;
        }
        let token = bytes.get(t..e).unwrap_or(&[]);
        if token.len() < 4
            || token.len() > MAX_BASIC
            || at(bytes, e).is_some_and(|b| b.is_ascii_alphanumeric())
        {
            continue;
        }
        if BASE64_ANY_PADDING
            .decode(token)
            .is_ok_and(|d| d.contains(&b':'))
        {
            out.push(Match {
                start: t,
                end: e,
                kind: Kind::BasicAuth,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

    fn run(f: fn(&[u8], &mut Vec<Match>), text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        f(text.as_bytes(), &mut out);
        out.iter().map(|m| (m.start, m.end)).collect()
    }

    #[test]
    fn jwts() {
        assert_eq!(run(find_jwt, JWT), vec![(0, JWT.len())]);
        let t = format!("token={JWT}&x=1");
        assert_eq!(run(find_jwt, &t), vec![(6, 6 + JWT.len())]);
        // Unsecured token: empty signature, trailing dot included.
        let none = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.";
        assert_eq!(run(find_jwt, none), vec![(0, none.len())]);
        // JWE compact form: five parts.
        let jwe = "eyJhbGciOiJSU0EtT0FFUCJ9.OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZKTyKOMTYUmKoTCVJRgckCL9kiMT03JGe.48V1_ALb6US04U3b.5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6ji.XFBoMYUZodetZdvTiFvSkQ";
        assert_eq!(run(find_jwt, jwe), vec![(0, jwe.len())]);
        for not in [
            "eyJhbGciOi",
            "xeyJhbGciOiJIUzI1NiJ9.eyJzdWIi.sig",
            "eyJhbGciOiJIUzI1NiJ9.e",
            "eyJ.eyJ.x",
        ] {
            assert_eq!(run(find_jwt, not), vec![], "{not}");
        }
    }

    #[test]
    fn bearer_credentials() {
        assert_eq!(
            run(find_bearer, "Authorization: Bearer abc123.def"),
            vec![(22, 32)]
        );
        assert_eq!(
            run(find_bearer, "\"authorization\":\"bearer mF_9.B5f-4.1JqM\""),
            vec![(24, 39)]
        );
        assert_eq!(
            run(find_bearer, "?auth=Bearer%20tok3n_value"),
            vec![(15, 26)]
        );
        assert_eq!(run(find_bearer, "Bearer dG9rZW4=="), vec![(7, 16)]);
        for not in [
            "WWW-Authenticate: Bearer realm=\"api\", error=\"invalid_token\"",
            "missing Bearer token",
            "Bearer",
            "Bearer: abc123",
            "xbearer abc123",
        ] {
            assert_eq!(run(find_bearer, not), vec![], "{not}");
        }
    }

    #[test]
    fn basic_credentials() {
        // "aladdin:opensesame"
        assert_eq!(
            run(find_basic, "Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l"),
            vec![(21, 45)]
        );
        assert_eq!(run(find_basic, "basic dXNlcjpwYXNz"), vec![(6, 18)]);
        for not in ["basic auth is weak", "Basic dGVzdA==", "basic"] {
            assert_eq!(run(find_basic, not), vec![], "{not}");
        }
    }
}
