//! Times ES256 verification of one prehashed message under one key (parsed
//! once): `edgeward_core::crypto::p256` against `p256` 0.14's
//! `VerifyingKey::verify_prehash`. Also times key construction (which builds
//! the key's table) and the one-time build of the generator's table.
//!
//! Usage: edgeward-p256-bench [ITERATIONS]   (default 2000)

use std::hint::black_box;
use std::time::Instant;

use edgeward_core::crypto::p256::PublicKey;
use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p256::ecdsa::{Signature, SigningKey};

/// Microseconds per call of `f`: after a warm-up of a tenth of
/// `iterations`, the iterations run in 10 batches; the median batch counts
/// (robust against other load on the machine).
fn time<F: FnMut() -> bool>(iterations: u32, mut f: F) -> Result<f64, String> {
    let mut ok = true;
    for _ in 0..iterations.div_ceil(10) {
        ok &= black_box(f());
    }
    let batch = iterations.div_ceil(10).max(1);
    let mut per_call: Vec<f64> = (0..10)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..batch {
                ok &= black_box(f());
            }
            start.elapsed().as_secs_f64() * 1e6 / f64::from(batch)
        })
        .collect();
    if !ok {
        return Err("a verification failed".into());
    }
    per_call.sort_by(f64::total_cmp);
    Ok((per_call[4] + per_call[5]) / 2.0)
}

fn main() -> Result<(), String> {
    let iterations: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let target = if cfg!(target_arch = "wasm32") {
        "wasm32 (node V8)"
    } else {
        "native"
    };

    // A fixed throwaway key and digest.
    let secret: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
    let signing = SigningKey::from_slice(&secret).map_err(|e| e.to_string())?;
    let digest: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(101) ^ 0x5a);
    let sig: Signature = signing.sign_prehash(&digest).map_err(|e| e.to_string())?;
    let sig_bytes = sig.to_bytes();
    let reference = *signing.verifying_key();
    let point = reference.to_sec1_point(false);
    let (x, y) = (
        point.x().ok_or("no x")?.to_vec(),
        point.y().ok_or("no y")?.to_vec(),
    );

    // Keys are validated at construction; tables are built at the first
    // verification (the very first one also builds the generator's table).
    let fast = PublicKey::from_affine(&x, &y).ok_or("key rejected")?;
    let start = Instant::now();
    let first_ok = fast.verify_prehash(&digest, &sig_bytes);
    let first_key_us = start.elapsed().as_secs_f64() * 1e6;
    let key_iterations = (iterations / 50).max(3);
    let key_us = time(key_iterations, || {
        PublicKey::from_affine(black_box(&x), black_box(&y))
            .is_some_and(|k| k.verify_prehash(&digest, &sig_bytes))
    })?;

    if !first_ok || !fast.verify_prehash(&digest, &sig_bytes) {
        return Err("crypto::p256 rejects the signature".into());
    }
    let mut wrong = sig_bytes;
    wrong[63] ^= 1;
    if fast.verify_prehash(&digest, &wrong) {
        return Err("crypto::p256 accepts a corrupted signature".into());
    }

    let fast_us = time(iterations, || {
        fast.verify_prehash(black_box(&digest), black_box(&sig_bytes))
    })?;
    let reference_us = time(iterations, || {
        reference
            .verify_prehash(black_box(&digest), black_box(&sig))
            .is_ok()
    })?;

    println!("ES256 verify_prehash, {target}, {iterations} iterations (median of 10 batches)");
    println!();
    println!("| what | µs |");
    println!("|---|---:|");
    println!("| crypto::p256 verify_prehash | {fast_us:.1} |");
    println!("| p256 0.14 verify_prehash | {reference_us:.1} |");
    println!(
        "| ratio p256 / crypto::p256 | {:.1}x |",
        reference_us / fast_us
    );
    println!("| new key + first verify (builds the key table) | {key_us:.0} |");
    println!("| very first verify (+ generator table) | {first_key_us:.0} |");
    Ok(())
}
