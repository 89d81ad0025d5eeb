//! JWT validation: one file per responsibility, as in Envoy's jwt_authn.
//!
//! - [`config`]: the plugin configuration, validated and compiled
//! - [`matcher`]: which rule (and so which requirement) applies to a request
//! - [`extract`]: where tokens are found
//! - [`token`]: strict compact-JWS parsing
//! - [`algorithm`], [`jwk`], [`verify`]: algorithms, keys, signatures
//! - [`claims`]: issuer, audience, time and type checks
//! - [`cache`]: verified tokens, per VM
//! - [`jwks`]: remote key sets shared by all workers
//! - [`engine`]: the decision for one request
//! - [`response`]: denial replies, identity and decision records
//! - [`metrics`]: every counter, declared once
//! - [`runtime`]: [`JwtFilter`], the filter on the shared filter layer
pub mod algorithm;
pub mod cache;
pub mod claims;
pub mod config;
pub mod engine;
pub mod extract;
pub mod jwk;
pub mod jwks;
pub mod matcher;
pub mod metrics;
pub mod p256_fast;
pub mod reason;
pub mod response;
pub mod rsa_fast;
pub mod runtime;
pub mod token;
pub mod verify;

pub use runtime::JwtFilter;
