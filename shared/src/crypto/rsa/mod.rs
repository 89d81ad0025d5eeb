//! RSA signature verification (RSASSA-PKCS1-v1_5 and RSASSA-PSS, RFC 8017)
//! for the RS* and PS* JWS algorithms, tuned for Wasm.
//!
//! The modular exponentiation is edgeward's own ([`montgomery`]: 28-bit
//! limbs, because Wasm has no 64x64->128-bit multiply); this module checks
//! the key's parameters and the encodings. It is tested against the `rsa`
//! crate and pyca/cryptography (OpenSSL) in `shared/tests/rsa_vectors.rs`.
//!
//! Nothing here runs in constant time: every input of a signature
//! verification (key, message, signature) is public. No input can make this
//! code panic.

mod montgomery;

use montgomery::Modulus;
use sha2::{Digest, Sha256, Sha384, Sha512};

const MIN_MODULUS_BITS: usize = 2048;
const MAX_MODULUS_BITS: usize = 8192;
const MIN_EXPONENT: u64 = 3;
const MAX_EXPONENT: u64 = (1 << 33) - 1;

/// An RSA public key with precomputed Montgomery parameters (n', R^2 mod n).
/// Build once per JWK.
#[derive(Clone)]
pub struct PublicKey {
    modulus: Modulus,
    e: u64,
    bits: usize,
    size: usize,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("rsa::PublicKey")
            .field("bits", &self.bits)
            .field("e", &self.e)
            .finish_non_exhaustive()
    }
}

impl PublicKey {
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
        Some(Self {
            modulus: Modulus::new(n_be, bits)?,
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

    /// The modulus, big-endian, without leading zero bytes.
    pub fn modulus_be(&self) -> Vec<u8> {
        self.modulus.to_be(self.size)
    }

    /// s^e mod n as exactly k big-endian bytes. None if sig.len() != k or
    /// s >= n.
    pub fn public_op(&self, sig: &[u8]) -> Option<Vec<u8>> {
        if sig.len() != self.size {
            return None;
        }
        self.modulus.pow_be(sig, self.e, self.size)
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
pub fn verify_pkcs1v15(key: &PublicKey, hash: HashAlg, digest: &[u8], sig: &[u8]) -> bool {
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
pub fn verify_pss(key: &PublicKey, hash: HashAlg, digest: &[u8], sig: &[u8]) -> bool {
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
