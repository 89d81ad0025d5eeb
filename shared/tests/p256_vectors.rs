//! Tests of `crypto::p256` (hand-written ECDSA P-256 verification):
//!
//! - known-answer vectors made with pyca/cryptography (OpenSSL) and Python
//!   integers (`vectors/generate_p256.py`): valid and high-S signatures,
//!   bit flips, out-of-range and wrong-length signatures, hand-built edge
//!   cases (equal or opposite points inside the double-scalar
//!   multiplication, a sum at infinity, x(R) >= n) and invalid public keys,
//!   each with the verdict SEC 1 requires; every verdict is also asked of the
//!   `p256` crate (the filter's current verifier);
//! - a randomized differential test against the `p256` crate: random keys,
//!   digests and signatures, valid and corrupted, from a fixed-seed PRNG.
//!
//! Runs natively (`cargo test`) and on wasm32-wasip1 under node (WASI)
//! (`tests/run-core-wasm-tests.sh`), with fewer random rounds there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use edgeward_core::crypto::p256::PublicKey;
use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use serde_json::Value;

const VECTORS: &str = include_str!("vectors/p256.json");

/// The group order n, big-endian.
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn document() -> Value {
    serde_json::from_str(VECTORS).unwrap()
}

/// The `p256` crate's verdict on raw `r || s` (the way `jose::verify` asks it).
fn reference_verdict(key: &VerifyingKey, digest: &[u8; 32], sig: &[u8]) -> bool {
    Signature::from_slice(sig).is_ok_and(|sig| key.verify_prehash(digest, &sig).is_ok())
}

fn reference_key(x: &[u8], y: &[u8]) -> Option<VerifyingKey> {
    if x.len() != 32 || y.len() != 32 {
        return None;
    }
    let sec1 = [&[0x04], x, y].concat();
    VerifyingKey::from_sec1_bytes(&sec1).ok()
}

struct VectorKey {
    fast: PublicKey,
    reference: VerifyingKey,
}

fn keys(doc: &Value) -> BTreeMap<String, VectorKey> {
    doc["keys"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, key)| {
            let x = hex(key["x"].as_str().unwrap());
            let y = hex(key["y"].as_str().unwrap());
            let fast = PublicKey::from_affine(&x, &y)
                .unwrap_or_else(|| panic!("{name}: valid key refused"));
            let reference = reference_key(&x, &y).unwrap();
            (name.clone(), VectorKey { fast, reference })
        })
        .collect()
}

fn digest_of(case: &Value) -> [u8; 32] {
    hex(case["digest"].as_str().unwrap()).try_into().unwrap()
}

#[test]
fn vectors_give_the_expected_verdicts() {
    let doc = document();
    let keys = keys(&doc);
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() > 800, "{} cases", cases.len());
    let mut valid = 0;
    for case in cases {
        let name = format!(
            "{} / {}",
            case["key"].as_str().unwrap(),
            case["name"].as_str().unwrap()
        );
        let key = &keys[case["key"].as_str().unwrap()];
        let digest = digest_of(case);
        let sig = hex(case["sig"].as_str().unwrap());
        let expect = case["expect"].as_bool().unwrap();
        // The generator already required OpenSSL to agree where it can be asked.
        if let Some(openssl) = case["openssl"].as_bool() {
            assert_eq!(openssl, expect, "{name}: OpenSSL");
        }
        assert_eq!(
            key.fast.verify_prehash(&digest, &sig),
            expect,
            "{name}: crypto::p256"
        );
        assert_eq!(
            reference_verdict(&key.reference, &digest, &sig),
            expect,
            "{name}: p256 crate"
        );
        valid += usize::from(expect);
    }
    assert!(valid > 300, "{valid} valid cases");
}

#[test]
fn vectors_cover_the_edge_cases() {
    let doc = document();
    let names: Vec<&str> = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for needle in [
        "high-s twin",
        "flip r bit",
        "flip s bit",
        "flip digest bit",
        "r = 0",
        "s = 0",
        "r = n",
        "s = n",
        "r = n - 1",
        "s + n",
        "r + n",
        "r and s swapped",
        "truncated",
        "trailing zero",
        "signed by another key",
        "x(R) >= n, r = x(R) - n (valid)",
        "x(R) >= n, r = x(R) (out of range)",
        "sum at infinity",
        "u1 = u2",
        "u1 = 0",
        "r = x(R) + p - n",
        "chosen s < 2^",
    ] {
        assert!(
            names.iter().any(|n| n.contains(needle)),
            "no case named like {needle:?}"
        );
    }
}

#[test]
fn invalid_public_keys_are_refused() {
    let doc = document();
    let invalid = doc["invalid_keys"].as_array().unwrap();
    assert!(invalid.len() >= 15);
    for key in invalid {
        let name = key["name"].as_str().unwrap();
        let x = hex(key["x"].as_str().unwrap());
        let y = hex(key["y"].as_str().unwrap());
        assert!(PublicKey::from_affine(&x, &y).is_none(), "{name}: accepted");
        assert!(
            reference_key(&x, &y).is_none(),
            "{name}: p256 crate accepts"
        );
    }
}

// ---------------------------------------------------------------------------
// Randomized differential test against the `p256` crate.

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for chunk in out.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_be_bytes());
        }
        out
    }
}

/// Big-endian 256-bit a - b (wrapping).
fn sub_be(a: &[u8], b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let v = i16::from(a[i]) - i16::from(b[i]) - borrow;
        out[i] = v.rem_euclid(256) as u8;
        borrow = i16::from(v < 0);
    }
    out
}

/// Big-endian 256-bit a + b (wrapping).
fn add_be(a: &[u8], b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in (0..32).rev() {
        let v = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = v as u8;
        carry = v >> 8;
    }
    out
}

fn small(v: u8) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[31] = v;
    out
}

/// A digest: mostly random, sometimes one of the values that reduce mod n
/// or are tiny.
fn random_digest(rng: &mut Rng) -> [u8; 32] {
    match rng.below(12) {
        0 => [0; 32],
        1 => N,
        2 => [0xff; 32],
        3 => add_be(&N, &small(rng.next() as u8)),
        4 => small(rng.next() as u8),
        5 => sub_be(&N, &small(rng.next() as u8)),
        _ => rng.bytes32(),
    }
}

fn random_signing_key(rng: &mut Rng) -> SigningKey {
    loop {
        let candidate = match rng.below(20) {
            0 => small(1 + rng.next() as u8 % 200),
            1 => sub_be(&N, &small(1 + rng.next() as u8 % 200)),
            _ => rng.bytes32(),
        };
        if let Ok(key) = SigningKey::from_slice(&candidate) {
            return key;
        }
    }
}

/// Corrupted or structured variants of a valid signature `sig` (r || s).
fn variants(rng: &mut Rng, sig: &[u8; 64]) -> Vec<Vec<u8>> {
    let (r, s) = sig.split_at(32);
    let mut out = Vec::new();
    // High-S twin: valid.
    out.push([r, &sub_be(&N, s)].concat());
    // One random bit flipped (three times).
    for _ in 0..3 {
        let mut bad = sig.to_vec();
        let bit = rng.below(512);
        bad[bit / 8] ^= 1 << (bit % 8);
        out.push(bad);
    }
    // r or s off by a small amount, or wrapped by n.
    let delta = small(1 + rng.next() as u8 % 4);
    out.push([&add_be(r, &delta)[..], s].concat());
    out.push([r, &sub_be(s, &delta)[..]].concat());
    out.push([&add_be(r, &N)[..], s].concat());
    out.push([r, &add_be(s, &N)[..]].concat());
    out.push([&sub_be(&N, r)[..], s].concat());
    // Swapped, random, and extreme values.
    out.push([s, r].concat());
    out.push([rng.bytes32(), rng.bytes32()].concat());
    out.push([r, &rng.bytes32()[..]].concat());
    out.push([&rng.bytes32()[..], s].concat());
    out.push([&[0u8; 32][..], s].concat());
    out.push([r, &[0u8; 32][..]].concat());
    out.push([&N[..], s].concat());
    out.push([r, &N[..]].concat());
    out.push([&sub_be(&N, &small(1))[..], s].concat());
    out.push([r, &small(1)[..]].concat());
    // Lengths.
    out.push(sig[..63].to_vec());
    out.push([&sig[..], &[0]].concat());
    out.push(Vec::new());
    out
}

/// A round count: `default`, or the value of the environment variable `name`
/// (natively; e.g. `P256_FAST_DIFF_KEYS=20000 cargo test --release ...` for a
/// longer run).
fn rounds_from_env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn differential_against_p256_crate() {
    let mut rng = Rng(0x5eed_0256_fa57_0001);
    let key_count = rounds_from_env(
        "P256_FAST_DIFF_KEYS",
        if cfg!(target_arch = "wasm32") { 8 } else { 100 },
    );
    let per_key = if cfg!(target_arch = "wasm32") { 2 } else { 3 };
    let (mut compared, mut accepted) = (0usize, 0usize);
    let mut previous: Option<(PublicKey, VerifyingKey)> = None;
    for k in 0..key_count {
        let signing = random_signing_key(&mut rng);
        let reference = *signing.verifying_key();
        let point = reference.to_sec1_point(false);
        let (x, y) = (point.x().unwrap(), point.y().unwrap());
        let fast = PublicKey::from_affine(x, y).expect("valid key refused");
        for _ in 0..per_key {
            let digest = random_digest(&mut rng);
            let sig: Signature = signing.sign_prehash(&digest).unwrap();
            let sig: [u8; 64] = sig.to_bytes().into();
            assert!(fast.verify_prehash(&digest, &sig), "key {k}: valid refused");
            assert!(reference_verdict(&reference, &digest, &sig));
            accepted += 1;
            compared += 1;
            for candidate in variants(&mut rng, &sig) {
                let want = reference_verdict(&reference, &digest, &candidate);
                let got = fast.verify_prehash(&digest, &candidate);
                assert_eq!(got, want, "key {k}: sig {candidate:02x?}");
                accepted += usize::from(got);
                compared += 1;
            }
            // The digest corrupted, or another digest.
            let mut other = digest;
            let bit = rng.below(256);
            other[bit / 8] ^= 1 << (bit % 8);
            for d in [other, random_digest(&mut rng)] {
                let want = reference_verdict(&reference, &d, &sig);
                assert_eq!(fast.verify_prehash(&d, &sig), want, "key {k}: digest");
                compared += 1;
            }
            // The previous key with this signature (invalid, but ask).
            if let Some((fast_prev, ref_prev)) = &previous {
                let want = reference_verdict(ref_prev, &digest, &sig);
                assert_eq!(fast_prev.verify_prehash(&digest, &sig), want);
                compared += 1;
            }
        }
        previous = Some((fast, reference));
    }
    // Valid signatures plus their high-S twins, at least.
    assert!(accepted >= 2 * key_count * per_key, "{accepted} accepted");
    println!("differential: {compared} verdicts compared, {accepted} accepted");
}

#[test]
fn random_signatures_under_random_keys_agree() {
    // Signatures that are not corruptions of a valid one (almost all invalid),
    // and random points as keys (from_affine and p256 must agree on validity).
    let mut rng = Rng(0x5eed_0256_fa57_0002);
    let rounds = rounds_from_env(
        "P256_FAST_RANDOM_ROUNDS",
        if cfg!(target_arch = "wasm32") {
            100
        } else {
            2000
        },
    );
    let signing = random_signing_key(&mut rng);
    let reference = *signing.verifying_key();
    let point = reference.to_sec1_point(false);
    let fast = PublicKey::from_affine(point.x().unwrap(), point.y().unwrap()).unwrap();
    for _ in 0..rounds {
        let digest = random_digest(&mut rng);
        let sig = [rng.bytes32(), rng.bytes32()].concat();
        assert_eq!(
            fast.verify_prehash(&digest, &sig),
            reference_verdict(&reference, &digest, &sig)
        );
        let (x, y) = (rng.bytes32(), rng.bytes32());
        assert_eq!(
            PublicKey::from_affine(&x, &y).is_some(),
            reference_key(&x, &y).is_some()
        );
    }
}

#[test]
fn cloned_key_verifies_the_same() {
    let mut rng = Rng(3);
    let signing = random_signing_key(&mut rng);
    let point = signing.verifying_key().to_sec1_point(false);
    let fast = PublicKey::from_affine(point.x().unwrap(), point.y().unwrap()).unwrap();
    let copy = fast.clone();
    let digest = rng.bytes32();
    let sig: Signature = signing.sign_prehash(&digest).unwrap();
    let sig = sig.to_bytes();
    assert!(fast.verify_prehash(&digest, &sig));
    assert!(copy.verify_prehash(&digest, &sig));
    assert!(!copy.verify_prehash(&rng.bytes32(), &sig));
    assert!(format!("{fast:?}").contains("p256::PublicKey"));
}
