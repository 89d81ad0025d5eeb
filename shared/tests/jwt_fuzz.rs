//! Mutation fuzzing of the whole JWT decision (extractor, parser, key
//! lookup, signature, claims) and of the JWKS parser, with a fixed seed so a
//! failure reproduces. Properties:
//! - nothing panics;
//! - a mutated token is never allowed unless it still equals a valid token
//!   byte for byte (base64url has no aliases: canonical trailing bits);
//! - every denial is a 400/401 problem reply, never a 5xx.
//!
//! This is the stable regression suite (natively and in Wasm); the
//! coverage-guided targets are in `fuzz/` (`make fuzz`, nightly).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{b64, ed_key, hs256, SECRET};
use edgeward_core::filter::Action;
use edgeward_core::host::fake::FakeHost;
use edgeward_core::jose::jwk::KeySet;
use serde_json::{json, Value};

const NOW_S: i64 = 1_800_000_000;

/// xorshift64*: tiny, deterministic, good enough to pick mutations.
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

fn claims() -> Value {
    json!({"iss": "https://idp", "aud": "api", "sub": "alice", "exp": NOW_S + 300, "iat": NOW_S - 10})
}

fn eddsa(header: &Value, claims: &Value) -> String {
    common::eddsa(7, header, claims)
}

fn config_json() -> Value {
    let ed = ed_key(7).verifying_key();
    let cfg = json!({
        "providers": {"idp": {
            "issuer": "https://idp", "audiences": ["api"], "algorithms": ["HS256", "EdDSA"],
            "jwks": {"inline": {"keys": [
                {"kty": "oct", "kid": "s1", "k": b64(SECRET)},
                {"kty": "OKP", "crv": "Ed25519", "kid": "e1", "x": b64(ed.as_bytes())}
            ]}},
            "from": [{"header": "authorization", "prefix": "Bearer "}, {"query": "access_token"}]
        }},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider": "idp"}}],
        "token_cache_size": 64
    });
    cfg
}

/// One random change to a token string.
fn mutate(rng: &mut Rng, token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let mut parts: Vec<&str> = token.split('.').collect();
    parts.resize(parts.len().max(3), "");
    if bytes.is_empty() {
        bytes.push(b'x');
    }
    match rng.below(12) {
        0 => {
            let i = rng.below(bytes.len());
            bytes[i] ^= 1 << rng.below(8);
        }
        1 => {
            let i = rng.below(bytes.len());
            let alphabet = b"AZaz09-_.=+/ \x00\xff%";
            bytes[i] = alphabet[rng.below(alphabet.len())];
        }
        2 => bytes.truncate(rng.below(bytes.len())),
        3 => {
            let i = rng.below(bytes.len());
            bytes.insert(i, b'.');
        }
        4 => return format!("{}.{}.{}", parts[1], parts[0], parts[2]),
        5 => return format!("{}.{}", parts[0], parts[1]),
        6 => return format!("{token}.{}", parts[2]),
        7 => {
            // Re-encode a header with hostile alg/kid/crit values, keep the rest.
            let headers = [
                json!({"alg": "none"}),
                json!({"alg": "None", "kid": "s1"}),
                json!({"alg": "HS256", "kid": "e1"}),
                json!({"alg": "EdDSA", "kid": "s1"}),
                json!({"alg": "HS256", "crit": ["exp"]}),
                json!({"alg": "HS256", "kid": 5}),
                json!({"alg": ["HS256"]}),
                json!({"alg": "RS256"}),
                json!({"alg": "HS256", "kid": "x".repeat(3000)}),
            ];
            let h = &headers[rng.below(headers.len())];
            return format!(
                "{}.{}.{}",
                b64(h.to_string().as_bytes()),
                parts[1],
                parts[2]
            );
        }
        8 => {
            // Claims of the wrong types or values, with the original signature.
            let bad = [
                json!({"exp": "9999999999"}),
                json!({"exp": 1e308, "iss": "https://idp", "aud": "api"}),
                json!({"exp": -1}),
                json!({"aud": [1, 2]}),
                json!([]),
                json!("string"),
                json!({"iss": "https://idp", "aud": "api", "exp": NOW_S + 300, "admin": true}),
            ];
            let c = &bad[rng.below(bad.len())];
            return format!(
                "{}.{}.{}",
                parts[0],
                b64(c.to_string().as_bytes()),
                parts[2]
            );
        }
        9 => {
            let n = rng.below(64);
            let junk: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            return String::from_utf8_lossy(&junk).into_owned();
        }
        10 => return format!("{}.{}.{}", parts[0], parts[1], b64(&[0u8; 64])),
        _ => return token.repeat(1 + rng.below(12)),
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn mutated_tokens_are_never_allowed_and_never_crash() {
    let valid = [
        hs256(&json!({"alg": "HS256", "kid": "s1"}), &claims()),
        hs256(&json!({"alg": "HS256"}), &claims()),
        eddsa(&json!({"alg": "EdDSA", "kid": "e1"}), &claims()),
    ];
    let host = FakeHost::new(NOW_S as u64 * 1000);
    let mut rt = common::jwt_vm(&host, &config_json());
    let mut rng = Rng(0x5eed_ed9e_ba5e_0001);
    let iterations = if cfg!(target_arch = "wasm32") {
        1500
    } else {
        20_000
    };
    let mut denied = 0;
    for id in 0..iterations {
        let base = &valid[rng.below(valid.len())];
        let mut token = mutate(&mut rng, base);
        if rng.below(3) == 0 {
            token = mutate(&mut rng, &token);
        }
        let place = rng.below(3);
        let auth = format!("Bearer {token}");
        let path = format!("/orders?access_token={}", token.replace('&', "%26"));
        let headers: Vec<(&str, &str)> = match place {
            0 => vec![
                (":method", "GET"),
                (":path", "/orders"),
                ("authorization", &auth),
            ],
            1 => vec![(":method", "GET"), (":path", &path)],
            _ => vec![
                (":method", "GET"),
                (":path", &path),
                ("authorization", &auth),
            ],
        };
        host.start_stream(id + 10, &headers);
        let action = rt.on_request_headers(&host, id + 10, true);
        let stream = host.stream(id + 10);
        let still_valid = valid.contains(&token);
        match (action, stream.reply) {
            (Action::Continue, None) => {
                assert!(still_valid, "mutated token allowed: {token:?}");
            }
            (Action::Pause, Some(reply)) => {
                assert!(
                    reply.status == 400 || reply.status == 401,
                    "{} for {token:?}",
                    reply.status
                );
                let body: Value = serde_json::from_slice(&reply.body).unwrap();
                assert!(body["reason"].is_string());
                denied += 1;
            }
            other => panic!("unexpected {other:?} for {token:?}"),
        }
    }
    assert!(
        denied > iterations * 8 / 10,
        "only {denied} denials: the mutations are too weak"
    );
}

#[test]
fn mutated_jwks_documents_never_crash() {
    let doc = json!({"keys": [
        {"kty": "oct", "kid": "s1", "k": b64(SECRET)},
        {"kty": "OKP", "crv": "Ed25519", "kid": "e1", "x": b64(ed_key(7).verifying_key().as_bytes())},
        {"kty": "EC", "crv": "P-256", "kid": "p1",
         "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
        {"kty": "RSA", "kid": "r1", "e": "AQAB", "n": b64(&[0xc5; 256])}
    ]})
    .to_string();
    let mut rng = Rng(42);
    let iterations = if cfg!(target_arch = "wasm32") {
        500
    } else {
        5_000
    };
    for _ in 0..iterations {
        let mut bytes = doc.as_bytes().to_vec();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(bytes.len());
            match rng.below(3) {
                0 => bytes[i] ^= 1 << rng.below(8),
                1 => {
                    bytes.remove(i);
                }
                _ => bytes.insert(i, b"{}[]\",:0aA"[rng.below(10)]),
            }
        }
        if let Ok(set) = KeySet::from_json(&bytes) {
            assert!(set.keys.len() <= 4);
        }
    }
}
