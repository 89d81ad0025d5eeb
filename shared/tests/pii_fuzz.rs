//! Mutation fuzzing of the PII masker with a fixed seed (a failure
//! reproduces). Seeds hold every kind of value the detectors find; each
//! round mutates bytes (flips, inserts of separators and digits, deletions,
//! duplications, splices, cuts) and runs every entry point. Properties:
//! - nothing panics;
//! - no value a detector found survives in the masked text, unless the same
//!   characters also occur in the text outside every match (then they were
//!   never the detected value's only copy);
//! - the same for every string in a masked JSON document;
//! - invalid UTF-8 is never returned raw;
//! - masking is deterministic (the keyed hash included).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use edgeward_core::pii::{Masker, PiiConfig};
use serde_json::{json, Value};

/// xorshift64*: tiny and deterministic.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const SEEDS: &[&str] = &[
    "user bob.smith+tag@example.co.uk paid with 4111 1111 1111 1111 exp 12/27",
    "GET /reset?email=alice%40example.org&token=abc123&page=2 HTTP/1.1",
    "iban DE89 3704 0044 0532 0130 00 and GB29NWBK60161331926819, ssn 078-05-1123",
    "call +1 (415) 555-0132 or 020 7123 4567; mobile: 13812345678",
    "from 203.0.113.7 via 2001:db8::8a2e:370:7334 and ::ffff:192.0.2.1/96",
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNpZw",
    "keys AKIAIOSFODNN7EXAMPLE ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8 sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
    "dsn=postgres://app:s3cr%40t@db.internal:5432/prod Basic YWxhZGRpbjpvcGVuc2VzYW1l",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY----- tail",
    "{\"card\":\"5555555555554444\",\"amex\":\"3782 822463 10005\",\"ts\":1700000000000}",
    "ORD-12345678 shipped to o.reilly@exämple.de on 2024-05-01 12:34:56",
];

const ALPHABET: &[u8] = b"0123456789 -.:@%+/()[]=&_eyJAKIAghpxob\xc3\xa9\"\\\n";

fn mutate(rng: &mut Rng, base: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len().max(1);
        match rng.below(7) {
            0 => {
                let i = rng.below(len);
                if let Some(b) = v.get_mut(i) {
                    *b ^= 1 << rng.below(8);
                }
            }
            1 => {
                let i = rng.below(v.len() + 1);
                v.insert(i, ALPHABET[rng.below(ALPHABET.len())]);
            }
            2 => {
                if !v.is_empty() {
                    v.remove(rng.below(v.len()));
                }
            }
            3 => {
                let s = rng.below(len);
                let e = (s + rng.below(24)).min(v.len());
                let chunk: Vec<u8> = v.get(s..e).unwrap_or(&[]).to_vec();
                let at = rng.below(v.len() + 1);
                v.splice(at..at, chunk);
            }
            4 => {
                let cut = rng.below(v.len() + 1);
                let from = rng.below(other.len() + 1);
                v.truncate(cut);
                v.extend_from_slice(&other[from..]);
            }
            5 => {
                let cut = rng.below(v.len() + 1);
                v.truncate(cut);
            }
            _ => {
                // Replace a digit with another digit (keeps shapes, breaks checksums).
                let digits: Vec<usize> = (0..v.len()).filter(|&i| v[i].is_ascii_digit()).collect();
                if !digits.is_empty() {
                    let i = digits[rng.below(digits.len())];
                    v[i] = b'0' + rng.below(10) as u8;
                }
            }
        }
    }
    v
}

fn masker(max_value_bytes: usize) -> Masker {
    let cfg = json!({
        "hash": {"key": "fuzz-key-0123456789abcdef"},
        "detectors": {"email": {"action": "hash"}, "card": {"action": "redact"}, "phone": {"bare_digits": "with_context"}},
        "patterns": [{"name": "order_id", "regex": "ORD-[0-9]{8}"}],
        "max_value_bytes": max_value_bytes,
    });
    PiiConfig::from_json(cfg.to_string().as_bytes()).unwrap()
}

/// The text outside every match, pieces joined by NUL (no value spans it).
fn residue(text: &str, m: &Masker) -> String {
    let mut r = String::new();
    let mut last = 0;
    for x in m.find(text) {
        r.push_str(&text[last..x.start]);
        r.push('\0');
        last = x.end;
    }
    r.push_str(&text[last..]);
    r
}

fn check_text(m: &Masker, text: &str) {
    let masked = m.mask_text(text);
    assert_eq!(masked, m.mask_text(text), "not deterministic: {text:?}");
    let rest = residue(text, m);
    for x in m.find(text) {
        let raw = &text[x.start..x.end];
        if raw.len() < 4 || rest.contains(raw) {
            continue;
        }
        assert!(
            !masked.contains(raw),
            "{} value {raw:?} survived\n  in:  {text:?}\n  out: {masked:?}",
            m.kind_name(x.kind)
        );
    }
}

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| {
            out.push(k.clone());
            strings(x, out)
        }),
        Value::Number(n) => out.push(n.to_string()),
        _ => {}
    }
}

fn check_json(m: &Masker, texts: &[String]) {
    let mut doc = json!({
        "user": {"email": texts[0], "password": texts[1], "note": texts[2]},
        "list": [texts[3], 4111111111111111u64, {"deep": [texts[4]]}],
    });
    doc["list"][2]
        .as_object_mut()
        .unwrap()
        .insert(texts[5].clone(), json!(texts[6]));
    let original = doc.clone();
    m.mask_json(&mut doc);
    let out = doc.to_string();
    let mut leaves = Vec::new();
    strings(&original, &mut leaves);
    let rest: String = leaves
        .iter()
        .map(|s| residue(s, m))
        .collect::<Vec<_>>()
        .join("\0");
    for s in &leaves {
        for x in m.find(s) {
            let raw = &s[x.start..x.end];
            let escaped = serde_json::to_string(raw).unwrap();
            let escaped = &escaped[1..escaped.len() - 1];
            if raw.len() < 4 || rest.contains(raw) || texts[1].contains(raw) {
                continue;
            }
            assert!(!out.contains(escaped), "json: {raw:?} survived in {out}");
        }
    }
    // The sensitive field is masked whatever it holds.
    if !texts[1].is_empty() {
        assert_ne!(doc["user"]["password"], original["user"]["password"]);
    }
}

#[test]
fn mutated_inputs_never_panic_or_leak() {
    let m = masker(64 * 1024);
    let small = masker(48);
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let rounds = if cfg!(target_arch = "wasm32") {
        1500
    } else {
        6000
    };
    for _ in 0..rounds {
        let a = SEEDS[rng.below(SEEDS.len())].as_bytes();
        let b = SEEDS[rng.below(SEEDS.len())].as_bytes();
        let bytes = mutate(&mut rng, a, b);
        // Raw bytes: invalid UTF-8 never comes back raw.
        let out = m.mask_bytes(&bytes);
        if std::str::from_utf8(&bytes).is_err() {
            assert_eq!(out, "[REDACTED:non_utf8]");
        }
        let _ = m.mask_header("x-note", &bytes);
        let _ = m.mask_header("cookie", &bytes);
        let _ = m.mask_header("authorization", &bytes);
        let _ = m.mask_header("set-cookie", &bytes);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        check_text(&m, &text);
        // The cap: truncated output never carries a detected value either.
        let cut = small.mask_text(&text);
        let rest = residue(&text, &m);
        for x in m.find(&text) {
            let raw = &text[x.start..x.end];
            if raw.len() >= 4 && !rest.contains(raw) {
                assert!(!cut.contains(raw), "cap: {raw:?} survived in {cut:?}");
            }
        }
        let _ = m.mask_query(&text);
        let _ = m.mask_url(&text);
        let texts: Vec<String> = (0..7)
            .map(|_| {
                let s = SEEDS[rng.below(SEEDS.len())].as_bytes();
                String::from_utf8_lossy(&mutate(&mut rng, s, a)).into_owned()
            })
            .collect();
        check_json(&m, &texts);
    }
}

#[test]
fn random_bytes_never_panic() {
    let m = masker(1024);
    let mut rng = Rng(0xBAD_5EED);
    let rounds = if cfg!(target_arch = "wasm32") {
        300
    } else {
        2000
    };
    for _ in 0..rounds {
        let len = rng.below(300);
        let bytes: Vec<u8> = (0..len)
            .map(|_| ALPHABET[rng.below(ALPHABET.len())])
            .collect();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        check_text(&m, &text);
        let _ = m.mask_query(&text);
        let _ = m.mask_header("set-cookie", text.as_bytes());
    }
}
