//! JWS signature verification (RFC 7515 §5.2, algorithms of RFC 7518 §3 and
//! RFC 8037).
//!
//! The key must have been parsed by [`super::jwk`]; this module only checks
//! that it fits the algorithm and runs the math. Nothing here needs
//! randomness, and no input can make it panic.

use hmac::{Hmac, KeyInit, Mac};
use p384::ecdsa::signature::Verifier as _;
use sha2::{Sha256, Sha384, Sha512};

use super::algorithm::Algorithm;
use super::jwk::{min_hmac_secret_len, VerifyingKey};
use crate::crypto::rsa;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// The algorithm's key family is not the key's, or the HMAC secret is
    /// shorter than the hash output. No signature math was done.
    KeyMismatch,
    /// The signature does not verify (including wrong length, values out of
    /// range, DER instead of raw ECDSA, bad encoding).
    Invalid,
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SignatureError::KeyMismatch => "key does not fit the algorithm",
            SignatureError::Invalid => "signature is invalid",
        })
    }
}

impl std::error::Error for SignatureError {}

/// Verifies a JWS signature: `signing_input` is `BASE64URL(header) || '.' ||
/// BASE64URL(payload)`, `signature` the decoded signature bytes.
///
/// - RS*: RSASSA-PKCS1-v1_5; PS*: RSASSA-PSS, MGF1 with the same hash, salt
///   length = hash length (RFC 7518 §3.5);
/// - ES256 / ES384 / ES512: raw `r || s` (64 / 96 / 132 bytes), not DER;
/// - EdDSA: Ed25519, strict verification (canonical `S`, no small-order keys);
/// - HS*: HMAC, compared in constant time; the full tag is required.
pub fn verify_signature(
    alg: Algorithm,
    key: &VerifyingKey,
    signing_input: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    if alg.key_family() != key.family() {
        return Err(SignatureError::KeyMismatch);
    }
    let verdict = match (alg, key) {
        (Algorithm::HS256, VerifyingKey::Hmac(secret)) => {
            return hmac_verify::<Sha256>(alg, secret, signing_input, signature)
        }
        (Algorithm::HS384, VerifyingKey::Hmac(secret)) => {
            return hmac_verify::<Sha384>(alg, secret, signing_input, signature)
        }
        (Algorithm::HS512, VerifyingKey::Hmac(secret)) => {
            return hmac_verify::<Sha512>(alg, secret, signing_input, signature)
        }
        // RSA runs on edgeward's own small-limb Montgomery arithmetic: ~7x
        // faster than the `rsa` crate in V8 (benches/micro), checked against
        // it and pyca/cryptography in shared/tests/rsa_vectors.rs.
        (Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512, VerifyingKey::Rsa(key)) => {
            let hash = rsa_hash(alg);
            rsa::verify_pkcs1v15(key, hash, &hash.digest(signing_input), signature)
        }
        // PSS with MGF1 of the same hash and salt length == hash length.
        (Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512, VerifyingKey::Rsa(key)) => {
            let hash = rsa_hash(alg);
            rsa::verify_pss(key, hash, &hash.digest(signing_input), signature)
        }
        // Edgeward's own P-256 (~25x faster than the `p256` crate in V8),
        // checked against OpenSSL and `p256` in tests/p256_vectors.rs.
        (Algorithm::ES256, VerifyingKey::EcP256(key)) => {
            let digest: [u8; 32] = <Sha256 as sha2::Digest>::digest(signing_input).into();
            key.verify_prehash(&digest, signature)
        }
        // `from_slice` takes exactly 2 * field size bytes and rejects r or s
        // equal to 0 or >= the group order.
        (Algorithm::ES384, VerifyingKey::EcP384(key)) => {
            p384::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify(signing_input, &sig).is_ok())
        }
        // The same for P-521: 2 * 66 bytes, SHA-512.
        (Algorithm::ES512, VerifyingKey::EcP521(key)) => {
            p521::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify(signing_input, &sig).is_ok())
        }
        (Algorithm::EdDSA, VerifyingKey::Ed25519(key)) => {
            ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify_strict(signing_input, &sig).is_ok())
        }
        // Unreachable after the family check; kept total without a panic.
        _ => return Err(SignatureError::KeyMismatch),
    };
    if verdict {
        Ok(())
    } else {
        Err(SignatureError::Invalid)
    }
}

fn rsa_hash(alg: Algorithm) -> rsa::HashAlg {
    match alg {
        Algorithm::RS384 | Algorithm::PS384 => rsa::HashAlg::Sha384,
        Algorithm::RS512 | Algorithm::PS512 => rsa::HashAlg::Sha512,
        _ => rsa::HashAlg::Sha256,
    }
}

fn hmac_verify<D>(
    alg: Algorithm,
    secret: &[u8],
    signing_input: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError>
where
    D: hmac::EagerHash,
    Hmac<D>: KeyInit + Mac,
{
    if min_hmac_secret_len(alg).is_none_or(|min| secret.len() < min) {
        return Err(SignatureError::KeyMismatch);
    }
    let mut mac =
        <Hmac<D> as KeyInit>::new_from_slice(secret).map_err(|_| SignatureError::KeyMismatch)?;
    mac.update(signing_input);
    // `verify_slice` demands the full tag length and compares in constant time.
    mac.verify_slice(signature)
        .map_err(|_| SignatureError::Invalid)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::jose::algorithm::KeyFamily;
    use crate::jose::jwk::KeySet;
    use serde_json::Value;

    const VECTORS: &str = include_str!("../../tests/vectors/signatures.json");

    struct Fixture {
        keys: KeySet,
        cases: Vec<Value>,
    }

    fn fixture() -> Fixture {
        let doc: Value = serde_json::from_str(VECTORS).unwrap();
        let keys = KeySet::from_json(doc["jwks"].to_string().as_bytes()).unwrap();
        let cases = doc["cases"].as_array().unwrap().clone();
        Fixture { keys, cases }
    }

    fn unb64(text: &str) -> Vec<u8> {
        crate::jose::jwk::b64url_decode(text).unwrap()
    }

    /// (alg, key, signing input, signature) of the valid vector for `alg`.
    fn valid(fx: &Fixture, alg: Algorithm) -> (VerifyingKey, Vec<u8>, Vec<u8>) {
        let case = fx
            .cases
            .iter()
            .find(|c| c["name"] == format!("valid {}", alg.name()))
            .unwrap();
        let kid = case["kid"].as_str().unwrap();
        let key = fx.keys.candidates(alg, Some(kid))[0].key.clone();
        let input = case["signing_input"].as_str().unwrap().as_bytes().to_vec();
        let sig = unb64(case["signature_b64url"].as_str().unwrap());
        (key, input, sig)
    }

    #[test]
    fn every_algorithm_verifies_its_valid_vector() {
        let fx = fixture();
        for alg in Algorithm::ALL {
            let (key, input, sig) = valid(&fx, alg);
            assert_eq!(verify_signature(alg, &key, &input, &sig), Ok(()), "{alg}");
        }
    }

    #[test]
    fn bit_flips_in_signature_are_rejected() {
        let fx = fixture();
        for alg in Algorithm::ALL {
            let (key, input, sig) = valid(&fx, alg);
            // A spread of bit positions (the step is odd: every bit index mod 8 is hit).
            let step = if sig.len() > 128 { 89 } else { 11 };
            for bit in (0..sig.len() * 8).step_by(step) {
                let mut bad = sig.clone();
                bad[bit / 8] ^= 1 << (bit % 8);
                assert_eq!(
                    verify_signature(alg, &key, &input, &bad),
                    Err(SignatureError::Invalid),
                    "{alg} bit {bit}"
                );
            }
        }
    }

    #[test]
    fn bit_flips_in_signing_input_are_rejected() {
        let fx = fixture();
        for alg in Algorithm::ALL {
            let (key, input, sig) = valid(&fx, alg);
            for pos in [0, input.len() / 2, input.len() - 1] {
                let mut bad = input.clone();
                bad[pos] ^= 0x01;
                assert_eq!(
                    verify_signature(alg, &key, &bad, &sig),
                    Err(SignatureError::Invalid),
                    "{alg} byte {pos}"
                );
            }
            let mut longer = input.clone();
            longer.push(b'.');
            assert_eq!(
                verify_signature(alg, &key, &longer, &sig),
                Err(SignatureError::Invalid)
            );
            assert_eq!(
                verify_signature(alg, &key, b"", &sig),
                Err(SignatureError::Invalid)
            );
        }
    }

    #[test]
    fn wrong_lengths_empty_and_garbage_are_invalid() {
        let fx = fixture();
        for alg in Algorithm::ALL {
            let (key, input, sig) = valid(&fx, alg);
            let mut candidates: Vec<Vec<u8>> = vec![
                Vec::new(),
                vec![0],
                sig[..sig.len() - 1].to_vec(),
                sig[1..].to_vec(),
                [&sig[..], &[0]].concat(),
                [&[0], &sig[..]].concat(),
                [&sig[..], &sig[..]].concat(),
                vec![0; sig.len()],
                vec![0xff; sig.len()],
                vec![0x30; 72],
                b"not a signature at all".to_vec(),
            ];
            let mut one = vec![0; sig.len()];
            if let Some(last) = one.last_mut() {
                *last = 1;
            }
            candidates.push(one);
            for bad in candidates {
                assert_eq!(
                    verify_signature(alg, &key, &input, &bad),
                    Err(SignatureError::Invalid),
                    "{alg} len {}",
                    bad.len()
                );
            }
        }
    }

    #[test]
    fn ecdsa_r_or_s_zero_or_out_of_range_is_invalid() {
        let fx = fixture();
        for alg in [Algorithm::ES256, Algorithm::ES384, Algorithm::ES512] {
            let (key, input, sig) = valid(&fx, alg);
            let half = sig.len() / 2;
            let mut r_zero = sig.clone();
            r_zero[..half].fill(0);
            let mut s_zero = sig.clone();
            s_zero[half..].fill(0);
            let mut s_max = sig.clone();
            s_max[half..].fill(0xff);
            for bad in [r_zero, s_zero, s_max] {
                assert_eq!(
                    verify_signature(alg, &key, &input, &bad),
                    Err(SignatureError::Invalid),
                    "{alg}"
                );
            }
        }
    }

    #[test]
    fn family_mismatch_is_key_mismatch_for_every_pair() {
        let fx = fixture();
        let keys: Vec<VerifyingKey> = [
            "rs256-a", "ec256-a", "ec384-a", "ec521-a", "ed-a", "hs512-a",
        ]
        .into_iter()
        .map(|kid| {
            fx.keys
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .unwrap()
        })
        .map(|jwk| jwk.key.clone())
        .collect();
        for alg in Algorithm::ALL {
            let (_, input, sig) = valid(&fx, alg);
            for key in &keys {
                let result = verify_signature(alg, key, &input, &sig);
                if key.family() == alg.key_family() {
                    assert_ne!(result, Err(SignatureError::KeyMismatch), "{alg} {key:?}");
                } else {
                    assert_eq!(result, Err(SignatureError::KeyMismatch), "{alg} {key:?}");
                }
            }
        }
    }

    #[test]
    fn hmac_secret_shorter_than_hash_is_key_mismatch() {
        use hmac::Mac as _;
        for (alg, min) in [
            (Algorithm::HS256, 32),
            (Algorithm::HS384, 48),
            (Algorithm::HS512, 64),
        ] {
            for len in [0, 1, min - 1, min, min + 1, 200] {
                let secret = vec![0x5a; len];
                let tag = match alg {
                    Algorithm::HS256 => {
                        let mut m = Hmac::<Sha256>::new_from_slice(&secret).unwrap();
                        m.update(b"a.b");
                        m.finalize().into_bytes().to_vec()
                    }
                    Algorithm::HS384 => {
                        let mut m = Hmac::<Sha384>::new_from_slice(&secret).unwrap();
                        m.update(b"a.b");
                        m.finalize().into_bytes().to_vec()
                    }
                    _ => {
                        let mut m = Hmac::<Sha512>::new_from_slice(&secret).unwrap();
                        m.update(b"a.b");
                        m.finalize().into_bytes().to_vec()
                    }
                };
                let key = VerifyingKey::Hmac(secret);
                let result = verify_signature(alg, &key, b"a.b", &tag);
                if len < min {
                    assert_eq!(result, Err(SignatureError::KeyMismatch), "{alg} {len}");
                } else {
                    assert_eq!(result, Ok(()), "{alg} {len}");
                    // Truncated tags are not accepted.
                    assert_eq!(
                        verify_signature(alg, &key, b"a.b", &tag[..tag.len() / 2]),
                        Err(SignatureError::Invalid)
                    );
                }
            }
        }
        assert_eq!(VerifyingKey::Hmac(vec![]).family(), KeyFamily::Hmac);
    }

    #[test]
    fn rsa_signature_equal_to_or_above_modulus_is_invalid() {
        let fx = fixture();
        let (key, input, _) = valid(&fx, Algorithm::RS256);
        let VerifyingKey::Rsa(rsa_key) = &key else {
            unreachable!()
        };
        let n = rsa_key.modulus_be();
        let mut n_plus_1 = n.clone();
        n_plus_1[n.len() - 1] += 1; // n is odd: no carry
        for alg in [Algorithm::RS256, Algorithm::PS256] {
            for bad in [&n, &n_plus_1] {
                assert_eq!(
                    verify_signature(alg, &key, &input, bad),
                    Err(SignatureError::Invalid)
                );
            }
        }
    }

    /// Deterministic xorshift64 bytes: garbage without an RNG dependency.
    fn garbage(state: &mut u64, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                *state ^= *state << 13;
                *state ^= *state >> 7;
                *state ^= *state << 17;
                (*state >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn random_signatures_of_right_and_wrong_lengths_never_verify_or_panic() {
        let fx = fixture();
        let mut state = 0x9e37_79b9_7f4a_7c15;
        for alg in Algorithm::ALL {
            let (key, input, sig) = valid(&fx, alg);
            for round in 0..24 {
                // Half the time the exact length, otherwise anything up to 2x.
                let len = if round % 2 == 0 {
                    sig.len()
                } else {
                    (garbage(&mut state, 1)[0] as usize * sig.len()) / 128
                };
                let bad = garbage(&mut state, len);
                assert_eq!(
                    verify_signature(alg, &key, &input, &bad),
                    Err(SignatureError::Invalid),
                    "{alg} len {len}"
                );
            }
        }
    }

    #[test]
    fn signature_error_displays() {
        assert!(!SignatureError::Invalid.to_string().is_empty());
        assert!(!SignatureError::KeyMismatch.to_string().is_empty());
    }
}
