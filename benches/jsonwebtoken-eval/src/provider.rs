//! A `jsonwebtoken` CryptoProvider whose verifiers are edgeward's: the
//! DecodingKey's raw parts become a JWK, `jose::KeySet::from_json` checks
//! and prepares it (RSA Montgomery parameters, P-256 tables), and
//! `jose::verify_signature` checks each signature.
//!
//! jsonwebtoken calls `verifier_factory(&alg, &DecodingKey)` on every
//! `decode`, and a DecodingKey is only bytes: preparing the key each time
//! would cost ~33 µs (RSA) to ~1.5 ms (P-256) in V8, so prepared keys are
//! cached per thread by their bytes (unbounded: a prototype).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use edgeward_core::jose::{self, KeySet, VerifyingKey};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature;
use jsonwebtoken::{AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use serde_json::{json, Value};

/// Install with `EDGEWARD_PROVIDER.install_default()` before the first
/// `decode`. It verifies only: signing is refused.
pub static EDGEWARD_PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: no_signer,
    verifier_factory: new_verifier,
    key_utils: KeyUtils::new_unimplemented(),
};

fn no_signer(_: &jsonwebtoken::Algorithm, _: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    Err(ErrorKind::Provider("edgeward's provider only verifies".to_owned()).into())
}

struct EdgewardVerifier {
    alg: jsonwebtoken::Algorithm,
    ours: jose::Algorithm,
    key: Rc<VerifyingKey>,
}

impl signature::Verifier<Vec<u8>> for EdgewardVerifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        jose::verify_signature(self.ours, &self.key, msg, signature)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for EdgewardVerifier {
    fn algorithm(&self) -> jsonwebtoken::Algorithm {
        self.alg
    }
}

thread_local! {
    static KEYS: RefCell<HashMap<Vec<u8>, Rc<VerifyingKey>>> = RefCell::new(HashMap::new());
}

fn new_verifier(
    alg: &jsonwebtoken::Algorithm,
    key: &DecodingKey,
) -> Result<Box<dyn JwtVerifier>, Error> {
    let ours = jose::Algorithm::from_name(&format!("{alg:?}"))
        .ok_or_else(|| Error::from(ErrorKind::UnsupportedAlgorithm))?;
    let key = prepared_key(key)?;
    if key.family() != ours.key_family() {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    Ok(Box::new(EdgewardVerifier {
        alg: *alg,
        ours,
        key,
    }))
}

/// The cache key: the family's name, then the key's bytes.
fn cache_key(key: &DecodingKey) -> Vec<u8> {
    let mut out = format!("{:?}:", key.family()).into_bytes();
    match key.kind() {
        DecodingKeyKind::SecretOrDer(bytes) => out.extend_from_slice(bytes),
        DecodingKeyKind::RsaModulusExponent { n, e } => {
            out.extend_from_slice(&(n.len() as u32).to_be_bytes());
            out.extend_from_slice(n);
            out.extend_from_slice(e);
        }
    }
    out
}

fn prepared_key(key: &DecodingKey) -> Result<Rc<VerifyingKey>, Error> {
    let id = cache_key(key);
    if let Some(found) = KEYS.with(|keys| keys.borrow().get(&id).cloned()) {
        return Ok(found);
    }
    let jwk = as_jwk(key)?;
    let set = KeySet::from_json(json!({ "keys": [jwk] }).to_string().as_bytes())
        .map_err(|e| ErrorKind::Provider(e.to_string()))?;
    // edgeward's key rules (RSA size, curve points, private members, HMAC
    // length...) hold here too: a refused key is an error.
    if let Some(skipped) = set.skipped.first() {
        return Err(ErrorKind::Provider(skipped.to_string()).into());
    }
    set.prepare();
    let prepared = set
        .keys
        .into_iter()
        .next()
        .map(|jwk| Rc::new(jwk.key))
        .ok_or_else(|| Error::from(ErrorKind::InvalidKeyFormat))?;
    KEYS.with(|keys| keys.borrow_mut().insert(id, prepared.clone()));
    Ok(prepared)
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The JWK a DecodingKey stands for. PEM/DER RSA keys are not handled (the
/// filter gets its keys as JWKs).
fn as_jwk(key: &DecodingKey) -> Result<Value, Error> {
    let bytes = match key.kind() {
        DecodingKeyKind::RsaModulusExponent { n, e } => {
            return Ok(json!({"kty": "RSA", "n": b64(n), "e": b64(e)}));
        }
        DecodingKeyKind::SecretOrDer(bytes) => bytes,
    };
    Ok(match key.family() {
        AlgorithmFamily::Hmac => json!({"kty": "oct", "k": b64(bytes)}),
        AlgorithmFamily::Ed => json!({"kty": "OKP", "crv": "Ed25519", "x": b64(bytes)}),
        AlgorithmFamily::Ec => {
            // Uncompressed SEC1: 04 || x || y.
            let crv = match bytes.len() {
                65 => "P-256",
                97 => "P-384",
                133 => "P-521",
                _ => return Err(ErrorKind::InvalidEcdsaKey.into()),
            };
            let half = (bytes.len() - 1) / 2;
            let (x, y) = bytes
                .get(1..)
                .filter(|_| bytes.first() == Some(&4))
                .map(|xy| xy.split_at(half))
                .ok_or_else(|| Error::from(ErrorKind::InvalidEcdsaKey))?;
            json!({"kty": "EC", "crv": crv, "x": b64(x), "y": b64(y)})
        }
        AlgorithmFamily::Rsa => {
            return Err(ErrorKind::InvalidRsaKey("DER RSA keys are not handled".to_owned()).into())
        }
    })
}
