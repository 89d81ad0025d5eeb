//! JOSE: compact JWS tokens, JWK sets and JWS signatures (RFC 7515, 7517,
//! 7518, 8037), as strict as the JWT filter needs and nothing more. Like
//! Envoy's `source/common/jwt` (jwt_verify_lib), it knows no filter, no
//! config and no host: [`crate::jwt`] builds on it.
//!
//! - [`token`]: parsing a compact JWS (three base64url parts, JSON objects
//!   without duplicate members, no `crit`, no JWE, claim types checked);
//! - [`algorithm`]: the JWS algorithms and the key family each needs;
//! - [`jwk`]: a JWKS parsed once into ready verifying keys, with every
//!   unusable key classified, and the key selection of jwt_verify_lib;
//! - [`verify`]: [`verify_signature`], the one signature check.
//!
//! The math is in [`crate::crypto`] (RSA, P-256) and RustCrypto crates
//! (P-384, P-521, Ed25519, HMAC).

pub mod algorithm;
pub mod jwk;
pub mod token;
pub mod verify;

pub use algorithm::{Algorithm, KeyFamily};
pub use jwk::{Jwk, KeySet, SkipClass, SkippedKey, SkippedKeys, VerifyingKey};
pub use token::{parse, Header, TokenError, UnverifiedToken};
pub use verify::{verify_signature, SignatureError};
