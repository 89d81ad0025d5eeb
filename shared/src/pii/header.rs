//! Masking one header for the record. By name (case-insensitive):
//!
//! - in `headers.drop`: removed (`None`);
//! - `authorization`, `proxy-authorization`: the scheme word stays, the
//!   credential gets `headers.action` (`Bearer [REDACTED:bearer]`,
//!   `Basic [REDACTED:basic_auth]`, else `[REDACTED:credential]`); a value
//!   with no scheme is all credential;
//! - `cookie`: every cookie keeps its name and loses its value
//!   (`sid=[REDACTED:cookie]; theme=[REDACTED:cookie]`);
//! - `set-cookie`: the cookie's value is masked; the standard attributes
//!   (`Path`, `Domain`, `Expires`, `Max-Age`, `SameSite`, `Secure`,
//!   `HttpOnly`, `Partitioned`, `Priority`) are kept, any other attribute's
//!   value is masked;
//! - a sensitive name (`headers.sensitive`, by words: `x-api-key`,
//!   `x-auth-token`...): the whole value gets `headers.action`;
//! - a URL header (`:path`, `referer`, `location`...): [`Masker::mask_url`];
//! - anything else: the detectors (`x-forwarded-for: 203.0.113.7`).
//!
//! `drop` as `headers.action` removes the header. Values are bytes: one that
//! is not UTF-8 follows `non_utf8`; the size cap applies.

use super::limits;
use super::masker::Masker;

const SET_COOKIE_ATTRIBUTES: &[&str] = &[
    "path",
    "domain",
    "expires",
    "max-age",
    "samesite",
    "secure",
    "httponly",
    "partitioned",
    "priority",
];

impl Masker {
    /// The value to record for header `name`, or `None` to leave it out.
    pub fn mask_header(&self, name: &str, value: &[u8]) -> Option<String> {
        let lname = name.to_ascii_lowercase();
        if self.headers.drop.contains(&lname) {
            return None;
        }
        let Ok(text) = std::str::from_utf8(value) else {
            return match self.non_utf8 {
                limits::NonUtf8::Redact => Some(limits::NON_UTF8_MARK.to_string()),
                limits::NonUtf8::Lossy => {
                    self.mask_header(name, String::from_utf8_lossy(value).as_bytes())
                }
            };
        };
        if text.len() > self.max_value_bytes {
            // Never parse what is past the cap: the generic path cuts it.
            return Some(self.mask_text_in(text, &lname));
        }
        match lname.as_str() {
            "authorization" | "proxy-authorization" => self.mask_authorization(text),
            "cookie" => self.mask_cookie(text),
            "set-cookie" => self.mask_set_cookie(text),
            _ if self.headers.sensitive.matches(&lname) => {
                self.apply_whole(self.headers.action, "header", text)
            }
            _ if self.headers.url_headers.contains(&lname) => Some(self.mask_url(text)),
            _ if self.headers.scan_values => Some(self.mask_text_in(text, &lname)),
            _ => Some(text.to_string()),
        }
    }

    fn mask_authorization(&self, value: &str) -> Option<String> {
        let trimmed = value.trim_start();
        let (scheme, credential) = match trimmed.split_once([' ', '\t']) {
            Some((s, c)) if is_scheme(s) && !c.trim().is_empty() => (Some(s), c.trim()),
            _ => (None, trimmed),
        };
        let label = match scheme.map(str::to_ascii_lowercase).as_deref() {
            Some("bearer") => "bearer",
            Some("basic") => "basic_auth",
            _ => "credential",
        };
        let masked = self.apply_whole(self.headers.action, label, credential)?;
        Some(match scheme {
            Some(s) => format!("{s} {masked}"),
            None => masked,
        })
    }

    fn mask_cookie(&self, value: &str) -> Option<String> {
        let mut parts = Vec::new();
        for piece in value.split(';') {
            let piece = piece.trim();
            if piece.is_empty() {
                continue;
            }
            match piece.split_once('=') {
                Some((n, v)) => {
                    let name = self.mask_text(n.trim());
                    if let Some(m) = self.apply_whole(self.headers.action, "cookie", v) {
                        parts.push(format!("{name}={m}"));
                    }
                }
                // A bare value (no name): all of it is secret.
                None => {
                    if let Some(m) = self.apply_whole(self.headers.action, "cookie", piece) {
                        parts.push(m);
                    }
                }
            }
        }
        if parts.is_empty() && !value.trim().is_empty() {
            return None;
        }
        Some(parts.join("; "))
    }

    fn mask_set_cookie(&self, value: &str) -> Option<String> {
        let mut pieces = value.split(';');
        let first = pieces.next().unwrap_or("").trim();
        let mut out = match first.split_once('=') {
            Some((n, v)) => format!(
                "{}={}",
                self.mask_text(n.trim()),
                self.apply_whole(self.headers.action, "cookie", v)?
            ),
            None => self.apply_whole(self.headers.action, "cookie", first)?,
        };
        for attr in pieces {
            let attr = attr.trim();
            if attr.is_empty() {
                continue;
            }
            let (n, v) = match attr.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v)),
                None => (attr, None),
            };
            out.push_str("; ");
            let known = SET_COOKIE_ATTRIBUTES
                .iter()
                .any(|a| a.eq_ignore_ascii_case(n));
            match (known, v) {
                (true, Some(v)) => out.push_str(&format!("{n}={v}")),
                (true, None) => out.push_str(n),
                (false, Some(v)) => {
                    out.push_str(&self.mask_text(n));
                    out.push('=');
                    out.push_str(
                        &self
                            .apply_whole(self.headers.action, "cookie", v)
                            .unwrap_or_default(),
                    );
                }
                (false, None) => out.push_str(&self.mask_text(n)),
            }
        }
        Some(out)
    }
}

/// An auth-scheme token (RFC 9110 `token`), short.
fn is_scheme(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::super::PiiConfig;
    use super::*;

    fn masker(cfg: &str) -> Masker {
        PiiConfig::from_json(cfg.as_bytes()).unwrap()
    }

    fn h(m: &Masker, name: &str, value: &str) -> Option<String> {
        m.mask_header(name, value.as_bytes())
    }

    #[test]
    fn authorization_keeps_its_scheme() {
        let m = masker("{}");
        assert_eq!(
            h(&m, "Authorization", "Bearer eyJhbGciOi.x.y").as_deref(),
            Some("Bearer [REDACTED:bearer]")
        );
        assert_eq!(
            h(&m, "authorization", "Basic dXNlcjpwYXNz").as_deref(),
            Some("Basic [REDACTED:basic_auth]")
        );
        assert_eq!(
            h(
                &m,
                "Authorization",
                "Digest username=\"bob\", response=\"6629fae4\""
            )
            .as_deref(),
            Some("Digest [REDACTED:credential]")
        );
        assert_eq!(
            h(&m, "Proxy-Authorization", "tok3n").as_deref(),
            Some("[REDACTED:credential]")
        );
        assert_eq!(
            h(&m, "Authorization", "Bearer ").as_deref(),
            Some("[REDACTED:credential]")
        );
    }

    #[test]
    fn cookies_keep_names() {
        let m = masker("{}");
        assert_eq!(
            h(&m, "Cookie", "sid=abc123; theme=dark;;bare").as_deref(),
            Some("sid=[REDACTED:cookie]; theme=[REDACTED:cookie]; [REDACTED:cookie]")
        );
        assert_eq!(
            h(&m, "Set-Cookie", "sid=abc123; Path=/; Domain=example.com; HttpOnly; Secure; SameSite=Lax; Tracking=u-42").as_deref(),
            Some("sid=[REDACTED:cookie]; Path=/; Domain=example.com; HttpOnly; Secure; SameSite=Lax; Tracking=[REDACTED:cookie]")
        );
    }

    #[test]
    fn sensitive_url_and_other_headers() {
        let m = masker(r#"{"headers": {"drop": ["X-Debug"]}}"#);
        assert_eq!(
            h(&m, "X-API-Key", "k-123").as_deref(),
            Some("[REDACTED:header]")
        );
        assert_eq!(
            h(&m, "x-amz-security-token", "FQoG").as_deref(),
            Some("[REDACTED:header]")
        );
        assert_eq!(h(&m, "x-debug", "anything"), None);
        assert_eq!(
            h(&m, "Referer", "https://a.example/?token=t&q=1").as_deref(),
            Some("https://a.example/?token=[REDACTED:param]&q=1")
        );
        assert_eq!(
            h(&m, "X-Forwarded-For", "203.0.113.7, 10.0.0.1").as_deref(),
            Some("[REDACTED:ipv4], [REDACTED:ipv4]")
        );
        assert_eq!(
            h(&m, "content-type", "application/json").as_deref(),
            Some("application/json")
        );
        assert_eq!(
            m.mask_header("x-name", b"\xffbob@example.com").as_deref(),
            Some("[REDACTED:non_utf8]")
        );
    }

    #[test]
    fn drop_and_hash_actions() {
        let m = masker(r#"{"headers": {"action": "drop"}}"#);
        assert_eq!(h(&m, "Authorization", "Bearer abc"), None);
        assert_eq!(h(&m, "Cookie", "a=1"), None);
        let m =
            masker(r#"{"hash": {"key": "0123456789abcdef0123"}, "headers": {"action": "hash"}}"#);
        let a = h(&m, "Authorization", "Bearer abc").unwrap();
        assert!(a.starts_with("Bearer [HASH:bearer:"), "{a}");
        assert_eq!(Some(a), h(&m, "authorization", "Bearer abc"));
    }
}
