//! Masking operators: what replaces a detected value or a sensitive field.
//!
//! | action | output for `bob@example.com` (kind `email`) |
//! |---|---|
//! | `"redact"` (default) | `[REDACTED:email]` |
//! | `{"partial": {"keep_last": 4}}` | `***********.com` |
//! | `"hash"` | `[HASH:email:1f0c5e2a9b3d4c6e]` |
//! | `"drop"` | (nothing: the value, or the whole field/parameter/header, goes) |
//!
//! `partial` replaces every character but the last `keep_last` with `*`,
//! keeping the length; it never reveals more than half of the characters
//! (a 6-character value keeps at most 3).
//!
//! `hash` is HMAC-SHA256 under the configured `hash.key`, written as the
//! first `hash.hex_len` (default 16, i.e. 64 bits) lower-case hex digits: the
//! same value always gives the same pseudonym, so records can be correlated
//! without revealing the value, and nobody without the key can test guesses.
//! The MAC input is the value in a canonical form, so that one value written
//! two ways still correlates: card, IBAN, SSN and phone numbers keep only
//! their letters and digits (IBAN upper-cased); emails are percent-decoded
//! and lower-cased; everything else is hashed as it is.

use super::Kind;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// What to do with a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    #[default]
    Redact,
    Partial {
        #[serde(default = "default_keep_last")]
        keep_last: usize,
    },
    Hash,
    Drop,
}

fn default_keep_last() -> usize {
    4
}

/// Largest `keep_last` accepted by the configuration.
pub const MAX_KEEP_LAST: usize = 64;

/// The keyed hash, prepared once at configure time.
#[derive(Clone)]
pub(super) struct Hasher {
    mac: Option<Hmac<Sha256>>,
    hex_len: usize,
}

impl Hasher {
    pub(super) fn new(key: Option<&[u8]>, hex_len: usize) -> Hasher {
        let mac = key.and_then(|k| <Hmac<Sha256> as KeyInit>::new_from_slice(k).ok());
        Hasher {
            mac,
            hex_len: hex_len.clamp(2, 64),
        }
    }

    pub(super) fn has_key(&self) -> bool {
        self.mac.is_some()
    }

    fn hex(&self, input: &[u8]) -> Option<String> {
        let mut mac = self.mac.clone()?;
        mac.update(input);
        let digest = mac.finalize().into_bytes();
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(self.hex_len);
        for b in digest.iter() {
            for nibble in [b >> 4, b & 0x0f] {
                if s.len() < self.hex_len {
                    s.push(char::from(HEX[usize::from(nibble)]));
                }
            }
        }
        Some(s)
    }
}

/// The replacement for `value` (`label` names it in the output; `kind`, when
/// a detector found it, selects the canonical form hashed).
pub(super) fn apply(
    action: Action,
    label: &str,
    kind: Option<Kind>,
    value: &str,
    hasher: &Hasher,
) -> String {
    match action {
        Action::Redact => redacted(label),
        Action::Drop => String::new(),
        Action::Partial { keep_last } => partial(value, keep_last),
        Action::Hash => match hasher.hex(canonical(kind, value).as_bytes()) {
            Some(hex) => format!("[HASH:{label}:{hex}]"),
            // compile() refuses `hash` without a key; if it ever happens, hide.
            None => redacted(label),
        },
    }
}

pub(super) fn redacted(label: &str) -> String {
    format!("[REDACTED:{label}]")
}

fn partial(value: &str, keep_last: usize) -> String {
    let n = value.chars().count();
    let keep = keep_last.min(n / 2);
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        if i + keep < n {
            out.push('*');
        } else {
            out.push(c);
        }
    }
    out
}

fn canonical(kind: Option<Kind>, value: &str) -> String {
    match kind {
        Some(Kind::Card | Kind::Ssn | Kind::Phone) => {
            value.chars().filter(char::is_ascii_alphanumeric).collect()
        }
        Some(Kind::Iban) => value
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect(),
        Some(Kind::Email) => percent_decode_lossy(value).to_ascii_lowercase(),
        _ => value.to_string(),
    }
}

/// `%XX` sequences decoded; invalid ones left as they are.
pub(super) fn percent_decode_lossy(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            if let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|&x| hex_val(x)),
                b.get(i + 2).and_then(|&x| hex_val(x)),
            ) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> Hasher {
        Hasher::new(Some(b"0123456789abcdef0123456789abcdef"), 16)
    }

    #[test]
    fn redact_and_drop() {
        let h = hasher();
        assert_eq!(
            apply(Action::Redact, "email", Some(Kind::Email), "bob@x.com", &h),
            "[REDACTED:email]"
        );
        assert_eq!(
            apply(Action::Drop, "email", Some(Kind::Email), "bob@x.com", &h),
            ""
        );
    }

    #[test]
    fn partial_keeps_the_tail_and_never_more_than_half() {
        let h = hasher();
        let p = |v: &str, n| {
            apply(
                Action::Partial { keep_last: n },
                "card",
                Some(Kind::Card),
                v,
                &h,
            )
        };
        assert_eq!(p("4111111111111234", 4), "************1234");
        assert_eq!(p("4111-1111-1111-1234", 4), "***************1234");
        assert_eq!(p("123456", 4), "***456");
        assert_eq!(p("ab", 4), "*b");
        assert_eq!(p("a", 4), "*");
        assert_eq!(p("", 4), "");
        assert_eq!(p("ünïcødé", 2), "*****dé");
        assert_eq!(p("secret", 0), "******");
    }

    #[test]
    fn keyed_hash_is_stable_canonical_and_keyed() {
        let h = hasher();
        let hash = |k, v: &str| apply(Action::Hash, "x", Some(k), v, &h);
        let a = hash(Kind::Email, "Bob@Example.com");
        assert!(a.starts_with("[HASH:x:") && a.ends_with(']'), "{a}");
        assert_eq!(a.len(), "[HASH:x:]".len() + 16);
        assert_eq!(a, hash(Kind::Email, "bob@example.com"));
        assert_eq!(a, hash(Kind::Email, "bob%40example.com"));
        assert_ne!(a, hash(Kind::Email, "alice@example.com"));
        assert_eq!(
            hash(Kind::Card, "4111 1111 1111 1111"),
            hash(Kind::Card, "4111-1111-1111-1111")
        );
        assert_eq!(
            hash(Kind::Iban, "de89 3704 0044 0532 0130 00"),
            hash(Kind::Iban, "DE89370400440532013000")
        );
        // Another key, another pseudonym.
        let other = Hasher::new(Some(b"another key, at least 16 bytes"), 16);
        assert_ne!(
            a,
            apply(
                Action::Hash,
                "x",
                Some(Kind::Email),
                "bob@example.com",
                &other
            )
        );
        // Known answer: HMAC-SHA256(key, "bob@example.com"), first 16 hex digits.
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(b"0123456789abcdef0123456789abcdef").unwrap();
        mac.update(b"bob@example.com");
        let full: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(a, format!("[HASH:x:{}]", &full[..16]));
        // Longer digests on request.
        let long = Hasher::new(Some(b"0123456789abcdef0123456789abcdef"), 64);
        assert_eq!(
            apply(
                Action::Hash,
                "x",
                Some(Kind::Email),
                "bob@example.com",
                &long
            ),
            format!("[HASH:x:{full}]")
        );
    }

    #[test]
    fn hash_without_a_key_still_hides() {
        let none = Hasher::new(None, 16);
        assert_eq!(
            apply(Action::Hash, "email", None, "bob@x.com", &none),
            "[REDACTED:email]"
        );
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode_lossy("a%40b%2Bc%zz%4"), "a@b+c%zz%4");
    }
}
