//! Montgomery arithmetic modulo an RSA modulus, tuned for Wasm.
//!
//! Wasm has no 64x64->128-bit multiply, so big-number code built on 64-bit
//! limbs runs several times slower there than natively. This module uses
//! 28-bit limbs held in `u64`: a limb product fits in 56 bits, so a column
//! can take up to 240 products before its carry must be taken out.
//!
//! Montgomery multiplication is done by separated operand scanning: first the
//! double-length product into an array of `u64` column accumulators (with
//! no carry propagation), then the Montgomery reduction into the same array.
//! Both passes handle four rows at once (each pass over the columns adds four
//! products to a column with one load and one store of it). Squaring computes
//! each cross product once. Carries are propagated once per operation, at
//! the end; for moduli above ~2200 bits one more carry pass is made wherever
//! a column could otherwise overflow.
//!
//! Values stay in `[0, 2n)` between operations: the limb count is chosen so
//! that `4n < R`, which keeps Montgomery products below `2n` without any
//! conditional subtraction; a single one is done at the end.
//!
//! Exponentiation is left-to-right square-and-multiply over the bits of `e`
//! (for `e = 65537`: one conversion into Montgomery form, 16 squarings and one
//! multiplication). The last multiplication uses the plain base `s`, which
//! leaves Montgomery form in the same step.
//!
//! Nothing here runs in constant time (every input is public), and no input
//! can make it panic.

/// Bits per limb.
pub(super) const LIMB_BITS: u32 = 28;
const LIMB_MASK: u64 = (1 << LIMB_BITS) - 1;
/// Rows (limb products below 2^56) that may be added to a column after its
/// carry was taken out (leaving it below 2^29), before that must be done
/// again: 240 * (2^28 - 1)^2 + 2^29 + one carry below 2^36 < 2^64.
const MAX_LOAD: usize = 240;

/// An odd modulus n with its Montgomery parameters (n', R^2 mod n), for
/// `R = 2^(28 * limbs)` with `4n < R`.
#[derive(Clone)]
pub(super) struct Modulus {
    /// The modulus, little-endian 28-bit limbs.
    n: Vec<u64>,
    /// `n` followed by three zero limbs.
    n_pad: Vec<u64>,
    /// `-n^-1 mod 2^28`.
    n0inv: u64,
    /// `R^2 mod n`, fully reduced.
    rr: Vec<u64>,
}

impl Modulus {
    /// `n_be`: big-endian, no leading zero byte, odd, of `bits` bits. None
    /// if it does not fit the limbs chosen for `bits`.
    pub(super) fn new(n_be: &[u8], bits: usize) -> Option<Self> {
        // At least two spare bits: 4n < R.
        let limbs = (bits + 2).div_ceil(LIMB_BITS as usize);
        let n = limbs_from_be(n_be, limbs)?;
        let n0inv = neg_inverse(*n.first()?);
        let mut n_pad = n.clone();
        n_pad.extend_from_slice(&[0; 3]);
        let rr = r_squared(&mut Monty::new(&n, &n_pad, n0inv), bits);
        Some(Self {
            n,
            n_pad,
            n0inv,
            rr,
        })
    }

    /// n as exactly `len` big-endian bytes.
    pub(super) fn to_be(&self, len: usize) -> Vec<u8> {
        limbs_to_be(&self.n, len)
    }

    /// `bytes^e mod n` as exactly `len` big-endian bytes, for `e >= 3` odd.
    /// None if the value of `bytes` is not below n.
    pub(super) fn pow_be(&self, bytes: &[u8], e: u64, len: usize) -> Option<Vec<u8>> {
        let s = limbs_from_be(bytes, self.n.len())?;
        if !less_than(&s, &self.n) {
            return None;
        }
        Some(limbs_to_be(&self.pow(&s, e), len))
    }

    /// s^e mod n, for s < n and odd e >= 3.
    fn pow(&self, s: &[u64], e: u64) -> Vec<u64> {
        let len = self.n.len();
        let mut monty = Monty::new(&self.n, &self.n_pad, self.n0inv);
        // s * R mod n (< 2n): Montgomery form of s.
        let mut base = vec![0u64; len];
        monty.mul(&mut base, s, &self.rr);
        let mut acc = base.clone();
        let mut tmp = vec![0u64; len];
        // acc = base accounts for the top bit of e. e is odd and >= 3: bit 0
        // is handled after the loop.
        let top = 63 - e.leading_zeros();
        for bit in (1..top).rev() {
            monty.sqr(&mut tmp, &acc);
            if (e >> bit) & 1 == 1 {
                monty.mul(&mut acc, &tmp, &base);
            } else {
                std::mem::swap(&mut acc, &mut tmp);
            }
        }
        monty.sqr(&mut tmp, &acc);
        // (s^(e-1) R) * s * R^-1 = s^e: the result leaves Montgomery form.
        monty.mul(&mut acc, &tmp, s);
        if !less_than(&acc, &self.n) {
            sub_in_place(&mut acc, &self.n);
        }
        acc
    }
}

// ---------------------------------------------------------------------------
// Limb arithmetic. Numbers are little-endian vectors of 28-bit limbs (each
// limb < 2^28), all of one length per modulus.

/// Big-endian bytes to `len` limbs. None if the value needs more limbs.
fn limbs_from_be(bytes: &[u8], len: usize) -> Option<Vec<u64>> {
    let mut out = vec![0u64; len];
    let mut slots = out.iter_mut();
    let mut acc: u64 = 0;
    let mut acc_bits: u32 = 0;
    for &b in bytes.iter().rev() {
        acc |= u64::from(b) << acc_bits;
        acc_bits += 8;
        if acc_bits >= LIMB_BITS {
            store_limb(&mut slots, acc & LIMB_MASK)?;
            acc >>= LIMB_BITS;
            acc_bits -= LIMB_BITS;
        }
    }
    store_limb(&mut slots, acc)?;
    Some(out)
}

fn store_limb<'a>(slots: &mut impl Iterator<Item = &'a mut u64>, value: u64) -> Option<()> {
    match slots.next() {
        Some(slot) => *slot = value,
        None if value != 0 => return None,
        None => {}
    }
    Some(())
}

/// Limbs to exactly `len` big-endian bytes (higher bytes are dropped: the
/// caller knows the value fits).
fn limbs_to_be(limbs: &[u64], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let mut slots = out.iter_mut().rev();
    let mut acc: u64 = 0;
    let mut acc_bits: u32 = 0;
    for &limb in limbs {
        acc |= limb << acc_bits;
        acc_bits += LIMB_BITS;
        while acc_bits >= 8 {
            if let Some(slot) = slots.next() {
                *slot = acc as u8;
            }
            acc >>= 8;
            acc_bits -= 8;
        }
    }
    if let Some(slot) = slots.next() {
        *slot = acc as u8;
    }
    out
}

/// a < b, both normalized and of the same length.
fn less_than(a: &[u64], b: &[u64]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// a -= b, for a >= b.
fn sub_in_place(a: &mut [u64], b: &[u64]) {
    let mut borrow = 0u64;
    for (x, &y) in a.iter_mut().zip(b) {
        let d = x.wrapping_sub(y).wrapping_sub(borrow);
        *x = d & LIMB_MASK;
        borrow = d >> 63;
    }
}

/// x = 2x mod n, for x < n.
fn double_mod(x: &mut [u64], n: &[u64]) {
    let mut carry = 0u64;
    for limb in x.iter_mut() {
        let v = (*limb << 1) | carry;
        *limb = v & LIMB_MASK;
        carry = v >> LIMB_BITS;
    }
    // 2x < 2n < R: no carry out of the top limb.
    if !less_than(x, n) {
        sub_in_place(x, n);
    }
}

/// -n0^-1 mod 2^28 for odd n0 (Newton iteration: each step doubles the
/// number of correct low bits).
fn neg_inverse(n0: u64) -> u64 {
    let n0 = n0 as u32;
    let mut inv: u32 = 1;
    for _ in 0..5 {
        inv = inv.wrapping_mul(2u32.wrapping_sub(n0.wrapping_mul(inv)));
    }
    u64::from(inv.wrapping_neg()) & LIMB_MASK
}

/// R^2 mod n, fully reduced, for an n of `bits` bits.
fn r_squared(monty: &mut Monty<'_>, bits: usize) -> Vec<u64> {
    let n = monty.n;
    let len = n.len();
    let r_bits = len * LIMB_BITS as usize;
    // R^2 mod n is the Montgomery form of 2^r_bits, made by left-to-right
    // binary exponentiation of 2: a Montgomery squaring doubles the exponent,
    // a modular doubling adds one. The top 6 bits of r_bits (r_bits >= 2072
    // has 12) are reached by doublings alone.
    let shift = (usize::BITS - r_bits.leading_zeros()).saturating_sub(6);
    let start = r_bits >> shift;
    // 2^(bits-1) < n (n is odd, so not a power of two); doubled up to
    // 2^(r_bits + start) mod n, the Montgomery form of 2^start.
    let mut x = vec![0u64; len];
    let top = bits - 1;
    if let Some(limb) = x.get_mut(top / LIMB_BITS as usize) {
        *limb = 1 << (top % LIMB_BITS as usize);
    }
    for _ in 0..(r_bits + start - top) {
        double_mod(&mut x, n);
    }
    let mut tmp = vec![0u64; len];
    for bit in (0..shift).rev() {
        monty.sqr(&mut tmp, &x);
        if !less_than(&tmp, n) {
            sub_in_place(&mut tmp, n);
        }
        std::mem::swap(&mut x, &mut tmp);
        if (r_bits >> bit) & 1 == 1 {
            double_mod(&mut x, n);
        }
    }
    x
}

fn get(x: &[u64], i: usize) -> u64 {
    x.get(i).copied().unwrap_or(0)
}

fn add_at(t: &mut [u64], i: usize, v: u64) {
    if let Some(x) = t.get_mut(i) {
        *x += v;
    }
}

fn range(x: &[u64], start: usize, end: usize) -> &[u64] {
    x.get(start..end).unwrap_or_default()
}

fn range_mut(x: &mut [u64], start: usize, end: usize) -> &mut [u64] {
    x.get_mut(start..end).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Montgomery multiplication and squaring.

/// Takes the carries out of `t`: every limb but the last ends below 2^28.
fn normalize(t: &mut [u64]) {
    let mut carry = 0u64;
    let last = t.len().saturating_sub(1);
    for x in t.iter_mut().take(last) {
        let v = *x + carry;
        *x = v & LIMB_MASK;
        carry = v >> LIMB_BITS;
    }
    if let Some(x) = t.last_mut() {
        *x += carry;
    }
}

/// `t[j] += a0 x[j] + a1 x[j-1] + a2 x[j-2] + a3 x[j-3]` for each j, where
/// `xp[j..j + 4]` holds `x[j-3], x[j-2], x[j-1], x[j]` (`xp` is 3 limbs
/// longer than `t`). The last three `x` limbs are kept in locals and the
/// loop is unrolled twice: one load of `x` and one load and store of `t` per
/// four products.
#[inline(always)]
fn mac4(t: &mut [u64], xp: &[u64], [a0, a1, a2, a3]: [u64; 4]) {
    let (head, x) = xp.split_at(xp.len().min(3));
    let (mut w0, mut w1, mut w2) = (get(head, 0), get(head, 1), get(head, 2));
    let mut t_pairs = t.chunks_exact_mut(2);
    let mut x_pairs = x.chunks_exact(2);
    for (tt, xx) in t_pairs.by_ref().zip(x_pairs.by_ref()) {
        if let ([t0, t1], &[x0, x1]) = (tt, xx) {
            *t0 += a0 * x0 + a1 * w2 + a2 * w1 + a3 * w0;
            *t1 += a0 * x1 + a1 * x0 + a2 * w2 + a3 * w1;
            w0 = w2;
            w1 = x0;
            w2 = x1;
        }
    }
    for (tj, &xj) in t_pairs.into_remainder().iter_mut().zip(x_pairs.remainder()) {
        *tj += a0 * xj + a1 * w2 + a2 * w1 + a3 * w0;
    }
}

/// `t[j] += a x[j]` for each j.
#[inline(always)]
fn mac1(t: &mut [u64], x: &[u64], a: u64) {
    for (tj, &xj) in t.iter_mut().zip(x) {
        *tj += a * xj;
    }
}

/// Montgomery arithmetic modulo one n, with its scratch space.
struct Monty<'a> {
    /// L limbs.
    n: &'a [u64],
    /// `n` and three zero limbs.
    n_pad: &'a [u64],
    /// `-n^-1 mod 2^28`.
    n0inv: u64,
    /// Column accumulators of the double-length product: 2L + 1.
    t: Vec<u64>,
    /// Three zero limbs, an operand, three zero limbs: L + 6.
    pad: Vec<u64>,
}

impl<'a> Monty<'a> {
    fn new(n: &'a [u64], n_pad: &'a [u64], n0inv: u64) -> Self {
        let len = n.len();
        Monty {
            n,
            n_pad,
            n0inv,
            t: vec![0; 2 * len + 1],
            pad: vec![0; len + 6],
        }
    }

    /// Copies `x` into `pad` between three zero limbs on each side.
    fn load_pad(&mut self, x: &[u64]) {
        self.pad.fill(0);
        for (p, &v) in self.pad.iter_mut().skip(3).zip(x) {
            *p = v;
        }
    }

    /// out = a * b * R^-1 mod n, in `[0, 2n)`, for a, b < 2n.
    fn mul(&mut self, out: &mut [u64], a: &[u64], b: &[u64]) {
        let len = self.n.len();
        self.load_pad(b);
        let t = self.t.as_mut_slice();
        t.fill(0);
        let mut load = 0;
        let mut i = 0;
        let mut rows = a.chunks_exact(4);
        for r in rows.by_ref() {
            if let &[a0, a1, a2, a3] = r {
                if load + 4 > MAX_LOAD {
                    normalize(t);
                    load = 1;
                }
                // Columns i ..= i + L + 2 (the last ones get zero products).
                mac4(range_mut(t, i, i + len + 3), &self.pad, [a0, a1, a2, a3]);
                load += 4;
            }
            i += 4;
        }
        for &ai in rows.remainder() {
            if load + 1 > MAX_LOAD {
                normalize(t);
                load = 1;
            }
            mac1(range_mut(t, i, i + len), b, ai);
            load += 1;
            i += 1;
        }
        reduce(out, t, self.n, self.n_pad, self.n0inv, load);
    }

    /// out = a^2 * R^-1 mod n, in `[0, 2n)`, for a < 2n.
    fn sqr(&mut self, out: &mut [u64], a: &[u64]) {
        let len = self.n.len();
        self.load_pad(a);
        let pad = self.pad.as_slice();
        let t = self.t.as_mut_slice();
        t.fill(0);
        // Cross products a[i] a[j] for i < j, four rows i at a time.
        let mut load = 0;
        let mut i = 0;
        while i + 4 <= len {
            if load + 4 > MAX_LOAD {
                normalize(t);
                load = 1;
            }
            let x = |j: usize| get(pad, j + 3);
            let (a0, a1, a2, a3) = (x(i), x(i + 1), x(i + 2), x(i + 3));
            let (a4, a5, a6) = (x(i + 4), x(i + 5), x(i + 6));
            // Columns 2i+1 ..= 2i+6, where not all four rows have a term.
            let c = 2 * i;
            add_at(t, c + 1, a0 * a1);
            add_at(t, c + 2, a0 * a2);
            add_at(t, c + 3, a0 * a3 + a1 * a2);
            add_at(t, c + 4, a0 * a4 + a1 * a3);
            add_at(t, c + 5, a0 * a5 + a1 * a4 + a2 * a3);
            add_at(t, c + 6, a0 * a6 + a1 * a5 + a2 * a4);
            // Columns 2i+7 ..= i+L+2: x[j] = a[j - i] for column j.
            mac4(
                range_mut(t, c + 7, i + len + 3),
                range(pad, i + 7, len + 6),
                [a0, a1, a2, a3],
            );
            load += 4;
            i += 4;
        }
        while i < len {
            if load + 1 > MAX_LOAD {
                normalize(t);
                load = 1;
            }
            mac1(
                range_mut(t, 2 * i + 1, i + len),
                range(a, i + 1, len),
                get(a, i),
            );
            load += 1;
            i += 1;
        }
        // Doubled, plus the squares a[i]^2 on the even columns.
        if 2 * load + 1 > MAX_LOAD {
            normalize(t);
            load = 1;
        }
        for (pair, &ai) in t.chunks_exact_mut(2).zip(a) {
            if let [even, odd] = pair {
                *even = 2 * *even + ai * ai;
                *odd *= 2;
            }
        }
        reduce(out, t, self.n, self.n_pad, self.n0inv, 2 * load + 1);
    }
}

/// Montgomery reduction: `out = t * R^-1 mod n` in `[0, 2n)`, for the
/// double-length `t < 4n^2` whose columns hold at most `load` products.
/// Four rows at a time: the four multipliers m are found from the four low
/// columns, then one pass adds `m * n` to the columns above.
fn reduce(out: &mut [u64], t: &mut [u64], n: &[u64], n_pad: &[u64], n0inv: u64, mut load: usize) {
    let len = n.len();
    let (n0, n1, n2, n3) = (get(n, 0), get(n, 1), get(n, 2), get(n, 3));
    let m_of = |c: u64| ((c & LIMB_MASK) * n0inv) & LIMB_MASK;
    let mut i = 0;
    while i + 4 <= len {
        if load + 4 > MAX_LOAD {
            normalize(range_mut(t, i, 2 * len + 1));
            load = 1;
        }
        // Column i+r with the terms of m0..m(r-1); m_r zeroes its low bits.
        let c0 = get(t, i);
        let m0 = m_of(c0);
        let carry = (c0 + m0 * n0) >> LIMB_BITS;
        let c1 = get(t, i + 1) + carry + m0 * n1;
        let m1 = m_of(c1);
        let carry = (c1 + m1 * n0) >> LIMB_BITS;
        let c2 = get(t, i + 2) + carry + m0 * n2 + m1 * n1;
        let m2 = m_of(c2);
        let carry = (c2 + m2 * n0) >> LIMB_BITS;
        let c3 = get(t, i + 3) + carry + m0 * n3 + m1 * n2 + m2 * n1;
        let m3 = m_of(c3);
        let carry = (c3 + m3 * n0) >> LIMB_BITS;
        add_at(t, i + 4, carry);
        // Columns i+4 ..= i+L+2: x = n, window starting at n[1].
        mac4(
            range_mut(t, i + 4, i + len + 3),
            range(n_pad, 1, len + 3),
            [m0, m1, m2, m3],
        );
        load += 4;
        i += 4;
    }
    while i < len {
        if load + 1 > MAX_LOAD {
            normalize(range_mut(t, i, 2 * len + 1));
            load = 1;
        }
        let c = get(t, i);
        let m = m_of(c);
        add_at(t, i + 1, (c + m * n0) >> LIMB_BITS);
        mac1(range_mut(t, i + 1, i + len), range(n, 1, len), m);
        load += 1;
        i += 1;
    }
    // The result is t[L..2L]; below 2n < R, so nothing is left above.
    let high = range_mut(t, len, 2 * len + 1);
    normalize(high);
    debug_assert_eq!(high.last().copied(), Some(0));
    for (o, &x) in out.iter_mut().zip(high.iter()) {
        *o = x;
    }
}

#[cfg(test)]
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

    #[test]
    fn neg_inverse_is_the_negated_inverse_mod_2_28() {
        let mut state = 1;
        let mut values = vec![1, 3, 5, LIMB_MASK, LIMB_MASK - 2, 1 << 27 | 1];
        values.extend((0..1000).map(|_| (next(&mut state) & LIMB_MASK) | 1));
        for n0 in values {
            let inv = neg_inverse(n0);
            assert!(inv <= LIMB_MASK);
            assert_eq!((n0 * inv + 1) & LIMB_MASK, 0, "{n0}");
        }
    }

    #[test]
    fn limbs_round_trip_and_refuse_values_that_do_not_fit() {
        let mut state = 2;
        for len in [1usize, 2, 3, 7, 8, 27, 28, 29, 255, 256, 257] {
            let bytes: Vec<u8> = (0..len).map(|_| next(&mut state) as u8).collect();
            let limbs_needed = (len * 8).div_ceil(LIMB_BITS as usize);
            let limbs = limbs_from_be(&bytes, limbs_needed).unwrap();
            assert!(limbs.iter().all(|&l| l <= LIMB_MASK));
            assert_eq!(limbs_to_be(&limbs, len), bytes);
            // Leading zero bytes cost nothing.
            let mut padded = vec![0u8; 5];
            padded.extend_from_slice(&bytes);
            assert_eq!(limbs_from_be(&padded, limbs_needed).unwrap(), limbs);
            assert_eq!(limbs_to_be(&limbs, len + 5), padded);
            // One limb short: fits only if the top limb was zero.
            let short = limbs_from_be(&bytes, limbs_needed - 1);
            assert_eq!(short.is_some(), limbs.last() == Some(&0), "{len}");
        }
    }

    #[test]
    fn mac4_matches_the_naive_sum() {
        let mut state = 3;
        for len in 0..12 {
            let x: Vec<u64> = (0..len).map(|_| next(&mut state) & LIMB_MASK).collect();
            let a = [0, 1, 2, 3].map(|_| next(&mut state) & LIMB_MASK);
            let start: Vec<u64> = (0..len).map(|_| next(&mut state) & LIMB_MASK).collect();
            // Window with three x limbs before the first column.
            let before = [0, 1, 2].map(|_| next(&mut state) & LIMB_MASK);
            let mut xp = before.to_vec();
            xp.extend_from_slice(&x);
            let mut t = start.clone();
            mac4(&mut t, &xp, a);
            for j in 0..len {
                let expected = start[j]
                    + a[0] * xp[j + 3]
                    + a[1] * xp[j + 2]
                    + a[2] * xp[j + 1]
                    + a[3] * xp[j];
                assert_eq!(t[j], expected, "len {len} j {j}");
            }
        }
    }

    #[test]
    fn normalize_keeps_the_value() {
        let mut state = 4;
        let t: Vec<u64> = (0..20).map(|_| next(&mut state) >> 2).collect();
        let mut u = t.clone();
        normalize(&mut u);
        assert!(u[..19].iter().all(|&l| l <= LIMB_MASK));
        // Compare as base-2^28 numbers, limb by limb with u128 carries.
        let mut carry: u128 = 0;
        for (&x, &y) in t.iter().zip(&u).take(19) {
            let v = u128::from(x) + carry;
            assert_eq!(v as u64 & LIMB_MASK, y);
            carry = v >> LIMB_BITS;
        }
        assert_eq!(u128::from(t[19]) + carry, u128::from(u[19]));
    }
}
