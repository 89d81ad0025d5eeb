//! One JWK member by member: the checks of the module above, in the order
//! that gives each skipped key its [`SkipClass`].

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};

use super::{
    min_hmac_secret_len, Jwk, SkipClass, VerifyingKey, MAX_RSA_BITS, MAX_RSA_EXPONENT, MIN_RSA_BITS,
};
use crate::crypto::{p256, rsa};
use crate::jose::algorithm::Algorithm;

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

/// Why [`parse_key`] left a key out.
pub(super) struct Skip {
    pub(super) class: SkipClass,
    pub(super) why: String,
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
pub(super) fn parse_key(entry: &Value) -> Result<Jwk, Skip> {
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
