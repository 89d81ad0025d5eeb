//! Tests of JWKS parsing, key classification and key selection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map};

const VECTORS: &str = include_str!("../../../tests/vectors/signatures.json");

/// The public JWK with this kid from the known-answer vector file.
fn vector_jwk(kid: &str) -> Map<String, Value> {
    let doc: Value = serde_json::from_str(VECTORS).unwrap();
    doc["jwks"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

fn jwks(keys: Vec<Value>) -> KeySet {
    let doc = json!({ "keys": keys });
    KeySet::from_json(doc.to_string().as_bytes()).unwrap()
}

fn one(key: Map<String, Value>) -> KeySet {
    jwks(vec![Value::Object(key)])
}

/// Parses a single key that must be skipped; returns its record.
fn skip(key: Map<String, Value>) -> SkippedKey {
    let set = one(key);
    assert!(set.keys.is_empty(), "{:?}", set.keys);
    assert_eq!(set.skipped.len(), 1);
    set.skipped[0].clone()
}

/// The log line of a single key that must be skipped as invalid.
fn skipped(key: Map<String, Value>) -> String {
    let record = skip(key);
    assert_eq!(record.class, SkipClass::Invalid, "{record}");
    record.to_string()
}

/// The log line of a single key that must be skipped as not a signing key.
fn skipped_not_for_signatures(key: Map<String, Value>) -> String {
    let record = skip(key);
    assert_eq!(record.class, SkipClass::NotForSignatures, "{record}");
    record.to_string()
}

fn with(mut key: Map<String, Value>, name: &str, value: Value) -> Map<String, Value> {
    key.insert(name.to_owned(), value);
    key
}

fn without(mut key: Map<String, Value>, name: &str) -> Map<String, Value> {
    key.remove(name);
    key
}

fn b64(bytes: &[u8]) -> Value {
    Value::String(URL_SAFE_NO_PAD.encode(bytes))
}

fn member_bytes(key: &Map<String, Value>, name: &str) -> Vec<u8> {
    b64url_decode(key[name].as_str().unwrap()).unwrap()
}

#[test]
fn good_keys_of_every_kind_parse() {
    for (kid, family) in [
        ("rs256-a", KeyFamily::Rsa),
        ("rs3072-a", KeyFamily::Rsa),
        ("rs-e3", KeyFamily::Rsa),
        ("ec256-a", KeyFamily::EcP256),
        ("ec384-a", KeyFamily::EcP384),
        ("ec521-a", KeyFamily::EcP521),
        ("ed-a", KeyFamily::Ed25519),
        ("hs256-a", KeyFamily::Hmac),
        ("hs512-a", KeyFamily::Hmac),
    ] {
        let set = one(vector_jwk(kid));
        assert!(set.skipped.is_empty(), "{kid}: {}", set.skipped.join("; "));
        assert_eq!(set.keys.len(), 1, "{kid}");
        assert_eq!(set.keys[0].key.family(), family, "{kid}");
        assert_eq!(set.keys[0].kid.as_deref(), Some(kid));
        assert!(set.has_kid(kid));
        assert!(!set.is_empty());
    }
}

#[test]
fn document_level_errors() {
    for bad in [
        &b""[..],
        b"not json",
        b"[]",
        b"null",
        b"\"keys\"",
        b"{}",
        b"{\"keys\":{}}",
        b"{\"keys\":null}",
        b"{\"keys\":[]",
        b"\xff\xfe",
    ] {
        let err = KeySet::from_json(bad).unwrap_err();
        assert!(!err.to_string().is_empty());
    }
    let empty = KeySet::from_json(b"{\"keys\":[]}").unwrap();
    assert!(empty.is_empty());
    assert!(empty.skipped.is_empty());
    assert!(empty.candidates(Algorithm::RS256, None).is_empty());
    assert!(!empty.has_kid(""));
}

#[test]
fn non_object_entries_are_skipped_with_index() {
    let set = jwks(vec![
        json!(1),
        json!("x"),
        Value::Object(vector_jwk("ed-a")),
        json!(null),
    ]);
    assert_eq!(set.keys.len(), 1);
    assert_eq!(set.skipped.len(), 3);
    assert!(set.skipped[0].to_string().starts_with("key 0 (no kid): "));
    assert!(set.skipped[2].to_string().starts_with("key 3 (no kid): "));
    assert_eq!(set.skipped[2].index, 3);
    assert_eq!(set.skipped[2].kid, None);
    assert!(set.skipped.iter().all(|s| s.class == SkipClass::Invalid));
}

#[test]
fn small_rsa_modulus_is_skipped_with_its_size() {
    let mut n = vec![0u8; 128];
    n[0] = 0xc5;
    n[127] = 0x01;
    let key = with(vector_jwk("rs256-a"), "n", b64(&n));
    let key = with(key, "kid", json!("x"));
    let set = jwks(vec![json!({}), json!({}), Value::Object(key)]);
    assert_eq!(
        set.skipped[2].to_string(),
        "key 2 (kid \"x\"): RSA modulus is 1024 bits; at least 2048 required"
    );
    assert_eq!(
        set.skipped[2],
        SkippedKey {
            index: 2,
            kid: Some("x".to_owned()),
            class: SkipClass::Invalid,
            why: "RSA modulus is 1024 bits; at least 2048 required".to_owned(),
        }
    );
    // 2047 bits is still too small.
    let mut n = vec![0xffu8; 256];
    n[0] = 0x7f;
    let line = skipped(with(vector_jwk("rs256-a"), "n", b64(&n)));
    assert!(line.contains("2047 bits"), "{line}");
    // Over 8192 bits.
    let mut n = vec![0xffu8; 1025];
    n[0] = 0x01;
    let line = skipped(with(vector_jwk("rs256-a"), "n", b64(&n)));
    assert!(line.contains("8193 bits; at most 8192"), "{line}");
}

#[test]
fn rsa_modulus_with_leading_zero_octet_is_accepted() {
    let key = vector_jwk("rs256-a");
    let mut n = vec![0u8];
    n.extend(member_bytes(&key, "n"));
    let set = one(with(key, "n", b64(&n)));
    assert_eq!(set.keys.len(), 1, "{:?}", set.skipped);
}

#[test]
fn rsa_bad_members() {
    let base = vector_jwk("rs256-a");
    let mut even_n = member_bytes(&base, "n");
    if let Some(last) = even_n.last_mut() {
        *last &= 0xfe;
    }
    for (key, expect) in [
        (with(base.clone(), "e", b64(&[1])), "greater than 1"),
        (with(base.clone(), "e", b64(&[0])), "greater than 1"),
        (with(base.clone(), "e", b64(&[])), "greater than 1"),
        (with(base.clone(), "e", b64(&[1, 0, 0])), "must be odd"),
        (with(base.clone(), "e", b64(&[2, 0, 0, 0, 1])), "at most"),
        (with(base.clone(), "e", b64(&[1; 9])), "too large"),
        (with(base.clone(), "n", b64(&[])), "modulus is zero"),
        (with(base.clone(), "n", b64(&[0, 0])), "modulus is zero"),
        (with(base.clone(), "n", b64(&even_n)), "even"),
        (without(base.clone(), "n"), "no \"n\""),
        (without(base.clone(), "e"), "no \"e\""),
        (with(base.clone(), "n", json!(5)), "not a string"),
        (with(base.clone(), "e", json!("AQAB=")), "base64url"),
    ] {
        let line = skipped(key);
        assert!(line.contains(expect), "{line} / {expect}");
    }
    // e = 3 and a 3-byte exponent with a leading zero are fine.
    assert_eq!(one(with(base.clone(), "e", b64(&[3]))).keys.len(), 1);
    assert_eq!(one(with(base, "e", b64(&[0, 1, 0, 1]))).keys.len(), 1);
}

#[test]
fn private_key_material_is_never_used() {
    for (kid, member) in [
        ("rs256-a", "d"),
        ("rs256-a", "p"),
        ("rs256-a", "qi"),
        ("ec256-a", "d"),
        ("ed-a", "d"),
    ] {
        let line = skipped(with(vector_jwk(kid), member, json!("AQAB")));
        assert!(line.contains("private key material"), "{line}");
        assert!(line.contains(member), "{line}");
    }
}

#[test]
fn use_key_ops_and_alg_rules() {
    let base = vector_jwk("ec256-a");
    assert_eq!(one(with(base.clone(), "use", json!("sig"))).keys.len(), 1);
    assert!(
        skipped_not_for_signatures(with(base.clone(), "use", json!("enc"))).contains("\"enc\"")
    );
    assert!(skipped(with(base.clone(), "use", json!(1))).contains("not a string"));
    let ops = with(base.clone(), "key_ops", json!(["sign", "verify"]));
    assert_eq!(one(ops).keys.len(), 1);
    for not_verify in [json!(["sign"]), json!([]), json!(["encrypt", "wrapKey"])] {
        let line = skipped_not_for_signatures(with(base.clone(), "key_ops", not_verify));
        assert!(line.contains("key_ops"), "{line}");
    }
    for bad in [json!("verify"), json!(["verify", 1]), json!({})] {
        let line = skipped(with(base.clone(), "key_ops", bad));
        assert!(line.contains("key_ops"), "{line}");
    }
    for bad in ["none", "es256", "", "ES256K", "RS1", "A128GCM"] {
        let line = skipped(with(base.clone(), "alg", json!(bad)));
        assert!(line.contains("not a supported"), "{line}");
    }
    for enc in [
        "RSA-OAEP",
        "RSA-OAEP-256",
        "RSA1_5",
        "ECDH-ES",
        "ECDH-ES+A256KW",
        "A128KW",
        "dir",
    ] {
        let line = skipped_not_for_signatures(with(base.clone(), "alg", json!(enc)));
        assert!(line.contains("encryption algorithm"), "{line}");
    }
    assert!(skipped(with(base.clone(), "alg", json!(256))).contains("not a string"));
    // A valid alg that does not fit the key.
    for bad in ["RS256", "ES384", "ES512", "HS256", "EdDSA"] {
        let line = skipped(with(base.clone(), "alg", json!(bad)));
        assert!(line.contains("does not fit a P-256 key"), "{line}");
    }
    assert!(skipped(with(base.clone(), "kid", json!(7))).contains("kid"));
    assert!(skipped(without(base.clone(), "kty")).contains("kty"));
    assert!(skipped(with(base, "kty", json!("RSA-ish"))).contains("unsupported"));
}

#[test]
fn ec_rules() {
    let base = vector_jwk("ec256-a");
    let x = member_bytes(&base, "x");
    let mut y = member_bytes(&base, "y");
    // Wrong coordinate lengths (a leading zero added or a byte dropped).
    let mut long_x = vec![0u8];
    long_x.extend(&x);
    assert!(skipped(with(base.clone(), "x", b64(&long_x))).contains("exactly 32"));
    assert!(skipped(with(base.clone(), "y", b64(&y[1..]))).contains("exactly 32"));
    // Off the curve.
    y[31] ^= 1;
    assert!(skipped(with(base.clone(), "y", b64(&y))).contains("not on the curve"));
    // Unsupported or mismatched curves.
    assert!(skipped(with(base.clone(), "crv", json!("P-521"))).contains("exactly 66"));
    assert!(skipped(with(base.clone(), "crv", json!("secp256k1"))).contains("unsupported"));
    assert!(skipped(with(base.clone(), "crv", json!("P-384"))).contains("exactly 48"));
    assert!(skipped(without(base.clone(), "crv")).contains("crv"));
    assert!(skipped(without(base, "y")).contains("no \"y\""));
    let p384 = vector_jwk("ec384-a");
    assert!(skipped(with(p384, "crv", json!("P-256"))).contains("exactly 32"));
    // P-521: exactly 66 bytes per coordinate, on the curve, below p.
    let p521 = vector_jwk("ec521-a");
    let x = member_bytes(&p521, "x");
    let mut y = member_bytes(&p521, "y");
    assert_eq!((x.len(), y.len()), (66, 66));
    assert!(skipped(with(p521.clone(), "x", b64(&x[1..]))).contains("exactly 66"));
    let mut long_y = vec![0u8];
    long_y.extend(&y);
    assert!(skipped(with(p521.clone(), "y", b64(&long_y))).contains("exactly 66"));
    assert!(skipped(with(p521.clone(), "crv", json!("P-384"))).contains("exactly 48"));
    let mut above_p = x.clone();
    above_p[0] = 0x02; // >= 2^521 > p
    assert!(skipped(with(p521.clone(), "x", b64(&above_p))).contains("not on the curve"));
    y[65] ^= 1;
    assert!(skipped(with(p521.clone(), "y", b64(&y))).contains("not on the curve"));
    assert!(skipped(with(p521.clone(), "d", json!("AQAB"))).contains("private key"));
    let fits = one(with(p521, "alg", json!("ES512")));
    assert_eq!(fits.keys.len(), 1);
    assert_eq!(fits.keys[0].alg, Some(Algorithm::ES512));
}

#[test]
fn okp_rules() {
    let base = vector_jwk("ed-a");
    let x = member_bytes(&base, "x");
    assert!(skipped(with(base.clone(), "x", b64(&x[1..]))).contains("exactly 32"));
    assert!(skipped(with(base.clone(), "crv", json!("X25519"))).contains("unsupported"));
    assert!(skipped(with(base.clone(), "crv", json!("Ed448"))).contains("unsupported"));
    // The identity point (y = 1) has small order.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert!(skipped(with(base.clone(), "x", b64(&identity))).contains("small-order"));
    // y = 2 is not the y coordinate of any curve point.
    let mut bad = [0u8; 32];
    bad[0] = 2;
    assert!(skipped(with(base, "x", b64(&bad))).contains("not a valid Ed25519 point"));
}

#[test]
fn oct_rules() {
    let oct = |k: &[u8]| {
        let mut key = Map::new();
        key.insert("kty".into(), json!("oct"));
        key.insert("k".into(), b64(k));
        key
    };
    assert_eq!(one(oct(&[7; 32])).keys.len(), 1);
    assert!(skipped(oct(&[7; 31])).contains("31 bytes; any HS* algorithm needs at least 32"));
    assert!(skipped(oct(&[])).contains("0 bytes"));
    let short_for_512 = with(oct(&[7; 63]), "alg", json!("HS512"));
    assert!(skipped(short_for_512).contains("HS512 needs at least 64"));
    assert_eq!(
        one(with(oct(&[7; 48]), "alg", json!("HS384"))).keys.len(),
        1
    );
    // `d` in an oct key is not a reason to skip it (k is the secret anyway).
    assert_eq!(one(with(oct(&[7; 32]), "d", json!("AA"))).keys.len(), 1);
    assert!(skipped(without(oct(&[7; 32]), "k")).contains("no \"k\""));
    // The secret is never printed.
    let set = one(oct(b"super-secret-value-0123456789abcdef"));
    assert!(!format!("{set:?}").contains("super-secret"));
}

#[test]
fn mangled_jwks_never_panics() {
    // Every key of the vector JWKS with each member replaced by values
    // of the wrong type, wrong size or garbage.
    let doc: Value = serde_json::from_str(VECTORS).unwrap();
    let keys = doc["jwks"]["keys"].as_array().unwrap();
    let replacements = [
        json!(null),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(true),
        json!([]),
        json!({}),
        json!(""),
        json!("AA"),
        json!("AQAB"),
        json!("____"),
        json!("%%%"),
        b64(&[0xff; 600]),
        b64(&[0; 32]),
    ];
    let mut lines = 0;
    for key in keys {
        let key = key.as_object().unwrap();
        for member in key.keys() {
            for value in &replacements {
                let set = one(with(key.clone(), member, value.clone()));
                assert_eq!(set.keys.len() + set.skipped.len(), 1);
                lines += set.skipped.len();
            }
        }
    }
    assert!(lines > 100);
}

#[test]
fn strict_base64url() {
    assert_eq!(b64url_decode("AQAB"), Some(vec![1, 0, 1]));
    assert_eq!(b64url_decode(""), Some(vec![]));
    assert_eq!(b64url_decode("-_8"), Some(vec![0xfb, 0xff]));
    // "AQ" is canonical (0x01); "AR" encodes the same byte with non-zero
    // trailing bits and must be rejected.
    assert_eq!(b64url_decode("AQ"), Some(vec![1]));
    for bad in [
        "AQAB=", "AQ==", "+/8", "AQ AB", " AQAB", "AQAB\n", "A", "AR", "AQB", "A.AB", "AQ\u{0}",
    ] {
        assert_eq!(b64url_decode(bad), None, "{bad:?}");
    }
}

#[test]
fn candidates_filter_by_kid_family_alg_and_hmac_length() {
    let mut hs_any = Map::new();
    hs_any.insert("kty".into(), json!("oct"));
    hs_any.insert("kid".into(), json!("hs-any"));
    hs_any.insert("k".into(), b64(&[9; 40]));
    let set = jwks(vec![
        Value::Object(vector_jwk("rs256-a")),
        Value::Object(vector_jwk("rs3072-a")),
        Value::Object(with(vector_jwk("rs256-a"), "alg", json!("RS256"))),
        Value::Object(vector_jwk("ec256-a")),
        Value::Object(hs_any),
    ]);
    assert!(set.skipped.is_empty(), "{:?}", set.skipped);
    let kids = |c: Vec<&Jwk>| {
        c.into_iter()
            .map(|k| k.kid.clone().unwrap())
            .collect::<Vec<_>>()
    };
    // Duplicate kid (rotation overlap): both kept, JWKS order.
    assert_eq!(
        kids(set.candidates(Algorithm::RS256, Some("rs256-a"))).len(),
        2
    );
    // The copy with alg RS256 is not a PS256 candidate.
    let ps = set.candidates(Algorithm::PS256, Some("rs256-a"));
    assert_eq!(ps.len(), 1);
    assert_eq!(ps[0].alg, None);
    assert_eq!(
        kids(set.candidates(Algorithm::RS384, None)),
        ["rs256-a", "rs3072-a"]
    );
    assert_eq!(kids(set.candidates(Algorithm::ES256, None)), ["ec256-a"]);
    assert!(set.candidates(Algorithm::ES384, None).is_empty());
    assert!(set.candidates(Algorithm::ES256, Some("rs256-a")).is_empty());
    assert!(set.candidates(Algorithm::HS256, Some("rs256-a")).is_empty());
    assert!(set.candidates(Algorithm::RS256, Some("nope")).is_empty());
    assert!(set.candidates(Algorithm::RS256, Some("")).is_empty());
    // 40-byte secret: HS256 yes, HS384 / HS512 no.
    assert_eq!(kids(set.candidates(Algorithm::HS256, None)), ["hs-any"]);
    assert!(set.candidates(Algorithm::HS384, None).is_empty());
    assert!(set.candidates(Algorithm::HS512, Some("hs-any")).is_empty());
    assert!(set.has_kid("ec256-a"));
    assert!(!set.has_kid("ec384-a"));
}

/// The key selection of Envoy's jwt_verify_lib: a token's kid selects the
/// keys with that kid plus the keys without any kid.
#[test]
fn candidates_with_a_kid_include_keys_without_a_kid() {
    let set = jwks(vec![
        Value::Object(without(vector_jwk("rs3072-a"), "kid")),
        Value::Object(vector_jwk("rs256-a")),
        Value::Object(with(
            without(vector_jwk("rs-e3"), "kid"),
            "alg",
            json!("PS256"),
        )),
        Value::Object(without(vector_jwk("ec256-a"), "kid")),
        Value::Object(with(vector_jwk("rs4096-a"), "kid", json!(""))),
        Value::Object(with(
            without(vector_jwk("ec384-a"), "kid"),
            "use",
            json!("enc"),
        )),
    ]);
    assert_eq!(set.keys.len(), 5, "{}", set.skipped.join("; "));
    // Position in the JWKS of each candidate.
    let order = |alg, kid| -> Vec<usize> {
        set.candidates(alg, kid)
            .into_iter()
            .map(|c| set.keys.iter().position(|k| std::ptr::eq(k, c)).unwrap())
            .collect()
    };
    // kid "rs256-a": its key and the kid-less RSA key, in JWKS order; the
    // kid-less PS256-only key is not an RS256 candidate.
    assert_eq!(order(Algorithm::RS256, Some("rs256-a")), [0, 1]);
    assert_eq!(order(Algorithm::PS256, Some("rs256-a")), [0, 1, 2]);
    // A kid no key has: only the kid-less keys.
    assert_eq!(order(Algorithm::RS256, Some("nope")), [0]);
    assert!(!set.has_kid("nope"));
    // No kid: every key of the family, with or without a kid (key 4,
    // rs4096-a, has its own alg RS512).
    assert_eq!(order(Algorithm::RS256, None), [0, 1]);
    assert_eq!(order(Algorithm::PS256, None), [0, 1, 2]);
    assert_eq!(order(Algorithm::RS512, None), [0, 1, 4]);
    // Family still decides: the kid-less P-256 key for any ES256 kid.
    assert_eq!(order(Algorithm::ES256, Some("rs256-a")), [3]);
    assert!(order(Algorithm::ES384, None).is_empty());
    // An empty kid is a kid like any other.
    assert_eq!(order(Algorithm::RS512, Some("")), [0, 4]);
    assert!(set.has_kid(""));
    assert!(set.has_kid("rs256-a"));
    // Keys without a kid never make has_kid true; skipped keys do not count.
    assert!(!set.has_kid("rs3072-a"));
    assert!(!set.has_kid("ec384-a"));
}

#[test]
fn skipped_keys_are_classified() {
    let rsa = vector_jwk("rs256-a");
    let enc = with(rsa.clone(), "use", json!("enc"));
    // A published private key is invalid whatever the key is for.
    assert!(skipped(with(enc.clone(), "d", json!("AQAB"))).contains("private key"));
    // The key material of an encryption key is not examined.
    let tiny = with(enc.clone(), "n", b64(&[0xc5; 64]));
    assert!(skipped_not_for_signatures(tiny).contains("\"use\" is \"enc\""));
    let other_kty = with(enc.clone(), "kty", json!("EC-ish"));
    assert!(skipped_not_for_signatures(other_kty).contains("\"enc\""));
    let oaep = with(
        with(rsa.clone(), "alg", json!("RSA-OAEP")),
        "key_ops",
        json!(["encrypt"]),
    );
    assert!(skipped_not_for_signatures(oaep).contains("key_ops"));
    // Malformed generic members are invalid before the purpose is looked at.
    assert!(skipped(with(enc.clone(), "kid", json!(1))).contains("kid"));
    assert!(skipped(with(enc, "key_ops", json!("encrypt"))).contains("not an array"));
    assert!(skipped(with(rsa.clone(), "use", json!(["sig"]))).contains("not a string"));
    assert!(skipped(with(rsa.clone(), "kty", json!("XYZ"))).contains("unsupported"));
    let set = jwks(vec![
        Value::Object(with(rsa.clone(), "use", json!("enc"))),
        Value::Object(with(rsa.clone(), "e", json!("AQAB="))),
        Value::Object(rsa.clone()),
        Value::Object(with(rsa, "alg", json!("ECDH-ES+A128KW"))),
    ]);
    assert_eq!(set.keys.len(), 1);
    let classes: Vec<(usize, SkipClass)> = set.skipped.iter().map(|s| (s.index, s.class)).collect();
    assert_eq!(
        classes,
        [
            (0, SkipClass::NotForSignatures),
            (1, SkipClass::Invalid),
            (3, SkipClass::NotForSignatures)
        ]
    );
    let indexes = |class| {
        set.skipped
            .of_class(class)
            .map(|s| s.index)
            .collect::<Vec<_>>()
    };
    assert_eq!(indexes(SkipClass::Invalid), [1]);
    assert_eq!(indexes(SkipClass::NotForSignatures), [0, 3]);
    let line = set.skipped.join(" | ");
    assert_eq!(line.matches("(kid \"rs256-a\")").count(), 3, "{line}");
    assert!(
        line.starts_with("key 0 (kid \"rs256-a\"): \"use\" is \"enc\""),
        "{line}"
    );
    // The skip records never carry key material.
    assert!(!line.contains(&rsa_n_prefix()), "{line}");
}

/// The first characters of rs256-a's modulus as base64url.
fn rsa_n_prefix() -> String {
    vector_jwk("rs256-a")["n"].as_str().unwrap()[..16].to_owned()
}

#[test]
fn vector_jwks_skips_exactly_the_bad_keys() {
    let doc: Value = serde_json::from_str(VECTORS).unwrap();
    let set = KeySet::from_json(doc["jwks"].to_string().as_bytes()).unwrap();
    let expected = doc["expect_skipped"].as_object().unwrap();
    assert_eq!(set.skipped.len(), expected.len(), "{:?}", set.skipped);
    for (kid, class) in expected {
        assert!(!set.has_kid(kid));
        let record = set
            .skipped
            .iter()
            .find(|s| s.kid.as_deref() == Some(kid.as_str()))
            .unwrap_or_else(|| panic!("{kid}: {:?}", set.skipped));
        let want = match class.as_str().unwrap() {
            "invalid" => SkipClass::Invalid,
            "not_for_signatures" => SkipClass::NotForSignatures,
            other => panic!("class {other}"),
        };
        assert_eq!(record.class, want, "{record}");
    }
}
