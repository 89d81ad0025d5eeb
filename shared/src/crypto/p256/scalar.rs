//! Arithmetic mod the group order n: the products and the inversion that
//! turn (z, r, s) into the two scalars u1 and u2.

use super::limbs::{
    limbs_from_u256, limbs_to_u256, neg_inv_mod_2_29, pow2_mod, sub_if_ge, u256_add, u256_is_zero,
    u256_lt, u256_shr1, u256_sub, Limbs, LIMBS, LIMB_BITS, MASK, U256,
};
use super::N;

pub(super) const N_LIMBS: Limbs = limbs_from_u256(&N);
/// -n^-1 mod 2^29.
pub(super) const N0_INV: u64 = neg_inv_mod_2_29(N[0]);
/// R^2 mod n = 2^522 mod n.
pub(super) const RR_N: Limbs = limbs_from_u256(&pow2_mod(522, &N));

/// a * b * 2^-261 mod n, for a, b below 2n (carried limbs); below 2n.
pub(super) fn scalar_mont_mul(a: &Limbs, b: &Limbs) -> Limbs {
    let a = a.map(u64::from);
    let b = b.map(u64::from);
    let n = N_LIMBS.map(u64::from);
    // Column bound: 9 products and 9 reduction products below 2^58 each,
    // plus a carry: below 2^62.2.
    let mut t = [0u64; 2 * LIMBS];
    for i in 0..LIMBS {
        for j in 0..LIMBS {
            t[i + j] += a[i] * b[j];
        }
    }
    for i in 0..LIMBS {
        let m = ((t[i] & MASK as u64) * N0_INV) & MASK as u64;
        for j in 0..LIMBS {
            t[i + j] += m * n[j];
        }
        // The low 29 bits of t[i] are now zero.
        t[i + 1] += t[i] >> LIMB_BITS;
    }
    let mut out = [0u32; LIMBS];
    let mut carry = 0u64;
    for (k, limb) in out.iter_mut().enumerate() {
        let v = t[LIMBS + k] + carry;
        *limb = (v & MASK as u64) as u32;
        carry = v >> LIMB_BITS;
    }
    out
}

/// a * b mod n for a, b below n.
pub(super) fn scalar_mul(a: &U256, b: &U256) -> U256 {
    // (a * b R^-1) * R^2 * R^-1.
    let ab = scalar_mont_mul(&limbs_from_u256(a), &limbs_from_u256(b));
    let ab = scalar_mont_mul(&ab, &RR_N);
    limbs_to_u256(&sub_if_ge(&ab, &N_LIMBS))
}
/// x / 2 mod n for x below n.
pub(super) fn half_mod_n(x: &U256) -> U256 {
    if x[0] & 1 == 0 {
        u256_shr1(x, false)
    } else {
        let (s, carry) = u256_add(x, &N);
        u256_shr1(&s, carry)
    }
}

/// a - b mod n for a, b below n.
pub(super) fn sub_mod_n(a: &U256, b: &U256) -> U256 {
    let (d, borrow) = u256_sub(a, b);
    if borrow {
        u256_add(&d, &N).0
    } else {
        d
    }
}

/// a^-1 mod n for a in [1, n), by the binary extended Euclidean algorithm
/// (variable time). None for 0 (or if it failed to finish, which cannot
/// happen for n prime).
pub(super) fn scalar_invert(a: &U256) -> Option<U256> {
    pub(super) const ONE: U256 = [1, 0, 0, 0];
    if u256_is_zero(a) || !u256_lt(a, &N) {
        return None;
    }
    // Invariants: x1 * a = u, x2 * a = v (mod n); gcd(u, v) = 1.
    let (mut u, mut v) = (*a, N);
    let (mut x1, mut x2) = (ONE, [0u64; 4]);
    // Each round removes at least one bit from u or v (2 * 256 suffice).
    for _ in 0..1024 {
        while u[0] & 1 == 0 {
            if u256_is_zero(&u) {
                return None;
            }
            u = u256_shr1(&u, false);
            x1 = half_mod_n(&x1);
        }
        while v[0] & 1 == 0 {
            if u256_is_zero(&v) {
                return None;
            }
            v = u256_shr1(&v, false);
            x2 = half_mod_n(&x2);
        }
        if u == ONE {
            return Some(x1);
        }
        if v == ONE {
            return Some(x2);
        }
        let (d, borrow) = u256_sub(&u, &v);
        if borrow {
            v = u256_sub(&v, &u).0;
            x2 = sub_mod_n(&x2, &x1);
        } else {
            u = d;
            x1 = sub_mod_n(&x1, &x2);
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::crypto::p256::reference::*;
    use crate::crypto::p256::N;

    #[test]
    fn scalar_arithmetic_matches_reference() {
        let mut state = 3;
        let rounds = if cfg!(target_arch = "wasm32") {
            150
        } else {
            1000
        };
        let n_minus_1 = u256_sub(&N, &[1, 0, 0, 0]).0;
        for round in 0..rounds {
            let a = match round {
                0 => [1, 0, 0, 0],
                1 => n_minus_1,
                2 => [2, 0, 0, 0],
                _ => random_below(&mut state, &N),
            };
            let b = random_below(&mut state, &N);
            assert_eq!(scalar_mul(&a, &b), ref_mul_mod(&a, &b, &N));
            assert_eq!(scalar_mul(&a, &n_minus_1), ref_mul_mod(&a, &n_minus_1, &N));
            if u256_is_zero(&a) {
                assert_eq!(scalar_invert(&a), None);
                continue;
            }
            let inv = scalar_invert(&a).unwrap();
            assert!(u256_lt(&inv, &N));
            assert_eq!(ref_mul_mod(&inv, &a, &N), [1, 0, 0, 0]);
        }
        assert_eq!(scalar_invert(&[0; 4]), None);
        assert_eq!(scalar_invert(&N), None);
        assert_eq!(scalar_invert(&n_minus_1), Some(n_minus_1));
    }
}
