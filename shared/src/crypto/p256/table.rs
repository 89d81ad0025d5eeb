//! Fixed-base tables and signed-digit recoding: `u * P` as one mixed
//! addition per nonzero digit, no doublings.

use std::sync::OnceLock;

use super::field::{fe_canonical, fe_neg, Fe};
use super::limbs::U256;
use super::point::{add_full, add_mixed, batch_to_affine, double, Affine, Jacobian};
use super::{GX, GY};

/// Window of the generator's table: 33 positions of 128 points (~300 KB,
/// built once per process).
pub(super) const G_WINDOW: u32 = 8;
/// Window of each key's table: 43 positions of 32 points (~100 KB per key).
pub(super) const Q_WINDOW: u32 = 6;
pub(super) const MIN_WINDOW: u32 = 2;
pub(super) const MAX_WINDOW: u32 = 8;
/// Digit positions for the smallest window.
pub(super) const MAX_POSITIONS: usize = positions(MIN_WINDOW);

/// Number of signed base-2^w digits of an integer below 2^256 (the top digit
/// may take the last carry).
pub(super) const fn positions(window: u32) -> usize {
    257usize.div_ceil(window as usize)
}

/// `points[j * half + d - 1] = d * 2^(window * j) * P` for every digit
/// position j and d in 1..=half, half = 2^(window - 1).
#[derive(Clone)]
pub(super) struct Table {
    pub(super) window: u32,
    pub(super) half: usize,
    pub(super) points: Vec<Affine>,
}

impl Table {
    pub(super) fn build(p: &Affine, window: u32) -> Option<Table> {
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
    pub(super) fn get(&self, j: usize, digit: i16) -> Option<Affine> {
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
    pub(super) fn mul_add(&self, acc: &mut Jacobian, u: &U256) -> Option<()> {
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
pub(super) fn bits(u: &U256, pos: u32, window: u32) -> u64 {
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
pub(super) fn recode(u: &U256, window: u32, out: &mut [i16; MAX_POSITIONS]) -> Option<usize> {
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

pub(super) fn generator() -> Affine {
    Affine {
        x: fe_canonical(&Fe::from_u256(&GX)),
        y: fe_canonical(&Fe::from_u256(&GY)),
    }
}

pub(super) static G_TABLE: OnceLock<Option<Table>> = OnceLock::new();

pub(super) fn g_table() -> Option<&'static Table> {
    G_TABLE
        .get_or_init(|| Table::build(&generator(), G_WINDOW))
        .as_ref()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::crypto::p256::reference::*;
    use crate::crypto::p256::{limbs::*, point::*, N, P};

    #[test]
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

    #[test]
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
}
