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
//! for each key (once, in [`P256PublicKeyFast::from_affine`]) a table holds
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

use std::sync::{Arc, OnceLock};

/// Bits per limb.
const LIMB_BITS: u32 = 29;
const LIMBS: usize = 9;
const MASK: i64 = (1 << LIMB_BITS) - 1;

/// 29-bit limbs, least significant first.
type Limbs = [u32; LIMBS];
/// A 256-bit integer, 64-bit words, least significant first.
type U256 = [u64; 4];

/// Window of the generator's table: 33 positions of 128 points (~300 KB,
/// built once per process).
const G_WINDOW: u32 = 8;
/// Window of each key's table: 43 positions of 32 points (~100 KB per key).
const Q_WINDOW: u32 = 6;
const MIN_WINDOW: u32 = 2;
const MAX_WINDOW: u32 = 8;
/// Digit positions for the smallest window.
const MAX_POSITIONS: usize = positions(MIN_WINDOW);

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

const P_LIMBS: Limbs = limbs_from_u256(&P);
const TWO_P_LIMBS: Limbs = limbs_double(&P_LIMBS);
/// R^2 mod p = 2^522 mod p: multiplying by it enters Montgomery form.
const RR_P: Limbs = limbs_from_u256(&pow2_mod(522, &P));
/// R mod p: one in Montgomery form.
const ONE_P: Limbs = limbs_from_u256(&pow2_mod(261, &P));
/// p - n: r + n is a field element (below p) iff r < p - n.
const P_MINUS_N: U256 = u256_sub(&P, &N).0;

const N_LIMBS: Limbs = limbs_from_u256(&N);
/// -n^-1 mod 2^29.
const N0_INV: u64 = neg_inv_mod_2_29(N[0]);
/// R^2 mod n = 2^522 mod n.
const RR_N: Limbs = limbs_from_u256(&pow2_mod(522, &N));

// ---------------------------------------------------------------------------
// Constant helpers (also used at run time).

/// Number of signed base-2^w digits of an integer below 2^256 (the top digit
/// may take the last carry).
const fn positions(window: u32) -> usize {
    257usize.div_ceil(window as usize)
}

const fn limbs_from_u256(a: &U256) -> Limbs {
    let mut out = [0u32; LIMBS];
    let mut i = 0;
    while i < LIMBS {
        let pos = i * LIMB_BITS as usize;
        let word = pos / 64;
        let off = pos % 64;
        let mut v = a[word] >> off;
        if off + LIMB_BITS as usize > 64 && word + 1 < 4 {
            v |= a[word + 1] << (64 - off);
        }
        out[i] = (v & MASK as u64) as u32;
        i += 1;
    }
    out
}

/// The low 256 bits of the value of `l`.
const fn limbs_to_u256(l: &Limbs) -> U256 {
    let mut out = [0u64; 4];
    let mut i = 0;
    while i < LIMBS {
        let pos = i * LIMB_BITS as usize;
        let word = pos / 64;
        let off = pos % 64;
        let v = l[i] as u64;
        out[word] |= v << off;
        if off + LIMB_BITS as usize > 64 && word + 1 < 4 {
            out[word + 1] |= v >> (64 - off);
        }
        i += 1;
    }
    out
}

const fn limbs_double(a: &Limbs) -> Limbs {
    let mut out = [0u32; LIMBS];
    let mut carry = 0u64;
    let mut i = 0;
    while i < LIMBS {
        let v = 2 * a[i] as u64 + carry;
        out[i] = (v & MASK as u64) as u32;
        carry = v >> LIMB_BITS;
        i += 1;
    }
    out
}

/// a + b and the carry out.
const fn u256_add(a: &U256, b: &U256) -> (U256, bool) {
    let mut out = [0u64; 4];
    let mut carry = false;
    let mut i = 0;
    while i < 4 {
        let (s1, c1) = a[i].overflowing_add(b[i]);
        let (s2, c2) = s1.overflowing_add(carry as u64);
        out[i] = s2;
        carry = c1 || c2;
        i += 1;
    }
    (out, carry)
}

/// a - b (mod 2^256) and the borrow out (true iff a < b).
const fn u256_sub(a: &U256, b: &U256) -> (U256, bool) {
    let mut out = [0u64; 4];
    let mut borrow = false;
    let mut i = 0;
    while i < 4 {
        let (d1, b1) = a[i].overflowing_sub(b[i]);
        let (d2, b2) = d1.overflowing_sub(borrow as u64);
        out[i] = d2;
        borrow = b1 || b2;
        i += 1;
    }
    (out, borrow)
}

const fn u256_lt(a: &U256, b: &U256) -> bool {
    u256_sub(a, b).1
}

const fn u256_is_zero(a: &U256) -> bool {
    a[0] | a[1] | a[2] | a[3] == 0
}

/// 2^k mod m, for m > 1.
const fn pow2_mod(k: u32, m: &U256) -> U256 {
    let mut x: U256 = [1, 0, 0, 0];
    let mut i = 0;
    while i < k {
        let (d, carry) = u256_add(&x, &x);
        // 2x < 2m: subtract m once if 2x >= m (the 2^256 carry counts).
        let (e, borrow) = u256_sub(&d, m);
        x = if carry || !borrow { e } else { d };
        i += 1;
    }
    x
}

/// -a^-1 mod 2^29 for an odd a (Newton's iteration doubles the correct bits:
/// 3, 6, 12, 24, 48).
const fn neg_inv_mod_2_29(a: u64) -> u64 {
    let mut x = a;
    let mut i = 0;
    while i < 4 {
        x = x.wrapping_mul(2u64.wrapping_sub(a.wrapping_mul(x)));
        i += 1;
    }
    x.wrapping_neg() & MASK as u64
}

/// 32 big-endian bytes; None for any other length.
fn u256_from_be(bytes: &[u8]) -> Option<U256> {
    if bytes.len() != 32 {
        return None;
    }
    let mut out = [0u64; 4];
    for (word, chunk) in out.iter_mut().rev().zip(bytes.chunks_exact(8)) {
        let mut be = [0u8; 8];
        be.copy_from_slice(chunk);
        *word = u64::from_be_bytes(be);
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// Field arithmetic mod p.

/// A field element in Montgomery form (x * 2^261 mod p), value below 2p.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fe(Limbs);

impl Fe {
    const ZERO: Fe = Fe([0; LIMBS]);
    const ONE: Fe = Fe(ONE_P);

    /// Montgomery form of an integer below 2^256.
    fn from_u256(a: &U256) -> Fe {
        fe_mul(&Fe(limbs_from_u256(a)), &Fe(RR_P))
    }

    /// The canonical integer (below p).
    #[cfg(test)]
    fn to_u256(self) -> U256 {
        let mut one = [0u32; LIMBS];
        one[0] = 1;
        limbs_to_u256(&fe_canonical(&fe_mul(&self, &Fe(one))).0)
    }
}

/// Montgomery reduction of a double-length column array: returns
/// t * 2^-261 mod p, below 2p when t < 16p^2.
#[inline(always)]
fn fe_reduce(mut t: [i64; 2 * LIMBS]) -> Fe {
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
fn fe_mul(a: &Fe, b: &Fe) -> Fe {
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
fn fe_sq(a: &Fe) -> Fe {
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

/// `s - m` if `s >= m`, else `s` (both carried, below 2^261).
#[inline(always)]
fn sub_if_ge(s: &Limbs, m: &Limbs) -> Limbs {
    let mut d = [0u32; LIMBS];
    let mut borrow = 0i64;
    for ((dl, &sl), &ml) in d.iter_mut().zip(s.iter()).zip(m.iter()) {
        let v = i64::from(sl) - i64::from(ml) + borrow;
        *dl = (v & MASK) as u32;
        borrow = v >> LIMB_BITS;
    }
    if borrow < 0 {
        *s
    } else {
        d
    }
}

/// a + b, below 2p.
#[inline(always)]
fn fe_add(a: &Fe, b: &Fe) -> Fe {
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
fn fe_sub(a: &Fe, b: &Fe) -> Fe {
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

fn fe_neg(a: &Fe) -> Fe {
    fe_sub(&Fe::ZERO, a)
}

/// The same residue, below p.
fn fe_canonical(a: &Fe) -> Fe {
    Fe(sub_if_ge(&a.0, &P_LIMBS))
}

fn fe_is_zero(a: &Fe) -> bool {
    fe_canonical(a).0 == [0; LIMBS]
}

fn fe_eq(a: &Fe, b: &Fe) -> bool {
    fe_canonical(a) == fe_canonical(b)
}

fn fe_sq_n(a: &Fe, n: u32) -> Fe {
    let mut x = *a;
    for _ in 0..n {
        x = fe_sq(&x);
    }
    x
}

/// a^(p-2) = a^-1 (0 for 0). The exponent, in 32-bit words from the top:
/// ffffffff 00000001 00000000 00000000 00000000 ffffffff ffffffff fffffffd.
fn fe_invert(a: &Fe) -> Fe {
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

// ---------------------------------------------------------------------------
// Points.

/// An affine point, coordinates in Montgomery form, below p.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Affine {
    x: Fe,
    y: Fe,
}

/// A point in Jacobian coordinates (x = X/Z^2, y = Y/Z^3). When `infinity`
/// is false, Z is not zero.
#[derive(Clone, Copy, Debug)]
struct Jacobian {
    x: Fe,
    y: Fe,
    z: Fe,
    infinity: bool,
}

impl Jacobian {
    const INFINITY: Jacobian = Jacobian {
        x: Fe::ONE,
        y: Fe::ONE,
        z: Fe::ZERO,
        infinity: true,
    };

    fn from_affine(p: &Affine) -> Jacobian {
        Jacobian {
            x: p.x,
            y: p.y,
            z: Fe::ONE,
            infinity: false,
        }
    }
}

/// y^2 == x^3 - 3x + b (Montgomery-form inputs).
fn on_curve(x: &Fe, y: &Fe) -> bool {
    let b = Fe::from_u256(&B);
    let x3 = fe_mul(&fe_sq(x), x);
    let three_x = fe_add(&fe_add(x, x), x);
    let rhs = fe_add(&fe_sub(&x3, &three_x), &b);
    fe_eq(&fe_sq(y), &rhs)
}

/// 2P, a = -3 ("dbl-2001-b"). P-256 has no point of order 2 (Y is never 0),
/// so the result is at infinity only if P is.
fn double(p: &Jacobian) -> Jacobian {
    if p.infinity {
        return *p;
    }
    let delta = fe_sq(&p.z);
    let gamma = fe_sq(&p.y);
    let beta = fe_mul(&p.x, &gamma);
    let t = fe_mul(&fe_sub(&p.x, &delta), &fe_add(&p.x, &delta));
    let alpha = fe_add(&fe_add(&t, &t), &t);
    let beta2 = fe_add(&beta, &beta);
    let beta4 = fe_add(&beta2, &beta2);
    let beta8 = fe_add(&beta4, &beta4);
    let x3 = fe_sub(&fe_sq(&alpha), &beta8);
    let yz = fe_add(&p.y, &p.z);
    let z3 = fe_sub(&fe_sub(&fe_sq(&yz), &gamma), &delta);
    let gamma2 = fe_sq(&gamma);
    let g2 = fe_add(&gamma2, &gamma2);
    let g4 = fe_add(&g2, &g2);
    let g8 = fe_add(&g4, &g4);
    let y3 = fe_sub(&fe_mul(&alpha, &fe_sub(&beta4, &x3)), &g8);
    Jacobian {
        x: x3,
        y: y3,
        z: z3,
        infinity: false,
    }
}

/// P + Q with Q affine (8M + 3S), every special case handled.
fn add_mixed(p: &Jacobian, q: &Affine) -> Jacobian {
    if p.infinity {
        return Jacobian::from_affine(q);
    }
    let z1z1 = fe_sq(&p.z);
    let u2 = fe_mul(&q.x, &z1z1);
    let s2 = fe_mul(&q.y, &fe_mul(&p.z, &z1z1));
    let h = fe_sub(&u2, &p.x);
    let r = fe_sub(&s2, &p.y);
    if fe_is_zero(&h) {
        // Same x: P == Q or P == -Q.
        return if fe_is_zero(&r) {
            double(p)
        } else {
            Jacobian::INFINITY
        };
    }
    let hh = fe_sq(&h);
    let hhh = fe_mul(&h, &hh);
    let v = fe_mul(&p.x, &hh);
    let x3 = fe_sub(&fe_sub(&fe_sq(&r), &hhh), &fe_add(&v, &v));
    let y3 = fe_sub(&fe_mul(&r, &fe_sub(&v, &x3)), &fe_mul(&p.y, &hhh));
    let z3 = fe_mul(&p.z, &h);
    Jacobian {
        x: x3,
        y: y3,
        z: z3,
        infinity: false,
    }
}

/// P + Q, both Jacobian (12M + 4S), every special case handled.
fn add_full(p: &Jacobian, q: &Jacobian) -> Jacobian {
    if p.infinity {
        return *q;
    }
    if q.infinity {
        return *p;
    }
    let z1z1 = fe_sq(&p.z);
    let z2z2 = fe_sq(&q.z);
    let u1 = fe_mul(&p.x, &z2z2);
    let u2 = fe_mul(&q.x, &z1z1);
    let s1 = fe_mul(&p.y, &fe_mul(&q.z, &z2z2));
    let s2 = fe_mul(&q.y, &fe_mul(&p.z, &z1z1));
    let h = fe_sub(&u2, &u1);
    let r = fe_sub(&s2, &s1);
    if fe_is_zero(&h) {
        return if fe_is_zero(&r) {
            double(p)
        } else {
            Jacobian::INFINITY
        };
    }
    let hh = fe_sq(&h);
    let hhh = fe_mul(&h, &hh);
    let v = fe_mul(&u1, &hh);
    let x3 = fe_sub(&fe_sub(&fe_sq(&r), &hhh), &fe_add(&v, &v));
    let y3 = fe_sub(&fe_mul(&r, &fe_sub(&v, &x3)), &fe_mul(&s1, &hhh));
    let z3 = fe_mul(&fe_mul(&p.z, &q.z), &h);
    Jacobian {
        x: x3,
        y: y3,
        z: z3,
        infinity: false,
    }
}

/// Affine forms of many points with one inversion (Montgomery's trick).
/// None if any point is at infinity.
fn batch_to_affine(points: &[Jacobian]) -> Option<Vec<Affine>> {
    let mut prefix = Vec::with_capacity(points.len());
    let mut acc = Fe::ONE;
    for p in points {
        if p.infinity || fe_is_zero(&p.z) {
            return None;
        }
        acc = fe_mul(&acc, &p.z);
        prefix.push(acc);
    }
    // inv = (z_0 * ... * z_i)^-1, walking i down.
    let mut inv = fe_invert(&acc);
    let mut out = Vec::with_capacity(points.len());
    for (i, p) in points.iter().enumerate().rev() {
        let z_inv = match i.checked_sub(1).and_then(|k| prefix.get(k)) {
            Some(before) => fe_mul(&inv, before),
            None => inv,
        };
        inv = fe_mul(&inv, &p.z);
        let z_inv2 = fe_sq(&z_inv);
        let z_inv3 = fe_mul(&z_inv2, &z_inv);
        out.push(Affine {
            x: fe_canonical(&fe_mul(&p.x, &z_inv2)),
            y: fe_canonical(&fe_mul(&p.y, &z_inv3)),
        });
    }
    out.reverse();
    Some(out)
}

// ---------------------------------------------------------------------------
// Fixed-base tables.

/// `points[j * half + d - 1] = d * 2^(window * j) * P` for every digit
/// position j and d in 1..=half, half = 2^(window - 1).
#[derive(Clone)]
struct Table {
    window: u32,
    half: usize,
    points: Vec<Affine>,
}

impl Table {
    fn build(p: &Affine, window: u32) -> Option<Table> {
        if !(MIN_WINDOW..=MAX_WINDOW).contains(&window) {
            return None;
        }
        let half = 1usize << (window - 1);
        let count = positions(window);
        let mut jac = Vec::with_capacity(count * half);
        // base = 2^(window * j) * P. None of these multiples is the identity:
        // P has prime order n, and d * 2^k is never a multiple of n.
        let mut base = Jacobian::from_affine(p);
        for _ in 0..count {
            let mut cur = base;
            jac.push(cur);
            for _ in 1..half {
                cur = add_full(&cur, &base);
                jac.push(cur);
            }
            // cur = half * base = 2^(window - 1) * base.
            base = double(&cur);
        }
        Some(Table {
            window,
            half,
            points: batch_to_affine(&jac)?,
        })
    }

    /// d * 2^(window * j) * P for a nonzero digit; None out of the table.
    fn get(&self, j: usize, digit: i16) -> Option<Affine> {
        let magnitude = usize::from(digit.unsigned_abs());
        let index = j
            .checked_mul(self.half)?
            .checked_add(magnitude.checked_sub(1)?)?;
        if magnitude > self.half {
            return None;
        }
        let p = *self.points.get(index)?;
        Some(if digit < 0 {
            Affine {
                x: p.x,
                y: fe_neg(&p.y),
            }
        } else {
            p
        })
    }

    /// acc + u * P for u below 2^256.
    fn mul_add(&self, acc: &mut Jacobian, u: &U256) -> Option<()> {
        let mut digits = [0i16; MAX_POSITIONS];
        let count = recode(u, self.window, &mut digits)?;
        for (j, &d) in digits.iter().enumerate().take(count) {
            if d != 0 {
                *acc = add_mixed(acc, &self.get(j, d)?);
            }
        }
        Some(())
    }
}

/// `window` bits of `u` from bit `pos` (bits past 255 are zero).
fn bits(u: &U256, pos: u32, window: u32) -> u64 {
    let word = (pos / 64) as usize;
    let off = pos % 64;
    let Some(&lo) = u.get(word) else {
        return 0;
    };
    let mut v = lo >> off;
    if off + window > 64 {
        v |= u.get(word + 1).copied().unwrap_or(0) << (64 - off);
    }
    v & ((1u64 << window) - 1)
}

/// Signed base-2^w digits of u (u = sum d_j 2^(w j), |d_j| <= 2^(w-1)).
/// Returns the digit count, None if the window or buffer does not fit.
fn recode(u: &U256, window: u32, out: &mut [i16; MAX_POSITIONS]) -> Option<usize> {
    if !(MIN_WINDOW..=MAX_WINDOW).contains(&window) {
        return None;
    }
    let count = positions(window);
    let half = 1u64 << (window - 1);
    let full = 1i64 << window;
    let mut carry = 0u64;
    for (j, slot) in out.iter_mut().enumerate().take(count) {
        let v = bits(u, j as u32 * window, window) + carry;
        if v > half {
            *slot = (v as i64 - full) as i16;
            carry = 1;
        } else {
            *slot = v as i16;
            carry = 0;
        }
    }
    // The top position has room for the last carry (see `positions`).
    (carry == 0 && count <= MAX_POSITIONS).then_some(count)
}

fn generator() -> Affine {
    Affine {
        x: fe_canonical(&Fe::from_u256(&GX)),
        y: fe_canonical(&Fe::from_u256(&GY)),
    }
}

static G_TABLE: OnceLock<Option<Table>> = OnceLock::new();

fn g_table() -> Option<&'static Table> {
    G_TABLE
        .get_or_init(|| Table::build(&generator(), G_WINDOW))
        .as_ref()
}

// ---------------------------------------------------------------------------
// Scalars mod n.

/// a * b * 2^-261 mod n, for a, b below 2n (carried limbs); below 2n.
fn scalar_mont_mul(a: &Limbs, b: &Limbs) -> Limbs {
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
fn scalar_mul(a: &U256, b: &U256) -> U256 {
    // (a * b R^-1) * R^2 * R^-1.
    let ab = scalar_mont_mul(&limbs_from_u256(a), &limbs_from_u256(b));
    let ab = scalar_mont_mul(&ab, &RR_N);
    limbs_to_u256(&sub_if_ge(&ab, &N_LIMBS))
}

fn u256_shr1(a: &U256, top: bool) -> U256 {
    [
        (a[0] >> 1) | (a[1] << 63),
        (a[1] >> 1) | (a[2] << 63),
        (a[2] >> 1) | (a[3] << 63),
        (a[3] >> 1) | (u64::from(top) << 63),
    ]
}

/// x / 2 mod n for x below n.
fn half_mod_n(x: &U256) -> U256 {
    if x[0] & 1 == 0 {
        u256_shr1(x, false)
    } else {
        let (s, carry) = u256_add(x, &N);
        u256_shr1(&s, carry)
    }
}

/// a - b mod n for a, b below n.
fn sub_mod_n(a: &U256, b: &U256) -> U256 {
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
fn scalar_invert(a: &U256) -> Option<U256> {
    const ONE: U256 = [1, 0, 0, 0];
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

// ---------------------------------------------------------------------------
// Public API.

/// A P-256 public key, validated (on the curve, not the identity,
/// coordinates below p). Its fixed-base table (~1.5 ms in V8, ~100 KB) is
/// built at its first verification, so keys of a JWKS that are never used
/// cost nothing.
#[derive(Clone)]
pub struct P256PublicKeyFast {
    point: Affine,
    table: std::cell::OnceCell<Option<Arc<Table>>>,
}

impl std::fmt::Debug for P256PublicKeyFast {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("P256PublicKeyFast").finish_non_exhaustive()
    }
}

impl P256PublicKeyFast {
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
        Some(P256PublicKeyFast {
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

    /// splitmix64.
    fn next(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn random_u256(state: &mut u64) -> U256 {
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
    fn random_below(state: &mut u64, m: &U256) -> U256 {
        let mut a = random_u256(state);
        while !u256_lt(&a, m) {
            a = u256_sub(&a, m).0;
        }
        a
    }

    // Reference arithmetic: naive and slow, independent of the code above.

    fn ref_add_mod(a: &U256, b: &U256, m: &U256) -> U256 {
        let (s, carry) = u256_add(a, b);
        let (d, borrow) = u256_sub(&s, m);
        if carry || !borrow {
            d
        } else {
            s
        }
    }

    fn ref_sub_mod(a: &U256, b: &U256, m: &U256) -> U256 {
        let (d, borrow) = u256_sub(a, b);
        if borrow {
            u256_add(&d, m).0
        } else {
            d
        }
    }

    /// a * b mod m by double-and-add over the bits of b.
    fn ref_mul_mod(a: &U256, b: &U256, m: &U256) -> U256 {
        let mut acc = [0u64; 4];
        for bit in (0..256).rev() {
            acc = ref_add_mod(&acc, &acc, m);
            if (b[bit / 64] >> (bit % 64)) & 1 == 1 {
                acc = ref_add_mod(&acc, a, m);
            }
        }
        acc
    }

    fn ref_pow_mod(a: &U256, e: &U256, m: &U256) -> U256 {
        let mut acc = [1u64, 0, 0, 0];
        for bit in (0..256).rev() {
            acc = ref_mul_mod(&acc, &acc, m);
            if (e[bit / 64] >> (bit % 64)) & 1 == 1 {
                acc = ref_mul_mod(&acc, a, m);
            }
        }
        acc
    }

    fn limbs_value_ok(l: &Limbs) -> bool {
        l.iter().all(|&x| i64::from(x) <= MASK)
    }

    /// Below 2p and carried.
    fn in_range(a: &Fe) -> bool {
        limbs_value_ok(&a.0) && sub_if_ge(&a.0, &TWO_P_LIMBS) == a.0 && a.0[8] < (1 << 25)
    }

    /// A Montgomery-form element with a value in [0, 2p), sometimes >= p.
    fn random_fe(state: &mut u64) -> (Fe, U256) {
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

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn recoding_is_exact() {
        let mut state = 4;
        for window in MIN_WINDOW..=MAX_WINDOW {
            for round in 0..200 {
                let u = match round {
                    0 => [0; 4],
                    1 => [u64::MAX; 4],
                    2 => u256_sub(&N, &[1, 0, 0, 0]).0,
                    _ => random_u256(&mut state),
                };
                let mut digits = [0i16; MAX_POSITIONS];
                let count = recode(&u, window, &mut digits).unwrap();
                // sum d_j 2^(w j), in 2^256 arithmetic with the top digit
                // allowed to carry only zero out.
                let mut acc = [0u64; 4];
                let mut overflow = false;
                for j in (0..count).rev() {
                    for _ in 0..window {
                        let (d, c) = u256_add(&acc, &acc);
                        overflow |= c;
                        acc = d;
                    }
                    let d = digits[j];
                    assert!(i32::from(d).abs() <= 1 << (window - 1));
                    let mag = [u64::from(d.unsigned_abs()), 0, 0, 0];
                    acc = if d < 0 {
                        u256_sub(&acc, &mag).0
                    } else {
                        u256_add(&acc, &mag).0
                    };
                }
                let _ = overflow;
                assert_eq!(acc, u, "window {window}");
            }
        }
    }

    /// Affine coordinates of a Jacobian point (canonical integers).
    fn to_affine(p: &Jacobian) -> Option<(U256, U256)> {
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
    fn ref_scalar_mul(p: &Affine, k: &U256) -> Jacobian {
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
    fn rescale(p: &Affine, state: &mut u64) -> Jacobian {
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

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn point_special_cases() {
        let mut state = 5;
        let g = generator();
        let g2 = double(&Jacobian::from_affine(&g));
        // Known 2G.
        let two_g_x = [
            0xa60b_48fc_4766_9978,
            0xc089_69e2_77f2_1b35,
            0x8a52_3803_04b5_1ac3,
            0x7cf2_7b18_8d03_4f7e,
        ];
        assert_eq!(to_affine(&g2).unwrap().0, two_g_x);
        let gj = rescale(&g, &mut state);
        // P + P through both additions equals 2P.
        assert_eq!(to_affine(&add_mixed(&gj, &g)), to_affine(&g2));
        assert_eq!(to_affine(&add_full(&gj, &gj)), to_affine(&g2));
        assert_eq!(
            to_affine(&add_full(&gj, &Jacobian::from_affine(&g))),
            to_affine(&g2)
        );
        // P + (-P) is the point at infinity.
        let neg_g = Affine {
            x: g.x,
            y: fe_neg(&g.y),
        };
        assert!(add_mixed(&gj, &neg_g).infinity);
        assert!(add_full(&gj, &Jacobian::from_affine(&neg_g)).infinity);
        // O + P, P + O.
        assert_eq!(
            to_affine(&add_mixed(&Jacobian::INFINITY, &g)),
            to_affine(&gj)
        );
        assert_eq!(
            to_affine(&add_full(&Jacobian::INFINITY, &gj)),
            to_affine(&gj)
        );
        assert_eq!(
            to_affine(&add_full(&gj, &Jacobian::INFINITY)),
            to_affine(&gj)
        );
        assert!(double(&Jacobian::INFINITY).infinity);
        // n * G = O, (n - 1) * G = -G.
        assert!(ref_scalar_mul(&g, &N).infinity);
        let n_minus_1 = u256_sub(&N, &[1, 0, 0, 0]).0;
        assert_eq!(
            to_affine(&ref_scalar_mul(&g, &n_minus_1)),
            Some((GX, ref_sub_mod(&[0; 4], &GY, &P)))
        );
    }

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn tables_match_double_and_add() {
        let mut state = 6;
        let g = generator();
        let rounds = if cfg!(target_arch = "wasm32") { 4 } else { 20 };
        for window in [4, 5, 7] {
            let table = Table::build(&g, window).unwrap();
            // Every stored point is on the curve and canonical.
            for p in &table.points {
                assert!(on_curve(&p.x, &p.y));
                assert_eq!(fe_canonical(&p.x), p.x);
                assert_eq!(fe_canonical(&p.y), p.y);
            }
            for round in 0..rounds {
                let k = match round {
                    0 => u256_sub(&N, &[1, 0, 0, 0]).0,
                    1 => [u64::MAX; 4],
                    _ => random_u256(&mut state),
                };
                let mut acc = Jacobian::INFINITY;
                table.mul_add(&mut acc, &k).unwrap();
                // k may be >= n: the reference multiplies by k as an integer.
                assert_eq!(to_affine(&acc), to_affine(&ref_scalar_mul(&g, &k)));
            }
        }
        // The generator's own table, spot checks.
        let gt = g_table().unwrap();
        assert_eq!(gt.window, G_WINDOW);
        for (j, d) in [(0usize, 1i16), (0, 128), (5, -77), (31, 3), (32, 1)] {
            let p = gt.get(j, d).unwrap();
            let mut k = [0u64; 4];
            // |d| * 2^(8j) as an integer (j = 32 wraps: reduce through n).
            let mag = u64::from(d.unsigned_abs());
            let want = if j < 32 {
                let bit = 8 * j;
                k[bit / 64] = mag << (bit % 64);
                if bit % 64 > 56 && bit / 64 + 1 < 4 {
                    k[bit / 64 + 1] = mag >> (64 - bit % 64);
                }
                to_affine(&ref_scalar_mul(&g, &k))
            } else {
                let two_256_mod_n = u256_sub(&[0; 4], &N).0;
                to_affine(&ref_scalar_mul(&g, &two_256_mod_n))
            };
            let (wx, wy) = want.unwrap();
            let wy = if d < 0 {
                ref_sub_mod(&[0; 4], &wy, &P)
            } else {
                wy
            };
            assert_eq!((p.x.to_u256(), p.y.to_u256()), (wx, wy), "{j} {d}");
        }
        assert!(gt.get(0, 0).is_none());
        assert!(gt.get(0, 129).is_none());
        assert!(gt.get(33, 1).is_none());
    }

    /// sqrt(a) for p = 3 mod 4: a^((p+1)/4), if a is a square.
    fn ref_sqrt(a: &U256) -> Option<U256> {
        let e = u256_shr1(&u256_shr1(&u256_add(&P, &[1, 0, 0, 0]).0, false), false);
        let r = ref_pow_mod(a, &e, &P);
        (ref_mul_mod(&r, &r, &P) == *a).then_some(r)
    }

    /// The x(R) >= n path of the final check: a point with x in [n, p)
    /// matches r = x - n, and nothing else nearby.
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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
        assert!(P256PublicKeyFast::from_affine(&gx, &gy).is_some());
        assert!(P256PublicKeyFast::from_affine(&gx[1..], &gy).is_none());
        assert!(P256PublicKeyFast::from_affine(&gx, &[gy.as_slice(), &[0]].concat()).is_none());
        assert!(P256PublicKeyFast::from_affine(&[0; 32], &[0; 32]).is_none());
        let mut bad = gy;
        bad[31] ^= 1;
        assert!(P256PublicKeyFast::from_affine(&gx, &bad).is_none());
    }
}
