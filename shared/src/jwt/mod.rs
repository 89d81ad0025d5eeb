//! JWT validation: one file per responsibility, as in Envoy's jwt_authn.
//!
//! - [`algorithm`]: the JWS algorithms and the key family each needs
//! - [`jwk`]: JWKS parsing into ready-to-use verifying keys
//! - [`verify`]: signature verification
pub mod algorithm;
pub mod jwk;
pub mod verify;
