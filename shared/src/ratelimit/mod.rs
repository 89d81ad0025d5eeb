//! The rate-limit filter: multi-dimensional policies (who is calling, what
//! it costs), exact across Envoy's workers through CAS records in shared
//! data, and global across gateways through a Rate Limit Service
//! (`envoy.service.ratelimit.v3`). See the README's "Rate limit filter"
//! section for the configuration and the responses.

pub mod algorithm;
pub mod config;
pub mod key;
pub mod response;
pub mod rls;
mod runtime;
pub mod store;

pub use config::RateLimitConfig;
pub use response::DECISION_PROPERTY;
pub use runtime::RateLimitFilter;
