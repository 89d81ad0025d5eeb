//! JWKS parsing (RFC 7517, key types from RFC 7518 §6 and RFC 8037).
//!
//! A JWKS is parsed once into ready-to-use verifying keys: RSA moduli get
//! their Montgomery parameters, EC points are decoded and checked to be on
//! the curve, Ed25519 points are decompressed. Verification then does no
//! parsing at all.
//!
//! Every key that cannot be used is left out and recorded in
//! [`KeySet::skipped`] with its [`SkipClass`]; only a document that is not a
//! JWKS at all is an error. Rules:
//!
//! - `kty` `RSA` (`n`, `e`; modulus 2048..=8192 bits, `e` odd, `1 < e < 2^33`),
//!   `EC` (`crv` `P-256`/`P-384`/`P-521`, `x`/`y` of the exact coordinate
//!   length, point on the curve), `OKP` (`crv` `Ed25519`, 32-byte `x`, not a
//!   small-order point), `oct` (`k`, at least 32 bytes, and at least the hash
//!   size of its `alg` if it has one);
//! - `use`, if present, must be `sig`; `key_ops`, if present, must contain
//!   `verify`; `alg`, if present, must be one of [`Algorithm`] and fit the
//!   key. A key that fails only these (an encryption key: `use` `enc`,
//!   `key_ops` without `verify`, a JWE `alg` such as `RSA-OAEP`) is
//!   [`SkipClass::NotForSignatures`]: IdPs publish those beside their
//!   signing keys;
//! - an asymmetric key that carries private members (`d`, `p`, `q`, ...) is
//!   never used, whatever its `use`: its private key has been published;
//! - base64url is strict: no padding, no `+`, `/` or whitespace, canonical
//!   trailing bits.
//!
//! Anything else wrong is [`SkipClass::Invalid`]. Duplicate `kid`s are kept
//! (key rotation overlaps).
//!
//! Key selection ([`KeySet::candidates`]) follows Envoy's jwt_verify_lib: a
//! token with a `kid` may be verified by the keys with that kid and by the
//! keys without any kid; a token without a kid by every key that fits.

mod parse;
#[cfg(test)]
mod tests;

use std::fmt;

use crate::crypto::{p256, rsa};
use serde_json::Value;

use super::algorithm::{Algorithm, KeyFamily};
#[cfg(test)]
pub(crate) use parse::b64url_decode;
use parse::{parse_key, Skip};

/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits (larger keys only cost CPU).
pub const MAX_RSA_BITS: usize = 8192;
/// Largest RSA public exponent accepted (same bound as `rsa` and *ring*:
/// huge exponents make verification a denial-of-service vector).
pub const MAX_RSA_EXPONENT: u64 = (1 << 33) - 1;

/// One usable key of a JWKS.
#[derive(Debug, Clone)]
pub struct Jwk {
    pub kid: Option<String>,
    /// The key's own `alg` member, if it has one: the key then verifies only
    /// tokens with exactly that algorithm.
    pub alg: Option<Algorithm>,
    pub key: VerifyingKey,
}

/// A parsed, validated verifying key.
#[derive(Clone)]
pub enum VerifyingKey {
    /// RSA public key (modulus 2048..=8192 bits) for RS* and PS*, with its
    /// Montgomery parameters precomputed (see [`crate::crypto::rsa`]).
    Rsa(rsa::PublicKey),
    /// P-256 public point for ES256 (edgeward's own verifier, see
    /// [`crate::crypto::p256`]).
    EcP256(p256::PublicKey),
    /// P-384 public point for ES384.
    EcP384(p384::ecdsa::VerifyingKey),
    /// P-521 public point for ES512.
    EcP521(p521::ecdsa::VerifyingKey),
    /// Ed25519 public point for EdDSA.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// HMAC shared secret for HS* (never printed by `Debug`).
    Hmac(Vec<u8>),
}

impl VerifyingKey {
    pub fn family(&self) -> KeyFamily {
        match self {
            VerifyingKey::Rsa(_) => KeyFamily::Rsa,
            VerifyingKey::EcP256(_) => KeyFamily::EcP256,
            VerifyingKey::EcP384(_) => KeyFamily::EcP384,
            VerifyingKey::EcP521(_) => KeyFamily::EcP521,
            VerifyingKey::Ed25519(_) => KeyFamily::Ed25519,
            VerifyingKey::Hmac(_) => KeyFamily::Hmac,
        }
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyingKey::Rsa(key) => write!(f, "Rsa({} bits)", key.modulus_bits()),
            VerifyingKey::EcP256(_) => f.write_str("EcP256"),
            VerifyingKey::EcP384(_) => f.write_str("EcP384"),
            VerifyingKey::EcP521(_) => f.write_str("EcP521"),
            VerifyingKey::Ed25519(_) => f.write_str("Ed25519"),
            VerifyingKey::Hmac(secret) => write!(f, "Hmac({} bytes, redacted)", secret.len()),
        }
    }
}

/// Minimum HMAC secret length for an HS* algorithm: the hash output size
/// (RFC 7518 §3.2). `None` for other algorithms.
pub fn min_hmac_secret_len(alg: Algorithm) -> Option<usize> {
    match alg {
        Algorithm::HS256 => Some(32),
        Algorithm::HS384 => Some(48),
        Algorithm::HS512 => Some(64),
        _ => None,
    }
}

/// The usable keys of a JWKS, plus every key that was left out.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    pub keys: Vec<Jwk>,
    /// The keys left out, in JWKS order.
    pub skipped: SkippedKeys,
}

/// Why a key was left out, as far as whoever configured it should care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipClass {
    /// A well-formed key that is not for signatures (`use` other than `sig`,
    /// `key_ops` without `verify`, a JWE `alg` such as `RSA-OAEP`, `ECDH-ES`,
    /// `A128KW`). Normal in an IdP's JWKS: worth a warning, not an error.
    NotForSignatures,
    /// A key that is broken or unsafe: a member of the wrong type, bad
    /// base64url, an RSA modulus outside 2048..=8192 bits, a point not on its
    /// curve, private members, an unknown `kty`, `crv` or signature `alg`,
    /// an `alg` that does not fit the key. Whoever published it made a
    /// mistake.
    Invalid,
}

/// One key of a JWKS that was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// Its position in the document's `keys` array, from 0.
    pub index: usize,
    /// Its `kid`, when that is a string.
    pub kid: Option<String>,
    pub class: SkipClass,
    /// What is wrong, naming the member, e.g. `RSA modulus is 1024 bits; at
    /// least 2048 required`. Never contains key material.
    pub why: String,
}

/// `key 2 (kid "x"): RSA modulus is 1024 bits; at least 2048 required`.
impl fmt::Display for SkippedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kid {
            Some(kid) => write!(f, "key {} (kid {kid:?}): {}", self.index, self.why),
            None => write!(f, "key {} (no kid): {}", self.index, self.why),
        }
    }
}

/// The skipped keys of a [`KeySet`]; a slice of [`SkippedKey`] otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkippedKeys(Vec<SkippedKey>);

impl SkippedKeys {
    /// Every skipped key as one line (see [`SkippedKey`]'s `Display`),
    /// joined by `separator`: for a log line.
    pub fn join(&self, separator: &str) -> String {
        let lines: Vec<String> = self.0.iter().map(SkippedKey::to_string).collect();
        lines.join(separator)
    }

    /// The skipped keys of one class, in JWKS order.
    pub fn of_class(&self, class: SkipClass) -> impl Iterator<Item = &SkippedKey> {
        self.0.iter().filter(move |key| key.class == class)
    }
}

impl std::ops::Deref for SkippedKeys {
    type Target = [SkippedKey];
    fn deref(&self) -> &[SkippedKey] {
        &self.0
    }
}

/// The document is not a JWKS (not JSON, not an object, no `keys` array).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksError(pub String);

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JwksError {}

impl KeySet {
    /// Parses a JWKS document `{"keys":[...]}`. Errors only when the document
    /// itself is not a JSON object with a `keys` array; individual unusable
    /// keys are skipped and recorded, classified, in `skipped`.
    pub fn from_json(bytes: &[u8]) -> Result<KeySet, JwksError> {
        let doc: Value = serde_json::from_slice(bytes)
            .map_err(|err| JwksError(format!("JWKS is not valid JSON: {err}")))?;
        let Value::Object(doc) = doc else {
            return Err(JwksError("JWKS is not a JSON object".to_owned()));
        };
        let entries = match doc.get("keys") {
            Some(Value::Array(entries)) => entries,
            Some(_) => return Err(JwksError("JWKS \"keys\" is not an array".to_owned())),
            None => return Err(JwksError("JWKS has no \"keys\" member".to_owned())),
        };
        let mut set = KeySet::default();
        for (index, entry) in entries.iter().enumerate() {
            match parse_key(entry) {
                Ok(jwk) => set.keys.push(jwk),
                Err(Skip { class, why }) => {
                    let kid = match entry.get("kid") {
                        Some(Value::String(kid)) => Some(kid.clone()),
                        _ => None,
                    };
                    set.skipped.0.push(SkippedKey {
                        index,
                        kid,
                        class,
                        why,
                    });
                }
            }
        }
        Ok(set)
    }

    /// The keys that may verify a token with this `alg` and `kid`, in JWKS
    /// order, as Envoy's jwt_verify_lib picks them: with a kid, the keys
    /// with exactly that kid and the keys without any kid; without a kid,
    /// all keys. In both cases only keys of `alg`'s family, whose own `alg`
    /// (if set) is `alg`, and (HMAC) whose secret is at least the hash
    /// output size.
    ///
    /// A kid is compared as a plain string: an empty `kid` is a kid (where
    /// jwt_verify_lib would treat it as absent).
    pub fn candidates(&self, alg: Algorithm, kid: Option<&str>) -> Vec<&Jwk> {
        self.keys
            .iter()
            .filter(|jwk| match (kid, jwk.kid.as_deref()) {
                (Some(want), Some(own)) => own == want,
                // A key without a kid may have signed any token; a token
                // without a kid may have been signed by any key.
                (Some(_), None) | (None, _) => true,
            })
            .filter(|jwk| jwk.key.family() == alg.key_family())
            .filter(|jwk| jwk.alg.is_none_or(|own| own == alg))
            .filter(|jwk| match (&jwk.key, min_hmac_secret_len(alg)) {
                (VerifyingKey::Hmac(secret), Some(min)) => secret.len() >= min,
                (VerifyingKey::Hmac(_), None) => false,
                _ => true,
            })
            .collect()
    }

    /// Whether a usable key (not a skipped one) has exactly this kid. Keys
    /// without a kid do not count: a token naming a kid that no key has may
    /// be worth a JWKS refetch even when kid-less keys are candidates.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|jwk| jwk.kid.as_deref() == Some(kid))
    }

    /// Does now the per-key work a first verification would do (P-256
    /// tables, ~1.5 ms per key in V8), so no request pays for it.
    pub fn prepare(&self) {
        for jwk in &self.keys {
            if let VerifyingKey::EcP256(key) = &jwk.key {
                key.prepare();
            }
        }
    }

    /// No usable key at all.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
