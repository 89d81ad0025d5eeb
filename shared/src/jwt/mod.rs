//! JWT validation: one file per responsibility, as in Envoy's jwt_authn.
//! Token parsing, keys and signatures are [`crate::jose`]'s.
//!
//! - [`config`]: the plugin configuration, validated and compiled
//! - [`matcher`]: which rule (and so which requirement) applies to a request
//! - [`extract`]: where tokens are found
//! - [`claims`]: issuer, audience, time and type checks
//! - [`cache`]: verified tokens, per VM
//! - [`jwks`]: remote key sets shared by all workers
//! - [`engine`]: the decision for one request
//! - [`response`]: denial replies, identity and decision records
//! - [`metrics`]: every counter, declared once
//! - [`runtime`]: [`JwtFilter`], the filter on the shared filter layer
pub mod cache;
pub mod claims;
pub mod config;
pub mod engine;
pub mod extract;
pub mod jwks;
pub mod matcher;
pub mod metrics;
pub mod reason;
pub mod response;
pub mod runtime;

pub use runtime::JwtFilter;
