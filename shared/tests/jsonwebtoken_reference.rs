//! edgeward's JOSE layer against an independent implementation: the
//! `jsonwebtoken` crate (12, RustCrypto backend).
//!
//! - Every signature vector (`vectors/signatures.json`) through
//!   `KeySet::candidates` + `jose::verify_signature` and through
//!   `jsonwebtoken::crypto::verify`: the two must accept exactly the same
//!   signatures, except the cases listed in [`EDGEWARD_STRICTER_SIGNATURES`]
//!   (keys edgeward refuses to use), which edgeward must refuse and
//!   jsonwebtoken accept.
//! - A token corpus signed by `jsonwebtoken::encode` for every algorithm
//!   jsonwebtoken has (valid, tampered payload or signature, wrong key, wrong
//!   alg, expired, not yet valid, wrong iss or aud, no exp, ...) through
//!   `jose::parse` + key selection + `verify_signature` + the JWT filter's
//!   claim checks, and through `jsonwebtoken::decode`: the verdicts (accept,
//!   or the kind of refusal) must be the same, except the hostile tokens of
//!   [`edgeward_stricter_tokens`] (duplicate members, `crit`, `b64`, `enc`,
//!   registered claims of the wrong type, `iat` in the future), which
//!   edgeward must refuse and jsonwebtoken accept.
//!
//! jsonwebtoken has no ES512: those vectors are checked by the other suites.
//! Native only: on wasm32-unknown-unknown jsonwebtoken pulls js-sys and
//! getrandom (so it is not even a dev-dependency there).
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use edgeward_core::jose::{self, Algorithm, KeySet};
use edgeward_core::jwt::claims::{check_audience, check_issuer, check_time};
use edgeward_core::jwt::config::{JwtConfig, Provider};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::Jwk as JwtJwk;
use jsonwebtoken::{DecodingKey, EncodingKey, Validation};
use serde_json::{json, Map, Value};

const VECTORS: &str = include_str!("vectors/signatures.json");
const ISS: &str = "https://issuer.example";
const AUD: &str = "edgeward";
/// Clock skew on both sides. Large, because jsonwebtoken reads the clock
/// itself: tokens are made minutes before they are checked on a loaded
/// machine, and every time in the corpus is at least LEEWAY_S / 2 from a
/// boundary.
const LEEWAY_S: u64 = 600;

/// Signature vectors that edgeward refuses and jsonwebtoken accepts, and why.
/// Every entry must really differ that way (the list is exact).
const EDGEWARD_STRICTER_SIGNATURES: &[(&str, &str)] = &[
    (
        "RS256 by a 1024-bit key",
        "edgeward never uses an RSA modulus below 2048 bits",
    ),
    (
        "RS256 by a key whose use is enc",
        "edgeward skips keys whose use is not sig",
    ),
    (
        "ES256 by a key published with its private part",
        "edgeward never uses a key whose private members are published",
    ),
    (
        "PS512 with a key whose alg is RS512",
        "edgeward honours the JWK's alg; a jsonwebtoken DecodingKey has none",
    ),
    (
        "HS384 with a key whose alg is HS256",
        "edgeward honours the JWK's alg; a jsonwebtoken DecodingKey has none",
    ),
    (
        "HS512 with a 32-byte secret",
        "edgeward wants an HMAC secret at least as long as the hash (RFC 7518 3.2)",
    ),
];

fn doc() -> Value {
    serde_json::from_str(VECTORS).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

/// Every JWK of the vector document (usable or not), by kid.
fn jwks_by_kid(doc: &Value) -> BTreeMap<String, Value> {
    doc["jwks"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["kid"].as_str().unwrap().to_owned(), k.clone()))
        .collect()
}

fn decoding_key(jwk: &Value) -> Option<DecodingKey> {
    let jwk: JwtJwk = serde_json::from_value(jwk.clone()).ok()?;
    DecodingKey::from_jwk(&jwk).ok()
}

fn jsonwebtoken_alg(alg: Algorithm) -> Option<jsonwebtoken::Algorithm> {
    jsonwebtoken::Algorithm::from_str(alg.name()).ok()
}

/// jsonwebtoken's verdict on a raw signature: does `key` verify it?
fn jsonwebtoken_verifies(
    alg: jsonwebtoken::Algorithm,
    key: &DecodingKey,
    input: &str,
    sig: &str,
) -> bool {
    jsonwebtoken::crypto::verify(sig, input.as_bytes(), key, alg).unwrap_or(false)
}

#[test]
fn signature_vectors_get_the_same_verdicts() {
    let doc = doc();
    let keys = KeySet::from_json(doc["jwks"].to_string().as_bytes()).unwrap();
    let jwks = jwks_by_kid(&doc);
    let stricter: BTreeMap<&str, &str> = EDGEWARD_STRICTER_SIGNATURES.iter().copied().collect();
    let mut compared = 0;
    let mut differ = BTreeSet::new();
    let mut failures = Vec::new();
    for case in doc["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let alg = Algorithm::from_name(case["alg"].as_str().unwrap()).unwrap();
        let kid = case["kid"].as_str();
        let input = case["signing_input"].as_str().unwrap();
        let sig_b64 = case["signature_b64url"].as_str().unwrap();
        let sig = unb64(sig_b64);
        let ours = keys
            .candidates(alg, kid)
            .iter()
            .any(|jwk| jose::verify_signature(alg, &jwk.key, input.as_bytes(), &sig).is_ok());
        let Some(their_alg) = jsonwebtoken_alg(alg) else {
            assert_eq!(alg, Algorithm::ES512, "{name}: jsonwebtoken lacks {alg}");
            continue;
        };
        // A kid names one key; without one, any key of the document may do.
        let theirs = match kid {
            Some(kid) => decoding_key(&jwks[kid])
                .is_some_and(|key| jsonwebtoken_verifies(their_alg, &key, input, sig_b64)),
            None => jwks
                .values()
                .filter_map(decoding_key)
                .any(|key| jsonwebtoken_verifies(their_alg, &key, input, sig_b64)),
        };
        compared += 1;
        assert_eq!(ours, case["expect"] == "ok", "{name}: edgeward");
        match (ours, theirs, stricter.get(name)) {
            (a, b, None) if a == b => {}
            (false, true, Some(_)) => {
                differ.insert(name);
            }
            (a, b, why) => failures.push(format!(
                "{name}: edgeward {a}, jsonwebtoken {b} (listed as stricter: {why:?})"
            )),
        }
    }
    assert!(compared > 180, "{compared} vectors compared");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let listed: BTreeSet<&str> = stricter.keys().copied().collect();
    assert_eq!(differ, listed, "the list of stricter cases is not exact");
}

// ---------------------------------------------------------------------------
// Token corpus.

/// What became of a token, coarse enough that both libraries can say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    Accept,
    /// Refused before any signature check: malformed, `alg` not allowed.
    Token,
    /// The signature does not verify, or the key does not fit the `alg`.
    Signature,
    Expired,
    NotYetValid,
    MissingExp,
    Issuer,
    Audience,
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The JWT filter's provider for the claim checks: issuer, audience, 60 s
/// skew, exp required (the keys in it are not used here).
fn provider() -> Provider {
    let cfg = json!({
        "providers": {"p": {
            "issuer": ISS,
            "audiences": [AUD],
            "algorithms": ["HS256"],
            "clock_skew_s": LEEWAY_S,
            "require_exp": true,
            "jwks": {"inline": {"keys": [{"kty": "oct", "k": b64(&[7; 32])}]}}
        }},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider": "p"}}]
    });
    JwtConfig::from_json(cfg.to_string().as_bytes())
        .unwrap()
        .providers
        .remove(0)
}

/// The algorithms jsonwebtoken puts in one family with `alg`: what both
/// sides are told to allow for a key of that family.
fn family(alg: jsonwebtoken::Algorithm) -> Vec<jsonwebtoken::Algorithm> {
    alg.family().algorithms().to_vec()
}

/// edgeward: strict parse, jwt_verify_lib key selection, signature, then
/// the JWT filter's time, issuer and audience checks (in jsonwebtoken's
/// order, so that refusals can be compared).
fn edgeward_verdict(
    token: &str,
    jwk: &Value,
    allowed: &[jsonwebtoken::Algorithm],
    now: u64,
) -> Verdict {
    let keys = KeySet::from_json(json!({ "keys": [jwk] }).to_string().as_bytes()).unwrap();
    let allowed: Vec<Algorithm> = Algorithm::ALL
        .into_iter()
        .filter(|a| jsonwebtoken_alg(*a).is_some_and(|a| allowed.contains(&a)))
        .collect();
    let Ok(parsed) = jose::parse(token, 64 * 1024, &allowed) else {
        return Verdict::Token;
    };
    let alg = parsed.header.alg;
    let verified = keys
        .candidates(alg, parsed.header.kid.as_deref())
        .iter()
        .map(|jwk| {
            jose::verify_signature(
                alg,
                &jwk.key,
                parsed.signing_input.as_bytes(),
                &parsed.signature,
            )
        })
        .any(|r| r.is_ok());
    if !verified {
        return Verdict::Signature;
    }
    let provider = provider();
    let claims = &parsed.claims;
    if let Err(reason) = check_time(claims, &provider, now as f64) {
        return match reason.code() {
            "expired" => Verdict::Expired,
            "not_yet_valid" => Verdict::NotYetValid,
            "missing_exp" => Verdict::MissingExp,
            other => panic!("unexpected time reason {other}"),
        };
    }
    if check_issuer(claims, &provider).is_err() {
        return Verdict::Issuer;
    }
    if check_audience(claims, &provider).is_err() {
        return Verdict::Audience;
    }
    Verdict::Accept
}

/// jsonwebtoken: `decode` with the same rules (its own clock, which the
/// corpus keeps far from every boundary).
fn jsonwebtoken_verdict(token: &str, jwk: &Value, allowed: &[jsonwebtoken::Algorithm]) -> Verdict {
    let Some(key) = decoding_key(jwk) else {
        return Verdict::Signature;
    };
    let mut validation = Validation::new(allowed[0]);
    validation.algorithms = allowed.to_vec();
    validation.leeway = LEEWAY_S;
    validation.validate_nbf = true;
    validation.set_issuer(&[ISS]);
    validation.set_audience(&[AUD]);
    // edgeward requires iss and aud when the provider names them.
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    match jsonwebtoken::decode::<Value>(token, &key, &validation) {
        Ok(_) => Verdict::Accept,
        Err(err) => match err.into_kind() {
            ErrorKind::InvalidSignature
            | ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidEddsaKey
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidKeyFormat => Verdict::Signature,
            ErrorKind::ExpiredSignature => Verdict::Expired,
            ErrorKind::ImmatureSignature => Verdict::NotYetValid,
            ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
                "exp" => Verdict::MissingExp,
                "iss" => Verdict::Issuer,
                "aud" => Verdict::Audience,
                other => panic!("unexpected missing claim {other}"),
            },
            ErrorKind::InvalidIssuer => Verdict::Issuer,
            ErrorKind::InvalidAudience => Verdict::Audience,
            ErrorKind::InvalidToken
            | ErrorKind::InvalidAlgorithm
            | ErrorKind::InvalidAlgorithmName
            | ErrorKind::MissingAlgorithm
            | ErrorKind::UnsupportedAlgorithm
            | ErrorKind::InvalidClaimFormat(_)
            | ErrorKind::Base64(_)
            | ErrorKind::Json(_)
            | ErrorKind::Utf8(_) => Verdict::Token,
            other => panic!("unexpected jsonwebtoken error {other:?}"),
        },
    }
}

/// One signing key of the vectors and a second key of the same type.
struct Signer {
    alg: jsonwebtoken::Algorithm,
    kid: &'static str,
    other_kid: &'static str,
    encoding: EncodingKey,
}

fn signers(doc: &Value) -> Vec<Signer> {
    let private = &doc["TEST_ONLY_private_keys"];
    let pem = |kid: &str| private[kid].as_str().unwrap().as_bytes().to_vec();
    let table: [(&str, &str, &str); 12] = [
        ("HS256", "hs256-a", "hs-short32"),
        ("HS384", "hs384-a", "hs512-a"),
        ("HS512", "hs512-a", "hs-other64"),
        ("RS256", "rs256-a", "rs3072-a"),
        ("RS384", "rs3072-a", "rs256-a"),
        ("RS512", "rs4096-a", "rs256-a"),
        ("PS256", "rs256-a", "rs3072-a"),
        ("PS384", "rs3072-a", "rs-e3"),
        ("PS512", "rs-e3", "rs256-a"),
        ("ES256", "ec256-a", "ec256-b"),
        ("ES384", "ec384-a", "ec384-b"),
        ("EdDSA", "ed-a", "ed-b"),
    ];
    table
        .into_iter()
        .map(|(alg, kid, other_kid)| {
            let alg = jsonwebtoken::Algorithm::from_str(alg).unwrap();
            let encoding = match alg.family() {
                jsonwebtoken::AlgorithmFamily::Hmac => {
                    EncodingKey::from_secret(&unb64(private[kid].as_str().unwrap())).unwrap()
                }
                jsonwebtoken::AlgorithmFamily::Rsa => EncodingKey::from_rsa_pem(&pem(kid)).unwrap(),
                jsonwebtoken::AlgorithmFamily::Ec => EncodingKey::from_ec_pem(&pem(kid)).unwrap(),
                jsonwebtoken::AlgorithmFamily::Ed => EncodingKey::from_ed_pem(&pem(kid)).unwrap(),
            };
            Signer {
                alg,
                kid,
                other_kid,
                encoding,
            }
        })
        .collect()
}

/// The JWK for a kid, plus one extra 64-byte HMAC secret no signer uses.
fn verifying_jwk(jwks: &BTreeMap<String, Value>, kid: &str) -> Value {
    match kid {
        "hs-other64" => json!({"kty": "oct", "kid": kid, "k": b64(&[0x42; 64])}),
        _ => jwks[kid].clone(),
    }
}

/// A token signed by `signer` over any header and payload JSON text.
fn signed(signer: &Signer, header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &signer.encoding, signer.alg).unwrap();
    format!("{input}.{sig}")
}

struct Case {
    name: String,
    token: String,
    /// kid of the key both sides verify with.
    key: String,
    /// edgeward's verdict, and jsonwebtoken's: the same, or two refusals
    /// that name the fault differently (see [`Refusal`]).
    expect: (Verdict, Verdict),
}

/// Where both refuse a token but say why differently.
#[derive(Clone, Copy)]
enum Refusal {
    Same(Verdict),
    /// jsonwebtoken tries an empty signature; edgeward refuses it unparsed.
    EmptySignature,
    /// jsonwebtoken reports a registered claim of the wrong type as missing
    /// (`exp`) or as not matching (`aud`); edgeward as a malformed token.
    MistypedClaim(Verdict),
}

impl Refusal {
    fn pair(self) -> (Verdict, Verdict) {
        match self {
            Refusal::Same(v) => (v, v),
            Refusal::EmptySignature => (Verdict::Token, Verdict::Signature),
            Refusal::MistypedClaim(theirs) => (Verdict::Token, theirs),
        }
    }
}

impl From<Verdict> for Refusal {
    fn from(v: Verdict) -> Refusal {
        Refusal::Same(v)
    }
}

/// Tokens both libraries must judge alike.
fn agreed_corpus(doc: &Value, now: u64) -> Vec<Case> {
    let mut cases = Vec::new();
    for s in signers(doc) {
        let alg = format!("{:?}", s.alg);
        let mut add = |what: &str, token: String, key: &str, expect: Refusal| {
            cases.push(Case {
                name: format!("{alg} {what}"),
                token,
                key: key.to_owned(),
                expect: expect.pair(),
            });
        };
        let mut header = jsonwebtoken::Header::new(s.alg);
        header.kid = Some(s.kid.to_owned());
        let claims = |extra: Value| {
            let mut c =
                json!({"iss": ISS, "aud": AUD, "sub": "alice", "iat": now, "exp": now + 3600});
            for (k, v) in extra.as_object().unwrap() {
                if v.is_null() {
                    c.as_object_mut().unwrap().remove(k);
                } else {
                    c[k] = v.clone();
                }
            }
            c
        };
        let token =
            |extra: Value| jsonwebtoken::encode(&header, &claims(extra), &s.encoding).unwrap();
        let valid = token(json!({}));
        add("valid", valid.clone(), s.kid, Verdict::Accept.into());
        add(
            "valid, aud among others",
            token(json!({"aud": ["other", AUD]})),
            s.kid,
            Verdict::Accept.into(),
        );
        add(
            "valid, expired within the leeway",
            token(json!({"exp": now - LEEWAY_S / 2})),
            s.kid,
            Verdict::Accept.into(),
        );
        add(
            "valid, nbf within the leeway",
            token(json!({"nbf": now + LEEWAY_S / 2})),
            s.kid,
            Verdict::Accept.into(),
        );
        add(
            "valid, fractional exp",
            token(json!({"exp": now as f64 + 3600.5})),
            s.kid,
            Verdict::Accept.into(),
        );
        add(
            "valid, no kid",
            {
                let mut h = header.clone();
                h.kid = None;
                jsonwebtoken::encode(&h, &claims(json!({})), &s.encoding).unwrap()
            },
            s.kid,
            Verdict::Accept.into(),
        );
        let parts: Vec<&str> = valid.split('.').collect();
        let other_payload = b64(claims(json!({"sub": "mallory"})).to_string().as_bytes());
        add(
            "tampered payload",
            format!("{}.{other_payload}.{}", parts[0], parts[2]),
            s.kid,
            Verdict::Signature.into(),
        );
        let mut sig = unb64(parts[2]);
        let mid = sig.len() / 2;
        sig[mid] ^= 0x10;
        add(
            "tampered signature",
            format!("{}.{}.{}", parts[0], parts[1], b64(&sig)),
            s.kid,
            Verdict::Signature.into(),
        );
        add(
            "empty signature",
            format!("{}.{}.", parts[0], parts[1]),
            s.kid,
            Refusal::EmptySignature,
        );
        add(
            "wrong key",
            valid.clone(),
            s.other_kid,
            Verdict::Signature.into(),
        );
        // The header's alg swapped for another of the same family: the
        // signature no longer verifies (or the key does not fit).
        for other in family(s.alg).into_iter().filter(|a| *a != s.alg) {
            let mut h = header.clone();
            h.alg = other;
            let swapped = format!(
                "{}.{}.{}",
                b64(serde_json::to_string(&h).unwrap().as_bytes()),
                parts[1],
                parts[2]
            );
            add(
                &format!("with alg {other:?}"),
                swapped,
                s.kid,
                Verdict::Signature.into(),
            );
        }
        // An alg of another family, and none.
        for other in ["HS256", "RS256", "none"] {
            if family(s.alg).iter().any(|a| format!("{a:?}") == other) {
                continue;
            }
            let h = format!(r#"{{"alg":"{other}","kid":"{}"}}"#, s.kid);
            let forged = format!("{}.{}.{}", b64(h.as_bytes()), parts[1], parts[2]);
            add(
                &format!("with alg {other}"),
                forged,
                s.kid,
                Verdict::Token.into(),
            );
        }
        add(
            "expired",
            token(json!({"exp": now - 3600})),
            s.kid,
            Verdict::Expired.into(),
        );
        add(
            "not yet valid",
            token(json!({"nbf": now + 3600})),
            s.kid,
            Verdict::NotYetValid.into(),
        );
        add(
            "without exp",
            token(json!({"exp": null})),
            s.kid,
            Verdict::MissingExp.into(),
        );
        add(
            "exp as a string",
            token(json!({"exp": (now + 3600).to_string()})),
            s.kid,
            Refusal::MistypedClaim(Verdict::MissingExp),
        );
        add(
            "aud of the wrong type",
            token(json!({"aud": [1]})),
            s.kid,
            Refusal::MistypedClaim(Verdict::Audience),
        );
        add(
            "wrong iss",
            token(json!({"iss": "https://other.example"})),
            s.kid,
            Verdict::Issuer.into(),
        );
        add(
            "no iss",
            token(json!({"iss": null})),
            s.kid,
            Verdict::Issuer.into(),
        );
        add(
            "wrong aud",
            token(json!({"aud": "other"})),
            s.kid,
            Verdict::Audience.into(),
        );
        add(
            "no aud",
            token(json!({"aud": null})),
            s.kid,
            Verdict::Audience.into(),
        );
        add(
            "four parts",
            format!("{valid}.{}", parts[2]),
            s.kid,
            Verdict::Token.into(),
        );
        add(
            "padded signature",
            format!("{valid}="),
            s.kid,
            Verdict::Token.into(),
        );
        let plain_claims = claims(json!({})).to_string();
        let h = format!(r#"{{"alg":"{alg}","kid":7}}"#);
        add(
            "kid of the wrong type",
            signed(&s, &h, &plain_claims),
            s.kid,
            Verdict::Token.into(),
        );
        // Repeated registered members: jsonwebtoken's typed structs refuse
        // them too (repeated other members: see edgeward_stricter_tokens).
        for dup in [
            r#""typ":"JWT","typ":"JWT""#,
            &format!(r#""alg":"{alg}","alg":"{alg}""#),
        ] {
            let h = format!(r#"{{"alg":"{alg}","kid":"{}",{dup}}}"#, s.kid);
            add(
                &format!("header {dup}"),
                signed(&s, &h, &plain_claims),
                s.kid,
                Verdict::Token.into(),
            );
        }
        let exp = now + 3600;
        let p = format!(r#"{{"iss":"{ISS}","aud":"{AUD}","exp":{exp},"exp":{exp}}}"#);
        let h = format!(r#"{{"alg":"{alg}","kid":"{}"}}"#, s.kid);
        add(
            "payload with exp twice",
            signed(&s, &h, &p),
            s.kid,
            Verdict::Token.into(),
        );
    }
    cases
}

/// Hostile tokens, correctly signed, that edgeward refuses and jsonwebtoken
/// accepts: (what, header JSON, payload JSON, why edgeward refuses).
fn edgeward_stricter_tokens(
    alg: &str,
    kid: &str,
    now: u64,
) -> Vec<(String, String, String, &'static str)> {
    let payload = |extra: &str| {
        format!(
            r#"{{"iss":"{ISS}","aud":"{AUD}","sub":"alice","exp":{}{extra}}}"#,
            now + 3600
        )
    };
    let header = |extra: &str| format!(r#"{{"alg":"{alg}","kid":"{kid}"{extra}}}"#);
    let ok_header = header("");
    vec![
        (
            "duplicate header member of no registered name".into(),
            header(r#","tenant":"a","tenant":"b""#),
            payload(""),
            "a repeated member may mean different things to different parsers",
        ),
        (
            "duplicate private claim".into(),
            ok_header.clone(),
            payload(r#","role":"user","role":"admin""#),
            "a repeated member may mean different things to different parsers",
        ),
        (
            "crit b64 with b64 true".into(),
            header(r#","crit":["b64"],"b64":true"#),
            payload(""),
            "edgeward understands no extension, so it refuses any crit (RFC 7515 4.1.11)",
        ),
        (
            "b64 true".into(),
            header(r#","b64":true"#),
            payload(""),
            "b64 (RFC 7797) is not for JWTs; edgeward refuses it in any form",
        ),
        (
            "enc in a JWS header".into(),
            header(r#","enc":"A128GCM""#),
            payload(""),
            "a header with enc is a JWE header",
        ),
        (
            "iat in the future".into(),
            ok_header.clone(),
            payload(&format!(r#","iat":{}"#, now + 3600)),
            "a token issued in the future is not valid yet",
        ),
        (
            "iat as a string".into(),
            ok_header.clone(),
            payload(r#","iat":"yesterday""#),
            "registered claims must have their RFC 7519 types",
        ),
        (
            "sub as a number".into(),
            ok_header.clone(),
            payload(r#","sub":42"#).replacen(r#""sub":"alice","#, "", 1),
            "registered claims must have their RFC 7519 types",
        ),
        (
            "jti as an object".into(),
            ok_header.clone(),
            payload(r#","jti":{}"#),
            "registered claims must have their RFC 7519 types",
        ),
    ]
}

#[test]
fn token_corpus_gets_the_same_verdicts() {
    let doc = doc();
    let jwks = jwks_by_kid(&doc);
    let now = now_s();
    let cases = agreed_corpus(&doc, now);
    let mut failures = Vec::new();
    let mut seen = BTreeSet::new();
    for case in &cases {
        let jwk = verifying_jwk(&jwks, &case.key);
        let alg = jsonwebtoken::Algorithm::from_str(case.name.split(' ').next().unwrap()).unwrap();
        let allowed = family(alg);
        let ours = edgeward_verdict(&case.token, &jwk, &allowed, now_s());
        let theirs = jsonwebtoken_verdict(&case.token, &jwk, &allowed);
        seen.insert(case.expect.0);
        if (ours, theirs) != case.expect {
            failures.push(format!(
                "{}: expected {:?}, edgeward {ours:?}, jsonwebtoken {theirs:?}",
                case.name, case.expect
            ));
        }
    }
    assert!(cases.len() > 300, "{} cases", cases.len());
    assert_eq!(seen.len(), 8, "every verdict is exercised: {seen:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn edgeward_is_stricter_on_hostile_tokens() {
    let doc = doc();
    let jwks = jwks_by_kid(&doc);
    let now = now_s();
    let mut failures = Vec::new();
    let mut count = 0;
    for s in signers(&doc) {
        let alg = format!("{:?}", s.alg);
        let jwk = verifying_jwk(&jwks, s.kid);
        let allowed = family(s.alg);
        for (what, header, payload, why) in edgeward_stricter_tokens(&alg, s.kid, now) {
            let token = signed(&s, &header, &payload);
            let ours = edgeward_verdict(&token, &jwk, &allowed, now_s());
            let theirs = jsonwebtoken_verdict(&token, &jwk, &allowed);
            count += 1;
            if ours == Verdict::Accept || theirs != Verdict::Accept {
                failures.push(format!(
                    "{alg} {what} ({why}): edgeward {ours:?}, jsonwebtoken {theirs:?}"
                ));
            }
        }
        // The same tokens without the hostile part are accepted by both.
        let plain = signed(
            &s,
            &format!(r#"{{"alg":"{alg}","kid":"{}"}}"#, s.kid),
            &format!(r#"{{"iss":"{ISS}","aud":"{AUD}","exp":{}}}"#, now + 3600),
        );
        assert_eq!(
            edgeward_verdict(&plain, &jwk, &allowed, now_s()),
            Verdict::Accept
        );
        assert_eq!(
            jsonwebtoken_verdict(&plain, &jwk, &allowed),
            Verdict::Accept
        );
    }
    assert_eq!(count, 12 * 9);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn claims_are_read_alike() {
    // The payload both return for an accepted token is the same JSON.
    let doc = doc();
    let jwks = jwks_by_kid(&doc);
    let now = now_s();
    let s = &signers(&doc)[3];
    let claims = json!({"iss": ISS, "aud": [AUD], "exp": now + 60, "nested": {"a": [1, 2.5, "x"]}});
    let token =
        jsonwebtoken::encode(&jsonwebtoken::Header::new(s.alg), &claims, &s.encoding).unwrap();
    let parsed = jose::parse(&token, 8192, &Algorithm::ALL).unwrap();
    let key = decoding_key(&verifying_jwk(&jwks, s.kid)).unwrap();
    let mut validation = Validation::new(s.alg);
    validation.set_audience(&[AUD]);
    let theirs = jsonwebtoken::decode::<Map<String, Value>>(&token, &key, &validation).unwrap();
    assert_eq!(parsed.claims, theirs.claims);
    assert_eq!(Value::Object(parsed.claims), claims);
}
