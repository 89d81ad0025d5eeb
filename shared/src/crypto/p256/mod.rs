//! ECDSA P-256 signature verification (ES256, SEC 1 v2 §4.1.4 / FIPS 186-4
//! §6.4.2) tuned for Wasm.
//!
//! Wasm has no 64x64->128-bit multiply, so big-number code on 64-bit limbs
//! runs several times slower there than natively. Field elements here are
//! nine 29-bit limbs (261 bits); a limb product fits in 58 bits and a full
//! column of nine products in an `i64`.
//!
//! # Field arithmetic (mod p = 2^256 - 2^224 + 2^192 + 2^96 - 1)
//!
//! Montgomery form with R = 2^261. Because p = -1 mod 2^96, -p^-1 = 1 mod
//! 2^29: each reduction step takes m = the low limb as is, and adding m * p
//! needs no multiplication, only four shifted additions or subtractions of m
//! (p + 1 = 2^256 - 2^224 + 2^192 + 2^96). A multiplication is 81 limb
//! products (45 for a squaring) and 9 such steps.
//!
//! Every value stays below 2p (limbs carried, each < 2^29). The Montgomery
//! product of two values below 4p is below 2p (16p^2 / R < p), so no
//! conditional subtraction is needed after a product; additions and
//! subtractions bring their result back below 2p with one.
//!
//! # Points
//!
//! Jacobian coordinates; the tables hold affine points (mixed additions,
//! 8M + 3S). Every addition checks its special cases (equal points, opposite
//! points, the point at infinity): an attacker chooses r and s, and so the
//! scalars, freely.
//!
//! # Scalar multiplication
//!
//! `u1 * G + u2 * Q` uses no doublings at all: for G (once per process) and
//! for each key (once, in [`PublicKey::from_affine`]) a table holds
//! `d * 2^(w*j) * P` for every window position j and every d in 1..=2^(w-1).
//! Each scalar is recoded into signed base-2^w digits (|digit| <= 2^(w-1)),
//! and the result is the sum of one table entry (negated for a negative
//! digit) per nonzero digit: ceil(257 / w) mixed additions per scalar.
//!
//! # The rest
//!
//! s^-1 mod n by the binary extended Euclidean algorithm; u1 and u2 by
//! Montgomery multiplication mod n (29-bit limbs, generic n'). The final check
//! `x(R) mod n == r` needs no inversion: X == r * Z^2, or, when r + n < p,
//! X == (r + n) * Z^2 (x(R) is in [0, p) and r in [0, n), so these are the
//! only two candidates).
//!
//! Nothing here runs in constant time: every input of a signature
//! verification (key, digest, signature) is public. No input can make this
//! code panic.
//!
//! # Speed (`benches/p256`, µs)
//!
//! One verification: ~35-50 in node's V8 (the `p256` crate: ~700-800),
//! ~40-45 natively (`p256`: ~320). Key construction: ~1.2-1.6 ms in V8; the
//! first one also builds the generator's table (~16-20 ms in V8, once).

mod field;
mod limbs;
mod point;
#[cfg(test)]
mod reference;
mod scalar;
mod table;

use std::sync::Arc;

use field::{fe_canonical, fe_eq, fe_mul, fe_sq, Fe};
use limbs::{u256_add, u256_from_be, u256_is_zero, u256_lt, u256_sub, U256};
use point::{on_curve, Affine, Jacobian};
use scalar::{scalar_invert, scalar_mul};
use table::{g_table, Table, Q_WINDOW};

/// The field prime p.
const P: U256 = [
    0xffff_ffff_ffff_ffff,
    0x0000_0000_ffff_ffff,
    0x0000_0000_0000_0000,
    0xffff_ffff_0000_0001,
];
/// The group order n.
const N: U256 = [
    0xf3b9_cac2_fc63_2551,
    0xbce6_faad_a717_9e84,
    0xffff_ffff_ffff_ffff,
    0xffff_ffff_0000_0000,
];
/// The curve coefficient b (a = -3).
const B: U256 = [
    0x3bce_3c3e_27d2_604b,
    0x651d_06b0_cc53_b0f6,
    0xb3eb_bd55_7698_86bc,
    0x5ac6_35d8_aa3a_93e7,
];
/// The generator G.
const GX: U256 = [
    0xf4a1_3945_d898_c296,
    0x7703_7d81_2deb_33a0,
    0xf8bc_e6e5_63a4_40f2,
    0x6b17_d1f2_e12c_4247,
];
const GY: U256 = [
    0xcbb6_4068_37bf_51f5,
    0x2bce_3357_6b31_5ece,
    0x8ee7_eb4a_7c0f_9e16,
    0x4fe3_42e2_fe1a_7f9b,
];
/// p - n: r + n is a field element (below p) iff r < p - n.
const P_MINUS_N: U256 = u256_sub(&P, &N).0;

/// A P-256 public key, validated (on the curve, not the identity,
/// coordinates below p). Its fixed-base table (~1.5 ms in V8, ~100 KB) is
/// built at its first verification, so keys of a JWKS that are never used
/// cost nothing.
#[derive(Clone)]
pub struct PublicKey {
    point: Affine,
    table: std::cell::OnceCell<Option<Arc<Table>>>,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("p256::PublicKey").finish_non_exhaustive()
    }
}

impl PublicKey {
    /// x, y: 32-byte big-endian affine coordinates. None if invalid (wrong
    /// length, a coordinate >= p, or not on the curve; the identity has no
    /// affine form).
    ///
    /// Validates only; the key's table (~1400 points) and, the first time,
    /// the generator's (~4200 points) are built by the first verification.
    pub fn from_affine(x: &[u8], y: &[u8]) -> Option<Self> {
        let x = u256_from_be(x)?;
        let y = u256_from_be(y)?;
        if !u256_lt(&x, &P) || !u256_lt(&y, &P) {
            return None;
        }
        let point = Affine {
            x: fe_canonical(&Fe::from_u256(&x)),
            y: fe_canonical(&Fe::from_u256(&y)),
        };
        if !on_curve(&point.x, &point.y) {
            return None;
        }
        Some(PublicKey {
            point,
            table: std::cell::OnceCell::new(),
        })
    }

    /// Builds the key's table (and the generator's) now rather than at the
    /// first verification, to keep that cost off a request.
    pub fn prepare(&self) {
        let _ = g_table();
        self.table();
    }

    fn table(&self) -> Option<&Table> {
        self.table
            .get_or_init(|| Table::build(&self.point, Q_WINDOW).map(Arc::new))
            .as_deref()
    }

    /// ECDSA verification of a JWS ES256 signature: `sig` is r || s (64
    /// bytes, big-endian), `digest` the 32-byte SHA-256 of the signing input.
    /// False for wrong lengths, r or s outside [1, n), and any signature that
    /// does not verify. High-S signatures are accepted (as OpenSSL does).
    pub fn verify_prehash(&self, digest: &[u8; 32], sig: &[u8]) -> bool {
        self.verify_inner(digest, sig).unwrap_or(false)
    }

    fn verify_inner(&self, digest: &[u8; 32], sig: &[u8]) -> Option<bool> {
        if sig.len() != 64 {
            return Some(false);
        }
        let r = u256_from_be(sig.get(..32)?)?;
        let s = u256_from_be(sig.get(32..)?)?;
        if u256_is_zero(&r) || u256_is_zero(&s) || !u256_lt(&r, &N) || !u256_lt(&s, &N) {
            return Some(false);
        }
        // z: the digest as an integer (n has 256 bits: no truncation), mod n.
        let z = u256_from_be(digest)?;
        let z = match u256_sub(&z, &N) {
            (reduced, false) => reduced,
            (_, true) => z,
        };
        let w = scalar_invert(&s)?;
        let u1 = scalar_mul(&z, &w);
        let u2 = scalar_mul(&r, &w);

        let table = self.table()?;
        let mut acc = Jacobian::INFINITY;
        g_table()?.mul_add(&mut acc, &u1)?;
        table.mul_add(&mut acc, &u2)?;
        Some(x_matches(&acc, &r))
    }
}

/// x(R) mod n == r, for r in [1, n), without leaving Jacobian coordinates.
fn x_matches(point: &Jacobian, r: &U256) -> bool {
    if point.infinity {
        return false;
    }
    let zz = fe_sq(&point.z);
    if fe_eq(&fe_mul(&Fe::from_u256(r), &zz), &point.x) {
        return true;
    }
    // x(R) in [n, p) reduces to x - n: then x = r + n, possible only when
    // r + n < p.
    if u256_lt(r, &P_MINUS_N) {
        let (r_plus_n, _) = u256_add(r, &N);
        return fe_eq(&fe_mul(&Fe::from_u256(&r_plus_n), &zz), &point.x);
    }
    false
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::crypto::p256::reference::*;
    use crate::crypto::p256::{field::*, limbs::*, point::*, scalar::*, table::*, B, GX, GY, N, P};

    #[test]
    fn constants() {
        assert_eq!(limbs_to_u256(&P_LIMBS), P);
        assert_eq!(limbs_to_u256(&limbs_from_u256(&GY)), GY);
        // R^2 and R by the reference.
        let r = ref_pow_mod(&[2, 0, 0, 0], &[261, 0, 0, 0], &P);
        assert_eq!(limbs_to_u256(&ONE_P), r);
        assert_eq!(limbs_to_u256(&RR_P), ref_mul_mod(&r, &r, &P));
        let rn = ref_pow_mod(&[2, 0, 0, 0], &[261, 0, 0, 0], &N);
        assert_eq!(limbs_to_u256(&RR_N), ref_mul_mod(&rn, &rn, &N));
        assert_eq!(N[0].wrapping_mul(N0_INV).wrapping_add(1) & MASK as u64, 0);
        assert_eq!(u256_add(&N, &P_MINUS_N).0, P);
        // 2p as limbs: value check through 2p - p = p.
        assert_eq!(sub_if_ge(&TWO_P_LIMBS, &P_LIMBS), P_LIMBS);
        // G is on the curve.
        let g = generator();
        assert!(on_curve(&g.x, &g.y));
        assert_eq!(g.x.to_u256(), GX);
        assert_eq!(g.y.to_u256(), GY);
    }

    /// The x(R) >= n path of the final check: a point with x in [n, p)
    /// matches r = x - n, and nothing else nearby.
    #[test]
    fn final_check_reduces_x_mod_n() {
        let mut state = 7;
        let mut x = N;
        let mut found = 0;
        while found < 3 {
            x = u256_add(&x, &[next(&mut state) % 1000 + 1, 0, 0, 0]).0;
            assert!(u256_lt(&x, &P));
            // x^3 - 3x + b
            let x3 = ref_mul_mod(&ref_mul_mod(&x, &x, &P), &x, &P);
            let three_x = ref_mul_mod(&x, &[3, 0, 0, 0], &P);
            let rhs = ref_add_mod(&ref_sub_mod(&x3, &three_x, &P), &B, &P);
            let Some(y) = ref_sqrt(&rhs) else { continue };
            found += 1;
            let point = Affine {
                x: Fe::from_u256(&x),
                y: Fe::from_u256(&y),
            };
            assert!(on_curve(&point.x, &point.y));
            let jac = rescale(&point, &mut state);
            let r = u256_sub(&x, &N).0;
            assert!(u256_lt(&r, &P_MINUS_N));
            assert!(x_matches(&jac, &r));
            assert!(x_matches(&Jacobian::from_affine(&point), &r));
            assert!(!x_matches(&jac, &u256_add(&r, &[1, 0, 0, 0]).0));
            assert!(!x_matches(&jac, &u256_sub(&r, &[1, 0, 0, 0]).0));
            assert!(!x_matches(&Jacobian::INFINITY, &r));
        }
        // A point with a tiny x: r = x + p - n is in range (below n), and
        // r + n = x + p is congruent to x mod p but is not x: the r + n
        // candidate must not be tried for r >= p - n.
        let mut x = [0u64; 4];
        let y = loop {
            x[0] += 1;
            let x3 = ref_mul_mod(&ref_mul_mod(&x, &x, &P), &x, &P);
            let three_x = ref_mul_mod(&x, &[3, 0, 0, 0], &P);
            if let Some(y) = ref_sqrt(&ref_add_mod(&ref_sub_mod(&x3, &three_x, &P), &B, &P)) {
                break y;
            }
        };
        let point = Affine {
            x: Fe::from_u256(&x),
            y: Fe::from_u256(&y),
        };
        assert!(on_curve(&point.x, &point.y));
        let jac = rescale(&point, &mut state);
        assert!(x_matches(&jac, &x));
        let r = u256_add(&x, &P_MINUS_N).0;
        assert!(u256_lt(&r, &N) && !u256_lt(&r, &P_MINUS_N));
        assert!(!x_matches(&jac, &r));
        // An ordinary point: x < n matches r = x only.
        let g = generator();
        let gj = rescale(&g, &mut state);
        assert!(x_matches(&gj, &GX));
        assert!(!x_matches(&gj, &u256_add(&GX, &[1, 0, 0, 0]).0));
        // For r >= p - n the r + n candidate is not even tried; for a small
        // r it is, and must not match an unrelated point.
        assert!(!x_matches(&gj, &[5, 0, 0, 0]));
    }

    #[test]
    fn from_affine_rejects_bad_points() {
        let gx = {
            let mut b = [0u8; 32];
            for (i, w) in GX.iter().rev().enumerate() {
                b[i * 8..i * 8 + 8].copy_from_slice(&w.to_be_bytes());
            }
            b
        };
        let gy = {
            let mut b = [0u8; 32];
            for (i, w) in GY.iter().rev().enumerate() {
                b[i * 8..i * 8 + 8].copy_from_slice(&w.to_be_bytes());
            }
            b
        };
        assert!(PublicKey::from_affine(&gx, &gy).is_some());
        assert!(PublicKey::from_affine(&gx[1..], &gy).is_none());
        assert!(PublicKey::from_affine(&gx, &[gy.as_slice(), &[0]].concat()).is_none());
        assert!(PublicKey::from_affine(&[0; 32], &[0; 32]).is_none());
        let mut bad = gy;
        bad[31] ^= 1;
        assert!(PublicKey::from_affine(&gx, &bad).is_none());
    }
}
