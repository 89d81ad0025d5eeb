//! Differential tests of `crypto::rsa` (hand-written Montgomery RSA):
//!
//! - known-answer vectors made with pyca/cryptography (OpenSSL) and Python
//!   integers (`vectors/generate_rsa.py`): valid PKCS#1 v1.5 and PSS
//!   signatures, bit flips, out-of-range representatives, wrong lengths and
//!   hand-built malformed encodings, each with the verdict RFC 8017 requires;
//! - the same verdicts from the `rsa` crate (the filter's current verifier);
//! - raw `s^e mod n` against Python's `pow` and, for many random moduli,
//!   exponents and bases, against `crypto-bigint`'s modular exponentiation.
//!
//! Runs natively (`cargo test`) and on wasm32-wasip1 under node (WASI)
//! (`tests/run-core-wasm-tests.sh`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, Odd};
use edgeward_core::crypto::rsa::{verify_pkcs1v15, verify_pss, HashAlg, PublicKey};
use serde_json::Value;

const VECTORS: &str = include_str!("vectors/rsa.json");

fn document() -> Value {
    serde_json::from_str(VECTORS).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    assert_eq!(s.len() & 1, 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

struct VectorKey {
    n: Vec<u8>,
    e: u64,
    bits: usize,
    fast: PublicKey,
    reference: rsa::PublicKey,
}

fn keys(doc: &Value) -> BTreeMap<String, VectorKey> {
    doc["keys"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, key)| {
            let n = hex(key["n"].as_str().unwrap());
            let e = key["e"].as_u64().unwrap();
            let bits = key["bits"].as_u64().unwrap() as usize;
            let fast = PublicKey::new(&n, e).unwrap_or_else(|| panic!("{name}"));
            let reference = rsa::PublicKey::new_with_size_limits(
                BoxedUint::from_be_slice_vartime(&n),
                BoxedUint::from(e),
                2048..=8192,
            )
            .unwrap();
            (
                name.clone(),
                VectorKey {
                    n,
                    e,
                    bits,
                    fast,
                    reference,
                },
            )
        })
        .collect()
}

fn hash_alg(name: &str) -> HashAlg {
    match name {
        "SHA256" => HashAlg::Sha256,
        "SHA384" => HashAlg::Sha384,
        "SHA512" => HashAlg::Sha512,
        other => panic!("hash {other}"),
    }
}

fn fast_verdict(key: &PublicKey, scheme: &str, hash: HashAlg, digest: &[u8], sig: &[u8]) -> bool {
    match scheme {
        "pkcs1" => verify_pkcs1v15(key, hash, digest, sig),
        "pss" => verify_pss(key, hash, digest, sig),
        other => panic!("scheme {other}"),
    }
}

fn rsa_crate_verdict(
    key: &rsa::PublicKey,
    scheme: &str,
    hash: HashAlg,
    digest: &[u8],
    sig: &[u8],
) -> bool {
    use sha2::{Sha256, Sha384, Sha512};
    match (scheme, hash) {
        ("pkcs1", HashAlg::Sha256) => key.pkcs1v15_verify_prehash::<Sha256>(digest, sig).is_ok(),
        ("pkcs1", HashAlg::Sha384) => key.pkcs1v15_verify_prehash::<Sha384>(digest, sig).is_ok(),
        ("pkcs1", HashAlg::Sha512) => key.pkcs1v15_verify_prehash::<Sha512>(digest, sig).is_ok(),
        ("pss", HashAlg::Sha256) => key.pss_verify_prehash::<Sha256>(digest, sig).is_ok(),
        ("pss", HashAlg::Sha384) => key.pss_verify_prehash::<Sha384>(digest, sig).is_ok(),
        ("pss", HashAlg::Sha512) => key.pss_verify_prehash::<Sha512>(digest, sig).is_ok(),
        (other, _) => panic!("scheme {other}"),
    }
}

#[test]
fn vector_keys_parse_with_their_sizes() {
    let doc = document();
    let keys = keys(&doc);
    assert_eq!(keys.len(), 8);
    for (name, key) in &keys {
        assert_eq!(key.fast.modulus_bits(), key.bits, "{name}");
        assert_eq!(key.fast.size(), key.n.len(), "{name}");
        assert_eq!(key.fast.exponent(), key.e, "{name}");
        // Leading zero bytes are ignored.
        let mut padded = vec![0u8; 3];
        padded.extend_from_slice(&key.n);
        let again = PublicKey::new(&padded, key.e).unwrap();
        assert_eq!(again.size(), key.n.len(), "{name}");
        assert_eq!(again.modulus_bits(), key.bits, "{name}");
    }
}

/// Every case gets the verdict RFC 8017 requires, from `crypto::rsa` and from
/// the `rsa` crate.
#[test]
fn every_signature_vector_gets_its_expected_verdict() {
    let doc = document();
    let keys = keys(&doc);
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 2000, "only {} cases", cases.len());
    let mut failures = Vec::new();
    let mut valid = 0;
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let key_name = case["key"].as_str().unwrap();
        let key = &keys[key_name];
        let scheme = case["scheme"].as_str().unwrap();
        let hash_name = case["hash"].as_str().unwrap();
        let hash = hash_alg(hash_name);
        let digest = hex(case["digest"].as_str().unwrap());
        let sig = hex(case["sig"].as_str().unwrap());
        let expect = case["expect"].as_bool().unwrap();
        let label = format!("{key_name} {scheme} {hash_name} {name}");
        let fast = fast_verdict(&key.fast, scheme, hash, &digest, &sig);
        if fast != expect {
            failures.push(format!(
                "{label}: expected {expect}, crypto::rsa says {fast}"
            ));
        }
        let reference = rsa_crate_verdict(&key.reference, scheme, hash, &digest, &sig);
        if reference != expect {
            failures.push(format!(
                "{label}: expected {expect}, rsa crate says {reference}"
            ));
        }
        valid += usize::from(expect);
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // 8 keys x 2 schemes x 3 hashes, plus the hand-encoded correct blocks.
    assert!(valid >= 48 + 42, "only {valid} valid cases");
}

/// Each valid signature is rejected by the other scheme and, with a digest
/// of the right length, by the other hashes.
#[test]
fn valid_signatures_fail_under_the_other_scheme() {
    let doc = document();
    let keys = keys(&doc);
    let mut checked = 0;
    for case in doc["cases"].as_array().unwrap() {
        if case["name"] != "valid" {
            continue;
        }
        let key = &keys[case["key"].as_str().unwrap()].fast;
        let scheme = case["scheme"].as_str().unwrap();
        let hash = hash_alg(case["hash"].as_str().unwrap());
        let digest = hex(case["digest"].as_str().unwrap());
        let sig = hex(case["sig"].as_str().unwrap());
        let other = if scheme == "pkcs1" { "pss" } else { "pkcs1" };
        assert!(fast_verdict(key, scheme, hash, &digest, &sig));
        assert!(!fast_verdict(key, other, hash, &digest, &sig), "{case}");
        for wrong in [HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512] {
            if wrong != hash {
                let d = vec![0u8; wrong.output_len()];
                assert!(!fast_verdict(key, scheme, wrong, &d, &sig), "{case}");
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 48);
}

/// `public_op` against Python's `pow(s, e, n)`; None for s >= n and for
/// inputs that are not k bytes long.
#[test]
fn raw_vectors_match_python() {
    let doc = document();
    let keys = keys(&doc);
    let raws = doc["raw"].as_array().unwrap();
    assert!(raws.len() >= 200);
    for raw in raws {
        let key = &keys[raw["key"].as_str().unwrap()].fast;
        let s = hex(raw["s"].as_str().unwrap());
        let expected = raw["out"].as_str().map(hex);
        assert_eq!(key.public_op(&s), expected, "{raw}");
    }
}

#[test]
fn key_constructor_checks_its_inputs() {
    let doc = document();
    let n2048 = hex(doc["keys"]["rsa2048-e65537"]["n"].as_str().unwrap());
    let n8192 = hex(doc["keys"]["rsa8192-e65537"]["n"].as_str().unwrap());
    assert!(PublicKey::new(&n2048, 65537).is_some());
    assert!(PublicKey::new(&n8192, 65537).is_some());
    // Exponents: odd, 3..=2^33-1.
    for e in [3, 5, 17, 65537, (1 << 33) - 1] {
        assert!(PublicKey::new(&n2048, e).is_some(), "{e}");
    }
    for e in [
        0,
        1,
        2,
        4,
        65536,
        1 << 33,
        (1 << 33) + 1,
        u64::MAX,
        u64::MAX - 1,
    ] {
        assert!(PublicKey::new(&n2048, e).is_none(), "{e}");
    }
    // Even modulus.
    let mut even = n2048.clone();
    *even.last_mut().unwrap() &= 0xfe;
    assert!(PublicKey::new(&even, 65537).is_none());
    // Sizes: 2047 bits and 8193 bits are refused, 2048 and 8192 taken.
    let mut n2047 = n2048.clone();
    n2047[0] &= 0x7f;
    assert!(PublicKey::new(&n2047, 65537).is_none());
    assert!(PublicKey::new(&n2048[1..], 65537).is_none());
    let mut n8193 = vec![1u8];
    n8193.extend_from_slice(&n8192);
    assert!(PublicKey::new(&n8193, 65537).is_none());
    let mut smallest = vec![0u8; 256];
    smallest[0] = 0x80;
    smallest[255] = 1;
    assert_eq!(PublicKey::new(&smallest, 3).unwrap().modulus_bits(), 2048);
    let largest = vec![0xffu8; 1024];
    assert_eq!(PublicKey::new(&largest, 3).unwrap().modulus_bits(), 8192);
    // Empty and all-zero moduli.
    assert!(PublicKey::new(&[], 65537).is_none());
    assert!(PublicKey::new(&[0u8; 300], 65537).is_none());
    assert!(PublicKey::new(&[1u8], 65537).is_none());
}

/// Malformed inputs to the verifiers (digest lengths, signature lengths) give
/// `false`, never a panic.
#[test]
fn odd_inputs_are_rejected() {
    let doc = document();
    let keys = keys(&doc);
    for key in keys.values() {
        let k = key.fast.size();
        for hash in [HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512] {
            for digest_len in [0, 1, 20, 31, 32, 33, 47, 48, 49, 63, 64, 65, 200] {
                let digest = vec![0x5au8; digest_len];
                for sig_len in [0, 1, k - 1, k, k + 1, 2 * k] {
                    let sig = vec![0x01u8; sig_len];
                    assert!(!verify_pkcs1v15(&key.fast, hash, &digest, &sig));
                    assert!(!verify_pss(&key.fast, hash, &digest, &sig));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Randomized comparison with crypto-bigint.

/// splitmix64: a small deterministic generator (no rand dependency, same
/// sequence natively and on wasm32).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Random big-endian number with exactly `bits` bits (k bytes).
fn random_bits(rng: &mut Rng, bits: usize) -> Vec<u8> {
    let k = bits.div_ceil(8);
    let mut v = rng.bytes(k);
    let top_bits = bits - 8 * (k - 1);
    v[0] &= (0xffu16 >> (8 - top_bits)) as u8;
    v[0] |= 1 << (top_bits - 1);
    v
}

/// A random value below `n` (big-endian, same length): random bytes with
/// the top byte reduced, retried until below.
fn random_below(rng: &mut Rng, n: &[u8]) -> Vec<u8> {
    loop {
        let mut v = rng.bytes(n.len());
        v[0] %= n[0].saturating_add(1).max(1);
        if v.as_slice() < n {
            return v;
        }
    }
}

fn sub_small(n: &[u8], small: u64) -> Vec<u8> {
    let mut v = n.to_vec();
    let mut borrow = small;
    for byte in v.iter_mut().rev() {
        let x = u64::from(*byte);
        let take = borrow & 0xff;
        let (d, under) = if x >= take {
            (x - take, 0)
        } else {
            (x + 256 - take, 1)
        };
        *byte = d as u8;
        borrow = (borrow >> 8) + under;
        if borrow == 0 {
            break;
        }
    }
    v
}

/// n + 1, for an n that is not all ones.
fn add_one(n: &[u8]) -> Vec<u8> {
    let mut v = n.to_vec();
    for byte in v.iter_mut().rev() {
        let (sum, carry) = byte.overflowing_add(1);
        *byte = sum;
        if !carry {
            break;
        }
    }
    v
}

struct Reference {
    params: BoxedMontyParams,
    precision: u32,
    k: usize,
}

impl Reference {
    fn new(n: &[u8]) -> Self {
        let precision = (n.len() as u32 * 8).next_multiple_of(64);
        let n_int = BoxedUint::from_be_slice(n, precision).unwrap();
        let params = BoxedMontyParams::new(Odd::new(n_int).into_option().unwrap());
        Reference {
            params,
            precision,
            k: n.len(),
        }
    }

    fn pow(&self, s: &[u8], e: u64) -> Vec<u8> {
        let base = BoxedUint::from_be_slice(s, self.precision).unwrap();
        let exp = BoxedUint::from(e);
        let out = BoxedMontyForm::new(base, &self.params).pow(&exp).retrieve();
        let bytes = out.to_be_bytes();
        bytes[bytes.len() - self.k..].to_vec()
    }
}

/// Bit sizes around the limb boundaries (28-bit limbs need 2 spare bits:
/// 2070 = 74 * 28 - 2 is the largest size with 74 limbs), key sizes in use,
/// and the extremes.
const SIZES: &[usize] = &[
    2048, 2049, 2050, 2055, 2056, 2069, 2070, 2071, 2072, 2073, 2100, 3072, 3500, 3554, 3555, 4096,
    4097, 6000, 7001, 8192,
];

fn exponent_for(rng: &mut Rng, round: usize) -> u64 {
    match round % 6 {
        0 | 1 => 65537,
        2 => 3,
        3 => (1 << 33) - 1,
        4 => [5, 17, 257, 0x1_0000_0001][rng.below(4) as usize],
        _ => (rng.below((1 << 33) - 3) + 3) | 1,
    }
}

/// Random moduli of many shapes (not RSA moduli: the arithmetic only needs
/// n odd) and random bases, against crypto-bigint.
#[test]
fn public_op_matches_crypto_bigint_on_random_moduli() {
    let mut rng = Rng(0x5eed_0001);
    let mut compared = 0;
    for (round, &bits) in SIZES.iter().cycle().take(3 * SIZES.len()).enumerate() {
        let k = bits.div_ceil(8);
        // Shapes: random; all ones (n = 2^bits - 1); smallest (2^(bits-1) + 1);
        // top limb pattern 0x800..0 followed by ones.
        let mut n = match round / SIZES.len() {
            0 => random_bits(&mut rng, bits),
            1 => {
                let mut v = vec![0xffu8; k];
                v[0] = (0xffu16 >> (8 * k - bits)) as u8;
                v
            }
            _ => {
                let mut v = vec![0u8; k];
                v[0] = 1 << ((bits - 1) % 8);
                v
            }
        };
        *n.last_mut().unwrap() |= 1;
        let e = exponent_for(&mut rng, round);
        let key = PublicKey::new(&n, e).unwrap_or_else(|| panic!("{bits} {e}"));
        assert_eq!(key.modulus_bits(), bits);
        assert_eq!(key.size(), k);
        let reference = Reference::new(&n);
        let mut bases = vec![
            vec![0u8; k],
            sub_small(&n, u64::from(n[k - 1])), // n with the low byte cleared
            sub_small(&n, 1),
            sub_small(&n, 2),
        ];
        let mut one = vec![0u8; k];
        one[k - 1] = 1;
        bases.push(one);
        for _ in 0..if bits > 4096 { 2 } else { 5 } {
            bases.push(random_below(&mut rng, &n));
        }
        for s in &bases {
            let got = key.public_op(s);
            let want = reference.pow(s, e);
            assert_eq!(
                got.as_deref(),
                Some(want.as_slice()),
                "bits {bits}, e {e}, n {n:02x?}, s {s:02x?}"
            );
            compared += 1;
        }
        // s = n and s = n + 1 are out of range.
        assert!(key.public_op(&n).is_none());
        if n.iter().any(|&b| b != 0xff) {
            assert!(key.public_op(&add_one(&n)).is_none());
        }
    }
    assert!(compared >= 300, "{compared}");
}

/// Many random bases for the vector keys (real RSA moduli), e as in the key
/// and a few other exponents.
#[test]
fn public_op_matches_crypto_bigint_on_vector_keys() {
    let doc = document();
    let keys = keys(&doc);
    let mut rng = Rng(0x5eed_0002);
    let mut compared = 0;
    for (name, key) in &keys {
        let reference = Reference::new(&key.n);
        let rounds = if key.bits > 4096 { 4 } else { 24 };
        for round in 0..rounds {
            let e = if round % 2 == 0 {
                key.e
            } else {
                exponent_for(&mut rng, round)
            };
            let fast = if e == key.e {
                key.fast.clone()
            } else {
                PublicKey::new(&key.n, e).unwrap()
            };
            let s = random_below(&mut rng, &key.n);
            assert_eq!(
                fast.public_op(&s).as_deref(),
                Some(reference.pow(&s, e).as_slice()),
                "{name} e {e} s {s:02x?}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 150, "{compared}");
}
