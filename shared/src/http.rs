//! HTTP helpers shared by every filter: a snapshot of the request head,
//! query and cookie parsing, header validation. (Paths: [`crate::path`];
//! problem replies: [`crate::problem`].)

/// What a filter saw of the request when its headers arrived. Copied once:
/// later callbacks (a paused request resumed from a timer) cannot read
/// headers from the host any more.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestHead {
    /// Lower-case names, in arrival order, repeated headers repeated.
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    pub fn new(headers: Vec<(String, String)>) -> Self {
        let mut headers = headers;
        for (k, _) in headers.iter_mut() {
            // Envoy already lower-cases names; only pay for the odd one out.
            if k.bytes().any(|b| b.is_ascii_uppercase()) {
                k.make_ascii_lowercase();
            }
        }
        RequestHead { headers }
    }

    /// From borrowed pairs (tests, fixed requests).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        RequestHead::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// Every value of header `name` (lower-case).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of header `name` (lower-case).
    pub fn first<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.all(name).next()
    }

    pub fn method(&self) -> &str {
        self.first(":method").unwrap_or("")
    }

    /// `:path` as sent, query included.
    pub fn raw_path(&self) -> &str {
        self.first(":path").unwrap_or("")
    }

    /// The path without query or fragment.
    pub fn path_only(&self) -> &str {
        let raw = self.raw_path();
        let end = raw.find(['?', '#']).unwrap_or(raw.len());
        raw.get(..end).unwrap_or(raw)
    }

    /// The raw query string (without `?`), if any.
    pub fn query(&self) -> Option<&str> {
        let raw = self.raw_path();
        let start = raw.find('?')? + 1;
        let rest = raw.get(start..)?;
        let end = rest.find('#').unwrap_or(rest.len());
        rest.get(..end)
    }
}

/// Values of query parameter `name`, percent-decoded (`+` is a space, as in
/// forms). Parameters whose decoding is not UTF-8 are returned lossily, so a
/// hostile value still counts as present.
pub fn query_values(query: &str, name: &str) -> Vec<String> {
    query
        .split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k) == name).then(|| percent_decode(v))
        })
        .collect()
}

/// Values of cookie `name` across every `cookie` header.
pub fn cookie_values(head: &RequestHead, name: &str) -> Vec<String> {
    head.all("cookie")
        .flat_map(|h| h.split(';'))
        .filter_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k.trim() == name).then(|| v.trim().trim_matches('"').to_string())
        })
        .collect()
}

pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => match (
                bytes.get(i + 1).and_then(|c| hex_value(*c)),
                bytes.get(i + 2).and_then(|c| hex_value(*c)),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// A header name edgeward may set: an RFC 9110 token, lower-case, not a
/// pseudo-header and not one that changes routing or framing.
pub fn is_settable_header_name(name: &str) -> bool {
    const FORBIDDEN: [&str; 7] = [
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "te",
        "upgrade",
        "authorization",
    ];
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
        && !FORBIDDEN.contains(&name)
}

/// A header value that is safe to emit: visible ASCII, spaces and tabs only
/// (no CR/LF/NUL that could split headers).
pub fn is_safe_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
}

/// Escapes a string for a quoted-string in a header (RFC 9110 5.6.4).
pub fn quote_header_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(pairs: &[(&str, &str)]) -> RequestHead {
        RequestHead::from_pairs(pairs)
    }

    #[test]
    fn path_and_query_are_split() {
        let h = head(&[(":path", "/a/b?x=1&y=%41+b#frag")]);
        assert_eq!(h.path_only(), "/a/b");
        assert_eq!(h.query(), Some("x=1&y=%41+b"));
        assert_eq!(query_values(h.query().unwrap_or(""), "y"), vec!["A b"]);
        assert!(query_values("x=1", "y").is_empty());
        assert_eq!(query_values("t=1&t=2", "t").len(), 2);
    }

    #[test]
    fn percent_decoding_tolerates_garbage() {
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }

    #[test]
    fn cookies_are_found_in_every_header() {
        let h = head(&[("cookie", "a=1; at=tok"), ("cookie", "at=\"two\"")]);
        assert_eq!(cookie_values(&h, "at"), vec!["tok", "two"]);
        assert!(cookie_values(&h, "b").is_empty());
    }

    #[test]
    fn header_names_and_values_are_checked() {
        assert!(is_settable_header_name("x-tenant-id"));
        assert!(!is_settable_header_name("X-Tenant"));
        assert!(!is_settable_header_name(":path"));
        assert!(!is_settable_header_name("host"));
        assert!(!is_settable_header_name("a b"));
        assert!(is_safe_header_value("acme corp"));
        assert!(!is_safe_header_value("a\r\nx-evil: 1"));
        assert_eq!(quote_header_string("a\"b\\"), "\"a\\\"b\\\\\"");
    }
}
