//! The canonical-path policy every filter applies before matching a rule.
//!
//! A filter must decide on the path that Envoy's router and the upstream
//! act on. Servers disagree on what `/a/../b`, `/a%2Fb`, `/a\b`, `/a;x/b`
//! or `/%61` mean (Tomcat strips `;` parameters and resolves `..;`, IIS turns
//! `\` into `/`, some servers decode `%2F`, Envoy by default routes on the
//! raw string), so a rule matched on any rewriting of such a path can be
//! bypassed. edgeward never rewrites: a path that is not already canonical is
//! refused (`400 non_canonical_path`).
//!
//! Canonical here means: starts with `/`; every byte is an RFC 3986 `pchar`
//! or `/`; no `.` or `..` segment and no segment ending in `.`; no empty
//! segment except a trailing one (`/a/` is allowed, `//` is not); no `;`; no
//! `\`; percent-escapes are well formed, never encode an unreserved
//! character (`%61`), `/` (`%2F`), `\` (`%5C`) or a control byte, and decode
//! to UTF-8; no fragment. Three of these may be relaxed by configuration
//! (`path_policy.allow`), each in a way every common server reads alike:
//! encoded unreserved characters (decoded before matching), `//` (merged
//! before matching, as Envoy's `merge_slashes` does) and `;` parameters
//! (stripped before matching, as servlet containers do; `..;` stays refused).

use serde::Deserialize;
use std::fmt;

/// Why a path is not canonical (logged; the client sees one reason code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathViolation {
    NotAbsolute,
    DotSegment,
    EmptySegment,
    EncodedSlash,
    Backslash,
    Semicolon,
    EncodedUnreserved,
    BadEscape,
    ControlOrNonAscii,
    Fragment,
    ReservedCharacter,
}

impl fmt::Display for PathViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathViolation::NotAbsolute => "does not start with '/'",
            PathViolation::DotSegment => "has a '.' or '..' segment (or one ending in '.')",
            PathViolation::EmptySegment => "has an empty segment ('//')",
            PathViolation::EncodedSlash => "has an encoded '/' (%2F)",
            PathViolation::Backslash => "has a '\\' (raw or %5C)",
            PathViolation::Semicolon => "has ';' path parameters",
            PathViolation::EncodedUnreserved => "percent-encodes an unreserved character",
            PathViolation::BadEscape => "has a malformed percent-escape or non-UTF-8 escapes",
            PathViolation::ControlOrNonAscii => "has control bytes or raw non-ASCII bytes",
            PathViolation::Fragment => "has a fragment ('#')",
            PathViolation::ReservedCharacter => "has a character not allowed in a path",
        })
    }
}

/// What the configuration may relax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relaxation {
    EncodedUnreserved,
    DoubleSlash,
    Semicolon,
}

/// `path_policy` in every filter's configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPathPolicy {
    #[serde(default)]
    pub allow: Vec<Relaxation>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathPolicy {
    pub allow_encoded_unreserved: bool,
    pub allow_double_slash: bool,
    pub allow_semicolon: bool,
}

impl PathPolicy {
    /// The strict default.
    pub const STRICT: PathPolicy = PathPolicy {
        allow_encoded_unreserved: false,
        allow_double_slash: false,
        allow_semicolon: false,
    };

    pub fn compile(raw: Option<RawPathPolicy>) -> PathPolicy {
        let mut p = PathPolicy::STRICT;
        for r in raw.map(|r| r.allow).unwrap_or_default() {
            match r {
                Relaxation::EncodedUnreserved => p.allow_encoded_unreserved = true,
                Relaxation::DoubleSlash => p.allow_double_slash = true,
                Relaxation::Semicolon => p.allow_semicolon = true,
            }
        }
        p
    }

    /// Checks `:path` (query included, which is not examined) and returns
    /// the path rules are matched against.
    pub fn check(&self, raw: &str) -> Result<CanonicalPath, PathViolation> {
        let path = match raw.find('?') {
            Some(i) => raw.get(..i).unwrap_or(raw),
            None => raw,
        };
        if path.contains('#') {
            return Err(PathViolation::Fragment);
        }
        let rest = path.strip_prefix('/').ok_or(PathViolation::NotAbsolute)?;
        // The decoded path is written into one buffer, each segment after
        // its `/`, with its range beside it: two allocations per request
        // whatever the number of segments (every filter checks every path).
        let mut text = Vec::with_capacity(path.len());
        let mut spans = Vec::with_capacity(rest.bytes().filter(|&b| b == b'/').count() + 1);
        let mut parts = rest.split('/').peekable();
        while let Some(part) = parts.next() {
            let is_last = parts.peek().is_none();
            let (name, has_params) = match part.find(';') {
                Some(at) if self.allow_semicolon => (part.get(..at).unwrap_or(part), true),
                Some(_) => return Err(PathViolation::Semicolon),
                None => (part, false),
            };
            let slash = text.len();
            text.push(b'/');
            self.decode_segment_into(name, &mut text)?;
            let decoded = text.get(slash + 1..).unwrap_or_default();
            if decoded.is_empty() {
                // `/a/` (trailing) is a path of its own; `//`, `/;x/` are not.
                if is_last && !has_params {
                    spans.push(span(slash + 1, text.len()));
                    continue;
                }
                if self.allow_double_slash && !has_params {
                    text.truncate(slash);
                    continue;
                }
                return Err(PathViolation::EmptySegment);
            }
            if decoded == b"." || decoded == b".." || decoded.ends_with(b".") {
                return Err(PathViolation::DotSegment);
            }
            spans.push(span(slash + 1, text.len()));
        }
        if spans.is_empty() {
            // "//" merged away entirely: the root.
            text.push(b'/');
            spans.push(span(1, 1));
        }
        // A multi-byte character cannot span a `/` (not a continuation
        // byte): the whole decodes exactly when every segment does.
        let text = String::from_utf8(text).map_err(|_| PathViolation::BadEscape)?;
        Ok(CanonicalPath { text, spans })
    }

    /// Appends one segment (no `/`, no `;`), percent-decoded, to `out`, or
    /// says why it is not canonical. UTF-8 is checked by the caller.
    fn decode_segment_into(&self, seg: &str, out: &mut Vec<u8>) -> Result<(), PathViolation> {
        let bytes = seg.as_bytes();
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            match b {
                b'%' => {
                    let hi = bytes.get(i + 1).and_then(|c| hex(*c));
                    let lo = bytes.get(i + 2).and_then(|c| hex(*c));
                    let (Some(hi), Some(lo)) = (hi, lo) else {
                        return Err(PathViolation::BadEscape);
                    };
                    let v = (hi << 4) | lo;
                    match v {
                        b'/' => return Err(PathViolation::EncodedSlash),
                        b'\\' => return Err(PathViolation::Backslash),
                        0..=0x1f | 0x7f => return Err(PathViolation::ControlOrNonAscii),
                        _ if is_unreserved(v) && !self.allow_encoded_unreserved => {
                            return Err(PathViolation::EncodedUnreserved)
                        }
                        _ => out.push(v),
                    }
                    i += 3;
                    continue;
                }
                b'\\' => return Err(PathViolation::Backslash),
                0..=0x20 | 0x7f..=0xff => return Err(PathViolation::ControlOrNonAscii),
                _ if is_pchar(b) => out.push(b),
                _ => return Err(PathViolation::ReservedCharacter),
            }
            i += 1;
        }
        Ok(())
    }
}

/// A byte range of a path (paths fit in u32: Envoy caps headers far below).
fn span(start: usize, end: usize) -> (u32, u32) {
    (
        u32::try_from(start).unwrap_or(u32::MAX),
        u32::try_from(end).unwrap_or(u32::MAX),
    )
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 `pchar` minus `%` (escapes are handled apart) and minus `;`
/// (handled by the semicolon rule before this is called).
fn is_pchar(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'=' | b':' | b'@'
        )
}

/// A path in canonical form: the decoded path (`/` + segments joined by
/// `/`) and where each segment lies in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalPath {
    text: String,
    /// Byte range of each segment in `text` (after its `/`).
    spans: Vec<(u32, u32)>,
}

impl CanonicalPath {
    /// Segments, decoded; a trailing slash is a trailing empty segment and
    /// the root `/` is one empty segment.
    pub fn segments(&self) -> Segments<'_> {
        Segments(self)
    }

    /// The decoded path.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// The decoded segments of a [`CanonicalPath`], borrowed from it.
#[derive(Debug, Clone, Copy)]
pub struct Segments<'a>(&'a CanonicalPath);

impl<'a> Segments<'a> {
    pub fn len(&self) -> usize {
        self.0.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.spans.is_empty()
    }

    /// Segment `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<&'a str> {
        let (start, end) = *self.0.spans.get(i)?;
        self.0.text.get(start as usize..end as usize)
    }

    pub fn first(&self) -> Option<&'a str> {
        self.get(0)
    }

    pub fn last(&self) -> Option<&'a str> {
        self.get(self.len().checked_sub(1)?)
    }

    pub fn iter(&self) -> SegmentIter<'a> {
        SegmentIter {
            text: &self.0.text,
            spans: self.0.spans.iter(),
        }
    }

    /// Owned copies (configuration time).
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_string).collect()
    }
}

impl<'a> IntoIterator for Segments<'a> {
    type Item = &'a str;
    type IntoIter = SegmentIter<'a>;
    fn into_iter(self) -> SegmentIter<'a> {
        self.iter()
    }
}

/// Iterator over [`Segments`].
#[derive(Debug, Clone)]
pub struct SegmentIter<'a> {
    text: &'a str,
    spans: std::slice::Iter<'a, (u32, u32)>,
}

impl<'a> Iterator for SegmentIter<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        let &(start, end) = self.spans.next()?;
        Some(self.text.get(start as usize..end as usize).unwrap_or(""))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.spans.size_hint()
    }
}

impl ExactSizeIterator for SegmentIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict(p: &str) -> Result<String, PathViolation> {
        PathPolicy::STRICT.check(p).map(|c| c.as_str().to_string())
    }

    #[test]
    fn canonical_paths_pass_unchanged() {
        for p in [
            "/",
            "/health",
            "/orders/",
            "/v1/tenants/acme/invoices/42?x=1&y=../..",
            "/a-b_c~d.e/f",
            "/caf%C3%A9",
            "/a%20b",
            "/user@host:1/x+y,z=1!$&'()*",
            "/q%3Fx",
            "/%25",
        ] {
            assert!(strict(p).is_ok(), "{p}: {:?}", strict(p));
        }
        assert_eq!(strict("/caf%c3%a9").unwrap(), "/café");
        assert_eq!(strict("/a%20b").unwrap(), "/a b");
        assert_eq!(
            PathPolicy::STRICT.check("/a/").unwrap().segments().to_vec(),
            ["a", ""]
        );
        assert_eq!(
            PathPolicy::STRICT.check("/").unwrap().segments().to_vec(),
            [""]
        );
        // Relaxed: the merged, stripped and decoded forms, segment by segment.
        let relaxed = PathPolicy {
            allow_encoded_unreserved: true,
            allow_double_slash: true,
            allow_semicolon: true,
        };
        for (raw, text, segs) in [
            ("/a//b;x/%63/", "/a/b/c/", &["a", "b", "c", ""][..]),
            ("//", "/", &[""][..]),
            ("///x", "/x", &["x"][..]),
            ("/caf%C3%A9/d", "/café/d", &["café", "d"][..]),
        ] {
            let c = relaxed.check(raw).unwrap();
            assert_eq!(c.as_str(), text, "{raw}");
            assert_eq!(c.segments().to_vec(), segs, "{raw}");
            assert_eq!(c.segments().len(), segs.len());
            assert_eq!(c.segments().last(), segs.last().copied());
        }
        assert_eq!(relaxed.check("/a/;x/b"), Err(PathViolation::EmptySegment));
        assert_eq!(strict("/%C3/x"), Err(PathViolation::BadEscape));
    }

    #[test]
    fn every_trick_is_refused_with_its_reason() {
        use PathViolation::*;
        for (p, want) in [
            ("/private/../health", DotSegment),
            ("/health/../private", DotSegment),
            ("/health/./x", DotSegment),
            ("/health/..", DotSegment),
            ("/admin./x", DotSegment),
            ("/health/%2e%2e/private", EncodedUnreserved),
            ("/health%2F..%2Fprivate", EncodedSlash),
            ("/health%2f..%2fprivate", EncodedSlash),
            ("/health/..;/private", Semicolon),
            ("/health;jsessionid=1", Semicolon),
            ("/health\\..\\private", Backslash),
            ("/health%5C..%5Cprivate", Backslash),
            ("/%70rivate", EncodedUnreserved),
            ("/%7Euser", EncodedUnreserved),
            ("//private", EmptySegment),
            ("/a//b", EmptySegment),
            ("/a%00b", ControlOrNonAscii),
            ("/a%0d%0ab", ControlOrNonAscii),
            ("/a\u{1}b", ControlOrNonAscii),
            ("/a b", ControlOrNonAscii),
            ("/caf\u{e9}", ControlOrNonAscii),
            ("/a%zz", BadEscape),
            ("/a%4", BadEscape),
            ("/a%ff", BadEscape),
            ("/a#frag", Fragment),
            ("/a|b", ReservedCharacter),
            ("/a{b}", ReservedCharacter),
            ("/a\"b", ReservedCharacter),
            ("private", NotAbsolute),
            ("", NotAbsolute),
            ("*", NotAbsolute),
        ] {
            assert_eq!(strict(p), Err(want), "{p}");
        }
    }

    #[test]
    fn relaxations_match_the_equivalent_form_only() {
        let all = PathPolicy {
            allow_encoded_unreserved: true,
            allow_double_slash: true,
            allow_semicolon: true,
        };
        let ok = |p: &str| all.check(p).map(|c| c.as_str().to_string());
        assert_eq!(ok("/%70rivate"), Ok("/private".into()));
        assert_eq!(ok("//private//x"), Ok("/private/x".into()));
        assert_eq!(ok("//"), Ok("/".into()));
        assert_eq!(ok("/admin;jsessionid=1/x"), Ok("/admin/x".into()));
        // Never relaxed: dot segments in any disguise, slashes, backslashes.
        assert_eq!(ok("/health/..;/private"), Err(PathViolation::DotSegment));
        assert_eq!(ok("/health/%2e%2e/private"), Err(PathViolation::DotSegment));
        assert_eq!(ok("/a/;x/b"), Err(PathViolation::EmptySegment));
        assert_eq!(ok("/a%2fb"), Err(PathViolation::EncodedSlash));
        assert_eq!(ok("/a\\b"), Err(PathViolation::Backslash));
    }

    #[test]
    fn policy_config() {
        let raw: RawPathPolicy =
            serde_json::from_str(r#"{"allow": ["double_slash", "semicolon"]}"#).unwrap();
        let p = PathPolicy::compile(Some(raw));
        assert!(p.allow_double_slash && p.allow_semicolon && !p.allow_encoded_unreserved);
        assert!(serde_json::from_str::<RawPathPolicy>(r#"{"allow": ["dot_segments"]}"#).is_err());
        assert!(serde_json::from_str::<RawPathPolicy>(r#"{"alow": []}"#).is_err());
        assert_eq!(PathPolicy::compile(None), PathPolicy::STRICT);
    }
}
