//! Masking query strings and URLs.
//!
//! `mask_query` takes `a=1&b=2` (no `?`). Each parameter whose decoded name
//! is sensitive (by words, see [`super::fields`]) gets `query.param_action`
//! on its value (`drop` removes the parameter). Every other value is
//! percent-decoded (`+` as space) and scanned by the detectors with the
//! parameter name as context; when something is found the masked value is
//! written back percent-encoded, otherwise the raw value is kept as it was.
//! A value that does not decode to UTF-8 follows `non_utf8`. Names are
//! scanned too.
//!
//! `mask_url` takes a path (`/a?b=c`) or an absolute URL: the part before
//! `?` and the fragment are scanned as text (URL userinfo passwords, emails
//! in paths), the query as above.

use super::masker::Masker;
use super::operator::hex_val;
use std::borrow::Cow;

impl Masker {
    /// Masks a query string (without the leading `?`).
    pub fn mask_query(&self, query: &str) -> String {
        let mut out = String::with_capacity(query.len());
        self.mask_query_into(query, &mut out);
        out
    }

    /// [`Masker::mask_query`], appended to `out` (no string per parameter).
    fn mask_query_into(&self, query: &str, out: &mut String) {
        let mut first = true;
        for pair in query.split('&') {
            let mark = out.len();
            if !first {
                out.push('&');
            }
            if self.mask_pair_into(pair, out) {
                first = false;
            } else {
                out.truncate(mark);
            }
        }
    }

    /// Masks a path with its query, or an absolute URL.
    pub fn mask_url(&self, url: &str) -> String {
        let (before_frag, frag) = match url.split_once('#') {
            Some((a, f)) => (a, Some(f)),
            None => (url, None),
        };
        let mut out = String::with_capacity(url.len() + 32);
        match before_frag.split_once('?') {
            Some((path, q)) => {
                out.push_str(&self.mask_cow(path, ""));
                out.push('?');
                self.mask_query_into(q, &mut out);
            }
            None => out.push_str(&self.mask_cow(before_frag, "")),
        }
        if let Some(f) = frag {
            out.push('#');
            out.push_str(&self.mask_cow(f, ""));
        }
        out
    }

    /// One `name=value` pair, appended to `out`; false: it is dropped (and
    /// whatever was appended is to be cut by the caller).
    fn mask_pair_into(&self, pair: &str, out: &mut String) -> bool {
        let (raw_name, raw_value) = match pair.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (pair, None),
        };
        // Most names and values need no decoding: borrow them.
        let name: Cow<'_, str> = if needs_decoding(raw_name) {
            Cow::Owned(decode(raw_name).unwrap_or_default())
        } else {
            Cow::Borrowed(raw_name)
        };
        out.push_str(&self.mask_cow(raw_name, ""));
        let Some(raw_value) = raw_value else {
            return true;
        };
        if self.query.params.matches(&name) {
            let value = decode(raw_value).unwrap_or_else(|| raw_value.to_string());
            let Some(masked) = self.apply_whole(self.query.action, "param", &value) else {
                return false;
            };
            out.push('=');
            encode_into(&masked, out);
            return true;
        }
        out.push('=');
        if !self.query.scan_values {
            out.push_str(raw_value);
            return true;
        }
        if !needs_decoding(raw_value) {
            // Plain ASCII-safe value: scan it in place.
            match self.mask_cow(raw_value, &name) {
                Cow::Borrowed(_) => out.push_str(raw_value),
                Cow::Owned(masked) => encode_into(&masked, out),
            }
            return true;
        }
        let bytes = decode_bytes(raw_value);
        let masked = self.mask_bytes_in(&bytes, &name);
        if std::str::from_utf8(&bytes).is_ok_and(|v| v == masked) {
            out.push_str(raw_value);
        } else {
            encode_into(&masked, out);
        }
        true
    }
}

/// Whether percent-decoding (`%XX`, `+`) would change `s`.
fn needs_decoding(s: &str) -> bool {
    s.bytes().any(|b| b == b'%' || b == b'+')
}

/// Percent-decoding with `+` as space; `None` when the bytes are not UTF-8.
fn decode(s: &str) -> Option<String> {
    String::from_utf8(decode_bytes(s)).ok()
}

fn decode_bytes(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'+' => out.push(b' '),
            b'%' => match (
                b.get(i + 1).and_then(|&x| hex_val(x)),
                b.get(i + 2).and_then(|&x| hex_val(x)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

/// Percent-encodes what would break a query (`&`, `=`, `#`, `%`, `+`,
/// spaces, controls, non-ASCII); masks stay readable (`[REDACTED:email]`).
fn encode_into(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'['
                    | b']'
                    | b':'
                    | b'*'
                    | b'@'
                    | b'!'
                    | b'$'
                    | b'\''
                    | b'('
                    | b')'
                    | b','
                    | b';'
                    | b'/'
                    | b'?'
            )
        {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::PiiConfig;
    use super::*;

    fn masker(cfg: &str) -> Masker {
        PiiConfig::from_json(cfg.as_bytes()).unwrap()
    }

    #[test]
    fn sensitive_names_and_detected_values() {
        let m = masker("{}");
        assert_eq!(
            m.mask_query("access_token=abc&page=2&email=bob%40example.com&q=hello+world"),
            "access_token=[REDACTED:param]&page=2&email=[REDACTED:email]&q=hello+world"
        );
        assert_eq!(
            m.mask_query("apiKey=k1&SIG=x&code=c0de"),
            "apiKey=[REDACTED:param]&SIG=[REDACTED:param]&code=[REDACTED:param]"
        );
        // A phone number spread by encoding, and a bare one named by its parameter.
        assert_eq!(
            m.mask_query("to=%2B1%20415%20555%200132"),
            "to=[REDACTED:phone]"
        );
        assert_eq!(m.mask_query("mobile=4155550132"), "mobile=[REDACTED:phone]");
        assert_eq!(
            m.mask_query("note=mail+bob%40example.com+now"),
            "note=mail%20[REDACTED:email]%20now"
        );
        // Flags and empty values survive.
        assert_eq!(m.mask_query("debug&x=&y=1"), "debug&x=&y=1");
    }

    #[test]
    fn drop_hash_and_non_utf8() {
        let m = masker(
            r#"{"hash": {"key": "0123456789abcdef0123"}, "query": {"param_action": "drop", "extra_params": ["ticket"]}}"#,
        );
        assert_eq!(m.mask_query("a=1&password=x&ticket=t&b=2"), "a=1&b=2");
        let m = masker(
            r#"{"hash": {"key": "0123456789abcdef0123"}, "query": {"param_action": "hash"}}"#,
        );
        let a = m.mask_query("token=abc");
        assert_eq!(a, m.mask_query("token=abc"));
        assert!(a.starts_with("token=[HASH:param:"), "{a}");
        let m = masker("{}");
        assert_eq!(m.mask_query("x=%ff%fe"), "x=[REDACTED:non_utf8]");
    }

    #[test]
    fn urls() {
        let m = masker("{}");
        assert_eq!(
            m.mask_url("/users/bob@example.com/orders?token=t&n=1#frag"),
            "/users/[REDACTED:email]/orders?token=[REDACTED:param]&n=1#frag"
        );
        assert_eq!(
            m.mask_url("https://app:s3cret@db.example.com/x?ip=10.1.2.3"),
            "https://app:[REDACTED:url_password]@db.example.com/x?ip=[REDACTED:ipv4]"
        );
        assert_eq!(m.mask_url("/plain/path"), "/plain/path");
    }

    #[test]
    fn emails_percent_encoded_twice_or_more() {
        let m = masker("{}");
        for (url, want) in [
            ("/l?email=dana%2540example.com", "/l?email=[REDACTED:email]"),
            (
                "/l?e=DANA%25252540EXAMPLE.COM&n=1",
                "/l?e=[REDACTED:email]&n=1",
            ),
            (
                "/l?next=%2Fusers%3Fe%3Ddana%2540example.com",
                "/l?next=/users?e%3D[REDACTED:email]",
            ),
            ("/l/dana%2540example.com/x", "/l/[REDACTED:email]/x"),
        ] {
            assert_eq!(m.mask_url(url), want, "{url}");
        }
    }

    #[test]
    fn decoding_and_encoding() {
        assert_eq!(decode("a+b%20c%2"), Some("a b c%2".to_string()));
        assert_eq!(decode("%ff"), None);
        let mut out = String::new();
        encode_into("a b&c=d#é", &mut out);
        assert_eq!(out, "a%20b%26c%3Dd%23%C3%A9");
    }
}
