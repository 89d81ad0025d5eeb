//! Matching field, parameter and header names against a list of sensitive
//! names, case-insensitively and by words.
//!
//! A name is split into lower-case words at `_`, `-`, `.`, spaces and
//! camelCase boundaries (`accessToken` -> `access token`, `X-API-Key` ->
//! `x api key`, `APIKey` -> `api key`). A list entry matches when its words
//! appear consecutively in the name's words, so `password` matches
//! `user_password` and `passwordHash`, `api_key` matches `x-api-key` and
//! `apiKey`, while `card` does not match `discard` and `ssn` does not match
//! `classname` (plain substring matching would).

use std::collections::BTreeSet;

/// Built-in sensitive JSON field names (`json.fields` replaces them,
/// `json.extra_fields` adds to them).
pub const DEFAULT_FIELDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
    "authorization",
    "auth",
    "credential",
    "credentials",
    "cookie",
    "session",
    "card",
    "card_number",
    "cvv",
    "cvc",
    "ssn",
    "pin",
    "otp",
    "iban",
];

/// Built-in sensitive query parameter names: the field names plus what URLs
/// carry (OAuth `code`, signatures, `key`).
pub const DEFAULT_PARAMS: &[&str] = &["code", "sig", "signature", "key", "jwt"];

/// Built-in headers whose whole value is masked, by words (besides
/// `Authorization`, `Proxy-Authorization`, `Cookie` and `Set-Cookie`,
/// handled by shape): `x-api-key`, `x-auth-token`, `x-amz-security-token`,
/// `x-csrf-token`, `x-session-id`...
pub const DEFAULT_HEADERS: &[&str] = &[
    "api_key",
    "apikey",
    "token",
    "secret",
    "password",
    "passwd",
    "session",
    "credential",
    "credentials",
    "auth",
    "signature",
    "private_key",
    "csrf",
    "xsrf",
];

#[derive(Debug, Clone, Default)]
pub(super) struct NameList {
    /// One-word entries (most of them): a set lookup per word of the name.
    single: BTreeSet<String>,
    /// Entries of several words, matched as consecutive words.
    multi: Vec<Vec<String>>,
}

impl NameList {
    pub(super) fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> NameList {
        let mut list = NameList::default();
        for name in names {
            let words: Vec<String> = spaced(name)
                .split_whitespace()
                .map(str::to_string)
                .collect();
            match words.len() {
                0 => {}
                1 => {
                    list.single.extend(words);
                }
                _ => {
                    if !list.multi.contains(&words) {
                        list.multi.push(words);
                    }
                }
            }
        }
        list
    }

    pub(super) fn matches(&self, name: &str) -> bool {
        if self.single.is_empty() && self.multi.is_empty() {
            return false;
        }
        // One lower-case word (`email`, `q`): a set lookup, no splitting.
        // (Multi-word entries cannot match a single word.)
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase()) {
            return self.single.contains(name);
        }
        let s = spaced(name);
        let words: Vec<&str> = s.split_whitespace().collect();
        words.iter().any(|w| self.single.contains(*w))
            || self.multi.iter().any(|e| {
                words
                    .windows(e.len())
                    .any(|win| win.iter().zip(e).all(|(a, b)| *a == b.as_str()))
            })
    }
}

/// The lower-case words of a name, each followed by a space, the whole
/// preceded by one: `accessToken` -> ` access token `.
fn spaced(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push(' ');
    let mut chars = name.chars().peekable();
    let mut prev: Option<char> = None;
    while let Some(c) = chars.next() {
        if !c.is_alphanumeric() {
            if !out.ends_with(' ') {
                out.push(' ');
            }
            prev = None;
            continue;
        }
        let next = chars.peek().copied();
        let camel = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase() || (p.is_uppercase() && next.is_some_and(char::is_lowercase))
            });
        // `password2` -> `password 2`, `2fa` -> `2 fa`.
        let digit_edge = prev.is_some_and(|p| p.is_ascii_digit() != c.is_ascii_digit());
        if (camel || digit_edge) && !out.ends_with(' ') {
            out.push(' ');
        }
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            out.extend(c.to_lowercase());
        }
        prev = Some(c);
    }
    if !out.ends_with(' ') {
        out.push(' ');
    }
    out
}

/// The lower-case words of a name.
#[cfg(test)]
fn words(name: &str) -> Vec<String> {
    spaced(name)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_on_separators_and_camel_case() {
        assert_eq!(words("accessToken"), ["access", "token"]);
        assert_eq!(words("X-API-Key"), ["x", "api", "key"]);
        assert_eq!(words("APIKey"), ["api", "key"]);
        assert_eq!(words("user_password2"), ["user", "password", "2"]);
        assert_eq!(words("card.number"), ["card", "number"]);
        assert_eq!(words("SSN"), ["ssn"]);
        assert_eq!(words("__"), Vec::<String>::new());
    }

    #[test]
    fn matching_is_by_words() {
        let l = NameList::new(DEFAULT_FIELDS.iter().copied());
        for yes in [
            "password",
            "PASSWORD",
            "user_password",
            "password2",
            "passwordHash",
            "x-api-key",
            "apiKey",
            "api_key",
            "refresh_token",
            "creditCard",
            "card_number",
            "customerSSN",
            "Set-Cookie",
            "client_secret",
        ] {
            assert!(l.matches(yes), "{yes}");
        }
        for no in [
            "discard",
            "classname",
            "username",
            "email",
            "keyboard",
            "spinning",
            "shipping",
            "description",
        ] {
            assert!(!l.matches(no), "{no}");
        }
    }
}
