//! RSA signature verification (RSASSA-PKCS1-v1_5 and RSASSA-PSS, RFC 8017)
//! tuned for Wasm.
//!
//! Wasm has no 64x64->128-bit multiply, so big-number code built on 64-bit
//! limbs runs several times slower there than natively. This module uses
//! 28-bit limbs held in `u64`: a limb product fits in 56 bits, so up to 256
//! products can be summed in one `u64` before a carry must be taken out.
//! Montgomery multiplication is done by product scanning with the reduction
//! interleaved (each output column is summed once, in a register, and carried
//! once), with a dedicated squaring that computes each cross product once.
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
//! Nothing here runs in constant time: every input of a signature
//! verification (key, message, signature) is public. No input can make this
//! code panic.

use sha2::{Digest, Sha256, Sha384, Sha512};

/// Bits per limb.
const LIMB_BITS: u32 = 28;
const LIMB_MASK: u64 = (1 << LIMB_BITS) - 1;
/// Limb products summed in one `u64` before the sum is split into a low limb
/// and a carry: 250 products below 2^56 plus the few extra terms added to a
/// column (a carry below 2^37, two more products) stay below 2^64.
const MAX_TERMS: usize = 250;

const MIN_MODULUS_BITS: usize = 2048;
const MAX_MODULUS_BITS: usize = 8192;
const MIN_EXPONENT: u64 = 3;
const MAX_EXPONENT: u64 = (1 << 33) - 1;

/// An RSA public key with precomputed Montgomery parameters (n', R^2 mod n).
/// Build once per JWK.
#[derive(Clone)]
pub struct RsaPublicKeyFast {
    /// The modulus, little-endian 28-bit limbs; `4n < R = 2^(28 * n.len())`.
    n: Vec<u64>,
    /// `-n^-1 mod 2^28`.
    n0inv: u64,
    /// `R^2 mod n`, fully reduced.
    rr: Vec<u64>,
    e: u64,
    bits: usize,
    size: usize,
}

impl std::fmt::Debug for RsaPublicKeyFast {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaPublicKeyFast")
            .field("bits", &self.bits)
            .field("e", &self.e)
            .finish_non_exhaustive()
    }
}

impl RsaPublicKeyFast {
    /// n: big-endian modulus (leading zero bytes allowed and ignored),
    /// 2048..=8192 bits, odd; e: 3..=2^33-1, odd. None otherwise.
    pub fn new(n_be: &[u8], e: u64) -> Option<Self> {
        if !(MIN_EXPONENT..=MAX_EXPONENT).contains(&e) || e & 1 == 0 {
            return None;
        }
        let first = n_be.iter().position(|&b| b != 0)?;
        let n_be = n_be.get(first..)?;
        let top = u32::from(*n_be.first()?);
        let bits = n_be.len() * 8 + 24 - top.leading_zeros() as usize;
        if !(MIN_MODULUS_BITS..=MAX_MODULUS_BITS).contains(&bits) {
            return None;
        }
        if n_be.last()? & 1 == 0 {
            return None;
        }
        // At least two spare bits: 4n < R.
        let limbs = (bits + 2).div_ceil(LIMB_BITS as usize);
        let n = limbs_from_be(n_be, limbs)?;
        let n0inv = neg_inverse(*n.first()?);
        let rr = r_squared(&n, n0inv, bits)?;
        Some(Self {
            n,
            n0inv,
            rr,
            e,
            bits,
            size: n_be.len(),
        })
    }

    /// Bit length of the modulus.
    pub fn modulus_bits(&self) -> usize {
        self.bits
    }

    /// k = byte length of n.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The public exponent.
    pub fn exponent(&self) -> u64 {
        self.e
    }

    /// s^e mod n as exactly k big-endian bytes. None if sig.len() != k or
    /// s >= n.
    pub fn public_op(&self, sig: &[u8]) -> Option<Vec<u8>> {
        if sig.len() != self.size {
            return None;
        }
        let len = self.n.len();
        let s = limbs_from_be(sig, len)?;
        if !less_than(&s, &self.n) {
            return None;
        }
        let n = self.n.as_slice();
        let n0inv = self.n0inv;
        let mut scratch = vec![0u64; len];
        let mut tmp = vec![0u64; len];
        // s * R mod n (< 2n): Montgomery form of s.
        let mut base = vec![0u64; len];
        mont_mul(&mut base, &s, &self.rr, n, n0inv, &mut scratch);
        let mut acc = base.clone();
        // The top bit of e is accounted for by acc = base. e is odd and >= 3,
        // so bit 0 is handled after the loop.
        let top = 63 - self.e.leading_zeros();
        for bit in (1..top).rev() {
            mont_sqr(&mut tmp, &acc, n, n0inv, &mut scratch);
            if (self.e >> bit) & 1 == 1 {
                mont_mul(&mut acc, &tmp, &base, n, n0inv, &mut scratch);
            } else {
                std::mem::swap(&mut acc, &mut tmp);
            }
        }
        mont_sqr(&mut tmp, &acc, n, n0inv, &mut scratch);
        // (s^(e-1) R) * s * R^-1 = s^e: the result leaves Montgomery form.
        mont_mul(&mut acc, &tmp, &s, n, n0inv, &mut scratch);
        if !less_than(&acc, n) {
            sub_in_place(&mut acc, n);
        }
        Some(limbs_to_be(&acc, self.size))
    }
}

/// Hash functions of the RS* and PS* JWS algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// The hash of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        self.digest_parts(&[data])
    }

    /// The hash of the concatenation of `parts`.
    fn digest_parts(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut hasher = D::new();
            for part in parts {
                hasher.update(part);
            }
            hasher.finalize().to_vec()
        }
        match self {
            HashAlg::Sha256 => run::<Sha256>(parts),
            HashAlg::Sha384 => run::<Sha384>(parts),
            HashAlg::Sha512 => run::<Sha512>(parts),
        }
    }

    /// DER encoding of DigestInfo up to (and including) the digest's OCTET
    /// STRING header (RFC 8017 §9.2, note 1).
    fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            HashAlg::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            HashAlg::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            HashAlg::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }
}

/// RSASSA-PKCS1-v1_5 verification (RFC 8017 §8.2.2): EM must equal
/// 0x00 0x01 FF..FF (at least 8 FF) 0x00 DigestInfo(hash) exactly. `digest`
/// is the message hash.
pub fn verify_pkcs1v15(key: &RsaPublicKeyFast, hash: HashAlg, digest: &[u8], sig: &[u8]) -> bool {
    if digest.len() != hash.output_len() {
        return false;
    }
    let Some(em) = key.public_op(sig) else {
        return false;
    };
    let prefix = hash.digest_info_prefix();
    let t_len = prefix.len() + digest.len();
    // 0x00 0x01 PS 0x00 T with at least 8 bytes of PS.
    let Some(ps_len) = em.len().checked_sub(t_len + 3) else {
        return false;
    };
    if ps_len < 8 {
        return false;
    }
    let mut expected = Vec::with_capacity(em.len());
    expected.extend_from_slice(&[0x00, 0x01]);
    expected.resize(2 + ps_len, 0xff);
    expected.push(0x00);
    expected.extend_from_slice(prefix);
    expected.extend_from_slice(digest);
    em == expected
}

/// RSASSA-PSS verification (RFC 8017 §8.1.2 / §9.1.2) with MGF1 using the
/// same hash and salt length == hash length (RFC 7518 §3.5).
pub fn verify_pss(key: &RsaPublicKeyFast, hash: HashAlg, digest: &[u8], sig: &[u8]) -> bool {
    let h_len = hash.output_len();
    let s_len = h_len;
    if digest.len() != h_len {
        return false;
    }
    let Some(m) = key.public_op(sig) else {
        return false;
    };
    // emBits = modBits - 1; EM = I2OSP(m, emLen) must fit: when emLen < k,
    // the leading byte of the k-byte value must be zero.
    let em_bits = key.bits - 1;
    let em_len = em_bits.div_ceil(8);
    let Some((lead, em)) = m.split_at_checked(m.len().saturating_sub(em_len)) else {
        return false;
    };
    if lead.iter().any(|&b| b != 0) || em.len() != em_len {
        return false;
    }
    // §9.1.2 step 3.
    if em_len < h_len + s_len + 2 {
        return false;
    }
    // Steps 4-5: EM = maskedDB || H || 0xbc.
    let Some((masked_db, rest)) = em.split_at_checked(em_len - h_len - 1) else {
        return false;
    };
    let Some((h, trailer)) = rest.split_at_checked(h_len) else {
        return false;
    };
    if trailer != [0xbc] {
        return false;
    }
    // Step 6: the leftmost 8*emLen - emBits bits of maskedDB must be zero.
    let zero_bits = (8 * em_len - em_bits) as u32;
    let keep_mask = 0xffu8.checked_shr(zero_bits).unwrap_or(0);
    let Some(&first) = masked_db.first() else {
        return false;
    };
    if first & !keep_mask != 0 {
        return false;
    }
    // Steps 7-9: DB = maskedDB xor MGF1(H), leftmost bits cleared.
    let mut db = mgf1(hash, h, masked_db.len());
    for (d, &x) in db.iter_mut().zip(masked_db) {
        *d ^= x;
    }
    if let Some(d) = db.first_mut() {
        *d &= keep_mask;
    }
    // Step 10: DB = PS (zeros) || 0x01 || salt.
    let ps_len = em_len - h_len - s_len - 2;
    let Some((ps, rest)) = db.split_at_checked(ps_len) else {
        return false;
    };
    if ps.iter().any(|&b| b != 0) {
        return false;
    }
    let Some((&one, salt)) = rest.split_first() else {
        return false;
    };
    if one != 0x01 || salt.len() != s_len {
        return false;
    }
    // Steps 12-14: H' = Hash(0x00 * 8 || mHash || salt) must equal H.
    let h2 = hash.digest_parts(&[&[0u8; 8], digest, salt]);
    h2 == h
}

/// MGF1 (RFC 8017 §B.2.1) with `hash`, `len` bytes.
fn mgf1(hash: HashAlg, seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + hash.output_len());
    let mut counter: u32 = 0;
    while out.len() < len {
        out.extend_from_slice(&hash.digest_parts(&[seed, &counter.to_be_bytes()]));
        counter = counter.wrapping_add(1);
    }
    out.truncate(len);
    out
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
fn r_squared(n: &[u64], n0inv: u64, bits: usize) -> Option<Vec<u64>> {
    let len = n.len();
    let r_bits = len * LIMB_BITS as usize;
    // 2^(bits-1) < n (n is odd, so not a power of two).
    let mut x = vec![0u64; len];
    let top = bits - 1;
    *x.get_mut(top / LIMB_BITS as usize)? = 1 << (top % LIMB_BITS as usize);
    // Doubling up to 2^r_bits mod n = R mod n, the Montgomery form of 1.
    for _ in 0..(r_bits - top) {
        double_mod(&mut x, n);
    }
    // Montgomery form of 2^r_bits = R^2 mod n, by left-to-right binary
    // exponentiation of 2: Montgomery squaring doubles the exponent, a
    // modular doubling adds one.
    let mut tmp = vec![0u64; len];
    let mut scratch = vec![0u64; len];
    double_mod(&mut x, n);
    let high = usize::BITS - 1 - r_bits.leading_zeros();
    for bit in (0..high).rev() {
        mont_sqr(&mut tmp, &x, n, n0inv, &mut scratch);
        if !less_than(&tmp, n) {
            sub_in_place(&mut tmp, n);
        }
        std::mem::swap(&mut x, &mut tmp);
        if (r_bits >> bit) & 1 == 1 {
            double_mod(&mut x, n);
        }
    }
    Some(x)
}

/// Sum of `x[i] * y[len - 1 - i]` (y read backwards), split as
/// `lo + hi * 2^28` and added to `(lo, hi)`.
#[inline(always)]
fn add_dot(lo: &mut u64, hi: &mut u64, x: &[u64], y: &[u64]) {
    for (xc, yc) in x.chunks(MAX_TERMS).zip(y.rchunks(MAX_TERMS)) {
        let s = dot(xc, yc);
        *lo += s & LIMB_MASK;
        *hi += s >> LIMB_BITS;
    }
}

/// Sum of `x[i] * y[len - 1 - i]`, at most `MAX_TERMS` terms.
#[inline(always)]
fn dot(x: &[u64], y: &[u64]) -> u64 {
    x.iter()
        .zip(y.iter().rev())
        .fold(0u64, |acc, (&a, &b)| acc + a * b)
}

/// As [`add_dot`] for two pairs of operands of the same length:
/// `sum x[i] * y[len-1-i] + u[i] * v[len-1-i]`.
#[inline(always)]
fn add_dot2(lo: &mut u64, hi: &mut u64, x: &[u64], y: &[u64], u: &[u64], v: &[u64]) {
    const PAIRS: usize = MAX_TERMS / 2;
    for (((xc, yc), uc), vc) in x
        .chunks(PAIRS)
        .zip(y.rchunks(PAIRS))
        .zip(u.chunks(PAIRS))
        .zip(v.rchunks(PAIRS))
    {
        let s = xc
            .iter()
            .zip(yc.iter().rev())
            .zip(uc.iter().zip(vc.iter().rev()))
            .fold(0u64, |acc, ((&a, &b), (&c, &d))| acc + a * b + c * d);
        *lo += s & LIMB_MASK;
        *hi += s >> LIMB_BITS;
    }
}

fn get(x: &[u64], i: usize) -> u64 {
    x.get(i).copied().unwrap_or(0)
}

fn slice(x: &[u64], start: usize, end: usize) -> &[u64] {
    x.get(start..end).unwrap_or(&[])
}

/// out = a * b * R^-1 mod n, in `[0, 2n)`, for a, b < 2n and 4n < R.
/// `m` is scratch space; all slices have the length of `n`.
fn mont_mul(out: &mut [u64], a: &[u64], b: &[u64], n: &[u64], n0inv: u64, m: &mut [u64]) {
    let len = n.len();
    let b0 = get(b, 0);
    let n0 = get(n, 0);
    // Low columns: sum_{i<=k} a[i] b[k-i] + sum_{i<k} m[i] n[k-i], then
    // m[k] zeroes the column.
    let mut carry = 0u64;
    for k in 0..len {
        let mut lo = carry;
        let mut hi = 0u64;
        add_dot2(
            &mut lo,
            &mut hi,
            slice(a, 0, k),
            slice(b, 1, k + 1),
            slice(m, 0, k),
            slice(n, 1, k + 1),
        );
        lo += get(a, k) * b0;
        let mk = ((lo & LIMB_MASK) * n0inv) & LIMB_MASK;
        if let Some(slot) = m.get_mut(k) {
            *slot = mk;
        }
        lo += mk * n0;
        carry = (lo >> LIMB_BITS) + hi;
    }
    // High columns k = len + j: i from j+1 to len-1.
    for (j, slot) in out.iter_mut().enumerate() {
        let start = j + 1;
        let mut lo = carry;
        let mut hi = 0u64;
        add_dot2(
            &mut lo,
            &mut hi,
            slice(a, start, len),
            slice(b, start, len),
            slice(m, start, len),
            slice(n, start, len),
        );
        *slot = lo & LIMB_MASK;
        carry = (lo >> LIMB_BITS) + hi;
    }
    // The last column (j = len - 1) was empty: `carry` is 0 and the top limb
    // was written from the previous column's carry.
    debug_assert_eq!(carry, 0);
}

/// out = a^2 * R^-1 mod n, in `[0, 2n)`, for a < 2n and 4n < R.
fn mont_sqr(out: &mut [u64], a: &[u64], n: &[u64], n0inv: u64, m: &mut [u64]) {
    let len = n.len();
    let n0 = get(n, 0);
    let mut carry = 0u64;
    for k in 0..len {
        // Cross products a[i] a[k-i] with i < k - i, counted twice.
        let half = k.div_ceil(2);
        let mut slo = 0u64;
        let mut shi = 0u64;
        add_dot(
            &mut slo,
            &mut shi,
            slice(a, 0, half),
            slice(a, k + 1 - half, k + 1),
        );
        let mut lo = carry + 2 * slo;
        let mut hi = 2 * shi;
        if k % 2 == 0 {
            let d = get(a, k / 2);
            lo += d * d;
        }
        add_dot(&mut lo, &mut hi, slice(m, 0, k), slice(n, 1, k + 1));
        let mk = ((lo & LIMB_MASK) * n0inv) & LIMB_MASK;
        if let Some(slot) = m.get_mut(k) {
            *slot = mk;
        }
        lo += mk * n0;
        carry = (lo >> LIMB_BITS) + hi;
    }
    for (j, slot) in out.iter_mut().enumerate() {
        let k = len + j;
        let start = j + 1;
        // i from start while i < k - i.
        let half = k.div_ceil(2).saturating_sub(start);
        let mut slo = 0u64;
        let mut shi = 0u64;
        add_dot(
            &mut slo,
            &mut shi,
            slice(a, start, start + half),
            slice(a, len - half, len),
        );
        let mut lo = carry + 2 * slo;
        let mut hi = 2 * shi;
        if k % 2 == 0 {
            let d = get(a, k / 2);
            lo += d * d;
        }
        add_dot(&mut lo, &mut hi, slice(m, start, len), slice(n, start, len));
        *slot = lo & LIMB_MASK;
        carry = (lo >> LIMB_BITS) + hi;
    }
    debug_assert_eq!(carry, 0);
}
