//! edgeward-core: every decision the edgeward filters make lives here.
//!
//! The crate never talks to a proxy directly. Everything a filter needs from
//! its host (headers, properties, shared data, callouts, local replies,
//! metrics, the clock) goes through the small traits in [`host`], so the whole
//! pipeline runs natively in tests against [`host::fake::FakeHost`].
//!
//! The filter layer every filter stands on: [`filter`] (the `Filter` trait
//! and its driver), [`config`] (parsing and validation), [`path`] (the
//! canonical-path policy), [`route`] (matching), [`identity`] (what the JWT
//! filter publishes), [`shared_record`] (CAS records in shared data),
//! [`metrics`] (names and labels), [`reason`] and [`problem`] (stable reason
//! codes and RFC 9457 replies), [`http`] (request snapshot and header helpers),
//! [`json`] and [`body`] (strict JSON bodies read as the upstream will).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod authz;
pub mod body;
pub mod chain;
pub mod client_ip;
pub mod config;
pub mod crypto;
pub mod decimal;
pub mod edge;
pub mod filter;
pub mod fnv;
pub mod host;
pub mod http;
pub mod identity;
pub mod jose;
pub mod json;
pub mod json_writer;
pub mod jwt;
pub mod metrics;
pub mod path;
pub mod pii;
pub mod problem;
pub mod protobuf;
pub mod ratelimit;
pub mod reason;
pub mod route;
#[cfg(feature = "schema")]
pub mod schema;
pub mod shared_record;
