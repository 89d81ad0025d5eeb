//! Arithmetic in the field of P-256, mod p = 2^256 - 2^224 + 2^192 + 2^96 - 1,
//! in Montgomery form with R = 2^261 (see the module above for the bounds).

#[cfg(test)]
use super::limbs::limbs_to_u256;
use super::limbs::{
    limbs_double, limbs_from_u256, pow2_mod, sub_if_ge, Limbs, LIMBS, LIMB_BITS, MASK, U256,
};
use super::P;

pub(super) const P_LIMBS: Limbs = limbs_from_u256(&P);
pub(super) const TWO_P_LIMBS: Limbs = limbs_double(&P_LIMBS);
/// R^2 mod p = 2^522 mod p: multiplying by it enters Montgomery form.
pub(super) const RR_P: Limbs = limbs_from_u256(&pow2_mod(522, &P));
/// R mod p: one in Montgomery form.
pub(super) const ONE_P: Limbs = limbs_from_u256(&pow2_mod(261, &P));

/// A field element in Montgomery form (x * 2^261 mod p), value below 2p.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Fe(pub(super) Limbs);

impl Fe {
    pub(super) const ZERO: Fe = Fe([0; LIMBS]);
    pub(super) const ONE: Fe = Fe(ONE_P);

    /// Montgomery form of an integer below 2^256.
    pub(super) fn from_u256(a: &U256) -> Fe {
        fe_mul(&Fe(limbs_from_u256(a)), &Fe(RR_P))
    }

    /// The canonical integer (below p).
    #[cfg(test)]
    pub(super) fn to_u256(self) -> U256 {
        let mut one = [0u32; LIMBS];
        one[0] = 1;
        limbs_to_u256(&fe_canonical(&fe_mul(&self, &Fe(one))).0)
    }
}

/// Montgomery reduction of a double-length column array: returns
/// t * 2^-261 mod p, below 2p when t < 16p^2.
#[inline(always)]
pub(super) fn fe_reduce(mut t: [i64; 2 * LIMBS]) -> Fe {
    for i in 0..LIMBS {
        // m = t mod 2^29 (as -p^-1 = 1 mod 2^29); add m * p * 2^(29 i), with
        // m * p = -m + m * 2^96 + m * 2^192 - m * 2^224 + m * 2^256.
        let m = t[i] & MASK;
        // t[i] - m = (t[i] >> 29) << 29: carried to the next column.
        t[i + 1] += t[i] >> LIMB_BITS;
        t[i + 3] += m << 9; // 96 = 3 * 29 + 9
        t[i + 6] += m << 18; // 192 = 6 * 29 + 18
        t[i + 7] -= m << 21; // 224 = 7 * 29 + 21
        t[i + 8] += m << 24; // 256 = 8 * 29 + 24
    }
    let mut out = [0u32; LIMBS];
    let mut carry = 0i64;
    for (k, limb) in out.iter_mut().enumerate() {
        let v = t[LIMBS + k] + carry;
        *limb = (v & MASK) as u32;
        carry = v >> LIMB_BITS;
    }
    Fe(out)
}

/// a * b * 2^-261 mod p. Inputs below 4p with carried limbs; output below 2p.
///
/// Not inlined: in V8, verification ran ~20% faster with the multiplication
/// and squaring as separate functions than inlined into the point formulas.
#[inline(never)]
pub(super) fn fe_mul(a: &Fe, b: &Fe) -> Fe {
    let a = a.0.map(i64::from);
    let b = b.0.map(i64::from);
    // Column sums written out (product scanning: each stays in a register).
    // A column has at most 9 products below 2^58: below 2^61.2; the
    // reduction adds less than 2^55 more.
    #[rustfmt::skip]
    let t = [
        a[0] * b[0],
        a[0] * b[1] + a[1] * b[0],
        a[0] * b[2] + a[1] * b[1] + a[2] * b[0],
        a[0] * b[3] + a[1] * b[2] + a[2] * b[1] + a[3] * b[0],
        a[0] * b[4] + a[1] * b[3] + a[2] * b[2] + a[3] * b[1] + a[4] * b[0],
        a[0] * b[5] + a[1] * b[4] + a[2] * b[3] + a[3] * b[2] + a[4] * b[1] + a[5] * b[0],
        a[0] * b[6] + a[1] * b[5] + a[2] * b[4] + a[3] * b[3] + a[4] * b[2] + a[5] * b[1] + a[6] * b[0],
        a[0] * b[7] + a[1] * b[6] + a[2] * b[5] + a[3] * b[4] + a[4] * b[3] + a[5] * b[2] + a[6] * b[1] + a[7] * b[0],
        a[0] * b[8] + a[1] * b[7] + a[2] * b[6] + a[3] * b[5] + a[4] * b[4] + a[5] * b[3] + a[6] * b[2] + a[7] * b[1] + a[8] * b[0],
        a[1] * b[8] + a[2] * b[7] + a[3] * b[6] + a[4] * b[5] + a[5] * b[4] + a[6] * b[3] + a[7] * b[2] + a[8] * b[1],
        a[2] * b[8] + a[3] * b[7] + a[4] * b[6] + a[5] * b[5] + a[6] * b[4] + a[7] * b[3] + a[8] * b[2],
        a[3] * b[8] + a[4] * b[7] + a[5] * b[6] + a[6] * b[5] + a[7] * b[4] + a[8] * b[3],
        a[4] * b[8] + a[5] * b[7] + a[6] * b[6] + a[7] * b[5] + a[8] * b[4],
        a[5] * b[8] + a[6] * b[7] + a[7] * b[6] + a[8] * b[5],
        a[6] * b[8] + a[7] * b[7] + a[8] * b[6],
        a[7] * b[8] + a[8] * b[7],
        a[8] * b[8],
        0,
    ];
    fe_reduce(t)
}

/// a^2 * 2^-261 mod p, each cross product computed once.
#[inline(never)]
pub(super) fn fe_sq(a: &Fe) -> Fe {
    let a = a.0.map(i64::from);
    let a2 = a.map(|x| 2 * x);
    // Column k: at most 4 doubled cross products (< 2^59) and one square.
    #[rustfmt::skip]
    let t = [
        a[0] * a[0],
        a2[0] * a[1],
        a2[0] * a[2] + a[1] * a[1],
        a2[0] * a[3] + a2[1] * a[2],
        a2[0] * a[4] + a2[1] * a[3] + a[2] * a[2],
        a2[0] * a[5] + a2[1] * a[4] + a2[2] * a[3],
        a2[0] * a[6] + a2[1] * a[5] + a2[2] * a[4] + a[3] * a[3],
        a2[0] * a[7] + a2[1] * a[6] + a2[2] * a[5] + a2[3] * a[4],
        a2[0] * a[8] + a2[1] * a[7] + a2[2] * a[6] + a2[3] * a[5] + a[4] * a[4],
        a2[1] * a[8] + a2[2] * a[7] + a2[3] * a[6] + a2[4] * a[5],
        a2[2] * a[8] + a2[3] * a[7] + a2[4] * a[6] + a[5] * a[5],
        a2[3] * a[8] + a2[4] * a[7] + a2[5] * a[6],
        a2[4] * a[8] + a2[5] * a[7] + a[6] * a[6],
        a2[5] * a[8] + a2[6] * a[7],
        a2[6] * a[8] + a[7] * a[7],
        a2[7] * a[8],
        a[8] * a[8],
        0,
    ];
    fe_reduce(t)
}

/// a + b, below 2p.
#[inline(always)]
pub(super) fn fe_add(a: &Fe, b: &Fe) -> Fe {
    let mut s = [0u32; LIMBS];
    let mut carry = 0i64;
    for ((sl, &al), &bl) in s.iter_mut().zip(a.0.iter()).zip(b.0.iter()) {
        let v = i64::from(al) + i64::from(bl) + carry;
        *sl = (v & MASK) as u32;
        carry = v >> LIMB_BITS;
    }
    // a + b < 4p < 2^261: no carry out.
    Fe(sub_if_ge(&s, &TWO_P_LIMBS))
}

/// a - b, below 2p.
#[inline(always)]
pub(super) fn fe_sub(a: &Fe, b: &Fe) -> Fe {
    let mut d = [0u32; LIMBS];
    let mut borrow = 0i64;
    for ((dl, &al), &bl) in d.iter_mut().zip(a.0.iter()).zip(b.0.iter()) {
        let v = i64::from(al) - i64::from(bl) + borrow;
        *dl = (v & MASK) as u32;
        borrow = v >> LIMB_BITS;
    }
    if borrow < 0 {
        // a - b is in (-2p, 0): add 2p; the carry out cancels the borrow.
        let mut carry = 0i64;
        for (dl, &pl) in d.iter_mut().zip(TWO_P_LIMBS.iter()) {
            let v = i64::from(*dl) + i64::from(pl) + carry;
            *dl = (v & MASK) as u32;
            carry = v >> LIMB_BITS;
        }
    }
    Fe(d)
}

pub(super) fn fe_neg(a: &Fe) -> Fe {
    fe_sub(&Fe::ZERO, a)
}

/// The same residue, below p.
pub(super) fn fe_canonical(a: &Fe) -> Fe {
    Fe(sub_if_ge(&a.0, &P_LIMBS))
}

pub(super) fn fe_is_zero(a: &Fe) -> bool {
    fe_canonical(a).0 == [0; LIMBS]
}

pub(super) fn fe_eq(a: &Fe, b: &Fe) -> bool {
    fe_canonical(a) == fe_canonical(b)
}

pub(super) fn fe_sq_n(a: &Fe, n: u32) -> Fe {
    let mut x = *a;
    for _ in 0..n {
        x = fe_sq(&x);
    }
    x
}

/// a^(p-2) = a^-1 (0 for 0). The exponent, in 32-bit words from the top:
/// ffffffff 00000001 00000000 00000000 00000000 ffffffff ffffffff fffffffd.
pub(super) fn fe_invert(a: &Fe) -> Fe {
    // x_k = a^(2^k - 1)
    let x2 = fe_mul(&fe_sq(a), a);
    let x3 = fe_mul(&fe_sq(&x2), a);
    let x6 = fe_mul(&fe_sq_n(&x3, 3), &x3);
    let x12 = fe_mul(&fe_sq_n(&x6, 6), &x6);
    let x15 = fe_mul(&fe_sq_n(&x12, 3), &x3);
    let x30 = fe_mul(&fe_sq_n(&x15, 15), &x15);
    let x32 = fe_mul(&fe_sq_n(&x30, 2), &x2);
    // ffffffff 00000001
    let t = fe_mul(&fe_sq_n(&x32, 32), a);
    // 00000000 00000000 00000000 ffffffff
    let t = fe_mul(&fe_sq_n(&t, 128), &x32);
    // ffffffff
    let t = fe_mul(&fe_sq_n(&t, 32), &x32);
    // fffffffd = 30 ones, 0, 1
    let t = fe_mul(&fe_sq_n(&t, 30), &x30);
    fe_mul(&fe_sq_n(&t, 2), a)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::crypto::p256::reference::*;
    use crate::crypto::p256::{limbs::*, P};

    #[test]
    fn field_arithmetic_matches_reference() {
        let mut state = 1;
        let rounds = if cfg!(target_arch = "wasm32") {
            400
        } else {
            2000
        };
        for _ in 0..rounds {
            let (a, av) = random_fe(&mut state);
            let (b, bv) = random_fe(&mut state);
            assert_eq!(a.to_u256(), av);
            let cases = [
                (fe_mul(&a, &b), ref_mul_mod(&av, &bv, &P)),
                (fe_sq(&a), ref_mul_mod(&av, &av, &P)),
                (fe_add(&a, &b), ref_add_mod(&av, &bv, &P)),
                (fe_sub(&a, &b), ref_sub_mod(&av, &bv, &P)),
                (fe_neg(&a), ref_sub_mod(&[0; 4], &av, &P)),
            ];
            for (got, want) in cases {
                assert!(in_range(&got), "{got:?}");
                assert_eq!(got.to_u256(), want);
            }
            assert_eq!(fe_is_zero(&a), u256_is_zero(&av));
            assert_eq!(fe_eq(&a, &b), av == bv);
        }
        // Extremes: 0, 1, p - 1, and the largest allowed inputs (2p - 1).
        let mut extremes = vec![
            [0u64; 4],
            [1, 0, 0, 0],
            u256_sub(&P, &[1, 0, 0, 0]).0,
            u256_sub(&P, &[2, 0, 0, 0]).0,
        ];
        extremes.push([u64::MAX, 0, 0, 0]);
        for av in &extremes {
            for bv in &extremes {
                let a = Fe::from_u256(av);
                let b = Fe::from_u256(bv);
                assert_eq!(fe_mul(&a, &b).to_u256(), ref_mul_mod(av, bv, &P));
                assert_eq!(fe_add(&a, &b).to_u256(), ref_add_mod(av, bv, &P));
                assert_eq!(fe_sub(&a, &b).to_u256(), ref_sub_mod(av, bv, &P));
            }
        }
        // 2p - 1 (limbs all carried) squared and multiplied, and all-ones limbs
        // below 2^257: the largest inputs fe_mul ever sees.
        let mut big = TWO_P_LIMBS;
        // 2p - 1
        let mut borrow = 1i64;
        for l in big.iter_mut() {
            let v = i64::from(*l) - borrow;
            *l = (v & MASK) as u32;
            borrow = i64::from(v < 0);
        }
        let big = Fe(big);
        assert!(in_range(&big));
        // The value it stands for: (2p - 1) / R mod p.
        let bv = big.to_u256();
        assert_eq!(bv, fe_canonical(&big).to_u256());
        let sq = fe_sq(&big);
        assert!(in_range(&sq));
        assert_eq!(sq.to_u256(), ref_mul_mod(&bv, &bv, &P));
        assert_eq!(fe_mul(&big, &big).to_u256(), ref_mul_mod(&bv, &bv, &P));
        for _ in 0..20 {
            let (c, cv) = random_fe(&mut state);
            assert_eq!(fe_mul(&big, &c).to_u256(), ref_mul_mod(&bv, &cv, &P));
        }
    }

    #[test]
    fn field_inverse() {
        let mut state = 2;
        let rounds = if cfg!(target_arch = "wasm32") { 5 } else { 50 };
        for _ in 0..rounds {
            let (a, av) = random_fe(&mut state);
            let inv = fe_invert(&a);
            if u256_is_zero(&av) {
                assert!(fe_is_zero(&inv));
                continue;
            }
            assert_eq!(fe_mul(&inv, &a).to_u256(), [1, 0, 0, 0]);
            let e = u256_sub(&P, &[2, 0, 0, 0]).0;
            assert_eq!(inv.to_u256(), ref_pow_mod(&av, &e, &P));
        }
    }
}
