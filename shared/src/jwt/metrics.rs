//! Every counter the JWT filter emits, declared once. Labels (see
//! [`crate::metrics`]) are `rule` and `reason`; Envoy shows them as
//! `wasmcustom.<name>[.rule.<r>][.reason.<code>]` in `/stats` and as
//! Prometheus labels with the `stats_tags` rules in every config.

/// Requests allowed (label `rule`, absent for unmatched requests).
pub const ALLOWED: &str = "edgeward.jwt.allowed";
/// Requests denied (labels `rule`, `reason`).
pub const DENIED: &str = "edgeward.jwt.denied";
pub const TOKEN_CACHE_HIT: &str = "edgeward.jwt.token_cache.hit";
pub const TOKEN_CACHE_MISS: &str = "edgeward.jwt.token_cache.miss";
pub const JWKS_FETCH_OK: &str = "edgeward.jwt.jwks.fetch_ok";
pub const JWKS_FETCH_FAILED: &str = "edgeward.jwt.jwks.fetch_failed";
/// Requests that waited for a key fetch.
pub const WAITED_FOR_KEYS: &str = "edgeward.jwt.waited_for_keys";
pub const CORS_PREFLIGHT_BYPASSED: &str = "edgeward.jwt.cors_preflight_bypassed";
/// Claims left out of a header (`on_invalid: skip`).
pub const CLAIM_SKIPPED: &str = "edgeward.jwt.claim_header_skipped";
/// Client-supplied copies of headers edgeward sets, removed.
pub const SPOOFED_HEADER_REMOVED: &str = "edgeward.jwt.spoofed_header_removed";
