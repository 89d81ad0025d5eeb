//! Signature primitives edgeward implements itself, because the RustCrypto
//! crates are several times slower in Wasm (no 64x64->128-bit multiply):
//!
//! - [`rsa`]: RSASSA-PKCS1-v1_5 and RSASSA-PSS verification (RS*, PS*);
//! - [`p256`]: ECDSA P-256 verification (ES256).
//!
//! Both only verify (no secrets, so no constant time needed), know nothing of
//! JOSE (that is [`crate::jose`]) and never panic. Each is tested against a
//! RustCrypto crate and OpenSSL-made vectors (`shared/tests/rsa_vectors.rs`,
//! `shared/tests/p256_vectors.rs`).

pub mod p256;
pub mod rsa;
