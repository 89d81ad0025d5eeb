//! Bounded JSON body excerpts for the audit record.
//!
//! A body is never buffered: each chunk is copied into the excerpt only up
//! to the cap (one byte more, to know a body was longer), the stream goes
//! on unpaused. At log time the excerpt is parsed and masked like any JSON
//! (field rules included). A body longer than the cap is cut back to its
//! last complete member or element and its open containers closed, so the
//! keys stay visible to the field rules (`"password"` is still masked); a
//! prefix that cannot be repaired, invalid JSON or non-UTF-8 is replaced by
//! a marker, never written raw.

use super::Masker;
use serde_json::{json, Value};

/// Deepest nesting a truncated excerpt is repaired at.
const MAX_REPAIR_DEPTH: usize = 64;

/// What was seen of one body.
#[derive(Debug, Default, Clone)]
pub struct Excerpt {
    bytes: Vec<u8>,
    /// Bytes of the body seen in total (saturating).
    seen: usize,
}

impl Excerpt {
    /// Appends a chunk of `chunk_len` bytes; `read(n)` returns its first `n`
    /// bytes (only called when there is room).
    pub fn push<E>(
        &mut self,
        cap: usize,
        chunk_len: usize,
        read: impl FnOnce(usize) -> Result<Vec<u8>, E>,
    ) {
        let room = cap.saturating_add(1).saturating_sub(self.bytes.len());
        self.seen = self.seen.saturating_add(chunk_len);
        let want = room.min(chunk_len);
        if want > 0 {
            if let Ok(data) = read(want) {
                self.bytes.extend(data.into_iter().take(want));
            }
        }
    }

    pub fn seen(&self) -> usize {
        self.seen
    }

    /// The masked excerpt: `{"bytes": n, "json": <masked>}` plus
    /// `"truncated": true` when the body was longer than `cap`, or
    /// `{"bytes": n, "omitted": <why>}`.
    pub fn render(&self, masker: &Masker, cap: usize) -> Value {
        let truncated = self.bytes.len() > cap || self.seen > self.bytes.len();
        let head = self.bytes.get(..cap.min(self.bytes.len())).unwrap_or(&[]);
        let parsed = if truncated {
            repair(head).and_then(|fixed| serde_json::from_slice::<Value>(&fixed).ok())
        } else {
            serde_json::from_slice::<Value>(head).ok()
        };
        match parsed {
            Some(mut v) => {
                masker.mask_json(&mut v);
                let mut out = json!({"bytes": self.seen, "json": v});
                if truncated {
                    out["truncated"] = Value::Bool(true);
                }
                out
            }
            None => {
                let why = if std::str::from_utf8(head).is_err() && !truncated {
                    "non_utf8"
                } else if truncated {
                    "truncated_unrepairable"
                } else {
                    "invalid_json"
                };
                json!({"bytes": self.seen, "omitted": why})
            }
        }
    }
}

/// A JSON text prefix cut back to its last complete value inside its
/// containers, with the containers closed; `None` when there is no such
/// point (a top-level scalar cut short, nesting deeper than the bound).
pub fn repair(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut stack: Vec<u8> = Vec::new();
    // The last point where every value before it is complete: (end, open
    // containers at that point).
    let mut safe: Option<(usize, Vec<u8>)> = None;
    let mut in_string = false;
    let mut escaped = false;
    // Inside an object, whether the next string is a key.
    for (i, &b) in prefix.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                if stack.len() >= MAX_REPAIR_DEPTH {
                    return None;
                }
                stack.push(b);
                safe = Some((i + 1, stack.clone()));
            }
            b'}' | b']' => {
                stack.pop();
                if stack.is_empty() {
                    // A complete document.
                    return Some(prefix.get(..=i)?.to_vec());
                }
            }
            b',' => safe = Some((i, stack.clone())),
            _ => {}
        }
    }
    let (end, open) = safe?;
    let mut out = prefix.get(..end)?.to_vec();
    for c in open.iter().rev() {
        out.push(if *c == b'{' { b'}' } else { b']' });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::super::PiiConfig;
    use super::*;

    fn excerpt_of(body: &[u8], cap: usize, chunk: usize) -> Value {
        let m = PiiConfig::from_json(b"{}").unwrap();
        let mut e = Excerpt::default();
        for c in body.chunks(chunk.max(1)) {
            e.push::<()>(cap, c.len(), |n| Ok(c[..n].to_vec()));
        }
        e.render(&m, cap)
    }

    #[test]
    fn whole_bodies_are_masked_json() {
        let v = excerpt_of(
            br#"{"user": {"email": "bob@example.com", "password": "hunter2"}, "n": [1, "4111 1111 1111 1111"]}"#,
            4096,
            7,
        );
        assert_eq!(v["json"]["user"]["email"], "[REDACTED:email]");
        assert_eq!(v["json"]["user"]["password"], "[REDACTED:field]");
        assert_eq!(v["json"]["n"][1], "[REDACTED:card]");
        assert!(v.get("truncated").is_none());
    }

    #[test]
    fn long_bodies_are_cut_to_complete_members_and_keep_field_rules() {
        let body = br#"{"a": {"password": "hunter2", "email": "bob@example.com"}, "items": ["x", "y", "zzzzzzzzzzzzzzzzzzzz"]}"#;
        for cap in 1..body.len() {
            let v = excerpt_of(body, cap, 5);
            let text = v.to_string();
            assert!(!text.contains("hunter2"), "cap {cap}: {text}");
            assert!(!text.contains("bob@"), "cap {cap}: {text}");
            assert_eq!(v["bytes"], body.len());
            assert!(v["truncated"] == true || v["omitted"].is_string(), "{text}");
        }
        let v = excerpt_of(body, 70, 5);
        assert_eq!(v["json"]["a"]["password"], "[REDACTED:field]");
        assert_eq!(v["truncated"], true);
    }

    #[test]
    fn unparseable_bodies_are_omitted() {
        assert_eq!(excerpt_of(b"not json", 100, 3)["omitted"], "invalid_json");
        assert_eq!(excerpt_of(b"\"\xff\"", 100, 3)["omitted"], "non_utf8");
        assert_eq!(
            excerpt_of(b"\"bob@example.com and more\"", 10, 3)["omitted"],
            "truncated_unrepairable"
        );
        let deep = "[".repeat(100);
        assert!(repair(deep.as_bytes()).is_none());
    }

    #[test]
    fn the_cap_bounds_what_is_kept() {
        let m = PiiConfig::from_json(b"{}").unwrap();
        let mut e = Excerpt::default();
        let mut asked = 0;
        for _ in 0..1000 {
            e.push::<()>(16, 1024, |n| {
                asked += n;
                Ok(vec![b' '; n])
            });
        }
        assert_eq!(asked, 17);
        assert_eq!(e.seen(), 1024 * 1000);
        assert!(e.render(&m, 16)["omitted"].is_string());
    }
}
