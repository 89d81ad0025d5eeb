//! Points of P-256: affine (for tables) and Jacobian, with additions that
//! handle every special case (an attacker picks the scalars).

use super::field::{fe_add, fe_canonical, fe_eq, fe_invert, fe_is_zero, fe_mul, fe_sq, fe_sub, Fe};
use super::B;

/// An affine point, coordinates in Montgomery form, below p.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Affine {
    pub(super) x: Fe,
    pub(super) y: Fe,
}

/// A point in Jacobian coordinates (x = X/Z^2, y = Y/Z^3). When `infinity`
/// is false, Z is not zero.
#[derive(Clone, Copy, Debug)]
pub(super) struct Jacobian {
    pub(super) x: Fe,
    pub(super) y: Fe,
    pub(super) z: Fe,
    pub(super) infinity: bool,
}

impl Jacobian {
    pub(super) const INFINITY: Jacobian = Jacobian {
        x: Fe::ONE,
        y: Fe::ONE,
        z: Fe::ZERO,
        infinity: true,
    };

    pub(super) fn from_affine(p: &Affine) -> Jacobian {
        Jacobian {
            x: p.x,
            y: p.y,
            z: Fe::ONE,
            infinity: false,
        }
    }
}

/// y^2 == x^3 - 3x + b (Montgomery-form inputs).
pub(super) fn on_curve(x: &Fe, y: &Fe) -> bool {
    let b = Fe::from_u256(&B);
    let x3 = fe_mul(&fe_sq(x), x);
    let three_x = fe_add(&fe_add(x, x), x);
    let rhs = fe_add(&fe_sub(&x3, &three_x), &b);
    fe_eq(&fe_sq(y), &rhs)
}

/// 2P, a = -3 ("dbl-2001-b"). P-256 has no point of order 2 (Y is never 0),
/// so the result is at infinity only if P is.
pub(super) fn double(p: &Jacobian) -> Jacobian {
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
pub(super) fn add_mixed(p: &Jacobian, q: &Affine) -> Jacobian {
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
pub(super) fn add_full(p: &Jacobian, q: &Jacobian) -> Jacobian {
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
pub(super) fn batch_to_affine(points: &[Jacobian]) -> Option<Vec<Affine>> {
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::crypto::p256::reference::*;
    use crate::crypto::p256::{field::*, limbs::*, table::*, GX, GY, N, P};

    #[test]
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
}
