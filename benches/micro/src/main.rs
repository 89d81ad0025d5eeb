//! Times RSA signature verification (key parsed once, message hashed in every
//! iteration): `edgeward_core::crypto::rsa` against the `rsa` 0.10 crate.
//!
//! Usage: edgeward-micro-bench [ITERATIONS]   (default 2000)

mod vectors;

use std::hint::black_box;
use std::time::Instant;

use edgeward_core::crypto::rsa::{verify_pkcs1v15, verify_pss, HashAlg, PublicKey};
use rsa::signature::Verifier as _;
use sha2::{Digest, Sha256};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .filter_map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

/// Microseconds per call of `f`: after a warm-up of a tenth of
/// `iterations`, the iterations run in 10 batches; the median batch counts
/// (robust against other load on the machine).
fn time<F: FnMut() -> bool>(iterations: u32, mut f: F) -> f64 {
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
    assert!(ok, "a verification failed");
    per_call.sort_by(f64::total_cmp);
    (per_call[4] + per_call[5]) / 2.0
}

struct Row {
    what: String,
    fast: f64,
    reference: f64,
}

fn rsa_key(n: &[u8]) -> rsa::PublicKey {
    rsa::PublicKey::new(
        rsa::BoxedUint::from_be_slice_vartime(n),
        rsa::BoxedUint::from(vectors::E),
    )
    .expect("rsa key")
}

fn main() {
    let iterations: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let target = if cfg!(target_arch = "wasm32") {
        "wasm32 (node V8)"
    } else {
        "native"
    };
    let msg = vectors::MESSAGE;
    let mut rows = Vec::new();

    for (bits, n_hex, rs_hex, ps_hex) in [
        (
            2048,
            vectors::RSA2048_N,
            vectors::RSA2048_RS256_SIG,
            vectors::RSA2048_PS256_SIG,
        ),
        (
            4096,
            vectors::RSA4096_N,
            vectors::RSA4096_RS256_SIG,
            vectors::RSA4096_PS256_SIG,
        ),
    ] {
        let n = hex(n_hex);
        let rs_sig = hex(rs_hex);
        let ps_sig = hex(ps_hex);
        let fast = PublicKey::new(&n, vectors::E).expect("fast key");
        let reference = rsa_key(&n);
        let rs_ref = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(reference.clone());
        let rs_ref_sig = rsa::pkcs1v15::Signature::try_from(rs_sig.as_slice()).expect("sig");

        // Sanity: both accept the signatures and reject a tampered one.
        let digest = Sha256::digest(msg);
        assert!(verify_pkcs1v15(&fast, HashAlg::Sha256, &digest, &rs_sig));
        assert!(verify_pss(&fast, HashAlg::Sha256, &digest, &ps_sig));
        assert!(rs_ref.verify(msg, &rs_ref_sig).is_ok());
        assert!(reference.pss_verify::<Sha256>(msg, &ps_sig).is_ok());
        let mut bad = rs_sig.clone();
        if let Some(b) = bad.get_mut(7) {
            *b ^= 1;
        }
        assert!(!verify_pkcs1v15(&fast, HashAlg::Sha256, &digest, &bad));

        let its = if bits > 2048 {
            iterations.div_ceil(4)
        } else {
            iterations
        };
        rows.push(Row {
            what: format!("RS256 verify, RSA-{bits}"),
            fast: time(its, || {
                let digest = Sha256::digest(black_box(msg));
                verify_pkcs1v15(&fast, HashAlg::Sha256, &digest, black_box(&rs_sig))
            }),
            reference: time(its, || {
                rs_ref
                    .verify(black_box(msg), black_box(&rs_ref_sig))
                    .is_ok()
            }),
        });
        rows.push(Row {
            what: format!("PS256 verify, RSA-{bits}"),
            fast: time(its, || {
                let digest = Sha256::digest(black_box(msg));
                verify_pss(&fast, HashAlg::Sha256, &digest, black_box(&ps_sig))
            }),
            reference: time(its, || {
                reference
                    .pss_verify::<Sha256>(black_box(msg), black_box(&ps_sig))
                    .is_ok()
            }),
        });
        rows.push(Row {
            what: format!("key setup, RSA-{bits}"),
            fast: time(its.div_ceil(4), || {
                PublicKey::new(black_box(&n), vectors::E).is_some()
            }),
            reference: time(its.div_ceil(4), || {
                let key = rsa_key(black_box(&n));
                black_box(&key);
                true
            }),
        });
    }

    println!(
        "## {target}: {iterations} iterations (RSA-4096: a quarter, key setup: a sixteenth), \
         median of 10 batches, e = 65537, message hashed in each verify"
    );
    println!();
    println!("| operation | crypto::rsa µs | rsa 0.10 µs | rsa 0.10 / crypto::rsa |");
    println!("|---|---:|---:|---:|");
    for row in rows {
        println!(
            "| {} | {:.1} | {:.1} | {:.2}x |",
            row.what,
            row.fast,
            row.reference,
            row.reference / row.fast
        );
    }
}
