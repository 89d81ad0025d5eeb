//! A direct JSON writer for decision and audit records: one preallocated `String`,
//! keys written in sorted order by the caller (the record's documented
//! form: the same bytes `serde_json` gives a sorted map), strings escaped as
//! `serde_json` escapes them. Building a `serde_json::Value` map per request
//! and serialising it cost more in Wasm than the masking itself (a B-tree
//! insert, a heap string and a drop per field).

use crate::decimal::push_i64;
use serde_json::Value;

/// An object being written: `{`, then `key: value` pairs, then `}`.
pub struct Obj<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Obj<'a> {
    pub fn open(out: &'a mut String) -> Obj<'a> {
        out.push('{');
        Obj { out, first: true }
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        push_str(self.out, key);
        self.out.push(':');
    }

    pub fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        push_str(self.out, value);
    }

    pub fn opt_str(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.str(key, v);
        }
    }

    pub fn int(&mut self, key: &str, value: i64) {
        self.key(key);
        push_i64(self.out, value);
    }

    pub fn opt_int(&mut self, key: &str, value: Option<i64>) {
        if let Some(v) = value {
            self.int(key, v);
        }
    }

    /// A string, or `null` when there is none.
    pub fn str_or_null(&mut self, key: &str, value: Option<&str>) {
        match value {
            Some(v) => self.str(key, v),
            None => self.null(key),
        }
    }

    pub fn null(&mut self, key: &str) {
        self.key(key);
        self.out.push_str("null");
    }

    /// A value already built as JSON (decisions, body excerpts).
    pub fn value(&mut self, key: &str, value: &Value) {
        self.key(key);
        // Writing a Value of strings, numbers and containers to a String
        // cannot fail; on the impossible error the value is left out as null.
        match serde_json::to_string(value) {
            Ok(s) => self.out.push_str(&s),
            Err(_) => self.out.push_str("null"),
        }
    }

    /// A nested object; `f` writes its pairs.
    pub fn obj(&mut self, key: &str, f: impl FnOnce(&mut Obj<'_>)) {
        self.key(key);
        let mut inner = Obj::open(self.out);
        f(&mut inner);
        inner.close();
    }

    pub fn close(self) {
        self.out.push('}');
    }
}

/// `s` as a JSON string: `"`, `\` and control characters escaped (`\n`,
/// `\t`, ... or `\u00XX`), everything else (non-ASCII included) as is.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut last = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        // `i` is an ASCII byte, so both slices end on char boundaries.
        out.push_str(s.get(last..i).unwrap_or(""));
        if esc.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        } else {
            out.push_str(esc);
        }
        last = i + 1;
    }
    out.push_str(s.get(last..).unwrap_or(""));
    out.push('"');
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut all = String::new();
        for c in 0u32..0x80 {
            all.push(char::from_u32(c).unwrap());
        }
        all.push_str("Zoë \u{2028} \u{FFFD} 😀 \"quoted\" back\\slash");
        let mut out = String::new();
        push_str(&mut out, &all);
        assert_eq!(out, serde_json::to_string(&all).unwrap());
    }

    #[test]
    fn integers_and_objects() {
        for v in [0i64, 7, -7, 1234567890, i64::MIN, i64::MAX] {
            let mut s = String::new();
            push_i64(&mut s, v);
            assert_eq!(s, v.to_string());
        }
        let mut out = String::new();
        let mut o = Obj::open(&mut out);
        o.str("a", "x\ny");
        o.opt_str("b", None);
        o.int("c", -3);
        o.null("d");
        o.obj("e", |e| e.str("f", "g"));
        o.value("h", &json!({"z": [1, "two"], "a": null}));
        o.close();
        let parsed: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            parsed,
            json!({"a": "x\ny", "c": -3, "d": null, "e": {"f": "g"}, "h": {"a": null, "z": [1, "two"]}})
        );
    }
}
