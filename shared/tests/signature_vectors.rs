//! Known-answer JWS signature vectors made by an independent implementation
//! (pyca/cryptography, see `vectors/generate.py`), run through the same path
//! the filter uses: `KeySet::from_json` -> `candidates` -> `verify_signature`.
//!
//! Runs natively (`cargo test`) and on wasm32-wasip1 under node (WASI)
//! (`tests/run-core-wasm-tests.sh`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use edgeward_core::jose::algorithm::Algorithm;
use edgeward_core::jose::jwk::{KeySet, SkipClass};
use edgeward_core::jose::verify::{verify_signature, SignatureError};
use serde_json::Value;

const VECTORS: &str = include_str!("vectors/signatures.json");

fn document() -> Value {
    serde_json::from_str(VECTORS).unwrap()
}

fn key_set(doc: &Value) -> KeySet {
    KeySet::from_json(doc["jwks"].to_string().as_bytes()).unwrap()
}

/// The verdict the filter would reach: "key_mismatch" when no key may verify
/// this alg + kid, "ok" when one candidate verifies, else "invalid".
fn verdict(keys: &KeySet, alg: Algorithm, kid: Option<&str>, input: &[u8], sig: &[u8]) -> String {
    let candidates = keys.candidates(alg, kid);
    if candidates.is_empty() {
        // Keys with this kid that are not candidates must be refused by
        // verify_signature too when their family differs.
        for jwk in keys
            .keys
            .iter()
            .filter(|k| kid.is_some() && k.kid.as_deref() == kid)
        {
            if jwk.key.family() != alg.key_family() {
                assert_eq!(
                    verify_signature(alg, &jwk.key, input, sig),
                    Err(SignatureError::KeyMismatch)
                );
            }
        }
        return "key_mismatch".to_owned();
    }
    let mut ok = false;
    for jwk in candidates {
        match verify_signature(alg, &jwk.key, input, sig) {
            Ok(()) => ok = true,
            Err(SignatureError::Invalid) => {}
            Err(SignatureError::KeyMismatch) => {
                return format!("candidate {:?} gave KeyMismatch", jwk.kid);
            }
        }
    }
    if ok { "ok" } else { "invalid" }.to_owned()
}

#[test]
fn every_vector_gets_its_expected_verdict() {
    let doc = document();
    let keys = key_set(&doc);
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 150, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let alg = Algorithm::from_name(case["alg"].as_str().unwrap()).unwrap();
        let kid = case["kid"].as_str();
        let input = case["signing_input"].as_str().unwrap().as_bytes();
        let sig = URL_SAFE_NO_PAD
            .decode(case["signature_b64url"].as_str().unwrap())
            .unwrap();
        let expect = case["expect"].as_str().unwrap();
        let got = verdict(&keys, alg, kid, input, &sig);
        if got != expect {
            failures.push(format!("{name}: expected {expect}, got {got}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_algorithm_has_a_valid_vector() {
    let doc = document();
    let cases = doc["cases"].as_array().unwrap();
    for alg in Algorithm::ALL {
        assert!(
            cases
                .iter()
                .any(|c| c["alg"] == alg.name() && c["expect"] == "ok"),
            "{alg}"
        );
    }
}

#[test]
fn vector_jwks_skips_exactly_the_unusable_keys() {
    let doc = document();
    let keys = key_set(&doc);
    let expected = doc["expect_skipped"].as_object().unwrap();
    assert_eq!(keys.skipped.len(), expected.len(), "{:#?}", keys.skipped);
    for (kid, class) in expected {
        assert!(!keys.has_kid(kid), "{kid}");
        let record = keys
            .skipped
            .iter()
            .find(|s| s.kid.as_deref() == Some(kid.as_str()))
            .unwrap_or_else(|| panic!("{kid}: {:#?}", keys.skipped));
        let want = match class.as_str().unwrap() {
            "invalid" => SkipClass::Invalid,
            "not_for_signatures" => SkipClass::NotForSignatures,
            other => panic!("unknown class {other}"),
        };
        assert_eq!(record.class, want, "{record}");
        assert!(record.to_string().contains(&format!("{kid:?}")), "{record}");
    }
    let total = doc["jwks"]["keys"].as_array().unwrap().len();
    assert_eq!(keys.keys.len() + keys.skipped.len(), total);
}
