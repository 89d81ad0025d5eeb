//! The three limit algorithms, on one fixed-size state, in integer
//! arithmetic (no floats, so every worker computes the same answer).
//!
//! - Token bucket: `burst` tokens, refilled at `rate` per `period`; a
//!   request takes `cost` tokens. Tokens are kept in millionths so slow
//!   rates refill smoothly.
//! - Fixed window: `requests` per `window`, the window starting at a key's
//!   first hit (as Limitador and the Rate Limit Service do), so a burst
//!   test never straddles a wall-clock boundary.
//! - Sliding window: the weighted two-window estimate (Cloudflare, Kong's
//!   `sliding` strategy): `prev * (window - elapsed) / window + current`,
//!   windows aligned to the epoch. It smooths the fixed window's edge burst;
//!   it is an estimate, never more than `requests` per any window-long span
//!   under even arrival, and exact at window edges.

/// Token precision: a token is a million units.
const SCALE: u128 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    TokenBucket {
        rate: u64,
        period_ms: u64,
        burst: u64,
    },
    FixedWindow {
        requests: u64,
        window_ms: u64,
    },
    SlidingWindow {
        requests: u64,
        window_ms: u64,
    },
    /// Units of a global quota this gateway was granted by the Rate Limit
    /// Service (local-first mode): `a` units left, valid until `b`.
    Lease,
}

/// A key's state. Token bucket: `a` tokens (millionths), `b` last refill.
/// Fixed window: `a` count, `b` window start. Sliding: `a` current count,
/// `b` current window start, `c` previous window's count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct State {
    pub a: u64,
    pub b: u64,
    pub c: u64,
}

impl State {
    pub const ENCODED_LEN: usize = 24;

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.a.to_le_bytes());
        out.extend_from_slice(&self.b.to_le_bytes());
        out.extend_from_slice(&self.c.to_le_bytes());
    }

    pub fn decode(b: &[u8]) -> Option<State> {
        let word = |i: usize| -> Option<u64> {
            let s = b.get(i * 8..i * 8 + 8)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            Some(u64::from_le_bytes(a))
        };
        (b.len() == Self::ENCODED_LEN).then_some(())?;
        Some(State {
            a: word(0)?,
            b: word(1)?,
            c: word(2)?,
        })
    }
}

/// What a check found, for the decision and the response headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    pub allowed: bool,
    /// Quota units left after this request (if allowed) or now (if not).
    pub remaining: u64,
    /// Until the quota is whole again (`t` of the `RateLimit` header).
    pub reset_ms: u64,
    /// Until a request of this cost would pass (0 when allowed).
    pub retry_after_ms: u64,
}

fn ceil_div(a: u128, b: u128) -> u128 {
    if b == 0 {
        0
    } else {
        a.div_ceil(b)
    }
}

fn to_u64(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

impl Limit {
    /// The quota (`q`): the most a client can spend at once.
    pub fn quota(&self) -> u64 {
        match *self {
            Limit::TokenBucket { burst, .. } => burst,
            Limit::FixedWindow { requests, .. } | Limit::SlidingWindow { requests, .. } => requests,
            Limit::Lease => 0,
        }
    }

    /// The window (`w`) in seconds: for a token bucket, the time an empty
    /// bucket takes to fill.
    pub fn window_s(&self) -> u64 {
        let ms = match *self {
            Limit::TokenBucket {
                rate,
                period_ms,
                burst,
            } => to_u64(ceil_div(
                u128::from(burst) * u128::from(period_ms),
                u128::from(rate),
            )),
            Limit::FixedWindow { window_ms, .. } | Limit::SlidingWindow { window_ms, .. } => {
                window_ms
            }
            Limit::Lease => 1000,
        };
        ms.div_ceil(1000).max(1)
    }

    /// Distinguishes algorithms in stored keys, so a changed configuration
    /// never reads another algorithm's state.
    pub fn kind(&self) -> u8 {
        match self {
            Limit::TokenBucket { .. } => b'T',
            Limit::FixedWindow { .. } => b'F',
            Limit::SlidingWindow { .. } => b'S',
            Limit::Lease => b'L',
        }
    }

    /// The state of a key never seen (or fully recovered) at `now`.
    pub fn fresh(&self, now: u64) -> State {
        match *self {
            Limit::TokenBucket { burst, .. } => State {
                a: to_u64(u128::from(burst) * SCALE),
                b: now,
                c: 0,
            },
            Limit::FixedWindow { .. } => State { a: 0, b: now, c: 0 },
            Limit::SlidingWindow { window_ms, .. } => State {
                a: 0,
                b: now - now % window_ms.max(1),
                c: 0,
            },
            Limit::Lease => State::default(),
        }
    }

    /// `state` brought forward to `now` (refill, window roll-over). A clock
    /// that went backwards is treated as no time passing.
    pub fn advance(&self, state: State, now: u64) -> State {
        match *self {
            Limit::TokenBucket {
                rate,
                period_ms,
                burst,
            } => {
                let elapsed = now.saturating_sub(state.b);
                let full = u128::from(burst) * SCALE;
                let add =
                    u128::from(elapsed) * u128::from(rate) * SCALE / u128::from(period_ms.max(1));
                let tokens = (u128::from(state.a) + add).min(full);
                State {
                    a: to_u64(tokens),
                    b: now.max(state.b),
                    c: 0,
                }
            }
            Limit::FixedWindow { window_ms, .. } => {
                if now >= state.b.saturating_add(window_ms) {
                    self.fresh(now)
                } else {
                    state
                }
            }
            Limit::SlidingWindow { window_ms, .. } => {
                let start = now - now % window_ms.max(1);
                if start <= state.b {
                    state
                } else if start == state.b.saturating_add(window_ms) {
                    State {
                        a: 0,
                        b: start,
                        c: state.a,
                    }
                } else {
                    State {
                        a: 0,
                        b: start,
                        c: 0,
                    }
                }
            }
            Limit::Lease => state,
        }
    }

    /// Whether an (advanced) state is as good as a fresh one: the key can be
    /// forgotten without changing any future decision.
    pub fn is_recovered(&self, state: State, now: u64) -> bool {
        let s = self.advance(state, now);
        match *self {
            Limit::TokenBucket { burst, .. } => u128::from(s.a) >= u128::from(burst) * SCALE,
            Limit::FixedWindow { .. } => s.a == 0,
            Limit::SlidingWindow { .. } => s.a == 0 && s.c == 0,
            Limit::Lease => s.a == 0 || now >= s.b,
        }
    }

    /// Checks `cost` against the (advanced) state and, if it fits, takes it.
    pub fn take(&self, state: &mut State, now: u64, cost: u64) -> Check {
        *state = self.advance(*state, now);
        match *self {
            Limit::TokenBucket {
                rate,
                period_ms,
                burst,
            } => {
                let need = u128::from(cost) * SCALE;
                let have = u128::from(state.a);
                let full = u128::from(burst) * SCALE;
                let per_ms = |units: u128| {
                    to_u64(ceil_div(
                        units * u128::from(period_ms),
                        u128::from(rate) * SCALE,
                    ))
                };
                if have >= need {
                    state.a = to_u64(have - need);
                    let left = u128::from(state.a);
                    Check {
                        allowed: true,
                        remaining: to_u64(left / SCALE),
                        reset_ms: per_ms(full - left),
                        retry_after_ms: 0,
                    }
                } else {
                    Check {
                        allowed: false,
                        remaining: to_u64(have / SCALE),
                        reset_ms: per_ms(full - have),
                        retry_after_ms: per_ms(need - have).max(1),
                    }
                }
            }
            Limit::FixedWindow {
                requests,
                window_ms,
            } => {
                let reset_ms = state.b.saturating_add(window_ms).saturating_sub(now);
                let used = state.a.saturating_add(cost);
                if used <= requests {
                    state.a = used;
                    Check {
                        allowed: true,
                        remaining: requests - used,
                        reset_ms,
                        retry_after_ms: 0,
                    }
                } else {
                    Check {
                        allowed: false,
                        remaining: requests.saturating_sub(state.a),
                        reset_ms,
                        retry_after_ms: reset_ms.max(1),
                    }
                }
            }
            Limit::SlidingWindow {
                requests,
                window_ms,
            } => {
                let w = u128::from(window_ms.max(1));
                let elapsed = u128::from(now.saturating_sub(state.b)).min(w);
                let weighted_prev = ceil_div(u128::from(state.c) * (w - elapsed), w);
                let estimate = weighted_prev + u128::from(state.a);
                let reset_ms = to_u64(w - elapsed);
                let r = u128::from(requests);
                let c = u128::from(cost);
                if estimate + c <= r {
                    state.a = state.a.saturating_add(cost);
                    Check {
                        allowed: true,
                        remaining: to_u64(r - estimate - c),
                        reset_ms,
                        retry_after_ms: 0,
                    }
                } else {
                    Check {
                        allowed: false,
                        remaining: to_u64(r.saturating_sub(estimate)),
                        reset_ms,
                        retry_after_ms: self.sliding_retry(*state, now, cost).max(1),
                    }
                }
            }
            Limit::Lease => {
                let valid = now < state.b;
                let reset_ms = state.b.saturating_sub(now);
                if valid && state.a >= cost {
                    state.a -= cost;
                    Check {
                        allowed: true,
                        remaining: state.a,
                        reset_ms,
                        retry_after_ms: 0,
                    }
                } else {
                    Check {
                        allowed: false,
                        remaining: if valid { state.a } else { 0 },
                        reset_ms,
                        retry_after_ms: 0,
                    }
                }
            }
        }
    }

    /// Adds `units` granted until `until` to a lease (a still valid lease
    /// keeps its units: they were counted by the service too).
    pub fn grant(state: &mut State, now: u64, units: u64, until: u64) {
        if now < state.b {
            state.a = state.a.saturating_add(units);
            state.b = state.b.max(until);
        } else {
            state.a = units;
            state.b = until;
        }
    }

    /// Until the sliding estimate admits `cost` (a bound, rounded up).
    fn sliding_retry(&self, s: State, now: u64, cost: u64) -> u64 {
        let Limit::SlidingWindow {
            requests,
            window_ms,
        } = *self
        else {
            return 0;
        };
        let w = u128::from(window_ms.max(1));
        let elapsed = u128::from(now.saturating_sub(s.b)).min(w);
        let r = u128::from(requests);
        let c = u128::from(cost);
        let cur = u128::from(s.a);
        let prev = u128::from(s.c);
        // Still in this window: prev's weight must fall far enough.
        if cur + c <= r && prev > 0 {
            let room = r - cur - c; // prev * (w - e') / w <= room
            let e_needed = w - (room * w / prev).min(w);
            if e_needed <= w {
                return to_u64(e_needed.saturating_sub(elapsed));
            }
        }
        // Next window: the current count becomes the weighted one.
        let to_end = w - elapsed;
        if cur == 0 || c > r {
            return to_u64(to_end);
        }
        let room = r - c.min(r);
        let x = w - (room * w / cur).min(w);
        to_u64(to_end + x)
    }

    /// Gives `cost` back to a state that took it (a request another policy
    /// then denied). Only within the same window/refill epoch it was taken in.
    pub fn refund(&self, state: &mut State, now: u64, cost: u64, taken_at: u64) {
        *state = self.advance(*state, now);
        match *self {
            Limit::TokenBucket { burst, .. } => {
                let full = u128::from(burst) * SCALE;
                state.a = to_u64((u128::from(state.a) + u128::from(cost) * SCALE).min(full));
            }
            Limit::FixedWindow { window_ms, .. } => {
                if taken_at >= state.b && taken_at < state.b.saturating_add(window_ms) {
                    state.a = state.a.saturating_sub(cost);
                }
            }
            Limit::SlidingWindow { window_ms, .. } => {
                if taken_at - taken_at % window_ms.max(1) == state.b {
                    state.a = state.a.saturating_sub(cost);
                }
            }
            Limit::Lease => {
                if now < state.b {
                    state.a = state.a.saturating_add(cost);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_800_000_000_000;

    fn run(limit: Limit, times: &[u64], cost: u64) -> Vec<bool> {
        let mut s = limit.fresh(T0);
        times
            .iter()
            .map(|t| limit.take(&mut s, T0 + t, cost).allowed)
            .collect()
    }

    #[test]
    fn token_bucket_bursts_then_refills_at_the_rate() {
        let l = Limit::TokenBucket {
            rate: 2,
            period_ms: 1000,
            burst: 3,
        };
        assert_eq!(
            run(l, &[0, 0, 0, 0, 499, 500, 500, 1000], 1),
            vec![true, true, true, false, false, true, false, true]
        );
        let mut s = l.fresh(T0);
        for _ in 0..3 {
            l.take(&mut s, T0, 1);
        }
        let c = l.take(&mut s, T0, 2);
        assert!(!c.allowed);
        assert_eq!((c.remaining, c.retry_after_ms, c.reset_ms), (0, 1000, 1500));
        assert_eq!(l.window_s(), 2);
        assert!(!l.is_recovered(s, T0 + 1000));
        assert!(l.is_recovered(s, T0 + 1500));
    }

    #[test]
    fn fixed_window_counts_from_the_first_hit() {
        let l = Limit::FixedWindow {
            requests: 2,
            window_ms: 1000,
        };
        assert_eq!(
            run(l, &[0, 100, 999, 1000, 1000, 1001], 1),
            vec![true, true, false, true, true, false]
        );
        let mut s = l.fresh(T0);
        let c = l.take(&mut s, T0, 3);
        assert!(!c.allowed, "a cost above the limit never passes");
        let c = l.take(&mut s, T0 + 250, 2);
        assert_eq!((c.allowed, c.remaining, c.reset_ms), (true, 0, 750));
        let c = l.take(&mut s, T0 + 250, 1);
        assert_eq!(c.retry_after_ms, 750);
        l.refund(&mut s, T0 + 300, 2, T0 + 250);
        assert!(l.take(&mut s, T0 + 300, 2).allowed);
    }

    #[test]
    fn sliding_window_weighs_the_previous_window() {
        let l = Limit::SlidingWindow {
            requests: 10,
            window_ms: 1000,
        };
        let start = T0 - T0 % 1000;
        let mut s = l.fresh(start);
        for _ in 0..10 {
            assert!(l.take(&mut s, start + 500, 1).allowed);
        }
        let c = l.take(&mut s, start + 600, 1);
        assert!(!c.allowed);
        // Half-way into the next window, half the previous count weighs in.
        assert!(c.retry_after_ms > 400 && c.retry_after_ms <= 500, "{c:?}");
        let mut admitted = 0;
        for _ in 0..10 {
            admitted += l.take(&mut s, start + 1500, 1).allowed as u32;
        }
        assert_eq!(admitted, 5);
        assert!(!l.is_recovered(s, start + 2500));
        assert!(l.is_recovered(s, start + 3000));
    }

    #[test]
    fn leases_spend_granted_units_until_they_expire() {
        let l = Limit::Lease;
        let mut s = l.fresh(T0);
        assert!(!l.take(&mut s, T0, 1).allowed, "no lease yet");
        Limit::grant(&mut s, T0, 3, T0 + 100);
        assert!(l.take(&mut s, T0, 2).allowed);
        assert!(!l.take(&mut s, T0, 2).allowed);
        Limit::grant(&mut s, T0 + 10, 4, T0 + 200);
        assert_eq!(s.a, 5);
        assert!(l.take(&mut s, T0 + 150, 5).allowed);
        l.refund(&mut s, T0 + 150, 1, T0 + 150);
        assert!(!l.is_recovered(s, T0 + 150));
        assert!(!l.take(&mut s, T0 + 200, 1).allowed, "expired");
        assert!(l.is_recovered(s, T0 + 200));
    }

    #[test]
    fn clocks_going_backwards_and_huge_values_are_harmless() {
        let l = Limit::TokenBucket {
            rate: u32::MAX as u64,
            period_ms: 1,
            burst: 1_000_000_000,
        };
        let mut s = l.fresh(T0);
        assert!(l.take(&mut s, T0 - 5000, 1).allowed);
        assert!(l.take(&mut s, u64::MAX, 1_000_000_000).allowed);
        let st = State { a: 1, b: 2, c: 3 };
        let mut v = Vec::new();
        st.encode_into(&mut v);
        assert_eq!(State::decode(&v), Some(st));
        assert_eq!(State::decode(&v[1..]), None);
    }
}
