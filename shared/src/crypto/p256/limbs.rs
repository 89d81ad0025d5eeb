//! 256-bit integers, as four 64-bit words and as nine 29-bit limbs, and
//! the conversions and word arithmetic the field and scalar code share.
//! All `const fn` where they can be: the curve constants are computed at
//! compile time with them.

/// Bits per limb.
pub(super) const LIMB_BITS: u32 = 29;
pub(super) const LIMBS: usize = 9;
pub(super) const MASK: i64 = (1 << LIMB_BITS) - 1;

/// 29-bit limbs, least significant first.
pub(super) type Limbs = [u32; LIMBS];
/// A 256-bit integer, 64-bit words, least significant first.
pub(super) type U256 = [u64; 4];

pub(super) const fn limbs_from_u256(a: &U256) -> Limbs {
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
pub(super) const fn limbs_to_u256(l: &Limbs) -> U256 {
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

pub(super) const fn limbs_double(a: &Limbs) -> Limbs {
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
pub(super) const fn u256_add(a: &U256, b: &U256) -> (U256, bool) {
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
pub(super) const fn u256_sub(a: &U256, b: &U256) -> (U256, bool) {
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

pub(super) const fn u256_lt(a: &U256, b: &U256) -> bool {
    u256_sub(a, b).1
}

pub(super) const fn u256_is_zero(a: &U256) -> bool {
    a[0] | a[1] | a[2] | a[3] == 0
}

/// 2^k mod m, for m > 1.
pub(super) const fn pow2_mod(k: u32, m: &U256) -> U256 {
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
pub(super) const fn neg_inv_mod_2_29(a: u64) -> u64 {
    let mut x = a;
    let mut i = 0;
    while i < 4 {
        x = x.wrapping_mul(2u64.wrapping_sub(a.wrapping_mul(x)));
        i += 1;
    }
    x.wrapping_neg() & MASK as u64
}

/// 32 big-endian bytes; None for any other length.
pub(super) fn u256_from_be(bytes: &[u8]) -> Option<U256> {
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

pub(super) fn u256_shr1(a: &U256, top: bool) -> U256 {
    [
        (a[0] >> 1) | (a[1] << 63),
        (a[1] >> 1) | (a[2] << 63),
        (a[2] >> 1) | (a[3] << 63),
        (a[3] >> 1) | (u64::from(top) << 63),
    ]
}

/// `s - m` if `s >= m`, else `s` (both carried, below 2^261).
#[inline(always)]
pub(super) fn sub_if_ge(s: &Limbs, m: &Limbs) -> Limbs {
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
