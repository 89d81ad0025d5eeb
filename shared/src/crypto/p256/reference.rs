//! Test support: a seeded PRNG and slow, independent reference arithmetic
//! (double-and-add, square-and-multiply) the fast code is checked against.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::field::*;
use super::limbs::*;
use super::point::*;
use super::P;

/// splitmix64.
pub(super) fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub(super) fn random_u256(state: &mut u64) -> U256 {
    let mut a = [next(state), next(state), next(state), next(state)];
    // Mix in structured values: all ones, zeros, sparse words.
    match next(state) % 8 {
        0 => a[next(state) as usize % 4] = u64::MAX,
        1 => a[next(state) as usize % 4] = 0,
        2 => a = [next(state) % 4, 0, 0, 0],
        _ => {}
    }
    a
}

/// A random value below m.
pub(super) fn random_below(state: &mut u64, m: &U256) -> U256 {
    let mut a = random_u256(state);
    while !u256_lt(&a, m) {
        a = u256_sub(&a, m).0;
    }
    a
}

// Reference arithmetic: naive and slow, independent of the code above.

pub(super) fn ref_add_mod(a: &U256, b: &U256, m: &U256) -> U256 {
    let (s, carry) = u256_add(a, b);
    let (d, borrow) = u256_sub(&s, m);
    if carry || !borrow {
        d
    } else {
        s
    }
}

pub(super) fn ref_sub_mod(a: &U256, b: &U256, m: &U256) -> U256 {
    let (d, borrow) = u256_sub(a, b);
    if borrow {
        u256_add(&d, m).0
    } else {
        d
    }
}

/// a * b mod m by double-and-add over the bits of b.
pub(super) fn ref_mul_mod(a: &U256, b: &U256, m: &U256) -> U256 {
    let mut acc = [0u64; 4];
    for bit in (0..256).rev() {
        acc = ref_add_mod(&acc, &acc, m);
        if (b[bit / 64] >> (bit % 64)) & 1 == 1 {
            acc = ref_add_mod(&acc, a, m);
        }
    }
    acc
}

pub(super) fn ref_pow_mod(a: &U256, e: &U256, m: &U256) -> U256 {
    let mut acc = [1u64, 0, 0, 0];
    for bit in (0..256).rev() {
        acc = ref_mul_mod(&acc, &acc, m);
        if (e[bit / 64] >> (bit % 64)) & 1 == 1 {
            acc = ref_mul_mod(&acc, a, m);
        }
    }
    acc
}

pub(super) fn limbs_value_ok(l: &Limbs) -> bool {
    l.iter().all(|&x| i64::from(x) <= MASK)
}

/// Below 2p and carried.
pub(super) fn in_range(a: &Fe) -> bool {
    limbs_value_ok(&a.0) && sub_if_ge(&a.0, &TWO_P_LIMBS) == a.0 && a.0[8] < (1 << 25)
}

/// A Montgomery-form element with a value in [0, 2p), sometimes >= p.
pub(super) fn random_fe(state: &mut u64) -> (Fe, U256) {
    let v = random_below(state, &P);
    let mut fe = Fe::from_u256(&v);
    if next(state).is_multiple_of(3) {
        // The non-canonical twin, value + p, when below 2p.
        let canon = fe_canonical(&fe);
        let mut s = [0u32; LIMBS];
        let mut carry = 0u64;
        for i in 0..LIMBS {
            let t = u64::from(canon.0[i]) + u64::from(P_LIMBS[i]) + carry;
            s[i] = (t & MASK as u64) as u32;
            carry = t >> LIMB_BITS;
        }
        fe = Fe(s);
    }
    assert!(in_range(&fe));
    (fe, v)
}

/// Affine coordinates of a Jacobian point (canonical integers).
pub(super) fn to_affine(p: &Jacobian) -> Option<(U256, U256)> {
    if p.infinity {
        return None;
    }
    let zi = fe_invert(&p.z);
    let zi2 = fe_sq(&zi);
    Some((
        fe_mul(&p.x, &zi2).to_u256(),
        fe_mul(&p.y, &fe_mul(&zi2, &zi)).to_u256(),
    ))
}

/// k * P by plain double-and-add with the full addition.
pub(super) fn ref_scalar_mul(p: &Affine, k: &U256) -> Jacobian {
    let mut acc = Jacobian::INFINITY;
    let base = Jacobian::from_affine(p);
    for bit in (0..256).rev() {
        acc = double(&acc);
        if (k[bit / 64] >> (bit % 64)) & 1 == 1 {
            acc = add_full(&acc, &base);
        }
    }
    acc
}

/// A Jacobian form of p with a random Z.
pub(super) fn rescale(p: &Affine, state: &mut u64) -> Jacobian {
    let (z, zv) = random_fe(state);
    let z = if u256_is_zero(&zv) { Fe::ONE } else { z };
    let z2 = fe_sq(&z);
    Jacobian {
        x: fe_mul(&p.x, &z2),
        y: fe_mul(&p.y, &fe_mul(&z2, &z)),
        z,
        infinity: false,
    }
}

/// sqrt(a) for p = 3 mod 4: a^((p+1)/4), if a is a square.
pub(super) fn ref_sqrt(a: &U256) -> Option<U256> {
    let e = u256_shr1(&u256_shr1(&u256_add(&P, &[1, 0, 0, 0]).0, false), false);
    let r = ref_pow_mod(a, &e, &P);
    (ref_mul_mod(&r, &r, &P) == *a).then_some(r)
}
