//! HTTP helpers shared by every filter: a snapshot of the request head,
//! query and cookie parsing, header validation. (Paths: [`crate::path`];
//! problem replies: [`crate::problem`].)

use std::ops::Range;

/// What a filter saw of the request when its headers arrived. Copied once:
/// later callbacks (a paused request resumed from a timer) cannot read
/// headers from the host any more.
///
/// One buffer holds every name and value, with their ranges beside it: the
/// proxy hands the header map over as one serialised buffer, which is kept
/// as it is rather than copied into a string per header (that copy cost
/// more than a microsecond per request in Envoy's V8).
#[derive(Debug, Clone, Default)]
pub struct RequestHead {
    buf: String,
    /// (name, value) ranges into `buf`, in arrival order; names lower-case.
    spans: Vec<(Range<u32>, Range<u32>)>,
}

/// Two heads are equal when they hold the same headers in the same order,
/// however they are laid out.
impl PartialEq for RequestHead {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for RequestHead {}

impl RequestHead {
    pub fn new(headers: Vec<(String, String)>) -> Self {
        let mut buf = String::with_capacity(headers.iter().map(|(k, v)| k.len() + v.len()).sum());
        let mut spans = Vec::with_capacity(headers.len());
        for (k, v) in &headers {
            let k_start = buf.len();
            buf.push_str(k);
            // Envoy already lower-cases names; only pay for the odd one out.
            if k.bytes().any(|b| b.is_ascii_uppercase()) {
                buf.get_mut(k_start..).map(str::make_ascii_lowercase);
            }
            let v_start = buf.len();
            buf.push_str(v);
            spans.push((span(k_start, v_start), span(v_start, buf.len())));
        }
        RequestHead { buf, spans }
    }

    /// From the proxy-wasm ABI's map serialisation (count, then (key length,
    /// value length) pairs, then NUL-terminated keys and values), kept in
    /// place. The bytes come back when they are malformed or not UTF-8: the
    /// caller decodes them the slow way.
    pub fn from_abi_map(bytes: Vec<u8>) -> Result<Self, Vec<u8>> {
        let mut bytes = bytes;
        match abi_spans(&mut bytes) {
            Some(spans) => match String::from_utf8(bytes) {
                Ok(buf) => Ok(RequestHead { buf, spans }),
                Err(e) => Err(e.into_bytes()),
            },
            None => Err(bytes),
        }
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

    fn text(&self, r: &Range<u32>) -> &str {
        self.buf.get(r.start as usize..r.end as usize).unwrap_or("")
    }

    /// Every (name, value), in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.spans.iter().map(|(k, v)| (self.text(k), self.text(v)))
    }

    /// Every value of header `name` (lower-case).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.iter().filter(move |(k, _)| *k == name).map(|(_, v)| v)
    }

    /// The first value of header `name` (lower-case).
    pub fn first<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.all(name).next()
    }

    /// This head without header `name` (every value, any case), as the
    /// proxy has it after the header is removed.
    pub fn without(mut self, name: &str) -> RequestHead {
        // Only the spans go: the text they pointed at stays unreferenced in
        // `buf` (no copy of the remaining headers).
        let buf = &self.buf;
        self.spans.retain(|(k, _)| {
            !buf.get(k.start as usize..k.end as usize)
                .unwrap_or("")
                .eq_ignore_ascii_case(name)
        });
        self
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

/// The (name, value) ranges of an ABI-serialised map, names lower-cased in
/// place; `None` when the layout does not hold together.
fn abi_spans(bytes: &mut [u8]) -> Option<Vec<(Range<u32>, Range<u32>)>> {
    let read_u32 = |b: &[u8], at: usize| -> Option<usize> {
        let x = b.get(at..at.checked_add(4)?)?;
        Some(u32::from_le_bytes([x[0], x[1], x[2], x[3]]) as usize)
    };
    let count = read_u32(bytes, 0)?;
    let mut spans = Vec::with_capacity(count.min(1024));
    let mut at = count.checked_mul(8)?.checked_add(4)?;
    for i in 0..count {
        let k_len = read_u32(bytes, i.checked_mul(8)?.checked_add(4)?)?;
        let v_len = read_u32(bytes, i.checked_mul(8)?.checked_add(8)?)?;
        let k_end = at.checked_add(k_len)?;
        let v_start = k_end.checked_add(1)?;
        let v_end = v_start.checked_add(v_len)?;
        // Each key and value is followed by a NUL.
        if bytes.get(k_end) != Some(&0) || bytes.get(v_end) != Some(&0) {
            return None;
        }
        bytes.get_mut(at..k_end)?.make_ascii_lowercase();
        spans.push((span(at, k_end), span(v_start, v_end)));
        at = v_end.checked_add(1)?;
    }
    Some(spans)
}

fn span(start: usize, end: usize) -> Range<u32> {
    // Header maps are bounded far below 4 GiB by the proxy.
    u32::try_from(start).unwrap_or(u32::MAX)..u32::try_from(end).unwrap_or(u32::MAX)
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

/// Header names a CGI/WSGI/Rack-style server reads as the same variable:
/// ASCII case and `-`/`_` do not matter.
pub fn same_header_name(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes().zip(b.bytes()).all(|(x, y)| {
            let norm = |c: u8| {
                if c == b'_' {
                    b'-'
                } else {
                    c.to_ascii_lowercase()
                }
            };
            norm(x) == norm(y)
        })
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
    fn without_removes_every_value_of_the_name() {
        let h = head(&[(":path", "/a"), ("x-a", "1"), ("x-b", "2"), ("x-a", "3")]);
        let w = h.clone().without("X-A");
        assert_eq!(
            w.iter().collect::<Vec<_>>(),
            [(":path", "/a"), ("x-b", "2")]
        );
        assert_eq!(h.clone().without("x-c"), h);
    }

    #[test]
    fn header_spellings_are_compared_as_cgi_servers_do() {
        assert!(same_header_name("x-tenant-id", "X_Tenant-ID"));
        assert!(same_header_name("x-tenant-id", "x_tenant_id"));
        assert!(!same_header_name("x-tenant-id", "x-tenant-i"));
        assert!(!same_header_name("x-tenant-id", "x-tenant.id"));
    }

    fn abi(pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut out = (pairs.len() as u32).to_le_bytes().to_vec();
        for (k, v) in pairs {
            out.extend_from_slice(&(k.len() as u32).to_le_bytes());
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
        }
        for (k, v) in pairs {
            out.extend_from_slice(k.as_bytes());
            out.push(0);
            out.extend_from_slice(v.as_bytes());
            out.push(0);
        }
        out
    }

    #[test]
    fn the_abi_map_is_read_in_place() {
        let pairs = [(":path", "/a?b"), ("X-Up", "V"), ("e", ""), ("x-up", "w")];
        let h = RequestHead::from_abi_map(abi(&pairs)).unwrap();
        assert_eq!(h, RequestHead::from_pairs(&pairs));
        assert_eq!(h.all("x-up").collect::<Vec<_>>(), vec!["V", "w"]);
        assert_eq!(h.first("e"), Some(""));
        assert_eq!(h.raw_path(), "/a?b");
        assert_eq!(
            RequestHead::from_abi_map(abi(&[])).unwrap().iter().count(),
            0
        );
        let mut bad = abi(&pairs);
        bad.truncate(bad.len() - 3);
        assert!(RequestHead::from_abi_map(bad).is_err());
        assert!(RequestHead::from_abi_map(vec![9, 0, 0, 0]).is_err());
        assert!(RequestHead::from_abi_map(vec![]).is_err());
        assert_eq!(
            RequestHead::from_abi_map(abi(&[("a", "\u{e9}")]))
                .unwrap()
                .first("a"),
            Some("\u{e9}")
        );
        let mut latin1 = abi(&[("a", "x")]);
        let n = latin1.len();
        latin1[n - 2] = 0xe9;
        assert!(
            RequestHead::from_abi_map(latin1).is_err(),
            "not UTF-8: the slow path"
        );
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
