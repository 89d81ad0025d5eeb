//! Masking a JSON document (`serde_json::Value`) in place.
//!
//! For each member or element, recursively, in this order:
//! 1. a JSON Pointer rule that selects it (RFC 6901; a `*` segment matches
//!    any member or index) applies its action to the whole value, subtree
//!    included;
//! 2. else a member whose name is in the sensitive field list (by words, see
//!    [`super::fields`]) gets `json.field_action`, subtree included;
//! 3. else objects and arrays are walked; a string holding a JSON object or
//!    array (an echoed body) is masked as JSON, so its field rules apply; a
//!    path or URL with a query gets the query rules;
//!    other strings (and numbers, as their
//!    text) are scanned by the detectors, with the member name as context.
//!
//! Whole values masked by 1 and 2: `null` stays `null` (it reveals nothing);
//! any other value becomes the operator's string over its JSON text
//! (`"[REDACTED:field]"`); `drop` removes the member or element. A number
//! in which a detector finds something becomes a masked string. Object keys
//! are scanned too (`{"bob@example.com": ...}`); a masked key that collides
//! with another gets `#2`, `#3`... appended. Past `MAX_DEPTH` levels a
//! subtree is replaced whole (never walked unmasked).

use super::masker::Masker;
use super::operator::Action;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// serde_json refuses to parse deeper than 128; a Value built otherwise
/// could be deeper, and recursion must stay bounded.
const MAX_DEPTH: usize = 128;

/// A compiled JSON Pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pointer {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Name(String),
    Any,
}

impl Pointer {
    pub(super) fn parse(s: &str) -> Result<Pointer, String> {
        if s.is_empty() {
            return Err("the empty pointer selects the whole document; use a field rule or mask it yourself".into());
        }
        let Some(rest) = s.strip_prefix('/') else {
            return Err("must start with `/` (RFC 6901), e.g. \"/user/email\"".into());
        };
        let mut segments = Vec::new();
        for raw in rest.split('/') {
            if raw == "*" {
                segments.push(Segment::Any);
                continue;
            }
            let mut out = String::new();
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c == '~' {
                    match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => {
                            return Err(format!(
                                "bad escape in segment `{raw}`: `~` must be followed by 0 or 1"
                            ))
                        }
                    }
                } else {
                    out.push(c);
                }
            }
            segments.push(Segment::Name(out));
        }
        Ok(Pointer { segments })
    }

    fn segment_matches(&self, depth: usize, key: &str) -> bool {
        match self.segments.get(depth) {
            Some(Segment::Any) => true,
            Some(Segment::Name(n)) => n == key,
            None => false,
        }
    }
}

/// `/path?a=b` or `scheme://host/...?a=b` (within the size cap).
fn looks_like_url(s: &str) -> bool {
    s.contains('?')
        && s.contains('=')
        && (s.starts_with('/')
            || s.split_once("://").is_some_and(|(scheme, _)| {
                !scheme.is_empty()
                    && scheme
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'+')
            }))
}

/// A string holding a JSON object or array, parsed (within the size cap).
fn embedded_json(s: &str, cap: usize) -> Option<Value> {
    let t = s.trim_start();
    let open = t.as_bytes().first()?;
    if !matches!(open, b'{' | b'[') || s.len() > cap {
        return None;
    }
    match serde_json::from_str::<Value>(s) {
        Ok(v @ (Value::Object(_) | Value::Array(_))) => Some(v),
        _ => None,
    }
}

impl Masker {
    /// Masks `value` in place (rules above).
    pub fn mask_json(&self, value: &mut Value) {
        let active: Vec<usize> = (0..self.json.pointers.len()).collect();
        self.walk(value, 0, &active, "");
    }

    fn walk(&self, value: &mut Value, depth: usize, active: &[usize], name: &str) {
        if depth >= MAX_DEPTH {
            *value = Value::String(
                self.apply_whole(Action::Redact, "depth", "")
                    .unwrap_or_default(),
            );
            return;
        }
        match value {
            Value::Object(map) => {
                let old = std::mem::take(map);
                let mut out = Map::new();
                for (k, mut v) in old {
                    let child = self.child_active(active, depth, &k);
                    if let Some(action) = self.rule_for(&child, depth + 1, &k) {
                        if let Some(masked) = self.mask_whole(action, &v) {
                            out.insert(self.mask_key(k, &out), masked);
                        }
                        continue;
                    }
                    self.walk(&mut v, depth + 1, &child, &k);
                    out.insert(self.mask_key(k, &out), v);
                }
                *map = out;
            }
            Value::Array(items) => {
                let old = std::mem::take(items);
                for (i, mut v) in old.into_iter().enumerate() {
                    let idx = i.to_string();
                    let child = self.child_active(active, depth, &idx);
                    if let Some(action) = self.pointer_rule(&child, depth + 1) {
                        if let Some(masked) = self.mask_whole(action, &v) {
                            items.push(masked);
                        }
                        continue;
                    }
                    // Elements inherit the array's name as context.
                    self.walk(&mut v, depth + 1, &child, name);
                    items.push(v);
                }
            }
            Value::String(s) => {
                // JSON carried as a string (an echoed body, a payload field):
                // masked as JSON, so its field rules apply (`"password"`
                // inside it is no plain text the detectors would miss).
                if let Some(mut inner) = embedded_json(s, self.max_value_bytes) {
                    self.walk(&mut inner, depth + 1, &[], name);
                    *s = inner.to_string();
                    return;
                }
                if self.json.scan_values {
                    // A URL or path with a query (an echoed request line, a
                    // redirect): its parameters get the query rules
                    // (`?password=...` is masked by name).
                    if looks_like_url(s) {
                        let masked = self.mask_url(s);
                        if masked != *s {
                            *s = masked;
                        }
                    } else if let Cow::Owned(masked) = self.mask_cow(s, name) {
                        *s = masked;
                    }
                }
            }
            Value::Number(n) => {
                if self.json.scan_values {
                    let text = n.to_string();
                    if let Cow::Owned(masked) = self.mask_cow(&text, name) {
                        *value = Value::String(masked);
                    }
                }
            }
            Value::Bool(_) | Value::Null => {}
        }
    }

    /// Pointers still matching after descending into `key` at `depth`.
    fn child_active(&self, active: &[usize], depth: usize, key: &str) -> Vec<usize> {
        active
            .iter()
            .copied()
            .filter(|&i| {
                self.json
                    .pointers
                    .get(i)
                    .is_some_and(|(p, _)| p.segment_matches(depth, key))
            })
            .collect()
    }

    /// A pointer that ends exactly here (the first configured wins).
    fn pointer_rule(&self, child: &[usize], depth: usize) -> Option<Action> {
        child
            .iter()
            .filter_map(|&i| self.json.pointers.get(i))
            .find(|(p, _)| p.segments.len() == depth)
            .map(|(_, a)| *a)
    }

    fn rule_for(&self, child: &[usize], depth: usize, key: &str) -> Option<Action> {
        self.pointer_rule(child, depth).or_else(|| {
            self.json
                .fields
                .matches(key)
                .then_some(self.json.field_action)
        })
    }

    /// The whole value under a rule; `None` to drop it.
    fn mask_whole(&self, action: Action, v: &Value) -> Option<Value> {
        match v {
            Value::Null if action != Action::Drop => Some(Value::Null),
            Value::String(s) => self.apply_whole(action, "field", s).map(Value::String),
            other => self
                .apply_whole(action, "field", &other.to_string())
                .map(Value::String),
        }
    }

    fn mask_key(&self, k: String, taken: &Map<String, Value>) -> String {
        if !self.json.scan_keys {
            return k;
        }
        let masked = match self.mask_cow(&k, "") {
            Cow::Borrowed(_) => return k,
            Cow::Owned(m) => m,
        };
        if !taken.contains_key(&masked) {
            return masked;
        }
        (2usize..)
            .map(|n| format!("{masked}#{n}"))
            .find(|c| !taken.contains_key(c))
            .unwrap_or(masked)
    }
}

#[cfg(test)]
mod embedded_tests {
    use super::super::PiiConfig;
    use serde_json::json;

    #[test]
    fn json_inside_strings_gets_the_field_rules() {
        let m = PiiConfig::from_json(b"{}").unwrap();
        let mut v = json!({"body": "{\"password\": \"hunter2\", \"a\": [\"bob@example.com\"]}",
                           "text": "{not json bob@example.com"});
        m.mask_json(&mut v);
        let inner: serde_json::Value = serde_json::from_str(v["body"].as_str().unwrap()).unwrap();
        assert_eq!(
            inner,
            json!({"password": "[REDACTED:field]", "a": ["[REDACTED:email]"]})
        );
        assert_eq!(v["text"], "{not json [REDACTED:email]");
        let mut v = json!({"path": "/a/bob@example.com?password=hunter2&q=1",
                           "next": "https://x.example/cb?token=abc", "plain": "a?b=c"});
        m.mask_json(&mut v);
        assert_eq!(
            v["path"],
            "/a/[REDACTED:email]?password=[REDACTED:param]&q=1"
        );
        assert_eq!(v["next"], "https://x.example/cb?token=[REDACTED:param]");
        assert_eq!(v["plain"], "a?b=c");
    }
}

#[cfg(test)]
mod tests {
    use super::super::PiiConfig;
    use super::*;
    use serde_json::json;

    fn masker(cfg: &str) -> Masker {
        PiiConfig::from_json(cfg.as_bytes()).unwrap()
    }

    #[test]
    fn fields_by_name_and_detectors_elsewhere_recursively() {
        let m = masker("{}");
        let mut v = json!({
            "user": {"name": "Bob", "Password": "hunter2", "contact": {"email": "bob@example.com"}},
            "items": [{"card_number": "4111111111111111"}, {"note": "call +1 415 555 0132"}],
            "accessToken": {"value": "abc", "exp": 5},
            "secret": null,
            "mobile": 4155550132u64,
            "count": 3,
            "ok": true
        });
        m.mask_json(&mut v);
        assert_eq!(
            v,
            json!({
                "user": {"name": "Bob", "Password": "[REDACTED:field]", "contact": {"email": "[REDACTED:email]"}},
                "items": [{"card_number": "[REDACTED:field]"}, {"note": "call [REDACTED:phone]"}],
                "accessToken": "[REDACTED:field]",
                "secret": null,
                "mobile": "[REDACTED:phone]",
                "count": 3,
                "ok": true
            })
        );
    }

    #[test]
    fn pointers_select_exactly_and_with_wildcards() {
        let m = masker(
            r#"{"hash": {"key": "0123456789abcdef0123"},
                "json": {"pointers": [{"pointer": "/user/address", "action": "drop"},
                                       {"pointer": "/orders/*/id", "action": "hash"},
                                       {"pointer": "/a~1b/c~0d"},
                                       {"pointer": "/list/1", "action": "drop"}]}}"#,
        );
        let mut v = json!({
            "user": {"address": {"street": "1 Main St"}, "id": 7},
            "orders": [{"id": "o-1"}, {"id": "o-1"}, {"id": "o-2"}],
            "a/b": {"c~d": "x", "e": "y"},
            "list": [1, 2, 3]
        });
        m.mask_json(&mut v);
        assert_eq!(v["user"], json!({"id": 7}));
        let ids: Vec<&str> = v["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap())
            .collect();
        assert!(ids.iter().all(|s| s.starts_with("[HASH:field:")), "{ids:?}");
        assert_eq!(ids[0], ids[1]);
        assert_ne!(ids[0], ids[2]);
        assert_eq!(v["a/b"], json!({"c~d": "[REDACTED:field]", "e": "y"}));
        assert_eq!(v["list"], json!([1, 3]));
    }

    #[test]
    fn keys_are_scanned_and_collisions_kept_apart() {
        let m = masker("{}");
        let mut v = json!({"bob@example.com": 1, "alice@example.com": 2, "plain": 3});
        m.mask_json(&mut v);
        let obj = v.as_object().unwrap();
        assert_eq!(obj.len(), 3);
        assert!(obj.contains_key("[REDACTED:email]"));
        assert!(obj.contains_key("[REDACTED:email]#2"));
        assert!(!v.to_string().contains("example.com"));
    }

    #[test]
    fn field_drop_and_custom_list() {
        let m = masker(r#"{"json": {"fields": ["dob"], "field_action": "drop"}}"#);
        let mut v =
            json!({"dob": "1990-01-01", "password": "kept: not in the list", "x": [{"DOB": 1}]});
        m.mask_json(&mut v);
        assert_eq!(v, json!({"password": "kept: not in the list", "x": [{}]}));
    }

    #[test]
    fn deep_documents_are_bounded() {
        let m = masker("{}");
        let mut v = json!("bob@example.com");
        for _ in 0..200 {
            v = json!([v]);
        }
        m.mask_json(&mut v);
        assert!(!v.to_string().contains("bob@"));
    }

    #[test]
    fn pointer_parsing() {
        assert!(Pointer::parse("/a/b").is_ok());
        assert!(Pointer::parse("a").is_err());
        assert!(Pointer::parse("").is_err());
        assert!(Pointer::parse("/~x").is_err());
        assert_eq!(
            Pointer::parse("/~1~0/*").unwrap().segments,
            vec![Segment::Name("/~".into()), Segment::Any]
        );
    }
}
