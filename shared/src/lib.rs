//! edgeward-core: every decision the edgeward filters make lives here.
//!
//! The crate never talks to a proxy directly. Everything a filter needs from
//! its host (headers, properties, shared data, callouts, local replies,
//! metrics, the clock) goes through the small traits in [`host`], so the whole
//! pipeline runs natively in tests against [`host::fake::FakeHost`].
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod host;
pub mod http;
pub mod jwt;
pub mod pii;
