//! Route matching shared by every filter: methods, hosts and one path form,
//! compiled once at configure time and matched against the request's
//! [`CanonicalPath`] (never against a rewritten path: non-canonical paths
//! were refused before any rule is looked at).
//!
//! Path forms (exactly one per match):
//! - `prefix`: the path starts with this string (Envoy's `prefix`: `/api`
//!   also matches `/apis`);
//! - `path_prefix`: segment-aware prefix (`/api` matches `/api`, `/api/` and
//!   `/api/x`, never `/apis`);
//! - `path`: exactly this path (`/a` and `/a/` differ);
//! - `template`: segments, each a literal, `{name}` (one segment, captured),
//!   `*` (one segment) or, last, `**` (any number of segments, also none):
//!   `/v1/tenants/{tenant}/invoices/{id}`, `/docs/**`.
//!
//! Config paths must themselves be canonical. `ignore_case` compares
//! ASCII case-insensitively (captures keep the request's spelling).

use crate::config::{ConfigError, Field};
use crate::path::{CanonicalPath, PathPolicy};
use serde::Deserialize;

/// The `match` object of a rule, policy or route.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouteMatch {
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub path_prefix: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub template: Option<String>,
    #[serde(default)]
    pub methods: Option<Vec<String>>,
    #[serde(default)]
    pub hosts: Option<Vec<String>>,
    #[serde(default)]
    pub ignore_case: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PathMatch {
    Prefix(String),
    SegmentPrefix(Vec<String>),
    Exact(Vec<String>),
    Template(Vec<Part>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Capture(String),
    AnyOne,
    AnyRest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    /// Compared with the request's port stripped.
    Exact(String),
    /// A pattern naming a port: compared with the whole authority.
    ExactWithPort(String),
    /// `*.example.com`: stored as `.example.com`.
    Suffix(String),
}

/// A compiled match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    path: PathMatch,
    /// Empty: any method.
    methods: Vec<String>,
    /// Empty: any host.
    hosts: Vec<HostMatch>,
    ignore_case: bool,
}

/// What a match is decided on.
#[derive(Debug, Clone, Copy)]
pub struct RequestTarget<'a> {
    pub method: &'a str,
    /// `:authority`, as sent.
    pub authority: &'a str,
    pub path: &'a CanonicalPath,
}

/// Named segments a template captured, in template order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captures(pub Vec<(String, String)>);

impl Captures {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl RouteMatch {
    /// Whether matching reads `:method` (a filter that fetches single
    /// headers skips it otherwise).
    pub fn reads_method(&self) -> bool {
        !self.methods.is_empty()
    }

    /// Whether matching reads `:authority`.
    pub fn reads_authority(&self) -> bool {
        !self.hosts.is_empty()
    }

    /// Matches any request.
    pub fn any() -> RouteMatch {
        RouteMatch {
            path: PathMatch::Prefix("/".into()),
            methods: vec![],
            hosts: vec![],
            ignore_case: false,
        }
    }

    pub fn compile(field: &Field, raw: &RawRouteMatch) -> Result<RouteMatch, ConfigError> {
        let given = [
            raw.prefix.as_ref().map(|p| ("prefix", p)),
            raw.path_prefix.as_ref().map(|p| ("path_prefix", p)),
            raw.path.as_ref().map(|p| ("path", p)),
            raw.template.as_ref().map(|p| ("template", p)),
        ];
        let mut forms = given.iter().flatten();
        let (Some((kind, text)), None) = (forms.next(), forms.next()) else {
            return Err(field.error(
                "give exactly one of \"prefix\", \"path_prefix\", \"path\" or \"template\", starting with '/'",
            ));
        };
        let at = field.child(kind);
        let fold = |s: &str| {
            if raw.ignore_case {
                s.to_ascii_lowercase()
            } else {
                s.to_string()
            }
        };
        let path = match *kind {
            "template" => PathMatch::Template(compile_template(&at, text, &fold)?),
            _ => {
                let canon = canonical(&at, text)?;
                match *kind {
                    "prefix" => PathMatch::Prefix(fold(canon.as_str())),
                    "path" => PathMatch::Exact(canon.segments().iter().map(&fold).collect()),
                    _ => {
                        let mut segs: Vec<String> = canon.segments().iter().map(&fold).collect();
                        // `/api/` and `/api` name the same subtree; `/` is everything.
                        if segs.last().is_some_and(String::is_empty) {
                            segs.pop();
                        }
                        PathMatch::SegmentPrefix(segs)
                    }
                }
            }
        };
        let methods = match &raw.methods {
            None => vec![],
            Some(ms) if ms.is_empty() => {
                return Err(field.child("methods").error("omit it or list methods"))
            }
            Some(ms) => {
                let mut out = Vec::new();
                for (i, m) in ms.iter().enumerate() {
                    if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
                        return Err(field
                            .child("methods")
                            .index(i)
                            .error(format!("{m:?} is not an HTTP method")));
                    }
                    out.push(m.to_ascii_uppercase());
                }
                out
            }
        };
        let hosts = match &raw.hosts {
            None => vec![],
            Some(hs) if hs.is_empty() => {
                return Err(field.child("hosts").error("omit it or list hosts"))
            }
            Some(hs) => hs
                .iter()
                .enumerate()
                .map(|(i, h)| compile_host(&field.child("hosts").index(i), h))
                .collect::<Result<_, _>>()?,
        };
        Ok(RouteMatch {
            path,
            methods,
            hosts,
            ignore_case: raw.ignore_case,
        })
    }

    /// Whether the template has this capture (for config cross-checks).
    pub fn has_capture(&self, name: &str) -> bool {
        matches!(&self.path, PathMatch::Template(parts)
            if parts.iter().any(|p| matches!(p, Part::Capture(n) if n == name)))
    }

    /// The segment index a template capture reads (every part before it
    /// is exactly one segment: `**` may only be last).
    pub fn capture_index(&self, name: &str) -> Option<usize> {
        match &self.path {
            PathMatch::Template(parts) => parts
                .iter()
                .position(|p| matches!(p, Part::Capture(n) if n == name)),
            _ => None,
        }
    }

    /// The captures when the request matches.
    pub fn matches(&self, t: &RequestTarget) -> Option<Captures> {
        if !self.methods.is_empty() && !self.methods.iter().any(|m| m == t.method) {
            return None;
        }
        if !self.hosts.is_empty() && !self.hosts.iter().any(|h| host_matches(h, t.authority)) {
            return None;
        }
        let eq = |want: &str, got: &str| {
            if self.ignore_case {
                want.eq_ignore_ascii_case(got)
            } else {
                want == got
            }
        };
        let segs = t.path.segments();
        match &self.path {
            PathMatch::Prefix(p) => {
                let text = t.path.as_str();
                let head = text.get(..p.len())?;
                eq(p, head).then(Captures::default)
            }
            PathMatch::Exact(want) => (want.len() == segs.len()
                && want.iter().zip(segs).all(|(w, s)| eq(w, s)))
            .then(Captures::default),
            PathMatch::SegmentPrefix(want) => {
                // A trailing empty segment (`/api/`) is still inside `/api`.
                (segs.len() >= want.len() && want.iter().zip(segs).all(|(w, s)| eq(w, s)))
                    .then(Captures::default)
            }
            PathMatch::Template(parts) => match_template(parts, segs, &eq),
        }
    }
}

fn canonical(field: &Field, text: &str) -> Result<CanonicalPath, ConfigError> {
    if text.contains('?') {
        return Err(field.error("a path has no query string"));
    }
    PathPolicy::STRICT.check(text).map_err(|v| {
        field.error(format!(
            "{text:?} is not a canonical path ({v}); write it as the upstream receives it, e.g. \"/orders\""
        ))
    })
}

fn compile_template(
    field: &Field,
    text: &str,
    fold: &dyn Fn(&str) -> String,
) -> Result<Vec<Part>, ConfigError> {
    let rest = text
        .strip_prefix('/')
        .ok_or_else(|| field.error("must start with '/'"))?;
    let raw_parts: Vec<&str> = rest.split('/').collect();
    let mut parts = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for (i, seg) in raw_parts.iter().enumerate() {
        let part = if *seg == "**" {
            if i + 1 != raw_parts.len() {
                return Err(field.error("'**' may only be the last segment"));
            }
            Part::AnyRest
        } else if *seg == "*" {
            Part::AnyOne
        } else if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let ok = name
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok {
                return Err(field.error(format!(
                    "{{{name}}} is not a valid capture: use a lower-case name such as {{tenant}}"
                )));
            }
            if names.iter().any(|n| n == name) {
                return Err(field.error(format!("capture {{{name}}} appears twice")));
            }
            names.push(name.to_string());
            Part::Capture(name.to_string())
        } else if seg.contains(['{', '}', '*']) {
            return Err(field.error(format!(
                "segment {seg:?}: a segment is a literal, {{name}}, '*' or a final '**'"
            )));
        } else {
            // Literal segments must be canonical too (and non-empty unless last).
            let canon = canonical(field, &format!("/{seg}"))?;
            let decoded = canon.segments().first().unwrap_or_default().to_string();
            if decoded.is_empty() && i + 1 != raw_parts.len() {
                return Err(field.error("empty segment ('//')"));
            }
            Part::Literal(fold(&decoded))
        };
        parts.push(part);
    }
    Ok(parts)
}

fn match_template(
    parts: &[Part],
    segs: crate::path::Segments<'_>,
    eq: &dyn Fn(&str, &str) -> bool,
) -> Option<Captures> {
    let mut caps = Vec::new();
    let mut i = 0;
    for part in parts {
        match part {
            Part::AnyRest => return Some(Captures(caps)),
            Part::Literal(l) => {
                if !eq(l, segs.get(i)?) {
                    return None;
                }
            }
            Part::AnyOne => {
                if segs.get(i)?.is_empty() {
                    return None;
                }
            }
            Part::Capture(name) => {
                let v = segs.get(i)?;
                if v.is_empty() {
                    return None;
                }
                caps.push((name.clone(), v.to_string()));
            }
        }
        i += 1;
    }
    (i == segs.len()).then_some(Captures(caps))
}

fn compile_host(field: &Field, h: &str) -> Result<HostMatch, ConfigError> {
    let lower = h.to_ascii_lowercase();
    let valid = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':' | b'[' | b']'))
    };
    if let Some(suffix) = lower.strip_prefix("*.") {
        if valid(suffix) {
            return Ok(HostMatch::Suffix(format!(".{suffix}")));
        }
    } else if valid(&lower) {
        return Ok(if strip_port(&lower).len() < lower.len() {
            HostMatch::ExactWithPort(lower)
        } else {
            HostMatch::Exact(lower)
        });
    }
    Err(field.error(format!(
        "{h:?} is not a host: use \"api.example.com\", \"api.example.com:8443\" or \"*.example.com\""
    )))
}

/// Hosts compare case-insensitively; a pattern without a port matches any port.
fn host_matches(pattern: &HostMatch, authority: &str) -> bool {
    let authority = authority.to_ascii_lowercase();
    let without_port = strip_port(&authority);
    match pattern {
        HostMatch::ExactWithPort(h) => *h == authority,
        HostMatch::Exact(h) => h == without_port,
        HostMatch::Suffix(s) => without_port.len() > s.len() && without_port.ends_with(s.as_str()),
    }
}

fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        // [v6]:port
        return match authority.find(']') {
            Some(end) => authority.get(..=end).unwrap_or(authority),
            None => authority,
        };
    }
    match authority.rfind(':') {
        Some(i)
            if authority
                .get(i + 1..)
                .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit())) =>
        {
            authority.get(..i).unwrap_or(authority)
        }
        _ => authority,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compile(v: serde_json::Value) -> Result<RouteMatch, ConfigError> {
        let raw: RawRouteMatch = serde_json::from_value(v).unwrap();
        RouteMatch::compile(&Field::root("match"), &raw)
    }

    fn hit(m: &RouteMatch, method: &str, authority: &str, path: &str) -> Option<Captures> {
        let p = PathPolicy::STRICT.check(path).unwrap();
        m.matches(&RequestTarget {
            method,
            authority,
            path: &p,
        })
    }

    #[test]
    fn path_forms() {
        let prefix = compile(json!({"prefix": "/api"})).unwrap();
        let seg = compile(json!({"path_prefix": "/api"})).unwrap();
        let exact = compile(json!({"path": "/api"})).unwrap();
        for (path, p, s, e) in [
            ("/api", true, true, true),
            ("/api/", true, true, false),
            ("/api/x", true, true, false),
            ("/apis", true, false, false),
            ("/ap", false, false, false),
            ("/", false, false, false),
        ] {
            assert_eq!(hit(&prefix, "GET", "h", path).is_some(), p, "prefix {path}");
            assert_eq!(
                hit(&seg, "GET", "h", path).is_some(),
                s,
                "path_prefix {path}"
            );
            assert_eq!(hit(&exact, "GET", "h", path).is_some(), e, "path {path}");
        }
        let all = compile(json!({"path_prefix": "/"})).unwrap();
        assert!(hit(&all, "GET", "h", "/").is_some());
        assert!(hit(&all, "GET", "h", "/x/y").is_some());
        // Paths are compared decoded: a config literal and its escaped form agree.
        let cafe = compile(json!({"path": "/caf%C3%A9"})).unwrap();
        assert!(hit(&cafe, "GET", "h", "/caf%c3%a9").is_some());
    }

    #[test]
    fn templates_capture_named_segments() {
        let t = compile(json!({"template": "/v1/tenants/{tenant}/invoices/{id}"})).unwrap();
        let c = hit(&t, "GET", "h", "/v1/tenants/acme/invoices/42").unwrap();
        assert_eq!(c.get("tenant"), Some("acme"));
        assert_eq!(c.get("id"), Some("42"));
        assert!(t.has_capture("tenant") && !t.has_capture("x"));
        assert!(hit(&t, "GET", "h", "/v1/tenants/acme/invoices").is_none());
        assert!(hit(&t, "GET", "h", "/v1/tenants/acme/invoices/42/x").is_none());
        assert!(hit(&t, "GET", "h", "/v1/tenants/acme/invoices/").is_none());
        let c = hit(&t, "GET", "h", "/v1/tenants/a%20b/invoices/1").unwrap();
        assert_eq!(c.get("tenant"), Some("a b"), "captures are decoded");
        let docs = compile(json!({"template": "/docs/**"})).unwrap();
        assert!(hit(&docs, "GET", "h", "/docs").is_some());
        assert!(hit(&docs, "GET", "h", "/docs/a/b/c").is_some());
        assert!(hit(&docs, "GET", "h", "/docsx").is_none());
        let star = compile(json!({"template": "/a/*/c"})).unwrap();
        assert!(hit(&star, "GET", "h", "/a/b/c").is_some());
        assert!(hit(&star, "GET", "h", "/a/c").is_none());
    }

    #[test]
    fn methods_hosts_and_case() {
        let m = compile(json!({"prefix": "/Orders", "methods": ["get", "POST"],
                               "hosts": ["api.example.com", "*.corp.example"], "ignore_case": true}))
        .unwrap();
        assert!(hit(&m, "GET", "API.example.com:8443", "/orders/1").is_some());
        assert!(hit(&m, "POST", "x.corp.example", "/ORDERS").is_some());
        assert!(hit(&m, "DELETE", "api.example.com", "/orders").is_none());
        assert!(hit(&m, "GET", "corp.example", "/orders").is_none());
        assert!(hit(&m, "GET", "evil.com", "/orders").is_none());
        assert!(hit(&m, "GET", "api.example.com.evil.com", "/orders").is_none());
        let strict = compile(json!({"path": "/Orders"})).unwrap();
        assert!(hit(&strict, "GET", "h", "/orders").is_none());
        let ported = compile(json!({"prefix": "/", "hosts": ["api:8443"]})).unwrap();
        assert!(hit(&ported, "GET", "api:8443", "/").is_some());
        assert!(hit(&ported, "GET", "api:80", "/").is_none());
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("h:x"), "h:x");
    }

    #[test]
    fn config_errors_name_the_field() {
        for (v, field, msg) in [
            (json!({}), "match", "exactly one"),
            (
                json!({"prefix": "/a", "path": "/b"}),
                "match",
                "exactly one",
            ),
            (json!({"prefix": "a"}), "match.prefix", "canonical"),
            (json!({"path": "/a/../b"}), "match.path", "canonical"),
            (json!({"path": "/a?x=1"}), "match.path", "query"),
            (
                json!({"path_prefix": "/%61"}),
                "match.path_prefix",
                "canonical",
            ),
            (
                json!({"template": "/a/**/b"}),
                "match.template",
                "last segment",
            ),
            (
                json!({"template": "/a/{Tenant}"}),
                "match.template",
                "valid capture",
            ),
            (json!({"template": "/a/{t}/{t}"}), "match.template", "twice"),
            (
                json!({"template": "/a/x{t}"}),
                "match.template",
                "a segment is",
            ),
            (json!({"template": "/a//b"}), "match.template", "empty"),
            (
                json!({"prefix": "/", "methods": []}),
                "match.methods",
                "omit",
            ),
            (
                json!({"prefix": "/", "methods": ["G T"]}),
                "match.methods[0]",
                "not an HTTP",
            ),
            (
                json!({"prefix": "/", "hosts": ["a b"]}),
                "match.hosts[0]",
                "not a host",
            ),
        ] {
            let e = compile(v.clone()).unwrap_err();
            assert_eq!(e.field, field, "{v}: {e}");
            assert!(e.message.contains(msg), "{v}: {e}");
        }
    }
}
