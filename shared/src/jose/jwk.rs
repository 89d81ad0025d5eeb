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

use std::fmt;

use crate::crypto::{p256, rsa};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};

use super::algorithm::{Algorithm, KeyFamily};

/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits (larger keys only cost CPU).
pub const MAX_RSA_BITS: usize = 8192;
/// Largest RSA public exponent accepted (same bound as `rsa` and *ring*:
/// huge exponents make verification a denial-of-service vector).
pub const MAX_RSA_EXPONENT: u64 = (1 << 33) - 1;

/// JWE key-management algorithms (RFC 7518 §4.1 and the IANA JOSE
/// registry): a key with one of these as its `alg` encrypts, it does not
/// sign.
const ENCRYPTION_ALGS: [&str; 19] = [
    "RSA1_5",
    "RSA-OAEP",
    "RSA-OAEP-256",
    "RSA-OAEP-384",
    "RSA-OAEP-512",
    "A128KW",
    "A192KW",
    "A256KW",
    "dir",
    "ECDH-ES",
    "ECDH-ES+A128KW",
    "ECDH-ES+A192KW",
    "ECDH-ES+A256KW",
    "A128GCMKW",
    "A192GCMKW",
    "A256GCMKW",
    "PBES2-HS256+A128KW",
    "PBES2-HS384+A192KW",
    "PBES2-HS512+A256KW",
];

/// Members that only a private (or CRT) key has. `k` is not here: an `oct`
/// key is a shared secret by nature.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

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

    /// The same as [`KeySet::has_kid`] (its former name, still used by the
    /// JWT engine).
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.has_kid(kid)
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

/// Why [`parse_key`] left a key out.
struct Skip {
    class: SkipClass,
    why: String,
}

impl Skip {
    fn invalid(why: impl Into<String>) -> Skip {
        Skip {
            class: SkipClass::Invalid,
            why: why.into(),
        }
    }

    fn not_for_signatures(why: String) -> Skip {
        Skip {
            class: SkipClass::NotForSignatures,
            why,
        }
    }
}

/// Parses one JWK; `Err` is why it is skipped. Checked in this order: the
/// types of the generic members, then private members (a published private
/// key is a mistake whatever the key is for), then what the key is for, and
/// only for signature keys the key material itself.
fn parse_key(entry: &Value) -> Result<Jwk, Skip> {
    let Value::Object(obj) = entry else {
        return Err(Skip::invalid("not a JSON object"));
    };
    let kid = match obj.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(Skip::invalid("\"kid\" is not a string")),
    };
    let kty = match obj.get("kty") {
        Some(Value::String(kty)) => kty.as_str(),
        Some(_) => return Err(Skip::invalid("\"kty\" is not a string")),
        None => return Err(Skip::invalid("no \"kty\"")),
    };
    let usage = match obj.get("use") {
        None => None,
        Some(Value::String(usage)) => Some(usage.as_str()),
        Some(_) => return Err(Skip::invalid("\"use\" is not a string")),
    };
    let ops = match obj.get("key_ops") {
        None => None,
        Some(Value::Array(ops)) => {
            let names: Option<Vec<&str>> = ops.iter().map(Value::as_str).collect();
            match names {
                Some(names) => Some(names),
                None => return Err(Skip::invalid("\"key_ops\" is not an array of strings")),
            }
        }
        Some(_) => return Err(Skip::invalid("\"key_ops\" is not an array")),
    };
    let alg_name = match obj.get("alg") {
        None => None,
        Some(Value::String(name)) => Some(name.as_str()),
        Some(_) => return Err(Skip::invalid("\"alg\" is not a string")),
    };
    if kty != "oct" {
        let private: Vec<&str> = PRIVATE_MEMBERS
            .into_iter()
            .filter(|member| obj.contains_key(*member))
            .collect();
        if !private.is_empty() {
            return Err(Skip::invalid(format!(
                "contains private key material ({}); a published private key is never used",
                private.join(", ")
            )));
        }
    }
    if let Some(usage) = usage.filter(|usage| *usage != "sig") {
        return Err(Skip::not_for_signatures(format!(
            "\"use\" is {usage:?}; only \"sig\" keys verify signatures"
        )));
    }
    if ops.is_some_and(|ops| !ops.contains(&"verify")) {
        return Err(Skip::not_for_signatures(
            "\"key_ops\" does not contain \"verify\"".to_owned(),
        ));
    }
    let alg = match alg_name {
        None => None,
        Some(name) if ENCRYPTION_ALGS.contains(&name) => {
            return Err(Skip::not_for_signatures(format!(
                "\"alg\" {name:?} is an encryption algorithm; only signature keys are used"
            )))
        }
        Some(name) => match Algorithm::from_name(name) {
            Some(alg) => Some(alg),
            None => {
                return Err(Skip::invalid(format!(
                    "\"alg\" {name:?} is not a supported JWS algorithm"
                )))
            }
        },
    };
    let key = match kty {
        "RSA" => parse_rsa(obj),
        "EC" => parse_ec(obj),
        "OKP" => parse_okp(obj),
        "oct" => parse_oct(obj, alg),
        other => Err(format!("unsupported \"kty\" {other:?}")),
    }
    .map_err(Skip::invalid)?;
    if let Some(alg) = alg {
        if alg.key_family() != key.family() {
            return Err(Skip::invalid(format!(
                "\"alg\" {alg} does not fit a {} key",
                describe(&key)
            )));
        }
    }
    Ok(Jwk { kid, alg, key })
}

fn describe(key: &VerifyingKey) -> &'static str {
    match key {
        VerifyingKey::Rsa(_) => "RSA",
        VerifyingKey::EcP256(_) => "P-256",
        VerifyingKey::EcP384(_) => "P-384",
        VerifyingKey::EcP521(_) => "P-521",
        VerifyingKey::Ed25519(_) => "Ed25519",
        VerifyingKey::Hmac(_) => "oct",
    }
}

/// Strict base64url without padding (RFC 7515 §2): rejects `=`, `+`, `/`,
/// whitespace and non-zero trailing bits.
pub(crate) fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// A required base64url member.
fn b64_member(obj: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    match obj.get(name) {
        Some(Value::String(text)) => {
            b64url_decode(text).ok_or_else(|| format!("\"{name}\" is not strict base64url"))
        }
        Some(_) => Err(format!("\"{name}\" is not a string")),
        None => Err(format!("no \"{name}\"")),
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(first..).unwrap_or_default()
}

fn parse_rsa(obj: &Map<String, Value>) -> Result<VerifyingKey, String> {
    let n_raw = b64_member(obj, "n")?;
    let e_raw = b64_member(obj, "e")?;
    // RFC 7518 §6.3.1.1 forbids a leading zero octet, but some producers add
    // one; it does not change the value.
    let n = strip_leading_zeros(&n_raw);
    let bits = match n.first() {
        None => return Err("RSA modulus is zero".to_owned()),
        Some(&top) => (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    };
    if bits < MIN_RSA_BITS {
        return Err(format!(
            "RSA modulus is {bits} bits; at least {MIN_RSA_BITS} required"
        ));
    }
    if bits > MAX_RSA_BITS {
        return Err(format!(
            "RSA modulus is {bits} bits; at most {MAX_RSA_BITS} supported"
        ));
    }
    if n.last().is_some_and(|low| low & 1 == 0) {
        return Err("RSA modulus is even".to_owned());
    }
    let e_bytes = strip_leading_zeros(&e_raw);
    if e_bytes.len() > 8 {
        return Err("RSA exponent is too large".to_owned());
    }
    let e = e_bytes
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    if e <= 1 {
        return Err(format!("RSA exponent is {e}; it must be greater than 1"));
    }
    if e & 1 == 0 {
        return Err(format!("RSA exponent is {e}; it must be odd"));
    }
    if e > MAX_RSA_EXPONENT {
        return Err(format!(
            "RSA exponent is {e}; at most {MAX_RSA_EXPONENT} accepted"
        ));
    }
    let key = rsa::PublicKey::new(n, e).ok_or_else(|| "RSA key rejected".to_owned())?;
    Ok(VerifyingKey::Rsa(key))
}

/// Uncompressed SEC1 encoding `04 || x || y` of a JWK EC point whose
/// coordinates must each be exactly `len` bytes (RFC 7518 §6.2.1.2-3).
fn sec1_point(obj: &Map<String, Value>, crv: &str, len: usize) -> Result<Vec<u8>, String> {
    let x = b64_member(obj, "x")?;
    let y = b64_member(obj, "y")?;
    for (name, coord) in [("x", &x), ("y", &y)] {
        if coord.len() != len {
            return Err(format!(
                "\"{name}\" is {} bytes; {crv} needs exactly {len}",
                coord.len()
            ));
        }
    }
    let mut point = Vec::with_capacity(1 + 2 * len);
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    Ok(point)
}

fn parse_ec(obj: &Map<String, Value>) -> Result<VerifyingKey, String> {
    let crv = match obj.get("crv") {
        Some(Value::String(crv)) => crv.as_str(),
        Some(_) => return Err("\"crv\" is not a string".to_owned()),
        None => return Err("no \"crv\"".to_owned()),
    };
    let not_on_curve = || format!("point (x, y) is not on the curve {crv}");
    match crv {
        "P-256" => {
            // sec1_point checked the lengths: 0x04 || x (32) || y (32).
            let point = sec1_point(obj, crv, 32)?;
            let (x, y) = (point.get(1..33), point.get(33..65));
            x.zip(y)
                .and_then(|(x, y)| p256::PublicKey::from_affine(x, y))
                .map(VerifyingKey::EcP256)
                .ok_or_else(not_on_curve)
        }
        "P-384" => {
            let point = sec1_point(obj, crv, 48)?;
            p384::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                .map(VerifyingKey::EcP384)
                .map_err(|_| not_on_curve())
        }
        // 521 bits: 66 bytes, the top 7 bits of each coordinate zero (a
        // coordinate >= p is refused by the SEC1 decoding).
        "P-521" => {
            let point = sec1_point(obj, crv, 66)?;
            p521::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                .map(VerifyingKey::EcP521)
                .map_err(|_| not_on_curve())
        }
        other => Err(format!("unsupported EC curve {other:?}")),
    }
}

fn parse_okp(obj: &Map<String, Value>) -> Result<VerifyingKey, String> {
    match obj.get("crv") {
        Some(Value::String(crv)) if crv == "Ed25519" => {}
        Some(Value::String(crv)) => return Err(format!("unsupported OKP curve {crv:?}")),
        Some(_) => return Err("\"crv\" is not a string".to_owned()),
        None => return Err("no \"crv\"".to_owned()),
    }
    let x = b64_member(obj, "x")?;
    let bytes: [u8; 32] = x
        .as_slice()
        .try_into()
        .map_err(|_| format!("\"x\" is {} bytes; Ed25519 needs exactly 32", x.len()))?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
        .map_err(|_| "\"x\" is not a valid Ed25519 point".to_owned())?;
    if key.is_weak() {
        return Err("\"x\" is a small-order Ed25519 point".to_owned());
    }
    Ok(VerifyingKey::Ed25519(key))
}

fn parse_oct(obj: &Map<String, Value>, alg: Option<Algorithm>) -> Result<VerifyingKey, String> {
    let k = b64_member(obj, "k")?;
    // Without an alg the key may serve HS256, whose minimum is the smallest.
    let (min, for_what) = match alg.and_then(min_hmac_secret_len) {
        Some(min) => (min, alg.map(Algorithm::name).unwrap_or_default()),
        None => (32, "any HS* algorithm"),
    };
    if k.len() < min {
        return Err(format!(
            "oct key is {} bytes; {for_what} needs at least {min}",
            k.len()
        ));
    }
    Ok(VerifyingKey::Hmac(k))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    const VECTORS: &str = include_str!("../../tests/vectors/signatures.json");

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

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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
            assert!(set.contains_kid(kid));
            assert!(!set.is_empty());
        }
    }

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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
        assert!(!empty.contains_kid(""));
    }

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn rsa_modulus_with_leading_zero_octet_is_accepted() {
        let key = vector_jwk("rs256-a");
        let mut n = vec![0u8];
        n.extend(member_bytes(&key, "n"));
        let set = one(with(key, "n", b64(&n)));
        assert_eq!(set.keys.len(), 1, "{:?}", set.skipped);
    }

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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
        assert!(set.contains_kid("ec256-a"));
        assert!(!set.contains_kid("ec384-a"));
    }

    /// The key selection of Envoy's jwt_verify_lib: a token's kid selects the
    /// keys with that kid plus the keys without any kid.
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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
        assert_eq!(set.contains_kid("rs256-a"), set.has_kid("rs256-a"));
    }

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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
        let classes: Vec<(usize, SkipClass)> =
            set.skipped.iter().map(|s| (s.index, s.class)).collect();
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

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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
}
